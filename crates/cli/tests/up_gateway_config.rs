//! `mcp-auth up --gateway-config FILE`: the file's `[policy]` and `[scopes]` reach the
//! gateway of the stack (a tool denied to every call is left out of tools/list and
//! called as an unknown tool; a rule on arguments refuses with 403; scope rules add to
//! the demo's), and a key `up` sets itself, or one it cannot honour, is refused with an
//! error naming it before anything starts. The file's parsing rules are unit-tested in
//! `src/stack.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use up_env::{Up, messages, meta, up};

mod up_env;

/// The policy of the interop suite's `policy.toml`, in short.
const POLICY: &str = r#"
[policy]
default = "allow"

[[policy.rules]]
name = "announce is not for the demo client"
when = 'principal.client_id == "demo" && request.method == "tools/call" && request.name == "announce"'
effect = "deny"

[[policy.rules]]
name = "echo does not repeat secrets"
when = 'request.method == "tools/call" && request.name == "echo" && request.arguments.text.startsWith("secret:")'
effect = "deny"
"#;

/// `text` in a file of a new temporary directory (kept alive by the caller).
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `mcp-auth up` with `config`, which must refuse to start: (exit code, stdout, stderr).
/// A process still running after a minute (it accepted the file) is killed and fails
/// the test.
fn refused_start(config: &str) -> (i32, String, String) {
    let (dir, path) = config_file(config);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--as-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--demo-listen",
            "127.0.0.1:0",
            "--idp-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--gateway-config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mcp-auth up started with the file: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        !dir.path().join("data").exists(),
        "the data directory was created: the file was read too late"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mcp-auth up --gateway-config` with `config`; the directory holding the file.
fn up_with(config: &str) -> (Up, tempfile::TempDir) {
    let (dir, path) = config_file(config);
    (up(&["--gateway-config", path.to_str().unwrap()]), dir)
}

/// A stateless tools/list with a Bearer token: the tool names.
async fn tool_names(up: &Up, token: &str) -> Vec<String> {
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}});
    let r = reqwest::Client::new()
        .post(&up.resource)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer = messages(&r.text().await.unwrap()).pop().unwrap();
    answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Fails if `up` ignored the file's `[policy]` (announce listed and callable), or the
/// hidden tool were refused with a 403 that tells it exists.
#[tokio::test]
async fn a_tool_the_policy_denies_to_every_call_is_hidden_and_called_as_unknown() {
    let (up, _file) = up_with(POLICY);
    let read = up.bearer_token("mcp:read").await;
    let names = tool_names(&up, &read).await;
    assert!(!names.iter().any(|n| n == "announce"), "{names:?}");
    for tool in ["echo", "add", "slow", "write_note", "whoami"] {
        assert!(names.iter().any(|n| n == tool), "{tool} missing: {names:?}");
    }
    let r = up.call(&read, "announce", json!({})).await;
    assert_eq!(r.status(), 200);
    let answer = &messages(&r.text().await.unwrap())[0];
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(answer["error"]["message"], "Unknown tool: announce");
}

/// Fails if a rule that reads the arguments hid the tool, or did not refuse the call.
#[tokio::test]
async fn a_rule_on_arguments_refuses_the_call_with_403_and_keeps_the_tool_listed() {
    let (up, _file) = up_with(POLICY);
    let read = up.bearer_token("mcp:read").await;
    assert!(tool_names(&up, &read).await.iter().any(|n| n == "echo"));
    let r = up.call(&read, "echo", json!({"text": "secret: x"})).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("www-authenticate").is_none());
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32003, "{answer}");
    let r = up.call(&read, "echo", json!({"text": "public"})).await;
    assert_eq!(r.status(), 200);
    let answer = &messages(&r.text().await.unwrap())[0];
    assert_eq!(answer["result"]["content"][0]["text"], "public");
}

/// Fails if the file's `[scopes]` were ignored (add callable with mcp:read) or replaced
/// the demo's (write_note callable with mcp:read).
#[tokio::test]
async fn the_files_scope_rules_add_to_the_demo_scope_policy() {
    let (up, _file) = up_with(
        "[[scopes.rules]]\nmethod = \"tools/call\"\nname = \"add\"\nscopes = [\"mcp:write\"]\n",
    );
    let read = up.bearer_token("mcp:read").await;
    for (tool, arguments) in [
        ("add", json!({"a": 1, "b": 2})),
        ("write_note", json!({"note": "x"})),
    ] {
        let r = up.call(&read, tool, arguments).await;
        assert_eq!(r.status(), 403, "{tool}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains("scope=\"mcp:read mcp:write\""),
            "{tool}: {challenge}"
        );
    }
    let both = up.bearer_token("mcp:read mcp:write").await;
    let r = up.call(&both, "add", json!({"a": 1, "b": 2})).await;
    assert_eq!(r.status(), 200);
}

/// Fails if a key `up` sets itself were accepted (or silently dropped), or refused
/// with a message that does not name it.
#[test]
fn a_key_up_sets_itself_is_refused_naming_it_before_anything_starts() {
    let (code, stdout, stderr) =
        refused_start(&format!("upstream = \"http://127.0.0.1:9/mcp\"\n{POLICY}"));
    assert_eq!(code, 2, "{stderr}");
    assert!(!stdout.contains("mcp-auth is up"), "{stdout}");
    assert!(
        stderr
            .contains("`upstream` is set by `mcp-auth up` itself (the demo MCP server it starts)"),
        "{stderr}"
    );
}

/// Fails if a gateway key `up` cannot honour were accepted.
#[test]
fn a_gateway_key_up_does_not_take_is_refused() {
    let (code, _, stderr) = refused_start("forward_token = true\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`forward_token` is not supported by `mcp-auth up --gateway-config`"),
        "{stderr}"
    );
}

/// Fails if a condition that does not compile were found only after the stack started.
#[test]
fn a_policy_rule_that_does_not_compile_is_refused_naming_the_rule() {
    let (code, _, stderr) = refused_start(
        "[[policy.rules]]\nname = \"typo\"\nwhen = 'request.name == (\"x\"'\neffect = \"deny\"\n",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("typo"), "{stderr}");
}
