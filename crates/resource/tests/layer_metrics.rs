//! The layer's metrics through handles kept once the process's recorder is installed
//! (`mcp_auth_core::metric_handle`). A request checked before any recorder is installed
//! is counted by none, and must leave no handle behind: the requests after
//! `mcp_auth_server::observability::install` are each counted and timed. This binary's
//! only test, so nothing else records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use mcp_auth_core::{AccessTokenClaims, AsSigningKey, Jwks, MemoryReplayCache};
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_resource::{AccessTokenCache, McpAuthLayer, ResourceConfig, ResourceVerifier};
use tower::{Layer as _, Service, ServiceExt as _};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

fn post(token: Option<&str>) -> Request<String> {
    let mut b = Request::post("/mcp").header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_owned())
        .unwrap()
}

/// The status `service` answers `request` with.
async fn status<S, B>(service: &mut S, request: Request<String>) -> u16
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
{
    service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn requests_are_counted_through_kept_handles_once_the_recorder_is_installed() {
    let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let now = mcp_auth_core::unix_now();
    let token = key
        .sign(&AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: RESOURCE.into(),
            exp: now + 600,
            iat: now,
            jti: "t-1".into(),
            client_id: "app".into(),
            scope: "mcp:read".into(),
            cnf: None,
        })
        .unwrap();
    let mut config = ResourceConfig::new(RESOURCE, ISSUER).unwrap();
    config.bound_tokens_required = false;
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::new(ISSUER, RESOURCE, &jwks),
        Arc::new(MemoryReplayCache::new()),
    ));
    let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let mut service = McpAuthLayer::new(verifier).layer(inner);

    // Before any recorder: checked, timed into nothing, and no handle kept.
    assert!(!mcp_auth_core::metric_handle::handles_may_be_kept());
    assert_eq!(status(&mut service, post(Some(&token))).await, 200);

    let metrics = mcp_auth_server::observability::install().expect("the recorder installs");
    assert!(mcp_auth_core::metric_handle::handles_may_be_kept());
    for _ in 0..3 {
        assert_eq!(status(&mut service, post(Some(&token))).await, 200);
    }
    assert_eq!(status(&mut service, post(None)).await, 401);

    let text = metrics.render();
    for line in [
        r#"mcp_auth_requests_total{profile="bearer",outcome="accepted"} 3"#,
        r#"mcp_auth_requests_total{profile="none",outcome="no_credentials"} 1"#,
        "mcp_auth_verification_seconds_count 4",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
}
