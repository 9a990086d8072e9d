//! The mcp-auth authorization server: RFC 8414 metadata, JWKS, the authorization
//! endpoint with its login and consent pages, dynamic registration, the token endpoint
//! (`authorization_code`, `refresh_token`, `client_credentials`), RFC 7662
//! introspection and RFC 7009 revocation, over a [`Store`] on SQLite or PostgreSQL.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = mcp_auth_server::Config::from_toml("", &|k| std::env::var(k).ok())?;
//! let server = mcp_auth_server::AuthorizationServer::start(config).await?;
//! let listener = tokio::net::TcpListener::bind(server.config().listen).await?;
//! server.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod code_grant;
pub use mcp_auth_core::condition;
pub mod config;
pub mod dpop_token;
pub mod error;
pub mod form;
pub mod httpsig_token;
pub mod id_jag;
pub mod idp;
pub mod introspection;
pub mod jwt_bearer;
pub mod keys;
pub mod login;
pub mod metadata;
pub mod observability;
pub mod outbound;
pub mod pages;
pub mod password;
pub mod peer;
pub mod private_files;
pub mod registration;
pub mod scope;
pub mod store;
pub mod token;
pub mod workload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use mcp_auth_core::shutdown::Shutdown;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use config::{Config, ConfigError, Overrides};
pub use keys::{KeyRing, rotate};
pub use store::{ClientRecord, Store, StoreError};

/// How long a DPoP server nonce is accepted, seconds (SEP-1932's ±5 minutes).
pub const DPOP_NONCE_LIFETIME: i64 = 300;

/// Shared state of the handlers: one reference-counted [`AsStateData`], so that the
/// clone axum makes for every request is one atomic increment, not one per member
/// (issue 18 measured fifteen increments and decrements per token, about 3% of its
/// CPU). Its members are read through `Deref`: `state.config`, `state.store`, ...
#[derive(Debug, Clone)]
pub struct AsState(Arc<AsStateData>);

impl std::ops::Deref for AsState {
    type Target = AsStateData;

    fn deref(&self) -> &AsStateData {
        &self.0
    }
}

/// What [`AsState`] holds.
#[derive(Debug)]
pub struct AsStateData {
    /// The configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Store,
    /// The signing keys.
    pub keys: KeyRing,
    /// Registrations per client address per minute.
    pub registrations: Arc<peer::PerAddressLimit>,
    /// Pending authorization requests per client address per minute.
    pub pending_requests: Arc<peer::PerAddressLimit>,
    /// Guarded, cached fetches of metadata documents and client JWK Sets.
    pub outbound: Arc<outbound::GuardedFetch>,
    /// Failed-login throttle.
    pub logins: Arc<password::LoginThrottle>,
    /// The trusted workload issuers and their key caches (`[[workload_issuers]]`).
    pub workload: Arc<workload::WorkloadTrust>,
    /// The trusted ID-JAG issuers and their key caches (`[[id_jag_issuers]]`).
    pub id_jag: Arc<id_jag::IdJagTrust>,
    /// Nonces of token-request signatures and `jti`s of DPoP proofs (memory or
    /// Redis).
    pub replay: Arc<dyn mcp_auth_core::ReplayCache>,
    /// DPoP server nonces, when `[dpop] nonce` is on.
    pub dpop_nonces: Option<Arc<mcp_auth_core::dpop::NonceSealer>>,
    /// The clock every time check reads: [`Config::clock`] (the system clock unless a
    /// test set another).
    pub clock: mcp_auth_core::SharedClock,
    /// The process's stop switch: `/readyz` answers 503 once it is asked to stop
    /// ([`AuthorizationServer::serve_with_shutdown`] drains on it).
    pub shutdown: Shutdown,
}

impl AsState {
    /// The client with this id: a registered one, else (for a URL) the client its
    /// metadata document describes. `Ok(None)` for an unknown client; a document that
    /// cannot be used is an `invalid_client` error saying why
    /// ([`error::ClientAuthError::MetadataDocument`]).
    pub async fn client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<ClientRecord>>, error::AsError> {
        if let Some(c) = self.store.client(client_id).await? {
            return Ok(Some(c));
        }
        if !cimd::is_document_url(client_id) {
            return Ok(None);
        }
        let scopes: Vec<String> = self
            .config
            .resources
            .iter()
            .flat_map(|r| r.scopes.iter().cloned())
            .collect();
        match cimd::client(&self.outbound, client_id, &scopes).await {
            Ok(c) => Ok(Some(Arc::new(c))),
            Err(e) => {
                tracing::info!(client_id, error = %e, "client metadata document refused");
                Err(e.into())
            }
        }
    }
}

