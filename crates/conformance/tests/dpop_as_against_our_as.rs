//! The DPOP-AS checks (`conformance as --profile dpop`) against our own AS, in process on
//! loopback, without nonces and with nonces required: every applicable check passes and
//! each skip says why (exact outcomes, check by check). And that the checks can fail: a
//! token endpoint that ignores the proof fails exactly the checks aimed at the proof, and
//! a hostile metadata document never gets the client secret sent elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use mcp_auth_conformance::authorization_server::{
    AsProfile, AsTarget, ConfidentialClient, SecretMethod, checks,
};
use mcp_auth_conformance::{CheckResult, report, run};
use serde_json::{Value, json};

const R1: &str = "http://127.0.0.1:3000/mcp";
const SECRET: &str = "cc-secret-never-shown";
const NONCES: &str =
    "[dpop]\nnonce = true\nnonce_secret = \"a shared secret of at least thirty-two bytes\"\n";

/// Our AS with `toml`, a confidential client of the client credentials grant, and the
/// target pointed at it.
async fn our_as(toml: &str) -> (mcp_auth_testkit::TestAs, AsTarget) {
    let server = mcp_auth_testkit::start_as(toml, |a| format!("http://{a}"), &[R1]).await;
    mcp_auth_testkit::register_client(
        &server.state,
        "conformance-cc",
        Some(SECRET),
        json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let mut target = AsTarget::new(&server.issuer).unwrap();
    target.confidential = Some(ConfidentialClient::new(
        "conformance-cc",
        SECRET,
        SecretMethod::Basic,
    ));
    target.resources = vec![R1.to_owned()];
    (server, target)
}

const LOGIN: &str = "the checker does not script a login";
const NO_NONCE: &str = "the AS did not ask for a nonce";

/// The expected outcome of every check, in order: (id, result, a fragment of the
/// evidence or reason; empty: any).
type Expected = Vec<(&'static str, &'static str, &'static str)>;

/// The DPOP-AS-3 proof probes of the table, each with `bad` (the broken proofs) or
/// `good` (the four variants RFC 9449 §4.3 step 9 and the profile accept); the nonce
/// probes in place, each `nonce`.
fn probes(bad: &'static str, good: &'static str, nonce: (&'static str, &'static str)) -> Expected {
    let mut v = vec![("DPOP-AS-3", bad, ""); 29];
    v.extend(vec![("DPOP-AS-3", good, ""); 4]);
    v.extend([
        ("DPOP-AS-4", nonce.0, nonce.1),
        ("DPOP-AS-4", nonce.0, nonce.1),
    ]);
    v.extend(vec![("DPOP-AS-3", bad, ""); 5]);
    v
}

/// What our AS must get, with or without nonces required.
fn ours(nonces: bool) -> Expected {
    let nonce = if nonces {
        ("pass", "use_dpop_nonce")
    } else {
        ("skip", NO_NONCE)
    };
    let mut v: Expected = vec![
        ("DPOP-AS-1", "pass", "token_type=DPoP"),
        ("DPOP-AS-1", "pass", "cnf {\"jkt\":"),
        ("DPOP-AS-1", "skip", "the token endpoint only"),
        ("DPOP-AS-1", "skip", LOGIN),
        ("DPOP-AS-1", "pass", ""),
        ("DPOP-AS-1", "pass", ""),
        ("DPOP-AS-1", "pass", ""),
        ("DPOP-AS-2", "pass", "token_type=Bearer"),
        (
            "DPOP-AS-3",
            "pass",
            "the replay: 400 error=invalid_dpop_proof",
        ),
    ];
    v.extend(probes("pass", "pass", nonce));
    v.extend([
        (
            "DPOP-AS-4",
            nonce.0,
            if nonces { "1 DPoP-Nonce" } else { NO_NONCE },
        ),
        ("DPOP-AS-5", "pass", "201, dpop_bound_access_tokens true"),
        ("DPOP-AS-5", "pass", "400 error=invalid_client_metadata"),
        ("DPOP-AS-6", "skip", LOGIN),
        ("DPOP-AS-6", "skip", LOGIN),
        (
            "DPOP-AS-7",
            "pass",
            "ES256 ES384 EdDSA Ed25519 PS256 PS384 PS512 RS256",
        ),
        ("DPOP-AS-8", "skip", "the secret the checker never reads"),
    ]);
    v
}

/// Asserts every result against `expected`, in order.
fn assert_outcomes(results: &[CheckResult], expected: &Expected) {
    let text = report::table(results);
    assert_eq!(results.len(), expected.len(), "{text}");
    for (r, (id, result, fragment)) in results.iter().zip(expected) {
        assert_eq!(r.id, *id, "{text}");
        assert_eq!(
            r.outcome.name(),
            *result,
            "{id} {}: {}\n{text}",
            r.requirement,
            r.outcome.evidence()
        );
        assert!(
            r.outcome.evidence().contains(fragment),
            "{id} {}: {}",
            r.requirement,
            r.outcome.evidence()
        );
    }
    // Tokens, proofs and the secret never appear in the evidence: a JWT starts `eyJ`.
    let json = report::json(results);
    assert!(!json.contains(SECRET) && !json.contains("eyJ"), "{json}");
}

#[tokio::test]
async fn every_applicable_dpop_check_passes_against_our_as() {
    let (_server, target) = our_as("").await;
    let results = run(&checks(AsProfile::Dpop), &target, None).await;
    println!("{}", report::table(&results));
    assert_outcomes(&results, &ours(false));
}

#[tokio::test]
async fn with_nonces_required_the_nonce_checks_run_and_pass() {
    let (_server, target) = our_as(NONCES).await;
    let results = run(&checks(AsProfile::Dpop), &target, None).await;
    println!("{}", report::table(&results));
    assert_outcomes(&results, &ours(true));
}

#[tokio::test]
async fn without_a_confidential_client_the_token_checks_skip_saying_why() {
    let (_server, mut target) = our_as("").await;
    target.confidential = None;
    let only = ["DPOP-AS-1".to_owned(), "DPOP-AS-3".to_owned()];
    let results = run(&checks(AsProfile::Dpop), &target, Some(&only)).await;
    // DPOP-AS-1: 7 checks, two of them skipped for the secret rule and the login; DPOP-AS-3:
    // the replay and the 38 proof probes.
    assert_eq!(results.len(), 46, "{}", report::table(&results));
    for r in &results {
        assert_eq!(
            r.outcome.name(),
            "skip",
            "{}: {:?}",
            r.requirement,
            r.outcome
        );
    }
    let needs_client = results
        .iter()
        .filter(|r| r.outcome.evidence().contains("needs a confidential client"))
        .count();
    assert_eq!(needs_client, 44, "{}", report::table(&results));
}

/// A token endpoint that ignores the `DPoP` field: every request with Basic gets an
/// opaque token typed `DPoP`. Metadata publishes the algorithms, no registration.
async fn proof_ignoring_as() -> String {
    let base: Arc<OnceLock<String>> = Arc::default();
    let b = base.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let b = b.get().cloned().unwrap_or_default();
                async move {
                    Json(json!({
                        "issuer": b,
                        "token_endpoint": format!("{b}/token"),
                        "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
                    }))
                }
            }),
        )
        .route(
            "/token",
            post(|headers: HeaderMap| async move {
                let basic = headers
                    .get("authorization")
                    .is_some_and(|v| v.to_str().unwrap().starts_with("Basic "));
                if basic {
                    (
                        axum::http::StatusCode::OK,
                        Json(json!({"access_token": "opaque-access-token-0123456789", "token_type": "DPoP", "expires_in": 300})),
                    )
                } else {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        Json(json!({"error": "invalid_client"})),
                    )
                }
            }),
        );
    let url = mcp_auth_testkit::serve(app).await;
    base.set(url.clone()).unwrap();
    url
}

