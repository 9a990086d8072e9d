//! Unit tests of the bucket arithmetic (with an injected clock), the keys and the
//! `[rate_limit]` table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::gcra::{Decision, Gcra, MICROS, retry_after};
use super::memory::Ticker;
use super::*;

/// A memory limiter of `rate`/`burst` whose clock the test moves (µs).
fn limiter(rate: f64, burst: Option<u32>) -> (RateLimiter, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(1_000 * MICROS));
    let config = RateLimitConfig {
        rate,
        burst,
        ..RateLimitConfig::default()
    };
    config.validate().unwrap();
    let limiter = RateLimiter::in_memory(&config, 1_000, Ticker::Manual(now.clone()));
    (limiter, now)
}

fn advance(now: &AtomicU64, micros: u64) {
    now.fetch_add(micros, Ordering::SeqCst);
}

fn check(limiter: &RateLimiter, key: &RateKey) -> Result<(), Limited> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(limiter.check(key))
}

fn too_many(seconds: u64) -> Result<(), Limited> {
    Err(Limited::TooMany {
        retry_after: Duration::from_secs(seconds),
    })
}

/// Fails if a fresh key did not get `burst` at once, or the refill were faster or
/// slower than `rate`.
#[test]
fn a_fresh_key_gets_the_burst_then_one_per_interval() {
    let (limiter, now) = limiter(2.0, Some(3));
    let key = limiter.key("https://as", "alice", "app");
    for _ in 0..3 {
        assert_eq!(check(&limiter, &key), Ok(()));
    }
    assert_eq!(check(&limiter, &key), too_many(1));
    // Half a second (one interval at 2/s) gives back one token, not two.
    advance(&now, MICROS / 2 - 1);
    assert_eq!(check(&limiter, &key), too_many(1));
    advance(&now, 1);
    assert_eq!(check(&limiter, &key), Ok(()));
    assert_eq!(check(&limiter, &key), too_many(1));
    // A long pause fills the bucket up to the burst, never beyond it.
    advance(&now, 3_600 * MICROS);
    for _ in 0..3 {
        assert_eq!(check(&limiter, &key), Ok(()));
    }
    assert_eq!(check(&limiter, &key), too_many(1));
    // Another principal has its own bucket.
    assert_eq!(
        check(&limiter, &limiter.key("https://as", "bob", "app")),
        Ok(())
    );
}

/// Fails if rates below one per second were rounded to 0 or 1 per second, or
/// `Retry-After` were rounded down.
#[test]
fn half_a_request_per_second_allows_one_every_two_seconds() {
    let (limiter, now) = limiter(0.5, None);
    let key = limiter.key("i", "s", "c");
    assert_eq!(check(&limiter, &key), Ok(()));
    assert_eq!(check(&limiter, &key), too_many(2));
    advance(&now, MICROS);
    assert_eq!(check(&limiter, &key), too_many(1));
    advance(&now, MICROS - 1);
    // One microsecond left: still a whole second to announce.
    assert_eq!(check(&limiter, &key), too_many(1));
    advance(&now, 1);
    assert_eq!(check(&limiter, &key), Ok(()));
    assert_eq!(check(&limiter, &key), too_many(2));
}

/// Fails if refused requests consumed tokens (a client retrying too early would then
/// never get through).
#[test]
fn refused_requests_consume_nothing() {
    let (limiter, now) = limiter(1.0, Some(2));
    let key = limiter.key("i", "s", "c");
    assert_eq!(check(&limiter, &key), Ok(()));
    assert_eq!(check(&limiter, &key), Ok(()));
    for _ in 0..100 {
        assert_eq!(check(&limiter, &key), too_many(1));
    }
    advance(&now, MICROS);
    assert_eq!(check(&limiter, &key), Ok(()));
    assert_eq!(check(&limiter, &key), too_many(1));
}

