//! `[[workload_issuers]]`: the trust entries of the workload-identity-federation
//! profile (WIF §6), read from TOML and checked when the AS starts (WIF §6.4,
//! WIF-AS-22). Appendix A of the profile has complete examples.
//!
//! ```toml
//! [[workload_issuers]]
//! id = "k8s-prod"                         # [a-z0-9-]{1,64}, in logs and metrics
//! issuer = "https://oidc.cluster.example" # or spiffe_trust_domain = "prod.example"
//! discovery = true                        # or jwks_uri = "https://…", jwks_file = "path",
//!                                         # spiffe_bundle_endpoint = "https://…" (trust domains)
//! algorithms = ["RS256"]                  # default: every WIF §7.2 algorithm
//! max_assertion_lifetime = 3660           # seconds, 60..=86400
//! clock_skew = 60                         # seconds, 0..=300
//!
//! [[workload_issuers.rules]]              # in order; the first whose `when` is true decides
//! when = 'claims.sub == "system:serviceaccount:mcp-agents:planner"'
//! principal = "k8s-prod:mcp-agents/planner"   # the access token's sub and client_id
//! resources = ["https://mcp.example.com/mcp"]
//! scopes = ["mcp:read"]
//! access_token_ttl = 600                  # default: the AS's access_token_ttl
//! ```

use std::path::PathBuf;
use std::time::Duration;

use mcp_auth_core::workload_assertion::{
    ALGORITHMS, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LIFETIME, TRUST_DOMAIN_ALGORITHMS, TrustEntry,
};
use mcp_auth_httpsig::JwsAlgorithm;
use serde::Deserialize;

use super::keys::{KeySource, usable_keys};
use crate::condition::Condition;
use crate::config::{ConfigError, ConfiguredClient, Resource};

/// One `[[workload_issuers]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkloadIssuer {
    id: String,
    issuer: Option<String>,
    spiffe_trust_domain: Option<String>,
    #[serde(default)]
    discovery: bool,
    jwks_uri: Option<String>,
    jwks_file: Option<PathBuf>,
    spiffe_bundle_endpoint: Option<String>,
    algorithms: Option<Vec<String>>,
    max_assertion_lifetime: Option<u64>,
    clock_skew: Option<u64>,
    #[serde(default)]
    rules: Vec<RawWorkloadRule>,
}

/// One `[[workload_issuers.rules]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkloadRule {
    when: String,
    principal: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    access_token_ttl: Option<u64>,
}

/// What a trust entry vouches for: an exact `iss`, or a SPIFFE trust domain (WIF §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustName {
    /// Assertions whose `iss` is exactly this.
    Issuer(String),
    /// Assertions whose `sub` is a SPIFFE ID of this trust domain.
    SpiffeTrustDomain(String),
}

impl TrustName {
    /// The form the assertion checks take.
    pub fn entry(&self) -> TrustEntry<'_> {
        match self {
            Self::Issuer(i) => TrustEntry::Issuer(i),
            Self::SpiffeTrustDomain(d) => TrustEntry::SpiffeTrustDomain(d),
        }
    }
}

/// A checked trust entry.
#[derive(Debug, Clone)]
pub struct WorkloadIssuer {
    /// Its name in logs and metrics.
    pub id: String,
    /// What it vouches for.
    pub trust: TrustName,
    /// Where its keys come from.
    pub(crate) key_source: KeySource,
    /// The JWS algorithms accepted.
    pub algorithms: Vec<JwsAlgorithm>,
    /// The longest `exp − iat` accepted.
    pub max_assertion_lifetime: Duration,
    /// The tolerance on `exp`, `nbf`, `iat`.
    pub clock_skew: Duration,
    /// The workload rules, in order.
    pub rules: Vec<WorkloadRule>,
}

/// A checked workload rule (WIF §6.3).
#[derive(Debug, Clone)]
pub struct WorkloadRule {
    /// The condition over the verified claims.
    pub when: Condition,
    /// The access token's `sub` and `client_id`.
    pub principal: String,
    /// The resources it may get tokens for.
    pub resources: Vec<String>,
    /// The scopes it may get.
    pub scopes: Vec<String>,
    /// The access token lifetime, seconds.
    pub access_token_ttl: i64,
}

