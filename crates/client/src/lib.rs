//! The client side of mcp-auth: the key a client proves possession of, the signers of
//! the http-message-signatures profile (profiles/http-message-signatures.md,
//! HTTPSIG-C-*), `WWW-Authenticate` parsing, authorization server discovery from a
//! 401, and [`McpClient`], which calls an MCP server and authorizes as it asks: as a
//! client (client credentials, authorization code), as a workload with its
//! platform's token ([`Grant::Workload`], profiles/workload-identity-federation.md),
//! or for a user signed in at an enterprise identity provider, whose ID token is
//! exchanged for an ID-JAG ([`Grant::Enterprise`],
//! profiles/enterprise-managed-authorization.md), the client signing the user in
//! there itself with OpenID Connect when asked ([`sign_in`]).
//!
//! ```
//! use mcp_auth_client::{HttpSigSigner, ProofKey};
//! use mcp_auth_httpsig::Algorithm;
//!
//! let key = ProofKey::generate_runtime(Algorithm::Ed25519).unwrap();
//! let signer = HttpSigSigner::new(key);
//! let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
//! let (mut parts, ()) = http::Request::post("https://mcp.example.com/mcp")
//!     .body(()).unwrap().into_parts();
//! signer.sign_mcp_request(&mut parts, "eyJ...", body, 1_700_000_000).unwrap();
//! assert_eq!(parts.headers["mcp-name"], "echo");
//! assert!(parts.headers["signature-input"].to_str().unwrap().contains(r#"tag="httpsig-oauth""#));
//! ```

#![forbid(unsafe_code)]

pub mod authorization_code;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod enterprise;
pub mod httpsig;
pub mod issuer_pin;
pub mod key;
pub mod limits;
pub mod loopback;
pub mod response;
#[cfg(feature = "rmcp")]
pub mod rmcp_transport;
pub mod session;
pub mod sign_in;
pub mod signer;
pub mod sse;
pub mod token;
pub mod token_cache;
mod token_file;
pub mod tool_headers;
mod unverified;
pub mod workload;

pub use authorization_code::{
    AuthorizationCodeClient, AuthorizationError, AuthorizationRequest, Authorizer,
};
pub use client_auth::{ClientAuth, ClientAuthError};
pub use discovery::{Discovery, DiscoveryError, discover};
pub use dpop::DpopSigner;
pub use enterprise::{EnterpriseError, EnterpriseGrant, IdTokenSource};
pub use httpsig::{HttpSigSigner, SignRequestError};
pub use issuer_pin::{IssuerPolicy, UntrustedIssuer};
pub use key::{KeyFileError, ProofKey};
pub use loopback::{LoopbackError, LoopbackRedirect};
pub use mcp_auth_core::challenge::{Challenge, parse_challenges};
pub use response::PendingResponse;
pub use session::{CallError, CallOutcome, Grant, McpClient};
pub use sign_in::SignInError;
pub use signer::RequestSigner;
pub use token::{TokenError, TokenResponse, request_token};
pub use token_cache::{
    CachedToken, KeptSignIn, RegisteredClient, SignInChoiceError, TokenCache, TokenCacheError,
};
pub use tool_headers::ToolHeaders;
pub use workload::{PlatformToken, WorkloadError};
