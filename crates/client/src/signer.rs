//! One request-signing path for both proof-of-possession profiles: the client binds
//! its tokens to one key and proves possession on every request, by an HTTP message
//! signature (profiles/http-message-signatures.md) or a DPoP proof
//! (profiles/dpop.md). [`crate::McpClient`] and [`crate::request_token`] take a
//! [`RequestSigner`] and never look at which.

use http::{HeaderMap, HeaderValue, request::Parts};

use crate::discovery::AuthorizationServerMetadata;
use crate::{DpopSigner, HttpSigSigner, SignRequestError};

/// The key a client's tokens are bound to, and how it proves possession.
#[derive(Debug, Clone)]
pub enum RequestSigner {
    /// HTTP message signatures (`token_type: httpsig`, `Authorization: HTTPSig`).
    HttpSig(HttpSigSigner),
    /// DPoP (`token_type: DPoP`, `Authorization: DPoP` + `DPoP` proof).
    Dpop(DpopSigner),
}

impl From<HttpSigSigner> for RequestSigner {
    fn from(s: HttpSigSigner) -> Self {
        Self::HttpSig(s)
    }
}

impl From<DpopSigner> for RequestSigner {
    fn from(s: DpopSigner) -> Self {
        Self::Dpop(s)
    }
}

impl RequestSigner {
    /// The `token_type` a token request proved this way must come back with
    /// (HTTPSIG-C-6; RFC 9449 §5: anything else is a silent downgrade).
    pub fn token_type(&self) -> &'static str {
        match self {
            Self::HttpSig(_) => mcp_auth_core::httpsig_profile::TOKEN_TYPE,
            Self::Dpop(_) => "DPoP",
        }
    }

    /// The profile's name, for messages: `HTTPSig` or `DPoP`.
    pub fn profile(&self) -> &'static str {
        match self {
            Self::HttpSig(_) => "HTTPSig",
            Self::Dpop(_) => "DPoP",
        }
    }

    /// Whether `server`'s metadata advertises this way of binding a token with this
    /// key (WIF-C-6): for DPoP, the proof algorithm in
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1); for HTTPSig, the key's
    /// binding method in `httpsig_key_binding_methods_supported` and its algorithm
    /// in `httpsig_signing_alg_values_supported` when that list is given
    /// (HTTPSIG-AS-1).
    pub fn advertised_by(&self, server: &AuthorizationServerMetadata) -> bool {
        let listed = |list: &[String], value: &str| list.iter().any(|v| v == value);
        match self {
            Self::Dpop(s) => listed(&server.dpop_signing_alg_values_supported, s.alg().name()),
            Self::HttpSig(s) => {
                let algs = &server.httpsig_signing_alg_values_supported;
                listed(
                    &server.httpsig_key_binding_methods_supported,
                    s.key().binding().as_str(),
                ) && (algs.is_empty() || listed(algs, s.key().algorithm().name()))
            }
        }
    }

    /// The DPoP key's thumbprint, sent as `dpop_jkt` so the authorization code is
    /// bound to the key too (RFC 9449 §10).
    pub fn dpop_jkt(&self) -> Option<&str> {
        match self {
            Self::HttpSig(_) => None,
            Self::Dpop(s) => Some(s.jkt()),
        }
    }

    /// Proves possession on a token request (`parts` has its method and URI).
    pub fn sign_token_request(
        &self,
        parts: &mut Parts,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignRequestError> {
        match self {
            Self::HttpSig(s) => s.sign_token_request(parts, body, now),
            Self::Dpop(s) => s.add_proof(parts, None, now),
        }
    }

    /// Presents `access_token` on an MCP request and proves possession: the
    /// `Authorization` scheme of the profile, `Mcp-Method` / `Mcp-Name` from a POST
    /// body (SEP-2243), and the signature or proof.
    pub fn sign_resource_request(
        &self,
        parts: &mut Parts,
        access_token: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignRequestError> {
        match self {
            Self::HttpSig(s) => s.sign_mcp_request(parts, access_token, body, now),
            Self::Dpop(s) => {
                present_token(parts, "DPoP", access_token)?;
                if parts.method == http::Method::POST {
                    add_operation_headers(&mut parts.headers, body);
                }
                s.add_proof(parts, Some(access_token), now)
            }
        }
    }

    /// Keeps a server's `DPoP-Nonce` (DPoP only); true when it is new, so the
    /// refused request is worth retrying with it.
    pub fn remember_nonce(&self, uri: &str, headers: &HeaderMap) -> bool {
        match self {
            Self::HttpSig(_) => false,
            Self::Dpop(s) => s.remember_nonce(uri, headers),
        }
    }
}

/// Sets `Authorization: <scheme> <access_token>`, the presentation both profiles
/// (and Bearer) share; a token that cannot go in a header is refused.
pub(crate) fn present_token(
    parts: &mut Parts,
    scheme: &str,
    access_token: &str,
) -> Result<(), SignRequestError> {
    let value = HeaderValue::from_str(&format!("{scheme} {access_token}"))
        .map_err(|_| SignRequestError::Token)?;
    parts.headers.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

/// `Mcp-Method` / `Mcp-Name` from the body (SEP-2243), for the requests whose
/// presentation does not set them itself (Bearer, DPoP; the HTTPSig signer reads the
/// operation as it signs).
pub(crate) fn add_operation_headers(headers: &mut HeaderMap, body: &[u8]) {
    if let Ok(op) = mcp_auth_core::McpOperation::from_body(body) {
        for (name, value) in op.headers() {
            headers.insert(name, value);
        }
    }
}
