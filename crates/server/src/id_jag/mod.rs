//! The MCP authorization server's side of the enterprise-managed-authorization
//! profile (profiles/enterprise-managed-authorization.md, EMA): a client redeems an
//! Identity Assertion JWT Authorization Grant (ID-JAG) that the enterprise IdP
//! issued for it, with the `jwt-bearer` grant and its own client authentication, and
//! gets an access token for the user without a consent screen.
//!
//! - [`config`]: `[[id_jag_issuers]]`, the trusted IdPs (EMA §6.2);
//! - [`grant`]: the redemption's checks, in the order of EMA §7.7.
//!
//! Keys come from the same key sources and caches as workload issuers
//! ([`crate::workload::keys`]), and the assertion's form, header, signature and
//! time checks are the same ([`mcp_auth_core::workload_assertion`]).

pub mod config;
pub mod grant;

use std::fmt;

use config::IdJagIssuer;

use crate::workload::keys::EntryKeys;

pub use mcp_auth_core::id_jag::ID_JAG_PROFILE;

/// The trusted IdPs with their key caches.
#[derive(Debug, Default)]
pub struct IdJagTrust {
    entries: Vec<TrustedIdp>,
}

/// One trusted IdP (or one tenant of it) and its keys.
pub struct TrustedIdp {
    /// The entry as configured.
    pub config: IdJagIssuer,
    keys: EntryKeys,
}

impl fmt::Debug for TrustedIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIdp")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl IdJagTrust {
    /// One key cache per configured entry.
    pub fn new(entries: &[IdJagIssuer]) -> Self {
        Self {
            entries: entries
                .iter()
                .map(|e| TrustedIdp {
                    keys: EntryKeys::new(&e.id, e.key_source.clone()),
                    config: e.clone(),
                })
                .collect(),
        }
    }

    /// Whether any IdP is trusted: the profile is offered only then.
    pub fn is_enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// EMA §7.7 step 6: the entry whose `issuer` is `iss` exactly and whose `tenant`
    /// is the `tenant` claim (an entry without `tenant` only for an ID-JAG without
    /// one).
    fn select(&self, iss: &str, tenant: Option<&str>) -> Option<&TrustedIdp> {
        self.entries
            .iter()
            .find(|e| e.config.issuer == iss && e.config.tenant.as_deref() == tenant)
    }
}
