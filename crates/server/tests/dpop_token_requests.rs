//! The token endpoint with DPoP proofs over real HTTP (profiles/dpop.md DPOP-AS-*,
//! RFC 9449 §5, §8): a proof binds the token (`token_type: DPoP`, `cnf.jkt`); every
//! refusal asserts status, `error` and, for nonces, `DPoP-Nonce`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_testkit::register_client;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::RESOURCE;

mod common;

const SECRET: &str = "cc-secret";

async fn start(toml: &str) -> common::TestServer {
    register_clients(common::spawn(toml, "").await).await
}

async fn register_clients(running: common::TestServer) -> common::TestServer {
    for (id, metadata) in [
        (
            "agent",
            json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"]}),
        ),
        (
            "always-dpop",
            json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"], "dpop_bound_access_tokens": true}),
        ),
    ] {
        register_client(&running.state, id, Some(SECRET), metadata).await;
    }
    running
}

struct Answer {
    status: StatusCode,
    nonce: Option<String>,
    body: Value,
}

async fn token(server: &common::TestServer, client: &str, proofs: &[&str]) -> Answer {
    let mut req = server
        .http
        .post(format!("{}/token", server.base))
        .basic_auth(client, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)]);
    for p in proofs {
        req = req.header("dpop", *p);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status(),
        nonce: r
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: r.json().await.unwrap(),
    }
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn proof(server: &common::TestServer, signer: &ProofSigner, nonce: Option<&str>) -> String {
    signer
        .proof(
            "POST",
            &format!("{}/token", server.issuer),
            None,
            nonce,
            mcp_auth_core::unix_now(),
        )
        .unwrap()
}

#[tokio::test]
async fn dpop_as_1_a_proof_binds_the_token_to_its_key() {
    let server = start("").await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let a = token(&server, "agent", &[&proof(&server, &signer, None)]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    let at = a.body["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["cnf"], json!({"jkt": signer.jkt()}));
    assert_eq!(a.nonce, None, "no nonces unless configured");
    // Introspection says DPoP too (RFC 9449 §6.2).
    let intro: Value = server
        .http
        .post(format!("{}/introspect", server.issuer))
        .basic_auth("agent", Some(SECRET))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["token_type"], "DPoP");
    assert_eq!(intro["cnf"]["jkt"], signer.jkt());
}

#[tokio::test]
async fn dpop_as_7_the_metadata_lists_the_proof_algorithms() {
    let server = start("").await;
    let meta: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!([
            "ES256", "ES384", "EdDSA", "Ed25519", "PS256", "PS384", "PS512", "RS256"
        ])
    );
    assert!(
        !meta["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS")),
        "never none, never a MAC"
    );
}

