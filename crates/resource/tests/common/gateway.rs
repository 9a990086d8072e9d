//! A real gateway in front of a real recording upstream on 127.0.0.1 (the test
//! kit's), and the test kit's raw HTTP/1.1 exchange for what `reqwest` will not send.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use mcp_auth_client::HttpSigSigner;
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_resource::session::SessionStore;
use mcp_auth_resource::{
    AccessTokenCache, ResourceConfig, ResourceVerifier, ScopePolicy, Upstream, discover_issuer,
    gateway_router,
};
use mcp_auth_testkit::Recorder;

use super::As;

/// An upstream MCP server on any method: records the request, answers a JSON-RPC
/// result; `initialize` answers with a new `Mcp-Session-Id` (`sess-1`, `sess-2`, ...).
pub async fn recording_upstream() -> (String, Recorder) {
    let up = mcp_auth_testkit::mcp_upstream("sess-").await;
    (up.url, up.seen)
}

/// The smallest gateway configuration that validates (an upstream, the resource and
/// one issuer, at example hosts): the base of the tests of single settings.
pub fn minimal_config() -> mcp_auth_resource::gateway::RawGatewayConfig {
    mcp_auth_resource::gateway::RawGatewayConfig {
        upstream: Some("http://127.0.0.1:3000/mcp".into()),
        resource: Some("https://mcp.example.com/mcp".into()),
        issuers: vec!["https://as.example.com".into()],
        ..Default::default()
    }
}

/// The scope policy of the scope tests: `mcp:read` for everything, `mcp:write` too
/// for the `delete_*` tools.
pub fn scope_policy() -> ScopePolicy {
    toml::from_str(
        r#"
        required = ["mcp:read"]
        [[rules]]
        method = "tools/call"
        name = "delete_*"
        scopes = ["mcp:write"]
        "#,
    )
    .unwrap()
}

/// Serves a gateway at `listener` for `resource`, trusting every AS of `issuers`
/// (discovered as `mcp-auth gateway` does), forwarding to `upstream`, with the
/// configuration changed by `configure` and sessions in `sessions` (memory if
/// `None`).
pub async fn serve_gateway(
    listener: tokio::net::TcpListener,
    resource: &str,
    issuers: &[&As],
    upstream: &str,
    configure: impl FnOnce(&mut ResourceConfig),
    sessions: Option<Arc<dyn SessionStore>>,
) {
    let mut trusted = Vec::new();
    for i in issuers {
        trusted.push(discover_issuer(&i.issuer).await.unwrap());
    }
    let mut config = ResourceConfig::new(resource, issuers[0].issuer.clone()).unwrap();
    config.authorization_servers = issuers.iter().map(|i| i.issuer.clone()).collect();
    configure(&mut config);
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::for_issuers(resource, trusted),
        Arc::new(MemoryReplayCache::new()),
    ));
    let mut up = Upstream::new(upstream.parse().unwrap()).response_timeout(Duration::from_secs(5));
    if let Some(store) = sessions {
        up = up.sessions(store);
    }
    let app = gateway_router(verifier, Arc::new(up));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// What most gateway tests start from ([`gateway_with`]).
pub struct OneGateway {
    /// The gateway's public URL, the tokens' audience.
    pub resource: String,
    /// The one trusted authorization server.
    pub authorization_server: As,
    /// What the recording upstream received.
    pub seen: Recorder,
}

/// One authorization server, a recording upstream, and a gateway in front of it on
/// 127.0.0.1 whose configuration `configure` adjusts (sessions in memory).
pub async fn gateway_with(configure: impl FnOnce(&mut ResourceConfig)) -> OneGateway {
    let (listener, resource) = super::bind().await;
    let authorization_server = super::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    serve_gateway(
        listener,
        &resource,
        &[&authorization_server],
        &up,
        configure,
        None,
    )
    .await;
    OneGateway {
        resource,
        authorization_server,
        seen,
    }
}

/// `body` sent with `method` to `url`, signed by `signer` for `token` now, with
/// `extra` headers set before signing.
pub fn signed(
    signer: &HttpSigSigner,
    token: &str,
    method: Method,
    url: &str,
    body: &str,
    extra: &[(&'static str, &str)],
) -> reqwest::RequestBuilder {
    let mut b = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .header("accept", "application/json, text/event-stream");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let parts = super::sign(signer, token, b, body);
    reqwest::Client::new()
        .request(method, url)
        .headers(parts.headers)
        .body(body.to_owned())
}
