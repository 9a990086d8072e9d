//! Access tokens at the resource: verified once against the AS's JWKS, then cached by
//! the SHA-256 of the token until they expire, with the key from their `cnf` already
//! parsed and its thumbprint computed. A request then costs one signature check, the
//! presentation's (docs/architecture.md, "Performance budget").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mcp_auth_core::fetch::FetchLimits;
use mcp_auth_core::{AccessTokenClaims, AccessTokenError, Jwks, TokenVerifier};
use mcp_auth_httpsig::VerifyingKey;

use crate::rejection::Rejection;

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

struct TokenExpiry;

impl moka::Expiry<[u8; 32], Arc<VerifiedToken>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<VerifiedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = value.claims.exp - mcp_auth_core::unix_now();
        Some(Duration::from_secs(u64::try_from(left.max(0)).unwrap_or(0)))
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
    /// When the keys were last fetched; one fetch at a time.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

/// Verifies access tokens for one audience from any trusted issuer, with a cache of
/// verified ones.
pub struct AccessTokenCache {
    audience: String,
    issuers: HashMap<String, TrustedIssuer>,
    http: reqwest::Client,
    verified: moka::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
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
        }
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
        let next = Arc::new(TokenVerifier::new(
            issuer.to_owned(),
            Some(self.audience.clone()),
            jwks,
        ));
        if let Ok(mut v) = trusted.verifier.write() {
            *v = next;
        }
        true
    }

    /// Verifies `token` at `now`, from the cache when it was verified before. A token
    /// of a trusted issuer naming a `kid` not in its keys makes the keys be fetched
    /// again (at most once per [`JWKS_REFRESH_INTERVAL`]) before it is refused.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<VerifiedToken>, Rejection> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        if let Some(hit) = self.verified.get(&hash) {
            // The cache expires entries at `exp`, but time checks are never skipped.
            if hit.claims.exp <= now {
                return Err(Rejection::Token(AccessTokenError::Expired));
            }
            return Ok(hit);
        }
        // Which issuer's keys to use: `iss`, read before the signature is checked,
        // only selects; the verifier checks it again against the signed claims.
        let issuer =
            unverified_issuer(token).ok_or(Rejection::Token(AccessTokenError::Malformed))?;
        let trusted = self
            .issuers
            .get(&issuer)
            .ok_or(Rejection::Token(AccessTokenError::WrongIssuer))?;
        let claims = match trusted.verify(token, now) {
            Err(Rejection::Token(AccessTokenError::UnknownKey))
                if self.refresh(&issuer, trusted).await =>
            {
                trusted.verify(token, now)?
            }
            other => other?,
        };
        let (key, thumbprint) = match &claims.cnf {
            Some(
                cnf @ (mcp_auth_core::Confirmation::Htsk(_) | mcp_auth_core::Confirmation::Jwk(_)),
            ) => {
                let key = cnf.verifying_key().map_err(Rejection::Confirmation)?;
                let thumbprint = key.thumbprint();
                (Some(key), Some(thumbprint))
            }
            _ => (None, None),
        };
        let verified = Arc::new(VerifiedToken {
            claims,
            key,
            thumbprint,
        });
        self.verified.insert(hash, Arc::clone(&verified));
        Ok(verified)
    }

    /// Fetches `issuer`'s keys again unless that happened less than
    /// [`JWKS_REFRESH_INTERVAL`] ago; true when new keys were installed.
    async fn refresh(&self, issuer: &str, trusted: &TrustedIssuer) -> bool {
        let Some(uri) = &trusted.jwks_uri else {
            return false;
        };
        let mut fetched = trusted.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < JWKS_REFRESH_INTERVAL) {
            return false;
        }
        *fetched = Some(Instant::now());
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
    fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, Rejection> {
        let verifier = match self.verifier.read() {
            Ok(v) => Arc::clone(&v),
            Err(_) => return Err(Rejection::Internal("token verifier lock poisoned".into())),
        };
        verifier.verify(token, now).map_err(Rejection::Token)
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

/// Discovers a trusted issuer: its metadata from the well-known URLs in the MCP
/// spec's order ([`mcp_auth_core::discovery`]), its `issuer` checked to be
/// exactly `issuer`, then its `jwks_uri`. The issuer is operator configuration, not
/// client input. Each document is read within [`FetchLimits::METADATA`] (64 KiB,
/// 5 s).
pub async fn discover_issuer(issuer: &str) -> Result<IssuerKeys, String> {
    let http = outbound_client();
    let candidates = mcp_auth_core::discovery::authorization_server_metadata_urls(issuer)
        .map_err(|e| format!("issuer {issuer}: {e}"))?;
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
            return Err(format!("{metadata_url} names another issuer"));
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{metadata_url} has no jwks_uri"))?;
        let jwks = get_json(&http, jwks_uri).await?;
        return Ok(IssuerKeys {
            issuer: issuer.to_owned(),
            jwks,
            jwks_uri: Some(jwks_uri.to_owned()),
        });
    }
    Err(errors.join("; "))
}

/// One JSON document at `url`, read through the size-capped, deadline-bounded
/// [`mcp_auth_core::fetch::json`] (a JWKS at runtime included: a key refresh is
/// triggered by any token naming an unknown `kid`, so its cost must be bounded).
/// The error names the URL, for the operator's logs.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let fetched = mcp_auth_core::fetch::json(http.get(url), FetchLimits::METADATA)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_value(fetched.value).map_err(|e| format!("{url}: {e}"))
}
