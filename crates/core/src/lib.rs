//! The shared vocabulary of mcp-auth: OAuth errors, RFC 9068 JWT access tokens and
//! the keys that sign them, the `cnf` confirmation, the replay cache (memory and
//! Redis), the MCP request binding (JSON-RPC <-> `Mcp-*` headers) and the
//! http-message-signatures profile policies, the bounded outbound JSON read and the
//! hardened listener every server uses. Used by the authorization server, the
//! resource side and the client; knows nothing of storage.

#![forbid(unsafe_code)]

pub mod access_token;
pub mod challenge;
pub mod clock;
pub mod cnf;
#[cfg(feature = "cel")]
pub mod condition;
pub mod connection_pool;
pub mod discovery;
pub mod dpop;
pub mod error_text;
pub mod fetch;
pub mod httpsig_profile;
pub mod id_jag;
pub mod json_member;
pub mod jws;
pub mod jwt_claims;
pub mod listener;
pub mod mcp_binding;
pub mod mcp_param;
pub mod metric_handle;
pub mod oauth_error;
pub mod private_file;
pub mod random;
pub mod redact;
#[cfg(feature = "redis")]
pub mod redis_connection;
pub mod replay;
pub mod scope;
pub mod shutdown;
pub mod weakening;
pub mod workload_assertion;

pub use access_token::{
    AccessTokenClaims, AccessTokenError, AsSigningKey, Jwks, SigningKeyError, TokenVerifier,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, system_clock, unix_now};
pub use cnf::{Confirmation, ConfirmationError, HttpSignatureKey};
pub use jwt_claims::{
    Accepted, Audience, AudienceRule, ClaimError, ClaimRules, KeyAlgorithmError, RegisteredClaims,
    check_claims, check_key_algorithm,
};
pub use mcp_binding::{BodyError, HeaderMismatch, McpOperation};
pub use oauth_error::{ErrorCode, OAuthError};
pub use random::{RandomError, random_token};
#[cfg(feature = "redis")]
pub use replay::RedisReplayCache;
pub use replay::{
    Freshness, MemoryReplayCache, OneTimeUse, ReplayCache, ReplayError, ReplayKey, ReplayRefusal,
    replay_key,
};
