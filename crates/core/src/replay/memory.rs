//! The in-process replay cache.

use std::time::{Duration, Instant};

use super::{Freshness, OneTimeUse, ReplayCache, ReplayError, ReplayFuture};

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
/// A process restart empties it, and it does not refuse the proofs made before the
/// process started (it never answers [`Freshness::Forgotten`]): a restarted
/// single-instance gateway accepts once more a proof accepted by the previous process
/// within its window (`max_age + future_skew`, 35 s for HTTPSig by default). Refusing
/// them would refuse every request for `future_skew` after each start; deployments
/// where that replay matters run Redis, whose store detects its loss of memory
/// (docs/security.md, "Replay cache memory loss").
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
    fn check_and_record<'a>(&'a self, one_time: OneTimeUse<'a>) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(
            self.check_now(one_time.key, one_time.ttl),
        ))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once(key: &str, ttl: Duration) -> OneTimeUse<'_> {
        OneTimeUse {
            key,
            ttl,
            usable_from: 0,
        }
    }

    #[tokio::test]
    async fn memory_cache_accepts_once_then_reports_the_replay() {
        let cache = MemoryReplayCache::new();
        let ttl = Duration::from_secs(35);
        assert_eq!(
            cache.check_and_record(once("k:n", ttl)).await.unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            cache.check_and_record(once("k:n", ttl)).await.unwrap(),
            Freshness::Replayed
        );
        assert_eq!(
            cache.check_and_record(once("k:other", ttl)).await.unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn memory_cache_forgets_an_expired_entry() {
        let cache = MemoryReplayCache::new();
        assert_eq!(
            cache
                .check_and_record(once("k:n", Duration::ZERO))
                .await
                .unwrap(),
            Freshness::Fresh
        );
        // A zero TTL expires at once: the next use is fresh again.
        assert_eq!(
            cache
                .check_and_record(once("k:n", Duration::from_secs(5)))
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
                cache
                    .check_and_record(once(&key, Duration::ZERO))
                    .await
                    .unwrap(),
                Freshness::Fresh
            );
        }
        // Every entry expired at once: sweeps keep the map from holding them all.
        assert!(cache.len() < SHARDS * MIN_SWEEP * 2, "{}", cache.len());
    }
}
