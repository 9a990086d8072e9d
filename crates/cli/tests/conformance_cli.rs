//! `mcp-auth conformance` as a user runs it: `conformance issuer` serves the
//! checker's issuer, `mcp-auth gateway` trusts it, and `conformance server` checks
//! the gateway, printing the table, the JSON or JUnit XML, with the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

use common::mcp_auth;
use mcp_auth_testkit::{Killed, free_port, wait_for};

struct Setup {
    _dir: tempfile::TempDir,
    key: std::path::PathBuf,
    issuer: String,
    resource: String,
    _processes: Vec<Killed>,
    _upstream: mcp_auth_testkit::McpUpstream,
}

/// The checker's key and issuer, and a gateway trusting it with a scope policy.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("checker.pem");
    let pem = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    std::fs::write(&key, pem).unwrap();
    let issuer_port = free_port();
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let issuer_process = Killed(
        mcp_auth()
            .args([
                "conformance",
                "issuer",
                "--listen",
                &format!("127.0.0.1:{issuer_port}"),
            ])
            .arg("--issuer-key")
            .arg(&key)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("{issuer}/jwks")).await;
    let upstream = mcp_auth_testkit::mcp_upstream("conformance").await;
    let gateway_port = free_port();
    let resource = format!("http://127.0.0.1:{gateway_port}/mcp");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "scopes_supported = [\"mcp:read\"]\n[scopes]\nrequired = [\"mcp:read\"]\n",
    )
    .unwrap();
    let gateway = Killed(
        mcp_auth()
            .args([
                "gateway",
                "--upstream",
                &upstream.url,
                "--resource",
                &resource,
            ])
            .args(["--issuer", &issuer, "--allow-bearer"])
            .args(["--listen", &format!("127.0.0.1:{gateway_port}")])
            .arg("--config")
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("http://127.0.0.1:{gateway_port}/healthz")).await;
    Setup {
        _dir: dir,
        key,
        issuer,
        resource,
        _processes: vec![issuer_process, gateway],
        _upstream: upstream,
    }
}

/// Runs `mcp-auth conformance ARGS` off the runtime (the upstream is served on it).
async fn conformance(args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = mcp_auth().arg("conformance").args(&args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn conformance_server_passes_our_gateway_and_writes_json_and_junit() {
    let s = setup().await;
    let key = s.key.to_str().unwrap();
    let junit = s._dir.path().join("results.xml");
    let base = [
        "server",
        "--url",
        &s.resource,
        "--issuer",
        &s.issuer,
        "--issuer-key",
        key,
    ];
    let mut args = base.to_vec();
    args.extend(["--junit", junit.to_str().unwrap()]);
    let (code, table) = conformance(&args).await;
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("BASE-RS-10  PASS"), "{table}");
    assert!(
        table.ends_with("22 passed, 0 failed, 0 skipped\n"),
        "{table}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"22\" failures=\"0\""), "{xml}");
    let mut json_args = base.to_vec();
    json_args.extend(["--json", "--only", "BASE-RS-1,BASE-RS-5"]);
    let (code, json) = conformance(&json_args).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["results"][1]["id"], "BASE-RS-5");
}

#[tokio::test]
async fn a_server_trusting_another_issuer_fails_the_acceptance_check_and_exits_1() {
    let s = setup().await;
    // Another key under the same issuer name: its tokens do not verify.
    let other = s._dir.path().join("other.pem");
    let pem = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    std::fs::write(&other, pem).unwrap();
    let (code, table) = conformance(&[
        "server",
        "--url",
        &s.resource,
        "--issuer",
        &s.issuer,
        "--issuer-key",
        other.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("BASE-RS-4   FAIL"), "{table}");
    // The broken-token checks prove nothing then: skipped, saying why.
    assert!(table.contains("BASE-RS-5   SKIP"), "{table}");
    let (code, _) = conformance(&["server", "--url", &s.resource, "--only", "BASE-RS-99"]).await;
    assert_eq!(code, 2);
}
