//! What each request carries (the protocol's headers, the token), how answers are
//! read, and the session of protocol versions before 2026-07-28.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::IntoResponse as _;
use http::StatusCode;
use serde_json::json;

use super::{at, challenge, client, echo, list_tools, no_tokens, result, start};
use crate::CallError;
use crate::session::PROTOCOL_VERSION;

#[tokio::test]
async fn a_stateless_call_carries_the_version_meta_and_operation_headers_and_no_token() {
    let server = start(result, no_tokens).await;
    let mut client = client(&server, None, None);
    let outcome = echo(&mut client).await;
    assert_eq!(outcome.response["result"], json!({"ok": true}));
    assert!(outcome.notifications.is_empty());
    client.call("tools/list", json!(null)).await.unwrap();

    let seen = at(&server, "/mcp");
    assert_eq!(seen.len(), 2, "no discovery without a 401");
    let first = &seen[0];
    assert_eq!(first.method, http::Method::POST);
    assert_eq!(
        first.header("accept"),
        Some("application/json, text/event-stream")
    );
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("mcp-protocol-version"), Some(PROTOCOL_VERSION));
    assert_eq!(first.header("mcp-method"), Some("tools/call"));
    assert_eq!(first.header("mcp-name"), Some("echo"));
    assert_eq!(first.header("authorization"), None);
    assert_eq!(first.header("mcp-session-id"), None);
    let rpc = first.rpc();
    assert_eq!(rpc["id"], 1);
    assert_eq!(
        rpc["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        PROTOCOL_VERSION
    );
    assert_eq!(rpc["params"]["arguments"], json!({}));
    // Ids count up; params that are not an object become `{_meta}` alone.
    let rpc = seen[1].rpc();
    assert_eq!(rpc["id"], 2);
    assert_eq!(
        rpc["params"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["_meta"]
    );
    assert!(!client.has_session());
}

#[tokio::test]
async fn an_sse_answer_gives_the_response_and_the_notifications_before_it() {
    let (_, outcome) = list_tools(|seen| {
        let id = seen.rpc()["id"].clone();
        let body = format!(
            ": keep-alive\n\n\
                 data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}}\n\n\
                 data: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"n\":1}}}}\n\n\
                 data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/after\"}}\n\n"
        );
        ([(http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    })
    .await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.response["result"], json!({"n": 1}));
    assert_eq!(outcome.notifications.len(), 1);
    assert_eq!(outcome.notifications[0]["method"], "notifications/progress");
}

#[tokio::test]
async fn an_answer_without_the_response_is_a_bad_response() {
    let (_, outcome) = list_tools(|_| {
        axum::Json(json!({"jsonrpc": "2.0", "id": 99, "result": {}})).into_response()
    })
    .await;
    let err = outcome.unwrap_err();
    assert!(
        matches!(&err, CallError::BadResponse(m) if m == "no response with id 1 among 1 messages"),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_starts_with_initialize_and_sends_its_id_on_every_later_request() {
    let server = start(
        |seen| {
            let rpc = seen.rpc();
            if rpc["method"] != "initialize" {
                return result(seen);
            }
            let body = json!({"jsonrpc": "2.0", "id": rpc["id"],
                "result": {"protocolVersion": "2025-06-18", "capabilities": {}}});
            ([("mcp-session-id", "s-1")], axum::Json(body)).into_response()
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None).with_protocol_version("2025-06-18");
    client.call("tools/list", json!({})).await.unwrap();
    assert!(client.has_session());
    // The session id is the session's credential: not in the client's `Debug`.
    let shown = format!("{client:?}");
    assert!(
        !shown.contains("s-1") && shown.contains("session_id: Some(\"..\")"),
        "{shown}"
    );

    let seen = at(&server, "/mcp");
    let methods: Vec<_> = seen.iter().map(|s| s.rpc()["method"].clone()).collect();
    assert_eq!(
        methods,
        ["initialize", "notifications/initialized", "tools/list"]
    );
    let init = seen[0].rpc();
    assert_eq!(init["params"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["params"]["clientInfo"]["name"], "mcp-auth");
    // The version is negotiated by `initialize`, not sent with it; no session yet.
    assert_eq!(seen[0].header("mcp-protocol-version"), None);
    assert_eq!(seen[0].header("mcp-session-id"), None);
    for later in &seen[1..] {
        assert_eq!(later.header("mcp-protocol-version"), Some("2025-06-18"));
        assert_eq!(later.header("mcp-session-id"), Some("s-1"));
    }
    // A session's requests carry no `_meta`.
    assert!(seen[2].rpc()["params"].get("_meta").is_none());
    assert_eq!(seen[2].rpc()["id"], 2);
}

#[tokio::test]
async fn a_failed_initialize_is_a_bad_response_and_nothing_else_is_sent() {
    let server = start(
        |seen| {
            axum::Json(json!({"jsonrpc": "2.0", "id": seen.rpc()["id"],
                "error": {"code": -32602, "message": "unsupported version"}}))
            .into_response()
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None).with_protocol_version("2025-06-18");
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::BadResponse(m) if m.starts_with("initialize failed")),
        "{err}"
    );
    assert_eq!(at(&server, "/mcp").len(), 1);
    assert!(!client.has_session());
}

#[tokio::test]
async fn forwarding_initialize_opens_a_new_session_at_the_negotiated_version() {
    let sessions = AtomicUsize::new(0);
    let server = start(
        move |seen| {
            let rpc = seen.rpc();
            if rpc["method"] != "initialize" {
                return result(seen);
            }
            let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
            let body = json!({"jsonrpc": "2.0", "id": rpc["id"],
                "result": {"protocolVersion": "2025-06-18"}});
            ([("mcp-session-id", format!("s-{n}"))], axum::Json(body)).into_response()
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None);
    let initialize = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26"}});
    let mut answers = Vec::new();
    client
        .forward(&initialize, |m| answers.push(m))
        .await
        .unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["id"], 7);
    let ping = json!({"jsonrpc": "2.0", "id": 8, "method": "ping"});
    client.send_message(&ping).await.unwrap();
    // A second initialize drops the first session before it is sent.
    client.forward(&initialize, |_| {}).await.unwrap();
    client.send_message(&ping).await.unwrap();

    let seen = at(&server, "/mcp");
    assert_eq!(seen.len(), 4);
    // The message goes as written (no `_meta` added, its own id).
    assert_eq!(seen[0].rpc(), initialize);
    assert_eq!(seen[0].header("mcp-session-id"), None);
    assert_eq!(seen[0].header("mcp-protocol-version"), None);
    assert_eq!(seen[1].header("mcp-session-id"), Some("s-1"));
    assert_eq!(seen[1].header("mcp-protocol-version"), Some("2025-06-18"));
    assert_eq!(seen[2].header("mcp-session-id"), None);
    assert_eq!(seen[2].header("mcp-protocol-version"), None);
    assert_eq!(seen[3].header("mcp-session-id"), Some("s-2"));
}

#[tokio::test]
async fn the_callers_headers_replace_the_clients_own_on_send_http() {
    let server = start(result, no_tokens).await;
    let mut client = client(&server, None, None);
    let mut headers = http::HeaderMap::new();
    headers.insert("mcp-session-id", "theirs".parse().unwrap());
    headers.insert("last-event-id", "e-4".parse().unwrap());
    let response = client
        .send_http(http::Method::GET, "", headers)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let seen = &at(&server, "/mcp")[0];
    assert_eq!(seen.method, http::Method::GET);
    assert_eq!(seen.header("mcp-session-id"), Some("theirs"));
    assert_eq!(seen.header("last-event-id"), Some("e-4"));
    // Not the client's version, no body, so no content type and no operation.
    assert_eq!(seen.header("mcp-protocol-version"), None);
    assert_eq!(seen.header("content-type"), None);
    assert_eq!(seen.header("mcp-method"), None);
}

#[tokio::test]
async fn the_event_stream_is_none_on_405_and_a_refusal_quotes_the_body() {
    let server = start(
        |seen| match seen.method {
            http::Method::GET => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        },
        no_tokens,
    )
    .await;
    let mut client = client(&server, None, None);
    assert!(client.open_event_stream().await.unwrap().is_none());
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Refused { status: 500, challenge } if challenge == "boom"),
        "{err}"
    );
}

#[tokio::test]
async fn a_401_without_credentials_names_the_challenge_and_discovers_nothing() {
    let (server, outcome) = list_tools(|_| {
        challenge(
            StatusCode::UNAUTHORIZED,
            r#"Bearer error="invalid_token", error_description="expired", scope="a b""#,
        )
    })
    .await;
    match outcome.unwrap_err() {
        CallError::NeedsCredentials { challenge } => {
            assert_eq!(challenge, "Bearer invalid_token: expired (scope a b)")
        }
        other => panic!("{other}"),
    }
    assert_eq!(server.seen().len(), 1);
}

/// Node's and uvicorn's servers (under the MCP SDKs) close a keep-alive connection
/// after 5 s idle. The client drops a pooled connection first (after 4 s,
/// `POOL_IDLE_TIMEOUT`), so a call after 5 s of quiet goes out on a new connection,
/// not into one the server is closing (the stand-in server closes such a connection
/// unanswered, every time).
#[tokio::test]
async fn a_call_after_five_quiet_seconds_goes_out_on_a_new_connection() {
    let server = mcp_auth_testkit::closing_upstream(std::time::Duration::from_secs(5)).await;
    let mut client = crate::McpClient::new(server.url.clone(), None, None);
    client.call("tools/list", json!(null)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await;
    let outcome = client.call("tools/list", json!(null)).await.unwrap();
    assert_eq!(outcome.response["result"], json!({}));
    assert_eq!((server.connections(), server.answered()), (2, 2));
}
