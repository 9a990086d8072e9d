//! The resource-server side of mcp-auth: verifying how an access token is presented
//! to an MCP server, before the request reaches it.
//!
//! [`ResourceVerifier::verify_presentation`] is the whole check of one request
//! (ARCHITECTURE.md "The request path"): the `Authorization` scheme, the JWT access
//! token (cached by hash once verified), the key in its `cnf`, the bounded body, the
//! HTTP message signature under the MCP profile policy with `Content-Digest`, the
//! nonce replay cache, and the `Mcp-Method` / `Mcp-Name` headers against the JSON-RPC
//! body. [`McpAuthLayer`] wraps it as a tower layer that puts the verified
//! [`Principal`] in the request extensions; [`metadata`] serves RFC 9728 protected
//! resource metadata; [`proxy`] makes it a gateway in front of any MCP server.
//! Every failure is a [`Rejection`], turned into a response in one
//! place.

#![forbid(unsafe_code)]

pub mod config;
pub mod layer;
pub mod metadata;
pub mod presentation;
pub mod proxy;
pub mod rejection;
pub mod scope_policy;
pub mod token;

pub use config::{DpopPolicy, ResourceConfig};
pub use layer::{McpAuth, McpAuthLayer};
pub use presentation::{Principal, Profile, ResourceVerifier};
pub use proxy::{Upstream, gateway_router, unprotected_router};
pub use rejection::{Challenge, Rejection};
pub use scope_policy::{ScopePolicy, ScopeRule};
pub use token::{AccessTokenCache, IssuerKeys, VerifiedToken, discover_issuer};
