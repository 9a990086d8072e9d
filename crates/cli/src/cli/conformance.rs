//! The options of `mcp-auth conformance`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mcp_auth_core::redact::Secret;

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
    #[command(verbatim_doc_comment)]
    Server(ConformanceServerArgs),
    /// Check an OAuth authorization server against MCP's requirements, from outside.
    ///
    /// Each check is named by the requirement it checks (profiles/base.md,
    /// `BASE-AS-n`) and prints PASS, FAIL or SKIP with one line of evidence. The
    /// checker reads the metadata at every well-known location of --issuer, sends
    /// authorization requests as a public client (--public-client-id with its
    /// --redirect-uri, else one it registers when the AS offers dynamic
    /// registration) and token requests that must be refused; with a confidential
    /// client (--client-id and --client-secret-env) it also obtains a token by the
    /// client credentials grant and checks the response and the token's claims. The
    /// checks that need a user to sign in are skipped, saying so.
    ///
    /// The AS is not trusted: no redirect is followed, every request times out, and
    /// the client secret goes only to the metadata's token_endpoint when it is on
    /// the issuer's origin, or to --token-endpoint. Tokens and secrets are never
    /// printed. Exit codes: 0 every applicable check passed, 1 a check failed, 2 the
    /// checks could not run.
    ///
    /// Examples:
    ///   mcp-auth conformance as --issuer https://auth.example.com
    ///   MCP_AS_SECRET=... mcp-auth conformance as --issuer https://auth.example.com \
    ///     --client-id checker --client-secret-env MCP_AS_SECRET \
    ///     --resource https://mcp.example.com/mcp --resource https://other.example.com/mcp
    ///   mcp-auth conformance as --issuer https://auth.example.com/tenant \
    ///     --public-client-id my-app --redirect-uri http://127.0.0.1:8976/callback --json
    ///   mcp-auth conformance as --profile wif --issuer https://auth.example.com \
    ///     --resource https://mcp.example.com/mcp --workload-key platform.pem \
    ///     --workload-listen 127.0.0.1:9600 --workload-issuer https://wif-test.example.com \
    ///     --workload-subject conformance-workload
    ///
    /// With --profile wif the checker is a workload platform the AS trusts (see
    /// --workload-subject for the AS's configuration): it mints assertions, valid
    /// and broken, and sends them with the jwt-bearer grant and no client
    /// authentication (profiles/workload-identity-federation.md, WIF-AS-n).
    #[command(verbatim_doc_comment)]
    As(ConformanceAsArgs),
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
    /// Given, it also says the probe operation needs a scope, so that a token
    /// without one must be refused (BASE-RS-17 fails instead of skipping).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// The protocol revision of the requests: 2025-11-25 (initialize) or
    /// 2026-07-28 (stateless tools/list).
    #[arg(long, value_name = "VERSION", default_value = "2025-11-25",
          value_parser = ["2025-11-25", "2026-07-28"])]
    pub(crate) protocol_version: String,
    /// Where valid tokens come from without --issuer-key.
    #[command(
        flatten,
        next_help_heading = "Tokens from the server's own AS (without --issuer-key)"
    )]
    pub(crate) tokens: Box<TokenSourceArgs>,
    /// How the results are given.
    #[command(flatten)]
    pub(crate) output: ResultsArgs,
}

/// Tokens the server's own authorization server issues, for a server whose
/// trusted issuers the checker cannot join: they serve the checks that need an
/// accepted token as it is (BASE-RS-4, -15, -16, -20, -24, -27 to -31) and the
/// changes that need no key (a broken signature, alg none); the other token checks
/// are skipped, saying they need --issuer-key.
#[derive(Debug, Args)]
pub(crate) struct TokenSourceArgs {
    /// A command (run by sh -c) that prints an access token for the endpoint, for
    /// an AS the checker cannot drive. It gets the endpoint in MCP_RESOURCE and the
    /// scope in MCP_SCOPE, and 30 s.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["issuer_key", "as_issuer"])]
    pub(crate) token_command: Option<Secret<String>>,
    /// The server's authorization server: a token by the client credentials grant
    /// of --client-id, the secret sent only to a token endpoint on this issuer's
    /// origin.
    #[arg(
        long,
        value_name = "URL",
        requires = "client_id",
        conflicts_with = "issuer_key"
    )]
    pub(crate) as_issuer: Option<String>,
    /// The confidential client at --as-issuer.
    #[arg(long, value_name = "ID", requires_all = ["as_issuer", "client_secret_env"])]
    pub(crate) client_id: Option<String>,
    /// The environment variable holding the client's secret.
    #[arg(long, value_name = "VAR", requires = "client_id")]
    pub(crate) client_secret_env: Option<String>,
    /// How the secret is presented: basic (client_secret_basic) or post.
    #[arg(long, value_name = "METHOD", default_value = "basic")]
    pub(crate) client_auth: SecretMethodArg,
}

