//! Access tokens at the resource: verified once against the AS's JWKS, then cached
//! (keyed by the token itself) until they expire, with the key from their `cnf` already
//! parsed and its thumbprint computed. A request then costs one signature check, the
//! presentation's (docs/architecture.md, "Performance budget"). Requests that bring a
//! token while it is being verified wait for that verification (`first_use`); each
//! verification in full counts in `mcp_auth_token_verifications_total`, by outcome.
//!
//! Each issuer's keys are read at start ([`discover_issuer`]), again when a token names
//! a `kid` they lack (at most once per [`JWKS_REFRESH_INTERVAL`]), and, with
//! [`AccessTokenCache::refresh_every`], periodically in the background: a key the
//! issuer stops publishing stops being trusted within one refresh interval. When a
//! refresh drops a key, the key *generation* advances, and a cached token verified
//! under an older generation is verified again before it is accepted (one signature
//! check; the cache hit path itself stays one integer comparison). A failed refresh
//! keeps the keys known before, so an AS outage does not take the resource down.
//!
//! Failures are [`TokenError`]s, about the token only; the presentation check turns
//! them into its HTTP refusal. Trusted issuers are found with [`discover_issuer`],
//! whose failures are [`DiscoveryError`]s naming the document that failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use mcp_auth_core::dpop::AccessTokenDigest;
use mcp_auth_core::weakening::Weakenings;
use mcp_auth_core::{AccessTokenClaims, AccessTokenError, ConfirmationError, Jwks, TokenVerifier};
use mcp_auth_httpsig::VerifyingKey;

use crate::presentation::{Principal, Profile};

mod discovery;
mod first_use;

pub use discovery::{DiscoveryError, DocumentError, DocumentProblem, discover_issuer};
use discovery::{get_document, outbound_client};

/// A token that verified: its claims and, when bound, the key and its thumbprint.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: AccessTokenClaims,
    /// The HTTP message signature key from `cnf` (`htsk` or `jwk`).
    pub key: Option<VerifyingKey>,
    /// Every claim of the token, as signed (a JSON object): what policy rules read as
    /// `principal.claims`.
    pub all_claims: Arc<serde_json::Value>,
    /// What every request presenting the token shares of its [`Principal`], built
    /// once with the token; read through [`VerifiedToken::principal`] (which sets
    /// the request's own profile and thumbprint). Its profile here is a placeholder,
    /// its thumbprint that of `key`.
    principal: Principal,
    /// The SHA-256 of the token, computed when it was first verified: what the `ath` of
    /// a DPoP proof made for it encodes (so a DPoP request with a cached token hashes
    /// nothing), and its key among the verifications in progress (`first_use`).
    pub(crate) digest: AccessTokenDigest,
}

impl VerifiedToken {
    /// The principal of one request presenting this token with `profile`, its proof
    /// made with the key of `key_thumbprint`: the token's strings shared (reference
    /// counts), none copied.
    pub(crate) fn principal(
        &self,
        profile: Profile,
        key_thumbprint: Option<ByteString>,
    ) -> Principal {
        let shared = &self.principal;
        Principal {
            issuer: shared.issuer.clone(),
            subject: shared.subject.clone(),
            client_id: shared.client_id.clone(),
            scopes: Arc::clone(&shared.scopes),
            token_id: shared.token_id.clone(),
            profile,
            key_thumbprint,
            claims: Arc::clone(&shared.claims),
        }
    }

    /// The RFC 7638 thumbprint of `key`, kept once, in the principal every request
    /// presenting the token shares.
    pub fn key_thumbprint(&self) -> Option<&ByteString> {
        self.principal.key_thumbprint.as_ref()
    }
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
    /// The key generation ([`Issuers::generation`]) read before the token was
    /// verified: a hit of an older generation may rest on a key that was dropped since.
    generation: u64,
}

struct TokenExpiry;

