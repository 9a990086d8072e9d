//! Key sources of workload trust entries (WIF §6.2) and the one key that verifies an
//! assertion (WIF §7.3 step 7).
//!
//! Each trust entry has exactly one source: OpenID Connect discovery from its issuer
//! (the RFC 8414 location only on 404), a configured `jwks_uri`, a `jwks_file` read
//! when the AS starts, or a SPIFFE bundle endpoint. Every fetch goes through the
//! SSRF guard ([`GuardedFetch::fetch_document`], WIF-AS-11); the caching is done
//! here, per entry, because its rules are the profile's (D8), not the guard's:
//!
//! - a key set is fresh for the response's `max-age` (a bundle: the smaller of that
//!   and `spiffe_refresh_hint`), clamped to 60 s .. 1 h, 5 min without either;
//! - a `kid` that is not in the fresh set makes the AS fetch again, at most once per
//!   entry per 60 s, and concurrent requests wait for that one fetch (a
//!   [`tokio::sync::Mutex`] around every fetch of the entry);
//! - when a fetch fails, the last set fetched successfully stays in use for 24 h
//!   after it was fetched, and the source is tried again at most once per 60 s;
//!   without such a set the answer is [`KeyLookupError::Unavailable`] (503).
//!
//! Time is the caller's `now` (unix seconds from the AS clock), so tests move it by
//! hand. Errors are fixed values: what failed, and where, is in the log with the
//! entry id (WIF-AS-24; Section 12.1: the token endpoint is no port scanner).

use std::sync::{Arc, RwLock};

use mcp_auth_httpsig::{JwsAlgorithm, VerifyingKey};
use serde_json::Value;

use crate::outbound::{FetchError, GuardedFetch};

mod select;
#[cfg(test)]
mod tests;

pub(crate) use select::usable_keys;
use select::{is_jwt_svid_key, kid_of, select_key, set_keys};

/// The largest discovery document, JWK Set or bundle read (D8).
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// The shortest time a fetched document is cached, seconds (D8).
const MIN_TTL: u64 = 60;
/// The longest time a fetched document is cached, seconds (D8): a removed key stops
/// being trusted within the hour (Section 12.2).
const MAX_TTL: u64 = 3600;
/// How long a document without `max-age` (or refresh hint) is cached, seconds (D8).
const DEFAULT_TTL: u64 = 300;
/// The least time between two fetches of one entry's key source, seconds: the
/// unknown-`kid` refetch and the retry after a failure (D8, WIF-AS-13).
const REFETCH_INTERVAL: i64 = 60;
/// How long after it was fetched a key set stays in use while fetches fail,
/// seconds (D8, Section 12.3).
const MAX_STALE: i64 = 24 * 3600;

/// Where a trust entry's keys come from (WIF §6.2): exactly one per entry.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// OIDC discovery from the configured issuer (https), RFC 8414 location only on
    /// 404.
    Discovery {
        /// The entry's `issuer`, the exact string the discovery document must name.
        issuer: String,
    },
    /// A JWK Set at a configured https URL.
    JwksUri(String),
    /// A JWK Set read from a file when the AS starts (the config code reads the file
    /// and passes the JSON). Never fetched.
    JwksFile(Value),
    /// A SPIFFE bundle endpoint (https, Web PKI): only keys with `use` `jwt-svid` and
    /// a `kid`.
    SpiffeBundle(String),
}

/// Why no key was found (WIF §7.3 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyLookupError {
    /// No usable key (unknown `kid` after the allowed refetch, ambiguous, wrong
    /// type...), or a discovery document that is not the issuer's (WIF-AS-9):
    /// answered 400 `invalid_grant` with the one shared description.
    #[error("no usable key")]
    NoUsableKey,
    /// The key source cannot be read and no key set of the last 24 h is cached: 503
    /// `temporarily_unavailable`.
    #[error("the key source is unavailable")]
    Unavailable,
    /// The header's `alg` is not among the entry's `algorithms` ([`EntryKeys::key_for`]).
    #[error("the algorithm is not allowed by the entry")]
    AlgorithmNotAllowed,
}

