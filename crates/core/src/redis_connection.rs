//! The one way mcp-auth connects to Redis (feature `redis`): a lazily connected,
//! self-reconnecting `ConnectionManager` whose every command times out, so a Redis
//! that is down or slow makes a request fail closed within `timeout` instead of
//! hanging. The replay cache and the gateway's session store both use it.

use std::time::Duration;

pub use redis::RedisError;
pub use redis::aio::ConnectionManager;

/// Connects lazily to `url` (`redis://host:port/db`): nothing is sent until the first
/// command; every command and (re)connection times out after `timeout`. Must be
/// called inside a Tokio runtime.
pub fn connect_lazy(url: &str, timeout: Duration) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Sends `PING`: for readiness checks, and to fail at start rather than on the first
/// request.
pub async fn ping(connection: &ConnectionManager) -> Result<(), RedisError> {
    let mut connection = connection.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map(|_| ())
}

/// A lifetime as the milliseconds of `PX` / `PEXPIRE`: at least 1 (Redis refuses 0),
/// saturating instead of overflowing.
pub fn px_millis(lifetime: Duration) -> u64 {
    u64::try_from(lifetime.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