impl moka::Expiry<Box<str>, Cached> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &Cached,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// The fewest seconds between two JWKS fetches for one issuer triggered by tokens. A
/// token naming an unknown `kid` triggers a fetch (the issuer may have rotated), and
/// anyone can send such a token; this bounds what they can make the gateway do.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How often [`AccessTokenCache::refresh_every`] re-reads the keys unless configured
/// otherwise (the gateway's `jwks_refresh`): 5 minutes.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);

/// The range an issuer's `Cache-Control: max-age` on its JWKS is brought into before
/// it shortens the refresh interval: at least 30 s (an issuer saying `no-cache` or
/// `max-age=0` does not get a fetch per second), at most 24 h.
pub const JWKS_MAX_AGE_RANGE: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(24 * 3600));

/// A trusted issuer: its identifier, its current key set, and where to fetch it again.
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    /// The issuer identifier, compared exactly with `iss`.
    pub issuer: String,
    /// The keys known now.
    pub jwks: Jwks,
    /// Where to fetch the keys again: when a token names an unknown `kid`, and
    /// periodically with [`AccessTokenCache::refresh_every`] (none: never).
    pub jwks_uri: Option<String>,
    /// The `Cache-Control` `max-age` the JWKS was served with (`no-cache` and
    /// `no-store` count as 0), if any: it shortens the first background refresh.
    pub max_age: Option<Duration>,
}

/// One issuer's keys: the verifier built from them, and the key set itself (a refresh
/// compares it with the new one to tell whether a key was dropped).
struct Keys {
    verifier: Arc<TokenVerifier>,
    jwks: Jwks,
}

struct TrustedIssuer {
    keys: RwLock<Keys>,
    jwks_uri: Option<String>,
    /// The `max-age` of the JWKS read at discovery.
    initial_max_age: Option<Duration>,
    /// When a token last made the keys be fetched (UNIX seconds, the request clock);
    /// held across every fetch of this issuer's keys, so there is one at a time.
    fetched: tokio::sync::Mutex<Option<i64>>,
}

/// The trusted issuers and their keys: shared by the cache and its background
/// refreshers.
struct Issuers {
    audience: String,
    trusted: HashMap<String, TrustedIssuer>,
    http: reqwest::Client,
    /// Checks switched off (the conformance checker's mutation proof only), applied
    /// to every verifier built, at start and after refreshes.
    weakenings: RwLock<Weakenings>,
    /// Advanced (after the new verifier is in place) whenever an issuer's key set
    /// loses a key: cached tokens verified before are verified again.
    generation: AtomicU64,
}

/// What installing a key set changed.
#[derive(Debug, Default)]
struct KeyChange {
    added: Vec<String>,
    dropped: Vec<String>,
}

/// Verifies access tokens for one audience from any trusted issuer, with a cache of
/// verified ones.
pub struct AccessTokenCache {
    issuers: Arc<Issuers>,
    /// Keyed by the token itself, hashed with foldhash (seeded per process; not a
    /// defence against chosen collisions, which needs none here): a hit costs that
    /// hash and one comparison of the token's bytes, where a SHA-256 of the token
    /// cost 0.25 to 0.45 µs (BENCHMARKS.md, "Issue 18: the token cache keyed by the
    /// token"). A forged token can only hit an entry by being byte for byte the
    /// token that verified. Only verified tokens are inserted, so an anonymous caller
    /// cannot make the map hold anything, nor crowd one hash bucket. The SHA-256 (DPoP's `ath`) is computed once, when
    /// the token is first verified, and kept in [`VerifiedToken::digest`].
    verified: moka::sync::Cache<Box<str>, Cached, foldhash::fast::RandomState>,
    /// The tokens being verified now, which later requests with them wait for.
    first_uses: first_use::FirstUses,
    /// The background refreshers of [`AccessTokenCache::refresh_every`], stopped when
    /// the cache is dropped.
    refreshers: Vec<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for AccessTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenCache")
            .field("issuers", &self.issuers.trusted.keys().collect::<Vec<_>>())
            .field("audience", &self.issuers.audience)
            .field("cached", &self.verified.entry_count())
            .field("refreshing", &!self.refreshers.is_empty())
            .finish()
    }
}

