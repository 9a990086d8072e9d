//! profiles/enterprise-managed-authorization.md end to end, with the stack `mcp-auth
//! up` starts: its demo enterprise IdP (a second authorization server), its AS and
//! gateway. The user signs in at the IdP through the real login page with `mcp-auth
//! login --idp`; `mcp-auth call` then exchanges the kept ID token for an ID-JAG,
//! redeems it and calls tools, stepping up with a new exchange.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;
use up_env::{Up, up};

mod up_env;

/// `mcp-auth login --idp` at the stack's IdP as the demo user.
async fn signed_in_at_the_idp(up: &Up, cache: &std::path::Path) {
    let (url, _) = up_env::login(
        &["--idp", &up.idp, "--idp-client-id", "demo-desktop"],
        &[
            ("MCP_AUTH_TOKEN_CACHE", cache.as_os_str()),
            ("MCP_AUTH_IDP_CLIENT_SECRET", up.secret.as_ref()),
        ],
        (&up.idp, "demo", &up.secret),
        "openid",
    )
    .await;
    assert!(
        url.contains("scope=openid") && url.contains("nonce="),
        "{url}"
    );
    assert!(!url.contains("resource="), "EMA §7.1: {url}");
}

fn call(up: &Up, cache: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("call")
        .arg(&up.resource)
        .args(args)
        .args([
            "--idp-client-id",
            "demo-desktop",
            "--client-id",
            "demo-agent",
        ])
        .env("MCP_AUTH_TOKEN_CACHE", cache)
        .env("MCP_AUTH_IDP_CLIENT_SECRET", &up.secret)
        .env("MCP_AUTH_CLIENT_SECRET", &up.secret)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn ema_up_sign_in_at_the_idp_exchange_redeem_and_call_a_tool() {
    let up = up(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    signed_in_at_the_idp(&up, &cache).await;
    let (code, out, err) = call(&up, &cache, &["tools/call", "whoami", "--json"]);
    assert_eq!(code, 0, "{err}");
    let response: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let who: Value =
        serde_json::from_str(response["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    // The principal is the AS's trust entry and the IdP's subject identifier (D12),
    // never the username.
    let subject = who["subject"].as_str().unwrap();
    assert!(subject.starts_with("demo-idp:"), "{who}");
    assert_ne!(subject, "demo-idp:demo");
    assert_eq!(who["client_id"], "demo-agent", "{who}");
    // write_note needs mcp:write: a new exchange asks for it, the IdP's policy allows
    // it to the group engineering, and the call succeeds.
    let (code, out, err) = call(
        &up,
        &cache,
        &["tools/call", "write_note", "--arg", "note=e"],
    );
    assert_eq!((code, out.as_str()), (0, "saved: e\n"), "{err}");
    // EMA-C-7: neither the ID token nor an ID-JAG is printed.
    assert!(!err.contains("eyJ"), "{err}");
}
