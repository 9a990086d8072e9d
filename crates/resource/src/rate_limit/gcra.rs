//! The bucket arithmetic (GCRA), apart from any store, so that the memory store, the
//! Redis script and the unit tests share one definition.
//!
//! Times are integral microseconds: exact in a Lua number (a double) up to 2^53, which
//! the Redis server's epoch time in microseconds (about 1.7e15) stays far below.

use std::time::Duration;

/// Microseconds in a second.
pub(crate) const MICROS: u64 = 1_000_000;

/// A token bucket of `burst` tokens refilled at `rate` per second, as GCRA: the
/// emission interval (one token's refill time) and the capacity (a full bucket's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Microseconds to refill one token: `1/rate`, rounded, at least 1.
    pub(crate) interval: u64,
    /// Microseconds to refill the whole bucket: `burst · interval`.
    pub(crate) capacity: u64,
}

/// What [`Gcra::decide`] says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed: store this theoretical arrival time for the key.
    Allow {
        /// The new theoretical arrival time.
        tat: u64,
    },
    /// Refused, nothing stored: the request would be allowed after `wait` µs.
    Refuse {
        /// Microseconds until one token is back.
        wait: u64,
    },
}

impl Gcra {
    /// The bucket of `rate` (> 0, checked by the configuration) and `burst` (≥ 1).
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        // rate is at most MAX_RATE (1e6), so the interval is at least one µs; at least
        // MIN_RATE, so it fits a u64 easily.
        let interval = ((MICROS as f64) / rate).round().max(1.0) as u64;
        Self {
            interval,
            capacity: interval.saturating_mul(u64::from(burst)),
        }
    }

    /// The decision for a request at `now` (µs) on a key whose stored theoretical
    /// arrival time is `stored` (`None`: a fresh key, a full bucket). A stored time in
    /// the past counts as now: the bucket is full, not fuller.
    pub(crate) fn decide(&self, stored: Option<u64>, now: u64) -> Decision {
        let tat = stored.map_or(now, |tat| tat.max(now));
        let next = tat.saturating_add(self.interval);
        let wait = (next - now).saturating_sub(self.capacity);
        if wait == 0 {
            Decision::Allow { tat: next }
        } else {
            Decision::Refuse { wait }
        }
    }

    /// How long an untouched key takes to be full again: after that long its stored
    /// time is in the past and the entry can be forgotten.
    pub(crate) fn refill(&self) -> Duration {
        Duration::from_micros(self.capacity)
    }
}

/// `wait` µs as the seconds of `Retry-After`: rounded up, at least 1.
pub(crate) fn retry_after(wait: u64) -> Duration {
    Duration::from_secs(wait.div_ceil(MICROS).max(1))
}
