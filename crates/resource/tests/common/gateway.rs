//! A real gateway in front of a real recording upstream on 127.0.0.1, and a raw
//! HTTP/1.1 exchange for what `reqwest` will not send (absolute-form request lines,
//! a body that never arrives).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use http::{HeaderMap, Method};
use mcp_auth_client::HttpSigSigner;
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_resource::session::SessionStore;
use mcp_auth_resource::{
    AccessTokenCache, ResourceConfig, ResourceVerifier, Upstream, discover_issuer, gateway_router,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::As;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: String,
}

/// Everything the upstream received, in order.
pub type Recorder = Arc<Mutex<Vec<Recorded>>>;

/// An upstream MCP server on any method: records the request, answers a JSON-RPC
/// result; `initialize` answers with a new `Mcp-Session-Id` (`sess-1`, `sess-2`, ...).
pub async fn recording_upstream() -> (String, Recorder) {
    let seen: Recorder = Arc::default();
    let sessions = Arc::new(AtomicU64::new(0));
    let recorder = seen.clone();
    let app = Router::new().route(
        "/mcp",
        any(move |method: Method, headers: HeaderMap, body: String| {
            let seen = recorder.clone();
            let sessions = sessions.clone();
            async move {
                let rpc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push(Recorded {
                    method,
                    headers,
                    body,
                });
                let mut answer = axum::response::IntoResponse::into_response(axum::Json(
                    json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {}}),
                ));
                if rpc["method"] == "initialize" {
                    let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
                    answer
                        .headers_mut()
                        .insert("mcp-session-id", format!("sess-{n}").parse().unwrap());
                }
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Serves a gateway at `listener` for `resource`, trusting every AS of `issuers`
/// (discovered as `mcp-auth gateway` does), forwarding to `upstream`, with the
/// configuration changed by `configure` and sessions in `sessions` (memory if
/// `None`).
pub async fn serve_gateway(
    listener: tokio::net::TcpListener,
    resource: &str,
    issuers: &[&As],
    upstream: &str,
    configure: impl FnOnce(&mut ResourceConfig),
    sessions: Option<Arc<dyn SessionStore>>,
) {
    let mut trusted = Vec::new();
    for i in issuers {
        trusted.push(discover_issuer(&i.issuer).await.unwrap());
    }
    let mut config = ResourceConfig::new(resource, issuers[0].issuer.clone());
    config.authorization_servers = issuers.iter().map(|i| i.issuer.clone()).collect();
    configure(&mut config);
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::for_issuers(resource, trusted),
        Arc::new(MemoryReplayCache::new()),
    ));
    let mut up = Upstream::new(upstream.parse().unwrap()).response_timeout(Duration::from_secs(5));
    if let Some(store) = sessions {
        up = up.sessions(store);
    }
    let app = gateway_router(verifier, Arc::new(up));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// `body` sent with `method` to `url`, signed by `signer` for `token` now, with
/// `extra` headers set before signing.
pub fn signed(
    signer: &HttpSigSigner,
    token: &str,
    method: Method,
    url: &str,
    body: &str,
    extra: &[(&'static str, &str)],
) -> reqwest::RequestBuilder {
    let mut b = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .header("accept", "application/json, text/event-stream");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let (mut parts, ()) = b.body(()).unwrap().into_parts();
    signer
        .sign_mcp_request(
            &mut parts,
            token,
            body.as_bytes(),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    reqwest::Client::new()
        .request(method, url)
        .headers(parts.headers)
        .body(body.to_owned())
}

/// The head of a response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
}

impl RawResponse {
    /// The values of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// Writes `request` as is on a new connection to `addr` and reads the response head.
/// The connection stays open on our side: whatever the request announced and did not
/// send never arrives. Panics when no head comes within 10 s (the server is waiting
/// for something the test will not send).
pub async fn raw_exchange(addr: &str, request: &[u8]) -> RawResponse {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed without a response");
            received.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no response head: the server is still waiting for the request");
    let text = String::from_utf8_lossy(&received).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap().to_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    RawResponse { status, head }
}

/// A request head as HTTP/1.1 text: `request_line`, then `headers`, then an empty
/// line; `body` follows.
pub fn raw_request(request_line: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{request_line}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
