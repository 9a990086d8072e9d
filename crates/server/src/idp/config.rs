//! The identity provider role's configuration (profiles/enterprise-managed-authorization.md
//! §6.1): `id_token_ttl` and the `[[id_jag_targets]]`, checked when the AS starts (§6.4,
//! EMA-IDP-13).
//!
//! ```toml
//! id_token_ttl = 3600                       # seconds, 300..=86400
//!
//! [[id_jag_targets]]
//! id = "mcp-example"                        # in logs
//! audience = "https://as.example.com"       # the MCP AS issuer, exactly
//! id_jag_ttl = 300                          # seconds, 60..=300
//! [id_jag_targets.client_ids]               # IdP client id -> that AS's client id
//! "desktop-agent" = "acme-agent"
//! [[id_jag_targets.rules]]                  # first match decides
//! when = 'client.id == "desktop-agent" && "engineering" in user.groups'
//! resources = ["https://mcp.example.com/mcp"]
//! scopes = ["mcp:read", "mcp:write"]
//! default_scopes = ["mcp:read"]
//! ```

use std::collections::BTreeMap;

use mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT;
use serde::Deserialize;

use crate::condition::Condition;
use crate::config::{ConfigError, ConfiguredClient};
use crate::workload::config::{err, is_entry_id, is_http_loopback, seconds_in};

/// The variables of a policy rule's `when` (EMA §6.1).
pub const POLICY_VARIABLES: [&str; 2] = ["user", "client"];

/// The default lifetime of an ID token, seconds (EMA D8).
pub const DEFAULT_ID_TOKEN_TTL: i64 = 3600;

/// The default and largest lifetime of an ID-JAG, seconds (EMA D8).
pub const DEFAULT_ID_JAG_TTL: i64 = 300;

/// One `[[id_jag_targets]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    id: String,
    audience: String,
    id_jag_ttl: Option<u64>,
    #[serde(default)]
    client_ids: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

/// One `[[id_jag_targets.rules]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    when: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    default_scopes: Vec<String>,
}

/// The identity provider role, as configured. Off when there is no target.
#[derive(Debug, Clone, Default)]
pub struct IdentityProvider {
    /// The lifetime of ID tokens, seconds.
    pub id_token_ttl: i64,
    /// The MCP authorization servers ID-JAGs are issued for.
    pub targets: Vec<Target>,
}

/// One MCP authorization server the IdP issues ID-JAGs for.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name, in logs.
    pub id: String,
    /// That AS's issuer: the only `audience` that selects this target, and the
    /// ID-JAG's `aud`.
    pub audience: String,
    /// The ID-JAG lifetime, seconds.
    pub id_jag_ttl: i64,
    /// IdP client id → that AS's client id: who may ask for this target, and the
    /// ID-JAG's `client_id`.
    pub client_ids: BTreeMap<String, String>,
    /// The policy, in order.
    pub rules: Vec<PolicyRule>,
}

/// One policy rule: when `when` holds, these resources and scopes (EMA §6.1).
#[derive(Debug, Clone)]
pub struct PolicyRule {
    /// Over `user` and `client`.
    pub when: Condition,
    /// The resources an ID-JAG of this rule may name.
    pub resources: Vec<String>,
    /// The scopes it may carry.
    pub scopes: Vec<String>,
    /// Granted when the exchange names no scope.
    pub default_scopes: Vec<String>,
}

impl IdentityProvider {
    /// Whether the role is on: OpenID Connect sign-in and the exchange.
    pub fn is_enabled(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The target whose `audience` is exactly `audience`.
    pub fn target(&self, audience: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.audience == audience)
    }
}

/// What the checks need from the rest of the configuration.
pub struct Context<'a> {
    /// The AS's own issuer (no target may name it, ID-JAG draft §8.3).
    pub issuer: &'a str,
    /// The configured clients (the keys of `client_ids`).
    pub clients: &'a [ConfiguredClient],
}

/// EMA §6.4: every target checked; the first problem names its key.
pub fn check(
    id_token_ttl: Option<u64>,
    raw: Vec<RawTarget>,
    cx: &Context<'_>,
) -> Result<IdentityProvider, ConfigError> {
    let ttl = seconds_in(
        id_token_ttl,
        std::time::Duration::from_secs(DEFAULT_ID_TOKEN_TTL as u64),
        300..=86_400,
        "id_token_ttl",
    )?;
    let mut targets: Vec<Target> = Vec::with_capacity(raw.len());
    for (i, target) in raw.into_iter().enumerate() {
        let key = format!("id_jag_targets[{i}]");
        let checked = check_target(target, &key, cx)?;
        if targets.iter().any(|t| t.id == checked.id) {
            return Err(err(format!("{key}.id"), "used by another target"));
        }
        if targets.iter().any(|t| t.audience == checked.audience) {
            return Err(err(format!("{key}.audience"), "used by another target"));
        }
        targets.push(checked);
    }
    Ok(IdentityProvider {
        id_token_ttl: i64::try_from(ttl.as_secs()).unwrap_or(DEFAULT_ID_TOKEN_TTL),
        targets,
    })
}

