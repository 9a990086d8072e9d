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

/// The prefix of the identity headers sent upstream; the same headers arriving from a
/// client are removed first, so they cannot be spoofed.
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

/// Where and how requests are forwarded.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    url: url::Url,
    response_timeout: Duration,
    forward_token: bool,
}

impl Upstream {
    /// Forwards to `url` (the upstream MCP endpoint, e.g. `http://127.0.0.1:3000/mcp`).
    /// `response_timeout` bounds the wait for the response head (504 after it); a
    /// streaming body is not cut. `forward_token` passes the client's `Authorization`
    /// upstream (off by default: the upstream gets the verified identity instead).
    pub fn new(url: url::Url, response_timeout: Duration, forward_token: bool) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            client,
            url,
            response_timeout,
            forward_token,
        }
    }
}

/// The gateway router: the resource's path (and everything below it) verified and
/// forwarded, RFC 9728 metadata, and `/healthz`.
pub fn gateway_router(verifier: Arc<ResourceVerifier>, upstream: Arc<Upstream>) -> Router {
    let path = url::Url::parse(&verifier.config().resource)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    let metadata = crate::metadata::router(verifier.config());
    let protected = Router::new()
        .route(&path, any(forward))
        .with_state(upstream)
        .layer(McpAuthLayer::new(verifier));
    protected
        .merge(metadata)
        .route("/healthz", get(|| async { "ok" }))
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
    let mut headers = forwarded_headers(&parts.headers, upstream.forward_token);
    if let Some(p) = parts.extensions.get::<Principal>() {
        add_identity(&mut headers, p);
    }
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

fn forwarded_headers(incoming: &HeaderMap, forward_token: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n.starts_with(IDENTITY_PREFIX)
            || (!forward_token && name == header::AUTHORIZATION)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `X-MCP-Auth-Subject`, `-Client-Id`, `-Scope`, `-Profile`, `-Key-Thumbprint`.
fn add_identity(headers: &mut HeaderMap, p: &Principal) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-mcp-auth-subject", &p.subject);
    set("x-mcp-auth-client-id", &p.client_id);
    set("x-mcp-auth-scope", &p.scopes.join(" "));
    set("x-mcp-auth-profile", p.profile.as_str());
    if let Some(t) = &p.key_thumbprint {
        set("x-mcp-auth-key-thumbprint", t);
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
