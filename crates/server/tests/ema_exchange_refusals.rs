//! The refusals of the token exchange at the identity provider
//! (profiles/enterprise-managed-authorization.md §7.3, §10.1), over real HTTP on
//! 127.0.0.1: one test per EMA-IDP requirement, each refusal asserting status, `error`
//! and `Cache-Control`, and a positive case beside each negative one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod idp_env;

use idp_env::{CLIENT, Idp, TARGET_AS, TARGET_RESOURCE, decode, sign_as_idp};
use serde_json::json;

#[tokio::test]
async fn ema_idp_3_only_an_authenticated_client_with_the_grant() {
    let idp = Idp::start().await;
    let id_token = idp.id_token(CLIENT, "alice").await;
    let form = Idp::exchange_form(&id_token, &[]);
    // No authentication at all, and a public client naming itself: 401.
    let none = idp.post(&form, None, &[]).await;
    none.assert_error(401, "invalid_client");
    let mut named = form.clone();
    named.push(("client_id", CLIENT));
    idp.post(&named, None, &[])
        .await
        .assert_error(401, "invalid_client");
    // A wrong secret: 401.
    let wrong = idp
        .env
        .http
        .post(format!("{}/token", idp.issuer()))
        .basic_auth(CLIENT, Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    // A client without the token-exchange grant: unauthorized_client.
    let web_only = idp.id_token("web-only", "alice").await;
    idp.post(&Idp::exchange_form(&web_only, &[]), Some("web-only"), &[])
        .await
        .assert_error(400, "unauthorized_client");
    // The same request, authenticated as the configured client: an ID-JAG.
    idp.post(&form, Some(CLIENT), &[]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_4_the_form() {
    let idp = Idp::start().await;
    let t = idp.id_token(CLIENT, "alice").await;
    for missing in [
        "requested_token_type",
        "subject_token",
        "subject_token_type",
        "audience",
        "resource",
    ] {
        let answer = idp.exchange(&t, &[(missing, "")]).await;
        answer.assert_error(400, "invalid_request");
        assert!(
            answer.body["error_description"]
                .as_str()
                .unwrap()
                .contains(missing),
            "{missing}: {}",
            answer.body
        );
    }
    for unsupported in ["actor_token", "actor_token_type", "authorization_details"] {
        idp.exchange(&t, &[(unsupported, "x")])
            .await
            .assert_error(400, "invalid_request");
    }
    idp.exchange(
        &t,
        &[(
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        )],
    )
    .await
    .assert_error(400, "invalid_request");
    idp.exchange(
        &t,
        &[(
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        )],
    )
    .await
    .assert_error(400, "invalid_request");
    // Repeated: `audience` and `resource` are invalid_target, anything else
    // invalid_request.
    for (name, value, error) in [
        ("audience", TARGET_AS, "invalid_target"),
        ("resource", TARGET_RESOURCE, "invalid_target"),
        ("scope", "mcp:read", "invalid_request"),
    ] {
        let mut form = Idp::exchange_form(&t, &[("scope", "mcp:read")]);
        form.push((name, value));
        idp.post(&form, Some(CLIENT), &[])
            .await
            .assert_error(400, error);
    }
    idp.exchange(&t, &[]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_5_only_an_id_token_of_this_idp_for_this_client() {
    let idp = Idp::start().await;
    let alice = idp.id_token(CLIENT, "alice").await;
    // An ID token issued to another client.
    let others = idp.id_token("other-agent", "alice").await;
    idp.exchange(&others, &[])
        .await
        .assert_error(400, "invalid_grant");
    // The access token of the sign-in, and an ID-JAG of this IdP.
    let signed_in = idp.sign_in(CLIENT, "alice", &[]).await;
    let access = signed_in["access_token"].as_str().unwrap();
    idp.exchange(access, &[])
        .await
        .assert_error(400, "invalid_grant");
    let id_jag = idp.exchange(&alice, &[]).await.id_jag();
    idp.exchange(&id_jag, &[])
        .await
        .assert_error(400, "invalid_grant");
    // Expired, from the future, another issuer, a one-element `aud` array (accepted).
    let (_, claims) = decode(&alice);
    let now = mcp_auth_core::unix_now();
    let with = |patch: serde_json::Value| {
        let mut c = serde_json::Value::Object(claims.clone());
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign_as_idp(&idp, "JWT", &c)
    };
    for (patch, accepted) in [
        (
            json!({"iat": now - 3700, "exp": now - 100, "auth_time": now - 3700}),
            false,
        ),
        (json!({"iat": now + 120, "exp": now + 3720}), false),
        (json!({"iss": "https://idp.other.example"}), false),
        (json!({"aud": [CLIENT]}), true),
        (json!({"aud": [CLIENT, "other-agent"]}), false),
        (json!({"sub": "no-such-subject"}), false),
    ] {
        let answer = idp.exchange(&with(patch.clone()), &[]).await;
        if accepted {
            answer.id_jag();
        } else {
            answer.assert_error(400, "invalid_grant");
        }
    }
    // `typ` other than JWT, and a signature by a key that is not the IdP's.
    idp.exchange(
        &sign_as_idp(&idp, "at+jwt", &serde_json::Value::Object(claims.clone())),
        &[],
    )
    .await
    .assert_error(400, "invalid_grant");
    let stranger =
        mcp_auth_core::AsSigningKey::generate(mcp_auth_httpsig::JwsAlgorithm::Rs256).unwrap();
    let forged = stranger
        .sign_typed("JWT", &serde_json::Value::Object(claims.clone()))
        .unwrap();
    idp.exchange(&forged, &[])
        .await
        .assert_error(400, "invalid_grant");
    let mut tampered = alice.clone();
    tampered.pop();
    tampered.push(if alice.ends_with('A') { 'B' } else { 'A' });
    idp.exchange(&tampered, &[])
        .await
        .assert_error(400, "invalid_grant");
    idp.exchange(&alice, &[]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_6_the_audience_exactly_and_the_client_mapped() {
    let idp = Idp::start().await;
    let t = idp.id_token(CLIENT, "alice").await;
    for audience in [
        "https://as.example.com/",
        "https://AS.example.com",
        "https://unknown.example.com",
        "mcp-example",
    ] {
        idp.exchange(&t, &[("audience", audience)])
            .await
            .assert_error(400, "invalid_target");
    }
    // `other-agent` may exchange, but the target has no client id for it.
    let others = idp.id_token("other-agent", "alice").await;
    idp.post(&Idp::exchange_form(&others, &[]), Some("other-agent"), &[])
        .await
        .assert_error(400, "invalid_target");
    idp.exchange(&t, &[("audience", TARGET_AS)]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_7_no_matching_rule_is_invalid_target() {
    let idp = Idp::start().await;
    let mallory = idp.id_token(CLIENT, "mallory").await;
    let answer = idp.exchange(&mallory, &[]).await;
    answer.assert_error(400, "invalid_target");
    assert_eq!(
        answer.body["error_description"],
        "the identity provider's policy does not allow this client to act for this user at this authorization server"
    );
    let bob = idp.id_token(CLIENT, "bob").await;
    idp.exchange(&bob, &[]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_8_a_resource_or_scope_outside_the_rule() {
    let idp = Idp::start().await;
    let t = idp.id_token(CLIENT, "alice").await;
    idp.exchange(&t, &[("resource", "https://mcp.example.com/other")])
        .await
        .assert_error(400, "invalid_target");
    let answer = idp.exchange(&t, &[("scope", "mcp:read mcp:admin")]).await;
    answer.assert_error(400, "invalid_scope");
    assert!(
        answer.body["error_description"]
            .as_str()
            .unwrap()
            .contains("mcp:admin")
    );
    idp.exchange(&t, &[("scope", "mcp:read")]).await.id_jag();
    // An empty scope is no scope: the rule's defaults, never an ID-JAG without scope.
    let (_, claims) = decode(&idp.exchange(&t, &[("scope", " ")]).await.id_jag());
    assert_eq!(claims["scope"], "mcp:read");
}

#[tokio::test]
async fn ema_idp_11_a_token_request_signature_is_refused() {
    let idp = Idp::start().await;
    let t = idp.id_token(CLIENT, "alice").await;
    let form = Idp::exchange_form(&t, &[]);
    let signed = [
        (
            "signature-input",
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"k\";tag=\"httpsig-oauth-token-request\"",
        ),
        ("signature", "sig1=:AAAA:"),
    ];
    idp.post(&form, Some(CLIENT), &signed)
        .await
        .assert_error(400, "invalid_request");
    idp.post(&form, Some(CLIENT), &[]).await.id_jag();
}

#[tokio::test]
async fn ema_idp_12_the_first_failing_check_is_reported_and_no_token_is_echoed() {
    let idp = Idp::start().await;
    let t = idp.id_token(CLIENT, "alice").await;
    // Step 1 (no resource) before step 2 (no client authentication).
    let form = Idp::exchange_form(&t, &[("resource", "")]);
    idp.post(&form, None, &[])
        .await
        .assert_error(400, "invalid_request");
    // Step 5 (another client's ID token) before step 6 (unknown audience).
    let others = idp.id_token("other-agent", "alice").await;
    let answer = idp
        .exchange(&others, &[("audience", "https://unknown.example.com")])
        .await;
    answer.assert_error(400, "invalid_grant");
    let text = answer.body.to_string();
    let (_, claims) = decode(&others);
    for secret in [
        others.as_str(),
        claims["sub"].as_str().unwrap(),
        "unknown.example.com",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    // Step 7 (no rule for mallory) before step 9 (a scope no rule has).
    let mallory = idp.id_token(CLIENT, "mallory").await;
    idp.exchange(&mallory, &[("scope", "mcp:admin")])
        .await
        .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn ema_idp_16_a_username_given_to_someone_else_does_not_inherit_the_grants() {
    let idp = Idp::start().await;
    let signed_in = idp.sign_in(CLIENT, "alice", &[]).await;
    let refresh = signed_in["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let r = idp.post(&form, Some(CLIENT), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // alice leaves; a new alice arrives, with a new subject identifier.
    let store = &idp.env.state.store;
    assert!(store.delete_user("alice").await.unwrap());
    store
        .insert_user("alice", "$argon2id$unused", 1)
        .await
        .unwrap();
    idp.post(&form, Some(CLIENT), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn ema_idp_16_the_user_is_read_at_each_exchange() {
    let idp = Idp::start().await;
    let carol = idp.id_token(CLIENT, "carol").await;
    idp.exchange(&carol, &[("scope", "mcp:write")])
        .await
        .id_jag();
    // Out of the group: the same ID token no longer reaches mcp:write.
    idp.env
        .state
        .store
        .set_user_groups("carol", &[])
        .await
        .unwrap();
    idp.exchange(&carol, &[("scope", "mcp:write")])
        .await
        .assert_error(400, "invalid_scope");
    // Removed: the same ID token is refused.
    assert!(idp.env.state.store.delete_user("carol").await.unwrap());
    idp.exchange(&carol, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn ema_idp_14_a_retired_key_verifies_id_tokens_until_they_expire() {
    let idp = Idp::start().await;
    let state = &idp.env.state;
    let before = idp.id_token(CLIENT, "alice").await;
    let now = mcp_auth_core::unix_now();
    mcp_auth_server::rotate(&state.store, mcp_auth_httpsig::JwsAlgorithm::Rs256, now)
        .await
        .unwrap();
    state.keys.reload(&state.store, 300, now).await.unwrap();
    // The new key signs; the retired one still verifies the earlier ID token.
    let after = idp.id_token(CLIENT, "alice").await;
    assert_ne!(decode(&before).0["kid"], decode(&after).0["kid"]);
    idp.exchange(&before, &[]).await.id_jag();
    // The access tokens' key was not rotated with it.
    let eddsa = |s: &mcp_auth_server::AsState| s.keys.current().active.kid().to_owned();
    let active = eddsa(state);
    // Past the ID tokens' lifetime (3600 s, longer than the access tokens' 300 s)
    // plus a minute, the retired key is gone, and so is what it signed.
    state
        .keys
        .reload(&state.store, 300, now + 3600)
        .await
        .unwrap();
    idp.exchange(&before, &[]).await.id_jag();
    state
        .keys
        .reload(&state.store, 300, now + 3662)
        .await
        .unwrap();
    idp.exchange(&before, &[])
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(eddsa(state), active);
}

#[tokio::test]
async fn ema_idp_14_the_rs256_key_is_kept_while_the_role_is_on_and_retired_when_it_is_off() {
    use mcp_auth_httpsig::JwsAlgorithm;
    use mcp_auth_server::keys::{KeyPolicy, KeyRing};
    let dir = tempfile::tempdir().unwrap();
    let store =
        mcp_auth_server::Store::open(&format!("sqlite://{}", dir.path().join("as.db").display()))
            .await
            .unwrap();
    let on = KeyPolicy {
        access: JwsAlgorithm::EdDsa,
        identity: true,
        retain: 3600,
    };
    let (ring, created) = KeyRing::load_or_create(&store, on, 300, 1_000)
        .await
        .unwrap();
    assert!(created);
    let keys = ring.current();
    let rsa = keys.identity.as_ref().unwrap().kid().to_owned();
    assert_eq!(keys.active.alg(), JwsAlgorithm::EdDsa);
    // Again with the role on: the same keys.
    let (again, created) = KeyRing::load_or_create(&store, on, 300, 1_010)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.current().identity.as_ref().unwrap().kid(), rsa);
    // The role off: the RS256 key is retired, still published for the ID tokens'
    // lifetime, then gone.
    let off = KeyPolicy {
        identity: false,
        retain: 0,
        ..on
    };
    let (ring, _) = KeyRing::load_or_create(&store, off, 300, 1_020)
        .await
        .unwrap();
    assert!(ring.current().identity.is_none());
    let published = |ring: &KeyRing| {
        ring.current()
            .jwks
            .keys
            .iter()
            .any(|k| k.kid.as_deref() == Some(rsa.as_str()))
    };
    assert!(published(&ring));
    ring.reload(&store, 300, 1_020 + 361).await.unwrap();
    assert!(
        !published(&ring),
        "retired past the access tokens' lifetime"
    );
    assert!(
        store
            .signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.kid != rsa || k.retired_at.is_some())
    );
}
