//! `mcp-auth gateway`: settings (TOML file, then flags), wiring for the resource-side
//! check and the streaming proxy, and the metrics listener.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mcp_auth_resource::session::{
    DEFAULT_SESSION_IDLE, MemorySessionStore, RedisSessionStore, SessionStore,
};
use mcp_auth_resource::{
    AccessTokenCache, ResourceConfig, ResourceVerifier, ScopePolicy, Upstream, discover_issuer,
    gateway_router,
};
use serde::Deserialize;

use crate::cli::GatewayArgs;
use crate::output::print;

/// Everything a gateway needs, from the file and the flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewaySettings {
    /// The MCP endpoint forwarded to.
    pub(crate) upstream: String,
    /// The resource identifier (public URL of the endpoint).
    pub(crate) resource: String,
    /// Trusted issuers, first listed first.
    pub(crate) issuers: Vec<String>,
    #[serde(default = "default_listen")]
    pub(crate) listen: String,
    #[serde(default)]
    pub(crate) metrics_listen: Option<String>,
    #[serde(default)]
    pub(crate) allow_bearer: bool,
    #[serde(default)]
    pub(crate) replay_cache: Option<String>,
    #[serde(default)]
    pub(crate) forward_token: bool,
    #[serde(default = "default_max_body")]
    pub(crate) max_body: usize,
    #[serde(default = "default_upstream_timeout")]
    pub(crate) upstream_timeout: u64,
    /// Prefix of the identity headers sent upstream.
    #[serde(default = "default_identity_prefix")]
    pub(crate) identity_header_prefix: String,
    /// Advertised in the metadata.
    #[serde(default)]
    pub(crate) scopes_supported: Vec<String>,
    #[serde(default)]
    pub(crate) scopes: ScopePolicy,
    /// Accept DPoP-bound tokens (RFC 9449) and how.
    #[serde(default)]
    pub(crate) dpop: DpopSettings,
    /// `[listener]`: header/idle and body timeouts and the connection cap.
    #[serde(default)]
    pub(crate) listener: mcp_auth_core::listener::ListenerSettings,
}

/// `[dpop]` of the gateway file, and the `--dpop*` flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DpopSettings {
    /// Accept `Authorization: DPoP` with a proof.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// Require a server nonce in every proof.
    #[serde(default)]
    pub(crate) nonce: bool,
    /// The nonce sealing secret shared by instances (MCP_AUTH_DPOP_NONCE_SECRET).
    #[serde(default)]
    pub(crate) nonce_secret: Option<String>,
    /// Remember proof `jti`s (default on; off is SEP-1932's stateless mode).
    #[serde(default = "default_true")]
    pub(crate) jti_replay: bool,
    /// `iat` window, seconds in the past and future [default: 60 each].
    #[serde(default)]
    pub(crate) max_age: Option<i64>,
    #[serde(default)]
    pub(crate) future_skew: Option<i64>,
}

fn default_true() -> bool {
    true
}

pub(crate) fn default_listen() -> String {
    "127.0.0.1:8090".into()
}
pub(crate) fn default_max_body() -> usize {
    4 * 1024 * 1024
}
pub(crate) fn default_upstream_timeout() -> u64 {
    30
}
pub(crate) fn default_identity_prefix() -> String {
    mcp_auth_resource::proxy::IDENTITY_PREFIX.into()
}

/// The file's settings, all optional (flags may supply the required ones).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayFile {
    upstream: Option<String>,
    resource: Option<String>,
    #[serde(default)]
    issuers: Vec<String>,
    listen: Option<String>,
    metrics_listen: Option<String>,
    allow_bearer: Option<bool>,
    replay_cache: Option<String>,
    forward_token: Option<bool>,
    max_body: Option<usize>,
    upstream_timeout: Option<u64>,
    identity_header_prefix: Option<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    scopes: ScopePolicy,
    dpop: Option<DpopSettings>,
    #[serde(default)]
    listener: mcp_auth_core::listener::ListenerSettings,
}

