//! Access tokens at the resource: verified once against the AS's JWKS, then cached by
//! the SHA-256 of the token until they expire, with the key from their `cnf` already
//! parsed and its thumbprint computed. A request then costs one signature check, the
//! presentation's (docs/architecture.md, "Performance budget").
//!
//! Failures are [`TokenError`]s, about the token only; the presentation check turns
//! them into its HTTP refusal. Trusted issuers are found with [`discover_issuer`],
//! whose failures are [`DiscoveryError`]s naming the document that failed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mcp_auth_core::fetch::{FetchError, FetchLimits};
use mcp_auth_core::weakening::Weakenings;
use mcp_auth_core::{AccessTokenClaims, AccessTokenError, ConfirmationError, Jwks, TokenVerifier};
use mcp_auth_httpsig::VerifyingKey;

/// A token that verified: its claims and, when bound, the key and its thumbprint.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: AccessTokenClaims,
    /// The HTTP message signature key from `cnf` (`htsk` or `jwk`).
    pub key: Option<VerifyingKey>,
    /// RFC 7638 thumbprint of `key`.
    pub thumbprint: Option<String>,
}

/// Why a token is not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The JWT does not verify (signature, issuer, audience, times, form).
    #[error("{0}")]
    Invalid(#[from] AccessTokenError),
    /// The token verified, but its `cnf` names no usable key.
    #[error("{0}")]
    Confirmation(#[from] ConfirmationError),
    /// A thread panicked while replacing an issuer's keys: the keys cannot be read.
    #[error("token verifier lock poisoned")]
    Poisoned,
}

/// A verified token in the cache, with how long it has left: computed when it is
/// inserted, from the `now` it was verified at, so the cache reads no clock.
#[derive(Clone)]
struct Cached {
    token: Arc<VerifiedToken>,
    lifetime: Duration,
}

struct TokenExpiry;

impl moka::Expiry<[u8; 32], Cached> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// The fewest seconds between two JWKS fetches for one issuer. A token naming an
/// unknown `kid` triggers a fetch (the issuer may have rotated), and anyone can send
/// such a token; this bounds what they can make the gateway do.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// A trusted issuer: its identifier, its current key set, and where to fetch it again.
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    /// The issuer identifier, compared exactly with `iss`.
    pub issuer: String,
    /// The keys known now.
    pub jwks: Jwks,
    /// Where to fetch the keys when a token names an unknown `kid` (none: never).
    pub jwks_uri: Option<String>,
}

struct TrustedIssuer {
    verifier: RwLock<Arc<TokenVerifier>>,
    jwks_uri: Option<String>,
    /// When the keys were last fetched (UNIX seconds); one fetch at a time.
    fetched: tokio::sync::Mutex<Option<i64>>,
}

/// Verifies access tokens for one audience from any trusted issuer, with a cache of
/// verified ones.
pub struct AccessTokenCache {
    audience: String,
    issuers: HashMap<String, TrustedIssuer>,
    http: reqwest::Client,
    verified: moka::sync::Cache<[u8; 32], Cached>,
    /// Checks switched off (the conformance checker's mutation proof only).
    weakenings: Weakenings,
}

impl std::fmt::Debug for AccessTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenCache")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .field("audience", &self.audience)
            .field("cached", &self.verified.entry_count())
            .finish()
    }
}

impl AccessTokenCache {
    /// A cache for tokens of `issuer` for `audience`, verified with `jwks` (never
    /// fetched again; see [`AccessTokenCache::for_issuers`]).
    pub fn new(issuer: &str, audience: &str, jwks: &Jwks) -> Self {
        Self::for_issuers(
            audience,
            vec![IssuerKeys {
                issuer: issuer.to_owned(),
                jwks: jwks.clone(),
                jwks_uri: None,
            }],
        )
    }

