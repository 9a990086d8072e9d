//! The options of `mcp-auth conformance`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `mcp-auth conformance`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConformanceCommand {
    /// Check an MCP server's (or gateway's) authorization from outside.
    ///
    /// Each check is named by the requirement it checks (profiles/base.md,
    /// `BASE-RS-n`) and prints PASS, FAIL or SKIP with one line of evidence. With
    /// --issuer-key the checker mints its own tokens as --issuer, valid and broken
    /// (another audience, expired, alg none, HS256 keyed with the public key, an
    /// unknown kid, ...): configure the server to trust that issuer, for example the
    /// one `mcp-auth conformance issuer` serves. Exit codes: 0 every applicable check
    /// passed, 1 a check failed, 2 the checks could not run.
    ///
    /// Examples:
    ///   mcp-auth conformance issuer --issuer-key checker.pem --listen 127.0.0.1:9500
    ///   mcp-auth conformance server --url http://127.0.0.1:8090/mcp \
    ///     --issuer http://127.0.0.1:9500 --issuer-key checker.pem
    Server(ConformanceServerArgs),
    /// Serve the issuer whose tokens `conformance server --issuer-key` mints: RFC
    /// 8414 metadata and a JWKS with the key's public part, nothing else. Point the
    /// server under test's trusted issuers at the URL it prints.
    Issuer(ConformanceIssuerArgs),
}

/// `mcp-auth conformance server`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceServerArgs {
    /// The MCP endpoint under test.
    #[arg(long, value_name = "URL")]
    pub(crate) url: String,
    /// Which requirements to check: bearer (profiles/base.md, BASE-RS-n), httpsig
    /// (HTTPSIG-RS-n), dpop (DPOP-RS-n), or all of them.
    #[arg(long, value_name = "PROFILE", default_value = "bearer")]
    pub(crate) profile: ServerProfileArg,
    /// The issuer the minted tokens name (the server must trust it).
    #[arg(long, value_name = "URL", requires = "issuer_key")]
    pub(crate) issuer: Option<String>,
    /// The private key (PKCS#8 PEM: Ed25519, P-256 or RSA) the minted tokens are
    /// signed with. Without it the token checks are skipped.
    #[arg(long, value_name = "FILE", requires = "issuer")]
    pub(crate) issuer_key: Option<PathBuf>,
    /// The scope of a valid token (default: the metadata's scopes_supported).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// The protocol revision of the requests: 2025-11-25 (initialize) or
    /// 2026-07-28 (stateless tools/list).
    #[arg(long, value_name = "VERSION", default_value = "2025-11-25",
          value_parser = ["2025-11-25", "2026-07-28"])]
    pub(crate) protocol_version: String,
    /// Only these checks (requirement identifiers, comma-separated).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub(crate) only: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
}

/// `--profile` of `conformance server`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ServerProfileArg {
    /// The base requirements with Bearer tokens.
    Bearer,
    /// http-message-signatures.
    Httpsig,
    /// dpop.
    Dpop,
    /// All of them.
    All,
}

impl ServerProfileArg {
    /// The name as written on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Httpsig => "httpsig",
            Self::Dpop => "dpop",
            Self::All => "all",
        }
    }
}

impl From<ServerProfileArg> for mcp_auth_conformance::ServerProfile {
    fn from(p: ServerProfileArg) -> Self {
        match p {
            ServerProfileArg::Bearer => Self::Bearer,
            ServerProfileArg::Httpsig => Self::Httpsig,
            ServerProfileArg::Dpop => Self::Dpop,
            ServerProfileArg::All => Self::All,
        }
    }
}

/// `mcp-auth conformance issuer`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceIssuerArgs {
    /// The private key (PKCS#8 PEM) whose public part is published.
    #[arg(long, value_name = "FILE")]
    pub(crate) issuer_key: PathBuf,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9500")]
    pub(crate) listen: String,
    /// The issuer identifier (default: http://<listen address>).
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Option<String>,
}
