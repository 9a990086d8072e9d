//! The client side of the workload-identity-federation profile through the binary
//! (`mcp-auth token|call --workload-token FILE`, `--workload-token-env VAR`) and
//! the rmcp transport, over real HTTP on loopback. One small axum server started
//! in each test is the MCP server (RFC 9728 metadata naming itself as the
//! authorization server, `/mcp`) and the authorization server (RFC 8414 metadata,
//! `/token`), and records every request. Our own AS's grant is tested in the server
//! crate; this is the client against a server whose answers the test chooses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use serde_json::{Value, json};

mod common;

use common::{Seen, Server, at};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Answers a token request: the request and its number (1 for the first).
type TokenAnswer = dyn Fn(&Seen, usize) -> Response + Send + Sync;
/// Answers a request to `/mcp`.
type McpAnswer = dyn Fn(&Seen) -> Response + Send + Sync;

/// The test server: the MCP endpoint `/mcp` answered by `mcp`, its metadata naming
/// the server itself as the authorization server, whose metadata lists the
/// jwt-bearer grant plus the members of `as_extra` (which may replace it), and
/// whose `/token` is answered by `token`.
async fn stack(
    as_extra: Value,
    token: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
    mcp: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> Server {
    let (token, mcp): (Arc<TokenAnswer>, Arc<McpAnswer>) = (Arc::new(token), Arc::new(mcp));
    let tokens = AtomicUsize::new(0);
    common::serve(move |request, base| match request.path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => axum::Json(json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [base],
        }))
        .into_response(),
        "/.well-known/oauth-authorization-server" => {
            let mut metadata = json!({
                "issuer": base,
                "token_endpoint": format!("{base}/token"),
                "grant_types_supported": [JWT_BEARER],
            });
            for (k, v) in as_extra.as_object().into_iter().flatten() {
                metadata[k] = v.clone();
            }
            axum::Json(metadata).into_response()
        }
        "/token" => token(request, tokens.fetch_add(1, Ordering::SeqCst) + 1),
        "/mcp" => mcp(request),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// A token response issuing `access_token` (Bearer, an hour).
fn issue(access_token: &str) -> Response {
    axum::Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// An OAuth error answer from the token endpoint.
fn refuse(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// An MCP endpoint that answers requests with `Authorization: <authorization>`
/// (initialize, notifications, tools/list, anything else with an empty result;
/// GET with 405) and refuses the rest with a 401 naming scope `mcp:read`.
fn requiring(authorization: &'static str) -> impl Fn(&Seen) -> Response + Send + Sync + 'static {
    move |seen| {
        if seen.header("authorization") != Some(authorization) {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    "www-authenticate",
                    r#"Bearer error="invalid_token", scope="mcp:read""#,
                )],
            )
                .into_response();
        }
        if seen.method != Method::POST {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let rpc: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        let method = rpc["method"].as_str().unwrap_or_default();
        let result = match method {
            m if m.starts_with("notifications/") => return StatusCode::ACCEPTED.into_response(),
            "initialize" => json!({
                "protocolVersion": rpc["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "wif-test", "version": "0"},
            }),
            "tools/list" => json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
            _ => json!({}),
        };
        axum::Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result})).into_response()
    }
}

/// A platform token (unsigned: the client does not verify it) for `aud`, naming
/// the workload `sub`.
fn platform_token(aud: &str, sub: &str) -> String {
    let encode = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let header = encode(json!({"alg": "ES256", "typ": "JWT"}));
    let claims = encode(json!({"iss": "https://idp.example", "sub": sub, "aud": aud, "exp": exp}));
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

/// A workload: a directory of its own (token file, token caches) and the file its
/// platform token is in.
struct Workload {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl Workload {
    /// A workload whose token file holds `token` and a newline.
    fn new(token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("workload-token");
        std::fs::write(&file, format!("{token}\n")).unwrap();
        Self { dir, file }
    }

    /// A workload with a token for `server`'s issuer.
    fn of(server: &Server) -> Self {
        Self::new(&platform_token(&server.base, "ci-job"))
    }

    /// `mcp-auth <args> --workload-token FILE`; (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut args = args.to_vec();
        args.extend(["--workload-token", self.file.to_str().unwrap()]);
        mcp_auth(self.dir.path(), &args, &[]).await
    }
}

/// Runs the binary with `env`, its default token cache a file in `dir` that no
/// test expects to be written; (exit code, stdout, stderr).
async fn mcp_auth(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(args)
        .env("MCP_AUTH_TOKEN_CACHE", dir.join("default-cache.json"))
        .env_remove("MCP_AUTH_CLIENT_SECRET")
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

/// `server`'s MCP endpoint.
fn mcp_url(server: &Server) -> String {
    format!("{}/mcp", server.base)
}

#[tokio::test]
async fn wif_c_2_token_sends_the_grant_the_file_trimmed_and_the_resource_and_prints_the_token() {
    let server = stack(json!({}), |_, _| issue("at-1"), requiring("Bearer at-1")).await;
    let token = platform_token(&server.base, "ci-job");
    let workload = Workload::new(&format!("  {token}"));
    let mcp = mcp_url(&server);
    let (code, out, err) = workload.run(&["token", &mcp]).await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "at-1\n", ""));

    let requests = at(&server, "/token");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.form("grant_type").as_deref(), Some(JWT_BEARER));
    assert_eq!(request.form("assertion"), Some(token));
    assert_eq!(request.form("resource"), Some(mcp));
    for absent in [
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    ] {
        assert_eq!(request.form(absent), None, "{absent}");
    }
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("dpop"), None);
    // A workload's token never goes to the signed-in user's default cache.
    assert!(!workload.dir.path().join("default-cache.json").exists());
}

