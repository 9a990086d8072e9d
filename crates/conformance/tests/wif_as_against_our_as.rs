//! `conformance as --profile wif` against our own AS, in process on loopback,
//! trusting the checker's workload issuer (OpenID discovery + JWK Set served by the
//! checker, `[danger] allow_http_loopback_fetches`): every applicable check passes
//! and each skip says why, exactly. And the checks can fail: a token endpoint that
//! takes any assertion fails exactly the refusal checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_conformance::authorization_server::{AsProfile, AsTarget, checks};
use mcp_auth_conformance::mint::Minter;
use mcp_auth_conformance::wif_as::WorkloadPlatform;
use mcp_auth_conformance::{CheckResult, Outcome, report, run};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::json;

const R1: &str = "http://127.0.0.1:3000/mcp";
const SUBJECT: &str = "system:serviceaccount:conformance:checker";

/// A platform key of `alg` and the platform for `issuer`, its rule's extra claim set.
fn platform(issuer: &str, alg: Algorithm) -> WorkloadPlatform {
    let pem = SigningKey::generate(alg).unwrap().to_pkcs8_pem().unwrap();
    let mut p = WorkloadPlatform::new(Minter::from_pem(&pem, issuer).unwrap(), SUBJECT).unwrap();
    p.claims.insert("team".into(), json!("conformance"));
    p
}

/// The checker's issuer on loopback (served when `serve`), our AS trusting it by
/// discovery, and the target.
async fn setup(alg: Algorithm, serve: bool) -> (mcp_auth_testkit::TestAs, AsTarget) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mut served = platform(&issuer, alg);
    let router = served.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let toml = format!(
        r#"
[danger]
allow_http_loopback_fetches = true

[[workload_issuers]]
id = "conformance"
issuer = "{issuer}"
discovery = true

[[workload_issuers.rules]]
when = 'claims.sub == "{SUBJECT}" && claims.team == "conformance"'
principal = "wif-conformance"
resources = ["{R1}"]
scopes = ["mcp:read"]
access_token_ttl = 600
"#
    );
    let server = mcp_auth_testkit::start_as(&toml, |a| format!("http://{a}"), &[R1]).await;
    let mut target = AsTarget::new(&server.issuer).unwrap();
    target.resources = vec![R1.to_owned()];
    target.workload = Some(if serve {
        served
    } else {
        // The same key, published by someone else: the checker sees no fetches.
        let mut p = WorkloadPlatform::new(served.minter.clone(), SUBJECT).unwrap();
        p.claims = served.claims.clone();
        p
    });
    (server, target)
}

/// One letter per result, in order: `P`ass, `F`ail, `S`kip.
fn letters(results: &[CheckResult]) -> String {
    results
        .iter()
        .map(|r| match r.outcome {
            Outcome::Pass(_) => 'P',
            Outcome::Fail(_) => 'F',
            Outcome::Skip(_) => 'S',
        })
        .collect()
}

/// The identifiers of the results, in order.
fn ids(results: &[CheckResult]) -> Vec<&str> {
    results.iter().map(|r| r.id).collect()
}

/// The order of the checks: every probe, as the profile numbers them.
const IDS: &[&str] = &[
    "WIF-AS-1",
    "WIF-AS-1",
    "WIF-AS-2",
    "WIF-AS-2",
    "WIF-AS-2",
    "WIF-AS-2",
    "WIF-AS-3",
    "WIF-AS-3",
    "WIF-AS-3",
    "WIF-AS-3",
    "WIF-AS-3",
    "WIF-AS-4",
    "WIF-AS-4",
    "WIF-AS-4",
    "WIF-AS-4",
    "WIF-AS-5",
    "WIF-AS-5",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-6",
    "WIF-AS-7",
    "WIF-AS-7",
    "WIF-AS-8",
    "WIF-AS-12",
    "WIF-AS-12",
    "WIF-AS-12",
    "WIF-AS-13",
    "WIF-AS-14",
    "WIF-AS-14",
    "WIF-AS-14",
    "WIF-AS-14",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-15",
    "WIF-AS-16",
    "WIF-AS-16",
    "WIF-AS-16",
    "WIF-AS-17",
    "WIF-AS-18",
    "WIF-AS-19",
    "WIF-AS-20",
    "WIF-AS-20",
    "WIF-AS-21",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-23",
    "WIF-AS-24",
    "WIF-AS-24",
];

