//! `[[id_jag_issuers]]`: the enterprise IdPs whose ID-JAGs this AS redeems
//! (profiles/enterprise-managed-authorization.md §6.2), checked when the AS starts
//! (§6.4, EMA-AS-20).
//!
//! ```toml
//! [[id_jag_issuers]]
//! id = "acme"                               # principals are "acme:<sub>"
//! issuer = "https://idp.acme.example"       # exactly as its ID-JAGs write iss
//! # tenant = "9188040d-…"                   # for a multi-tenant IdP: one entry per tenant
//! discovery = true                          # or jwks_uri = "https://…", jwks_file = "path"
//! algorithms = ["RS256"]                    # default: every WIF §7.2 algorithm
//! resources = ["https://mcp.example.com/mcp"]
//! max_assertion_lifetime = 300              # seconds, 60..=3600
//! clock_skew = 60                           # seconds, 0..=300
//! access_token_ttl = 300                    # seconds, 60..=3600 (default: the AS's)
//! ```

use std::path::PathBuf;
use std::time::Duration;

use mcp_auth_core::workload_assertion::{ALGORITHMS, DEFAULT_CLOCK_SKEW};
use mcp_auth_httpsig::JwsAlgorithm;
use serde::Deserialize;

use crate::config::{ConfigError, ConfiguredClient, Resource};
use crate::workload::config::{
    KeySettings, TrustName, WorkloadIssuer, algorithms, check_jwks_file, err, is_entry_id,
    key_source, seconds_in,
};
use crate::workload::keys::KeySource;

/// The default and largest `exp − iat` of an ID-JAG (EMA D8): they are minted for
/// one redemption, minutes before it.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(300);

/// One `[[id_jag_issuers]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdJagIssuer {
    id: String,
    issuer: String,
    tenant: Option<String>,
    #[serde(default)]
    discovery: bool,
    jwks_uri: Option<String>,
    jwks_file: Option<PathBuf>,
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    resources: Vec<String>,
    max_assertion_lifetime: Option<u64>,
    clock_skew: Option<u64>,
    access_token_ttl: Option<u64>,
}

/// A checked ID-JAG trust entry.
#[derive(Debug, Clone)]
pub struct IdJagIssuer {
    /// Its name: the prefix of its principals (`<id>:<sub>`, EMA D12) and in logs.
    pub id: String,
    /// The IdP's issuer, compared exactly with `iss`.
    pub issuer: String,
    /// The `tenant` claim its ID-JAGs must carry, when the IdP serves several (EMA D13).
    pub tenant: Option<String>,
    /// Where its keys come from.
    pub(crate) key_source: KeySource,
    /// The JWS algorithms accepted.
    pub algorithms: Vec<JwsAlgorithm>,
    /// The resources its ID-JAGs may be redeemed for.
    pub resources: Vec<String>,
    /// The longest `exp − iat` accepted.
    pub max_assertion_lifetime: Duration,
    /// The tolerance on `exp`, `nbf`, `iat`.
    pub clock_skew: Duration,
    /// The access token lifetime, seconds.
    pub access_token_ttl: i64,
}

/// What the checks need from the rest of the configuration.
pub struct Context<'a> {
    /// The AS issuer (no entry may name it, ID-JAG draft §8.3).
    pub as_issuer: &'a str,
    /// The configured resources.
    pub resources: &'a [Resource],
    /// The configured clients (no client id may fall in an entry's principal space).
    pub clients: &'a [ConfiguredClient],
    /// The workload entries (ids are shared; principals may not fall in the space).
    pub workload_issuers: &'a [WorkloadIssuer],
    /// The AS's access token lifetime, the entries' default.
    pub access_token_ttl: i64,
    /// `[danger] allow_http_loopback_fetches`.
    pub allow_http_loopback: bool,
}

