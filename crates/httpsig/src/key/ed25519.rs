//! Ed25519 verification (RFC 8032 §5.1.7) under ed25519-dalek's strict rules, without
//! decompressing the signature's `R`, and with a table of the key's multiples once a key
//! allowed one has verified [`PREPARE_AFTER`] signatures.
//!
//! The rules are those of `ed25519_dalek::VerifyingKey::verify_strict`, the check this
//! crate used until now, and the accepted set is the same (tested against it, with and
//! without the table, on the Wycheproof vectors, on constructed edge cases, by a property
//! test and by the `ed25519_verify` fuzz target):
//!
//! 1. `S` is canonical, `S < ℓ` (RFC 8032 §5.1.7 step 1), so a signature cannot be
//!    malleated into a second valid one by adding `ℓ`;
//! 2. neither the key `A` nor `R` is of small order (verify_strict's rule: a weak key, or
//!    an `R` in the torsion subgroup, lets one signature verify for many messages);
//! 3. the cofactorless equation: the encoding of `[S]B − [k]A` equals the 32 bytes of
//!    `R`, where `k = SHA-512(R || A || M) mod ℓ` over the key's bytes as given.
//!
//! verify_strict decompresses `R` (a square root, about 10% of a verification here) only
//! to check its order. Here `[S]B − [k]A` is computed, compressed and compared with
//! `R`'s bytes first: only the canonical encoding of a point can be equal to it, so bytes
//! that are no point, or a point encoded non-canonically, fail that comparison, as they
//! fail there (the decompression, or the same comparison). When the bytes are equal, the
//! computed point *is* `R`, and its order is checked on those bytes: a point is of small
//! order exactly when its canonical encoding is one of the eight of the torsion points.
//!
//! **The table.** `[S]B − [k]A` costs a variable-base multiplication of `A`: 252
//! doublings. A key its holder allowed one (`VerifyingKey::allow_table`: a key bound to
//! an access token the verifier trusts) gets, after [`PREPARE_AFTER`] valid signatures, a
//! fixed-base table of `−A` (a [`comb::Comb`]: 40 KiB, about 0.1 ms to build, once per
//! key object), and `[S]B + [k](−A)` is then one pass of additions from it and from the
//! process's table of `B` (320 KiB, for digits of 8 bits), read in variable time: about
//! a third less per verification than without a table (BENCHMARKS.md). The tables of a
//! process are bounded ([`MAX_TABLES`], 30 MiB): past it, keys verify without one, as
//! before. Only valid signatures count, and only under an allowed key: a key anyone can
//! bring (a DPoP proof's `jwk` at the token endpoint) gets no table, since 64 signatures
//! by a fresh key cost its maker nothing. A valid signature counts even if its request
//! fails a later check (a replay of a captured request counts toward the
//! table of the key that signed it, which only makes that key's checks cheaper). A client
//! holding tokens bound to many keys can fill the budget, which only slows other keys
//! back to the plain check.

mod comb;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use aws_lc_rs::digest;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;

use comb::Comb;

/// Valid signatures an allowed key verifies before its table is built (and again at each
/// multiple of it while the budget is full): a table costs about as much as four plain
/// checks (0.11 ms against about 30 µs), and saves about a third of one for each check
/// after.
pub(crate) const PREPARE_AFTER: u32 = 64;

/// The tables this process keeps at most: 40 KiB each, 30 MiB in all.
pub(crate) const MAX_TABLES: usize = 768;

/// The table of the base point `B`, made at the first check with a key's table (once per
/// process): digits of [`BASEPOINT_WIDTH`] bits.
static BASEPOINT: LazyLock<Comb> =
    LazyLock::new(|| Comb::new(&ED25519_BASEPOINT_POINT, BASEPOINT_WIDTH));

/// The width of the digits of `S` (a [`Comb`]'s): 8 bits, 32 additions from a table of
/// 320 KiB, one per process, built in about 0.3 ms. At 4 bits, the width of a key's table,
/// `S` took 64 additions, and a check counted 13.6% more instructions (BENCHMARKS.md,
/// "Issue 18: the base point's table at 8 bits; `R`'s order read from its bytes"). A
/// wider table is read less often per check and misses the caches more often per read;
/// counted with valgrind's cache model (a 512 KiB last level, under the gateway's load),
/// the checks missed no more often at 8 bits than at 4.
const BASEPOINT_WIDTH: u32 = 8;

/// The width of the digits of `k` in a key's table: 4 bits, 64 additions from 40 KiB per
/// key, built in about 0.1 ms.
const KEY_WIDTH: u32 = 4;

/// The process's budget of tables.
static TABLES: TableBudget = TableBudget::new(MAX_TABLES);

/// An Ed25519 public key as verification keeps it. Its clones share what it learned:
/// how many signatures it verified, and its table once built.
#[derive(Clone)]
pub(crate) struct Ed25519Public {
    key: ed25519_dalek::VerifyingKey,
    preparation: Arc<Preparation>,
}

#[derive(Default)]
struct Preparation {
    /// Whether the key may get a table ([`Ed25519Public::allow_table`]).
    allowed: AtomicBool,
    /// Valid signatures verified without the table, once allowed.
    verified: AtomicU32,
    /// Taken by the one verification that builds the table.
    building: AtomicBool,
    table: OnceLock<Table>,
}

impl Ed25519Public {
    /// The key `key`, with no table yet.
    pub(crate) fn new(key: ed25519_dalek::VerifyingKey) -> Self {
        Self {
            key,
            preparation: Arc::default(),
        }
    }

