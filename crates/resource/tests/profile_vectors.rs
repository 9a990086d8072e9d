//! Appendix A of profiles/http-message-signatures.md: end-to-end test vectors (keys,
//! token request, token, presentation, signature bases), generated here by the
//! implementation at a fixed clock and checked to verify. The test fails when the
//! document differs from what the code produces.
//!
//! Regenerate with:
//! `UPDATE_VECTORS=1 cargo test -p mcp-auth-resource --test profile_vectors`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::httpsig_profile::{
    KeyBinding, Window, token_request_components, token_request_policy,
};
use mcp_auth_core::{
    AccessTokenClaims, AsSigningKey, Confirmation, Jwks, ManualClock, MemoryReplayCache,
};
use mcp_auth_httpsig::{
    Algorithm, EmbeddedKey, Jwk, JwsAlgorithm, Message, RequestView, SigningKey, Verifier,
};
use mcp_auth_resource::{AccessTokenCache, ResourceConfig, ResourceVerifier};

mod common;

const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../profiles/http-message-signatures.md"
);
const BEGIN: &str = "<!-- BEGIN GENERATED: httpsig-vectors (UPDATE_VECTORS=1 cargo test -p mcp-auth-resource --test profile_vectors) -->";
const END: &str = "<!-- END GENERATED: httpsig-vectors -->";

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
/// 2026-01-01T00:00:00Z.
const T: i64 = 1_767_225_600;

/// An Ed25519 private JWK whose seed is SHA-256 of `label`: reproducible by anyone,
/// and obviously not a secret.
fn seeded_jwk(label: &str) -> Jwk {
    let seed: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, label.as_bytes())
        .as_ref()
        .try_into()
        .unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    Jwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some(URL_SAFE_NO_PAD.encode(public)),
        d: Some(URL_SAFE_NO_PAD.encode(seed)),
        ..Jwk::default()
    }
}

fn http_message(parts: &http::request::Parts, host: &str, order: &[&str], body: &str) -> String {
    let mut out = format!(
        "{} {} HTTP/1.1\nHost: {host}\n",
        parts.method,
        parts.uri.path_and_query().unwrap()
    );
    for name in order {
        for v in parts.headers.get_all(*name) {
            let display = name
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("-");
            writeln!(out, "{display}: {}", v.to_str().unwrap()).unwrap();
        }
    }
    write!(out, "\n{body}").unwrap();
    out
}

fn fence(lang: &str, text: &str) -> String {
    format!("```{lang}\n{}\n```\n", text.trim_end())
}

