//! Which principal each MCP session belongs to, so that a session id is worth nothing
//! to anyone but the principal that created it.
//!
//! An MCP server behind the gateway names a session in the `Mcp-Session-Id` header of
//! its answer to `initialize` (MCP Streamable HTTP, "Session Management"). The gateway
//! binds that id to the principal of the request it answered (issuer, subject, client
//! id: [`SessionOwner`]); afterwards a request carrying the id is forwarded only for
//! that principal, and anyone else gets 404, as if the session did not exist. The
//! binding lives as long as the session is used: every use renews it for the idle
//! lifetime ([`DEFAULT_SESSION_IDLE`]).
//!
//! One trait, two stores, as for the replay cache: [`MemorySessionStore`] (one
//! process) and [`RedisSessionStore`] (shared by every gateway instance). Neither
//! stores a session id or an identity in clear: keys are the SHA-256 of the session
//! id, values the SHA-256 of the owner. A store that cannot answer returns
//! [`SessionStoreError::Unavailable`] and the gateway answers 503: a session is never
//! used unchecked.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mcp_auth_core::redis_connection::{self, RedisConnection, RedisTarget};

use crate::presentation::Principal;

/// How long a binding lives without being used (renewed at every use): 24 hours.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(24 * 60 * 60);

/// The most bindings [`MemorySessionStore::new`] holds; past it the least recently
/// used are dropped (their sessions then answer 404 and the client starts a new one,
/// as MCP prescribes). Deployments with more live sessions use Redis.
pub const DEFAULT_MEMORY_CAPACITY: u64 = 100_000;

/// The principal a session belongs to: the SHA-256 of its issuer, subject and client
/// id (each length-prefixed, so no two triples collide), as hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOwner(String);