impl Drop for AccessTokenCache {
    fn drop(&mut self) {
        for refresher in &self.refreshers {
            refresher.abort();
        }
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
                max_age: None,
            }],
        )
    }

    /// A cache for tokens for `audience` from any of `issuers`. A token is checked
    /// against the keys of the issuer its `iss` names, and nothing else. The keys are
    /// fetched again when a token names an unknown `kid`; add
    /// [`AccessTokenCache::refresh_every`] to re-read them periodically too.
    pub fn for_issuers(audience: &str, issuers: Vec<IssuerKeys>) -> Self {
        let trusted = issuers
            .into_iter()
            .map(|i| {
                let verifier =
                    TokenVerifier::new(i.issuer.clone(), Some(audience.to_owned()), &i.jwks);
                (
                    i.issuer,
                    TrustedIssuer {
                        keys: RwLock::new(Keys {
                            verifier: Arc::new(verifier),
                            jwks: i.jwks,
                        }),
                        jwks_uri: i.jwks_uri,
                        initial_max_age: i.max_age,
                        fetched: tokio::sync::Mutex::new(None),
                    },
                )
            })
            .collect();
        Self {
            issuers: Arc::new(Issuers {
                audience: audience.to_owned(),
                trusted,
                http: outbound_client(),
                weakenings: RwLock::new(Weakenings::NONE),
                generation: AtomicU64::new(0),
            }),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(TokenExpiry)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            first_uses: first_use::FirstUses::default(),
            refreshers: Vec::new(),
        }
    }

    /// This cache with `weakenings` in every verifier, now and after key refreshes
    /// (the conformance checker's mutation proof; `mcp_auth_core::weakening`).
    #[must_use]
    pub fn weakened(self, weakenings: Weakenings) -> Self {
        if let Ok(mut w) = self.issuers.weakenings.write() {
            *w = weakenings;
        }
        for trusted in self.issuers.trusted.values() {
            if let Ok(mut keys) = trusted.keys.write() {
                keys.verifier = Arc::new((*keys.verifier).clone().weakened(weakenings));
            }
        }
        self
    }

    /// This cache, re-reading the keys of every issuer that has a `jwks_uri` in the
    /// background: `every` after the last fetch, or sooner when the issuer's
    /// `Cache-Control: max-age` (brought into [`JWKS_MAX_AGE_RANGE`]) is shorter; after
    /// a failed fetch, again within [`JWKS_REFRESH_INTERVAL`] (the keys known before
    /// stay in use, with a warning and `mcp_auth_jwks_refresh_failures_total{issuer}`).
    /// The refreshers stop when the cache is dropped. Must be called inside a Tokio
    /// runtime.
    #[must_use]
    pub fn refresh_every(mut self, every: Duration) -> Self {
        let every = every.max(Duration::from_millis(100));
        for (issuer, trusted) in &self.issuers.trusted {
            if trusted.jwks_uri.is_none() {
                continue;
            }
            let first = next_refresh(every, trusted.initial_max_age);
            let task = tokio::spawn(refresh_loop(
                Arc::downgrade(&self.issuers),
                issuer.clone(),
                every,
                first,
            ));
            self.refreshers.push(task.abort_handle());
        }
        self
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.trusted.keys().map(String::as_str)
    }

    /// The key set of `issuer` known now (`None`: not a trusted issuer).
    pub fn jwks(&self, issuer: &str) -> Option<Jwks> {
        let trusted = self.issuers.trusted.get(issuer)?;
        trusted.keys.read().ok().map(|k| k.jwks.clone())
    }

    /// Replaces the key set of `issuer` (after a rotation at the AS); false when the
    /// issuer is not trusted. Tokens verified with a key that `jwks` lacks are verified
    /// again when next presented.
    pub fn set_jwks(&self, issuer: &str, jwks: &Jwks) -> bool {
        self.issuers.install(issuer, jwks).is_some()
    }

    /// Verifies `token` at `now`, from the cache when it was verified before (under
    /// the current key generation). A token of a trusted issuer naming a `kid` not in
    /// its keys makes the keys be fetched again (at most once per
    /// [`JWKS_REFRESH_INTERVAL`]) before it is refused.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<VerifiedToken>, TokenError> {
        // Read before any key is: a token verified with keys a refresh is replacing
        // right now is recorded under the generation before it (see `Issuers::install`).
        let generation = self.issuers.generation.load(Ordering::Acquire);
        if let Some(hit) = self.cached(token, generation, now) {
            return hit;
        }
        // Boxed: the first verification of a token may wait for its turn and fetch
        // keys, and those states would otherwise add 1.2 KB to every request's future
        // (the cached path's too: 2,864 bytes instead of 1,648), copied whenever it is
        // moved. The box is made only on a miss and freed with the request.
        Box::pin(self.verify_first(token, now)).await
    }

    /// [`Self::verify`] of a token not found in the cache.
    async fn verify_first(&self, token: &str, now: i64) -> Result<Arc<VerifiedToken>, TokenError> {
        // Which issuer's keys to use: `iss`, read before the signature is checked,
        // only selects; the verifier checks it again against the signed claims. A
        // token of no trusted issuer is refused here, without waiting for a turn.
        let payload = unverified_payload(token).ok_or(AccessTokenError::Malformed)?;
        let issuer = payload
            .get("iss")
            .and_then(serde_json::Value::as_str)
            .ok_or(AccessTokenError::Malformed)?
            .to_owned();
        let trusted = self
            .issuers
            .trusted
            .get(&issuer)
            .ok_or(AccessTokenError::WrongIssuer)?;
        // One verification of a token at a time: requests that bring it meanwhile
        // wait, then find it cached (`first_use`).
        let digest = AccessTokenDigest::of(token);
        let _turn = self.first_uses.turn(digest).await;
        let generation = self.issuers.generation.load(Ordering::Acquire);
        if let Some(hit) = self.cached(token, generation, now) {
            return hit;
        }
        let outcome = self
            .verify_in_full(token, digest, &issuer, trusted, payload, now)
            .await;
        let label = if outcome.is_ok() {
            "verified"
        } else {
            "refused"
        };
        metrics::counter!("mcp_auth_token_verifications_total", "outcome" => label).increment(1);
        let verified = outcome?;
        let lifetime = Duration::from_secs(
            u64::try_from(verified.claims.exp.saturating_sub(now)).unwrap_or(0),
        );
        self.verified.insert(
            token.into(),
            Cached {
                token: Arc::clone(&verified),
                lifetime,
                generation,
            },
        );
        Ok(verified)
    }

    /// What the cache spares later requests: `token`'s signature checked with
    /// `trusted`'s keys (fetched again first when it names a `kid` they lack), its
    /// claims, and the key of its `cnf` parsed, with its thumbprint.
    async fn verify_in_full(
        &self,
        token: &str,
        digest: AccessTokenDigest,
        issuer: &str,
        trusted: &TrustedIssuer,
        payload: serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        let claims = match trusted.verify(token, now) {
            Err(TokenError::Invalid(AccessTokenError::UnknownKey)) => {
                // Checked again even when this fetch is held off: a fetch in progress
                // (a background refresh) may be what brings the key.
                self.refresh(issuer, trusted, now).await;
                trusted.verify(token, now)?
            }
            other => other?,
        };
        let (key, thumbprint) = match &claims.cnf {
            Some(
                cnf @ (mcp_auth_core::Confirmation::Htsk(_) | mcp_auth_core::Confirmation::Jwk(_)),
            ) => {
                let key = cnf.verifying_key()?;
                // Bound by a token the issuer signed: its checks may get a table.
                key.allow_table();
                let thumbprint = key.thumbprint();
                (Some(key), Some(thumbprint))
            }
            _ => (None, None),
        };
        // The signature covered these bytes: the claims map is what was signed.
        let all_claims = Arc::new(serde_json::Value::Object(payload));
        let principal = Principal {
            issuer: claims.iss.as_str().into(),
            subject: claims.sub.as_str().into(),
            client_id: claims.client_id.as_str().into(),
            scopes: mcp_auth_core::scope::parse(&claims.scope).into(),
            token_id: claims.jti.as_str().into(),
            profile: Profile::Bearer,
            key_thumbprint: thumbprint.map(ByteString::from),
            claims: Arc::clone(&all_claims),
        };
        Ok(Arc::new(VerifiedToken {
            claims,
            key,
            all_claims,
            principal,
            digest,
        }))
    }

    /// The cached verification of `token`, if it was made under
    /// the key `generation` (an expired token is an error: the cache expires entries
    /// at `exp`, but time checks are never skipped).
    fn cached(
        &self,
        token: &str,
        generation: u64,
        now: i64,
    ) -> Option<Result<Arc<VerifiedToken>, TokenError>> {
        let hit = self.verified.get(token)?;
        if hit.generation != generation {
            return None;
        }
        Some(if hit.token.claims.exp <= now {
            Err(AccessTokenError::Expired.into())
        } else {
            Ok(hit.token)
        })
    }

    /// Fetches `issuer`'s keys again (a token named a `kid` they lack) unless a token
    /// made that happen less than [`JWKS_REFRESH_INTERVAL`] before `now`. A last fetch
    /// that seems to lie in the future (the clock was set back) does not hold the next
    /// one off. Waits for a fetch in progress.
    async fn refresh(&self, issuer: &str, trusted: &TrustedIssuer, now: i64) {
        let Some(uri) = &trusted.jwks_uri else {
            return;
        };
        let mut fetched = trusted.fetched.lock().await;
        let interval = i64::try_from(JWKS_REFRESH_INTERVAL.as_secs()).unwrap_or(i64::MAX);
        if fetched.is_some_and(|at| at <= now && now - at < interval) {
            return;
        }
        *fetched = Some(now);
        // A failure is logged and counted there; the keys known before stay.
        let _ = self.issuers.fetch_and_install(issuer, uri).await;
    }
}

