//! A recording MCP server stand-in (the upstream behind a gateway).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::any;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request method.
    pub method: Method,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: String,
}

/// Everything the upstream received, in order.
pub type Recorder = Arc<Mutex<Vec<Recorded>>>;

/// A running [`mcp_upstream`].
#[derive(Debug)]
pub struct McpUpstream {
    /// Its MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    /// Every request it received.
    pub seen: Recorder,
    /// How many requests it received.
    pub hits: Arc<AtomicUsize>,
}

/// An upstream MCP server at `/mcp` on any method: records the request and answers
/// an empty JSON-RPC result; `initialize` answers with a new `Mcp-Session-Id`,
/// `<session_prefix>1`, `<session_prefix>2`, ...
pub async fn mcp_upstream(session_prefix: &str) -> McpUpstream {
    let seen: Recorder = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let sessions = Arc::new(AtomicU64::new(0));
    let (recorder, counter, prefix) = (seen.clone(), hits.clone(), session_prefix.to_owned());
    let app = Router::new().route(
        "/mcp",
        any(move |method: Method, headers: HeaderMap, body: String| {
            let (seen, hits, sessions) = (recorder.clone(), counter.clone(), sessions.clone());
            let prefix = prefix.clone();
            async move {
                let rpc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push(Recorded {
                    method,
                    headers,
                    body,
                });
                hits.fetch_add(1, Ordering::SeqCst);
                let mut answer = axum::response::IntoResponse::into_response(axum::Json(
                    json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {}}),
                ));
                if rpc["method"] == "initialize" {
                    let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
                    answer
                        .headers_mut()
                        .insert("mcp-session-id", format!("{prefix}{n}").parse().unwrap());
                }
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    McpUpstream { url, seen, hits }
}
