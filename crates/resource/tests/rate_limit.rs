//! The per-principal rate limiter (`mcp_auth_resource::rate_limit`) against real
//! stores: the memory store hammered by concurrent tasks, and Redis processes of the
//! test's own (the test kit's [`PrivateRedis`] and [`PrivateRedisCluster`], never the
//! system Redis), killed and restarted.
//!
//! - 50 concurrent checks of one key in memory: exactly `burst` pass;
//! - two limiters (two gateways) on one Redis share one bucket; after the announced
//!   `Retry-After` one more request passes; the script survives `SCRIPT FLUSH`;
//! - Redis killed: `StoreUnavailable` with `on_store_error = "refuse"`, `Ok` with
//!   `allow`, `check_ready` fails; Redis back: checks work again by themselves;
//! - a Redis that accepts connections and never answers: `StoreUnavailable`, not a
//!   hang;
//! - a 3-primary Redis Cluster: two limiters share the buckets; a dead primary fails
//!   closed the keys it holds and no other.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_auth_resource::rate_limit::{
    Limited, OnStoreError, RateKey, RateLimitConfig, RateLimiter, redis_key,
};
use mcp_auth_testkit::{PrivateRedis, PrivateRedisCluster};

fn limiter(rate: f64, burst: u32, store: &str, on_store_error: OnStoreError) -> RateLimiter {
    let config = RateLimitConfig {
        rate,
        burst: Some(burst),
        store: store.into(),
        on_store_error,
        ..RateLimitConfig::default()
    };
    RateLimiter::from_config(&config).unwrap().unwrap()
}

/// Checks `key` at `limiters` in turn, `count` times: how many passed, and every
/// refusal.
async fn round_robin(
    limiters: &[&RateLimiter],
    key: &RateKey,
    count: usize,
) -> (usize, Vec<Limited>) {
    let mut passed = 0;
    let mut refused = Vec::new();
    for i in 0..count {
        match limiters[i % limiters.len()].check(key).await {
            Ok(()) => passed += 1,
            Err(limited) => refused.push(limited),
        }
    }
    (passed, refused)
}

/// Waits (up to 30 s) until `limiter`'s store answers again after a restart.
async fn until_ready(limiter: &RateLimiter) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while limiter.check_ready().await.is_err() {
        assert!(Instant::now() < deadline, "the limiter never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn retry_after(limited: &Limited) -> Duration {
    match limited {
        Limited::TooMany { retry_after } => *retry_after,
        Limited::StoreUnavailable => panic!("refused for the store, not the rate"),
    }
}

/// Fails if the memory store lost updates under concurrency (more than `burst` would
/// pass) or refused a request it had room for (fewer).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_of_one_principal_in_memory_pass_exactly_the_burst() {
    // One request per 100 s refilled: nothing comes back during the test.
    let limiter = Arc::new(limiter(0.01, 10, "memory", OnStoreError::Refuse));
    assert_eq!(limiter.kind(), "memory");
    let key = limiter.key("https://as.example", "alice", "app");
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let limiter = limiter.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                limiter.check(&key).await
            })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => passed += 1,
            Err(limited) => assert!(retry_after(&limited) >= Duration::from_secs(1)),
        }
    }
    assert_eq!(passed, 10);
    // Another principal is not affected.
    let bob = limiter.key("https://as.example", "bob", "app");
    assert_eq!(limiter.check(&bob).await, Ok(()));
}

/// Fails if two gateways on one Redis had a bucket each (10 would pass), if a refusal
/// consumed a token or `Retry-After` were too short (the retry would be refused), if
/// the key had no lifetime, or if `EVALSHA` had no fallback once Redis forgot the
/// script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_share_one_limit() {
    let Some(redis) = PrivateRedis::start("rate_limit shared Redis") else {
        eprintln!("!!! rate_limit shared Redis: SKIPPED, redis-server is not installed");
        return;
    };
    let url = redis.url();
    // Burst 5, one request per 2 s.
    let a = limiter(0.5, 5, &url, OnStoreError::Refuse);
    let b = limiter(0.5, 5, &url, OnStoreError::Refuse);
    assert_eq!(a.kind(), "redis");
    a.check_ready().await.unwrap();
    let key = a.key("https://as.example", "alice", "app");
    assert_eq!(key, b.key("https://as.example", "alice", "app"));

    let (passed, refused) = round_robin(&[&a, &b], &key, 12).await;
    assert_eq!(passed, 5);
    assert_eq!(refused.len(), 7);
    let wait = refused.iter().map(retry_after).max().unwrap();
    assert!(wait >= Duration::from_secs(1), "{wait:?}");
    assert!(wait <= Duration::from_secs(2), "{wait:?}");

    // The bucket's key lives until the bucket would be full again (≤ 5 × 2 s).
    let pttl: i64 = redis
        .cli(&["PTTL", &redis_key(&key)])
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10_000).contains(&pttl), "PTTL {pttl}");

    // After the announced wait, one more passes — at either gateway — and only one.
    tokio::time::sleep(wait).await;
    assert_eq!(b.check(&key).await, Ok(()));
    assert!(matches!(a.check(&key).await, Err(Limited::TooMany { .. })));

    // Redis forgets its scripts: the check still works (EVAL when EVALSHA fails).
    assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]).as_deref(), Some("OK"));
    let carol = a.key("https://as.example", "carol", "app");
    assert_eq!(a.check(&carol).await, Ok(()));
    assert_eq!(b.check(&carol).await, Ok(()));
}

