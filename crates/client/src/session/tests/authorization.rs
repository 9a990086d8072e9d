//! What a refusal sets off: discovery and a token on a 401 (a refresh first where
//! there is a refresh token), step-up on a 403 `insufficient_scope`, one retry on a
//! DPoP `use_dpop_nonce`; and which token each request then carries.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::IntoResponse as _;
use base64::Engine as _;
use http::StatusCode;
use serde_json::{Value, json};

use super::{
    Seen, at, challenge, client, client_credentials, echo, issuing, mcp_url, requiring, result,
    start,
};
use crate::session::MAX_STEP_UPS;
use crate::{
    CachedToken, CallError, DpopSigner, HttpSigSigner, ProofKey, RegisteredClient, TokenError,
};

/// A token cached by an earlier run at `issuer`, with a refresh token; fresh or
/// expired.
pub(super) fn cached(issuer: &str, fresh: bool) -> CachedToken {
    let now = mcp_auth_core::unix_now();
    CachedToken {
        access_token: "old".into(),
        scopes: vec!["tools:read".into()],
        expires_at: if fresh { now + 3600 } else { now - 10 },
        issuer: issuer.to_owned(),
        refresh_token: Some("rt-old".into()),
        registered_client: None,
    }
}

/// `token` as issued to the public client `pub-1`, dynamically registered at its
/// issuer.
pub(super) fn registered(token: CachedToken) -> CachedToken {
    CachedToken {
        registered_client: Some(RegisteredClient {
            client_id: "pub-1".into(),
            client_secret: None,
            token_endpoint_auth_method: "none".into(),
        }),
        ..token
    }
}

/// The `grant_type` of each token request `server` received.
fn grants(server: &mcp_auth_testkit::Recording<Seen>) -> Vec<String> {
    at(server, "/token")
        .iter()
        .map(|s| s.form("grant_type").unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_401_gets_a_token_for_the_challenge_scope_and_the_retry_carries_it_as_bearer() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", false)).await;
    let mut client = client(&server, Some(client_credentials()), None);
    echo(&mut client).await;

    let token = &at(&server, "/token")[0];
    assert_eq!(
        token.form("grant_type").as_deref(),
        Some("client_credentials")
    );
    // The challenge's scope only: the resource's scopes_supported is not added.
    assert_eq!(token.form("scope").as_deref(), Some("tools:read"));
    assert_eq!(token.form("resource"), Some(mcp_url(&server)));
    let basic = base64::engine::general_purpose::STANDARD.encode("bot:s3cret");
    assert_eq!(
        token.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let mcp = at(&server, "/mcp");
    assert_eq!(mcp.len(), 2);
    assert_eq!(mcp[0].header("authorization"), None);
    assert_eq!(mcp[1].header("authorization"), Some("Bearer at-1"));
    assert_eq!(mcp[1].header("mcp-name"), Some("echo"));
    // The same message, resent.
    assert_eq!(mcp[0].body, mcp[1].body);

    let kept = client.obtained_token().unwrap();
    assert_eq!(kept.access_token, "at-1");
    assert_eq!(kept.issuer, server.base);
    assert_eq!(kept.scopes, ["tools:read"]);
    assert_eq!(kept.refresh_token, None);
    assert_eq!(
        client.discovery().unwrap().resource.resource,
        mcp_url(&server)
    );
}

#[tokio::test]
async fn a_second_401_after_authorizing_is_the_callers_error() {
    let server = start(requiring("Bearer never"), issuing("Bearer", false)).await;
    let mut client = client(&server, Some(client_credentials()), None);
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Refused { status: 401, challenge }
            if challenge == "Bearer invalid_token (scope tools:read)"),
        "{err}"
    );
    assert_eq!(at(&server, "/token").len(), 1, "authorized once");
}

#[tokio::test]
async fn obtain_token_asks_for_the_resources_scopes_unless_the_caller_names_some() {
    let server = start(result, issuing("Bearer", false)).await;
    let token = client(&server, Some(client_credentials()), None)
        .obtain_token()
        .await
        .unwrap();
    assert_eq!(token.scopes, ["tools"]);
    let named = client(&server, Some(client_credentials()), None)
        .with_scopes(&["mine".to_owned()])
        .obtain_token()
        .await
        .unwrap();
    assert_eq!(named.scopes, ["mine"]);

    let scopes: Vec<_> = at(&server, "/token")
        .iter()
        .map(|s| s.form("scope"))
        .collect();
    assert_eq!(scopes, [Some("tools".into()), Some("mine".into())]);
    assert!(at(&server, "/mcp").is_empty(), "no tool was called");
}

