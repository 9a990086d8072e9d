//! The base resource-server checks against our own gateway, in front of a recording
//! upstream, trusting the checker's issuer: every check passes. (A gateway made
//! weaker on purpose failing exactly the checks aimed at the weakness is the
//! mutation proof, issue 17, still to come.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Gateway;
use mcp_auth_conformance::server::TokenSource;
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

/// The ids whose outcome is `name`.
fn ids(results: &[mcp_auth_conformance::CheckResult], name: &str) -> Vec<&'static str> {
    results
        .iter()
        .filter(|r| r.outcome.name() == name)
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn a_token_command_serves_the_checks_that_need_a_valid_token_as_it_is() {
    let mut target = gateway().await;
    // A token the checker does not mint: it comes from the command, as one from the
    // server's own AS would.
    let minter = target.minter.take().unwrap();
    let now = mcp_auth_core::unix_now();
    let token = minter.sign(&minter.valid(target.resource(), "mcp:read", now));
    target.tokens = Some(TokenSource::Command(format!(
        "test \"$MCP_RESOURCE\" = {} && printf '%s\\n' {token}",
        target.url
    )));
    let results = run(&base_rs::checks(), &target, None).await;
    let text = report::table(&results);
    assert_eq!(ids(&results, "fail"), Vec::<&str>::new(), "{text}");
    assert_eq!(
        ids(&results, "pass"),
        [
            "BASE-RS-1",
            "BASE-RS-2",
            "BASE-RS-3",
            "BASE-RS-4",
            "BASE-RS-9",
            "BASE-RS-10",
            "BASE-RS-15",
            "BASE-RS-16",
            "BASE-RS-19",
            "BASE-RS-20",
            "BASE-RS-24",
            "BASE-RS-18",
            "BASE-RS-25",
            "BASE-RS-27",
        ],
        "{text}"
    );
    let only_minted = results
        .iter()
        .find(|r| r.id == "BASE-RS-5")
        .unwrap()
        .outcome
        .evidence();
    assert!(only_minted.contains("needs --issuer-key"), "{text}");
}

#[tokio::test]
async fn a_failing_or_garbled_token_command_skips_the_token_checks_and_says_why() {
    for (command, why) in [
        ("exit 3", "exited with"),
        ("printf 'not a token!'", "printed no token"),
        (
            "head -c 20000 /dev/zero | tr '\\0' a",
            "more than 16384 bytes",
        ),
    ] {
        let mut target = gateway().await;
        target.minter = None;
        target.tokens = Some(TokenSource::Command(command.into()));
        let results = run(&base_rs::checks(), &target, Some(&["BASE-RS-4".into()])).await;
        match &results[0].outcome {
            Outcome::Skip(e) => assert!(e.contains(why), "{command}: {e}"),
            other => panic!("{command}: {other:?}"),
        }
    }
}
