//! The gateway in front of a real upstream on 127.0.0.1: a signed call goes through
//! with the verified identity and without the token; an SSE response streams (the
//! first event reaches the client before the upstream has finished); an unreachable
//! upstream is a 502 with a JSON-RPC error; the scope policy refuses what the token's
//! scopes do not cover; a rotated issuer key is fetched when a token names it; a
//! pooled upstream connection is dropped before the upstream's keep-alive ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use http::HeaderMap;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::{
    AccessTokenCache, ResourceConfig, ResourceVerifier, Upstream, discover_issuer, gateway_router,
};
use serde_json::{Value, json};

mod common;

use common::gateway::scope_policy;

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// An upstream MCP server: `tools/call echo` answers JSON; `tools/call slow` answers
/// SSE, sending the first event at once and the second when `release` fires;
/// `initialize` answers with `Mcp-Session-Id: session-1`.
async fn upstream(seen: Seen, release: Arc<tokio::sync::Notify>) -> String {
    let app = Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            let release = release.clone();
            async move {
                seen.lock().unwrap().push(headers);
                let rpc: Value = serde_json::from_str(&body).unwrap();
                if rpc["params"]["name"] == "slow" {
                    let stream = async_stream(release);
                    return axum::response::Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from_stream(stream))
                        .unwrap();
                }
                let mut answer = axum::response::IntoResponse::into_response(Json(
                    json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {"content": [{"type": "text", "text": "hi"}]}}),
                ));
                if rpc["method"] == "initialize" {
                    answer
                        .headers_mut()
                        .insert("mcp-session-id", http::HeaderValue::from_static("session-1"));
                }
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn async_stream(
    release: Arc<tokio::sync::Notify>,
) -> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let _ = tx
            .send(Ok(axum::body::Bytes::from_static(
                b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n",
            )))
            .await;
        release.notified().await;
        let _ = tx
            .send(Ok(axum::body::Bytes::from_static(
                b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
            )))
            .await;
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

struct Gateway {
    authorization_server: common::As,
    resource: String,
    signer: HttpSigSigner,
    token: String,
}

async fn start(upstream_url: &str) -> Gateway {
    start_with(upstream_url, |_| {}).await
}

/// A gateway whose configuration `configure` adjusts; its issuer is discovered as
/// `mcp-auth gateway` does (keys fetched again on an unknown `kid`).
async fn start_with(upstream_url: &str, configure: impl FnOnce(&mut ResourceConfig)) -> Gateway {
    start_full(upstream_url, configure, |u| u).await
}

/// A gateway whose resource configuration `configure` and whose upstream settings
/// `upstream` adjust.
async fn start_full(
    upstream_url: &str,
    configure: impl FnOnce(&mut ResourceConfig),
    upstream: impl FnOnce(Upstream) -> Upstream,
) -> Gateway {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let trusted = discover_issuer(&authorization_server.issuer).await.unwrap();
    let mut config = ResourceConfig::new(&resource, authorization_server.issuer.clone()).unwrap();
    configure(&mut config);
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::for_issuers(&resource, vec![trusted]),
        Arc::new(MemoryReplayCache::new()),
    ));
    let up = Arc::new(upstream(
        Upstream::new(upstream_url.parse().unwrap()).response_timeout(Duration::from_secs(5)),
    ));
    let app = gateway_router(verifier, up);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    Gateway {
        authorization_server,
        resource,
        signer,
        token,
    }
}

impl Gateway {
    fn signed(&self, body: &str, extra: &[(&'static str, &str)]) -> reqwest::RequestBuilder {
        common::gateway::signed(
            &self.signer,
            &self.token,
            http::Method::POST,
            &self.resource,
            body,
            extra,
        )
    }
}

#[tokio::test]
async fn a_signed_call_reaches_the_upstream_with_the_identity_and_without_the_token() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start(&up).await;
    let call = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}}"#;
    let r = gw
        .signed(call, &[("x-mcp-auth-subject", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], 4);
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(
        headers["x-mcp-auth-subject"], "agent",
        "the client's spoofed value is replaced"
    );
    assert_eq!(headers["x-mcp-auth-client-id"], "agent");
    assert_eq!(headers["x-mcp-auth-profile"], "httpsig");
    for consumed in ["authorization", "signature", "signature-input"] {
        assert!(
            headers.get(consumed).is_none(),
            "the token and the proof of possession are not forwarded: {consumed}"
        );
    }
    assert!(
        headers.get("content-digest").is_some(),
        "the digest describes the body"
    );
    assert_eq!(headers["mcp-name"], "echo");
    // Unsigned: refused at the gateway, the upstream never sees it.
    let r = reqwest::Client::new()
        .post(&gw.resource)
        .body(call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn with_forward_token_the_upstream_gets_the_token_and_the_proof_as_sent() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start_full(&up, |_| {}, |u| u.forward_token(true)).await;
    let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}}"#;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        format!("HTTPSig {}", gw.token)
    );
    assert!(headers.get("signature").is_some());
    assert!(headers.get("signature-input").is_some());
    assert_eq!(
        headers["x-mcp-auth-profile"], "httpsig",
        "and the identity too"
    );
}

