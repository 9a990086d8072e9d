//! Failures of the `jwt-bearer` grant with a workload assertion
//! (profiles/workload-identity-federation.md §10.1). The `Display` texts are the
//! `error_description`s: fixed, never the assertion, a claim value or a fetched URL
//! (WIF-AS-24, §10.2); the details go to the log.

use mcp_auth_core::workload_assertion::AssertionError as WorkloadAssertionError;

/// Why a workload assertion request gets no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadGrantError {
    /// WIF §7.3 steps 2, 5 to 9: the assertion is refused (`invalid_grant`).
    #[error(transparent)]
    Assertion(#[from] WorkloadAssertionError),
    /// Step 3: client authentication or a `client_id` on a workload assertion
    /// (`invalid_request`; WIF D6).
    #[error("a workload assertion is presented without client authentication: remove {0}")]
    ClientAuthentication(&'static str),
    /// Step 4: a token-request signature that names a pre-registered `keyid`: there
    /// is no client whose keys it could name (`invalid_signature`, WIF §7.5).
    #[error("sign with a key of your own (no keyid): a workload has no registered keys")]
    KeyIdWithoutClient,
    /// Step 7: the entry's key source cannot be read and no key set of the last 24 h
    /// is cached (503 `temporarily_unavailable`).
    #[error("the keys to verify the assertion cannot be read right now; try again later")]
    KeysUnavailable,
    /// Step 10: no workload rule matches (`unauthorized_client`, WIF D4).
    #[error("no workload rule of this issuer matches the assertion")]
    NoRuleMatches,
    /// Step 11: the resource is not configured, or not in the rule's `resources`
    /// (`invalid_target`).
    #[error("this workload may not get tokens for this resource")]
    ResourceNotAllowed,
    /// Step 12: a requested scope the resource does not define or the rule does not
    /// allow (`invalid_scope`).
    #[error("scope `{0}` is not available to this workload at this resource")]
    ScopeNotAllowed(String),
}
