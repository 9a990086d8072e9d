//! The gateway's configuration (docs/gateway.md), declared once.
//!
//! [`RawGatewayConfig`] is what the TOML file holds, every key optional so that
//! command-line flags can supply or override it (the CLI overlays them on the raw
//! value). [`RawGatewayConfig::validate`] is the one check of it: every URL parsed,
//! the DPoP window and nonce secret, the header prefix, the listener limits, before
//! anything is connected; it gives the [`GatewayConfig`] the gateway runs with.
//! [`GatewayConfig::router`] then discovers the issuers, connects the replay cache and
//! the session store (both in the Redis of `replay_cache`, else in memory) and builds
//! the router.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::connection_pool::POOL_IDLE_TIMEOUT;
use mcp_auth_core::dpop::{NonceSealer, NonceSecretError, ProofWindow};
use mcp_auth_core::listener::{ListenerLimits, ListenerSettings};
use mcp_auth_core::redact::{MaskedUrl, Secret};
use mcp_auth_core::redis_connection::{RedisTarget, RedisTargetError};
use mcp_auth_core::shutdown::Shutdown;
use mcp_auth_core::{MemoryReplayCache, RedisReplayCache, ReplayCache};
use serde::Deserialize;

use crate::audit::{AuditConfig, AuditError, AuditSink};
use crate::config::{DpopPolicy, ResourceConfig, ResourceConfigError};
use crate::policy::{Policy, PolicyConfig, PolicyError};
use crate::presentation::ResourceVerifier;
use crate::proxy::{IDENTITY_PREFIX, Upstream, gateway_router_with_shutdown};
use crate::rate_limit::{RateLimitConfig, RateLimiter};
use crate::scope_policy::ScopePolicy;
use crate::session::{DEFAULT_SESSION_IDLE, MemorySessionStore, RedisSessionStore, SessionStore};
use crate::token::{AccessTokenCache, DEFAULT_JWKS_REFRESH, DiscoveryError, discover_issuer};
use crate::upstream_identity::{
    JWKS_PATH, UpstreamIdentity, UpstreamIdentityConfig, UpstreamIdentityError,
};
use mcp_auth_core::mcp_param::ToolRegistry;

/// Where the gateway listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";
/// The largest request body by default, bytes (4 MiB).
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;
/// Seconds to wait for the upstream's response head by default.
pub const DEFAULT_UPSTREAM_TIMEOUT: u64 = 30;
/// How long a DPoP nonce of the gateway is accepted, seconds.
pub const DPOP_NONCE_LIFETIME: i64 = 300;
/// How long a Redis command may take before the request fails closed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The gateway's TOML file, as written: every key optional (flags may supply the
/// required ones), unknown keys refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayConfig {
    /// The MCP endpoint forwarded to (required; its password masked in `Debug`).
    pub upstream: Option<MaskedUrl>,
    /// The resource identifier: the public URL of the endpoint (required).
    pub resource: Option<String>,
    /// Trusted issuers, first listed first (at least one).
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Where to listen [default: 127.0.0.1:8090].
    pub listen: Option<String>,
    /// Where to serve Prometheus metrics (nowhere when absent).
    pub metrics_listen: Option<String>,
    /// Also accept unbound Bearer tokens.
    #[serde(default)]
    pub allow_bearer: bool,
    /// The Redis shared by the instances for the replay cache and the session
    /// bindings: `redis://…` or a cluster, `redis-cluster://host:port,host:port`
    /// ([`RedisTarget::parse`]); memory when absent. Its password is masked in `Debug`.
    pub replay_cache: Option<MaskedUrl>,
    /// Pass the client's `Authorization` upstream.
    #[serde(default)]
    pub forward_token: bool,
    /// The largest request body, bytes [default: 4 MiB].
    pub max_body: Option<usize>,
    /// Seconds to the upstream's response head [default: 30].
    pub upstream_timeout: Option<u64>,
    /// Seconds an idle connection to the upstream is kept for reuse [default: 4,
    /// `POOL_IDLE_TIMEOUT`]; 1..=300. Keep it below the upstream's own keep-alive
    /// limit (Node and uvicorn: 5 s; gunicorn's threaded workers: 2 s), or a request
    /// sent as the upstream closes the connection fails with a 502.
    pub upstream_idle_timeout: Option<u64>,
    /// Seconds between two background reads of each issuer's JWKS [default: 300],
    /// shortened by the issuer's `Cache-Control: max-age` (at least 30 s); 1..=86400.
    pub jwks_refresh: Option<u64>,
    /// Prefix of the identity headers sent upstream [default: `x-mcp-auth-`].
    pub identity_header_prefix: Option<String>,
    /// Advertised in the metadata.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `[scopes]`: which scopes each operation needs.
    #[serde(default)]
    pub scopes: ScopePolicy,
    /// `[policy]`: CEL rules over the principal and the operation (`crate::policy`).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// `[rate_limit]`: requests per principal (`crate::rate_limit`); off unless `rate`.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// `[audit]`: one event per operation (`crate::audit`); off unless `output`.
    #[serde(default)]
    pub audit: AuditConfig,
    /// `[upstream_identity]`: a token minted for the upstream
    /// (`crate::upstream_identity`); off unless `key_file`.
    #[serde(default)]
    pub upstream_identity: UpstreamIdentityConfig,
    /// `[dpop]`: accept DPoP-bound tokens (RFC 9449), and how.
    #[serde(default)]
    pub dpop: RawDpopConfig,
    /// `[listener]`: header/idle and body timeouts, the connection cap, and the drain
    /// on SIGTERM (`drain_delay`, `shutdown_timeout`).
    #[serde(default)]
    pub listener: ListenerSettings,
}

