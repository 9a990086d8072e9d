//! Per-principal rate limits of the gateway (`[rate_limit]`): a token bucket per
//! verified caller, in this process or in a Redis shared by every gateway instance.
//! A refused request gets [`Limited::TooMany`] with the seconds for `Retry-After`
//! (the gateway answers 429).
//!
//! # The algorithm
//!
//! A token bucket of `burst` tokens refilled at `rate` per second, computed as GCRA
//! (the generic cell rate algorithm), which gives the same answers with one value per
//! key instead of two: the *theoretical arrival time* (TAT). With the emission
//! interval `I = 1/rate` and the capacity `τ = burst · I`, a request at `now` computes
//! `next = max(TAT, now) + I`; it is allowed when `next − now ≤ τ`, and then
//! `TAT = next`; otherwise it is refused, nothing is written (a refused request
//! consumes nothing), and it would be allowed `next − now − τ` later. A fresh key
//! passes `burst` requests at once, then one per `I`; a rate below one per second
//! (`0.5`: one every 2 s) works the same. Times are integral microseconds.
//!
//! # The key
//!
//! [`RateLimiter::key`] is the SHA-256 of a domain label, the `per` choice and the
//! length-prefixed issuer and subject (`per = "subject"`) or client id
//! (`per = "client"`): a fixed 32 bytes whatever the token says, so an attacker-chosen
//! subject can neither collide with another principal's (`("a","bc")` and
//! `("ab","c")` differ) nor make a large key. A subject is scoped by its issuer: two
//! issuers' `alice` are two principals.
//!
//! # Where the buckets live
//!
//! - `store = "memory"` (the default): a moka cache of at most [`MEMORY_CAPACITY`]
//!   keys, each entry expiring once its bucket would be full again — so a flood of
//!   minted subjects cannot grow memory without bound. Beyond the capacity moka
//!   drops or declines keys, and a key not kept starts again with a full bucket: a
//!   caller holding valid tokens for more than [`MEMORY_CAPACITY`] principals within
//!   one refill time could reset buckets, another's included (Redis has no such
//!   bound: its keys expire by themselves). Each key is
//!   updated under moka's per-key lock: no update is lost under concurrency. Time is
//!   the process's monotonic clock.
//! - a Redis URL (`redis://…`, `rediss://…`, `redis-cluster://h:p,h:p`, as
//!   [`RedisTarget::parse`] reads it): one key per principal, `mcp-auth:rl:<hex>`,
//!   checked by one Lua script on that one key (so it runs on one node of a cluster),
//!   with a `PX` lifetime ending when the bucket would be full again. The script reads
//!   the time of the Redis server (`TIME`), not the gateway's: instances whose clocks
//!   disagree still share one limit, since every decision on a key uses the one clock
//!   of the node that holds it. The connection is made lazily — [`RateLimiter::from_config`]
//!   sends nothing and never waits; call [`RateLimiter::check_ready`] at start to fail
//!   early — and every check is bounded by [`REDIS_TIMEOUT`].
//!
//! # When the store fails
//!
//! A Redis that does not answer in time, or answers an error, is counted
//! (`mcp_auth_rate_limit_store_errors_total`) and logged. By default
//! (`on_store_error = "refuse"`) the request gets [`Limited::StoreUnavailable`] (the
//! gateway answers 503): fail closed, so a Redis outage is not a way around the limit.
//! `on_store_error = "allow"` lets requests through unlimited while the store is down.
//! Refusals for the rate are counted in `mcp_auth_rate_limited_total`.

mod gcra;
mod memory;
mod redis_store;
#[cfg(test)]
mod tests;

use std::time::Duration;

use mcp_auth_core::redact::MaskedUrl;
use mcp_auth_core::redis_connection::{RedisTarget, RedisTargetError};
use serde::Deserialize;

pub use memory::MEMORY_CAPACITY;
pub use redis_store::{REDIS_PREFIX, REDIS_TIMEOUT, redis_key};

use gcra::{Decision, Gcra};
use memory::{MemoryStore, Ticker};
use redis_store::RedisStore;

use crate::presentation::Principal;

/// The highest `rate` accepted, per second (one request per microsecond).
pub const MAX_RATE: f64 = 1_000_000.0;
/// The lowest non-zero `rate` accepted, per second: one request a day.
pub const MIN_RATE: f64 = 1.0 / 86_400.0;
/// The largest `burst` accepted.
pub const MAX_BURST: u32 = 1_000_000;
/// The longest time a bucket may take to refill completely (`burst / rate`): 30 days.
pub const MAX_REFILL: Duration = Duration::from_secs(30 * 86_400);

