//! How the client commands (`call`, `token`, `bridge`) authorize, and where they
//! keep tokens: the options they share.

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use mcp_auth_core::redact::Secret;

/// The options of a client's own credentials and grants, which a workload token
/// replaces: a workload has no client id, no secret, no key of a client and no
/// redirect (profiles/workload-identity-federation.md §7.1).
const CLIENT_CREDENTIALS: [&str; 10] = [
    "client_id",
    "idp_client_id",
    "client_secret",
    "issuer",
    "grant",
    "redirect_uri",
    "client_metadata_url",
    "client_auth",
    "private_key",
    "signing_alg",
];

/// The options a user's ID token replaces: the grant is the enterprise one
/// (profiles/enterprise-managed-authorization.md §7.11), not a client's own grant,
/// and not a workload's.
const OTHER_GRANTS: [&str; 5] = [
    "grant",
    "redirect_uri",
    "client_metadata_url",
    "workload_token",
    "workload_token_env",
];

/// How `mcp-auth call`, `mcp-auth token` and `mcp-auth bridge` authorize. The
/// enterprise grant (--idp-client-id, with --id-token or a kept sign-in) redeems
/// at the authorization server as --client-id.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("enterprise").args(["idp_client_id"]).requires("client_id")))]
pub(crate) struct ClientArgs {
    /// The client to authorize as (a pre-registered confidential client).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Its secret (default: the MCP_AUTH_CLIENT_SECRET environment variable, which
    /// keeps it out of the process list).
    #[arg(long, value_name = "SECRET")]
    pub(crate) client_secret: Option<Secret<String>>,
    /// The authorization server (issuer) --client-id is registered at. Its secret or
    /// private_key_jwt assertion is sent there only: when the MCP server's metadata
    /// names another authorization server, the command fails and sends nothing.
    /// Without --issuer, the first issuer the credentials go to for a server is
    /// pinned in the token cache (when one is used) and any other refused later;
    /// --issuer replaces the pin.
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Option<String>,
    /// Where tokens are kept between runs.
    #[command(flatten)]
    pub(crate) cache: TokenCacheArgs,
    /// The grant: client_credentials (needs --client-id), or authorization_code
    /// with PKCE, which registers where it must (pre-registered --client-id, else
    /// --client-metadata-url where the AS accepts metadata documents, else dynamic
    /// registration). authorization_code requests the authorization URL directly
    /// and reads the redirect, for servers that approve without a user; to sign in
    /// as a user in the browser, run `mcp-auth login` once instead.
    #[arg(
        long,
        value_name = "GRANT",
        default_value = "client_credentials",
        conflicts_with = "idp_client_id"
    )]
    pub(crate) grant: String,
    /// The redirect URI of the authorization_code grant.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:33418/callback",
        conflicts_with = "idp_client_id"
    )]
    pub(crate) redirect_uri: String,
    /// This client's Client ID Metadata Document URL (its client_id where supported).
    #[arg(long, value_name = "URL", conflicts_with = "idp_client_id")]
    pub(crate) client_metadata_url: Option<String>,
    /// How the client authenticates at the token endpoint: client_secret_basic,
    /// client_secret_post, private_key_jwt (with --private-key) or none.
    #[arg(long, value_name = "METHOD", default_value = "client_secret_basic")]
    pub(crate) client_auth: String,
    /// The client's private key for private_key_jwt (PKCS#8 PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,
    /// The algorithm of the private_key_jwt assertion.
    #[arg(long, value_name = "ALG", default_value = "ES256")]
    pub(crate) signing_alg: String,
    /// A scope to ask for besides what the server's challenge names; repeat.
    #[arg(long, value_name = "SCOPE")]
    pub(crate) scope: Vec<String>,
    /// Bind the token to a new Ed25519 key and sign every request
    /// (http-message-signatures profile).
    #[arg(long)]
    pub(crate) httpsig: bool,
    /// Bind the token to a new ES256 key with DPoP (RFC 9449): a proof on every
    /// token and MCP request, `dpop_jkt` on authorization requests, and one retry
    /// when a server asks for a nonce.
    #[arg(long)]
    pub(crate) dpop: bool,
    /// Authorize as a workload with the JWT its platform issued it, read from FILE
    /// (a Kubernetes projected service-account token, a GitHub Actions OIDC token
    /// saved to a file, a SPIFFE JWT-SVID written by spiffe-helper): the RFC 7523
    /// jwt-bearer grant, with no client id and no client authentication. FILE is
    /// read again for every token request, as platforms rewrite it before the
    /// token expires. The JWT is sent only to an authorization server that lists
    /// the grant in its metadata and whose issuer is exactly the JWT's `aud` (ask
    /// the platform for a token with that audience); it is never printed. After a
    /// refusal nothing is retried: the error code is reported. With --dpop or
    /// --httpsig the token is bound; the authorization server must advertise that
    /// profile in its metadata, else nothing is sent. Not with --client-id or the
    /// other client options.
    #[arg(long, value_name = "FILE", conflicts_with_all = CLIENT_CREDENTIALS)]
    pub(crate) workload_token: Option<PathBuf>,
    /// As --workload-token, with the JWT in the environment variable VAR, read for
    /// every token request. A file readable only by the workload is safer: child
    /// processes inherit the environment.
    #[arg(
        long,
        value_name = "VAR",
        conflicts_with_all = CLIENT_CREDENTIALS,
        conflicts_with = "workload_token"
    )]
    pub(crate) workload_token_env: Option<String>,
    /// Authorize for a user signed in at an enterprise identity provider (IdP),
    /// with the user's OpenID Connect ID token in FILE, read again for every token
    /// request (profiles/enterprise-managed-authorization.md): the ID token is
    /// exchanged at the IdP its `iss` names (RFC 8693) for an ID-JAG for the MCP
    /// server's authorization server, which is redeemed there with the RFC 7523
    /// jwt-bearer grant as --client-id. The ID token goes only to that IdP's token
    /// endpoint, never to the authorization server, and an expired one nowhere;
    /// it is never printed, and no ID-JAG is kept. Needs --idp-client-id and
    /// --client-id; the authorization server's metadata must list jwt-bearer. After
    /// a refusal by either server nothing is retried: the server and its error code
    /// are reported. Every new access token (on expiry, a 401 or a step-up) costs
    /// a new exchange: no refresh token is kept. Without --id-token,
    /// --idp-client-id uses the sign-in `mcp-auth login --idp` kept instead.
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["client_id", "idp_client_id"],
        conflicts_with_all = OTHER_GRANTS
    )]
    pub(crate) id_token: Option<PathBuf>,
    /// The client's registration at the identity provider.
    #[command(flatten)]
    pub(crate) idp_client: IdpClientArgs,
    /// The identity provider (issuer) --idp-client-id is registered at. With
    /// --id-token: an ID token whose `iss` is another issuer is sent nowhere, nor
    /// is the IdP client's secret (without --idp, the ID token's `iss` names the
    /// IdP). Without --id-token: the IdP whose kept sign-in (`mcp-auth login --idp
    /// URL`) is used; needed only when sign-ins at several IdPs are kept for
    /// --idp-client-id, and compared exactly.
    #[arg(long, value_name = "URL", requires = "idp_client_id")]
    pub(crate) idp: Option<String>,
}

