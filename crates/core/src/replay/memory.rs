//! The in-process replay cache.

use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use super::{Freshness, OneTimeUse, ReplayCache, ReplayError, ReplayFuture};

/// An in-process replay cache: a sharded hash map of key → deadline. Expired
/// entries are swept from a shard when it has doubled in size since its last sweep,
/// so the cost per request stays constant (amortised). An entry is 16 bytes: a
/// 96-bit digest of the key and the deadline in whole seconds since the cache was
/// made, rounded up (an entry lives up to a second longer than asked, never
/// shorter). A gateway at 5,000 requests/s holds a few hundred thousand; as strings
/// with an `Instant` they cost ~120 bytes each, and the soak of
/// `mcp-auth bench gateway` showed it.
///
/// The digest is keyed ([`KeyDigest`]: std's SipHash-1-3 and a seeded foldhash),
/// its keys secret to the process: nobody outside it can compute the digest, so
/// nobody can choose keys that collide, and a chance collision (2^-96 for a pair)
/// could only refuse a fresh request, never accept a replay. It was a SHA-256 before;
/// collision resistance against someone who knows the function is not needed here,
/// and SipHash costs a fraction of it.
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
    digest: KeyDigest,
}

#[derive(Default)]
struct Shard {
    entries: std::collections::HashMap<[u8; 12], u32, PreHashed>,
    sweep_at: usize,
}

/// The 96-bit digest of a key and the shard it belongs in: 64 bits of std's keyed
/// hasher (SipHash-1-3, a keyed PRF, its key from the OS's random source once per
/// thread, each cache on that thread taking the next in sequence) and 64 of foldhash
/// (seeded per process, about a tenth of SipHash's cost here, not a PRF), of which 32
/// complete the digest and 32 choose the shard. Two keys get the same entry only if
/// their SipHash halves collide, so choosing a collision is at least as hard as
/// choosing a 64-bit SipHash collision under a key nobody outside the process knows
/// (foldhash's seed may be learnt by whoever can watch its outputs; nobody sees these);
/// a chance one stays 2^-96 for a pair. A collision could only refuse a fresh
/// request. (A second SipHash pass was a fifth of this cache's cost per check.)
struct KeyDigest {
    sip: std::collections::hash_map::RandomState,
    fold: foldhash::quality::RandomState,
}

impl KeyDigest {
    fn new() -> Self {
        Self {
            sip: std::collections::hash_map::RandomState::new(),
            fold: foldhash::quality::RandomState::default(),
        }
    }

    /// The entry's key (96 bits) and its shard (from the 32 bits left over).
    fn of(&self, key: &str) -> ([u8; 12], usize) {
        use std::hash::BuildHasher as _;
        let high = self.sip.hash_one(key).to_le_bytes();
        let low = self.fold.hash_one(key).to_le_bytes();
        let mut digest = [0u8; 12];
        digest[..8].copy_from_slice(&high);
        digest[8..].copy_from_slice(&low[..4]);
        let rest = u32::from_le_bytes([low[4], low[5], low[6], low[7]]);
        (digest, rest as usize % SHARDS)
    }
}

/// The hash map's hasher for keys that are keyed digests already: their bytes
/// folded into a word, not hashed again (they are unpredictable outside the
/// process already, so the map needs no second SipHash against flooding).
#[derive(Default, Clone, Copy)]
struct PreHashed;

impl std::hash::BuildHasher for PreHashed {
    type Hasher = Folded;
    fn build_hasher(&self) -> Folded {
        Folded(0)
    }
}

/// See [`PreHashed`]: every word written, folded into one.
struct Folded(u64);

impl std::hash::Hasher for Folded {
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 12]` hashes as its length, then its 12 bytes: both fold in.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
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
                        entries: std::collections::HashMap::default(),
                        sweep_at: MIN_SWEEP,
                    })
                })
                .collect(),
            digest: KeyDigest::new(),
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
        let since = self.epoch.elapsed();
        let now = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let until = since + ttl;
        let deadline = if ttl.is_zero() {
            now
        } else {
            u32::try_from(until.as_secs() + u64::from(until.subsec_nanos() > 0)).unwrap_or(u32::MAX)
        };
        let (key, index) = self.digest.of(key);
        let key = &key;
        let mut shard = self.shards[index]
            .lock()
            .map_err(|_| ReplayError::Unavailable("replay cache lock poisoned".into()))?;
        // The sweep drops only expired entries, which a key found below would be
        // treated as anyway (fresh, its deadline renewed): sweeping before the lookup
        // lets the lookup and the insertion be one probe of the map.
        if shard.entries.len() >= shard.sweep_at {
            shard.entries.retain(|_, d| *d > now);
            shard.sweep_at = (shard.entries.len() * 2).max(MIN_SWEEP);
        }
        match shard.entries.entry(*key) {
            Entry::Occupied(existing) if *existing.get() > now => Ok(Freshness::Replayed),
            Entry::Occupied(mut expired) => {
                expired.insert(deadline);
                Ok(Freshness::Fresh)
            }
            Entry::Vacant(new) => {
                new.insert(deadline);
                Ok(Freshness::Fresh)
            }
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_record<'a>(&'a self, one_time: OneTimeUse<'a>) -> ReplayFuture<'a> {
        ReplayFuture::ready(self.check_now(one_time.key, one_time.ttl))
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

    #[test]
    fn key_digests_are_keyed_for_each_cache() {
        let (a, b) = (KeyDigest::new(), KeyDigest::new());
        let key = "httpsig:thumbprint:nonce";
        // The same cache: the same digest every time.
        assert_eq!(a.of(key), a.of(key));
        // Another cache, other keys: another digest (equal with odds of 2^-96).
        assert_ne!(a.of(key).0, b.of(key).0);
        assert_ne!(a.of(key).0, a.of("httpsig:thumbprint:nonce2").0);
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
        // A zero TTL expires at once: the next use is fresh again, and renews the
        // entry: the one after that is a replay.
        assert_eq!(
            cache
                .check_and_record(once("k:n", Duration::from_secs(5)))
                .await
                .unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            cache
                .check_and_record(once("k:n", Duration::from_secs(5)))
                .await
                .unwrap(),
            Freshness::Replayed
        );
    }

    /// A sweep that runs as a live key is checked again keeps it: still a replay.
    #[tokio::test]
    async fn a_sweep_keeps_live_entries() {
        let cache = MemoryReplayCache::new();
        let live = Duration::from_secs(60);
        let fresh = cache.check_and_record(once("k:live", live)).await.unwrap();
        assert_eq!(fresh, Freshness::Fresh);
        // Enough expired entries that every shard sweeps, the live key's included.
        for i in 0..(SHARDS * MIN_SWEEP * 2) {
            let key = format!("k:{i}");
            let _ = cache.check_and_record(once(&key, Duration::ZERO)).await;
        }
        assert!(cache.len() < SHARDS * MIN_SWEEP * 2, "{}", cache.len());
        assert_eq!(
            cache.check_and_record(once("k:live", live)).await.unwrap(),
            Freshness::Replayed
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
