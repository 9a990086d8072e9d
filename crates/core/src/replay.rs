//! The replay cache: remembers each (key thumbprint, nonce) pair — or (jkt, jti) for
//! DPoP — for as long as a signature carrying it could still be accepted, so the same
//! signed request is accepted once.
//!
//! One trait, two stores: [`MemoryReplayCache`] (the default; one process) and
//! [`RedisReplayCache`] (`SET key 1 NX PX ttl`, shared by every instance behind a load
//! balancer). A store that cannot answer returns [`ReplayError::Unavailable`], and
//! callers fail closed (HTTP 503): a request is never accepted unchecked
//! (HTTPSIG-RS-13, HTTPSIG-RS-16).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A boxed future, so the trait can be used as `dyn ReplayCache`.
pub type ReplayFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Freshness, ReplayError>> + Send + 'a>>;

/// Whether a key was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// First use: the key is now recorded.
    Fresh,
    /// The key was recorded earlier and has not expired: a replay.
    Replayed,
}

/// The cache cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The shared store is unreachable or timed out.
    #[error("the replay cache is unavailable: {0}")]
    Unavailable(String),
}

/// Records one-time values for a time window.
pub trait ReplayCache: Send + Sync + std::fmt::Debug {
    /// Records `key` for `ttl` if it is not recorded yet, atomically.
    fn check_and_record<'a>(&'a self, key: &'a str, ttl: Duration) -> ReplayFuture<'a>;

