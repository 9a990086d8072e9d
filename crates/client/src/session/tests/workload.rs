//! The workload grant (profiles/workload-identity-federation.md WIF-C-1 to WIF-C-7)
//! through [`McpClient`]: the token request it sends, what it refuses to send, and
//! what it does after the answer. The test server is the authorization server; its
//! issuer is its base URL, the `aud` a platform would have been asked for.

use axum::response::IntoResponse as _;
use base64::Engine as _;
use http::StatusCode;
use serde_json::{Value, json};

use super::authorization::{cached, registered};
use super::{Seen, at, challenge, echo, issuing, mcp_url, requiring, result, start, start_with};
use crate::workload::{JWT_BEARER_GRANT, PlatformToken, WorkloadError};
use crate::{
    CachedToken, CallError, DpopSigner, Grant, HttpSigSigner, McpClient, ProofKey, RequestSigner,
    TokenError,
};

/// A platform token (unsigned: the client does not verify it) with this `aud` and
/// `sub`.
fn platform_token(aud: Value, sub: &str) -> String {
    let part = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(json!({"alg": "RS256", "kid": "k1"})),
        part(json!({"iss": "https://idp.example", "sub": sub, "aud": aud,
                    "exp": mcp_auth_core::unix_now() + 600}))
    )
}

/// A directory holding the token file `token`, and the grant that reads it.
fn token_file(contents: &str) -> (tempfile::TempDir, std::path::PathBuf, Grant) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, contents).unwrap();
    let grant = Grant::Workload(PlatformToken::File(path.clone()));
    (dir, path, grant)
}

/// A grant reading a file that holds a platform token for `server`'s issuer (and
/// the directory holding the file).
fn grant_for(server: &mcp_auth_testkit::Recording<Seen>) -> (tempfile::TempDir, Grant) {
    let (dir, _, grant) = token_file(&platform_token(json!(server.base), "w"));
    (dir, grant)
}

/// Authorization server metadata that lists the grant.
fn lists_the_grant() -> Value {
    json!({"grant_types_supported": [JWT_BEARER_GRANT]})
}

/// An authorization server that lists the grant (plus `extra` metadata), an MCP
/// endpoint that wants `authorization`, and a token endpoint issuing `token_type`.
async fn workload_server(
    extra: Value,
    authorization: &'static str,
    token_type: &'static str,
) -> mcp_auth_testkit::Recording<Seen> {
    let mut metadata = lists_the_grant();
    for (k, v) in extra.as_object().into_iter().flatten() {
        metadata[k] = v.clone();
    }
    start_with(
        metadata,
        requiring(authorization),
        issuing(token_type, false),
    )
    .await
}

/// A client of `server`'s MCP endpoint with `grant` and `signer`.
fn workload_client(
    server: &mcp_auth_testkit::Recording<Seen>,
    grant: Grant,
    signer: Option<RequestSigner>,
) -> McpClient {
    McpClient::new(mcp_url(server), Some(grant), signer)
}

