//! Registered clients held in memory for a bounded time, so that the token path does
//! not read the database for every request (issue 18: the per-token client lookup
//! through sqlx cost more CPU than the signature).
//!
//! Consistency is bounded staleness, the same model as the signing keys' reload:
//! - a change made through *this* store (registration, configured clients, removal)
//!   takes effect at once: the write drops the entry;
//! - a change made elsewhere (another AS instance on the same PostgreSQL, or
//!   `mcp-auth as client ...` against the data directory) is seen within
//!   [`ClientCache::ttl`] seconds, when the entry is read again from the database;
//! - an unknown client id is never cached, so a client added elsewhere is usable at
//!   once, and random ids sent by an attacker cannot fill the cache.
//!
//! The cache holds what the database holds (the SHA-256 of a secret, never the
//! secret) and at most [`CAPACITY`] entries; when full, expired entries are dropped
//! and, if none are, the new entry is simply not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use mcp_auth_core::SharedClock;

use super::ClientRecord;

/// The most clients held; beyond that, lookups go to the database. Dynamic
/// registration is rate limited per address, but not globally, so the cache is.
pub const CAPACITY: usize = 10_000;

/// How long a client read from the database is used without reading it again,
/// seconds, unless configured otherwise (`[store] client_cache_seconds`).
pub const DEFAULT_TTL: i64 = 1;

/// The in-memory client cache of one store. See the module documentation.
#[derive(Debug)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, Entry>>,
    clock: SharedClock,
    ttl: i64,
}

#[derive(Debug)]
struct Entry {
    record: Arc<ClientRecord>,
    /// The clock's time when the record was read from the database.
    loaded_at: i64,
}

impl ClientCache {
    /// A cache whose entries live `ttl` seconds by `clock`; `ttl` 0 turns it off.
    pub fn new(clock: SharedClock, ttl: i64) -> Self {
        Self {
            entries: Mutex::default(),
            clock,
            ttl: ttl.max(0),
        }
    }

    /// The bound on staleness for changes made elsewhere, seconds.
    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The cached record for `client_id`, when it was read less than `ttl` seconds ago.
    pub fn get(&self, client_id: &str) -> Option<Arc<ClientRecord>> {
        if self.ttl == 0 {
            return None;
        }
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(client_id)
            .filter(|e| now - e.loaded_at < self.ttl && now >= e.loaded_at)
            .map(|e| Arc::clone(&e.record))
    }

    /// Keeps `record`, just read from the database.
    pub fn put(&self, record: Arc<ClientRecord>) {
        if self.ttl == 0 {
            return;
        }
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&record.client_id) {
            entries.retain(|_, e| now - e.loaded_at < self.ttl && now >= e.loaded_at);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(
            record.client_id.clone(),
            Entry {
                record,
                loaded_at: now,
            },
        );
    }

    /// Drops `client_id`: it was changed or removed through this store.
    pub fn forget(&self, client_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(client_id);
    }

    /// How many clients are held (expired ones included until they are replaced).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no client is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ManualClock;

    fn record(id: &str) -> Arc<ClientRecord> {
        Arc::new(ClientRecord {
            client_id: id.to_owned(),
            secret_sha256: None,
            metadata: serde_json::json!({}),
            created_at: 0,
        })
    }

    #[test]
    fn an_entry_is_used_for_ttl_seconds_then_read_again() {
        let clock = ManualClock::new(1_000);
        let cache = ClientCache::new(clock.clone(), 2);
        cache.put(record("a"));
        assert!(cache.get("a").is_some());
        clock.advance(1);
        assert!(cache.get("a").is_some());
        clock.advance(1);
        assert!(
            cache.get("a").is_none(),
            "2 s after loading, a 2 s entry is stale"
        );
    }

    #[test]
    fn a_clock_moved_back_does_not_extend_an_entry() {
        let clock = ManualClock::new(1_000);
        let cache = ClientCache::new(clock.clone(), 2);
        cache.put(record("a"));
        clock.advance(-10);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn forget_drops_an_entry_at_once() {
        let cache = ClientCache::new(ManualClock::new(1_000), 60);
        cache.put(record("a"));
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn ttl_zero_keeps_nothing() {
        let cache = ClientCache::new(ManualClock::new(1_000), 0);
        cache.put(record("a"));
        assert!(cache.get("a").is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_drops_expired_entries_and_otherwise_keeps_nothing_new() {
        let clock = ManualClock::new(1_000);
        let cache = ClientCache::new(clock.clone(), 5);
        for i in 0..CAPACITY {
            cache.put(record(&format!("c{i}")));
        }
        cache.put(record("late"));
        assert!(cache.get("late").is_none(), "full: not kept");
        assert!(
            cache.get("c0").is_some(),
            "full: nothing evicted that is fresh"
        );
        clock.advance(5);
        cache.put(record("late"));
        assert!(cache.get("late").is_some(), "the expired entries made room");
        assert_eq!(cache.len(), 1);
    }
}
