//! The base authorization-server checks against our own AS, in process on loopback:
//! every applicable check passes, and each skip says why (exact outcomes, so a change in either shows). And the
//! checker's own safety: a hostile metadata document naming a third party's token
//! endpoint never gets the client secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use mcp_auth_conformance::authorization_server::{
    AsProfile, AsTarget, ConfidentialClient, PublicClient, SecretMethod, checks,
};
use mcp_auth_conformance::{CheckResult, Outcome, report, run};
use serde_json::json;

const R1: &str = "http://127.0.0.1:3000/mcp";
const R2: &str = "http://127.0.0.1:3001/mcp";
const SECRET: &str = "cc-secret-never-shown";

/// Our AS knowing R1 and R2, with a confidential client of the client credentials
/// grant, and the target pointed at it.
async fn our_as() -> (mcp_auth_testkit::TestAs, AsTarget) {
    let server = mcp_auth_testkit::start_as("", |a| format!("http://{a}"), &[R1, R2]).await;
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
    target.resources = vec![R1.to_owned(), R2.to_owned()];
    target.protocol_version = "2026-07-28".to_owned();
    (server, target)
}

/// The outcome of `id`.
fn outcome<'r>(results: &'r [CheckResult], id: &str) -> &'r Outcome {
    &results.iter().find(|r| r.id == id).unwrap().outcome
}

/// Asserts every result: the passes are exactly `passes`, each skip has the reason
/// fragment given, and the failures are exactly `failures` with their fragment.
fn assert_outcomes(
    results: &[CheckResult],
    passes: &[&str],
    skips: &[(&str, &str)],
    failures: &[(&str, &str)],
) {
    let text = report::table(results);
    let ids: Vec<&str> = results.iter().map(|r| r.id).collect();
    let mut expected: Vec<&str> = passes.to_vec();
    expected.extend(skips.iter().map(|(id, _)| *id));
    expected.extend(failures.iter().map(|(id, _)| *id));
    expected.sort_by_key(|id| id.rsplit('-').next().unwrap().parse::<u32>().unwrap());
    assert_eq!(ids, expected, "{text}");
    for id in passes {
        assert!(
            matches!(outcome(results, id), Outcome::Pass(_)),
            "{id}: {text}"
        );
    }
    for (id, why) in skips {
        match outcome(results, id) {
            Outcome::Skip(reason) => assert!(reason.contains(why), "{id}: {reason}"),
            other => panic!("{id}: {other:?}\n{text}"),
        }
    }
    for (id, why) in failures {
        match outcome(results, id) {
            Outcome::Fail(evidence) => assert!(evidence.contains(why), "{id}: {evidence}"),
            other => panic!("{id}: {other:?}\n{text}"),
        }
    }
}

const LOGIN: &str = "the checker does not script a login";
const CIMD: &str = "needs the checker's metadata documents at a URL the AS can fetch";

#[tokio::test]
async fn every_applicable_base_check_passes_against_our_as() {
    let (_server, target) = our_as().await;
    let results = run(&checks(AsProfile::Base), &target, None).await;
    println!("{}", report::table(&results));
    assert_outcomes(
        &results,
        &[
            "BASE-AS-1",
            "BASE-AS-2",
            "BASE-AS-4",
            "BASE-AS-6",
            "BASE-AS-7",
            "BASE-AS-8",
            "BASE-AS-9",
            "BASE-AS-10",
            "BASE-AS-13",
            "BASE-AS-14",
            "BASE-AS-15",
            "BASE-AS-16",
            "BASE-AS-19",
            "BASE-AS-20",
            "BASE-AS-24",
            "BASE-AS-25",
        ],
        &[
            ("BASE-AS-3", "http on loopback"),
            ("BASE-AS-5", "https is not checkable here"),
            ("BASE-AS-11", LOGIN),
            ("BASE-AS-12", LOGIN),
            ("BASE-AS-17", LOGIN),
            ("BASE-AS-18", LOGIN),
            ("BASE-AS-21", CIMD),
            ("BASE-AS-22", CIMD),
        ],
        // BASE-AS-4 found our AS serving its RFC 8414 document at
        // /.well-known/openid-configuration too, without the members OIDC Discovery §3
        // requires there; it now serves that location only as an identity provider.
        &[],
    );
    // Tokens and the secret never appear in the evidence: a JWT starts `eyJ`.
    let json = report::json(&results);
    assert!(!json.contains(SECRET) && !json.contains("eyJ"), "{json}");
}

