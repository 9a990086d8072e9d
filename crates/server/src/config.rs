//! Configuration: one TOML file (every key optional), environment overrides, and one
//! conversion into a checked [`Config`] that reports each problem with its key.
//!
//! ```toml
//! issuer = "http://127.0.0.1:8080"      # exactly what tokens and metadata carry
//! listen = "127.0.0.1:8080"
//! data_dir = "./mcp-auth-data"           # SQLite file, created on first start
//! database_url = "postgres://..."        # instead of the SQLite file
//! access_token_ttl = 300                 # seconds
//! client_cache_seconds = 1               # a client changed by another instance is seen
//!                                        # within this long (0: read for every request)
//! signing_alg = "EdDSA"                  # EdDSA (Ed25519), ES256 or RS256
//! dynamic_registration = true            # RFC 7591 /register
//! registrations_per_minute = 20          # registrations per client address per minute
//! metrics_listen = "127.0.0.1:9464"      # Prometheus /metrics on its own listener (off unless set)
//!
//! [listener]                             # what one connection may cost
//! header_read_timeout = 10               # seconds to send a request head; idle keep-alive limit
//! body_read_timeout = 30                 # seconds to send a request body
//! max_connections = 1024                 # connections served at once
//! drain_delay = 5                        # after SIGTERM: seconds of serving while /readyz is 503
//! shutdown_timeout = 30                  # then: seconds for requests in flight, then cut
//!
//! [danger]                               # weakens security: tests only
//! allow_http_loopback_fetches = false    # fetch http://127.0.0.1 Client ID Metadata Documents,
//!                                        # client jwks_uri and workload issuer key sources
//!
//! [[resources]]                          # RFC 8707 resources tokens may be issued for
//! uri = "http://127.0.0.1:3000/mcp"
//! scopes = ["mcp:read", "mcp:write"]
//! default_scopes = ["mcp:read"]          # granted when a request names no scope (else none)
//!
//! [[clients]]                            # pre-registered clients
//! client_id = "ci-bot"
//! client_secret_sha256 = "<base64 of SHA-256 of the secret>"
//! grant_types = ["client_credentials"]
//! scopes = ["mcp:read"]
//!
//! [[clients]]                            # a public client (PKCE, no secret)
//! client_id = "desktop-app"
//! client_name = "Desktop App"
//! grant_types = ["authorization_code", "refresh_token"]
//! redirect_uris = ["http://127.0.0.1:33418/callback"]
//! scopes = ["mcp:read", "mcp:write"]
//!
//! [[workload_issuers]]                   # platforms whose tokens workloads present
//! id = "k8s-prod"                        # (jwt-bearer grant; every key in
//! issuer = "https://oidc.cluster.example" #  crate::workload::config and
//! discovery = true                       #  profiles/workload-identity-federation.md
//! [[workload_issuers.rules]]             #  Appendix A)
//! when = 'claims.sub == "system:serviceaccount:mcp-agents:planner"'
//! principal = "k8s-prod:mcp-agents/planner"
//! resources = ["http://127.0.0.1:3000/mcp"]
//! scopes = ["mcp:read"]
//!
//! [[id_jag_issuers]]                     # enterprise IdPs whose ID-JAGs clients redeem
//! id = "acme"                            # (every key in crate::id_jag::config and
//! issuer = "https://idp.acme.example"    #  profiles/enterprise-managed-authorization.md)
//! discovery = true
//! resources = ["http://127.0.0.1:3000/mcp"]
//!
//! [[id_jag_targets]]                     # this AS as an enterprise IdP: the MCP
//! id = "mcp-example"                     # authorization servers it issues ID-JAGs for
//! audience = "https://as.example.com"    # (every key in crate::idp::config and the
//! client_ids = { "desktop-agent" = "acme-agent" } # profile's Appendix A.1)
//! [[id_jag_targets.rules]]
//! when = '"engineering" in user.groups'
//! resources = ["https://mcp.example.com/mcp"]
//! scopes = ["mcp:read"]
//! ```
//!
//! Environment: `MCP_AUTH_ISSUER`, `MCP_AUTH_LISTEN`, `MCP_AUTH_DATA_DIR`,
//! `MCP_AUTH_DATABASE_URL`, `MCP_AUTH_ACCESS_TOKEN_TTL`, `MCP_AUTH_METRICS_LISTEN`,
//! `MCP_AUTH_DRAIN_DELAY`, `MCP_AUTH_SHUTDOWN_TIMEOUT` override the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use mcp_auth_core::redact::{MaskedUrl, Secret};
use mcp_auth_httpsig::JwsAlgorithm;
use serde::Deserialize;

