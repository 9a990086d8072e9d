//! The gateway: a reverse proxy that puts the presentation check in front of any MCP
//! server speaking Streamable HTTP. Requests that passed [`crate::McpAuthLayer`] are
//! forwarded with the verified identity in `X-MCP-Auth-*` headers (and without the
//! client's token, unless configured); responses, SSE included, stream back as they
//! arrive, with no buffering.
//!
//! Sessions are bound to principals ([`crate::session`]): the `Mcp-Session-Id` an MCP
//! server hands out is usable through the gateway only by the principal it was handed
//! to. Errors the gateway makes itself (404, 502, 503, 504) carry fixed texts: nothing
//! of the upstream's address, status or connection errors reaches a client.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::Handler as _;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use mcp_auth_core::connection_pool::POOL_IDLE_TIMEOUT;
use mcp_auth_core::metric_handle::Kept;
use mcp_auth_core::shutdown::{Dependency, Shutdown, draining_answer, readiness_answer};
use tower::Layer as _;

use mcp_auth_core::mcp_param::ToolRegistry;

use crate::audit::{self, AuditEvent, AuditSink};
use crate::layer::McpAuthLayer;
use crate::policy::{ListFilter, ListKind};
use crate::presentation::{Principal, ResourceVerifier};
use crate::session::{Binding, MemorySessionStore, SessionOwner, SessionStore};
use crate::upstream_identity::UpstreamIdentity;
use crate::whole_body;
use credentials::url_credentials;
pub(crate) use credentials::{has_credentials, without_credentials};
use list_answer::{AnswerShape, ListAnswer};
use upstream_client::UpstreamClient;

mod audit_trail;
mod credentials;
mod list_answer;
pub(crate) use list_answer::filter_chunks;
mod upstream_client;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus
/// `host` and `content-length`, which the outgoing request sets itself.
///
/// Typed names, not strings: a `HeaderMap` looked up by `&str` parses the name first
/// (about 300 instructions a lookup), and every answer is cleared of all ten (issue 18).
pub(crate) static HOP_BY_HOP: [HeaderName; 10] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
];

/// What presents the token and proves possession of its key: `Authorization`, the
/// HTTPSig `Signature` and `Signature-Input` (RFC 9421 §4), the `DPoP` proof (RFC 9449
/// §4). The gateway consumes them: the upstream gets the verified identity instead
/// (the MCP authorization spec forbids passing the token through), and the proofs are
/// bound to the gateway's URL and useless without the token. All of them go upstream
/// only with `forward_token`. `Content-Digest` stays: it describes the body.
static PRESENTATION: [HeaderName; 4] = [
    header::AUTHORIZATION,
    HeaderName::from_static("signature"),
    HeaderName::from_static("signature-input"),
    HeaderName::from_static("dpop"),
];

/// The default prefix of the identity headers sent upstream. Every header arriving
/// from a client whose name *normalizes* to the prefix (`_` read as `-`, any case:
/// `X_MCP_AUTH_SUBJECT`, `x-mcp-auth_scope`) is removed first, so none can be
/// spoofed, not even through CGI/WSGI upstreams that merge `-` and `_`.
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

/// `Mcp-Session-Id` (MCP Streamable HTTP, "Session Management").
pub const MCP_SESSION_ID: &str = "mcp-session-id";

/// [`MCP_SESSION_ID`] as a typed name, for the lookups of every request.
static MCP_SESSION_ID_NAME: HeaderName = HeaderName::from_static(MCP_SESSION_ID);

