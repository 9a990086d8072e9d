//! The one way mcp-auth names and connects to Redis (feature `redis`).
//!
//! [`RedisTarget::parse`] reads the configuration text — the AS's and the gateway's
//! `replay_cache` both go through it — and [`RedisConnection::connect_lazy`] makes a
//! lazily connected, self-reconnecting connection whose every command times out, so a
//! Redis that is down or slow makes a request fail closed within `timeout` instead of
//! hanging. The replay cache and the gateway's session store both use it.
//!
//! Two shapes of Redis:
//!
//! - one server (or a Sentinel-fronted primary behind one address):
//!   `redis://[user:password@]host:port[/db]` (`rediss://` for TLS);
//! - a Redis Cluster: `redis-cluster://[user:password@]host:port,host:port,...`
//!   (`rediss-cluster://` for TLS), any reachable subset of the nodes — the client
//!   discovers the others with `CLUSTER SLOTS` and follows `MOVED`/`ASK` redirects.
//!   Cluster mode has one database: no `/db` path. A command whose keys do not all
//!   hash to one slot is refused by the cluster (`CROSSSLOT`), so every multi-key
//!   script of mcp-auth keeps its keys under one `{hash tag}`.
//!
//! TLS (`rediss://`, `rediss-cluster://`) is rustls with the process's crypto provider
//! (aws-lc-rs, as for every other TLS connection of mcp-auth). The server's
//! certificate must chain to a trusted root and name the host of the URL. The roots
//! are the system's (the platform store: `/etc/ssl/certs` and `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), or, with the query parameter `ca=/path/ca.pem` (a PEM file of
//! one or more CA certificates, e.g. a private CA's), those of that file only:
//! `rediss://:pw@redis.internal:6380/0?ca=/etc/mcp-auth/redis-ca.pem`,
//! `rediss-cluster://h1:6380,h2:6380?ca=/etc/mcp-auth/redis-ca.pem`. Verification
//! cannot be switched off: redis-rs's `#insecure` is refused when the URL is read.

use std::path::PathBuf;
use std::time::Duration;

pub use redis::RedisError;
pub use redis::aio::ConnectionManager;
pub use redis::cluster_async::ClusterConnection;

/// The URL schemes of one server.
const SINGLE_SCHEMES: [&str; 2] = ["redis://", "rediss://"];
/// The URL schemes of a cluster, and the scheme each node is reached with.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis-cluster://", "redis://"),
    ("rediss-cluster://", "rediss://"),
];

/// The query parameter naming a PEM file of the CA certificates trusted for a TLS
/// Redis instead of the system's roots.
pub const CA_PARAMETER: &str = "ca";

/// Where a shared store lives: one Redis server, or a Redis Cluster (its seed nodes).
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: its `redis://` / `rediss://` URL.
    Single(String),
    /// A cluster: one `redis://` / `rediss://` URL per seed node (at least one).
    Cluster(Vec<String>),
}

/// A configured Redis that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisTargetError {
    /// Neither a Redis URL nor a cluster.
    #[error("use a redis:// or rediss:// URL, or redis-cluster://host:port,host:port")]
    Scheme,
    /// A `redis-cluster://` list with no node, an empty node or a node without a port:
    /// its place in the list, counted from 1. Not its text, which may be a password
    /// whose `@` was forgotten (`redis-cluster://:secret`).
    #[error(
        "the cluster's node {0} (counted from 1) is not host:port: write each node as host:port"
    )]
    ClusterNode(usize),
    /// A cluster URL naming a database (`/1`): a cluster has only database 0.
    #[error("a Redis Cluster has a single database: remove the /path")]
    ClusterDatabase,
    /// The URL does not parse.
    #[error("{0}")]
    Url(String),
    /// `ca=` on a URL without TLS (`redis://`, `redis-cluster://`), or empty.
    #[error("ca= names the CA of a TLS Redis: use rediss:// (or rediss-cluster://) and a file")]
    CaWithoutTls,
    /// A `#fragment` (redis-rs reads `#insecure` as "do not verify the certificate"):
    /// verification is never switched off.
    #[error(
        "a Redis URL has no #fragment (#insecure is not supported: name the server's CA with ?ca=/path/ca.pem)"
    )]
    Fragment,
    /// A cluster URL with a query parameter other than `ca`: its name, when it is a
    /// plain one (letters, digits, `_`, `-`); else empty, as the "parameter" may be
    /// part of a password with an unencoded `?`.
    #[error("a redis-cluster:// URL takes only the query parameter ca=, not {0:?}")]
    ClusterParameter(String),
}