/// Credentials written in the upstream URL reach the upstream as `Authorization:
/// Basic` (the user and password percent-decoded); a forwarded token takes the
/// header's place, as with reqwest's request builder.
#[tokio::test]
async fn credentials_in_the_upstream_url_go_as_basic_auth_unless_the_token_is_forwarded() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let with_credentials = up.replacen("http://", "http://agent:p%40ss@", 1);
    let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}}"#;
    let gw = start(&with_credentials).await;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // base64("agent:p@ss")
    assert_eq!(
        seen.lock().unwrap()[0]["authorization"],
        "Basic YWdlbnQ6cEBzcw=="
    );
    let gw = start_full(&with_credentials, |_| {}, |u| u.forward_token(true)).await;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        seen.lock().unwrap()[1]["authorization"].to_str().unwrap(),
        format!("HTTPSig {}", gw.token)
    );
}

#[tokio::test]
async fn the_first_sse_event_arrives_before_the_upstream_finishes() {
    let release = Arc::new(tokio::sync::Notify::new());
    let up = upstream(Arc::default(), release.clone()).await;
    let gw = start(&up).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#;
    let mut r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    // The upstream is still holding its second event: only the first can be here.
    let first = r.chunk().await.unwrap().expect("a first chunk");
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    release.notify_one();
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&rest).contains("\"result\""));
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_with_a_json_rpc_error() {
    let gw = start("http://127.0.0.1:1/mcp").await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32603);
}

