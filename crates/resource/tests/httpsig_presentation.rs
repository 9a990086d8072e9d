//! HTTPSIG-RS-*: a client gets a bound token from the real AS and calls tools/call on
//! a real protected endpoint; then every attack of the issue fails with the exact
//! status, error and challenge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use common::Env;
use http::HeaderMap;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestAlgorithm, NonceMode, RequestTarget, Signer, digest_value,
};
use serde_json::Value;

mod common;

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;

#[derive(Clone)]
struct Signed {
    url: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: String,
    accept_signature: String,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn assert_rejected(&self, status: u16, error: &str, description_has: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.challenge
                .starts_with(&format!("HTTPSig error=\"{error}\", error_description=\"")),
            "{self:?}"
        );
        assert!(
            self.challenge.contains(description_has),
            "`{description_has}` not in {self:?}"
        );
        assert!(
            self.challenge
                .contains("resource_metadata=\"http://127.0.0.1:"),
            "{self:?}"
        );
    }
}

impl Env {
    fn sign_with(&self, signer: &HttpSigSigner, method: &str, url: &str, body: &str) -> Signed {
        let head = http::Request::builder().method(method).uri(url);
        let parts = common::sign(signer, &self.token, head, body);
        Signed {
            url: url.to_owned(),
            headers: parts.headers,
            body: body.to_owned(),
        }
    }

    fn sign(&self, body: &str) -> Signed {
        self.sign_with(&self.signer, "POST", &self.rs.resource, body)
    }

    /// Signs with a hand-built signer (wrong tag, extra parameters, chosen
    /// components), after setting `headers`.
    fn sign_raw(
        &self,
        body: &str,
        headers: &[(&str, &str)],
        build: impl FnOnce(Signer) -> Signer,
        created: i64,
    ) -> Signed {
        let (mut parts, ()) = http::Request::post(&self.rs.resource)
            .body(())
            .unwrap()
            .into_parts();
        parts.headers.insert(
            "authorization",
            format!("HTTPSig {}", self.token).parse().unwrap(),
        );
        for (k, v) in headers {
            parts.headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let key = self.signer.key();
        let signer = Signer::new(key.signing_key().clone(), key.algorithm())
            .unwrap()
            .label("sig")
            .nonce(NonceMode::Random)
            .tag("httpsig-oauth")
            .content_digest(Some(DigestAlgorithm::Sha256))
            .components(
                ComponentId::parse_list(
                    r#""@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name""#,
                )
                .unwrap(),
            );
        build(signer)
            .sign_request(
                &mut parts,
                body.as_bytes(),
                RequestTarget::default(),
                created,
            )
            .unwrap();
        Signed {
            url: self.rs.resource.clone(),
            headers: parts.headers,
            body: body.to_owned(),
        }
    }

    async fn send(&self, s: &Signed) -> Reply {
        self.send_as("POST", s).await
    }

    async fn send_as(&self, method: &str, s: &Signed) -> Reply {
        let r = self
            .http
            .request(method.parse().unwrap(), &s.url)
            .headers(s.headers.clone())
            .body(s.body.clone())
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            r.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let challenge = header("www-authenticate");
        let accept_signature = header("accept-signature");
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            challenge,
            accept_signature,
            body,
        }
    }
}

/// A signer covering what a call without `Mcp-Name` claims: everything up to
/// `mcp-method`.
fn covering_up_to_mcp_method(s: Signer) -> Signer {
    s.components(
        ComponentId::parse_list(
            r#""@method" "@target-uri" "authorization" "content-digest" "mcp-method""#,
        )
        .unwrap(),
    )
}

fn edit_input(s: &mut Signed, from: &str, to: &str) {
    let v = s.headers["signature-input"]
        .to_str()
        .unwrap()
        .replace(from, to);
    assert_ne!(
        v,
        s.headers["signature-input"].to_str().unwrap(),
        "`{from}` not found"
    );
    s.headers.insert("signature-input", v.parse().unwrap());
}