/// The public client given instead of registered, at 2025-11-25: BASE-AS-19 does
/// not apply, and with one resource BASE-AS-25 cannot run.
#[tokio::test]
async fn a_given_public_client_is_used_and_the_2025_revision_skips_base_as_19() {
    let (server, mut target) = our_as().await;
    let callback = "http://127.0.0.1:9999/callback";
    mcp_auth_testkit::register_client(
        &server.state,
        "given-app",
        None,
        json!({"grant_types": ["authorization_code"], "scopes": ["mcp:read"], "redirect_uris": [callback], "token_endpoint_auth_method": "none", "client_name": "Given"}),
    )
    .await;
    target.public = Some(PublicClient {
        client_id: "given-app".into(),
        redirect_uri: callback.into(),
    });
    target.register = false;
    target.resources.truncate(1);
    target.protocol_version = "2025-11-25".to_owned();
    let only = [
        "BASE-AS-8",
        "BASE-AS-10",
        "BASE-AS-16",
        "BASE-AS-19",
        "BASE-AS-25",
    ]
    .map(str::to_owned);
    let results = run(&checks(AsProfile::Base), &target, Some(&only)).await;
    assert_outcomes(
        &results,
        &["BASE-AS-8", "BASE-AS-10", "BASE-AS-16"],
        &[
            ("BASE-AS-19", "applies from MCP 2026-07-28"),
            ("BASE-AS-25", "needs two resources"),
        ],
        &[],
    );
    assert!(
        target.registration().await.is_err(),
        "no client is registered when one is given"
    );
}

/// The checker's Client ID Metadata Documents, served on loopback to an AS allowed
/// to fetch from there: the broken ones and an unlisted redirect URI are refused.
#[tokio::test]
async fn the_metadata_document_checks_pass_against_our_as() {
    let server = mcp_auth_testkit::start_as(
        "[danger]\nallow_http_loopback_fetches = true\n",
        |a| format!("http://{a}"),
        &[R1],
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let documents = mcp_auth_conformance::as_cimd::router(&base);
    tokio::spawn(async move { axum::serve(listener, documents).await.unwrap() });
    let mut target = AsTarget::new(&server.issuer).unwrap();
    target.resources = vec![R1.to_owned()];
    target.client_documents = Some(base);
    let only = ["BASE-AS-21", "BASE-AS-22"].map(str::to_owned);
    let results = run(&checks(AsProfile::Base), &target, Some(&only)).await;
    println!("{}", report::table(&results));
    assert_outcomes(&results, &["BASE-AS-21", "BASE-AS-22"], &[], &[]);
    // Without the switch, our AS does not fetch from loopback: the control is
    // refused and the checks say so rather than pass.
    let (_plain, mut plain) = our_as().await;
    plain.client_documents = target.client_documents.clone();
    let results = run(&checks(AsProfile::Base), &plain, Some(&only)).await;
    let refused = "the AS cannot fetch it or refuses its URL";
    assert_outcomes(
        &results,
        &[],
        &[("BASE-AS-21", refused), ("BASE-AS-22", refused)],
        &[],
    );
}

/// A client that is not registered: the control refuses, so the authorization
/// endpoint checks are skipped rather than passed for the wrong reason.
#[tokio::test]
async fn an_unknown_public_client_skips_the_authorization_checks() {
    let (_server, mut target) = our_as().await;
    target.public = Some(PublicClient {
        client_id: "ghost".into(),
        redirect_uri: "http://127.0.0.1:9999/callback".into(),
    });
    let only = ["BASE-AS-8", "BASE-AS-9", "BASE-AS-10"].map(str::to_owned);
    let results = run(&checks(AsProfile::Base), &target, Some(&only)).await;
    let refused = "so a refusal would prove nothing";
    assert_outcomes(
        &results,
        &[],
        &[
            ("BASE-AS-8", refused),
            ("BASE-AS-9", refused),
            ("BASE-AS-10", refused),
        ],
        &[],
    );
}

/// Every request a hostile party received: its `Authorization` and body.
type Received = Arc<Mutex<Vec<String>>>;

/// A server recording every request and answering `answer(path)`.
async fn recording(
    answer: impl Fn(&str, &str) -> (u16, String) + Clone + Send + Sync + 'static,
) -> (String, Received) {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (log, me) = (received.clone(), base.clone());
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let (log, me, answer) = (log.clone(), me.clone(), answer.clone());
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                log.lock().unwrap().push(format!("{uri} {auth} {body}"));
                let (status, body) = answer(uri.path(), &me);
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

fn leaked(received: &Received) -> bool {
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("conformance-cc:{SECRET}"),
    );
    received
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.contains(SECRET) || r.contains(&basic))
}

