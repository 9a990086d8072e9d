//! `mcp-auth up` as a process for the tests of the stack it starts: the running
//! stack, its banner's values, and the client commands run against it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use mcp_auth_testkit::client_credentials;
use serde_json::{Value, json};

pub struct Up {
    pub child: Child,
    pub _dir: tempfile::TempDir,
    pub resource: String,
    pub issuer: String,
    pub secret: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcp-auth up` on ephemeral ports and reads its banner.
pub fn up(extra: &[&str]) -> Up {
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
    pub async fn bearer_token(&self, scope: &str) -> String {
        let request =
            client_credentials(&self.issuer, ("demo", &self.secret), scope, &self.resource);
        let r = mcp_auth_testkit::json(request).await;
        r["access_token"].as_str().unwrap().to_owned()
    }

    /// A stateless (2026-07-28) tools/call with a Bearer token.
    pub async fn call(&self, token: &str, name: &str, arguments: Value) -> reqwest::Response {
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

pub fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {}})
}

/// The JSON-RPC messages of an SSE (or JSON) body.
pub fn messages(body: &str) -> Vec<Value> {
    if body.trim_start().starts_with('{') {
        return vec![serde_json::from_str(body).unwrap()];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

/// Runs `mcp-auth call` against the stack; (exit code, stdout, stderr).
pub fn mcp_call(up: &Up, args: &[&str]) -> (i32, String, String) {
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