#[tokio::test]
async fn every_applicable_wif_check_passes_against_our_as() {
    let (_server, target) = setup(Algorithm::Jws(JwsAlgorithm::Es256), true).await;
    let results = run(&checks(AsProfile::Wif), &target, None).await;
    let table = report::table(&results);
    println!("{table}");
    assert_eq!(ids(&results), IDS, "{table}");
    assert!(letters(&results).chars().all(|c| c == 'P'), "{table}");
    // Our AS offers DPoP: the token of this grant is bound to the proof's key.
    assert!(
        results.iter().any(|r| r.id == "WIF-AS-5"
            && r.outcome
                .evidence()
                .ends_with("cnf.jkt the proof key's thumbprint")),
        "{table}"
    );
    // One key-set fetch in the whole run, the unknown kids notwithstanding.
    assert!(
        table.contains("1 key-set fetches in the whole run"),
        "{table}"
    );
    // The AS fetched the trusted key set, never the attacker's or the untrusted
    // issuer's; the evidence says so.
    for id in ["WIF-AS-6", "WIF-AS-8"] {
        assert!(
            results
                .iter()
                .any(|r| r.id == id && r.outcome.evidence().ends_with("was not fetched")),
            "{id}: {table}"
        );
    }
    // No assertion, token or key in the evidence: a JWT or a JWK starts `eyJ`.
    let json = report::json(&results);
    assert!(!json.contains("eyJ") && !json.contains("\"kty\""), "{json}");
}

#[tokio::test]
async fn an_issuer_the_checker_does_not_serve_skips_what_needs_its_log() {
    let (_server, target) = setup(Algorithm::Ed25519, false).await;
    let only = ["WIF-AS-1", "WIF-AS-6", "WIF-AS-8", "WIF-AS-12", "WIF-AS-13"].map(str::to_owned);
    let results = run(&checks(AsProfile::Wif), &target, Some(&only)).await;
    let table = report::table(&results);
    assert_eq!(letters(&results), "PPPPPPPPPPPPPSS", "{table}");
    let why = "needs the checker to serve the issuer (--workload-listen)";
    for r in &results[results.len() - 2..] {
        assert!(r.outcome.evidence().contains(why), "{table}");
    }
    let unseen = "not seen: the checker does not serve the issuer";
    for id in ["WIF-AS-6", "WIF-AS-8"] {
        assert!(
            results
                .iter()
                .any(|r| r.id == id && r.outcome.evidence().contains(unseen)),
            "{table}"
        );
    }
}

#[tokio::test]
async fn without_a_platform_or_a_trusting_rule_the_checks_skip() {
    let (_server, mut target) = setup(Algorithm::Jws(JwsAlgorithm::Es256), true).await;
    let platform = target.workload.take().unwrap();
    let results = run(&checks(AsProfile::Wif), &target, None).await;
    let table = report::table(&results);
    // The metadata check runs; every other one needs the platform.
    assert!(letters(&results).starts_with("PS"), "{table}");
    assert!(letters(&results)[1..].chars().all(|c| c == 'S'), "{table}");
    assert!(
        results[1].outcome.evidence().contains("--workload-key"),
        "{table}"
    );
    // A subject no rule accepts: the control fails, the probes are skipped saying
    // why (a refusal would prove nothing).
    let mut stranger = WorkloadPlatform::new(platform.minter.clone(), "nobody").unwrap();
    stranger.claims = platform.claims.clone();
    target.workload = Some(stranger);
    let results = run(&checks(AsProfile::Wif), &target, None).await;
    let table = report::table(&results);
    assert!(letters(&results).starts_with("PF"), "{table}");
    assert!(
        results[1]
            .outcome
            .evidence()
            .contains("400 unauthorized_client"),
        "{table}"
    );
    assert!(letters(&results)[2..].chars().all(|c| c == 'S'), "{table}");
    assert!(
        results[2]
            .outcome
            .evidence()
            .contains("the valid assertion was not accepted"),
        "{table}"
    );
}

