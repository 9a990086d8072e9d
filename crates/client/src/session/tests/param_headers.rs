//! SEP-2243 custom headers: the tools a server lists with `x-mcp-header`
//! annotations, and the `Mcp-Param-*` headers of their calls, over real HTTP: the
//! test server lists tools and records the headers of every call it receives.

use axum::response::{IntoResponse as _, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Seen, at, challenge, client, client_credentials, issuing, no_tokens, start};
use crate::{CallError, HttpSigSigner, McpClient, ProofKey};

/// The tools the test server lists: `execute_sql` (annotated string, integer,
/// boolean and string parameters, one nested, one not annotated), `plain` (no
/// annotation), and three with invalid annotations.
fn tools() -> Value {
    json!([
        {"name": "execute_sql", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "flag": {"type": "boolean", "x-mcp-header": "Flag"},
            "text": {"type": "string", "x-mcp-header": "Text"},
            "target": {"type": "object", "properties": {
                "zone": {"type": "string", "x-mcp-header": "Zone"}}},
            "query": {"type": "string"}
        }}},
        {"name": "plain", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string"}}}},
        {"name": "invalid_empty", "inputSchema": {"type": "object", "properties": {
            "v": {"type": "string", "x-mcp-header": ""}}}},
        {"name": "invalid_number", "inputSchema": {"type": "object", "properties": {
            "v": {"type": "number", "x-mcp-header": "Score"}}}},
        {"name": "invalid_duplicate", "inputSchema": {"type": "object", "properties": {
            "a": {"type": "string", "x-mcp-header": "Region"},
            "b": {"type": "string", "x-mcp-header": "REGION"}}}}
    ])
}

/// An MCP endpoint answering `tools/list` with `tools` and anything else with a
/// result.
fn listing(tools: Value) -> impl Fn(&Seen) -> Response + Send + Sync + 'static {
    move |seen| {
        let rpc = seen.rpc();
        let result = match rpc["method"].as_str() {
            Some("tools/list") => json!({"tools": tools.clone()}),
            _ => json!({"content": []}),
        };
        axum::Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result})).into_response()
    }
}

