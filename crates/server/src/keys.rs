//! The authorization server's signing keys: generated on first start, stored, rotated
//! by command; a retired key stays in the JWKS until every token it signed has expired.

use std::sync::{Arc, RwLock};

use mcp_auth_core::{AsSigningKey, Jwks, SigningKeyError};
use mcp_auth_httpsig::JwsAlgorithm;

use crate::store::{Store, StoreError, StoredKey};

/// The keys in use: the one that signs, and every key still published.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The active key: it signs access tokens.
    pub active: Arc<AsSigningKey>,
    /// The identity provider role's RSA key: it signs ID tokens and ID-JAGs
    /// (profiles/enterprise-managed-authorization.md D19). `None` when the role is off.
    pub identity: Option<Arc<AsSigningKey>>,
    /// The published keys (active and retired-but-not-expired).
    pub jwks: Jwks,
}

/// Which keys the server keeps active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The access tokens' algorithm (`signing_alg`).
    pub access: JwsAlgorithm,
    /// Whether an RS256 key signs ID tokens and ID-JAGs (the identity provider role).
    pub identity: bool,
    /// How long a retired key stays published beyond the access token lifetime
    /// passed to [`KeyRing::reload`]: the longest lifetime of anything else it signs
    /// (the ID tokens' when the identity provider role is on), seconds.
    pub retain: i64,
}

/// The algorithm of ID tokens and ID-JAGs (D19: OIDC Discovery §3 requires RS256
/// among the ID token algorithms, so every relying party verifies it).
pub const IDENTITY_ALG: JwsAlgorithm = JwsAlgorithm::Rs256;

/// Holds the current [`KeySet`], reloaded from the store.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: Arc<RwLock<Arc<KeySet>>>,
    policy: KeyPolicy,
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be made, stored as PEM, or loaded.
    #[error("signing key {kid}: {source}")]
    Invalid {
        /// The key id (`(new)` for a key being generated).
        kid: String,
        /// Why.
        source: SigningKeyError,
    },
    /// A stored key names an algorithm this server does not know.
    #[error("signing key {kid}: unknown algorithm {alg}")]
    UnknownAlgorithm {
        /// The key id.
        kid: String,
        /// The stored algorithm name.
        alg: String,
    },
    /// No stored key of this algorithm is active.
    #[error("signing key (none): no active {0} signing key; run `mcp-auth as rotate-keys`")]
    NoActiveKey(&'static str),
}

impl KeyRing {
    /// Loads the keys, generating and storing a first key of each algorithm the
    /// policy needs when there is none. Returns the ring and whether a key was created.
    pub async fn load_or_create(
        store: &Store,
        policy: KeyPolicy,
        ttl: i64,
        now: i64,
    ) -> Result<(Self, bool), KeyError> {
        let mut created = false;
        let stored = store.signing_keys().await?;
        let algorithms = policy.algorithms();
        // A key of an algorithm no longer used (`signing_alg` changed, the identity
        // provider role turned off) is retired: published until its tokens expire, then
        // deleted, never left active.
        for key in stored.iter().filter(|k| k.retired_at.is_none()) {
            if !algorithms.iter().any(|a| a.name() == key.alg) {
                store.retire_key(&key.kid, now).await?;
            }
        }
        for alg in algorithms {
            if !stored
                .iter()
                .any(|k| k.retired_at.is_none() && k.alg == alg.name())
            {
                rotate(store, alg, now).await?;
                created = true;
            }
        }
        let set = load(store, policy, ttl, now).await?;
        Ok((
            Self {
                current: Arc::new(RwLock::new(Arc::new(set))),
                policy,
            },
            created,
        ))
    }

