//! The server's time checks read the clock of its configuration: with a
//! [`ManualClock`] standing at a fixed instant (years away from the system time), the
//! tokens carry that instant, and a code expires when the clock, not the wall, moves
//! past its lifetime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use mcp_auth_core::{Clock as _, ManualClock, TokenVerifier};
use mcp_auth_server::authorize::CODE_TTL;
use mcp_auth_server::client_auth::secret_digest;
use mcp_auth_server::{AsState, AuthorizationServer, Config, Overrides};
use mcp_auth_testkit::{pkce_challenge, register_client};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const CALLBACK: &str = "http://127.0.0.1:9999/callback";
/// 2001-09-09: far enough from the system time that a check reading the wall clock
/// would fail every assertion below.
const T0: i64 = 1_000_000_000;

struct Env {
    router: axum::Router,
    state: AsState,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_sources(
        "",
        &|_| None,
        &Overrides {
            data_dir: Some(dir.path().join("data")),
            resources: vec![(RESOURCE.into(), vec!["mcp:read".into()])],
            ..Overrides::default()
        },
    )
    .unwrap();
    let clock = ManualClock::new(T0);
    config.clock = clock.clone();
    let server = AuthorizationServer::start(config).await.unwrap();
    let state = server.state().clone();
    let cc = json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"]});
    register_client(&state, "bot", Some("bot-secret"), cc).await;
    let public = json!({"grant_types": ["authorization_code"], "scopes": ["mcp:read"], "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    register_client(&state, "app", None, public).await;
    // The user the stored codes name: a grant of a user who does not exist is refused.
    state
        .store
        .insert_user("alice", "$argon2id$unused", 0)
        .await
        .unwrap();
    Env {
        router: server.router(),
        state,
        clock,
        _dir: dir,
    }
}

impl Env {
    /// `POST path` with `form`, HTTP Basic when `basic` is given.
    async fn post(
        &self,
        path: &str,
        basic: Option<&str>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(credentials) = basic {
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            request = request.header(header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Stores an authorization code for `app` that expires [`CODE_TTL`] after the
    /// clock's present; returns the code and its verifier.
    async fn code(&self, code: &str) -> (String, String) {
        let verifier = format!("verifier-{}", "x".repeat(40));
        let grant = json!({"client_id": "app", "username": "alice", "redirect_uri": CALLBACK, "scopes": ["mcp:read"], "resource": RESOURCE, "code_challenge": pkce_challenge(&verifier)});
        let expires_at = self.clock.now() + CODE_TTL;
        self.state
            .store
            .insert_code(&secret_digest(code), &grant, expires_at)
            .await
            .unwrap();
        (code.to_owned(), verifier)
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", CALLBACK),
        ];
        self.post("/token", None, &form).await
    }

    /// Whether `/introspect` says `token` is active.
    async fn active(&self, token: &str) -> bool {
        let (status, body) = self
            .post("/introspect", Some("bot:bot-secret"), &[("token", token)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["active"].as_bool().unwrap()
    }
}

#[tokio::test]
async fn an_access_token_is_issued_and_expires_on_the_servers_clock() {
    let env = start().await;
    let form = [("grant_type", "client_credentials"), ("resource", RESOURCE)];
    let (status, body) = env.post("/token", Some("bot:bot-secret"), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let jwks = env.state.keys.current().jwks.clone();
    let verifier = TokenVerifier::new(
        env.state.config.issuer.clone(),
        Some(RESOURCE.into()),
        &jwks,
    );
    let claims = verifier.verify(token, T0).unwrap();
    assert_eq!((claims.iat, claims.exp), (T0, T0 + 300));
    // Introspection reads the same clock: active until it moves past `exp`.
    env.clock.advance(300);
    assert!(env.active(token).await);
    env.clock.advance(6);
    assert!(!env.active(token).await);
}

#[tokio::test]
async fn an_authorization_code_expires_when_the_clock_moves_past_its_lifetime() {
    let env = start().await;
    let (code, verifier) = env.code("code-redeemed-in-time").await;
    env.clock.advance(CODE_TTL);
    let (status, body) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (code, verifier) = env.code("code-redeemed-too-late").await;
    env.clock.advance(CODE_TTL + 1);
    let (status, body) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "the authorization code has expired"
    );
}
