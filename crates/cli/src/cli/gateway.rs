//! The options of `mcp-auth gateway`.

use std::path::PathBuf;

use clap::Args;

use super::DrainArgs;
use mcp_auth_core::redact::MaskedUrl;

/// `mcp-auth gateway`.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// A TOML file with any of the settings below plus the scope policy
    /// (`[scopes]`); flags override it. See docs/gateway.md.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The MCP endpoint to protect, e.g. http://127.0.0.1:3000/mcp.
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<MaskedUrl>,
    /// The public URL clients use for the protected endpoint (the token audience and
    /// the `@target-uri` signatures cover), e.g. https://mcp.example.com/mcp.
    #[arg(long, value_name = "URL")]
    pub(crate) resource: Option<String>,
    /// An authorization server whose tokens are accepted; repeat for several (the
    /// first is listed first in the metadata). Its keys come from its RFC 8414 or
    /// OpenID metadata at start and are fetched again when a token names a new key.
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Vec<String>,
    /// Where to listen [default: 127.0.0.1:8090].
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (a separate listener, so
    /// metrics are not exposed to MCP clients).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<String>,
    /// Also accept unbound Bearer tokens (bound tokens are never accepted as Bearer).
    #[arg(long)]
    pub(crate) allow_bearer: bool,
    /// Share the nonce replay cache and the session bindings (which principal owns
    /// each Mcp-Session-Id) through Redis (several gateway instances).
    #[arg(long, value_name = "redis://...")]
    pub(crate) replay_cache: Option<MaskedUrl>,
    /// Forward the client's Authorization header upstream (off: the upstream gets the
    /// verified identity only).
    #[arg(long)]
    pub(crate) forward_token: bool,
    /// The largest request body accepted, in bytes [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_body: Option<usize>,
    /// Seconds to wait for the upstream's response head (then 504) [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) upstream_timeout: Option<u64>,
    /// Seconds between two reads of each issuer's JWKS in the background (a key the
    /// issuer stopped publishing is refused from the next read on) [default: 300;
    /// sooner when the issuer's Cache-Control max-age is shorter].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) jwks_refresh: Option<u64>,
    /// Also accept DPoP-bound tokens (RFC 9449): `Authorization: DPoP` with a proof
    /// whose `jti` is remembered like signature nonces. Bound tokens still need
    /// their proof.
    #[arg(long)]
    pub(crate) dpop: bool,
    /// Accept DPoP and require a server nonce in every proof (implies --dpop). Set
    /// MCP_AUTH_DPOP_NONCE_SECRET (32+ bytes) to the same value on every instance.
    #[arg(long)]
    pub(crate) dpop_nonce: bool,
    #[command(flatten)]
    pub(crate) drain: DrainArgs,
}
