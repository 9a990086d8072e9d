//! The authorization server's replay cache on a Redis Cluster (`replay_cache =
//! "redis-cluster://…"`), over real HTTP on 127.0.0.1 and a real 3-primary cluster of
//! the test's own (the test kit's [`PrivateRedisCluster`]): a DPoP proof at `/token`
//! is accepted once; while the primary holding its `jti` is down the token endpoint
//! fails closed; that primary restarted empty, the proof is still refused (as a proof
//! that may predate the cache's memory: docs/security.md, "Replay cache memory loss")
//! and a new proof is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_core::redis_connection::RedisTarget;
use mcp_auth_core::{RedisReplayCache, replay_key};
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_testkit::{PrivateRedisCluster, TestAs, register_client, start_as};
use serde_json::{Value, json};

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const SECRET: &str = "cc-secret";

/// A `client_credentials` token request of `agent` with the DPoP proof `proof`: the
/// status and the JSON body.
async fn token(server: &TestAs, proof: &str) -> (u16, Value) {
    let r = server
        .http
        .post(format!("{}/token", server.base))
        .basic_auth("agent", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A fresh proof for the token endpoint of `server`.
fn proof(server: &TestAs, signer: &ProofSigner) -> String {
    signer
        .proof(
            "POST",
            &format!("{}/token", server.issuer),
            None,
            None,
            mcp_auth_core::unix_now(),
        )
        .unwrap()
}

fn jti(proof: &str) -> String {
    let payload = proof.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// Sends `proof` until the answer is not a 503 of the replay cache (a node coming
/// back), for at most 30 s.
async fn answered(server: &TestAs, proof: &str) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = token(server, proof).await;
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_proofs_are_used_once_on_a_redis_cluster_across_a_node_restart() {
    let started = mcp_auth_core::unix_now();
    let Some(mut cluster) = PrivateRedisCluster::start("replay_cache_cluster", 3) else {
        return;
    };
    let url = cluster.url();
    // future_skew 1: a proof is refused after a loss of memory for 2 s, not 61.
    let toml = format!("replay_cache = \"{url}\"\n[dpop]\nfuture_skew = 1\n");
    let server = start_as(&toml, |a| format!("http://{a}"), &[RESOURCE]).await;
    register_client(
        &server.state,
        "agent",
        Some(SECRET),
        json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"]}),
    )
    .await;
    // Proofs made within the skew of the servers' start could predate their memory.
    while mcp_auth_core::unix_now() <= started + 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();

    // Once, then a replay.
    let used = proof(&server, &signer);
    let (status, body) = token(&server, &used).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let (status, body) = token(&server, &used).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );

    // The primary that holds the proof's jti, killed: fail closed.
    let layout = RedisReplayCache::connect(
        &RedisTarget::parse(&url).unwrap(),
        "mcp-auth:as-replay:",
        Duration::from_secs(1),
    )
    .unwrap();
    let key = layout.redis_key(&replay_key("dpop-token", signer.jkt(), &jti(&used)));
    let holder = cluster.owner_of(&key);
    cluster.node_mut(holder).kill();
    let (status, body) = token(&server, &used).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    // Back, empty: the proof is not accepted again.
    cluster.node_mut(holder).start_again();
    cluster.wait_until_ok();
    let (status, body) = answered(&server, &used).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too old or from the future"),
        "{body}"
    );
    // New proofs are accepted (after the refusal of those within the skew of the loss).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = answered(&server, &proof(&server, &signer)).await;
        if status == 200 {
            break;
        }
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_dpop_proof"))
        );
        assert!(Instant::now() < deadline, "never accepted again: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