impl GatewaySettings {
    /// The file named by `--config` (if any), with the flags on top.
    pub(crate) fn from_args(args: &GatewayArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => GatewayFile::default(),
        };
        let upstream = args
            .upstream
            .clone()
            .or(file.upstream)
            .context("--upstream (or `upstream` in --config) is required")?;
        let resource = args
            .resource
            .clone()
            .or(file.resource)
            .context("--resource (or `resource` in --config) is required")?;
        let issuers = if args.issuer.is_empty() {
            file.issuers
        } else {
            args.issuer.clone()
        };
        if issuers.is_empty() {
            bail!("--issuer (or `issuers` in --config) is required");
        }
        Ok(Self {
            upstream,
            resource,
            issuers,
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(default_listen),
            metrics_listen: args.metrics_listen.clone().or(file.metrics_listen),
            allow_bearer: args.allow_bearer || file.allow_bearer.unwrap_or(false),
            replay_cache: args.replay_cache.clone().or(file.replay_cache),
            forward_token: args.forward_token || file.forward_token.unwrap_or(false),
            max_body: args
                .max_body
                .or(file.max_body)
                .unwrap_or_else(default_max_body),
            upstream_timeout: args
                .upstream_timeout
                .or(file.upstream_timeout)
                .unwrap_or_else(default_upstream_timeout),
            identity_header_prefix: file
                .identity_header_prefix
                .unwrap_or_else(default_identity_prefix),
            scopes_supported: file.scopes_supported,
            scopes: file.scopes,
            dpop: {
                let mut d = file.dpop.unwrap_or(DpopSettings {
                    jti_replay: true,
                    ..DpopSettings::default()
                });
                d.enabled |= args.dpop || args.dpop_nonce;
                d.nonce |= args.dpop_nonce;
                d.nonce_secret = std::env::var("MCP_AUTH_DPOP_NONCE_SECRET")
                    .ok()
                    .or(d.nonce_secret);
                d
            },
            listener: file.listener,
        })
    }

    /// Checks the URLs and the header prefix.
    fn validate(&self) -> anyhow::Result<(url::Url, url::Url)> {
        let upstream: url::Url = self
            .upstream
            .parse()
            .with_context(|| format!("upstream {}", self.upstream))?;
        let resource: url::Url = self
            .resource
            .parse()
            .with_context(|| format!("resource {}", self.resource))?;
        if resource.fragment().is_some() || resource.query().is_some() {
            bail!(
                "resource {}: a resource identifier has no query or fragment",
                self.resource
            );
        }
        if http::HeaderName::from_bytes(
            format!("{}subject", self.identity_header_prefix).as_bytes(),
        )
        .is_err()
        {
            bail!(
                "identity_header_prefix {:?} does not make valid header names",
                self.identity_header_prefix
            );
        }
        Ok((upstream, resource))
    }
}

fn read_file(path: &Path) -> anyhow::Result<GatewayFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}", path.display()))
}

