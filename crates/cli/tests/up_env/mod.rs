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
    /// The demo enterprise identity provider.
    pub idp: String,
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
            "--idp-listen",
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
    let (mut resource, mut issuer, mut secret, mut idp) = (None, None, None, None);
    while resource.is_none() || issuer.is_none() || secret.is_none() || idp.is_none() {
        let line = lines.next().expect("the banner").unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.contains("MCP endpoint (protected)") {
            resource = words.last().map(|s| (*s).to_owned());
        } else if line.contains("enterprise IdP (demo)") {
            idp = words.get(3).map(|s| (*s).to_owned());
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
        idp: idp.unwrap(),
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

/// Plays the user's browser at the authorization server `issuer`: the authorization
/// URL, the login form as `username`, the consent page (which must show `scope`), and
/// the redirect to the client's loopback listener.
pub async fn sign_in(
    issuer: &str,
    authorization_url: &str,
    username: &str,
    password: &str,
    scope: &str,
) {
    use mcp_auth_testkit::{hidden, set_cookie};
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
        .post(format!("{issuer}/login"))
        .header("cookie", &binding)
        .form(&[
            ("request", hidden(&login, "request").as_str()),
            ("csrf", &hidden(&login, "csrf")),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    let cookie = set_cookie(consent.headers()).expect("a session cookie");
    let consent = consent.text().await.unwrap();
    assert!(consent.contains(scope), "{consent}");
    let done = browser
        .post(format!("{issuer}/consent"))
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

/// Runs `mcp-auth login` with `args` and `envs`, plays the browser at `issuer` as
/// `username` (the consent page must show `scope`), and waits for it to succeed:
/// the authorization URL it printed, and the lines it printed after.
pub async fn login(
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
    account: (&str, &str, &str),
    scope: &str,
) -> (String, Vec<String>) {
    let (issuer, username, password) = account;
    let mut login = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("login")
        .args(args)
        .args(["--no-browser", "--timeout", "60"])
        .envs(envs.iter().copied())
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
    sign_in(issuer, &url, username, password, scope).await;
    let status = tokio::task::spawn_blocking(move || login.wait().unwrap())
        .await
        .unwrap();
    let rest: Vec<String> = stderr.map(Result::unwrap).collect();
    assert!(status.success(), "{rest:?}");
    (url, rest)
}
