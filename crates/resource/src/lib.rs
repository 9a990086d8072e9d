//! The resource-server side of mcp-auth: verifying how an access token is presented
//! to an MCP server, before the request reaches it.
//!
//! [`ResourceVerifier`] checks one request in two phases: the head alone (the
//! Streamable HTTP method, the `Authorization` scheme, the JWT access token cached by
//! hash once verified, then the proof of the profile presented: the HTTP message
//! signature under the MCP profile policy, the DPoP proof, or none for Bearer), then
//! the body read within `max_body` (`Content-Digest`, the nonce replay cache, the
//! `Mcp-Method` / `Mcp-Name` headers against the JSON-RPC body, the scope policy); an
//! unauthenticated request never has its body read. The time comes from the clock in
//! [`ResourceConfig`]. [`McpAuthLayer`] wraps it as a tower layer, for any request
//! body type, that puts the verified [`Principal`] in the request extensions;
//! [`metadata`] serves RFC 9728 protected resource metadata. Every failure is a
//! [`Rejection`], turned into a response in one place.
//!
//! With the `proxy` feature (on by default), [`proxy`] makes it a gateway in front of
//! any MCP server, binding each MCP session to its principal ([`session`]), configured
//! by [`gateway`]. Without it the crate is the layer alone.

#![forbid(unsafe_code)]

pub mod audit;
pub mod config;
/// Entry points for the fuzz targets in `fuzz/` that reach what is not public API.
#[cfg(feature = "proxy")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "proxy")]
pub mod gateway;
mod hex;
pub mod layer;
pub mod metadata;
pub mod policy;
pub mod presentation;
mod profiles;
#[cfg(feature = "proxy")]
pub mod proxy;
#[cfg(feature = "proxy")]
pub mod rate_limit;
pub mod rejection;
pub mod request;
pub mod scope_policy;
#[cfg(feature = "proxy")]
pub mod session;
pub mod signature;
pub mod token;
#[cfg(feature = "proxy")]
pub mod upstream_identity;
mod whole_body;

/// The string of [`Principal`]'s fields (the `bytestring` crate's: UTF-8 over shared
/// `Bytes`), so that code making a `Principal` (a test, a check of its own) can name it.
pub use bytestring::ByteString;
pub use config::{DpopPolicy, ResourceConfig, ResourceConfigError};
#[cfg(feature = "proxy")]
pub use gateway::{GatewayConfig, RawGatewayConfig};
pub use layer::{McpAuth, McpAuthLayer};
pub use presentation::{Presentation, Principal, Profile, ResourceVerifier};
#[cfg(feature = "proxy")]
pub use proxy::{Upstream, gateway_router, gateway_router_with_shutdown, unprotected_router};
pub use rejection::{Challenge, Rejection};
pub use scope_policy::{ScopePolicy, ScopeRule};
pub use token::{
    AccessTokenCache, DiscoveryError, IssuerKeys, TokenError, VerifiedToken, discover_issuer,
};