/// Node's and uvicorn's servers close a keep-alive connection after 5 s idle. The
/// gateway's upstream client drops a pooled connection first (after 4 s,
/// `POOL_IDLE_TIMEOUT`), so a call after 5 s of quiet goes out on a new connection,
/// not into one the upstream is closing.
#[tokio::test]
async fn a_call_after_five_quiet_seconds_goes_upstream_on_a_new_connection() {
    let up = mcp_auth_testkit::closing_upstream(Duration::from_secs(5)).await;
    let gw = start(&up.url).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(gw.signed(call, &[]).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((up.connections(), up.answered()), (2, 2));
}

/// The race the default avoids, and proof that the stand-in upstream produces it
/// (without it the test above could not fail): a pool that keeps connections longer
/// than the upstream does sends the next call into a closing connection, and the
/// caller gets a 502 with a JSON-RPC error.
#[tokio::test]
async fn a_connection_pooled_past_the_upstreams_keep_alive_fails_the_call_with_a_502() {
    let up = mcp_auth_testkit::closing_upstream(Duration::from_millis(300)).await;
    let gw = start_full(
        &up.url,
        |_| {},
        |u| u.pool_idle_timeout(Duration::from_secs(60)),
    )
    .await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(gw.signed(call, &[]).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = gw.signed(call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!((up.connections(), up.answered()), (1, 1));
}

/// `upstream_idle_timeout`: 4 s unless configured, within 1 s and 5 minutes.
#[test]
fn the_upstream_idle_timeout_is_4_s_unless_configured_within_1_s_and_5_minutes() {
    use mcp_auth_resource::gateway::RawGatewayConfig;
    let raw = |upstream_idle_timeout: Option<u64>| RawGatewayConfig {
        upstream_idle_timeout,
        ..common::gateway::minimal_config()
    };
    let idle = |r: RawGatewayConfig| r.validate().unwrap().upstream_idle_timeout;
    assert_eq!(idle(raw(None)), Duration::from_secs(4));
    assert_eq!(idle(raw(Some(300))), Duration::from_secs(300));
    let from_file: RawGatewayConfig = toml::from_str("upstream_idle_timeout = 1").unwrap();
    assert_eq!(
        idle(raw(from_file.upstream_idle_timeout)),
        Duration::from_secs(1)
    );
    for bad in [0, 301] {
        let error = raw(Some(bad)).validate().unwrap_err().to_string();
        assert_eq!(
            error,
            format!("upstream_idle_timeout must be 1..=300 seconds, not {bad}")
        );
    }
}

/// An upstream the gateway cannot forward to stops it at start, not with a 502 per
/// call; the message names the scheme, never the URL (which may hold a password),
/// and neither does the one for an upstream that is not a URL.
#[test]
fn an_upstream_that_is_not_http_or_https_is_refused_at_start() {
    use mcp_auth_resource::gateway::RawGatewayConfig;
    let raw = |upstream: &str| RawGatewayConfig {
        upstream: Some(upstream.into()),
        ..common::gateway::minimal_config()
    };
    for good in [
        "http://127.0.0.1:3000/mcp",
        "https://mcp.example/mcp",
        "HTTP://[::1]:3000",
        "https://agent:pw@mcp.example",
        "http://127.0.0.1:3000",
    ] {
        assert!(raw(good).validate().is_ok(), "{good}");
    }
    for (bad, scheme) in [
        ("ftp://agent:hunter2@mcp.example/mcp", "ftp"),
        ("unix:/run/mcp.sock", "unix"),
        ("file:///srv/mcp", "file"),
        ("mailto:agent@mcp.example", "mailto"),
    ] {
        let error = raw(bad).validate().unwrap_err().to_string();
        assert_eq!(
            error,
            format!("upstream must be an http:// or https:// URL; its scheme is `{scheme}`"),
            "{bad}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
    let error = raw("http://agent:hunter2@[::1/mcp")
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(error, "upstream is not a URL: invalid IPv6 address");
    // A query or fragment would never be sent (each request carries the client's).
    for bad in [
        "http://agent:hunter2@127.0.0.1:3000/mcp?key=hunter2",
        "http://127.0.0.1:3000/mcp#hunter2",
    ] {
        let error = raw(bad).validate().unwrap_err().to_string();
        assert_eq!(
            error,
            "upstream must have no query or fragment: each request carries the client's query"
        );
    }
}

/// A configuration built without `validate` (an embedder's) with an upstream the
/// gateway cannot forward to does not start, and says why, before anything else.
#[tokio::test]
async fn a_hand_built_configuration_with_a_non_http_upstream_does_not_start() {
    use mcp_auth_resource::gateway::GatewayStartError;
    let mut config = common::gateway::minimal_config().validate().unwrap();
    config.upstream = url::Url::parse("ftp://agent:hunter2@127.0.0.1/mcp")
        .unwrap()
        .into();
    // No issuer is running: the upstream is checked first.
    let error = config
        .start(&mcp_auth_core::shutdown::Shutdown::new())
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, GatewayStartError::Upstream(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "the upstream cannot be reached: the upstream is not an http:// or https:// URL (its scheme is `ftp`)"
    );
}

/// Settings that would each put their own value in the upstream's `Authorization`
/// are refused together, naming both; each alone, or the minted token in another
/// header, is accepted. (The key file is not touched by the check.)
#[test]
fn settings_that_would_both_set_the_upstreams_authorization_are_refused() {
    use mcp_auth_resource::gateway::RawGatewayConfig;
    use mcp_auth_resource::upstream_identity::UpstreamIdentityConfig;
    let identity = |header: Option<&str>| UpstreamIdentityConfig {
        key_file: Some("/nonexistent/upstream-identity.pem".into()),
        header: header.map(str::to_owned),
        ..UpstreamIdentityConfig::default()
    };
    let raw = |upstream: &str, forward_token: bool, identity: UpstreamIdentityConfig| {
        RawGatewayConfig {
            upstream: Some(upstream.into()),
            forward_token,
            upstream_identity: identity,
            ..common::gateway::minimal_config()
        }
        .validate()
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let (plain, with_credentials) = (
        "http://127.0.0.1:3000/mcp",
        "http://agent:pw@127.0.0.1:3000/mcp",
    );
    assert_eq!(
        raw(with_credentials, false, identity(None)),
        Err("the upstream URL's credentials and [upstream_identity] both set Authorization upstream \
             (give [upstream_identity] another header)"
            .to_owned())
    );
    assert!(raw(with_credentials, false, identity(Some("Authorization"))).is_err());
    assert_eq!(
        raw(plain, true, identity(None)),
        Err("forward_token and [upstream_identity] both set Authorization upstream".to_owned())
    );
    assert_eq!(
        raw(
            with_credentials,
            false,
            identity(Some("x-upstream-identity"))
        ),
        Ok(())
    );
    assert_eq!(
        raw(plain, true, identity(Some("x-upstream-identity"))),
        Ok(())
    );
    assert_eq!(
        raw(with_credentials, false, UpstreamIdentityConfig::default()),
        Ok(())
    );
    assert_eq!(raw(plain, false, identity(None)), Ok(()));
}

/// A `tools/list` call (protocol 2026-07-28) to `resource` with a Bearer `token`.
async fn bearer_tools_list(resource: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(resource)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#)
        .send()
        .await
        .unwrap()
}

/// `upstream_idle_timeout` reaches the gateway's upstream client: with 1 s, a call
/// after 1.3 s of quiet goes out on a new connection, where the default 4 s would
/// reuse the one an upstream with a 1.1 s keep-alive is closing (a 502).
#[tokio::test]
async fn the_configured_upstream_idle_timeout_drops_the_pooled_connection() {
    use mcp_auth_resource::gateway::RawGatewayConfig;
    let up = mcp_auth_testkit::closing_upstream(Duration::from_millis(1_100)).await;
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let config = RawGatewayConfig {
        upstream: Some(up.url.as_str().into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        upstream_idle_timeout: Some(1),
        ..RawGatewayConfig::default()
    }
    .validate()
    .unwrap();
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = authorization_server.bearer_token(&resource).await;
    assert_eq!(bearer_tools_list(&resource, &token).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(bearer_tools_list(&resource, &token).await.status(), 200);
    assert_eq!((up.connections(), up.answered()), (2, 2));
}

/// The token minted for the upstream names it, by default, by its URL without the
/// credentials written in it: they go upstream as Basic auth, never in a token's
/// `aud`, which whoever holds the token reads and logs.
#[tokio::test]
async fn the_minted_tokens_default_audience_is_the_upstream_without_its_credentials() {
    use base64::Engine as _;
    use mcp_auth_resource::gateway::RawGatewayConfig;
    use mcp_auth_resource::upstream_identity::UpstreamIdentityConfig;
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let keys = tempfile::tempdir().unwrap();
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let config = RawGatewayConfig {
        upstream: Some(up.replacen("http://", "http://agent:hunter2@", 1).into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        upstream_identity: UpstreamIdentityConfig {
            key_file: Some(keys.path().join("upstream-identity.pem")),
            header: Some("x-upstream-identity".to_owned()),
            ..UpstreamIdentityConfig::default()
        },
        ..RawGatewayConfig::default()
    }
    .validate()
    .unwrap();
    assert_eq!(config.upstream_without_credentials().as_str(), up);
    let router = config.router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = authorization_server.bearer_token(&resource).await;
    assert_eq!(bearer_tools_list(&resource, &token).await.status(), 200);
    let headers = seen.lock().unwrap()[0].clone();
    // base64("agent:hunter2")
    assert_eq!(headers["authorization"], "Basic YWdlbnQ6aHVudGVyMg==");
    let minted = headers["x-upstream-identity"].to_str().unwrap().to_owned();
    let claims = minted.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["aud"], up.as_str());
}

fn challenges(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_operation_outside_the_token_scopes_is_a_403_naming_every_scope_it_needs() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start_with(&up, |c| c.scopes = scope_policy()).await;
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        gw.resource.trim_end_matches("/mcp")
    );
    // The token has mcp:read: echo passes, delete_file needs mcp:write too.
    let echo = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
    assert_eq!(gw.signed(echo, &[]).send().await.unwrap().status(), 200);
    let delete =
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}"#;
    let r = gw.signed(delete, &[]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenges(&r),
        [format!(
            "HTTPSig error=\"insufficient_scope\", error_description=\"this operation needs the scopes mcp:read mcp:write\", scope=\"mcp:read mcp:write\", resource_metadata=\"{metadata}\""
        )]
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "the upstream saw only echo");
    // The 401 without credentials names the base scope.
    let r = reqwest::Client::new()
        .post(&gw.resource)
        .body(echo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenges(&r),
        [format!(
            "HTTPSig scope=\"mcp:read\", resource_metadata=\"{metadata}\""
        )]
    );
}

#[tokio::test]
async fn a_bearer_client_gets_its_errors_in_a_bearer_challenge() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start_with(&up, |c| {
        c.bound_tokens_required = false;
        c.scopes = toml::from_str(
            r#"
            required = ["mcp:read"]
            [[rules]]
            method = "tools/call"
            name = "admin_*"
            scopes = ["mcp:admin"]
            "#,
        )
        .unwrap();
    })
    .await;
    let token = gw.authorization_server.bearer_token(&gw.resource).await;
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        gw.resource.trim_end_matches("/mcp")
    );
    let call = |name: &str| {
        reqwest::Client::new()
            .post(&gw.resource)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            ))
            .send()
    };
    let r = call("echo").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap()[0]["x-mcp-auth-profile"], "bearer");
    assert!(
        seen.lock().unwrap()[0]
            .get("x-mcp-auth-key-thumbprint")
            .is_none()
    );
    let r = call("admin_reset").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenges(&r),
        [
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation needs the scopes mcp:read mcp:admin\", scope=\"mcp:read mcp:admin\", resource_metadata=\"{metadata}\""
            ),
            format!("HTTPSig scope=\"mcp:read mcp:admin\", resource_metadata=\"{metadata}\""),
        ]
    );
    // A 2026-07-28 Bearer client that sends Mcp-Name must send the body's.
    let r = reqwest::Client::new()
        .post(&gw.resource)
        .bearer_auth(&token)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"admin_reset"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32020);
    assert_eq!(body["id"], 8);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_token_signed_by_a_rotated_issuer_key_is_accepted_after_one_key_fetch() {
    let up = upstream(Arc::default(), Arc::default()).await;
    let gw = start(&up).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(gw.signed(call, &[]).send().await.unwrap().status(), 200);
    // The AS rotates: new tokens carry a kid the gateway has never seen.
    let kid = gw.authorization_server.rotate_key().await;
    let token = gw
        .authorization_server
        .bound_token(&gw.signer, &gw.resource)
        .await
        .access_token;
    assert_eq!(mcp_auth_testkit::jwt_kid(&token), kid);
    let gw = Gateway { token, ..gw };
    assert_eq!(gw.signed(call, &[]).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_token_of_an_untrusted_issuer_is_refused_before_any_key_fetch() {
    let up = upstream(Arc::default(), Arc::default()).await;
    let gw = start(&up).await;
    // Another AS, same resource: its tokens are well formed but not trusted here.
    let other = common::start_as(&gw.resource).await;
    let token = other
        .bound_token(&gw.signer, &gw.resource)
        .await
        .access_token;
    let gw = Gateway { token, ..gw };
    let r = gw
        .signed(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let c = challenges(&r);
    assert!(
        c[0].starts_with("HTTPSig error=\"invalid_token\", error_description=\"the token was issued by another issuer\""),
        "{c:?}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_never_forwarded() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start_with(&up, |c| c.max_body = 1024).await;
    let text = "x".repeat(2048);
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    );
    let r = gw.signed(&call, &[]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(seen.lock().unwrap().is_empty());
    // Just under the limit passes.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
    assert_eq!(gw.signed(call, &[]).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_is_a_504_with_a_json_rpc_error() {
    // Accepts connections and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let gw = start_full(
        &url,
        |_| {},
        |u| u.response_timeout(Duration::from_millis(300)),
    )
    .await;
    let r = gw
        .signed(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(
        body["error"]["message"],
        "the MCP server did not answer in time"
    );
}

#[tokio::test]
async fn session_and_protocol_headers_pass_through_both_ways() {
    let seen: Seen = Arc::default();
    let up = upstream(seen.clone(), Arc::default()).await;
    let gw = start(&up).await;
    // The session the upstream names reaches the client (and is bound to it).
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let r = gw.signed(init, &[]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["mcp-session-id"], "session-1");
    let call = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}}"#;
    let r = gw
        .signed(
            call,
            &[
                ("mcp-session-id", "session-1"),
                ("mcp-protocol-version", "2025-11-25"),
                ("last-event-id", "7"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = seen.lock().unwrap()[1].clone();
    assert_eq!(headers["mcp-session-id"], "session-1");
    assert_eq!(headers["mcp-protocol-version"], "2025-11-25");
    assert_eq!(headers["last-event-id"], "7");
    assert_eq!(headers["mcp-method"], "tools/call");
    assert!(
        headers.get("signature").is_none(),
        "the proof of possession is consumed at the gateway"
    );
}
