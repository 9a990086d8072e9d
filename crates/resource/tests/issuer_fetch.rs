//! Item 16 (resource part): what the resource side reads from an authorization server
//! (RFC 8414 metadata, the JWKS, at start and when a token names a new key) is read
//! through the one size-capped, time-limited fetch: 64 KiB, 5 s. An issuer on
//! 127.0.0.1 serves a JWKS padded past the cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::get;
use mcp_auth_resource::discover_issuer;
use serde_json::json;

/// An issuer whose JWKS is `{"keys":[]}` followed by `padding` bytes of whitespace
/// (valid JSON of that size).
async fn issuer_with_jwks_padding(padding: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let metadata = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let metadata = metadata.clone();
                async move { axum::Json(metadata) }
            }),
        )
        .route(
            "/jwks",
            get(move || async move {
                let mut body = String::from(r#"{"keys":[]}"#);
                body.push_str(&" ".repeat(padding));
                ([("content-type", "application/json")], body)
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

#[tokio::test]
async fn item_16_a_jwks_over_the_size_cap_is_refused() {
    // Under the cap: discovered.
    let small = issuer_with_jwks_padding(1024).await;
    let keys = discover_issuer(&small).await.unwrap();
    assert_eq!(
        keys.jwks_uri.as_deref(),
        Some(format!("{small}/jwks").as_str())
    );
    // 200 KiB: refused, and the error says why.
    let large = issuer_with_jwks_padding(200 * 1024).await;
    let error = discover_issuer(&large).await.unwrap_err().to_string();
    assert!(error.contains("larger than 65536 bytes"), "{error}");
    assert!(error.contains(&format!("{large}/jwks")), "{error}");
}
