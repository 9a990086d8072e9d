//! The test doubles of profiles/enterprise-managed-authorization.md's client tests
//! (`ema_client`, `ema_sign_in`): the two client registrations, a test MCP server
//! that is its own authorization server (listing jwt-bearer), unsigned ID-JAGs for
//! a test IdP's exchange, and the binary run with a user's environment.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{Seen, Server, serve};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// The client at the identity provider, and its secret there.
pub const IDP_CLIENT: (&str, &str) = ("desktop-agent", "idp-secret");
/// The client at the MCP authorization server, and its secret there (the SHA-256 of
/// `acme-secret` is the `client_secret_sha256` of the end-to-end test's AS).
pub const AS_CLIENT: (&str, &str) = ("acme-agent", "acme-secret");

/// `{"metadata document"}` naming `base` as issuer with its `/token`.
pub fn metadata(base: &str) -> Value {
    json!({"issuer": base, "token_endpoint": format!("{base}/token")})
}

/// An unsigned compact JWS.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", part(header), part(claims))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An OAuth error answer.
pub fn refusal(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The test IdP's answer to an exchange: an unsigned ID-JAG for the exchange's
/// `audience`, numbered `n`.
pub fn id_jag_for(request: &Seen, n: usize) -> Response {
    let id_jag = unsigned(
        &json!({"alg": "ES256", "typ": "oauth-id-jag+jwt"}),
        &json!({"aud": request.form("audience"), "client_id": AS_CLIENT.0,
                "jti": format!("jag-{n}"), "resource": request.form("resource")}),
    );
    axum::Json(
        json!({"access_token": id_jag, "issued_token_type": ID_JAG_TYPE,
                      "token_type": "N_A"}),
    )
    .into_response()
}

/// A test MCP server that is its own authorization server (listing jwt-bearer),
/// whose `/token` answers with `token(request, number)` and whose `/mcp` wants
/// `Bearer at-1` (a 401 naming scope `mcp:read` otherwise).
pub async fn mcp_server(
    token: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
) -> Server {
    let count = AtomicUsize::new(0);
    serve(move |request, base| match request.path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => axum::Json(json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [base],
        }))
        .into_response(),
        "/.well-known/oauth-authorization-server" => {
            let mut doc = metadata(base);
            doc["grant_types_supported"] = json!([JWT_BEARER]);
            axum::Json(doc).into_response()
        }
        "/token" => token(request, count.fetch_add(1, Ordering::SeqCst) + 1),
        "/mcp" if request.header("authorization") == Some("Bearer at-1") => mcp_answer(request),
        "/mcp" => (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                r#"Bearer error="invalid_token", scope="mcp:read""#,
            )],
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// The MCP endpoint's answer to an authorized request: `initialize` (for rmcp's
/// session), notifications, and a tools/list result (one tool, `whoami`) to
/// anything else; GET (the standalone stream) is 405.
pub fn mcp_answer(request: &Seen) -> Response {
    if request.method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let rpc: Value = serde_json::from_str(&request.body).unwrap_or_default();
    let result = match rpc["method"].as_str().unwrap_or_default() {
        m if m.starts_with("notifications/") => return StatusCode::ACCEPTED.into_response(),
        "initialize" => json!({
            "protocolVersion": rpc["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "ema-test", "version": "0"},
        }),
        _ => json!({"tools": [{"name": "whoami", "inputSchema": {"type": "object"}}]}),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result})).into_response()
}

/// An access token response with `at-{n}` (Bearer, an hour).
pub fn access_token(_: &Seen, n: usize) -> Response {
    axum::Json(
        json!({"access_token": format!("at-{n}"), "token_type": "Bearer",
                      "expires_in": 3600}),
    )
    .into_response()
}

/// Runs the binary with `env` (and neither secret unless `env` has it), its default
/// token cache a file in `dir` that no test expects to be written; (exit code,
/// stdout, stderr).
pub async fn mcp_auth(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(args)
        .env("MCP_AUTH_TOKEN_CACHE", dir.join("default-cache.json"))
        .env_remove("MCP_AUTH_CLIENT_SECRET")
        .env_remove("MCP_AUTH_IDP_CLIENT_SECRET")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `Basic base64(id:secret)`.
pub fn basic((id, secret): (&str, &str)) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}
