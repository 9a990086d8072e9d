//! What a request must look like before the gateway reads its body or forwards it,
//! over real HTTP on 127.0.0.1 (a real AS, the gateway, a recording upstream):
//!
//! - item 4: authentication (token and signature) happens on the head; an
//!   unauthenticated request announcing 100 MB is answered without its body;
//! - item 7: only `POST`, `GET` and `DELETE` are served, and `GET`/`DELETE` carry no
//!   body, so no JSON-RPC operation reaches the upstream past the scope policy;
//! - item 8: an absolute-form request line does not choose the scheme and authority
//!   a signature or a DPoP proof is checked against;
//! - only the resource's path is checked and forwarded, and it cannot be one of the
//!   gateway's own paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use http::Method;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm};
use mcp_auth_resource::DpopPolicy;

/// A named request head (its headers) and the challenge prefix it must get.
type Case = (&'static str, Vec<(String, String)>, &'static str);

mod common;

use common::gateway::{OneGateway, gateway_with, scope_policy, signed};
use mcp_auth_testkit::{raw_exchange, raw_request};

const DELETE_FILE: &str =
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_file"}}"#;
const ECHO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;

/// The gateway's `host:port` from its resource URL.
fn authority(resource: &str) -> String {
    resource
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned()
}

fn metadata_url(resource: &str) -> String {
    format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        authority(resource)
    )
}

/// `headers` as `(name, value)` text pairs for [`raw_request`].
fn pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn item_4_an_unauthenticated_post_is_refused_before_its_body_is_read() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|_| {}).await;
    let addr = authority(&resource);
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    // A valid token, signed by another key: the token verifies, the signature does not.
    let thief = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let forged = pairs(&common::signed_headers(&thief, &token, &resource, ECHO));
    let cases: [Case; 3] = [
        ("no credentials", vec![], "HTTPSig resource_metadata="),
        (
            "a token that is no JWT",
            vec![("authorization".into(), "HTTPSig not-a-token".into())],
            "HTTPSig error=\"invalid_token\"",
        ),
        (
            "a signature by another key",
            forged,
            "HTTPSig error=\"invalid_signature\"",
        ),
    ];
    for (what, headers, challenge) in cases {
        // 100 MB announced, 10 bytes sent, the connection held open: a server that
        // read the body before authenticating would never answer.
        let mut all = vec![
            ("host".to_owned(), addr.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-length".to_owned(), "100000000".to_owned()),
        ];
        all.extend(headers.into_iter().filter(|(k, _)| k != "content-length"));
        let request = raw_request("POST /mcp HTTP/1.1", &all, br#"{"jsonrpc""#);
        let r = raw_exchange(&addr, &request).await;
        assert_eq!(r.status, 401, "{what}: {}", r.head);
        let challenges = r.header("www-authenticate");
        assert!(
            challenges[0].starts_with(challenge),
            "{what}: {challenges:?}"
        );
        assert!(
            challenges[0].contains(&format!(
                "resource_metadata=\"{}\"",
                metadata_url(&resource)
            )),
            "{what}: {challenges:?}"
        );
        // The unread body ends the connection, and the answer says so: a client
        // that reused it would find it closed.
        assert_eq!(r.header("connection"), ["close"], "{what}: {}", r.head);
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn item_7_a_put_with_a_tools_call_body_is_405_and_never_reaches_the_upstream() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|c| c.scopes = scope_policy()).await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    // The token has mcp:read; delete_* needs mcp:write too.
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let send =
        |method: Method, body: &str| signed(&signer, &token, method, &resource, body, &[]).send();
    // As a POST, the rule applies.
    let r = send(Method::POST, DELETE_FILE).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("HTTPSig error=\"insufficient_scope\""),
    );
    // Any method but POST, GET and DELETE: 405, whatever it carries.
    for method in [Method::PUT, Method::PATCH] {
        let r = send(method.clone(), DELETE_FILE).await.unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "GET, POST, DELETE", "{method}");
        assert!(r.headers().get("www-authenticate").is_none());
    }
    let r = reqwest::Client::new()
        .put(&resource)
        .body(DELETE_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "before any credential is looked at");
    assert!(seen.lock().unwrap().is_empty(), "nothing was forwarded");
}

#[tokio::test]
async fn item_7_a_get_or_delete_with_a_body_is_refused_and_never_reaches_the_upstream() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|c| c.scopes = scope_policy()).await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    for method in [Method::GET, Method::DELETE] {
        let r = signed(&signer, &token, method.clone(), &resource, DELETE_FILE, &[])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{method}");
        assert!(r.headers().get("www-authenticate").is_none(), "{method}");
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing was forwarded");
    // Without a body, a GET (the SSE stream) goes through.
    let r = signed(&signer, &token, Method::GET, &resource, "", &[])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert!(seen[0].body.is_empty());
}

