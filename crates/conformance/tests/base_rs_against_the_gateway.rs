//! The base resource-server checks against our own gateway, in front of a recording
//! upstream, trusting the checker's issuer: every check passes. (A gateway made
//! weaker on purpose failing exactly the checks aimed at the weakness is the
//! mutation proof, issue 17, still to come.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Gateway;
use mcp_auth_conformance::{Outcome, ServerTarget, base_rs, report, run};

/// The checker's issuer served on loopback (an Ed25519 key), and the gateway
/// trusting it.
async fn gateway() -> ServerTarget {
    Gateway::default().start().await
}

/// The same with a key of `alg`.
async fn gateway_with(alg: mcp_auth_httpsig::Algorithm) -> ServerTarget {
    Gateway {
        alg,
        ..Gateway::default()
    }
    .start()
    .await
}

/// The checks that skipped, with the first words of why.
fn skipped(results: &[mcp_auth_conformance::CheckResult]) -> Vec<(&'static str, String)> {
    results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .map(|r| {
            let why: String = r.outcome.evidence().chars().take(24).collect();
            (r.id, why)
        })
        .collect()
}

fn assert_no_failure(results: &[mcp_auth_conformance::CheckResult]) -> String {
    let text = report::table(results);
    println!("{text}");
    assert!(
        !results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Fail(_))),
        "{text}"
    );
    text
}

#[tokio::test]
async fn every_base_check_passes_against_our_gateway() {
    // 2025-11-25 with an Ed25519 key: the 2026-07-28 checks and RS256 skip, and
    // https, since the gateway is on loopback.
    let target = gateway().await;
    let results = run(&base_rs::checks(), &target, None).await;
    let text = assert_no_failure(&results);
    assert_eq!(results.len(), 31, "{text}");
    assert_eq!(
        skipped(&results),
        [
            ("BASE-RS-22", "the checker's key signs ".into()),
            ("BASE-RS-26", "http on a loopback host ".into()),
            ("BASE-RS-28", "2026-07-28 only: run wit".into()),
            ("BASE-RS-29", "2026-07-28 only: run wit".into()),
            ("BASE-RS-30", "2026-07-28 only: run wit".into()),
            ("BASE-RS-31", "2026-07-28 only: run wit".into()),
        ],
        "{text}"
    );
}

#[tokio::test]
async fn at_2026_07_28_with_an_rsa_key_the_header_and_rs256_checks_pass() {
    let mut target = gateway_with(mcp_auth_httpsig::Algorithm::RsaV15Sha256).await;
    target.protocol_version = "2026-07-28".into();
    let results = run(&base_rs::checks(), &target, None).await;
    let text = assert_no_failure(&results);
    assert_eq!(
        skipped(&results),
        [
            ("BASE-RS-26", "http on a loopback host ".into()),
            ("BASE-RS-27", "2025-11-25 only: the 202".into()),
        ],
        "{text}"
    );
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
    assert_eq!(skipped.len(), 25, "{}", report::table(&results));
    assert!(results[0].outcome == Outcome::Pass(results[0].outcome.evidence().to_owned()));
    let only = run(&base_rs::checks(), &target, Some(&["BASE-RS-2".to_owned()])).await;
    assert_eq!(only.len(), 1);
}