/// The results options every `conformance` check command shares.
#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
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

/// `mcp-auth conformance as`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceAsArgs {
    /// The issuer identifier of the authorization server under test, exactly as
    /// MCP clients learn it (the authorization_servers entry of the resource's
    /// metadata): the metadata must name it byte for byte.
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: String,
    /// Which requirements to check: base (profiles/base.md, BASE-AS-n), httpsig
    /// (HTTPSIG-AS-n: signed token requests, bound tokens), dpop (DPOP-AS-n) or
    /// wif (WIF-AS-n: workload assertions, with --workload-key).
    #[arg(long, value_name = "PROFILE", default_value = "base")]
    pub(crate) profile: AsProfileArg,
    /// A confidential client allowed the client_credentials grant, for the checks
    /// of a successful token response and of the tokens (BASE-AS-15, -24, -25).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The client's secret. Prefer --client-secret-env: a command line is visible
    /// to other users of the machine.
    #[arg(
        long,
        value_name = "SECRET",
        requires = "client_id",
        conflicts_with = "client_secret_env"
    )]
    pub(crate) client_secret: Option<Secret<String>>,
    /// The environment variable holding the client's secret.
    #[arg(long, value_name = "VAR", requires = "client_id")]
    pub(crate) client_secret_env: Option<String>,
    /// How the secret is presented: basic (client_secret_basic) or post
    /// (client_secret_post).
    #[arg(long, value_name = "METHOD", default_value = "basic")]
    pub(crate) client_auth: SecretMethodArg,
    /// The token endpoint the secret may be sent to when the metadata's is not on
    /// the issuer's origin (by default the secret goes only to that origin).
    #[arg(long, value_name = "URL")]
    pub(crate) token_endpoint: Option<String>,
    /// A registered public client, for the authorization and token endpoint
    /// checks (default: one the checker registers, when the AS offers registration).
    #[arg(long, value_name = "ID", requires = "redirect_uri")]
    pub(crate) public_client_id: Option<String>,
    /// The redirect URI registered for --public-client-id, exactly as registered.
    #[arg(long, value_name = "URI", requires = "public_client_id")]
    pub(crate) redirect_uri: Option<String>,
    /// Do not register a client (RFC 7591): without --public-client-id, the checks
    /// that need a public client are skipped.
    #[arg(long)]
    pub(crate) no_register: bool,
    /// A resource (RFC 8707) the AS issues tokens for, sent with every request;
    /// repeat it: two let BASE-AS-25 compare their audiences.
    #[arg(long, value_name = "URL")]
    pub(crate) resource: Vec<String>,
    /// Where to serve the checker's Client ID Metadata Documents (BASE-AS-21,
    /// -22), with --client-documents-url.
    #[arg(long, value_name = "ADDR", requires = "client_documents_url")]
    pub(crate) client_documents_listen: Option<String>,
    /// The URL at which the AS reaches --client-documents-listen (an https URL of a
    /// tunnel or reverse proxy to it; no trailing slash).
    #[arg(long, value_name = "URL", requires = "client_documents_listen")]
    pub(crate) client_documents_url: Option<String>,
    /// The MCP revision whose requirements apply: 2025-11-25 or 2026-07-28
    /// (BASE-AS-19 applies from 2026-07-28).
    #[arg(long, value_name = "VERSION", default_value = "2025-11-25",
          value_parser = ["2025-11-25", "2026-07-28"])]
    pub(crate) protocol_version: String,
    /// The workload platform the checker plays for --profile wif.
    #[command(flatten, next_help_heading = "Workload platform (--profile wif)")]
    pub(crate) workload: Box<WorkloadArgs>,
    /// The enterprise IdP the checker plays for --profile ema, and the IdP under
    /// test for --profile ema-idp.
    #[command(flatten, next_help_heading = "Enterprise IdP (--profile ema, ema-idp)")]
    pub(crate) enterprise: Box<EnterpriseArgs>,
    /// How the results are given.
    #[command(flatten)]
    pub(crate) output: ResultsArgs,
}