#[tokio::test]
async fn a_bound_client_calls_a_tool_and_the_server_sees_who_it_is() {
    let env = common::env().await;
    let r = env.send(&env.sign(CALL)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"]["name"], "echo");
    assert_eq!(r.body["result"]["subject"], "agent");
    assert_eq!(r.body["result"]["profile"], "httpsig");
    assert_eq!(
        r.body["result"]["thumbprint"],
        env.signer.key().thumbprint()
    );
    assert_eq!(r.body["id"], 7);
}

#[tokio::test]
async fn httpsig_rs_13_the_same_request_again_is_a_replay() {
    let env = common::env().await;
    let signed = env.sign(CALL);
    assert_eq!(env.send(&signed).await.status, 200);
    let r = env.send(&signed).await;
    r.assert_rejected(401, "invalid_signature", "nonce was already used");
    assert!(r.accept_signature.starts_with("sig=(\"@method\""), "{r:?}");
}

#[tokio::test]
async fn a_captured_signature_does_not_carry_over_to_another_operation() {
    let env = common::env().await;
    let signed = env.sign(CALL);
    // Another tool: body, Mcp-Name and Content-Digest all rewritten to match.
    let other = CALL.replace("\"echo\"", "\"delete_all\"");
    let mut s = signed.clone();
    s.body = other.clone();
    s.headers.insert("mcp-name", "delete_all".parse().unwrap());
    s.headers.insert(
        "content-digest",
        digest_value(other.as_bytes(), &[DigestAlgorithm::Sha256]),
    );
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "does not verify");
    // Another JSON-RPC method.
    let listing = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    let mut s = signed.clone();
    s.body = listing.into();
    s.headers
        .insert("mcp-method", "tools/list".parse().unwrap());
    s.headers.remove("mcp-name");
    s.headers.insert(
        "content-digest",
        digest_value(listing.as_bytes(), &[DigestAlgorithm::Sha256]),
    );
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "");
    // Another body with the signed digest left as it was.
    let mut s = signed.clone();
    s.body = CALL.replace("\"hi\"", "\"bye\"");
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "digest does not match");
    // Another URL.
    let mut s = signed.clone();
    s.url = format!("{}?tenant=other", env.rs.resource);
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "does not verify");
    // Another HTTP method.
    env.send_as("GET", &signed)
        .await
        .assert_rejected(401, "invalid_signature", "");
    // The untouched original still works once.
    assert_eq!(env.send(&signed).await.status, 200);
}

#[tokio::test]
async fn httpsig_rs_5_a_bound_token_presented_as_bearer_is_refused() {
    let env = common::env().await;
    let mut s = env.sign(CALL);
    s.headers.insert(
        "authorization",
        format!("Bearer {}", env.token).parse().unwrap(),
    );
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_token", "bound to a key");
    // An unbound token is refused where bound tokens are required.
    let bearer = env
        .authorization_server
        .bearer_token(&env.rs.resource)
        .await;
    s.headers
        .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_token", "requires access tokens bound");
    s.headers.insert(
        "authorization",
        format!("HTTPSig {bearer}").parse().unwrap(),
    );
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_token", "not bound to a key");
}

#[tokio::test]
async fn httpsig_rs_4_the_token_with_another_key_is_refused() {
    let env = common::env().await;
    let thief = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let s = env.sign_with(&thief, "POST", &env.rs.resource, CALL);
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "does not verify");
}