impl KeyLookupError {
    /// As the error of the grant that looked the key up (workload assertion or
    /// ID-JAG): steps 6 to 8's one refusal (`invalid_grant`), or `unavailable` (503).
    pub(crate) fn refusal<E: From<mcp_auth_core::workload_assertion::AssertionError>>(
        self,
        unavailable: E,
    ) -> E {
        use mcp_auth_core::workload_assertion::AssertionError;
        match self {
            Self::NoUsableKey => AssertionError::KeyNotForAlgorithm.into(),
            Self::AlgorithmNotAllowed => AssertionError::AlgorithmNotAllowed.into(),
            Self::Unavailable => unavailable,
        }
    }
}

/// One trust entry's keys with their cache (create once per entry at start, share
/// via `Arc`).
pub(crate) struct EntryKeys {
    /// The entry's `id`, for the log.
    entry_id: String,
    keys: Keys,
}

impl std::fmt::Debug for EntryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryKeys")
            .field("entry_id", &self.entry_id)
            .finish_non_exhaustive()
    }
}

/// The keys of an entry: a file's, fixed, or a remote source's, cached.
enum Keys {
    /// The `keys` of a `jwks_file`: never fetched (Section 12.2: it changes when the
    /// operator replaces the file).
    File(Vec<Value>),
    /// A source the AS fetches.
    Remote {
        source: Remote,
        /// The last key set fetched successfully: read without waiting by every
        /// request, replaced only by the holder of `refresh`.
        current: RwLock<Option<Arc<KeySet>>>,
        /// Held during every fetch, so that there is one at a time per entry and
        /// concurrent requests wait for its result (single flight).
        refresh: tokio::sync::Mutex<Refresh>,
    },
}

/// A key source the AS fetches.
#[derive(Debug, Clone)]
enum Remote {
    /// Discovery from this issuer.
    Discovery(String),
    /// A JWK Set URL.
    JwksUri(String),
    /// A SPIFFE bundle endpoint URL.
    Bundle(String),
}

/// A key set as fetched.
#[derive(Debug)]
struct KeySet {
    /// Its keys; for a bundle only those with `use` `jwt-svid` and a `kid`.
    keys: Vec<Value>,
    /// When it was fetched.
    fetched_at: i64,
    /// Until when it is used without fetching again.
    fresh_until: i64,
}

impl KeySet {
    fn is_fresh(&self, now: i64) -> bool {
        now < self.fresh_until
    }

    /// Within 24 h of the fetch: usable while the source cannot be read.
    fn is_recent(&self, now: i64) -> bool {
        now.saturating_sub(self.fetched_at) <= MAX_STALE
    }

    /// Whether a key of the set has `kid` (usable or not): a `kid` that is known
    /// does not make the AS fetch again.
    fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| kid_of(k) == Some(kid))
    }
}

/// What only the holder of the refresh lock reads and writes.
#[derive(Debug, Default)]
struct Refresh {
    /// When the source was last fetched (successfully or not).
    last_attempt: Option<i64>,
    /// How the last fetch failed, when it did.
    last_failure: Option<Failure>,
    /// The discovery document's `jwks_uri`, for a discovery entry.
    discovered: Option<Discovered>,
}

/// The part of a discovery document the AS keeps, cached as key sets are.
#[derive(Debug, Clone)]
struct Discovered {
    jwks_uri: String,
    fetched_at: i64,
    fresh_until: i64,
}

/// Why a fetch of the key source gave no key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing usable arrived (the guard refused, no answer in time, not 200, too
    /// large, not JSON, not a JWK Set): 503 while no recent set is cached.
    Unavailable,
    /// The discovery document was read but is not the issuer's (another `issuer`,
    /// no acceptable `jwks_uri`): WIF-AS-9 refuses the entry's assertions (400, not
    /// 503, while no recent set is cached). Like any failed fetch, it does not drop
    /// a set fetched before (Section 12.3).
    Refused,
}

