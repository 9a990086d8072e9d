//! HTTPSIG-AS-*: token requests signed with `httpsig-oauth-token-request`, against a
//! real authorization server on 127.0.0.1 (SQLite file). Every rule has a passing
//! request and a failing one, asserting status, `error` and `error_description`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::{Confirmation, Jwks, TokenVerifier};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use mcp_auth_testkit::register_client;
use serde_json::{Value, json};

use common::RESOURCE;

mod common;

struct Env {
    running: common::TestServer,
}

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn error(&self) -> (&str, &str) {
        (
            self.body["error"].as_str().unwrap_or(""),
            self.body["error_description"].as_str().unwrap_or(""),
        )
    }

    #[track_caller]
    fn assert_error(&self, status: u16, error: &str, description_has: &str) {
        let (e, d) = self.error();
        assert_eq!(
            (self.status, e),
            (status, error),
            "{d} / expected {description_has}"
        );
        assert!(
            d.contains(description_has),
            "`{d}` lacks `{description_has}`"
        );
    }
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

impl Env {
    async fn start() -> Self {
        let running = common::spawn("", "").await;
        let state = &running.state;
        for (id, extra) in [
            ("plain", json!({})),
            ("runtime", json!({"httpsig_key_binding_method": "runtime"})),
            (
                "prereg",
                json!({"httpsig_key_binding_method": "preregistered", "jwks": {"keys": [prereg_key().public_jwk()]}}),
            ),
        ] {
            let mut metadata =
                json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"]});
            for (k, v) in extra.as_object().unwrap() {
                metadata[k] = v.clone();
            }
            register_client(state, id, Some("s3cret"), metadata).await;
        }
        let public = json!({"grant_types": ["authorization_code", "refresh_token"], "scopes": ["mcp:read"],
            "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1/cb"]});
        register_client(state, "public", None, public).await;
        Self { running }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/token", self.running.issuer)
    }

    /// Sends a client_credentials request for `client`, signed by `signer` if given,
    /// after `tamper` edits the signed headers.
    async fn request(
        &self,
        client: &str,
        form: &str,
        signer: Option<&HttpSigSigner>,
        tamper: impl FnOnce(&mut http::HeaderMap),
    ) -> Reply {
        let (mut parts, ()) = http::Request::post(self.token_endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic(client, "s3cret"))
            .body(())
            .unwrap()
            .into_parts();
        if let Some(s) = signer {
            s.sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
                .unwrap();
        }
        tamper(&mut parts.headers);
        self.send(parts.headers, form.to_owned()).await
    }

    /// Posts `body` with `headers` to the token endpoint.
    async fn send(&self, headers: http::HeaderMap, body: String) -> Reply {
        let r = self
            .running
            .http
            .post(self.token_endpoint())
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        Reply {
            status: r.status().as_u16(),
            body: r.json().await.unwrap_or(Value::Null),
        }
    }

    async fn cc(&self, client: &str, signer: Option<&HttpSigSigner>) -> Reply {
        self.request(client, &cc_form(), signer, |_| {}).await
    }

    fn claims(&self, token: &str) -> mcp_auth_core::AccessTokenClaims {
        let keys = self.running.state.keys.current();
        let jwks: Jwks = keys.jwks.clone();
        TokenVerifier::new(self.running.issuer.clone(), Some(RESOURCE.into()), &jwks)
            .verify(token, mcp_auth_core::unix_now())
            .unwrap()
    }
}

fn cc_form() -> String {
    format!(
        "grant_type=client_credentials&resource={}",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    )
}

/// The pre-registered Ed25519 key of client `prereg` (fixed so the registration and
/// the signer agree).
fn prereg_key() -> ProofKey {
    use std::sync::OnceLock;
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    let key = KEY
        .get_or_init(|| SigningKey::generate(Algorithm::Ed25519).unwrap())
        .clone();
    ProofKey::preregistered(key, JwsAlgorithm::Ed25519, "prereg-key-1").unwrap()
}

fn runtime(alg: Algorithm) -> HttpSigSigner {
    HttpSigSigner::new(ProofKey::generate_runtime(alg).unwrap())
}

/// Rewrites the Signature-Input value (the signature no longer verifies, but policy
/// checks run first and name the problem).
/// Replaces the value of parameter `param` (from just after `open` to `close`) in
/// Signature-Input.
fn set_param_value(h: &mut http::HeaderMap, open: &str, close: char, value: &str) {
    let v = h["signature-input"].to_str().unwrap().to_owned();
    let start = v.find(open).unwrap() + open.len();
    let end = start + v[start..].find(close).unwrap();
    let edited = format!("{}{value}{}", &v[..start], &v[end..]);
    h.insert("signature-input", edited.parse().unwrap());
}

