//! RFC 7591 dynamic client registration over HTTP: what registers, what is refused
//! (with the RFC's error codes), the rate limit and the off switch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RESOURCE, spawn};
use serde_json::{Value, json};

async fn register(s: &common::TestServer, body: &Value) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/register", s.issuer))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn native_public_and_web_confidential_clients_register_and_work() {
    let s = spawn("", "").await;
    let meta: Value = s
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["registration_endpoint"],
        format!("{}/register", s.issuer)
    );

    let (status, native) = register(&s, &json!({"application_type": "native", "redirect_uris": ["http://127.0.0.1:33418/callback", "com.example.app:/cb"], "token_endpoint_auth_method": "none", "client_name": "CLI", "grant_types": ["authorization_code", "refresh_token"]})).await;
    assert_eq!(status, 201, "{native}");
    assert!(native.get("client_secret").is_none());
    assert_eq!(native["application_type"], "native");
    assert_eq!(native["scope"], "mcp:read mcp:write");
    // It can start an authorization request right away.
    let page = s
        .http
        .get(format!("{}/authorize", s.issuer))
        .query(&[
            ("response_type", "code"),
            ("client_id", native["client_id"].as_str().unwrap()),
            ("redirect_uri", "http://127.0.0.1:33418/callback"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<strong>CLI</strong>"));

    let (status, web) = register(&s, &json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code"], "scope": "mcp:read"})).await;
    assert_eq!(status, 201, "{web}");
    assert_eq!(web["application_type"], "web");
    assert_eq!(web["client_secret_expires_at"], 0);
    let token = s
        .http
        .post(format!("{}/token", s.issuer))
        .basic_auth(
            web["client_id"].as_str().unwrap(),
            web["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    // Its secret authenticates it, but a registered client gets no machine token.
    assert_eq!(token.status(), 400);
    let err: Value = token.json().await.unwrap();
    assert_eq!(err["error"], "unauthorized_client");
}

/// Security review item 1: anonymous registration never yields a client that gets
/// tokens without a user — whatever the grant, key binding or auth method asked for.
#[tokio::test]
async fn item_1_dynamic_registration_refuses_client_credentials_and_grants_without_a_user() {
    let s = spawn("", "").await;
    for body in [
        json!({"grant_types": ["client_credentials"], "redirect_uris": ["https://a.example/cb"]}),
        json!({"grant_types": ["authorization_code", "client_credentials"], "redirect_uris": ["https://a.example/cb"]}),
        json!({"grant_types": ["client_credentials"], "httpsig_key_binding_method": "runtime"}),
        json!({"grant_types": ["client_credentials"], "dpop_bound_access_tokens": true}),
        json!({"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"], "redirect_uris": ["https://a.example/cb"]}),
        json!({"grant_types": ["refresh_token"], "redirect_uris": ["https://a.example/cb"]}),
    ] {
        let (status, got) = register(&s, &body).await;
        assert_eq!(status, 400, "{body}: {got}");
        assert_eq!(got["error"], "invalid_client_metadata", "{body}: {got}");
    }
    let (_, got) = register(
        &s,
        &json!({"grant_types": ["client_credentials"], "redirect_uris": ["https://a.example/cb"]}),
    )
    .await;
    assert!(
        got["error_description"]
            .as_str()
            .unwrap()
            .contains("mcp-auth as client add"),
        "{got}"
    );
    assert!(s.state.store.client_ids().await.unwrap().is_empty());
}

/// Security review item 10: every stored member is capped.
#[tokio::test]
async fn item_10_registration_members_are_capped() {
    let s = spawn("", "").await;
    let long_uri = format!("https://a.example/{}", "p".repeat(1100));
    let many: Vec<String> = (0..9).map(|i| format!("https://a.example/cb{i}")).collect();
    for (body, error) in [
        (
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": "n".repeat(129)}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": [long_uri]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": many}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "mcp:read ".repeat(200)}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "padding": "x".repeat(17 * 1024)}),
            "invalid_client_metadata",
        ),
    ] {
        let (status, got) = register(&s, &body).await;
        assert_eq!(status, 400, "{got}");
        assert_eq!(got["error"], error, "{got}");
    }
    assert!(s.state.store.client_ids().await.unwrap().is_empty());
    let (status, _) = register(
        &s,
        &json!({"redirect_uris": ["https://a.example/cb"], "client_name": "n".repeat(128)}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_the_rfc_error() {
    let s = spawn("", "").await;
    for (body, error) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"application_type": "native", "redirect_uris": ["nodot:/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["not a uri"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"application_type": "desktop", "redirect_uris": ["https://a.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let (status, got) = register(&s, &body).await;
        assert_eq!(status, 400, "{body}: {got}");
        assert_eq!(got["error"], error, "{body}: {got}");
    }
    // Nothing was stored.
    assert!(s.state.store.client_ids().await.unwrap().is_empty());
}

#[tokio::test]
async fn registration_is_rate_limited() {
    let s = spawn("registrations_per_minute = 2", "").await;
    let body = json!({"redirect_uris": ["https://a.example/cb"]});
    assert_eq!(register(&s, &body).await.0, 201);
    assert_eq!(register(&s, &body).await.0, 201);
    let r = s
        .http
        .post(format!("{}/register", s.issuer))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["error"], "temporarily_unavailable");
    // Security review item 10: the limit is per client address, so one caller cannot
    // use up everyone's registrations.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = elsewhere
        .post(format!("{}/register", s.issuer))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn registration_can_be_turned_off() {
    let s = spawn("dynamic_registration = false", "").await;
    let meta: Value = s
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta.get("registration_endpoint").is_none());
    assert_eq!(
        register(&s, &json!({"redirect_uris": ["https://a.example/cb"]}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn clients_from_the_configuration_file_are_registered_at_start() {
    let toml = "[[clients]]\nclient_id = \"desktop-app\"\nclient_name = \"Desktop App\"\ngrant_types = [\"authorization_code\", \"refresh_token\"]\nredirect_uris = [\"http://127.0.0.1:33418/callback\"]\nscopes = [\"mcp:read\"]\n";
    let s = spawn(toml, "").await;
    let client = s.state.store.client("desktop-app").await.unwrap().unwrap();
    assert_eq!(client.metadata["token_endpoint_auth_method"], "none");
    assert_eq!(client.secret_sha256, None);
    let page = s
        .http
        .get(format!("{}/authorize", s.issuer))
        .query(&[
            ("response_type", "code"),
            ("client_id", "desktop-app"),
            ("redirect_uri", "http://127.0.0.1:33418/callback"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<strong>Desktop App</strong>")
    );
}

mod private_key_jwt_with_jwks_uri {
    use super::*;
    use jsonwebtoken::{Algorithm as A, EncodingKey, Header};
    use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};

    fn assertion(key: &EncodingKey, client_id: &str, aud: &str, jti: &str) -> String {
        let mut h = Header::new(A::ES256);
        h.kid = Some("k1".into());
        let now = mcp_auth_core::unix_now();
        jsonwebtoken::encode(&h, &json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "iat": now, "jti": jti}), key).unwrap()
    }

    async fn token(s: &common::TestServer, assertion: &str) -> (u16, Value) {
        let r = s
            .http
            .post(format!("{}/token", s.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("resource", RESOURCE),
            ])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    #[tokio::test]
    async fn keys_are_fetched_from_jwks_uri_through_the_guard() {
        let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
        let mut jwk = key.verifying_key().to_jwk();
        jwk.kid = Some("k1".into());
        jwk.alg = Some("ES256".into());
        let jwks = json!({"keys": [jwk]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let j = jwks.clone();
                async move { axum::Json(j) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let encoding = EncodingKey::from_ec_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();

        let s = spawn("[danger]\nallow_http_loopback_fetches = true\n", "").await;
        let (status, reg) = register(&s, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri, "scope": "mcp:read"})).await;
        assert_eq!(status, 201, "{reg}");
        assert!(reg.get("client_secret").is_none());
        let id = reg["client_id"].as_str().unwrap();
        // The keys were fetched and the assertion verified (else `invalid_client`);
        // then the grant is refused: a registered client gets no machine token.
        let (status, body) = token(
            &s,
            &assertion(&encoding, id, &format!("{}/token", s.issuer), "j1"),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client")),
            "{body}"
        );

        // Without the danger switch: http is refused at registration, and an https URL
        // that resolves to this machine is refused when the keys are needed.
        let strict = spawn("", "").await;
        let (status, err) = register(&strict, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri})).await;
        assert_eq!(
            (status, err["error"].as_str().unwrap()),
            (400, "invalid_client_metadata")
        );
        let (status, reg) = register(&strict, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://127.0.0.1:9/jwks.json", "scope": "mcp:read"})).await;
        assert_eq!(status, 201, "{reg}");
        let id = reg["client_id"].as_str().unwrap();
        let (status, body) = token(
            &strict,
            &assertion(&encoding, id, &format!("{}/token", strict.issuer), "j2"),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("non-public address"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn inline_jwks_must_be_public_keys_and_exactly_one_source() {
        let s = spawn("", "").await;
        let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
        let private = key.to_private_jwk().unwrap();
        for body in [
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private]}}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.verifying_key().to_jwk()]}, "jwks_uri": "https://a.example/j"}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
        ] {
            let (status, err) = register(&s, &body).await;
            assert_eq!(
                (status, err["error"].as_str().unwrap()),
                (400, "invalid_client_metadata"),
                "{body}"
            );
        }
        let (status, _) = register(&s, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.verifying_key().to_jwk()]}})).await;
        assert_eq!(status, 201);
    }
}

/// HTTPSIG-AS-2 and AS-3 over RFC 7591: the binding method is registered and echoed;
/// an unknown method or a polymorphic pre-registered key is `invalid_client_metadata`;
/// a client that registered a method gets no token without a signature (AS-11).
#[tokio::test]
async fn httpsig_as_2_binding_method_is_registered_and_checked() {
    let s = spawn("", "").await;
    let x = "iuemcj_GhRHmY_yCsMlDNp3BQgPZDdG00VRsg_BgU3s";
    let (status, body) = register(
        &s,
        &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "httpsig_key_binding_method": "runtime"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["httpsig_key_binding_method"], "runtime");
    let token = s
        .http
        .post(format!("{}/token", s.issuer))
        .basic_auth(
            body["client_id"].as_str().unwrap(),
            body["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    let err: Value = token.json().await.unwrap();
    assert_eq!(err["error"], "invalid_request");

    let (status, body) = register(
        &s,
        &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "httpsig_key_binding_method": "Runtime"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    let (status, body) = register(&s, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "httpsig_key_binding_method": "preregistered",
        "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "x": x}]}})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("polymorphic"),
        "{body}"
    );
    let (status, body) = register(&s, &json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "httpsig_key_binding_method": "preregistered",
        "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "Ed25519", "x": x}]}})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["httpsig_key_binding_method"], "preregistered");
}
