//! Logs, metrics and shutdown, the same for every long-running subcommand.

use std::net::SocketAddr;

use anyhow::Context as _;

/// JSON log lines on stderr; `MCP_AUTH_LOG` sets the filter (default `info`).
pub(crate) fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_AUTH_LOG")
                .unwrap_or_else(|_| "info,tower_http=info,rmcp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Serves `router` on `listener` through the hardened listener every mcp-auth server
/// uses (`mcp_auth_core::listener`: header, idle and body timeouts, a connection cap,
/// `TCP_NODELAY`); `.await` it or call `.with_graceful_shutdown(signal)`.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> mcp_auth_core::listener::Serve<axum::Router> {
    mcp_auth_core::listener::serve(listener, router)
}

/// Serves `GET /metrics` (Prometheus text format) on its own listener at `addr`, so
/// that metrics are not reachable by MCP clients. Returns the bound address.
pub(crate) async fn serve_metrics(addr: &str) -> anyhow::Result<SocketAddr> {
    mcp_auth_server::observability::install();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics listener {addr}"))?;
    let bound = listener.local_addr()?;
    let router = mcp_auth_server::metrics_router();
    tokio::spawn(async move {
        if let Err(e) = serve(listener, router).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(bound)
}

/// Resolves on Ctrl-C or SIGTERM: the server stops accepting and lets requests in
/// flight finish.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
}
