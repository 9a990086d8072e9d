//! The client commands' security defaults, through the binary over real HTTP: a
//! pre-registered client's credentials reach no authorization server but its own
//! (item 9: `--issuer`, or the issuer pinned in the token cache on first use), and
//! the files the client writes are the owner's alone (item 2: the token cache,
//! `keygen`). The MCP server and the authorization servers are small axum servers
//! started in the test that record what they receive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

const SECRET: &str = "s3cret-of-demo";

/// One request a test server received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: String,
}

impl Seen {
    /// Whether the request authenticated a client: an Authorization header, the
    /// secret, or a client assertion.
    fn carries_credentials(&self) -> bool {
        self.authorization.is_some()
            || self.body.contains(SECRET)
            || self.body.contains("client_assertion")
    }
}

/// A test server: its base URL and the requests it received.
type Server = mcp_auth_testkit::Recording<Seen>;

/// Starts an axum server that records every request and answers it with
/// `handler(request, base URL)`.
async fn serve(
    handler: impl Fn(&Seen, &str) -> Response + Clone + Send + Sync + 'static,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback({
        let (base, seen) = (base.clone(), seen.clone());
        move |request: axum::extract::Request| {
            let (base, seen, handler) = (base.clone(), seen.clone(), handler.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let request = Seen {
                    path: parts.uri.path().to_owned(),
                    authorization: parts
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                seen.lock().unwrap().push(request.clone());
                handler(&request, &base)
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { base, seen }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An authorization server that issues `token` to every token request.
async fn authorization_server(token: &'static str) -> Server {
    serve(move |req, base| match req.path.as_str() {
        "/.well-known/oauth-authorization-server" => json_response(
            StatusCode::OK,
            json!({"issuer": base, "token_endpoint": format!("{base}/token")}),
        ),
        "/token" => json_response(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
        ),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// An MCP server whose RFC 9728 metadata lists the authorization servers in
/// `issuers` (changed by the test as it goes), answering tools/list to a request
/// with `Bearer tok-legit` and 401 to anything else.
async fn mcp_server(issuers: Arc<Mutex<Vec<String>>>) -> Server {
    serve(move |req, base| match req.path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => json_response(
            StatusCode::OK,
            json!({"resource": format!("{base}/mcp"),
                   "authorization_servers": *issuers.lock().unwrap()}),
        ),
        "/mcp" if req.authorization.as_deref() == Some("Bearer tok-legit") => {
            let id = serde_json::from_str::<Value>(&req.body).unwrap()["id"].clone();
            json_response(
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}}),
            )
        }
        "/mcp" => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            let challenge = format!(
                r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
            );
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_str(&challenge).unwrap(),
            );
            response
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// Runs the binary with the demo client's secret in the environment and never the
/// user's own token cache; (exit code, stdout, stderr).
async fn mcp_auth(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(args)
        .env("MCP_AUTH_CLIENT_SECRET", SECRET)
        .env("MCP_AUTH_TOKEN_CACHE", "/nonexistent/never-used.json")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn pinned_message(attacker: &str, legit: &str) -> String {
    format!(
        "error: refusing to send the credentials of client `demo` to {attacker}: they were first used with {legit} for this MCP server, and that issuer is pinned. If the server really moved to {attacker} and `demo` is registered there, pass --issuer {attacker} (the pin is then replaced)\n"
    )
}

#[tokio::test]
async fn item_9_b_the_first_issuer_is_pinned_in_the_token_cache_and_another_refused() {
    let legit = authorization_server("tok-legit").await;
    let attacker = authorization_server("tok-attacker").await;
    let issuers = Arc::new(Mutex::new(vec![legit.base.clone()]));
    let mcp = mcp_server(issuers.clone()).await;
    let server = format!("{}/mcp", mcp.base);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache").join("tokens.json");
    let cache_arg = cache.to_str().unwrap();
    let key = dir.path().join("client.private.pem");
    let (code, _, err) = mcp_auth(&[
        "keygen",
        "--alg",
        "ES256",
        "--format",
        "pem",
        "--out",
        dir.path().join("client").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");

    // First use: the issuer the server names gets the secret, and is pinned.
    let (code, out, err) = mcp_auth(&[
        "token",
        &server,
        "--client-id",
        "demo",
        "--token-cache",
        cache_arg,
    ])
    .await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "tok-legit\n", ""));
    let kept: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(kept["pinned_issuers"][&server]["demo"], legit.base.as_str());
    // Item 2: the cache and the directory created for it are the owner's alone.
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);

    // The server now names another authorization server: no credential of any
    // kind goes there.
    *issuers.lock().unwrap() = vec![attacker.base.clone()];
    for method in [
        &["--client-auth", "client_secret_basic"][..],
        &["--client-auth", "client_secret_post"],
        &[
            "--client-auth",
            "private_key_jwt",
            "--signing-alg",
            "ES256",
            "--private-key",
            key.to_str().unwrap(),
        ],
    ] {
        let mut args = vec![
            "token",
            &server,
            "--client-id",
            "demo",
            "--token-cache",
            cache_arg,
        ];
        args.extend_from_slice(method);
        let (code, out, err) = mcp_auth(&args).await;
        assert_eq!(
            (code, out.as_str(), err),
            (2, "", pinned_message(&attacker.base, &legit.base)),
            "{method:?}"
        );
    }
    // `call` and `bridge` take the same path; a call with an expired or refused
    // token would re-discover and be refused the same way.
    assert!(
        attacker.seen().iter().all(|r| !r.carries_credentials()),
        "{:?}",
        attacker.seen()
    );
    assert!(attacker.seen().iter().all(|r| r.path != "/token"));

    // The way out the message names: --issuer replaces the pin.
    let (code, out, err) = mcp_auth(&[
        "token",
        &server,
        "--client-id",
        "demo",
        "--token-cache",
        cache_arg,
        "--issuer",
        &attacker.base,
    ])
    .await;
    assert_eq!((code, out.as_str()), (0, "tok-attacker\n"), "{err}");
    let kept: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(
        kept["pinned_issuers"][&server]["demo"],
        attacker.base.as_str()
    );
}

#[tokio::test]
async fn item_9_c_with_issuer_only_that_issuer_gets_the_secret_and_the_call_works() {
    let legit = authorization_server("tok-legit").await;
    let attacker = authorization_server("tok-attacker").await;
    let issuers = Arc::new(Mutex::new(vec![attacker.base.clone()]));
    let mcp = mcp_server(issuers.clone()).await;
    let server = format!("{}/mcp", mcp.base);

    // The metadata names only the attacker: refused, with both issuers named.
    let (code, out, err) = mcp_auth(&[
        "call",
        &server,
        "tools/list",
        "--client-id",
        "demo",
        "--issuer",
        &legit.base,
    ])
    .await;
    assert_eq!(
        (code, out.as_str(), err),
        (
            2,
            "",
            format!(
                "error: refusing to send the credentials of client `demo` to {a}: the MCP server's metadata names that authorization server, but the client is registered at {l} (--issuer). If `demo` really is registered at {a}, pass --issuer {a}\n",
                a = attacker.base,
                l = legit.base
            )
        )
    );

    // The metadata lists the attacker first, then the legit issuer: --issuer picks
    // the one the client is registered at, and the call works.
    *issuers.lock().unwrap() = vec![attacker.base.clone(), legit.base.clone()];
    let (code, out, err) = mcp_auth(&[
        "call",
        &server,
        "tools/list",
        "--client-id",
        "demo",
        "--issuer",
        &legit.base,
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["result"],
        json!({"tools": []})
    );
    assert_eq!(err, "");
    assert!(attacker.seen().iter().all(|r| !r.carries_credentials()));
    let to_legit: Vec<Seen> = legit
        .seen()
        .into_iter()
        .filter(|r| r.path == "/token")
        .collect();
    assert_eq!(to_legit.len(), 1);
    assert!(to_legit[0].carries_credentials());

    // Neither --issuer nor a token cache (as the conformance suite's first call):
    // the first issuer is trusted, and the user is told how to pin it.
    *issuers.lock().unwrap() = vec![legit.base.clone()];
    let (code, _, err) = mcp_auth(&["call", &server, "tools/list", "--client-id", "demo"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        format!(
            "mcp-auth: the credentials of client `demo` went to {l}, the authorization server the MCP server names; nothing pins it (no --issuer, no token cache). Pass --issuer {l} to send them nowhere else.\n",
            l = legit.base
        )
    );
    // An --issuer that is not an issuer identifier is refused before anything is sent.
    let (code, _, err) = mcp_auth(&[
        "call",
        &server,
        "tools/list",
        "--client-id",
        "demo",
        "--issuer",
        "https://as.example/?tenant=1",
    ])
    .await;
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "error: --issuer https://as.example/?tenant=1: an issuer is an https URL (http only on a loopback address) without query or fragment (RFC 8414 §2)\n"
        )
    );
    // A cleartext issuer that is not on this machine: the secret would cross the
    // network unencrypted.
    let (code, _, err) = mcp_auth(&[
        "call",
        &server,
        "tools/list",
        "--client-id",
        "demo",
        "--issuer",
        "http://as.example",
    ])
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("http only on a loopback address"), "{err}");
}

#[tokio::test]
async fn item_2_c_the_client_commands_refuse_a_token_cache_other_users_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    std::fs::write(&cache, "{}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    for command in ["call", "token", "login"] {
        let mut args = vec![command, "http://127.0.0.1:9/mcp"];
        if command == "call" {
            args.push("tools/list");
        }
        args.extend(["--token-cache", cache.to_str().unwrap()]);
        let (code, _, err) = mcp_auth(&args).await;
        assert_eq!(
            (code, err),
            (
                2,
                format!(
                    "error: token cache {p}: other users can read or write it (mode 644); refusing to use it. Its tokens may have been read: revoke them if others could reach the file, then `chmod 600 {p}` or delete it\n",
                    p = cache.display()
                )
            ),
            "{command}"
        );
    }
    // Left for the user to decide.
    assert_eq!(mode(&cache), 0o644);
}

#[tokio::test]
async fn item_2_d_keygen_creates_the_private_key_0600_and_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("client");
    let private = dir.path().join("client.private.jwk");
    let public = dir.path().join("client.public.jwk");
    let keygen = || async {
        mcp_auth(&[
            "keygen",
            "--alg",
            "ed25519",
            "--out",
            prefix.to_str().unwrap(),
        ])
        .await
    };
    let (code, _, err) = keygen().await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&private), 0o600);
    let (private_text, public_text) = (
        std::fs::read(&private).unwrap(),
        std::fs::read(&public).unwrap(),
    );

    // Both exist: refused, both unchanged.
    let (code, _, err) = keygen().await;
    assert_eq!(
        (code, err),
        (
            2,
            format!(
                "error: creating {} (keygen never overwrites a file: move it away or choose another --out): File exists (os error 17)\n",
                private.display()
            )
        )
    );
    // Only the public key exists: refused before anything is written, the public
    // key unchanged and no private key left behind.
    std::fs::remove_file(&private).unwrap();
    let (code, _, err) = keygen().await;
    assert_eq!(
        (code, err),
        (
            2,
            format!(
                "error: creating {} (keygen never overwrites a file: move it away or choose another --out): File exists (os error 17)\n",
                public.display()
            )
        )
    );
    assert!(!private.exists());
    assert_eq!(std::fs::read(&public).unwrap(), public_text);
    assert_ne!(private_text, Vec::<u8>::new());
}