impl RedisTarget {
    /// Reads `redis://…`, `rediss://…`, `redis-cluster://h:p,h:p` or
    /// `rediss-cluster://h:p,h:p` (credentials, when given, before the first node:
    /// `redis-cluster://user:pw@h1:p1,h2:p2`, and used for every node).
    ///
    /// A TLS URL may name the CA file trusted for the server's certificate with
    /// `?ca=/path/ca.pem` (a cluster's, once, after the last node); the file is read
    /// when connecting ([`RedisConnection::connect_lazy`]).
    pub fn parse(text: &str) -> Result<Self, RedisTargetError> {
        if SINGLE_SCHEMES.iter().any(|s| text.starts_with(s)) {
            let url = url::Url::parse(text).map_err(|e| RedisTargetError::Url(e.to_string()))?;
            if url.fragment().is_some() {
                return Err(RedisTargetError::Fragment);
            }
            let ca = url.query_pairs().find(|(k, _)| k == CA_PARAMETER);
            if ca.is_some_and(|(_, path)| path.is_empty() || url.scheme() != "rediss") {
                return Err(RedisTargetError::CaWithoutTls);
            }
            return Ok(Self::Single(text.to_owned()));
        }
        let Some((rest, node_scheme)) = CLUSTER_SCHEMES
            .iter()
            .find_map(|(scheme, node)| text.strip_prefix(scheme).map(|rest| (rest, *node)))
        else {
            return Err(RedisTargetError::Scheme);
        };
        if rest.contains('#') {
            return Err(RedisTargetError::Fragment);
        }
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, cluster_query(query, node_scheme)?),
            None => (rest, String::new()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(RedisTargetError::ClusterDatabase);
        }
        let (userinfo, nodes) = match rest.rsplit_once('@') {
            Some((userinfo, nodes)) => (Some(userinfo), nodes),
            None => (None, rest),
        };
        let mut urls = Vec::new();
        for (place, node) in nodes.split(',').enumerate() {
            let node = node.trim();
            let port_ok = node
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(RedisTargetError::ClusterNode(place + 1));
            }
            let url = match userinfo {
                Some(userinfo) => format!("{node_scheme}{userinfo}@{node}{query}"),
                None => format!("{node_scheme}{node}{query}"),
            };
            url::Url::parse(&url).map_err(|e| RedisTargetError::Url(e.to_string()))?;
            urls.push(url);
        }
        Ok(Self::Cluster(urls))
    }

    /// `redis` or `redis-cluster`: for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single(_) => "redis",
            Self::Cluster(_) => "redis-cluster",
        }
    }
}

/// The query of a cluster URL as each node's URL carries it: `/?ca=<path>` (TLS only),
/// or nothing.
fn cluster_query(query: &str, node_scheme: &str) -> Result<String, RedisTargetError> {
    let mut ca = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != CA_PARAMETER {
            let plain = key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            let shown = if plain {
                key.into_owned()
            } else {
                String::new()
            };
            return Err(RedisTargetError::ClusterParameter(shown));
        }
        if value.is_empty() || node_scheme != "rediss://" {
            return Err(RedisTargetError::CaWithoutTls);
        }
        ca = Some(value.into_owned());
    }
    Ok(ca.map_or_else(String::new, |ca| {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(CA_PARAMETER, &ca)
            .finish();
        format!("/?{encoded}")
    }))
}