#[tokio::test]
async fn a_metadata_document_naming_another_origin_never_gets_the_client_secret() {
    let (third_party, received) = recording(|_, _| {
        (
            200,
            json!({"access_token": "x", "token_type": "Bearer"}).to_string(),
        )
    })
    .await;
    let elsewhere = third_party.clone();
    let (issuer, _) = recording(move |path, me| {
        if path == "/.well-known/oauth-authorization-server" {
            let doc = json!({
                "issuer": me,
                "authorization_endpoint": format!("{elsewhere}/authorize"),
                "token_endpoint": format!("{elsewhere}/token"),
                "registration_endpoint": format!("{elsewhere}/register"),
                "jwks_uri": format!("{elsewhere}/jwks"),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            });
            (200, doc.to_string())
        } else {
            (404, "{}".to_owned())
        }
    })
    .await;
    let mut target = AsTarget::new(&issuer).unwrap();
    target.confidential = Some(ConfidentialClient::new(
        "conformance-cc",
        SECRET,
        SecretMethod::Post,
    ));
    target.resources = vec![R1.to_owned(), R2.to_owned()];
    let results = run(&checks(AsProfile::Base), &target, None).await;
    let text = report::table(&results);
    assert!(!leaked(&received), "{:?}", received.lock().unwrap());
    assert!(
        !received.lock().unwrap().is_empty(),
        "the probes went there"
    );
    let not_sent = "is not on the issuer's origin";
    for id in ["BASE-AS-15", "BASE-AS-24", "BASE-AS-25"] {
        match outcome(&results, id) {
            Outcome::Skip(why) => assert!(why.contains(not_sent), "{id}: {why}"),
            other => panic!("{id}: {other:?}\n{text}"),
        }
    }
    assert!(!report::json(&results).contains(SECRET));
    // Named by the user, the same endpoint does get it.
    let mut trusting = AsTarget::new(&issuer).unwrap();
    trusting.confidential = target.confidential.clone();
    trusting.token_endpoint = Some(format!("{third_party}/token"));
    let only = ["BASE-AS-15".to_owned()];
    let results = run(&checks(AsProfile::Base), &trusting, Some(&only)).await;
    assert!(leaked(&received), "{}", report::table(&results));
    // 200 without Cache-Control: no-store.
    match outcome(&results, "BASE-AS-15") {
        Outcome::Fail(e) => assert!(e.contains("Cache-Control \"absent\""), "{e}"),
        other => panic!("{other:?}"),
    }
}