/// The `store` value for buckets in this process.
pub const MEMORY_STORE: &str = "memory";

/// Which part of the principal names the bucket (with its issuer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitPer {
    /// One bucket per user: issuer and `sub`.
    #[default]
    Subject,
    /// One bucket per OAuth client: issuer and `client_id`.
    Client,
}

/// What a request gets while the store cannot answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// [`Limited::StoreUnavailable`]: the gateway answers 503 (fail closed).
    #[default]
    Refuse,
    /// Let the request through, unlimited, and count it.
    Allow,
}

/// The `[rate_limit]` table of the gateway's file. Off unless `rate` is set; parsing
/// checks every value (unknown keys, a negative, non-finite or out-of-range rate, a
/// zero burst and a store that is neither `memory` nor a Redis URL are refused).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawRateLimitConfig")]
pub struct RateLimitConfig {
    /// Requests per second refilled; absent or 0: no limit. Between [`MIN_RATE`] and
    /// [`MAX_RATE`] otherwise; fractions allowed (`0.5`: one every 2 s).
    pub rate: f64,
    /// The bucket size: requests a fresh principal may make at once; 1..=[`MAX_BURST`].
    /// Absent: `max(1, ceil(rate))`.
    pub burst: Option<u32>,
    /// Bucket per `subject` (default) or per `client`, each with its issuer.
    pub per: RateLimitPer,
    /// `memory` (default) or a Redis URL ([`RedisTarget::parse`]); its password is
    /// masked in `Debug`.
    pub store: MaskedUrl,
    /// `refuse` (default: 503 while the store is down) or `allow`.
    pub on_store_error: OnStoreError,
}

/// `[rate_limit]` as written, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimitConfig {
    #[serde(default)]
    rate: f64,
    burst: Option<u32>,
    #[serde(default)]
    per: RateLimitPer,
    store: Option<String>,
    #[serde(default)]
    on_store_error: OnStoreError,
}

impl TryFrom<RawRateLimitConfig> for RateLimitConfig {
    type Error = RateLimitError;

    fn try_from(raw: RawRateLimitConfig) -> Result<Self, Self::Error> {
        let config = Self {
            rate: raw.rate,
            burst: raw.burst,
            per: raw.per,
            store: MaskedUrl::new(raw.store.unwrap_or_else(|| MEMORY_STORE.to_owned())),
            on_store_error: raw.on_store_error,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Off: no rate, `per = "subject"`, `store = "memory"`, `on_store_error = "refuse"`.
impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            rate: 0.0,
            burst: None,
            per: RateLimitPer::default(),
            store: MaskedUrl::new(MEMORY_STORE.to_owned()),
            on_store_error: OnStoreError::default(),
        }
    }
}

impl RateLimitConfig {
    /// Whether a limit applies (`rate` > 0).
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// The bucket size: `burst`, or `max(1, ceil(rate))` when absent.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or_else(|| {
            // rate ≤ MAX_RATE once validated, so the cast cannot saturate.
            (self.rate.ceil().max(1.0) as u32).min(MAX_BURST)
        })
    }

    /// Checks every value, as parsing does (for a configuration built in code); nothing
    /// is connected.
    pub fn validate(&self) -> Result<(), RateLimitError> {
        self.target()?;
        if self.rate.is_nan() || self.rate < 0.0 || self.rate > MAX_RATE {
            return Err(RateLimitError::Rate(self.rate));
        }
        if !self.enabled() {
            return Ok(());
        }
        if self.rate < MIN_RATE {
            return Err(RateLimitError::Rate(self.rate));
        }
        let burst = self.burst();
        if burst == 0 || burst > MAX_BURST {
            return Err(RateLimitError::Burst(burst));
        }
        if f64::from(burst) / self.rate > MAX_REFILL.as_secs_f64() {
            return Err(RateLimitError::Refill);
        }
        Ok(())
    }

    /// The Redis of `store`, or `None` for memory.
    fn target(&self) -> Result<Option<RedisTarget>, RateLimitError> {
        if *self.store == MEMORY_STORE {
            return Ok(None);
        }
        RedisTarget::parse(&self.store)
            .map(Some)
            .map_err(RateLimitError::Store)
    }
}

