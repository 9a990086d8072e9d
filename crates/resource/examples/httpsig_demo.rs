//! An authorization server and an MCP endpoint protected by the
//! http-message-signatures profile, in one process, for trying a client against.
//!
//! Run with: `cargo run -p mcp-auth-resource --example httpsig_demo -- [AS_PORT RS_PORT]`
//!
//! It prints one JSON line, `{"issuer": ..., "resource": ..., "metadata": ...,
//! "client_id": ..., "client_secret": ...}`, and serves until killed. The client it
//! names is a pre-registered machine client (`client_credentials`) with
//! `"httpsig_key_binding_method": "runtime"`: sign its token requests and MCP requests
//! as profiles/http-message-signatures.md says. Dynamic registration is on too, for
//! clients whose user signs in (the AS gives anonymous registrations no machine
//! grant).
//! The MCP endpoint answers every JSON-RPC request with the method, the tool name and
//! the verified caller.
//!
//! Environment, for running several instances behind one (imagined) load balancer:
//! `HTTPSIG_DEMO_REDIS=redis://...` shares the nonce replay cache through Redis;
//! `HTTPSIG_DEMO_AS=<issuer>` with `HTTPSIG_DEMO_RESOURCE=<resource URL>` starts no
//! AS, trusts that issuer's JWKS and protects that resource identifier (so a second
//! instance on another port serves the same resource as the first).

use std::sync::Arc;

use axum::routing::post;
use axum::{Extension, Json, Router};
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_resource::{
    AccessTokenCache, McpAuthLayer, Principal, ResourceConfig, ResourceVerifier,
};
use mcp_auth_server::{AuthorizationServer, Config, Overrides};
use serde_json::{Value, json};

async fn echo(Extension(principal): Extension<Principal>, body: axum::body::Bytes) -> Json<Value> {
    let rpc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {
        "method": rpc["method"], "name": rpc["params"]["name"],
        "subject": principal.subject, "client_id": principal.client_id,
        "profile": principal.profile.as_str(), "thumbprint": principal.key_thumbprint,
    }}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let as_port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(0);
    let rs_port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(0);
    let as_listener = tokio::net::TcpListener::bind(("127.0.0.1", as_port)).await?;
    let rs_listener = tokio::net::TcpListener::bind(("127.0.0.1", rs_port)).await?;
    let data = tempfile::tempdir()?;
    let client_secret = mcp_auth_core::random_token::<32>()?;
    let (issuer, resource, jwks) = match (
        std::env::var("HTTPSIG_DEMO_AS"),
        std::env::var("HTTPSIG_DEMO_RESOURCE"),
    ) {
        (Ok(issuer), Ok(resource)) => {
            let jwks: mcp_auth_core::Jwks = reqwest::get(format!("{issuer}/jwks"))
                .await?
                .error_for_status()?
                .json()
                .await?;
            (issuer, resource, jwks)
        }
        _ => {
            start_authorization_server(
                as_listener,
                rs_listener.local_addr()?,
                &data.path().join("data"),
                &client_secret,
            )
            .await?
        }
    };
    let replay: Arc<dyn mcp_auth_core::ReplayCache> = match std::env::var("HTTPSIG_DEMO_REDIS") {
        Ok(url) => {
            let cache = mcp_auth_core::RedisReplayCache::connect(
                &mcp_auth_core::redis_connection::RedisTarget::parse(&url)?,
                "mcp-auth:httpsig-demo:",
                std::time::Duration::from_secs(2),
            )?;
            cache.prepare().await?;
            Arc::new(cache)
        }
        Err(_) => Arc::new(MemoryReplayCache::new()),
    };

    let mut rs_config = ResourceConfig::new(&resource, &issuer)?;
    rs_config.scopes_supported = vec!["mcp:read".into(), "mcp:write".into()];
    let tokens = AccessTokenCache::new(&issuer, &resource, &jwks);
    let verifier = Arc::new(ResourceVerifier::new(rs_config.clone(), tokens, replay));
    let app = Router::new()
        .route("/mcp", post(echo).get(echo))
        .layer(McpAuthLayer::new(verifier.clone()))
        .merge(mcp_auth_resource::metadata::router(&rs_config));
    println!(
        "{}",
        json!({"issuer": issuer, "resource": resource, "metadata": verifier.metadata_url(),
               "listening": format!("http://{}/mcp", rs_listener.local_addr()?),
               "client_id": DEMO_CLIENT, "client_secret": client_secret})
    );
    axum::serve(rs_listener, app).await?;
    drop(data);
    Ok(())
}

/// The pre-registered machine client with runtime keys.
const DEMO_CLIENT: &str = "httpsig-demo";

/// Starts the AS on `listener` for the resource at `rs_addr`, with [`DEMO_CLIENT`]
/// and its `secret`; returns its issuer, the resource URL and its JWKS.
async fn start_authorization_server(
    as_listener: tokio::net::TcpListener,
    rs_addr: std::net::SocketAddr,
    data: &std::path::Path,
    secret: &str,
) -> Result<(String, String, mcp_auth_core::Jwks), Box<dyn std::error::Error>> {
    use base64::Engine as _;
    let issuer = format!("http://{}", as_listener.local_addr()?);
    let resource = format!("http://{rs_addr}/mcp");
    let digest = base64::engine::general_purpose::STANDARD
        .encode(mcp_auth_server::client_auth::secret_digest(secret));
    let clients = format!(
        "[[clients]]\nclient_id = \"{DEMO_CLIENT}\"\nclient_secret_sha256 = \"{digest}\"\n\
         grant_types = [\"client_credentials\"]\nscopes = [\"mcp:read\", \"mcp:write\"]\n\
         httpsig_key_binding_method = \"runtime\"\n"
    );
    let config = Config::from_sources(
        &clients,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(as_listener.local_addr()?.to_string()),
            data_dir: Some(data.to_owned()),
            resources: vec![(
                resource.clone(),
                vec!["mcp:read".into(), "mcp:write".into()],
            )],
            ..Overrides::default()
        },
    )?;
    let server = AuthorizationServer::start(config).await?;
    let jwks = server.state().keys.current().jwks.clone();
    tokio::spawn(async move { server.serve(as_listener, std::future::pending()).await });
    Ok((issuer, resource, jwks))
}