/// What the checks need from the rest of the configuration.
pub struct Context<'a> {
    /// The AS issuer (no entry may name it).
    pub as_issuer: &'a str,
    /// The configured resources.
    pub resources: &'a [Resource],
    /// The configured clients (a principal may not be one of their ids).
    pub clients: &'a [ConfiguredClient],
    /// The AS's access token lifetime, the rules' default.
    pub access_token_ttl: i64,
    /// `[danger] allow_http_loopback_fetches`: `http://127.0.0.1…` key sources are
    /// accepted (tests and demos on one machine).
    pub allow_http_loopback: bool,
}

pub(crate) fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// WIF §6.4: every entry and rule checked; the first problem names its key.
pub fn check(
    raw: Vec<RawWorkloadIssuer>,
    cx: &Context<'_>,
) -> Result<Vec<WorkloadIssuer>, ConfigError> {
    let mut out: Vec<WorkloadIssuer> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let key = format!("workload_issuers[{i}]");
        let checked = check_entry(entry, &key, cx)?;
        if out.iter().any(|e| e.id == checked.id) {
            return Err(err(format!("{key}.id"), "used by another entry"));
        }
        if out.iter().any(|e| e.trust == checked.trust) {
            return Err(err(
                key,
                "another entry has the same issuer or trust domain",
            ));
        }
        for (r, rule) in checked.rules.iter().enumerate() {
            if out
                .iter()
                .any(|e| e.rules.iter().any(|x| x.principal == rule.principal))
            {
                return Err(err(
                    format!("{key}.rules[{r}].principal"),
                    "used by another entry: a principal belongs to one issuer (WIF §12.6)",
                ));
            }
        }
        out.push(checked);
    }
    Ok(out)
}

