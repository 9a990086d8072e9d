//! The DPoP resource-server checks against our own gateway, in front of an MCP
//! upstream, trusting the checker's issuer: with nonces and `jti` tracking every
//! check passes; without them, exactly the checks that need them skip, saying why;
//! without `--issuer-key`, every check that needs a token skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Gateway;
use mcp_auth_conformance::dpop_proof::{self, ProofKey};
use mcp_auth_conformance::{CheckResult, Minter, Outcome, ServerTarget, dpop_rs, report, run};
use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

/// How many checks `dpop_rs::checks()` lists.
const CHECKS: usize = 71;

/// The checker's issuer served on loopback, and the gateway with `[dpop]` set to
/// `dpop` and Bearer allowed or not, trusting it.
async fn gateway(dpop: Value, allow_bearer: bool) -> ServerTarget {
    Gateway {
        config: json!({ "dpop": dpop, "allow_bearer": allow_bearer }),
        ..Gateway::default()
    }
    .start()
    .await
}

/// The gateway as profiles/dpop.md recommends it: nonces, `jti` tracking.
async fn strict_gateway() -> ServerTarget {
    gateway(
        json!({
            "enabled": true,
            "nonce": true,
            "nonce_secret": "conformance-nonce-secret-of-32-bytes-or-more",
        }),
        true,
    )
    .await
}

/// The ids of the results whose outcome is `name` (`pass`, `fail`, `skip`).
fn with_outcome<'a>(results: &'a [CheckResult], name: &str) -> Vec<&'a str> {
    results
        .iter()
        .filter(|r| r.outcome.name() == name)
        .map(|r| r.requirement)
        .collect()
}