/// The Host the client used, sent upstream (the outgoing Host is the upstream's).
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Where and how requests are forwarded.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: UpstreamClient,
    /// Without credentials: they are in `basic_auth`, so that no error or log line
    /// that prints the URL shows them.
    url: url::Url,
    /// Credentials written in the URL (`http://user:pass@host/mcp`), sent as
    /// `Authorization: Basic` (marked sensitive) unless the forwarded request has an
    /// `Authorization` of its own (`credentials.rs`).
    basic_auth: Option<HeaderValue>,
    response_timeout: Duration,
    forward_token: bool,
    identity_prefix: String,
    /// The identity headers' names under `identity_prefix`, made once ([`IdentityNames`]).
    identity_names: Option<IdentityNames>,
    sessions: Arc<dyn SessionStore>,
    /// Where forwarded operations are recorded (`crate::audit`).
    audit: Option<AuditSink>,
    /// The token minted for the upstream (`crate::upstream_identity`).
    identity: Option<Arc<UpstreamIdentity>>,
    /// Where the tools' `x-mcp-header` annotations are learned, from the
    /// `tools/list` answers forwarded (SEP-2243).
    tool_headers: Option<ToolRegistry>,
}

/// The names of the identity headers under one prefix: `{prefix}issuer`, `-subject`,
/// `-client-id`, `-scope`, `-profile`, `-key-thumbprint`, parsed once rather than
/// formatted and parsed for every request. `None` in [`Upstream`] when the prefix
/// does not make valid header names (then no identity header is sent).
#[derive(Debug, Clone)]
struct IdentityNames {
    issuer: HeaderName,
    subject: HeaderName,
    client_id: HeaderName,
    scope: HeaderName,
    profile: HeaderName,
    key_thumbprint: HeaderName,
}

impl IdentityNames {
    fn new(prefix: &str) -> Option<Self> {
        let name =
            |suffix: &str| HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes()).ok();
        Some(Self {
            issuer: name("issuer")?,
            subject: name("subject")?,
            client_id: name("client-id")?,
            scope: name("scope")?,
            profile: name("profile")?,
            key_thumbprint: name("key-thumbprint")?,
        })
    }
}

impl Upstream {
    /// Forwards to `url` (the upstream MCP endpoint, e.g. `http://127.0.0.1:3000/mcp`),
    /// waiting 30 s at most for a response head, without the client's token, with
    /// the identity in `X-MCP-Auth-*` headers, sessions bound in memory, connections
    /// kept idle for [`POOL_IDLE_TIMEOUT`] at most.
    pub fn new(url: url::Url) -> Self {
        let (url, basic_auth) = url_credentials(url);
        Self {
            client: UpstreamClient::from_environment(&url, POOL_IDLE_TIMEOUT),
            url,
            basic_auth,
            response_timeout: Duration::from_secs(30),
            forward_token: false,
            identity_prefix: IDENTITY_PREFIX.to_owned(),
            identity_names: IdentityNames::new(IDENTITY_PREFIX),
            sessions: Arc::new(MemorySessionStore::default()),
            audit: None,
            identity: None,
            tool_headers: None,
        }
    }

    /// Where session bindings are kept (default: in this process). Several gateway
    /// instances behind one address share a [`crate::session::RedisSessionStore`].
    pub fn sessions(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = store;
        self
    }

