//! `mcp-auth gateway` as a process: it fetches the JWKS of a running `mcp-auth as`,
//! serves RFC 9728 metadata, and answers an unauthenticated MCP request with the
//! HTTPSig challenge (the full request path is tested in crates/resource).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for(url: &str) -> reqwest::Response {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(url).await {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

#[tokio::test]
async fn gateway_process_serves_metadata_and_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let (as_port, gw_port) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{as_port}");
    let resource = format!("http://127.0.0.1:{gw_port}/mcp");
    let bin = env!("CARGO_BIN_EXE_mcp-auth");
    let _as = Killed(
        Command::new(bin)
            .args([
                "as",
                "--listen",
                &format!("127.0.0.1:{as_port}"),
                "--resource",
                &format!("{resource} mcp:read"),
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    let _gw = Killed(
        Command::new(bin)
            .args([
                "gateway",
                "--upstream",
                "http://127.0.0.1:1/mcp",
                "--resource",
                &resource,
                "--issuer",
                &issuer,
                "--listen",
                &format!("127.0.0.1:{gw_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = wait_for(&format!("http://127.0.0.1:{gw_port}/healthz")).await;
    assert_eq!(health.status(), 200);
    let doc: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{gw_port}/.well-known/oauth-protected-resource/mcp"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(doc["resource"], resource);
    assert_eq!(doc["authorization_servers"][0], issuer);
    let r = reqwest::Client::new()
        .post(&resource)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!("HTTPSig resource_metadata=\"http://127.0.0.1:{gw_port}/.well-known/oauth-protected-resource/mcp\"").as_str()
    );
}