/// A node's URL as redis-rs reads it (without `ca=`), and the CA file it names.
fn without_ca(text: &str) -> Result<(String, Option<PathBuf>), RedisError> {
    let mut url = url::Url::parse(text).map_err(|e| {
        RedisError::from((redis::ErrorKind::InvalidClientConfig, "URL", e.to_string()))
    })?;
    let mut ca = None;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == CA_PARAMETER {
                ca = Some(PathBuf::from(v.into_owned()));
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if ca.is_none() {
        return Ok((text.to_owned(), None));
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((url.to_string(), ca))
}

/// The TLS roots of `ca`: the file's certificates, read now (an unreadable file, or
/// one without a certificate, is an error naming it).
fn trusted_roots(ca: &std::path::Path) -> Result<redis::TlsCertificates, RedisError> {
    let failed = |problem: String| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "TLS CA file",
            format!("{}: {problem}", ca.display()),
        ))
    };
    // A trust anchor: not a file another user could change.
    let pem = crate::private_file::read(
        ca,
        1024 * 1024,
        crate::private_file::Owners::Provided,
        crate::private_file::Others::Read,
    )
    .map_err(|e| failed(e.to_string()))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(failed("no PEM certificate in it".to_owned()));
    }
    Ok(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

/// Credentials never reach a log: every password is shown as `***`.
impl std::fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = crate::redact::url_password;
        match self {
            Self::Single(url) => f.write_str(&redact(url)),
            Self::Cluster(nodes) => {
                let nodes: Vec<_> = nodes.iter().map(|n| redact(n)).collect();
                write!(f, "cluster [{}]", nodes.join(", "))
            }
        }
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisTarget({self})")
    }
}

