//! The http-message-signatures resource-server checks against our own gateway, in
//! front of a recording upstream, trusting the checker's issuer: every check passes
//! when bound tokens are required, at both protocol revisions; with Bearer allowed the check that needs the
//! requirement skips and says why; without a key every signed check skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Gateway;
use mcp_auth_conformance::{CheckResult, Outcome, ServerTarget, httpsig_rs, report, run};

/// The number of HTTPSIG-RS checks.
const CHECKS: usize = 110;

/// The checker's issuer and our gateway trusting it, Bearer allowed or not.
async fn gateway(allow_bearer: bool) -> ServerTarget {
    gateway_with(allow_bearer, false).await
}

/// The same, with `[dpop]` on or off.
async fn gateway_with(allow_bearer: bool, dpop: bool) -> ServerTarget {
    Gateway {
        config: serde_json::json!({"allow_bearer": allow_bearer, "dpop": {"enabled": dpop}}),
        ..Gateway::default()
    }
    .start()
    .await
}

fn ids_with(results: &[CheckResult], result: &str) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.outcome.name() == result)
        .map(|r| format!("{} {}", r.id, r.requirement))
        .collect()
}

#[tokio::test]
async fn every_httpsig_check_passes_against_our_gateway() {
    let target = gateway(false).await;
    let results = run(&httpsig_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert_eq!(ids_with(&results, "fail"), Vec::<String>::new(), "{text}");
    assert_eq!(ids_with(&results, "skip"), Vec::<String>::new(), "{text}");
    assert_eq!(results.len(), CHECKS, "{text}");
}

#[tokio::test]
async fn every_httpsig_check_passes_at_2026_07_28() {
    let mut target = gateway(false).await;
    target.protocol_version = mcp_auth_conformance::server::PROTOCOL_VERSIONS[1].to_owned();
    let results = run(&httpsig_rs::checks(), &target, None).await;
    let text = report::table(&results);
    assert_eq!(ids_with(&results, "fail"), Vec::<String>::new(), "{text}");
    assert_eq!(ids_with(&results, "skip"), Vec::<String>::new(), "{text}");
    assert_eq!(results.len(), CHECKS, "{text}");
}

#[tokio::test]
async fn with_dpop_also_accepted_only_the_bound_only_check_skips() {
    let target = gateway_with(false, true).await;
    let results = run(&httpsig_rs::checks(), &target, None).await;
    let text = report::table(&results);
    println!("{text}");
    assert_eq!(ids_with(&results, "fail"), Vec::<String>::new(), "{text}");
    assert_eq!(
        ids_with(&results, "skip"),
        [
            "HTTPSIG-RS-5 with httpsig_bound_access_tokens_required true, an unbound token as Bearer: 401 invalid_token"
        ],
        "{text}"
    );
}

#[tokio::test]
async fn with_bearer_allowed_the_bound_only_check_skips_and_says_why() {
    let target = gateway(true).await;
    let results = run(&httpsig_rs::checks(), &target, None).await;
    let text = report::table(&results);
    let skipped: Vec<&CheckResult> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .collect();
    assert_eq!(skipped.len(), 1, "{text}");
    assert_eq!(skipped[0].id, "HTTPSIG-RS-5");
    assert_eq!(
        skipped[0].outcome.evidence(),
        "httpsig_bound_access_tokens_required is not true: the server may accept Bearer tokens (§5.2)"
    );
    assert_eq!(ids_with(&results, "fail"), Vec::<String>::new(), "{text}");
}

#[tokio::test]
async fn without_a_key_the_signed_checks_skip_and_say_why() {
    let mut target = gateway(false).await;
    target.minter = None;
    let results = run(&httpsig_rs::checks(), &target, None).await;
    let text = report::table(&results);
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Pass(_)))
        .map(|r| r.id)
        .collect();
    assert_eq!(
        passed,
        ["HTTPSIG-RS-1", "HTTPSIG-RS-1", "HTTPSIG-RS-15"],
        "{text}"
    );
    let skipped: Vec<&CheckResult> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .collect();
    assert_eq!(skipped.len(), CHECKS - 3, "{text}");
    for r in skipped {
        assert_eq!(
            r.outcome.evidence(),
            "needs --issuer-key: the checker mints its own bound tokens",
            "{} {}",
            r.id,
            r.requirement
        );
    }
}

/// The judgements fail on answers that break the profile: the checks above can fail.
mod judgements {
    use mcp_auth_conformance::httpsig_answer::{Expect, judge};
    use mcp_auth_conformance::httpsig_request::{Draft, Sig};
    use mcp_auth_conformance::server::Answer;
    use mcp_auth_core::challenge::parse_field;
    use reqwest::header::{HeaderMap, HeaderValue};

    const METADATA: &str =
        "resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/mcp\"";
    const TOOL_CALL: &str =
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t"}}"#;
    const FULL: &str = r#"sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name" "mcp-protocol-version");created;tag="httpsig-oauth""#;