impl EntryKeys {
    /// The keys of the trust entry `entry_id` (for the log), from `source`.
    pub(crate) fn new(entry_id: &str, source: KeySource) -> Self {
        let remote = |source| Keys::Remote {
            source,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(Refresh::default()),
        };
        let keys = match source {
            KeySource::JwksFile(set) => Keys::File(set_keys(&set).to_vec()),
            KeySource::Discovery { issuer } => remote(Remote::Discovery(issuer)),
            KeySource::JwksUri(url) => remote(Remote::JwksUri(url)),
            KeySource::SpiffeBundle(url) => remote(Remote::Bundle(url)),
        };
        Self {
            entry_id: entry_id.to_owned(),
            keys,
        }
    }

    /// WIF §7.3 step 7 (EMA §7.7 step 7) for an entry of either profile: `alg` among
    /// the entry's `algorithms`, then [`EntryKeys::select`]. Why not is logged with
    /// the entry; the caller answers with one description (WIF-AS-24, EMA-AS-6).
    pub(crate) async fn key_for(
        &self,
        fetch: &GuardedFetch,
        now: i64,
        algorithms: &[JwsAlgorithm],
        kid: Option<&str>,
        alg: JwsAlgorithm,
    ) -> Result<VerifyingKey, KeyLookupError> {
        let looked_up = if algorithms.contains(&alg) {
            self.select(fetch, now, kid, alg).await
        } else {
            Err(KeyLookupError::AlgorithmNotAllowed)
        };
        looked_up.inspect_err(|e| {
            tracing::info!(entry = %self.entry_id, kid, alg = alg.name(), error = %e, "assertion refused: no key");
        })
    }

    /// WIF §7.3 step 7: the one usable key for `kid` / `alg`, fetching or
    /// refetching as §6.2 says. `now` is unix seconds from the AS clock (tests move
    /// it by hand, never sleep). The key returned is fixed to `alg`.
    ///
    /// A `kid` that no key of the fresh cached set has makes the AS fetch again
    /// (at most once per 60 s); a known `kid` whose key is not usable does not.
    pub(crate) async fn select(
        &self,
        fetch: &GuardedFetch,
        now: i64,
        kid: Option<&str>,
        alg: JwsAlgorithm,
    ) -> Result<VerifyingKey, KeyLookupError> {
        let (source, current, refresh) = match &self.keys {
            Keys::File(keys) => {
                return select_key(keys, false, kid, alg).ok_or(KeyLookupError::NoUsableKey);
            }
            Keys::Remote {
                source,
                current,
                refresh,
            } => (source, current, refresh),
        };
        let bundle = matches!(source, Remote::Bundle(_));
        let unknown = |set: &KeySet| kid.is_some_and(|kid| !set.knows(kid));

        // The common case: a fresh set that answers, without waiting for anything.
        if let Some(set) = read(current)
            && set.is_fresh(now)
        {
            if let Some(key) = select_key(&set.keys, bundle, kid, alg) {
                return Ok(key);
            }
            if !unknown(&set) {
                return Err(KeyLookupError::NoUsableKey);
            }
        }

        // No set, a stale one, or an unknown `kid`: one fetch at a time. A request
        // that waited here finds the set its predecessor fetched.
        let mut refresh = refresh.lock().await;
        let seen = read(current);
        let wants_fetch = seen
            .as_deref()
            .filter(|set| set.is_fresh(now))
            .is_none_or(unknown);
        let may_fetch = refresh
            .last_attempt
            .is_none_or(|at| now.saturating_sub(at) >= REFETCH_INTERVAL);
        let set = if wants_fetch && may_fetch {
            if let Some(set) = seen.as_deref().filter(|set| set.is_fresh(now)) {
                tracing::info!(
                    entry = %self.entry_id,
                    cached_keys = set.keys.len(),
                    "workload keys: an unknown kid, fetching the key set again"
                );
            }
            // Recorded before the fetch: a request dropped mid-fetch (its client
            // gone) still counts, so callers that disconnect at once cannot make the
            // AS fetch more than once per 60 s (WIF-AS-13, Section 12.1).
            refresh.last_attempt = Some(now);
            let fetched = self.fetch_set(source, fetch, &mut refresh, now).await;
            match fetched {
                Ok(set) => {
                    refresh.last_failure = None;
                    let set = Arc::new(set);
                    write(current, Arc::clone(&set));
                    Some(set)
                }
                Err(failure) => {
                    refresh.last_failure = Some(failure);
                    if let Some(kept) = seen.as_deref().filter(|set| set.is_recent(now)) {
                        tracing::warn!(
                            entry = %self.entry_id,
                            fetched_at = kept.fetched_at,
                            "workload keys: using the last key set fetched successfully"
                        );
                    }
                    seen
                }
            }
        } else {
            seen
        };
        match set.filter(|set| set.is_recent(now)) {
            Some(set) => select_key(&set.keys, bundle, kid, alg).ok_or(KeyLookupError::NoUsableKey),
            None => Err(match refresh.last_failure {
                Some(Failure::Refused) => KeyLookupError::NoUsableKey,
                Some(Failure::Unavailable) | None => KeyLookupError::Unavailable,
            }),
        }
    }

