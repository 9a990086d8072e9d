#![no_main]
//! The authorization server's anonymous endpoints on arbitrary requests: `/token`,
//! `/introspect` and `/revoke` (an `Authorization` value and a form body: the form
//! reader, Basic credentials, client assertions, every grant's parameters), `/register`
//! (an RFC 7591 metadata document) and `/authorize` (a query), through the AS's whole
//! router (its layers, a real SQLite file in a fresh private directory, two
//! pre-registered clients). Anyone on the network reaches these.
//!
//! Never panics; never answers 500 (the store is healthy, so nothing a request sends may
//! reach an internal error); every refusal of the four JSON endpoints is an RFC 6749
//! §5.2 error object.
//!
//! Input: `<endpoint byte><Authorization value>\n<body or query>`; the endpoint byte
//! modulo 5 picks `/token`, `/register`, `/introspect`, `/revoke` or `/authorize`; an
//! empty first line sends no `Authorization`.
use std::sync::OnceLock;

use axum::body::Body;
use http::{Request, header};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use mcp_auth_server::{AuthorizationServer, Config, Overrides};
use tower::ServiceExt as _;

/// `s3cret`'s SHA-256, base64: the `agent` client's secret.
const AGENT_SECRET_SHA256: &str = "HsHCa1DV08WNlYMYGvgHZlX+AHVr9yhZQLo2cPmfy6A=";

const CONFIG: &str = r#"
issuer = "https://as.example"
registrations_per_minute = 1000000

[[resources]]
uri = "https://mcp.example/mcp"
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]

[[clients]]
client_id = "agent"
client_secret_sha256 = "SECRET"
grant_types = ["client_credentials"]
scopes = ["mcp:read"]

[[clients]]
client_id = "desktop-app"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:33418/callback"]
scopes = ["mcp:read", "mcp:write"]
"#;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "mcp-auth-fuzz-as-{}",
            mcp_auth_core::random_token::<16>().expect("randomness")
        ));
        mcp_auth_core::private_file::create_new_dir(&dir).expect("a private directory");
        let config = Config::from_sources(
            &CONFIG.replace("SECRET", AGENT_SECRET_SHA256),
            &|_| None,
            &Overrides {
                data_dir: Some(dir.join("data")),
                ..Overrides::default()
            },
        )
        .expect("the configuration");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = runtime.block_on(async {
            AuthorizationServer::start(config)
                .await
                .expect("the AS starts")
                .router()
        });
        Fixture { runtime, router }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&endpoint, rest)) = data.split_first() else {
        return;
    };
    let (authorization, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&rest[..0], rest),
    };
    let path = ["/token", "/register", "/introspect", "/revoke", "/authorize"]
        [usize::from(endpoint) % 5];
    let mut request = if path == "/authorize" {
        let Ok(query) = std::str::from_utf8(body) else {
            return;
        };
        let Ok(uri) = format!("{path}?{query}").parse::<http::Uri>() else {
            return;
        };
        Request::get(uri)
    } else {
        let content_type = if path == "/register" {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        Request::post(path).header(header::CONTENT_TYPE, content_type)
    };
    if !authorization.is_empty() {
        let Ok(value) = http::HeaderValue::from_bytes(authorization) else {
            return;
        };
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = if path == "/authorize" {
        Body::empty()
    } else {
        Body::from(body.to_vec())
    };
    let request = request.body(body).expect("a request");
    let f = fixture();
    let (status, answer) = f.runtime.block_on(async {
        let response = f.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .expect("the answer's body")
            .to_bytes();
        (status, answer)
    });
    assert_ne!(
        status,
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "{path}: {}",
        String::from_utf8_lossy(&answer)
    );
    if path != "/authorize" && (status.is_client_error() || status.is_server_error()) {
        let error: serde_json::Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|_| panic!("{path} {status}: not JSON: {answer:?}"));
        assert!(
            error["error"].is_string(),
            "{path} {status}: no error code: {error}"
        );
    }
});