fn edit_input(h: &mut http::HeaderMap, from: &str, to: &str) {
    let v = h["signature-input"].to_str().unwrap().replace(from, to);
    assert_ne!(
        v,
        h["signature-input"].to_str().unwrap(),
        "`{from}` not found"
    );
    h.insert("signature-input", v.parse().unwrap());
}

#[tokio::test]
async fn httpsig_as_12_runtime_keys_of_each_algorithm_bind_the_token_by_htsk() {
    let env = Env::start().await;
    for alg in [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
    ] {
        let signer = runtime(alg);
        let r = env.cc("runtime", Some(&signer)).await;
        assert_eq!(r.status, 200, "{alg}: {}", r.body);
        assert_eq!(r.body["token_type"], "httpsig");
        let claims = env.claims(r.body["access_token"].as_str().unwrap());
        let cnf = claims.cnf.expect("bound");
        assert!(matches!(cnf, Confirmation::Htsk(ref h) if h.alg == alg.name()));
        assert_eq!(
            cnf.verifying_key().unwrap().thumbprint(),
            signer.key().thumbprint()
        );
    }
}

#[tokio::test]
async fn httpsig_as_12_preregistered_key_binds_the_token_by_jwk() {
    let env = Env::start().await;
    let signer = HttpSigSigner::new(prereg_key());
    let r = env.cc("prereg", Some(&signer)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "httpsig");
    let claims = env.claims(r.body["access_token"].as_str().unwrap());
    let Some(Confirmation::Jwk(jwk)) = claims.cnf else {
        panic!("expected cnf.jwk")
    };
    assert_eq!(jwk.alg.as_deref(), Some("Ed25519"));
    assert_eq!(
        jwk.kid, None,
        "cnf.jwk carries the key, not its registration id"
    );
    assert_eq!(jwk.x, prereg_key().public_jwk().x);
}