    /// The current keys.
    pub fn current(&self) -> Arc<KeySet> {
        // A poisoned lock only means a reload panicked; the last good set is still valid.
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Reloads from the store (after a rotation by another process).
    pub async fn reload(&self, store: &Store, ttl: i64, now: i64) -> Result<(), KeyError> {
        let set = Arc::new(load(store, self.policy, ttl, now).await?);
        match self.current.write() {
            Ok(mut g) => *g = set,
            Err(p) => *p.into_inner() = set,
        }
        Ok(())
    }
}

impl crate::config::Config {
    /// The keys to keep active: the access tokens' algorithm, and an RS256 key kept
    /// published as long as an ID token lives when the identity provider role is on.
    pub fn key_policy(&self) -> KeyPolicy {
        let identity = self.identity_provider.is_enabled();
        KeyPolicy {
            access: self.signing_alg,
            identity,
            retain: if identity {
                self.identity_provider.id_token_ttl
            } else {
                0
            },
        }
    }
}

impl KeyPolicy {
    /// The algorithms with an active key: the access tokens', and RS256 for the
    /// identity provider role.
    pub fn algorithms(self) -> Vec<JwsAlgorithm> {
        let mut algs = vec![self.access];
        if self.identity && self.access != IDENTITY_ALG {
            algs.push(IDENTITY_ALG);
        }
        algs
    }
}

/// How often a running server reloads its keys from the store (`AuthorizationServer::serve`),
/// seconds: the longest an instance takes to publish a key another process stored.
pub const RELOAD_INTERVAL: i64 = 10;

/// How long after `mcp-auth as rotate-keys` the new key starts signing, seconds
/// ([`rotate_published_first`]): two reload intervals, so that every instance sharing
/// the database publishes it in its JWKS before any instance signs with it. A verifier
/// that fetches the JWKS on an unknown `kid` (the gateway, at most once per 30 s)
/// then always finds the key, whichever instance answers the fetch.
pub const PUBLISH_BEFORE_SIGNING: i64 = 2 * RELOAD_INTERVAL;

/// The longest, after a rotation by [`rotate_published_first`], until every running
/// instance signs with the new key: it starts signing at [`PUBLISH_BEFORE_SIGNING`]
/// and each instance switches at its next reload.
pub const SIGNING_SWITCH_BOUND: i64 = PUBLISH_BEFORE_SIGNING + RELOAD_INTERVAL;

/// Creates a new active key of `alg` and retires the previous active key of that
/// algorithm, at once. Returns the new key id. For a server that is not running yet
/// (or a single in-process one that reloads right after): with instances running, use
/// [`rotate_published_first`], or tokens signed with the new key fail verification
/// wherever the JWKS comes from an instance that has not reloaded.
pub async fn rotate(store: &Store, alg: JwsAlgorithm, now: i64) -> Result<String, KeyError> {
    rotate_at(store, alg, now).await
}

/// Rotation for running servers: the new key of `alg` is stored now, published by
/// every instance at its next reload, and signs from `now +`
/// [`PUBLISH_BEFORE_SIGNING`], when the previous key of `alg` is retired (it stays
/// published until what it signed has expired). Returns the new key id.
pub async fn rotate_published_first(
    store: &Store,
    alg: JwsAlgorithm,
    now: i64,
) -> Result<String, KeyError> {
    rotate_at(store, alg, now + PUBLISH_BEFORE_SIGNING).await
}

/// Stores a new key of `alg` that signs from `from` (its `created_at`), retiring the
/// active key of `alg` at the same time.
async fn rotate_at(store: &Store, alg: JwsAlgorithm, from: i64) -> Result<String, KeyError> {
    let key = AsSigningKey::generate(alg).map_err(|source| KeyError::Invalid {
        kid: "(new)".into(),
        source,
    })?;
    let pem = key.to_pkcs8_pem().map_err(|source| KeyError::Invalid {
        kid: key.kid().to_owned(),
        source,
    })?;
    store
        .rotate_in(&StoredKey {
            kid: key.kid().to_owned(),
            alg: alg.name().to_owned(),
            private_pem: pem,
            created_at: from,
            retired_at: None,
        })
        .await?;
    Ok(key.kid().to_owned())
}

/// Builds the key set: of each algorithm of the policy, the newest key that signs at
/// `now` (created at or before `now`, not retired at or before `now`) signs; a key
/// whose time has not come yet ([`rotate_published_first`]) is only published; keys
/// retired less than `ttl` (plus the policy's retention and a minute of clock skew)
/// ago stay published; older retired keys are deleted.
async fn load(store: &Store, policy: KeyPolicy, ttl: i64, now: i64) -> Result<KeySet, KeyError> {
    let keep_since = now - ttl.max(policy.retain) - 60;
    store.delete_keys_retired_before(keep_since).await?;
    let mut active: Option<(i64, Arc<AsSigningKey>)> = None;
    let mut identity: Option<(i64, Arc<AsSigningKey>)> = None;
    let mut pending: Vec<(JwsAlgorithm, Arc<AsSigningKey>)> = Vec::new();
    let mut jwks = Jwks::default();
    // The newest of `key` and `held` (by the time it started signing).
    let newest =
        |held: &mut Option<(i64, Arc<AsSigningKey>)>, from: i64, key: &Arc<AsSigningKey>| {
            if held.as_ref().is_none_or(|(f, _)| from > *f) {
                *held = Some((from, Arc::clone(key)));
            }
        };
    for stored in store.signing_keys().await? {
        let alg =
            JwsAlgorithm::from_name(&stored.alg).ok_or_else(|| KeyError::UnknownAlgorithm {
                kid: stored.kid.clone(),
                alg: stored.alg.clone(),
            })?;
        let key = AsSigningKey::from_pkcs8_pem(alg, &stored.private_pem, Some(stored.kid.clone()))
            .map_err(|source| KeyError::Invalid {
                kid: stored.kid.clone(),
                source,
            })?;
        jwks.keys.push(key.public_jwk());
        let key = Arc::new(key);
        if stored.retired_at.is_some_and(|r| r <= now) {
            continue;
        }
        if stored.created_at > now {
            // Published, not signing yet; it signs only when nothing else can.
            if stored.retired_at.is_none() {
                pending.push((alg, key));
            }
            continue;
        }
        if alg == policy.access {
            newest(&mut active, stored.created_at, &key);
        }
        if policy.identity && alg == IDENTITY_ALG {
            newest(&mut identity, stored.created_at, &key);
        }
    }
    let fallback = |alg: JwsAlgorithm| {
        pending
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, k)| Arc::clone(k))
    };
    let active = match active {
        Some((_, key)) => key,
        None => fallback(policy.access).ok_or(KeyError::NoActiveKey(policy.access.name()))?,
    };
    let identity = match identity {
        Some((_, key)) => Some(key),
        None if policy.identity => {
            Some(fallback(IDENTITY_ALG).ok_or(KeyError::NoActiveKey(IDENTITY_ALG.name()))?)
        }
        None => None,
    };
    Ok(KeySet {
        active,
        identity,
        jwks,
    })
}