mod listener;
mod replay_cache;
pub use replay_cache::{ReplayCacheConfig, UnknownReplayCache};

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    /// The key (e.g. `resources[0].uri`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<MaskedUrl>,
    access_token_ttl: Option<u64>,
    client_cache_seconds: Option<u64>,
    dynamic_registration: Option<bool>,
    registrations_per_minute: Option<u32>,
    #[serde(default)]
    danger: RawDanger,
    signing_alg: Option<String>,
    #[serde(default)]
    resources: Vec<RawResource>,
    #[serde(default)]
    clients: Vec<RawClient>,
    #[serde(default)]
    workload_issuers: Vec<crate::workload::config::RawWorkloadIssuer>,
    #[serde(default)]
    id_jag_issuers: Vec<crate::id_jag::config::RawIdJagIssuer>,
    id_token_ttl: Option<u64>,
    #[serde(default)]
    id_jag_targets: Vec<crate::idp::config::RawTarget>,
    replay_cache: Option<MaskedUrl>,
    #[serde(default)]
    httpsig: RawHttpSig,
    #[serde(default)]
    dpop: RawDpop,
    metrics_listen: Option<String>,
    #[serde(default)]
    listener: mcp_auth_core::listener::ListenerSettings,
    #[serde(default)]
    allow_insecure_permissions: bool,
}

/// `[httpsig]`: the acceptance window of token-request signatures.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpSig {
    max_age: Option<u64>,
    future_skew: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDpop {
    max_age: Option<u64>,
    future_skew: Option<u64>,
    nonce: Option<bool>,
    nonce_secret: Option<Secret<String>>,
}

/// Settings that weaken security, for tests and development only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDanger {
    /// Formerly `cimd_allow_http_loopback` (still read).
    #[serde(default, alias = "cimd_allow_http_loopback")]
    allow_http_loopback_fetches: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    uri: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    default_scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    client_id: String,
    client_secret_sha256: Option<String>,
    client_name: Option<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    httpsig_key_binding_method: Option<String>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    dpop_bound_access_tokens: Option<bool>,
}

/// A resource the AS issues tokens for (RFC 8707), with its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource identifier, compared exactly.
    pub uri: String,
    /// The scopes it defines.
    pub scopes: Vec<String>,
    /// What a request that names no scope gets (RFC 6749 §3.3 "pre-defined default
    /// value"), within what the client may have; a subset of `scopes`, empty unless
    /// configured. Never "every scope": a client that asks for nothing specific gets
    /// the least the operator chose, not the most.
    pub default_scopes: Vec<String>,
}

