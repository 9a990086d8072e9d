//! A Rust MCP server (rmcp) protected in process by [`McpAuthLayer`], no gateway: a
//! tool handler reads the verified [`Principal`] from the request extensions.
//!
//! Start an authorization server that knows the resource, then this example:
//!
//! ```text
//! mcp-auth as --resource 'http://127.0.0.1:3001/mcp mcp:read mcp:write' &
//! cargo run -p mcp-auth-resource --example rmcp_server -- http://127.0.0.1:8080 127.0.0.1:3001
//! ```
//!
//! Requests need a token from that issuer for `http://127.0.0.1:3001/mcp`, presented
//! with HTTPSig (or Bearer: this example accepts both). `tools/call whoami` answers
//! with the caller; `tools/call delete_note` needs `mcp:write` (403
//! `insufficient_scope` otherwise, before the tool runs).

use std::sync::Arc;

use mcp_auth_core::MemoryReplayCache;
use mcp_auth_resource::{
    AccessTokenCache, McpAuthLayer, Principal, ResourceConfig, ResourceVerifier, ScopePolicy,
    discover_issuer,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

/// The MCP server: two tools.
#[derive(Debug, Clone, Default)]
struct Notes;

/// Arguments of `delete_note`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct DeleteArgs {
    /// The note to delete.
    id: String,
}

/// The principal the layer verified. rmcp keeps the HTTP request parts in the
/// request context; the layer put the principal in their extensions.
fn principal(context: &RequestContext<RoleServer>) -> Result<&Principal, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .ok_or_else(|| ErrorData::internal_error("no verified principal", None))
}

#[tool_router]
impl Notes {
    #[tool(description = "Who is calling, as verified by mcp-auth.")]
    async fn whoami(&self, context: RequestContext<RoleServer>) -> Result<String, ErrorData> {
        let p = principal(&context)?;
        Ok(format!(
            "{} (client {}, {}, scopes: {})",
            p.subject,
            p.client_id,
            p.profile.as_str(),
            p.scopes.join(" ")
        ))
    }

    #[tool(description = "Delete a note (needs mcp:write).")]
    async fn delete_note(
        &self,
        Parameters(args): Parameters<DeleteArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let p = principal(&context)?;
        Ok(format!("{} deleted note {}", p.subject, args.id))
    }
}

#[tool_handler(name = "notes", instructions = "Notes, protected by mcp-auth.")]
impl ServerHandler for Notes {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3001".into());
    let resource = format!("http://{listen}/mcp");

    // The checks: tokens of `issuer` for `resource`, HTTPSig or Bearer, nonces in
    // memory, mcp:read for everything and mcp:write for delete_*.
    let mut config = ResourceConfig::new(&resource, &issuer)?;
    config.bound_tokens_required = false;
    config.scopes = toml::from_str::<ScopePolicy>(
        "required = [\"mcp:read\"]\n\
         [[rules]]\nmethod = \"tools/call\"\nname = \"delete_*\"\nscopes = [\"mcp:write\"]\n",
    )?;
    let tokens = AccessTokenCache::for_issuers(&resource, vec![discover_issuer(&issuer).await?]);
    let verifier = Arc::new(ResourceVerifier::new(
        config.clone(),
        tokens,
        Arc::new(MemoryReplayCache::new()),
    ));

    let mcp = StreamableHttpService::new(
        || Ok(Notes),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .route_service("/mcp", mcp)
        .layer(McpAuthLayer::new(verifier))
        .merge(mcp_auth_resource::metadata::router(&config));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("notes MCP server at {resource}, trusting {issuer}");
    axum::serve(listener, app).await?;
    Ok(())
}
