//! The options of `mcp-auth bench soak`: a long HTTPSig run spread over gateway
//! processes that share a replay cache, watching errors, memory and the cache.

use clap::Args;
use mcp_auth_core::redact::{MaskedUrl, Secret};

/// `mcp-auth bench soak`.
#[derive(Debug, Args)]
pub(crate) struct BenchSoakArgs {
    /// A gateway's MCP endpoint, e.g. http://127.0.0.1:8090/mcp; repeat for each.
    /// Requests go to them in turn (round-robin).
    #[arg(long = "gateway", value_name = "URL", required = true)]
    pub(crate) gateways: Vec<String>,
    /// The resource identifier the gateways serve (the token audience and the
    /// `@target-uri` every signature covers), as behind one load balancer
    /// [default: the first --gateway].
    #[arg(long, value_name = "URL")]
    pub(crate) resource: Option<String>,
    /// The authorization server (issuer) that issues the tokens; its token endpoint
    /// comes from its RFC 8414 metadata.
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: String,
    /// A confidential client whose tokens are bound to an HTTP message signature key
    /// of the runtime kind (`httpsig_key_binding_method = "runtime"`).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: String,
    /// Its secret (default: the MCP_AUTH_CLIENT_SECRET environment variable, which
    /// keeps it out of the process list).
    #[arg(long, value_name = "SECRET")]
    pub(crate) client_secret: Option<Secret<String>>,
    /// The scope to ask for (default: none named, the AS's default for the resource).
    #[arg(long, value_name = "SCOPE")]
    pub(crate) scope: Option<String>,
    /// Requests in all, the warm-up included.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub(crate) requests: usize,
    /// Requests before the memory baseline is taken (at most a tenth of --requests).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub(crate) warmup: usize,
    /// Requests in flight at all times.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub(crate) concurrency: usize,
    /// The process id of each gateway, in the order of --gateway: its resident memory
    /// (/proc/PID/status VmRSS) is read after the warm-up and every tenth of the run.
    #[arg(long = "pid", value_name = "PID")]
    pub(crate) pids: Vec<u32>,
    /// Each gateway's Prometheus endpoint (its --metrics-listen, with /metrics), in
    /// the order of --gateway: the requests each accepted are read from it at the end.
    #[arg(long = "metrics", value_name = "URL")]
    pub(crate) metrics: Vec<String>,
    /// The Redis the gateways share (redis://HOST:PORT, no password): its DBSIZE is
    /// read with each memory sample, and at the end must be what the replay window
    /// explains, not what the run's length would.
    #[arg(long, value_name = "redis://...")]
    pub(crate) redis: Option<MaskedUrl>,
    /// The most a gateway's resident memory may grow from the warm-up to the end, in
    /// percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 10.0)]
    pub(crate) max_growth: f64,
    /// Print the summary as one JSON object instead of tables (no progress).
    #[arg(long)]
    pub(crate) json: bool,
}
