//! The client commands of `mcp-auth` against the stack `mcp-auth up` starts:
//! `call` (HTTPSig, DPoP, step-up, errors), `token`, `bridge` (stdio), and the rmcp
//! transport. One test per rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use mcp_auth_client::{HttpSigSigner, ProofKey};
use serde_json::{Value, json};

use up_env::{Up, mcp_call, up};

mod up_env;

/// The parsed result text of the last JSON line of `mcp-auth call --json`'s stdout.
fn who(out: &str) -> Value {
    let response: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    serde_json::from_str(response["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

/// DPOP-C-2: any client gets a DPoP-bound token (RFC 9449) by sending a proof, and
/// the gateway of `up` accepts the DPoP scheme.
#[tokio::test]
async fn dpop_c_2_mcp_auth_call_dpop_presents_a_dpop_token() {
    let up = up(&[]);
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
    assert_eq!(who(&out)["profile"], "dpop");
}

/// DPOP-C-2: step-up keeps the DPoP binding.
#[tokio::test]
async fn dpop_c_2_mcp_auth_call_dpop_steps_up() {
    let up = up(&[]);
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
}

#[tokio::test]
async fn mcp_auth_call_with_both_dpop_and_httpsig_is_a_usage_error() {
    let up = up(&[]);
    let (code, _, err) = mcp_call(
        &up,
        &["tools/list", "--client-id", "demo", "--dpop", "--httpsig"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("choose one"), "{err}");
}

/// `up --httpsig-only` accepts no DPoP: the client's DPoP token is refused.
#[tokio::test]
async fn up_httpsig_only_refuses_a_dpop_token() {
    let strict = up(&["--httpsig-only"]);
    let (code, _, err) = mcp_call(&strict, &["tools/list", "--client-id", "demo", "--dpop"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not accept the DPoP scheme"), "{err}");
}

/// The banner's command: HTTPSig-bound token, every request signed.
#[tokio::test]
async fn mcp_auth_call_httpsig_discovers_and_signs() {
    let up = up(&[]);
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
}

/// whoami shows the bound profile.
#[tokio::test]
async fn mcp_auth_call_httpsig_reaches_the_server_as_the_bound_client() {
    let up = up(&[]);
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
    let who = who(&out);
    assert_eq!(who["profile"], "httpsig");
    assert_eq!(who["subject"], "demo-httpsig");
}

/// Step-up: the challenge names mcp:read; write_note answers 403 for mcp:write; the
/// client asks again for both and the call succeeds.
#[tokio::test]
async fn mcp_auth_call_steps_up_to_the_scope_a_tool_needs() {
    let up = up(&[]);
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
}

/// Progress goes to stderr, the result to stdout.
#[tokio::test]
async fn mcp_auth_call_prints_progress_to_stderr_and_the_result_to_stdout() {
    let up = up(&[]);
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
}

#[tokio::test]
async fn mcp_auth_call_tools_list_is_readable() {
    let up = up(&[]);
    let (code, out, _) = mcp_call(&up, &["tools/list", "--client-id", "demo"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("write_note")), "{out}");
}

/// Without credentials: a clear message and exit 2.
#[tokio::test]
async fn mcp_auth_call_without_credentials_exits_2_with_a_clear_message() {
    let up = up(&[]);
    let (code, _, err) = mcp_call(&up, &["tools/list"]);
    assert_eq!(code, 2);
    assert!(err.contains("the server requires authorization"), "{err}");
}

/// A wrong secret: what the AS said.
#[tokio::test]
async fn mcp_auth_call_with_a_wrong_secret_reports_the_as_error() {
    let up = up(&[]);
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
    assert_eq!(
        parse_error["error"]["code"], -32700,
        "a line that is not JSON gets a parse error: {parse_error}"
    );
    assert_eq!(
        parse_error["id"],
        Value::Null,
        "the parse error has a null id: {parse_error}"
    );
    assert_eq!(
        init["result"]["protocolVersion"], "2025-11-25",
        "initialize through the bridge: {init}"
    );
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
    assert_eq!(
        kinds,
        ["1", "2", "3", "result"],
        "progress streams before the result"
    );
    assert_eq!(
        call[3]["result"]["content"][0]["text"], "done after 3 steps",
        "the slow call's result"
    );
    assert_eq!(
        write["result"]["content"][0]["text"], "saved: n",
        "the bridge steps up to mcp:write by itself"
    );
    let _ = bridge.kill();
    let _ = bridge.wait();
}

/// `mcp-auth token --json` for `demo` with mcp:read, kept in the cache `cache`
/// (asserted successful): the printed token.
fn token_command(up: &Up, cache: &std::path::Path) -> Value {
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
        .arg(cache)
        .env("MCP_AUTH_CLIENT_SECRET", &up.secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn mcp_auth_token_prints_a_token_the_gateway_accepts() {
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let token = token_command(&up, &dir.path().join("tokens.json"));
    assert_eq!(token["issuer"], up.issuer.as_str());
    assert_eq!(token["scopes"], json!(["mcp:read"]));
    let access = token["access_token"].as_str().unwrap();
    let r = up
        .call(access, "echo", json!({"text": "from the token command"}))
        .await;
    assert_eq!(r.status(), 200);
}

/// The cache holds the printed token, privately.
#[tokio::test]
async fn mcp_auth_token_caches_the_token_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    let token = token_command(&up, &cache);
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached[&up.resource]["access_token"], token["access_token"]);
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
    let note = text(note);
    assert!(
        note.contains("from rmcp"),
        "write_note steps up to mcp:write inside the transport: {note}"
    );
    service.cancel().await.unwrap();
}

/// Runs `mcp-auth demo-workload-token` for `up`'s data directory with `args`;
/// returns the path of the token file it wrote.
fn demo_workload_token(up: &Up, args: &[&str]) -> std::path::PathBuf {
    let out = up._dir.path().join("workload-token");
    let status = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("demo-workload-token")
        .arg("--data-dir")
        .arg(up._dir.path().join("data"))
        .args(["--audience", &up.issuer])
        .args(args)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// The workload demo of `up` (profiles/workload-identity-federation.md): a token of
/// the demo platform, minted by `mcp-auth demo-workload-token`, gets an access token
/// for the rule's principal with no client registration, Bearer and bound.
#[tokio::test]
async fn wif_as_1_up_trusts_its_demo_platform_and_call_uses_its_token() {
    let up = up(&[]);
    let token = demo_workload_token(&up, &[]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a platform token is the workload's alone"
        );
        // The demo platform's signing key, in up's data directory, is up's alone.
        let key = up._dir.path().join("data/demo-workload-issuer.key.pem");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the demo platform's key is private");
    }
    for bind in [None, Some("--dpop"), Some("--httpsig")] {
        let mut args = vec!["tools/call", "whoami", "--json", "--workload-token"];
        let path = token.to_str().unwrap();
        args.push(path);
        args.extend(bind);
        let (code, out, err) = mcp_call(&up, &args);
        assert_eq!(code, 0, "{bind:?}: {err}");
        let who = who(&out);
        assert_eq!(who["subject"], "demo-platform:demo/agent", "{bind:?}");
        assert_eq!(who["scope"], "mcp:read");
        assert_eq!(
            who["profile"],
            bind.map_or("bearer", |b| b.trim_start_matches("--")),
            "{bind:?}"
        );
    }
}

/// WIF-AS-19 through `up`: a service account the demo rule does not name is
/// refused with `unauthorized_client`, and the client reports it.
#[tokio::test]
async fn wif_as_19_up_refuses_a_workload_no_rule_names() {
    let up = up(&[]);
    let token = demo_workload_token(&up, &["--subject", "system:serviceaccount:other:x"]);
    let (code, _, err) = mcp_call(
        &up,
        &["tools/list", "--workload-token", token.to_str().unwrap()],
    );
    assert_ne!(code, 0);
    assert!(err.contains("unauthorized_client"), "{err}");
}
