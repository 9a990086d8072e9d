//! `replay_cache` (`MCP_AUTH_REPLAY_CACHE`): where the AS remembers one-time values
//! (DPoP proof `jti`s and token-request signature nonces at the token endpoint).

use mcp_auth_core::redis_connection::{RedisTarget, RedisTargetError};

/// Where one-time values (signature nonces, DPoP `jti`s) are remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayCacheConfig {
    /// In this process.
    Memory,
    /// In Redis: one server or a Redis Cluster, shared by every instance.
    Redis(RedisTarget),
}

/// A `replay_cache` value that is neither `memory` nor a Redis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: use `memory`, a redis:// URL or redis-cluster://host:port,host:port ({reason})")]
pub struct UnknownReplayCache {
    /// The configured text, its password masked ([`mcp_auth_core::redact::url_password`]).
    pub text: String,
    /// Why it names no Redis.
    pub reason: RedisTargetError,
}

impl ReplayCacheConfig {
    /// Reads `memory`, or a Redis as [`RedisTarget::parse`] reads it (`redis://`,
    /// `rediss://`, `redis-cluster://`, `rediss-cluster://`).
    pub fn parse(text: &str) -> Result<Self, UnknownReplayCache> {
        if text == "memory" {
            return Ok(Self::Memory);
        }
        RedisTarget::parse(text)
            .map(Self::Redis)
            .map_err(|reason| UnknownReplayCache {
                text: mcp_auth_core::redact::url_password(text).into_owned(),
                reason,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused value is quoted in the error, but not a password in it.
    #[test]
    fn a_refused_value_is_quoted_without_its_password() {
        let error = ReplayCacheConfig::parse("redis:/agent:hunter2@cache:6379")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("`redis:***@cache:6379`: use `memory`"),
            "{error}"
        );
    }

    #[test]
    fn memory_redis_and_clusters_are_read_and_the_rest_refused() {
        assert_eq!(
            ReplayCacheConfig::parse("memory"),
            Ok(ReplayCacheConfig::Memory)
        );
        assert!(matches!(
            ReplayCacheConfig::parse("redis://127.0.0.1:6379/"),
            Ok(ReplayCacheConfig::Redis(RedisTarget::Single(_)))
        ));
        assert!(matches!(
            ReplayCacheConfig::parse("redis-cluster://127.0.0.1:7000,127.0.0.1:7001"),
            Ok(ReplayCacheConfig::Redis(RedisTarget::Cluster(nodes))) if nodes.len() == 2
        ));
        assert!(ReplayCacheConfig::parse("memcached://x").is_err());
    }
}
