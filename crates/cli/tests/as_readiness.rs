//! The authorization server's `/readyz` (issue 19), as a load balancer reads it:
//!
//! - On a PostgreSQL and a Redis of the test's own: 200 `{"status":"ready"}` while
//!   both answer; 503 naming `database` within the probe's bound when PostgreSQL is
//!   stopped, 200 again once it is back; 503 naming `replay_cache` when Redis is
//!   killed (and a DPoP token request then gets 503 with `Retry-After`), 200 again
//!   once it is back. The bodies carry no error detail; the log does.
//! - SIGTERM: `/readyz` answers `503 {"status":"draining"}` at once, requests are
//!   still served during `--drain-delay`, then the port refuses and the process
//!   exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use mcp_auth_testkit::{AsCluster, CLUSTER_RESOURCE, PrivatePostgres, PrivateRedis, free_port};
use serde_json::{Value, json};

mod common;

/// The longest `/readyz` may take to answer while a dependency is down: the 2 s
/// bound on each check and time to answer.
const PROBE_BOUND: Duration = Duration::from_millis(3500);

/// The longest the AS may take to be ready again once its dependency is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

/// `/readyz` at `base`: (status, body, how long it took).
async fn readyz(base: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap();
    (status, body, started.elapsed())
}

/// Polls `/readyz` at `base` until it answers `status`, within `bound`; the body.
async fn until(base: &str, status: u16, bound: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (s, body, _) = readyz(base).await;
        if s == status {
            return body;
        }
        assert!(started.elapsed() < bound, "/readyz still {s} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_database_or_the_replay_cache_that_does_not_answer() {
    let Some(pg) = PrivatePostgres::start("as_readiness") else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start("as_readiness") else {
        return;
    };
    let c = AsCluster::start(
        env!("CARGO_BIN_EXE_mcp-auth").as_ref(),
        1,
        &pg.url(),
        &redis.url(),
        "",
    )
    .await;
    let base = c.instances[0].base.clone();
    let ready = json!({"status": "ready", "database": "ok", "replay_cache": "ok"});
    let (status, body, _) = readyz(&base).await;
    assert_eq!((status, &body), (200, &ready));

    // PostgreSQL stopped: 503 naming the database, within the probe's bound.
    tokio::task::block_in_place(|| pg.stop_immediately());
    let (status, body, took) = readyz(&base).await;
    assert_eq!(
        (status, &body),
        (
            503,
            &json!({"status": "unavailable", "database": "unavailable", "replay_cache": "ok"})
        )
    );
    assert!(took <= PROBE_BOUND, "{took:?}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503, "/healthz still checks the database");
    tokio::task::block_in_place(|| pg.start_again());
    assert_eq!(until(&base, 200, RECOVERY_BOUND).await, ready);

    // Redis killed: 503 naming the replay cache; a DPoP token request is refused
    // with Retry-After.
    let secret = c.add_confidential_client("bot");
    redis.kill();
    let (status, body, took) = readyz(&base).await;
    assert_eq!(
        (status, &body),
        (
            503,
            &json!({"status": "unavailable", "database": "ok", "replay_cache": "unavailable"})
        )
    );
    assert!(took <= PROBE_BOUND, "{took:?}");
    let signer =
        mcp_auth_client::DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
    let (mut parts, ()) = http::Request::post(format!("{}/token", c.issuer))
        .body(())
        .unwrap()
        .into_parts();
    signer
        .add_proof(&mut parts, None, mcp_auth_core::unix_now())
        .unwrap();
    let r = c
        .http
        .post(format!("{base}/token"))
        .basic_auth("bot", Some(&secret))
        .header("dpop", parts.headers["dpop"].to_str().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", CLUSTER_RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["error"], "temporarily_unavailable", "{refused}");
    tokio::task::block_in_place(|| redis.start_again());
    assert_eq!(until(&base, 200, RECOVERY_BOUND).await, ready);

    // Why each failed is in the log, not in the bodies.
    let logs = c.instances[0].logs();
    assert!(
        logs.contains("readiness: the database does not answer"),
        "{logs}"
    );
    assert!(
        logs.contains("readiness: the replay cache does not answer"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_makes_the_as_unready_at_once_serves_through_the_drain_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let resource = "http://127.0.0.1:3000/mcp";
    let log = dir.path().join("as.log");
    let mut process = common::start_as(
        &dir.path().join("data"),
        port,
        resource,
        &["--drain-delay", "2", "--shutdown-timeout", "5"],
        Some(&log),
    )
    .await;
    let (status, body, _) = readyz(&base).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ready", "database": "ok", "replay_cache": "ok"})
        )
    );
    let status = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    assert_eq!(
        until(&base, 503, Duration::from_millis(500)).await,
        json!({"status": "draining"})
    );
    // Still serving during the drain delay: the metadata answers.
    let r = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(signalled.elapsed() < Duration::from_secs(2));
    let exit = tokio::task::spawn_blocking(move || {
        let status = process.0.wait().unwrap();
        (status, Instant::now())
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "{:?}", exit.0);
    let took = exit.1 - signalled;
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "exit after the 2 s drain delay: {took:?}"
    );
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("shutdown: draining"), "{logs}");
    assert!(
        logs.contains("shutdown: every connection finished"),
        "{logs}"
    );
}