/// The `id` of the entry whose principal space (`<id>:`, EMA D12) `name` falls in:
/// such a name may be no client id and no username (EMA-AS-19).
pub fn reserved_by<'a>(entries: &'a [IdJagIssuer], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| {
            name.strip_prefix(e.id.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .map(|e| e.id.as_str())
}

/// EMA §6.4: every entry checked; the first problem names its key.
pub fn check(raw: Vec<RawIdJagIssuer>, cx: &Context<'_>) -> Result<Vec<IdJagIssuer>, ConfigError> {
    let mut out: Vec<IdJagIssuer> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let key = format!("id_jag_issuers[{i}]");
        let checked = check_entry(entry, &key, cx)?;
        if out.iter().any(|e| e.id == checked.id)
            || cx.workload_issuers.iter().any(|w| w.id == checked.id)
        {
            return Err(err(
                format!("{key}.id"),
                "used by another entry (ids are shared with [[workload_issuers]])",
            ));
        }
        let same_issuer: Vec<&IdJagIssuer> =
            out.iter().filter(|e| e.issuer == checked.issuer).collect();
        if same_issuer.iter().any(|e| e.tenant == checked.tenant) {
            return Err(err(key, "another entry has the same issuer and tenant"));
        }
        if same_issuer
            .iter()
            .any(|e| e.tenant.is_some() != checked.tenant.is_some())
        {
            return Err(err(
                format!("{key}.tenant"),
                "entries of one issuer either all name a tenant or none does",
            ));
        }
        // EMA-AS-19: nothing else may issue a `sub` in this entry's principal space.
        let prefix = format!("{}:", checked.id);
        if let Some(c) = cx.clients.iter().find(|c| c.client_id.starts_with(&prefix)) {
            return Err(err(
                format!("{key}.id"),
                format!(
                    "client `{}` begins with `{prefix}`, the prefix of this entry's principals",
                    c.client_id
                ),
            ));
        }
        let workload_principal = cx
            .workload_issuers
            .iter()
            .flat_map(|w| w.rules.iter())
            .find(|r| r.principal.starts_with(&prefix));
        if let Some(r) = workload_principal {
            return Err(err(
                format!("{key}.id"),
                format!(
                    "workload principal `{}` begins with `{prefix}`, the prefix of this entry's principals",
                    r.principal
                ),
            ));
        }
        out.push(checked);
    }
    Ok(out)
}

fn check_entry(
    raw: RawIdJagIssuer,
    key: &str,
    cx: &Context<'_>,
) -> Result<IdJagIssuer, ConfigError> {
    // Not a URI scheme: `https:…` as a principal would read as a URL (EMA D12).
    let id_ok = is_entry_id(&raw.id) && !matches!(raw.id.as_str(), "http" | "https" | "urn");
    if !id_ok {
        return Err(err(
            format!("{key}.id"),
            "use 1 to 64 of a-z, 0-9 and -, not http, https or urn",
        ));
    }
    if raw.issuer.is_empty() {
        return Err(err(format!("{key}.issuer"), "must not be empty"));
    }
    if raw.issuer == cx.as_issuer {
        return Err(err(
            format!("{key}.issuer"),
            "is this authorization server's own issuer (ID-JAG draft §8.3)",
        ));
    }
    if raw.tenant.as_deref() == Some("") {
        return Err(err(format!("{key}.tenant"), "must not be empty"));
    }
    let trust = TrustName::Issuer(raw.issuer.clone());
    let key_source = key_source(
        &trust,
        KeySettings {
            discovery: raw.discovery,
            jwks_uri: raw.jwks_uri,
            jwks_file: raw.jwks_file,
            bundle: None,
        },
        cx.allow_http_loopback,
        key,
    )?;
    let algorithms = algorithms(raw.algorithms, &ALGORITHMS, key)?;
    check_jwks_file(&key_source, &algorithms, key)?;
    if raw.resources.is_empty() {
        return Err(err(
            format!("{key}.resources"),
            "name at least one configured resource",
        ));
    }
    if let Some(r) = raw
        .resources
        .iter()
        .find(|r| !cx.resources.iter().any(|x| &&x.uri == r))
    {
        return Err(err(
            format!("{key}.resources"),
            format!("`{r}` is not a configured resource"),
        ));
    }
    let max_assertion_lifetime = seconds_in(
        raw.max_assertion_lifetime,
        DEFAULT_MAX_LIFETIME,
        60..=3600,
        &format!("{key}.max_assertion_lifetime"),
    )?;
    let clock_skew = seconds_in(
        raw.clock_skew,
        DEFAULT_CLOCK_SKEW,
        0..=300,
        &format!("{key}.clock_skew"),
    )?;
    let ttl = seconds_in(
        raw.access_token_ttl,
        Duration::from_secs(u64::try_from(cx.access_token_ttl).unwrap_or(300)),
        60..=3600,
        &format!("{key}.access_token_ttl"),
    )?;
    Ok(IdJagIssuer {
        id: raw.id,
        issuer: raw.issuer,
        tenant: raw.tenant,
        key_source,
        algorithms,
        resources: raw.resources,
        max_assertion_lifetime,
        clock_skew,
        access_token_ttl: i64::try_from(ttl.as_secs()).unwrap_or(300),
    })
}
