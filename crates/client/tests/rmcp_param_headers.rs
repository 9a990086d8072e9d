//! SEP-2243 custom headers through the rmcp transport (feature `rmcp`), over real
//! HTTP on loopback: the `tools/list` answer rmcp reads (JSON or SSE) has lost the
//! tools with invalid `x-mcp-header` annotations, and the `tools/call` it sends
//! next carries the `Mcp-Param-*` headers. The test server records every request.
#![cfg(feature = "rmcp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use http::HeaderMap;
use mcp_auth_client::McpClient;
use mcp_auth_client::rmcp_transport::AuthorizedHttpClient;
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient as _, StreamableHttpPostResponse,
};
use serde_json::{Value, json};

fn tools() -> Value {
    json!([
        {"name": "execute_sql", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "query": {"type": "string"}}}},
        {"name": "invalid_number", "inputSchema": {"type": "object", "properties": {
            "v": {"type": "number", "x-mcp-header": "Score"}}}}
    ])
}

/// A server answering `tools/list` (as SSE when `sse`) and `tools/call`, recording
/// the headers of every request; its MCP URL and the recording.
async fn server(sse: bool) -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
        let recorder = recorder.clone();
        async move {
            recorder.lock().unwrap().push(headers);
            let rpc: Value = serde_json::from_str(&body).unwrap();
            let result = match rpc["method"].as_str() {
                Some("tools/list") => json!({"tools": tools()}),
                _ => json!({"content": []}),
            };
            let answer = json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result});
            let response: Response = if sse {
                (
                    [(http::header::CONTENT_TYPE, "text/event-stream")],
                    format!("event: message\ndata: {answer}\n\n"),
                )
                    .into_response()
            } else {
                axum::Json(answer).into_response()
            };
            response
        }
    });
    let base = mcp_auth_testkit::serve(app).await;
    (format!("{base}/mcp"), seen)
}

fn message(value: Value) -> ClientJsonRpcMessage {
    serde_json::from_value(value).unwrap()
}

/// The tool names of a `tools/list` answer as rmcp got it.
async fn listed(response: StreamableHttpPostResponse) -> Vec<String> {
    let answer: Value = match response {
        StreamableHttpPostResponse::Json(m, _) => serde_json::to_value(&m).unwrap(),
        StreamableHttpPostResponse::Sse(mut events, _) => {
            let event = events.next().await.unwrap().unwrap();
            serde_json::from_str(&event.data.unwrap()).unwrap()
        }
        other => panic!("unexpected answer {other:?}"),
    };
    answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Lists the tools then calls `execute_sql` through the transport; the names rmcp
/// saw listed and the headers of the call.
async fn list_then_call(sse: bool) -> (Vec<String>, HeaderMap) {
    let (uri, seen) = server(sse).await;
    let client = AuthorizedHttpClient::new(McpClient::new(&uri, None, None));
    let list = message(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}));
    let response = client
        .post_message(uri.clone().into(), list, None, None, HashMap::new())
        .await
        .unwrap();
    let names = listed(response).await;
    let call = message(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "execute_sql", "arguments": {"region": "Zürich", "query": "q"}}}));
    client
        .post_message(uri.into(), call, None, None, HashMap::new())
        .await
        .unwrap();
    let headers = seen.lock().unwrap().last().unwrap().clone();
    (names, headers)
}

// Fails if rmcp sees the invalid tool, or the call goes without its header.
#[tokio::test]
async fn a_json_tools_list_is_filtered_and_the_call_mirrors_its_arguments() {
    let (names, headers) = list_then_call(false).await;
    assert_eq!(names, ["execute_sql"]);
    assert_eq!(headers["mcp-param-region"], "=?base64?WsO8cmljaA==?=");
    assert!(headers.get("mcp-param-query").is_none());
}

// Fails if an SSE answer reaches rmcp unfiltered.
#[tokio::test]
async fn an_sse_tools_list_is_filtered_and_the_call_mirrors_its_arguments() {
    let (names, headers) = list_then_call(true).await;
    assert_eq!(names, ["execute_sql"]);
    assert_eq!(headers["mcp-param-region"], "=?base64?WsO8cmljaA==?=");
}