    /// How long an idle connection to the upstream is kept for the next request
    /// (default [`POOL_IDLE_TIMEOUT`], 4 s). It must stay below the upstream's own
    /// keep-alive limit: a request sent as the upstream closes the connection fails,
    /// and the caller gets a 502.
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.client = UpstreamClient::from_environment(&self.url, idle);
        self
    }

    /// Bounds the wait for the response head (504 after it); a streaming body is not
    /// cut.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Passes the client's `Authorization` upstream (off by default: the upstream
    /// gets the verified identity instead).
    pub fn forward_token(mut self, forward: bool) -> Self {
        self.forward_token = forward;
        self
    }

    /// Records an audit event for each operation forwarded, with the upstream's
    /// status and the latency (`crate::audit`).
    pub fn audit(mut self, sink: AuditSink) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Sends each request upstream with a token the gateway mints for the caller
    /// (`crate::upstream_identity`); the header it travels in is never taken from
    /// the client.
    pub fn identity(mut self, identity: Arc<UpstreamIdentity>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Learns the tools' `x-mcp-header` annotations from the `tools/list` answers it
    /// forwards, into `registry` (which the verifier checks `Mcp-Param-*` headers
    /// with: [`ResourceVerifier::with_tool_headers`]).
    pub fn tool_headers(mut self, registry: ToolRegistry) -> Self {
        self.tool_headers = Some(registry);
        self
    }

    /// The prefix of the identity headers (default `x-mcp-auth-`); lowercased.
    pub fn identity_prefix(mut self, prefix: &str) -> Self {
        self.identity_prefix = prefix.to_ascii_lowercase();
        self.identity_names = IdentityNames::new(&self.identity_prefix);
        self
    }

    /// The upstream URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The proxy the upstream is reached through (`scheme://host:port`, never its
    /// credentials), from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`); `None`: directly. `Err` says why the upstream cannot be reached
    /// at all (a proxy of a kind not supported, or a URL that is not http(s): every
    /// request then fails with 502).
    pub fn proxy(&self) -> Result<Option<&str>, &str> {
        self.client.proxy()
    }

    /// Whether a TCP connection to the upstream (to its proxy, when it is reached
    /// through one) opens within a second (readiness); never when the upstream
    /// cannot be reached at all ([`Upstream::proxy`]).
    pub async fn reachable(&self) -> bool {
        if self.client.proxy().is_err() {
            return false;
        }
        let (host, port) = match self.client.first_hop() {
            Some(proxy) => proxy,
            None => {
                let Some(host) = self.url.host_str() else {
                    return false;
                };
                (host, self.url.port_or_known_default().unwrap_or(80))
            }
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect((host, port))
            )
            .await,
            Ok(Ok(_))
        )
    }
}

/// The gateway router: the resource's path verified and forwarded, RFC 9728
/// metadata, `/healthz` (the process answers) and `/readyz` (the upstream accepts
/// connections and the replay cache answers). `/readyz` never reports draining: the
/// gateway process uses [`gateway_router_with_shutdown`].
pub fn gateway_router(verifier: Arc<ResourceVerifier>, upstream: Arc<Upstream>) -> Router {
    gateway_router_with_shutdown(verifier, upstream, Shutdown::new())
}

/// The paths the gateway always answers itself, which the resource's cannot be
/// ([`crate::gateway::RawGatewayConfig::validate`] refuses them, and
/// [`crate::upstream_identity::JWKS_PATH`] too when `[upstream_identity]` is on).
pub(crate) const OWN_PATHS: [&str; 3] = [
    "/healthz",
    "/readyz",
    "/.well-known/oauth-protected-resource",
];