#[tokio::test]
async fn step_up_asks_for_the_union_of_the_scopes_and_retries() {
    let server = start(
        |seen: &Seen| match seen.header("authorization") {
            Some("Bearer at-2") => result(seen),
            Some(_) => challenge(
                StatusCode::FORBIDDEN,
                r#"Bearer error="insufficient_scope", scope="tools:write tools:read""#,
            ),
            None => challenge(StatusCode::UNAUTHORIZED, r#"Bearer scope="tools:read""#),
        },
        issuing("Bearer", false),
    )
    .await;
    let mut client = client(&server, Some(client_credentials()), None);
    client.call("tools/list", json!({})).await.unwrap();

    let scopes: Vec<_> = at(&server, "/token")
        .iter()
        .map(|s| s.form("scope").unwrap())
        .collect();
    assert_eq!(scopes, ["tools:read", "tools:read tools:write"]);
    let authorizations: Vec<_> = at(&server, "/mcp")
        .iter()
        .map(|s| s.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        authorizations,
        [None, Some("Bearer at-1".into()), Some("Bearer at-2".into())]
    );
    assert_eq!(
        client.obtained_token().unwrap().scopes,
        ["tools:read", "tools:write"]
    );
}

#[tokio::test]
async fn step_up_stops_after_max_step_ups_and_returns_the_403() {
    let server = start(
        |_: &Seen| {
            challenge(
                StatusCode::FORBIDDEN,
                r#"Bearer error="insufficient_scope", scope="admin""#,
            )
        },
        issuing("Bearer", false),
    )
    .await;
    let mut client = client(&server, Some(client_credentials()), None)
        .with_cached(&cached("https://elsewhere.example", true));
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Refused { status: 403, challenge }
            if challenge == "Bearer insufficient_scope (scope admin)"),
        "{err}"
    );
    // The cached token first; then a token per step-up, found from the challenge.
    assert_eq!(at(&server, "/token").len(), MAX_STEP_UPS);
    assert_eq!(at(&server, "/mcp").len(), MAX_STEP_UPS + 1);
    assert_eq!(
        at(&server, "/mcp")[0].header("authorization"),
        Some("Bearer old")
    );
}

#[tokio::test]
async fn a_401_on_a_cached_token_refreshes_it_at_its_issuer_before_using_the_grant() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", false)).await;
    let mut client =
        client(&server, Some(client_credentials()), None).with_cached(&cached(&server.base, true));
    client.call("tools/list", json!({})).await.unwrap();

    let mcp = at(&server, "/mcp");
    assert_eq!(mcp[0].header("authorization"), Some("Bearer old"));
    assert_eq!(mcp[1].header("authorization"), Some("Bearer at-1"));
    assert_eq!(grants(&server), ["refresh_token"]);
    let refresh = &at(&server, "/token")[0];
    assert_eq!(refresh.form("refresh_token").as_deref(), Some("rt-old"));
    assert_eq!(refresh.form("resource"), Some(mcp_url(&server)));
    // No new refresh token came back: the old one stays (RFC 6749 §6).
    let kept = client.obtained_token().unwrap();
    assert_eq!(kept.access_token, "at-1");
    assert_eq!(kept.refresh_token.as_deref(), Some("rt-old"));
}

#[tokio::test]
async fn an_expired_cached_token_is_refreshed_by_its_registered_client_before_the_first_request() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", true)).await;
    let mut client =
        client(&server, None, None).with_cached(&registered(cached(&server.base, false)));
    client.call("tools/list", json!({})).await.unwrap();

    let mcp = at(&server, "/mcp");
    assert_eq!(mcp.len(), 1, "no 401 first");
    assert_eq!(mcp[0].header("authorization"), Some("Bearer at-1"));
    assert_eq!(grants(&server), ["refresh_token"]);
    assert_eq!(
        at(&server, "/token")[0].form("client_id").as_deref(),
        Some("pub-1")
    );
    // A new refresh token replaces the old one; the registration is kept with it.
    let kept = client.obtained_token().unwrap();
    assert_eq!(kept.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(kept.registered_client.unwrap().client_id, "pub-1");
}

#[tokio::test]
async fn a_refused_refresh_token_is_dropped_and_the_grant_runs() {
    let issue = issuing("Bearer", false);
    let server = start(requiring("Bearer at-1"), move |seen: &Seen| {
        if seen.form("grant_type").as_deref() == Some("refresh_token") {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response()
        } else {
            issue(seen)
        }
    })
    .await;
    let mut client =
        client(&server, Some(client_credentials()), None).with_cached(&cached(&server.base, true));
    client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(grants(&server), ["refresh_token", "client_credentials"]);
    assert_eq!(client.obtained_token().unwrap().refresh_token, None);

    // Without a grant, a refused refresh token leaves nothing to authorize with.
    let mut client =
        super::client(&server, None, None).with_cached(&registered(cached(&server.base, true)));
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(matches!(err, CallError::NeedsCredentials { .. }), "{err}");
    assert_eq!(
        grants(&server),
        ["refresh_token", "client_credentials", "refresh_token"]
    );
}

