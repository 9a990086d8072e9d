//! Lists filtered by the gateway's policy (`crate::policy::ListFilter`), over real
//! HTTP on 127.0.0.1: a real AS, the gateway, an upstream MCP server answering
//! `tools/list` (paginated), `prompts/list` and `resources/list` in JSON or SSE.
//!
//! - An entry the policy denies to every call is not listed, in JSON and in SSE
//!   (events streamed one by one, split across chunks, CRLF line ends), and the
//!   cursor is kept;
//! - entries whose calls depend on the arguments, or need a scope, stay listed;
//! - a call of a hidden tool gets the answer the MCP server gives an unknown one;
//! - an answer the gateway cannot read is refused (502), never passed on.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::policy::{Policy, PolicyConfig};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

mod common;

use common::gateway::{serve_gateway, signed};

const POLICY: &str = r#"
[[rules]]
name = "no admin tools"
when = 'request.method == "tools/call" && request.name.startsWith("admin_")'
effect = "deny"

[[rules]]
name = "deleting needs files:admin"
when = 'request.method == "tools/call" && request.name.startsWith("delete_")'
scopes = ["files:admin"]

[[rules]]
name = "writes only under /tmp"
when = 'request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")'
effect = "deny"

[[rules]]
name = "no secret prompt"
when = 'request.method == "prompts/get" && request.name == "secret"'
effect = "deny"

[[rules]]
name = "nothing under /etc"
when = 'request.method == "resources/read" && request.name.startsWith("file:///etc/")'
effect = "deny"
"#;

/// What the upstream received: JSON-RPC methods and tool names.
type Seen = Arc<Mutex<Vec<String>>>;

/// A tool definition as an MCP server lists it.
fn tool(name: &str) -> Value {
    json!({"name": name, "description": format!("the {name} tool"),
           "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}})
}

/// The upstream: `tools/list` in two pages (cursor `p2`), `prompts/list`,
/// `resources/list`, `tools/call` of `read_file` (else the MCP specification's
/// unknown-tool error). `x-answer` picks the shape: `json` (default), `sse` (events
/// streamed in small chunks; the answer waits for `release` after the first event),
/// `twice` (the list member twice), `gzip` (a `Content-Encoding`).
async fn upstream(release: Arc<Notify>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let recorded = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&recorded);
            let release = Arc::clone(&release);
            async move { answer(&seen, &release, &headers, &body) }
        })
        .get(|| async {
            // The standalone stream, resumed: an earlier tools/list answer replayed.
            let replay = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [tool("read_file"), tool("admin_users")]}});
            (
                [("content-type", "text/event-stream")],
                format!("id: 7\ndata: {replay}\n\n"),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn answer(seen: &Seen, release: &Arc<Notify>, headers: &HeaderMap, body: &[u8]) -> Response {
    let rpc: Value = serde_json::from_slice(body).unwrap();
    let method = rpc["method"].as_str().unwrap().to_owned();
    let name = rpc["params"]["name"].as_str().unwrap_or_default();
    seen.lock()
        .unwrap()
        .push(format!("{method} {name}").trim().to_owned());
    let result = match method.as_str() {
        "tools/list" if rpc["params"]["cursor"] == "p2" => {
            json!({"tools": [tool("admin_reset"), tool("echo")]})
        }
        "tools/list" => json!({
            "tools": [tool("read_file"), tool("admin_users"), tool("delete_all"), tool("write_file")],
            "nextCursor": "p2",
        }),
        "prompts/list" => json!({"prompts": [{"name": "summary"}, {"name": "secret"}]}),
        "resources/list" => json!({"resources": [
            {"uri": "file:///tmp/a.txt", "name": "a"},
            {"uri": "file:///etc/passwd", "name": "passwd"},
        ]}),
        "tools/call" if name == "read_file" => json!({"content": []}),
        _ => {
            let error = json!({"jsonrpc": "2.0", "id": rpc["id"],
                               "error": {"code": -32602, "message": format!("Unknown tool: {name}")}});
            return axum::Json(error).into_response();
        }
    };
    let message = json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result});
    match headers.get("x-answer").map(|v| v.to_str().unwrap()) {
        Some("sse") => sse(message, Arc::clone(release)),
        Some("twice") => {
            let text = message.to_string();
            let doubled = text.replacen("\"tools\":", "\"tools\":[],\"tools\":", 1);
            assert_ne!(doubled, text);
            ([("content-type", "application/json")], doubled).into_response()
        }
        Some("gzip") => (
            [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            message.to_string(),
        )
            .into_response(),
        // A media type the SDKs still read as JSON (`startswith("application/json")`).
        Some("json-rpc") => (
            [("content-type", "application/json-rpc")],
            message.to_string(),
        )
            .into_response(),
        _ => axum::Json(message).into_response(),
    }
}

