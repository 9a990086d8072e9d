//! Command-line definitions. Help text comes from these doc comments: the first line is
//! the short help, the rest the long help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_auth_core::redact::MaskedUrl;

mod authorization_server;
mod bench;
mod client;
mod conformance;
mod gateway;
mod login;
mod shutdown;

pub(crate) use authorization_server::{AsArgs, AsCommand, AsCommon, ClientCommand, UserCommand};
pub(crate) use bench::BenchSoakArgs;
pub(crate) use client::{ClientArgs, IdpClientArgs, TokenCacheArgs};
pub(crate) use conformance::{
    AsProfileArg, ConformanceAsArgs, ConformanceCommand, ConformanceIssuerArgs,
    ConformanceServerArgs, TokenSourceArgs,
};
pub(crate) use gateway::GatewayArgs;
pub(crate) use login::LoginArgs;
pub(crate) use shutdown::DrainArgs;

/// mcp-auth: proof-of-possession and federated identity for the Model Context Protocol.
///
/// Exit codes: 0 success (for `sig verify`: every checked signature is valid), 1 a
/// signature did not verify, 2 a usage, input or I/O error.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-auth",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start everything in one process: authorization server, gateway, demo MCP server.
    ///
    /// On embedded defaults: the AS keeps its SQLite file and signing key in
    /// --data-dir, nonces are remembered in memory. The gateway protects the demo
    /// server's tools (mcp:read for every call, mcp:write for write_note) and accepts
    /// HTTPSig-bound tokens and, unless --httpsig-only, Bearer tokens. Two clients
    /// exist, `demo` (Bearer) and `demo-httpsig` (bound), with a secret printed at
    /// start (new every time). Prints the URLs and a command to try it.
    Up(UpArgs),
    /// HTTP Message Signatures (RFC 9421): show a signature base, sign, verify.
    ///
    /// Messages are HTTP/1.1 text, as in the RFC examples: a request or status line,
    /// header lines, an empty line, the body. LF or CRLF line ends, RFC 8792 `\` line
    /// wrapping (with its NOTE line) and obsolete line folding are accepted. A file name of
    /// `-` (the default) reads standard input.
    #[command(subcommand)]
    Sig(Box<SigCommand>),
    /// Generate a key pair for HTTP message signatures.
    ///
    /// Without --out, prints the private and public JWK (or PEM) to standard output.
    /// With --out PREFIX, writes PREFIX.private.{jwk,pem} (mode 0600) and
    /// PREFIX.public.{jwk,pem} and prints their paths and the key's RFC 7638
    /// thumbprint. Existing files are never overwritten: the command fails instead.
    Keygen(KeygenArgs),
    /// Run the authorization server, or manage it (clients, keys).
    ///
    /// With no subcommand, serves: on first start it creates the data directory, the
    /// SQLite database and a signing key, and prints the issuer URL and what it created.
    /// Configuration: --config FILE (TOML, see the mcp-auth-server docs), then
    /// MCP_AUTH_* environment variables, then these flags. Serves /healthz and /readyz;
    /// on SIGTERM or Ctrl-C it drains like the gateway (--drain-delay,
    /// --shutdown-timeout).
    As(Box<AsArgs>),
    /// Protect a Streamable HTTP MCP server: verify every request, then forward it.
    ///
    /// A reverse proxy in front of --upstream that verifies each request (the
    /// http-message-signatures profile: `Authorization: HTTPSig`, the signature over
    /// the JSON-RPC operation, Content-Digest, nonce replay; or Bearer tokens with
    /// --allow-bearer) against the access tokens of --issuer for --resource, then
    /// forwards it with the verified identity in X-MCP-Auth-Subject, -Client-Id,
    /// -Scope, -Profile and -Key-Thumbprint, without the client's token. Responses,
    /// SSE streams included, are passed through as they arrive. A scope policy in
    /// --config refuses operations the token's scopes do not cover (403
    /// insufficient_scope). Serves RFC 9728 metadata at
    /// /.well-known/oauth-protected-resource{path}, /healthz and /readyz. On SIGTERM or
    /// Ctrl-C it drains: /readyz answers 503 at once, new requests are still served
    /// for --drain-delay, then requests in flight get --shutdown-timeout before their
    /// connections are cut; a second signal stops at once. Logs are JSON lines on
    /// stderr (MCP_AUTH_LOG sets the filter, e.g. debug).
    Gateway(GatewayArgs),
    /// Run the demo MCP server (Streamable HTTP, no auth of its own).
    ///
    /// Tools: echo, add, slow (sends notifications/progress per step when the call
    /// has _meta.progressToken), write_note (protect it with a write scope at the
    /// gateway), whoami (the identity the gateway forwarded). Serves protocol
    /// 2025-11-25 with sessions (initialize, Mcp-Session-Id, GET SSE, DELETE) and
    /// stateless 2026-07-28 requests. Meant to sit behind `mcp-auth gateway`; it
    /// trusts the X-MCP-Auth-* headers it receives, so listen on loopback only.
    DemoServer(DemoServerArgs),
    /// Print a platform token of the demo workload issuer of `mcp-auth up` (shaped
    /// like a Kubernetes service-account token), to try the workload grant:
    /// `mcp-auth call URL ... --workload-token FILE` with no client registration.
    DemoWorkloadToken(DemoWorkloadTokenArgs),
    /// Call an MCP server: one request, authorized as the server asks.
    ///
    /// Sends a stateless (2026-07-28) request. On 401 it discovers the authorization
    /// server from the challenge (RFC 9728 metadata, then RFC 8414), refreshes the
    /// token `mcp-auth login` kept or gets a client_credentials token (or, with
    /// --workload-token, a token for the workload's platform JWT; with --id-token, a
    /// token for the signed-in user, through an ID-JAG of the enterprise identity
    /// provider) for the resource the metadata names, and retries; on
    /// 403 insufficient_scope it asks for the union of scopes (twice at most). With
    /// --httpsig the token is bound to a new Ed25519 key and every request signed.
    /// Prints tool lists and tool results readably; --json prints the JSON-RPC
    /// messages. Exit codes: 0 success, 1 an error result, 2 a failure (the message
    /// says what the server said). A --client-id's credentials go only to --issuer,
    /// or to the issuer first used and pinned in the token cache.
    ///
    /// Examples:
    ///   mcp-auth call http://127.0.0.1:8090/mcp tools/list --client-id demo
    ///   mcp-auth call http://127.0.0.1:8090/mcp tools/call echo --arg text=hi --client-id demo
    ///   mcp-auth call https://mcp.example.com/mcp tools/list --workload-token /var/run/secrets/mcp/token
    ///   mcp-auth call https://mcp.example.com/mcp tools/call whoami --id-token id_token.jwt --idp-client-id desktop-agent --client-id acme-agent
    Call(CallArgs),
    /// Check an MCP server's or gateway's authorization from outside, requirement by
    /// requirement (see docs/conformance.md).
    #[command(subcommand)]
    Conformance(ConformanceCommand),
    /// Sign in for an MCP server in the browser and keep the token.
    ///
    /// Discovers the server's authorization server (RFC 9728, RFC 8414), registers
    /// where it must (--client-id, else --client-metadata-url where accepted, else
    /// dynamic registration as a native app), opens the authorization URL in the
    /// browser (and prints it; --no-browser only prints it) and receives the answer on
    /// a loopback listener on a port the system picks (RFC 8252 §7.3), with PKCE
    /// S256. The token and its refresh token go to the token cache, where `call`,
    /// `token` and `bridge` find them: an expired token is refreshed without the
    /// browser.
    ///
    /// With --idp URL --idp-client-id ID instead of SERVER, signs the user in at an
    /// enterprise identity provider with OpenID Connect
    /// (profiles/enterprise-managed-authorization.md §7.1): the IdP's metadata
    /// (its OpenID configuration, else RFC 8414 on 404, naming exactly that
    /// issuer), the authorization-code flow in the browser with PKCE S256, scope
    /// openid, a nonce and no resource; the ID token is validated (signature with
    /// a key of the IdP's jwks_uri, iss, aud, azp, exp, iat, nonce) and kept in the
    /// token cache with the IdP's refresh token, for the IdP and IdP client. `call`,
    /// `token` and `bridge` with --idp-client-id and --client-id and no --id-token
    /// then exchange that ID token for an ID-JAG, refreshing it with the refresh
    /// token when it expires within 60 s. Neither token is ever printed.
    ///
    /// Examples:
    ///   mcp-auth login http://127.0.0.1:8090/mcp
    ///   mcp-auth call http://127.0.0.1:8090/mcp tools/list
    ///   mcp-auth login --idp https://idp.acme.example --idp-client-id desktop-agent
    ///   mcp-auth call https://mcp.example.com/mcp tools/call whoami --idp-client-id desktop-agent --client-id acme-agent
    Login(LoginArgs),
    /// Get an access token for an MCP server and print it.
    ///
    /// Discovers the server's authorization server from its RFC 9728 metadata and runs
    /// the grant the flags choose (as `mcp-auth call` does); prints the token, or with
    /// --json the token, its scopes, expiry and issuer. With --token-cache it is also
    /// kept for later `call`s. With --httpsig the token is bound to a key that is not
    /// kept, so it cannot be used: this is for seeing what the AS issues.
    ///
    /// Examples:
    ///   TOKEN=$(mcp-auth token http://127.0.0.1:8090/mcp --client-id demo --scope mcp:read)
    ///   TOKEN=$(mcp-auth token https://mcp.example.com/mcp --workload-token "$RUNNER_TEMP/mcp-token")
    ///   TOKEN=$(mcp-auth token https://mcp.example.com/mcp --id-token id_token.jwt --idp-client-id desktop-agent --client-id acme-agent)
    Token(TokenArgs),
    /// Bridge a stdio MCP client to a Streamable HTTP server, authorizing for it.
    ///
    /// Reads JSON-RPC messages, one per line, on standard input and sends each to
    /// SERVER as the client wrote it; writes every message the server answers with
    /// (progress notifications as they arrive, then the response) to standard output,
    /// one per line. Sessions are kept (the session id from initialize is sent on
    /// every later request). Authorization is that of `mcp-auth call`: discovery from
    /// the 401, tokens (--workload-token and --id-token included), step-up,
    /// --httpsig signing.
    /// Diagnostics go to stderr.
    ///
    /// Example (an MCP client configuration's command):
    ///   mcp-auth bridge http://127.0.0.1:8090/mcp --client-id demo
    Bridge(BridgeArgs),
    /// Measure throughput and latency under load.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `mcp-auth call`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:8090/mcp.
    pub(crate) server: String,
    /// The JSON-RPC method: tools/list, tools/call, resources/read, prompts/get, ...
    pub(crate) method: String,
    /// The tool or prompt name (tools/call, prompts/get) or the URI (resources/read).
    pub(crate) target: Option<String>,
    /// A tool or prompt argument, KEY=VALUE (VALUE as JSON when it parses, else a
    /// string). Repeat for several.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) arg: Vec<String>,
    /// The whole `params` object as JSON, instead of TARGET and --arg.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["target", "arg"])]
    pub(crate) params: Option<String>,
    /// How to authorize.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Print the JSON-RPC messages (notifications, then the response), one per line.
    #[arg(long)]
    pub(crate) json: bool,
    /// The MCP protocol version: 2026-07-28 is stateless; an earlier one (e.g.
    /// 2025-11-25) starts a session with initialize first.
    #[arg(long, value_name = "VERSION", default_value = "2026-07-28")]
    pub(crate) protocol_version: String,
}