#[tokio::test]
async fn a_refresh_token_never_goes_to_another_issuer() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", false)).await;
    let mut client =
        client(&server, None, None).with_cached(&cached("https://elsewhere.example", false));
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(matches!(err, CallError::NeedsCredentials { .. }), "{err}");
    assert!(at(&server, "/token").is_empty());
    // The expired token was not sent either.
    assert_eq!(at(&server, "/mcp")[0].header("authorization"), None);
}

#[tokio::test]
async fn an_httpsig_client_signs_its_token_request_and_every_request_with_the_token() {
    let server = start(requiring("HTTPSig at-1"), issuing("httpsig", false)).await;
    let key = ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let signer = HttpSigSigner::new(key).into();
    let mut client = client(&server, Some(client_credentials()), Some(signer));
    echo(&mut client).await;

    let token = &at(&server, "/token")[0];
    assert!(
        token
            .header("signature-input")
            .unwrap()
            .contains(r#"tag="httpsig-oauth-token-request""#)
    );
    let mcp = at(&server, "/mcp");
    // Without a token, nothing to sign: the operation headers only.
    assert_eq!(mcp[0].header("signature"), None);
    assert_eq!(mcp[0].header("mcp-method"), Some("tools/call"));
    let signed = &mcp[1];
    assert!(
        signed
            .header("signature-input")
            .unwrap()
            .contains(r#"tag="httpsig-oauth""#)
    );
    assert!(signed.header("signature").is_some());
    assert!(signed.header("content-digest").is_some());
    assert_eq!(signed.header("mcp-name"), Some("echo"));
}

#[tokio::test]
async fn a_bound_token_request_answered_with_a_bearer_token_is_refused() {
    let server = start(requiring("HTTPSig at-1"), issuing("Bearer", false)).await;
    let key = ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let mut client = client(
        &server,
        Some(client_credentials()),
        Some(HttpSigSigner::new(key).into()),
    );
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Token(TokenError::NotBound { expected: "httpsig", found })
            if found == "Bearer"),
        "{err}"
    );
    assert_eq!(
        at(&server, "/mcp").len(),
        1,
        "the unbound token is not used"
    );
}

/// The claims of the DPoP proof `seen` carries.
fn dpop_claims(seen: &Seen) -> Value {
    let proof = seen.header("dpop").unwrap();
    let payload = proof.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_dpop_client_retries_once_with_the_nonce_the_resource_asks_for() {
    let refusals = AtomicUsize::new(0);
    let server = start(
        move |seen: &Seen| match seen.header("authorization") {
            Some("DPoP at-1") if refusals.fetch_add(1, Ordering::SeqCst) == 0 => (
                StatusCode::UNAUTHORIZED,
                [
                    ("www-authenticate", r#"DPoP error="use_dpop_nonce""#),
                    ("dpop-nonce", "n-1"),
                ],
            )
                .into_response(),
            Some("DPoP at-1") => result(seen),
            _ => challenge(StatusCode::UNAUTHORIZED, "DPoP"),
        },
        issuing("DPoP", false),
    )
    .await;
    let signer = DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
    let mut client = client(&server, Some(client_credentials()), Some(signer.into()));
    client.call("tools/list", json!({})).await.unwrap();

    let token = &at(&server, "/token")[0];
    assert_eq!(dpop_claims(token)["htu"], format!("{}/token", server.base));
    let mcp = at(&server, "/mcp");
    assert_eq!(mcp.len(), 3);
    assert!(dpop_claims(&mcp[1]).get("nonce").is_none());
    let retried = dpop_claims(&mcp[2]);
    assert_eq!(retried["nonce"], "n-1");
    assert!(retried.get("ath").is_some());
    assert_eq!(
        at(&server, "/token").len(),
        1,
        "the nonce needs no new token"
    );
}

/// `Debug` of the client and of the token it keeps shows no token and no secret, so
/// a program that logs them with `{:?}` leaks none; what is not secret stays shown.
#[tokio::test]
async fn debug_shows_no_token_refresh_token_or_client_secret() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", true)).await;
    let mut client = client(&server, Some(client_credentials()), None);
    client.call("tools/list", json!({})).await.unwrap();
    let mut kept = client.obtained_token().unwrap();
    assert_eq!(
        (kept.access_token.as_str(), kept.refresh_token.as_deref()),
        ("at-1", Some("rt-1"))
    );
    kept.registered_client = Some(RegisteredClient {
        client_id: "reg-1".into(),
        client_secret: Some("reg-s3cret".into()),
        token_endpoint_auth_method: "client_secret_basic".into(),
    });

    let shown = format!("{client:?}\n{kept:?}");
    for secret in ["at-1", "rt-1", "s3cret"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    for kept_in_view in [
        "client_id: \"bot\"",
        "client_id: \"reg-1\"",
        "token: Some(\"..\")",
        "refresh_token: Some(\"..\")",
        "client_secret: Some(\"..\")",
        "tools:read",
    ] {
        assert!(
            shown.contains(kept_in_view),
            "{kept_in_view} missing: {shown}"
        );
    }
}