    /// Fetches the key set of `source` (for discovery, through the `jwks_uri` of the
    /// cached or fetched discovery document).
    async fn fetch_set(
        &self,
        source: &Remote,
        fetch: &GuardedFetch,
        refresh: &mut Refresh,
        now: i64,
    ) -> Result<KeySet, Failure> {
        match source {
            Remote::Discovery(issuer) => {
                let jwks_uri = self.jwks_uri(issuer, fetch, refresh, now).await?;
                self.read_set(fetch, &jwks_uri, false, now).await
            }
            Remote::JwksUri(url) => self.read_set(fetch, url, false, now).await,
            Remote::Bundle(url) => self.read_set(fetch, url, true, now).await,
        }
    }

    /// Reads the JWK Set (or, with `bundle`, the SPIFFE bundle) at `url`.
    async fn read_set(
        &self,
        fetch: &GuardedFetch,
        url: &str,
        bundle: bool,
        now: i64,
    ) -> Result<KeySet, Failure> {
        let document = if bundle { "SPIFFE bundle" } else { "JWK Set" };
        let fetched = fetch
            .fetch_document(url, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| self.failed(document, e))?;
        let Some(keys) = fetched.value.get("keys").and_then(Value::as_array) else {
            tracing::warn!(
                entry = %self.entry_id,
                document,
                "workload keys: the document has no `keys` array"
            );
            return Err(Failure::Unavailable);
        };
        let keys: Vec<Value> = if bundle {
            // WIF-AS-10: the other keys of a bundle are not the AS's to use.
            keys.iter()
                .filter(|k| is_jwt_svid_key(k))
                .cloned()
                .collect()
        } else {
            keys.clone()
        };
        let refresh_hint = if bundle {
            fetched
                .value
                .get("spiffe_refresh_hint")
                .and_then(Value::as_u64)
        } else {
            None
        };
        let ttl = cache_ttl(fetched.max_age, refresh_hint);
        tracing::debug!(
            entry = %self.entry_id,
            document,
            keys = keys.len(),
            ttl,
            "workload keys: fetched"
        );
        Ok(KeySet {
            keys,
            fetched_at: now,
            fresh_until: now.saturating_add(ttl),
        })
    }

    /// The `jwks_uri` of the issuer's discovery document: cached while fresh;
    /// fetched otherwise; when that fetch fails, the last one read in the past 24 h
    /// (the same outage rule as key sets). A document that is not the issuer's is
    /// never replaced by an older one.
    async fn jwks_uri(
        &self,
        issuer: &str,
        fetch: &GuardedFetch,
        refresh: &mut Refresh,
        now: i64,
    ) -> Result<String, Failure> {
        if let Some(d) = &refresh.discovered
            && now < d.fresh_until
        {
            return Ok(d.jwks_uri.clone());
        }
        match self.discover(issuer, fetch, now).await {
            Ok(found) => {
                let uri = found.jwks_uri.clone();
                refresh.discovered = Some(found);
                Ok(uri)
            }
            Err(Failure::Unavailable) => match &refresh.discovered {
                Some(old) if now.saturating_sub(old.fetched_at) <= MAX_STALE => {
                    Ok(old.jwks_uri.clone())
                }
                _ => Err(Failure::Unavailable),
            },
            Err(Failure::Refused) => Err(Failure::Refused),
        }
    }