    /// A short name for logs and metrics (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Whether the cache can answer now (readiness checks). In-process caches always
    /// can.
    fn check_ready(&self) -> ReadyFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// Why [`ReplayCache::check_once`] refused a one-time value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefusal {
    /// The value was recorded earlier and has not expired: a replay.
    #[error("the one-time value was already used")]
    Replayed,
    /// The cache could not answer; the caller fails closed (503).
    #[error(transparent)]
    Unavailable(#[from] ReplayError),
}

impl dyn ReplayCache {
    /// The one replay check every profile uses: `Ok` when `key` is recorded now for
    /// the first time, [`ReplayRefusal::Replayed`] when it was already,
    /// [`ReplayRefusal::Unavailable`] when the cache cannot say (never "accept
    /// unchecked").
    pub async fn check_once(&self, key: &str, ttl: Duration) -> Result<(), ReplayRefusal> {
        match self.check_and_record(key, ttl).await? {
            Freshness::Fresh => Ok(()),
            Freshness::Replayed => Err(ReplayRefusal::Replayed),
        }
    }
}

/// The future of [`ReplayCache::check_ready`].
pub type ReadyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ReplayError>> + Send + 'a>>;

/// The key a presentation's nonce is recorded under: the profile, the RFC 7638
/// thumbprint of the key that signed, and the nonce. Two clients choosing the same
/// nonce do not collide; the same key reusing one does.
pub fn replay_key(profile: &str, thumbprint: &str, nonce: &str) -> String {
    let mut key = String::with_capacity(profile.len() + thumbprint.len() + nonce.len() + 2);
    key.push_str(profile);
    key.push(':');
    key.push_str(thumbprint);
    key.push(':');
    key.push_str(nonce);
    key
}

/// An in-process replay cache: a sharded hash map of key → deadline. Expired
/// entries are swept from a shard when it has doubled in size since its last sweep,
/// so the cost per request stays constant (amortised). An entry is 16 bytes: the
/// first 96 bits of the key's SHA-256 and the deadline in whole seconds since the
/// cache was made, rounded up (an entry lives up to a second longer than asked,
/// never shorter). A gateway at 5,000 requests/s holds a few hundred thousand; as
/// strings with an `Instant` they cost ~120 bytes each, and the soak of
/// `mcp-auth bench gateway` showed it. A collision could only refuse a fresh
/// request, never accept a replay.
///
/// There is no size bound, on purpose: evicting a live entry would let its replay
/// through. Only requests whose signature verified are recorded, so its size is
/// bounded by legitimate traffic times the window.
///
/// (Measured: moka's per-entry-expiry cache cost ~16 µs per check here, a third of a
/// whole presentation check; this map costs well under 1 µs. See BENCHMARKS.md.)
pub struct MemoryReplayCache {
    shards: Box<[std::sync::Mutex<Shard>]>,
    epoch: Instant,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct Shard {
    entries: std::collections::HashMap<[u8; 12], u32>,
    sweep_at: usize,
}

const SHARDS: usize = 16;
const MIN_SWEEP: usize = 1024;

impl std::fmt::Debug for MemoryReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    std::sync::Mutex::new(Shard {
                        entries: std::collections::HashMap::new(),
                        sweep_at: MIN_SWEEP,
                    })
                })
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            epoch: Instant::now(),
        }
    }

    /// Entries held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.entries.len()).unwrap_or(0))
            .sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_now(&self, key: &str, ttl: Duration) -> Result<Freshness, ReplayError> {
        use std::hash::BuildHasher as _;
        let since = self.epoch.elapsed();
        let now = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let until = since + ttl;
        let deadline = if ttl.is_zero() {
            now
        } else {
            u32::try_from(until.as_secs() + u64::from(until.subsec_nanos() > 0)).unwrap_or(u32::MAX)
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let mut key = [0u8; 12];
        key.copy_from_slice(&digest.as_ref()[..12]);
        let key = &key;
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index]
            .lock()
            .map_err(|_| ReplayError::Unavailable("replay cache lock poisoned".into()))?;
        if let Some(existing) = shard.entries.get_mut(key) {
            if *existing > now {
                return Ok(Freshness::Replayed);
            }
            *existing = deadline;
            return Ok(Freshness::Fresh);
        }
        if shard.entries.len() >= shard.sweep_at {
            shard.entries.retain(|_, d| *d > now);
            shard.sweep_at = (shard.entries.len() * 2).max(MIN_SWEEP);
        }
        shard.entries.insert(*key, deadline);
        Ok(Freshness::Fresh)
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_record<'a>(&'a self, key: &'a str, ttl: Duration) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.check_now(key, ttl)))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// A replay cache in Redis: `SET <prefix><key> 1 NX PX <ttl>`, answered `OK` for a
/// first use and nil for a replay. The connection is made lazily and re-made after a
/// failure; every command times out after `timeout` (then the request fails closed).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisReplayCache {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayCache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[cfg(feature = "redis")]
impl RedisReplayCache {
    /// Connects (lazily) to `url` (`redis://host:port/db`). Keys are prefixed with
    /// `prefix` (e.g. `mcp-auth:replay:`). Must be called inside a Tokio runtime.
    pub fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, ReplayError> {
        let connection = crate::redis_connection::connect_lazy(url, timeout)
            .map_err(|e| ReplayError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    /// Sends `PING`: for readiness checks and to fail at startup rather than on the
    /// first request.
    pub async fn ping(&self) -> Result<(), ReplayError> {
        crate::redis_connection::ping(&self.connection)
            .await
            .map_err(|e| ReplayError::Unavailable(e.to_string()))
    }
}

#[cfg(feature = "redis")]
impl ReplayCache for RedisReplayCache {
    fn check_and_record<'a>(&'a self, key: &'a str, ttl: Duration) -> ReplayFuture<'a> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let millis = crate::redis_connection::px_millis(ttl);
            let reply: Option<String> = redis::cmd("SET")
                .arg(format!("{}{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(millis)
                .query_async(&mut connection)
                .await
                .map_err(|e| ReplayError::Unavailable(e.to_string()))?;
            Ok(match reply {
                Some(_) => Freshness::Fresh,
                None => Freshness::Replayed,
            })
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn check_ready(&self) -> ReadyFuture<'_> {
        Box::pin(self.ping())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_cache_accepts_once_then_reports_the_replay() {
        let cache = MemoryReplayCache::new();
        let ttl = Duration::from_secs(35);
        assert_eq!(
            cache.check_and_record("k:n", ttl).await.unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            cache.check_and_record("k:n", ttl).await.unwrap(),
            Freshness::Replayed
        );
        assert_eq!(
            cache.check_and_record("k:other", ttl).await.unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn check_once_accepts_once_then_refuses_as_replayed() {
        let cache: std::sync::Arc<dyn ReplayCache> = std::sync::Arc::new(MemoryReplayCache::new());
        let ttl = Duration::from_secs(35);
        assert_eq!(cache.check_once("k:once", ttl).await, Ok(()));
        assert_eq!(
            cache.check_once("k:once", ttl).await,
            Err(ReplayRefusal::Replayed)
        );
    }

    #[tokio::test]
    async fn memory_cache_forgets_an_expired_entry() {
        let cache = MemoryReplayCache::new();
        assert_eq!(
            cache.check_and_record("k:n", Duration::ZERO).await.unwrap(),
            Freshness::Fresh
        );
        // A zero TTL expires at once: the next use is fresh again.
        assert_eq!(
            cache
                .check_and_record("k:n", Duration::from_secs(5))
                .await
                .unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn expired_entries_are_swept_as_the_cache_grows() {
        let cache = MemoryReplayCache::new();
        for i in 0..(SHARDS * MIN_SWEEP * 3) {
            let key = format!("k:{i}");
            assert_eq!(
                cache.check_and_record(&key, Duration::ZERO).await.unwrap(),
                Freshness::Fresh
            );
        }
        // Every entry expired at once: sweeps keep the map from holding them all.
        assert!(cache.len() < SHARDS * MIN_SWEEP * 2, "{}", cache.len());
    }

    #[test]
    fn replay_keys_separate_profiles_keys_and_nonces() {
        assert_eq!(replay_key("httpsig", "tp", "n1"), "httpsig:tp:n1");
        assert_ne!(
            replay_key("httpsig", "tp", "n1"),
            replay_key("dpop", "tp", "n1")
        );
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn unreachable_redis_is_unavailable_not_fresh() {
        // Port 1 on loopback: nothing listens there.
        let cache: std::sync::Arc<dyn ReplayCache> = std::sync::Arc::new(
            RedisReplayCache::connect("redis://127.0.0.1:1/", "t:", Duration::from_millis(300))
                .unwrap(),
        );
        let refusal = cache
            .check_once("k:n", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(refusal, ReplayRefusal::Unavailable(_)));
    }
}
