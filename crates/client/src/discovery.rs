//! From an MCP server's 401 to the authorization server that can issue its tokens
//! (MCP authorization, "Authorization Server Discovery"): the protected resource
//! metadata named by `resource_metadata` in a challenge, else the RFC 9728 well-known
//! URLs in order; its `resource` checked against the server; then the first listed
//! authorization server's metadata, from the well-known URLs in the spec's order,
//! whose `issuer` must be exactly the identifier it was looked up by.
//!
//! Every document is read with [`mcp_auth_core::fetch::json`] within
//! [`FetchLimits::METADATA`] (64 KiB, 5 s): a URL a challenge names may be hostile,
//! and a document that never ends or never comes costs no more than that.

use mcp_auth_core::discovery::{
    authorization_server_metadata_urls, protected_resource_metadata_urls,
};
use mcp_auth_core::fetch::{FetchError, FetchLimits};
use serde::Deserialize;

use mcp_auth_core::challenge::{Challenge, find_param};

/// The protected resource metadata members a client uses (RFC 9728 §2).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The resource identifier, sent as `resource` exactly as given here.
    pub resource: String,
    /// Issuers of the authorization servers, first preferred.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource uses.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// http-message-signatures: bound tokens required.
    #[serde(default)]
    pub httpsig_bound_access_tokens_required: bool,
}

/// The authorization server metadata members a client uses (RFC 8414 §2).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// The JWK Set of the server's signing keys: an identity provider's ID tokens
    /// are verified with it (OIDC Discovery §3, OIDC Core §3.1.3.7).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// RFC 7591 registration endpoint.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Scopes the AS knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Token endpoint client authentication methods.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client ID Metadata Documents accepted as `client_id`.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: authorization responses carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The grant types the AS supports. Absent means RFC 8414 §2's default
    /// (`authorization_code`, `implicit`): a grant that must be listed, such as the
    /// workload's `jwt-bearer` (WIF-C-1), is then not supported.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// RFC 9449 §5.1: the DPoP proof algorithms the AS accepts; empty when it does
    /// not implement DPoP.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// http-message-signatures (HTTPSIG-AS-1): the key binding methods the AS
    /// accepts (`runtime`, `preregistered`); empty when it does not implement it.
    #[serde(default)]
    pub httpsig_key_binding_methods_supported: Vec<String>,
    /// http-message-signatures (HTTPSIG-AS-1): the signature algorithms the AS
    /// accepts on token requests.
    #[serde(default)]
    pub httpsig_signing_alg_values_supported: Vec<String>,
    /// The ID-JAG draft §7.2: the authorization grant profiles the AS redeems
    /// (`urn:ietf:params:oauth:grant-profile:id-jag`). `None` when the member is
    /// absent, which is not a refusal (enterprise-managed-authorization D17).
    #[serde(default)]
    pub authorization_grant_profiles_supported: Option<Vec<String>>,
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The protected resource metadata.
    pub resource: ResourceMetadata,
    /// The chosen authorization server's metadata.
    pub authorization_server: AuthorizationServerMetadata,
    /// The `scope` of the challenge, if it named one.
    pub challenge_scope: Option<String>,
}

impl Discovery {
    /// The scopes to ask for first (MCP "Scope Selection Strategy"): the challenge's,
    /// else the resource's `scopes_supported`, else none.
    pub fn initial_scope(&self) -> Option<String> {
        self.challenge_scope.clone().or_else(|| {
            (!self.resource.scopes_supported.is_empty())
                .then(|| self.resource.scopes_supported.join(" "))
        })
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A URL could not be parsed.
    #[error("{0}: not a URL")]
    BadUrl(String),
    /// No protected resource metadata at any location.
    #[error("no protected resource metadata found (tried {0})")]
    NoResourceMetadata(Attempts),
    /// The metadata describes another resource.
    #[error("the protected resource metadata is for {found}, not for {server}: refusing to use it")]
    ResourceMismatch {
        /// The server the client called.
        server: String,
        /// The `resource` of the metadata.
        found: String,
    },
    /// The metadata lists no authorization server.
    #[error("the protected resource metadata lists no authorization server")]
    NoAuthorizationServer,
    /// No authorization server metadata at any location.
    #[error("no metadata for authorization server {issuer} (tried {tried})")]
    NoServerMetadata {
        /// The issuer looked up.
        issuer: String,
        /// The URLs tried, and why each gave nothing.
        tried: Attempts,
    },
    /// A metadata document names another issuer (RFC 8414 §3.3).
    #[error("{url} names issuer {found}, not {expected}: refusing to use it")]
    IssuerMismatch {
        /// Where it was fetched.
        url: String,
        /// What it should name.
        expected: String,
        /// What it names.
        found: String,
    },
}

/// Why one metadata URL gave no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The read failed: status, size, deadline, connection, not JSON.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// JSON, but not the metadata (a required member missing or mistyped).
    #[error("not a metadata document")]
    NotMetadata,
}