/// The arithmetic alone: the boundary is `next − now ≤ capacity`; a stored time in the
/// past means a full bucket.
#[test]
fn gcra_decisions_at_the_boundary() {
    let gcra = Gcra::new(4.0, 2);
    assert_eq!(gcra.interval, 250_000);
    assert_eq!(gcra.capacity, 500_000);
    assert_eq!(gcra.refill(), Duration::from_millis(500));
    assert_eq!(gcra.decide(None, 10), Decision::Allow { tat: 250_010 });
    assert_eq!(
        gcra.decide(Some(250_010), 10),
        Decision::Allow { tat: 500_010 }
    );
    assert_eq!(
        gcra.decide(Some(500_010), 10),
        Decision::Refuse { wait: 250_000 }
    );
    assert_eq!(
        gcra.decide(Some(5), 1_000_000),
        Decision::Allow { tat: 1_250_000 }
    );
    // A rate above a million per second still has an interval (of 1 µs).
    assert_eq!(Gcra::new(MAX_RATE, 1).interval, 1);
}

/// Fails if `Retry-After` were rounded down or could be 0.
#[test]
fn retry_after_is_whole_seconds_rounded_up_at_least_one() {
    assert_eq!(retry_after(0), Duration::from_secs(1));
    assert_eq!(retry_after(1), Duration::from_secs(1));
    assert_eq!(retry_after(MICROS), Duration::from_secs(1));
    assert_eq!(retry_after(MICROS + 1), Duration::from_secs(2));
    assert_eq!(retry_after(59 * MICROS + 500_000), Duration::from_secs(60));
}

/// Fails if the store kept every key an attacker mints.
#[test]
fn the_memory_store_is_bounded() {
    let config = RateLimitConfig {
        rate: 1.0,
        ..RateLimitConfig::default()
    };
    let now = Arc::new(AtomicU64::new(0));
    let limiter = RateLimiter::in_memory(&config, 10, Ticker::Manual(now));
    for i in 0..1_000 {
        let key = limiter.key("i", &format!("minted-{i}"), "c");
        assert_eq!(check(&limiter, &key), Ok(()));
    }
    let Store::Memory(memory) = &limiter.store else {
        panic!("not in memory");
    };
    assert!(memory.len() <= 10, "{} keys held", memory.len());
}

fn with_per(per: RateLimitPer) -> RateLimiter {
    let config = RateLimitConfig {
        rate: 1.0,
        per,
        ..RateLimitConfig::default()
    };
    RateLimiter::from_config(&config).unwrap().unwrap()
}

/// Fails if `per` were ignored, the issuer left out, or the parts concatenated
/// without their lengths.
#[test]
fn keys_follow_per_and_never_collide_by_concatenation() {
    let subject = with_per(RateLimitPer::Subject);
    let client = with_per(RateLimitPer::Client);
    let k = subject.key("https://as", "alice", "app");
    assert_eq!(k, subject.key("https://as", "alice", "other-app"));
    assert_ne!(k, subject.key("https://as", "bob", "app"));
    assert_ne!(k, subject.key("https://as2", "alice", "app"));
    assert_ne!(subject.key("a", "bc", "x"), subject.key("ab", "c", "x"));
    let c = client.key("https://as", "alice", "app");
    assert_eq!(c, client.key("https://as", "bob", "app"));
    assert_ne!(c, client.key("https://as", "alice", "other-app"));
    assert_ne!(client.key("a", "x", "bc"), client.key("ab", "x", "c"));
    // The same text as a subject and as a client id: two buckets.
    assert_ne!(
        subject.key("i", "same", "same"),
        client.key("i", "same", "same")
    );
    // Fixed size, whatever the subject's size.
    let long = "s".repeat(100_000);
    assert_eq!(subject.key("i", &long, "c").to_hex().len(), 64);
    assert_eq!(
        redis_key(&k),
        format!("mcp-auth:rl:{}", k.to_hex()),
        "the Redis key layout"
    );
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    rate_limit: RateLimitConfig,
}

fn parse(text: &str) -> Result<RateLimitConfig, String> {
    toml::from_str::<File>(text)
        .map(|f| f.rate_limit)
        .map_err(|e| e.to_string())
}