/// [`gateway_router`] whose `/readyz` answers `503 {"status":"draining"}` once
/// `shutdown` is asked to stop (the listener's drain, [`mcp_auth_core::shutdown`]).
///
/// # Panics
///
/// If the resource's path is one of the gateway's own (`/healthz`, `/readyz`,
/// `/.well-known/oauth-protected-resource`, and `/.well-known/jwks.json` with an
/// upstream identity): a configuration read by
/// [`crate::gateway::RawGatewayConfig::validate`] never has one.
pub fn gateway_router_with_shutdown(
    verifier: Arc<ResourceVerifier>,
    upstream: Arc<Upstream>,
    shutdown: Shutdown,
) -> Router {
    let path = verifier.config().url().path().to_owned();
    let metadata = crate::metadata::router(verifier.config());
    let ready = {
        let verifier = Arc::clone(&verifier);
        let upstream = Arc::clone(&upstream);
        move || readiness(verifier, upstream, shutdown)
    };
    let identity_keys = upstream
        .identity
        .as_ref()
        .map(|i| crate::upstream_identity::jwks_router(Arc::clone(i)));
    // The check wraps the handler itself, not the route: under `Router::layer` the check
    // would call a boxed route, cloning the box and boxing the request's future again,
    // through two more layers, for every request (issue 18).
    let protected = McpAuthLayer::new(verifier).layer(forward.with_state(upstream));
    // The resource's path is a URL's path, matched literally: a segment such as `:v1`
    // or `*` is no route syntax here (axum 0.8 would otherwise refuse to start on it).
    Router::new()
        .without_v07_checks()
        .route_service(&path, protected)
        .merge(metadata)
        .merge(identity_keys.unwrap_or_default())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

/// The same proxy with no verification at all, at `path`: the baseline that
/// `mcp-auth bench gateway` measures the checks against ("gateway with auth off").
/// Never put this in front of a real server.
pub fn unprotected_router(path: &str, upstream: Arc<Upstream>) -> Router {
    Router::new()
        .without_v07_checks()
        .route_service(path, forward.with_state(upstream))
}

/// `/readyz`: `503 {"status":"draining"}` while the process drains; else 200 when
/// the upstream accepts connections and the replay cache, the session store and (in
/// Redis) the rate limit's store answer, 503 otherwise, the body naming which
/// ([`mcp_auth_core::shutdown::readiness_answer`], the AS's shape too) without the
/// error itself (that is logged: the listener is public).
async fn readiness(
    verifier: Arc<ResourceVerifier>,
    upstream: Arc<Upstream>,
    shutdown: Shutdown,
) -> Response {
    if shutdown.is_draining() {
        let (status, body) = draining_answer();
        return (status, axum::Json(body)).into_response();
    }
    let rate_limit = async {
        match verifier.admission() {
            Some(admission) => admission.ready().await,
            None => None,
        }
    };
    let (upstream_ok, replay, sessions, rate_limit) = tokio::join!(
        upstream.reachable(),
        verifier.replay_cache().check_ready(),
        upstream.sessions.check_ready(),
        rate_limit
    );
    if let Err(e) = &replay {
        tracing::warn!(error = %e, "readiness: the replay cache does not answer");
    }
    if let Err(e) = &sessions {
        tracing::warn!(error = %e, "readiness: the session store does not answer");
    }
    let mut dependencies = vec![
        Dependency {
            name: "upstream",
            ok: upstream_ok,
            failed: "unreachable",
        },
        Dependency {
            name: "replay_cache",
            ok: replay.is_ok(),
            failed: "unavailable",
        },
        Dependency {
            name: "session_store",
            ok: sessions.is_ok(),
            failed: "unavailable",
        },
    ];
    if let Some(ok) = rate_limit {
        dependencies.push(Dependency {
            name: "rate_limit",
            ok,
            failed: "unavailable",
        });
    }
    let (status, body) = readiness_answer(&dependencies);
    (status, axum::Json(body)).into_response()
}

/// Forwards one verified request and streams the response back.
///
/// With a verified [`Principal`] (the gateway router; the unprotected bench router has
/// none), sessions are checked first: a request naming a session that is not bound to
/// its principal gets 404 without reaching the upstream; a session the upstream
/// names in its answer is bound to the principal before the answer is passed on.
async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let listed = parts.extensions.remove::<ListKind>();
    let list_answer = ListAnswer::new(
        parts.extensions.remove::<ListFilter>(),
        upstream
            .tool_headers
            .clone()
            .filter(|_| listed == Some(ListKind::Tools)),
    );
    let event = parts.extensions.remove::<AuditEvent>();
    let principal = parts.extensions.get::<Principal>();
    let session = match requested_session(&parts.headers) {
        Ok(s) => s,
        Err(()) => {
            return gateway_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "Bad Request: one Mcp-Session-Id of visible ASCII is expected",
            );
        }
    };
    // The owner (a digest of the principal) is computed only when a session is
    // involved: most calls of a stateless server have none.
    let mut owner = None;
    if let (Some(principal), Some(session)) = (principal, session) {
        let requester = owner.insert(SessionOwner::of(principal));
        match upstream.sessions.owner(session).await {
            Ok(Some(bound)) if bound == *requester => {}
            // Never bound here, expired, or another principal's: the same answer, so
            // a guessed or stolen id tells its holder nothing.
            Ok(_) => {
                metrics::counter!("mcp_auth_session_refusals_total", "reason" => "not_found")
                    .increment(1);
                tracing::info!(
                    store = upstream.sessions.kind(),
                    "request refused: the session is not bound to this principal"
                );
                return session_not_found();
            }
            Err(e) => return session_store_unavailable(&e),
        }
    }
    // Behind the check, the body was read already (within `max_body`), and reading it
    // again takes the same bytes; the auth-off baseline reads the client's body here.
    let body = match whole_body::read(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return gateway_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "the request body could not be read",
            );
        }
    };
    let mut headers = forwarded_headers(&parts.headers, &upstream);
    if list_answer.is_some() {
        // The answer is read (filtered, or learned from): uncompressed.
        headers.remove(header::ACCEPT_ENCODING);
    }
    let trail = match audit_trail::begin(upstream.audit.as_ref(), event) {
        Ok(trail) => trail,
        Err(audit::AuditRefused) => return audit_trail::unavailable(),
    };
    if let Some(id) = trail
        .as_ref()
        .and_then(|t| HeaderValue::from_str(t.request_id()).ok())
    {
        headers.insert(audit::REQUEST_ID, id);
    }
    // The outgoing Host is the upstream's; the one the client used goes along in
    // X-Forwarded-Host (replacing any the client sent), for upstream Host checks
    // and logs.
    headers.remove(&X_FORWARDED_HOST);
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    if let (Some(p), Some(names)) = (
        parts.extensions.get::<Principal>(),
        &upstream.identity_names,
    ) {
        add_identity(&mut headers, names, p);
    }
    if let (Some(p), Some(identity)) = (principal, &upstream.identity) {
        match identity.header_value_for(p, mcp_auth_core::unix_now()) {
            Ok(value) => {
                headers.insert(identity.header_name().clone(), value);
            }
            Err(e) => {
                tracing::error!(error = %e, "minting the upstream identity token failed");
                return gateway_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    -32603,
                    "the gateway could not forward this request",
                );
            }
        }
    }
    let ends_session = parts.method == http::Method::DELETE;
    let started = std::time::Instant::now();
    if let Some(basic) = &upstream.basic_auth {
        headers
            .entry(header::AUTHORIZATION)
            .or_insert_with(|| basic.clone());
    }
    // The header map goes in whole, sized for what was added to it.
    let sent = upstream
        .client
        .send(parts.method, parts.uri.query(), headers, body);
    let response = match tokio::time::timeout(upstream.response_timeout, sent).await {
        Err(_) => {
            metrics::counter!("mcp_auth_upstream_errors_total", "kind" => "timeout").increment(1);
            audit_trail::finish(trail, StatusCode::GATEWAY_TIMEOUT);
            return gateway_error(
                StatusCode::GATEWAY_TIMEOUT,
                -32603,
                "the MCP server did not answer in time",
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upstream request failed");
            metrics::counter!("mcp_auth_upstream_errors_total", "kind" => "unreachable")
                .increment(1);
            audit_trail::finish(trail, StatusCode::BAD_GATEWAY);
            return gateway_error(
                StatusCode::BAD_GATEWAY,
                -32603,
                "the MCP server is unreachable",
            );
        }
        Ok(Ok(r)) => r,
    };
    // A key of literal labels, its handle kept (`metric_handle`: issue 18).
    static UPSTREAM_SECONDS: Kept<metrics::Histogram> =
        Kept::new(|| metrics::histogram!("mcp_auth_upstream_seconds"));
    UPSTREAM_SECONDS.with(|seconds| seconds.record(started.elapsed().as_secs_f64()));
    audit_trail::finish(trail, response.status());
    let answered_session = response.headers().contains_key(&MCP_SESSION_ID_NAME);
    if let Some(principal) = principal
        && (answered_session || (ends_session && session.is_some()))
    {
        let owner = owner.get_or_insert_with(|| SessionOwner::of(principal));
        if let Some(refused) = bind_answered_session(&upstream, owner, response.headers()).await {
            return refused;
        }
        if ends_session
            && response.status().is_success()
            && let Some(session) = session
            && let Err(e) = upstream.sessions.forget(session).await
        {
            // The binding then lapses after its idle lifetime; it still names only
            // this principal.
            tracing::warn!(error = %e, "forgetting an ended session failed");
        }
    }
    // The upstream's head is passed on as it is (no copy of its headers), minus the
    // hop-by-hop ones; the body streams through.
    let (mut head, body) = response.into_parts();
    remove_hop_by_hop(&mut head.headers);
    head.extensions = http::Extensions::new();
    let Some(filter) = list_answer else {
        return Response::from_parts(head, Body::new(body));
    };
    let length = http_body::Body::size_hint(&body).exact();
    match list_answer::shape(head.status, &head.headers, length, filter.filters()) {
        AnswerShape::PassOn => Response::from_parts(head, Body::new(body)),
        AnswerShape::EventStream => {
            Response::from_parts(head, list_answer::filter_event_stream(filter, body))
        }
        AnswerShape::Json => {
            match list_answer::filter_json(&filter, body, upstream.response_timeout).await {
                Ok(filtered) => {
                    head.headers.remove(header::CONTENT_LENGTH);
                    Response::from_parts(head, Body::from(filtered))
                }
                Err(()) => unfilterable_list(),
            }
        }
        AnswerShape::Refuse => unfilterable_list(),
    }
}

