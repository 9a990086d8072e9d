//! The pieces of the workload grant that need no server: the audience check
//! (WIF-C-4, D1), reading the platform token (WIF-C-3, §7.1) and the checks of the
//! authorization server's metadata (WIF-C-1, WIF-C-6) with their order.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use mcp_auth_core::workload_assertion::MAX_ASSERTION_LEN;

const ISSUER: &str = "https://as.example.com";

/// An unsigned compact JWS with these claims (the client does not verify).
fn token_with(claims: &Value) -> String {
    let part = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.c2ln",
        part(br#"{"alg":"ES256"}"#),
        part(&serde_json::to_vec(claims).unwrap())
    )
}

fn aud(aud: Value) -> AudienceCheck {
    audience_of(&token_with(&json!({"sub": "w", "aud": aud})), ISSUER)
}

#[test]
fn wif_c_4_aud_the_issuer_as_a_string_is_sent() {
    assert_eq!(aud(json!(ISSUER)), AudienceCheck::Issuer);
}

#[test]
fn wif_c_4_aud_the_issuer_alone_in_an_array_is_sent() {
    assert_eq!(aud(json!([ISSUER])), AudienceCheck::Issuer);
}

#[test]
fn wif_c_4_aud_with_a_second_element_is_not_sent() {
    let two = json!([ISSUER, "https://other.example"]);
    assert_eq!(aud(two.clone()), AudienceCheck::Other(two.to_string()));
    let other_first = json!(["https://other.example", ISSUER]);
    assert!(matches!(aud(other_first), AudienceCheck::Other(_)));
}

#[test]
fn wif_c_4_aud_with_a_trailing_slash_is_not_sent() {
    assert_eq!(
        aud(json!(format!("{ISSUER}/"))),
        AudienceCheck::Other(json!(format!("{ISSUER}/")).to_string())
    );
}

#[test]
fn wif_c_4_aud_differing_in_case_or_as_the_token_endpoint_is_not_sent() {
    assert!(matches!(
        aud(json!("https://AS.example.com")),
        AudienceCheck::Other(_)
    ));
    assert!(matches!(
        aud(json!(format!("{ISSUER}/token"))),
        AudienceCheck::Other(_)
    ));
}

#[test]
fn wif_c_4_no_aud_an_empty_array_or_a_non_string_is_not_sent() {
    assert_eq!(
        audience_of(&token_with(&json!({"sub": "w"})), ISSUER),
        AudienceCheck::Other("none".into())
    );
    assert!(matches!(aud(json!([])), AudienceCheck::Other(_)));
    assert!(matches!(aud(json!(42)), AudienceCheck::Other(_)));
    assert!(matches!(aud(json!([ISSUER, 1])), AudienceCheck::Other(_)));
}

#[test]
fn wif_c_4_what_is_not_a_jwt_is_not_sent() {
    for token in [
        "not-a-jwt",
        "a.b",
        "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln",
        // A claim set repeating `aud`: one reader could see the other value.
        &format!(
            "eyJhbGciOiJFUzI1NiJ9.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!(r#"{{"aud":"{ISSUER}","aud":"https://evil"}}"#))
        ),
    ] {
        assert_eq!(audience_of(token, ISSUER), AudienceCheck::NotJwt, "{token}");
    }
}

#[tokio::test]
async fn wif_c_3_the_file_is_read_at_each_call_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let source = PlatformToken::File(path.clone());
    std::fs::write(&path, " \n first.token.x\n").unwrap();
    assert_eq!(source.read().await.unwrap(), "first.token.x");
    std::fs::write(&path, "second.token.x").unwrap();
    assert_eq!(source.read().await.unwrap(), "second.token.x");
}

#[tokio::test]
async fn wif_c_3_a_missing_empty_or_oversized_token_is_an_error_naming_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let source = PlatformToken::File(path.clone());
    let shown = path.display().to_string();
    let err = source.read().await.unwrap_err();
    assert!(
        matches!(&err, WorkloadError::Unreadable { from, .. } if *from == shown),
        "{err}"
    );
    std::fs::write(&path, " \n\t").unwrap();
    assert!(matches!(
        source.read().await,
        Err(WorkloadError::Empty { .. })
    ));
    std::fs::write(&path, "x".repeat(MAX_ASSERTION_LEN + 1)).unwrap();
    assert!(matches!(
        source.read().await,
        Err(WorkloadError::TooLarge { .. })
    ));
    let unset = PlatformToken::Env("MCP_AUTH_TEST_UNSET_WORKLOAD_TOKEN".into());
    let err = unset.read().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("environment variable MCP_AUTH_TEST_UNSET_WORKLOAD_TOKEN"),
        "{err}"
    );
}

/// Metadata of [`ISSUER`] with these members.
fn metadata(members: Value) -> AuthorizationServerMetadata {
    let mut doc = json!({"issuer": ISSUER, "token_endpoint": format!("{ISSUER}/token")});
    for (k, v) in members.as_object().into_iter().flatten() {
        doc[k] = v.clone();
    }
    serde_json::from_value(doc).unwrap()
}

#[tokio::test]
async fn wif_c_1_the_grant_must_be_listed_before_the_token_is_even_read() {
    // A token source that cannot be read: the grant check comes first.
    let source = PlatformToken::File("/nonexistent/mcp-auth/token".into());
    for members in [
        json!({}),
        json!({"grant_types_supported": ["client_credentials"]}),
    ] {
        assert!(matches!(
            grant_params(&source, &metadata(members), None).await,
            Err(WorkloadError::GrantNotSupported { .. })
        ));
    }
    let listed = metadata(json!({"grant_types_supported": [JWT_BEARER_GRANT]}));
    assert!(matches!(
        grant_params(&source, &listed, None).await,
        Err(WorkloadError::Unreadable { .. })
    ));
}

#[tokio::test]
async fn wif_c_2_the_params_are_the_grant_type_and_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let token = token_with(&json!({"aud": ISSUER}));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    let listed = metadata(json!({"grant_types_supported": [JWT_BEARER_GRANT]}));
    let params = grant_params(&PlatformToken::File(path), &listed, None)
        .await
        .unwrap();
    assert_eq!(
        params,
        [
            ("grant_type", JWT_BEARER_GRANT.to_owned()),
            ("assertion", token)
        ]
    );
}

#[test]
fn wif_c_6_dpop_is_advertised_by_its_algorithm() {
    let signer: RequestSigner = crate::DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)
        .unwrap()
        .into();
    assert!(!signer.advertised_by(&metadata(json!({}))));
    assert!(!signer.advertised_by(&metadata(
        json!({"dpop_signing_alg_values_supported": ["EdDSA"]})
    )));
    assert!(signer.advertised_by(&metadata(
        json!({"dpop_signing_alg_values_supported": ["EdDSA", "ES256"]})
    )));
}

#[test]
fn wif_c_6_httpsig_is_advertised_by_the_binding_method_and_the_algorithm() {
    let key = crate::ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let signer: RequestSigner = crate::HttpSigSigner::new(key).into();
    assert!(!signer.advertised_by(&metadata(json!({}))));
    assert!(!signer.advertised_by(&metadata(
        json!({"httpsig_key_binding_methods_supported": ["preregistered"]})
    )));
    assert!(signer.advertised_by(&metadata(
        json!({"httpsig_key_binding_methods_supported": ["runtime"]})
    )));
    assert!(!signer.advertised_by(&metadata(json!({
        "httpsig_key_binding_methods_supported": ["runtime"],
        "httpsig_signing_alg_values_supported": ["ecdsa-p256-sha256"]
    }))));
}