    /// A cache for tokens for `audience` from any of `issuers`. A token is checked
    /// against the keys of the issuer its `iss` names, and nothing else.
    pub fn for_issuers(audience: &str, issuers: Vec<IssuerKeys>) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|i| {
                let verifier =
                    TokenVerifier::new(i.issuer.clone(), Some(audience.to_owned()), &i.jwks);
                (
                    i.issuer,
                    TrustedIssuer {
                        verifier: RwLock::new(Arc::new(verifier)),
                        jwks_uri: i.jwks_uri,
                        fetched: tokio::sync::Mutex::new(None),
                    },
                )
            })
            .collect();
        Self {
            audience: audience.to_owned(),
            issuers,
            http: outbound_client(),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(TokenExpiry)
                .build(),
            weakenings: Weakenings::NONE,
        }
    }

    /// This cache with `weakenings` in every verifier, now and after key refreshes
    /// (the conformance checker's mutation proof; `mcp_auth_core::weakening`).
    #[must_use]
    pub fn weakened(mut self, weakenings: Weakenings) -> Self {
        self.weakenings = weakenings;
        for trusted in self.issuers.values_mut() {
            if let Ok(v) = trusted.verifier.get_mut() {
                *v = Arc::new((**v).clone().weakened(weakenings));
            }
        }
        self
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.keys().map(String::as_str)
    }

    /// Replaces the key set of `issuer` (after a rotation at the AS); false when the
    /// issuer is not trusted.
    pub fn set_jwks(&self, issuer: &str, jwks: &Jwks) -> bool {
        let Some(trusted) = self.issuers.get(issuer) else {
            return false;
        };
        let next = Arc::new(
            TokenVerifier::new(issuer.to_owned(), Some(self.audience.clone()), jwks)
                .weakened(self.weakenings),
        );
        if let Ok(mut v) = trusted.verifier.write() {
            *v = next;
        }
        true
    }

    /// Verifies `token` at `now`, from the cache when it was verified before. A token
    /// of a trusted issuer naming a `kid` not in its keys makes the keys be fetched
    /// again (at most once per [`JWKS_REFRESH_INTERVAL`]) before it is refused.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<VerifiedToken>, TokenError> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        if let Some(hit) = self.verified.get(&hash) {
            // The cache expires entries at `exp`, but time checks are never skipped.
            if hit.token.claims.exp <= now {
                return Err(AccessTokenError::Expired.into());
            }
            return Ok(hit.token);
        }
        // Which issuer's keys to use: `iss`, read before the signature is checked,
        // only selects; the verifier checks it again against the signed claims.
        let issuer = unverified_issuer(token).ok_or(AccessTokenError::Malformed)?;
        let trusted = self
            .issuers
            .get(&issuer)
            .ok_or(AccessTokenError::WrongIssuer)?;
        let claims = match trusted.verify(token, now) {
            Err(TokenError::Invalid(AccessTokenError::UnknownKey))
                if self.refresh(&issuer, trusted, now).await =>
            {
                trusted.verify(token, now)?
            }
            other => other?,
        };
        let (key, thumbprint) = match &claims.cnf {
            Some(
                cnf @ (mcp_auth_core::Confirmation::Htsk(_) | mcp_auth_core::Confirmation::Jwk(_)),
            ) => {
                let key = cnf.verifying_key()?;
                let thumbprint = key.thumbprint();
                (Some(key), Some(thumbprint))
            }
            _ => (None, None),
        };
        let lifetime =
            Duration::from_secs(u64::try_from(claims.exp.saturating_sub(now)).unwrap_or(0));
        let verified = Arc::new(VerifiedToken {
            claims,
            key,
            thumbprint,
        });
        self.verified.insert(
            hash,
            Cached {
                token: Arc::clone(&verified),
                lifetime,
            },
        );
        Ok(verified)
    }

    /// Fetches `issuer`'s keys again unless that happened less than
    /// [`JWKS_REFRESH_INTERVAL`] before `now`; true when new keys were installed. A
    /// last fetch that seems to lie in the future (the clock was set back) does not
    /// hold the next one off.
    async fn refresh(&self, issuer: &str, trusted: &TrustedIssuer, now: i64) -> bool {
        let Some(uri) = &trusted.jwks_uri else {
            return false;
        };
        let mut fetched = trusted.fetched.lock().await;
        let interval = i64::try_from(JWKS_REFRESH_INTERVAL.as_secs()).unwrap_or(i64::MAX);
        if fetched.is_some_and(|at| at <= now && now - at < interval) {
            return false;
        }
        *fetched = Some(now);
        match get_json::<Jwks>(&self.http, uri).await {
            Ok(jwks) => {
                tracing::info!(
                    issuer,
                    keys = jwks.keys.len(),
                    "fetched the issuer's keys again"
                );
                metrics::counter!("mcp_auth_jwks_refresh_total", "outcome" => "ok").increment(1);
                self.set_jwks(issuer, &jwks)
            }
            Err(error) => {
                tracing::warn!(issuer, %error, "fetching the issuer's keys failed");
                metrics::counter!("mcp_auth_jwks_refresh_total", "outcome" => "error").increment(1);
                false
            }
        }
    }
}

impl TrustedIssuer {
    fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, TokenError> {
        let verifier = match self.verifier.read() {
            Ok(v) => Arc::clone(&v),
            Err(_) => return Err(TokenError::Poisoned),
        };
        Ok(verifier.verify(token, now)?)
    }
}

/// The `iss` of a JWT's payload, not verified.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}

/// The HTTP client for metadata and key fetches: no redirects (an issuer's documents
/// are where its metadata says). Time and size are bounded per read by
/// [`mcp_auth_core::fetch::json`].
fn outbound_client() -> reqwest::Client {
    reqwest::Client::builder()
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
        let jwks = get_json(&http, jwks_uri).await?;
        return Ok(IssuerKeys {
            issuer: issuer.to_owned(),
            jwks,
            jwks_uri: Some(jwks_uri.to_owned()),
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
    let problem = match mcp_auth_core::fetch::json(http.get(url), FetchLimits::METADATA).await {
        Ok(fetched) => match serde_json::from_value(fetched.value) {
            Ok(document) => return Ok(document),
            Err(e) => DocumentProblem::from(e),
        },
        Err(e) => DocumentProblem::from(e),
    };
    Err(DocumentError {
        url: url.to_owned(),
        problem,
    })
}