/// One URL tried and why it gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The URL.
    pub url: String,
    /// Why.
    pub error: MetadataError,
}

/// The URLs tried, in order: `url: why, url: why`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attempts(pub Vec<Attempt>);

impl std::fmt::Display for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", a.url, a.error)?;
        }
        Ok(())
    }
}

/// Discovers the authorization server of the MCP endpoint `server_url` from the
/// `challenges` of its 401 (possibly none).
///
/// The resource may list several authorization servers (RFC 9728 §2); the first is
/// used, or `preferred` when the list has it (the issuer a pre-registered client is
/// registered at, so that its credentials can be used).
pub async fn discover(
    http: &reqwest::Client,
    server_url: &str,
    challenges: &[Challenge],
    preferred: Option<&str>,
) -> Result<Discovery, DiscoveryError> {
    let named = find_param(challenges, SCHEMES, "resource_metadata");
    let candidates = match named {
        Some(url) => vec![url.to_owned()],
        None => protected_resource_metadata_urls(server_url)
            .map_err(|_| DiscoveryError::BadUrl(server_url.to_owned()))?,
    };
    let (_, resource) = first_document::<ResourceMetadata>(http, &candidates)
        .await
        .map_err(DiscoveryError::NoResourceMetadata)?;
    if !serves(&resource.resource, server_url) {
        return Err(DiscoveryError::ResourceMismatch {
            server: server_url.to_owned(),
            found: resource.resource,
        });
    }
    let issuer = preferred
        .and_then(|p| resource.authorization_servers.iter().find(|s| *s == p))
        .or_else(|| resource.authorization_servers.first())
        .ok_or(DiscoveryError::NoAuthorizationServer)?
        .clone();
    let authorization_server = authorization_server_metadata(http, &issuer).await?;
    Ok(Discovery {
        resource,
        authorization_server,
        challenge_scope: challenge_scope(challenges),
    })
}

/// Discovery as protocol version 2025-03-26 defined it, before protected resource
/// metadata existed (its "Authorization Base URL" and "Fallbacks for Servers without
/// Metadata Discovery"): the authorization server is the MCP server's origin; its
/// RFC 8414 metadata at `/.well-known/oauth-authorization-server` there, `issuer`
/// checked exactly; else the default endpoints `/authorize`, `/token` and
/// `/register` at that origin. Only for servers that speak 2025-03-26 and publish
/// no resource metadata. The resource is the server URL.
pub async fn discover_2025_03_26(
    http: &reqwest::Client,
    server_url: &str,
    challenges: &[Challenge],
) -> Result<Discovery, DiscoveryError> {
    let url =
        url::Url::parse(server_url).map_err(|_| DiscoveryError::BadUrl(server_url.to_owned()))?;
    let origin = url.origin().ascii_serialization();
    let metadata_url = format!("{origin}/.well-known/oauth-authorization-server");
    let authorization_server =
        match get_json::<AuthorizationServerMetadata>(http, &metadata_url).await {
            Ok(doc) => named_issuer(doc, &origin, metadata_url)?,
            Err(_) => AuthorizationServerMetadata {
                token_endpoint: format!("{origin}/token"),
                authorization_endpoint: Some(format!("{origin}/authorize")),
                registration_endpoint: Some(format!("{origin}/register")),
                jwks_uri: None,
                issuer: origin.clone(),
                scopes_supported: Vec::new(),
                token_endpoint_auth_methods_supported: Vec::new(),
                client_id_metadata_document_supported: false,
                authorization_response_iss_parameter_supported: false,
                grant_types_supported: Vec::new(),
                dpop_signing_alg_values_supported: Vec::new(),
                httpsig_key_binding_methods_supported: Vec::new(),
                httpsig_signing_alg_values_supported: Vec::new(),
                authorization_grant_profiles_supported: None,
            },
        };
    Ok(Discovery {
        resource: ResourceMetadata {
            resource: server_url.to_owned(),
            authorization_servers: vec![origin],
            scopes_supported: Vec::new(),
            httpsig_bound_access_tokens_required: false,
        },
        authorization_server,
        challenge_scope: challenge_scope(challenges),
    })
}