/// `[dpop]` of the gateway's file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDpopConfig {
    /// Accept `Authorization: DPoP` with a proof.
    #[serde(default)]
    pub enabled: bool,
    /// Require a server nonce in every proof.
    #[serde(default)]
    pub nonce: bool,
    /// The nonce sealing secret shared by instances (32+ bytes). Masked in `Debug`.
    pub nonce_secret: Option<Secret<String>>,
    /// Remember proof `jti`s (default on; off is SEP-1932's stateless mode).
    #[serde(default = "jti_replay_default")]
    pub jti_replay: bool,
    /// `iat` window, seconds in the past [default: 60].
    pub max_age: Option<i64>,
    /// `iat` window, seconds in the future [default: 60].
    pub future_skew: Option<i64>,
}

fn jti_replay_default() -> bool {
    true
}

impl Default for RawDpopConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            nonce: false,
            nonce_secret: None,
            jti_replay: jti_replay_default(),
            max_age: None,
            future_skew: None,
        }
    }
}

/// A gateway configuration, checked: what [`GatewayConfig::router`] builds from.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The protected resource: identifier, issuers, accepted profiles, DPoP policy,
    /// body limit, scopes.
    pub resource: ResourceConfig,
    /// The MCP endpoint forwarded to (with the credentials it may carry:
    /// [`GatewayConfig::upstream_without_credentials`] is the one to show; `Debug`
    /// masks the password).
    pub upstream: MaskedUrl<url::Url>,
    /// Where to listen.
    pub listen: String,
    /// Where to serve Prometheus metrics.
    pub metrics_listen: Option<String>,
    /// The Redis (or Redis Cluster) of the replay cache and the session store
    /// (memory when `None`).
    pub replay_cache: Option<RedisTarget>,
    /// Pass the client's `Authorization` upstream.
    pub forward_token: bool,
    /// The wait for the upstream's response head.
    pub upstream_timeout: Duration,
    /// How long an idle connection to the upstream is kept for reuse.
    pub upstream_idle_timeout: Duration,
    /// How often each issuer's JWKS is read again in the background
    /// ([`AccessTokenCache::refresh_every`]).
    pub jwks_refresh: Duration,
    /// The prefix of the identity headers.
    pub identity_header_prefix: String,
    /// The listener's limits.
    pub listener: ListenerLimits,
    /// The rate limit per principal (checked when read; off unless `rate`).
    pub rate_limit: RateLimitConfig,
    /// The audit trail (off unless `output`).
    pub audit: AuditConfig,
    /// The token minted for the upstream (off unless `key_file`).
    pub upstream_identity: UpstreamIdentityConfig,
}

