//! What a protected MCP resource is and what it accepts.

use std::sync::Arc;

use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::dpop::{DEFAULT_ALGORITHMS, NonceSealer, ProofWindow};
use mcp_auth_core::httpsig_profile::Window;
use mcp_auth_core::weakening::Weakenings;
use mcp_auth_httpsig::JwsAlgorithm;

use crate::policy::Policy;
use crate::scope_policy::ScopePolicy;

/// The configuration of one protected resource.
///
/// The resource URL is parsed once, by [`ResourceConfig::new`], which refuses one that
/// cannot be a resource identifier: the scheme and authority every signature's
/// `@target-uri` and every DPoP proof's `htu` are checked against come from it, so a
/// URL that silently failed to parse would make every presentation fail.
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// The identifier as configured: compared exactly with a token's `aud`, and the
    /// metadata's `resource`.
    resource: String,
    /// The same, parsed: `@target-uri` and `htu` are rebuilt from its scheme and
    /// authority (HTTPSIG-RS-11), the protected path is its path.
    url: url::Url,
    /// `host[:port]` of `url`.
    authority: String,
    /// The RFC 9728 §3.1 metadata URL of `resource`.
    metadata_url: String,
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
    /// Policy rules over the principal and the operation (default: none).
    pub policy: Policy,
    /// Where the resource side reads the time (token expiry, signature and proof
    /// windows, DPoP nonces); default the system clock, a
    /// [`mcp_auth_core::ManualClock`] in tests.
    pub clock: SharedClock,
    /// Checks switched off, for the conformance checker's mutation proof only: always
    /// none unless built with the `weakenings` feature and set from Rust code
    /// (`mcp_auth_core::weakening`); no configuration file reaches it.
    pub weakenings: Weakenings,
}

/// A resource URL that cannot identify a protected resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceConfigError {
    /// Not a URL at all.
    #[error("resource {resource}: {error}")]
    Unparsable {
        /// The configured text.
        resource: String,
        /// Why it does not parse.
        error: url::ParseError,
    },
    /// A scheme other than `http`/`https`, or no host: there is no `@target-uri` to
    /// check a signature against.
    #[error("resource {0}: a resource identifier is an http or https URL with a host")]
    NotHttp(String),
    /// A query or a fragment (RFC 8707 §2: a resource identifier has neither).
    #[error("resource {0}: a resource identifier has no query or fragment")]
    QueryOrFragment(String),
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
    /// A resource at `resource` trusting `issuer`, HTTPSig required, the system clock,
    /// defaults elsewhere; an error when `resource` is not an `http`/`https` URL with
    /// a host and without query or fragment.
    pub fn new(
        resource: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Result<Self, ResourceConfigError> {
        let resource = resource.into();
        let url = url::Url::parse(&resource).map_err(|error| ResourceConfigError::Unparsable {
            resource: resource.clone(),
            error,
        })?;
        let authority = match (url.scheme(), url.host_str(), url.port()) {
            ("http" | "https", Some(h), Some(p)) => format!("{h}:{p}"),
            ("http" | "https", Some(h), None) => h.to_owned(),
            _ => return Err(ResourceConfigError::NotHttp(resource)),
        };
        if url.fragment().is_some() || url.query().is_some() {
            return Err(ResourceConfigError::QueryOrFragment(resource));
        }
        let metadata_url = mcp_auth_core::discovery::protected_resource_metadata_urls(&resource)
            .ok()
            .and_then(|urls| urls.into_iter().next())
            .ok_or_else(|| ResourceConfigError::NotHttp(resource.clone()))?;
        Ok(Self {
            resource,
            url,
            authority,
            metadata_url,
            authorization_servers: vec![issuer.into()],
            scopes_supported: Vec::new(),
            bound_tokens_required: true,
            dpop: None,
            window: Window::default(),
            max_body: 4 * 1024 * 1024,
            scopes: ScopePolicy::default(),
            policy: Policy::default(),
            clock: system_clock(),
            weakenings: Weakenings::NONE,
        })
    }

    /// The resource identifier, exactly as configured (the tokens' `aud`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The resource URL, parsed.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The RFC 9728 §3.1 metadata URL: the well-known prefix inserted before the
    /// resource's path.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The scheme of the resource URL.
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The authority (`host[:port]`) of the resource URL.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_url_is_parsed_once_with_its_target() {
        let c = ResourceConfig::new("https://mcp.example.com:8443/mcp", "https://as")
            .expect("a resource URL");
        assert_eq!(c.resource(), "https://mcp.example.com:8443/mcp");
        assert_eq!(c.scheme(), "https");
        assert_eq!(c.authority(), "mcp.example.com:8443");
        assert_eq!(
            c.metadata_url(),
            "https://mcp.example.com:8443/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn a_bad_resource_url_is_refused_at_construction() {
        for (bad, says) in [
            ("mcp.example.com/mcp", "relative URL without a base"),
            ("https://", "empty host"),
            ("urn:example:mcp", "an http or https URL with a host"),
            (
                "ftp://mcp.example.com/mcp",
                "an http or https URL with a host",
            ),
            ("https://mcp.example.com/mcp?x=1", "no query or fragment"),
            ("https://mcp.example.com/mcp#f", "no query or fragment"),
        ] {
            let error = ResourceConfig::new(bad, "https://as")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                error.starts_with(&format!("resource {bad}: ")),
                "{bad}: {error}"
            );
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