/// The metadata of `issuer`, from the first well-known URL that answers; a document
/// naming another issuer is refused, not skipped.
pub async fn authorization_server_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let urls = authorization_server_metadata_urls(issuer)
        .map_err(|_| DiscoveryError::BadUrl(issuer.to_owned()))?;
    let (url, doc) =
        first_document(http, &urls)
            .await
            .map_err(|tried| DiscoveryError::NoServerMetadata {
                issuer: issuer.to_owned(),
                tried,
            })?;
    named_issuer(doc, issuer, url)
}

/// The metadata of the identity provider `issuer`, the `iss` of the user's ID
/// token (profiles/enterprise-managed-authorization.md §7.11 item 3, EMA-C-3):
/// first at the OpenID Connect location (`/.well-known/openid-configuration`
/// appended to the issuer, OIDC Discovery §4), and only when that answers 404 at
/// the RFC 8414 location (the well-known path inserted before the issuer's path).
/// Any other failure ends the search: the first location is the IdP's own. A
/// document naming another issuer is refused (OIDC Discovery §4.3, RFC 8414 §3.3).
/// The exchange uses only `issuer` and `token_endpoint` (D17); a sign-in
/// ([`crate::sign_in`]) also `authorization_endpoint` and `jwks_uri`.
pub async fn identity_provider_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let url = url::Url::parse(issuer).map_err(|_| DiscoveryError::BadUrl(issuer.to_owned()))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut tried = Attempts::default();
    for url in [
        format!("{origin}{path}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
    ] {
        match get_json::<AuthorizationServerMetadata>(http, &url).await {
            Ok(doc) => return named_issuer(doc, issuer, url),
            Err(error) => {
                let not_found = error == MetadataError::Fetch(FetchError::Status(404));
                tried.0.push(Attempt { url, error });
                if !not_found {
                    break;
                }
            }
        }
    }
    Err(DiscoveryError::NoServerMetadata {
        issuer: issuer.to_owned(),
        tried,
    })
}

/// The authentication schemes whose challenges discovery reads.
const SCHEMES: &[&str] = &["Bearer", "HTTPSig", "DPoP"];

/// The `scope` the challenges name, if any.
fn challenge_scope(challenges: &[Challenge]) -> Option<String> {
    find_param(challenges, SCHEMES, "scope").map(str::to_owned)
}

/// `doc` (read from `url`) if it names `issuer`; a document naming another issuer
/// is refused (RFC 8414 §3.3), not skipped.
fn named_issuer(
    doc: AuthorizationServerMetadata,
    issuer: &str,
    url: String,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    if doc.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            url,
            expected: issuer.to_owned(),
            found: doc.issuer,
        });
    }
    Ok(doc)
}

/// The first of `urls` that gives a `T`, and its URL; else every URL tried and why
/// each gave nothing.
async fn first_document<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    urls: &[String],
) -> Result<(String, T), Attempts> {
    let mut tried = Attempts::default();
    for url in urls {
        match get_json::<T>(http, url).await {
            Ok(doc) => return Ok((url.clone(), doc)),
            Err(error) => tried.0.push(Attempt {
                url: url.clone(),
                error,
            }),
        }
    }
    Err(tried)
}

/// Whether the resource identifier `resource` covers `server_url`: same origin, and
/// the server's path is the resource's path or below it.
fn serves(resource: &str, server_url: &str) -> bool {
    let (Ok(r), Ok(s)) = (url::Url::parse(resource), url::Url::parse(server_url)) else {
        return false;
    };
    if r.origin() != s.origin() {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let sp = s.path().trim_end_matches('/');
    sp == rp || sp.starts_with(&format!("{rp}/"))
}

/// The metadata document at `url`, read within [`FetchLimits::METADATA`].
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, MetadataError> {
    let fetched = mcp_auth_core::fetch::json(http.get(url), FetchLimits::METADATA).await?;
    serde_json::from_value(fetched.value).map_err(|_| MetadataError::NotMetadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_covers_its_own_path_and_below_on_the_same_origin() {
        assert!(serves(
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcp"
        ));
        assert!(serves(
            "https://mcp.example.com/",
            "https://mcp.example.com/mcp"
        ));
        assert!(serves(
            "https://mcp.example.com",
            "https://mcp.example.com/mcp"
        ));
        assert!(!serves(
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcpx"
        ));
        assert!(!serves(
            "https://other.example.com/mcp",
            "https://mcp.example.com/mcp"
        ));
        assert!(!serves(
            "http://mcp.example.com/mcp",
            "https://mcp.example.com/mcp"
        ));
    }
}