/// `mcp-auth token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The MCP endpoint the token is for, e.g. http://127.0.0.1:8090/mcp.
    pub(crate) server: String,
    /// How to authorize.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Print the token, its scopes, expiry and issuer as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `mcp-auth bridge`.
#[derive(Debug, Args)]
pub(crate) struct BridgeArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:8090/mcp.
    pub(crate) server: String,
    /// How to authorize.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// `mcp-auth bench`.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// The gateway against its baselines, in one run.
    ///
    /// Starts the whole stack in this process (as `mcp-auth up`, on ephemeral ports)
    /// and sends the same tools/call to five targets: the demo server directly, the
    /// proxy with no checks, the gateway with a Bearer JWT, with an HTTPSig-bound
    /// token, and with a DPoP-bound token. Requests are prepared (signed, proofs
    /// made) before each run, so client work is not counted. Reports req/s at saturation (closed loop at --concurrency) with
    /// the ratio to the auth-off proxy, then p50/p99/p99.9 at one fixed rate for all
    /// (open loop, --load-fraction of the slowest target's saturation rate) with the
    /// latency added to the direct path, and the process's CPU per request for each target
    /// (the differences are what the proxy and each check cost). --runs N repeats both
    /// phases and adds the medians (single runs on a shared machine swing). --soak N then
    /// sends N HTTPSig requests and reports errors and resident memory growth. Exit code 1
    /// when any request failed.
    Gateway(BenchGatewayArgs),
    /// A long HTTPSig run over several gateway processes sharing Redis.
    ///
    /// bench/soak/run.sh starts the processes and runs this. Sends --requests signed
    /// `tools/call echo` to the --gateway endpoints in turn (each request its own nonce,
    /// the bound token refreshed before it expires) and reads each gateway's memory
    /// (--pid) and the Redis DBSIZE (--redis) after --warmup and every tenth. Exit code 1
    /// on any failed request, a gateway grown by --max-growth percent or more, or more
    /// keys in Redis than the replay window explains.
    Soak(BenchSoakArgs),
}

