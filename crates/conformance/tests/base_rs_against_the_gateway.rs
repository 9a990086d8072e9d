//! The base resource-server checks against our own gateway, in front of a recording
//! upstream, trusting the checker's issuer: every check passes. (A gateway made
//! weaker on purpose failing exactly the checks aimed at the weakness is the
//! mutation proof, issue 17, still to come.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_conformance::{Minter, Outcome, ServerTarget, base_rs, report, run};
use mcp_auth_resource::gateway::RawGatewayConfig;

/// An Ed25519 key the checker signs with.
fn key_pem() -> String {
    mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap()
}

/// The checker's issuer served on loopback, and the gateway trusting it.
async fn gateway() -> ServerTarget {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let minter = Minter::from_pem(&key_pem(), &issuer).unwrap();
    let router = mcp_auth_conformance::issuer::router(&minter);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let upstream = mcp_auth_testkit::mcp_upstream("conformance").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let raw: RawGatewayConfig = toml_config(&upstream.url, &resource, &issuer);
    let app = raw.validate().unwrap().router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ServerTarget::new(&resource, Some(minter)).unwrap()
}

fn toml_config(upstream: &str, resource: &str, issuer: &str) -> RawGatewayConfig {
    serde_json::from_value(serde_json::json!({
        "upstream": upstream,
        "resource": resource,
        "issuers": [issuer],
        "allow_bearer": true,
        "scopes_supported": ["mcp:read"],
        "scopes": {"required": ["mcp:read"]},
    }))
    .unwrap()
}

#[tokio::test]
async fn every_base_check_passes_against_our_gateway() {
    let target = gateway().await;
    let results = run(&base_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Pass(_))),
        "{text}"
    );
    assert_eq!(results.len(), 22, "{text}");
}

#[tokio::test]
async fn without_a_key_the_token_checks_skip_and_say_why() {
    let mut target = gateway().await;
    target.minter = None;
    let results = run(&base_rs::checks(), &target, None).await;
    let skipped: Vec<&str> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .map(|r| r.id)
        .collect();
    assert_eq!(skipped.len(), 18, "{}", report::table(&results));
    assert!(results[0].outcome == Outcome::Pass(results[0].outcome.evidence().to_owned()));
    let only = run(&base_rs::checks(), &target, Some(&["BASE-RS-2".to_owned()])).await;
    assert_eq!(only.len(), 1);
}