fn check_entry(
    raw: RawWorkloadIssuer,
    key: &str,
    cx: &Context<'_>,
) -> Result<WorkloadIssuer, ConfigError> {
    if !is_entry_id(&raw.id) {
        return Err(err(format!("{key}.id"), "use 1 to 64 of a-z, 0-9 and -"));
    }
    let trust = match (raw.issuer, raw.spiffe_trust_domain) {
        (Some(issuer), None) => {
            if issuer.is_empty() {
                return Err(err(format!("{key}.issuer"), "must not be empty"));
            }
            if issuer == cx.as_issuer {
                return Err(err(
                    format!("{key}.issuer"),
                    "is this authorization server's own issuer",
                ));
            }
            TrustName::Issuer(issuer)
        }
        (None, Some(domain)) => {
            if !is_trust_domain_name(&domain) {
                return Err(err(
                    format!("{key}.spiffe_trust_domain"),
                    "not a SPIFFE trust domain name (lowercase letters, digits, `.`, `-`, `_`)",
                ));
            }
            TrustName::SpiffeTrustDomain(domain)
        }
        _ => {
            return Err(err(
                key,
                "set exactly one of `issuer` and `spiffe_trust_domain`",
            ));
        }
    };
    let key_source = key_source(
        &trust,
        KeySettings {
            discovery: raw.discovery,
            jwks_uri: raw.jwks_uri,
            jwks_file: raw.jwks_file,
            bundle: raw.spiffe_bundle_endpoint,
        },
        cx.allow_http_loopback,
        key,
    )?;
    let trust_domain = matches!(trust, TrustName::SpiffeTrustDomain(_));
    let allowed: &[JwsAlgorithm] = if trust_domain {
        TRUST_DOMAIN_ALGORITHMS
    } else {
        &ALGORITHMS
    };
    let algorithms = algorithms(raw.algorithms, allowed, key)?;
    check_jwks_file(&key_source, &algorithms, key)?;
    let max_assertion_lifetime = seconds_in(
        raw.max_assertion_lifetime,
        DEFAULT_MAX_LIFETIME,
        60..=86_400,
        &format!("{key}.max_assertion_lifetime"),
    )?;
    let clock_skew = seconds_in(
        raw.clock_skew,
        DEFAULT_CLOCK_SKEW,
        0..=300,
        &format!("{key}.clock_skew"),
    )?;
    if raw.rules.is_empty() {
        return Err(err(
            format!("{key}.rules"),
            "no rule: the entry would refuse every workload",
        ));
    }
    let rules = raw
        .rules
        .into_iter()
        .enumerate()
        .map(|(r, rule)| check_rule(rule, &format!("{key}.rules[{r}]"), cx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WorkloadIssuer {
        id: raw.id,
        trust,
        key_source,
        algorithms,
        max_assertion_lifetime,
        clock_skew,
        rules,
    })
}

/// The form of a trust entry's `id` (WIF §6.1, EMA §6.2): 1 to 64 of `a-z`, `0-9`, `-`.
pub(crate) fn is_entry_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `algorithms`: absent, every one of `allowed`; else a non-empty subset of it.
pub(crate) fn algorithms(
    names: Option<Vec<String>>,
    allowed: &[JwsAlgorithm],
    key: &str,
) -> Result<Vec<JwsAlgorithm>, ConfigError> {
    match names {
        None => Ok(allowed.to_vec()),
        Some(names) if names.is_empty() => {
            Err(err(format!("{key}.algorithms"), "must not be empty"))
        }
        Some(names) => names
            .iter()
            .map(|n| {
                JwsAlgorithm::from_name(n)
                    .filter(|a| allowed.contains(a))
                    .ok_or_else(|| {
                        let list: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
                        err(
                            format!("{key}.algorithms"),
                            format!(
                                "`{n}` is not accepted here; use some of {}",
                                list.join(", ")
                            ),
                        )
                    })
            })
            .collect(),
    }
}

/// A `jwks_file` must hold a public key usable with one of the entry's algorithms
/// (WIF §6.4, §7.3 step 7).
pub(crate) fn check_jwks_file(
    source: &KeySource,
    algorithms: &[JwsAlgorithm],
    key: &str,
) -> Result<(), ConfigError> {
    match source {
        KeySource::JwksFile(set)
            if !algorithms
                .iter()
                .any(|alg| !usable_keys(set, false, *alg).is_empty()) =>
        {
            Err(err(
                format!("{key}.jwks_file"),
                "holds no public key usable with the entry's algorithms (WIF §7.3 step 7)",
            ))
        }
        _ => Ok(()),
    }
}

/// The key source settings of one entry as written.
pub(crate) struct KeySettings {
    pub(crate) discovery: bool,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) jwks_file: Option<PathBuf>,
    pub(crate) bundle: Option<String>,
}

/// Exactly one key source, of the kind the entry's trust name allows (WIF §6.1, §6.2),
/// at an https URL (http on loopback only with the `[danger]` switch).
pub(crate) fn key_source(
    trust: &TrustName,
    settings: KeySettings,
    allow_http_loopback: bool,
    key: &str,
) -> Result<KeySource, ConfigError> {
    let KeySettings {
        discovery,
        jwks_uri,
        jwks_file,
        bundle,
    } = settings;
    let count = usize::from(discovery)
        + usize::from(jwks_uri.is_some())
        + usize::from(jwks_file.is_some())
        + usize::from(bundle.is_some());
    if count != 1 {
        return Err(err(
            key,
            "set exactly one key source: discovery = true, jwks_uri, jwks_file or spiffe_bundle_endpoint",
        ));
    }
    let https = |url: &str, name: &str| -> Result<(), ConfigError> {
        match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" || (allow_http_loopback && is_http_loopback(&u)) => {
                Ok(())
            }
            _ => Err(err(
                format!("{key}.{name}"),
                "must be an https URL (WIF-AS-11)",
            )),
        }
    };
    match (trust, jwks_uri, jwks_file, bundle) {
        (TrustName::Issuer(issuer), None, None, None) => {
            https(issuer, "issuer")?;
            Ok(KeySource::Discovery {
                issuer: issuer.clone(),
            })
        }
        (TrustName::Issuer(_), Some(uri), None, None) => {
            https(&uri, "jwks_uri")?;
            Ok(KeySource::JwksUri(uri))
        }
        (TrustName::Issuer(_), None, Some(path), None) => {
            // Trust anchors: not a file another user could change.
            let text = mcp_auth_core::private_file::read_to_string(
                &path,
                1024 * 1024,
                mcp_auth_core::private_file::Owners::Provided,
                mcp_auth_core::private_file::Others::Read,
            )
            .map_err(|e| {
                err(
                    format!("{key}.jwks_file"),
                    format!("{}: {e}", path.display()),
                )
            })?;
            let set: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                err(
                    format!("{key}.jwks_file"),
                    format!("{}: not JSON: {e}", path.display()),
                )
            })?;
            Ok(KeySource::JwksFile(set))
        }
        (TrustName::SpiffeTrustDomain(_), None, None, Some(url)) => {
            https(&url, "spiffe_bundle_endpoint")?;
            Ok(KeySource::SpiffeBundle(url))
        }
        (TrustName::Issuer(_), ..) => Err(err(
            format!("{key}.spiffe_bundle_endpoint"),
            "only for a spiffe_trust_domain entry",
        )),
        (TrustName::SpiffeTrustDomain(_), ..) => Err(err(
            key,
            "a spiffe_trust_domain entry takes its keys from spiffe_bundle_endpoint only",
        )),
    }
}