/// `mcp-auth bench gateway`.
#[derive(Debug, Args)]
pub(crate) struct BenchGatewayArgs {
    /// Requests per target and phase.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub(crate) requests: usize,
    /// Requests in flight in the saturation phase.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Requests sent, untimed, just before each measured batch (not the soak's), at
    /// the batch's concurrency or rate, with its token (0: none; at a fixed rate, at
    /// most 10 s of requests, so that the batch's signatures stay fresh).
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub(crate) warmup: usize,
    /// The fixed rate of the latency phase, as a fraction of the slowest target's
    /// saturation rate (the same rate for every target).
    #[arg(long, value_name = "F", default_value_t = 0.5)]
    pub(crate) load_fraction: f64,
    /// The longest a fixed-rate run lasts, in seconds (its untimed warm-up not
    /// counted).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub(crate) rate_seconds: f64,
    /// Repeat the saturation and latency phases this many times and report each run
    /// and the median of every figure.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub(crate) runs: u32,
    /// Measure only these gateway targets (the upstream direct and the auth-off proxy,
    /// the baselines, always run).
    #[arg(long, value_delimiter = ',', value_name = "bearer,httpsig,dpop")]
    pub(crate) only: Vec<crate::bench::Checked>,
    /// Also send each measured check's requests (token, signature or proof and all)
    /// to the auth-off proxy, unchecked: the rows "auth off, <profile> req" show what
    /// carrying a profile's fields costs, apart from what the gateway does with them
    /// (the check included).
    #[arg(long)]
    pub(crate) unchecked: bool,
    /// After the table, send this many HTTPSig requests and report memory growth.
    #[arg(long, value_name = "N")]
    pub(crate) soak: Option<usize>,
    /// Keep nonces in Redis instead of memory.
    #[arg(long, value_name = "redis://...")]
    pub(crate) replay_cache: Option<MaskedUrl>,
    /// Write every fixed-rate run's requests to DIR/run<N>-<target>.tsv: each one's
    /// scheduled start, latency and how late the load generator sent it, in µs, to
    /// see when a tail latency happened (a stall, the start of a run) rather than
    /// only how large it was.
    #[arg(long, value_name = "DIR")]
    pub(crate) latency_trace: Option<PathBuf>,
    /// Print the results as one JSON object instead of tables (no progress).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `mcp-auth up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The authorization server's data directory (SQLite file, signing keys).
    #[arg(long, value_name = "DIR", default_value = "./mcp-auth-data")]
    pub(crate) data_dir: PathBuf,
    /// Where the gateway (the protected MCP endpoint) listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub(crate) listen: String,
    /// Where the authorization server listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) as_listen: String,
    /// Where the demo MCP server listens (loopback only: it trusts its caller).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) demo_listen: String,
    /// Where the demo enterprise identity provider listens (a second authorization
    /// server whose users get ID-JAGs for the demo MCP server; profile
    /// enterprise-managed-authorization).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub(crate) idp_listen: String,
    /// Accept HTTPSig-bound tokens only at the gateway (no Bearer, no DPoP).
    #[arg(long)]
    pub(crate) httpsig_only: bool,
    /// Keep the nonce replay cache in Redis instead of memory.
    #[arg(long, value_name = "redis://...")]
    pub(crate) replay_cache: Option<MaskedUrl>,
    /// Serve Prometheus metrics (authorization server and gateway) at
    /// http://ADDR/metrics; off unless given.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<String>,
    /// Start even when the data directory can be read by other local users.
    #[arg(long)]
    pub(crate) allow_insecure_permissions: bool,
    /// Add gateway settings from a TOML file in the format of `mcp-auth gateway
    /// --config`: `[policy]` with its `[[policy.rules]]` (CEL rules; tools a rule denies
    /// to every call are left out of tools/list), `[rate_limit]`, `[audit]`, and
    /// `[scopes]`, whose required scopes and rules are added to the demo's (mcp:read for
    /// every call, mcp:write for write_*). Any other key is refused with an error: `up`
    /// sets the upstream, resource, issuers, listeners and token profiles itself.
    #[arg(long, value_name = "FILE")]
    pub(crate) gateway_config: Option<PathBuf>,
}