impl Issuers {
    /// Installs `jwks` as `issuer`'s keys, unless they are the keys it has; `None`
    /// when the issuer is not trusted. When a key was dropped, the generation advances
    /// *after* the new verifier is in place: a token verified with the old keys was
    /// either recorded under the old generation (and is verified again on its next
    /// hit), or read the new generation and hence the new keys.
    fn install(&self, issuer: &str, jwks: &Jwks) -> Option<KeyChange> {
        let trusted = self.trusted.get(issuer)?;
        let mut keys = trusted.keys.write().ok()?;
        if keys.jwks == *jwks {
            return Some(KeyChange::default());
        }
        let kids = |from: &Jwks, of: &Jwks| -> Vec<String> {
            from.keys
                .iter()
                .filter(|k| !of.keys.contains(k))
                .map(|k| k.kid.clone().unwrap_or_else(|| "(no kid)".to_owned()))
                .collect()
        };
        let change = KeyChange {
            added: kids(jwks, &keys.jwks),
            dropped: kids(&keys.jwks, jwks),
        };
        let weakenings = self.weakenings.read().map_or(Weakenings::NONE, |w| *w);
        keys.verifier = Arc::new(
            TokenVerifier::new(issuer.to_owned(), Some(self.audience.clone()), jwks)
                .weakened(weakenings),
        );
        keys.jwks = jwks.clone();
        drop(keys);
        if !change.dropped.is_empty() {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Some(change)
    }

    /// Fetches `issuer`'s keys from `uri` and installs them, logging what changed;
    /// returns the response's `max-age`. A failure is logged and counted, and the keys
    /// known before stay.
    async fn fetch_and_install(
        &self,
        issuer: &str,
        uri: &str,
    ) -> Result<Option<Duration>, DocumentError> {
        let (jwks, headers) = match get_document::<Jwks>(&self.http, uri).await {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(
                    issuer,
                    %error,
                    "fetching the issuer's keys failed: the keys fetched before stay in use"
                );
                metrics::counter!("mcp_auth_jwks_refresh_total", "outcome" => "error").increment(1);
                metrics::counter!("mcp_auth_jwks_refresh_failures_total", "issuer" => issuer.to_owned())
                    .increment(1);
                return Err(error);
            }
        };
        metrics::counter!("mcp_auth_jwks_refresh_total", "outcome" => "ok").increment(1);
        let change = self
            .install(issuer, &jwks)
            .filter(|c| !c.added.is_empty() || !c.dropped.is_empty());
        match &change {
            Some(change) => tracing::info!(
                issuer,
                keys = jwks.keys.len(),
                added = ?change.added,
                dropped = ?change.dropped,
                "the issuer's keys changed"
            ),
            None => tracing::debug!(
                issuer,
                keys = jwks.keys.len(),
                "the issuer's keys are unchanged"
            ),
        }
        Ok(cache_max_age(&headers))
    }
}