/// `headers` without the [`HOP_BY_HOP`] fields and those its `Connection` lists:
/// what the gateway's answer carries of the upstream's head.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_options(headers) {
        headers.remove(&name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The field names a message's `Connection` lists: they describe that connection
/// only, and a proxy removes them before forwarding (RFC 9110 §7.6.1). Empty (no
/// allocation) for the usual message, which has no `Connection`.
fn connection_options(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|option| HeaderName::from_bytes(option.trim().as_bytes()).ok())
        .collect()
}

/// 502 for a list answer the policy cannot filter: never passed on unfiltered.
fn unfilterable_list() -> Response {
    metrics::counter!("mcp_auth_upstream_errors_total", "kind" => "unfilterable_list").increment(1);
    gateway_error(
        StatusCode::BAD_GATEWAY,
        -32603,
        "the MCP server's list answer could not be filtered",
    )
}

/// The `Mcp-Session-Id` of a request: `Ok(None)` without one; `Err` when repeated or
/// not visible ASCII (MCP: "MUST only contain visible ASCII characters").
fn requested_session(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let mut values = headers.get_all(&MCP_SESSION_ID_NAME).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    match first.to_str() {
        Ok(s) if !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) => Ok(Some(s)),
        _ => Err(()),
    }
}

/// Binds the session the upstream named in its answer (if any) to `owner`; the error
/// response when that cannot be done. An id already bound to another principal means
/// the upstream handed one session to two principals: the answer is withheld (502).
async fn bind_answered_session(
    upstream: &Upstream,
    owner: &SessionOwner,
    answer: &HeaderMap,
) -> Option<Response> {
    let value = answer.get(&MCP_SESSION_ID_NAME)?;
    let unusable = || {
        gateway_error(
            StatusCode::BAD_GATEWAY,
            -32603,
            "unusable upstream response",
        )
    };
    let Ok(session) = value.to_str() else {
        tracing::error!("the upstream named a session id that is not visible ASCII");
        return Some(unusable());
    };
    match upstream.sessions.bind(session, owner).await {
        Ok(Binding::Bound) => None,
        Ok(Binding::OwnedByAnother) => {
            tracing::error!(
                "the upstream answered with a session id bound to another principal; answer withheld"
            );
            metrics::counter!("mcp_auth_session_refusals_total", "reason" => "upstream_reused")
                .increment(1);
            Some(unusable())
        }
        Err(e) => Some(session_store_unavailable(&e)),
    }
}