#[tokio::test]
async fn every_dpop_check_but_the_known_failures_passes_against_our_gateway_with_nonces() {
    let target = strict_gateway().await;
    let results = run(&dpop_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert_eq!(results.len(), CHECKS, "{text}");
    assert_eq!(with_outcome(&results, "fail"), Vec::<&str>::new(), "{text}");
    assert_eq!(with_outcome(&results, "skip"), Vec::<&str>::new(), "{text}");
    // The nonce was asked for and followed.
    let valid = results.iter().find(|r| r.id == "DPOP-RS-2").unwrap();
    assert!(
        valid.outcome.evidence().contains("use_dpop_nonce"),
        "{}",
        valid.outcome.evidence()
    );
}

#[tokio::test]
async fn without_nonces_or_jti_tracking_exactly_those_checks_skip_and_say_why() {
    // Without Bearer either: the downgrade (DPOP-RS-6) is refused the same way.
    let target = gateway(
        json!({"enabled": true, "nonce": false, "jti_replay": false}),
        false,
    )
    .await;
    let results = run(&dpop_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert_eq!(results.len(), CHECKS, "{text}");
    assert_eq!(with_outcome(&results, "fail"), Vec::<&str>::new(), "{text}");
    let skipped: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .map(|r| (r.id, r.outcome.evidence()))
        .collect();
    assert_eq!(skipped.len(), 6, "{text}");
    for (id, why) in &skipped {
        match *id {
            "DPOP-RS-8" => assert_eq!(
                *why, "the server never asked for a nonce (nonces are optional)",
                "{text}"
            ),
            "DPOP-RS-5" => assert!(why.contains("SEP-1932 stateless mode"), "{text}"),
            other => panic!("{other} skipped: {why}\n{text}"),
        }
    }
    assert_eq!(
        skipped.iter().filter(|(id, _)| *id == "DPOP-RS-8").count(),
        4
    );
    let valid = results.iter().find(|r| r.id == "DPOP-RS-2").unwrap();
    assert_eq!(valid.outcome, Outcome::pass("200 (no nonce asked)"));
}

#[tokio::test]
async fn without_a_key_only_the_challenge_and_metadata_checks_run() {
    let mut target = strict_gateway().await;
    target.minter = None;
    let results = run(&dpop_rs::checks(), &target, None).await;
    let text = report::table(&results);
    assert_eq!(results.len(), CHECKS, "{text}");
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Pass(_)))
        .map(|r| r.id)
        .collect();
    assert_eq!(passed, ["DPOP-RS-1", "DPOP-RS-1"], "{text}");
    for r in results.iter().skip(2) {
        assert_eq!(
            r.outcome,
            Outcome::skip("needs --issuer-key: the checker mints its own DPoP-bound tokens"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn no_evidence_carries_a_token_or_a_proof() {
    let target = strict_gateway().await;
    let results = run(&dpop_rs::checks(), &target, None).await;
    for r in &results {
        // Every token and proof is a JWS: three base64url parts starting `eyJ`.
        assert!(
            !r.outcome.evidence().contains("eyJ"),
            "{}: {}",
            r.requirement,
            r.outcome.evidence()
        );
    }
}

// RFC 7638 §3.1: the example RSA key's thumbprint.
#[test]
fn rfc7638_3_1_thumbprint() {
    let jwk = json!({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    assert_eq!(
        dpop_proof::thumbprint(&jwk).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
}

// RFC 9449 §7.1: the example token hashes to the example proof's `ath`.
#[test]
fn rfc9449_7_1_ath() {
    assert_eq!(
        dpop_proof::ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

// RFC 9449 §6.1: the example proof key's thumbprint is the example `jkt`.
#[test]
fn rfc9449_6_1_jkt() {
    let jwk = json!({"kty": "EC", "crv": "P-256",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"});
    assert_eq!(
        dpop_proof::thumbprint(&jwk).as_deref(),
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
}

#[test]
fn a_valid_proof_has_the_required_members_and_no_private_key() {
    let key = ProofKey::generate(JwsAlgorithm::Es256).unwrap();
    let p = key.claims("POST", "https://rs.example/mcp", Some("t"), Some("n"), 1);
    assert_eq!(p.header["typ"], "dpop+jwt");
    assert_eq!(p.header["alg"], "ES256");
    assert_eq!(&p.header["jwk"], key.public_jwk());
    assert_eq!(p.header["jwk"].as_object().unwrap().len(), 4);
    assert_eq!(
        dpop_proof::thumbprint(key.public_jwk()).as_deref(),
        Some(key.jkt())
    );
    assert_eq!(p.claims["ath"], json!(dpop_proof::ath("t")));
    assert_eq!(p.claims["nonce"], "n");
    assert_eq!(p.claims["jti"].as_str().unwrap().len(), 22);
    assert_eq!(key.sign(&p).split('.').count(), 3);
    assert!(key.private_jwk().unwrap()["d"].is_string());
}

/// A server that takes any `Authorization: DPoP` value and looks at no proof: the
/// checks must catch it (the proof that they can fail).
async fn proof_ignoring_server() -> ServerTarget {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let pem = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    let minter = Minter::from_pem(&pem, &issuer).unwrap();
    let router = mcp_auth_conformance::issuer::router(&minter);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let metadata = json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "Ed25519"],
        "dpop_bound_access_tokens_required": true,
    });
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            axum::routing::get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/mcp",
            axum::routing::post(|headers: HeaderMap| async move {
                let dpop = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.to_ascii_lowercase().starts_with("dpop "));
                if dpop {
                    axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {}})).into_response()
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [(
                            header::WWW_AUTHENTICATE,
                            r#"DPoP algs="ES256 EdDSA Ed25519""#,
                        )],
                    )
                        .into_response()
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ServerTarget::new(&resource, Some(minter)).unwrap()
}

#[tokio::test]
async fn a_server_ignoring_the_proof_fails_every_refusal_probe() {
    let target = proof_ignoring_server().await;
    let results = run(&dpop_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert_eq!(results.len(), CHECKS, "{text}");
    for r in &results {
        let refusal = r.requirement.contains("invalid_dpop_proof")
            || r.requirement.contains("invalid_token")
            || r.requirement.contains("a 401 for a bad proof");
        let expected = if r.requirement.starts_with("with nonces required") || r.id == "DPOP-RS-5" {
            // Never asked for a nonce; a replay accepted is the stateless mode.
            "skip"
        } else if refusal {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(r.outcome.name(), expected, "{}\n{text}", r.requirement);
    }
    assert_eq!(with_outcome(&results, "fail").len(), 48, "{text}");
    assert_eq!(with_outcome(&results, "skip").len(), 6, "{text}");
}
