//! Issue 19, part 2: `rediss://` works. A `redis-server` of the test's own that speaks
//! only TLS (the test kit's [`PrivateRedis::start_tls`]: `--port 0 --tls-port`, its
//! certificate signed by a CA made at test time with `openssl`), a real authorization
//! server, and gateways built from their configuration as `mcp-auth gateway` builds
//! them:
//!
//! - with `?ca=` naming the server's CA, the replay cache works over TLS: a signed
//!   request is accepted, its replay refused, and the nonce is in that Redis; the same
//!   on a 3-primary Redis Cluster whose nodes speak only TLS (`rediss-cluster://`);
//! - a server whose certificate another CA signed (or, with no `ca=`, that the
//!   system's roots do not know) is refused: the gateway does not start, and a replay
//!   cache connected lazily to it answers 503 with `Retry-After`, never accepting.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::RedisReplayCache;
use mcp_auth_core::redis_connection::RedisTarget;
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::RawGatewayConfig;
use mcp_auth_testkit::{PrivateRedis, PrivateRedisCluster, TestCa};

mod common;

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
/// The HTTPSig `future_skew` here: a Redis that just started refuses proofs that may
/// predate it for this long (the default 5 s; 1 s keeps the test short).
const SKEW: u64 = 1;

fn gateway_config(resource: &str, issuer: &str, upstream: &str, redis: &str) -> RawGatewayConfig {
    RawGatewayConfig {
        upstream: Some(upstream.into()),
        resource: Some(resource.to_owned()),
        issuers: vec![issuer.to_owned()],
        replay_cache: Some(redis.into()),
        ..RawGatewayConfig::default()
    }
}

/// A bound token and a signer for it.
async fn client(authorization_server: &common::As, resource: &str) -> (HttpSigSigner, String) {
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, resource)
        .await
        .access_token;
    (signer, token)
}

async fn post(resource: &str, headers: &http::HeaderMap) -> reqwest::Response {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .post(resource)
        .headers(headers.clone())
        .body(CALL)
        .send()
        .await
        .unwrap()
}

/// A gateway whose replay cache is `redis` (a Redis started at `started`), built from
/// its configuration: a signed request is accepted once, and its replay refused.
async fn accepted_once(redis: &str, started: i64) {
    let upstream = mcp_auth_testkit::mcp_upstream("s-").await;
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let mut config = gateway_config(
        &resource,
        &authorization_server.issuer,
        &upstream.url,
        redis,
    )
    .validate()
    .unwrap();
    config.resource.window.future_skew = SKEW;
    // Starting checks both stores answer (PING) and writes the replay cache's markers:
    // over TLS.
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    while mcp_auth_core::unix_now() <= started + i64::try_from(SKEW).unwrap() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (signer, token) = client(&authorization_server, &resource).await;
    let headers = common::signed_headers(&signer, &token, &resource, CALL);
    let accepted = post(&resource, &headers).await;
    assert_eq!(accepted.status(), 200);
    let replayed = post(&resource, &headers).await;
    assert_eq!(replayed.status(), 401);
    let challenge = replayed
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("HTTPSig "))
        .expect("an HTTPSig challenge");
    assert!(
        challenge.contains(r#"error="invalid_signature""#),
        "{challenge}"
    );
    assert!(challenge.contains("nonce was already used"), "{challenge}");
}

#[tokio::test]
async fn the_replay_cache_works_over_tls_with_the_configured_ca() {
    let test = "the_replay_cache_works_over_tls_with_the_configured_ca";
    let Some(redis) = PrivateRedis::start_tls(test) else {
        return;
    };
    let started = mcp_auth_core::unix_now();
    let url = redis.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    assert!(url.contains("?ca=/"), "{url}");
    assert!(matches!(
        RedisTarget::parse(&url),
        Ok(RedisTarget::Single(_))
    ));
    accepted_once(&url, started).await;
    // The nonce is in the TLS Redis (the one this test started, which has no
    // plaintext port).
    let nonces = redis
        .cli(&["--scan", "--pattern", "{mcp-auth:replay:*}:*"])
        .unwrap();
    assert!(
        nonces.lines().any(|k| !k.ends_with(":memory-since")),
        "no nonce in the TLS Redis: {nonces:?}"
    );
}

#[tokio::test]
async fn a_tls_redis_cluster_serves_the_replay_cache() {
    let test = "a_tls_redis_cluster_serves_the_replay_cache";
    let Some(cluster) = PrivateRedisCluster::start_tls(test, 3) else {
        return;
    };
    let started = mcp_auth_core::unix_now();
    let url = cluster.url();
    assert!(url.starts_with("rediss-cluster://127.0.0.1:"), "{url}");
    assert!(
        matches!(RedisTarget::parse(&url), Ok(RedisTarget::Cluster(ref nodes)) if nodes.len() == 3),
        "{url}"
    );
    accepted_once(&url, started).await;
}

#[tokio::test]
async fn a_redis_whose_certificate_the_configured_ca_did_not_sign_is_refused() {
    let test = "a_redis_whose_certificate_the_configured_ca_did_not_sign_is_refused";
    let Some(redis) = PrivateRedis::start_tls(test) else {
        return;
    };
    let Some(other) = TestCa::new(test, "another CA") else {
        return;
    };
    let upstream = mcp_auth_testkit::mcp_upstream("s-").await;
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let wrong_ca = redis.tls_url(Some(&other.certificate()));
    // Another CA named, or none (the system's roots): the gateway does not start.
    for url in [wrong_ca.clone(), redis.tls_url(None)] {
        let config = gateway_config(&resource, &authorization_server.issuer, &upstream.url, &url)
            .validate()
            .unwrap();
        let started = tokio::time::timeout(Duration::from_secs(15), config.router())
            .await
            .expect("the start fails within the Redis timeouts");
        let Err(error) = started else {
            panic!("{url}: a Redis of an unknown CA is refused");
        };
        let error = error.to_string();
        assert!(
            error.starts_with("replay cache rediss://127.0.0.1:"),
            "{error}"
        );
        eprintln!("{url}: {error}");
        assert!(
            error.to_lowercase().contains("certificate"),
            "{url}: {error}"
        );
    }
    // A replay cache connected lazily (as after a restart of Redis with another
    // certificate): every signed request fails closed.
    let lazy = RedisReplayCache::connect(
        &RedisTarget::parse(&wrong_ca).unwrap(),
        "t:",
        Duration::from_millis(500),
    )
    .unwrap();
    let rs = common::start_rs(listener, &resource, &authorization_server, Arc::new(lazy)).await;
    let (signer, token) = client(&authorization_server, &resource).await;
    for _ in 0..2 {
        let headers = common::signed_headers(&signer, &token, &rs.resource, CALL);
        let r = post(&rs.resource, &headers).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "2");
        assert!(r.headers().get("www-authenticate").is_none());
    }
    // The server itself is fine: its own CA is accepted.
    assert_eq!(redis.cli(&["PING"]).as_deref(), Some("PONG"));
}