/// 404 for a session the principal does not own, as an MCP server answers an unknown
/// session (the client then starts a new one with `initialize`). The body is the
/// TypeScript SDK's.
fn session_not_found() -> Response {
    gateway_error(StatusCode::NOT_FOUND, -32001, "Session not found")
}

/// 503 when the session store cannot answer: fail closed, like the replay cache.
fn session_store_unavailable(error: &crate::session::SessionStoreError) -> Response {
    tracing::error!(error = %error, "request refused: the session store is unavailable");
    metrics::counter!("mcp_auth_session_refusals_total", "reason" => "store_unavailable")
        .increment(1);
    gateway_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -32603,
        "the gateway cannot check the session now",
    )
}

/// The most fields the proxy adds to what it forwards: the request id,
/// `X-Forwarded-Host`, the six identity fields, the minted token's field and the
/// upstream URL's credentials.
const ADDED_FIELDS: usize = 10;

fn forwarded_headers(incoming: &HeaderMap, upstream: &Upstream) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + ADDED_FIELDS);
    let listed = connection_options(incoming);
    for (name, value) in incoming {
        let n = name.as_str();
        if HOP_BY_HOP.contains(name)
            || listed.contains(name)
            || has_identity_prefix(n, &upstream.identity_prefix)
            || (!upstream.forward_token && PRESENTATION.contains(name))
            || upstream
                .identity
                .as_ref()
                .is_some_and(|i| i.matches_header(n))
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Whether `name` starts with `prefix` once both are normalized the way CGI and WSGI
/// servers normalize them (`_` and `-` alike, case ignored): such a server would show
/// `X_MCP_AUTH_SUBJECT` to the application as the gateway's `X-MCP-Auth-Subject`.
fn has_identity_prefix(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| match b {
        b'_' => b'-',
        b => b.to_ascii_lowercase(),
    };
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(n, p)| fold(n) == fold(p))
}