#[tokio::test]
async fn httpsig_rs_7_each_required_component_missing_is_refused() {
    let env = common::env().await;
    for component in [
        r#""@method""#,
        r#""@target-uri""#,
        r#""authorization""#,
        r#""content-digest""#,
        r#""mcp-method""#,
        r#""mcp-name""#,
    ] {
        let mut s = env.sign(CALL);
        let v = s.headers["signature-input"].to_str().unwrap().to_owned();
        let edited = v
            .replace(&format!("{component} "), "")
            .replace(&format!(" {component}"), "");
        s.headers.insert("signature-input", edited.parse().unwrap());
        let r = env.send(&s).await;
        r.assert_rejected(
            401,
            "invalid_signature",
            &format!(
                "does not cover required component {}",
                component.replace('"', "'")
            ),
        );
        assert_eq!(
            r.accept_signature,
            r#"sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name");created;tag="httpsig-oauth""#
        );
    }
    // mcp-protocol-version is required when the header is sent.
    let (mut parts, ()) = http::Request::post(&env.rs.resource)
        .header("mcp-protocol-version", "2026-07-28")
        .body(())
        .unwrap()
        .into_parts();
    env.signer
        .sign_mcp_request(
            &mut parts,
            &env.token,
            CALL.as_bytes(),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    let mut s = Signed {
        url: env.rs.resource.clone(),
        headers: parts.headers,
        body: CALL.into(),
    };
    assert!(
        s.headers["signature-input"]
            .to_str()
            .unwrap()
            .contains("\"mcp-protocol-version\"")
    );
    edit_input(&mut s, r#" "mcp-protocol-version""#, "");
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "mcp-protocol-version");
    // A covered-but-parameterised identifier does not count (HTTPSIG-RS-7: plain identifiers only).
    let mut s = env.sign(CALL);
    edit_input(&mut s, r#""content-digest""#, r#""content-digest";sf"#);
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "content-digest");
}

#[tokio::test]
async fn httpsig_rs_7_a_body_that_calls_for_more_than_the_head_claimed_is_refused() {
    let env = common::env().await;
    let now = mcp_auth_core::unix_now();
    // No `Mcp-Name` sent and none covered: the head claims a call without a name, and
    // its policy passes; the body names a tool, so its coverage needs `mcp-name`.
    let s = env.sign_raw(
        CALL,
        &[("mcp-method", "tools/call")],
        covering_up_to_mcp_method,
        now,
    );
    let r = env.send(&s).await;
    r.assert_rejected(
        401,
        "invalid_signature",
        "does not cover required component 'mcp-name'",
    );
    assert_eq!(
        r.accept_signature,
        r#"sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name");created;tag="httpsig-oauth""#
    );
}

#[tokio::test]
async fn httpsig_rs_8_stale_or_future_created_is_refused() {
    let env = common::env().await;
    let headers = [("mcp-method", "tools/call"), ("mcp-name", "echo")];
    let now = mcp_auth_core::unix_now();
    let ok = env.sign_raw(CALL, &headers, |s| s, now);
    assert_eq!(env.send(&ok).await.status, 200);
    let stale = env.sign_raw(CALL, &headers, |s| s, now - 31);
    env.send(&stale)
        .await
        .assert_rejected(401, "invalid_signature", "is stale");
    // Well past the 5 s of skew: the server's clock only moves forward while the
    // test runs, so a margin of one second would fail on a loaded machine (the exact
    // bounds are unit tests of the window in mcp_auth_core::httpsig_profile).
    let future = env.sign_raw(CALL, &headers, |s| s, now + 30);
    env.send(&future)
        .await
        .assert_rejected(401, "invalid_signature", "in the future");
}

#[tokio::test]
async fn httpsig_rs_10_alg_keyid_pub_and_a_wrong_tag_are_refused() {
    let env = common::env().await;
    let headers = [("mcp-method", "tools/call"), ("mcp-name", "echo")];
    let now = mcp_auth_core::unix_now();
    for (build, why) in [
        (
            Box::new(|s: Signer| s.include_alg(true)) as Box<dyn FnOnce(Signer) -> Signer>,
            "forbidden parameter `alg`",
        ),
        (
            Box::new(|s: Signer| s.keyid("k1")),
            "forbidden parameter `keyid`",
        ),
        (
            Box::new(|s: Signer| s.include_pub(true)),
            "forbidden parameter `pub`",
        ),
        (
            Box::new(|s: Signer| s.tag("httpsig-oauth-token-request")),
            "no signature with tag",
        ),
        (
            Box::new(|s: Signer| s.nonce(NonceMode::Fixed("short".into()))),
            "invalid nonce",
        ),
        (
            Box::new(|s: Signer| s.nonce(NonceMode::None)),
            "lacks required parameter `nonce`",
        ),
    ] {
        let s = env.sign_raw(CALL, &headers, build, now);
        env.send(&s)
            .await
            .assert_rejected(401, "invalid_signature", why);
    }
}

#[tokio::test]
async fn httpsig_rs_14_mcp_headers_must_mirror_the_body() {
    let env = common::env().await;
    let now = mcp_auth_core::unix_now();
    // Signed, covered, and naming another tool than the body does.
    let s = env.sign_raw(
        CALL,
        &[("mcp-method", "tools/call"), ("mcp-name", "delete_all")],
        |s| s,
        now,
    );
    let r = env.send(&s).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["error"]["code"], -32020);
    assert_eq!(r.body["id"], 7);
    assert_eq!(
        r.body["error"]["message"],
        "Header mismatch: Mcp-Name header value 'delete_all' does not match body value 'echo'"
    );
    // Mcp-Method differs from the body.
    let s = env.sign_raw(
        CALL,
        &[("mcp-method", "tools/list"), ("mcp-name", "echo")],
        |s| s,
        now,
    );
    let r = env.send(&s).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "{r:?}"
    );
    // A batch cannot be bound to one operation.
    let batch = format!("[{CALL}]");
    let s = env.sign_raw(
        &batch,
        &[("mcp-method", "tools/call")],
        covering_up_to_mcp_method,
        now,
    );
    let r = env.send(&s).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_i64()),
        (400, Some(-32020)),
        "{r:?}"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches")
    );
}

