//! One test per check of profiles/workload-identity-federation.md §7.3 steps 2 and 5
//! to 9, named after the WIF-AS requirement it proves. Assertions are minted here:
//! signed with `mcp_auth_httpsig::SigningKey` (and `AsSigningKey` for an access
//! token), or built by hand when malformed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::access_token::{AccessTokenClaims, AsSigningKey};

pub(super) const AS: &str = "https://as.example.com";
pub(super) const ISS: &str = "https://oidc.cluster.example.com";
pub(super) const TD: &str = "prod.example";
pub(super) const SVID: &str = "spiffe://prod.example/ns/mcp-agents/sa/indexer";
pub(super) const NOW: i64 = 1_767_225_600;

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn key(alg: JwsAlgorithm) -> mcp_auth_httpsig::SigningKey {
    mcp_auth_httpsig::SigningKey::generate(Algorithm::Jws(alg)).unwrap()
}

/// A JWS of `header` and `claims` (any JSON text) signed by `key` with `alg`.
pub(super) fn sign_raw(
    key: &mcp_auth_httpsig::SigningKey,
    alg: Algorithm,
    h: &str,
    c: &str,
) -> String {
    let input = format!("{}.{}", b64(h.as_bytes()), b64(c.as_bytes()));
    let signature = key.sign(alg, input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

pub(super) fn mint(
    key: &mcp_auth_httpsig::SigningKey,
    alg: JwsAlgorithm,
    h: Value,
    c: Value,
) -> String {
    sign_raw(key, Algorithm::Jws(alg), &h.to_string(), &c.to_string())
}

/// A JWS with any signature bytes (for checks made before the signature).
pub(super) fn unsigned(h: &str, c: &str) -> String {
    format!(
        "{}.{}.{}",
        b64(h.as_bytes()),
        b64(c.as_bytes()),
        b64(b"sig")
    )
}

/// A Kubernetes projected service-account token for `AS` (WIF §7.2).
pub(super) fn k8s_claims() -> Value {
    json!({
        "aud": [AS], "exp": NOW + 3600, "iat": NOW, "nbf": NOW, "iss": ISS,
        "jti": "1a6e0c52", "sub": "system:serviceaccount:mcp-agents:planner",
        "kubernetes.io": {"namespace": "mcp-agents"}
    })
}

/// A JWT-SVID from SPIRE: no `iss`, no `jti` (WIF §7.2).
pub(super) fn svid_claims() -> Value {
    json!({"aud": [AS], "exp": NOW + 300, "iat": NOW, "sub": SVID})
}

/// `claims` with `name` set to `value`, or removed.
pub(super) fn set(mut claims: Value, name: &str, value: Option<Value>) -> Value {
    let c = claims.as_object_mut().unwrap();
    _ = match value {
        Some(v) => c.insert(name.into(), v),
        None => c.remove(name),
    };
    claims
}

pub(super) fn with(mut claims: Value, f: impl FnOnce(&mut Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

pub(super) fn issuer_rules() -> AssertionRules<'static> {
    AssertionRules::new(TrustEntry::Issuer(ISS), AS)
}

pub(super) fn td_rules() -> AssertionRules<'static> {
    AssertionRules::new(TrustEntry::SpiffeTrustDomain(TD), AS)
}

pub(super) fn workload(assertion: &str) -> ParsedAssertion {
    match parse(assertion).unwrap() {
        AssertionKind::Workload(parsed) => parsed,
        AssertionKind::IdJag(_) => panic!("an ID-JAG"),
    }
}

/// Verifies `jws` with `key` for the issuer entry of `ISS`, at `NOW`.
pub(super) fn check(jws: &str, key: &VerifyingKey) -> Result<VerifiedAssertion, AssertionError> {
    workload(jws).verify(key, &issuer_rules(), NOW)
}

/// Mints an ES256 assertion with `claims` and verifies it under `rules`.
pub(super) fn verify_claims(
    claims: Value,
    rules: &AssertionRules<'_>,
) -> Result<VerifiedAssertion, AssertionError> {
    let k = key(JwsAlgorithm::Es256);
    let jws = mint(
        &k,
        JwsAlgorithm::Es256,
        json!({"alg": "ES256", "kid": "k1"}),
        claims,
    );
    workload(&jws).verify(&k.verifying_key(), rules, NOW)
}

#[test]
fn wif_as_1_a_valid_assertion_is_verified_with_every_algorithm_of_section_7_2() {
    for alg in ALGORITHMS {
        let k = key(alg);
        let h = json!({"alg": alg.name(), "kid": "Cp5ah8Lz", "typ": "JWT"});
        let parsed = workload(&mint(&k, alg, h, k8s_claims()));
        assert_eq!(parsed.check_header(), Ok(alg));
        let verified = parsed
            .verify(&k.verifying_key(), &issuer_rules(), NOW)
            .unwrap();
        assert_eq!(verified.alg, alg);
        assert_eq!(verified.kid.as_deref(), Some("Cp5ah8Lz"));
        assert_eq!(verified.sub, "system:serviceaccount:mcp-agents:planner");
        assert_eq!(verified.jti.as_deref(), Some("1a6e0c52"));
        assert_eq!(
            (verified.exp, verified.accepted_until),
            (NOW + 3600, NOW + 3660)
        );
        assert_eq!(verified.claims["kubernetes.io"]["namespace"], "mcp-agents");
    }
}

/// The parsed assertion's `Debug` shows what it says, not the assertion: its
/// signed text and signature would be the bearer credential itself.
#[test]
fn a_parsed_assertions_debug_shows_its_claims_but_not_the_assertion() {
    let alg = JwsAlgorithm::EdDsa;
    let h = json!({"alg": alg.name(), "typ": "JWT"});
    let jws = mint(&key(alg), alg, h, k8s_claims());
    let shown = format!("{:?}", workload(&jws));
    let (signing_input, signature) = jws.rsplit_once('.').unwrap();
    // The signature as the bytes a derived `Debug` would print, and the signed text.
    let signature_bytes = format!("{:?}", URL_SAFE_NO_PAD.decode(signature).unwrap());
    for part in signing_input.split('.').chain([signature_bytes.as_str()]) {
        assert!(!shown.contains(part), "{part} shown: {shown}");
    }
    assert!(
        shown.contains("system:serviceaccount:mcp-agents:planner"),
        "{shown}"
    );
}

#[test]
fn wif_as_1_a_jwt_svid_without_iss_is_verified_for_its_trust_domain() {
    for &alg in TRUST_DOMAIN_ALGORITHMS {
        let k = key(alg);
        let jws = mint(
            &k,
            alg,
            json!({"alg": alg.name(), "typ": "JWT"}),
            svid_claims(),
        );
        let verified = workload(&jws)
            .verify(&k.verifying_key(), &td_rules(), NOW)
            .unwrap();
        assert_eq!((verified.sub.as_str(), verified.jti), (SVID, None));
    }
}

#[test]
fn wif_as_3_an_absent_jwt_or_jose_typ_is_a_workload_assertion_in_any_letter_case() {
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("JOSE"),
        Some("application/jwt"),
    ]
    .into_iter()
    .chain([Some("Application/JOSE"), Some("APPLICATION/JwT")])
    {
        let h = match typ {
            Some(t) => json!({"alg": "ES256", "typ": t}),
            None => json!({"alg": "ES256"}),
        };
        let parsed = parse(&unsigned(&h.to_string(), &k8s_claims().to_string()));
        assert!(matches!(parsed, Ok(AssertionKind::Workload(_))), "{typ:?}");
    }
}

#[test]
fn wif_as_3_an_id_jag_is_never_processed_as_a_workload_assertion() {
    for typ in ["oauth-id-jag+jwt", "application/OAUTH-ID-JAG+JWT"] {
        let h = json!({"alg": "ES256", "typ": typ}).to_string();
        assert!(
            matches!(parse(&unsigned(&h, "{}")), Ok(AssertionKind::IdJag(_))),
            "{typ}"
        );
    }
    assert_eq!(AssertionError::IdJagNotSupported.code(), "invalid_grant");
}

#[test]
fn wif_as_3_any_other_typ_is_refused() {
    let others = [
        json!("at+jwt"),
        json!("dpop+jwt"),
        json!("wit+jwt"),
        json!("JOSE+JSON"),
    ];
    for typ in others
        .into_iter()
        .chain([json!(""), json!("application/"), json!(5), json!(null)])
    {
        let h = json!({"alg": "ES256", "typ": typ}).to_string();
        assert_eq!(
            parse(&unsigned(&h, "{}")),
            Err(AssertionError::WrongType),
            "{typ}"
        );
    }
    // An RFC 9068 access token of this project's own AS.
    let as_key = AsSigningKey::generate(JwsAlgorithm::Es256).unwrap();
    let token = as_key
        .sign(&AccessTokenClaims {
            iss: AS.into(),
            sub: "client".into(),
            aud: "https://mcp.example.com/mcp".into(),
            exp: NOW + 300,
            iat: NOW,
            jti: "j".into(),
            client_id: "client".into(),
            scope: String::new(),
            cnf: None,
        })
        .unwrap();
    assert_eq!(parse(&token), Err(AssertionError::WrongType));
}

#[test]
fn wif_as_6_an_assertion_over_16_kib_is_refused_and_one_of_16_kib_is_parsed() {
    // Pad the header with spaces until the signature part can make exactly 16 KiB
    // (a base64url text is never 4k + 1 characters long).
    let claims = b64(k8s_claims().to_string().as_bytes());
    let (header, sig_len) = (0..4)
        .map(|pad| b64(format!("{{\"alg\":\"ES256\"{}}}", " ".repeat(pad)).as_bytes()))
        .map(|h| {
            let len = MAX_ASSERTION_LEN - h.len() - claims.len() - 2;
            (h, len)
        })
        .find(|(_, len)| len % 4 != 1)
        .unwrap();
    let exact = format!("{header}.{claims}.{}", "A".repeat(sig_len));
    assert_eq!(exact.len(), MAX_ASSERTION_LEN);
    assert!(matches!(parse(&exact), Ok(AssertionKind::Workload(_))));
    assert!(matches!(
        parse(&format!(" {exact}\n")),
        Ok(AssertionKind::Workload(_))
    ));
    let over = format!("{header}.{claims}.{}", "A".repeat(sig_len + 2));
    assert_eq!(parse(&over), Err(AssertionError::TooLarge));
}

#[test]
fn wif_as_6_anything_but_a_compact_jws_of_three_base64url_parts_is_refused() {
    let (h, c) = (
        b64(br#"{"alg":"ES256"}"#),
        b64(k8s_claims().to_string().as_bytes()),
    );
    for bad in [
        format!("{h}.{c}"),
        format!("{h}.{c}.c2ln.eA"),
        format!("{h}.{c}.AA.AA.AA"),
        format!("{h}=.{c}.c2ln"),
        format!("{h}.{c}.c2l+"),
        format!(".{c}.c2ln"),
        format!("{h}..c2ln"),
        format!("{h}.{c}.c2ln!"),
        String::new(),
    ] {
        assert_eq!(parse(&bad), Err(AssertionError::NotCompactJws), "{bad}");
    }
}

#[test]
fn wif_as_6_a_header_that_is_not_a_json_object_or_repeats_a_member_is_refused() {
    let c = k8s_claims().to_string();
    for h in [
        r#"{"alg":"ES256","alg":"none"}"#,
        r#"{"alg":"ES256","\u0061lg":"none"}"#,
        r#"{"alg":"ES256","x":{"a":1,"a":2}}"#,
        r#"["alg","ES256"]"#,
        r#""ES256""#,
        r#"{"alg":"ES256"} x"#,
        "not json",
    ] {
        assert_eq!(
            parse(&unsigned(h, &c)),
            Err(AssertionError::MalformedHeader),
            "{h}"
        );
    }
}

#[test]
fn wif_as_6_claims_that_are_not_a_json_object_or_repeat_a_member_are_refused_at_step_6() {
    let k = key(JwsAlgorithm::Es256);
    let h = r#"{"alg":"ES256"}"#;
    for c in [
        format!(
            r#"{{"sub":"a","aud":"{AS}","exp":{},"sub":"b","iss":"{ISS}"}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"sub":"a","aud":"{AS}","exp":{},"iss":"{ISS}","s\u0075b":"b"}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"sub":"a","aud":"{AS}","exp":{},"iss":"{ISS}","k":{{"n":1,"n":2}}}}"#,
            NOW + 60
        ),
        format!(r#"["{ISS}"]"#),
    ] {
        let parsed = workload(&sign_raw(&k, Algorithm::Jws(JwsAlgorithm::Es256), h, &c));
        assert_eq!(parsed.check_header(), Ok(JwsAlgorithm::Es256), "{c}");
        assert_eq!(
            parsed.trust_selector(),
            Err(AssertionError::MalformedClaims),
            "{c}"
        );
        let verified = parsed.verify(&k.verifying_key(), &issuer_rules(), NOW);
        assert_eq!(verified, Err(AssertionError::MalformedClaims), "{c}");
    }
}

#[test]
fn wif_as_6_a_header_with_crit_is_refused() {
    let k = key(JwsAlgorithm::Es256);
    let h = json!({"alg": "ES256", "crit": ["exp"], "exp": NOW});
    let parsed = workload(&mint(&k, JwsAlgorithm::Es256, h, k8s_claims()));
    assert_eq!(parsed.check_header(), Err(AssertionError::CriticalHeader));
    let verified = parsed.verify(&k.verifying_key(), &issuer_rules(), NOW);
    assert_eq!(verified, Err(AssertionError::CriticalHeader));
}

#[test]
fn wif_as_6_keys_named_by_the_header_are_never_used_and_extra_parameters_are_ignored() {
    let trusted = key(JwsAlgorithm::Es256);
    let attacker = key(JwsAlgorithm::Es256);
    let named = |signer: &mcp_auth_httpsig::SigningKey| {
        json!({
            "alg": "ES256", "kid": "k1", "jwk": signer.verifying_key().to_jwk(),
            "jku": "https://attacker.example/jwks", "x5u": "https://attacker.example/x5u",
            "x5c": ["MIIB"], "x5t": "dGh1bWI", "x-extra": {"a": 1}
        })
    };
    let forged = mint(
        &attacker,
        JwsAlgorithm::Es256,
        named(&attacker),
        k8s_claims(),
    );
    let result = check(&forged, &trusted.verifying_key());
    assert_eq!(result, Err(AssertionError::BadSignature));
    let genuine = mint(&trusted, JwsAlgorithm::Es256, named(&trusted), k8s_claims());
    assert!(check(&genuine, &trusted.verifying_key()).is_ok());
}

#[test]
fn wif_as_7_alg_none_is_refused() {
    for h in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None"}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
    ] {
        let jws = format!(
            "{}.{}.",
            b64(h.as_bytes()),
            b64(k8s_claims().to_string().as_bytes())
        );
        let parsed = workload(&jws);
        assert_eq!(
            parsed.check_header(),
            Err(AssertionError::AlgorithmNotAccepted),
            "{h}"
        );
        let k = key(JwsAlgorithm::Es256).verifying_key();
        let result = parsed.verify(&k, &issuer_rules(), NOW);
        assert_eq!(result, Err(AssertionError::AlgorithmNotAccepted), "{h}");
    }
}

#[test]
fn wif_as_7_hs256_keyed_with_the_public_key_is_refused() {
    let rsa = key(JwsAlgorithm::Rs256);
    let public = rsa.verifying_key();
    let secret = rsa.to_public_pem().unwrap();
    let hmac = mcp_auth_httpsig::SigningKey::hmac(secret.as_bytes());
    let h = r#"{"alg":"HS256"}"#;
    let jws = sign_raw(&hmac, Algorithm::HmacSha256, h, &k8s_claims().to_string());
    let result = check(&jws, &public);
    assert_eq!(result, Err(AssertionError::AlgorithmNotAccepted));
}

#[test]
fn wif_as_7_algorithms_outside_section_7_2_are_refused() {
    for alg in [
        "HS384", "HS512", "RS384", "RS512", "ES512", "Ed25519", "es256", "ES256K",
    ] {
        let h = json!({ "alg": alg }).to_string();
        let parsed = workload(&unsigned(&h, &k8s_claims().to_string()));
        assert_eq!(
            parsed.check_header(),
            Err(AssertionError::AlgorithmNotAccepted),
            "{alg}"
        );
    }
}

#[test]
fn wif_as_7_the_list_of_section_7_2_is_the_projects_signature_algorithms() {
    let mut ours: Vec<_> = ALGORITHMS.iter().map(|a| a.name().to_owned()).collect();
    let mut project: Vec<_> = crate::jwt_claims::SIGNATURE_ALGORITHMS
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    ours.sort();
    project.sort();
    assert_eq!(ours, project);
}

#[test]
fn wif_as_7_an_algorithm_the_entry_does_not_allow_is_refused() {
    let k = key(JwsAlgorithm::Rs256);
    let jws = mint(
        &k,
        JwsAlgorithm::Rs256,
        json!({"alg": "RS256"}),
        k8s_claims(),
    );
    let rules = AssertionRules {
        algorithms: &[JwsAlgorithm::Es256],
        ..issuer_rules()
    };
    let result = workload(&jws).verify(&k.verifying_key(), &rules, NOW);
    assert_eq!(result, Err(AssertionError::AlgorithmNotAllowed));
}

#[test]
fn wif_as_7_eddsa_is_refused_for_a_trust_domain_entry_even_when_listed() {
    assert!(!TRUST_DOMAIN_ALGORITHMS.contains(&JwsAlgorithm::EdDsa));
    let k = key(JwsAlgorithm::EdDsa);
    let jws = mint(
        &k,
        JwsAlgorithm::EdDsa,
        json!({"alg": "EdDSA"}),
        svid_claims(),
    );
    for rules in [
        td_rules(),
        AssertionRules {
            algorithms: &ALGORITHMS,
            ..td_rules()
        },
    ] {
        let result = workload(&jws).verify(&k.verifying_key(), &rules, NOW);
        assert_eq!(result, Err(AssertionError::AlgorithmNotAllowed));
    }
}

#[test]
fn wif_as_8_the_trust_selector_is_the_trust_domain_of_a_spiffe_sub_and_the_iss() {
    let cases = [
        (svid_claims(), Some(TD), None),
        (
            set(svid_claims(), "iss", Some(json!(ISS))),
            Some(TD),
            Some(ISS),
        ),
        (k8s_claims(), None, Some(ISS)),
        (
            json!({"sub": "spiffe://other.example"}),
            Some("other.example"),
            None,
        ),
        (
            json!({"sub": "SPIFFE://prod.example/a", "iss": 7}),
            None,
            None,
        ),
        (json!({"sub": 5}), None, None),
    ];
    for (claims, spiffe_trust_domain, issuer) in cases {
        let parsed = workload(&unsigned(r#"{"alg":"ES256"}"#, &claims.to_string()));
        let expected = TrustSelector {
            spiffe_trust_domain,
            issuer,
        };
        assert_eq!(parsed.trust_selector(), Ok(expected), "{claims}");
    }
}

#[test]
fn wif_as_8_an_assertion_that_does_not_select_the_entry_is_refused() {
    for claims in [
        set(k8s_claims(), "iss", Some(json!(format!("{ISS}/")))),
        set(k8s_claims(), "iss", None),
        set(k8s_claims(), "iss", Some(json!([ISS]))),
    ] {
        assert_eq!(
            verify_claims(claims, &issuer_rules()),
            Err(AssertionError::NoTrustEntry)
        );
    }
    for sub in [
        "spiffe://other.example/a",
        "spiffe://prod.example.evil/a",
        "spiffe://prod.example:8443/a",
    ] {
        let claims = set(svid_claims(), "sub", Some(json!(sub)));
        assert_eq!(
            verify_claims(claims, &td_rules()),
            Err(AssertionError::NoTrustEntry),
            "{sub}"
        );
    }
    let k8s_for_td = verify_claims(k8s_claims(), &td_rules());
    assert_eq!(k8s_for_td, Err(AssertionError::NoTrustEntry));
}

#[test]
fn wif_as_12_a_key_that_does_not_fit_alg_is_refused() {
    use JwsAlgorithm as J;
    // (key, algorithm signed with, header `alg`): a P-384 key for ES256, an RSA key
    // declared for RS256 (its JWK `alg`) for PS256, an Ed25519 key for ES256.
    for (signer, signed, alg) in [
        (J::Es384, J::Es384, "ES256"),
        (J::Rs256, J::Ps256, "PS256"),
        (J::EdDsa, J::EdDsa, "ES256"),
    ] {
        let k = key(signer);
        let h = json!({ "alg": alg }).to_string();
        let jws = sign_raw(&k, Algorithm::Jws(signed), &h, &k8s_claims().to_string());
        let result = check(&jws, &k.verifying_key());
        assert_eq!(
            result,
            Err(AssertionError::KeyNotForAlgorithm),
            "{signer:?} {alg}"
        );
    }
}

#[test]
fn wif_as_12_a_signature_by_another_key_or_over_other_claims_is_refused() {
    let (k, other) = (key(JwsAlgorithm::Es256), key(JwsAlgorithm::Es256));
    let jws = mint(
        &k,
        JwsAlgorithm::Es256,
        json!({"alg": "ES256"}),
        k8s_claims(),
    );
    let result = check(&jws, &other.verifying_key());
    assert_eq!(result, Err(AssertionError::BadSignature));
    let forged_claims = b64(set(k8s_claims(), "sub", Some(json!("admin")))
        .to_string()
        .as_bytes());
    let mut parts: Vec<&str> = jws.split('.').collect();
    parts[1] = &forged_claims;
    let result = check(&parts.join("."), &k.verifying_key());
    assert_eq!(result, Err(AssertionError::BadSignature));
}

mod claims;