async fn generate() -> String {
    // Keys.
    let client_jwk = seeded_jwk("mcp-auth httpsig profile vector: client key");
    let client_key = SigningKey::from_jwk(&client_jwk).unwrap();
    let proof = ProofKey::runtime(client_key, Algorithm::Ed25519).unwrap();
    let as_jwk = seeded_jwk("mcp-auth httpsig profile vector: authorization server key");
    let as_pem = SigningKey::from_jwk(&as_jwk)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    let as_key = AsSigningKey::from_pkcs8_pem(JwsAlgorithm::EdDsa, &as_pem, None).unwrap();
    let jwks = Jwks {
        keys: vec![as_key.public_jwk()],
    };

    // Token request: client_credentials with client_secret_basic, runtime key.
    let form = format!(
        "grant_type=client_credentials&scope=mcp%3Aread&resource={}",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    );
    let basic = format!("Basic {}", STANDARD.encode("vector-client:vector-secret"));
    let (mut token_req, ()) = http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &basic)
        .body(())
        .unwrap()
        .into_parts();
    HttpSigSigner::new(proof.clone())
        .with_fixed_nonce("dG9rZW4tcmVxdWVzdC0x")
        .sign_token_request(&mut token_req, form.as_bytes(), T)
        .unwrap();
    // The AS's check (the same policy the token endpoint applies).
    let mut policy = token_request_policy(
        token_request_components(true),
        Window::default(),
        KeyBinding::Runtime,
    );
    policy.label = Some("sig".into());
    let verified = Verifier::new(policy)
        .verify(
            &Message::Request(RequestView::from_parts(&token_req)),
            form.as_bytes(),
            &EmbeddedKey,
            T + 1,
        )
        .expect("the token request vector verifies");
    let token_base = verified.signatures[0].base.clone();
    let cnf = Confirmation::runtime(&verified.signatures[0].key, Algorithm::Ed25519).unwrap();

    // The access token the AS issues for it.
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "vector-client".into(),
        aud: RESOURCE.into(),
        exp: T + 300,
        iat: T,
        jti: "vector-token-1".into(),
        client_id: "vector-client".into(),
        scope: "mcp:read".into(),
        cnf: Some(cnf),
    };
    let access_token = as_key.sign(&claims).unwrap();
    let token_response = serde_json::json!({
        "access_token": access_token, "token_type": "httpsig", "expires_in": 300, "scope": "mcp:read",
    });
    let header_json = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();

    // The presentation: tools/call, protocol version 2026-07-28.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}"#;
    let (mut present, ()) = http::Request::post(RESOURCE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .body(())
        .unwrap()
        .into_parts();
    HttpSigSigner::new(proof.clone())
        .with_fixed_nonce("cHJlc2VudGF0aW9uLTE")
        .sign_mcp_request(&mut present, &access_token, call.as_bytes(), T + 5)
        .unwrap();
    // The resource's check, at T+5, with the real verifier.
    let tokens = AccessTokenCache::new(ISSUER, RESOURCE, &jwks);
    let clock = ManualClock::new(T + 5);
    let mut config = ResourceConfig::new(RESOURCE, ISSUER).unwrap();
    config.clock = clock.clone();
    let rs = ResourceVerifier::new(config, tokens, Arc::new(MemoryReplayCache::new()));
    let (server_parts, ()) = {
        let mut b = http::Request::post("/mcp");
        for (k, v) in &present.headers {
            b = b.header(k, v);
        }
        b.body(()).unwrap().into_parts()
    };
    let principal = rs
        .verify_presentation(&server_parts, call.as_bytes())
        .await
        .outcome
        .expect("the presentation vector verifies");
    assert_eq!(
        principal.key_thumbprint.as_deref(),
        Some(proof.thumbprint().as_str())
    );
    let present_base = {
        let components = mcp_auth_core::httpsig_profile::presentation_components(
            mcp_auth_core::httpsig_profile::RequestShape {
                has_operation: true,
                has_body: true,
                has_mcp_name: true,
                has_protocol_version: true,
            },
        );
        let policy = mcp_auth_core::httpsig_profile::presentation_policy(
            components,
            Window::default(),
            Algorithm::Ed25519,
        );
        Verifier::new(policy)
            .verify(
                &Message::Request(RequestView::from_parts(&present)),
                call.as_bytes(),
                &proof.signing_key().verifying_key(),
                T + 5,
            )
            .unwrap()
            .signatures[0]
            .base
            .clone()
    };
    // Replaying it is refused.
    clock.set(T + 6);
    assert!(
        rs.verify_presentation(&server_parts, call.as_bytes())
            .await
            .outcome
            .is_err()
    );

    // A.5: the same tool with its `city` argument mirrored into `Mcp-Param-City`
    // (SEP-2243), covered by the signature (HTTPSIG-RS-17, HTTPSIG-C-8).
    let (mut mirrored, ()) = http::Request::post(RESOURCE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-param-city", "Paris")
        .body(())
        .unwrap()
        .into_parts();
    HttpSigSigner::new(proof.clone())
        .with_fixed_nonce("cHJlc2VudGF0aW9uLTI")
        .sign_mcp_request(&mut mirrored, &access_token, call.as_bytes(), T + 6)
        .unwrap();
    let mirrored_server_parts = {
        let mut b = http::Request::post("/mcp");
        for (k, v) in &mirrored.headers {
            b = b.header(k, v);
        }
        b.body(()).unwrap().into_parts().0
    };
    rs.verify_presentation(&mirrored_server_parts, call.as_bytes())
        .await
        .outcome
        .expect("the mirrored-parameter vector verifies");
    let mirrored_base = {
        let mut components = mcp_auth_core::httpsig_profile::presentation_components(
            mcp_auth_core::httpsig_profile::RequestShape {
                has_operation: true,
                has_body: true,
                has_mcp_name: true,
                has_protocol_version: true,
            },
        );
        components.extend(mcp_auth_core::httpsig_profile::param_header_components(
            &mirrored.headers,
        ));
        let policy = mcp_auth_core::httpsig_profile::presentation_policy(
            components,
            Window::default(),
            Algorithm::Ed25519,
        );
        Verifier::new(policy)
            .verify(
                &Message::Request(RequestView::from_parts(&mirrored)),
                call.as_bytes(),
                &proof.signing_key().verifying_key(),
                T + 6,
            )
            .unwrap()
            .signatures[0]
            .base
            .clone()
    };

    let mut out = String::new();
    writeln!(out, "Generated by `crates/resource/tests/profile_vectors.rs` at the fixed time T = {T} (2026-01-01T00:00:00Z). Long lines are not wrapped.\n").unwrap();
    writeln!(out, "### A.1 Keys\n").unwrap();
    writeln!(out, "The client's runtime key (Ed25519; the private key is SHA-256 of the ASCII string `mcp-auth httpsig profile vector: client key`, used as the seed):\n").unwrap();
    out.push_str(&fence("json", &client_jwk.to_json()));
    writeln!(out, "\nIts RFC 7638 thumbprint: `{}`\n", proof.thumbprint()).unwrap();
    writeln!(out, "The AS's token signing key (EdDSA; seed = SHA-256 of `mcp-auth httpsig profile vector: authorization server key`), and the public JWK its JWKS publishes:\n").unwrap();
    out.push_str(&fence("json", &as_jwk.to_json()));
    out.push('\n');
    out.push_str(&fence("json", &as_key.public_jwk().to_json()));
    writeln!(
        out,
        "\n### A.2 Token request (client_credentials, client_secret_basic, runtime key)\n"
    )
    .unwrap();
    writeln!(out, "Client `vector-client`, secret `vector-secret`, created = T, nonce `dG9rZW4tcmVxdWVzdC0x`:\n").unwrap();
    out.push_str(&fence(
        "http",
        &http_message(
            &token_req,
            "as.example.com",
            &[
                "content-type",
                "authorization",
                "content-digest",
                "signature-input",
                "signature",
            ],
            &form,
        ),
    ));
    writeln!(out, "\nThe signature base:\n").unwrap();
    out.push_str(&fence("", &token_base));
    writeln!(out, "\n### A.3 Token response and access token\n").unwrap();
    out.push_str(&fence(
        "json",
        &serde_json::to_string_pretty(&token_response).unwrap(),
    ));
    writeln!(out, "\nThe access token's JOSE header and claims:\n").unwrap();
    out.push_str(&fence("json", &header_json));
    out.push('\n');
    out.push_str(&fence(
        "json",
        &serde_json::to_string_pretty(&claims).unwrap(),
    ));
    writeln!(out, "\n### A.4 Presentation: tools/call\n").unwrap();
    writeln!(out, "created = T + 5, nonce `cHJlc2VudGF0aW9uLTE`. The resource accepts it once between T + 5 and T + 35 (created + max_age); a second time it is a replay.\n").unwrap();
    out.push_str(&fence(
        "http",
        &http_message(
            &present,
            "mcp.example.com",
            &[
                "content-type",
                "accept",
                "mcp-protocol-version",
                "authorization",
                "mcp-method",
                "mcp-name",
                "content-digest",
                "signature-input",
                "signature",
            ],
            call,
        ),
    ));
    writeln!(out, "\nThe signature base:\n").unwrap();
    out.push_str(&fence("", &present_base));
    writeln!(
        out,
        "\n### A.5 Presentation: tools/call with a mirrored parameter\n"
    )
    .unwrap();
    writeln!(out, "The same call to a tool whose `inputSchema` marks `city` with `\"x-mcp-header\": \"City\"` (SEP-2243), so the client mirrors the argument into `Mcp-Param-City` and covers it (HTTPSIG-C-8, HTTPSIG-RS-17). created = T + 6, nonce `cHJlc2VudGF0aW9uLTI`.\n").unwrap();
    out.push_str(&fence(
        "http",
        &http_message(
            &mirrored,
            "mcp.example.com",
            &[
                "content-type",
                "accept",
                "mcp-protocol-version",
                "mcp-param-city",
                "authorization",
                "mcp-method",
                "mcp-name",
                "content-digest",
                "signature-input",
                "signature",
            ],
            call,
        ),
    ));
    writeln!(out, "\nThe signature base:\n").unwrap();
    out.push_str(&fence("", &mirrored_base));
    out
}

#[tokio::test]
async fn appendix_a_vectors_are_what_the_code_produces_and_they_verify() {
    let generated = generate().await;
    // Deterministic: Ed25519 signatures and fixed nonces.
    assert_eq!(generated, generate().await);
    common::check_generated_block(
        DOC,
        BEGIN,
        END,
        &generated,
        "UPDATE_VECTORS",
        "UPDATE_VECTORS=1 cargo test -p mcp-auth-resource --test profile_vectors",
    );
}