    /// A signed tools/call as sent.
    fn sent(authorization: &str) -> Draft {
        Draft {
            method: "POST".to_owned(),
            url: "http://127.0.0.1/mcp".to_owned(),
            target_uri: "http://127.0.0.1/mcp".to_owned(),
            headers: vec![
                ("authorization".to_owned(), authorization.to_owned()),
                ("mcp-protocol-version".to_owned(), "2025-11-25".to_owned()),
                ("mcp-method".to_owned(), "tools/call".to_owned()),
                ("mcp-name".to_owned(), "t".to_owned()),
            ],
            body: TOOL_CALL.as_bytes().to_vec(),
            sigs: Vec::<Sig>::new(),
        }
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        Answer {
            status,
            headers: map,
            body: body.to_owned(),
        }
    }

    fn challenge(error: &str) -> String {
        format!("HTTPSig error=\"{error}\", {METADATA}")
    }

    #[test]
    fn invalid_signature_needs_the_code_the_challenge_and_accept_signature() {
        let sent = sent("HTTPSig t");
        let good = challenge("invalid_signature");
        let ok = answer(
            401,
            &[("www-authenticate", &good), ("accept-signature", FULL)],
            "",
        );
        assert_eq!(judge(Expect::InvalidSignature, &ok, &sent).name(), "pass");
        for (status, headers) in [
            // Another status.
            (
                400,
                vec![
                    ("www-authenticate", good.clone()),
                    ("accept-signature", FULL.to_owned()),
                ],
            ),
            // invalid_token instead.
            (
                401,
                vec![
                    ("www-authenticate", challenge("invalid_token")),
                    ("accept-signature", FULL.to_owned()),
                ],
            ),
            // Only a Bearer challenge.
            (
                401,
                vec![
                    ("www-authenticate", good.replace("HTTPSig", "Bearer")),
                    ("accept-signature", FULL.to_owned()),
                ],
            ),
            // No resource_metadata.
            (
                401,
                vec![
                    (
                        "www-authenticate",
                        "HTTPSig error=\"invalid_signature\"".to_owned(),
                    ),
                    ("accept-signature", FULL.to_owned()),
                ],
            ),
            // No Accept-Signature.
            (401, vec![("www-authenticate", good.clone())]),
            // Accept-Signature without mcp-name, or with a nonce, or another label.
            (
                401,
                vec![
                    ("www-authenticate", good.clone()),
                    ("accept-signature", FULL.replace(" \"mcp-name\"", "")),
                ],
            ),
            (
                401,
                vec![
                    ("www-authenticate", good.clone()),
                    (
                        "accept-signature",
                        format!("{FULL};nonce=\"abcdefghijklmnop\""),
                    ),
                ],
            ),
            (
                401,
                vec![
                    ("www-authenticate", good.clone()),
                    ("accept-signature", FULL.replacen("sig=", "sig1=", 1)),
                ],
            ),
        ] {
            let headers: Vec<(&'static str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let a = answer(status, &headers, "");
            assert_eq!(
                judge(Expect::InvalidSignature, &a, &sent).name(),
                "fail",
                "{status} {headers:?}"
            );
        }
    }

    #[test]
    fn a_bearer_presentation_may_get_the_error_in_the_bearer_challenge() {
        let both = format!("Bearer error=\"invalid_token\", {METADATA}, HTTPSig {METADATA}");
        let a = answer(401, &[("www-authenticate", &both)], "");
        assert_eq!(
            judge(Expect::InvalidToken, &a, &sent("Bearer t")).name(),
            "pass"
        );
        // Under HTTPSig the error belongs in the HTTPSig challenge.
        assert_eq!(
            judge(Expect::InvalidToken, &a, &sent("HTTPSig t")).name(),
            "fail"
        );
    }

    #[test]
    fn a_header_mismatch_needs_400_and_the_json_rpc_code_and_id() {
        let sent = sent("HTTPSig t");
        let error = |code: i64, id: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"m"}}}}"#)
        };
        let judged = |status: u16, body: &str| {
            judge(Expect::HeaderMismatch, &answer(status, &[], body), &sent).name()
        };
        assert_eq!(judged(400, &error(-32020, "7")), "pass");
        assert_eq!(judged(400, &error(-32001, "7")), "fail");
        assert_eq!(judged(400, &error(-32020, "null")), "fail");
        assert_eq!(judged(401, &error(-32020, "7")), "fail");
        assert_eq!(judged(400, "not json"), "fail");
    }

    #[test]
    fn challenges_in_one_line_are_told_apart() {
        let out = parse_field(
            r#"Bearer error="invalid_token", error_description="a, b", HTTPSig error="invalid_signature", resource_metadata="http://x/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].param("error_description"), Some("a, b"));
        assert_eq!(out[1].scheme, "HTTPSig");
        assert_eq!(out[1].param("error"), Some("invalid_signature"));
        let out = parse_field("HTTPSig, DPoP algs=\"ES256 EdDSA\"");
        assert_eq!(out.len(), 2);
        assert!(out[0].params.is_empty());
        assert_eq!(out[1].param("algs"), Some("ES256 EdDSA"));
    }
}