/// `--profile` of `conformance as`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum AsProfileArg {
    /// The base requirements.
    Base,
    /// http-message-signatures.
    Httpsig,
    /// dpop.
    Dpop,
    /// workload-identity-federation: the jwt-bearer grant with workload
    /// assertions the checker mints (--workload-key).
    Wif,
    /// enterprise-managed-authorization, the MCP AS: ID-JAGs the checker mints as
    /// an IdP the AS trusts (--idp-key), redeemed by --client-id.
    Ema,
    /// enterprise-managed-authorization, the IdP (--issuer): its metadata and the
    /// refusals of its token exchange that need no user sign-in (--audience).
    EmaIdp,
}

impl AsProfileArg {
    /// The name as written on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Httpsig => "httpsig",
            Self::Dpop => "dpop",
            Self::Wif => "wif",
            Self::Ema => "ema",
            Self::EmaIdp => "ema-idp",
        }
    }

    /// The check list of an [`AsTarget`](mcp_auth_conformance::authorization_server::AsTarget),
    /// or `None` for the enterprise profiles, whose targets carry an IdP.
    pub(crate) fn as_profile(
        self,
    ) -> Option<mcp_auth_conformance::authorization_server::AsProfile> {
        use mcp_auth_conformance::authorization_server::AsProfile;
        match self {
            Self::Base => Some(AsProfile::Base),
            Self::Httpsig => Some(AsProfile::Httpsig),
            Self::Dpop => Some(AsProfile::Dpop),
            Self::Wif => Some(AsProfile::Wif),
            Self::Ema | Self::EmaIdp => None,
        }
    }
}

/// The enterprise side of `conformance as --profile ema` (the checker as an IdP the
/// AS trusts, a `[[id_jag_issuers]]` entry of `mcp-auth as`) and `--profile ema-idp`
/// (an IdP under test).
#[derive(Debug, Args)]
pub(crate) struct EnterpriseArgs {
    /// The IdP's signing key (PKCS#8 PEM: RSA, P-256 or Ed25519), for --profile ema.
    /// The AS must trust its public key under --idp-issuer: served with
    /// --idp-listen, or published by you (`mcp-auth conformance issuer`).
    #[arg(long, value_name = "FILE")]
    pub(crate) idp_key: Option<PathBuf>,
    /// The IdP's issuer (the ID-JAGs' iss), exactly as the AS's trust entry names it
    /// (default: http://<--idp-listen address>).
    #[arg(long, value_name = "URL", requires = "idp_key")]
    pub(crate) idp_issuer: Option<String>,
    /// Serve the IdP's discovery document and JWK Set here while the checks run;
    /// the checker then also sees what the AS fetches (EMA-AS-5, -6, -7).
    #[arg(long, value_name = "ADDR", requires = "idp_key")]
    pub(crate) idp_listen: Option<String>,
    /// The user's subject identifier the ID-JAGs carry.
    #[arg(long, value_name = "SUB", default_value = "conformance-user")]
    pub(crate) idp_subject: String,
    /// A scope the resource defines and the client may have; repeat it (two let the
    /// checker grant one and ask for another).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// A resource configured at the AS but not in the trust entry's resources.
    #[arg(long, value_name = "URL")]
    pub(crate) other_resource: Option<String>,
    /// A confidential client of the AS without the jwt-bearer grant (for
    /// unauthorized_client), its secret in --other-client-secret-env.
    #[arg(long, value_name = "ID", requires = "other_client_secret_env")]
    pub(crate) other_client_id: Option<String>,
    /// The environment variable holding --other-client-id's secret.
    #[arg(long, value_name = "VAR", requires = "other_client_id")]
    pub(crate) other_client_secret_env: Option<String>,
    /// The trust entry's id (the prefix of the principal, EMA-AS-16).
    #[arg(long, value_name = "ID")]
    pub(crate) entry_id: Option<String>,
    /// The trust entry's access_token_ttl, in seconds (EMA-AS-17).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) access_token_ttl: Option<i64>,
    /// For --profile ema-idp: the MCP AS issuer the exchanges ask for (audience).
    #[arg(long, value_name = "URL")]
    pub(crate) audience: Option<String>,
}