/// Fails if a dead Redis let requests through under `refuse` (the default), refused
/// them under `allow`, or if the limiter did not recover by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_refuses_or_allows_as_configured_and_recovery_is_automatic() {
    let Some(mut redis) = PrivateRedis::start("rate_limit Redis outage") else {
        eprintln!("!!! rate_limit Redis outage: SKIPPED, redis-server is not installed");
        return;
    };
    let url = redis.url();
    // One request per 10 s refilled: nothing comes back during the test.
    let refusing = limiter(0.1, 2, &url, OnStoreError::Refuse);
    let allowing = limiter(0.1, 2, &url, OnStoreError::Allow);
    let key = refusing.key("https://as.example", "alice", "app");
    assert_eq!(refusing.check(&key).await, Ok(()));
    assert_eq!(allowing.check(&key).await, Ok(()));
    assert!(matches!(
        refusing.check(&key).await,
        Err(Limited::TooMany { .. })
    ));

    redis.kill();
    for _ in 0..3 {
        assert_eq!(refusing.check(&key).await, Err(Limited::StoreUnavailable));
        assert_eq!(allowing.check(&key).await, Ok(()));
    }
    assert!(refusing.check_ready().await.is_err());

    // Back, empty: both reconnect by themselves, the bucket starts full again, and
    // `allow` limits again (a refusal proves it reached Redis).
    redis.start_again();
    until_ready(&refusing).await;
    until_ready(&allowing).await;
    assert_eq!(refusing.check(&key).await, Ok(()));
    assert_eq!(refusing.check(&key).await, Ok(()));
    assert!(matches!(
        allowing.check(&key).await,
        Err(Limited::TooMany { .. })
    ));
}

/// Fails if a check waited on a Redis that never answers (the test would hang) or
/// let the request through under `refuse`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_is_a_store_error_not_a_hang() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    // Accepts connections and holds them, answering nothing.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let refusing = limiter(1.0, 2, &url, OnStoreError::Refuse);
    let key = refusing.key("i", "s", "c");
    assert_eq!(refusing.check(&key).await, Err(Limited::StoreUnavailable));
    assert!(refusing.check_ready().await.is_err());
    let allowing = limiter(1.0, 2, &url, OnStoreError::Allow);
    assert_eq!(allowing.check(&key).await, Ok(()));
    holder.abort();
}

/// Fails if the script touched more than one key or a fixed slot (a cluster would
/// refuse it or put every bucket on one node), if two gateways did not share the
/// buckets through the cluster, or if a dead primary stopped the keys of the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cluster_shares_the_buckets_and_a_dead_primary_fails_closed_for_its_keys_only() {
    let Some(mut cluster) = PrivateRedisCluster::start("rate_limit Redis Cluster", 3) else {
        eprintln!("!!! rate_limit Redis Cluster: SKIPPED, redis-server is not installed");
        return;
    };
    let url = cluster.url();
    let a = limiter(0.01, 3, &url, OnStoreError::Refuse);
    let b = limiter(0.01, 3, &url, OnStoreError::Refuse);
    assert_eq!(a.kind(), "redis-cluster");
    a.check_ready().await.unwrap();

    // Principals whose buckets live on every node.
    let keys: Vec<RateKey> = (0..64)
        .map(|i| a.key("https://as.example", &format!("user-{i}"), "app"))
        .collect();
    let owners: Vec<usize> = keys
        .iter()
        .map(|k| cluster.owner_of(&redis_key(k)))
        .collect();
    for node in 0..3 {
        assert!(owners.contains(&node), "no key on node {node}: {owners:?}");
    }
    for key in &keys[..6] {
        let (passed, refused) = round_robin(&[&a, &b], key, 5).await;
        assert_eq!(passed, 3, "{key:?}");
        assert!(
            refused
                .iter()
                .all(|l| retry_after(l) >= Duration::from_secs(1))
        );
    }

    let doomed = owners[0];
    let on_dead = keys.iter().zip(&owners).filter(|(_, o)| **o == doomed);
    let on_live = keys.iter().zip(&owners).filter(|(_, o)| **o != doomed);
    let (dead_key, live_key) = (
        *on_dead.map(|(k, _)| k).nth(1).unwrap(),
        *on_live.map(|(k, _)| k).next_back().unwrap(),
    );
    cluster.node_mut(doomed).kill();
    assert_eq!(a.check(&dead_key).await, Err(Limited::StoreUnavailable));
    assert_eq!(b.check(&live_key).await, Ok(()));
    assert!(a.check_ready().await.is_err());

    cluster.node_mut(doomed).start_again();
    cluster.wait_until_ok();
    until_ready(&a).await;
    assert_eq!(a.check(&dead_key).await, Ok(()));
}
