//! The resource-server side of mcp-auth: verifying how an access token is presented
//! to an MCP server, before the request reaches it.
//!
//! [`ResourceVerifier`] checks one request in two phases:
//! [`ResourceVerifier::verify_head`] on the head alone (the Streamable
//! HTTP method, the `Authorization` scheme, the JWT access token cached by hash once
//! verified, the key in its `cnf`, the HTTP message signature under the MCP profile
//! policy or the DPoP proof), then [`ResourceVerifier::verify_body`] on the body read
//! within `max_body` (`Content-Digest`, the nonce replay cache, the `Mcp-Method` /
//! `Mcp-Name` headers against the JSON-RPC body, the scope policy); an unauthenticated
//! request never has its body read. [`McpAuthLayer`] wraps it as a tower layer that
//! puts the verified [`Principal`] in the request extensions; [`metadata`] serves RFC
//! 9728 protected resource metadata; [`proxy`] makes it a gateway in front of any MCP
//! server, binding each MCP session to its principal ([`session`]). Every failure is
//! a [`Rejection`], turned into a response in one place.

#![forbid(unsafe_code)]

pub mod config;
pub mod layer;
pub mod metadata;
pub mod presentation;
pub mod proxy;
pub mod rejection;
pub mod request;
pub mod scope_policy;
pub mod session;
pub mod signature;
pub mod token;

pub use config::{DpopPolicy, ResourceConfig};
pub use layer::{McpAuth, McpAuthLayer};
pub use presentation::{Principal, Profile, ResourceVerifier, VerifiedHead};
pub use proxy::{Upstream, gateway_router, unprotected_router};
pub use rejection::{Challenge, Rejection};
pub use scope_policy::{ScopePolicy, ScopeRule};
pub use token::{AccessTokenCache, IssuerKeys, VerifiedToken, discover_issuer};