#[tokio::test]
async fn httpsig_rs_6_two_signatures_with_one_bad_are_refused() {
    let env = common::env().await;
    let mut s = env.sign(CALL);
    let other = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let second = env.sign_with(&other, "POST", &env.rs.resource, CALL);
    let relabel = |v: &http::HeaderValue| {
        v.to_str()
            .unwrap()
            .replacen("sig=", "sig2=", 1)
            .parse()
            .unwrap()
    };
    s.headers.append(
        "signature-input",
        relabel(&second.headers["signature-input"]),
    );
    s.headers
        .append("signature", relabel(&second.headers["signature"]));
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "`sig2` does not verify");
    // A label used twice is a malformed request.
    let mut s = env.sign(CALL);
    let dup = s.headers["signature-input"].clone();
    s.headers.append("signature-input", dup);
    env.send(&s)
        .await
        .assert_rejected(400, "invalid_request", "more than once");
    // Signatures with another tag are ignored.
    let mut s = env.sign(CALL);
    let extra = env.sign_raw(
        CALL,
        &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
        |s| s.tag("something-else").label("other"),
        mcp_auth_core::unix_now(),
    );
    s.headers
        .append("signature-input", extra.headers["signature-input"].clone());
    s.headers
        .append("signature", extra.headers["signature"].clone());
    assert_eq!(env.send(&s).await.status, 200);
}

#[tokio::test]
async fn httpsig_rs_2_scheme_is_case_insensitive_and_no_credentials_get_a_bare_challenge() {
    let env = common::env().await;
    for scheme in ["httpsig", "HTTPSIG", "hTtPsIg"] {
        // `authorization` is covered: sign with the scheme spelled differently.
        let auth = format!("{scheme} {}", env.token);
        let s = env.sign_raw(
            CALL,
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
                ("authorization", &auth),
            ],
            |s| s,
            mcp_auth_core::unix_now(),
        );
        assert_eq!(s.headers["authorization"], auth.as_str());
        assert_eq!(env.send(&s).await.status, 200, "{scheme}");
    }
    let r = env
        .send(&Signed {
            url: env.rs.resource.clone(),
            headers: HeaderMap::new(),
            body: CALL.into(),
        })
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge,
        format!(
            "HTTPSig resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
            env.rs.base.trim_start_matches("http://")
        )
    );
}

#[tokio::test]
async fn httpsig_rs_1_resource_metadata_names_the_profile() {
    let env = common::env().await;
    let doc: Value = env
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            env.rs.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], env.rs.resource);
    assert_eq!(
        doc["authorization_servers"][0],
        env.authorization_server.issuer
    );
    assert_eq!(doc["httpsig_bound_access_tokens_required"], true);
    assert_eq!(
        doc["httpsig_required_components"].as_array().unwrap().len(),
        7
    );
    let as_doc: Value = env
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            env.authorization_server.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        as_doc["httpsig_key_binding_methods_supported"],
        serde_json::json!(["runtime", "preregistered"])
    );
    assert!(
        as_doc["httpsig_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"ed25519".into())
    );
}

