//! The identity provider role of profiles/enterprise-managed-authorization.md, over
//! real HTTP on 127.0.0.1: OpenID Connect sign-in through the login and consent pages
//! (EMA §7.1), the metadata (§5.1), and the token exchange for an ID-JAG (§7.2 to
//! §7.5). One test per EMA-IDP requirement seen on the wire; every refusal asserts
//! status, `error` and `Cache-Control`. The refusals of the exchange are in
//! `ema_exchange_refusals.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod idp_env;

use idp_env::{
    CLIENT, EXCHANGE, ID_JAG_TYPE, Idp, MAPPED, TARGET_AS, TARGET_RESOURCE, decode, members,
};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::Value;

#[tokio::test]
async fn ema_idp_1_metadata_describes_the_identity_provider_and_no_target() {
    let idp = Idp::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = idp
            .env
            .http
            .get(format!("{}{path}", idp.issuer()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], idp.issuer());
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["public"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
        assert_eq!(
            doc["identity_chaining_requested_token_types_supported"],
            serde_json::json!([ID_JAG_TYPE])
        );
        let listed =
            |member: &str, value: &str| doc[member].as_array().unwrap().iter().any(|v| v == value);
        assert!(listed("scopes_supported", "openid"), "{doc}");
        assert!(listed("grant_types_supported", EXCHANGE), "{doc}");
        // ID-JAG draft §8.4: the trust relationships are not disclosed.
        let text = doc.to_string();
        assert!(
            !text.contains(TARGET_AS) && !text.contains(MAPPED),
            "{text}"
        );
    }
    // The JWKS has the RS256 key for ID tokens beside the access tokens' EdDSA key.
    let jwks: Value = idp
        .env
        .http
        .get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert!(
        algs.contains(&"RS256") && algs.contains(&"EdDSA"),
        "{algs:?}"
    );
}

#[tokio::test]
async fn ema_idp_1_an_authorization_server_without_targets_is_no_identity_provider() {
    let env = common::browser::start().await;
    // No OpenID Connect Discovery document at all (BASE-AS-4), and none of the
    // role's members in the RFC 8414 one.
    let openid = env
        .http
        .get(format!("{}/.well-known/openid-configuration", env.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(openid.status(), 404);
    let doc: Value = env
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            env.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for member in [
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "identity_chaining_requested_token_types_supported",
    ] {
        assert!(doc.get(member).is_none(), "{member}: {doc}");
    }
    assert!(!doc.to_string().contains(EXCHANGE));
    let jwks = env.state.keys.current();
    assert!(jwks.identity.is_none());
    assert!(
        jwks.jwks
            .keys
            .iter()
            .all(|k| k.alg.as_deref() != Some("RS256"))
    );
}

#[tokio::test]
async fn ema_idp_2_sign_in_with_openid_returns_an_id_token_with_only_the_profiles_claims() {
    let idp = Idp::start().await;
    let body = idp.sign_in(CLIENT, "alice", &[]).await;
    let id_token = body["id_token"].as_str().expect("an id_token");
    let (header, claims) = decode(id_token);
    assert_eq!(members(&header), ["alg", "kid", "typ"]);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("RS256"), Some("JWT"))
    );
    assert_eq!(
        members(&claims),
        ["aud", "auth_time", "exp", "iat", "iss", "nonce", "sub"]
    );
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    // The subject identifier is opaque and the user's own, never the username.
    let subject = idp.subject("alice").await;
    assert_eq!(claims["sub"], subject.as_str());
    assert_ne!(subject, "alice");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    assert!((iat - 10..=iat).contains(&claims["auth_time"].as_i64().unwrap()));
    // Signed by the key the JWKS publishes for it.
    let keys = idp.env.state.keys.current();
    let key = keys.identity.as_ref().unwrap();
    assert_eq!(header["kid"], key.kid());
    // A sign-in without a resource: the access token is for the IdP itself, `openid`.
    assert_eq!(body["scope"], "openid");
    let (_, access) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], idp.issuer());
    assert_eq!(access["sub"], "alice");
}

#[tokio::test]
async fn ema_idp_2_a_refresh_brings_a_new_id_token_with_the_same_subject_and_no_nonce() {
    let idp = Idp::start().await;
    let body = idp.sign_in(CLIENT, "alice", &[]).await;
    let (_, first) = decode(body["id_token"].as_str().unwrap());
    let refreshed = idp
        .post(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
            Some(CLIENT),
            &[],
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let (_, again) = decode(refreshed.body["id_token"].as_str().expect("an id_token"));
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["auth_time"], first["auth_time"]);
    assert!(again.get("nonce").is_none(), "OIDC Core §12.2: {again:?}");
}

#[tokio::test]
async fn ema_idp_2_a_long_nonce_is_refused_and_without_openid_there_is_no_id_token() {
    let idp = Idp::start().await;
    // A `nonce` of more than 1024 characters is refused at the redirect.
    let body = idp.sign_in(CLIENT, "alice", &[("nonce", "n")]).await;
    assert!(body["id_token"].is_string());
    let browser = idp.env.another_browser(None);
    let (_, challenge) = common::browser::pkce();
    let r = browser
        .get_authorize(
            &[
                ("response_type", "code"),
                ("client_id", CLIENT),
                ("redirect_uri", common::browser::CALLBACK),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "openid"),
                ("nonce", &"n".repeat(1025)),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 302);
    let q = common::browser::query(&r.location.unwrap());
    assert_eq!(q["error"], "invalid_request", "{q:?}");
    // A resource and no `openid`: an ordinary code, no ID token.
    let app = common::browser::start().await;
    let (verifier, challenge) = common::browser::pkce();
    let (q, _) = app.code_for("app", &challenge, "s").await;
    let (status, body) = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", common::browser::CALLBACK),
                ("code_verifier", &verifier),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.get("id_token").is_none(), "{body}");
}

