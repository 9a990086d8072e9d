//! The demo enterprise identity provider of `mcp-auth up`
//! (profiles/enterprise-managed-authorization.md): a second authorization server in
//! the same process, in the identity provider role. Its user `demo` (group
//! `engineering`, the demo password) signs in with OpenID Connect through the client
//! `demo-desktop`; its policy lets that client get ID-JAGs for the demo MCP server at
//! the main authorization server, where they are redeemed by the client `demo-agent`.
//!
//! The main AS trusts it through a `jwks_file` written at start (its public RS256
//! key), so that `up` needs no `[danger]` setting to fetch keys over http.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT;
use mcp_auth_core::workload_assertion::JWT_BEARER_GRANT;
use mcp_auth_server::{AuthorizationServer, Config, Overrides};

use crate::stack::{DEMO_USER, READ_SCOPE, WRITE_SCOPE, secret_sha256};

/// The client that signs the user in at the IdP and asks it for ID-JAGs.
pub(crate) const IDP_CLIENT: &str = "demo-desktop";
/// The same application's client at the main AS: it redeems the ID-JAGs.
pub(crate) const AGENT_CLIENT: &str = "demo-agent";
/// The main AS's trust entry for the IdP: principals are `demo-idp:<subject>`.
pub(crate) const ENTRY: &str = "demo-idp";
/// The group the demo user is in, which the policy asks for before `mcp:write`.
const GROUP: &str = "engineering";

/// The running demo IdP.
#[derive(Debug)]
pub(crate) struct DemoIdp {
    /// Its issuer (and base URL).
    pub(crate) issuer: String,
    /// Its public keys, for the main AS's trust entry.
    jwks_file: PathBuf,
}

/// Starts the IdP on `listen` (served in the background) for the main AS
/// `as_issuer` and its `resource`. Its data (users, keys) is under `data_dir/idp`.
pub(crate) async fn start(
    listen: &str,
    data_dir: &Path,
    as_issuer: &str,
    resource: &str,
    secret: &str,
    allow_insecure_permissions: bool,
) -> anyhow::Result<DemoIdp> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("demo identity provider: listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let issuer = format!("http://{addr}");
    let digest = secret_sha256(secret);
    let toml = format!(
        r#"
[[clients]]
client_id = "{IDP_CLIENT}"
client_name = "Demo desktop agent"
client_secret_sha256 = "{digest}"
grant_types = ["authorization_code", "refresh_token", "{TOKEN_EXCHANGE_GRANT}"]
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid"]

[[id_jag_targets]]
id = "demo-mcp"
audience = "{as_issuer}"
client_ids = {{ "{IDP_CLIENT}" = "{AGENT_CLIENT}" }}

[[id_jag_targets.rules]]
when = '"{GROUP}" in user.groups'
resources = ["{resource}"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]
default_scopes = ["{READ_SCOPE}"]
"#
    );
    let config = Config::from_sources(
        &toml,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(addr.to_string()),
            data_dir: Some(data_dir.join("idp")),
            allow_insecure_permissions,
            ..Overrides::default()
        },
    )
    .context("demo identity provider configuration")?;
    let server = AuthorizationServer::start(config)
        .await
        .context("starting the demo identity provider")?;
    let state = server.state().clone();
    let hash = mcp_auth_server::password::hash_password(secret.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the demo user's password: {e}"))?;
    state
        .store
        .set_user_password(DEMO_USER, &hash, state.clock.now())
        .await
        .context("adding the demo user to the identity provider")?;
    state
        .store
        .set_user_groups(DEMO_USER, &[GROUP.to_owned()])
        .await
        .context("setting the demo user's groups")?;
    // The public keys only: what the IdP publishes at its jwks_uri.
    let jwks_file = data_dir.join("demo-idp-jwks.json");
    let jwks = serde_json::to_string_pretty(&state.keys.current().jwks)?;
    mcp_auth_core::private_file::replace(&jwks_file, jwks.as_bytes())
        .with_context(|| format!("writing {}", jwks_file.display()))?;
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(listener, crate::observability::shutdown_signal())
            .await
        {
            tracing::error!(error = %e, "the demo identity provider stopped");
        }
    });
    Ok(DemoIdp { issuer, jwks_file })
}

impl DemoIdp {
    /// The main AS's side: the client that redeems ID-JAGs and the trust entry.
    pub(crate) fn trust_toml(&self, resource: &str, secret: &str) -> String {
        format!(
            r#"
[[clients]]
client_id = "{AGENT_CLIENT}"
client_name = "Demo desktop agent"
client_secret_sha256 = "{digest}"
grant_types = ["{JWT_BEARER_GRANT}"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]

[[id_jag_issuers]]
id = "{ENTRY}"
issuer = "{issuer}"
jwks_file = "{jwks}"
algorithms = ["RS256"]
resources = ["{resource}"]
"#,
            digest = secret_sha256(secret),
            issuer = self.issuer,
            jwks = self.jwks_file.display(),
        )
    }
}