/// The error of a `tools/list` call to `server` by a client with `grant` and
/// `signer`, which must fail.
async fn failed_call(
    server: &mcp_auth_testkit::Recording<Seen>,
    grant: Grant,
    signer: Option<RequestSigner>,
) -> CallError {
    workload_client(server, grant, signer)
        .call("tools/list", json!({}))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn wif_c_1_no_token_request_to_an_as_that_does_not_list_the_grant() {
    let server = start(requiring("Bearer at-1"), issuing("Bearer", false)).await;
    let (_dir, grant) = grant_for(&server);
    let err = failed_call(&server, grant, None).await;
    assert!(
        matches!(&err, CallError::Workload(WorkloadError::GrantNotSupported { issuer })
            if *issuer == server.base),
        "{err}"
    );
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_2_the_request_is_the_grant_the_trimmed_token_the_resource_and_the_scope_only() {
    let server = workload_server(json!({}), "Bearer at-1", "Bearer").await;
    let token = platform_token(json!(server.base), "w");
    let (_dir, _, grant) = token_file(&format!("\n  {token} \r\n"));
    echo(&mut workload_client(&server, grant, None)).await;

    let requests = at(&server, "/token");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let mut names: Vec<String> = url::form_urlencoded::parse(request.body.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["assertion", "grant_type", "resource", "scope"]);
    assert_eq!(
        request.form("grant_type").as_deref(),
        Some(JWT_BEARER_GRANT)
    );
    assert_eq!(request.form("assertion"), Some(token));
    // Exactly the resource metadata's `resource`; the challenge's scope.
    assert_eq!(request.form("resource"), Some(mcp_url(&server)));
    assert_eq!(request.form("scope").as_deref(), Some("tools:read"));
    // No client authentication of any kind.
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        at(&server, "/mcp")[1].header("authorization"),
        Some("Bearer at-1")
    );
}

#[tokio::test]
async fn wif_c_3_the_token_file_is_read_again_for_every_token_request() {
    let server = workload_server(json!({}), "Bearer at-1", "Bearer").await;
    let first = platform_token(json!(server.base), "before-rotation");
    let (_dir, path, grant) = token_file(&first);
    let mut client = workload_client(&server, grant, None);
    client.obtain_token().await.unwrap();
    // The platform rotates the file.
    let second = platform_token(json!(server.base), "after-rotation");
    std::fs::write(&path, &second).unwrap();
    client.obtain_token().await.unwrap();

    let assertions: Vec<_> = at(&server, "/token")
        .iter()
        .map(|s| s.form("assertion").unwrap())
        .collect();
    assert_eq!(assertions, [first, second]);
    // Nothing of it is kept between requests.
    let state = format!("{client:?}");
    for token in &assertions {
        assert!(!state.contains(token.split('.').nth(1).unwrap()), "{state}");
    }
}

#[tokio::test]
async fn wif_c_3_the_token_is_in_no_error_and_no_debug_output() {
    let server = workload_server(json!({}), "Bearer at-1", "Bearer").await;
    let token = platform_token(json!("https://elsewhere.example"), "w");
    let (_dir, path, grant) = token_file(&token);
    let mut client = workload_client(&server, grant, None);
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    let shown = format!("{err} {err:?} {client:?}");
    let payload = token.split('.').nth(1).unwrap();
    assert!(!shown.contains(payload), "{shown}");
    // It says where the token is, what it is for, and what it should be for.
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("https://elsewhere.example"), "{message}");
    assert!(message.contains(&server.base), "{message}");
}

#[tokio::test]
async fn wif_c_4_a_token_for_another_audience_is_not_sent() {
    let server = workload_server(json!({}), "Bearer at-1", "Bearer").await;
    // The issuer and a second audience: what audience injection looks like.
    let token = platform_token(json!([server.base, "https://other.example"]), "w");
    let (_dir, _, grant) = token_file(&token);
    let err = failed_call(&server, grant, None).await;
    assert!(
        matches!(
            &err,
            CallError::Workload(WorkloadError::WrongAudience { .. })
        ),
        "{err}"
    );
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_5_an_error_answer_ends_the_operation_without_another_token_request() {
    let server = start_with(lists_the_grant(), requiring("Bearer at-1"), |_: &Seen| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unauthorized_client",
                "error_description": "no workload rule of this issuer matches the assertion"})),
        )
            .into_response()
    })
    .await;
    let (_dir, grant) = grant_for(&server);
    let err = failed_call(&server, grant, None).await;
    assert!(
        matches!(&err, CallError::Token(TokenError::Refused { error, .. })
            if error == "unauthorized_client"),
        "{err}"
    );
    assert!(err.to_string().contains("no workload rule"), "{err}");
    assert_eq!(at(&server, "/token").len(), 1, "no retry, no other grant");
    assert_eq!(at(&server, "/mcp").len(), 1, "the call is not sent again");
}

#[tokio::test]
async fn wif_c_6_no_dpop_proof_to_an_as_that_does_not_advertise_dpop() {
    let server = workload_server(json!({}), "DPoP at-1", "DPoP").await;
    let (_dir, grant) = grant_for(&server);
    let signer = DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
    let err = failed_call(&server, grant, Some(signer.into())).await;
    assert!(
        matches!(
            &err,
            CallError::Workload(WorkloadError::BindingNotAdvertised {
                profile: "DPoP",
                ..
            })
        ),
        "{err}"
    );
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_6_a_dpop_proof_to_an_as_that_advertises_its_algorithm() {
    let dpop = json!({"dpop_signing_alg_values_supported": ["ES256"]});
    let server = workload_server(dpop, "DPoP at-1", "DPoP").await;
    let (_dir, grant) = grant_for(&server);
    let signer = DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
    echo(&mut workload_client(&server, grant, Some(signer.into()))).await;

    let request = &at(&server, "/token")[0];
    assert!(request.header("dpop").is_some());
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.form("grant_type").as_deref(),
        Some(JWT_BEARER_GRANT)
    );
    assert_eq!(
        at(&server, "/mcp")[1].header("authorization"),
        Some("DPoP at-1")
    );
}

