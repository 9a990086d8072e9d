//! The signing key and the verifier of access tokens.

use super::*;
use jsonwebtoken::{Algorithm as JwtAlg, EncodingKey, Header};

/// The key as `jsonwebtoken` signs with it: tokens this server would never issue
/// (`crit`, other claims), made by another implementation.
fn encoding(key: &AsSigningKey) -> EncodingKey {
    let pem = key.to_pkcs8_pem().unwrap();
    match key.alg {
        JwsAlgorithm::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        JwsAlgorithm::Rs256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ed_pem(pem.as_bytes()),
    }
    .unwrap()
}

#[test]
fn tokens_signed_with_the_prepared_key_verify_with_jsonwebtoken_and_carry_exactly_alg_typ_kid() {
    for (alg, jwt) in [
        (JwsAlgorithm::EdDsa, JwtAlg::EdDSA),
        (JwsAlgorithm::Es256, JwtAlg::ES256),
        (JwsAlgorithm::Rs256, JwtAlg::RS256),
    ] {
        let key = AsSigningKey::generate(alg).unwrap();
        for typ in [ACCESS_TOKEN_TYP, "JWT", "oauth-id-jag+jwt"] {
            let token = key.sign_typed(typ, &claims(1000)).unwrap();
            let (header, _) = token.split_once('.').unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
            assert_eq!(
                header,
                serde_json::json!({"alg": format!("{jwt:?}"), "typ": typ, "kid": key.kid()}),
                "{alg:?}"
            );
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
            let mut validation = Validation::new(jwt);
            validation.set_audience(&["https://mcp.example/mcp"]);
            validation.validate_exp = false;
            let decoded = jsonwebtoken::decode::<AccessTokenClaims>(
                &token,
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &validation,
            )
            .unwrap_or_else(|e| panic!("{alg:?} {typ}: {e}"));
            assert_eq!(decoded.claims, claims(1000));
        }
    }
}

fn claims(now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://as.example".into(),
        sub: "client-1".into(),
        aud: "https://mcp.example/mcp".into(),
        exp: now + 300,
        iat: now,
        jti: "j1".into(),
        client_id: "client-1".into(),
        scope: "mcp:read".into(),
        cnf: None,
    }
}

#[test]
fn every_as_algorithm_signs_tokens_that_verify_against_the_jwks() {
    for alg in [
        JwsAlgorithm::EdDsa,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Rs256,
    ] {
        let (key, v) = key_and_verifier(alg, Some("https://mcp.example/mcp"));
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(v.verify(&token, 1000).unwrap(), claims(1000), "{alg:?}");
    }
}

#[test]
fn every_as_algorithm_key_reads_back_from_its_stored_pkcs8_form() {
    for alg in [
        JwsAlgorithm::EdDsa,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Rs256,
    ] {
        let key = AsSigningKey::generate(alg).unwrap();
        let again =
            AsSigningKey::from_pkcs8_pem(alg, &key.to_pkcs8_pem().unwrap(), Some(key.kid().into()))
                .unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk(), "{alg:?}");
    }
}

/// An EdDSA key, a token it signed for `claims(1000)`, and a verifier of
/// `https://as.example` for `https://mcp.example/mcp` that trusts the key.
fn signed_token() -> (AsSigningKey, String, TokenVerifier) {
    let (key, v) = key_and_verifier(JwsAlgorithm::EdDsa, Some("https://mcp.example/mcp"));
    let token = key.sign(&claims(1000)).unwrap();
    (key, token, v)
}

#[test]
fn a_token_with_crit_is_refused_since_no_extension_is_understood() {
    // RFC 7515 §4.1.11: the same key and claims verify without `crit`.
    let (key, _, v) = signed_token();
    let mut header = Header::new(JwtAlg::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
    header.kid = Some(key.kid.clone());
    let plain = jsonwebtoken::encode(&header, &claims(1000), &encoding(&key)).unwrap();
    assert!(v.verify(&plain, 1000).is_ok());
    header.crit = Some(vec!["exp".to_owned()]);
    let critical = jsonwebtoken::encode(&header, &claims(1000), &encoding(&key)).unwrap();
    assert_eq!(v.verify(&critical, 1000), Err(AccessTokenError::Malformed));
    // `"crit": null` too, which jsonwebtoken's `Header` reads as no `crit`.
    let head = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","crit":null}}"#,
        key.kid
    );
    let input = format!(
        "{}.{}",
        B64.encode(head),
        B64.encode(serde_json::to_vec(&claims(1000)).unwrap())
    );
    let signature = key
        .key
        .sign(Algorithm::Jws(key.alg), input.as_bytes())
        .unwrap();
    let null = format!("{input}.{}", B64.encode(signature));
    assert_eq!(v.verify(&null, 1000), Err(AccessTokenError::Malformed));
}