/// The client's registration at an enterprise identity provider (IdP): for
/// --id-token and kept sign-ins in `call`, `token` and `bridge`, and for `mcp-auth
/// login --idp`.
#[derive(Debug, Args)]
pub(crate) struct IdpClientArgs {
    /// The client's id at the identity provider (IdP): the ID token's `aud`; usually
    /// not --client-id, the client's id at the MCP server's authorization server.
    /// Its secret: the MCP_AUTH_IDP_CLIENT_SECRET environment variable, sent to the
    /// IdP only. For `call`, `token` and `bridge` (with --client-id): without
    /// --id-token, the ID token is the one `mcp-auth login --idp URL
    /// --idp-client-id ID` kept in the token cache (--token-cache FILE, else the
    /// default cache, whatever --client-id), at the IdP --idp names or else the
    /// only IdP where one is kept for this id (several: choose with --idp). That ID
    /// token is refreshed with the IdP's refresh token, and these credentials,
    /// when it expires within 60 s; when the IdP refuses the refresh, sign in again
    /// with `mcp-auth login --idp`.
    #[arg(long, value_name = "ID")]
    pub(crate) idp_client_id: Option<String>,
    /// How --idp-client-id authenticates at the identity provider:
    /// client_secret_basic, client_secret_post, private_key_jwt (with
    /// --idp-private-key) or none (a public registration: its client id alone).
    #[arg(
        long,
        value_name = "METHOD",
        default_value = "client_secret_basic",
        requires = "idp_client_id"
    )]
    pub(crate) idp_client_auth: String,
    /// The private key of --idp-client-id for private_key_jwt at the identity
    /// provider (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", requires = "idp_client_id")]
    pub(crate) idp_private_key: Option<PathBuf>,
    /// The algorithm of the private_key_jwt assertion at the identity provider.
    #[arg(
        long,
        value_name = "ALG",
        default_value = "ES256",
        requires = "idp_client_id"
    )]
    pub(crate) idp_signing_alg: String,
}

/// Where the client keeps tokens.
#[derive(Debug, Args)]
pub(crate) struct TokenCacheArgs {
    /// Keep tokens in FILE (JSON, mode 0600, its directory created 0700) and use
    /// them in later runs, refreshing an expired one with its refresh token; the
    /// issuer a --client-id's credentials went to is pinned there too. A FILE other
    /// users can read or write is refused. Default: the file `mcp-auth login`
    /// writes (MCP_AUTH_TOKEN_CACHE, else $XDG_CACHE_HOME/mcp-auth/tokens.json, else
    /// ~/.cache/mcp-auth/tokens.json), used when no --client-id or workload token
    /// is given.
    /// HTTPSig-bound tokens are never kept.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_cache: Option<PathBuf>,
    /// Neither read nor write a token cache.
    #[arg(long, conflicts_with = "token_cache")]
    pub(crate) no_token_cache: bool,
}