/// What a start created, to tell the operator.
#[derive(Debug, Clone, Default)]
pub struct StartReport {
    /// The data directory was created.
    pub created_data_dir: bool,
    /// A first signing key was generated.
    pub created_signing_key: bool,
    /// Clients from the configuration registered.
    pub configured_clients: usize,
}

/// A started (not yet serving) authorization server.
#[derive(Debug)]
pub struct AuthorizationServer {
    state: AsState,
    report: StartReport,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory could not be created.
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The keys failed.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The shared replay cache could not be reached.
    #[error(transparent)]
    ReplayCache(mcp_auth_core::ReplayError),
    /// The DPoP nonce key could not be made.
    #[error("dpop nonces: {0}")]
    DpopNonce(#[from] mcp_auth_core::dpop::NonceSecretError),
    /// The data directory or database file is readable by others, or could not be
    /// made private.
    #[error(transparent)]
    PrivateFiles(#[from] private_files::PrivateFilesError),
    /// A stored user or client has a name in the principal space of an
    /// `[[id_jag_issuers]]` entry (EMA-AS-19): its tokens could pass for that IdP's
    /// users.
    #[error(
        "{kind} `{name}` begins with `{entry}:`, the prefix of the principals of [[id_jag_issuers]] entry `{entry}`: rename the entry or remove the {kind}"
    )]
    ReservedName {
        /// `user` or `client`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The entry.
        entry: String,
    },
    /// A requesting client of an `[[id_jag_targets]]` entry is neither in the
    /// configuration file nor a stored client that authenticates and has the
    /// token-exchange grant (EMA-IDP-13).
    #[error(
        "id_jag_targets `{target}`: client `{client}` is not a client that authenticates with the grant urn:ietf:params:oauth:grant-type:token-exchange (add it to [[clients]] or with `mcp-auth as client add --grant urn:ietf:params:oauth:grant-type:token-exchange`)"
    )]
    ExchangeClient {
        /// The target's id.
        target: String,
        /// The client id.
        client: String,
    },
}

