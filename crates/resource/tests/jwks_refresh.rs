//! Issue 19, part 1: the gateway re-reads its issuers' keys on its own. A real
//! authorization server in process; its keys are rotated and deleted through its own
//! store, as `mcp-auth as rotate-keys` and its reload do. The refresh interval is 1 s
//! (`jwks_refresh`), so each test waits a few seconds at most (polling, never a fixed
//! sleep):
//!
//! - a key the AS stops publishing is refused within the interval, through the gateway
//!   built from its configuration, and also for a token already in the verified-token
//!   cache;
//! - a failed refresh (the JWKS answers 503, then a document that is not a JWKS) keeps
//!   the keys known before: tokens keep being accepted;
//! - a key the AS starts publishing is known before any token names it.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use mcp_auth_core::{AccessTokenError, Jwks, unix_now};
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_resource::gateway::RawGatewayConfig;
use mcp_auth_resource::{AccessTokenCache, IssuerKeys, TokenError, discover_issuer};
use mcp_auth_testkit::jwt_kid as kid_of;

mod common;

/// The refresh interval of these tests.
const EVERY: Duration = Duration::from_secs(1);
/// How long a change may take to show: the interval, plus a fetch and slack for a
/// loaded machine.
const WITHIN: Duration = Duration::from_secs(8);

/// Rotates the AS's access-token key and deletes the previous one at once (what a
/// compromise calls for; in normal operation it stays published until its tokens
/// expire): its JWKS then holds the new key only. Returns the new key id.
async fn rotate_and_delete_the_old_key(authorization_server: &common::As) -> String {
    let state = &authorization_server.state;
    let now = unix_now();
    let kid = mcp_auth_server::rotate(&state.store, JwsAlgorithm::EdDsa, now)
        .await
        .unwrap();
    state
        .store
        .delete_keys_retired_before(now + 1)
        .await
        .unwrap();
    state
        .keys
        .reload(&state.store, state.config.access_token_ttl, now)
        .await
        .unwrap();
    let published: Vec<_> = state
        .keys
        .current()
        .jwks
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .collect();
    assert_eq!(published, vec![kid.clone()]);
    kid
}

fn kids(jwks: &Jwks) -> Vec<String> {
    jwks.keys.iter().filter_map(|k| k.kid.clone()).collect()
}

