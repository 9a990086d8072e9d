//! The authorization code flow over real HTTP: authorize → login page → consent page →
//! redirect with code and `iss` → token exchange with PKCE → refresh with rotation;
//! and a negative test for each rule of the code exchange and refresh, asserting
//! status and `error`. The authorization request's own rules are in
//! `authorization_request.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::RESOURCE;
use common::browser::{CALLBACK, Env, pkce, query, start};

mod common;

/// A server, a PKCE pair, and a first exchange of a code for `app` (asserted
/// successful): the session cookie, the challenge and the token response.
async fn first_exchange() -> (Env, String, String, Value) {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let (q, cookie) = env.code_for("app", &challenge, "st-1").await;
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], env.issuer, "RFC 9207 iss");
    let (status, body) = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
                ("client_id", "app"),
                ("resource", RESOURCE),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (env, cookie, challenge, body)
}

/// `app` refreshes with `refresh_token`.
async fn refresh(env: &Env, refresh_token: &str) -> (StatusCode, Value) {
    env.token(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "app"),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn full_flow_with_pkce_issues_a_token_for_the_user_with_state_and_iss() {
    let (env, _, _, body) = first_exchange().await;
    let jwks: mcp_auth_core::Jwks = env
        .http
        .get(format!("{}/jwks", env.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims =
        mcp_auth_core::TokenVerifier::new(env.issuer.clone(), Some(RESOURCE.into()), &jwks)
            .verify(
                body["access_token"].as_str().unwrap(),
                mcp_auth_core::unix_now(),
            )
            .unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.client_id.as_str(),
            claims.scope.as_str()
        ),
        ("alice", "app", "mcp:read")
    );
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_of_a_public_client() {
    let (env, _, _, body) = first_exchange().await;
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body2) = refresh(&env, &r1).await;
    assert_eq!(status, 200, "{body2}");
    let r2 = body2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
}

/// Reusing a rotated-out refresh token revokes the family: its successor stops
/// working too.
#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let (env, _, _, body) = first_exchange().await;
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body2) = refresh(&env, &r1).await;
    assert_eq!(status, 200, "{body2}");
    let r2 = body2["refresh_token"].as_str().unwrap().to_owned();
    let (status, err) = refresh(&env, &r1).await;
    assert_eq!(
        (status.as_u16(), err["error"].as_str().unwrap()),
        (400, "invalid_grant"),
        "the reused token"
    );
    let (status, err) = refresh(&env, &r2).await;
    assert_eq!(
        (status.as_u16(), err["error"].as_str().unwrap()),
        (400, "invalid_grant"),
        "its successor"
    );
}

/// With a session and a remembered consent, authorize redirects at once.
#[tokio::test]
async fn with_a_session_and_a_remembered_consent_authorize_redirects_at_once() {
    let (env, cookie, challenge, _) = first_exchange().await;
    let params = [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
        ("scope", "mcp:read"),
        ("state", "st-2"),
    ];
    let again = env.get_authorize(&params, Some(&cookie)).await;
    assert_eq!(again.status, 302);
    let q2 = query(&again.location.unwrap());
    assert!(q2.contains_key("code") && q2["state"] == "st-2", "{q2:?}");
}

/// Asking for more than was consented to shows the consent page again.
#[tokio::test]
async fn asking_for_more_than_was_consented_to_shows_the_consent_page_again() {
    let (env, cookie, challenge, _) = first_exchange().await;
    let wider = [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
        ("scope", "mcp:read mcp:write"),
    ];
    let page = env.get_authorize(&wider, Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Allow access?</h1>"));
}

/// Exchanges `code` as the public client `client` with `redirect` and `verifier`.
async fn exchange(
    env: &Env,
    code: &str,
    client: &str,
    redirect: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    env.token(
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("client_id", client),
        ],
        None,
    )
    .await
}

fn expect(got: (StatusCode, Value), status: u16, error: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["error"], error, "{}", got.1);
}

