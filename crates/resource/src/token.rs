//! Access tokens at the resource: verified once against the AS's JWKS, then cached by
//! the SHA-256 of the token until they expire, with the key from their `cnf` already
//! parsed and its thumbprint computed. A request then costs one signature check, the
//! presentation's (ARCHITECTURE.md "Performance budget").

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

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

/// Verifies access tokens for one issuer and audience, with a cache of verified ones.
pub struct AccessTokenCache {
    verifier: RwLock<Arc<TokenVerifier>>,
    issuer: String,
    audience: String,
    verified: moka::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
}

impl std::fmt::Debug for AccessTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenCache")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("cached", &self.verified.entry_count())
            .finish()
    }
}

impl AccessTokenCache {
    /// A cache for tokens of `issuer` for `audience`, verified with `jwks`.
    pub fn new(issuer: &str, audience: &str, jwks: &Jwks) -> Self {
        Self {
            verifier: RwLock::new(Arc::new(TokenVerifier::new(
                issuer.to_owned(),
                Some(audience.to_owned()),
                jwks,
            ))),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(TokenExpiry)
                .build(),
        }
    }

    /// Replaces the key set (after a rotation at the AS).
    pub fn set_jwks(&self, jwks: &Jwks) {
        let next = Arc::new(TokenVerifier::new(
            self.issuer.clone(),
            Some(self.audience.clone()),
            jwks,
        ));
        if let Ok(mut v) = self.verifier.write() {
            *v = next;
        }
    }

    /// Verifies `token` at `now`, from the cache when it was verified before.
    pub fn verify(&self, token: &str, now: i64) -> Result<Arc<VerifiedToken>, Rejection> {
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
        let verifier = match self.verifier.read() {
            Ok(v) => Arc::clone(&v),
            Err(_) => return Err(Rejection::Internal("token verifier lock poisoned".into())),
        };
        let claims = verifier.verify(token, now).map_err(Rejection::Token)?;
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
}

/// Fetches the JWKS of `issuer`: its RFC 8414 metadata (path-inserted well-known URL),
/// then `jwks_uri`. The issuer is operator configuration, not client input.
pub async fn fetch_jwks(http: &reqwest::Client, issuer: &str) -> Result<Jwks, String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("issuer {issuer}: {e}"))?;
    let path = url.path().trim_end_matches('/');
    let metadata_url = format!(
        "{}://{}/.well-known/oauth-authorization-server{path}",
        url.scheme(),
        url.host_str().unwrap_or_default().to_owned()
            + &url.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let metadata: serde_json::Value = get_json(http, &metadata_url).await?;
    if metadata.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(format!("{metadata_url} names another issuer"));
    }
    let jwks_uri = metadata
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("{metadata_url} has no jwks_uri"))?;
    get_json(http, jwks_uri).await
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    http.get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{url}: {e}"))
}