/// A client from the configuration file: confidential with `client_secret_sha256`,
/// public (PKCE, `token_endpoint_auth_method: none`) without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredClient {
    /// The id.
    pub client_id: String,
    /// The name shown on the consent page.
    pub client_name: Option<String>,
    /// SHA-256 of its secret; `None` for a public client.
    pub secret_sha256: Option<Vec<u8>>,
    /// Redirect URIs (authorization code grant).
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Proof-of-possession members, checked as for DCR: `httpsig_key_binding_method`
    /// (with `jwks` or `jwks_uri` when pre-registered) and RFC 9449
    /// `dpop_bound_access_tokens`.
    pub binding_metadata: Vec<(&'static str, serde_json::Value)>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer identifier: an `http(s)` URL without query or fragment.
    pub issuer: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The database URL (its password masked in `Debug`).
    pub database_url: MaskedUrl,
    /// Access token lifetime, seconds.
    pub access_token_ttl: i64,
    /// `client_cache_seconds`: how long a client read from the database is used
    /// without reading it again, so how long a change made through another instance
    /// (or `mcp-auth as client`) may take to be seen; 0 reads it for every request
    /// (see [`crate::store::ClientCache`]).
    pub client_cache_ttl: i64,
    /// RFC 7591 dynamic client registration at `/register` (default on).
    pub dynamic_registration: bool,
    /// At most this many registrations per minute, process-wide (default 20).
    pub registrations_per_minute: u32,
    /// `[danger] allow_http_loopback_fetches` (formerly `cimd_allow_http_loopback`):
    /// every guarded fetch (Client ID Metadata Documents, client `jwks_uri`, workload
    /// issuer discovery, JWK Sets and bundles) may use `http://` on loopback (tests and
    /// single-machine demos only; off by default).
    pub danger_allow_http_loopback_fetches: bool,
    /// Algorithm of new signing keys.
    pub signing_alg: JwsAlgorithm,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Pre-registered clients.
    pub clients: Vec<ConfiguredClient>,
    /// `[[workload_issuers]]`: the trusted workload issuers of the `jwt-bearer` grant
    /// (profiles/workload-identity-federation.md; see [`crate::workload::config`]).
    pub workload_issuers: Vec<crate::workload::config::WorkloadIssuer>,
    /// The identity provider role: `id_token_ttl` and `[[id_jag_targets]]`
    /// (profiles/enterprise-managed-authorization.md §6.1; see [`crate::idp::config`]).
    pub identity_provider: crate::idp::config::IdentityProvider,
    /// `[[id_jag_issuers]]`: the enterprise IdPs whose ID-JAGs clients redeem here
    /// (profiles/enterprise-managed-authorization.md; see [`crate::id_jag::config`]).
    pub id_jag_issuers: Vec<crate::id_jag::config::IdJagIssuer>,
    /// `replay_cache` (`MCP_AUTH_REPLAY_CACHE`): `memory` (default), a `redis://` URL
    /// or a `redis-cluster://` list shared by every instance.
    pub replay_cache: ReplayCacheConfig,
    /// `[httpsig] max_age`, `future_skew`: the token-request signature window.
    pub httpsig_window: mcp_auth_core::httpsig_profile::Window,
    /// `[dpop]`: the proof window and server nonces at the token endpoint.
    pub dpop: DpopSettings,
    /// Where Prometheus metrics are served (`GET /metrics`); `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Timeouts and the connection cap of the listener.
    pub listener: mcp_auth_core::listener::ListenerLimits,
    /// Start even when the data directory or database file is readable by other local
    /// users (`allow_insecure_permissions`; never the default).
    pub allow_insecure_permissions: bool,
    /// The clock every time check of the server reads (token `exp`, codes, refresh
    /// tokens, sessions, signature and proof windows): the system clock unless a test
    /// sets a [`mcp_auth_core::ManualClock`] before [`crate::AuthorizationServer::start`].
    pub clock: mcp_auth_core::SharedClock,
}

/// `[dpop]` (RFC 9449 at the token endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// `max_age`, `future_skew`: how old (or early) a proof's `iat` may be
    /// (default 60 s each, profiles/dpop.md §5.1 step 11).
    pub window: mcp_auth_core::dpop::ProofWindow,
    /// `nonce`: require a server nonce in every proof (§8; default off).
    pub nonce: bool,
    /// `nonce_secret` (`MCP_AUTH_DPOP_NONCE_SECRET`): the key material nonces are
    /// sealed with, the same on every instance (at least 32 bytes). Without it each
    /// process seals with a random key. Masked in `Debug`.
    pub nonce_secret: Option<Secret<Vec<u8>>>,
}