    /// WIF-AS-9: reads `<issuer>/.well-known/openid-configuration`, and only when
    /// that answers 404 the RFC 8414 §3 location; the document's `issuer` must be
    /// the configured one exactly, and its `jwks_uri` must pass the guard's URL
    /// rules (https).
    async fn discover(
        &self,
        issuer: &str,
        fetch: &GuardedFetch,
        now: i64,
    ) -> Result<Discovered, Failure> {
        let Some((oidc, rfc8414)) = discovery_urls(issuer) else {
            tracing::warn!(
                entry = %self.entry_id,
                "workload keys: the issuer is not a URL to discover from"
            );
            return Err(Failure::Refused);
        };
        let fetched = match fetch.fetch_document(&oidc, MAX_DOCUMENT_BYTES).await {
            Err(FetchError::NotFound) => {
                tracing::info!(
                    entry = %self.entry_id,
                    "workload keys: no OpenID configuration, trying the RFC 8414 location"
                );
                fetch.fetch_document(&rfc8414, MAX_DOCUMENT_BYTES).await
            }
            other => other,
        }
        .map_err(|e| self.failed("discovery document", e))?;
        if fetched.value.get("issuer").and_then(Value::as_str) != Some(issuer) {
            tracing::warn!(
                entry = %self.entry_id,
                "workload keys: the discovery document names another issuer"
            );
            return Err(Failure::Refused);
        }
        let jwks_uri = fetched.value.get("jwks_uri").and_then(Value::as_str);
        let Some(jwks_uri) = jwks_uri.filter(|uri| fetch.check_url(uri).is_ok()) else {
            tracing::warn!(
                entry = %self.entry_id,
                "workload keys: the discovery document has no acceptable (https) jwks_uri"
            );
            return Err(Failure::Refused);
        };
        Ok(Discovered {
            jwks_uri: jwks_uri.to_owned(),
            fetched_at: now,
            fresh_until: now.saturating_add(cache_ttl(fetched.max_age, None)),
        })
    }

    /// Logs a failed fetch of `document` with the entry id and the guard's reason.
    fn failed(&self, document: &str, error: FetchError) -> Failure {
        tracing::warn!(
            entry = %self.entry_id,
            document,
            reason = %error,
            "workload keys: fetching the key source failed"
        );
        Failure::Unavailable
    }
}

/// The two discovery locations of `issuer` (WIF §6.2): OpenID Connect Discovery §4
/// (`/.well-known/openid-configuration` appended, a trailing `/` removed first) and
/// RFC 8414 §3 (`/.well-known/oauth-authorization-server` inserted between the host
/// and the path). `None` for a string that is not an absolute URL without query or
/// fragment (RFC 8414 §2 `issuer`).
fn discovery_urls(issuer: &str) -> Option<(String, String)> {
    let url = url::Url::parse(issuer).ok()?;
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let rfc8414 = format!("{origin}/.well-known/oauth-authorization-server{path}");
    Some((oidc, rfc8414))
}

/// How long a fetched document is fresh, seconds (D8): its `max-age`, for a bundle
/// the smaller of that and its `spiffe_refresh_hint`, 300 s without either; clamped
/// to 60 s .. 3600 s.
fn cache_ttl(max_age: Option<u64>, refresh_hint: Option<u64>) -> i64 {
    let seconds = match (max_age, refresh_hint) {
        (Some(a), Some(h)) => a.min(h),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => DEFAULT_TTL,
    };
    i64::try_from(seconds.clamp(MIN_TTL, MAX_TTL)).unwrap_or(REFETCH_INTERVAL)
}

/// The current key set (a poisoned lock still holds a whole `Arc`).
fn read(current: &RwLock<Option<Arc<KeySet>>>) -> Option<Arc<KeySet>> {
    match current.read() {
        Ok(set) => set.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Replaces the current key set.
fn write(current: &RwLock<Option<Arc<KeySet>>>, set: Arc<KeySet>) {
    let mut slot = match current.write() {
        Ok(slot) => slot,
        Err(poisoned) => poisoned.into_inner(),
    };
    *slot = Some(set);
}