#[tokio::test]
async fn ema_idp_2_a_consent_remembered_without_openid_does_not_give_an_id_token() {
    let idp = Idp::start().await;
    let browser = idp.env.another_browser(None);
    let (_, challenge) = common::browser::pkce();
    let base = [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", common::browser::CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", common::RESOURCE),
    ];
    let mut read = base.to_vec();
    read.push(("scope", "mcp:read"));
    let q = browser.sign_in(&read, "alice", idp_env::PASSWORD).await;
    assert!(q.contains_key("code"), "{q:?}");
    // The same resource and scope, now with openid: the user is asked again, and the
    // page names openid.
    let mut with_openid = base.to_vec();
    with_openid.push(("scope", "openid mcp:read"));
    let again = idp.env.another_browser(None);
    let login = again.get_authorize(&with_openid, None).await;
    let consent = again
        .post_form(
            "/login",
            &[
                ("request", &common::browser::hidden(&login.body, "request")),
                ("csrf", &common::browser::hidden(&login.body, "csrf")),
                ("username", "alice"),
                ("password", idp_env::PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(consent.status, 200, "asked again: {:?}", consent.location);
    assert!(consent.body.contains("openid"), "{}", consent.body);
}

#[tokio::test]
async fn ema_idp_9_and_10_the_exchange_issues_an_id_jag_with_only_the_profiles_claims() {
    let idp = Idp::start().await;
    let id_token = idp.id_token(CLIENT, "alice").await;
    let answer = idp
        .exchange(&id_token, &[("scope", "mcp:read mcp:write")])
        .await;
    let id_jag = answer.id_jag();
    assert_eq!(answer.body["scope"], "mcp:read mcp:write");
    assert_eq!(answer.body["expires_in"], 300);
    let (header, claims) = decode(&id_jag);
    assert_eq!(members(&header), ["alg", "kid", "typ"]);
    assert_eq!(header["typ"], "oauth-id-jag+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        members(&claims),
        [
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "resource",
            "scope",
            "sub"
        ]
    );
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["sub"], idp.subject("alice").await.as_str());
    assert_eq!(claims["aud"], TARGET_AS);
    assert_eq!(claims["client_id"], MAPPED);
    assert_eq!(claims["resource"], TARGET_RESOURCE);
    assert_eq!(claims["scope"], "mcp:read mcp:write");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 300);
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
    // A second exchange of the same ID token gets another ID-JAG (another jti).
    let again = idp.exchange(&id_token, &[]).await.id_jag();
    assert_ne!(decode(&again).1["jti"], claims["jti"]);
}

#[tokio::test]
async fn ema_idp_8_without_scope_the_matching_rules_default_scopes() {
    let idp = Idp::start().await;
    let bob = idp.id_token(CLIENT, "bob").await;
    let answer = idp.exchange(&bob, &[]).await;
    let (_, claims) = decode(&answer.id_jag());
    assert_eq!(claims["scope"], "mcp:read");
    assert_eq!(answer.body["scope"], "mcp:read");
}

#[tokio::test]
async fn ema_idp_7_the_first_matching_rule_decides() {
    let idp = Idp::start().await;
    // alice is an engineer: the first rule, which allows mcp:write.
    let alice = idp.id_token(CLIENT, "alice").await;
    idp.exchange(&alice, &[("scope", "mcp:write")])
        .await
        .id_jag();
    // bob is not: the second rule, which does not; refused, never narrowed (D15).
    let bob = idp.id_token(CLIENT, "bob").await;
    idp.exchange(&bob, &[("scope", "mcp:read mcp:write")])
        .await
        .assert_error(400, "invalid_scope");
    // Groups are read at the exchange, not from the ID token: bob joins, and may.
    idp.env
        .state
        .store
        .set_user_groups("bob", &["engineering".to_owned()])
        .await
        .unwrap();
    idp.exchange(&bob, &[("scope", "mcp:write")]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_11_a_dpop_proof_binds_the_id_jag_to_its_key() {
    let idp = Idp::start().await;
    let id_token = idp.id_token(CLIENT, "alice").await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = signer
        .proof(
            "POST",
            &format!("{}/token", idp.issuer()),
            None,
            None,
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let answer = idp
        .post(
            &Idp::exchange_form(&id_token, &[]),
            Some(CLIENT),
            &[("dpop", &proof)],
        )
        .await;
    let (_, claims) = decode(&answer.id_jag());
    assert_eq!(claims["cnf"], serde_json::json!({"jkt": signer.jkt()}));
    // Without a proof: no cnf.
    let (_, unbound) = decode(&idp.exchange(&id_token, &[]).await.id_jag());
    assert!(unbound.get("cnf").is_none());
}
