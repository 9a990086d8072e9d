//! After issuance, over real HTTP on 127.0.0.1 with a real SQLite file: token
//! introspection (RFC 7662) and revocation (RFC 7009), signing key rotation, and the
//! documents that publish the keys and endpoints (metadata, JWKS). One test per
//! rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_core::{Jwks, TokenVerifier};
use serde_json::Value;

use common::RESOURCE;
use token_env::{Env, assert_error, start, start_with};

mod common;
mod token_env;

/// A server and an access token it issued to `bot` for `RESOURCE`.
async fn issued() -> (Env, String) {
    let env = start().await;
    let (_, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    (env, token)
}

/// `bot` revokes `token`; asserts the revocation succeeded.
async fn revoke(env: &Env, token: &str) {
    let (status, _, _) = env
        .post(
            "/revoke",
            Some(("bot", "bot-secret")),
            &[("token", token), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(status, 200, "the owner's revocation");
}

#[tokio::test]
async fn introspection_describes_an_active_token() {
    let (env, token) = issued().await;
    let (status, headers, intro) = env
        .post(
            "/introspect",
            Some(("reader", "reader-secret")),
            &[("token", &token)],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], "bot");
    assert_eq!(intro["aud"], RESOURCE);
    assert_eq!(intro["iss"], env.issuer);
    assert_eq!(intro["token_type"], "Bearer");
}

#[tokio::test]
async fn introspection_of_a_string_that_is_no_token_is_inactive() {
    let env = start().await;
    let (_, _, garbage) = env
        .post(
            "/introspect",
            Some(("bot", "bot-secret")),
            &[("token", "garbage")],
        )
        .await;
    assert_eq!(garbage, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let (env, token) = issued().await;
    assert_error(
        &env.post("/introspect", Some(("bot", "nope")), &[("token", &token)])
            .await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn introspection_without_token_is_an_invalid_request() {
    let env = start().await;
    assert_error(
        &env.post("/introspect", Some(("bot", "bot-secret")), &[])
            .await,
        400,
        "invalid_request",
    );
}

/// Only the client the token was issued to may revoke it.
#[tokio::test]
async fn only_the_client_a_token_was_issued_to_may_revoke_it() {
    let (env, token) = issued().await;
    assert_error(
        &env.post(
            "/revoke",
            Some(("reader", "reader-secret")),
            &[("token", &token)],
        )
        .await,
        400,
        "unauthorized_client",
    );
}

#[tokio::test]
async fn a_revoked_token_introspects_as_inactive() {
    let (env, token) = issued().await;
    revoke(&env, &token).await;
    let (_, _, after) = env
        .post(
            "/introspect",
            Some(("bot", "bot-secret")),
            &[("token", &token)],
        )
        .await;
    assert_eq!(after, serde_json::json!({"active": false}));
}

/// Revoking an invalid token is not an error (RFC 7009 §2.2).
#[tokio::test]
async fn revoking_an_invalid_token_is_not_an_error() {
    let env = start().await;
    assert_eq!(
        env.post(
            "/revoke",
            Some(("bot", "bot-secret")),
            &[("token", "garbage")]
        )
        .await
        .0,
        200
    );
}

/// Revoking an already revoked token is not an error (RFC 7009 §2.2).
#[tokio::test]
async fn revoking_an_already_revoked_token_is_not_an_error() {
    let (env, token) = issued().await;
    revoke(&env, &token).await;
    assert_eq!(
        env.post("/revoke", Some(("bot", "bot-secret")), &[("token", &token)])
            .await
            .0,
        200
    );
}

struct Rotated {
    env: Env,
    /// A token signed before the rotation, with `old_kid`.
    old: String,
    old_kid: String,
    new_kid: String,
    /// The JWKS right after the rotation.
    jwks: Jwks,
}

/// A server that issued a token, then rotated its signing key and reloaded.
async fn rotated() -> Rotated {
    let (env, old) = issued().await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = mcp_auth_server::rotate(
        &env.server.store,
        mcp_auth_httpsig::JwsAlgorithm::EdDsa,
        mcp_auth_core::unix_now(),
    )
    .await
    .unwrap();
    env.server
        .keys
        .reload(&env.server.store, 300, mcp_auth_core::unix_now())
        .await
        .unwrap();
    let jwks = env.jwks().await;
    Rotated {
        env,
        old,
        old_kid,
        new_kid,
        jwks,
    }
}

#[tokio::test]
async fn after_rotation_the_jwks_publishes_the_new_key_then_the_old() {
    let r = rotated().await;
    let kids: Vec<_> = r.jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert_eq!(kids, [r.new_kid.clone(), r.old_kid.clone()]);
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let r = rotated().await;
    let (_, _, body) = r
        .env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    let new = body["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(new).unwrap().kid.unwrap(),
        r.new_kid
    );
    let verifier = TokenVerifier::new(r.env.issuer.clone(), Some(RESOURCE.into()), &r.jwks);
    assert!(
        verifier.verify(&r.old, mcp_auth_core::unix_now()).is_ok(),
        "the old token"
    );
    assert!(
        verifier.verify(new, mcp_auth_core::unix_now()).is_ok(),
        "the new token"
    );
}

/// Once the old key's tokens have expired it leaves the JWKS.
#[tokio::test]
async fn a_rotated_out_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let r = rotated().await;
    r.env
        .server
        .keys
        .reload(&r.env.server.store, 300, mcp_auth_core::unix_now() + 400)
        .await
        .unwrap();
    assert_eq!(r.env.server.keys.current().jwks.keys.len(), 1);
}

#[tokio::test]
async fn metadata_for_an_issuer_with_a_path_is_at_its_rfc_8414_location_only() {
    let env = start_with("/tenant-a").await;
    // Not an OpenID Provider (no identity provider role): no OpenID Connect Discovery
    // document, whose required members it could not honestly publish (BASE-AS-4).
    for path in [
        "/.well-known/openid-configuration/tenant-a",
        "/tenant-a/.well-known/openid-configuration",
    ] {
        let resp = env
            .http
            .get(format!("{}{path}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    for path in ["/.well-known/oauth-authorization-server/tenant-a"] {
        let resp = env
            .http
            .get(format!("{}{path}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let m: Value = resp.json().await.unwrap();
        assert_eq!(
            m["issuer"], env.issuer,
            "{path}: issuer exactly as configured"
        );
        assert_eq!(
            m["token_endpoint"],
            format!("{}/token", env.issuer),
            "{path}: token_endpoint"
        );
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"]),
            "{path}: code_challenge_methods_supported"
        );
    }
}

#[tokio::test]
async fn no_metadata_at_the_root_for_an_issuer_with_a_path() {
    let env = start_with("/tenant-a").await;
    let root = env
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            env.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 404);
}

#[tokio::test]
async fn an_issuer_with_a_path_issues_tokens_at_its_token_endpoint() {
    let env = start_with("/tenant-a").await;
    let (status, _, _) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_jwks_publishes_only_the_public_signing_key() {
    let env = start_with("/tenant-a").await;
    let jwks = env.jwks().await;
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].use_.as_deref(), Some("sig"));
    assert_eq!(jwks.keys[0].alg.as_deref(), Some("EdDSA"));
    assert!(jwks.keys[0].d.is_none(), "no private member is published");
}

#[tokio::test]
async fn healthz_answers_at_the_root_for_an_issuer_with_a_path() {
    let env = start_with("/tenant-a").await;
    assert_eq!(
        env.http
            .get(format!("{}/healthz", env.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