/// Settings given on the command line: they win over the environment and the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--issuer`
    pub issuer: Option<String>,
    /// `--listen`
    pub listen: Option<String>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--database-url` (its password masked in `Debug`)
    pub database_url: Option<MaskedUrl>,
    /// `--resource URI [SCOPE...]`, added to the file's resources.
    pub resources: Vec<(String, Vec<String>)>,
    /// `--default-scope`: the default scopes of each `--resource` that defines them.
    pub default_scopes: Vec<String>,
    /// `--metrics-listen`
    pub metrics_listen: Option<String>,
    /// `--allow-insecure-permissions`: start even when the data directory or database
    /// file can be read by other local users.
    pub allow_insecure_permissions: bool,
    /// `--drain-delay` (seconds; over `MCP_AUTH_DRAIN_DELAY` and `[listener]`).
    pub drain_delay: Option<u64>,
    /// `--shutdown-timeout` (seconds; over `MCP_AUTH_SHUTDOWN_TIMEOUT`, `[listener]`).
    pub shutdown_timeout: Option<u64>,
}

impl Config {
    /// Reads the TOML text (empty for none), applies `env` overrides, and checks it.
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_sources(text, env, &Overrides::default())
    }

    /// Reads the TOML text, then the environment, then command-line `overrides`, and
    /// checks the result.
    pub fn from_sources(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        // The error's position and message, not its quote of the line: that may hold a
        // secret (`mcp_auth_core::redact::config_error`).
        let mut raw: RawConfig = toml::from_str(text).map_err(|e: toml::de::Error| {
            err(
                "(file)",
                mcp_auth_core::redact::config_error(text, e.span(), e.message()),
            )
        })?;
        let o = overrides.clone();
        let env_or = |key: &str, cli: Option<String>| cli.or_else(|| env(key));
        let issuer = env_or("MCP_AUTH_ISSUER", o.issuer);
        let listen = env_or("MCP_AUTH_LISTEN", o.listen);
        let data_dir = env_or(
            "MCP_AUTH_DATA_DIR",
            o.data_dir.map(|d| d.display().to_string()),
        );
        let database_url = env_or(
            "MCP_AUTH_DATABASE_URL",
            o.database_url.map(MaskedUrl::into_inner),
        );
        let drain = [o.drain_delay, o.shutdown_timeout];
        let layered = |key: &str| match key {
            "MCP_AUTH_ISSUER" => issuer.clone(),
            "MCP_AUTH_LISTEN" => listen.clone(),
            "MCP_AUTH_DATA_DIR" => data_dir.clone(),
            "MCP_AUTH_DATABASE_URL" => database_url.clone(),
            other => match listener::DRAIN_ENV
                .iter()
                .position(|(var, _)| *var == other)
            {
                Some(i) => drain[i].map(|s| s.to_string()).or_else(|| env(other)),
                None => env(other),
            },
        };
        if o.metrics_listen.is_some() {
            raw.metrics_listen = o.metrics_listen;
        }
        raw.allow_insecure_permissions |= o.allow_insecure_permissions;
        for (uri, scopes) in o.resources {
            let default_scopes = o
                .default_scopes
                .iter()
                .filter(|d| scopes.contains(d))
                .cloned()
                .collect();
            raw.resources.push(RawResource {
                uri,
                scopes,
                default_scopes,
            });
        }
        Self::check(raw, &layered)
    }

    fn check(raw: RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let listen_text = env("MCP_AUTH_LISTEN")
            .or(raw.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| err("listen", format!("`{listen_text}` is not an address:port")))?;
        let issuer = env("MCP_AUTH_ISSUER")
            .or(raw.issuer)
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&issuer).map_err(|e| err("issuer", e.to_string()))?;
        if !matches!(parsed.scheme(), "https" | "http")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(err(
                "issuer",
                "must be an http(s) URL without query or fragment (RFC 8414 §2)",
            ));
        }
        if issuer.ends_with('/') {
            return Err(err(
                "issuer",
                "must not end with `/`: metadata and tokens carry it exactly",
            ));
        }
        let data_dir = env("MCP_AUTH_DATA_DIR")
            .map(PathBuf::from)
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from("mcp-auth-data"));
        let database_url = env("MCP_AUTH_DATABASE_URL")
            .or(raw.database_url.map(MaskedUrl::into_inner))
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("mcp-auth.db").display()));
        let ttl = match env("MCP_AUTH_ACCESS_TOKEN_TTL") {
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| err("access_token_ttl", "must be a number of seconds"))?,
            None => raw.access_token_ttl.unwrap_or(300),
        };
        if !(10..=86_400).contains(&ttl) {
            return Err(err(
                "access_token_ttl",
                "must be between 10 and 86400 seconds",
            ));
        }
        let signing_alg = match raw.signing_alg.as_deref().unwrap_or("EdDSA") {
            "EdDSA" | "Ed25519" => JwsAlgorithm::EdDsa,
            "ES256" => JwsAlgorithm::Es256,
            "RS256" => JwsAlgorithm::Rs256,
            other => {
                return Err(err(
                    "signing_alg",
                    format!("`{other}`: use EdDSA, ES256 or RS256"),
                ));
            }
        };
        let mut resources = Vec::with_capacity(raw.resources.len());
        for (i, r) in raw.resources.into_iter().enumerate() {
            let u = url::Url::parse(&r.uri)
                .map_err(|e| err(format!("resources[{i}].uri"), e.to_string()))?;
            if u.fragment().is_some() {
                return Err(err(
                    format!("resources[{i}].uri"),
                    "must not have a fragment (RFC 8707 §2)",
                ));
            }
            if resources.iter().any(|x: &Resource| x.uri == r.uri) {
                return Err(err(format!("resources[{i}].uri"), "listed twice"));
            }
            check_scopes(&r.scopes, &format!("resources[{i}].scopes"))?;
            if let Some(d) = r.default_scopes.iter().find(|d| !r.scopes.contains(d)) {
                return Err(err(
                    format!("resources[{i}].default_scopes"),
                    format!("`{d}` is not one of the resource's scopes"),
                ));
            }
            resources.push(Resource {
                uri: r.uri,
                scopes: r.scopes,
                default_scopes: r.default_scopes,
            });
        }
        let mut clients = Vec::with_capacity(raw.clients.len());
        for (i, c) in raw.clients.into_iter().enumerate() {
            let secret_sha256 = match c.client_secret_sha256 {
                Some(s) => {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(s.trim())
                        .map_err(|_| {
                            err(format!("clients[{i}].client_secret_sha256"), "not base64")
                        })?;
                    if bytes.len() != 32 {
                        return Err(err(
                            format!("clients[{i}].client_secret_sha256"),
                            "must be 32 bytes (SHA-256)",
                        ));
                    }
                    Some(bytes)
                }
                None => None,
            };
            for g in &c.grant_types {
                if !matches!(
                    g.as_str(),
                    "client_credentials"
                        | "authorization_code"
                        | "refresh_token"
                        | mcp_auth_core::workload_assertion::JWT_BEARER_GRANT
                        | mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT
                ) {
                    return Err(err(
                        format!("clients[{i}].grant_types"),
                        format!("`{g}` is not supported"),
                    ));
                }
            }
            if secret_sha256.is_none() && c.grant_types.iter().any(|g| g == "client_credentials") {
                return Err(err(
                    format!("clients[{i}].grant_types"),
                    "client_credentials needs client_secret_sha256",
                ));
            }
            // EMA D10: an ID-JAG is requested and redeemed by a client that
            // authenticates.
            if secret_sha256.is_none()
                && c.grant_types
                    .iter()
                    .any(|g| g == mcp_auth_core::workload_assertion::JWT_BEARER_GRANT)
            {
                return Err(err(
                    format!("clients[{i}].grant_types"),
                    "redeeming ID-JAGs (jwt-bearer) needs client_secret_sha256",
                ));
            }
            if secret_sha256.is_none()
                && c.grant_types
                    .iter()
                    .any(|g| g == mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT)
            {
                return Err(err(
                    format!("clients[{i}].grant_types"),
                    "requesting ID-JAGs (token-exchange) needs client_secret_sha256",
                ));
            }
            if c.grant_types.iter().any(|g| g == "authorization_code") && c.redirect_uris.is_empty()
            {
                return Err(err(
                    format!("clients[{i}].redirect_uris"),
                    "the authorization code grant needs a redirect URI",
                ));
            }
            for uri in &c.redirect_uris {
                crate::registration::check_redirect_uri(uri, "native")
                    .map_err(|e| err(format!("clients[{i}].redirect_uris"), e.to_string()))?;
            }
            check_scopes(&c.scopes, &format!("clients[{i}].scopes"))?;
            let binding_meta = serde_json::json!({
                "httpsig_key_binding_method": c.httpsig_key_binding_method,
                "jwks": c.jwks,
                "jwks_uri": c.jwks_uri,
            });
            let mut binding_meta = binding_meta;
            if let Some(m) = binding_meta.as_object_mut() {
                m.retain(|_, v| !v.is_null());
            }
            let mut binding_metadata = crate::httpsig_token::registration_metadata(&binding_meta)
                .map_err(|e| err(format!("clients[{i}]"), e.to_string()))?;
            if c.dpop_bound_access_tokens == Some(true) {
                binding_metadata.push((
                    crate::dpop_token::DPOP_BOUND_METADATA,
                    serde_json::Value::Bool(true),
                ));
            }
            clients.push(ConfiguredClient {
                client_id: c.client_id,
                client_name: c.client_name,
                secret_sha256,
                redirect_uris: c.redirect_uris,
                grant_types: c.grant_types,
                scopes: c.scopes,
                binding_metadata,
            });
        }
        let replay_cache =
            match env("MCP_AUTH_REPLAY_CACHE").or(raw.replay_cache.map(MaskedUrl::into_inner)) {
                None => ReplayCacheConfig::Memory,
                Some(t) => {
                    ReplayCacheConfig::parse(&t).map_err(|e| err("replay_cache", e.to_string()))?
                }
            };
        let defaults = mcp_auth_core::httpsig_profile::Window::default();
        let httpsig_window = mcp_auth_core::httpsig_profile::Window {
            max_age: raw.httpsig.max_age.unwrap_or(defaults.max_age),
            future_skew: raw.httpsig.future_skew.unwrap_or(defaults.future_skew),
        };
        if !(1..=600).contains(&httpsig_window.max_age) || httpsig_window.future_skew > 60 {
            return Err(err(
                "httpsig",
                "max_age must be 1..=600 seconds and future_skew at most 60",
            ));
        }
        let dpop_defaults = mcp_auth_core::dpop::ProofWindow::default();
        let dpop = DpopSettings {
            window: mcp_auth_core::dpop::ProofWindow {
                max_age: raw.dpop.max_age.map_or(dpop_defaults.max_age, |v| {
                    i64::try_from(v).unwrap_or(i64::MAX)
                }),
                max_skew: raw.dpop.future_skew.map_or(dpop_defaults.max_skew, |v| {
                    i64::try_from(v).unwrap_or(i64::MAX)
                }),
            },
            nonce: raw.dpop.nonce.unwrap_or(false),
            nonce_secret: env("MCP_AUTH_DPOP_NONCE_SECRET")
                .map(Secret::new)
                .or(raw.dpop.nonce_secret)
                .map(|s| s.map(String::into_bytes)),
        };
        if !(1..=600).contains(&dpop.window.max_age) || !(0..=300).contains(&dpop.window.max_skew) {
            return Err(err(
                "dpop",
                "max_age must be 1..=600 seconds and future_skew at most 300",
            ));
        }
        if dpop
            .nonce_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err(err("dpop.nonce_secret", "must have at least 32 bytes"));
        }
        let metrics_listen = match env("MCP_AUTH_METRICS_LISTEN").or(raw.metrics_listen) {
            None => None,
            Some(t) => Some(
                t.parse::<SocketAddr>()
                    .map_err(|_| err("metrics_listen", format!("`{t}` is not an address:port")))?,
            ),
        };
        let listener = listener::limits(raw.listener, env)?;
        let access_token_ttl = i64::try_from(ttl).unwrap_or(300);
        let client_cache_ttl = match raw.client_cache_seconds {
            None => crate::store::client_cache::DEFAULT_TTL,
            Some(s @ 0..=60) => i64::try_from(s).unwrap_or(0),
            Some(_) => return Err(err("client_cache_seconds", "must be 0..=60 seconds")),
        };
        let workload_issuers = crate::workload::config::check(
            raw.workload_issuers,
            &crate::workload::config::Context {
                as_issuer: &issuer,
                resources: &resources,
                clients: &clients,
                access_token_ttl,
                allow_http_loopback: raw.danger.allow_http_loopback_fetches,
            },
        )?;
        let id_jag_issuers = crate::id_jag::config::check(
            raw.id_jag_issuers,
            &crate::id_jag::config::Context {
                as_issuer: &issuer,
                resources: &resources,
                clients: &clients,
                workload_issuers: &workload_issuers,
                access_token_ttl,
                allow_http_loopback: raw.danger.allow_http_loopback_fetches,
            },
        )?;
        let identity_provider = crate::idp::config::check(
            raw.id_token_ttl,
            raw.id_jag_targets,
            &crate::idp::config::Context {
                issuer: &issuer,
                clients: &clients,
            },
        )?;
        Ok(Self {
            identity_provider,
            id_jag_issuers,
            workload_issuers,
            metrics_listen,
            listener,
            allow_insecure_permissions: raw.allow_insecure_permissions,
            clock: mcp_auth_core::system_clock(),
            replay_cache,
            httpsig_window,
            dpop,
            issuer,
            listen,
            data_dir,
            database_url: MaskedUrl::new(database_url),
            access_token_ttl,
            client_cache_ttl,
            dynamic_registration: raw.dynamic_registration.unwrap_or(true),
            registrations_per_minute: raw.registrations_per_minute.unwrap_or(20),
            danger_allow_http_loopback_fetches: raw.danger.allow_http_loopback_fetches,
            signing_alg,
            resources,
            clients,
        })
    }

    /// The path part of the issuer (`""` or `/tenant`), under which endpoints live.
    pub fn issuer_path(&self) -> String {
        url::Url::parse(&self.issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// The resource with exactly this identifier.
    pub fn resource(&self, uri: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.uri == uri)
    }
}

/// RFC 6749 §3.3: scope tokens are `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn check_scopes(scopes: &[String], key: &str) -> Result<(), ConfigError> {
    for s in scopes {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(err(
                key,
                format!("`{s}` is not a valid scope token (RFC 6749 §3.3)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
