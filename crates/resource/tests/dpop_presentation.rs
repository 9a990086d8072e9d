//! DPoP at the resource (profiles/dpop.md DPOP-RS-*, RFC 9449 §7, §9) over real
//! HTTP: a real AS issues DPoP-bound tokens; every refusal asserts status, the
//! challenge that carries the error, `error`, and `algs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_auth_core::MemoryReplayCache;
use mcp_auth_core::dpop::{NonceSealer, ProofSigner};
use mcp_auth_httpsig::JwsAlgorithm;
use mcp_auth_resource::config::DpopPolicy;
use serde_json::{Value, json};

mod common;

struct Dpop {
    authorization_server: common::As,
    rs: common::Rs,
    signer: ProofSigner,
    token: String,
}

async fn start(policy: Option<DpopPolicy>) -> Dpop {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let rs = common::start_rs_with(
        listener,
        &resource,
        &authorization_server,
        Arc::new(MemoryReplayCache::new()),
        |c| c.dpop = policy,
    )
    .await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let token = authorization_server.dpop_token(&signer, &resource).await;
    Dpop {
        authorization_server,
        rs,
        signer,
        token,
    }
}

const BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#;

struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: Value,
}

impl Answer {
    /// The challenge of `scheme`.
    fn challenge(&self, scheme: &str) -> &str {
        self.challenges
            .iter()
            .find(|c| c.starts_with(&format!("{scheme} ")))
            .unwrap_or_else(|| panic!("no {scheme} challenge in {:?}", self.challenges))
    }
}

async fn post(rs: &common::Rs, authorization: &str, proofs: &[&str]) -> Answer {
    let mut req = reqwest::Client::new()
        .post(&rs.resource)
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(BODY);
    for p in proofs {
        req = req.header("dpop", *p);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        challenges: r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect(),
        nonce: r
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: r.json().await.unwrap_or(Value::Null),
    }
}

impl Dpop {
    fn proof(&self, method: &str, uri: &str, token: Option<&str>, iat_offset: i64) -> String {
        self.signer
            .proof(
                method,
                uri,
                token,
                None,
                mcp_auth_core::unix_now() + iat_offset,
            )
            .unwrap()
    }

    fn good_proof(&self) -> String {
        self.proof("POST", &self.rs.resource, Some(&self.token), 0)
    }

    fn auth(&self) -> String {
        format!("DPoP {}", self.token)
    }
}

/// 401 with the error in the DPoP challenge, `algs` listed.
fn assert_dpop_error(a: &Answer, error: &str) {
    assert_eq!(a.status, 401, "{:?}", a.challenges);
    let c = a.challenge("DPoP");
    assert!(c.contains(&format!("error=\"{error}\"")), "{c}");
    assert!(c.contains("algs=\"ES256 "), "{c}");
    assert!(!a.challenge("HTTPSig").contains("error="));
}