#[tokio::test]
async fn wif_c_3_call_reads_the_file_again_for_its_second_token_request() {
    let workload = Workload::new("placeholder");
    let rotated = Arc::new(Mutex::new(String::new()));
    let server = {
        let (file, rotated) = (workload.file.clone(), rotated.clone());
        stack(
            json!({}),
            move |_, n| {
                if n == 1 {
                    // The platform rotates the token while the first one is in use.
                    std::fs::write(&file, &*rotated.lock().unwrap()).unwrap();
                }
                issue(&format!("at-{n}"))
            },
            |seen: &Seen| match seen.header("authorization") {
                // The first token lacks mcp:write: the client steps up.
                Some("Bearer at-1") => (
                    StatusCode::FORBIDDEN,
                    [(
                        "www-authenticate",
                        r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write""#,
                    )],
                )
                    .into_response(),
                _ => requiring("Bearer at-2")(seen),
            },
        )
        .await
    };
    let first = platform_token(&server.base, "before-rotation");
    let second = platform_token(&server.base, "after-rotation");
    std::fs::write(&workload.file, &first).unwrap();
    *rotated.lock().unwrap() = second.clone();
    let (code, _, err) = workload
        .run(&["call", &mcp_url(&server), "tools/list"])
        .await;
    assert_eq!(code, 0, "{err}");

    let requests = at(&server, "/token");
    let assertions: Vec<_> = requests
        .iter()
        .map(|r| r.form("assertion").unwrap())
        .collect();
    assert_eq!(assertions, [first, second]);
    assert_eq!(
        requests[1].form("scope").as_deref(),
        Some("mcp:read mcp:write")
    );
}

#[tokio::test]
async fn wif_c_3_the_token_can_come_from_an_environment_variable() {
    let server = stack(json!({}), |_, _| issue("at-1"), requiring("Bearer at-1")).await;
    let token = platform_token(&server.base, "ci-job");
    let dir = tempfile::tempdir().unwrap();
    let mcp = mcp_url(&server);
    let (code, out, err) = mcp_auth(
        dir.path(),
        &["token", &mcp, "--workload-token-env", "PLATFORM_JWT"],
        &[("PLATFORM_JWT", &token)],
    )
    .await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "at-1\n", ""));
    assert_eq!(at(&server, "/token")[0].form("assertion"), Some(token));

    let (code, _, err) = mcp_auth(
        dir.path(),
        &["token", &mcp, "--workload-token-env", "MCP_AUTH_TEST_UNSET"],
        &[],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("reading the workload token from environment variable MCP_AUTH_TEST_UNSET"),
        "{err}"
    );
    assert_eq!(at(&server, "/token").len(), 1);
}