/// `{prefix}issuer`, `-subject`, `-client-id`, `-scope`, `-profile`,
/// `-key-thumbprint` (`X-MCP-Auth-Issuer` ... by default). A subject is unique only
/// within its issuer: the upstream compares (issuer, subject). A value that is not a
/// valid header value is left out rather than altered.
///
/// The principal's strings become the values without a copy (they share their
/// bytes); only the scope list is written out. Appended: [`forwarded_headers`] left
/// no field under the prefix, so there is nothing to replace.
fn add_identity(headers: &mut HeaderMap, names: &IdentityNames, p: &Principal) {
    let mut set = |name: &HeaderName, value: Bytes| {
        if let Ok(v) = HeaderValue::from_maybe_shared(value) {
            headers.append(name.clone(), v);
        }
    };
    set(&names.issuer, p.issuer.as_bytes().clone());
    set(&names.subject, p.subject.as_bytes().clone());
    set(&names.client_id, p.client_id.as_bytes().clone());
    set(&names.scope, p.scopes.join(" ").into());
    set(
        &names.profile,
        Bytes::from_static(p.profile.as_str().as_bytes()),
    );
    if let Some(t) = &p.key_thumbprint {
        set(&names.key_thumbprint, t.as_bytes().clone());
    }
}

/// An error the gateway answers itself, with a JSON-RPC error body (the request id is
/// not known here) and a fixed message: never the upstream's status, address or
/// connection error.
fn gateway_error(status: StatusCode, code: i64, message: &'static str) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