/// The `Mcp-Param-*` headers of `seen`, sorted, as (name, value).
fn param_headers(seen: &Seen) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = seen
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("mcp-param-"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Calls `tool` with `arguments`; the request the server received.
async fn call(
    client: &mut McpClient,
    server: &super::Recording<Seen>,
    tool: &str,
    arguments: Value,
) -> Seen {
    client
        .call("tools/call", json!({"name": tool, "arguments": arguments}))
        .await
        .unwrap();
    at(server, "/mcp").pop().unwrap()
}

fn listed_names(outcome: &super::super::CallOutcome) -> Vec<&str> {
    outcome.response["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

// Fails if the arguments are not mirrored, or mirrored with the wrong encoding, or
// unannotated / null / absent ones are.
#[tokio::test]
async fn annotated_arguments_are_mirrored_plain_or_base64_and_null_ones_omitted() {
    let server = start(listing(tools()), no_tokens).await;
    let mut client = client(&server, None, None);
    client.call("tools/list", json!({})).await.unwrap();
    let seen = call(
        &mut client,
        &server,
        "execute_sql",
        json!({"region": "us-west1", "count": 42, "flag": false, "text": "Hello, 世界",
               "target": {"zone": " padded "}, "query": "SELECT 1"}),
    )
    .await;
    assert_eq!(
        param_headers(&seen),
        pairs(&[
            ("mcp-param-count", "42"),
            ("mcp-param-flag", "false"),
            ("mcp-param-region", "us-west1"),
            ("mcp-param-text", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            ("mcp-param-zone", "=?base64?IHBhZGRlZCA=?="),
        ])
    );
    assert_eq!(seen.header("mcp-name"), Some("execute_sql"));

    let seen = call(
        &mut client,
        &server,
        "execute_sql",
        json!({"region": "eu", "flag": null}),
    )
    .await;
    assert_eq!(param_headers(&seen), pairs(&[("mcp-param-region", "eu")]));
}

// Fails if an invalid tool reaches the caller, or a valid one is dropped.
#[tokio::test]
async fn tools_with_invalid_annotations_are_left_out_of_the_list() {
    let server = start(listing(tools()), no_tokens).await;
    let mut client = client(&server, None, None);
    let outcome = client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(listed_names(&outcome), ["execute_sql", "plain"]);
    assert_eq!(client.tool_headers().len(), 1, "only the annotated tool");
    // Called anyway (by name), an invalid tool gets no headers.
    let seen = call(&mut client, &server, "invalid_duplicate", json!({"a": "x"})).await;
    assert!(param_headers(&seen).is_empty());
}

// Fails if headers are made up for a tool whose schema the client never saw, or
// kept from a definition the server no longer lists.
#[tokio::test]
async fn a_tool_never_listed_or_listed_anew_without_annotations_gets_no_headers() {
    let server = start(listing(tools()), no_tokens).await;
    let mut client = client(&server, None, None);
    let seen = call(
        &mut client,
        &server,
        "execute_sql",
        json!({"region": "us-west1"}),
    )
    .await;
    assert!(param_headers(&seen).is_empty(), "never listed");
    let seen = call(&mut client, &server, "plain", json!({"region": "us-west1"})).await;
    assert!(param_headers(&seen).is_empty());

    // Listed with annotations, then with none: the latest definition wins.
    client.call("tools/list", json!({})).await.unwrap();
    client
        .tool_headers()
        .learn_tools_list(&mut json!({"tools": [
            {"name": "execute_sql", "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string"}}}}
        ]}));
    let seen = call(
        &mut client,
        &server,
        "execute_sql",
        json!({"region": "us-west1"}),
    )
    .await;
    assert!(param_headers(&seen).is_empty());
}

/// `n` annotated tools `t0`, `t1`, …
fn many_tools(n: usize) -> Value {
    (0..n)
        .map(|i| {
            json!({"name": format!("t{i}"), "inputSchema": {"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}})
        })
        .collect()
}

// Fails if a server can make the client remember tools without bound.
#[tokio::test]
async fn the_remembered_tools_are_capped_and_the_oldest_forgotten() {
    let server = start(listing(many_tools(3)), no_tokens).await;
    let mut client = client(&server, None, None).with_max_remembered_tools(2);
    let outcome = client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(listed_names(&outcome).len(), 3, "the list itself is whole");
    assert_eq!(client.tool_headers().len(), 2);
    let seen = call(&mut client, &server, "t0", json!({"region": "a"})).await;
    assert!(param_headers(&seen).is_empty(), "t0 was forgotten");
    let seen = call(&mut client, &server, "t2", json!({"region": "a"})).await;
    assert_eq!(param_headers(&seen), pairs(&[("mcp-param-region", "a")]));
}

// Fails if one tool's annotations can cost the client unbounded memory.
#[tokio::test]
async fn a_tool_whose_annotations_are_too_large_to_remember_is_left_out() {
    let long = "p".repeat(400);
    let properties: serde_json::Map<String, Value> = (0..60)
        .map(|i| {
            (
                format!("{long}{i}"),
                json!({"type": "string", "x-mcp-header": format!("H{i}")}),
            )
        })
        .collect();
    let tools = json!([
        {"name": "huge", "inputSchema": {"type": "object", "properties": properties}},
        {"name": "small", "inputSchema": {"type": "object", "properties": {
            "r": {"type": "string", "x-mcp-header": "R"}}}}
    ]);
    let server = start(listing(tools), no_tokens).await;
    let mut client = client(&server, None, None);
    let outcome = client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(listed_names(&outcome), ["small"]);
    assert!(client.tool_headers().get("huge").is_none());
}

// Fails if a value that cannot be mirrored is sent anyway (or sent without it).
#[tokio::test]
async fn an_argument_that_cannot_be_mirrored_fails_the_call_before_sending() {
    let server = start(listing(tools()), no_tokens).await;
    let mut client = client(&server, None, None);
    client.call("tools/list", json!({})).await.unwrap();
    let err = client
        .call(
            "tools/call",
            json!({"name": "execute_sql", "arguments": {"region": ["a"]}}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::ParamHeader { tool, .. } if tool == "execute_sql"),
        "{err}"
    );
    assert_eq!(at(&server, "/mcp").len(), 1, "only the tools/list was sent");
}

// The bridge's path: messages forwarded as written, answers read on their own.
// Fails if the forwarded tools/list answer is not filtered or not learnt from.
#[tokio::test]
async fn forwarded_messages_are_filtered_and_mirrored_as_calls_are() {
    let server = start(listing(tools()), no_tokens).await;
    let mut client = client(&server, None, None);
    let list = json!({"jsonrpc": "2.0", "id": "l1", "method": "tools/list", "params": {}});
    let mut answers = Vec::new();
    client
        .send_message(&list)
        .await
        .unwrap()
        .for_each(|m| answers.push(m))
        .await
        .unwrap();
    let names: Vec<&str> = answers[0]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["execute_sql", "plain"]);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "execute_sql", "arguments": {"region": "us-west1"}}});
    client.send_message(&call).await.unwrap();
    let seen = at(&server, "/mcp").pop().unwrap();
    assert_eq!(
        param_headers(&seen),
        pairs(&[("mcp-param-region", "us-west1")])
    );
}

