//! Client ID Metadata Documents: a client identified by the URL of its metadata
//! document, served here by a real HTTP server on 127.0.0.1 (allowed only with the
//! `[danger] cimd_allow_http_loopback` test switch; without it, the SSRF guard refuses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use common::{RESOURCE, spawn};
use serde_json::json;

struct Docs {
    base: String,
    fetches: Arc<AtomicUsize>,
}

const CALLBACK: &str = "http://127.0.0.1:7777/callback";

async fn serve_documents() -> Docs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let b = base.clone();
    let f = fetches.clone();
    let good = move || {
        let b = b.clone();
        let f = f.clone();
        async move {
            f.fetch_add(1, Ordering::SeqCst);
            (
                [(header::CACHE_CONTROL, "max-age=600")],
                axum::Json(
                    json!({"client_id": format!("{b}/good.json"), "client_name": "Doc Client", "redirect_uris": [CALLBACK], "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"}),
                ),
            )
        }
    };
    let b2 = base.clone();
    let app = Router::new()
        .route("/good.json", get(good))
        .route("/mismatch.json", get(|| async { axum::Json(json!({"client_id": "https://someone-else.example/c.json", "client_name": "X", "redirect_uris": [CALLBACK]})) }))
        .route("/huge.json", get(move || { let b = b2.clone(); async move { axum::Json(json!({"client_id": format!("{b}/huge.json"), "client_name": "x".repeat(6000), "redirect_uris": [CALLBACK]})) } }))
        .route("/redirect.json", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/good.json")]).into_response() }))
        .route("/secret.json", get(|| async { "not json" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Docs { base, fetches }
}

fn challenge() -> (String, String) {
    let verifier = "v".repeat(50);
    let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    (verifier, c)
}

async fn authorize(s: &common::TestServer, client_id: &str, redirect: &str) -> (u16, String) {
    let (_, c) = challenge();
    let r = s
        .http
        .get(format!("{}/authorize", s.issuer))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("code_challenge", c.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_metadata_document_client_completes_the_flow_and_is_cached() {
    let docs = serve_documents().await;
    let s = spawn("[danger]\ncimd_allow_http_loopback = true\n", "").await;
    let meta: serde_json::Value = s
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let hash = mcp_auth_server::password::hash_password("correct horse".into())
        .await
        .unwrap();
    s.state.store.insert_user("alice", &hash, 0).await.unwrap();
    let client_id = format!("{}/good.json", docs.base);
    let (status, login) = authorize(&s, &client_id, CALLBACK).await;
    assert_eq!(status, 200, "{login}");
    assert!(login.contains("<strong>Doc Client</strong>"));
    let consent = s
        .http
        .post(format!("{}/login", s.issuer))
        .form(&[
            ("request", hidden(&login, "request")),
            ("csrf", hidden(&login, "csrf")),
            ("username", "alice".into()),
            ("password", "correct horse".into()),
        ])
        .send()
        .await
        .unwrap();
    let cookie = consent.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = consent.text().await.unwrap();
    assert!(
        page.contains("You will be sent back to <strong>http://127.0.0.1</strong>"),
        "{page}"
    );
    assert!(
        page.contains("returns to a program on your own computer"),
        "loopback warning"
    );
    let done = s
        .http
        .post(format!("{}/consent", s.issuer))
        .header("cookie", cookie)
        .form(&[
            ("request", hidden(&page, "request")),
            ("csrf", hidden(&page, "csrf")),
            ("decision", "allow".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = url::Url::parse(done.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (verifier, _) = challenge();
    let token = s
        .http
        .post(format!("{}/token", s.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "{}", token.text().await.unwrap());
    // Fetched once: the document is cached for its max-age.
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 1);
    // A redirect URI the document does not list is refused, as a page.
    let (status, page) = authorize(&s, &client_id, "http://127.0.0.1:7777/other").await;
    assert_eq!(status, 400);
    assert!(page.contains("redirect URI is not registered"));
}

#[tokio::test]
async fn bad_documents_are_refused_with_the_reason() {
    let docs = serve_documents().await;
    let s = spawn("[danger]\ncimd_allow_http_loopback = true\n", "").await;
    for (path, reason) in [
        (
            "/mismatch.json",
            "its client_id does not equal the URL it was fetched from",
        ),
        ("/huge.json", "larger than 5120 bytes"),
        ("/redirect.json", "HTTP status 302"),
        ("/secret.json", "not JSON"),
        ("/missing.json", "HTTP status 404"),
    ] {
        let (status, page) = authorize(&s, &format!("{}{path}", docs.base), CALLBACK).await;
        assert_eq!(status, 400, "{path}");
        assert!(page.contains(reason), "{path}: {page}");
    }
}

#[tokio::test]
async fn without_the_danger_switch_the_ssrf_guard_refuses_local_documents() {
    let docs = serve_documents().await;
    let s = spawn("", "").await;
    let (status, page) = authorize(&s, &format!("{}/good.json", docs.base), CALLBACK).await;
    assert_eq!(status, 400);
    assert!(page.contains("it must use https"), "{page}");
    // https to an address on this machine is refused before any connection.
    let (status, page) = authorize(&s, "https://127.0.0.1:9/client.json", CALLBACK).await;
    assert_eq!(status, 400);
    assert!(page.contains("resolves to a non-public address"), "{page}");
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 0);
}