/// `http://127.0.0.1…` and `http://localhost…`: with the `[danger]` switch, tests
/// and demos serve issuers there.
pub(crate) fn is_http_loopback(u: &url::Url) -> bool {
    u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

fn check_rule(
    raw: RawWorkloadRule,
    key: &str,
    cx: &Context<'_>,
) -> Result<WorkloadRule, ConfigError> {
    let when =
        Condition::compile(&raw.when).map_err(|e| err(format!("{key}.when"), e.to_string()))?;
    let p = &raw.principal;
    if p.is_empty()
        || p.chars().count() > 255
        || p.chars().any(char::is_control)
        || p.starts_with("http:")
        || p.starts_with("https:")
    {
        return Err(err(
            format!("{key}.principal"),
            "use 1 to 255 characters, no control characters, not an http(s) URL",
        ));
    }
    if cx.clients.iter().any(|c| &c.client_id == p) {
        return Err(err(
            format!("{key}.principal"),
            "is the client_id of a configured client",
        ));
    }
    if raw.resources.is_empty() {
        return Err(err(
            format!("{key}.resources"),
            "name at least one configured resource",
        ));
    }
    for r in &raw.resources {
        if !cx.resources.iter().any(|x| &x.uri == r) {
            return Err(err(
                format!("{key}.resources"),
                format!("`{r}` is not a configured resource"),
            ));
        }
    }
    for s in &raw.scopes {
        let defined = cx
            .resources
            .iter()
            .filter(|x| raw.resources.contains(&x.uri))
            .any(|x| x.scopes.contains(s));
        if !defined {
            return Err(err(
                format!("{key}.scopes"),
                format!("`{s}` is defined by none of the rule's resources"),
            ));
        }
    }
    let access_token_ttl = match raw.access_token_ttl {
        None => cx.access_token_ttl,
        Some(t @ 1..=86_400) => i64::try_from(t).unwrap_or(cx.access_token_ttl),
        Some(_) => {
            return Err(err(
                format!("{key}.access_token_ttl"),
                "use 1 to 86400 seconds",
            ));
        }
    };
    Ok(WorkloadRule {
        when,
        principal: raw.principal,
        resources: raw.resources,
        scopes: raw.scopes,
        access_token_ttl,
    })
}

pub(crate) fn seconds_in(
    value: Option<u64>,
    default: Duration,
    range: std::ops::RangeInclusive<u64>,
    key: &str,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) if range.contains(&s) => Ok(Duration::from_secs(s)),
        Some(_) => Err(err(
            key,
            format!("use {} to {} seconds", range.start(), range.end()),
        )),
    }
}

/// SPIFFE-ID §2.1: a trust domain name is lowercase letters, digits, `.`, `-`, `_`.
fn is_trust_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}
