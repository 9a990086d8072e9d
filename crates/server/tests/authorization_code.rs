//! The authorization code flow over real HTTP: authorize → login page → consent page →
//! redirect with code and `iss` → token exchange with PKCE → refresh with rotation;
//! and a negative test for each rule, asserting status and `error`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::RESOURCE;
use common::browser::{CALLBACK, Env, hidden, pkce, query, start};

mod common;

#[tokio::test]
async fn full_flow_with_pkce_refresh_rotation_and_remembered_consent() {
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
    // Refresh rotates for a public client.
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body2) = env
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body2}");
    let r2 = body2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    // Reusing the first one revokes the family: the second stops working too.
    let (status, err) = env
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), err["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );
    let (status, err) = env
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r2),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), err["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );
    // With a session and a remembered consent, authorize redirects at once.
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
    assert!(q2.contains_key("code") && q2["state"] == "st-2");
    // Asking for more than was consented to shows the consent page again.
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

#[tokio::test]
async fn code_exchange_rules() {
    let env = start().await;
    let (verifier, challenge) = pkce();
    let exchange =
        |code: String, client: &'static str, redirect: &'static str, verifier: String| {
            let env = &env;
            async move {
                env.token(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect),
                        ("code_verifier", &verifier),
                        ("client_id", client),
                    ],
                    None,
                )
                .await
            }
        };
    let expect = |got: (StatusCode, Value), status: u16, error: &str| {
        assert_eq!(got.0.as_u16(), status, "{}", got.1);
        assert_eq!(got.1["error"], error, "{}", got.1);
    };
    // Wrong verifier.
    let (q, _) = env.code_for("app", &challenge, "s").await;
    expect(
        exchange(
            q["code"].clone(),
            "app",
            CALLBACK,
            format!("wrong-{}", "y".repeat(40)),
        )
        .await,
        400,
        "invalid_grant",
    );
    // Code of another client.
    let (q, _) = env.code_for("app", &challenge, "s").await;
    expect(
        exchange(q["code"].clone(), "other-app", CALLBACK, verifier.clone()).await,
        400,
        "invalid_grant",
    );
    // redirect_uri mismatch.
    let (q, _) = env.code_for("app", &challenge, "s").await;
    expect(
        exchange(
            q["code"].clone(),
            "app",
            "http://127.0.0.1:9999/other",
            verifier.clone(),
        )
        .await,
        400,
        "invalid_grant",
    );
    // Reuse: the second exchange fails and the first token is revoked.
    let (q, _) = env.code_for("app", &challenge, "s").await;
    let first = exchange(q["code"].clone(), "app", CALLBACK, verifier.clone()).await;
    assert_eq!(first.0, 200);
    expect(
        exchange(q["code"].clone(), "app", CALLBACK, verifier.clone()).await,
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
    assert!(env.state.store.is_revoked(&jti).await.unwrap());
    let refresh = first.1["refresh_token"].as_str().unwrap();
    expect(
        env.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "app"),
            ],
            None,
        )
        .await,
        400,
        "invalid_grant",
    );
    // Unknown code, missing verifier, expired code, resource mismatch.
    expect(
        exchange("nope".into(), "app", CALLBACK, verifier.clone()).await,
        400,
        "invalid_grant",
    );
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
    let expired = "expired-code";
    env.state.store.insert_code(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expired.as_bytes()).as_ref(), &json!({"client_id": "app", "username": "alice", "redirect_uri": CALLBACK, "scopes": [], "resource": RESOURCE, "code_challenge": challenge}), mcp_auth_core::unix_now() - 1).await.unwrap();
    expect(
        exchange(expired.into(), "app", CALLBACK, verifier.clone()).await,
        400,
        "invalid_grant",
    );
    let (q, _) = env.code_for("app", &challenge, "s").await;
    expect(
        env.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
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
    // A confidential client must authenticate; a public one cannot pretend to be it.
    let (q, _) = env.code_for("webapp", &challenge, "s").await;
    expect(
        exchange(q["code"].clone(), "webapp", CALLBACK, verifier.clone()).await,
        401,
        "invalid_client",
    );
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
    // A confidential client's refresh token is not rotated: it works twice.
    let r = ok.1["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let got = env
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", r)],
                Some(("webapp", "web-secret")),
            )
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        assert!(got.1.get("refresh_token").is_none());
    }
    expect(
        env.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r),
                ("scope", "mcp:read mcp:write"),
            ],
            Some(("webapp", "web-secret")),
        )
        .await,
        400,
        "invalid_scope",
    );
    expect(
        env.token(
            &[("grant_type", "refresh_token"), ("refresh_token", r)],
            Some(("cc-only", "cc-secret")),
        )
        .await,
        400,
        "unauthorized_client",
    );
}

