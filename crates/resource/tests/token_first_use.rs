//! Concurrent first uses of one token verify it once: the others wait for that
//! verification and read the cache (`token/first_use.rs`). A real AS on 127.0.0.1
//! rotates its key first, so the token names a `kid` the cache must fetch: the first
//! verification waits on that fetch, and every request that comes meanwhile finds the
//! token still unverified. The count is `mcp_auth_token_verifications_total`, read
//! from a Prometheus recorder (this binary's only test, so nothing else records).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_auth_resource::{AccessTokenCache, discover_issuer};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_of_a_token_verify_it_once() {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let resource = "https://mcp.first-use.example/mcp";
    let authorization_server = common::start_as(resource).await;
    let trusted = discover_issuer(&authorization_server.issuer).await.unwrap();
    let cache = Arc::new(AccessTokenCache::for_issuers(resource, vec![trusted]));

    authorization_server.rotate_key().await;
    let token = authorization_server.bearer_token(resource).await;
    let now = mcp_auth_core::unix_now();

    let uses: Vec<_> = (0..16)
        .map(|_| {
            let (cache, token) = (Arc::clone(&cache), token.clone());
            tokio::spawn(async move { cache.verify(&token, now).await.map(|t| t.claims.exp) })
        })
        .collect();
    for used in uses {
        assert!(used.await.unwrap().is_ok());
    }
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l == r#"mcp_auth_token_verifications_total{outcome="verified"} 1"#),
        "one verification in full for 16 concurrent first uses:\n{text}"
    );
    // Later uses are cache hits.
    cache.verify(&token, now).await.unwrap();
    assert!(
        metrics
            .render()
            .lines()
            .any(|l| l == r#"mcp_auth_token_verifications_total{outcome="verified"} 1"#)
    );
}