    /// Lets the key get its table once it has verified [`PREPARE_AFTER`] more valid
    /// signatures. For keys whose signatures a server will check many times and whose
    /// holder it authenticated some other way (an access token's `cnf` key), not for keys
    /// any caller can bring.
    pub(crate) fn allow_table(&self) {
        // Called for every bound DPoP proof: a read leaves the shared line alone once set.
        if !self.preparation.allowed.load(Ordering::Relaxed) {
            self.preparation.allowed.store(true, Ordering::Relaxed);
        }
    }

    /// The key's 32 bytes, as given.
    pub(super) fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Whether `signature` is this key's valid signature of `message` (the rules of the
    /// module's documentation); with the key's table if it has one, else counting a
    /// valid signature toward one if the key is allowed one.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify_within(&TABLES, message, signature)
    }

    fn verify_within(
        &self,
        budget: &'static TableBudget,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if let Some(table) = self.preparation.table.get() {
            // The table was built only after this key verified a signature, so the key
            // is not of small order (rule 2 for A).
            return check(&self.key, message, signature, |k, s| {
                comb::double_mul(s, &BASEPOINT, k, &table.minus_a)
            });
        }
        let valid = verify_strict(&self.key, message, signature);
        if valid && self.preparation.allowed.load(Ordering::Relaxed) {
            let verified = self
                .preparation
                .verified
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            if verified.is_multiple_of(PREPARE_AFTER) {
                self.prepare(budget);
            }
        }
        valid
    }

    /// Builds the table, unless another verification is building it or the budget is
    /// spent (then a later multiple of [`PREPARE_AFTER`] tries again).
    fn prepare(&self, budget: &'static TableBudget) {
        let preparation = &self.preparation;
        if preparation.table.get().is_some() || preparation.building.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(table) = Table::build(budget, &self.key) {
            let _ = preparation.table.set(table);
        }
        preparation.building.store(false, Ordering::Release);
    }

    /// The key with its table built now, from `budget` (tests and the fuzz target,
    /// which check both ways of verifying).
    pub(crate) fn prepared_now(
        key: ed25519_dalek::VerifyingKey,
        budget: &'static TableBudget,
    ) -> Self {
        let public = Self::new(key);
        public.prepare(budget);
        public
    }

    /// Whether the key has its table.
    pub(crate) fn is_prepared(&self) -> bool {
        self.preparation.table.get().is_some()
    }
}

/// A count of live tables against a maximum.
pub(crate) struct TableBudget {
    live: AtomicUsize,
    max: usize,
}

impl TableBudget {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            live: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes one table's place, if one is left.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.max).then_some(live + 1)
            })
            .is_ok()
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

/// The fixed-base table of a key's `−A`, holding its place in a budget until dropped.
struct Table {
    minus_a: Comb,
    budget: &'static TableBudget,
}

impl Table {
    /// The table of `key`, if the budget has room.
    ///
    /// Never for a key of small order, whose signatures the table's check would not
    /// refuse on rule 2 (no such key verifies a signature, so none is ever prepared).
    fn build(budget: &'static TableBudget, key: &ed25519_dalek::VerifyingKey) -> Option<Self> {
        let minus_a = -key.to_edwards();
        if minus_a.is_small_order() || !budget.reserve() {
            return None;
        }
        Some(Self {
            minus_a: Comb::new(&minus_a, KEY_WIDTH),
            budget,
        })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.budget.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether `signature` (`R || S`, 64 bytes) is a valid Ed25519 signature of `message`
/// by `key`, by the rules in the module's documentation, without a table.
pub(crate) fn verify_strict(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    // Rule 2, for the key.
    let minus_a = -key.to_edwards();
    if minus_a.is_small_order() {
        return false;
    }
    // Variable time is right here: every input is public.
    check(key, message, signature, |k, s| {
        EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &minus_a, s)
    })
}

/// Rules 1, 3 and 2 for `R`, with `[S]B − [k]A` computed by `combine(k, S)`; the key's
/// own order is the caller's to check.
fn check(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8],
    combine: impl FnOnce(&Scalar, &Scalar) -> EdwardsPoint,
) -> bool {
    let Some((r, s)) = signature.split_first_chunk::<32>() else {
        return false;
    };
    let Ok(s) = <[u8; 32]>::try_from(s) else {
        return false;
    };
    // Rule 1.
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
        return false;
    };
    // Rule 3.
    let mut hash = digest::Context::new(&digest::SHA512);
    hash.update(r);
    hash.update(key.as_bytes());
    hash.update(message);
    let Ok(wide) = <[u8; 64]>::try_from(hash.finish().as_ref()) else {
        return false;
    };
    let computed = combine(&Scalar::from_bytes_mod_order_wide(&wide), &s);
    // Rule 2, for `R`: `computed` is `R` once the bytes are equal, and a point is of
    // small order exactly when its canonical encoding (what `compress` wrote, and so `r`)
    // is one of [`SMALL_ORDER`]'s: eight comparisons of bytes instead of three doublings
    // and a comparison of points (about 1% of a check).
    computed.compress().as_bytes() == r && !SMALL_ORDER.contains(r)
}

/// The encodings of the eight points of small order (the torsion subgroup), as
/// `EdwardsPoint::compress` writes them: canonical, so one per point.
static SMALL_ORDER: LazyLock<[[u8; 32]; 8]> =
    LazyLock::new(|| EIGHT_TORSION.map(|point| point.compress().to_bytes()));

#[cfg(test)]
mod tests;
