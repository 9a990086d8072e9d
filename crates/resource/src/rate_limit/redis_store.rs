//! The buckets in Redis (one server or a Redis Cluster), shared by every gateway
//! instance: one key per principal, `mcp-auth:rl:<hex of the key digest>`, holding
//! its theoretical arrival time in microseconds of the Redis server's clock.
//!
//! Each check is one Lua script over that one key (so a cluster runs it on the node
//! of the key's slot), sent as `EVALSHA` and, when the node does not know the script
//! yet (`NOSCRIPT`: new, restarted or flushed), as `EVAL`, which caches it there. The
//! script reads the time with `TIME`, decides as [`super::gcra::Gcra::decide`] does,
//! and on an allowed request writes the new time with a `PX` lifetime ending when the
//! bucket would be full again.

use std::time::Duration;

use mcp_auth_core::redis_connection::{RedisConnection, RedisError, RedisTarget};

use super::RateKey;
use super::gcra::{Decision, Gcra};

/// The prefix of every rate limit key in Redis.
pub const REDIS_PREFIX: &str = "mcp-auth:rl:";

/// How long one check (and its connection, when one must be made) may take before it
/// counts as a store error.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// GCRA on one key with the server's time. KEYS: the bucket. ARGV: interval (µs),
/// capacity (µs). Answers {1, 0} allowed, {0, wait µs} refused (nothing written).
/// Times are written with `%.0f`: Lua's default number format (`%.14g`) would round
/// a 16-digit time.
const CHECK_SCRIPT: &str = "\
local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) \
local interval = tonumber(ARGV[1]) \
local capacity = tonumber(ARGV[2]) \
local tat = tonumber(redis.call('GET', KEYS[1])) or now \
if tat < now then tat = now end \
local next = tat + interval \
local wait = next - now - capacity \
if wait > 0 then return {0, wait} end \
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000)) \
return {1, 0}";

/// Buckets in Redis (see the module documentation).
#[derive(Clone)]
pub(crate) struct RedisStore {
    connection: RedisConnection,
    target: RedisTarget,
    /// The SHA-1 of [`CHECK_SCRIPT`], for `EVALSHA`.
    sha: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .finish()
    }
}

/// Why a Redis check gave no decision.
#[derive(Debug)]
pub(crate) enum StoreFailure {
    /// Redis answered with an error, or the connection failed.
    Redis(RedisError),
    /// No answer within [`REDIS_TIMEOUT`].
    Timeout,
    /// An answer the script cannot give.
    Unexpected(i64),
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(e) => write!(f, "{e}"),
            Self::Timeout => write!(f, "no answer within {REDIS_TIMEOUT:?}"),
            Self::Unexpected(state) => write!(f, "unexpected answer {state} from the script"),
        }
    }
}

impl RedisStore {
    /// Connects lazily to `target` (nothing is sent before the first check; every
    /// command and connection attempt times out after [`REDIS_TIMEOUT`]). Must be
    /// called inside a Tokio runtime.
    pub(crate) fn connect(target: &RedisTarget) -> Result<Self, RedisError> {
        Ok(Self {
            connection: RedisConnection::connect_lazy(target, REDIS_TIMEOUT)?,
            target: target.clone(),
            sha: script_sha(),
        })
    }

    /// `redis` or `redis-cluster`.
    pub(crate) fn kind(&self) -> &'static str {
        self.target.kind()
    }

    /// Decides a request of `key` with one script call, bounded by [`REDIS_TIMEOUT`].
    pub(crate) async fn check(&self, gcra: &Gcra, key: &RateKey) -> Result<Decision, StoreFailure> {
        let redis_key = redis_key(key);
        let call = async {
            let mut evalsha = redis::cmd("EVALSHA");
            evalsha.arg(&self.sha);
            let answer = match self.run(evalsha, &redis_key, gcra).await {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    let mut eval = redis::cmd("EVAL");
                    eval.arg(CHECK_SCRIPT);
                    self.run(eval, &redis_key, gcra).await
                }
                answer => answer,
            };
            answer.map_err(StoreFailure::Redis)
        };
        let (state, wait) = tokio::time::timeout(REDIS_TIMEOUT, call)
            .await
            .map_err(|_| StoreFailure::Timeout)??;
        match state {
            1 => Ok(Decision::Allow { tat: 0 }),
            0 => Ok(Decision::Refuse {
                wait: u64::try_from(wait).unwrap_or(0).max(1),
            }),
            other => Err(StoreFailure::Unexpected(other)),
        }
    }

    /// `command` (`EVALSHA sha` or `EVAL script`) with the key and the bucket's
    /// parameters.
    async fn run(
        &self,
        mut command: redis::Cmd,
        redis_key: &str,
        gcra: &Gcra,
    ) -> Result<(i64, i64), RedisError> {
        command
            .arg(1)
            .arg(redis_key)
            .arg(gcra.interval)
            .arg(gcra.capacity);
        self.connection.query(&command).await
    }

    /// Whether Redis answers now (every primary of a cluster), within
    /// [`REDIS_TIMEOUT`].
    pub(crate) async fn ping(&self) -> Result<(), StoreFailure> {
        tokio::time::timeout(REDIS_TIMEOUT, self.connection.ping())
            .await
            .map_err(|_| StoreFailure::Timeout)?
            .map_err(StoreFailure::Redis)
    }
}

/// The SHA-1 of [`CHECK_SCRIPT`] in hex: the name Redis caches a script under
/// (`EVALSHA`), not a security function.
fn script_sha() -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        CHECK_SCRIPT.as_bytes(),
    );
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The Redis key of `key`: [`REDIS_PREFIX`] and the digest in hex.
pub fn redis_key(key: &RateKey) -> String {
    format!("{REDIS_PREFIX}{}", key.to_hex())
}
