//! Who the upstream is told the caller is, and who may use a session, over real HTTP
//! on 127.0.0.1 (real authorization servers, the gateway, a recording upstream):
//!
//! - item 6: the issuer goes upstream with the subject, the profile and key thumbprint
//!   with every request, and no client header that a CGI/WSGI upstream would read as
//!   an identity header survives;
//! - item 11: an `Mcp-Session-Id` is bound to the principal that created it, in memory
//!   or in Redis, and anyone else gets 404 without reaching the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm};
use mcp_auth_resource::session::{DEFAULT_SESSION_IDLE, RedisSessionStore, SessionStore};
use serde_json::Value;

mod common;

use common::gateway::{OneGateway, gateway_with, recording_upstream, serve_gateway, signed};
use mcp_auth_testkit::Recorder;

const ECHO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#;

fn new_signer() -> HttpSigSigner {
    HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap())
}

#[tokio::test]
async fn item_6_two_issuers_same_subject_are_distinguished_upstream() {
    let (listener, resource) = common::bind().await;
    // Two trusted authorization servers, each with a client `agent`: two principals
    // both named `agent`.
    let first = common::start_as(&resource).await;
    let second = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    serve_gateway(listener, &resource, &[&first, &second], &up, |_| {}, None).await;
    for authorization_server in [&first, &second] {
        let signer = new_signer();
        let token = authorization_server
            .bound_token(&signer, &resource)
            .await
            .access_token;
        let r = signed(&signer, &token, Method::POST, &resource, ECHO, &[])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].headers["x-mcp-auth-subject"], "agent");
    assert_eq!(seen[1].headers["x-mcp-auth-subject"], "agent");
    assert_eq!(seen[0].headers["x-mcp-auth-issuer"], first.issuer.as_str());
    assert_eq!(seen[1].headers["x-mcp-auth-issuer"], second.issuer.as_str());
    assert_ne!(first.issuer, second.issuer);
}

