//! The authorization server over real HTTP on 127.0.0.1 with a real SQLite file: the
//! client_credentials flow, introspection, revocation, key rotation, metadata, and a
//! negative test for every rule, each asserting status and `error`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture as _;

use mcp_auth_core::{Jwks, TokenVerifier};
use mcp_auth_testkit::register_client;
use reqwest::StatusCode;
use serde_json::Value;

use common::RESOURCE;

mod common;

struct Env {
    base: String,
    issuer: String,
    server: mcp_auth_server::AsState,
    http: reqwest::Client,
    _running: common::TestServer,
}

async fn start_with(issuer_path: &str) -> Env {
    let running = common::spawn(
        "[[resources]]\nuri = \"http://127.0.0.1:4000/other\"\nscopes = [\"other:read\"]\n",
        issuer_path,
    )
    .await;
    let state = running.state.clone();
    assert_eq!(
        state.keys.current().jwks.keys.len(),
        1,
        "a first signing key was created"
    );
    for (id, secret, grants, scopes) in [
        (
            "bot",
            "bot-secret",
            vec!["client_credentials"],
            vec!["mcp:read", "mcp:write"],
        ),
        (
            "reader",
            "reader-secret",
            vec!["client_credentials"],
            vec!["mcp:read"],
        ),
        ("nogrant", "nogrant-secret", vec![], vec!["mcp:read"]),
    ] {
        let metadata = serde_json::json!({"grant_types": grants, "scopes": scopes});
        register_client(&state, id, Some(secret), metadata).await;
    }
    Env {
        base: running.base.clone(),
        issuer: running.issuer.clone(),
        server: state,
        http: reqwest::Client::new(),
        _running: running,
    }
}

async fn start() -> Env {
    start_with("").await
}

