//! `[audit]` through `mcp-auth gateway`'s configuration, over real HTTP on
//! 127.0.0.1: a real AS, the gateway built from `RawGatewayConfig` as the command
//! builds it, a recording upstream, the audit trail in a real file or a real FIFO.
//!
//! - One event per operation, forwarded (with the upstream's status) or refused by
//!   the policy, a hidden tool, the rate limit; the request id the client sent goes
//!   upstream and into the event; arguments only as their SHA-256 unless configured.
//! - A stalled audit output (a FIFO nobody reads) never blocks a request with
//!   `on_full = "drop"`, and refuses with 503 before forwarding with `"refuse"`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::Duration;

use aws_lc_rs::digest;
use mcp_auth_resource::gateway::RawGatewayConfig;
use serde_json::Value;

mod common;

use common::gateway::recording_upstream;

const POLICY: &str = r#"
[[rules]]
name = "no admin tools"
when = 'request.method == "tools/call" && request.name.startsWith("admin_")'
effect = "deny"

[[rules]]
name = "writes only under /tmp"
when = 'request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")'
effect = "deny"
"#;

/// A gateway for `resource` (Bearer accepted) with the policy above, the rate limit
/// and audit tables given, on `listener`.
async fn gateway(
    listener: tokio::net::TcpListener,
    resource: &str,
    authorization_server: &common::As,
    upstream: &str,
    tables: &str,
) {
    let mut config: RawGatewayConfig = toml::from_str(tables).unwrap();
    config.upstream = Some(upstream.into());
    config.resource = Some(resource.to_owned());
    config.issuers = vec![authorization_server.issuer.clone()];
    config.allow_bearer = true;
    config.policy = toml::from_str(POLICY).unwrap();
    let router = config.validate().unwrap().router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

async fn call(
    url: &str,
    token: &str,
    id: u32,
    tool: &str,
    arguments: &str,
    request_id: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-request-id", request_id)
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
        ))
        .send()
        .await
        .unwrap()
}

/// The events in `path` once there are `n` (the writer is a thread of its own).
async fn events(path: &Path, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} audit events in {}", path.display());
}

fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn every_operation_gets_one_event_with_its_decision_and_the_forwarded_ones_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.jsonl");
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let tables = format!(
        "[rate_limit]\nrate = 0.01\nburst = 3\n\n[audit]\noutput = \"{}\"\n",
        trail.display()
    );
    gateway(listener, &resource, &authorization_server, &up, &tables).await;
    let token = authorization_server.bearer_token(&resource).await;

    let arguments = r#"{ "path": "/tmp/a", "token": "s3cret" }"#;
    assert_eq!(
        call(&resource, &token, 1, "write_file", arguments, "req-1")
            .await
            .status(),
        200
    );
    assert_eq!(
        call(
            &resource,
            &token,
            2,
            "write_file",
            r#"{"path":"/etc/x"}"#,
            "req-2"
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        call(&resource, &token, 3, "admin_reset", "{}", "req-3")
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&resource, &token, 4, "echo", "{}", "req-4")
            .await
            .status(),
        429
    );

    let events = events(&trail, 4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e["request_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {events:#?}"))
    };

    let forwarded = by_id("req-1");
    assert_eq!(forwarded["decision"], "allow");
    assert_eq!(forwarded["upstream_status"], 200);
    assert_eq!(forwarded["method"], "tools/call");
    assert_eq!(forwarded["tool"], "write_file");
    assert_eq!(forwarded["issuer"], authorization_server.issuer);
    assert_eq!(forwarded["client_id"], "bearer-agent");
    assert_eq!(forwarded["profile"], "bearer");
    // The SHA-256 of the arguments' bytes as sent; the arguments themselves (a token
    // among them) are not in the trail.
    assert_eq!(
        forwarded["arguments_sha256"],
        sha256_hex(arguments.as_bytes())
    );
    assert!(forwarded.get("arguments").is_none());
    assert!(!std::fs::read_to_string(&trail).unwrap().contains("s3cret"));
    assert!(forwarded["latency_ms"].as_f64().unwrap() > 0.0);
    // The request id went upstream too.
    let upstream_saw = seen.lock().unwrap()[0].headers["x-request-id"].clone();
    assert_eq!(upstream_saw, "req-1");

    let denied = by_id("req-2");
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["rule"], "rule `writes only under /tmp`");
    assert!(denied["upstream_status"].is_null());
    assert_eq!(by_id("req-3")["decision"], "hidden");
    assert_eq!(by_id("req-3")["tool"], "admin_reset");
    let limited = by_id("req-4");
    assert_eq!(limited["decision"], "rate_limited");
    assert_eq!(limited["subject"], forwarded["subject"]);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the allowed call was forwarded"
    );
}

/// A FIFO whose reader the test holds open and never reads: the audit writer's
/// writes block once the pipe is full.
fn stalled_fifo(path: &Path) -> std::fs::File {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
    // O_NONBLOCK: opening the read end does not wait for a writer.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(path)
        .unwrap()
}

#[tokio::test]
async fn a_stalled_audit_output_never_blocks_a_request_and_refuses_when_told() {
    for (on_full, refused_expected) in [("drop", false), ("refuse", true)] {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("audit.fifo");
        let _reader = stalled_fifo(&fifo);
        let (listener, resource) = common::bind().await;
        let authorization_server = common::start_as(&resource).await;
        let (up, seen) = recording_upstream().await;
        let tables = format!(
            "[audit]\noutput = \"{}\"\nqueue = 4\non_full = \"{on_full}\"\n",
            fifo.display()
        );
        gateway(listener, &resource, &authorization_server, &up, &tables).await;
        let token = authorization_server.bearer_token(&resource).await;
        // Each line is about 450 bytes: 300 fill a 64 KiB pipe and the queue.
        let (mut ok, mut unavailable) = (0, 0);
        for i in 0..300 {
            let r = call(
                &resource,
                &token,
                i,
                "echo",
                r#"{"text":"hello"}"#,
                &format!("r{i}"),
            )
            .await;
            match r.status().as_u16() {
                200 => ok += 1,
                503 => {
                    assert_eq!(r.headers()["retry-after"], "1");
                    unavailable += 1;
                }
                other => panic!("{on_full}: status {other}"),
            }
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            ok,
            "{on_full}: only answered calls were forwarded"
        );
        if refused_expected {
            assert!(unavailable > 0, "refuse: a full queue refuses");
            assert!(ok > 0, "refuse: calls passed while there was room");
        } else {
            assert_eq!((ok, unavailable), (300, 0), "drop: every call answered");
        }
    }
}
