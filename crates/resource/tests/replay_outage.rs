//! The gateway's replay cache and session store on a Redis that fails, over real HTTP
//! on 127.0.0.1 (a real authorization server, gateways built from their configuration
//! as `mcp-auth gateway` builds them, a recording MCP upstream) and real Redis
//! processes of the test's own (the test kit's [`PrivateRedis`] and
//! [`PrivateRedisCluster`], never the system Redis):
//!
//! - Redis killed under load: every signed request answers 503 with `Retry-After`,
//!   `/readyz` says which store is down; Redis back: the gateway recovers by itself;
//! - no replay survives the outage: Redis restarts empty, and a request accepted
//!   before is refused as predating the cache's memory (docs/security.md, "Replay
//!   cache memory loss"), while a request signed afterwards is accepted;
//! - a 3-primary Redis Cluster: a nonce accepted at one gateway is a replay at
//!   another; a primary killed makes the requests whose nonces live on it 503 and no
//!   other; the primary back, service recovers by itself and the replays of what it
//!   forgot are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::redis_connection::{RedisTarget, key_slot};
use mcp_auth_core::{RedisReplayCache, replay_key};
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::RawGatewayConfig;
use mcp_auth_testkit::{PrivateRedis, PrivateRedisCluster};

mod common;

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#;
/// The gateways' HTTPSig `future_skew` here: how long after a loss of memory fresh
/// proofs are still refused (the default is 5 s; 1 s keeps the test short).
const SKEW: u64 = 1;
/// What the challenge says of a proof that may predate the cache's memory.
const PREDATES: &str = "may predate the replay cache";