#[tokio::test]
async fn authorization_request_rules() {
    let env = start().await;
    let (_, challenge) = pkce();
    let base = |overrides: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", "app".into()),
            ("redirect_uri", CALLBACK.into()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".into()),
            ("resource", RESOURCE.into()),
            ("state", "xyz".into()),
        ];
        for (k, v) in overrides {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, (*v).to_owned()));
            }
        }
        p
    };
    let run = |p: Vec<(&'static str, String)>| {
        let env = &env;
        async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.get_authorize(&p, None).await
        }
    };
    // Errors shown as a page, never redirected: unknown client, unregistered redirect.
    for o in [
        [("client_id", "ghost")],
        [("redirect_uri", "https://attacker.example/cb")],
        [("client_id", "")],
    ] {
        let r = run(base(&o)).await;
        assert_eq!(r.status, 400, "{o:?}");
        assert!(r.location.is_none());
        assert!(r.body.contains("<h1>Authorization failed</h1>"));
    }
    // Errors redirected with state and iss.
    for (o, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "tooshort")], "invalid_request"),
        (vec![("resource", "")], "invalid_request"),
        (
            vec![("resource", "http://127.0.0.1:4000/x")],
            "invalid_target",
        ),
        (vec![("scope", "admin")], "invalid_scope"),
        (vec![("client_id", "cc-only")], "unauthorized_client"),
    ] {
        let r = run(base(&o)).await;
        assert_eq!(r.status, 302, "{o:?}: {}", r.body);
        let q = query(&r.location.unwrap());
        assert_eq!(q["error"], error, "{o:?}");
        assert_eq!(q["state"], "xyz");
        assert_eq!(q["iss"], env.issuer);
    }
    // Wrong password and unknown user: the login page again, 401, nothing issued.
    let login = run(base(&[])).await;
    for (user, password) in [("alice", "wrong"), ("mallory", "correct horse")] {
        let r = env
            .post_form(
                "/login",
                &[
                    ("request", &hidden(&login.body, "request")),
                    ("csrf", &hidden(&login.body, "csrf")),
                    ("username", user),
                    ("password", password),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains("Wrong username or password."));
        assert!(r.cookie.is_none());
    }
    // A forged CSRF token is refused.
    let r = env
        .post_form(
            "/login",
            &[
                ("request", &hidden(&login.body, "request")),
                ("csrf", "forged"),
                ("username", "alice"),
                ("password", "correct horse"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    // Deny: access_denied back to the client.
    let consent = env
        .post_form(
            "/login",
            &[
                ("request", &hidden(&login.body, "request")),
                ("csrf", &hidden(&login.body, "csrf")),
                ("username", "alice"),
                ("password", "correct horse"),
            ],
            None,
        )
        .await;
    let cookie = consent.cookie.unwrap();
    let denied = env
        .post_form(
            "/consent",
            &[
                ("request", &hidden(&consent.body, "request")),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "deny"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(denied.status, 303);
    let q = query(&denied.location.unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "xyz")
    );
    // Consent without a session: sign in again.
    let login2 = run(base(&[])).await;
    let r = env
        .post_form(
            "/consent",
            &[
                ("request", &hidden(&login2.body, "request")),
                ("csrf", &hidden(&login2.body, "csrf")),
                ("decision", "allow"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("<h1>Sign in</h1>"));
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
            .contains("bound to another key")
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
    // A malformed dpop_jkt goes back to the client as invalid_request.
    let (verifier, challenge) = pkce();
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
