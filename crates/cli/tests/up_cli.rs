//! `mcp-auth up` as a process, over HTTP: the banner's token works, the scope policy
//! asks for mcp:write on write_note, an HTTPSig-bound client reaches the demo server
//! with its identity, a 2025-11-25 session (initialize, SSE progress, GET stream,
//! DELETE) goes through the gateway intact, SIGTERM drains, and `mcp-auth login`
//! signs in through the browser. One test per rule. The client commands (`call`,
//! `token`, `bridge`, the rmcp transport) against the stack are in
//! `up_client_commands.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use mcp_auth_client::{HttpSigSigner, ProofKey};
use serde_json::{Value, json};

use up_env::{Up, messages, meta, up};

mod up_env;

#[tokio::test]
async fn the_banner_client_calls_a_tool_with_a_read_token() {
    let up = up(&[]);
    let read = up.bearer_token("mcp:read").await;
    let r = up.call(&read, "echo", json!({"text": "hello"})).await;
    assert_eq!(r.status(), 200);
    let result = &messages(&r.text().await.unwrap())[0]["result"];
    assert_eq!(result["content"][0]["text"], "hello");
}

#[tokio::test]
async fn write_note_without_mcp_write_is_403_with_an_insufficient_scope_challenge() {
    let up = up(&[]);
    let read = up.bearer_token("mcp:read").await;
    let r = up.call(&read, "write_note", json!({"note": "x"})).await;
    assert_eq!(r.status(), 403);
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges[0].starts_with(
            "Bearer error=\"insufficient_scope\", error_description=\"this operation needs the scopes mcp:read mcp:write\", scope=\"mcp:read mcp:write\""
        ),
        "{challenges:?}"
    );
}

/// Step-up: a token with both scopes.
#[tokio::test]
async fn a_token_with_mcp_write_may_call_write_note() {
    let up = up(&[]);
    let both = up.bearer_token("mcp:read mcp:write").await;
    let r = up.call(&both, "write_note", json!({"note": "x"})).await;
    assert_eq!(r.status(), 200);
    let result = &messages(&r.text().await.unwrap())[0]["result"];
    assert_eq!(result["content"][0]["text"], "saved: x");
}

/// The identity reaches the demo server; the token does not.
#[tokio::test]
async fn the_callers_identity_reaches_the_demo_server() {
    let up = up(&[]);
    let read = up.bearer_token("mcp:read").await;
    let r = up.call(&read, "whoami", json!({})).await;
    let text = messages(&r.text().await.unwrap())[0]["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let who: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(who["subject"], "demo");
    assert_eq!(
        who["issuer"],
        up.issuer.as_str(),
        "a user is (issuer, subject)"
    );
    assert_eq!(who["profile"], "bearer");
    assert_eq!(who["scope"], "mcp:read");
    assert_eq!(who["mcp_protocol_version"], "2026-07-28");
}

/// Readiness: the upstream and the replay cache answer.
#[tokio::test]
async fn readyz_answers_when_the_upstream_and_the_replay_cache_do() {
    let up = up(&[]);
    let base = up.resource.trim_end_matches("/mcp");
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A signed whoami request of an HTTPSig-bound `demo-httpsig` token: its headers and
/// body.
async fn signed_whoami(up: &Up) -> (http::HeaderMap, String) {
    let signer = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let form = format!(
        "grant_type=client_credentials&scope=mcp%3Aread&resource={}",
        url::form_urlencoded::byte_serialize(up.resource.as_bytes()).collect::<String>()
    );
    let token = mcp_auth_client::request_token(
        &reqwest::Client::new(),
        &format!("{}/token", up.issuer),
        &form,
        Some(("demo-httpsig", &up.secret)),
        Some(&signer.clone().into()),
        mcp_auth_core::unix_now(),
    )
    .await
    .unwrap();
    assert_eq!(token.token_type, "httpsig");
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}, "_meta": meta()}})
    .to_string();
    let (mut parts, ()) = http::Request::post(&up.resource)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .sign_mcp_request(
            &mut parts,
            &token.access_token,
            body.as_bytes(),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    (parts.headers, body)
}

