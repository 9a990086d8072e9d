#![no_main]
//! The authorization server's anonymous endpoints on arbitrary requests: `/token`,
//! `/introspect` and `/revoke` (an `Authorization` value and a form body: the form
//! reader, Basic credentials, a client assertion up to its signature, the parameters of
//! the grants this configuration offers: `client_credentials`, `authorization_code`,
//! `refresh_token`; the others are `unsupported_grant_type` here), `/register` (an
//! RFC 7591 metadata document) and `/authorize` (a query), through the AS's whole router
//! (its layers, a real SQLite file in a fresh private directory under `fuzz/target/`,
//! which `git clean -fdX fuzz/` removes; a secret client, a public one and a
//! `private_key_jwt` one). Anyone on the network reaches these. No `DPoP` or
//! `Signature` header is sent: the proofs have fuzz targets of their own.
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
use mcp_auth_server::{AuthorizationServer, ClientRecord, Config, Overrides};
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
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "target/as-endpoints-{}",
            mcp_auth_core::random_token::<16>().expect("randomness")
        ));
        std::fs::create_dir_all(dir.parent().expect("fuzz/target")).expect("fuzz/target");
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
            let server = AuthorizationServer::start(config).await.expect("the AS starts");
            // A client that authenticates with an assertion signed by its key, whose
            // `kid` the seeds can name (`x`).
            let es256 = mcp_auth_httpsig::JwsAlgorithm::Es256;
            let pem = mcp_auth_core::AsSigningKey::generate(es256)
                .and_then(|key| key.to_pkcs8_pem())
                .expect("a key");
            let key = mcp_auth_core::AsSigningKey::from_pkcs8_pem(es256, &pem, Some("x".into()))
                .expect("the key");
            let metadata = serde_json::json!({
                "grant_types": ["client_credentials"],
                "scopes": ["mcp:read"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.public_jwk()]},
            });
            server
                .state()
                .store
                .insert_client(&ClientRecord {
                    client_id: "signer".into(),
                    secret_sha256: None,
                    metadata,
                    created_at: 0,
                })
                .await
                .expect("the client stored");
            server.router()
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
