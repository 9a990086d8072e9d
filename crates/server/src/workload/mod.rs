//! The `jwt-bearer` grant with a workload assertion
//! (profiles/workload-identity-federation.md, WIF): a workload presents the JWT its
//! platform gave it (Kubernetes, GitHub Actions, SPIFFE) and gets an access token,
//! with no client registration.
//!
//! - [`config`]: `[[workload_issuers]]`, the trust entries and their rules, checked
//!   when the AS starts (WIF §6);
//! - [`crate::condition`]: the CEL `when` of a rule (shared with the IdP's policy);
//! - [`keys`]: each entry's key source and key cache (WIF §6.2);
//! - [`grant`]: the token endpoint's checks, in the order of WIF §7.3.

pub mod config;
pub mod grant;
pub(crate) mod keys;

use std::fmt;

use config::WorkloadIssuer;
use keys::EntryKeys;

/// The trust entries with their key caches, shared by the token endpoint's requests.
#[derive(Debug, Default)]
pub struct WorkloadTrust {
    entries: Vec<TrustedIssuer>,
}

/// One trust entry and its keys.
pub struct TrustedIssuer {
    /// The entry as configured.
    pub config: WorkloadIssuer,
    keys: EntryKeys,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl WorkloadTrust {
    /// One key cache per configured entry.
    pub fn new(entries: &[WorkloadIssuer]) -> Self {
        Self {
            entries: entries
                .iter()
                .map(|e| TrustedIssuer {
                    keys: EntryKeys::new(&e.id, e.key_source.clone()),
                    config: e.clone(),
                })
                .collect(),
        }
    }

    /// Whether any entry is configured: the grant is offered only then.
    pub fn is_enabled(&self) -> bool {
        !self.entries.is_empty()
    }
}
