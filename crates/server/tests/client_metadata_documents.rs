//! Client ID Metadata Documents: a client identified by the URL of its metadata
//! document, served here by a real HTTP server on 127.0.0.1 (allowed only with the
//! `[danger] allow_http_loopback_fetches` test switch; without it, the SSRF guard refuses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{RESOURCE, spawn};
use mcp_auth_testkit::{hidden, pkce_challenge, set_cookie};
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
    let c = pkce_challenge(&verifier);
    (verifier, c)
}

async fn authorize(s: &common::TestServer, client_id: &str, redirect: &str) -> (u16, String) {
    let (status, body, _) = authorize_in_browser(s, client_id, redirect).await;
    (status, body)
}

/// [`authorize`], with the browser-binding cookie the login and consent forms need.
async fn authorize_in_browser(
    s: &common::TestServer,
    client_id: &str,
    redirect: &str,
) -> (u16, String, String) {
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
    let binding = set_cookie(r.headers()).unwrap_or_default();
    (r.status().as_u16(), r.text().await.unwrap(), binding)
}

#[tokio::test]
async fn a_metadata_document_client_completes_the_flow_and_is_cached() {
    let docs = serve_documents().await;
    let s = spawn("[danger]\nallow_http_loopback_fetches = true\n", "").await;
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
    let (status, login, binding) = authorize_in_browser(&s, &client_id, CALLBACK).await;
    assert_eq!(status, 200, "{login}");
    assert!(login.contains("<strong>Doc Client</strong>"));
    let consent = s
        .http
        .post(format!("{}/login", s.issuer))
        .header("cookie", &binding)
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
        .header("cookie", format!("{binding}; {cookie}"))
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
    let s = spawn("[danger]\nallow_http_loopback_fetches = true\n", "").await;
    for (path, reason) in [
        (
            "/mismatch.json",
            "its client_id does not equal the URL it was fetched from",
        ),
        ("/huge.json", "larger than 5120 bytes"),
        // A redirect or a missing document: a fixed text, never the upstream status.
        (
            "/redirect.json",
            "the host did not answer with the document",
        ),
        ("/secret.json", "not JSON"),
        ("/missing.json", "the host did not answer with the document"),
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

/// Serves `app` on 127.0.0.1 and returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A base URL on 127.0.0.1 where nothing listens (the connection is refused).
async fn refusing_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base
}

/// A server whose every document answers 500 with internal details in the body.
async fn failing_base() -> String {
    serve(Router::new().fallback(|| async {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream db at 10.0.0.5:5432 refused",
        )
    }))
    .await
}

async fn post_token(s: &common::TestServer, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = s
        .http
        .post(format!("{}/token", s.issuer))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Asserts the `invalid_client` answer has exactly `description`, and names neither
/// the upstream status, the address, the port nor the connection error.
fn assert_fixed(got: &(u16, serde_json::Value), description: &str, base: &str) {
    assert_eq!(got.0, 401, "{}", got.1);
    assert_eq!(got.1["error"], "invalid_client");
    let text = got.1["error_description"].as_str().unwrap();
    assert_eq!(text, description);
    let port = base.rsplit(':').next().unwrap();
    for leak in ["500", "127.0.0.1", port, "refused", "10.0.0.5", "status"] {
        assert!(!text.contains(leak), "{text} contains {leak}");
    }
}

/// Item 12: a metadata document fetch that gets a 500, or whose connection is
/// refused, answers a fixed description: no status, no address, no connection error.
#[tokio::test]
async fn item_12_cimd_fetch_errors_name_no_status_or_address() {
    let s = spawn("[danger]\nallow_http_loopback_fetches = true\n", "").await;
    for base in [failing_base().await, refusing_base().await] {
        let client_id = format!("{base}/client.json");
        let got = post_token(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &"v".repeat(50)),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_fixed(
            &got,
            "the client metadata document could not be fetched: the host did not answer with the document",
            &base,
        );
    }
}

/// A `private_key_jwt` client assertion for `client_id`, ES256 with `kid: k1`.
fn assertion(key: &jsonwebtoken::EncodingKey, client_id: &str, issuer: &str, exp: i64) -> String {
    let now = mcp_auth_core::unix_now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims = json!({"iss": client_id, "sub": client_id, "aud": format!("{issuer}/token"),
        "exp": exp, "iat": now, "jti": format!("{exp}-{}", now)});
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

/// A new ES256 key: the signing half and the public JWK (`kid: k1`).
fn es256() -> (jsonwebtoken::EncodingKey, serde_json::Value) {
    use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
    let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
    let mut jwk = key.verifying_key().to_jwk();
    jwk.kid = Some("k1".into());
    jwk.alg = Some("ES256".into());
    let encoding =
        jsonwebtoken::EncodingKey::from_ec_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    (encoding, serde_json::to_value(jwk).unwrap())
}

async fn client_credentials(s: &common::TestServer, assertion: &str) -> (u16, serde_json::Value) {
    post_token(
        s,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("resource", RESOURCE),
        ],
    )
    .await
}

/// Item 12: a client's `jwks_uri` that answers 500, or refuses the connection, makes
/// the assertion fail with a fixed description.
#[tokio::test]
async fn item_12_jwks_uri_fetch_errors_name_no_status_or_address() {
    let s = spawn("[danger]\nallow_http_loopback_fetches = true\n", "").await;
    let (key, _) = es256();
    for (i, base) in [failing_base().await, refusing_base().await]
        .into_iter()
        .enumerate()
    {
        let client_id = format!("keys-client-{i}");
        s.state
            .store
            .insert_client(&mcp_auth_server::ClientRecord {
                client_id: client_id.clone(),
                secret_sha256: None,
                metadata: json!({
                    "grant_types": ["client_credentials"], "scopes": ["mcp:read"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": format!("{base}/jwks.json"),
                }),
                created_at: 0,
            })
            .await
            .unwrap();
        let a = assertion(&key, &client_id, &s.issuer, mcp_auth_core::unix_now() + 60);
        assert_fixed(
            &client_credentials(&s, &a).await,
            "client assertion: the client's jwks_uri could not be used: the host did not answer with the document",
            &base,
        );
    }
}

/// Item 17: a `private_key_jwt` client goes through the shared claim check; an
/// assertion with `exp = i64::MAX` used to overflow `exp + leeway` (a panic in a debug
/// build) and is now refused as too far in the future.
#[tokio::test]
async fn item_17_an_assertion_with_exp_i64_max_is_refused_not_overflowed() {
    let s = spawn("", "").await;
    let (key, jwk) = es256();
    s.state
        .store
        .insert_client(&mcp_auth_server::ClientRecord {
            client_id: "service".into(),
            secret_sha256: None,
            metadata: json!({
                "grant_types": ["client_credentials"], "scopes": ["mcp:read"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
            }),
            created_at: 0,
        })
        .await
        .unwrap();
    let too_far = assertion(&key, "service", &s.issuer, i64::MAX);
    let got = client_credentials(&s, &too_far).await;
    assert_eq!(got.0, 401, "{}", got.1);
    assert_eq!(got.1["error"], "invalid_client");
    assert_eq!(
        got.1["error_description"],
        "client assertion: `exp` is too far in the future"
    );
    // The same client with a sound assertion gets its token.
    let good = assertion(&key, "service", &s.issuer, mcp_auth_core::unix_now() + 60);
    let got = client_credentials(&s, &good).await;
    assert_eq!(got.0, 200, "{}", got.1);
}
