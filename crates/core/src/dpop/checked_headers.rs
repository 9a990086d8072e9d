//! The protected headers of DPoP proofs already checked, by their exact bytes.
//!
//! A client signs all its proofs with one key, so the base64url header segment of its
//! proofs (`typ`, `alg`, `jwk`) repeats byte for byte from one request to the next.
//! What RFC 9449 §4.3 asks of the header alone (steps 3, 4, the algorithm's name of
//! step 5, step 7) and the work of turning the `jwk` into a key and its RFC 7638
//! thumbprint depend on those bytes only, so their result is kept here and reused: the
//! proof's signature, its claims, the algorithm against the caller's list, the time
//! window, `ath` and the replay check are still done for every proof (issue 18: the
//! header's parse, the key's and the thumbprint were about a tenth of a check's
//! non-cryptographic work).
//!
//! Only a header whose proof verified is kept, so an unsigned flood does not churn the
//! entries; at most [`CAPACITY`] headers and [`MAX_BYTES`] of header text (a header may
//! be up to 8 KiB), then the table starts again empty. Per process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use mcp_auth_httpsig::{JwsAlgorithm, VerifyingKey};

/// The most headers kept.
pub(super) const CAPACITY: usize = 4096;

/// The most header text kept, bytes (typical headers are 200 to 400 bytes; a client
/// choosing large ones cannot make the table hold more than this).
pub(super) const MAX_BYTES: usize = 2 * 1024 * 1024;

/// What a checked header yields.
#[derive(Debug)]
pub(super) struct CheckedHeader {
    /// The algorithm its `alg` names.
    pub(super) alg: JwsAlgorithm,
    /// The `alg` as written (for the error when the caller does not accept it).
    pub(super) alg_name: String,
    /// The public key of its `jwk`.
    pub(super) key: VerifyingKey,
    /// The key's RFC 7638 thumbprint.
    pub(super) jkt: String,
}

/// Checked headers by their base64url segment, and the bytes of those segments.
type Headers = (HashMap<Box<str>, Arc<CheckedHeader>>, usize);

/// A table of checked headers.
#[derive(Debug, Default)]
struct Table(RwLock<Headers>);

impl Table {
    fn get(&self, segment: &str) -> Option<Arc<CheckedHeader>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(segment)
            .cloned()
    }

    fn put(&self, segment: &str, header: Arc<CheckedHeader>) {
        let mut table = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let (headers, bytes) = &mut *table;
        if headers.len() >= CAPACITY || *bytes + segment.len() > MAX_BYTES {
            headers.clear();
            *bytes = 0;
        }
        if headers.insert(segment.into(), header).is_none() {
            *bytes += segment.len();
        }
    }
}

/// The process's table.
static HEADERS: LazyLock<Table> = LazyLock::new(Table::default);

/// The checked header whose base64url segment is `segment`, if one is kept.
pub(super) fn get(segment: &str) -> Option<Arc<CheckedHeader>> {
    HEADERS.get(segment)
}

/// Keeps `header` under `segment`: its proof verified.
pub(super) fn put(segment: &str, header: Arc<CheckedHeader>) {
    HEADERS.put(segment, header);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_starts_again_empty() {
        let key = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
            .unwrap()
            .verifying_key();
        let entry = Arc::new(CheckedHeader {
            alg: JwsAlgorithm::EdDsa,
            alg_name: "EdDSA".into(),
            key,
            jkt: "jkt".into(),
        });
        let table = Table::default();
        for i in 0..CAPACITY {
            table.put(&format!("h{i}"), Arc::clone(&entry));
        }
        assert!(table.get("h0").is_some());
        table.put("one more", Arc::clone(&entry));
        assert!(table.get("h0").is_none(), "cleared when full");
        assert!(table.get("one more").is_some());
        // Large headers: cleared by bytes long before the count.
        let table = Table::default();
        let big = "x".repeat(8 * 1024);
        // Each key is at most 8 KiB and 3 digits: this many fit, one more does not.
        for i in 0..(MAX_BYTES / (big.len() + 3)) {
            table.put(&format!("{i:03}{big}"), Arc::clone(&entry));
        }
        assert!(table.get(&format!("000{big}")).is_some());
        table.put(&format!("last{big}"), entry);
        assert!(
            table.get(&format!("000{big}")).is_none(),
            "cleared by bytes"
        );
        assert!(table.0.read().unwrap().1 <= MAX_BYTES);
    }
}
