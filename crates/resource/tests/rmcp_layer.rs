//! The tower layer in front of an rmcp server, in process: a tool handler reads the
//! verified [`Principal`] from the HTTP parts rmcp keeps in its request context (as
//! `examples/rmcp_server.rs` shows), and a refused request never reaches the tool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_resource::{
    AccessTokenCache, McpAuthLayer, Principal, ResourceConfig, ResourceVerifier,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

mod common;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, Default)]
struct WhoAmI;

#[tool_router]
impl WhoAmI {
    #[tool(description = "The verified caller.")]
    async fn whoami(&self, context: RequestContext<RoleServer>) -> Result<String, ErrorData> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let p = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .ok_or_else(|| ErrorData::internal_error("no principal", None))?;
        Ok(format!(
            "{} {} {}",
            p.subject,
            p.client_id,
            p.profile.as_str()
        ))
    }
}

#[tool_handler]
impl ServerHandler for WhoAmI {}

#[tokio::test]
async fn an_rmcp_tool_reads_the_principal_the_layer_verified() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let trusted = mcp_auth_resource::discover_issuer(&authorization_server.issuer)
        .await
        .unwrap();
    let verifier = Arc::new(ResourceVerifier::new(
        ResourceConfig::new(&resource, authorization_server.issuer.clone()).unwrap(),
        AccessTokenCache::for_issuers(&resource, vec![trusted]),
        Arc::new(MemoryReplayCache::new()),
    ));
    let mcp = StreamableHttpService::new(
        || Ok(WhoAmI),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .route_service("/mcp", mcp)
        .layer(McpAuthLayer::new(verifier));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let signer = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "whoami", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let send = |signed: bool| {
        let (mut parts, ()) = http::Request::post(&resource)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .body(())
            .unwrap()
            .into_parts();
        if signed {
            signer
                .sign_mcp_request(
                    &mut parts,
                    &token,
                    body.as_bytes(),
                    mcp_auth_core::unix_now(),
                )
                .unwrap();
        }
        reqwest::Client::new()
            .post(&resource)
            .headers(parts.headers)
            .body(body.clone())
            .send()
    };
    let r = send(true).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find(|d| d.contains("result"))
        .unwrap();
    let message: Value = serde_json::from_str(data.trim()).unwrap();
    assert_eq!(
        message["result"]["content"][0]["text"],
        "agent agent httpsig"
    );
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    // Unsigned: 401 from the layer, the tool does not run.
    let r = send(false).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
}
