//! The shared vocabulary of mcp-auth: OAuth errors, RFC 9068 JWT access tokens and
//! the keys that sign them, the `cnf` confirmation, the replay cache (memory and
//! Redis), the MCP request binding (JSON-RPC <-> `Mcp-*` headers) and the
//! http-message-signatures profile policies, the bounded outbound JSON read and the
//! hardened listener every server uses. Used by the authorization server, the
//! resource side and the client; knows nothing of storage.

#![forbid(unsafe_code)]

pub mod access_token;
pub mod cnf;
pub mod discovery;
pub mod dpop;
pub mod fetch;
pub mod httpsig_profile;
pub mod jwt_claims;
pub mod listener;
pub mod mcp_binding;
pub mod oauth_error;
pub mod random;
pub mod replay;
pub mod scope;

pub use access_token::{AccessTokenClaims, AccessTokenError, AsSigningKey, Jwks, TokenVerifier};
pub use cnf::{Confirmation, ConfirmationError, HttpSignatureKey};
pub use jwt_claims::{
    Accepted, Audience, AudienceRule, ClaimError, ClaimRules, KeyAlgorithmError, RegisteredClaims,
    check_claims, check_key_algorithm,
};
pub use mcp_binding::{BodyError, HeaderMismatch, McpOperation};
pub use oauth_error::{ErrorCode, OAuthError};
pub use random::{RandomError, random_token};
pub use replay::{
    Freshness, MemoryReplayCache, RedisReplayCache, ReplayCache, ReplayError, replay_key,
};

/// The current UNIX time in seconds: the one wall clock of the AS and the resource
/// side (tests pass their own `now` to the functions that take one).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
