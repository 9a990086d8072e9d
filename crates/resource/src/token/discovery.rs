//! Finding a trusted issuer's keys: its metadata by the MCP spec's well-known URLs,
//! then its JWKS, each document read within [`FetchLimits::METADATA`]; and the
//! errors that name the document that failed.

use mcp_auth_core::fetch::{FetchError, FetchLimits};

use super::{IssuerKeys, cache_max_age};

/// The HTTP client for metadata and key fetches: no redirects (an issuer's documents
/// are where its metadata says). Time and size are bounded per read by
/// [`mcp_auth_core::fetch::json`].
pub(super) fn outbound_client() -> reqwest::Client {
    mcp_auth_core::connection_pool::client_builder()
        .connect_timeout(FetchLimits::METADATA.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Why a trusted issuer could not be discovered. Each message names the URL that
/// failed, for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer identifier gives no metadata URL.
    #[error("issuer {issuer}: {error}")]
    Issuer {
        /// The configured issuer.
        issuer: String,
        /// Why it is not a URL.
        error: url::ParseError,
    },
    /// A document could not be read, or is not what it should be.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The metadata at this URL names another issuer.
    #[error("{0} names another issuer")]
    OtherIssuer(String),
    /// The metadata at this URL has no `jwks_uri`.
    #[error("{0} has no jwks_uri")]
    NoJwksUri(String),
    /// No metadata URL answered: why each failed, in the order tried.
    #[error("{}", join(.0))]
    NoMetadata(Vec<DocumentError>),
}

/// One JSON document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct DocumentError {
    /// Where it was read from.
    pub url: String,
    /// What went wrong.
    pub problem: DocumentProblem,
}

/// What went wrong reading a document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentProblem {
    /// The bounded read failed (time, size, status, not JSON).
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The JSON is not the document expected.
    #[error("{0}")]
    Shape(#[from] serde_json::Error),
}

fn join(errors: &[DocumentError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Discovers a trusted issuer: its metadata from the well-known URLs in the MCP
/// spec's order ([`mcp_auth_core::discovery`]), its `issuer` checked to be
/// exactly `issuer`, then its `jwks_uri`. The issuer is operator configuration, not
/// client input. Each document is read within [`FetchLimits::METADATA`] (64 KiB,
/// 5 s).
pub async fn discover_issuer(issuer: &str) -> Result<IssuerKeys, DiscoveryError> {
    let http = outbound_client();
    let candidates =
        mcp_auth_core::discovery::authorization_server_metadata_urls(issuer).map_err(|error| {
            DiscoveryError::Issuer {
                issuer: issuer.to_owned(),
                error,
            }
        })?;
    let mut errors = Vec::new();
    for metadata_url in candidates {
        let metadata: serde_json::Value = match get_json(&http, &metadata_url).await {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if metadata.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(DiscoveryError::OtherIssuer(metadata_url));
        }
        let Some(jwks_uri) = metadata.get("jwks_uri").and_then(|v| v.as_str()) else {
            return Err(DiscoveryError::NoJwksUri(metadata_url));
        };
        let (jwks, headers) = get_document(&http, jwks_uri).await?;
        return Ok(IssuerKeys {
            issuer: issuer.to_owned(),
            jwks,
            jwks_uri: Some(jwks_uri.to_owned()),
            max_age: cache_max_age(&headers),
        });
    }
    Err(DiscoveryError::NoMetadata(errors))
}

/// One JSON document at `url`, read through the size-capped, deadline-bounded
/// [`mcp_auth_core::fetch::json`] (a JWKS at runtime included: a key refresh is
/// triggered by any token naming an unknown `kid`, so its cost must be bounded).
/// The error names the URL, for the operator's logs.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, DocumentError> {
    get_document(http, url).await.map(|(document, _)| document)
}

/// [`get_json`], with the response headers (a JWKS's `Cache-Control`).
pub(super) async fn get_document<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<(T, http::HeaderMap), DocumentError> {
    let problem = match mcp_auth_core::fetch::json(http.get(url), FetchLimits::METADATA).await {
        Ok(fetched) => match serde_json::from_value(fetched.value) {
            Ok(document) => return Ok((document, fetched.headers)),
            Err(e) => DocumentProblem::from(e),
        },
        Err(e) => DocumentProblem::from(e),
    };
    Err(DocumentError {
        url: url.to_owned(),
        problem,
    })
}
