//! The buckets of one process: a bounded moka cache from key to theoretical arrival
//! time, each key updated under moka's per-key lock (`and_compute_with`), so
//! concurrent requests of one principal never lose an update.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use moka::ops::compute::Op;

use super::RateKey;
use super::gcra::{Decision, Gcra};

/// The most keys the memory store holds; past it moka drops or declines keys (a key
/// not kept starts again with a full bucket). An attacker minting subjects cannot grow
/// the memory beyond it.
pub const MEMORY_CAPACITY: u64 = 100_000;

/// The time the memory store reads, in µs: monotonic (the wall clock may step), or
/// set by a test.
#[derive(Debug, Clone)]
pub(crate) enum Ticker {
    /// Microseconds since this instant.
    Monotonic(Instant),
    /// Microseconds as a test sets them.
    #[cfg_attr(not(test), allow(dead_code))]
    Manual(Arc<AtomicU64>),
}

impl Ticker {
    fn now(&self) -> u64 {
        match self {
            Self::Monotonic(start) => {
                u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
            }
            Self::Manual(now) => now.load(Ordering::SeqCst),
        }
    }
}

/// Buckets in this process.
#[derive(Clone)]
pub(crate) struct MemoryStore {
    /// Key → theoretical arrival time (µs of `ticker`). An entry lives the refill time
    /// after its last write: by then its time is past and it means a full bucket,
    /// exactly as an absent key does.
    buckets: moka::sync::Cache<RateKey, u64>,
    ticker: Ticker,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.buckets.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store for buckets of `gcra`, at most `capacity` keys, reading `ticker`.
    pub(crate) fn new(gcra: &Gcra, capacity: u64, ticker: Ticker) -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(gcra.refill().max(std::time::Duration::from_millis(1)))
                .build(),
            ticker,
        }
    }

    /// Decides a request of `key` now, recording it when allowed (a refused request
    /// writes nothing).
    pub(crate) fn check(&self, gcra: &Gcra, key: &RateKey) -> Decision {
        let now = self.ticker.now();
        let mut decision = Decision::Refuse { wait: 0 };
        self.buckets.entry(*key).and_compute_with(|entry| {
            decision = gcra.decide(entry.map(|e| e.into_value()), now);
            match decision {
                Decision::Allow { tat } => Op::Put(tat),
                Decision::Refuse { .. } => Op::Nop,
            }
        });
        decision
    }

    /// How many keys are held (moka's estimate, for tests of the bound).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }
}
