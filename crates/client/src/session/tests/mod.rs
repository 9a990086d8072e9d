//! Unit tests of [`McpClient`]'s own logic, over real HTTP on loopback: each test
//! starts one axum server that is the MCP endpoint (`/mcp`), its protected resource
//! metadata (RFC 9728), its authorization server's metadata (RFC 8414) and token
//! endpoint (`/token`), and records every request it receives; the test then reads
//! what the client sent.
//!
//! `requests`: the headers, token and session of each request; `authorization`:
//! what a 401 or 403 sets off (discovery, token, refresh, step-up, DPoP nonce);
//! `workload`: the workload grant (WIF-C-*); `enterprise`: the enterprise grant
//! (EMA-C-*), with a second server as the identity provider.

#![allow(clippy::unwrap_used)]

mod authorization;
mod enterprise;
mod param_headers;
mod requests;
mod workload;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, StatusCode, Uri};
use mcp_auth_testkit::Recording;
use serde_json::{Value, json};

use super::McpClient;

/// One request the test server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    /// A header, as text.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A parameter of a form body (a token request).
    fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The JSON-RPC message of the body.
    fn rpc(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The test server: `mcp` answers `/mcp`, `token` answers `/token`; the metadata
/// names the server itself as the authorization server, and the resource's
/// `scopes_supported` is `["tools"]`.
async fn start(
    mcp: impl Fn(&Seen) -> Response + Send + Sync + 'static,
    token: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> Recording<Seen> {
    start_with(json!({}), mcp, token).await
}

/// [`start`], with the members of `as_metadata` added to the authorization
/// server's metadata (`grant_types_supported`, `dpop_signing_alg_values_supported`...).
async fn start_with(
    as_metadata: Value,
    mcp: impl Fn(&Seen) -> Response + Send + Sync + 'static,
    token: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> Recording<Seen> {
    recording(move |request, base| match request.path.as_str() {
        "/mcp" => mcp(request),
        "/token" => token(request),
        "/.well-known/oauth-protected-resource/mcp" => axum::Json(json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [base],
            "scopes_supported": ["tools"],
        }))
        .into_response(),
        "/.well-known/oauth-authorization-server" => {
            let mut metadata = json!({
                "issuer": base,
                "token_endpoint": format!("{base}/token"),
            });
            for (k, v) in as_metadata.as_object().into_iter().flatten() {
                metadata[k] = v.clone();
            }
            axum::Json(metadata).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// How [`recording`] answers: the request and the server's own base URL.
type Route = dyn Fn(&Seen, &str) -> Response + Send + Sync;

/// A loopback server that records every request and answers it with
/// `answer(request, base)`, `base` being its own `http://host:port`.
async fn recording(
    answer: impl Fn(&Seen, &str) -> Response + Send + Sync + 'static,
) -> Recording<Seen> {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let answer: Arc<Route> = Arc::new(answer);
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let (seen, answer) = (recorder.clone(), answer.clone());
            async move {
                let request = Seen {
                    method,
                    path: uri.path().to_owned(),
                    headers,
                    body,
                };
                seen.lock().unwrap().push(request.clone());
                let base = format!("http://{}", request.header("host").unwrap_or_default());
                answer(&request, &base)
            }
        },
    );
    let base = mcp_auth_testkit::serve(app).await;
    Recording { base, seen }
}

/// The MCP endpoint of `server`.
fn mcp_url(server: &Recording<Seen>) -> String {
    format!("{}/mcp", server.base)
}

/// The requests `server` received at `path`, in order.
fn at(server: &Recording<Seen>, path: &str) -> Vec<Seen> {
    server
        .seen()
        .into_iter()
        .filter(|s| s.path == path)
        .collect()
}

/// A JSON-RPC result for a request (`{"ok": true}`), 202 for a notification.
fn result(seen: &Seen) -> Response {
    let rpc = seen.rpc();
    match rpc.get("id") {
        Some(id) => {
            axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {"ok": true}})).into_response()
        }
        None => StatusCode::ACCEPTED.into_response(),
    }
}

/// A refusal with this `WWW-Authenticate`.
fn challenge(status: StatusCode, www_authenticate: &str) -> Response {
    (
        status,
        [(http::header::WWW_AUTHENTICATE, www_authenticate.to_owned())],
    )
        .into_response()
}

/// An MCP endpoint that answers what carries `Authorization: <authorization>` and
/// refuses anything else with a 401 `invalid_token` naming scope `tools:read`.
fn requiring(authorization: &'static str) -> impl Fn(&Seen) -> Response + Send + Sync {
    move |seen| {
        if seen.header("authorization") == Some(authorization) {
            result(seen)
        } else {
            challenge(
                StatusCode::UNAUTHORIZED,
                r#"Bearer error="invalid_token", scope="tools:read""#,
            )
        }
    }
}

/// A token endpoint that issues `at-1`, `at-2`, … of `token_type` for an hour, each
/// with a refresh token `rt-1`, `rt-2`, … when `refresh` says so.
fn issuing(token_type: &'static str, refresh: bool) -> impl Fn(&Seen) -> Response + Send + Sync {
    let issued = AtomicUsize::new(0);
    move |_| {
        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut body = json!({
            "access_token": format!("at-{n}"),
            "token_type": token_type,
            "expires_in": 3600,
        });
        if refresh {
            body["refresh_token"] = json!(format!("rt-{n}"));
        }
        axum::Json(body).into_response()
    }
}

/// A token endpoint that is never expected to be used.
fn no_tokens(_: &Seen) -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// The `client_credentials` grant as `bot` with `client_secret_basic`.
fn client_credentials() -> super::Grant {
    super::Grant::ClientCredentials(crate::ClientAuth::SecretBasic {
        client_id: "bot".into(),
        secret: "s3cret".into(),
    })
}

/// A client for `server`'s MCP endpoint.
fn client(
    server: &Recording<Seen>,
    grant: Option<super::Grant>,
    signer: Option<crate::RequestSigner>,
) -> McpClient {
    McpClient::new(mcp_url(server), grant, signer)
}

/// Calls the `echo` tool, which must succeed.
async fn echo(client: &mut McpClient) -> super::CallOutcome {
    client
        .call("tools/call", json!({"name": "echo", "arguments": {}}))
        .await
        .unwrap()
}

/// One `tools/list` call, by a client without credentials, to a server whose MCP
/// endpoint `mcp` answers; the server and the outcome.
async fn list_tools(
    mcp: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> (
    Recording<Seen>,
    Result<super::CallOutcome, super::CallError>,
) {
    let server = start(mcp, no_tokens).await;
    let outcome = client(&server, None, None)
        .call("tools/list", json!({}))
        .await;
    (server, outcome)
}
