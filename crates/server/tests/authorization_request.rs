//! The authorization request over real HTTP: which errors are shown as a page and
//! which go back to the client, and the login and consent pages' refusals. One test
//! per rule, each asserting status and `error`. The code exchange and refresh are in
//! `authorization_code.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::RESOURCE;
use common::browser::{CALLBACK, Env, Resp, hidden, pkce, query, start};

mod common;

/// A valid authorization request for `app`, with `overrides` replacing (or, when
/// empty, removing) parameters.
fn params(
    challenge: &str,
    overrides: &[(&'static str, &'static str)],
) -> Vec<(&'static str, String)> {
    let mut p: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", "app".into()),
        ("redirect_uri", CALLBACK.into()),
        ("code_challenge", challenge.to_owned()),
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
}

/// `GET /authorize` with the valid request changed by `overrides`, without a session.
async fn authorize(env: &Env, overrides: &[(&'static str, &'static str)]) -> Resp {
    let (_, challenge) = pkce();
    let p = params(&challenge, overrides);
    let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.get_authorize(&p, None).await
}

/// Posts the login page `login` with `user` and `password`.
async fn sign_in(env: &Env, login: &Resp, user: &str, password: &str) -> Resp {
    env.post_form(
        "/login",
        &[
            ("request", &hidden(&login.body, "request")),
            ("csrf", &hidden(&login.body, "csrf")),
            ("username", user),
            ("password", password),
        ],
        None,
    )
    .await
}

/// Errors shown as a page, never redirected: unknown client, unregistered redirect,
/// no client.
#[tokio::test]
async fn errors_about_the_client_or_redirect_uri_are_shown_as_a_page_never_redirected() {
    let env = start().await;
    for o in [
        [("client_id", "ghost")],
        [("redirect_uri", "https://attacker.example/cb")],
        [("client_id", "")],
    ] {
        let r = authorize(&env, &o).await;
        assert_eq!(r.status, 400, "{o:?}");
        assert!(r.location.is_none(), "{o:?}: {:?}", r.location);
        assert!(
            r.body.contains("<h1>Authorization failed</h1>"),
            "{o:?}: {}",
            r.body
        );
    }
}

/// Other errors go back to the client with `state` and `iss` (RFC 9207).
#[tokio::test]
async fn other_authorization_errors_are_redirected_with_state_and_iss() {
    let env = start().await;
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
        let r = authorize(&env, &o).await;
        assert_eq!(r.status, 302, "{o:?}: {}", r.body);
        let q = query(&r.location.unwrap());
        assert_eq!(q["error"], error, "{o:?}");
        assert_eq!(q["state"], "xyz", "{o:?}");
        assert_eq!(q["iss"], env.issuer, "{o:?}");
    }
}

/// Wrong password and unknown user: the login page again, 401, nothing issued.
#[tokio::test]
async fn a_wrong_password_or_unknown_user_shows_the_login_page_again_and_issues_nothing() {
    let env = start().await;
    let login = authorize(&env, &[]).await;
    for (user, password) in [("alice", "wrong"), ("mallory", "correct horse")] {
        let r = sign_in(&env, &login, user, password).await;
        assert_eq!(r.status, 401, "{user}");
        assert!(
            r.body.contains("Wrong username or password."),
            "{user}: {}",
            r.body
        );
        assert!(r.cookie.is_none(), "{user}: {:?}", r.cookie);
    }
}

#[tokio::test]
async fn a_forged_login_csrf_token_is_refused() {
    let env = start().await;
    let login = authorize(&env, &[]).await;
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
}

/// Deny: access_denied back to the client.
#[tokio::test]
async fn denying_consent_sends_access_denied_back_to_the_client() {
    let env = start().await;
    let login = authorize(&env, &[]).await;
    let consent = sign_in(&env, &login, "alice", "correct horse").await;
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
}

/// Consent without a session: sign in again.
#[tokio::test]
async fn consent_without_a_session_asks_to_sign_in_again() {
    let env = start().await;
    let login = authorize(&env, &[]).await;
    let r = env
        .post_form(
            "/consent",
            &[
                ("request", &hidden(&login.body, "request")),
                ("csrf", &hidden(&login.body, "csrf")),
                ("decision", "allow"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("<h1>Sign in</h1>"));
}
