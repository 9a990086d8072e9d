//! SEP-2243 custom headers at the gateway (MCP 2026-07-28 Streamable HTTP §Server
//! Behavior for Custom Headers), over real HTTP on 127.0.0.1: a real AS, the gateway
//! built from `RawGatewayConfig`, an upstream listing a tool whose `region` argument
//! is mirrored into `Mcp-Param-Region`.
//!
//! - Before the tool was listed the header is not recognized: forwarded, not checked.
//! - Once listed (JSON or SSE answer), a call whose header disagrees with its
//!   argument, lacks it, repeats it, or sends it without the argument is refused with
//!   400 and -32020 and never forwarded; an agreeing one (plain or base64) passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::response::IntoResponse;
use http::HeaderMap;
use mcp_auth_resource::gateway::RawGatewayConfig;
use serde_json::{Value, json};

mod common;

/// What the upstream received: `method name`.
type Seen = Arc<Mutex<Vec<String>>>;

/// An upstream whose `tools/list` lists `route` (`region` → `Mcp-Param-Region`) in
/// JSON, or `route_sse` in SSE when asked with `x-answer: sse`.
async fn upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let recorded = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&recorded);
            async move {
                let rpc: Value = serde_json::from_slice(&body).unwrap();
                let method = rpc["method"].as_str().unwrap().to_owned();
                let name = rpc["params"]["name"].as_str().unwrap_or_default();
                seen.lock().unwrap().push(format!("{method} {name}").trim().to_owned());
                let sse = headers.get("x-answer").is_some_and(|v| v == "sse");
                let tool = if sse { "route_sse" } else { "route" };
                let result = if method == "tools/list" {
                    json!({"tools": [{"name": tool, "inputSchema": {"type": "object", "properties": {
                        "region": {"type": "string", "x-mcp-header": "Region"},
                        "count": {"type": "integer"}}}}]})
                } else {
                    json!({"content": []})
                };
                let message = json!({"jsonrpc": "2.0", "id": rpc["id"], "result": result});
                if sse {
                    (
                        [("content-type", "text/event-stream")],
                        format!("event: message\ndata: {message}\n\n"),
                    )
                        .into_response()
                } else {
                    axum::Json(message).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn send(url: &str, token: &str, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(body.to_string()).send().await.unwrap()
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

async fn assert_mismatch(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32020, "{what}: {body}");
    assert_eq!(body["id"], 9, "{what}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Mcp-Param-Region"), "{what}: {message}");
    assert!(
        !message.contains("us-west1"),
        "{what}: no value is echoed: {message}"
    );
}

#[tokio::test]
async fn a_listed_tools_mirrored_arguments_must_agree_with_their_headers() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = upstream().await;
    let config = RawGatewayConfig {
        upstream: Some(up.into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        ..RawGatewayConfig::default()
    };
    let router = config.validate().unwrap().router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = authorization_server.bearer_token(&resource).await;
    let region = json!({"region": "us-west1"});

    // Not listed yet: the header is not recognized, and goes upstream unchecked.
    let r = send(
        &resource,
        &token,
        call("route", region.clone()),
        &[("mcp-param-region", "eu")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(send(&resource, &token, list, &[]).await.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Listed: agreeing headers pass, plain and base64 (a value with a space at its end).
    let r = send(
        &resource,
        &token,
        call("route", region.clone()),
        &[("Mcp-Param-Region", "us-west1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let padded = json!({"region": "Zürich "});
    let encoded = format!("=?base64?{}?=", "WsO8cmljaCA=");
    let r = send(
        &resource,
        &token,
        call("route", padded),
        &[("mcp-param-region", &encoded)],
    )
    .await;
    assert_eq!(r.status(), 200);
    // No argument, no header: nothing to check.
    let r = send(&resource, &token, call("route", json!({"count": 3})), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 5);

    for (what, arguments, headers) in [
        (
            "another value",
            region.clone(),
            vec![("mcp-param-region", "eu-north1")],
        ),
        ("the header missing", region.clone(), vec![]),
        (
            "the header twice",
            region.clone(),
            vec![
                ("mcp-param-region", "us-west1"),
                ("mcp-param-region", "us-west1"),
            ],
        ),
        (
            "a header without its argument",
            json!({"count": 3}),
            vec![("mcp-param-region", "us-west1")],
        ),
        (
            "bad base64",
            region.clone(),
            vec![("mcp-param-region", "=?base64?***?=")],
        ),
        (
            "case differs",
            region.clone(),
            vec![("mcp-param-region", "US-WEST1")],
        ),
    ] {
        let r = send(&resource, &token, call("route", arguments), &headers).await;
        assert_mismatch(r, what).await;
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        5,
        "no refused call was forwarded"
    );

    // A tool listed over SSE is learned as well.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let listed = send(&resource, &token, list, &[("x-answer", "sse")]).await;
    assert_eq!(listed.status(), 200);
    // Learned as the stream passes: read it to its end.
    assert!(listed.text().await.unwrap().contains("route_sse"));
    let r = send(
        &resource,
        &token,
        call("route_sse", region),
        &[("mcp-param-region", "nope")],
    )
    .await;
    assert_mismatch(r, "a tool listed over SSE").await;
}

/// HTTPSIG-RS-17 and HTTPSIG-C-8 through the gateway: our client covers the
/// `Mcp-Param-*` headers it sends; one added after signing is refused.
#[tokio::test]
async fn httpsig_rs_17_every_mcp_param_header_is_covered_by_the_signature() {
    use mcp_auth_client::{HttpSigSigner, ProofKey};
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = upstream().await;
    let config = RawGatewayConfig {
        upstream: Some(up.into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        ..RawGatewayConfig::default()
    };
    let router = config.validate().unwrap().router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let signer = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let body = call("route", json!({"region": "us-west1"})).to_string();
    let sign = |extra: &[(&'static str, &str)]| {
        common::gateway::signed(&signer, &token, http::Method::POST, &resource, &body, extra)
    };
    // Covered (the client signs what it mirrors): accepted.
    let r = sign(&[("mcp-param-region", "us-west1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Added after signing: refused, and the challenge asks for it.
    let r = sign(&[])
        .header("mcp-param-region", "eu-north1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_signature"), "{challenge}");
    let accept = r.headers()["accept-signature"].to_str().unwrap().to_owned();
    assert!(accept.contains("\"mcp-param-region\""), "{accept}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the rerouted copy was not forwarded"
    );
}

/// `request.params`: a policy reads the checked `Mcp-Param-*` values of a listed
/// tool's call (never an unchecked header).
#[tokio::test]
async fn a_policy_reads_the_checked_param_headers_and_never_unchecked_ones() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = upstream().await;
    let mut config = RawGatewayConfig {
        upstream: Some(up.into()),
        resource: Some(resource.clone()),
        issuers: vec![authorization_server.issuer.clone()],
        allow_bearer: true,
        ..RawGatewayConfig::default()
    };
    config.policy = toml::from_str(
        r#"
[[rules]]
name = "nothing in cn-north1"
when = 'has(request.params.Region) && request.params.Region == "cn-north1"'
effect = "deny"
"#,
    )
    .unwrap();
    let router = config.validate().unwrap().router().await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = authorization_server.bearer_token(&resource).await;
    let china = json!({"region": "cn-north1"});
    // Not listed yet: the header is a claim nobody checked, and the rule does not see it.
    let r = send(
        &resource,
        &token,
        call("route", china.clone()),
        &[("mcp-param-region", "cn-north1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(send(&resource, &token, list, &[]).await.status(), 200);
    // Listed: the checked value decides.
    let r = send(
        &resource,
        &token,
        call("route", china),
        &[("mcp-param-region", "cn-north1")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = send(
        &resource,
        &token,
        call("route", json!({"region": "eu-west1"})),
        &[("mcp-param-region", "eu-west1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 3);
}