// Fails if an SSE answer to tools/list reaches the caller unfiltered.
#[tokio::test]
async fn an_sse_tools_list_answer_is_filtered_too() {
    let server = start(
        |seen: &Seen| {
            let rpc = seen.rpc();
            let answer = json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {"tools": tools()}});
            let body = format!(
                "event: message\ndata: {}\n\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}),
                answer
            );
            ([(http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None);
    let outcome = client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(listed_names(&outcome), ["execute_sql", "plain"]);
    assert_eq!(outcome.notifications.len(), 1);
    assert!(client.tool_headers().get("execute_sql").is_some());
}

// Fails if a signed request goes without its Mcp-Param-* headers (they are added
// before the signature is made, on the same request).
#[tokio::test]
async fn a_signed_call_carries_the_param_headers() {
    let server = start(
        |seen: &Seen| {
            if seen.header("authorization") == Some("HTTPSig at-1") {
                listing(tools())(seen)
            } else {
                challenge(StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#)
            }
        },
        issuing("httpsig", false),
    )
    .await;
    let key = ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let mut client = client(
        &server,
        Some(client_credentials()),
        Some(HttpSigSigner::new(key).into()),
    );
    client.call("tools/list", json!({})).await.unwrap();
    let seen = call(
        &mut client,
        &server,
        "execute_sql",
        json!({"region": "us-west1"}),
    )
    .await;
    assert!(seen.header("signature").is_some());
    assert_eq!(
        param_headers(&seen),
        pairs(&[("mcp-param-region", "us-west1")])
    );
}

// Fails if a new session keeps the tools of the last one.
#[tokio::test]
async fn a_new_session_forgets_the_tools_of_the_last() {
    let server = start(
        |seen: &Seen| {
            let rpc = seen.rpc();
            if rpc["method"] == "initialize" {
                axum::Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "serverInfo": {"name": "t", "version": "1"}}}))
                .into_response()
            } else {
                listing(tools())(seen)
            }
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None);
    client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(client.tool_headers().len(), 1);
    let init = json!({"jsonrpc": "2.0", "id": 9, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}});
    client.forward(&init, |_| {}).await.unwrap();
    assert!(client.tool_headers().is_empty());
}

/// An MCP endpoint that checks every `tools/call` as a server must (SEP-2243
/// "Server Behavior", with `mcp_param::check_call_headers` against the listed
/// schema): 400 and `HeaderMismatch` when the `Mcp-Param-*` headers disagree with
/// the body.
fn strict(seen: &Seen) -> Response {
    let rpc = seen.rpc();
    if rpc["method"] == "tools/call" {
        let listed = tools();
        let schema = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == rpc["params"]["name"])
            .map(|t| t["inputSchema"].clone())
            .unwrap_or(json!({}));
        let params = mcp_auth_core::mcp_param::param_headers(&schema).unwrap_or_default();
        if let Err(mismatch) = mcp_auth_core::mcp_param::check_call_headers(
            &params,
            &seen.headers,
            rpc["params"].get("arguments"),
        ) {
            let id = serde_json::value::RawValue::from_string(rpc["id"].to_string()).unwrap();
            return (
                StatusCode::BAD_REQUEST,
                [(http::header::CONTENT_TYPE, "application/json")],
                mcp_auth_core::mcp_param::error_body(Some(&id), &mismatch),
            )
                .into_response();
        }
    }
    listing(tools())(seen)
}

// Fails if a refused call is not retried after relisting, or retried blindly.
#[tokio::test]
async fn a_header_mismatch_is_retried_once_after_listing_the_tools() {
    let server = start(strict, no_tokens).await;
    let mut client = client(&server, None, None);
    let outcome = client
        .call(
            "tools/call",
            json!({"name": "execute_sql", "arguments": {"region": "us-west1"}}),
        )
        .await
        .unwrap();
    assert!(outcome.response.get("result").is_some());
    let seen = at(&server, "/mcp");
    let methods: Vec<Value> = seen.iter().map(|s| s.rpc()["method"].clone()).collect();
    assert_eq!(methods, ["tools/call", "tools/list", "tools/call"]);
    assert!(param_headers(&seen[0]).is_empty());
    assert_eq!(
        param_headers(&seen[2]),
        pairs(&[("mcp-param-region", "us-west1")])
    );
}

// Fails if a refusal the listing cannot fix is retried (or loops).
#[tokio::test]
async fn a_header_mismatch_for_a_tool_listed_without_annotations_is_not_retried() {
    let server = start(
        |seen: &Seen| {
            let rpc = seen.rpc();
            if rpc["method"] == "tools/call" {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"jsonrpc": "2.0", "id": rpc["id"],
                        "error": {"code": -32020, "message": "Header mismatch"}})),
                )
                    .into_response();
            }
            listing(tools())(seen)
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None);
    let err = client
        .call("tools/call", json!({"name": "plain", "arguments": {}}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Refused { status: 400, .. }),
        "{err}"
    );
    let methods: Vec<Value> = at(&server, "/mcp")
        .iter()
        .map(|s| s.rpc()["method"].clone())
        .collect();
    assert_eq!(methods, ["tools/call", "tools/list"]);
}
