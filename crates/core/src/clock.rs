//! The wall clock, injectable: every time-dependent check of the AS and the resource
//! side (token `exp`/`nbf`/`iat`, signature `created`/`expires`, DPoP `iat`, codes and
//! refresh tokens) reads the time through a [`Clock`], so a test can move time instead
//! of sleeping (the way rustls takes a `TimeProvider`). Production uses
//! [`SystemClock`]; tests use [`ManualClock`].

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current UNIX time in seconds.
pub trait Clock: Send + Sync + Debug {
    /// Seconds since the UNIX epoch.
    fn now(&self) -> i64;
}

/// A shared clock, as held by servers' state and configuration.
pub type SharedClock = Arc<dyn Clock>;

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        unix_now()
    }
}

/// The system clock as a [`SharedClock`]: the default of every configuration.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until told to move: for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock showing `now` (UNIX seconds).
    pub fn new(now: i64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(now),
        })
    }

    /// A clock showing the current system time, then standing still.
    pub fn starting_now() -> Arc<Self> {
        Self::new(unix_now())
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Moves the time by `seconds` (negative moves it back).
    pub fn advance(&self, seconds: i64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The current UNIX time in seconds from the system clock. Code that serves requests
/// reads time through its configured [`Clock`]; this is for what has none (CLI
/// output, key file metadata).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(30);
        assert_eq!(clock.now(), 1_030);
        clock.advance(-60);
        assert_eq!(clock.now(), 970);
        clock.set(5);
        assert_eq!(clock.now(), 5);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now() > 1_704_067_200);
    }
}
