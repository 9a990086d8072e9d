//! `mcp-auth gateway`: wiring for the resource-side check and the streaming proxy.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mcp_auth_resource::{
    AccessTokenCache, ResourceConfig, ResourceVerifier, Upstream, fetch_jwks, gateway_router,
};

use crate::cli::GatewayArgs;
use crate::output::print;

pub(crate) fn run(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_AUTH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let upstream: url::Url = args
        .upstream
        .parse()
        .with_context(|| format!("--upstream {}", args.upstream))?;
    let resource =
        url::Url::parse(&args.resource).with_context(|| format!("--resource {}", args.resource))?;
    if resource.fragment().is_some() || resource.query().is_some() {
        bail!(
            "--resource {}: a resource identifier has no query or fragment",
            args.resource
        );
    }
    let jwks = fetch_jwks(&reqwest::Client::new(), &args.issuer)
        .await
        .map_err(|e| anyhow::anyhow!("fetching the JWKS of --issuer {}: {e}", args.issuer))?;
    let replay: Arc<dyn mcp_auth_core::ReplayCache> = match &args.replay_cache {
        None => Arc::new(mcp_auth_core::MemoryReplayCache::new()),
        Some(url) => {
            let cache = mcp_auth_core::RedisReplayCache::connect(
                url,
                "mcp-auth:replay:",
                Duration::from_secs(2),
            )
            .with_context(|| format!("--replay-cache {url}"))?;
            cache
                .ping()
                .await
                .with_context(|| format!("--replay-cache {url}: Redis does not answer"))?;
            Arc::new(cache)
        }
    };
    let mut config = ResourceConfig::new(&args.resource, &args.issuer);
    config.httpsig_required = !args.allow_bearer;
    config.max_body = args.max_body;
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        AccessTokenCache::new(&args.issuer, &args.resource, &jwks),
        replay,
    ));
    let metadata = verifier.metadata_url().to_owned();
    let proxy = Arc::new(Upstream::new(
        upstream,
        Duration::from_secs(args.upstream_timeout),
        args.forward_token,
    ));
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    print(&format!(
        "mcp-auth gateway\n  listening: http://{}\n  resource:  {}\n  upstream:  {}\n  issuer:    {}\n  metadata:  {metadata}\n",
        listener.local_addr()?,
        args.resource,
        args.upstream,
        args.issuer
    ))?;
    axum::serve(listener, gateway_router(verifier, proxy))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}
