//! One verification per token at a time. Requests that bring a token the cache does
//! not hold yet wait for the first one's verification and then read the cache,
//! rather than each verifying the same token again.
//!
//! Without it, a burst of requests with a new token (a client's parallel tool calls
//! right after it got the token) verified the token once per request: the JWT's
//! signature, its claims and its `cnf` key, each time. `mcp-auth bench gateway`,
//! which starts every run with a new token and 40 requests at once, showed a stall
//! of about 20 ms at the start of its HTTPSig runs; one verification and 39 waits
//! remove it (BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A gate per token digest while some request verifies it.
#[derive(Debug, Default)]
pub(super) struct FirstUses {
    gates: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

impl FirstUses {
    /// Waits until no other request is verifying the token of `digest`, and holds
    /// that turn until the returned value is dropped. Gates are removed when their
    /// last holder or waiter is done (dropped futures included), so the map holds no
    /// more entries than requests in flight.
    pub(super) async fn turn(&self, digest: [u8; 32]) -> Turn<'_> {
        let gate = match self.gates.lock() {
            Ok(mut gates) => Arc::clone(gates.entry(digest).or_default()),
            // A poisoned map only costs the coalescing: this request verifies alone.
            Err(_) => Arc::default(),
        };
        let mut turn = Turn {
            owner: self,
            digest,
            gate,
            held: None,
        };
        turn.held = Some(Arc::clone(&turn.gate).lock_owned().await);
        turn
    }
}

/// A request's turn to verify one token (see [`FirstUses::turn`]).
pub(super) struct Turn<'a> {
    owner: &'a FirstUses,
    digest: [u8; 32],
    gate: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Let the next waiter in first, then remove the gate if nobody else has it:
        // clones are only made under the map's lock, so the count cannot rise here.
        drop(self.held.take());
        if let Ok(mut gates) = self.owner.gates.lock()
            && gates
                .get(&self.digest)
                .is_some_and(|g| Arc::ptr_eq(g, &self.gate))
            && Arc::strong_count(&self.gate) == 2
        {
            gates.remove(&self.digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_turn_for_the_same_token_waits_for_the_first() {
        let uses = Arc::new(FirstUses::default());
        let first = uses.turn([1; 32]).await;
        let waiting = tokio::spawn({
            let uses = Arc::clone(&uses);
            async move {
                let _turn = uses.turn([1; 32]).await;
            }
        });
        // Another token's turn is not held up.
        drop(uses.turn([2; 32]).await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second turn must wait");
        drop(first);
        waiting.await.unwrap();
        assert!(uses.gates.lock().unwrap().is_empty(), "gates are removed");
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_gate_behind() {
        let uses = Arc::new(FirstUses::default());
        let first = uses.turn([3; 32]).await;
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(20), uses.turn([3; 32])).await;
        assert!(gave_up.is_err());
        drop(first);
        assert!(uses.gates.lock().unwrap().is_empty());
    }
}