#[test]
fn a_token_at_or_after_exp_plus_leeway_is_expired() {
    let (_, token, v) = signed_token();
    assert_eq!(v.verify(&token, 1306), Err(AccessTokenError::Expired));
}

#[test]
fn a_token_issued_beyond_the_leeway_in_the_future_is_not_yet_valid() {
    let (_, token, v) = signed_token();
    assert_eq!(v.verify(&token, 994), Err(AccessTokenError::NotYetValid));
}

#[test]
fn a_token_for_another_audience_is_refused() {
    let (key, token, _) = signed_token();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let v = TokenVerifier::new("https://as.example", Some("https://other".into()), &jwks);
    assert_eq!(v.verify(&token, 1000), Err(AccessTokenError::WrongAudience));
}

#[test]
fn a_token_from_another_issuer_is_refused() {
    let (key, token, _) = signed_token();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let other_iss = TokenVerifier::new("https://evil", None, &jwks);
    assert_eq!(
        other_iss.verify(&token, 1000),
        Err(AccessTokenError::WrongIssuer)
    );
}

#[test]
fn a_token_signed_by_a_key_not_in_the_jwks_is_refused() {
    let (_, token, _) = signed_token();
    let unknown = TokenVerifier::new("https://as.example", None, &Jwks::default());
    assert_eq!(
        unknown.verify(&token, 1000),
        Err(AccessTokenError::UnknownKey)
    );
}

#[test]
fn a_string_that_is_not_a_jwt_is_malformed() {
    let (_, _, v) = signed_token();
    assert_eq!(
        v.verify("not.a.jwt", 1000),
        Err(AccessTokenError::Malformed)
    );
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    use base64::Engine as _;
    let (_, token, v) = signed_token();
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_claims = {
        let mut c = claims(1000);
        c.scope = "admin".into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    };
    parts[1] = &forged_claims;
    assert_eq!(
        v.verify(&parts.join("."), 1000),
        Err(AccessTokenError::BadSignature)
    );
}

/// A token whose typ is not at+jwt (e.g. an ID token) is refused.
#[test]
fn a_token_whose_typ_is_not_at_jwt_is_refused() {
    let (key, _, v) = signed_token();
    let mut header = Header::new(JwtAlg::EdDSA);
    header.kid = Some(key.kid().into());
    header.typ = Some("JWT".into());
    let id_token = jsonwebtoken::encode(&header, &claims(1000), &encoding(&key)).unwrap();
    assert_eq!(v.verify(&id_token, 1000), Err(AccessTokenError::WrongType));
}

#[test]
fn a_jwks_key_without_alg_is_used_with_the_algorithm_its_type_implies() {
    for alg in [
        JwsAlgorithm::EdDsa,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Rs256,
    ] {
        let key = AsSigningKey::generate(alg).unwrap();
        let mut jwk = key.public_jwk();
        jwk.alg = None;
        let jwks = Jwks { keys: vec![jwk] };
        let token = key.sign(&claims(1000)).unwrap();
        let v = TokenVerifier::new(
            "https://as.example",
            Some("https://mcp.example/mcp".into()),
            &jwks,
        );
        assert_eq!(v.verify(&token, 1000).unwrap(), claims(1000), "{alg:?}");
    }
}

#[test]
fn an_audience_array_must_contain_the_resource() {
    let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let mut header = Header::new(JwtAlg::EdDSA);
    header.kid = Some(key.kid().into());
    header.typ = Some("at+jwt".into());
    let mut raw = serde_json::to_value(claims(1000)).unwrap();
    raw["aud"] = serde_json::json!(["https://other", "https://mcp.example/mcp"]);
    let token = jsonwebtoken::encode(&header, &raw, &encoding(&key)).unwrap();
    let v = |aud: &str| TokenVerifier::new("https://as.example", Some(aud.into()), &jwks);
    assert_eq!(
        v("https://mcp.example/mcp").verify(&token, 1000),
        Ok(claims(1000))
    );
    assert_eq!(
        v("https://third").verify(&token, 1000),
        Err(AccessTokenError::WrongAudience)
    );
}