/// Fails if a default changed or a value were taken unchecked.
#[test]
fn the_table_has_safe_defaults() {
    assert_eq!(parse("").unwrap(), RateLimitConfig::default());
    let off = parse("[rate_limit]\n").unwrap();
    assert_eq!(off, RateLimitConfig::default());
    assert!(!off.enabled());
    assert_eq!(*off.store, "memory");
    assert_eq!(off.per, RateLimitPer::Subject);
    assert_eq!(off.on_store_error, OnStoreError::Refuse);
    assert!(RateLimiter::from_config(&off).unwrap().is_none());
    assert!(
        RateLimiter::from_config(&parse("[rate_limit]\nrate = 0\n").unwrap())
            .unwrap()
            .is_none()
    );
    assert_eq!(parse("[rate_limit]\nrate = 2\n").unwrap().burst(), 2);
    assert_eq!(parse("[rate_limit]\nrate = 2.5\n").unwrap().burst(), 3);
    assert_eq!(parse("[rate_limit]\nrate = 0.5\n").unwrap().burst(), 1);
    let full = parse(
        "[rate_limit]\nrate = 10\nburst = 20\nper = \"client\"\n\
         store = \"redis-cluster://127.0.0.1:7000,127.0.0.1:7001\"\non_store_error = \"allow\"\n",
    )
    .unwrap();
    assert_eq!(
        full,
        RateLimitConfig {
            rate: 10.0,
            burst: Some(20),
            per: RateLimitPer::Client,
            store: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001".into(),
            on_store_error: OnStoreError::Allow,
        }
    );
    assert_eq!(full.burst(), 20);
}

/// Fails if a bad value were accepted, or refused without saying which.
#[test]
fn bad_values_are_refused_clearly() {
    for (text, expected) in [
        ("rate = 1\nburts = 2", "unknown field `burts`"),
        ("rate = -1", "rate_limit.rate = -1"),
        ("rate = nan", "rate_limit.rate = NaN"),
        ("rate = inf", "rate_limit.rate = inf"),
        ("rate = 2000000", "rate_limit.rate = 2000000"),
        ("rate = 0.000001", "rate_limit.rate"),
        ("rate = 1\nburst = 0", "rate_limit.burst = 0"),
        ("rate = 1\nburst = 2000000", "rate_limit.burst = 2000000"),
        ("rate = 0.001\nburst = 1000000", "30 days"),
        ("rate = 1\nper = \"token\"", "unknown variant `token`"),
        (
            "rate = 1\non_store_error = \"ignore\"",
            "unknown variant `ignore`",
        ),
        ("rate = 1\nstore = \"memcached://h:1\"", "rate_limit.store"),
        ("rate = 1\nstore = \"\"", "rate_limit.store"),
        (
            "rate = 1\nstore = \"redis-cluster://h1:1,h2\"",
            "node 2 (counted from 1)",
        ),
        ("rate = 1\nstore = \"redis://h:1/#insecure\"", "#insecure"),
    ] {
        let error = parse(&format!("[rate_limit]\n{text}\n")).unwrap_err();
        assert!(error.contains(expected), "{text}: {error}");
    }
    // A bad store is refused even while the limit is off.
    assert!(parse("[rate_limit]\nstore = \"nope\"\n").is_err());
    // Built in code, checked by from_config.
    let negative = RateLimitConfig {
        rate: -1.0,
        ..RateLimitConfig::default()
    };
    assert_eq!(
        RateLimiter::from_config(&negative).unwrap_err(),
        RateLimitError::Rate(-1.0)
    );
}

/// Fails if a Redis store built outside a runtime panicked instead of saying so.
#[test]
fn a_redis_store_needs_a_runtime() {
    let config = RateLimitConfig {
        rate: 1.0,
        store: "redis://127.0.0.1:1/".into(),
        ..RateLimitConfig::default()
    };
    assert_eq!(
        RateLimiter::from_config(&config).unwrap_err(),
        RateLimitError::NoRuntime
    );
}

/// Fails if an unreachable Redis let requests through under `refuse`, or hung.
#[tokio::test]
async fn an_unreachable_redis_refuses_by_default_and_allows_when_told() {
    let mut config = RateLimitConfig {
        rate: 1.0,
        store: "redis://127.0.0.1:1/".into(),
        ..RateLimitConfig::default()
    };
    let refusing = RateLimiter::from_config(&config).unwrap().unwrap();
    assert_eq!(refusing.kind(), "redis");
    let key = refusing.key("i", "s", "c");
    assert_eq!(refusing.check(&key).await, Err(Limited::StoreUnavailable));
    assert!(matches!(
        refusing.check_ready().await,
        Err(RateLimitError::Unavailable(_))
    ));
    config.on_store_error = OnStoreError::Allow;
    let allowing = RateLimiter::from_config(&config).unwrap().unwrap();
    assert_eq!(allowing.check(&key).await, Ok(()));
    assert_eq!(allowing.check(&key).await, Ok(()));
}
