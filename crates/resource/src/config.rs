//! What a protected MCP resource is and what it accepts.

use std::sync::Arc;

use mcp_auth_core::dpop::{DEFAULT_ALGORITHMS, NonceSealer, ProofWindow};
use mcp_auth_core::httpsig_profile::Window;
use mcp_auth_httpsig::JwsAlgorithm;

use crate::scope_policy::ScopePolicy;

/// The configuration of one protected resource.
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// The resource identifier (RFC 8707, RFC 9728 `resource`): the public URL of the
    /// MCP endpoint, e.g. `https://mcp.example.com/mcp`. Tokens must carry it as
    /// `aud`; `@target-uri` is rebuilt from its scheme and authority (HTTPSIG-RS-11).
    pub resource: String,
    /// The issuers of the authorization servers whose tokens are accepted, in the
    /// order the metadata lists them (RFC 9728 `authorization_servers`). Clients
    /// use the first.
    pub authorization_servers: Vec<String>,
    /// Scopes to advertise in the metadata (`scopes_supported`).
    pub scopes_supported: Vec<String>,
    /// Refuse Bearer and unbound tokens: only tokens bound to a key, presented with
    /// their proof (HTTPSig, or DPoP when [`ResourceConfig::dpop`] is set).
    pub bound_tokens_required: bool,
    /// Accept DPoP-bound tokens with `Authorization: DPoP` and a proof (RFC 9449 §7);
    /// `None`: the DPoP scheme is refused.
    pub dpop: Option<DpopPolicy>,
    /// The signature acceptance window (default 30 s, skew 5 s).
    pub window: Window,
    /// The largest request body read for verification, bytes (default 4 MiB).
    pub max_body: usize,
    /// Which scopes each operation needs (default: none).
    pub scopes: ScopePolicy,
}

/// How DPoP proofs are checked at this resource (profiles/dpop.md DPOP-RS-*).
#[derive(Debug, Clone)]
pub struct DpopPolicy {
    /// The accepted proof algorithms (`algs` in challenges).
    pub algorithms: Vec<JwsAlgorithm>,
    /// The `iat` window (default ±60 s, profiles/dpop.md §5.1 step 11).
    pub window: ProofWindow,
    /// Require a server nonce in every proof (RFC 9449 §9); `None`: no nonces.
    pub nonces: Option<Arc<NonceSealer>>,
    /// Remember each proof's `jti` for the window, in the replay cache the HTTPSig
    /// nonces use, so a proof is accepted once (default on; DPOP-RS-5).
    /// Off is SEP-1932's stateless mode: a captured proof replays within the window.
    pub jti_replay: bool,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            window: ProofWindow::default(),
            nonces: None,
            jti_replay: true,
        }
    }
}

impl ResourceConfig {
    /// A resource at `resource` trusting `issuer`, HTTPSig required, defaults
    /// elsewhere.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: vec![issuer.into()],
            scopes_supported: Vec::new(),
            bound_tokens_required: true,
            dpop: None,
            window: Window::default(),
            max_body: 4 * 1024 * 1024,
            scopes: ScopePolicy::default(),
        }
    }

    /// The RFC 9728 §3.1 metadata URL: the well-known prefix inserted before the
    /// resource's path.
    pub fn metadata_url(&self) -> String {
        mcp_auth_core::discovery::protected_resource_metadata_urls(&self.resource)
            .ok()
            .and_then(|urls| urls.into_iter().next())
            .unwrap_or_default()
    }

    /// The scheme of the resource URL.
    pub fn scheme(&self) -> String {
        url::Url::parse(&self.resource)
            .map(|u| u.scheme().to_owned())
            .unwrap_or_default()
    }

    /// The authority (`host[:port]`) of the resource URL.
    pub fn authority(&self) -> String {
        url::Url::parse(&self.resource)
            .map(|u| authority(&u))
            .unwrap_or_default()
    }
}

fn authority(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}