#[tokio::test]
async fn wif_c_6_a_runtime_key_signs_the_request_where_httpsig_is_advertised() {
    let httpsig = json!({"httpsig_key_binding_methods_supported": ["runtime"],
                         "httpsig_signing_alg_values_supported": ["ed25519"]});
    let server = workload_server(httpsig, "HTTPSig at-1", "httpsig").await;
    let (_dir, grant) = grant_for(&server);
    let key = ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    echo(&mut workload_client(
        &server,
        grant,
        Some(HttpSigSigner::new(key).into()),
    ))
    .await;

    let request = &at(&server, "/token")[0];
    let input = request.header("signature-input").unwrap();
    assert!(
        input.contains(r#"tag="httpsig-oauth-token-request""#),
        "{input}"
    );
    assert!(!input.contains("keyid"), "{input}");
    assert!(request.header("content-digest").is_some());
}

#[tokio::test]
async fn wif_c_6_no_signature_with_a_preregistered_key_which_names_a_client() {
    let httpsig = json!({"httpsig_key_binding_methods_supported": ["runtime", "preregistered"]});
    let server = workload_server(httpsig, "HTTPSig at-1", "httpsig").await;
    let (_dir, grant) = grant_for(&server);
    let signing =
        mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let key =
        ProofKey::preregistered(signing, mcp_auth_httpsig::JwsAlgorithm::Ed25519, "k1").unwrap();
    let err = failed_call(&server, grant, Some(HttpSigSigner::new(key).into())).await;
    assert!(
        matches!(&err, CallError::Workload(WorkloadError::PreregisteredKey)),
        "{err}"
    );
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_7_the_access_token_serves_every_call_until_refused_and_no_refresh_token_is_kept() {
    let server = start_with(
        lists_the_grant(),
        requiring("Bearer at-1"),
        issuing("Bearer", true),
    )
    .await;
    let (_dir, grant) = grant_for(&server);
    let mut client = workload_client(&server, grant, None);
    echo(&mut client).await;
    echo(&mut client).await;
    assert_eq!(at(&server, "/token").len(), 1);
    let kept = client.obtained_token().unwrap();
    assert_eq!(kept.access_token, "at-1");
    assert_eq!(
        kept.refresh_token, None,
        "WIF D11: the platform token is the refresh"
    );
}

#[tokio::test]
async fn wif_c_7_a_401_invalid_token_on_a_kept_token_gets_a_new_one_with_the_grant() {
    let server = start_with(
        lists_the_grant(),
        |seen: &Seen| match seen.header("authorization") {
            Some("Bearer at-1") => result(seen),
            _ => challenge(StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#),
        },
        issuing("Bearer", false),
    )
    .await;
    let (_dir, grant) = grant_for(&server);
    let kept = CachedToken {
        access_token: "revoked".into(),
        refresh_token: None,
        ..cached(&server.base, true)
    };
    let mut client = workload_client(&server, grant, None).with_cached(&kept);
    echo(&mut client).await;

    let requests = at(&server, "/token");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].form("grant_type").as_deref(),
        Some(JWT_BEARER_GRANT)
    );
    assert_eq!(requests[0].form("scope").as_deref(), Some("tools:read"));
}

#[tokio::test]
async fn wif_c_5_a_refresh_token_kept_by_another_run_is_not_another_grant_for_a_workload() {
    let server = workload_server(json!({}), "Bearer at-1", "Bearer").await;
    let (_dir, grant) = grant_for(&server);
    // What a signed-in user's run left in a shared cache: expired, refreshable.
    let kept = registered(cached(&server.base, false));
    let mut client = workload_client(&server, grant, None).with_cached(&kept);
    echo(&mut client).await;

    let grants: Vec<_> = at(&server, "/token")
        .iter()
        .map(|s| s.form("grant_type").unwrap_or_default())
        .collect();
    assert_eq!(grants, [JWT_BEARER_GRANT]);
}