async fn send_signed(up: &Up, headers: http::HeaderMap, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(&up.resource)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_httpsig_bound_client_reaches_the_demo_server_with_its_identity() {
    let up = up(&["--httpsig-only"]);
    let (headers, body) = signed_whoami(&up).await;
    let r = send_signed(&up, headers, body).await;
    assert_eq!(r.status(), 200);
    let text = messages(&r.text().await.unwrap())[0]["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let who: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(who["subject"], "demo-httpsig");
    assert_eq!(who["profile"], "httpsig");
}

/// The same signed request again is a replay.
#[tokio::test]
async fn a_replayed_signed_request_is_refused() {
    let up = up(&["--httpsig-only"]);
    let (headers, body) = signed_whoami(&up).await;
    let r = send_signed(&up, headers.clone(), body.clone()).await;
    assert_eq!(r.status(), 200, "the first request");
    let r = send_signed(&up, headers, body).await;
    assert_eq!(r.status(), 401);
}

/// Bearer is refused outright.
#[tokio::test]
async fn httpsig_only_refuses_bearer_tokens() {
    let up = up(&["--httpsig-only"]);
    let bearer = up.bearer_token("mcp:read").await;
    let r = up.call(&bearer, "echo", json!({"text": "x"})).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("HTTPSig error=\"invalid_token\", error_description=\"this resource requires access tokens bound")
    );
}

/// A 2025-11-25 request with a Bearer token, in `session` when there is one.
async fn session_post(
    up: &Up,
    token: &str,
    body: Value,
    session: Option<&str>,
) -> reqwest::Response {
    let mut b = reqwest::Client::new()
        .post(&up.resource)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = session {
        b = b
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    b.send().await.unwrap()
}

/// A stack, a read token, and a 2025-11-25 session initialized through the gateway
/// (initialize answered with the version and a session id; `initialized` accepted).
async fn initialized_session() -> (Up, String, String) {
    let up = up(&[]);
    let token = up.bearer_token("mcp:read").await;
    let r = session_post(
        &up,
        &token,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        None,
    )
    .await;
    assert_eq!(r.status(), 200, "initialize");
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let init = messages(&r.text().await.unwrap());
    assert_eq!(init[0]["result"]["protocolVersion"], "2025-11-25");
    let r = session_post(
        &up,
        &token,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await;
    assert_eq!(r.status(), 202, "notifications/initialized");
    (up, token, session)
}

#[tokio::test]
async fn a_2025_11_25_session_initializes_through_the_gateway() {
    let (_up, _token, session) = initialized_session().await;
    assert!(!session.is_empty(), "a session id");
}

/// The slow tool: each progress notification arrives in its own chunk, before the
/// chunk with the result (the gateway does not buffer the stream).
#[tokio::test]
async fn a_session_streams_progress_before_the_result_unbuffered() {
    let (up, token, session) = initialized_session().await;
    let mut r = session_post(
        &up,
        &token,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"steps": 3, "delay_ms": 150},
            "_meta": {"progressToken": "p1"}}}),
        Some(&session),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut order = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        for m in messages(&String::from_utf8_lossy(&chunk)) {
            order.push(if m.get("result").is_some() {
                "result".to_owned()
            } else {
                m["params"]["progress"].to_string()
            });
        }
    }
    assert_eq!(order, ["1.0", "2.0", "3.0", "result"]);
}

/// The standalone GET stream opens with the session id.
#[tokio::test]
async fn the_standalone_get_stream_opens_with_the_session_id() {
    let (up, token, session) = initialized_session().await;
    let r = reqwest::Client::new()
        .get(&up.resource)
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
}