#[tokio::test]
async fn wif_c_4_a_token_for_another_audience_is_not_sent_and_not_printed() {
    let server = stack(json!({}), |_, _| issue("at-1"), requiring("Bearer at-1")).await;
    // The trailing slash is another audience (D1).
    let token = platform_token(&format!("{}/", server.base), "ci-job");
    let (code, out, err) = Workload::new(&token)
        .run(&["call", &mcp_url(&server), "tools/list"])
        .await;
    assert_eq!((code, out.as_str()), (2, ""));
    let base = &server.base;
    assert!(
        err.contains(&format!(r#"has aud "{base}/", not exactly {base}"#)),
        "{err}"
    );
    assert!(!err.contains(token.split('.').nth(1).unwrap()), "{err}");
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_1_no_request_to_an_as_that_does_not_list_the_grant() {
    let server = stack(
        json!({"grant_types_supported": ["client_credentials"]}),
        |_, _| issue("at-1"),
        requiring("Bearer at-1"),
    )
    .await;
    let (code, _, err) = Workload::of(&server)
        .run(&["token", &mcp_url(&server)])
        .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("does not list urn:ietf:params:oauth:grant-type:jwt-bearer"),
        "{err}"
    );
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_5_a_refusal_is_reported_with_its_code_and_nothing_is_retried() {
    let expired = "the assertion expired 12 s ago, more than the allowed skew";
    let server = stack(
        json!({}),
        move |_, _| refuse("invalid_grant", expired),
        requiring("Bearer at-1"),
    )
    .await;
    let (code, _, err) = Workload::of(&server)
        .run(&["call", &mcp_url(&server), "tools/list"])
        .await;
    assert_eq!(code, 2);
    assert!(err.contains(&format!("invalid_grant: {expired}")), "{err}");
    assert_eq!(at(&server, "/token").len(), 1, "no retry, no other grant");
    assert_eq!(at(&server, "/mcp").len(), 1);
}

#[tokio::test]
async fn wif_c_6_dpop_binds_the_workload_token_where_the_as_advertises_it() {
    let server = stack(
        json!({"dpop_signing_alg_values_supported": ["ES256"]}),
        |_, _| {
            axum::Json(json!({"access_token": "at-1", "token_type": "DPoP", "expires_in": 600}))
                .into_response()
        },
        requiring("DPoP at-1"),
    )
    .await;
    let (code, _, err) = Workload::of(&server)
        .run(&["call", &mcp_url(&server), "tools/list", "--dpop"])
        .await;
    assert_eq!(code, 0, "{err}");
    let request = &at(&server, "/token")[0];
    assert!(request.header("dpop").is_some());
    assert_eq!(request.form("grant_type").as_deref(), Some(JWT_BEARER));
}

#[tokio::test]
async fn wif_c_6_no_dpop_proof_to_an_as_that_does_not_advertise_it() {
    let server = stack(json!({}), |_, _| issue("at-1"), requiring("Bearer at-1")).await;
    let (code, _, err) = Workload::of(&server)
        .run(&["token", &mcp_url(&server), "--dpop"])
        .await;
    assert_eq!(code, 2);
    assert!(err.contains("does not advertise DPoP"), "{err}");
    assert!(at(&server, "/token").is_empty());
}

#[tokio::test]
async fn wif_c_7_a_token_cache_serves_later_runs_and_keeps_no_refresh_token() {
    let server = stack(
        json!({}),
        |_, n| issue(&format!("at-{n}")),
        requiring("Bearer at-1"),
    )
    .await;
    let workload = Workload::of(&server);
    let cache = workload.dir.path().join("workload-cache.json");
    let mcp = mcp_url(&server);
    let args = [
        "call",
        &mcp,
        "tools/list",
        "--token-cache",
        cache.to_str().unwrap(),
    ];
    for _ in 0..2 {
        let (code, _, err) = workload.run(&args).await;
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(
        at(&server, "/token").len(),
        1,
        "the second run used the kept token"
    );
    let kept: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(kept[&mcp]["access_token"], "at-1");
    assert!(kept[&mcp].get("refresh_token").is_none());
}

#[tokio::test]
async fn the_workload_token_excludes_the_client_options() {
    let dir = tempfile::tempdir().unwrap();
    for other in [
        &["--client-id", "demo"][..],
        &["--grant", "authorization_code"],
        &["--private-key", "key.pem"],
        &[
            "--client-metadata-url",
            "https://client.example/metadata.json",
        ],
        &["--workload-token-env", "PLATFORM_JWT"],
    ] {
        let mut args = vec![
            "token",
            "http://127.0.0.1:9/mcp",
            "--workload-token",
            "token",
        ];
        args.extend_from_slice(other);
        let (code, _, err) = mcp_auth(dir.path(), &args, &[]).await;
        assert_eq!(code, 2, "{other:?}");
        assert!(
            err.contains("'--workload-token <FILE>' cannot be used with"),
            "{other:?}: {err}"
        );
    }
}

#[tokio::test]
async fn the_rmcp_transport_authorizes_with_a_workload_token() {
    use rmcp::ServiceExt as _;

    let server = stack(json!({}), |_, _| issue("at-1"), requiring("Bearer at-1")).await;
    let workload = Workload::of(&server);
    let client = mcp_auth_client::McpClient::new(
        mcp_url(&server),
        Some(mcp_auth_client::Grant::Workload(
            mcp_auth_client::PlatformToken::File(workload.file.clone()),
        )),
        None,
    );
    let service = ().serve(mcp_auth_client::rmcp_transport::transport(client)).await.unwrap();
    let tools = service.list_all_tools().await.unwrap();
    assert_eq!(tools[0].name, "echo");
    let requests = at(&server, "/token");
    assert_eq!(requests.len(), 1, "one token serves the session");
    assert_eq!(requests[0].form("grant_type").as_deref(), Some(JWT_BEARER));
    service.cancel().await.unwrap();
}
