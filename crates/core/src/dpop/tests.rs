use super::*;

/// RFC 9449 §4.1, Figure 1 (the token request proof), unwrapped.
const RFC_TOKEN_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

/// RFC 9449 §5, Figure 7 (the refresh token request proof).
const RFC_REFRESH_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA";

/// RFC 9449 §7.1, Figure 13 (the protected resource request proof, with `ath`).
const RFC_RESOURCE_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";

/// RFC 9449 §6.1: the `jkt` of the key in the examples' proofs.
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
/// RFC 9449 §5 / §7.1: the example access token and its `ath`.
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

fn context<'a>(method: &'a str, uri: &'a str, now: i64) -> ProofContext<'a> {
    ProofContext {
        method,
        uri,
        access_token: None,
        bound_jkt: None,
        algorithms: &DEFAULT_ALGORITHMS,
        window: ProofWindow::default(),
        nonces: None,
        now,
    }
}

fn check(proof: &str, context: &ProofContext<'_>) -> Result<VerifiedProof, ProofError> {
    check_proof([proof.as_bytes()], context)
}

#[test]
fn rfc9449_token_request_proof_verifies_and_names_the_example_jkt() {
    let p = check(
        RFC_TOKEN_PROOF,
        &context("POST", "https://server.example.com/token", 1_562_262_616),
    )
    .unwrap();
    assert_eq!(p.jkt, RFC_JKT);
    assert_eq!(p.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(p.alg, JwsAlgorithm::Es256);
    let r = check(
        RFC_REFRESH_PROOF,
        &context("POST", "https://server.example.com/token", 1_562_265_296),
    )
    .unwrap();
    assert_eq!(r.jkt, RFC_JKT);
}

#[test]
fn rfc9449_resource_proof_verifies_with_its_token_and_binding() {
    assert_eq!(access_token_hash(RFC_ACCESS_TOKEN), RFC_ATH);
    let mut c = context(
        "GET",
        "https://resource.example.org/protectedresource",
        1_562_262_618,
    );
    c.access_token = Some(AccessTokenDigest::of(RFC_ACCESS_TOKEN));
    c.bound_jkt = Some(RFC_JKT);
    let p = check(RFC_RESOURCE_PROOF, &c).unwrap();
    assert_eq!(p.jti, "e1j3V_bKic8-LAEB");
    // Check 12, both halves, against the same RFC proof.
    c.access_token = Some(AccessTokenDigest::of("another-token"));
    assert_eq!(
        check(RFC_RESOURCE_PROOF, &c),
        Err(ProofError::AccessTokenHash)
    );
    c.access_token = Some(AccessTokenDigest::of(RFC_ACCESS_TOKEN));
    c.bound_jkt = Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(check(RFC_RESOURCE_PROOF, &c), Err(ProofError::KeyBinding));
    // The token request proof has no ath at all.
    let mut c = context("POST", "https://server.example.com/token", 1_562_262_616);
    c.access_token = Some(AccessTokenDigest::of(RFC_ACCESS_TOKEN));
    assert_eq!(check(RFC_TOKEN_PROOF, &c), Err(ProofError::AccessTokenHash));
}

#[test]
fn rfc8037_ed25519_thumbprint() {
    // RFC 8037 Appendix A.3.
    let jwk: Jwk = serde_json::from_str(
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    )
    .unwrap();
    assert_eq!(
        jwk.thumbprint().unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

// --- One negative test per check of §4.3, on proofs made here. ---

const URI: &str = "https://mcp.example.com/mcp";
const NOW: i64 = 1_800_000_000;

fn signer() -> ProofSigner {
    ProofSigner::generate(JwsAlgorithm::Es256).unwrap()
}

/// A compact JWS over arbitrary header and claims, signed by `key` with ES256.
fn forge(key: &SigningKey, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key
        .sign(Algorithm::Jws(JwsAlgorithm::Es256), input.as_bytes())
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn parts() -> (SigningKey, serde_json::Value, serde_json::Value) {
    let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
    let mut jwk = key.verifying_key().to_jwk();
    jwk.alg = None;
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let claims = serde_json::json!({"jti": "j1", "htm": "POST", "htu": URI, "iat": NOW});
    (key, header, claims)
}

#[test]
fn a_good_proof_passes_and_the_signer_makes_one() {
    let (key, header, claims) = parts();
    check(&forge(&key, &header, &claims), &context("POST", URI, NOW)).unwrap();
    let s = signer();
    let proof = s
        .proof(
            "POST",
            "https://mcp.example.com/mcp?x=1#f",
            Some("tok"),
            None,
            NOW,
        )
        .unwrap();
    let mut c = context("POST", URI, NOW);
    c.access_token = Some(AccessTokenDigest::of("tok"));
    c.bound_jkt = Some(s.jkt());
    let p = check(&proof, &c).unwrap();
    assert_eq!(p.jkt, s.jkt());
}

#[test]
fn check_1_more_than_one_header() {
    let s = signer();
    let a = s.proof("POST", URI, None, None, NOW).unwrap();
    let b = s.proof("POST", URI, None, None, NOW).unwrap();
    assert_eq!(
        check_proof([a.as_bytes(), b.as_bytes()], &context("POST", URI, NOW)),
        Err(ProofError::MultipleHeaders)
    );
    assert_eq!(
        check_proof(std::iter::empty(), &context("POST", URI, NOW)),
        Err(ProofError::Missing)
    );
}

#[test]
fn check_2_not_a_single_well_formed_jwt() {
    let c = context("POST", URI, NOW);
    let good = signer().proof("POST", URI, None, None, NOW).unwrap();
    for bad in [
        "not-a-jwt".to_owned(),
        format!("{good}.extra"),
        good.replacen('.', "..", 1),
        format!("{good}==="),
        "e30.e30".to_owned(),
        format!("{}.e30.AA", URL_SAFE_NO_PAD.encode("[1]")),
        "\u{0}".repeat(MAX_PROOF_LEN + 1),
        // Whitespace other than SP and HTAB around the value (RFC 9110 §5.5).
        format!("\u{a0}{good}"),
        format!("{good}\u{3000}"),
        // A header or a payload that is not UTF-8 (a JSON text must be, RFC 8259 §8.1).
        format!("{}.e30.AA", URL_SAFE_NO_PAD.encode(b"{\"typ\":\"\xff\"}")),
        format!(
            "{}.{}.AA",
            good.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(b"{\"jti\":\"\xc3\"}")
        ),
    ] {
        assert!(
            matches!(check(&bad, &c), Err(ProofError::Malformed(_))),
            "{bad:.40}: {:?}",
            check(&bad, &c)
        );
    }
}

#[test]
fn check_2_sp_and_htab_around_the_value_are_taken_off() {
    let good = signer().proof("POST", URI, None, None, NOW).unwrap();
    check(&format!(" \t{good}\t "), &context("POST", URI, NOW)).unwrap();
}

#[test]
fn check_2_a_signed_claims_set_that_is_not_utf8_is_malformed() {
    // RFC 7519 §7.2 step 10: the claims set must be UTF-8 as a whole, also in a member
    // no check reads (a JSON reader may skip its string without looking at its bytes).
    let (key, header, _) = parts();
    let mut payload =
        format!(r#"{{"jti":"j1","htm":"POST","htu":"{URI}","iat":{NOW},"x":""#).into_bytes();
    payload.extend_from_slice(b"\xff\"}");
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(&payload)
    );
    let sig = key
        .sign(Algorithm::Jws(JwsAlgorithm::Es256), input.as_bytes())
        .unwrap();
    let proof = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        check(&proof, &context("POST", URI, NOW)),
        Err(ProofError::Malformed("the payload is not UTF-8".into()))
    );
}

#[test]
fn check_3_every_required_claim_and_parameter() {
    let (key, header, claims) = parts();
    let c = context("POST", URI, NOW);
    for name in ["typ", "alg", "jwk"] {
        let mut h = header.clone();
        h.as_object_mut().unwrap().remove(name);
        assert_eq!(
            check(&forge(&key, &h, &claims), &c),
            Err(ProofError::MissingClaim(name))
        );
    }
    for name in ["jti", "htm", "htu", "iat"] {
        let mut cl = claims.clone();
        cl.as_object_mut().unwrap().remove(name);
        assert_eq!(
            check(&forge(&key, &header, &cl), &c),
            Err(ProofError::MissingClaim(name))
        );
        // Wrong type.
        let mut cl = claims.clone();
        cl[name] = serde_json::json!([]);
        assert_eq!(
            check(&forge(&key, &header, &cl), &c),
            Err(ProofError::MissingClaim(name))
        );
    }
}

#[test]
fn check_4_typ() {
    let (key, mut header, claims) = parts();
    header["typ"] = "JWT".into();
    assert_eq!(
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
        Err(ProofError::Type)
    );
}

#[test]
fn a_proof_with_crit_is_refused_since_no_extension_is_understood() {
    // RFC 7515 §4.1.11; found by the conformance check DPOP-RS-3 (unknown crit).
    let (key, mut header, claims) = parts();
    assert!(check(&forge(&key, &header, &claims), &context("POST", URI, NOW)).is_ok());
    header["crit"] = serde_json::json!(["conformance-unknown"]);
    header["conformance-unknown"] = true.into();
    assert!(matches!(
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
        Err(ProofError::Malformed(m)) if m.contains("crit")
    ));
    // `"crit": null` is no valid `crit` either (it must be a non-empty array).
    header["crit"] = serde_json::Value::Null;
    assert!(matches!(
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
        Err(ProofError::Malformed(m)) if m.contains("crit")
    ));
}

#[test]
fn check_5_alg_none_symmetric_unknown_or_not_allowed() {
    let (key, header, claims) = parts();
    for alg in ["none", "HS256", "ES512", "XYZ"] {
        let mut h = header.clone();
        h["alg"] = alg.into();
        assert_eq!(
            check(&forge(&key, &h, &claims), &context("POST", URI, NOW)),
            Err(ProofError::Algorithm(alg.into()))
        );
    }
    let mut c = context("POST", URI, NOW);
    c.algorithms = &[JwsAlgorithm::Ed25519];
    assert_eq!(
        check(&forge(&key, &header, &claims), &c),
        Err(ProofError::Algorithm("ES256".into()))
    );
}

#[test]
fn check_6_signature_and_key() {
    let (key, header, claims) = parts();
    let c = context("POST", URI, NOW);
    let good = forge(&key, &header, &claims);
    // Another key signed it.
    let (other, _, _) = parts();
    assert_eq!(
        check(&forge(&other, &header, &claims), &c),
        Err(ProofError::Signature)
    );
    // A claim changed after signing.
    let (h, rest) = good.split_once('.').unwrap();
    let sig = rest.rsplit_once('.').unwrap().1;
    let mut cl = claims.clone();
    cl["htm"] = "GET".into();
    let tampered = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(cl.to_string()));
    assert_eq!(check(&tampered, &c), Err(ProofError::Signature));
    // A jwk of another type than alg (an RSA alg with an EC key).
    let mut h2 = header.clone();
    h2["alg"] = "RS256".into();
    assert_eq!(
        check(&forge(&key, &h2, &claims), &c),
        Err(ProofError::Signature)
    );
}

#[test]
fn check_7_private_key_in_jwk() {
    let (key, mut header, claims) = parts();
    header["jwk"]["d"] = "AAAA".into();
    assert_eq!(
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
        Err(ProofError::PrivateKey)
    );
    let (key, mut header, claims) = parts();
    header["jwk"] = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
        Err(ProofError::PrivateKey)
    );
}

#[test]
fn check_8_htm() {
    let proof = signer().proof("GET", URI, None, None, NOW).unwrap();
    assert_eq!(
        check(&proof, &context("POST", URI, NOW)),
        Err(ProofError::Method)
    );
    let proof = signer().proof("post", URI, None, None, NOW).unwrap();
    assert_eq!(
        check(&proof, &context("POST", URI, NOW)),
        Err(ProofError::Method)
    );
}

#[test]
fn check_9_htu_normalized_query_and_fragment_ignored() {
    let (key, header, mut claims) = parts();
    // Equal after RFC 3986 §6.2.2 / §6.2.3 normalization.
    for same in [
        "HTTPS://MCP.Example.COM/mcp",
        "https://mcp.example.com:443/mcp",
        "https://mcp.example.com/a/../mcp",
        "https://mcp.example.com/%6Dcp",
        "https://mcp.example.com/mcp?other=query#frag",
    ] {
        claims["htu"] = same.into();
        check(&forge(&key, &header, &claims), &context("POST", URI, NOW))
            .unwrap_or_else(|e| panic!("{same}: {e}"));
    }
    assert!(same_target(
        "https://a.example/x%2fy",
        "https://a.example/x%2Fy"
    ));
    assert!(same_target("http://a.example", "http://a.example:80/"));
    // Equal strings are the same target only when they are absolute http(s) URIs with
    // a host: the shortcut for equal strings applies the same rule.
    assert!(same_target(URI, URI));
    for not_a_target in [
        "/mcp",
        "mailto:a@b",
        "ftp://a.example/mcp",
        "data:text/plain,x",
        "",
    ] {
        assert!(!same_target(not_a_target, not_a_target), "{not_a_target}");
    }
    // The server's own URI, equal byte for byte, is not parsed again: what it built
    // from its configuration is taken as the URI it is (here, one it could not be).
    claims["htu"] = "not a uri".into();
    check(
        &forge(&key, &header, &claims),
        &context("POST", "not a uri", NOW),
    )
    .expect("an htu equal to the request's URI");
    for other in [
        "https://mcp.example.com/mcp/",
        "https://mcp.example.com/other",
        "http://mcp.example.com/mcp",
        "https://mcp.example.com:8443/mcp",
        "https://evil.example.com/mcp",
        "/mcp",
        "mailto:a@b",
    ] {
        claims["htu"] = other.into();
        assert_eq!(
            check(&forge(&key, &header, &claims), &context("POST", URI, NOW)),
            Err(ProofError::Uri),
            "{other}"
        );
    }
}

#[test]
fn check_10_nonce_required_current_and_ours() {
    let sealer = NonceSealer::new(&[7u8; 32], "https://as.example", 300).unwrap();
    let s = signer();
    let mut c = context("POST", URI, NOW);
    c.nonces = Some(&sealer);
    // None at all: use_dpop_nonce.
    let p = s.proof("POST", URI, None, None, NOW).unwrap();
    let e = check(&p, &c).unwrap_err();
    assert_eq!((e.clone(), e.code()), (ProofError::Nonce, "use_dpop_nonce"));
    // A current one of ours.
    let nonce = sealer.issue(NOW - 10).unwrap();
    let p = s.proof("POST", URI, None, Some(&nonce), NOW).unwrap();
    assert_eq!(check(&p, &c).unwrap().nonce_issued_at, Some(NOW - 10));
    // Another instance with the same secret accepts it; one with another does not.
    let twin = NonceSealer::new(&[7u8; 32], "https://as.example", 300).unwrap();
    assert_eq!(twin.open(&nonce, NOW), Some(NOW - 10));
    let stranger = NonceSealer::new(&[8u8; 32], "https://as.example", 300).unwrap();
    let mut c2 = c;
    c2.nonces = Some(&stranger);
    assert_eq!(check(&p, &c2), Err(ProofError::Nonce));
    // Expired, altered, or made up.
    let old = sealer.issue(NOW - 301).unwrap();
    let p = s.proof("POST", URI, None, Some(&old), NOW).unwrap();
    assert_eq!(check(&p, &c), Err(ProofError::Nonce));
    let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
    raw[14] ^= 1;
    let altered = URL_SAFE_NO_PAD.encode(raw);
    let p = s.proof("POST", URI, None, Some(&altered), NOW).unwrap();
    assert_eq!(check(&p, &c), Err(ProofError::Nonce));
    let p = s.proof("POST", URI, None, Some("made-up"), NOW).unwrap();
    assert_eq!(check(&p, &c), Err(ProofError::Nonce));
    // The same secret at another server (RFC 9449 §9: a nonce is accepted only by
    // the server that issued it).
    let elsewhere = NonceSealer::new(&[7u8; 32], "https://mcp.example/mcp", 300).unwrap();
    assert_eq!(elsewhere.open(&nonce, NOW), None);
    assert!(sealer.should_rotate(NOW - 151, NOW));
    assert!(!sealer.should_rotate(NOW - 149, NOW));
    assert!(NonceSealer::new(&[1u8; 31], "https://as.example", 300).is_err());
}

#[test]
fn check_11_iat_window() {
    let s = signer();
    let c = context("POST", URI, NOW);
    for (iat, ok) in [
        (NOW - 60, true),
        (NOW + 60, true),
        (NOW - 61, false),
        (NOW + 61, false),
    ] {
        let p = s.proof("POST", URI, None, None, iat).unwrap();
        assert_eq!(check(&p, &c).is_ok(), ok, "iat {iat}");
        if !ok {
            assert_eq!(check(&p, &c), Err(ProofError::Time));
        }
    }
    assert_eq!(ProofWindow::default().replay_ttl().as_secs(), 121);
}

#[test]
fn check_12_ath_and_binding() {
    let s = signer();
    let mut c = context("POST", URI, NOW);
    c.access_token = Some(AccessTokenDigest::of("the-token"));
    c.bound_jkt = Some(s.jkt());
    let no_ath = s.proof("POST", URI, None, None, NOW).unwrap();
    assert_eq!(check(&no_ath, &c), Err(ProofError::AccessTokenHash));
    let wrong = s
        .proof("POST", URI, Some("other-token"), None, NOW)
        .unwrap();
    assert_eq!(check(&wrong, &c), Err(ProofError::AccessTokenHash));
    let good = s.proof("POST", URI, Some("the-token"), None, NOW).unwrap();
    check(&good, &c).unwrap();
    let thief = signer()
        .proof("POST", URI, Some("the-token"), None, NOW)
        .unwrap();
    let e = check(&thief, &c).unwrap_err();
    assert_eq!(
        (e.clone(), e.code()),
        (ProofError::KeyBinding, "invalid_token")
    );
}

/// Only the key of a proof bound to a token (check 12 passed) may get its table: an
/// EdDSA proof key at the token endpoint never does, however many proofs it signs; at a
/// resource it does, after 64 more valid proofs.
#[test]
fn only_a_proof_key_bound_to_a_token_may_get_a_table() {
    let s = ProofSigner::generate(JwsAlgorithm::EdDsa).unwrap();
    let first = s.proof("POST", URI, None, None, NOW).unwrap();
    let segment = first.split('.').next().unwrap().to_owned();
    let cached_key_has_table = || {
        checked_headers::get(&segment)
            .expect("the header is kept")
            .key
            .has_table()
    };
    for _ in 0..130 {
        let proof = s.proof("POST", URI, None, None, NOW).unwrap();
        check(&proof, &context("POST", URI, NOW)).unwrap();
    }
    assert!(!cached_key_has_table(), "unbound proofs never count");
    let mut c = context("POST", URI, NOW);
    c.access_token = Some(AccessTokenDigest::of("tok"));
    c.bound_jkt = Some(s.jkt());
    // The first bound proof allows the table; the 64 after it count.
    for _ in 0..=64 {
        assert!(!cached_key_has_table());
        let proof = s.proof("POST", URI, Some("tok"), None, NOW).unwrap();
        check(&proof, &c).unwrap();
    }
    assert!(cached_key_has_table());
}

#[test]
fn every_dpop_algorithm_round_trips() {
    for alg in DEFAULT_ALGORITHMS {
        let s = ProofSigner::generate(alg).unwrap();
        let p = s.proof("POST", URI, None, None, NOW).unwrap();
        let v = check(&p, &context("POST", URI, NOW)).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!((v.alg, v.jkt.as_str()), (alg, s.jkt()));
    }
    assert_eq!(
        algs_param(&[JwsAlgorithm::Es256, JwsAlgorithm::Ps256]),
        "ES256 PS256"
    );
}

proptest::proptest! {
    /// Arbitrary bytes, and a valid proof with one byte changed, give an error or a
    /// proof, never a panic (the fuzz target `dpop_proof` does the same, longer).
    #[test]
    fn the_check_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600), at in 0usize..1000, to in proptest::num::u8::ANY) {
        let c = context("POST", "https://server.example.com/token", 1_562_262_616);
        let _ = check_proof([bytes.as_slice()], &c);
        let mut proof = RFC_TOKEN_PROOF.as_bytes().to_vec();
        let i = at % proof.len();
        proof[i] = to;
        if let Ok(p) = check_proof([proof.as_slice()], &c) {
            // Only a change that leaves the signed bytes and signature intact may pass.
            proptest::prop_assert_eq!(p.jkt, RFC_JKT);
        }
    }
}