/// DELETE ends the session; the next call on it is refused by the server.
#[tokio::test]
async fn delete_ends_the_session_and_the_next_call_on_it_is_refused() {
    let (up, token, session) = initialized_session().await;
    let r = reqwest::Client::new()
        .delete(&up.resource)
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = session_post(
        &up,
        &token,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        Some(&session),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn sigterm_lets_a_streaming_call_in_flight_finish_then_exits() {
    let mut up = up(&[]);
    let token = up.bearer_token("mcp:read").await;
    let mut r = up
        .call(&token, "slow", json!({"steps": 3, "delay_ms": 300}))
        .await;
    assert_eq!(r.status(), 200);
    // The call is under way (its stream is open); now ask the process to stop.
    let status = Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let last = messages(&String::from_utf8_lossy(&body)).pop().unwrap();
    assert_eq!(last["result"]["content"][0]["text"], "done after 3 steps");
    let exit = tokio::task::spawn_blocking(move || {
        let status = up.child.wait().unwrap();
        drop(up);
        status
    })
    .await
    .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The kept token `field` for the stack's resource in the token cache `cache`.
fn kept(cache: &std::path::Path, up: &Up, field: &str) -> Value {
    let all: Value = serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    all[&up.resource][field].clone()
}

/// Sets the kept token of `up`'s resource to have expired, with `refresh_token`
/// instead of the kept one when given.
fn expire_kept_token(cache: &std::path::Path, up: &Up, refresh_token: Option<Value>) {
    let mut all: Value = serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    all[&up.resource]["expires_at"] = json!(1);
    if let Some(r) = refresh_token {
        all[&up.resource]["refresh_token"] = r;
    }
    std::fs::write(cache, serde_json::to_vec(&all).unwrap()).unwrap();
}

/// Runs `mcp-auth call` against the stack with the token cache `cache` and no
/// credentials; (exit code, stdout, stderr).
fn call_with_cache(up: &Up, cache: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("call")
        .arg(&up.resource)
        .args(args)
        .env("MCP_AUTH_TOKEN_CACHE", cache)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A stack and a token cache (in the returned directory) into which `mcp-auth login`
/// signed in through the browser as the demo user (asserted).
async fn logged_in() -> (Up, tempfile::TempDir, std::path::PathBuf) {
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    let (url, rest) = up_env::login(
        &[&up.resource],
        &[("MCP_AUTH_TOKEN_CACHE", cache.as_os_str())],
        (&up.issuer, "demo", &up.secret),
        "mcp:read",
    )
    .await;
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    assert!(
        rest.iter().any(|l| l.starts_with("Signed in at ")),
        "{rest:?}"
    );
    (up, dir, cache)
}

/// The kept token works without credentials.
#[tokio::test]
async fn mcp_auth_login_signs_in_through_the_browser_and_call_uses_the_kept_token() {
    let (up, _dir, cache) = logged_in().await;
    let (code, out, err) = call_with_cache(&up, &cache, &["tools/call", "whoami"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("demo"), "{out}");
    assert!(
        kept(&cache, &up, "refresh_token").is_string(),
        "a refresh token is kept"
    );
    assert_eq!(
        kept(&cache, &up, "registered_client")["token_endpoint_auth_method"],
        "none"
    );
}

/// A stack, a token cache after login, and the refresh token login kept; the kept
/// token has then expired and `call` refreshed it (asserted successful).
async fn logged_in_and_refreshed() -> (Up, tempfile::TempDir, std::path::PathBuf, Value, Value) {
    let (up, dir, cache) = logged_in().await;
    let first_access = kept(&cache, &up, "access_token");
    let first_refresh = kept(&cache, &up, "refresh_token");
    expire_kept_token(&cache, &up, None);
    let (code, out, err) = call_with_cache(
        &up,
        &cache,
        &["tools/call", "echo", "--arg", "text=after refresh"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("after refresh"), "{out}");
    (up, dir, cache, first_access, first_refresh)
}

/// Once the kept token has expired, it is refreshed without the browser: new access
/// token, rotated refresh token (public client), same call succeeds.
#[tokio::test]
async fn call_refreshes_an_expired_kept_token_without_the_browser() {
    let (up, _dir, cache, first_access, first_refresh) = logged_in_and_refreshed().await;
    assert_ne!(
        kept(&cache, &up, "access_token"),
        first_access,
        "a new access token"
    );
    assert_ne!(
        kept(&cache, &up, "refresh_token"),
        first_refresh,
        "a rotated refresh token"
    );
    assert!(
        kept(&cache, &up, "expires_at").as_i64().unwrap() > 1,
        "a new expiry"
    );
}

/// A refresh token the AS no longer honours (the rotated-away one) ends in a clear
/// message, not a browser: sign in again.
#[tokio::test]
async fn a_refresh_token_the_as_no_longer_honours_asks_to_sign_in_again() {
    let (up, _dir, cache, _, first_refresh) = logged_in_and_refreshed().await;
    expire_kept_token(&cache, &up, Some(first_refresh));
    let (code, _, err) = call_with_cache(&up, &cache, &["tools/list"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mcp-auth login"), "{err}");
}