impl SessionOwner {
    /// The owner `principal` would be. Two tokens of the same client for the same user
    /// from the same issuer are the same owner, whatever key they are bound to.
    pub fn of(principal: &Principal) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [&principal.issuer, &principal.subject, &principal.client_id] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        Self(crate::hex::lower(ctx.finish().as_ref()))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The result of [`SessionStore::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The session is bound to this owner (newly, or it already was).
    Bound,
    /// The session is bound to another owner, and stays so.
    OwnedByAnother,
}

/// The store cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionStoreError {
    /// The shared store is unreachable, failed or timed out.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future, so the trait can be used as `dyn SessionStore`.
pub type SessionFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send + 'a>>;

/// Remembers the owner of each session for its idle lifetime.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The owner of `session`, its lifetime renewed; `None` when the gateway never
    /// bound it or the binding expired.
    fn owner<'a>(&'a self, session: &'a str) -> SessionFuture<'a, Option<SessionOwner>>;

    /// Binds `session` to `owner`, atomically, unless it is bound to another owner;
    /// the lifetime is renewed either way.
    fn bind<'a>(&'a self, session: &'a str, owner: &'a SessionOwner) -> SessionFuture<'a, Binding>;

    /// Forgets `session` (the MCP server ended it).
    fn forget<'a>(&'a self, session: &'a str) -> SessionFuture<'a, ()>;

    /// A short name for logs (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Whether the store can answer now (readiness). In-process stores always can.
    fn check_ready(&self) -> SessionFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// The SHA-256 of a session id: what the stores key by.
fn session_key(session: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, session.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// Bindings in this process: a bounded cache whose entries expire after the idle
/// lifetime, renewed by every lookup.
pub struct MemorySessionStore {
    bindings: moka::sync::Cache<[u8; 32], SessionOwner>,
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("bindings", &self.bindings.entry_count())
            .finish()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_IDLE, DEFAULT_MEMORY_CAPACITY)
    }
}

impl MemorySessionStore {
    /// A store whose bindings live `idle` after their last use, at most `capacity` of
    /// them.
    pub fn new(idle: Duration, capacity: u64) -> Self {
        Self {
            bindings: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(idle)
                .build(),
        }
    }
}

impl SessionStore for MemorySessionStore {
    fn owner<'a>(&'a self, session: &'a str) -> SessionFuture<'a, Option<SessionOwner>> {
        Box::pin(std::future::ready(Ok(self
            .bindings
            .get(&session_key(session)))))
    }

    fn bind<'a>(&'a self, session: &'a str, owner: &'a SessionOwner) -> SessionFuture<'a, Binding> {
        let entry = self
            .bindings
            .entry(session_key(session))
            .or_insert_with(|| owner.clone());
        let binding = if entry.value() == owner {
            Binding::Bound
        } else {
            Binding::OwnedByAnother
        };
        Box::pin(std::future::ready(Ok(binding)))
    }

    fn forget<'a>(&'a self, session: &'a str) -> SessionFuture<'a, ()> {
        self.bindings.invalidate(&session_key(session));
        Box::pin(std::future::ready(Ok(())))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Bindings in Redis (one server or a Redis Cluster), shared by every gateway
/// instance: `<prefix><sha-256 of the session id>` → owner, with a `PX` lifetime
/// renewed at every use (`GETEX`, Redis ≥ 6.2). Binding is one atomic script (set if
/// absent, else renew if ours) over that one key, so it runs on one cluster node.
/// Every command times out after `timeout`, and then the request fails closed.
///
/// A Redis that restarts empty forgets the bindings: a session id then answers 404
/// to everyone and its client starts a new session (MCP Streamable HTTP) — never a
/// session used by another principal.
#[derive(Clone)]
pub struct RedisSessionStore {
    connection: RedisConnection,
    prefix: String,
    idle: Duration,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .field("idle", &self.idle)
            .finish()
    }
}

/// Set if absent, else renew when the owner is ours: 1 bound, 0 another's. One key
/// (a cluster runs it on the node of that key's slot).
const BIND_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
    if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end \
    if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end \
    return 0";

impl RedisSessionStore {
    /// Connects (lazily) to `target`; keys are prefixed with `prefix` (e.g.
    /// `mcp-auth:session:`), bindings live `idle` after their last use. Must be called
    /// inside a Tokio runtime.
    pub fn connect(
        target: &RedisTarget,
        prefix: &str,
        idle: Duration,
        timeout: Duration,
    ) -> Result<Self, SessionStoreError> {
        let connection = RedisConnection::connect_lazy(target, timeout)
            .map_err(|e| SessionStoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            idle,
        })
    }

    /// Sends `PING` (to every primary of a cluster): readiness, and failing at start
    /// rather than on a request.
    pub async fn ping(&self) -> Result<(), SessionStoreError> {
        self.connection
            .ping()
            .await
            .map_err(|e| SessionStoreError::Unavailable(e.to_string()))
    }

    fn key(&self, session: &str) -> String {
        format!(
            "{}{}",
            self.prefix,
            crate::hex::lower(&session_key(session))
        )
    }

    fn idle_millis(&self) -> u64 {
        redis_connection::px_millis(self.idle)
    }
}

impl SessionStore for RedisSessionStore {
    fn owner<'a>(&'a self, session: &'a str) -> SessionFuture<'a, Option<SessionOwner>> {
        Box::pin(async move {
            let owner: Option<String> = self
                .connection
                .query(
                    redis::cmd("GETEX")
                        .arg(self.key(session))
                        .arg("PX")
                        .arg(self.idle_millis()),
                )
                .await
                .map_err(|e| SessionStoreError::Unavailable(e.to_string()))?;
            Ok(owner.map(SessionOwner))
        })
    }

    fn bind<'a>(&'a self, session: &'a str, owner: &'a SessionOwner) -> SessionFuture<'a, Binding> {
        Box::pin(async move {
            let bound: i64 = self
                .connection
                .query(
                    redis::cmd("EVAL")
                        .arg(BIND_SCRIPT)
                        .arg(1)
                        .arg(self.key(session))
                        .arg(owner.as_str())
                        .arg(self.idle_millis()),
                )
                .await
                .map_err(|e| SessionStoreError::Unavailable(e.to_string()))?;
            Ok(if bound == 1 {
                Binding::Bound
            } else {
                Binding::OwnedByAnother
            })
        })
    }

    fn forget<'a>(&'a self, session: &'a str) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            self.connection
                .query::<i64>(redis::cmd("DEL").arg(self.key(session)))
                .await
                .map(|_| ())
                .map_err(|e| SessionStoreError::Unavailable(e.to_string()))
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn check_ready(&self) -> SessionFuture<'_, ()> {
        Box::pin(self.ping())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presentation::Profile;

    fn principal(issuer: &str, subject: &str, client_id: &str) -> Principal {
        Principal {
            issuer: issuer.into(),
            subject: subject.into(),
            client_id: client_id.into(),
            scopes: Default::default(),
            token_id: "t".into(),
            profile: Profile::HttpSig,
            key_thumbprint: None,
            claims: Default::default(),
        }
    }

    #[test]
    fn owners_differ_by_issuer_subject_and_client_and_do_not_collide_by_concatenation() {
        let a = SessionOwner::of(&principal("https://as1", "alice", "app"));
        assert_eq!(
            a,
            SessionOwner::of(&principal("https://as1", "alice", "app"))
        );
        assert_ne!(
            a,
            SessionOwner::of(&principal("https://as2", "alice", "app"))
        );
        assert_ne!(a, SessionOwner::of(&principal("https://as1", "bob", "app")));
        assert_ne!(
            a,
            SessionOwner::of(&principal("https://as1", "alice", "other"))
        );
        assert_ne!(
            SessionOwner::of(&principal("ab", "c", "d")),
            SessionOwner::of(&principal("a", "bc", "d"))
        );
    }

    #[tokio::test]
    async fn memory_store_binds_once_and_refuses_another_owner() {
        let store = MemorySessionStore::default();
        let alice = SessionOwner::of(&principal("i", "alice", "c"));
        let bob = SessionOwner::of(&principal("i", "bob", "c"));
        assert_eq!(store.owner("s1").await, Ok(None));
        assert_eq!(store.bind("s1", &alice).await, Ok(Binding::Bound));
        assert_eq!(store.bind("s1", &alice).await, Ok(Binding::Bound));
        assert_eq!(store.bind("s1", &bob).await, Ok(Binding::OwnedByAnother));
        assert_eq!(store.owner("s1").await, Ok(Some(alice)));
        store.forget("s1").await.unwrap_or_default();
        assert_eq!(store.owner("s1").await, Ok(None));
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_unavailable_not_unknown() {
        let target = RedisTarget::parse("redis://127.0.0.1:1/").map_err(|e| e.to_string());
        let Ok(target) = target else {
            panic!("target: {target:?}");
        };
        let store = RedisSessionStore::connect(
            &target,
            "t:",
            DEFAULT_SESSION_IDLE,
            Duration::from_millis(300),
        )
        .map_err(|e| e.to_string());
        let Ok(store) = store else {
            panic!("lazy connection: {store:?}");
        };
        assert!(matches!(
            store.owner("s").await,
            Err(SessionStoreError::Unavailable(_))
        ));
        let owner = SessionOwner::of(&principal("i", "s", "c"));
        assert!(matches!(
            store.bind("s", &owner).await,
            Err(SessionStoreError::Unavailable(_))
        ));
    }
}
