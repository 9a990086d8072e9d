//! The two signers of the http-message-signatures profile, on one key:
//!
//! - [`HttpSigSigner::sign_token_request`] (HTTPSIG-C-2): `Content-Digest` and a
//!   signature tagged `httpsig-oauth-token-request` over `@method`, `@target-uri`,
//!   `content-digest` (and `authorization` when present), with `alg` + `pub` for a
//!   runtime key or `keyid` for a pre-registered one;
//! - [`HttpSigSigner::sign_mcp_request`] (HTTPSIG-C-4, C-5): `Authorization: HTTPSig`,
//!   `Content-Digest`, `Mcp-Method` / `Mcp-Name` from the JSON-RPC body, and a
//!   signature tagged `httpsig-oauth` over everything the resource requires.
//!
//! Every signature has a fresh random nonce (128 bits) and `created` = `now`
//! (HTTPSIG-C-3).

use http::header::AUTHORIZATION;
use http::request::Parts;
use mcp_auth_core::httpsig_profile::{
    KeyBinding, LABEL, PRESENTATION_TAG, RequestShape, SCHEME, TOKEN_REQUEST_TAG,
    param_header_components, presentation_components, token_request_components,
};
use mcp_auth_core::mcp_binding::MCP_PROTOCOL_VERSION;
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};
use mcp_auth_httpsig::{DigestAlgorithm, NonceMode, RequestTarget, SignError, Signer};

use crate::key::ProofKey;

/// A request could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignRequestError {
    /// The signing step failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The body of a POST is not a single JSON-RPC message.
    #[error(transparent)]
    Body(#[from] mcp_auth_core::BodyError),
    /// The token cannot go in a header.
    #[error("the access token is not a valid header value")]
    Token,
    /// A DPoP proof could not be made.
    #[error("DPoP proof: {0}")]
    Dpop(String),
}

/// Signs token requests and MCP requests with one [`ProofKey`].
#[derive(Debug, Clone)]
pub struct HttpSigSigner {
    key: ProofKey,
    nonce: NonceMode,
}

impl HttpSigSigner {
    /// A signer for `key`.
    pub fn new(key: ProofKey) -> Self {
        Self {
            key,
            nonce: NonceMode::Random,
        }
    }

    /// Uses this nonce in every signature instead of a random one: for published
    /// test vectors only (the second request with it is a replay).
    pub fn with_fixed_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = NonceMode::Fixed(nonce.into());
        self
    }

    /// The key.
    pub fn key(&self) -> &ProofKey {
        &self.key
    }

    fn signer(&self) -> Result<Signer, SignError> {
        Ok(
            Signer::new(self.key.signing_key().clone(), self.key.algorithm())?
                .label(LABEL)
                .created(true)
                .nonce(self.nonce.clone()),
        )
    }

    /// Signs a token request in place (draft-richer-oauth-httpsig-03 §2.3): `parts`
    /// has the absolute token endpoint URI and any client authentication header;
    /// `body` is the form body exactly as sent.
    pub fn sign_token_request(
        &self,
        parts: &mut Parts,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignRequestError> {
        let components = token_request_components(parts.headers.contains_key(AUTHORIZATION));
        let mut signer = self
            .signer()?
            .components(components)
            .tag(TOKEN_REQUEST_TAG)
            .content_digest(Some(DigestAlgorithm::Sha256));
        signer = match (self.key.binding(), self.key.kid()) {
            (KeyBinding::Preregistered, Some(kid)) => signer.keyid(kid),
            _ => signer.include_alg(true).include_pub(true),
        };
        signer.sign_request(parts, body, RequestTarget::default(), now)?;
        Ok(())
    }

    /// Signs an MCP request in place (profiles/http-message-signatures.md §
    /// Presentation): sets `Authorization: HTTPSig <token>`; for a POST of a request
    /// or notification reads the JSON-RPC operation from `body` and sets `Mcp-Method` /
    /// `Mcp-Name` (a POST of a response gets neither)
    /// (SEP-2243); adds `Content-Digest` for a body; covers
    /// `mcp-protocol-version` when that header is already set.
    pub fn sign_mcp_request(
        &self,
        parts: &mut Parts,
        access_token: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignRequestError> {
        crate::signer::present_token(parts, SCHEME, access_token)?;
        let mut has_operation = false;
        let mut has_mcp_name = false;
        if parts.method == http::Method::POST
            && let JsonRpcBody::Operation(operation) = read_body(body)?
        {
            has_operation = true;
            has_mcp_name = operation.name.is_some();
            for (name, value) in operation.headers() {
                parts.headers.insert(name, value);
            }
        }
        let shape = RequestShape {
            has_operation,
            has_body: !body.is_empty(),
            has_mcp_name,
            has_protocol_version: parts.headers.contains_key(MCP_PROTOCOL_VERSION),
        };
        let digest = shape.has_body.then_some(DigestAlgorithm::Sha256);
        // HTTPSIG-C-8: every `Mcp-Param-*` header sent is covered (they are added
        // before signing: `crate::McpClient::send`).
        let mut components = presentation_components(shape);
        components.extend(param_header_components(&parts.headers));
        self.signer()?
            .components(components)
            .tag(PRESENTATION_TAG)
            .content_digest(digest)
            .sign_request(parts, body, RequestTarget::default(), now)?;
        Ok(())
    }
}