#[test]
fn alg_none_and_hmac_confusion_are_refused() {
    use base64::Engine as _;
    let (key, v) = key_and_verifier(JwsAlgorithm::EdDsa, None);
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = b64(&serde_json::to_value(claims(1000)).unwrap());
    for alg in ["none", "HS256"] {
        let header = b64(&serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": key.kid()}));
        let token = format!("{header}.{payload}.");
        let err = v.verify(&token, 1000).unwrap_err();
        assert!(
            matches!(
                err,
                AccessTokenError::Malformed | AccessTokenError::AlgorithmMismatch
            ),
            "{alg}: {err:?}"
        );
    }
}

/// A fresh `alg` signing key and a verifier of `https://as.example` that trusts
/// it, for the audience `aud` (none: any).
fn key_and_verifier(alg: JwsAlgorithm, aud: Option<&str>) -> (AsSigningKey, TokenVerifier) {
    let key = AsSigningKey::generate(alg).unwrap();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let verifier = TokenVerifier::new("https://as.example", aud.map(str::to_owned), &jwks);
    (key, verifier)
}

fn sign_raw(key: &AsSigningKey, raw: &serde_json::Value) -> String {
    let mut header = Header::new(JwtAlg::EdDSA);
    header.kid = Some(key.kid().into());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, raw, &encoding(key)).unwrap()
}

/// Item 17: access tokens go through the shared claim check, which honours `nbf`
/// (RFC 7519 §4.1.5); the old verifier ignored it.
#[test]
fn item_17_access_tokens_use_the_shared_claim_check_and_honour_nbf() {
    let (key, v) = key_and_verifier(JwsAlgorithm::EdDsa, Some("https://mcp.example/mcp"));
    let mut raw = serde_json::to_value(claims(1000)).unwrap();
    raw["nbf"] = 1060.into();
    let token = sign_raw(&key, &raw);
    assert_eq!(v.verify(&token, 1000), Err(AccessTokenError::NotYetValid));
    assert_eq!(v.verify(&token, 1055), Ok(claims(1000)));
}

/// Item 17: an `exp` of i64::MAX neither overflows nor wraps into "expired".
#[test]
fn item_17_an_access_token_with_exp_i64_max_does_not_overflow() {
    let (key, v) = key_and_verifier(JwsAlgorithm::EdDsa, None);
    let mut c = claims(1000);
    c.exp = i64::MAX;
    let token = key.sign(&c).unwrap();
    assert_eq!(v.verify(&token, 1000), Ok(c.clone()));
    assert_eq!(v.verify(&token, i64::MAX), Err(AccessTokenError::Expired));
}

#[test]
fn a_token_missing_a_required_rfc9068_claim_is_malformed() {
    let (key, v) = key_and_verifier(JwsAlgorithm::EdDsa, None);
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        let mut raw = serde_json::to_value(claims(1000)).unwrap();
        raw.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            v.verify(&sign_raw(&key, &raw), 1000),
            Err(AccessTokenError::Malformed),
            "{claim}"
        );
    }
}

/// The EC key published under the Ed25519 key's kid: an EdDSA token is refused
/// before any signature check.
#[test]
fn a_key_is_used_only_with_an_algorithm_of_its_type() {
    let ec = AsSigningKey::generate(JwsAlgorithm::Es256).unwrap();
    let ed = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let mut jwk = ec.public_jwk();
    jwk.kid = Some(ed.kid().into());
    let v = TokenVerifier::new("https://as.example", None, &Jwks { keys: vec![jwk] });
    let token = ed.sign(&claims(1000)).unwrap();
    assert_eq!(
        v.verify(&token, 1000),
        Err(AccessTokenError::AlgorithmMismatch)
    );
}

#[test]
fn a_jwks_key_declaring_fully_specified_ed25519_verifies_eddsa_tokens() {
    let ed = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let token = ed.sign(&claims(1000)).unwrap();
    let mut jwk = ed.public_jwk();
    jwk.alg = Some("Ed25519".into());
    let v = TokenVerifier::new("https://as.example", None, &Jwks { keys: vec![jwk] });
    assert_eq!(v.verify(&token, 1000), Ok(claims(1000)));
}
