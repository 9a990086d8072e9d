//! The options of `mcp-auth login`: a sign-in for an MCP server, or with --idp at
//! an enterprise identity provider.

use clap::Args;

use super::{IdpClientArgs, TokenCacheArgs};
use mcp_auth_core::redact::Secret;

/// `mcp-auth login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The MCP endpoint to sign in for, e.g. http://127.0.0.1:8090/mcp (not with
    /// --idp).
    #[arg(
        required_unless_present = "idp",
        conflicts_with_all = ["idp", "idp_client_id"]
    )]
    pub(crate) server: Option<String>,
    /// A client pre-registered at the AS with a loopback redirect URI (default:
    /// --client-metadata-url where the AS accepts it, else dynamic registration).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Its secret, for a confidential client (default: the MCP_AUTH_CLIENT_SECRET
    /// environment variable, which keeps it out of the process list; none for a
    /// public client).
    #[arg(long, value_name = "SECRET")]
    pub(crate) client_secret: Option<Secret<String>>,
    /// The authorization server (issuer) --client-id is registered at: its secret is
    /// sent there only (default: the first issuer it goes to for the server, pinned
    /// in the token cache).
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Option<String>,
    /// This client's Client ID Metadata Document URL (its client_id where supported).
    #[arg(long, value_name = "URL")]
    pub(crate) client_metadata_url: Option<String>,
    /// A scope to ask for besides what the server's metadata suggests; repeat.
    #[arg(long, value_name = "SCOPE")]
    pub(crate) scope: Vec<String>,
    /// Do not try to open a browser; print the URL to visit. (An opened browser gets a
    /// one-time local address that leads to it: the URL is not put on a command line,
    /// which other local users can read.)
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// A user (numeric id) whose connections to the sign-in listener are read besides
    /// this one's and root's: for a browser that runs as another user (`sudo`, a
    /// container); repeat for several. `any` reads every connection, also those the
    /// kernel does not list (a relay such as WSL's mirrored networking). On Linux,
    /// other connections are closed unread, so that no other user can send its own
    /// code back.
    #[arg(long, value_name = "UID|any")]
    pub(crate) browser_user: Vec<String>,
    /// Give up when nobody has signed in after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Where the token is kept.
    #[command(flatten)]
    pub(crate) cache: TokenCacheArgs,
    /// Sign in at this enterprise identity provider (its issuer, exactly) with
    /// OpenID Connect instead of for an MCP server, as --idp-client-id; the ID
    /// token and the IdP's refresh token are kept in the token cache for the
    /// enterprise grant of `call`, `token` and `bridge`. Replaces an earlier
    /// sign-in of that client there.
    #[arg(
        long,
        value_name = "URL",
        requires = "idp_client_id",
        conflicts_with_all = ["client_id", "client_secret", "issuer", "client_metadata_url", "scope"]
    )]
    pub(crate) idp: Option<String>,
    /// The client's registration at the identity provider (with --idp).
    #[command(flatten)]
    pub(crate) idp_client: IdpClientArgs,
}