#[tokio::test]
async fn dpop_as_8_one_binding_per_token_request() {
    use mcp_auth_client::{HttpSigSigner, ProofKey, RequestSigner};
    let server = start("").await;
    // A request signed for HTTPSig binding AND carrying a DPoP proof.
    let httpsig = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let dpop = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let form = format!(
        "grant_type=client_credentials&resource={}",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    );
    let url = format!("{}/token", server.issuer);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("agent:{SECRET}"))
    );
    let (mut parts, ()) = http::Request::post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic)
        .body(())
        .unwrap()
        .into_parts();
    RequestSigner::from(httpsig)
        .sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
        .unwrap();
    let r = server
        .http
        .post(&url)
        .headers(parts.headers)
        .header("dpop", proof(&server, &dpop, None))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not both")
    );
    // Either alone is fine (the positive side is DPOP-AS-1 and HTTPSIG-AS-4).
    let a = token(&server, "agent", &[&proof(&server, &dpop, None)]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn dpop_c_3_the_client_retries_a_token_request_once_with_the_as_nonce() {
    let server = start(
        "[dpop]\nnonce = true\nnonce_secret = \"a shared secret of at least thirty-two bytes\"\n",
    )
    .await;
    let signer = mcp_auth_client::RequestSigner::from(
        mcp_auth_client::DpopSigner::generate(JwsAlgorithm::Es256).unwrap(),
    );
    let form = format!(
        "grant_type=client_credentials&resource={}",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    );
    let token = mcp_auth_client::request_token(
        &server.http,
        &format!("{}/token", server.issuer),
        &form,
        Some(("agent", SECRET)),
        Some(&signer),
        mcp_auth_core::unix_now(),
    )
    .await
    .unwrap();
    assert_eq!(token.token_type, "DPoP");
    // Without a proof-capable signer there is nothing to retry: the same AS refuses
    // a proof that ignores its nonce (the npm dpop check in interop/dpop covers a
    // client that never retries).
    let a = token_with_proof_without_nonce(&server).await;
    assert_eq!(a, "use_dpop_nonce");
}

async fn token_with_proof_without_nonce(server: &common::TestServer) -> String {
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    token(server, "agent", &[&proof(server, &signer, None)])
        .await
        .body["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn dpop_as_2_without_a_proof_the_token_is_bearer_unless_the_client_always_uses_dpop() {
    let server = start("").await;
    let a = token(&server, "agent", &[]).await;
    assert_eq!(
        (a.status, a.body["token_type"].as_str()),
        (StatusCode::OK, Some("Bearer"))
    );
    assert!(claims(a.body["access_token"].as_str().unwrap())["cnf"].is_null());
    let a = token(&server, "always-dpop", &[]).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"], "invalid_request");
    let signer = ProofSigner::generate(JwsAlgorithm::EdDsa).unwrap();
    let a = token(&server, "always-dpop", &[&proof(&server, &signer, None)]).await;
    assert_eq!(
        (a.status, a.body["token_type"].as_str()),
        (StatusCode::OK, Some("DPoP"))
    );
}

#[tokio::test]
async fn dpop_as_3_a_bad_proof_is_invalid_dpop_proof_and_nothing_is_issued() {
    let server = start("").await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let now = mcp_auth_core::unix_now();
    let wrong_uri = signer
        .proof("POST", "http://elsewhere.example/token", None, None, now)
        .unwrap();
    let wrong_method = signer
        .proof("GET", &format!("{}/token", server.issuer), None, None, now)
        .unwrap();
    let stale = signer
        .proof(
            "POST",
            &format!("{}/token", server.issuer),
            None,
            None,
            now - 120,
        )
        .unwrap();
    let good = proof(&server, &signer, None);
    for (what, proofs) in [
        ("htu", vec![wrong_uri.as_str()]),
        ("htm", vec![wrong_method.as_str()]),
        ("iat", vec![stale.as_str()]),
        ("two headers", vec![good.as_str(), good.as_str()]),
        ("not a JWT", vec!["abc"]),
    ] {
        let a = token(&server, "agent", &proofs).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.body["error"], "invalid_dpop_proof", "{what}");
        assert!(a.body.get("access_token").is_none());
    }
    // The same proof twice: the second is a replay (jti, §11.1).
    let a = token(&server, "agent", &[&good]).await;
    assert_eq!(a.status, 200);
    let a = token(&server, "agent", &[&good]).await;
    assert_eq!(
        (a.status.as_u16(), a.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
}

#[tokio::test]
async fn dpop_as_4_nonces_are_required_rotated_and_shared_by_instances_with_one_secret() {
    let toml =
        "[dpop]\nnonce = true\nnonce_secret = \"a shared secret of at least thirty-two bytes\"\n";
    let server = start(toml).await;
    // Another instance of the same AS (same issuer, own address, own database).
    let twin = register_clients(common::spawn_instance_of(toml, &server.issuer).await).await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    // No nonce: 400 use_dpop_nonce with one to use.
    let a = token(&server, "agent", &[&proof(&server, &signer, None)]).await;
    assert_eq!(
        (a.status.as_u16(), a.body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let nonce = a.nonce.expect("DPoP-Nonce with use_dpop_nonce");
    // With it: the token, and the next nonce.
    let a = token(&server, "agent", &[&proof(&server, &signer, Some(&nonce))]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.nonce.is_some(), "the next nonce comes with the token");
    // Another instance with the same secret accepts this instance's nonce.
    let a = token(&twin, "agent", &[&proof(&twin, &signer, Some(&nonce))]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A made-up nonce is refused with a fresh one.
    let a = token(
        &server,
        "agent",
        &[&proof(&server, &signer, Some("made-up"))],
    )
    .await;
    assert_eq!(
        (a.status.as_u16(), a.body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    assert!(a.nonce.is_some());
    // An instance with another secret does not.
    let stranger = start(
        "[dpop]\nnonce = true\nnonce_secret = \"another secret, also thirty-two bytes long\"\n",
    )
    .await;
    let a = token(
        &stranger,
        "agent",
        &[&proof(&stranger, &signer, Some(&nonce))],
    )
    .await;
    assert_eq!(a.body["error"], "use_dpop_nonce");
}

#[tokio::test]
async fn dpop_as_5_dpop_bound_access_tokens_is_registered_dynamically_and_checked() {
    let server = start("").await;
    let register = |meta: Value| {
        let server = &server;
        async move {
            let r = server
                .http
                .post(format!("{}/register", server.issuer))
                .json(&meta)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let base = json!({"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none", "dpop_bound_access_tokens": true});
    let (status, body) = register(base.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["dpop_bound_access_tokens"], true);
    let mut bad = base;
    bad["dpop_bound_access_tokens"] = json!("yes");
    let (status, body) = register(bad).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
}
