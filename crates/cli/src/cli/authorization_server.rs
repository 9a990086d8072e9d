//! The options of `mcp-auth as` and its administration subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::DrainArgs;
use mcp_auth_core::redact::MaskedUrl;

/// Settings shared by `mcp-auth as` and its subcommands.
#[derive(Debug, Args)]
pub(crate) struct AsCommon {
    /// The TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The data directory (SQLite file). Default: ./mcp-auth-data.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// A database URL instead of the SQLite file (postgres://...).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<MaskedUrl>,
    /// The issuer identifier. Default: http://LISTEN.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) issuer: Option<String>,
    /// Where to listen. Default: 127.0.0.1:8080.
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// A resource tokens may be issued for, with its scopes: 'URI [SCOPE ...]'.
    /// Repeat for several.
    #[arg(long, global = true, value_name = "'URI SCOPES'")]
    pub(crate) resource: Vec<String>,
    /// A scope granted when a request names none, for each --resource that defines
    /// it (repeat for several). Without one, such a request gets no scope.
    #[arg(long, global = true, value_name = "SCOPE")]
    pub(crate) default_scope: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of their own
    /// (off unless given; keep it on loopback or an operators' network).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<String>,
    /// Start even when the data directory or database file can be read by other
    /// local users (they hold the signing keys). Never needed on a fresh directory.
    #[arg(long, global = true)]
    pub(crate) allow_insecure_permissions: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AsArgs {
    #[command(subcommand)]
    pub(crate) command: Option<AsCommand>,
    #[command(flatten)]
    pub(crate) common: AsCommon,
    #[command(flatten)]
    pub(crate) drain: DrainArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AsCommand {
    /// Manage registered clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage local users (who sign in on the login page).
    #[command(subcommand)]
    User(UserCommand),
    /// Create a new signing key. Every running instance publishes it in its JWKS within
    /// 10 seconds; it signs from 20 seconds after the command, so every instance signs with
    /// it within 30 seconds, and no verifier meets a token whose key it cannot fetch. The
    /// previous key keeps being published until the tokens it signed have expired.
    RotateKeys,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user; the password is read from standard input (one line), and stored as
    /// an argon2id hash.
    Add {
        /// The username.
        #[arg(long)]
        username: String,
        /// A group to put the user in (repeat for several): the identity provider's
        /// policy reads them as `user.groups` (profiles/enterprise-managed-authorization.md §6.1).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Remove a user: their sessions, consents and refresh tokens stop working, and
    /// their subject identifier is never given to anyone else.
    Remove {
        /// The username.
        #[arg(long)]
        username: String,
    },
    /// Replace a user's groups (none when no --group is given).
    Groups {
        /// The username.
        #[arg(long)]
        username: String,
        /// A group (repeat for several).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a confidential client; prints its secret once (only a hash is stored).
    Add {
        /// The client id.
        #[arg(long)]
        id: String,
        /// A scope the client may request (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A grant type the client may use: client_credentials (default),
        /// authorization_code, refresh_token (repeat for several).
        #[arg(long = "grant", default_value = "client_credentials")]
        grants: Vec<String>,
        /// Authenticate with private_key_jwt (RFC 7523) using the public keys in this JWK
        /// Set file (`{"keys": [...]}`) instead of a secret.
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
        /// A redirect URI for the authorization code grant (repeat for several; matched
        /// exactly).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A public client (no secret; token_endpoint_auth_method none), such as a
        /// native or browser app using PKCE.
        #[arg(long, conflicts_with = "jwks")]
        public: bool,
        /// The name shown on the consent page.
        #[arg(long)]
        name: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the registered client ids.
    List,
    /// Remove a client and its remembered consents; its refresh tokens stop working.
    /// Running instances refuse it within `client_cache_seconds` (default 1).
    Remove {
        /// The client id.
        #[arg(long)]
        id: String,
    },
}