/// A `[rate_limit]` that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// `rate` is negative, not a number, or outside [`MIN_RATE`]..=[`MAX_RATE`].
    #[error(
        "rate_limit.rate = {0}: use 0 (off) or requests per second between 1/86400 and 1000000"
    )]
    Rate(f64),
    /// `burst` is 0 or above [`MAX_BURST`].
    #[error("rate_limit.burst = {0}: use 1..=1000000")]
    Burst(u32),
    /// `burst / rate` exceeds [`MAX_REFILL`].
    #[error("rate_limit: burst / rate must not exceed 30 days (the time to refill the bucket)")]
    Refill,
    /// `store` is neither `memory` nor a Redis URL.
    #[error("rate_limit.store: use \"memory\" or a Redis URL: {0}")]
    Store(RedisTargetError),
    /// A Redis store built outside a Tokio runtime.
    #[error("rate_limit.store: a Redis store must be created inside a Tokio runtime")]
    NoRuntime,
    /// The Redis client could not be made (e.g. an unreadable `ca=` file).
    #[error("rate_limit.store {target}: {problem}")]
    Connect {
        /// The Redis, its password hidden.
        target: String,
        /// What failed.
        problem: String,
    },
    /// The store does not answer ([`RateLimiter::check_ready`]).
    #[error("the rate limit store is unavailable: {0}")]
    Unavailable(String),
}

/// Why [`RateLimiter::check`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The principal's bucket is empty: answer 429 with `Retry-After` in whole seconds
    /// (rounded up, at least 1), when one request will be allowed again.
    TooMany {
        /// When to retry.
        retry_after: Duration,
    },
    /// The store did not answer and `on_store_error = "refuse"`: answer 503.
    StoreUnavailable,
}

/// The bucket a request counts against: a SHA-256 digest (see the module
/// documentation), made by [`RateLimiter::key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey([u8; 32]);

impl RateKey {
    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest in lowercase hex (64 characters).
    pub fn to_hex(&self) -> String {
        crate::hex::lower(&self.0)
    }
}

impl std::fmt::Debug for RateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RateKey({})", self.to_hex())
    }
}

/// The label that keeps rate limit digests apart from every other digest.
const KEY_LABEL: &[u8] = b"mcp-auth rate limit v1";

/// The key of `per` for these parts (see [`RateLimiter::key`]).
fn derive_key(per: RateLimitPer, issuer: &str, subject: &str, client_id: &str) -> RateKey {
    let (tag, id) = match per {
        RateLimitPer::Subject => (b"subject".as_slice(), subject),
        RateLimitPer::Client => (b"client".as_slice(), client_id),
    };
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [KEY_LABEL, tag, issuer.as_bytes(), id.as_bytes()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    RateKey(key)
}

/// Where the buckets are.
#[derive(Debug, Clone)]
enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// The rate limiter of a `[rate_limit]` (see the module documentation). Cheap to
/// clone; clones share the buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    gcra: Gcra,
    per: RateLimitPer,
    on_store_error: OnStoreError,
    store: Store,
}