#[tokio::test]
async fn httpsig_rs_13_an_unreachable_replay_cache_fails_closed() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let dead = mcp_auth_core::RedisReplayCache::connect(
        &mcp_auth_core::redis_connection::RedisTarget::parse("redis://127.0.0.1:1/").unwrap(),
        "t:",
        std::time::Duration::from_millis(300),
    )
    .unwrap();
    let rs = common::start_rs(listener, &resource, &authorization_server, Arc::new(dead)).await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server.bound_token(&signer, &resource).await;
    let headers = common::signed_headers(&signer, &token.access_token, &rs.resource, CALL);
    let r = reqwest::Client::new()
        .post(&rs.resource)
        .headers(headers)
        .body(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

/// Two resource servers sharing one Redis: accepted by the first, a replay at the
/// second. Runs when `MCP_AUTH_TEST_REDIS` names a Redis (scripts/test sets it).
#[tokio::test]
async fn httpsig_rs_13_a_nonce_accepted_by_one_instance_is_a_replay_at_another() {
    let Ok(url) = std::env::var("MCP_AUTH_TEST_REDIS") else {
        eprintln!(
            "SKIPPED: MCP_AUTH_TEST_REDIS is not set; the shared-Redis replay test did not run"
        );
        return;
    };
    let (listener_a, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let prefix = format!(
        "mcp-auth-test:{}:",
        mcp_auth_httpsig::sign::random_nonce().unwrap()
    );
    let target = mcp_auth_core::redis_connection::RedisTarget::parse(&url).unwrap();
    let redis = |_| -> mcp_auth_core::RedisReplayCache {
        mcp_auth_core::RedisReplayCache::connect(
            &target,
            &prefix,
            std::time::Duration::from_secs(2),
        )
        .unwrap()
    };
    // At start, as the gateway does: the memory markers (docs/security.md).
    redis(0).prepare().await.unwrap();
    let redis = |i| -> Arc<dyn mcp_auth_core::ReplayCache> { Arc::new(redis(i)) };
    let a = common::start_rs(listener_a, &resource, &authorization_server, redis(0)).await;
    // The second instance serves the same resource URL (behind one load balancer);
    // it listens elsewhere and is addressed directly.
    let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_addr = listener_b.local_addr().unwrap();
    let _b = common::start_rs(listener_b, &resource, &authorization_server, redis(1)).await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server.bound_token(&signer, &resource).await;
    let headers = common::signed_headers(&signer, &token.access_token, &a.resource, CALL);
    let http = reqwest::Client::new();
    let first = http
        .post(&a.resource)
        .headers(headers.clone())
        .body(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = http
        .post(format!("http://{b_addr}/mcp"))
        .headers(headers)
        .body(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 401);
    let challenge = second.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("nonce was already used"), "{challenge}");
}

/// A client answers a server request (elicitation, sampling) by POSTing a JSON-RPC
/// response: it names no operation, so it carries no `Mcp-*` headers and needs no
/// `mcp-method` coverage (SEP-2243 covers requests and notifications).
#[tokio::test]
async fn httpsig_rs_7_a_posted_json_rpc_response_needs_no_mcp_headers() {
    let env = common::env().await;
    let response = r#"{"jsonrpc":"2.0","id":"srv-1","result":{"action":"accept"}}"#;
    let s = env.sign(response);
    assert!(s.headers.get("mcp-method").is_none());
    assert!(
        !s.headers["signature-input"]
            .to_str()
            .unwrap()
            .contains("mcp-method")
    );
    assert_eq!(env.send(&s).await.status, 200);
    // A notification still needs its Mcp-Method covered.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let mut s = env.sign(note);
    edit_input(&mut s, r#" "mcp-method""#, "");
    env.send(&s)
        .await
        .assert_rejected(401, "invalid_signature", "mcp-method");
}
