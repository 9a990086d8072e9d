//! The whole product in one process: the authorization server, the demo MCP server,
//! and the gateway in front of it. `mcp-auth up` serves it on fixed ports; `mcp-auth
//! bench` starts it on ephemeral ports to measure it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use mcp_auth_resource::gateway::{RawDpopConfig, RawGatewayConfig};
use mcp_auth_server::{AuthorizationServer, Config, Overrides};

use crate::demo_server::{DemoConfig, demo_router};

/// The scope every request needs, and the one `write_note` needs on top.
pub(crate) const READ_SCOPE: &str = "mcp:read";
/// The scope of `write_note`.
pub(crate) const WRITE_SCOPE: &str = "mcp:write";
/// The confidential client for unbound (Bearer) tokens.
pub(crate) const BEARER_CLIENT: &str = "demo";
/// The confidential client whose tokens are bound to an HTTP message signature key.
pub(crate) const HTTPSIG_CLIENT: &str = "demo-httpsig";
/// The user who signs in at the AS (`mcp-auth login`); the password is the clients'
/// secret.
pub(crate) const DEMO_USER: &str = "demo";

/// Where each part listens and what it keeps.
#[derive(Debug, Clone)]
pub(crate) struct StackOptions {
    /// The AS data directory (SQLite file).
    pub(crate) data_dir: PathBuf,
    /// The AS listener.
    pub(crate) as_listen: String,
    /// The gateway listener.
    pub(crate) gateway_listen: String,
    /// The demo server listener.
    pub(crate) demo_listen: String,
    /// Accept unbound Bearer tokens at the gateway.
    pub(crate) allow_bearer: bool,
    /// Accept DPoP-bound tokens at the gateway.
    pub(crate) allow_dpop: bool,
    /// A Redis URL for the replay cache (memory when `None`).
    pub(crate) replay_cache: Option<String>,
    /// Where to serve Prometheus metrics (nowhere when `None`).
    pub(crate) metrics_listen: Option<String>,
    /// Start even when the data directory is readable by other local users.
    pub(crate) allow_insecure_permissions: bool,
    /// Where the demo enterprise identity provider listens (none when `None`).
    pub(crate) idp_listen: Option<String>,
}

/// The running stack.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The AS issuer (and base URL).
    pub(crate) issuer: String,
    /// The protected MCP endpoint (the resource identifier).
    pub(crate) resource: String,
    /// The demo server's endpoint, unprotected (loopback).
    pub(crate) upstream: String,
    /// The secret of both demo clients and the demo user's password, new at every
    /// start.
    pub(crate) client_secret: String,
    /// The gateway's router and listener, for the caller to serve (or wrap).
    pub(crate) gateway: (tokio::net::TcpListener, axum::Router),
    /// What the AS created at start (data directory, signing key).
    pub(crate) created: Vec<String>,
    /// The demo enterprise identity provider's issuer, when it runs.
    pub(crate) idp: Option<String>,
}