pub(crate) fn run(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    let settings = GatewaySettings::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: GatewaySettings) -> anyhow::Result<ExitCode> {
    crate::observability::init_json_logs();
    let router = build(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let metrics = match &settings.metrics_listen {
        Some(addr) => Some(crate::observability::serve_metrics(addr).await?),
        None => None,
    };
    print(&format!(
        "mcp-auth gateway\n  listening: http://{}\n  resource:  {}\n  upstream:  {}\n  issuers:   {}\n  metadata:  {}\n{}",
        listener.local_addr()?,
        settings.resource,
        settings.upstream,
        settings.issuers.join(", "),
        mcp_auth_core::discovery::protected_resource_metadata_urls(&settings.resource)?[0].clone(),
        metrics.map_or_else(String::new, |a| format!(
            "  metrics:   http://{a}/metrics\n"
        )),
    ))?;
    let limits = settings
        .listener
        .limits()
        .map_err(|problem| anyhow::anyhow!("[listener]: {problem}"))?;
    crate::observability::serve(listener, router)
        .limits(limits)
        .with_graceful_shutdown(crate::observability::shutdown_signal())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// The resource's DPoP policy from the settings (`None` when DPoP is off).
fn dpop_policy(
    settings: &DpopSettings,
    resource: &str,
) -> anyhow::Result<Option<mcp_auth_resource::DpopPolicy>> {
    use mcp_auth_core::dpop::{NonceSealer, ProofWindow};
    if !settings.enabled {
        return Ok(None);
    }
    let defaults = ProofWindow::default();
    let window = ProofWindow {
        max_age: settings.max_age.unwrap_or(defaults.max_age),
        max_skew: settings.future_skew.unwrap_or(defaults.max_skew),
    };
    if !(1..=600).contains(&window.max_age) || !(0..=300).contains(&window.max_skew) {
        bail!("dpop: max_age must be 1..=600 seconds and future_skew at most 300");
    }
    let nonces = match (settings.nonce, &settings.nonce_secret) {
        (false, _) => None,
        (true, Some(secret)) => Some(Arc::new(
            NonceSealer::new(secret.as_bytes(), resource, DPOP_NONCE_LIFETIME)
                .context("dpop.nonce_secret (MCP_AUTH_DPOP_NONCE_SECRET)")?,
        )),
        (true, None) => {
            tracing::warn!(
                "dpop nonces without a nonce_secret: other gateway instances refuse this one's nonces"
            );
            Some(Arc::new(NonceSealer::random(
                resource,
                DPOP_NONCE_LIFETIME,
            )?))
        }
    };
    if !settings.jti_replay {
        tracing::warn!(
            "dpop.jti_replay is off: a captured DPoP proof can be replayed within its window (SEP-1932 stateless mode)"
        );
    }
    Ok(Some(mcp_auth_resource::DpopPolicy {
        window,
        nonces,
        jti_replay: settings.jti_replay,
        ..mcp_auth_resource::DpopPolicy::default()
    }))
}

/// How long a DPoP nonce of the gateway is accepted, seconds.
const DPOP_NONCE_LIFETIME: i64 = 300;

/// The gateway's router: issuers discovered, replay cache and session store connected
/// (both in Redis with `replay_cache`, else in memory), scope policy loaded.
pub(crate) async fn build(settings: &GatewaySettings) -> anyhow::Result<axum::Router> {
    let (upstream, _) = settings.validate()?;
    let mut trusted = Vec::with_capacity(settings.issuers.len());
    for issuer in &settings.issuers {
        trusted.push(
            discover_issuer(issuer)
                .await
                .map_err(|e| anyhow::anyhow!("discovering issuer {issuer}: {e}"))?,
        );
    }
    let replay: Arc<dyn mcp_auth_core::ReplayCache> = match &settings.replay_cache {
        None => Arc::new(mcp_auth_core::MemoryReplayCache::new()),
        Some(url) => {
            let cache = mcp_auth_core::RedisReplayCache::connect(
                url,
                "mcp-auth:replay:",
                Duration::from_secs(2),
            )
            .with_context(|| format!("replay cache {url}"))?;
            cache
                .ping()
                .await
                .with_context(|| format!("replay cache {url}: Redis does not answer"))?;
            Arc::new(cache)
        }
    };
    let sessions = session_store(settings.replay_cache.as_deref()).await?;
    let mut config = ResourceConfig::new(&settings.resource, &settings.issuers[0]);
    config.authorization_servers = settings.issuers.clone();
    config.bound_tokens_required = !settings.allow_bearer;
    config.max_body = settings.max_body;
    config.scopes_supported = settings.scopes_supported.clone();
    config.scopes = settings.scopes.clone();
    config.dpop = dpop_policy(&settings.dpop, &settings.resource)?;
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::for_issuers(&settings.resource, trusted),
        replay,
    ));
    let proxy = Arc::new(
        Upstream::new(upstream)
            .response_timeout(Duration::from_secs(settings.upstream_timeout))
            .forward_token(settings.forward_token)
            .identity_prefix(&settings.identity_header_prefix)
            .sessions(sessions),
    );
    Ok(gateway_router(verifier, proxy))
}

/// Where sessions are bound to principals: the Redis of `replay_cache` (every instance
/// sees every binding; checked at start), else this process.
async fn session_store(redis: Option<&str>) -> anyhow::Result<Arc<dyn SessionStore>> {
    let Some(url) = redis else {
        return Ok(Arc::new(MemorySessionStore::default()));
    };
    let store = RedisSessionStore::connect(
        url,
        "mcp-auth:session:",
        DEFAULT_SESSION_IDLE,
        Duration::from_secs(2),
    )
    .with_context(|| format!("session store {url}"))?;
    store
        .ping()
        .await
        .with_context(|| format!("session store {url}: Redis does not answer"))?;
    Ok(Arc::new(store))
}
