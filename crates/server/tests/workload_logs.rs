//! WIF-AS-25: the AS logs each issuance and each refusal after the signature with
//! the trust entry, the assertion's `sub` and `jti`, the rule and the principal, and
//! never the assertion. Alone in its test binary: it installs the process's global
//! `tracing` subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use workload_env::{Federation, K8S_SUB, R1};

mod workload_env;

#[tokio::test]
async fn wif_as_25_issuance_and_refusals_are_logged_without_the_assertion() {
    let captured = mcp_auth_testkit::Captured::install();
    let f = Federation::start("").await;
    let t = f.k8s_token();
    assert_eq!(f.grant(&t, R1, &[]).await.status, 200);
    let mut claims = f.k8s_claims();
    claims["sub"] = json!("system:serviceaccount:default:default");
    let refused = f.k8s.key.sign(&claims);
    f.grant(&refused, R1, &[])
        .await
        .assert_error(400, "unauthorized_client");
    let log = captured.text();
    let accepted = log
        .lines()
        .find(|l| l.contains("workload assertion accepted"))
        .expect(&log);
    for part in [
        "entry=k8s",
        &format!("assertion_sub={K8S_SUB}"),
        "assertion_jti=\"1a6e0c52-5f6c-4a51-9e0e-8a34f5a1f0c2\"",
        "rule=1",
        "principal=k8s:mcp-agents/planner",
    ] {
        assert!(accepted.contains(part), "{part} in {accepted}");
    }
    let refusal = log
        .lines()
        .find(|l| l.contains("workload assertion refused"))
        .expect(&log);
    assert!(
        refusal.contains("entry=k8s") && refusal.contains("system:serviceaccount:default:default"),
        "{refusal}"
    );
    // Never the assertion itself (nor its signature).
    for token in [&t, &refused] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "an assertion was logged");
    }
}