/// A gateway of `resource` on its own port, its replay cache and session store in
/// `redis`: its base URL.
async fn gateway(
    resource: &str,
    authorization_server: &common::As,
    upstream: &str,
    redis: &str,
    listener: Option<tokio::net::TcpListener>,
) -> String {
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = RawGatewayConfig {
        upstream: Some(upstream.into()),
        resource: Some(resource.to_owned()),
        issuers: vec![authorization_server.issuer.clone()],
        replay_cache: Some(redis.into()),
        ..RawGatewayConfig::default()
    }
    .validate()
    .unwrap();
    config.resource.window.future_skew = SKEW;
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A client key, its bound token, and requests it signs (with a chosen nonce or a
/// random one).
struct Client {
    key: ProofKey,
    token: String,
    resource: String,
    http: reqwest::Client,
}

impl Client {
    async fn new(resource: &str, authorization_server: &common::As) -> Self {
        let key = ProofKey::generate_runtime(Algorithm::Ed25519).unwrap();
        let token = authorization_server
            .bound_token(&HttpSigSigner::new(key.clone()), resource)
            .await
            .access_token;
        Self {
            key,
            token,
            resource: resource.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// The headers of `body` signed now, with `nonce` (random when `None`).
    fn sign(&self, nonce: Option<&str>, body: &str, extra: &[(&str, &str)]) -> HeaderMap {
        let mut signer = HttpSigSigner::new(self.key.clone());
        if let Some(nonce) = nonce {
            signer = signer.with_fixed_nonce(nonce);
        }
        let mut head = http::Request::post(&self.resource)
            .header("accept", "application/json, text/event-stream");
        for (k, v) in extra {
            head = head.header(*k, *v);
        }
        common::sign(&signer, &self.token, head, body).headers
    }

    /// Sends `headers` with `body` to the gateway at `base`.
    async fn send(&self, base: &str, headers: &HeaderMap, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{base}/mcp"))
            .headers(headers.clone())
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// The key the gateway records `nonce` of this client's key under.
    fn replay_key(&self, nonce: &str) -> String {
        replay_key("httpsig", &self.key.thumbprint(), nonce)
    }
}

/// The challenge of a refusal, asserted to be HTTPSig's `invalid_signature`.
fn invalid_signature(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 401);
    let challenge = r
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
    assert!(
        r.headers().contains_key("accept-signature"),
        "{:?}",
        r.headers()
    );
    challenge
}

/// Asserts the 503 of a replay cache that cannot answer: `Retry-After`, no
/// challenge, no body.
async fn assert_fails_closed(r: reqwest::Response) {
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    assert!(r.headers().get("www-authenticate").is_none());
    assert_eq!(r.text().await.unwrap(), "");
}

/// `/readyz` of the gateway at `base`: its status and body.
async fn readiness(base: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The readiness answer once it is 200, or the last one after 30 s. Each store reconnects
/// on its own schedule: the replay cache can be back (requests accepted) while the session
/// store, which these stateless requests never use, is still between two attempts.
async fn readiness_once_ready(base: &str) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readiness(base).await;
        if status == 200 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the clock is past `since` + the skew: until then, a proof made now
/// could be mistaken for one made before the Redis servers started (their memory
/// begins at their start: docs/security.md).
async fn wait_past(since: i64) {
    let until = since + i64::try_from(SKEW).unwrap() + 1;
    while mcp_auth_core::unix_now() <= until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until a freshly signed request (a nonce from `nonce`, or random) is
/// accepted at `base`, for at most 30 s; every refusal on the way must be a 503
/// (Redis not back yet) or the refusal of a proof that predates the cache's memory.
async fn until_accepted(client: &Client, base: &str, nonce: impl Fn() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = nonce();
        let r = client
            .send(base, &client.sign(n.as_deref(), CALL, &[]), CALL)
            .await;
        match r.status().as_u16() {
            200 => return,
            503 => assert_fails_closed(r).await,
            _ => {
                let challenge = invalid_signature(&r);
                assert!(challenge.contains(PREDATES), "{challenge}");
            }
        }
        assert!(Instant::now() < deadline, "the gateway never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_down_mid_load_fails_closed_recovers_by_itself_and_no_replay_survives_the_restart() {
    let started = mcp_auth_core::unix_now();
    let Some(mut redis) = PrivateRedis::start("replay_outage single Redis") else {
        return;
    };
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let upstream = mcp_auth_testkit::mcp_upstream("sess-").await;
    let base = gateway(
        &resource,
        &authorization_server,
        &upstream.url,
        &redis.url(),
        Some(listener),
    )
    .await;
    let client = Arc::new(Client::new(&resource, &authorization_server).await);
    wait_past(started).await;

    // Accepted once, then a replay.
    let before = client.sign(None, CALL, &[]);
    assert_eq!(client.send(&base, &before, CALL).await.status(), 200);
    let challenge = invalid_signature(&client.send(&base, &before, CALL).await);
    assert!(challenge.contains("nonce was already used"), "{challenge}");

    // Load: fresh signed requests, one after another, each noted with the phase it
    // started and ended in (0 Redis up, 1 being killed, 2 down, 3 restarting).
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, base, phase, stop) =
            (client.clone(), base.clone(), phase.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let start = phase.load(Ordering::SeqCst);
                let r = client
                    .send(&base, &client.sign(None, CALL, &[]), CALL)
                    .await;
                let end = phase.load(Ordering::SeqCst);
                let retry_after = r.headers().get("retry-after").cloned();
                seen.push((start, end, r.status().as_u16(), retry_after));
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(1, Ordering::SeqCst);
    redis.kill();
    phase.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Down: a signed request fails closed; readiness names the stores.
    assert_fails_closed(
        client
            .send(&base, &client.sign(None, CALL, &[]), CALL)
            .await,
    )
    .await;
    let (status, body) = readiness(&base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["replay_cache"], "unavailable", "{body}");
    assert_eq!(body["session_store"], "unavailable", "{body}");
    assert_eq!(body["upstream"], "ok", "{body}");

    // Back, empty (no persistence): nothing restarted on the gateway's side.
    phase.store(3, Ordering::SeqCst);
    redis.start_again();
    until_accepted(&client, &base, || None).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let up: Vec<_> = seen.iter().filter(|s| s.0 == 0 && s.1 == 0).collect();
    let down: Vec<_> = seen.iter().filter(|s| s.0 == 2 && s.1 == 2).collect();
    assert!(!up.is_empty() && !down.is_empty(), "{seen:?}");
    assert!(up.iter().all(|s| s.2 == 200), "{up:?}");
    // Made while Redis was down: never accepted, always told when to retry.
    assert!(
        down.iter()
            .all(|s| s.2 == 503 && s.3.as_ref().is_some_and(|v| v == "2")),
        "{down:?}"
    );
    // Around the kill and the restart: accepted, refused as predating the cache's
    // memory, or failed closed — nothing else.
    assert!(
        seen.iter().all(|s| matches!(s.2, 200 | 401 | 503)),
        "{seen:?}"
    );
    let (status, body) = readiness_once_ready(&base).await;
    assert_eq!(status, 200, "{body}");

    // The request accepted before the outage, replayed within its window: Redis
    // forgot its nonce, and the memory marker refuses it.
    let replayed = client.send(&base, &before, CALL).await;
    let challenge = invalid_signature(&replayed);
    assert!(challenge.contains(PREDATES), "{challenge}");
    // A request signed now is accepted, once.
    let fresh = client.sign(None, CALL, &[]);
    assert_eq!(client.send(&base, &fresh, CALL).await.status(), 200);
    let challenge = invalid_signature(&client.send(&base, &fresh, CALL).await);
    assert!(challenge.contains("nonce was already used"), "{challenge}");
}

/// Candidate nonces (valid: 16+ base64url characters), unique per run.
fn nonces() -> impl Iterator<Item = String> {
    let run = mcp_auth_httpsig::sign::random_nonce().unwrap();
    (0..).map(move |i| format!("{run}-{i:05}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cluster_shares_nonces_and_sessions_and_a_dead_primary_fails_closed_for_its_slots_only()
 {
    let started = mcp_auth_core::unix_now();
    let Some(mut cluster) = PrivateRedisCluster::start("replay_outage Redis Cluster", 3) else {
        return;
    };
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let upstream = mcp_auth_testkit::mcp_upstream("sess-").await;
    let url = cluster.url();
    let a = gateway(
        &resource,
        &authorization_server,
        &upstream.url,
        &url,
        Some(listener),
    )
    .await;
    let b = gateway(&resource, &authorization_server, &upstream.url, &url, None).await;
    let client = Client::new(&resource, &authorization_server).await;
    wait_past(started).await;

    // Where each nonce lives: the gateway's key layout, asked of the cluster.
    let layout = RedisReplayCache::connect(
        &RedisTarget::parse(&url).unwrap(),
        "mcp-auth:replay:",
        Duration::from_secs(1),
    )
    .unwrap();
    let owner = |nonce: &str| cluster.owner_of(&layout.redis_key(&client.replay_key(nonce)));
    for nonce in nonces().take(5) {
        let key = layout.redis_key(&client.replay_key(&nonce));
        assert_eq!(key_slot(&key), cluster.slot_of(&key), "{key}");
    }
    let mut candidates = nonces();
    let first = candidates.next().unwrap();
    let doomed = owner(&first);
    let mut on = |dead: bool, count: usize| -> Vec<String> {
        candidates
            .by_ref()
            .filter(|n| (owner(n) == doomed) == dead)
            .take(count)
            .collect()
    };
    let on_dead = on(true, 3);
    let on_live = on(false, 3);
    let later_on_dead = std::sync::Mutex::new(on(true, 300).into_iter());

    // Accepted at one gateway, a replay at the other.
    let accepted = client.sign(Some(&on_dead[0]), CALL, &[]);
    assert_eq!(client.send(&a, &accepted, CALL).await.status(), 200);
    let challenge = invalid_signature(&client.send(&b, &accepted, CALL).await);
    assert!(challenge.contains("nonce was already used"), "{challenge}");

    // A session bound at one gateway is its owner's at the other (the binding is in
    // the cluster), and an id never bound is unknown there.
    let init = client
        .send(&a, &client.sign(None, INITIALIZE, &[]), INITIALIZE)
        .await;
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let again = client.sign(None, CALL, &[("mcp-session-id", &session)]);
    assert_eq!(client.send(&b, &again, CALL).await.status(), 200);
    let unknown = client.sign(None, CALL, &[("mcp-session-id", "sess-never")]);
    assert_eq!(client.send(&b, &unknown, CALL).await.status(), 404);

    // One primary killed: the nonces it holds cannot be checked (503, never accepted);
    // the others' still can.
    cluster.node_mut(doomed).kill();
    for nonce in &on_dead[1..] {
        let r = client
            .send(&a, &client.sign(Some(nonce), CALL, &[]), CALL)
            .await;
        assert_fails_closed(r).await;
    }
    for nonce in &on_live {
        let r = client
            .send(&b, &client.sign(Some(nonce), CALL, &[]), CALL)
            .await;
        assert_eq!(r.status(), 200, "nonce {nonce} on a live primary");
    }
    let (status, body) = readiness(&a).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["replay_cache"], "unavailable", "{body}");

    // The primary back, empty: service recovers by itself.
    cluster.node_mut(doomed).start_again();
    cluster.wait_until_ok();
    until_accepted(&client, &a, || later_on_dead.lock().unwrap().next()).await;
    let (status, body) = readiness(&a).await;
    assert_eq!(status, 200, "{body}");

    // What the restarted primary forgot is not accepted again, at the other gateway
    // either (which may fail closed until its connection to the node is re-made).
    let deadline = Instant::now() + Duration::from_secs(30);
    let replayed = loop {
        let r = client.send(&b, &accepted, CALL).await;
        if r.status() != 503 || Instant::now() > deadline {
            break r;
        }
        assert_fails_closed(r).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let challenge = invalid_signature(&replayed);
    assert!(challenge.contains(PREDATES), "{challenge}");
}

#[test]
fn replay_cache_names_one_redis_or_a_cluster_and_nothing_else() {
    let raw = |replay_cache: &str| RawGatewayConfig {
        replay_cache: Some(replay_cache.into()),
        ..common::gateway::minimal_config()
    };
    let cluster = raw("redis-cluster://127.0.0.1:7000,127.0.0.1:7001")
        .validate()
        .unwrap();
    assert!(matches!(cluster.replay_cache, Some(RedisTarget::Cluster(ref n)) if n.len() == 2));
    let single = raw("redis://127.0.0.1:6379/").validate().unwrap();
    assert!(matches!(single.replay_cache, Some(RedisTarget::Single(_))));
    for bad in [
        "memcached://x",
        "redis-cluster://a",
        "redis-cluster://a:1/2",
    ] {
        let e = raw(bad).validate().unwrap_err().to_string();
        assert!(e.starts_with("replay_cache: "), "{bad}: {e}");
    }
}