#[tokio::test]
async fn httpsig_as_13_introspection_returns_the_same_cnf() {
    let env = Env::start().await;
    let r = env.cc("runtime", Some(&runtime(Algorithm::Ed25519))).await;
    let token = r.body["access_token"].as_str().unwrap();
    let claims = env.claims(token);
    let resp = env
        .running
        .http
        .post(format!("{}/introspect", env.running.issuer))
        .header("authorization", basic("plain", "s3cret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "httpsig");
    assert_eq!(
        body["cnf"],
        serde_json::to_value(claims.cnf.unwrap()).unwrap()
    );
}

#[tokio::test]
async fn httpsig_as_11_unsigned_requests_get_bearer_unless_the_client_registered_a_method() {
    let env = Env::start().await;
    let r = env.cc("plain", None).await;
    assert_eq!(
        (r.status, r.body["token_type"].as_str()),
        (200, Some("Bearer"))
    );
    assert!(
        env.claims(r.body["access_token"].as_str().unwrap())
            .cnf
            .is_none()
    );
    env.cc("runtime", None).await.assert_error(
        400,
        "invalid_request",
        "sign the token request with a signature tagged `httpsig-oauth-token-request`",
    );
    env.cc("prereg", None)
        .await
        .assert_error(400, "invalid_request", "preregistered");
}

#[tokio::test]
async fn httpsig_as_4_one_token_request_signature_only() {
    let env = Env::start().await;
    let a = runtime(Algorithm::Ed25519);
    let b = runtime(Algorithm::Ed25519);
    let form = cc_form();
    let (mut parts, ()) = http::Request::post(env.token_endpoint())
        .header("authorization", basic("runtime", "s3cret"))
        .body(())
        .unwrap()
        .into_parts();
    a.sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
        .unwrap();
    // A second signature under another label.
    let input = parts.headers["signature-input"]
        .to_str()
        .unwrap()
        .replacen("sig=", "sig2=", 1);
    let sig = parts.headers["signature"]
        .to_str()
        .unwrap()
        .replacen("sig=", "sig2=", 1);
    b.sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
        .unwrap_err();
    parts
        .headers
        .append("signature-input", input.parse().unwrap());
    parts.headers.append("signature", sig.parse().unwrap());
    let reply = env.send(parts.headers, form).await;
    reply.assert_error(
        400,
        "invalid_signature",
        "more than one signature is tagged `httpsig-oauth-token-request`",
    );
}

#[tokio::test]
async fn httpsig_as_5_coverage_of_method_uri_digest_and_basic_authorization() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    for (component, replacement) in [
        (r#""@method" "#, ""),
        (r#""@target-uri" "#, ""),
        (r#" "content-digest""#, ""),
        (r#" "authorization""#, ""),
        (r#""content-digest""#, r#""content-digest";sf"#),
    ] {
        let r = env
            .request("runtime", &cc_form(), Some(&s), |h| {
                edit_input(h, component, replacement)
            })
            .await;
        r.assert_error(
            400,
            "invalid_signature",
            "does not cover required component",
        );
    }
}

#[tokio::test]
async fn httpsig_as_6_content_digest_must_match_the_body() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    let r = env
        .request("runtime", &cc_form(), Some(&s), |h| {
            h.insert(
                "content-digest",
                mcp_auth_httpsig::digest_value(
                    b"other",
                    &[mcp_auth_httpsig::DigestAlgorithm::Sha256],
                ),
            );
        })
        .await;
    // The digest header is covered: the signature breaks first.
    r.assert_error(400, "invalid_signature", "does not verify");
    // A request whose body differs from the signed digest.
    let (mut parts, ()) = http::Request::post(env.token_endpoint())
        .header("authorization", basic("runtime", "s3cret"))
        .body(())
        .unwrap()
        .into_parts();
    s.sign_token_request(&mut parts, cc_form().as_bytes(), mcp_auth_core::unix_now())
        .unwrap();
    let reply = env.send(parts.headers, cc_form() + "&scope=mcp:read").await;
    reply.assert_error(400, "invalid_signature", "digest does not match");
}

#[tokio::test]
async fn httpsig_as_7_created_window() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    let now = mcp_auth_core::unix_now();
    for (created, why) in [(now - 31, "is stale"), (now + 6, "in the future")] {
        let (mut parts, ()) = http::Request::post(env.token_endpoint())
            .header("authorization", basic("runtime", "s3cret"))
            .body(())
            .unwrap()
            .into_parts();
        s.sign_token_request(&mut parts, cc_form().as_bytes(), created)
            .unwrap();
        let reply = env.send(parts.headers, cc_form()).await;
        reply.assert_error(400, "invalid_signature", why);
    }
    let r = env
        .request("runtime", &cc_form(), Some(&s), |h| {
            edit_input(h, ";created=", ";x=")
        })
        .await;
    r.assert_error(
        400,
        "invalid_signature",
        "lacks required parameter `created`",
    );
}

#[tokio::test]
async fn httpsig_as_8_nonce_form_and_replay() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    let (mut parts, ()) = http::Request::post(env.token_endpoint())
        .header("authorization", basic("runtime", "s3cret"))
        .body(())
        .unwrap()
        .into_parts();
    s.sign_token_request(&mut parts, cc_form().as_bytes(), mcp_auth_core::unix_now())
        .unwrap();
    let send = |headers: http::HeaderMap| env.send(headers, cc_form());
    assert_eq!(send(parts.headers.clone()).await.status, 200);
    send(parts.headers.clone()).await.assert_error(
        400,
        "invalid_signature",
        "nonce was already used",
    );
    let r = env
        .request("runtime", &cc_form(), Some(&s), |h| {
            set_param_value(h, ";nonce=\"", '"', "short")
        })
        .await;
    r.assert_error(400, "invalid_signature", "invalid nonce");
    let r = env
        .request("runtime", &cc_form(), Some(&s), |h| {
            edit_input(h, ";nonce=", ";n=")
        })
        .await;
    r.assert_error(400, "invalid_signature", "lacks required parameter `nonce`");
}

#[tokio::test]
async fn httpsig_as_9_runtime_parameters() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    let cases: [(&str, &str, &str); 4] = [
        (";alg=\"ed25519\"", "", "lacks required parameter `alg`"),
        (";pub=:", ";x=:", "lacks required parameter `pub`"),
        (";tag=", ";keyid=\"k\";tag=", "forbidden parameter `keyid`"),
        (
            "alg=\"ed25519\"",
            "alg=\"rsa-pss-sha512\"",
            "rsa-pss-sha512",
        ),
    ];
    for (from, to, why) in cases {
        let r = env
            .request("runtime", &cc_form(), Some(&s), |h| edit_input(h, from, to))
            .await;
        r.assert_error(400, "invalid_signature", why);
    }
    // A `pub` that is not a point on the curve / of the wrong length.
    let r = env
        .request("runtime", &cc_form(), Some(&s), |h| {
            set_param_value(h, ";pub=:", ':', "AAAA")
        })
        .await;
    r.assert_error(400, "invalid_signature", "32 bytes");
    // The same checks apply to a client that registered no method.
    let r = env
        .request("plain", &cc_form(), Some(&s), |h| {
            edit_input(h, ";alg=\"ed25519\"", "")
        })
        .await;
    r.assert_error(400, "invalid_signature", "lacks required parameter `alg`");
}

#[tokio::test]
async fn httpsig_as_10_preregistered_parameters_and_key_lookup() {
    let env = Env::start().await;
    let s = HttpSigSigner::new(prereg_key());
    for (from, to, why) in [
        (
            ";keyid=\"prereg-key-1\"",
            "",
            "lacks required parameter `keyid`",
        ),
        (
            ";tag=",
            ";alg=\"ed25519\";tag=",
            "forbidden parameter `alg`",
        ),
        (";tag=", ";pub=:AAAA:;tag=", "forbidden parameter `pub`"),
        (
            "keyid=\"prereg-key-1\"",
            "keyid=\"nope\"",
            "`keyid` `nope` names no key registered by this client",
        ),
    ] {
        let r = env
            .request("prereg", &cc_form(), Some(&s), |h| edit_input(h, from, to))
            .await;
        r.assert_error(400, "invalid_signature", why);
    }
    // A key of another client is not this client's.
    let other = HttpSigSigner::new(
        ProofKey::preregistered(
            SigningKey::generate(Algorithm::Ed25519).unwrap(),
            JwsAlgorithm::Ed25519,
            "prereg-key-1",
        )
        .unwrap(),
    );
    env.cc("prereg", Some(&other))
        .await
        .assert_error(400, "invalid_signature", "does not verify");
}

#[tokio::test]
async fn httpsig_as_15_target_uri_is_the_advertised_token_endpoint() {
    let env = Env::start().await;
    let s = runtime(Algorithm::Ed25519);
    // Signed for another URI: the base the AS builds differs.
    let (mut parts, ()) = http::Request::post(format!("{}/token?x=1", env.running.issuer))
        .header("authorization", basic("runtime", "s3cret"))
        .body(())
        .unwrap()
        .into_parts();
    s.sign_token_request(&mut parts, cc_form().as_bytes(), mcp_auth_core::unix_now())
        .unwrap();
    let reply = env.send(parts.headers, cc_form()).await;
    reply.assert_error(400, "invalid_signature", "does not verify");
}

#[tokio::test]
async fn httpsig_as_14_public_client_refresh_stays_bound_to_its_key() {
    let env = Env::start().await;
    let key = runtime(Algorithm::Ed25519);
    let store = &env.running.state.store;
    let refresh = "refresh-token-value-for-the-test-0001";
    // A refresh token works only while its user exists.
    store
        .insert_user("alice", "$argon2id$unused", 0)
        .await
        .unwrap();
    // The grant a code exchange with a signed request stores for a public client.
    let grant = json!({"client_id": "public", "username": "alice", "scopes": ["mcp:read"],
        "resource": RESOURCE, "httpsig_jkt": key.key().thumbprint()});
    store
        .insert_refresh(
            &mcp_auth_server::client_auth::secret_digest(refresh),
            "family-1",
            &grant,
            mcp_auth_core::unix_now() + 3600,
        )
        .await
        .unwrap();
    let form = format!("grant_type=refresh_token&client_id=public&refresh_token={refresh}");
    let send = |signer: Option<HttpSigSigner>, form: String| async {
        let (mut parts, ()) = http::Request::post(env.token_endpoint())
            .body(())
            .unwrap()
            .into_parts();
        if let Some(s) = signer {
            s.sign_token_request(&mut parts, form.as_bytes(), mcp_auth_core::unix_now())
                .unwrap();
        }
        env.send(parts.headers, form).await
    };
    send(Some(runtime(Algorithm::Ed25519)), form.clone())
        .await
        .assert_error(400, "invalid_grant", "bound to another key");
    // The failed attempt consumed the token (rotation): a second use is a reuse.
    let r = send(Some(key.clone()), form).await;
    r.assert_error(400, "invalid_grant", "already used");

    // A fresh token, refreshed with the right key, stays bound.
    let refresh2 = "refresh-token-value-for-the-test-0002";
    store
        .insert_refresh(
            &mcp_auth_server::client_auth::secret_digest(refresh2),
            "family-2",
            &grant,
            mcp_auth_core::unix_now() + 3600,
        )
        .await
        .unwrap();
    let form2 = format!("grant_type=refresh_token&client_id=public&refresh_token={refresh2}");
    let r = send(Some(key.clone()), form2).await;
    assert_eq!(
        (r.status, r.body["token_type"].as_str()),
        (200, Some("httpsig")),
        "{}",
        r.body
    );
    let cnf = env
        .claims(r.body["access_token"].as_str().unwrap())
        .cnf
        .unwrap();
    assert_eq!(
        cnf.verifying_key().unwrap().thumbprint(),
        key.key().thumbprint()
    );
    // The rotated refresh token inherits the binding: unsigned is refused.
    let next = r.body["refresh_token"].as_str().unwrap();
    let form3 = format!("grant_type=refresh_token&client_id=public&refresh_token={next}");
    send(None, form3)
        .await
        .assert_error(400, "invalid_grant", "bound to another key");
}
