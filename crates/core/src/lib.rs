//! The shared vocabulary of mcp-auth: OAuth errors, RFC 9068 JWT access tokens and
//! the keys that sign them, metadata documents. Used by the authorization server, the
//! resource side and the client; knows nothing of HTTP servers or storage.

#![forbid(unsafe_code)]

pub mod access_token;
pub mod oauth_error;

pub use access_token::{AccessTokenClaims, AccessTokenError, AsSigningKey, Jwks, TokenVerifier};
pub use oauth_error::{ErrorCode, OAuthError};