/// A connection to a [`RedisTarget`]: a `ConnectionManager` for one server, a
/// cluster connection (slot map, redirects, reconnection per node) for a cluster.
/// Cheap to clone; clones share the connections.
#[derive(Clone)]
pub enum RedisConnection {
    /// One server.
    Single(ConnectionManager),
    /// A cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConnection::Single",
            Self::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

impl RedisConnection {
    /// Connects lazily to `target`: nothing is sent until the first command; every
    /// command and (re)connection times out after `timeout`, and a failed command is
    /// retried once at most (then the caller fails closed). Must be called inside a
    /// Tokio runtime.
    pub fn connect_lazy(target: &RedisTarget, timeout: Duration) -> Result<Self, RedisError> {
        match target {
            RedisTarget::Single(url) => connect_lazy(url, timeout).map(Self::Single),
            RedisTarget::Cluster(nodes) => {
                let mut urls = Vec::with_capacity(nodes.len());
                let mut ca = None;
                for node in nodes {
                    let (url, node_ca) = without_ca(node)?;
                    urls.push(url);
                    ca = ca.or(node_ca);
                }
                let mut builder = redis::cluster::ClusterClient::builder(urls);
                if let Some(ca) = ca {
                    builder = builder.certs(trusted_roots(&ca)?);
                }
                let client = builder
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .min_retry_wait(50)
                    .max_retry_wait(200)
                    .build()?;
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    /// Sends `command`, routed by its first key on a cluster.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisError> {
        match self {
            Self::Single(connection) => command.query_async(&mut connection.clone()).await,
            Self::Cluster(connection) => command.query_async(&mut connection.clone()).await,
        }
    }

    /// Whether Redis answers: for readiness checks, and to fail at start rather than on
    /// the first request. One server: `PING`. A cluster: every primary that serves
    /// slots must answer a command on a key of its slots (`PING` alone would not do:
    /// the cluster client sends a command for a disconnected node to any other one).
    pub async fn ping(&self) -> Result<(), RedisError> {
        match self {
            Self::Single(connection) => ping(connection).await,
            Self::Cluster(connection) => ping_cluster(connection).await,
        }
    }
}

/// Asks `CLUSTER SLOTS` of any node, then `EXISTS` of a probe key in each slot range,
/// so that each range's primary (and no other node) must answer.
async fn ping_cluster(connection: &ClusterConnection) -> Result<(), RedisError> {
    let mut connection = connection.clone();
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut connection)
        .await?;
    let mut probed = 0;
    for range in ranges {
        let redis::Value::Array(fields) = range else {
            continue;
        };
        let bound = |i: usize| match fields.get(i) {
            Some(redis::Value::Int(n)) => u16::try_from(*n).ok(),
            _ => None,
        };
        let (Some(low), Some(high)) = (bound(0), bound(1)) else {
            continue;
        };
        let Some(probe) = (0u32..1_000_000)
            .map(|i| format!("mcp-auth:probe:{i}"))
            .find(|k| (low..=high).contains(&key_slot(k)))
        else {
            continue;
        };
        redis::cmd("EXISTS")
            .arg(probe)
            .query_async::<i64>(&mut connection)
            .await?;
        probed += 1;
    }
    if probed == 0 {
        return Err(RedisError::from((
            redis::ErrorKind::Io,
            "the cluster serves no slots",
        )));
    }
    Ok(())
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag — the text between
/// the first `{` and the next `}` when not empty — or of the whole key, modulo 16384
/// (Redis Cluster specification, "Keys distribution model").
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for byte in hashed {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// Connects lazily to `url` (`redis://host:port/db`, `rediss://…[?ca=/path/ca.pem]`):
/// nothing is sent until the first command; every command and (re)connection times
/// out after `timeout`. Must be called inside a Tokio runtime.
pub fn connect_lazy(url: &str, timeout: Duration) -> Result<ConnectionManager, RedisError> {
    let client = match without_ca(url)? {
        (url, Some(ca)) => redis::Client::build_with_tls(url, trusted_roots(&ca)?)?,
        (url, None) => redis::Client::open(url)?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What messages and logs show of a target: never a password, nor a piece of
    /// one taken for a query parameter.
    #[test]
    fn a_target_is_shown_with_its_password_masked() {
        assert_eq!(
            RedisTarget::parse("redis-cluster://u:p?w@a:1,b:2"),
            Err(RedisTargetError::ClusterParameter(String::new()))
        );
        let single = RedisTarget::parse("redis://agent:hunter2@127.0.0.1:6379/0").unwrap();
        assert_eq!(single.to_string(), "redis://agent:***@127.0.0.1:6379/0");
        let cluster = RedisTarget::parse("redis-cluster://:hunter2@a:1,b:2").unwrap();
        let shown = format!("{cluster:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown.matches(":***@").count(), 2, "{shown}");
    }

    #[test]
    fn single_urls_and_clusters_parse_and_everything_else_is_refused() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/2"),
            Ok(RedisTarget::Single("redis://127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            RedisTarget::parse("redis-cluster://10.0.0.1:7000, 10.0.0.2:7001/"),
            Ok(RedisTarget::Cluster(vec![
                "redis://10.0.0.1:7000".into(),
                "redis://10.0.0.2:7001".into()
            ]))
        );
        assert_eq!(
            RedisTarget::parse("rediss-cluster://u:pw@a:1,b:2"),
            Ok(RedisTarget::Cluster(vec![
                "rediss://u:pw@a:1".into(),
                "rediss://u:pw@b:2".into()
            ]))
        );
        assert_eq!(
            RedisTarget::parse("memcached://x"),
            Err(RedisTargetError::Scheme)
        );
        assert_eq!(
            RedisTarget::parse("redis-cluster://a:1,,b:2"),
            Err(RedisTargetError::ClusterNode(2))
        );
        assert_eq!(
            RedisTarget::parse("redis-cluster://a"),
            Err(RedisTargetError::ClusterNode(1))
        );
        // A password whose `@` was forgotten is not quoted back.
        let forgot = RedisTarget::parse("redis-cluster://:S3cret").unwrap_err();
        assert_eq!(forgot, RedisTargetError::ClusterNode(1));
        assert!(!forgot.to_string().contains("S3cret"), "{forgot}");
        assert_eq!(
            RedisTarget::parse("redis-cluster://a:1/3"),
            Err(RedisTargetError::ClusterDatabase)
        );
    }

    #[test]
    fn a_ca_file_is_named_only_for_tls_and_verification_cannot_be_switched_off() {
        assert_eq!(
            RedisTarget::parse("rediss://:pw@redis.internal:6380/0?ca=/etc/ca.pem"),
            Ok(RedisTarget::Single(
                "rediss://:pw@redis.internal:6380/0?ca=/etc/ca.pem".into()
            ))
        );
        assert_eq!(
            RedisTarget::parse("rediss-cluster://a:1,b:2?ca=/etc/my%20ca.pem"),
            Ok(RedisTarget::Cluster(vec![
                "rediss://a:1/?ca=%2Fetc%2Fmy+ca.pem".into(),
                "rediss://b:2/?ca=%2Fetc%2Fmy+ca.pem".into()
            ]))
        );
        for (bad, error) in [
            (
                "redis://h:1/?ca=/etc/ca.pem",
                RedisTargetError::CaWithoutTls,
            ),
            ("rediss://h:1/?ca=", RedisTargetError::CaWithoutTls),
            ("redis-cluster://a:1?ca=/x", RedisTargetError::CaWithoutTls),
            ("rediss://h:1/#insecure", RedisTargetError::Fragment),
            (
                "rediss-cluster://a:1,b:2#insecure",
                RedisTargetError::Fragment,
            ),
            (
                "rediss-cluster://a:1?insecure=1",
                RedisTargetError::ClusterParameter("insecure".into()),
            ),
        ] {
            assert_eq!(RedisTarget::parse(bad), Err(error), "{bad}");
        }
    }

    #[test]
    fn the_ca_parameter_is_taken_off_the_url_redis_reads() {
        assert_eq!(
            without_ca("rediss://:pw@h:1/2?ca=%2Fetc%2Fmy+ca.pem&protocol=resp3").unwrap(),
            (
                "rediss://:pw@h:1/2?protocol=resp3".to_owned(),
                Some(PathBuf::from("/etc/my ca.pem"))
            )
        );
        assert_eq!(
            without_ca("rediss://h:1/?ca=/etc/ca.pem").unwrap(),
            (
                "rediss://h:1/".to_owned(),
                Some(PathBuf::from("/etc/ca.pem"))
            )
        );
        assert_eq!(
            without_ca("redis://h:1/0").unwrap(),
            ("redis://h:1/0".to_owned(), None)
        );
    }

    #[tokio::test]
    async fn a_missing_or_empty_ca_file_fails_at_connect_naming_it() {
        let missing = RedisTarget::parse("rediss://127.0.0.1:1/?ca=/nonexistent/ca.pem").unwrap();
        let error = RedisConnection::connect_lazy(&missing, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        let dir = std::env::temp_dir().join(format!("mcp-auth-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let cluster = RedisTarget::parse(&format!(
            "rediss-cluster://127.0.0.1:1,127.0.0.1:2?ca={}",
            empty.display()
        ))
        .unwrap();
        let error = RedisConnection::connect_lazy(&cluster, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(error.contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn key_slots_are_those_of_redis_cluster() {
        // The examples of the Redis documentation (CLUSTER KEYSLOT).
        assert_eq!(key_slot("somekey"), 11058);
        assert_eq!(key_slot("foo{hash_tag}"), 2515);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        // An empty tag hashes the whole key.
        assert_eq!(key_slot("{}x"), key_slot("{}x"));
        assert_ne!(key_slot("{}x"), key_slot(""));
    }

    #[test]
    fn passwords_are_not_displayed() {
        let single = RedisTarget::parse("redis://u:secret@h:1/").unwrap();
        assert!(!single.to_string().contains("secret"), "{single}");
        let cluster = RedisTarget::parse("redis-cluster://u:secret@h:1,g:2").unwrap();
        assert!(!cluster.to_string().contains("secret"), "{cluster}");
        assert!(!format!("{cluster:?}").contains("secret"));
    }
}
