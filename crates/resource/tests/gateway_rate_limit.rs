//! `[rate_limit]` through `mcp-auth gateway`'s configuration, over real HTTP on
//! 127.0.0.1: a real AS, gateways built from `RawGatewayConfig` as the command builds
//! them, a recording upstream, and a private `redis-server` for the shared limit.
//!
//! - A principal past its burst gets 429 with `Retry-After`, no challenge, and
//!   nothing reaches the upstream; another principal is not affected.
//! - Two gateways on one Redis share one limit.
//! - With the Redis down the limit fails closed (503, `Retry-After`) and `/readyz`
//!   names it; when the Redis is back, requests pass again.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use http::Method;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::gateway::RawGatewayConfig;
use mcp_auth_resource::rate_limit::RateLimitConfig;
use mcp_auth_testkit::PrivateRedis;
use serde_json::Value;

mod common;

use common::gateway::{recording_upstream, signed};

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#;

/// A gateway for `resource` (Bearer accepted) with `rate_limit`, on `listener`: its
/// base URL.
async fn gateway(
    listener: tokio::net::TcpListener,
    resource: &str,
    authorization_server: &common::As,
    upstream: &str,
    rate_limit: &str,
) -> String {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = config(resource, authorization_server, upstream, rate_limit);
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// The checked configuration of such a gateway (`rate_limit`: the `[rate_limit]`
/// table's TOML).
fn config(
    resource: &str,
    authorization_server: &common::As,
    upstream: &str,
    rate_limit: &str,
) -> mcp_auth_resource::gateway::GatewayConfig {
    RawGatewayConfig {
        upstream: Some(upstream.into()),
        resource: Some(resource.to_owned()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        rate_limit: toml::from_str::<RateLimitConfig>(rate_limit).unwrap(),
        ..RawGatewayConfig::default()
    }
    .validate()
    .unwrap()
}

/// `CALL` with a Bearer token to `url`.
async fn bearer_call(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(CALL)
        .send()
        .await
        .unwrap()
}

fn assert_limited(r: &reqwest::Response, what: &str) -> u64 {
    assert_eq!(r.status(), 429, "{what}");
    assert!(r.headers().get("www-authenticate").is_none(), "{what}");
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_principal_past_its_burst_gets_429_with_retry_after_and_others_go_on() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    // Two at once, then one every 100 s.
    gateway(
        listener,
        &resource,
        &authorization_server,
        &up,
        "rate = 0.01\nburst = 2",
    )
    .await;
    let token = authorization_server.bearer_token(&resource).await;
    for _ in 0..2 {
        assert_eq!(bearer_call(&resource, &token).await.status(), 200);
    }
    let refused = bearer_call(&resource, &token).await;
    let retry_after = assert_limited(&refused, "the third request");
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the refused call was not forwarded"
    );

    // Another principal (the HTTPSig client `agent`) has its own bucket.
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let bound = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let other = signed(&signer, &bound, Method::POST, &resource, CALL, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_the_limit_and_fail_closed_without_it() {
    let Some(mut redis) = PrivateRedis::start("gateway_rate_limit") else {
        eprintln!("SKIP two_gateways_on_one_redis_share_the_limit: redis-server is not installed");
        return;
    };
    let (first, resource) = common::bind().await;
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let table = format!("rate = 0.01\nburst = 3\nstore = \"{}\"", redis.url());
    gateway(first, &resource, &authorization_server, &up, &table).await;
    let other = gateway(second, &resource, &authorization_server, &up, &table).await;
    let other_mcp = format!("{other}/mcp");
    let token = authorization_server.bearer_token(&resource).await;
    let gateways = [resource.as_str(), other_mcp.as_str()];
    for url in gateways.iter().cycle().take(3) {
        assert_eq!(bearer_call(url, &token).await.status(), 200);
    }
    for url in gateways {
        assert_limited(&bearer_call(url, &token).await, url);
    }
    assert_eq!(seen.lock().unwrap().len(), 3);

    redis.kill();
    let down = bearer_call(&resource, &token).await;
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "2");
    let ready = reqwest::get(format!("{other}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["rate_limit"], "unavailable", "{body}");
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "nothing passed while the store was down"
    );

    // Back, empty: the limit starts afresh.
    redis.start_again();
    let mut status = 0;
    for _ in 0..50 {
        status = bearer_call(&resource, &token).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the gateway recovers by itself");
}

/// A rate limit's Redis that does not answer stops the start, and the message masks
/// the password in its URL, as the replay cache's does.
#[tokio::test]
async fn a_silent_rate_limit_redis_stops_the_start_without_showing_its_password() {
    let (_listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let rate_limit =
        format!("rate = 10\nburst = 10\nstore = \"redis://:hunter2@127.0.0.1:{port}\"\n");
    let config = config(
        &resource,
        &authorization_server,
        "http://127.0.0.1:9/mcp",
        &rate_limit,
    );
    let error = config
        .start(&mcp_auth_core::shutdown::Shutdown::new())
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("rate limit redis://:***@127.0.0.1:{port}")),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}
