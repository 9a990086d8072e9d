//! The drain options of the servers behind a load balancer (`mcp-auth as`,
//! `mcp-auth gateway`): `[listener] drain_delay` and `shutdown_timeout` of their
//! files, from the command line.

use clap::Args;

/// How the server stops on SIGTERM or Ctrl-C (a second signal stops at once).
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct DrainArgs {
    /// Seconds the server keeps serving new requests after SIGTERM while /readyz
    /// answers 503, so that the load balancer takes it out first; 0 stops accepting at
    /// once. Also MCP_AUTH_DRAIN_DELAY or `[listener] drain_delay` [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) drain_delay: Option<u64>,
    /// Seconds the requests in flight (streamed answers included) then get to finish
    /// before their connections are cut and the process exits 0. Also
    /// MCP_AUTH_SHUTDOWN_TIMEOUT or `[listener] shutdown_timeout` [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) shutdown_timeout: Option<u64>,
}
