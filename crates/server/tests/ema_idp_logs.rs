//! EMA-IDP-15: the identity provider logs each issued ID-JAG and each refusal after
//! client authentication with the client, the user's `sub`, the target, the resource,
//! the scope, the matching rule and the `jti`, and never an ID token or an ID-JAG.
//! Alone in its test binary: it installs the process's global `tracing` subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod idp_env;

use idp_env::{CLIENT, Idp, TARGET_RESOURCE, decode};

#[tokio::test]
async fn ema_idp_15_issuance_and_refusals_are_logged_without_the_tokens() {
    let captured = mcp_auth_testkit::Captured::install();
    let idp = Idp::start().await;
    let alice = idp.id_token(CLIENT, "alice").await;
    let id_jag = idp
        .exchange(&alice, &[("scope", "mcp:write")])
        .await
        .id_jag();
    let mallory = idp.id_token(CLIENT, "mallory").await;
    idp.exchange(&mallory, &[])
        .await
        .assert_error(400, "invalid_target");
    let bob = idp.id_token(CLIENT, "bob").await;
    idp.exchange(&bob, &[("scope", "mcp:write")])
        .await
        .assert_error(400, "invalid_scope");
    let log = captured.text();
    let line = |needle: &str, user: &str| {
        log.lines()
            .find(|l| l.contains(needle) && l.contains(user))
            .unwrap_or_else(|| panic!("no `{needle}` for {user} in\n{log}"))
            .to_owned()
    };
    let alice_sub = idp.subject("alice").await;
    let issued = line("issued ID-JAG", &alice_sub);
    let jti = decode(&id_jag).1["jti"].as_str().unwrap().to_owned();
    for part in [
        "target=mcp-example",
        "rule=0",
        &format!("client_id={CLIENT}"),
        "id_jag_client_id=acme-agent",
        &format!("resource={TARGET_RESOURCE}"),
        "scope=mcp:write",
        &format!("jti={jti}"),
    ] {
        assert!(issued.contains(part), "{part} in {issued}");
    }
    let no_rule = line("ID-JAG refused", &idp.subject("mallory").await);
    assert!(no_rule.contains("target=mcp-example"), "{no_rule}");
    assert!(no_rule.contains("no policy rule matches"), "{no_rule}");
    let scope = line("ID-JAG refused", &idp.subject("bob").await);
    assert!(
        scope.contains("rule=1")
            && scope.contains("requested_scope=mcp:write")
            && scope.contains("scope not in the matching rule"),
        "{scope}"
    );
    // Never a token: neither the ID tokens nor the ID-JAG (their signatures).
    for token in [&alice, &mallory, &bob, &id_jag] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token was logged");
    }
}