#[tokio::test]
async fn dpop_rs_2_a_dpop_client_calls_a_tool_and_the_server_sees_its_key() {
    let d = start(Some(DpopPolicy::default())).await;
    let a = post(&d.rs, &d.auth(), &[&d.good_proof()]).await;
    assert_eq!(a.status, 200, "{:?}", a.challenges);
    assert_eq!(a.body["result"]["profile"], "dpop");
    assert_eq!(a.body["result"]["thumbprint"], d.signer.jkt());
    assert_eq!(a.nonce, None);
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let a = post(&d.rs, &format!("dpop {}", d.token), &[&d.good_proof()]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn dpop_rs_3_every_proof_check_is_a_401_invalid_dpop_proof() {
    let d = start(Some(DpopPolicy::default())).await;
    let other_path = d.rs.resource.replace("/mcp", "/other");
    let cases = [
        ("no proof", vec![]),
        ("two proofs", vec![d.good_proof(), d.good_proof()]),
        (
            "htm",
            vec![d.proof("GET", &d.rs.resource, Some(&d.token), 0)],
        ),
        ("htu", vec![d.proof("POST", &other_path, Some(&d.token), 0)]),
        (
            "iat",
            vec![d.proof("POST", &d.rs.resource, Some(&d.token), -120)],
        ),
        ("no ath", vec![d.proof("POST", &d.rs.resource, None, 0)]),
        (
            "ath of another token",
            vec![d.proof("POST", &d.rs.resource, Some("another"), 0)],
        ),
        ("not a JWT", vec!["abc.def".to_owned()]),
    ];
    for (what, proofs) in cases {
        let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let a = post(&d.rs, &d.auth(), &refs).await;
        assert_dpop_error(&a, "invalid_dpop_proof");
        assert!(a.body.is_null(), "{what}: nothing reached the server");
    }
}

/// Check 12's `ath` names the token presented in this request, whether the token is
/// verified now or found in the cache (whose SHA-256 of the token is what `ath` is
/// compared with): two tokens of one key, each presented with a proof made for the
/// other, are refused on first use and when both are cached.
#[tokio::test]
async fn dpop_rs_3_ath_names_the_token_presented_first_use_and_cached() {
    let d = start(Some(DpopPolicy::default())).await;
    let other = d
        .authorization_server
        .dpop_token(&d.signer, &d.rs.resource)
        .await;
    assert_ne!(other, d.token);
    let made_for = |token: &str| d.proof("POST", &d.rs.resource, Some(token), 0);
    // First use of `other`, with a proof made for `d.token`.
    let a = post(&d.rs, &format!("DPoP {other}"), &[&made_for(&d.token)]).await;
    assert_dpop_error(&a, "invalid_dpop_proof");
    assert!(a.body.is_null());
    // Both accepted with their own proofs, so both are cached.
    for token in [&d.token, &other] {
        let a = post(&d.rs, &format!("DPoP {token}"), &[&made_for(token)]).await;
        assert_eq!(a.status, 200, "{:?}", a.challenges);
    }
    // Cached, each with the other's proof.
    for (presented, proof_for) in [(&other, &d.token), (&d.token, &other)] {
        let a = post(&d.rs, &format!("DPoP {presented}"), &[&made_for(proof_for)]).await;
        assert_dpop_error(&a, "invalid_dpop_proof");
        assert!(a.body.is_null());
    }
}

#[tokio::test]
async fn dpop_rs_4_a_proof_by_another_key_is_invalid_token() {
    let d = start(Some(DpopPolicy::default())).await;
    let thief = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = thief
        .proof(
            "POST",
            &d.rs.resource,
            Some(&d.token),
            None,
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let a = post(&d.rs, &d.auth(), &[&proof]).await;
    assert_dpop_error(&a, "invalid_token");
}

#[tokio::test]
async fn dpop_rs_5_a_proof_is_accepted_once() {
    let d = start(Some(DpopPolicy::default())).await;
    let proof = d.good_proof();
    assert_eq!(post(&d.rs, &d.auth(), &[&proof]).await.status, 200);
    let a = post(&d.rs, &d.auth(), &[&proof]).await;
    assert_dpop_error(&a, "invalid_dpop_proof");
    assert!(a.challenge("DPoP").contains("already used"));
    // SEP-1932's stateless mode (jti tracking off) lets the same proof through
    // again within the window: the documented risk.
    let d = start(Some(DpopPolicy {
        jti_replay: false,
        ..DpopPolicy::default()
    }))
    .await;
    let proof = d.good_proof();
    assert_eq!(post(&d.rs, &d.auth(), &[&proof]).await.status, 200);
    assert_eq!(post(&d.rs, &d.auth(), &[&proof]).await.status, 200);
}

#[tokio::test]
async fn dpop_rs_6_a_dpop_bound_token_as_bearer_is_refused_in_the_dpop_challenge() {
    let d = start(Some(DpopPolicy::default())).await;
    let a = post(&d.rs, &format!("Bearer {}", d.token), &[]).await;
    assert_dpop_error(&a, "invalid_token");
    assert!(a.challenge("DPoP").contains("DPoP scheme"));
    // And with a proof attached, still refused: the scheme decides.
    let a = post(&d.rs, &format!("Bearer {}", d.token), &[&d.good_proof()]).await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn dpop_rs_7_dpop_where_not_accepted_and_unbound_tokens_with_dpop_are_refused() {
    // A resource without DPoP: the scheme is refused, and no DPoP challenge offered.
    let d = start(None).await;
    let a = post(&d.rs, &d.auth(), &[&d.good_proof()]).await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenge("HTTPSig")
            .contains("does not accept the DPoP scheme")
    );
    assert!(a.challenges.iter().all(|c| !c.starts_with("DPoP")));
    // A token without cnf.jkt presented with DPoP.
    let d = start(Some(DpopPolicy::default())).await;
    let bearer = d.authorization_server.bearer_token(&d.rs.resource).await;
    let proof = d
        .signer
        .proof(
            "POST",
            &d.rs.resource,
            Some(&bearer),
            None,
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let a = post(&d.rs, &format!("DPoP {bearer}"), &[&proof]).await;
    assert_dpop_error(&a, "invalid_token");
    assert!(a.challenge("DPoP").contains("not bound to a DPoP key"));
}

#[tokio::test]
async fn dpop_rs_8_nonces_when_required() {
    let sealer = Arc::new(NonceSealer::new(&[9u8; 32], "rs", 300).unwrap());
    let d = start(Some(DpopPolicy {
        nonces: Some(sealer),
        ..DpopPolicy::default()
    }))
    .await;
    let a = post(&d.rs, &d.auth(), &[&d.good_proof()]).await;
    assert_dpop_error(&a, "use_dpop_nonce");
    let nonce = a.nonce.expect("DPoP-Nonce with use_dpop_nonce");
    let proof = d
        .signer
        .proof(
            "POST",
            &d.rs.resource,
            Some(&d.token),
            Some(&nonce),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let a = post(&d.rs, &d.auth(), &[&proof]).await;
    assert_eq!(a.status, 200, "{:?}", a.challenges);
    assert!(a.nonce.is_some(), "the next nonce comes with the answer");
}

#[tokio::test]
async fn dpop_rs_1_metadata_and_the_bare_challenge_name_dpop() {
    let d = start(Some(DpopPolicy::default())).await;
    let r = reqwest::Client::new()
        .post(&d.rs.resource)
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenges: Vec<String> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let dpop = challenges.iter().find(|c| c.starts_with("DPoP ")).unwrap();
    assert!(
        dpop.starts_with("DPoP algs=\"ES256 ES384 EdDSA Ed25519 PS256 PS384 PS512 RS256\""),
        "{dpop}"
    );
    assert!(
        !dpop.contains("error="),
        "no error without credentials (RFC 6750 §3.1)"
    );
    let base = d.rs.resource.trim_end_matches("/mcp");
    let doc: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"][0], "ES256");
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(false));
    assert_eq!(doc["httpsig_bound_access_tokens_required"], json!(false));
}

#[tokio::test]
async fn dpop_c_3_the_client_retries_once_with_the_resource_nonce() {
    let sealer = Arc::new(NonceSealer::new(&[9u8; 32], "rs", 300).unwrap());
    let d = start(Some(DpopPolicy {
        nonces: Some(sealer),
        ..DpopPolicy::default()
    }))
    .await;
    let signer = mcp_auth_client::DpopSigner::generate(JwsAlgorithm::Es256).unwrap();
    let mut client = mcp_auth_client::McpClient::new(
        &d.rs.resource,
        Some(mcp_auth_client::Grant::ClientCredentials(
            mcp_auth_client::ClientAuth::SecretBasic {
                client_id: "bearer-agent".into(),
                secret: common::SECRET.into(),
            },
        )),
        Some(signer.into()),
    );
    // 401 (no token) → token with a proof → 401 use_dpop_nonce → retried with it.
    let outcome = client
        .call("tools/call", json!({"name": "echo", "arguments": {}}))
        .await
        .unwrap();
    assert_eq!(outcome.response["result"]["profile"], "dpop");
    // The nonce from the success is used next: no further 401.
    let outcome = client
        .call("tools/call", json!({"name": "echo", "arguments": {}}))
        .await
        .unwrap();
    assert_eq!(outcome.response["result"]["profile"], "dpop");
}
