//! The identity provider role of the enterprise-managed-authorization profile
//! (profiles/enterprise-managed-authorization.md, EMA): this authorization server as
//! the enterprise IdP. Users sign in with OpenID Connect and their clients get ID
//! tokens; a client exchanges an ID token for an Identity Assertion JWT Authorization
//! Grant (ID-JAG) for an MCP authorization server, when the administrator's policy
//! allows it.
//!
//! - [`config`]: `id_token_ttl` and `[[id_jag_targets]]`, the policy (EMA §6.1);
//! - [`id_token`]: ID tokens in the authorization code and refresh grants (EMA §7.1);
//! - [`exchange`]: the RFC 8693 token exchange, in the order of EMA §7.3.
//!
//! The role is on when at least one target is configured. ID tokens and ID-JAGs are
//! signed with the RS256 key of the key ring ([`crate::keys::KeySet::identity`], D19).

pub mod config;
pub mod exchange;
pub mod id_token;

/// The scope that asks for an ID token (OIDC Core §3.1.2.1).
pub const OPENID: &str = "openid";

/// EMA-IDP-13 at start: every requesting client a target maps that the configuration
/// file does not define is in the store, authenticates (not `none`) and has the
/// token-exchange grant.
pub async fn check_stored_clients(
    store: &crate::store::Store,
    config: &crate::config::Config,
) -> Result<(), crate::StartError> {
    for target in &config.identity_provider.targets {
        for id in target.client_ids.keys() {
            if config.clients.iter().any(|c| &c.client_id == id) {
                continue;
            }
            let usable = store.client(id).await?.is_some_and(|c| {
                c.allows_grant(mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT)
                    && c.metadata
                        .get("token_endpoint_auth_method")
                        .and_then(|m| m.as_str())
                        != Some("none")
            });
            if !usable {
                return Err(crate::StartError::ExchangeClient {
                    target: target.id.clone(),
                    client: id.clone(),
                });
            }
        }
    }
    Ok(())
}