/// The profile and the key thumbprint go upstream with every request, the second
/// request of a token (its principal then shared from the token cache) as the first:
/// HTTPSig names the thumbprint of the key that signed, DPoP the proof key's `jkt`.
#[tokio::test]
async fn item_6_the_profile_and_key_thumbprint_go_upstream_with_every_request() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|c| c.dpop = Some(mcp_auth_resource::DpopPolicy::default())).await;
    let key = ProofKey::generate_runtime(Algorithm::Ed25519).unwrap();
    let httpsig_thumbprint = key.thumbprint();
    let signer = HttpSigSigner::new(key);
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    for _ in 0..2 {
        let r = signed(&signer, &token, Method::POST, &resource, ECHO, &[])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let dpop = mcp_auth_core::dpop::ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let dpop_token = authorization_server.dpop_token(&dpop, &resource).await;
    for _ in 0..2 {
        let proof = dpop
            .proof(
                "POST",
                &resource,
                Some(&dpop_token),
                None,
                mcp_auth_core::unix_now(),
            )
            .unwrap();
        let r = reqwest::Client::new()
            .post(&resource)
            .header("authorization", format!("DPoP {dpop_token}"))
            .header("dpop", proof)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(ECHO)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let seen = seen.lock().unwrap();
    let sent: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| {
            (
                r.headers["x-mcp-auth-profile"].to_str().unwrap(),
                r.headers["x-mcp-auth-key-thumbprint"].to_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("httpsig", httpsig_thumbprint.as_str()),
            ("httpsig", httpsig_thumbprint.as_str()),
            ("dpop", dpop.jkt()),
            ("dpop", dpop.jkt()),
        ]
    );
}

#[tokio::test]
async fn item_6_identity_headers_spelled_with_underscores_never_reach_the_upstream() {
    let OneGateway {
        resource,
        authorization_server,
        seen,
    } = gateway_with(|_| {}).await;
    let signer = new_signer();
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let spoofed = [
        ("X_MCP_AUTH_SUBJECT", "root"),
        ("x-mcp-auth_scope", "admin"),
        ("x_mcp_auth_issuer", "https://evil.example"),
        ("X-MCP-Auth-Client-Id", "admin-app"),
    ];
    let r = signed(&signer, &token, Method::POST, &resource, ECHO, &spoofed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = seen.lock().unwrap()[0].headers.clone();
    let identity: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.replace('_', "-").starts_with("x-mcp-auth-"))
        .collect();
    for name in &identity {
        assert!(!name.contains('_'), "{name} reached the upstream");
    }
    assert_eq!(headers["x-mcp-auth-subject"], "agent");
    assert_eq!(headers["x-mcp-auth-client-id"], "agent");
    assert_eq!(headers["x-mcp-auth-scope"], "mcp:read");
    assert_eq!(
        headers["x-mcp-auth-issuer"],
        authorization_server.issuer.as_str()
    );
    assert_eq!(headers.get_all("x-mcp-auth-subject").iter().count(), 1);
}

/// Two principals of one AS at a gateway that accepts Bearer too: `agent` (HTTPSig)
/// and `bearer-agent` (Bearer).
struct Principals {
    resource: String,
    signer: HttpSigSigner,
    token: String,
    bearer: String,
    authorization_server: common::As,
}

impl Principals {
    /// `agent`'s signed request.
    fn owner(&self, method: Method, body: &str, session: &str) -> reqwest::RequestBuilder {
        self.owner_at(&self.resource, method, body, session)
    }

    /// `agent`'s signed request sent to `url` (another instance of the same resource).
    fn owner_at(
        &self,
        url: &str,
        method: Method,
        body: &str,
        session: &str,
    ) -> reqwest::RequestBuilder {
        let extra: Vec<(&'static str, &str)> = if session.is_empty() {
            vec![]
        } else {
            vec![("mcp-session-id", session)]
        };
        let (mut parts, ()) = http::Request::builder()
            .method(method.clone())
            .uri(&self.resource)
            .body(())
            .unwrap()
            .into_parts();
        for (k, v) in extra {
            parts.headers.insert(k, v.parse().unwrap());
        }
        self.signer
            .sign_mcp_request(
                &mut parts,
                &self.token,
                body.as_bytes(),
                mcp_auth_core::unix_now(),
            )
            .unwrap();
        reqwest::Client::new()
            .request(method, url)
            .headers(parts.headers)
            .body(body.to_owned())
    }

    /// `bearer-agent`'s request.
    fn other(&self, method: Method, body: &str, session: &str) -> reqwest::RequestBuilder {
        self.other_at(&self.resource, method, body, session)
    }

    fn other_at(
        &self,
        url: &str,
        method: Method,
        body: &str,
        session: &str,
    ) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, url)
            .bearer_auth(&self.bearer)
            .header("content-type", "application/json")
            .header("mcp-session-id", session)
            .body(body.to_owned())
    }
}

async fn principals(
    listener: tokio::net::TcpListener,
    resource: &str,
    authorization_server: common::As,
    upstream: &str,
    sessions: Option<Arc<dyn SessionStore>>,
) -> Principals {
    serve_gateway(
        listener,
        resource,
        &[&authorization_server],
        upstream,
        |c| c.bound_tokens_required = false,
        sessions,
    )
    .await;
    let signer = new_signer();
    let token = authorization_server
        .bound_token(&signer, resource)
        .await
        .access_token;
    let bearer = authorization_server.bearer_token(resource).await;
    Principals {
        resource: resource.to_owned(),
        signer,
        token,
        bearer,
        authorization_server,
    }
}

/// 404 with the JSON-RPC "Session not found" error.
async fn assert_session_not_found(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 404, "{what}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32001, "{what}");
    assert_eq!(body["error"]["message"], "Session not found", "{what}");
}

fn forwarded(seen: &Recorder) -> usize {
    seen.lock().unwrap().len()
}

