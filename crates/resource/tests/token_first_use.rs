//! Concurrent first uses of one token verify it once: the others wait for that
//! verification and read the cache (`token/first_use.rs`). A real AS on 127.0.0.1
//! rotates its key first, so the token names a `kid` the cache must fetch: the first
//! verification waits on that fetch, and every request that comes meanwhile finds the
//! token still unverified. The count is `mcp_auth_token_verifications_total`, read
//! from a Prometheus recorder (this binary's only test, so nothing else records).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_auth_resource::{AccessTokenCache, discover_issuer};
use mcp_auth_testkit::jwt_kid as kid_of;

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

    let kid = authorization_server.rotate_key().await;
    let token = authorization_server.bearer_token(resource).await;
    assert_eq!(
        kid_of(&token),
        kid,
        "the first verification must fetch the new key"
    );
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
    // A forged signature is verified in full, and refused.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{flipped}{}", &signature[1..]);
    assert!(cache.verify(&forged, now).await.is_err());
    let text = metrics.render();
    for line in [
        r#"mcp_auth_token_verifications_total{outcome="verified"} 1"#,
        r#"mcp_auth_token_verifications_total{outcome="refused"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
}