impl Env {
    async fn post(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}{path}", self.issuer)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, body)
    }

    async fn token(
        &self,
        id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.post("/token", Some((id, secret)), &form).await
    }

    async fn jwks(&self) -> Jwks {
        self.http
            .get(format!("{}/jwks", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn assert_error(got: &(StatusCode, reqwest::header::HeaderMap, Value), status: u16, error: &str) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.2);
    assert_eq!(got.2["error"], error, "{:?}", got.2);
    assert!(
        got.2["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(got.1["cache-control"], "no-store");
}

#[tokio::test]
async fn client_credentials_issues_a_verifiable_rfc9068_token() {
    let env = start().await;
    let (status, headers, body) = env
        .token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "mcp:read")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "mcp:read");
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let verifier = TokenVerifier::new(env.issuer.clone(), Some(RESOURCE.into()), &env.jwks().await);
    let claims = verifier.verify(token, mcp_auth_core::unix_now()).unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.client_id.as_str(),
            claims.aud.as_str(),
            claims.scope.as_str()
        ),
        ("bot", "bot", RESOURCE, "mcp:read")
    );
    assert_eq!(claims.exp - claims.iat, 300);
    // Without `scope`: the resource's default scopes, none here (security review
    // item 1: never every scope the client may have).
    let (status, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none(), "{body}");
    // client_secret_post works too.
    let (status, _, _) = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "reader"),
                ("client_secret", "reader-secret"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_authentication_failures() {
    let env = start().await;
    let wrong = env.token("bot", "nope", &[("resource", RESOURCE)]).await;
    assert_error(&wrong, 401, "invalid_client");
    assert_eq!(wrong.1["www-authenticate"], "Basic realm=\"mcp-auth\"");
    assert_error(
        &env.token("ghost", "bot-secret", &[("resource", RESOURCE)])
            .await,
        401,
        "invalid_client",
    );
    let post = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_secret", "nope"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&post, 401, "invalid_client");
    assert!(post.1.get("www-authenticate").is_none());
    assert_error(
        &env.post(
            "/token",
            None,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await,
        401,
        "invalid_client",
    );
    let both = env
        .post(
            "/token",
            Some(("bot", "bot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_secret", "bot-secret"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&both, 400, "invalid_request");
    let bearer = env
        .http
        .post(format!("{}/token", env.issuer))
        .header("authorization", "Bearer x")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
}

#[tokio::test]
async fn grant_resource_and_scope_rules() {
    let env = start().await;
    assert_error(
        &env.token("nogrant", "nogrant-secret", &[("resource", RESOURCE)])
            .await,
        400,
        "unauthorized_client",
    );
    assert_error(
        &env.token("bot", "bot-secret", &[]).await,
        400,
        "invalid_request",
    );
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", "http://127.0.0.1:9/unknown")],
        )
        .await,
        400,
        "invalid_target",
    );
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[
                ("resource", RESOURCE),
                ("resource", "http://127.0.0.1:4000/other"),
            ],
        )
        .await,
        400,
        "invalid_target",
    );
    // A resource that differs only by a trailing slash is a different resource.
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", "http://127.0.0.1:3000/mcp/")],
        )
        .await,
        400,
        "invalid_target",
    );
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "admin")],
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_error(
        &env.token(
            "reader",
            "reader-secret",
            &[("resource", RESOURCE), ("scope", "mcp:write")],
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "other:read")],
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[("grant_type", "password"), ("resource", RESOURCE)],
        )
        .await,
        400,
        "unsupported_grant_type",
    );
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[("resource", RESOURCE)],
        )
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "a"),
                ("scope", "b"),
                ("resource", RESOURCE),
            ],
        )
        .await,
        400,
        "invalid_request",
    );
    let big = "x".repeat(70 * 1024);
    let resp = env
        .http
        .post(format!("{}/token", env.issuer))
        .basic_auth("bot", Some("bot-secret"))
        .form(&[("grant_type", "client_credentials"), ("pad", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn introspection_and_revocation() {
    let env = start().await;
    let (_, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, headers, intro) = env
        .post(
            "/introspect",
            Some(("reader", "reader-secret")),
            &[("token", &token)],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], "bot");
    assert_eq!(intro["aud"], RESOURCE);
    assert_eq!(intro["iss"], env.issuer);
    assert_eq!(intro["token_type"], "Bearer");
    let (_, _, garbage) = env
        .post(
            "/introspect",
            Some(("bot", "bot-secret")),
            &[("token", "garbage")],
        )
        .await;
    assert_eq!(garbage, serde_json::json!({"active": false}));
    assert_error(
        &env.post("/introspect", Some(("bot", "nope")), &[("token", &token)])
            .await,
        401,
        "invalid_client",
    );
    assert_error(
        &env.post("/introspect", Some(("bot", "bot-secret")), &[])
            .await,
        400,
        "invalid_request",
    );
    // Only the client the token was issued to may revoke it.
    assert_error(
        &env.post(
            "/revoke",
            Some(("reader", "reader-secret")),
            &[("token", &token)],
        )
        .await,
        400,
        "unauthorized_client",
    );
    let (status, _, _) = env
        .post(
            "/revoke",
            Some(("bot", "bot-secret")),
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, after) = env
        .post(
            "/introspect",
            Some(("bot", "bot-secret")),
            &[("token", &token)],
        )
        .await;
    assert_eq!(after, serde_json::json!({"active": false}));
    // Revoking an invalid or already revoked token is not an error (RFC 7009 §2.2).
    assert_eq!(
        env.post(
            "/revoke",
            Some(("bot", "bot-secret")),
            &[("token", "garbage")]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        env.post("/revoke", Some(("bot", "bot-secret")), &[("token", &token)])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let env = start().await;
    let (_, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    let old = body["access_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = mcp_auth_server::rotate(
        &env.server.store,
        mcp_auth_httpsig::JwsAlgorithm::EdDsa,
        mcp_auth_core::unix_now(),
    )
    .await
    .unwrap();
    env.server
        .keys
        .reload(&env.server.store, 300, mcp_auth_core::unix_now())
        .await
        .unwrap();
    let jwks = env.jwks().await;
    let kids: Vec<_> = jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert_eq!(kids, [new_kid.clone(), old_kid.clone()]);
    let (_, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    let new = body["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(new).unwrap().kid.unwrap(),
        new_kid
    );
    let verifier = TokenVerifier::new(env.issuer.clone(), Some(RESOURCE.into()), &jwks);
    assert!(verifier.verify(&old, mcp_auth_core::unix_now()).is_ok());
    assert!(verifier.verify(new, mcp_auth_core::unix_now()).is_ok());
    // Once the old key's tokens have expired it leaves the JWKS.
    env.server
        .keys
        .reload(&env.server.store, 300, mcp_auth_core::unix_now() + 400)
        .await
        .unwrap();
    assert_eq!(env.server.keys.current().jwks.keys.len(), 1);
}

#[tokio::test]
async fn metadata_for_an_issuer_with_a_path() {
    let env = start_with("/tenant-a").await;
    for path in [
        "/.well-known/oauth-authorization-server/tenant-a",
        "/.well-known/openid-configuration/tenant-a",
        "/tenant-a/.well-known/openid-configuration",
    ] {
        let resp = env
            .http
            .get(format!("{}{path}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let m: Value = resp.json().await.unwrap();
        assert_eq!(
            m["issuer"], env.issuer,
            "{path}: issuer exactly as configured"
        );
        assert_eq!(m["token_endpoint"], format!("{}/token", env.issuer));
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }
    let root = env
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            env.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 404);
    let (status, _, _) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    assert_eq!(status, 200);
    let jwks = env.jwks().await;
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].use_.as_deref(), Some("sig"));
    assert_eq!(jwks.keys[0].alg.as_deref(), Some("EdDSA"));
    assert!(jwks.keys[0].d.is_none(), "no private member is published");
    assert_eq!(
        env.http
            .get(format!("{}/healthz", env.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

mod private_key_jwt {
    use super::*;
    use jsonwebtoken::{Algorithm as A, EncodingKey, Header};
    use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};

    const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    struct Client {
        key: EncodingKey,
        other: EncodingKey,
    }

    async fn register(env: &Env) -> Client {
        let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
        let mut jwk = key.verifying_key().to_jwk();
        jwk.kid = Some("k1".into());
        jwk.alg = Some("ES256".into());
        let metadata = serde_json::json!({
            "grant_types": ["client_credentials"], "scopes": ["mcp:read"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk]},
        });
        register_client(&env.server, "jwt-client", None, metadata).await;
        let other = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
        Client {
            key: EncodingKey::from_ec_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap(),
            other: EncodingKey::from_ec_pem(other.to_pkcs8_pem().unwrap().as_bytes()).unwrap(),
        }
    }

    fn assertion(key: &EncodingKey, claims: serde_json::Value) -> String {
        let mut h = Header::new(A::ES256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    }

    fn claims(env: &Env, jti: &str) -> serde_json::Value {
        let now = mcp_auth_core::unix_now();
        serde_json::json!({"iss": "jwt-client", "sub": "jwt-client", "aud": format!("{}/token", env.issuer), "exp": now + 60, "iat": now, "jti": jti})
    }

    async fn token_with(
        env: &Env,
        assertion: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        env.post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", TYPE),
                ("client_assertion", assertion),
                ("resource", RESOURCE),
            ],
        )
        .await
    }

    #[tokio::test]
    async fn accepted_once_then_rejected_as_a_replay() {
        let env = start().await;
        let c = register(&env).await;
        let a = assertion(&c.key, claims(&env, "a-1"));
        let (status, _, body) = token_with(&env, &a).await;
        assert_eq!(status, 200, "{body}");
        let replay = token_with(&env, &a).await;
        assert_error(&replay, 401, "invalid_client");
        assert_eq!(
            replay.2["error_description"],
            "client assertion: replayed (`jti` already used)"
        );
        // The issuer itself is an accepted audience too.
        let mut c2 = claims(&env, "a-2");
        c2["aud"] = serde_json::json!([env.issuer]);
        assert_eq!(token_with(&env, &assertion(&c.key, c2)).await.0, 200);
    }

    #[tokio::test]
    async fn every_rule_of_rfc7523_is_enforced() {
        let env = start().await;
        let c = register(&env).await;
        let now = mcp_auth_core::unix_now();
        let cases: Vec<(&str, String)> = vec![
            (
                "expired",
                assertion(&c.key, {
                    let mut x = claims(&env, "e1");
                    x["exp"] = (now - 120).into();
                    x
                }),
            ),
            (
                "`exp` is too far in the future",
                assertion(&c.key, {
                    let mut x = claims(&env, "e2");
                    x["exp"] = (now + 3600).into();
                    x
                }),
            ),
            (
                "`aud` must be this authorization server (issuer or token endpoint)",
                assertion(&c.key, {
                    let mut x = claims(&env, "e3");
                    x["aud"] = "https://elsewhere".into();
                    x
                }),
            ),
            (
                "`iss` and `sub` must both be the client id",
                assertion(&c.key, {
                    let mut x = claims(&env, "e4");
                    x["iss"] = "someone".into();
                    x
                }),
            ),
            (
                "`jti` is required",
                assertion(&c.key, {
                    let mut x = claims(&env, "e5");
                    x.as_object_mut().unwrap().remove("jti");
                    x
                }),
            ),
            (
                "the signature does not verify with the registered key",
                assertion(&c.other, claims(&env, "e6")),
            ),
            (
                "unknown client",
                assertion(&c.key, {
                    let mut x = claims(&env, "e7");
                    x["sub"] = "ghost".into();
                    x["iss"] = "ghost".into();
                    x
                }),
            ),
            (
                "not valid yet",
                assertion(&c.key, {
                    let mut x = claims(&env, "e8");
                    x["iat"] = (now + 300).into();
                    x
                }),
            ),
        ];
        for (why, a) in cases {
            let got = token_with(&env, &a).await;
            assert_error(&got, 401, "invalid_client");
            assert_eq!(
                got.2["error_description"],
                format!("client assertion: {why}"),
                "{why}"
            );
        }
        // HMAC with the public key as the secret (algorithm confusion) and `none`.
        let mut h = Header::new(A::HS256);
        h.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(
            &h,
            &claims(&env, "e9"),
            &EncodingKey::from_secret(b"public key bytes"),
        )
        .unwrap();
        let got = token_with(&env, &hs).await;
        assert_error(&got, 401, "invalid_client");
        assert_eq!(
            got.2["error_description"],
            "client assertion: only asymmetric signature algorithms are accepted"
        );
        // A secret-based client cannot switch to assertions, and the type must be right.
        let got = env
            .post(
                "/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "x"),
                    ("client_assertion", &assertion(&c.key, claims(&env, "e10"))),
                    ("resource", RESOURCE),
                ],
            )
            .await;
        assert_error(&got, 400, "invalid_request");
        let both = env
            .post(
                "/token",
                Some(("bot", "bot-secret")),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", TYPE),
                    ("client_assertion", &assertion(&c.key, claims(&env, "e11"))),
                    ("resource", RESOURCE),
                ],
            )
            .await;
        assert_error(&both, 400, "invalid_request");
        // A client_id that disagrees with the assertion.
        let got = env
            .post(
                "/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "bot"),
                    ("client_assertion_type", TYPE),
                    ("client_assertion", &assertion(&c.key, claims(&env, "e12"))),
                    ("resource", RESOURCE),
                ],
            )
            .await;
        assert_error(&got, 401, "invalid_client");
    }
}

/// Security review item 1: a token request that names no scope gets the resource's
/// `default_scopes` (within what the client may have), never every scope.
#[tokio::test]
async fn item_1_a_request_without_scope_gets_the_resource_defaults() {
    let running = common::spawn(
        "[[resources]]\nuri = \"http://127.0.0.1:4000/docs\"\nscopes = [\"docs:read\", \"docs:write\"]\ndefault_scopes = [\"docs:read\"]\n\n[[clients]]\nclient_id = \"ci\"\nclient_secret_sha256 = \"K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"docs:read\", \"docs:write\"]\n",
        "",
    )
    .await;
    let r = running
        .http
        .post(format!("{}/token", running.issuer))
        .basic_auth("ci", Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "http://127.0.0.1:4000/docs"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "docs:read");
    // A default outside the resource's scopes is a configuration error.
    let bad = mcp_auth_server::Config::from_toml(
        "[[resources]]\nuri = \"http://x/mcp\"\nscopes = [\"a\"]\ndefault_scopes = [\"b\"]\n",
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(bad.key, "resources[0].default_scopes");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_tokens_by_grant() {
    let env = start().await;
    assert_eq!(
        env.token("bot", "bot-secret", &[("resource", RESOURCE)])
            .await
            .0,
        200
    );
    let _ = env.token("bot", "wrong", &[("resource", RESOURCE)]).await;
    // Security review item 13: not on the AS's own listener...
    let public = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    // ...but on a listener of their own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(
        mcp_auth_core::listener::serve(listener, mcp_auth_server::metrics_router()).into_future(),
    );
    let text = env
        .http
        .get(metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mcp_auth_tokens_issued_total{grant=\"client_credentials\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_requests_total{route=\"/token\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_requests_total{route=\"/token\",status=\"401\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_request_duration_seconds_bucket{route=\"/token\""),
        "{text}"
    );
    // Secrets and tokens never appear in metrics.
    assert!(!text.contains("bot-secret"));
}
