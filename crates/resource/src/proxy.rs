//! The gateway: a reverse proxy that puts the presentation check in front of any MCP
//! server speaking Streamable HTTP. Requests that passed [`crate::McpAuthLayer`] are
//! forwarded with the verified identity in `X-MCP-Auth-*` headers (and without the
//! client's token, unless configured); responses, SSE included, stream back as they
//! arrive, with no buffering.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::BodyExt as _;

use crate::layer::McpAuthLayer;
use crate::presentation::{Principal, ResourceVerifier};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus
/// `host` and `content-length`, which the outgoing request sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The default prefix of the identity headers sent upstream; the same headers
/// arriving from a client are removed first, so they cannot be spoofed.
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

/// Where and how requests are forwarded.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    url: url::Url,
    response_timeout: Duration,
    forward_token: bool,
    identity_prefix: String,
}

impl Upstream {
    /// Forwards to `url` (the upstream MCP endpoint, e.g. `http://127.0.0.1:3000/mcp`),
    /// waiting 30 s at most for a response head, without the client's token, with
    /// the identity in `X-MCP-Auth-*` headers.
    pub fn new(url: url::Url) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            client,
            url,
            response_timeout: Duration::from_secs(30),
            forward_token: false,
            identity_prefix: IDENTITY_PREFIX.to_owned(),
        }
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

    /// The prefix of the identity headers (default `x-mcp-auth-`); lowercased.
    pub fn identity_prefix(mut self, prefix: &str) -> Self {
        self.identity_prefix = prefix.to_ascii_lowercase();
        self
    }

    /// The upstream URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Whether a TCP connection to the upstream opens within a second (readiness).
    pub async fn reachable(&self) -> bool {
        let Some(host) = self.url.host_str() else {
            return false;
        };
        let port = self.url.port_or_known_default().unwrap_or(80);
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
/// connections and the replay cache answers).
pub fn gateway_router(verifier: Arc<ResourceVerifier>, upstream: Arc<Upstream>) -> Router {
    let path = url::Url::parse(&verifier.config().resource)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    let metadata = crate::metadata::router(verifier.config());
    let ready = {
        let verifier = Arc::clone(&verifier);
        let upstream = Arc::clone(&upstream);
        move || readiness(verifier, upstream)
    };
    let protected = Router::new()
        .route(&path, any(forward))
        .with_state(upstream)
        .layer(McpAuthLayer::new(verifier));
    protected
        .merge(metadata)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

/// The same proxy with no verification at all, at `path`: the baseline that
/// `mcp-auth bench gateway` measures the checks against ("gateway with auth off").
/// Never put this in front of a real server.
pub fn unprotected_router(path: &str, upstream: Arc<Upstream>) -> Router {
    Router::new().route(path, any(forward)).with_state(upstream)
}

/// `/readyz`: 200 when the upstream accepts connections and the replay cache answers,
/// else 503; the body says which.
async fn readiness(verifier: Arc<ResourceVerifier>, upstream: Arc<Upstream>) -> Response {
    let (upstream_ok, replay) =
        tokio::join!(upstream.reachable(), verifier.replay_cache().check_ready());
    let status = if upstream_ok && replay.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "upstream": if upstream_ok { "ok" } else { "unreachable" },
        "replay_cache": match &replay { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
    });
    (status, axum::Json(body)).into_response()
}

/// Forwards one verified request and streams the response back.
async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The layer read the body already; collecting it again takes the same bytes.
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return upstream_error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
    };
    let mut url = upstream.url.clone();
    url.set_query(parts.uri.query());
    let mut headers = forwarded_headers(&parts.headers, &upstream);
    // The outgoing Host is the upstream's; the one the client used goes along in
    // X-Forwarded-Host (replacing any the client sent), for upstream Host checks
    // and logs.
    headers.remove("x-forwarded-host");
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    if let Some(p) = parts.extensions.get::<Principal>() {
        add_identity(&mut headers, &upstream.identity_prefix, p);
    }
    let started = std::time::Instant::now();
    let sent = upstream
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send();
    let response = match tokio::time::timeout(upstream.response_timeout, sent).await {
        Err(_) => {
            metrics::counter!("mcp_auth_upstream_errors_total", "kind" => "timeout").increment(1);
            return upstream_error(
                StatusCode::GATEWAY_TIMEOUT,
                "the MCP server did not answer in time",
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upstream request failed");
            metrics::counter!("mcp_auth_upstream_errors_total", "kind" => "unreachable")
                .increment(1);
            return upstream_error(StatusCode::BAD_GATEWAY, "the MCP server is unreachable");
        }
        Ok(Ok(r)) => r,
    };
    metrics::histogram!("mcp_auth_upstream_seconds").record(started.elapsed().as_secs_f64());
    let mut out = Response::builder().status(response.status());
    if let Some(h) = out.headers_mut() {
        for (name, value) in response.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                h.append(name.clone(), value.clone());
            }
        }
    }
    out.body(Body::from_stream(response.bytes_stream()))
        .unwrap_or_else(|_| upstream_error(StatusCode::BAD_GATEWAY, "unusable upstream response"))
}

fn forwarded_headers(incoming: &HeaderMap, upstream: &Upstream) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n.starts_with(upstream.identity_prefix.as_str())
            || (!upstream.forward_token && name == header::AUTHORIZATION)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `{prefix}subject`, `-client-id`, `-scope`, `-profile`, `-key-thumbprint`
/// (`X-MCP-Auth-Subject` ... by default). A value that is not a valid header value is
/// left out rather than altered.
fn add_identity(headers: &mut HeaderMap, prefix: &str, p: &Principal) {
    let mut set = |suffix: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    };
    set("subject", &p.subject);
    set("client-id", &p.client_id);
    set("scope", &p.scopes.join(" "));
    set("profile", p.profile.as_str());
    if let Some(t) = &p.key_thumbprint {
        set("key-thumbprint", t);
    }
}

/// A 502/504 with a JSON-RPC error body (the request id is not known here).
fn upstream_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