#[tokio::test]
async fn item_8_an_absolute_form_request_line_cannot_choose_the_signed_authority() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|_| {}).await;
    let addr = authority(&resource);
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let send = |target: &str, signed_for: &str| {
        let mut headers = pairs(&common::signed_headers(&signer, &token, signed_for, ECHO));
        headers.push(("host".into(), addr.clone()));
        headers.push(("content-type".into(), "application/json".into()));
        headers.push(("content-length".into(), ECHO.len().to_string()));
        raw_request(
            &format!("POST {target} HTTP/1.1"),
            &headers,
            ECHO.as_bytes(),
        )
    };
    // Signed over another host name, sent in absolute form naming that host.
    let other = "http://other.example/mcp";
    let r = raw_exchange(&addr, &send(other, other)).await;
    assert_eq!(r.status, 401, "{}", r.head);
    let challenge = &r.header("www-authenticate")[0];
    assert!(
        challenge.starts_with("HTTPSig error=\"invalid_signature\""),
        "{challenge}"
    );
    assert!(challenge.contains("does not verify"), "{challenge}");
    assert_eq!(
        r.header("accept-signature"),
        [
            r#"sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name");created;tag="httpsig-oauth""#
        ]
    );
    assert!(seen.lock().unwrap().is_empty());
    // Signed over the configured URL, the same line naming the other host: accepted,
    // the line's authority plays no part.
    let r = raw_exchange(&addr, &send(other, &resource)).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn item_8_a_dpop_proof_for_the_authority_of_an_absolute_form_line_is_refused() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|c| c.dpop = Some(DpopPolicy::default())).await;
    let addr = authority(&resource);
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let token = authorization_server.dpop_token(&signer, &resource).await;
    let other = "http://other.example/mcp";
    let send = |htu: &str| {
        let proof = signer
            .proof("POST", htu, Some(&token), None, mcp_auth_core::unix_now())
            .unwrap();
        raw_request(
            &format!("POST {other} HTTP/1.1"),
            &[
                ("host".into(), addr.clone()),
                ("authorization".into(), format!("DPoP {token}")),
                ("dpop".into(), proof),
                ("content-type".into(), "application/json".into()),
                ("content-length".into(), ECHO.len().to_string()),
            ],
            ECHO.as_bytes(),
        )
    };
    let r = raw_exchange(&addr, &send(other)).await;
    assert_eq!(r.status, 401, "{}", r.head);
    let dpop = r
        .header("www-authenticate")
        .into_iter()
        .find(|c| c.starts_with("DPoP "))
        .unwrap();
    assert!(dpop.contains("error=\"invalid_dpop_proof\""), "{dpop}");
    assert!(seen.lock().unwrap().is_empty());
    let r = raw_exchange(&addr, &send(&resource)).await;
    assert_eq!(r.status, 200, "{}", r.head);
}

/// The check guards the resource's path, the one path forwarded: a path the gateway
/// does not serve is a plain 404, with or without credentials (an MCP client probing
/// `/.well-known/oauth-authorization-server` on the gateway's origin is told it is not
/// there, not asked to authenticate), nothing reaches the upstream, and the resource's
/// own path asks for credentials.
#[tokio::test]
async fn a_path_the_gateway_does_not_serve_is_a_404_and_never_reaches_the_upstream() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|_| {}).await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let origin = format!("http://{}", authority(&resource));
    let http = reqwest::Client::new();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/mcp/x",
        "/other",
    ] {
        let url = format!("{origin}{path}");
        let r = http.post(&url).body(ECHO).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} without credentials");
        assert!(r.headers().get("www-authenticate").is_none(), "{path}");
        let r = signed(&signer, &token, Method::POST, &url, ECHO, &[])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path} signed");
    }
    let r = http.post(&resource).body(ECHO).send().await.unwrap();
    assert_eq!(r.status(), 401, "the resource's path");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("HTTPSig resource_metadata="),
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was forwarded");
}

/// The MCP endpoint cannot be at a path the gateway answers itself: the configuration
/// says so, where the router would otherwise have two routes for one path.
#[test]
fn a_resource_at_one_of_the_gateways_own_paths_is_refused() {
    use mcp_auth_resource::gateway::RawGatewayConfig;
    let raw = |resource: &str| RawGatewayConfig {
        resource: Some(resource.into()),
        ..common::gateway::minimal_config()
    };
    for own in [
        "/healthz",
        "/readyz",
        "/.well-known/oauth-protected-resource",
    ] {
        let error = raw(&format!("http://127.0.0.1:8080{own}"))
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "resource: the path {own} is one the gateway serves itself; give the MCP endpoint another"
            ),
        );
    }
    for fine in [
        "/mcp",
        "/healthz/mcp",
        "/",
        "/readyz2",
        "/.well-known/jwks.json",
    ] {
        let config = raw(&format!("http://127.0.0.1:8080{fine}")).validate();
        assert!(config.is_ok(), "{fine}: {config:?}");
    }
}
