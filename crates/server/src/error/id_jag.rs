//! Failures of the ID-JAG redemption (profiles/enterprise-managed-authorization.md
//! §10.2). The `Display` texts are the `error_description`s: fixed, never the
//! ID-JAG, a claim value or a fetched URL (EMA-AS-21); the details go to the log.

use mcp_auth_core::workload_assertion::AssertionError;

/// Why an ID-JAG redemption gets no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdJagGrantError {
    /// EMA §7.7 step 3: the client may not redeem ID-JAGs (`unauthorized_client`).
    #[error("this client may not redeem ID-JAGs (the jwt-bearer grant is not configured for it)")]
    GrantNotAllowed,
    /// Steps 5 to 9: the form, header, issuer, key, signature or time checks
    /// (`invalid_grant`; steps 6 to 8 share one description).
    #[error(transparent)]
    Assertion(#[from] AssertionError),
    /// Step 7: no key set for the entry (503 `temporarily_unavailable`).
    #[error("the keys to verify the ID-JAG cannot be read right now; try again later")]
    KeysUnavailable,
    /// Step 9: a claim of the ID-JAG has the wrong form (`invalid_grant`).
    #[error("the ID-JAG's {0}")]
    Claim(&'static str),
    /// Step 10: the ID-JAG was issued for another client (`invalid_grant`).
    #[error("the ID-JAG was issued for another client")]
    OtherClient,
    /// Step 11: the ID-JAG is bound to a DPoP key this request does not prove
    /// (`invalid_grant`).
    #[error(
        "the ID-JAG is bound to a key (cnf) this request does not prove: send a DPoP proof made with the key of its cnf.jkt"
    )]
    Confirmation,
    /// Step 12: the resource is not configured, not the entry's, or not the
    /// ID-JAG's (`invalid_target`).
    #[error("the resource is not the one the ID-JAG grants, or not one this IdP's grants may name")]
    ResourceNotAllowed,
    /// Step 13: a scope beyond the ID-JAG, the resource or the client
    /// (`invalid_scope`).
    #[error("scope `{0}` is not granted by the ID-JAG to this client at this resource")]
    ScopeNotAllowed(String),
    /// Step 14: the ID-JAG was redeemed before (`invalid_grant`).
    #[error("this ID-JAG has already been redeemed")]
    Replayed,
}
