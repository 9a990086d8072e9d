//! The workload platform the checker plays for `conformance as --profile wif`
//! (profiles/workload-identity-federation.md): an issuer the authorization server
//! under test is configured to trust, whose workload assertions the checker mints,
//! valid and broken; and, when the checker serves it itself, its OpenID Connect
//! discovery document and JWK Set, with a log of every request the AS makes there.
//!
//! The decoys, the fetch log and the served documents are [`PlayedIssuer`]'s.

use std::time::Instant;

use axum::Router;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::mint::{MintError, Minter};
use crate::played_issuer::PlayedIssuer;
pub use crate::played_issuer::{
    ATTACKER_JWKS_PATH, UNTRUSTED_PATH, is_forbidden_fetch, is_key_set_fetch,
};

/// The checker as a workload platform the AS trusts (`--workload-key`,
/// `--workload-issuer`, `--workload-subject`).
pub struct WorkloadPlatform {
    /// Signs the assertions, as the trusted issuer (`iss`), with the key whose
    /// public part the AS reads from the issuer's JWK Set.
    pub minter: Minter,
    /// A `sub` the AS's workload rule for this issuer accepts (with [`Self::claims`]).
    pub subject: String,
    /// Other claims the rule reads (a namespace, a repository id), added to every
    /// assertion the rule must accept.
    pub claims: Map<String, Value>,
    /// The trust entry's `clock_skew` (profile default 60 s).
    pub clock_skew: i64,
    /// The trust entry's `max_assertion_lifetime` (profile default 3660 s).
    pub max_assertion_lifetime: i64,
    played: PlayedIssuer,
    pub(crate) control: OnceCell<Result<String, String>>,
}

impl std::fmt::Debug for WorkloadPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadPlatform")
            .field("issuer", &self.minter.issuer())
            .field("subject", &self.subject)
            .field("served", &self.played.served())
            .finish_non_exhaustive()
    }
}

impl WorkloadPlatform {
    /// The platform whose key is `minter`'s, issuing for workload `subject`, with the
    /// profile's default skew and lifetime. Makes a second key of the same kind, the
    /// one the AS must never trust.
    pub fn new(minter: Minter, subject: impl Into<String>) -> Result<Self, MintError> {
        Ok(Self {
            played: PlayedIssuer::new(&minter)?,
            minter,
            subject: subject.into(),
            claims: Map::new(),
            clock_skew: 60,
            max_assertion_lifetime: 3660,
            control: OnceCell::new(),
        })
    }

    /// The issuer (`iss`) of the assertions.
    pub fn issuer(&self) -> &str {
        self.minter.issuer()
    }

    /// The key the AS must not trust (same issuer name, same kind of key).
    pub fn attacker(&self) -> &Minter {
        self.played.attacker()
    }

    /// The issuer no trust entry names.
    pub fn untrusted_issuer(&self) -> String {
        self.played.untrusted_issuer()
    }

    /// Whether the checker serves the issuer itself (then it sees the AS's fetches).
    pub fn served(&self) -> bool {
        self.played.served()
    }

    /// The paths the AS fetched so far, with when; `None` when not served.
    pub fn fetches(&self) -> Option<Vec<(String, Instant)>> {
        self.played.fetches()
    }

    /// The routes of the issuer, to be served at its URL ([`PlayedIssuer::router`]).
    pub fn router(&mut self) -> Router {
        self.played.router(self.minter.jwks(), self.minter.alg())
    }
}