/// A server, a PKCE pair (verifier, challenge), and a fresh code for `app`.
async fn code_for_app() -> (Env, String, String, String) {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let (q, _) = env.code_for("app", &challenge, "s").await;
    let code = q["code"].clone();
    (env, verifier, challenge, code)
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let (env, _, _, code) = code_for_app().await;
    expect(
        exchange(
            &env,
            &code,
            "app",
            CALLBACK,
            &format!("wrong-{}", "y".repeat(40)),
        )
        .await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_invalid_grant() {
    let (env, verifier, _, code) = code_for_app().await;
    expect(
        exchange(&env, &code, "other-app", CALLBACK, &verifier).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_redirect_uri_other_than_the_codes_is_invalid_grant() {
    let (env, verifier, _, code) = code_for_app().await;
    expect(
        exchange(&env, &code, "app", "http://127.0.0.1:9999/other", &verifier).await,
        400,
        "invalid_grant",
    );
}

/// Reuse: the second exchange fails and the first exchange's tokens are revoked.
#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_the_tokens_it_gave() {
    let (env, verifier, _, code) = code_for_app().await;
    let first = exchange(&env, &code, "app", CALLBACK, &verifier).await;
    assert_eq!(first.0, 200);
    expect(
        exchange(&env, &code, "app", CALLBACK, &verifier).await,
        400,
        "invalid_grant",
    );
    let jti = {
        let t = first.1["access_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        claims["jti"].as_str().unwrap().to_owned()
    };
    assert!(
        env.state.store.is_revoked(&jti).await.unwrap(),
        "the first access token is revoked"
    );
    let refresh_token = first.1["refresh_token"].as_str().unwrap();
    expect(refresh(&env, refresh_token).await, 400, "invalid_grant");
}

#[tokio::test]
async fn an_unknown_code_is_invalid_grant() {
    let env = start().await;
    let (verifier, _) = pkce();
    expect(
        exchange(&env, "nope", "app", CALLBACK, &verifier).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_exchange_without_code_verifier_is_an_invalid_request() {
    let env = start().await;
    expect(
        env.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", CALLBACK),
                ("client_id", "app"),
            ],
            None,
        )
        .await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let expired = "expired-code";
    env.state.store.insert_code(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expired.as_bytes()).as_ref(), &json!({"client_id": "app", "username": "alice", "redirect_uri": CALLBACK, "scopes": [], "resource": RESOURCE, "code_challenge": challenge}), mcp_auth_core::unix_now() - 1).await.unwrap();
    expect(
        exchange(&env, expired, "app", CALLBACK, &verifier).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_resource_other_than_the_codes_is_invalid_target() {
    let (env, verifier, _, code) = code_for_app().await;
    expect(
        env.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
                ("client_id", "app"),
                ("resource", "http://127.0.0.1:4000/x"),
            ],
            None,
        )
        .await,
        400,
        "invalid_target",
    );
}

/// A confidential client must authenticate; naming it as a public client would is
/// not enough.
#[tokio::test]
async fn a_confidential_clients_code_exchange_without_authentication_is_invalid_client() {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let (q, _) = env.code_for("webapp", &challenge, "s").await;
    expect(
        exchange(&env, &q["code"], "webapp", CALLBACK, &verifier).await,
        401,
        "invalid_client",
    );
}

/// A server and a refresh token of the confidential client `webapp`, from an
/// authenticated code exchange (asserted successful).
async fn confidential_refresh_token() -> (Env, String) {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let (q, _) = env.code_for("webapp", &challenge, "s").await;
    let ok = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
            Some(("webapp", "web-secret")),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let r = ok.1["refresh_token"].as_str().unwrap().to_owned();
    (env, r)
}

/// A confidential client's refresh token is not rotated: it works twice.
#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_rotated() {
    let (env, r) = confidential_refresh_token().await;
    for use_ in 1..=2 {
        let got = env
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &r)],
                Some(("webapp", "web-secret")),
            )
            .await;
        assert_eq!(got.0, 200, "use {use_}: {}", got.1);
        assert!(
            got.1.get("refresh_token").is_none(),
            "use {use_}: {}",
            got.1
        );
    }
}

#[tokio::test]
async fn a_refresh_asking_for_more_scope_than_granted_is_invalid_scope() {
    let (env, r) = confidential_refresh_token().await;
    expect(
        env.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r),
                ("scope", "mcp:read mcp:write"),
            ],
            Some(("webapp", "web-secret")),
        )
        .await,
        400,
        "invalid_scope",
    );
}

#[tokio::test]
async fn a_refresh_by_a_client_without_the_refresh_grant_is_unauthorized_client() {
    let (env, r) = confidential_refresh_token().await;
    expect(
        env.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &r)],
            Some(("cc-only", "cc-secret")),
        )
        .await,
        400,
        "unauthorized_client",
    );
}

