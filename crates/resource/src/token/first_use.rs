//! One verification per token at a time. Requests that bring a token the cache does
//! not hold yet wait for the first one's verification and then read the cache,
//! rather than each verifying the same token again.
//!
//! Without it, a burst of requests with a new token (a client's parallel tool calls
//! right after it got the token) verified the token once per request: the JWT's
//! signature, its claims and its `cnf` key, each time. Sixteen concurrent first uses
//! cost sixteen verifications (`tests/token_first_use.rs`); now they cost one
//! (BENCHMARKS.md, "Issue 18: the tail at the fixed rate").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mcp_auth_core::dpop::AccessTokenDigest;

/// A gate per token digest while some request verifies it.
#[derive(Debug, Default)]
pub(super) struct FirstUses {
    gates: Mutex<HashMap<AccessTokenDigest, Gate>>,
}

/// One token's gate and how many turns (holding or waiting) use it.
#[derive(Debug)]
struct Gate {
    lock: Arc<tokio::sync::Mutex<()>>,
    users: usize,
}

impl FirstUses {
    /// Waits until no other request is verifying the token of `digest`, and holds
    /// that turn until the returned value is dropped. A gate is removed when its
    /// last user is done, waiting futures that were dropped included: the map holds
    /// no more entries than requests in flight.
    pub(super) async fn turn(&self, digest: AccessTokenDigest) -> Turn<'_> {
        let lock = {
            let mut gates = self.gates();
            let gate = gates.entry(digest).or_insert_with(|| Gate {
                lock: Arc::default(),
                users: 0,
            });
            gate.users += 1;
            Arc::clone(&gate.lock)
        };
        // Counted above, so a future dropped while it waits still leaves (`Drop`).
        let mut turn = Turn {
            owner: self,
            digest,
            held: None,
        };
        turn.held = Some(lock.lock_owned().await);
        turn
    }

    /// The map; a panic elsewhere cannot leave it inconsistent (every change is
    /// one statement), so a poisoned lock is used as it is.
    fn gates(&self) -> MutexGuard<'_, HashMap<AccessTokenDigest, Gate>> {
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's turn to verify one token (see [`FirstUses::turn`]).
pub(super) struct Turn<'a> {
    owner: &'a FirstUses,
    digest: AccessTokenDigest,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Let the next waiter in, then leave the gate; the last user removes it.
        drop(self.held.take());
        let mut gates = self.owner.gates();
        if let Some(gate) = gates.get_mut(&self.digest) {
            gate.users -= 1;
            if gate.users == 0 {
                gates.remove(&self.digest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_turn_for_the_same_token_waits_for_the_first() {
        let uses = Arc::new(FirstUses::default());
        let first = uses.turn(AccessTokenDigest::of("1")).await;
        let waiting = tokio::spawn({
            let uses = Arc::clone(&uses);
            async move {
                let _turn = uses.turn(AccessTokenDigest::of("1")).await;
            }
        });
        // Another token's turn is not held up.
        let other = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            uses.turn(AccessTokenDigest::of("2")),
        );
        drop(other.await.expect("another token's turn is free"));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second turn must wait");
        drop(first);
        waiting.await.unwrap();
        assert!(uses.gates().is_empty(), "gates are removed");
    }

    #[tokio::test]
    async fn a_waiter_dropped_last_after_the_holder_left_leaves_no_gate_behind() {
        let uses = FirstUses::default();
        let first = uses.turn(AccessTokenDigest::of("4")).await;
        let mut waiter = Box::pin(uses.turn(AccessTokenDigest::of("4")));
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), &mut waiter).await;
        assert!(waited.is_err(), "the waiter must be waiting");
        drop(first);
        assert_eq!(uses.gates().len(), 1, "the waiter still uses the gate");
        drop(waiter);
        assert!(uses.gates().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_gate_behind() {
        let uses = FirstUses::default();
        let first = uses.turn(AccessTokenDigest::of("3")).await;
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            uses.turn(AccessTokenDigest::of("3")),
        )
        .await;
        assert!(gave_up.is_err());
        // The holder still holds the gate: the next turn waits.
        assert_eq!(uses.gates().len(), 1);
        let next = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            uses.turn(AccessTokenDigest::of("3")),
        )
        .await;
        assert!(next.is_err(), "a turn while the holder holds it must wait");
        drop(first);
        assert!(uses.gates().is_empty());
    }
}