/// A gateway configuration that cannot be run. The messages name the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayConfigError {
    /// A `[[policy.rules]]` entry is refused (its name, position and why).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A required key is absent: `upstream`, `resource` or `issuers`.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// `upstream` is not a URL: why. The text is not kept (it may hold a password).
    #[error("upstream is not a URL: {0}")]
    Upstream(url::ParseError),
    /// `upstream` is a URL the gateway cannot forward to (not `http` or `https`):
    /// its scheme. Only the scheme is kept: the URL may hold a password.
    #[error("upstream must be an http:// or https:// URL; its scheme is `{0}`")]
    UpstreamScheme(String),
    /// `upstream` has a query or fragment, which no request would carry (each goes
    /// with the client's query). The URL is not shown: it may hold a password.
    #[error("upstream must have no query or fragment: each request carries the client's query")]
    UpstreamQuery,
    /// `resource` cannot identify a resource.
    #[error(transparent)]
    Resource(#[from] ResourceConfigError),
    /// `identity_header_prefix` does not make header names.
    #[error("identity_header_prefix {0:?} does not make valid header names")]
    IdentityPrefix(String),
    /// `[dpop]` `max_age` / `future_skew` out of range.
    #[error("dpop: max_age must be 1..=600 seconds and future_skew at most 300")]
    DpopWindow,
    /// `[dpop]` `nonce_secret` unusable (shorter than 32 bytes).
    #[error("dpop.nonce_secret (MCP_AUTH_DPOP_NONCE_SECRET): {0}")]
    NonceSecret(NonceSecretError),
    /// No random nonce key could be made.
    #[error("dpop: {0}")]
    NonceKey(NonceSecretError),
    /// `[listener]` out of range.
    #[error("[listener]: {0}")]
    Listener(String),
    /// `upstream_idle_timeout` outside 1..=300 seconds.
    #[error("upstream_idle_timeout must be 1..=300 seconds, not {0}")]
    UpstreamIdleTimeout(u64),
    /// `jwks_refresh` outside 1..=86400 seconds.
    #[error("jwks_refresh must be 1..=86400 seconds, not {0}")]
    JwksRefresh(u64),
    /// `replay_cache` names no Redis.
    #[error("replay_cache: {0}")]
    ReplayCache(RedisTargetError),
    /// `[audit]` out of range.
    #[error("[audit]: {0}")]
    Audit(#[from] AuditError),
    /// `[upstream_identity]` unusable.
    #[error("[upstream_identity]: {0}")]
    UpstreamIdentity(#[from] UpstreamIdentityError),
    /// Two settings that cannot go together.
    #[error("{0}")]
    Conflict(&'static str),
    /// `resource`'s path is one the gateway answers itself (`/healthz`, `/readyz`,
    /// the metadata).
    #[error(
        "resource: the path {0} is one the gateway serves itself; give the MCP endpoint another"
    )]
    ResourcePath(String),
}

/// What stopped a checked configuration from becoming a router.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayStartError {
    /// An issuer could not be discovered.
    #[error("discovering issuer {issuer}: {error}")]
    Issuer {
        /// The issuer.
        issuer: String,
        /// Why.
        error: DiscoveryError,
    },
    /// The audit output cannot be opened.
    #[error("[audit]: {0}")]
    Audit(#[from] AuditError),
    /// The upstream identity key cannot be read or made.
    #[error("[upstream_identity]: {0}")]
    UpstreamIdentity(#[from] UpstreamIdentityError),
    /// The upstream cannot be reached: through a proxy of a kind the gateway does
    /// not support (from the environment), or at a URL that is not http(s) (a
    /// configuration built without [`RawGatewayConfig::validate`]).
    #[error("the upstream cannot be reached: {0}")]
    Upstream(String),
    /// The Redis of the replay cache or the session store cannot be used.
    #[error("{store} {url}: {problem}")]
    Redis {
        /// `replay cache` or `session store`.
        store: &'static str,
        /// The Redis, passwords masked.
        url: String,
        /// What failed.
        problem: String,
    },
}

impl RawGatewayConfig {
    /// Checks every value, in the order of the file's keys that need it (`upstream`,
    /// `resource`, `issuers` present; the URLs; the header prefix; `[dpop]`;
    /// `[listener]`), and builds the runtime configuration. Logs a warning for the
    /// DPoP settings that weaken it (no shared nonce secret, `jti` replay off).
    pub fn validate(self) -> Result<GatewayConfig, GatewayConfigError> {
        let upstream = self
            .upstream
            .ok_or(GatewayConfigError::Missing("upstream"))?;
        let resource = self
            .resource
            .ok_or(GatewayConfigError::Missing("resource"))?;
        let Some(first_issuer) = self.issuers.first().cloned() else {
            return Err(GatewayConfigError::Missing("issuers"));
        };
        let upstream = url::Url::parse(&upstream).map_err(GatewayConfigError::Upstream)?;
        // Checked here, not per request: anything else would start a gateway that
        // answers every call with a 502. (An http or https URL always has a host:
        // the url crate refuses one without.)
        if !matches!(upstream.scheme(), "http" | "https") {
            return Err(GatewayConfigError::UpstreamScheme(
                upstream.scheme().to_owned(),
            ));
        }
        // Each request goes to the URL's path with the client's query: a query or
        // fragment written here would never be sent.
        if upstream.query().is_some() || upstream.fragment().is_some() {
            return Err(GatewayConfigError::UpstreamQuery);
        }
        let mut config = ResourceConfig::new(resource, first_issuer)?;
        let path = config.url().path();
        if crate::proxy::OWN_PATHS.contains(&path) {
            return Err(GatewayConfigError::ResourcePath(path.to_owned()));
        }
        let identity_header_prefix = self
            .identity_header_prefix
            .unwrap_or_else(|| IDENTITY_PREFIX.to_owned());
        if http::HeaderName::from_bytes(format!("{identity_header_prefix}subject").as_bytes())
            .is_err()
        {
            return Err(GatewayConfigError::IdentityPrefix(identity_header_prefix));
        }
        config.dpop = self.dpop.policy(config.resource())?;
        config.authorization_servers = self.issuers;
        config.bound_tokens_required = !self.allow_bearer;
        config.max_body = self.max_body.unwrap_or(DEFAULT_MAX_BODY);
        config.scopes_supported = self.scopes_supported;
        config.scopes = self.scopes;
        config.policy = Policy::compile(&self.policy)?;
        let listener = self
            .listener
            .limits()
            .map_err(|problem| GatewayConfigError::Listener(problem.to_string()))?;
        let jwks_refresh = match self.jwks_refresh {
            None => DEFAULT_JWKS_REFRESH,
            Some(seconds @ 1..=86_400) => Duration::from_secs(seconds),
            Some(other) => return Err(GatewayConfigError::JwksRefresh(other)),
        };
        let upstream_idle_timeout = match self.upstream_idle_timeout {
            None => POOL_IDLE_TIMEOUT,
            Some(seconds @ 1..=300) => Duration::from_secs(seconds),
            Some(other) => return Err(GatewayConfigError::UpstreamIdleTimeout(other)),
        };
        self.audit.validate()?;
        self.upstream_identity.validate()?;
        if self.upstream_identity.enabled() {
            if self.forward_token && self.upstream_identity.uses_authorization() {
                return Err(GatewayConfigError::Conflict(
                    "forward_token and [upstream_identity] both set Authorization upstream",
                ));
            }
            if crate::proxy::has_credentials(&upstream)
                && self.upstream_identity.uses_authorization()
            {
                // The minted token would take the header and the credentials would
                // silently not be sent.
                return Err(GatewayConfigError::Conflict(
                    "the upstream URL's credentials and [upstream_identity] both set Authorization upstream \
                     (give [upstream_identity] another header)",
                ));
            }
            if config.url().path() == JWKS_PATH {
                return Err(GatewayConfigError::Conflict(
                    "the resource's path is where [upstream_identity] serves its JWKS",
                ));
            }
        }
        let replay_cache = self
            .replay_cache
            .as_deref()
            .map(|text| RedisTarget::parse(text))
            .transpose()
            .map_err(GatewayConfigError::ReplayCache)?;
        Ok(GatewayConfig {
            resource: config,
            upstream: MaskedUrl::new(upstream),
            listen: self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            metrics_listen: self.metrics_listen,
            replay_cache,
            forward_token: self.forward_token,
            upstream_timeout: Duration::from_secs(
                self.upstream_timeout.unwrap_or(DEFAULT_UPSTREAM_TIMEOUT),
            ),
            upstream_idle_timeout,
            jwks_refresh,
            identity_header_prefix,
            listener,
            rate_limit: self.rate_limit,
            audit: self.audit,
            upstream_identity: self.upstream_identity,
        })
    }
}

impl RawDpopConfig {
    /// The resource's DPoP policy (`None` when DPoP is off): the window checked,
    /// nonces sealed with the shared secret (or a key of this process, with a
    /// warning), the `jti` replay setting.
    fn policy(self, resource: &str) -> Result<Option<DpopPolicy>, GatewayConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let defaults = ProofWindow::default();
        let window = ProofWindow {
            max_age: self.max_age.unwrap_or(defaults.max_age),
            max_skew: self.future_skew.unwrap_or(defaults.max_skew),
        };
        if !(1..=600).contains(&window.max_age) || !(0..=300).contains(&window.max_skew) {
            return Err(GatewayConfigError::DpopWindow);
        }
        let nonces = match (self.nonce, &self.nonce_secret) {
            (false, _) => None,
            (true, Some(secret)) => Some(Arc::new(
                NonceSealer::new(secret.expose().as_bytes(), resource, DPOP_NONCE_LIFETIME)
                    .map_err(GatewayConfigError::NonceSecret)?,
            )),
            (true, None) => {
                tracing::warn!(
                    "dpop nonces without a nonce_secret: other gateway instances refuse this one's nonces"
                );
                Some(Arc::new(
                    NonceSealer::random(resource, DPOP_NONCE_LIFETIME)
                        .map_err(GatewayConfigError::NonceKey)?,
                ))
            }
        };
        if !self.jti_replay {
            tracing::warn!(
                "dpop.jti_replay is off: a captured DPoP proof can be replayed within its window (SEP-1932 stateless mode)"
            );
        }
        Ok(Some(DpopPolicy {
            window,
            nonces,
            jti_replay: self.jti_replay,
            ..DpopPolicy::default()
        }))
    }
}

impl GatewayConfig {
    /// The upstream's URL without the user and password it may carry: what a
    /// banner or a log shows.
    pub fn upstream_without_credentials(&self) -> url::Url {
        crate::proxy::without_credentials(&self.upstream)
    }

    /// The gateway's router: every issuer discovered (its keys then re-read every
    /// `jwks_refresh` in the background, for as long as the router lives), the replay
    /// cache and the session store connected (both in the Redis of `replay_cache`,
    /// checked to answer, else in memory), the verifier and the proxy built from this
    /// configuration.
    /// `/readyz` never reports draining: see [`GatewayConfig::router_with_shutdown`].
    pub async fn router(&self) -> Result<axum::Router, GatewayStartError> {
        self.router_with_shutdown(&Shutdown::new()).await
    }

    /// [`GatewayConfig::router_with_shutdown`]: only the router.
    pub async fn router_with_shutdown(
        &self,
        shutdown: &Shutdown,
    ) -> Result<axum::Router, GatewayStartError> {
        Ok(self.start(shutdown).await?.router)
    }

    /// [`GatewayConfig::router`] whose `/readyz` answers 503 once `shutdown` is asked
    /// to stop (the gateway process serves it with
    /// [`mcp_auth_core::listener::Serve::with_shutdown`] on the same `shutdown`), and
    /// the audit sink, to flush once the listener closed ([`AuditSink::shutdown`]).
    pub async fn start(&self, shutdown: &Shutdown) -> Result<StartedGateway, GatewayStartError> {
        // First, as it needs nothing else: how the upstream is reached.
        let proxy = Upstream::new(self.upstream.clone().into_inner())
            .response_timeout(self.upstream_timeout)
            .pool_idle_timeout(self.upstream_idle_timeout);
        match proxy.proxy() {
            Ok(None) => {}
            Ok(Some(through)) => {
                tracing::info!(proxy = through, "the upstream is reached through a proxy");
            }
            Err(reason) => return Err(GatewayStartError::Upstream(reason.to_owned())),
        }
        let audience = self.resource.resource();
        let mut trusted = Vec::with_capacity(self.resource.authorization_servers.len());
        for issuer in &self.resource.authorization_servers {
            trusted.push(discover_issuer(issuer).await.map_err(|error| {
                GatewayStartError::Issuer {
                    issuer: issuer.clone(),
                    error,
                }
            })?);
        }
        let (replay, sessions) = stores(self.replay_cache.as_ref()).await?;
        let mut verifier = ResourceVerifier::new(
            self.resource.clone(),
            AccessTokenCache::for_issuers(audience, trusted).refresh_every(self.jwks_refresh),
            replay,
        );
        if let Some(limiter) = rate_limiter(&self.rate_limit).await? {
            verifier = verifier.with_admission(Arc::new(limiter));
        }
        // SEP-2243: the tools' `x-mcp-header` annotations, learned from the lists
        // forwarded, make their `Mcp-Param-*` headers checked against the arguments.
        let tool_headers = ToolRegistry::default();
        verifier = verifier.with_tool_headers(tool_headers.clone());
        let mut proxy = proxy
            .forward_token(self.forward_token)
            .identity_prefix(&self.identity_header_prefix)
            .sessions(sessions)
            .tool_headers(tool_headers);
        let audit = AuditSink::start(&self.audit)?;
        if let Some(sink) = &audit {
            verifier = verifier.with_audit(sink.clone());
            proxy = proxy.audit(sink.clone());
        }
        // The default audience is the upstream's URL as logs show it: never with the
        // credentials it may carry.
        if let Some(identity) = UpstreamIdentity::load(
            &self.upstream_identity,
            self.resource.resource(),
            proxy.url().as_str(),
        )? {
            proxy = proxy.identity(Arc::new(identity));
        }
        Ok(StartedGateway {
            router: gateway_router_with_shutdown(
                Arc::new(verifier),
                Arc::new(proxy),
                shutdown.clone(),
            ),
            audit,
        })
    }
}

/// A gateway ready to serve: its router, and its audit sink to flush at the end.
#[derive(Debug)]
pub struct StartedGateway {
    /// What to serve.
    pub router: axum::Router,
    /// The audit sink, when `[audit]` is on: [`AuditSink::shutdown`] once served.
    pub audit: Option<AuditSink>,
}

/// The rate limiter `config` describes (`None` when off); one in Redis is checked to
/// answer now, so a wrong address fails at start rather than on a request.
async fn rate_limiter(config: &RateLimitConfig) -> Result<Option<RateLimiter>, GatewayStartError> {
    // Shown as the replay cache's Redis is (its password masked); text that names no
    // Redis is masked as it is.
    let shown = RedisTarget::parse(&config.store).map_or_else(
        |_| mcp_auth_core::redact::url_password(&config.store).into_owned(),
        |target| target.to_string(),
    );
    let failed = |problem: String| GatewayStartError::Redis {
        store: "rate limit",
        url: shown.clone(),
        problem,
    };
    let Some(limiter) = RateLimiter::from_config(config).map_err(|e| failed(e.to_string()))? else {
        return Ok(None);
    };
    if limiter.kind() != crate::rate_limit::MEMORY_STORE {
        limiter
            .check_ready()
            .await
            .map_err(|e| failed(format!("Redis does not answer: {e}")))?;
    }
    Ok(Some(limiter))
}

/// The replay cache and the session store: both in the Redis (or Redis Cluster) at
/// `redis` (every instance sees every nonce and binding; each checked to answer now,
/// on every primary of a cluster, so a wrong address fails at start rather than on a
/// request; the replay cache's memory markers written), else both in this process.
async fn stores(
    redis: Option<&RedisTarget>,
) -> Result<(Arc<dyn ReplayCache>, Arc<dyn SessionStore>), GatewayStartError> {
    let Some(target) = redis else {
        return Ok((
            Arc::new(MemoryReplayCache::new()),
            Arc::new(MemorySessionStore::default()),
        ));
    };
    let failed = |store: &'static str, problem: String| GatewayStartError::Redis {
        store,
        url: target.to_string(),
        problem,
    };
    let down =
        |store, e: &dyn std::fmt::Display| failed(store, format!("Redis does not answer: {e}"));
    let replay = RedisReplayCache::connect(target, "mcp-auth:replay:", REDIS_TIMEOUT)
        .map_err(|e| failed("replay cache", e.to_string()))?;
    replay
        .prepare()
        .await
        .map_err(|e| down("replay cache", &e))?;
    let sessions = RedisSessionStore::connect(
        target,
        "mcp-auth:session:",
        DEFAULT_SESSION_IDLE,
        REDIS_TIMEOUT,
    )
    .map_err(|e| failed("session store", e.to_string()))?;
    sessions
        .ping()
        .await
        .map_err(|e| down("session store", &e))?;
    Ok((Arc::new(replay), Arc::new(sessions)))
}