/// HTTPSIG-AS-12/AS-14 on the authorization code grant: a public client that signs its
/// code exchange gets an `httpsig` token bound to its key, and its refresh token only
/// works signed by the same key.
#[tokio::test]
async fn httpsig_as_14_a_signed_code_exchange_binds_token_and_refresh_token() {
    use mcp_auth_client::{HttpSigSigner, ProofKey};
    let env = start().await;
    let signer = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let (verifier, challenge) = pkce();
    let (q, _) = env.code_for("app", &challenge, "st-h").await;
    let signed_post = |form: String, signer: Option<HttpSigSigner>| async {
        let url = format!("{}/token", env.issuer);
        let (mut parts, ()) = http::Request::post(&url).body(()).unwrap().into_parts();
        if let Some(s) = signer {
            s.sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
                .unwrap();
        }
        let r = env
            .http
            .post(url)
            .headers(parts.headers)
            .body(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let form = format!(
        "grant_type=authorization_code&client_id=app&code={}&redirect_uri={}&code_verifier={}",
        enc(&q["code"]),
        enc(CALLBACK),
        enc(&verifier)
    );
    let (status, body) = signed_post(form, Some(signer.clone())).await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("httpsig")),
        "{body}"
    );
    let keys = env.state.keys.current();
    let claims =
        mcp_auth_core::TokenVerifier::new(env.issuer.clone(), Some(RESOURCE.into()), &keys.jwks)
            .verify(
                body["access_token"].as_str().unwrap(),
                mcp_auth_core::unix_now(),
            )
            .unwrap();
    assert_eq!(
        claims.cnf.unwrap().verifying_key().unwrap().thumbprint(),
        signer.key().thumbprint()
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let form = format!(
        "grant_type=refresh_token&client_id=app&refresh_token={}",
        enc(&refresh)
    );
    let (status, body) = signed_post(form, Some(signer.clone())).await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("httpsig")),
        "{body}"
    );
    let next = body["refresh_token"].as_str().unwrap().to_owned();
    let form = format!(
        "grant_type=refresh_token&client_id=app&refresh_token={}",
        enc(&next)
    );
    let other = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let (status, body) = signed_post(form, Some(other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("bound to another key"),
        "{body}"
    );
}

/// POSTs `form` to the token endpoint with a DPoP proof by `signer`.
async fn dpop_token(
    env: &Env,
    signer: &mcp_auth_core::dpop::ProofSigner,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let proof = signer
        .proof(
            "POST",
            &format!("{}/token", env.issuer),
            None,
            None,
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let r = env
        .http
        .post(format!("{}/token", env.issuer))
        .header("dpop", proof)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn dpop_as_6_dpop_jkt_binds_the_code_and_a_public_clients_refresh_token_stays_bound() {
    use mcp_auth_core::dpop::ProofSigner;
    use mcp_auth_httpsig::JwsAlgorithm;
    let env = start().await;
    let key = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let other = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let (verifier, challenge) = pkce();
    let (q, _) = env
        .code_for_with("app", &challenge, "st-d", &[("dpop_jkt", key.jkt())])
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
        ("resource", RESOURCE),
    ];
    // Another key cannot redeem it (RFC 9449 §10). The attempt consumes the code, as
    // any failed redemption does.
    let (status, body) = dpop_token(&env, &other, &form).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // A fresh code, redeemed with the right key.
    let (q, _) = env
        .code_for_with("app", &challenge, "st-e", &[("dpop_jkt", key.jkt())])
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
        ("resource", RESOURCE),
    ];
    let (status, body) = dpop_token(&env, &key, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // RFC 9449 §5: a public client's refresh token is bound to the key: the key
    // refreshes (a new DPoP token and a rotated refresh token)...
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = dpop_token(&env, &key, &refresh_form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);
    // ...and another key cannot.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", rotated.as_str()),
    ];
    let (status, body) = dpop_token(&env, &other, &refresh_form).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

/// DPOP-AS-6: a malformed `dpop_jkt` goes back to the client as invalid_request.
#[tokio::test]
async fn dpop_as_6_a_malformed_dpop_jkt_is_an_invalid_request() {
    let env = start().await;
    let (_, challenge) = pkce();
    let bad = env
        .get_authorize(
            &[
                ("response_type", "code"),
                ("client_id", "app"),
                ("redirect_uri", CALLBACK),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("resource", RESOURCE),
                ("state", "s"),
                ("dpop_jkt", "short"),
            ],
            None,
        )
        .await;
    assert_eq!(bad.status, 302);
    assert_eq!(query(&bad.location.unwrap())["error"], "invalid_request");
}