/// The message as the third event of an SSE stream: a priming event, a
/// notification, then the answer pretty-printed over many CRLF-ended `data:`
/// lines, in 7-byte chunks; the rest waits for `release` after the first event.
fn sse(message: Value, release: Arc<Notify>) -> Response {
    let first = "id: e1\r\ndata:\r\n\r\n".to_owned();
    let notification = json!({"jsonrpc": "2.0", "method": "notifications/message",
                               "params": {"level": "info", "data": "listing"}});
    let mut rest =
        format!("event: message\r\ndata: {notification}\r\n\r\nid: e3\r\nevent: message\r\n");
    for line in serde_json::to_string_pretty(&message).unwrap().lines() {
        rest.push_str(&format!("data: {line}\r\n"));
    }
    rest.push_str("\r\n");
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        tx.send(Ok(Bytes::from(first))).await.unwrap();
        release.notified().await;
        for chunk in rest.as_bytes().chunks(7) {
            tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
        }
    });
    let mut rx = rx;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

struct Gateway {
    resource: String,
    signer: HttpSigSigner,
    token: String,
    seen: Seen,
    release: Arc<Notify>,
    _as: common::As,
}

async fn gateway() -> Gateway {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let release = Arc::new(Notify::new());
    let (up, seen) = upstream(Arc::clone(&release)).await;
    let config: PolicyConfig = toml::from_str(POLICY).unwrap();
    let policy = Policy::compile(&config).unwrap();
    serve_gateway(
        listener,
        &resource,
        &[&authorization_server],
        &up,
        move |c| c.policy = policy,
        None,
    )
    .await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    Gateway {
        resource,
        signer,
        token,
        seen,
        release,
        _as: authorization_server,
    }
}

