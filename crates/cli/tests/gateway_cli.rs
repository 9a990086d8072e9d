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

/// `mcp-auth as` on `port` with its data in `dir`, issuing tokens for `resource`;
/// returns once its metadata answers.
async fn start_as(dir: &std::path::Path, port: u16, resource: &str) -> Killed {
    let child = Killed(
        Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
            .args([
                "as",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--resource",
                &format!("{resource} mcp:read"),
            ])
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!(
        "http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
    ))
    .await;
    child
}

#[tokio::test]
async fn gateway_process_serves_metadata_and_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let (as_port, gw_port) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{as_port}");
    let resource = format!("http://127.0.0.1:{gw_port}/mcp");
    let bin = env!("CARGO_BIN_EXE_mcp-auth");
    let _as = start_as(dir.path(), as_port, &resource).await;
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

#[tokio::test]
async fn gateway_reads_its_config_file_and_serves_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (as_port, gw_port, metrics_port) = (free_port(), free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{as_port}");
    let resource = format!("http://127.0.0.1:{gw_port}/mcp");
    let bin = env!("CARGO_BIN_EXE_mcp-auth");
    let _as = start_as(dir.path(), as_port, &resource).await;
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"
upstream = "http://127.0.0.1:1/mcp"
resource = "{resource}"
issuers = ["{issuer}"]
listen = "127.0.0.1:{gw_port}"
metrics_listen = "127.0.0.1:{metrics_port}"
allow_bearer = true
scopes_supported = ["mcp:read", "files:write"]

[dpop]
enabled = true
nonce = true
nonce_secret = "a gateway secret of at least thirty-two bytes"
max_age = 30

[scopes]
required = ["mcp:read"]
[[scopes.rules]]
method = "tools/call"
name = "delete_*"
scopes = ["files:write"]
"#
        ),
    )
    .unwrap();
    let _gw = Killed(
        Command::new(bin)
            .arg("gateway")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("http://127.0.0.1:{gw_port}/healthz")).await;
    // The upstream does not answer: not ready, and the body says why.
    let r = reqwest::get(format!("http://127.0.0.1:{gw_port}/readyz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["upstream"], "unreachable");
    assert_eq!(body["replay_cache"], "ok");
    // The metadata and the challenge carry the file's settings.
    let doc: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{gw_port}/.well-known/oauth-protected-resource/mcp"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["mcp:read", "files:write"])
    );
    assert_eq!(doc["httpsig_bound_access_tokens_required"], false);
    assert_eq!(doc["dpop_signing_alg_values_supported"][0], "ES256");
    let r = reqwest::Client::new()
        .post(&resource)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers().contains_key("dpop-nonce"),
        "[dpop] nonce: every challenge carries one"
    );
    let metadata = format!("http://127.0.0.1:{gw_port}/.well-known/oauth-protected-resource/mcp");
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        [
            format!("Bearer scope=\"mcp:read\", resource_metadata=\"{metadata}\""),
            format!(
                "DPoP algs=\"ES256 ES384 EdDSA Ed25519 PS256 PS384 PS512 RS256\", scope=\"mcp:read\", resource_metadata=\"{metadata}\""
            ),
            format!("HTTPSig scope=\"mcp:read\", resource_metadata=\"{metadata}\""),
        ]
    );
    // The refusal is counted on the separate metrics listener.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"mcp_auth_requests_total{profile="none",outcome="no_credentials"} 1"#),
        "{metrics}"
    );
    // ... and not on the public listener.
    let r = reqwest::get(format!("http://127.0.0.1:{gw_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn gateway_refuses_a_config_file_with_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "upstream = \"http://127.0.0.1:1/mcp\"\nresource = \"http://x/mcp\"\nissuers = [\"http://y\"]\nalow_bearer = true\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("gateway")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `alow_bearer`"), "{err}");
}