#[tokio::test]
async fn item_11_a_session_is_usable_only_by_the_principal_that_created_it() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let p = principals(listener, &resource, authorization_server, &up, None).await;
    // `agent` starts a session; the upstream names it.
    let r = p.owner(Method::POST, INITIALIZE, "").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let r = p.owner(Method::POST, ECHO, &session).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(forwarded(&seen), 2);
    // Another principal holding the id: 404 for a call and for DELETE, and the
    // upstream never hears of it.
    let r = p.other(Method::POST, ECHO, &session).send().await.unwrap();
    assert_session_not_found(r, "another principal's call").await;
    let r = p.other(Method::DELETE, "", &session).send().await.unwrap();
    assert_session_not_found(r, "another principal's DELETE").await;
    let r = p.other(Method::GET, "", &session).send().await.unwrap();
    assert_session_not_found(r, "another principal's GET stream").await;
    assert_eq!(forwarded(&seen), 2);
    // The same principal with another key (same issuer, subject and client) is the
    // owner.
    let signer = new_signer();
    let token = p
        .authorization_server
        .bound_token(&signer, &p.resource)
        .await
        .access_token;
    let r = signed(
        &signer,
        &token,
        Method::POST,
        &p.resource,
        ECHO,
        &[("mcp-session-id", &session)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // An id the gateway never bound: 404 for everyone.
    let r = p
        .owner(Method::POST, ECHO, "never-issued")
        .send()
        .await
        .unwrap();
    assert_session_not_found(r, "an id the gateway never saw").await;
    assert_eq!(forwarded(&seen), 3);
    // The owner ends the session: forwarded, then the id is gone.
    let r = p.owner(Method::DELETE, "", &session).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap()[3].method, Method::DELETE);
    let r = p.owner(Method::POST, ECHO, &session).send().await.unwrap();
    assert_session_not_found(r, "an ended session").await;
    assert_eq!(forwarded(&seen), 4);
}

/// Two gateway instances of one resource sharing Redis: a session bound at one is
/// refused to another principal at the other, and usable by its owner at both. Runs
/// when `MCP_AUTH_TEST_REDIS` names a Redis (scripts/test sets it).
#[tokio::test]
async fn item_11_sessions_bound_at_one_instance_are_enforced_at_another_through_redis() {
    let Ok(url) = std::env::var("MCP_AUTH_TEST_REDIS") else {
        eprintln!(
            "SKIPPED: MCP_AUTH_TEST_REDIS is not set; the shared-Redis session binding test did not run"
        );
        return;
    };
    let prefix = format!(
        "mcp-auth-test:session:{}:",
        mcp_auth_httpsig::sign::random_nonce().unwrap()
    );
    let redis = || -> Arc<dyn SessionStore> {
        Arc::new(
            RedisSessionStore::connect(
                &mcp_auth_core::redis_connection::RedisTarget::parse(&url).unwrap(),
                &prefix,
                DEFAULT_SESSION_IDLE,
                Duration::from_secs(2),
            )
            .unwrap(),
        )
    };
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_url = format!("http://{}/mcp", second.local_addr().unwrap());
    serve_gateway(
        second,
        &resource,
        &[&authorization_server],
        &up,
        |c| c.bound_tokens_required = false,
        Some(redis()),
    )
    .await;
    let p = principals(
        listener,
        &resource,
        authorization_server,
        &up,
        Some(redis()),
    )
    .await;
    let r = p.owner(Method::POST, INITIALIZE, "").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let r = p
        .other_at(&second_url, Method::POST, ECHO, &session)
        .send()
        .await
        .unwrap();
    assert_session_not_found(r, "another principal at the other instance").await;
    let r = p
        .owner_at(&second_url, Method::POST, ECHO, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the owner at the other instance");
    assert_eq!(forwarded(&seen), 2);
}

#[tokio::test]
async fn item_11_an_unreachable_session_store_fails_closed() {
    let dead: Arc<dyn SessionStore> = Arc::new(
        RedisSessionStore::connect(
            &mcp_auth_core::redis_connection::RedisTarget::parse("redis://127.0.0.1:1/").unwrap(),
            "t:",
            DEFAULT_SESSION_IDLE,
            Duration::from_millis(300),
        )
        .unwrap(),
    );
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let p = principals(listener, &resource, authorization_server, &up, Some(dead)).await;
    // A session id cannot be checked: 503, not forwarded.
    let r = p.owner(Method::POST, ECHO, "sess-1").send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the gateway cannot check the session now"
    );
    assert_eq!(forwarded(&seen), 0);
    // A session the upstream names cannot be bound: 503, the id is withheld.
    let r = p.owner(Method::POST, INITIALIZE, "").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("mcp-session-id").is_none());
    // Requests without sessions are unaffected.
    let r = p.owner(Method::POST, ECHO, "").send().await.unwrap();
    assert_eq!(r.status(), 200);
}
