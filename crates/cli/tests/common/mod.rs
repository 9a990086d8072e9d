//! `mcp-auth` as a process, for this crate's tests (the binary exists only here).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use mcp_auth_testkit::{Killed, try_wait_for};

/// The binary, logging at `info`.
pub fn mcp_auth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
    c.env("MCP_AUTH_LOG", "info");
    c
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
