//! The layer outside axum: a plain tower service taking requests whose body is a
//! `String` (any `http_body::Body`), driven by hand, with the time read from an
//! injected `ManualClock`. An accepted request reaches the inner service with its body
//! and the principal; a refused one never does; a cached token stops working when the
//! clock passes its `exp`. A cached token's principal is shared by its requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use mcp_auth_core::{AccessTokenClaims, AsSigningKey, Jwks, ManualClock, MemoryReplayCache};
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_resource::{
    AccessTokenCache, McpAuthLayer, Principal, ResourceConfig, ResourceVerifier,
};
use tower::{Layer as _, Service};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const T: i64 = 1_767_225_600;
const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// A Bearer-accepting resource at the manual clock's time, and a token valid for
/// 60 s from `T`.
fn resource(clock: &Arc<ManualClock>) -> (Arc<ResourceVerifier>, String) {
    let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let token = key
        .sign(&AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: RESOURCE.into(),
            exp: T + 60,
            iat: T,
            jti: "t-1".into(),
            client_id: "app".into(),
            scope: "mcp:read".into(),
            cnf: None,
        })
        .unwrap();
    let mut config = ResourceConfig::new(RESOURCE, ISSUER).unwrap();
    config.bound_tokens_required = false;
    config.clock = clock.clone();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let verifier = ResourceVerifier::new(
        config,
        AccessTokenCache::new(ISSUER, RESOURCE, &jwks),
        Arc::new(MemoryReplayCache::new()),
    );
    (Arc::new(verifier), token)
}

/// Sends `request` through `service` once it is ready; the status and the body.
async fn send<S, B>(service: &mut S, request: Request<String>) -> (u16, String)
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let response = service.call(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn post(token: Option<&str>) -> Request<String> {
    let mut b = Request::post("/mcp").header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(CALL.to_owned()).unwrap()
}

#[tokio::test]
async fn the_layer_wraps_any_tower_service_and_reads_time_from_the_injected_clock() {
    let clock = ManualClock::new(T + 1);
    let (verifier, token) = resource(&clock);
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reached);
    let inner = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let subject = request
                .extensions()
                .get::<Principal>()
                .map(|p| p.subject.clone())
                .unwrap_or_default();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let text = format!("{subject} {}", String::from_utf8_lossy(&body));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        }
    });
    let mut service = McpAuthLayer::new(verifier).layer(inner);

    // Accepted: the inner service gets the same body and the principal.
    let (status, body) = send(&mut service, post(Some(&token))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("alice {CALL}"));
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    // Refused: answered by the layer, the inner service never called.
    let (status, _) = send(&mut service, post(None)).await;
    assert_eq!(status, 401);
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    // The token is cached now; at its `exp` on the injected clock it stops working.
    clock.set(T + 60);
    let (status, _) = send(&mut service, post(Some(&token))).await;
    assert_eq!(status, 401);
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

/// A token's principal is made once, when the token is verified: every request that
/// presents the cached token gets the same strings (shared, at the same address), not
/// copies made for it. The first request's principal is kept alive, so a copy could
/// not land at the address the first one freed.
#[tokio::test]
async fn requests_with_one_token_share_its_principals_strings() {
    let clock = ManualClock::new(T + 1);
    let (verifier, token) = resource(&clock);
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Principal>::new()));
    let kept = Arc::clone(&seen);
    let inner = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let kept = Arc::clone(&kept);
        async move {
            let principal = request.extensions().get::<Principal>().cloned().unwrap();
            kept.lock().unwrap().push(principal);
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    });
    let mut service = McpAuthLayer::new(verifier).layer(inner);
    for _ in 0..2 {
        let (status, body) = send(&mut service, post(Some(&token))).await;
        assert_eq!(status, 200, "{body}");
    }
    let seen = seen.lock().unwrap();
    let [first, second] = &seen[..] else {
        panic!("two requests reached the service: {seen:?}")
    };
    assert_eq!(first, second);
    assert_eq!(first.subject, "alice");
    assert_eq!(&first.scopes[..], ["mcp:read"]);
    for (a, b) in [
        (&first.issuer, &second.issuer),
        (&first.subject, &second.subject),
        (&first.client_id, &second.client_id),
        (&first.token_id, &second.token_id),
    ] {
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "{a} was copied for the second request"
        );
    }
    assert_eq!(first.scopes.as_ptr(), second.scopes.as_ptr());
}