/// A token endpoint that takes any assertion: it lists the grant and answers every
/// request with a well-formed token for the principal `anyone`.
async fn accepting_everything() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (me, token_base) = (base.clone(), base.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(move || {
                let me = me.clone();
                async move {
                    axum::Json(json!({
                        "issuer": me,
                        "token_endpoint": format!("{me}/token"),
                        "response_types_supported": ["code"],
                        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                    }))
                }
            }),
        )
        .route(
            "/token",
            axum::routing::post(move |body: String| {
                let issuer = token_base.clone();
                async move {
                    let resource = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(n, _)| n == "resource")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    let now = mcp_auth_core::unix_now();
                    let claims = json!({"iss": issuer, "sub": "anyone", "client_id": "anyone",
                        "aud": resource, "iat": now, "exp": now + 10, "jti": "j"});
                    let b64 = |v: serde_json::Value| {
                        base64::Engine::encode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            v.to_string(),
                        )
                    };
                    let token = format!("{}.{}.c2ln", b64(json!({"alg": "EdDSA"})), b64(claims));
                    axum::Json(
                        json!({"access_token": token, "token_type": "Bearer", "expires_in": 10}),
                    )
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_token_endpoint_taking_any_assertion_fails_exactly_the_refusal_checks() {
    let issuer = accepting_everything().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let platform_url = format!("http://{}", listener.local_addr().unwrap());
    let mut p = platform(&platform_url, Algorithm::Jws(JwsAlgorithm::Es256));
    let router = p.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut target = AsTarget::new(&issuer).unwrap();
    target.resources = vec![R1.to_owned()];
    target.workload = Some(p);
    let results = run(&checks(AsProfile::Wif), &target, None).await;
    let table = report::table(&results);
    println!("{table}");
    assert_eq!(ids(&results), IDS, "{table}");
    // Passes: the metadata, the control, every probe that must get a token (typ
    // absent, application/jwt, JOSE; x5t; no kid; aud [issuer]; the maximum
    // lifetime), reuse, the token's exp and claims. Skipped: DPoP (not offered).
    // Failed: every probe that must be refused, the order, the descriptions.
    let expected = "PPFFFFFFPPPFFFFSSFFFFFFPFFFFFFPFFFFPFFFFFFPFFFPPFFFPFFFFFFFFFF";
    assert_eq!(letters(&results), expected, "{table}");
    for r in results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
    {
        assert!(
            r.outcome.evidence().contains("with an access token")
                || r.outcome.evidence().contains("200"),
            "{}: {table}",
            r.id
        );
    }
}

/// The JSON object of a base64url part of a JWS.
fn part(token: &str, n: usize) -> serde_json::Value {
    let b = token.split('.').nth(n).unwrap_or_default();
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A naive AS: it fetches what the assertion names (its `jku`, its issuer's
/// discovery, the key set on every request) before refusing a `jku`, an untrusted
/// issuer or an unknown kid, and issues tokens that copy the assertion's claims,
/// add `act` and outlive the assertion by an hour.
async fn naive(trusted: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (me, issuer) = (base.clone(), base.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(move || {
                let me = me.clone();
                async move {
                    axum::Json(
                        json!({"issuer": me, "token_endpoint": format!("{me}/token"),
                        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
                    )
                }
            }),
        )
        .route(
            "/token",
            axum::routing::post(move |body: String| {
                let (issuer, trusted) = (issuer.clone(), trusted.clone());
                async move {
                    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                    let get = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                    let assertion = get("assertion").unwrap_or_default();
                    let (header, mut claims) = (part(&assertion, 0), part(&assertion, 1));
                    let iss = claims["iss"].as_str().unwrap_or_default().to_owned();
                    let http = reqwest::Client::new();
                    let mut fetch = vec![format!("{iss}/.well-known/openid-configuration")];
                    fetch.push(format!("{trusted}/jwks"));
                    fetch.extend(header["jku"].as_str().map(str::to_owned));
                    for url in fetch {
                        let _ = http.get(url).send().await;
                    }
                    let kid = header["kid"].as_str().unwrap_or_default();
                    if header.get("jku").is_some() || iss != trusted || kid.starts_with("unknown-")
                    {
                        let refusal = json!({"error": "invalid_grant"});
                        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(refusal));
                    }
                    claims["act"] = json!({"sub": "someone"});
                    claims["client_id"] = claims["sub"].clone();
                    claims["aud"] = json!(get("resource"));
                    claims["iss"] = json!(issuer);
                    claims["exp"] = json!(claims["exp"].as_i64().unwrap_or_default() + 3600);
                    let b64 = |v: &serde_json::Value| {
                        base64::Engine::encode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            v.to_string(),
                        )
                    };
                    let token = format!("{}.{}.c2ln", b64(&json!({"alg": "EdDSA"})), b64(&claims));
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"access_token": token, "token_type": "Bearer"})),
                    )
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn an_as_fetching_what_assertions_name_and_copying_their_claims_fails_those_checks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let platform_url = format!("http://{}", listener.local_addr().unwrap());
    let mut p = platform(&platform_url, Algorithm::Jws(JwsAlgorithm::Es256));
    let router = p.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut target = AsTarget::new(&naive(platform_url).await).unwrap();
    target.resources = vec![R1.to_owned()];
    target.workload = Some(p);
    let only = [
        "WIF-AS-1",
        "WIF-AS-6",
        "WIF-AS-8",
        "WIF-AS-13",
        "WIF-AS-18",
        "WIF-AS-21",
    ];
    let results = run(
        &checks(AsProfile::Wif),
        &target,
        Some(&only.map(str::to_owned)),
    )
    .await;
    let table = report::table(&results);
    println!("{table}");
    let failed = |id: &str, why: &str| {
        results
            .iter()
            .any(|r| r.id == id && matches!(&r.outcome, Outcome::Fail(e) if e.contains(why)))
    };
    assert!(
        failed(
            "WIF-AS-6",
            "400 invalid_grant; the AS fetched /attacker/jwks"
        ),
        "{table}"
    );
    assert!(
        failed(
            "WIF-AS-8",
            "the AS fetched /untrusted/.well-known/openid-configuration"
        ),
        "{table}"
    );
    assert!(failed("WIF-AS-13", "the closest two"), "{table}");
    assert!(
        failed("WIF-AS-18", "the token expires 3600 s after"),
        "{table}"
    );
    assert!(
        failed(
            "WIF-AS-21",
            "an act claim; claims copied from the assertion"
        ),
        "{table}"
    );
}
