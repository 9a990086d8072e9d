//! The token endpoint tests' server: an authorization server over real HTTP on
//! 127.0.0.1 with a real SQLite file, its clients `bot` (mcp:read, mcp:write),
//! `reader` (mcp:read) and `nogrant` (no grant), and the requests they make.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_core::Jwks;
use mcp_auth_testkit::register_client;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common;

pub struct Env {
    pub base: String,
    pub issuer: String,
    pub server: mcp_auth_server::AsState,
    pub http: reqwest::Client,
    _running: common::TestServer,
}

/// A server whose issuer is its base address followed by `issuer_path`.
pub async fn start_with(issuer_path: &str) -> Env {
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

/// A server whose issuer is its root.
pub async fn start() -> Env {
    start_with("").await
}

impl Env {
    pub async fn post(
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

    pub async fn token(
        &self,
        id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.post("/token", Some((id, secret)), &form).await
    }

    pub async fn jwks(&self) -> Jwks {
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

/// The reply is `status` with the OAuth `error`, a description, and `no-store`.
pub fn assert_error(
    got: &(StatusCode, reqwest::header::HeaderMap, Value),
    status: u16,
    error: &str,
) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.2);
    assert_eq!(got.2["error"], error, "{:?}", got.2);
    assert!(
        got.2["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "an error_description: {:?}",
        got.2
    );
    assert_eq!(got.1["cache-control"], "no-store", "{:?}", got.2);
}