/// EMA-AS-19 at start: no stored user or client in an `[[id_jag_issuers]]` entry's
/// principal space.
async fn reserved_names(store: &Store, config: &Config) -> Result<(), StartError> {
    if config.id_jag_issuers.is_empty() {
        return Ok(());
    }
    for (kind, names) in [
        ("user", store.usernames().await?),
        ("client", store.client_ids().await?),
    ] {
        for name in names {
            if let Some(entry) = id_jag::config::reserved_by(&config.id_jag_issuers, &name) {
                return Err(StartError::ReservedName {
                    kind,
                    name,
                    entry: entry.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Opens the configured store, for the server and for the admin commands alike: a
/// SQLite data directory and database are first made private (created 0700 / 0600,
/// refused when others can read them; see [`private_files`]). Returns the store and
/// whether the data directory was created.
pub async fn open_store(config: &Config) -> Result<(Store, bool), StartError> {
    let mut created = false;
    if let Some(db) = private_files::sqlite_path(&config.database_url) {
        created = private_files::prepare(&config.data_dir, &db, config.allow_insecure_permissions)?;
    }
    private_files::check_postgres_tls_files(&config.database_url, &|name| {
        std::env::var(name).ok()
    })?;
    let store = Store::open(&config.database_url)
        .await?
        .with_client_cache(Arc::clone(&config.clock), config.client_cache_ttl);
    Ok((store, created))
}

impl AuthorizationServer {
    /// Opens the store (creating the data directory and SQLite file if needed), runs
    /// migrations, loads or creates the signing key, registers configured clients.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let mut report = StartReport::default();
        observability::install();
        let (store, created_data_dir) = open_store(&config).await?;
        reserved_names(&store, &config).await?;
        idp::check_stored_clients(&store, &config).await?;
        report.created_data_dir = created_data_dir;
        let config_danger_loopback = config.danger_allow_http_loopback_fetches;
        if config_danger_loopback {
            tracing::warn!(
                "[danger] allow_http_loopback_fetches is on: documents and keys are fetched from http loopback URLs (client metadata documents, client jwks_uri, workload issuers, ID-JAG issuers)"
            );
        }
        let clock = Arc::clone(&config.clock);
        let (keys, created) = KeyRing::load_or_create(
            &store,
            config.key_policy(),
            config.access_token_ttl,
            clock.now(),
        )
        .await?;
        report.created_signing_key = created;
        for c in &config.clients {
            store
                .upsert_client(&ClientRecord {
                    client_id: c.client_id.clone(),
                    secret_sha256: c.secret_sha256.clone(),
                    metadata: serde_json::json!({
                        "grant_types": c.grant_types,
                        "scopes": c.scopes,
                        "redirect_uris": c.redirect_uris,
                        "client_name": c.client_name.clone().unwrap_or_else(|| c.client_id.clone()),
                        "token_endpoint_auth_method": if c.secret_sha256.is_some() { "client_secret_basic" } else { "none" },
                        "source": "config",
                    })
                    .as_object()
                    .cloned()
                    .map(|mut m| {
                        for (k, v) in &c.binding_metadata {
                            m.insert((*k).to_owned(), v.clone());
                        }
                        serde_json::Value::Object(m)
                    })
                    .unwrap_or_default(),
                    created_at: clock.now(),
                })
                .await?;
        }
        report.configured_clients = config.clients.len();
        let replay: Arc<dyn mcp_auth_core::ReplayCache> = match &config.replay_cache {
            config::ReplayCacheConfig::Memory => Arc::new(mcp_auth_core::MemoryReplayCache::new()),
            config::ReplayCacheConfig::Redis(target) => {
                let cache = mcp_auth_core::RedisReplayCache::connect(
                    target,
                    "mcp-auth:as-replay:",
                    Duration::from_secs(2),
                )
                .map_err(StartError::ReplayCache)?;
                cache.prepare().await.map_err(StartError::ReplayCache)?;
                Arc::new(cache)
            }
        };
        let dpop_nonces = if config.dpop.nonce {
            let sealer = match &config.dpop.nonce_secret {
                Some(secret) => mcp_auth_core::dpop::NonceSealer::new(
                    secret.expose(),
                    &config.issuer,
                    DPOP_NONCE_LIFETIME,
                ),
                None => {
                    tracing::warn!(
                        "dpop.nonce is on without dpop.nonce_secret: nonces are sealed with a key of this process only, so other instances refuse them"
                    );
                    mcp_auth_core::dpop::NonceSealer::random(&config.issuer, DPOP_NONCE_LIFETIME)
                }
            }?;
            Some(Arc::new(sealer))
        } else {
            None
        };
        let workload = Arc::new(workload::WorkloadTrust::new(&config.workload_issuers));
        let id_jag = Arc::new(id_jag::IdJagTrust::new(&config.id_jag_issuers));
        Ok(Self {
            state: AsState(Arc::new(AsStateData {
                clock,
                dpop_nonces,
                config: Arc::new(config),
                store,
                keys,
                registrations: Arc::new(peer::PerAddressLimit::new(Duration::from_secs(60))),
                pending_requests: Arc::new(peer::PerAddressLimit::new(Duration::from_secs(60))),
                outbound: Arc::new(outbound::GuardedFetch::new(config_danger_loopback)),
                logins: Arc::default(),
                workload,
                id_jag,
                replay,
                shutdown: Shutdown::new(),
            })),
            report,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// What the start created.
    pub fn report(&self) -> &StartReport {
        &self.report
    }

    /// The state (for tests and embedding).
    pub fn state(&self) -> &AsState {
        &self.state
    }

    /// The router, with its layers.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// The stop switch `/readyz` reads: ask it to stop ([`Shutdown::on_signals`],
    /// [`Shutdown::request_stop`]) and [`AuthorizationServer::serve_with_shutdown`]
    /// drains.
    pub fn shutdown(&self) -> &Shutdown {
        &self.state.shutdown
    }

    /// Serves on `listener` until `shutdown` completes, letting in-flight requests
    /// finish (without a bound). Reloads the signing keys every 10 seconds, so a
    /// rotation by `mcp-auth as rotate-keys` is picked up without a restart. Behind a
    /// load balancer use [`AuthorizationServer::serve_with_shutdown`].
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let reloader = self.spawn_reloader();
        let result = mcp_auth_core::listener::serve(listener, self.router())
            .limits(self.state.config.listener)
            .with_graceful_shutdown(shutdown)
            .await;
        reloader.abort();
        result
    }

    /// Serves on `listener` until [`AuthorizationServer::shutdown`] is asked to stop,
    /// then drains as the listener's `drain_delay` and `shutdown_timeout` say
    /// (`/readyz` 503 at once, [`mcp_auth_core::shutdown`]). Reloads the signing keys
    /// as [`AuthorizationServer::serve`] does.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<()> {
        let reloader = self.spawn_reloader();
        // Header, idle and body timeouts and a connection cap (item 4 of the
        // security review): see `mcp_auth_core::listener`.
        let result = mcp_auth_core::listener::serve(listener, self.router())
            .limits(self.state.config.listener)
            .with_shutdown(self.state.shutdown.clone())
            .await;
        reloader.abort();
        result
    }

    /// Reloads the signing keys and purges expired records every 10 seconds.
    fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let now = state.clock.now();
                if let Err(e) = state
                    .keys
                    .reload(&state.store, state.config.access_token_ttl, now)
                    .await
                {
                    tracing::error!(error = %e, "reloading signing keys failed; keeping the current ones");
                }
                let _ = state.store.purge_revocations(now).await;
                let _ = state.store.purge_assertion_jtis(now).await;
                let _ = state.store.purge_expired(now).await;
            }
        })
    }
}

/// Builds the router for `state`: endpoints under the issuer's path, metadata at every
/// well-known location, `/healthz` and `/readyz`. Metrics are not here: they are served on
/// their own listener ([`metrics_router`]), off by default, so an MCP client or
/// anyone on the network cannot read them. Layers, outermost first: sensitive
/// headers marked (so no `Authorization` reaches a log), request id set and propagated,
/// trace span per request, 64 KiB body limit, and per-route request metrics.
pub fn router(state: AsState) -> Router {
    let base = state.config.issuer_path();
    let mut r = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{base}"),
            get(metadata::metadata),
        )
        .route(&format!("{base}/jwks"), get(metadata::jwks))
        .route(&format!("{base}/authorize"), get(authorize::authorize))
        .route(&format!("{base}/login"), post(login::login))
        .route(&format!("{base}/consent"), post(login::consent))
        .route(&format!("{base}/register"), post(registration::register))
        .route(&format!("{base}/token"), post(token::token))
        .route(
            &format!("{base}/introspect"),
            post(introspection::introspect),
        )
        .route(&format!("{base}/revoke"), post(introspection::revoke))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    // OpenID Connect Discovery only for an OpenID Provider (the identity provider
    // role): the document there must carry members an AS without ID tokens cannot
    // honestly publish (OIDC Discovery §3; BASE-AS-4).
    if state.config.identity_provider.is_enabled() {
        r = r.route(
            &format!("/.well-known/openid-configuration{base}"),
            get(metadata::metadata),
        );
        if !base.is_empty() {
            r = r.route(
                &format!("{base}/.well-known/openid-configuration"),
                get(metadata::metadata),
            );
        }
    }
    // The outer layers are one composed layer, applied once. Each `Router::layer` call
    // wraps every route in a boxed service of its own, and axum clones a route's box on
    // every call: a box holding a layer over another box clones the whole inner stack
    // again, at each level (issue 18: about 27 allocations per token request for the
    // five layers applied one by one, over a fifth of all of them).
    let layers = tower::ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
        ]))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(RequestBodyLimitLayer::new(64 * 1024));
    r.route_layer(axum::middleware::from_fn(observability::track))
        .layer(layers)
        .with_state(state)
}