#[tokio::test]
async fn a_token_endpoint_that_ignores_the_proof_fails_exactly_the_proof_checks() {
    let issuer = proof_ignoring_as().await;
    let mut target = AsTarget::new(&issuer).unwrap();
    target.confidential = Some(ConfidentialClient::new("c", SECRET, SecretMethod::Basic));
    let results = run(&checks(AsProfile::Dpop), &target, None).await;
    println!("{}", report::table(&results));
    let mut expected: Expected = vec![
        ("DPOP-AS-1", "pass", "token_type=DPoP"),
        ("DPOP-AS-1", "skip", "is not a JWT"),
        ("DPOP-AS-1", "skip", "the token endpoint only"),
        ("DPOP-AS-1", "skip", LOGIN),
        ("DPOP-AS-1", "pass", ""),
        ("DPOP-AS-1", "pass", ""),
        ("DPOP-AS-1", "skip", "does not list Ed25519"),
        // A token typed DPoP for a request without a proof.
        ("DPOP-AS-2", "fail", "200 token_type=DPoP"),
        ("DPOP-AS-3", "fail", "the replay: 200"),
    ];
    expected.extend(probes("fail", "pass", ("skip", NO_NONCE)));
    expected.extend([
        ("DPOP-AS-4", "skip", NO_NONCE),
        ("DPOP-AS-5", "skip", "no registration_endpoint"),
        ("DPOP-AS-5", "skip", "no registration_endpoint"),
        ("DPOP-AS-6", "skip", LOGIN),
        ("DPOP-AS-6", "skip", LOGIN),
        ("DPOP-AS-7", "pass", "ES256 EdDSA"),
        ("DPOP-AS-8", "skip", ""),
    ]);
    assert_outcomes(&results, &expected);
}

#[tokio::test]
async fn a_token_endpoint_on_another_origin_never_gets_the_secret() {
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let r = received.clone();
    let third_party = mcp_auth_testkit::serve(axum::Router::new().fallback(
        move |headers: HeaderMap, body: String| {
            let r = r.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                r.lock().unwrap().push(format!("{auth} {body}"));
                Json(json!({"access_token": "x", "token_type": "DPoP"}))
            }
        },
    ))
    .await;
    let base: Arc<OnceLock<String>> = Arc::default();
    let b = base.clone();
    let elsewhere = third_party.clone();
    let hostile =
        mcp_auth_testkit::serve(axum::Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let b = b.get().cloned().unwrap_or_default();
                let t = elsewhere.clone();
                async move {
                    Json::<Value>(json!({"issuer": b, "token_endpoint": format!("{t}/token")}))
                }
            }),
        ))
        .await;
    base.set(hostile.clone()).unwrap();
    let mut target = AsTarget::new(&hostile).unwrap();
    target.confidential = Some(ConfidentialClient::new("c", SECRET, SecretMethod::Basic));
    let results = run(&checks(AsProfile::Dpop), &target, None).await;
    assert!(received.lock().unwrap().is_empty(), "{:?}", received);
    let skipped = results
        .iter()
        .filter(|r| {
            r.outcome.name() == "skip"
                && r.outcome
                    .evidence()
                    .contains("is not on the issuer's origin")
        })
        .count();
    assert_eq!(skipped, 48, "{}", report::table(&results));
}