/// The checked-header table ([`checked_headers`]) changes no outcome: with a header
/// seen before, every check that does not depend on the header alone still runs.
#[test]
fn a_header_seen_before_still_has_every_other_check() {
    let (key, header, claims) = parts();
    let c = context("POST", URI, NOW);
    let good = forge(&key, &header, &claims);
    let segment = good.split('.').next().unwrap().to_owned();
    check(&good, &c).unwrap();
    assert!(
        checked_headers::get(&segment).is_some(),
        "kept once verified"
    );
    // The caller's algorithm list is applied to the kept header too.
    let mut only_eddsa = context("POST", URI, NOW);
    only_eddsa.algorithms = &[JwsAlgorithm::Ed25519];
    assert_eq!(
        check(&good, &only_eddsa),
        Err(ProofError::Algorithm("ES256".into()))
    );
    // The signature, the claims and the window are checked for each proof.
    let (h, rest) = good.split_once('.').unwrap();
    let sig = rest.rsplit_once('.').unwrap().1;
    let mut cl = claims.clone();
    cl["jti"] = "j2".into();
    let tampered = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(cl.to_string()));
    assert_eq!(check(&tampered, &c), Err(ProofError::Signature));
    // Its payload and signature are decoded for each proof, and must be base64url.
    let payload = rest.split_once('.').unwrap().0;
    for malformed in [
        // Padding, which a lenient decoder would take off (and the signature then fail).
        format!("{h}.{payload}=.{sig}"),
        format!("{h}.{payload}.{sig}="),
    ] {
        assert!(
            matches!(check(&malformed, &c), Err(ProofError::Malformed(_))),
            "{malformed:.60}"
        );
    }
    let mut other_uri = claims.clone();
    other_uri["htu"] = "https://elsewhere.example/mcp".into();
    assert_eq!(
        check(&forge(&key, &header, &other_uri), &c),
        Err(ProofError::Uri)
    );
    let mut no_jti = claims.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_eq!(
        check(&forge(&key, &header, &no_jti), &c),
        Err(ProofError::MissingClaim("jti"))
    );
    assert_eq!(
        check(&good, &context("POST", URI, NOW + 3600)),
        Err(ProofError::Time)
    );
    // The thumbprint is the key's, as computed the first time.
    assert_eq!(
        check(&good, &c).unwrap().jkt,
        key.verifying_key().thumbprint()
    );
}

#[test]
fn a_header_whose_proof_did_not_verify_is_not_kept() {
    let (key, header, claims) = parts();
    let (other, _, _) = parts();
    let unsigned = forge(&other, &header, &claims);
    let segment = unsigned.split('.').next().unwrap().to_owned();
    assert_eq!(
        check(&unsigned, &context("POST", URI, NOW)),
        Err(ProofError::Signature)
    );
    assert!(checked_headers::get(&segment).is_none());
    let _ = key;
}