/// `mcp-auth demo-workload-token`.
#[derive(Debug, Args)]
pub(crate) struct DemoWorkloadTokenArgs {
    /// The data directory of `mcp-auth up` (it holds the demo platform's key).
    #[arg(long, value_name = "DIR", default_value = "./mcp-auth-data")]
    pub(crate) data_dir: PathBuf,
    /// The token's audience: the issuer of the authorization server it is for.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub(crate) audience: String,
    /// The token's subject (`system:serviceaccount:<namespace>:<name>`); the demo
    /// rule trusts system:serviceaccount:demo:agent only.
    #[arg(
        long,
        value_name = "SUB",
        default_value = "system:serviceaccount:demo:agent"
    )]
    pub(crate) subject: String,
    /// Seconds the token is valid (60 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub(crate) lifetime: u64,
    /// Write the token to this file (mode 0600, replaced whole) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `mcp-auth demo-server`.
#[derive(Debug, Args)]
pub(crate) struct DemoServerArgs {
    /// Where to listen (the MCP endpoint is /mcp).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) listen: String,
    /// Serve every request statelessly (no sessions; GET and DELETE answer 405).
    #[arg(long)]
    pub(crate) stateless: bool,
    /// Answer stateless requests with application/json instead of an SSE stream when
    /// the tool sends no notification first.
    #[arg(long)]
    pub(crate) json_response: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SigCommand {
    /// Print the signature base of a message.
    ///
    /// With --components, prints the base a signer would build for those components
    /// and parameters. Without, prints the base of each signature in the message (or
    /// the one named by --label) exactly as a verifier rebuilds it.
    Base(BaseArgs),
    /// Sign a message and print it with Signature-Input and Signature added.
    Sign(SignArgs),
    /// Verify the signatures of a message and explain any failure.
    ///
    /// Checks every signature (or the one named by --label, or those with --tag), and the
    /// Content-Digest against the body whenever a signature covers it. On failure it says
    /// which step failed (parsing, a required component or parameter, time window,
    /// algorithm, a component that cannot be built, the signature itself, the digest) and
    /// prints the signature base it built; give the signer's base with --signer-base to
    /// see the first line that differs.
    Verify(VerifyArgs),
}

/// Where the message goes, for requests in origin form.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The target URI of the request (sets scheme and authority for @target-uri,
    /// @scheme, @authority). Default: https and the Host header.
    #[arg(long, value_name = "URL")]
    pub(crate) target_uri: Option<String>,
    /// For a response: the request that triggered it (for components with `req`).
    #[arg(long, value_name = "FILE")]
    pub(crate) request: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BaseArgs {
    /// The message file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub(crate) file: PathBuf,
    /// Only the signature with this label.
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Build the base for these components instead, e.g. '"@method" "@path" "content-digest"'.
    #[arg(long, value_name = "LIST")]
    pub(crate) components: Option<String>,
    #[command(flatten)]
    pub(crate) params: ParamArgs,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Signature parameters for `sig base --components` and `sig sign`.
#[derive(Debug, Args)]
pub(crate) struct ParamArgs {
    /// `created`: a UNIX time, `now` (default for sign), or `none`.
    #[arg(long, value_name = "TIME")]
    pub(crate) created: Option<String>,
    /// `expires`: a UNIX time, or +SECONDS after created.
    #[arg(long, value_name = "TIME")]
    pub(crate) expires: Option<String>,
    /// `nonce`: a value, or `random` (128 bits, base64url).
    #[arg(long)]
    pub(crate) nonce: Option<String>,
    /// `keyid`.
    #[arg(long)]
    pub(crate) keyid: Option<String>,
    /// `tag`.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Add the `alg` parameter (registry algorithms only).
    #[arg(long)]
    pub(crate) include_alg: bool,
    /// Add the `pub` parameter with the raw public key (draft-richer-oauth-httpsig-03).
    #[arg(long)]
    pub(crate) include_pub: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The message file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub(crate) file: PathBuf,
    /// The signing key: a private JWK, or a PEM private key (PKCS#8, SEC1, PKCS#1). For
    /// hmac-sha256, a JWK of kty `oct`.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The algorithm (ed25519, ecdsa-p256-sha256, ecdsa-p384-sha384, rsa-pss-sha512,
    /// rsa-v1_5-sha256, hmac-sha256, or a JWS name such as ES256). Default: from the key.
    #[arg(long)]
    pub(crate) alg: Option<String>,
    /// The signature label.
    #[arg(long, default_value = "sig1")]
    pub(crate) label: String,
    /// The covered components, e.g. '"@method" "@target-uri" "content-digest"'.
    #[arg(long, value_name = "LIST")]
    pub(crate) components: String,
    /// Add Content-Digest over the body first (list "content-digest" in --components).
    #[arg(long, value_enum, value_name = "ALG")]
    pub(crate) content_digest: Option<DigestArg>,
    #[command(flatten)]
    pub(crate) params: ParamArgs,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Print one JSON object (signature-input, signature, base) instead of the message.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The message file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub(crate) file: PathBuf,
    /// The verification key: a JWK or PEM, public or private. For hmac-sha256, a JWK of
    /// kty `oct`.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "embedded_key",
        conflicts_with = "embedded_key"
    )]
    pub(crate) key: Option<PathBuf>,
    /// Verify with the key the signature carries in its `pub` parameter (with `alg`), as
    /// in a draft-richer-oauth-httpsig-03 token request with a runtime key. This proves
    /// possession of that key, not that the key is trusted.
    #[arg(long)]
    pub(crate) embedded_key: bool,
    /// The algorithm, when neither the key nor the `alg` parameter determines it (RSA).
    #[arg(long)]
    pub(crate) alg: Option<String>,
    /// Check only the signature with this label.
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Check only signatures with this tag (at least one must exist).
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Components that must be covered, e.g. '"@method" "content-digest"'.
    #[arg(long, value_name = "LIST")]
    pub(crate) require: Option<String>,
    /// Reject signatures whose `created` is older than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) max_age: Option<u64>,
    /// Verify as if the time were this UNIX time (for old examples with --max-age).
    #[arg(long, value_name = "TIME")]
    pub(crate) now: Option<i64>,
    /// Require Content-Digest to be covered when the message has a body.
    #[arg(long)]
    pub(crate) require_digest: bool,
    /// The signer's signature base, to show the first line that differs.
    #[arg(long, value_name = "FILE")]
    pub(crate) signer_base: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Print JSON Lines (one object per signature, then a summary) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DigestArg {
    /// sha-256
    #[value(name = "sha-256")]
    Sha256,
    /// sha-512
    #[value(name = "sha-512")]
    Sha512,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KeyFormat {
    /// JSON Web Key.
    Jwk,
    /// PEM (PKCS#8 private, SPKI public).
    Pem,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The algorithm the key is for: ed25519, ecdsa-p256-sha256, ecdsa-p384-sha384,
    /// rsa-pss-sha512, rsa-v1_5-sha256, hmac-sha256, or a JWS name (Ed25519, ES256, ...).
    #[arg(long, default_value = "ed25519")]
    pub(crate) alg: String,
    /// Output format (RSA private keys and PEM: always PEM; hmac-sha256: always JWK).
    #[arg(long, value_enum, default_value = "jwk")]
    pub(crate) format: KeyFormat,
    /// The key id (JWK `kid`). Default: the RFC 7638 thumbprint.
    #[arg(long)]
    pub(crate) kid: Option<String>,
    /// Write PREFIX.private.* (mode 0600) and PREFIX.public.* instead of printing;
    /// fails, writing nothing, when either exists.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) out: Option<PathBuf>,
    /// Print JSON instead of text (with --out: the paths and thumbprint).
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The parsed command line's `Debug` shows no client secret and no URL password,
    /// whichever subcommand holds them: a debug log of the arguments leaks neither.
    #[test]
    fn parsed_arguments_show_no_secret_or_password() {
        let lines: [&[&str]; 10] = [
            &[
                "conformance",
                "server",
                "--url",
                "http://mcp",
                "--token-command",
                "curl -u c:SECRET-1 http://as",
            ],
            &[
                "call",
                "http://mcp",
                "tools/list",
                "--client-id",
                "c",
                "--client-secret",
                "SECRET-1",
            ],
            &[
                "login",
                "http://mcp",
                "--issuer",
                "http://as",
                "--client-id",
                "c",
                "--client-secret",
                "SECRET-1",
            ],
            &[
                "conformance",
                "as",
                "--issuer",
                "http://as",
                "--client-id",
                "c",
                "--client-secret",
                "SECRET-1",
            ],
            &[
                "bench",
                "soak",
                "--gateway",
                "http://g",
                "--issuer",
                "http://as",
                "--client-id",
                "c",
                "--client-secret",
                "SECRET-1",
                "--redis",
                "redis://:PASSWORD-1@h",
            ],
            &["as", "--database-url", "postgres://u:PASSWORD-1@h/db"],
            &[
                "gateway",
                "--upstream",
                "http://u:PASSWORD-1@h/mcp",
                "--replay-cache",
                "redis://:PASSWORD-2@h",
            ],
            &["up", "--replay-cache", "redis://:PASSWORD-1@h"],
            &[
                "bench",
                "gateway",
                "--replay-cache",
                "redis://:PASSWORD-1@h",
            ],
            &[
                "token",
                "http://mcp",
                "--client-id",
                "c",
                "--client-secret",
                "SECRET-1",
            ],
        ];
        for line in lines {
            let parsed =
                Cli::try_parse_from(std::iter::once("mcp-auth").chain(line.iter().copied()))
                    .unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let shown = format!("{parsed:?}");
            for secret in ["SECRET-1", "PASSWORD-1", "PASSWORD-2"] {
                assert!(!shown.contains(secret), "{line:?} shows {secret}: {shown}");
            }
            assert!(shown.contains("***"), "{line:?}: nothing masked: {shown}");
        }
    }

    #[test]
    fn every_subcommand_has_help() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for inner in sub.get_subcommands() {
                assert!(
                    inner.get_about().is_some(),
                    "{} has no help",
                    inner.get_name()
                );
            }
        }
    }
}
