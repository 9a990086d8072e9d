//! `mcp-auth` as a process, for this crate's tests (the binary exists only here).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use mcp_auth_testkit::{Killed, try_wait_for};

pub mod ema;

/// The binary, logging at `info`.
pub fn mcp_auth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
    c.env("MCP_AUTH_LOG", "info");
    c
}

/// Runs the admin command `mcp-auth as ARGS` with `options` after it (`--config`,
/// `--data-dir`), a password on standard input: (success, stderr).
pub fn as_admin(args: &[&str], options: &[&std::ffi::OsStr]) -> (bool, String) {
    use std::io::Write as _;
    let mut child = mcp_auth()
        .arg("as")
        .args(args)
        .args(options)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses before it reads the passphrase (a refused name) closes
    // its stdin first: the write then fails with a broken pipe, which is no error.
    if let Err(e) = child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long passphrase\n")
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mcp-auth as` on 127.0.0.1:`port`, issuing tokens for `resource` (scope
/// `mcp:read`), its data in `data`, with `extra` flags; with `log`, its stderr (the
/// JSON logs at `info`) goes to that file, otherwise nowhere. Returns once its
/// metadata answers.
pub async fn start_as(
    data: &Path,
    port: u16,
    resource: &str,
    extra: &[&str],
    log: Option<&Path>,
) -> Killed {
    let mut command = match log {
        Some(log) => {
            let mut c = mcp_auth();
            c.stderr(std::fs::File::create(log).unwrap());
            c
        }
        None => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
            c.stderr(Stdio::null());
            c
        }
    };
    let child = Killed(
        command
            .args(["as", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--resource", &format!("{resource} mcp:read")])
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server");
    if try_wait_for(&url).await.is_none() {
        match log {
            Some(log) => panic!(
                "the AS never answered; its log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
            None => panic!("{url} never answered"),
        }
    }
    child
}

/// One request a test server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: axum::http::Method,
    pub path: String,
    /// The query string, without `?` (empty when none).
    pub query: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Seen {
    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A parameter of a form body (a token request).
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A parameter of the query string (an authorization request).
    pub fn query(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A loopback test server and what it received.
pub type Server = mcp_auth_testkit::Recording<Seen>;

type Route = dyn Fn(&Seen, &str) -> axum::response::Response + Send + Sync;

/// A loopback server answering each request with `route(request, its own base
/// URL)`, recording them all.
pub async fn serve(
    route: impl Fn(&Seen, &str) -> axum::response::Response + Send + Sync + 'static,
) -> Server {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>> = std::sync::Arc::default();
    let route: std::sync::Arc<Route> = std::sync::Arc::new(route);
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: String| {
            let (seen, route) = (recorder.clone(), route.clone());
            async move {
                let request = Seen {
                    method,
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or_default().to_owned(),
                    headers,
                    body,
                };
                seen.lock().unwrap().push(request.clone());
                let base = format!("http://{}", request.header("host").unwrap_or_default());
                route(&request, &base)
            }
        },
    );
    let base = mcp_auth_testkit::serve(app).await;
    Server { base, seen }
}

/// The requests `server` received at `path`.
pub fn at(server: &Server, path: &str) -> Vec<Seen> {
    server
        .seen()
        .into_iter()
        .filter(|s| s.path == path)
        .collect()
}
