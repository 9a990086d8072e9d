//! `mcp-auth up` as a process: the banner's commands work, the scope policy asks for
//! mcp:write on write_note, an HTTPSig-bound client reaches the demo server with its
//! identity, and a 2025-11-25 session (initialize, SSE progress, GET stream, DELETE)
//! goes through the gateway intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_testkit::{client_credentials, hidden, set_cookie};
use serde_json::{Value, json};

struct Up {
    child: Child,
    _dir: tempfile::TempDir,
    resource: String,
    issuer: String,
    secret: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcp-auth up` on ephemeral ports and reads its banner.
fn up(extra: &[&str]) -> Up {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--as-listen",
            "127.0.0.1:0",
            "--demo-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut resource, mut issuer, mut secret) = (None, None, None);
    while resource.is_none() || issuer.is_none() || secret.is_none() {
        let line = lines.next().expect("the banner").unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.contains("MCP endpoint (protected)") {
            resource = words.last().map(|s| (*s).to_owned());
        } else if line.contains("authorization server") {
            issuer = words.last().map(|s| (*s).to_owned());
        } else if line.trim_start().starts_with("clients") {
            let at = words.iter().position(|w| *w == "secret").unwrap();
            secret = Some(words[at + 1].to_owned());
        }
    }
    Up {
        child,
        _dir: dir,
        resource: resource.unwrap(),
        issuer: issuer.unwrap(),
        secret: secret.unwrap(),
    }
}

impl Up {
    async fn bearer_token(&self, scope: &str) -> String {
        let request =
            client_credentials(&self.issuer, ("demo", &self.secret), scope, &self.resource);
        let r = mcp_auth_testkit::json(request).await;
        r["access_token"].as_str().unwrap().to_owned()
    }

    /// A stateless (2026-07-28) tools/call with a Bearer token.
    async fn call(&self, token: &str, name: &str, arguments: Value) -> reqwest::Response {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": name, "arguments": arguments, "_meta": meta()}});
        reqwest::Client::new()
            .post(&self.resource)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {}})
}

/// The JSON-RPC messages of an SSE (or JSON) body.
fn messages(body: &str) -> Vec<Value> {
    if body.trim_start().starts_with('{') {
        return vec![serde_json::from_str(body).unwrap()];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_banner_commands_work_and_write_note_needs_the_write_scope() {
    let up = up(&[]);
    let read = up.bearer_token("mcp:read").await;
    let r = up.call(&read, "echo", json!({"text": "hello"})).await;
    assert_eq!(r.status(), 200);
    let result = &messages(&r.text().await.unwrap())[0]["result"];
    assert_eq!(result["content"][0]["text"], "hello");
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
    // Step-up: a token with both scopes.
    let both = up.bearer_token("mcp:read mcp:write").await;
    let r = up.call(&both, "write_note", json!({"note": "x"})).await;
    assert_eq!(r.status(), 200);
    let result = &messages(&r.text().await.unwrap())[0]["result"];
    assert_eq!(result["content"][0]["text"], "saved: x");
    // The identity reaches the demo server; the token does not.
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
    // Readiness: the upstream and the replay cache answer.
    let base = up.resource.trim_end_matches("/mcp");
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_httpsig_bound_client_reaches_the_demo_server_and_httpsig_only_refuses_bearer() {
    let up = up(&["--httpsig-only"]);
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
    let r = reqwest::Client::new()
        .post(&up.resource)
        .headers(parts.headers.clone())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = messages(&r.text().await.unwrap())[0]["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let who: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(who["subject"], "demo-httpsig");
    assert_eq!(who["profile"], "httpsig");
    // The same request again is a replay.
    let r = reqwest::Client::new()
        .post(&up.resource)
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Bearer is refused outright.
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

#[tokio::test]
async fn a_2025_11_25_session_streams_progress_and_ends_through_the_gateway() {
    let up = up(&[]);
    let token = up.bearer_token("mcp:read").await;
    let client = reqwest::Client::new();
    let post = |body: Value, session: Option<&str>| {
        let mut b = client
            .post(&up.resource)
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            b = b
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        b.send()
    };
    let r = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let init = messages(&r.text().await.unwrap());
    assert_eq!(init[0]["result"]["protocolVersion"], "2025-11-25");
    let r = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    // The slow tool: each progress notification arrives in its own chunk, before
    // the chunk with the result (the gateway does not buffer the stream).
    let mut r = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"steps": 3, "delay_ms": 150},
            "_meta": {"progressToken": "p1"}}}),
        Some(&session),
    )
    .await
    .unwrap();
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
    // The standalone GET stream opens with the session id.
    let r = client
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
    drop(r);
    // DELETE ends the session; the next call on it is refused by the server.
    let r = client
        .delete(&up.resource)
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        Some(&session),
    )
    .await
    .unwrap();
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

/// Runs `mcp-auth call` against the stack; (exit code, stdout, stderr).
fn mcp_call(up: &Up, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("call")
        .arg(&up.resource)
        .args(args)
        .env("MCP_AUTH_CLIENT_SECRET", &up.secret)
        // Never the user's own token cache.
        .env("MCP_AUTH_TOKEN_CACHE", up._dir.path().join("tokens.json"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn dpop_c_2_mcp_auth_call_dpop_presents_a_dpop_token_and_steps_up() {
    let up = up(&[]);
    // DPoP (RFC 9449): any client gets a DPoP-bound token by sending a proof, and
    // the gateway of `up` accepts the DPoP scheme; step-up keeps the binding.
    let (code, out, err) = mcp_call(
        &up,
        &[
            "tools/call",
            "whoami",
            "--client-id",
            "demo",
            "--dpop",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let response: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let who: Value =
        serde_json::from_str(response["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(who["profile"], "dpop");
    let (code, out, err) = mcp_call(
        &up,
        &[
            "tools/call",
            "write_note",
            "--arg",
            "note=d",
            "--client-id",
            "demo",
            "--dpop",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "saved: d\n"), "{err}");
    let (code, _, err) = mcp_call(
        &up,
        &["tools/list", "--client-id", "demo", "--dpop", "--httpsig"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("choose one"), "{err}");
    // `up --httpsig-only` accepts no DPoP: the client's DPoP token is refused.
    let strict = self::up(&["--httpsig-only"]);
    let (code, _, err) = mcp_call(&strict, &["tools/list", "--client-id", "demo", "--dpop"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not accept the DPoP scheme"), "{err}");
}

#[tokio::test]
async fn mcp_auth_call_discovers_signs_and_steps_up() {
    let up = up(&[]);
    // The banner's command: HTTPSig-bound token, every request signed.
    let (code, out, err) = mcp_call(
        &up,
        &[
            "tools/call",
            "echo",
            "--arg",
            "text=hello",
            "--client-id",
            "demo-httpsig",
            "--httpsig",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "hello\n"), "{err}");
    // whoami shows the bound profile.
    let (code, out, _) = mcp_call(
        &up,
        &[
            "tools/call",
            "whoami",
            "--client-id",
            "demo-httpsig",
            "--httpsig",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let response: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let who: Value =
        serde_json::from_str(response["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(who["profile"], "httpsig");
    assert_eq!(who["subject"], "demo-httpsig");

    // Step-up: the challenge names mcp:read; write_note answers 403 for mcp:write; the
    // client asks again for both and the call succeeds.
    let (code, out, err) = mcp_call(
        &up,
        &[
            "tools/call",
            "write_note",
            "--arg",
            "note=x",
            "--client-id",
            "demo",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "saved: x\n"), "{err}");
    // Progress goes to stderr, the result to stdout.
    let (code, out, err) = mcp_call(
        &up,
        &[
            "tools/call",
            "slow",
            "--arg",
            "steps=2",
            "--arg",
            "delay_ms=10",
            "--client-id",
            "demo",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "done after 2 steps\n"), "{err}");
    // tools/list, readable.
    let (code, out, _) = mcp_call(&up, &["tools/list", "--client-id", "demo"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("write_note")), "{out}");
    // Without credentials: a clear message and exit 2.
    let (code, _, err) = mcp_call(&up, &["tools/list"]);
    assert_eq!(code, 2);
    assert!(err.contains("the server requires authorization"), "{err}");
    // A wrong secret: what the AS said.
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args([
            "call",
            &up.resource,
            "tools/list",
            "--client-id",
            "demo",
            "--client-secret",
            "wrong",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid_client"), "{err}");
}

#[tokio::test]
async fn mcp_auth_bridge_carries_a_stdio_session_with_streamed_progress() {
    use std::io::Write as _;
    let up = up(&[]);
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(["bridge", &up.resource, "--client-id", "demo"])
        .env("MCP_AUTH_CLIENT_SECRET", &up.secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = bridge.stdin.take().unwrap();
    let stdout = bridge.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut read = BufReader::new(stdout).lines();
        let mut next =
            move || -> Value { serde_json::from_str(&read.next().unwrap().unwrap()).unwrap() };
        let mut send = |m: Value| {
            writeln!(stdin, "{m}").unwrap();
            stdin.flush().unwrap();
        };
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "stdio-test", "version": "1"}}}),
        );
        let init = next();
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        let list = next();
        send(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"steps": 3, "delay_ms": 50},
            "_meta": {"progressToken": "p"}}}),
        );
        let mut call = Vec::new();
        loop {
            let m = next();
            let done = m.get("id") == Some(&json!(3));
            call.push(m);
            if done {
                break;
            }
        }
        send(
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "write_note", "arguments": {"note": "n"}}}),
        );
        let write = next();
        // A message the server sends outside any request arrives through the
        // standalone GET stream the bridge opened after initialization.
        send(
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "announce", "arguments": {"delay_ms": 100}}}),
        );
        let announced = [next(), next()];
        assert_eq!(announced[0]["id"], 7, "{announced:?}");
        assert_eq!(
            announced[1]["method"], "notifications/tools/list_changed",
            "{announced:?}"
        );
        // A second request while a slow one runs is answered first.
        send(
            json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"steps": 3, "delay_ms": 200}}}),
        );
        send(
            json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "meanwhile"}}}),
        );
        let mut order = Vec::new();
        while order.len() < 2 {
            let m = next();
            if let Some(id) = m.get("id").and_then(Value::as_i64) {
                order.push(id);
            }
        }
        // A line that is not JSON gets a parse error, not silence.
        writeln!(stdin, "not json").unwrap();
        stdin.flush().unwrap();
        let parse_error = next();
        (init, list, call, write, order, parse_error)
    })
    .await
    .unwrap();
    let (init, list, call, write, order, parse_error) = lines;
    assert_eq!(order, [6, 5], "the echo must not wait for the slow call");
    assert_eq!(parse_error["error"]["code"], -32700);
    assert_eq!(parse_error["id"], Value::Null);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"slow"), "{names:?}");
    let kinds: Vec<String> = call
        .iter()
        .map(|m| {
            m["params"]["progress"]
                .as_f64()
                .map_or_else(|| "result".to_owned(), |p| p.to_string())
        })
        .collect();
    assert_eq!(kinds, ["1", "2", "3", "result"]);
    assert_eq!(
        call[3]["result"]["content"][0]["text"],
        "done after 3 steps"
    );
    // The bridge stepped up to mcp:write by itself.
    assert_eq!(write["result"]["content"][0]["text"], "saved: n");
    let _ = bridge.kill();
    let _ = bridge.wait();
}

#[tokio::test]
async fn mcp_auth_token_prints_a_token_the_gateway_accepts_and_caches_it() {
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args([
            "token",
            &up.resource,
            "--client-id",
            "demo",
            "--scope",
            "mcp:read",
            "--json",
        ])
        .arg("--token-cache")
        .arg(&cache)
        .env("MCP_AUTH_CLIENT_SECRET", &up.secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(token["issuer"], up.issuer.as_str());
    assert_eq!(token["scopes"], json!(["mcp:read"]));
    let access = token["access_token"].as_str().unwrap();
    let r = up
        .call(access, "echo", json!({"text": "from the token command"}))
        .await;
    assert_eq!(r.status(), 200);
    // The cache holds it, privately.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached[&up.resource]["access_token"], access);
}

/// Plays the user's browser: the authorization URL, the login form as the demo
/// user, consent, and the redirect to the loopback listener.
async fn sign_in_as_demo_user(up: &Up, authorization_url: &str) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = browser.get(authorization_url).send().await.unwrap();
    assert_eq!(login.status(), 200);
    // The browser-binding cookie `/authorize` sets: login and consent need it.
    let binding = set_cookie(login.headers()).expect("a browser-binding cookie");
    let login = login.text().await.unwrap();
    let consent = browser
        .post(format!("{}/login", up.issuer))
        .header("cookie", &binding)
        .form(&[
            ("request", hidden(&login, "request").as_str()),
            ("csrf", &hidden(&login, "csrf")),
            ("username", "demo"),
            ("password", &up.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    let cookie = set_cookie(consent.headers()).expect("a session cookie");
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("mcp:read"), "{consent}");
    let done = browser
        .post(format!("{}/consent", up.issuer))
        .header("cookie", format!("{binding}; {cookie}"))
        .form(&[
            ("request", hidden(&consent, "request").as_str()),
            ("csrf", &hidden(&consent, "csrf")),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let callback = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));
}

#[tokio::test]
async fn mcp_auth_login_signs_in_through_the_browser_and_call_refreshes_the_kept_token() {
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    let mut login = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(["login", &up.resource, "--no-browser", "--timeout", "60"])
        .env("MCP_AUTH_TOKEN_CACHE", &cache)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap()).lines();
    let url = loop {
        let line = stderr.next().expect("the authorization URL").unwrap();
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    sign_in_as_demo_user(&up, &url).await;
    let status = tokio::task::spawn_blocking(move || login.wait().unwrap())
        .await
        .unwrap();
    let rest: Vec<String> = stderr.map(Result::unwrap).collect();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("Signed in at ")),
        "{rest:?}"
    );

    // The kept token works without credentials...
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
            .arg("call")
            .arg(&up.resource)
            .args(args)
            .env("MCP_AUTH_TOKEN_CACHE", &cache)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["tools/call", "whoami"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("demo"), "{out}");
    let kept = |field: &str| -> Value {
        let all: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        all[&up.resource][field].clone()
    };
    let first_access = kept("access_token");
    let first_refresh = kept("refresh_token");
    assert!(first_refresh.is_string(), "a refresh token is kept");
    assert_eq!(
        kept("registered_client")["token_endpoint_auth_method"],
        "none"
    );

    // ...and once it has expired, it is refreshed without the browser: new access
    // token, rotated refresh token (public client), same call succeeds.
    let mut all: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    all[&up.resource]["expires_at"] = json!(1);
    std::fs::write(&cache, serde_json::to_vec(&all).unwrap()).unwrap();
    let (code, out, err) = run(&["tools/call", "echo", "--arg", "text=after refresh"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("after refresh"), "{out}");
    assert_ne!(kept("access_token"), first_access);
    assert_ne!(kept("refresh_token"), first_refresh);
    assert!(kept("expires_at").as_i64().unwrap() > 1);

    // A refresh token the AS no longer honours (the rotated-away one) ends in a
    // clear message, not a browser: sign in again.
    let mut all: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    all[&up.resource]["expires_at"] = json!(1);
    all[&up.resource]["refresh_token"] = first_refresh;
    std::fs::write(&cache, serde_json::to_vec(&all).unwrap()).unwrap();
    let (code, _, err) = run(&["tools/list"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mcp-auth login"), "{err}");
}

#[tokio::test]
async fn an_rmcp_client_gets_tokens_signs_and_steps_up_through_the_mcp_auth_transport() {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;

    let up = up(&["--httpsig-only"]);
    let auth = mcp_auth_client::McpClient::new(
        &up.resource,
        Some(mcp_auth_client::Grant::ClientCredentials(
            mcp_auth_client::ClientAuth::SecretBasic {
                client_id: "demo-httpsig".into(),
                secret: up.secret.clone(),
            },
        )),
        Some(
            HttpSigSigner::new(
                ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
            )
            .into(),
        ),
    );
    // One thing added: the transport. Discovery, the bound token, signing and
    // the step-up happen inside it.
    let service = ().serve(mcp_auth_client::rmcp_transport::transport(auth)).await.unwrap();
    let tools = service.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "write_note"), "{tools:?}");
    let text = |r: rmcp::model::CallToolResult| {
        serde_json::to_value(&r.content).unwrap()[0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let args = |v: Value| v.as_object().unwrap().clone();
    let whoami = service
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let whoami = text(whoami);
    assert!(
        whoami.contains("demo-httpsig") && whoami.contains("httpsig"),
        "{whoami}"
    );
    // write_note needs mcp:write: the 403 is answered by a new token, inside.
    let note = service
        .call_tool(
            CallToolRequestParams::new("write_note")
                .with_arguments(args(json!({"note": "from rmcp"}))),
        )
        .await
        .unwrap();
    assert!(text(note).contains("from rmcp"));
    service.cancel().await.unwrap();
}