/// `--client-auth` of `conformance as`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SecretMethodArg {
    /// client_secret_basic: HTTP Basic.
    Basic,
    /// client_secret_post: in the form.
    Post,
}

impl From<SecretMethodArg> for mcp_auth_conformance::authorization_server::SecretMethod {
    fn from(m: SecretMethodArg) -> Self {
        match m {
            SecretMethodArg::Basic => Self::Basic,
            SecretMethodArg::Post => Self::Post,
        }
    }
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

/// The workload platform of `conformance as --profile wif`: an issuer the AS
/// under test trusts (a `[[workload_issuers]]` entry of `mcp-auth as`), whose
/// assertions the checker signs with --workload-key.
#[derive(Debug, Args)]
pub(crate) struct WorkloadArgs {
    /// The platform's signing key (PKCS#8 PEM: RSA, P-256 or Ed25519; RS256,
    /// ES256 or EdDSA). Without it the wif checks are skipped. The AS must trust
    /// its public key under --workload-issuer: served by the checker with
    /// --workload-listen, or published by you (`mcp-auth conformance issuer
    /// --issuer-key FILE` serves the same discovery document and JWK Set).
    #[arg(long, value_name = "FILE", requires = "workload_subject")]
    pub(crate) workload_key: Option<PathBuf>,
    /// The platform's issuer (the assertions' iss), exactly as the AS's trust
    /// entry names it (default: http://<--workload-listen address>).
    #[arg(long, value_name = "URL", requires = "workload_key")]
    pub(crate) workload_issuer: Option<String>,
    /// Serve the platform's OpenID Connect discovery document and JWK Set here
    /// while the checks run (at the root of --workload-issuer; behind a tunnel or
    /// reverse proxy for a remote AS). The checker then also sees what the AS
    /// fetches: WIF-AS-6 and -8 check that it fetches nothing an assertion names,
    /// WIF-AS-13 counts its key-set fetches, WIF-AS-12 sends an assertion without kid.
    #[arg(long, value_name = "ADDR", requires = "workload_key")]
    pub(crate) workload_listen: Option<String>,
    /// A subject (sub) the AS's workload rule for this issuer accepts, with
    /// --workload-claims, for --resource (the positive control). An AS trusting
    /// the checker on loopback, in mcp-auth as's configuration:
    ///
    ///   [danger]
    ///   allow_http_loopback_fetches = true   # only for an issuer on loopback
    ///
    ///   [[workload_issuers]]
    ///   id = "conformance"
    ///   issuer = "http://127.0.0.1:9600"     # --workload-issuer
    ///   discovery = true
    ///
    ///   [[workload_issuers.rules]]
    ///   when = 'claims.sub == "conformance-workload"'   # --workload-subject
    ///   principal = "conformance"
    ///   resources = ["https://mcp.example.com/mcp"]     # --resource
    ///   scopes = ["mcp:read"]
    #[arg(
        long,
        value_name = "SUB",
        requires = "workload_key",
        verbatim_doc_comment
    )]
    pub(crate) workload_subject: Option<String>,
    /// Other claims the rule reads, as a JSON object added to every valid
    /// assertion (for example '{"kubernetes.io":{"namespace":"mcp-agents"}}').
    #[arg(long, value_name = "JSON", requires = "workload_key")]
    pub(crate) workload_claims: Option<String>,
    /// The trust entry's clock_skew, in seconds (the time probes go a minute
    /// beyond it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(i64).range(0..=300))]
    pub(crate) workload_clock_skew: i64,
    /// The trust entry's max_assertion_lifetime, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3660,
          value_parser = clap::value_parser!(i64).range(60..=86400))]
    pub(crate) workload_max_lifetime: i64,
}