impl RateLimiter {
    /// The limiter `config` describes, or `None` when it is off (`rate` absent or 0).
    /// The configuration is checked again ([`RateLimitConfig::validate`]). A Redis store
    /// is connected lazily: nothing is sent and nothing waited for here (the first
    /// check, or [`RateLimiter::check_ready`], connects, within [`REDIS_TIMEOUT`]); it
    /// must be created inside a Tokio runtime ([`RateLimitError::NoRuntime`] otherwise).
    pub fn from_config(config: &RateLimitConfig) -> Result<Option<Self>, RateLimitError> {
        config.validate()?;
        if !config.enabled() {
            return Ok(None);
        }
        let gcra = Gcra::new(config.rate, config.burst());
        let store = match config.target()? {
            None => Store::Memory(MemoryStore::new(
                &gcra,
                MEMORY_CAPACITY,
                Ticker::Monotonic(std::time::Instant::now()),
            )),
            Some(target) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(RateLimitError::NoRuntime);
                }
                Store::Redis(
                    RedisStore::connect(&target).map_err(|e| RateLimitError::Connect {
                        target: target.to_string(),
                        problem: e.to_string(),
                    })?,
                )
            }
        };
        Ok(Some(Self {
            gcra,
            per: config.per,
            on_store_error: config.on_store_error,
            store,
        }))
    }

    /// A memory limiter reading `ticker`, holding at most `capacity` keys: for the
    /// unit tests' injected clock.
    #[cfg(test)]
    fn in_memory(config: &RateLimitConfig, capacity: u64, ticker: Ticker) -> Self {
        let gcra = Gcra::new(config.rate, config.burst());
        Self {
            gcra,
            per: config.per,
            on_store_error: config.on_store_error,
            store: Store::Memory(MemoryStore::new(&gcra, capacity, ticker)),
        }
    }

    /// The bucket of a request by `subject` with `client_id`, tokens of `issuer`: the
    /// SHA-256 of the length-prefixed issuer and subject (`per = "subject"`) or client
    /// id (`per = "client"`).
    pub fn key(&self, issuer: &str, subject: &str, client_id: &str) -> RateKey {
        derive_key(self.per, issuer, subject, client_id)
    }

    /// [`RateLimiter::key`] of a verified principal.
    pub fn key_of(&self, principal: &Principal) -> RateKey {
        self.key(&principal.issuer, &principal.subject, &principal.client_id)
    }

    /// Counts one request against `key`'s bucket: `Ok` when it may proceed (and it is
    /// counted), [`Limited::TooMany`] when the bucket is empty (nothing counted), or
    /// [`Limited::StoreUnavailable`] when the store did not answer within
    /// [`REDIS_TIMEOUT`] and `on_store_error = "refuse"` (with `allow`: `Ok`).
    pub async fn check(&self, key: &RateKey) -> Result<(), Limited> {
        let decision = match &self.store {
            Store::Memory(memory) => memory.check(&self.gcra, key),
            // The script answers allowed or refused, not the new time: Allow's `tat`
            // is not read here.
            Store::Redis(redis) => match redis.check(&self.gcra, key).await {
                Ok(decision) => decision,
                Err(failure) => return self.store_failed(redis.kind(), &failure),
            },
        };
        match decision {
            Decision::Allow { .. } => Ok(()),
            Decision::Refuse { wait } => {
                metrics::counter!("mcp_auth_rate_limited_total", "store" => self.kind())
                    .increment(1);
                Err(Limited::TooMany {
                    retry_after: gcra::retry_after(wait),
                })
            }
        }
    }

    /// A store error: counted, logged, then refused or allowed as configured.
    fn store_failed(
        &self,
        kind: &'static str,
        failure: &redis_store::StoreFailure,
    ) -> Result<(), Limited> {
        let outcome = match self.on_store_error {
            OnStoreError::Refuse => "refused",
            OnStoreError::Allow => "allowed",
        };
        metrics::counter!(
            "mcp_auth_rate_limit_store_errors_total",
            "store" => kind,
            "outcome" => outcome
        )
        .increment(1);
        tracing::warn!(store = kind, outcome, error = %failure, "rate limit store failed");
        match self.on_store_error {
            OnStoreError::Refuse => Err(Limited::StoreUnavailable),
            OnStoreError::Allow => Ok(()),
        }
    }

    /// Whether the store can answer now (the gateway's `/readyz`): always for memory;
    /// for Redis, `PING` (every primary of a cluster) within [`REDIS_TIMEOUT`]. Call
    /// it at start to fail early on a wrong address.
    pub async fn check_ready(&self) -> Result<(), RateLimitError> {
        match &self.store {
            Store::Memory(_) => Ok(()),
            Store::Redis(redis) => redis
                .ping()
                .await
                .map_err(|e| RateLimitError::Unavailable(e.to_string())),
        }
    }

    /// `memory`, `redis` or `redis-cluster`: for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match &self.store {
            Store::Memory(_) => MEMORY_STORE,
            Store::Redis(redis) => redis.kind(),
        }
    }
}

/// The gateway's use: every authenticated request counted against its principal's
/// bucket before its body is read; refused with 429 and `Retry-After`, or 503 when
/// the store fails closed.
impl crate::presentation::Admission for RateLimiter {
    fn admit<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), crate::Rejection>> + Send + 'a>> {
        Box::pin(async move {
            match self.check(&self.key_of(principal)).await {
                Ok(()) => Ok(()),
                Err(Limited::TooMany { retry_after }) => Err(crate::Rejection::RateLimited {
                    retry_after: retry_after.as_secs().max(1),
                }),
                Err(Limited::StoreUnavailable) => Err(crate::Rejection::RateLimitUnavailable),
            }
        })
    }

    fn ready(&self) -> std::pin::Pin<Box<dyn Future<Output = Option<bool>> + Send + '_>> {
        Box::pin(async move {
            if self.kind() == MEMORY_STORE {
                return None;
            }
            let answer = self.check_ready().await;
            if let Err(e) = &answer {
                tracing::warn!(error = %e, "readiness: the rate limit store does not answer");
            }
            Some(answer.is_ok())
        })
    }
}