/// Starts the AS and the demo server (served in the background) and builds the
/// gateway (returned for the caller to serve), all on loopback.
pub(crate) async fn start(options: &StackOptions) -> anyhow::Result<Stack> {
    let demo = tokio::net::TcpListener::bind(&options.demo_listen)
        .await
        .with_context(|| format!("demo server: listening on {}", options.demo_listen))?;
    let upstream = format!("http://{}/mcp", demo.local_addr()?);
    let router = demo_router(DemoConfig {
        stateful: true,
        json_response: false,
        allowed_hosts: None,
    });
    tokio::spawn(async move {
        if let Err(e) = crate::observability::serve(demo, router).await {
            tracing::error!(error = %e, "the demo server stopped");
        }
    });

    let gateway_listener = tokio::net::TcpListener::bind(&options.gateway_listen)
        .await
        .with_context(|| format!("gateway: listening on {}", options.gateway_listen))?;
    let resource = format!("http://{}/mcp", gateway_listener.local_addr()?);

    let as_listener = tokio::net::TcpListener::bind(&options.as_listen)
        .await
        .with_context(|| format!("authorization server: listening on {}", options.as_listen))?;
    let as_addr: SocketAddr = as_listener.local_addr()?;
    let issuer = format!("http://{as_addr}");
    let client_secret = mcp_auth_core::random_token::<32>()?;
    let data_dir_existed = options.data_dir.exists();
    mcp_auth_server::private_files::create_private_dir(&options.data_dir)
        .with_context(|| format!("creating {}", options.data_dir.display()))?;
    let idp = match &options.idp_listen {
        Some(listen) => Some(
            crate::demo_idp::start(
                listen,
                &options.data_dir,
                &issuer,
                &resource,
                &client_secret,
                options.allow_insecure_permissions,
            )
            .await?,
        ),
        None => None,
    };
    let toml = format!(
        "{}{}{}",
        clients_toml(&client_secret),
        crate::demo_workload::trust_toml(&options.data_dir, &resource, READ_SCOPE)?,
        idp.as_ref()
            .map(|i| i.trust_toml(&resource, &client_secret))
            .unwrap_or_default()
    );
    let config = Config::from_sources(
        &toml,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(as_addr.to_string()),
            data_dir: Some(options.data_dir.clone()),
            resources: vec![(
                resource.clone(),
                vec![READ_SCOPE.into(), WRITE_SCOPE.into()],
            )],
            // A token request that names no scope gets read access, never write.
            default_scopes: vec![READ_SCOPE.into()],
            allow_insecure_permissions: options.allow_insecure_permissions,
            ..Overrides::default()
        },
    )
    .context("authorization server configuration")?;
    let server = AuthorizationServer::start(config)
        .await
        .context("starting the authorization server")?;
    let mut created = Vec::new();
    if server.report().created_data_dir || !data_dir_existed {
        created.push(format!(
            "created data directory {}",
            options.data_dir.display()
        ));
    }
    if server.report().created_signing_key {
        created.push("created a signing key".to_owned());
    }
    let password_hash = mcp_auth_server::password::hash_password(client_secret.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the demo user's password: {e}"))?;
    server
        .state()
        .store
        .set_user_password(DEMO_USER, &password_hash, server.state().clock.now())
        .await
        .context("adding the demo user")?;
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(as_listener, crate::observability::shutdown_signal())
            .await
        {
            tracing::error!(error = %e, "the authorization server stopped");
        }
    });

    if let Some(addr) = &options.metrics_listen {
        let bound = crate::observability::serve_metrics(addr).await?;
        created.push(format!("metrics at http://{bound}/metrics"));
    }
    let settings = RawGatewayConfig {
        upstream: Some(upstream.clone()),
        resource: Some(resource.clone()),
        issuers: vec![issuer.clone()],
        listen: Some(options.gateway_listen.clone()),
        allow_bearer: options.allow_bearer,
        replay_cache: options.replay_cache.clone(),
        scopes_supported: vec![READ_SCOPE.into(), WRITE_SCOPE.into()],
        scopes: toml::from_str(&format!(
            "required = [\"{READ_SCOPE}\"]\n[[rules]]\nmethod = \"tools/call\"\nname = \"write_*\"\nscopes = [\"{WRITE_SCOPE}\"]\n"
        ))
        .context("the demo scope policy")?,
        dpop: RawDpopConfig {
            enabled: options.allow_dpop,
            ..RawDpopConfig::default()
        },
        ..RawGatewayConfig::default()
    };
    let router = crate::gateway::build(settings).await?;
    Ok(Stack {
        issuer,
        resource,
        upstream,
        client_secret,
        gateway: (gateway_listener, router),
        created,
        idp: idp.map(|i| i.issuer),
    })
}

/// The two demo clients, both confidential with `secret`: one for Bearer tokens, one
/// whose tokens are bound to a runtime HTTP message signature key.
fn clients_toml(secret: &str) -> String {
    let digest = secret_sha256(secret);
    format!(
        r#"
[[clients]]
client_id = "{BEARER_CLIENT}"
client_name = "Demo client (Bearer)"
client_secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]

[[clients]]
client_id = "{HTTPSIG_CLIENT}"
client_name = "Demo client (HTTP message signatures)"
client_secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]
httpsig_key_binding_method = "runtime"
"#
    )
}

/// A client secret as `[[clients]]` takes it: `client_secret_sha256`, base64.
pub(crate) fn secret_sha256(secret: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(mcp_auth_server::client_auth::secret_digest(secret))
}
