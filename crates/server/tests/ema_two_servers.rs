//! Both servers of profiles/enterprise-managed-authorization.md are this one: an
//! ID-JAG issued by our identity provider is redeemed at our MCP authorization
//! server, which finds the IdP's keys by discovery, over real HTTP on 127.0.0.1. The
//! process-level run (two `mcp-auth as` processes, a gateway, a tool call) is
//! interop/ema-profile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod idp_env;

use idp_env::{CLIENT, Idp, MAPPED, SECRET, TARGET_AS, TARGET_RESOURCE, decode};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_testkit::TestAs;
use serde_json::Value;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The MCP AS `https://as.example.com` (served on its own loopback address) trusting
/// the IdP as entry `acme`.
async fn mcp_as(idp: &Idp) -> TestAs {
    let toml = format!(
        r#"
[danger]
allow_http_loopback_fetches = true

[[clients]]
client_id = "{MAPPED}"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["{JWT_BEARER}"]
scopes = ["mcp:read", "mcp:write"]

[[id_jag_issuers]]
id = "acme"
issuer = "{issuer}"
discovery = true
algorithms = ["RS256"]
resources = ["{TARGET_RESOURCE}"]
"#,
        issuer = idp.issuer()
    );
    mcp_auth_testkit::start_as(&toml, |_| TARGET_AS.to_owned(), &[TARGET_RESOURCE]).await
}

async fn redeem(at: &TestAs, id_jag: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = at
        .http
        .post(format!("{}/token", at.base))
        .basic_auth(MAPPED, Some(SECRET))
        .form(&[
            ("grant_type", JWT_BEARER),
            ("assertion", id_jag),
            ("resource", TARGET_RESOURCE),
        ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn ema_our_idp_and_our_as_sign_in_exchange_redeem_once() {
    let idp = Idp::start().await;
    let at = mcp_as(&idp).await;
    let id_token = idp.id_token(CLIENT, "alice").await;
    let id_jag = idp
        .exchange(&id_token, &[("scope", "mcp:read mcp:write")])
        .await
        .id_jag();
    let (status, body) = redeem(&at, &id_jag, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "mcp:read mcp:write");
    assert!(body.get("refresh_token").is_none(), "D11: {body}");
    let (_, access) = decode(body["access_token"].as_str().unwrap());
    // D12: the principal is `<entry id>:<the IdP's subject identifier>`.
    assert_eq!(
        access["sub"],
        format!("acme:{}", idp.subject("alice").await).as_str()
    );
    assert_eq!(access["client_id"], MAPPED);
    assert_eq!(access["aud"], TARGET_RESOURCE);
    // D3: once.
    let (status, body) = redeem(&at, &id_jag, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn ema_a_dpop_bound_id_jag_is_redeemed_only_with_its_key() {
    let idp = Idp::start().await;
    let at = mcp_as(&idp).await;
    let id_token = idp.id_token(CLIENT, "bob").await;
    let key = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = |signer: &ProofSigner, htu: &str| {
        signer
            .proof("POST", htu, None, None, mcp_auth_core::unix_now())
            .unwrap()
    };
    let at_idp = proof(&key, &format!("{}/token", idp.issuer()));
    let answer = idp
        .post(
            &Idp::exchange_form(&id_token, &[]),
            Some(CLIENT),
            &[("dpop", &at_idp)],
        )
        .await;
    let id_jag = answer.id_jag();
    let at_as = format!("{TARGET_AS}/token");
    let other = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let (status, body) = redeem(&at, &id_jag, &[("dpop", &proof(&other, &at_as))]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(&at, &id_jag, &[("dpop", &proof(&key, &at_as))]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let (_, access) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(access["cnf"]["jkt"], key.jkt());
}