fn check_target(raw: RawTarget, key: &str, cx: &Context<'_>) -> Result<Target, ConfigError> {
    if !is_entry_id(&raw.id) {
        return Err(err(format!("{key}.id"), "use 1 to 64 of a-z, 0-9 and -"));
    }
    if !is_https_or_loopback(&raw.audience) {
        return Err(err(
            format!("{key}.audience"),
            "must be an https URL (or http on a loopback address): the target AS's issuer",
        ));
    }
    if raw.audience == cx.issuer {
        return Err(err(
            format!("{key}.audience"),
            "is this server's own issuer (ID-JAG draft §8.3)",
        ));
    }
    if raw.client_ids.is_empty() {
        return Err(err(
            format!("{key}.client_ids"),
            "map at least one client of this server to its client id at the target",
        ));
    }
    for (ours, theirs) in &raw.client_ids {
        // A client of the configuration file is checked here; one added with
        // `mcp-auth as client add` (a secret or private_key_jwt) when the AS starts
        // and can read the store ([`crate::idp::check_stored_clients`]).
        let refused = cx
            .clients
            .iter()
            .find(|c| &c.client_id == ours)
            .is_some_and(|c| {
                c.secret_sha256.is_none()
                    || !c.grant_types.iter().any(|g| g == TOKEN_EXCHANGE_GRANT)
            });
        if refused {
            return Err(err(
                format!("{key}.client_ids"),
                format!(
                    "`{ours}` is not a configured confidential client with the grant {TOKEN_EXCHANGE_GRANT}"
                ),
            ));
        }
        if theirs.is_empty() || theirs.len() > 255 {
            return Err(err(
                format!("{key}.client_ids"),
                format!("the client id mapped from `{ours}` must have 1 to 255 characters"),
            ));
        }
    }
    let ttl = seconds_in(
        raw.id_jag_ttl,
        std::time::Duration::from_secs(DEFAULT_ID_JAG_TTL as u64),
        60..=300,
        &format!("{key}.id_jag_ttl"),
    )?;
    if raw.rules.is_empty() {
        return Err(err(
            format!("{key}.rules"),
            "give at least one rule (without one, every exchange is refused)",
        ));
    }
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (j, rule) in raw.rules.into_iter().enumerate() {
        rules.push(check_rule(rule, &format!("{key}.rules[{j}]"))?);
    }
    Ok(Target {
        id: raw.id,
        audience: raw.audience,
        id_jag_ttl: i64::try_from(ttl.as_secs()).unwrap_or(DEFAULT_ID_JAG_TTL),
        client_ids: raw.client_ids,
        rules,
    })
}

fn check_rule(raw: RawRule, key: &str) -> Result<PolicyRule, ConfigError> {
    let when = Condition::compile_over(&raw.when, &POLICY_VARIABLES, "`user` and `client`")
        .map_err(|e| err(format!("{key}.when"), e.to_string()))?;
    if raw.resources.is_empty() {
        return Err(err(
            format!("{key}.resources"),
            "name at least one resource",
        ));
    }
    if let Some(r) = raw.resources.iter().find(|r| !is_resource_uri(r)) {
        return Err(err(
            format!("{key}.resources"),
            format!("`{r}` is not an absolute URI without a fragment (RFC 8707)"),
        ));
    }
    crate::config::check_scopes(&raw.scopes, &format!("{key}.scopes"))?;
    if let Some(s) = raw.default_scopes.iter().find(|s| !raw.scopes.contains(s)) {
        return Err(err(
            format!("{key}.default_scopes"),
            format!("`{s}` is not in this rule's scopes"),
        ));
    }
    Ok(PolicyRule {
        when,
        resources: raw.resources,
        scopes: raw.scopes,
        default_scopes: raw.default_scopes,
    })
}

/// The target AS's issuer: https, or http on loopback as the workload issuers allow
/// it (one rule: [`is_http_loopback`]).
fn is_https_or_loopback(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.fragment().is_none()
            && u.query().is_none()
            && ((u.scheme() == "https" && u.host().is_some()) || is_http_loopback(&u))
    })
}

fn is_resource_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base())
}