/// Re-reads `issuer`'s keys after `first`, then [`next_refresh`] after each fetch
/// (within [`JWKS_REFRESH_INTERVAL`] after a failure), until the cache is gone.
async fn refresh_loop(issuers: Weak<Issuers>, issuer: String, every: Duration, first: Duration) {
    let mut wait = first;
    loop {
        tokio::time::sleep(wait).await;
        let Some(issuers) = issuers.upgrade() else {
            return;
        };
        let Some(trusted) = issuers.trusted.get(&issuer) else {
            return;
        };
        let Some(uri) = trusted.jwks_uri.as_deref() else {
            return;
        };
        // One fetch at a time per issuer, token-triggered ones included.
        let _fetching = trusted.fetched.lock().await;
        wait = match issuers.fetch_and_install(&issuer, uri).await {
            Ok(max_age) => next_refresh(every, max_age),
            Err(_) => every.min(JWKS_REFRESH_INTERVAL),
        };
    }
}

/// The wait before the next background fetch: `every`, or the issuer's `max-age`
/// (brought into [`JWKS_MAX_AGE_RANGE`]) when that is shorter: keys are never held
/// longer than the issuer allows, nor than the operator configured.
fn next_refresh(every: Duration, max_age: Option<Duration>) -> Duration {
    let (low, high) = JWKS_MAX_AGE_RANGE;
    max_age.map_or(every, |m| every.min(m.clamp(low, high)))
}

/// The freshness lifetime `Cache-Control` gives a response (RFC 9111 §5.2.2): the
/// smallest `max-age`; `no-cache` and `no-store` are 0. `None` without either.
fn cache_max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut seconds: Option<u64> = None;
    let directives = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for directive in directives {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        let value =
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                Some(0)
            } else if name.eq_ignore_ascii_case("max-age") {
                argument.and_then(|a| a.parse::<u64>().ok())
            } else {
                None
            };
        if let Some(value) = value {
            seconds = Some(seconds.map_or(value, |s| s.min(value)));
        }
    }
    seconds.map(Duration::from_secs)
}

impl TrustedIssuer {
    fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, TokenError> {
        let verifier = match self.keys.read() {
            Ok(k) => Arc::clone(&k.verifier),
            Err(_) => return Err(TokenError::Poisoned),
        };
        Ok(verifier.verify(token, now)?)
    }
}

/// A JWT's payload as a JSON object, not verified (its `iss` picks the keys; once
/// the signature verified, it is every claim).
fn unverified_payload(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    // A claim twice is refused (the verifier refuses it too): no reader sees other
    // claims than the ones checked.
    mcp_auth_core::jws::strict_object(&bytes)
}

#[cfg(test)]
mod tests;
