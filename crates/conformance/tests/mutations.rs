//! The mutation proof of the checker: our gateway with one check deliberately
//! switched off (`mcp_auth_core::weakening`, compiled only for these tests) fails
//! exactly the conformance checks aimed at that check, and no other; the same
//! gateway without the weakening passes them all. A check that no weakening makes
//! fail, or a weakening that several unrelated checks notice, would show here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::Gateway;
use mcp_auth_conformance::{
    Check, Outcome, ServerTarget, base_rs, dpop_rs, httpsig_rs, report, run,
};
use mcp_auth_core::weakening::{Weakening, Weakenings};
use serde_json::{Value, json};

/// The requirement ids of the checks that failed.
async fn failing(checks: &[Check<ServerTarget>], target: &ServerTarget) -> BTreeSet<&'static str> {
    let results = run(checks, target, None).await;
    println!("{}", report::table(&results));
    results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .map(|r| r.id)
        .collect()
}

/// The base checks against a Bearer gateway with `weakening` at `revision`.
async fn base_failures(weakening: Option<Weakening>, revision: &str) -> BTreeSet<&'static str> {
    let weakenings = weakening.map_or(Weakenings::NONE, |w| Weakenings::NONE.with(w));
    let mut target = Gateway {
        weakenings,
        ..Gateway::default()
    }
    .start()
    .await;
    target.protocol_version = revision.into();
    // The operator's word that the probe needs mcp:read (the gateway's policy), so
    // that ignoring scope is a failure, not a skip.
    target.scope = Some("mcp:read".into());
    failing(&base_rs::checks(), &target).await
}

#[tokio::test]
async fn each_token_check_switched_off_fails_exactly_its_base_check() {
    for revision in ["2025-11-25", "2026-07-28"] {
        assert_eq!(
            base_failures(None, revision).await,
            BTreeSet::new(),
            "{revision}"
        );
    }
    for (weakening, caught) in [
        (Weakening::IgnoreAudience, "BASE-RS-5"),
        (Weakening::IgnoreExpiry, "BASE-RS-6"),
        (Weakening::SkipTokenSignature, "BASE-RS-9"),
        (Weakening::AcceptAlgNone, "BASE-RS-10"),
        (Weakening::AcceptAnyTyp, "BASE-RS-13"),
        (Weakening::IgnoreScope, "BASE-RS-17"),
    ] {
        assert_eq!(
            base_failures(Some(weakening), "2025-11-25").await,
            BTreeSet::from([caught]),
            "{weakening:?}"
        );
    }
}

#[tokio::test]
async fn mirrored_headers_not_compared_fail_exactly_the_2026_header_checks() {
    assert_eq!(
        base_failures(Some(Weakening::IgnoreMirroredHeaders), "2026-07-28").await,
        BTreeSet::from(["BASE-RS-28", "BASE-RS-29", "BASE-RS-30"])
    );
    // At 2025-11-25 those checks do not run: nothing fails.
    assert_eq!(
        base_failures(Some(Weakening::IgnoreMirroredHeaders), "2025-11-25").await,
        BTreeSet::new()
    );
}

/// `checks` against a gateway configured with `config` and `weakening`.
async fn profile_failures(
    checks: &[Check<ServerTarget>],
    config: &Value,
    weakening: Option<Weakening>,
) -> BTreeSet<&'static str> {
    let target = Gateway {
        config: config.clone(),
        weakenings: weakening.map_or(Weakenings::NONE, |w| Weakenings::NONE.with(w)),
        ..Gateway::default()
    }
    .start()
    .await;
    failing(checks, &target).await
}

#[tokio::test]
async fn each_dpop_check_switched_off_fails_exactly_its_dpop_check() {
    let config = json!({"dpop": {"enabled": true, "nonce": true,
        "nonce_secret": "conformance-nonce-secret-of-32-bytes-or-more"}});
    let checks = dpop_rs::checks();
    assert_eq!(
        profile_failures(&checks, &config, None).await,
        BTreeSet::new()
    );
    for (weakening, caught) in [
        (Weakening::BearerForBoundTokens, vec!["DPOP-RS-6"]),
        (Weakening::SkipAth, vec!["DPOP-RS-3"]),
    ] {
        assert_eq!(
            profile_failures(&checks, &config, Some(weakening)).await,
            caught.into_iter().collect(),
            "{weakening:?}"
        );
    }
}

#[tokio::test]
async fn each_httpsig_check_switched_off_fails_exactly_its_httpsig_check() {
    // Bearer allowed, so that a bound token taken as a bearer token is not refused
    // for being Bearer anyway.
    let config = json!({"allow_bearer": true});
    let checks = httpsig_rs::checks();
    assert_eq!(
        profile_failures(&checks, &config, None).await,
        BTreeSet::new()
    );
    for (weakening, caught) in [
        (Weakening::BearerForBoundTokens, vec!["HTTPSIG-RS-5"]),
        (Weakening::SkipContentDigest, vec!["HTTPSIG-RS-12"]),
        (Weakening::SkipSignatureNonceReplay, vec!["HTTPSIG-RS-13"]),
        (Weakening::IgnoreMirroredHeaders, vec!["HTTPSIG-RS-14"]),
        (Weakening::UncoveredParamHeaders, vec!["HTTPSIG-RS-17"]),
    ] {
        assert_eq!(
            profile_failures(&checks, &config, Some(weakening)).await,
            caught.into_iter().collect(),
            "{weakening:?}"
        );
    }
}