/// The router of the metrics listener: `GET /metrics` in the Prometheus text format.
/// Serve it on an address only operators reach (`metrics_listen`, loopback by
/// convention).
pub fn metrics_router() -> Router {
    observability::install();
    Router::new().route("/metrics", get(observability::metrics))
}

/// One span per request, at INFO, with the request id (set by the outer layer) so every
/// log line of a request carries it. The path is logged without its query, which can
/// hold codes and state.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// How long `/readyz` waits for the database's `SELECT 1` (the pool's own wait for a
/// connection is longer, [`store::ACQUIRE_TIMEOUT`]).
const READY_DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`: 200 when the database answers `SELECT 1`, else 503 (empty bodies).
async fn healthz(
    axum::extract::State(state): axum::extract::State<AsState>,
) -> axum::http::StatusCode {
    if state.store.ping().await {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

/// `/readyz`, for the load balancer: `503 {"status":"draining"}` once the process is
/// asked to stop; else 200 when the database answers `SELECT 1` within 2 s and the
/// replay cache answers (`PING` for Redis), 503 otherwise, the body naming which
/// (`{"status":"ready"|"unavailable","database":"ok"|"unavailable","replay_cache":...}`,
/// the gateway's shape: [`mcp_auth_core::shutdown::readiness_answer`]). Why a
/// dependency failed is logged, never sent: the listener is public.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AsState>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use mcp_auth_core::shutdown::{Dependency, draining_answer, readiness_answer};
    if state.shutdown.is_draining() {
        let (status, body) = draining_answer();
        return (status, axum::Json(body)).into_response();
    }
    let (database, replay) = tokio::join!(
        tokio::time::timeout(READY_DATABASE_TIMEOUT, state.store.ping()),
        state.replay.check_ready()
    );
    let database = database.unwrap_or(false);
    if !database {
        tracing::warn!("readiness: the database does not answer SELECT 1 within 2 s");
    }
    if let Err(e) = &replay {
        tracing::warn!(error = %e, "readiness: the replay cache does not answer");
    }
    let (status, body) = readiness_answer(&[
        Dependency {
            name: "database",
            ok: database,
            failed: "unavailable",
        },
        Dependency {
            name: "replay_cache",
            ok: replay.is_ok(),
            failed: "unavailable",
        },
    ]);
    (status, axum::Json(body)).into_response()
}
