//! Failures of the token exchange at the identity provider
//! (profiles/enterprise-managed-authorization.md §7.3 and §10.1). The `Display` texts
//! are the `error_description`s: fixed, never a token, a claim value, a target or a
//! rule (the ID-JAG draft §8.4: the trust relationships are not disclosed); the
//! details go to the log (EMA-IDP-15).

/// Why a token exchange gets no ID-JAG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// Step 1: `audience` or `resource` missing (`invalid_request`).
    #[error("{0} is required")]
    Missing(&'static str),
    /// Step 1: `audience` or `resource` repeated (`invalid_target`).
    #[error("{0} must be sent once")]
    Repeated(&'static str),
    /// Step 1: `actor_token`, `actor_token_type` or `authorization_details`
    /// (`invalid_request`, D9).
    #[error("{0} is not supported by this identity provider")]
    UnsupportedParameter(&'static str),
    /// Step 2: the client may not use the exchange (`unauthorized_client`).
    #[error(
        "this client may not request ID-JAGs (the token-exchange grant is not configured for it)"
    )]
    GrantNotAllowed,
    /// Step 3: a token-request signature (`invalid_request`, D16).
    #[error("an ID-JAG is bound with DPoP only; a token-request signature is not accepted here")]
    SignatureNotAccepted,
    /// Step 4: `requested_token_type` is not the ID-JAG URN (`invalid_request`).
    #[error("requested_token_type must be urn:ietf:params:oauth:token-type:id-jag")]
    RequestedTokenType,
    /// Step 4: `subject_token_type` is not the ID token URN (`invalid_request`, D9).
    #[error("subject_token_type must be urn:ietf:params:oauth:token-type:id_token")]
    SubjectTokenType,
    /// Step 5: the subject token is not a valid ID token of this IdP for this client,
    /// or its user is gone (`invalid_grant`; the reason is logged).
    #[error(
        "the subject_token is not a valid ID token issued by this identity provider to this client"
    )]
    SubjectToken,
    /// Step 6: no target has this `audience` for this client (`invalid_target`).
    #[error("this identity provider does not issue ID-JAGs for this audience to this client")]
    UnknownAudience,
    /// Step 7: no policy rule matches (`invalid_target`).
    #[error(
        "the identity provider's policy does not allow this client to act for this user at this authorization server"
    )]
    PolicyRefused,
    /// Step 8: the resource is not one the matching rule allows (`invalid_target`).
    #[error("the identity provider's policy does not allow this resource for this user and client")]
    ResourceNotAllowed,
    /// Step 9: a scope the matching rule does not allow (`invalid_scope`, D15).
    #[error("the identity provider's policy does not allow scope `{0}` for this user and client")]
    ScopeNotAllowed(String),
}