impl Gateway {
    async fn send(&self, id: u32, method: &str, params: Value, answer: &str) -> reqwest::Response {
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let name = params["name"].as_str().or(params["uri"].as_str());
        let mut headers = vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
            ("x-answer", answer),
        ];
        if let Some(name) = name {
            headers.push(("mcp-name", name));
        }
        signed(
            &self.signer,
            &self.token,
            Method::POST,
            &self.resource,
            &body,
            &headers,
        )
        .send()
        .await
        .unwrap()
    }

    async fn list(&self, id: u32, method: &str, params: Value, answer: &str) -> Value {
        let r = self.send(id, method, params, answer).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

fn names(list: &Value, member: &str, key: &str) -> Vec<String> {
    list["result"][member]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tools_list_in_json_lists_only_the_tools_the_caller_may_call_and_keeps_the_cursor() {
    let g = gateway().await;
    let page = g.list(1, "tools/list", json!({}), "json").await;
    // admin_users is hidden; delete_all (a scope to ask for) and write_file (allowed
    // for some arguments) stay.
    assert_eq!(
        names(&page, "tools", "name"),
        ["read_file", "delete_all", "write_file"]
    );
    assert_eq!(page["result"]["nextCursor"], "p2");
    assert_eq!(page["id"], 1);
    // The kept entries are passed on whole.
    assert_eq!(page["result"]["tools"][0], tool("read_file"));
    let page = g
        .list(2, "tools/list", json!({"cursor": "p2"}), "json")
        .await;
    assert_eq!(names(&page, "tools", "name"), ["echo"]);
    assert!(page["result"].get("nextCursor").is_none());
}

#[tokio::test]
async fn prompts_and_resources_lists_are_filtered_too() {
    let g = gateway().await;
    let prompts = g.list(1, "prompts/list", json!({}), "json").await;
    assert_eq!(names(&prompts, "prompts", "name"), ["summary"]);
    let resources = g.list(2, "resources/list", json!({}), "json").await;
    assert_eq!(names(&resources, "resources", "uri"), ["file:///tmp/a.txt"]);
}

#[tokio::test]
async fn tools_list_over_sse_is_filtered_event_by_event_as_it_streams() {
    let g = gateway().await;
    let mut r = g.send(7, "tools/list", json!({}), "sse").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    // The priming event arrives while the upstream holds the rest: nothing is
    // buffered until the list.
    let mut received = String::new();
    while !received.ends_with("\r\n\r\n") {
        let chunk = r.chunk().await.unwrap().expect("the first event streams");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(received, "id: e1\r\ndata:\r\n\r\n");
    g.release.notify_one();
    while let Some(chunk) = r.chunk().await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // The notification passes byte for byte.
    assert!(
        received.contains(
            "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\""
        ),
        "{received}"
    );
    // The answer: its other fields kept, its data the filtered list.
    let at = received
        .find("id: e3")
        .unwrap_or_else(|| panic!("no answer event in {received:?}"));
    let answer = &received[at..];
    assert!(answer.ends_with("\n\n"), "{answer:?}");
    assert!(answer.starts_with("id: e3\nevent: message\n"), "{answer:?}");
    let data: String = answer
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect::<Vec<_>>()
        .join("\n");
    let message: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        names(&message, "tools", "name"),
        ["read_file", "delete_all", "write_file"]
    );
    assert_eq!(message["result"]["nextCursor"], "p2");
    assert_eq!(message["id"], 7);
}

#[tokio::test]
async fn calling_a_hidden_tool_gets_the_answer_of_an_unknown_tool_and_reaches_nothing() {
    let g = gateway().await;
    let unknown = g
        .send(
            3,
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
            "json",
        )
        .await;
    assert_eq!(unknown.status(), 200);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(
        g.seen.lock().unwrap().as_slice(),
        ["tools/call no_such_tool"]
    );

    let hidden = g
        .send(
            3,
            "tools/call",
            json!({"name": "admin_users", "arguments": {}}),
            "json",
        )
        .await;
    assert_eq!(hidden.status(), 200);
    assert!(hidden.headers().get("www-authenticate").is_none());
    assert_eq!(hidden.headers()["content-type"], "application/json");
    let hidden: Value = hidden.json().await.unwrap();
    assert_eq!(hidden["error"]["code"], unknown["error"]["code"]);
    assert_eq!(
        hidden["error"]["message"],
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no_such_tool", "admin_users")
    );
    assert_eq!(hidden["id"], 3);
    assert_eq!(
        g.seen.lock().unwrap().len(),
        1,
        "the hidden call was not forwarded"
    );

    // A listed tool denied for its arguments is a 403, not "unknown".
    let denied = g
        .send(
            4,
            "tools/call",
            json!({"name": "write_file", "arguments": {"path": "/etc/x"}}),
            "json",
        )
        .await;
    assert_eq!(denied.status(), 403);
    let denied: Value = denied.json().await.unwrap();
    assert_eq!(denied["error"]["code"], -32003);

    // A hidden prompt and resource get their unknown answers.
    let prompt: Value = g
        .send(5, "prompts/get", json!({"name": "secret"}), "json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prompt["error"]["code"], -32602);
    let resource: Value = g
        .send(
            6,
            "resources/read",
            json!({"uri": "file:///etc/passwd"}),
            "json",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resource["error"]["code"], -32002);
    assert_eq!(resource["error"]["data"]["uri"], "file:///etc/passwd");
    assert_eq!(
        g.seen.lock().unwrap().len(),
        1,
        "only the unknown tool's call went"
    );
}

#[tokio::test]
async fn a_list_answer_the_gateway_cannot_read_is_refused_not_passed_on() {
    let g = gateway().await;
    for answer in ["twice", "gzip", "json-rpc"] {
        let r = g.send(1, "tools/list", json!({}), answer).await;
        assert_eq!(r.status(), 502, "{answer}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("admin_users"), "{answer}: {body}");
    }
}

#[tokio::test]
async fn a_resumed_stream_replaying_an_earlier_list_is_filtered_too() {
    let g = gateway().await;
    let r = signed(
        &g.signer,
        &g.token,
        Method::GET,
        &g.resource,
        "",
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("last-event-id", "6"),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("id: 7\n"), "{text}");
    assert!(text.contains("read_file"), "{text}");
    assert!(
        !text.contains("admin_users"),
        "the replayed list is filtered: {text}"
    );
}