#[tokio::test]
async fn a_key_the_issuer_stops_publishing_is_refused_by_the_gateway_within_the_interval() {
    let upstream = mcp_auth_testkit::mcp_upstream("s-").await;
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let config = RawGatewayConfig {
        upstream: Some(upstream.url.as_str().into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        jwks_refresh: Some(EVERY.as_secs()),
        ..RawGatewayConfig::default()
    }
    .validate()
    .unwrap();
    assert_eq!(config.jwks_refresh, EVERY);
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let call = |token: String| {
        http.post(&resource)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
    };
    let old = authorization_server.bearer_token(&resource).await;
    // Verified, then served from the verified-token cache.
    assert_eq!(call(old.clone()).await.unwrap().status(), 200);
    assert_eq!(call(old.clone()).await.unwrap().status(), 200);

    let new_kid = rotate_and_delete_the_old_key(&authorization_server).await;
    let dropped = Instant::now();
    let refused = loop {
        let r = call(old.clone()).await.unwrap();
        if r.status() != 200 {
            break r;
        }
        assert!(
            dropped.elapsed() < WITHIN,
            "a token of the deleted key still accepted {:?} after the deletion",
            dropped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains("the token's key is unknown"),
        "{challenge}"
    );
    // A token of the new key is accepted.
    let new = authorization_server.bearer_token(&resource).await;
    assert_eq!(kid_of(&new), new_kid);
    assert_eq!(call(new).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_cached_token_of_a_dropped_key_is_verified_again_and_refused() {
    let resource = "http://127.0.0.1:1/mcp";
    let authorization_server = common::start_as(resource).await;
    let issuer = authorization_server.issuer.clone();
    let tokens =
        AccessTokenCache::for_issuers(resource, vec![discover_issuer(&issuer).await.unwrap()])
            .refresh_every(EVERY);
    let token = authorization_server.bearer_token(resource).await;
    let old_kid = kid_of(&token);
    let first = tokens.verify(&token, unix_now()).await.unwrap();
    let second = tokens.verify(&token, unix_now()).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second verification is a cache hit"
    );

    let new_kid = rotate_and_delete_the_old_key(&authorization_server).await;
    let dropped = Instant::now();
    while kids(&tokens.jwks(&issuer).unwrap()).contains(&old_kid) {
        assert!(dropped.elapsed() < WITHIN, "the keys were not re-read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kids(&tokens.jwks(&issuer).unwrap()), vec![new_kid]);
    // The cached entry is not trusted any more: the token is checked again, and its
    // key is gone (the fetch this triggers finds it gone too).
    let refused = tokens.verify(&token, unix_now()).await.unwrap_err();
    assert!(
        matches!(refused, TokenError::Invalid(AccessTokenError::UnknownKey)),
        "{refused:?}"
    );
    // And stays refused.
    let again = tokens.verify(&token, unix_now()).await.unwrap_err();
    assert!(
        matches!(again, TokenError::Invalid(AccessTokenError::UnknownKey)),
        "{again:?}"
    );
}

/// A JWKS endpoint in front of the AS's: it passes the AS's JWKS on, or, while
/// `failing`, answers 503 and a document that is not a JWKS in turn. Counts what it
/// answered.
struct KeysFront {
    uri: String,
    failing: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

async fn keys_front(authorization_server_jwks: String) -> KeysFront {
    let failing = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (f, s, e) = (failing.clone(), served.clone(), failed.clone());
    let app = Router::new().route(
        "/jwks",
        get(move || {
            let (failing, served, failed) = (f.clone(), s.clone(), e.clone());
            let upstream = authorization_server_jwks.clone();
            async move {
                if failing.load(Ordering::SeqCst) {
                    let n = failed.fetch_add(1, Ordering::SeqCst);
                    return if n % 2 == 0 {
                        (http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
                    } else {
                        axum::Json(serde_json::json!({"keys": "none"})).into_response()
                    };
                }
                let body = reqwest::get(&upstream).await.unwrap().text().await.unwrap();
                served.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/json")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    KeysFront {
        uri,
        failing,
        served,
        failed,
    }
}

/// The AS's issuer as the gateway discovers it, but with its keys read through `front`.
async fn through(front: &KeysFront, issuer: &str) -> IssuerKeys {
    let discovered = discover_issuer(issuer).await.unwrap();
    IssuerKeys {
        jwks_uri: Some(front.uri.clone()),
        ..discovered
    }
}

/// Waits until `counter` reaches `n`.
async fn wait_for(counter: &AtomicUsize, n: usize, what: &str) {
    let start = Instant::now();
    while counter.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < WITHIN, "{what}: never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_keys_known_before() {
    let resource = "http://127.0.0.1:1/mcp";
    let authorization_server = common::start_as(resource).await;
    let issuer = authorization_server.issuer.clone();
    let jwks_uri = discover_issuer(&issuer).await.unwrap().jwks_uri.unwrap();
    let front = keys_front(jwks_uri).await;
    let tokens = AccessTokenCache::for_issuers(resource, vec![through(&front, &issuer).await])
        .refresh_every(EVERY);
    let known = tokens.jwks(&issuer).unwrap();
    assert!(!known.keys.is_empty());
    let cached = authorization_server.bearer_token(resource).await;
    tokens.verify(&cached, unix_now()).await.unwrap();
    // One good refresh, then the AS's keys cannot be read: 503, then not a JWKS.
    wait_for(&front.served, 1, "a refresh").await;
    front.failing.store(true, Ordering::SeqCst);
    wait_for(&front.failed, 3, "three failed refreshes").await;
    assert_eq!(tokens.jwks(&issuer).unwrap(), known);
    // The token verified before, and one never seen, of the same key: both accepted.
    tokens.verify(&cached, unix_now()).await.unwrap();
    let fresh = authorization_server.bearer_token(resource).await;
    assert_ne!(fresh, cached);
    tokens.verify(&fresh, unix_now()).await.unwrap();
    // The AS answers again: refreshes resume.
    front.failing.store(false, Ordering::SeqCst);
    let served = front.served.load(Ordering::SeqCst);
    wait_for(&front.served, served + 1, "a refresh after the outage").await;
}

#[tokio::test]
async fn a_new_key_is_known_before_any_token_names_it() {
    let resource = "http://127.0.0.1:1/mcp";
    let authorization_server = common::start_as(resource).await;
    let issuer = authorization_server.issuer.clone();
    let jwks_uri = discover_issuer(&issuer).await.unwrap().jwks_uri.unwrap();
    let front = keys_front(jwks_uri).await;
    let tokens = AccessTokenCache::for_issuers(resource, vec![through(&front, &issuer).await])
        .refresh_every(EVERY);
    let state = &authorization_server.state;
    let now = unix_now();
    let new_kid = mcp_auth_server::rotate(&state.store, JwsAlgorithm::EdDsa, now)
        .await
        .unwrap();
    state
        .keys
        .reload(&state.store, state.config.access_token_ttl, now)
        .await
        .unwrap();
    let start = Instant::now();
    while !kids(&tokens.jwks(&issuer).unwrap()).contains(&new_kid) {
        assert!(start.elapsed() < WITHIN, "the new key was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The AS's keys cannot be read any more: a token of the new key is accepted only
    // because the key is already known (the fetch an unknown `kid` triggers would fail).
    front.failing.store(true, Ordering::SeqCst);
    let token = authorization_server.bearer_token(resource).await;
    assert_eq!(kid_of(&token), new_kid);
    tokens.verify(&token, unix_now()).await.unwrap();
}

#[test]
fn jwks_refresh_is_5_minutes_unless_configured_within_1_s_and_a_day() {
    let raw = |jwks_refresh: Option<u64>| RawGatewayConfig {
        jwks_refresh,
        ..common::gateway::minimal_config()
    };
    assert_eq!(
        raw(None).validate().unwrap().jwks_refresh,
        Duration::from_secs(300)
    );
    let from_file: RawGatewayConfig = toml::from_str("jwks_refresh = 120").unwrap();
    assert_eq!(
        raw(from_file.jwks_refresh).validate().unwrap().jwks_refresh,
        Duration::from_secs(120)
    );
    for bad in [0, 86_401] {
        let error = raw(Some(bad)).validate().unwrap_err().to_string();
        assert_eq!(
            error,
            format!("jwks_refresh must be 1..=86400 seconds, not {bad}")
        );
    }
}
