//! `mcp-auth as client add|remove` while the AS runs: the admin command is another
//! process writing the same data directory, so the running server sees a removal
//! within its client cache's bound (`client_cache_seconds`, default 1 s) and a new
//! client at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_auth_testkit::{client_credentials, free_port};

mod common;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

#[tokio::test]
async fn a_client_removed_by_the_admin_command_is_refused_by_the_running_server_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let _as = common::start_as(&data, port, RESOURCE, &[], None).await;
    let admin = |args: &[&str]| {
        let out = common::mcp_auth()
            .arg("as")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = admin(&[
        "client", "add", "--id", "bot", "--scope", "mcp:read", "--json",
    ]);
    assert!(ok, "{stderr}");
    let added: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    let token = || async {
        client_credentials(&issuer, ("bot", &secret), "mcp:read", RESOURCE)
            .send()
            .await
            .unwrap()
    };
    // Added by another process: usable at once (an unknown client is never cached).
    assert_eq!(token().await.status(), 200);

    let (ok, stdout, stderr) = admin(&["client", "remove", "--id", "bot"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("client bot removed"), "{stdout}");
    let removed = Instant::now();
    // Refused once the server's cached copy is older than its bound; the loop's
    // deadline is a safety net far above the 1 s bound, not a measurement.
    loop {
        let answer = token().await;
        if answer.status() == 401 {
            let challenge = answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(challenge.starts_with("Basic"), "{challenge}");
            let body: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
            break;
        }
        assert_eq!(answer.status(), 200);
        assert!(
            removed.elapsed() < Duration::from_secs(10),
            "the removed client was still accepted 10 s later"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (ok, _, stderr) = admin(&["client", "remove", "--id", "bot"]);
    assert!(!ok);
    assert!(stderr.contains("no client `bot`"), "{stderr}");
}
