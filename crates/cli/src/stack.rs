//! The whole product in one process: the authorization server, the demo MCP server,
//! and the gateway in front of it. `mcp-auth up` serves it on fixed ports; `mcp-auth
//! bench` starts it on ephemeral ports to measure it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use mcp_auth_resource::gateway::{RawDpopConfig, RawGatewayConfig};
use mcp_auth_server::{AuthorizationServer, Config, Overrides};

use crate::demo_server::{DemoConfig, demo_router};

/// The scope every request needs, and the one `write_note` needs on top.
pub(crate) const READ_SCOPE: &str = "mcp:read";
/// The scope of `write_note`.
pub(crate) const WRITE_SCOPE: &str = "mcp:write";
/// The confidential client for unbound (Bearer) tokens.
pub(crate) const BEARER_CLIENT: &str = "demo";
/// The confidential client whose tokens are bound to an HTTP message signature key.
pub(crate) const HTTPSIG_CLIENT: &str = "demo-httpsig";
/// The user who signs in at the AS (`mcp-auth login`); the password is the clients'
/// secret.
pub(crate) const DEMO_USER: &str = "demo";

/// Where each part listens and what it keeps.
#[derive(Debug, Clone)]
pub(crate) struct StackOptions {
    /// The AS data directory (SQLite file).
    pub(crate) data_dir: PathBuf,
    /// The AS listener.
    pub(crate) as_listen: String,
    /// The gateway listener.
    pub(crate) gateway_listen: String,
    /// The demo server listener.
    pub(crate) demo_listen: String,
    /// Accept unbound Bearer tokens at the gateway.
    pub(crate) allow_bearer: bool,
    /// Accept DPoP-bound tokens at the gateway.
    pub(crate) allow_dpop: bool,
    /// A Redis URL for the replay cache (memory when `None`).
    pub(crate) replay_cache: Option<mcp_auth_core::redact::MaskedUrl>,
    /// Where to serve Prometheus metrics (nowhere when `None`).
    pub(crate) metrics_listen: Option<String>,
    /// Start even when the data directory is readable by other local users.
    pub(crate) allow_insecure_permissions: bool,
    /// Where the demo enterprise identity provider listens (none when `None`).
    pub(crate) idp_listen: Option<String>,
}

/// The running stack.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The AS issuer (and base URL).
    pub(crate) issuer: String,
    /// The protected MCP endpoint (the resource identifier).
    pub(crate) resource: String,
    /// The demo server's endpoint, unprotected (loopback).
    pub(crate) upstream: String,
    /// The secret of both demo clients and the demo user's password, new at every
    /// start.
    pub(crate) client_secret: mcp_auth_core::redact::Secret<String>,
    /// The gateway's router and listener, for the caller to serve (or wrap).
    pub(crate) gateway: (tokio::net::TcpListener, axum::Router),
    /// The gateway's audit sink (`--gateway-config` `[audit]`), to flush once served.
    pub(crate) gateway_audit: Option<mcp_auth_resource::audit::AuditSink>,
    /// What the AS created at start (data directory, signing key).
    pub(crate) created: Vec<String>,
    /// The demo enterprise identity provider's issuer, when it runs.
    pub(crate) idp: Option<String>,
}

/// Starts the AS and the demo server (served in the background) and builds the
/// gateway (returned for the caller to serve), all on loopback.
pub(crate) async fn start(options: &StackOptions) -> anyhow::Result<Stack> {
    start_with(options, None).await
}

/// [`start`], the gateway with the settings of `mcp-auth up --gateway-config` added
/// ([`GatewayExtras::apply`]).
pub(crate) async fn start_with(
    options: &StackOptions,
    extras: Option<&GatewayExtras>,
) -> anyhow::Result<Stack> {
    let demo = tokio::net::TcpListener::bind(&options.demo_listen)
        .await
        .with_context(|| format!("demo server: listening on {}", options.demo_listen))?;
    let upstream = format!("http://{}/mcp", demo.local_addr()?);
    let router = demo_router(DemoConfig {
        stateful: true,
        json_response: false,
        allowed_hosts: None,
    });
    tokio::spawn(async move {
        if let Err(e) = crate::observability::serve(demo, router).await {
            tracing::error!(error = %e, "the demo server stopped");
        }
    });

    let gateway_listener = tokio::net::TcpListener::bind(&options.gateway_listen)
        .await
        .with_context(|| format!("gateway: listening on {}", options.gateway_listen))?;
    let resource = format!("http://{}/mcp", gateway_listener.local_addr()?);

    let as_listener = tokio::net::TcpListener::bind(&options.as_listen)
        .await
        .with_context(|| format!("authorization server: listening on {}", options.as_listen))?;
    let as_addr: SocketAddr = as_listener.local_addr()?;
    let issuer = format!("http://{as_addr}");
    let client_secret = mcp_auth_core::random_token::<32>()?;
    let data_dir_existed = options.data_dir.exists();
    mcp_auth_core::private_file::create_dir(&options.data_dir)
        .with_context(|| format!("creating {}", options.data_dir.display()))?;
    // Checked before anything is written to it (the demo keys and key sets), not only
    // when the store opens: another user's directory could hold their links.
    mcp_auth_server::private_files::check_private(
        &options.data_dir,
        options.allow_insecure_permissions,
    )?;
    let idp = match &options.idp_listen {
        Some(listen) => Some(
            crate::demo_idp::start(
                listen,
                &options.data_dir,
                &issuer,
                &resource,
                &client_secret,
                options.allow_insecure_permissions,
            )
            .await?,
        ),
        None => None,
    };
    let toml = format!(
        "{}{}{}",
        clients_toml(&client_secret),
        crate::demo_workload::trust_toml(&options.data_dir, &resource, READ_SCOPE)?,
        idp.as_ref()
            .map(|i| i.trust_toml(&resource, &client_secret))
            .unwrap_or_default()
    );
    let config = Config::from_sources(
        &toml,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(as_addr.to_string()),
            data_dir: Some(options.data_dir.clone()),
            resources: vec![(
                resource.clone(),
                vec![READ_SCOPE.into(), WRITE_SCOPE.into()],
            )],
            // A token request that names no scope gets read access, never write.
            default_scopes: vec![READ_SCOPE.into()],
            allow_insecure_permissions: options.allow_insecure_permissions,
            ..Overrides::default()
        },
    )
    .context("authorization server configuration")?;
    let server = AuthorizationServer::start(config)
        .await
        .context("starting the authorization server")?;
    let mut created = Vec::new();
    if server.report().created_data_dir || !data_dir_existed {
        created.push(format!(
            "created data directory {}",
            options.data_dir.display()
        ));
    }
    if server.report().created_signing_key {
        created.push("created a signing key".to_owned());
    }
    let password_hash = mcp_auth_server::password::hash_password(client_secret.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the demo user's password: {e}"))?;
    server
        .state()
        .store
        .set_user_password(DEMO_USER, &password_hash, server.state().clock.now())
        .await
        .context("adding the demo user")?;
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(as_listener, crate::observability::shutdown_signal())
            .await
        {
            tracing::error!(error = %e, "the authorization server stopped");
        }
    });

    if let Some(addr) = &options.metrics_listen {
        let bound = crate::observability::serve_metrics(addr).await?;
        created.push(format!("metrics at http://{bound}/metrics"));
    }
    let mut settings = RawGatewayConfig {
        upstream: Some(upstream.as_str().into()),
        resource: Some(resource.clone()),
        issuers: vec![issuer.clone()],
        listen: Some(options.gateway_listen.clone()),
        allow_bearer: options.allow_bearer,
        replay_cache: options.replay_cache.clone(),
        scopes_supported: vec![READ_SCOPE.into(), WRITE_SCOPE.into()],
        scopes: toml::from_str(&format!(
            "required = [\"{READ_SCOPE}\"]\n[[rules]]\nmethod = \"tools/call\"\nname = \"write_*\"\nscopes = [\"{WRITE_SCOPE}\"]\n"
        ))
        .context("the demo scope policy")?,
        dpop: RawDpopConfig {
            enabled: options.allow_dpop,
            ..RawDpopConfig::default()
        },
        ..RawGatewayConfig::default()
    };
    if let Some(extras) = extras {
        extras.apply(&mut settings);
    }
    let gateway = crate::gateway::build(settings).await?;
    Ok(Stack {
        issuer,
        resource,
        upstream,
        client_secret: client_secret.into(),
        gateway: (gateway_listener, gateway.router),
        gateway_audit: gateway.audit,
        created,
        idp: idp.map(|i| i.issuer),
    })
}

/// The two demo clients, both confidential with `secret`: one for Bearer tokens, one
/// whose tokens are bound to a runtime HTTP message signature key.
fn clients_toml(secret: &str) -> String {
    let digest = secret_sha256(secret);
    format!(
        r#"
[[clients]]
client_id = "{BEARER_CLIENT}"
client_name = "Demo client (Bearer)"
client_secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]

[[clients]]
client_id = "{HTTPSIG_CLIENT}"
client_name = "Demo client (HTTP message signatures)"
client_secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["{READ_SCOPE}", "{WRITE_SCOPE}"]
httpsig_key_binding_method = "runtime"
"#
    )
}

/// A client secret as `[[clients]]` takes it: `client_secret_sha256`, base64.
pub(crate) fn secret_sha256(secret: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(mcp_auth_server::client_auth::secret_digest(secret))
}

/// The largest `--gateway-config` file read.
const MAX_GATEWAY_CONFIG_BYTES: u64 = 1024 * 1024;

/// The tables of a gateway file that `mcp-auth up --gateway-config` takes.
pub(crate) const GATEWAY_CONFIG_TABLES: [&str; 4] = ["policy", "rate_limit", "audit", "scopes"];

/// What sets a gateway key that `up` owns, for the error that refuses it in the file.
fn owned_by(key: &str) -> Option<&'static str> {
    Some(match key {
        "upstream" => "the demo MCP server it starts",
        "resource" => "the gateway's URL, from --listen",
        "issuers" => "its own authorization server, from --as-listen",
        "listen" => "--listen",
        "metrics_listen" => "--metrics-listen",
        "replay_cache" => "--replay-cache",
        "allow_bearer" | "dpop" => "on unless --httpsig-only",
        "scopes_supported" => "the authorization server's scopes, mcp:read and mcp:write",
        _ => return None,
    })
}

/// The gateway settings `mcp-auth up --gateway-config FILE` adds to those the stack
/// sets itself: a file in the format of `mcp-auth gateway --config` that holds only
/// [`GATEWAY_CONFIG_TABLES`]. Read and checked (policy conditions compiled) before
/// anything starts, so a mistake costs no port.
#[derive(Debug, Clone)]
pub(crate) struct GatewayExtras {
    /// The file, for the banner.
    path: PathBuf,
    /// The file as the gateway reads it; only the accepted tables are set.
    raw: RawGatewayConfig,
    /// The accepted tables the file has, in [`GATEWAY_CONFIG_TABLES`] order.
    tables: Vec<&'static str>,
}

/// Why a `--gateway-config` file is refused. Each message names the file.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum GatewayConfigFileError {
    /// The file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_GATEWAY_CONFIG_BYTES`].
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Not TOML, or not a gateway file (an unknown key, a wrong type).
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's position and message (`mcp_auth_core::redact::config_error`:
        /// never the line itself, which may hold a secret).
        problem: String,
    },
    /// A key that `up` sets itself.
    Owned {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What sets it.
        by: &'static str,
    },
    /// A gateway key `up` does not take (use `mcp-auth gateway --config`).
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A `[[policy.rules]]` entry does not compile.
    Policy {
        /// The file.
        path: PathBuf,
        /// The rule, its position and why.
        source: mcp_auth_resource::policy::PolicyError,
    },
}

impl std::fmt::Display for GatewayConfigFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables = GATEWAY_CONFIG_TABLES.map(|t| format!("[{t}]")).join(", ");
        match self {
            Self::Read { path, source } => write!(f, "reading {}: {source}", path.display()),
            Self::TooLarge { path } => write!(
                f,
                "{}: larger than {MAX_GATEWAY_CONFIG_BYTES} bytes",
                path.display()
            ),
            Self::Toml { path, problem } => write!(f, "{}: {problem}", path.display()),
            Self::Owned { path, key, by } => write!(
                f,
                "{}: `{key}` is set by `mcp-auth up` itself ({by}) and cannot be given in \
                 --gateway-config, which takes only {tables}",
                path.display()
            ),
            Self::Unsupported { path, key } => write!(
                f,
                "{}: `{key}` is not supported by `mcp-auth up --gateway-config`, which takes \
                 only {tables}; run `mcp-auth gateway --config` for it",
                path.display()
            ),
            Self::Policy { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for GatewayConfigFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Policy { source, .. } => Some(source),
            Self::Toml { .. }
            | Self::TooLarge { .. }
            | Self::Owned { .. }
            | Self::Unsupported { .. } => None,
        }
    }
}

impl GatewayExtras {
    /// Reads and checks `path`.
    pub(crate) fn read(path: &std::path::Path) -> Result<Self, GatewayConfigFileError> {
        use mcp_auth_core::private_file::{Others, Owners};
        let read_err = |source| GatewayConfigFileError::Read {
            path: path.to_owned(),
            source,
        };
        // A file other users cannot change: it decides whom the gateway trusts.
        let bytes = mcp_auth_core::private_file::read(
            path,
            MAX_GATEWAY_CONFIG_BYTES,
            Owners::Provided,
            Others::Read,
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => GatewayConfigFileError::TooLarge {
                path: path.to_owned(),
            },
            _ => read_err(e),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            read_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it is not UTF-8 text",
            ))
        })?;
        Self::parse(path, &text)
    }

    /// Checks the text of a gateway file: first as the gateway reads it (unknown keys
    /// and wrong types refused with the gateway's messages), then its top-level keys.
    fn parse(path: &std::path::Path, text: &str) -> Result<Self, GatewayConfigFileError> {
        let toml_err = |e: toml::de::Error| GatewayConfigFileError::Toml {
            path: path.to_owned(),
            problem: mcp_auth_core::redact::config_error(text, e.span(), e.message()),
        };
        let raw: RawGatewayConfig = toml::from_str(text).map_err(toml_err)?;
        let table: toml::Table = text.parse().map_err(toml_err)?;
        for key in table.keys() {
            if GATEWAY_CONFIG_TABLES.contains(&key.as_str()) {
                continue;
            }
            return Err(match owned_by(key) {
                Some(by) => GatewayConfigFileError::Owned {
                    path: path.to_owned(),
                    key: key.clone(),
                    by,
                },
                None => GatewayConfigFileError::Unsupported {
                    path: path.to_owned(),
                    key: key.clone(),
                },
            });
        }
        mcp_auth_resource::policy::Policy::compile(&raw.policy).map_err(|source| {
            GatewayConfigFileError::Policy {
                path: path.to_owned(),
                source,
            }
        })?;
        let tables = GATEWAY_CONFIG_TABLES
            .into_iter()
            .filter(|t| table.contains_key(*t))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            raw,
            tables,
        })
    }

    /// Sets the file's tables on the stack's gateway settings: `[policy]`,
    /// `[rate_limit]` and `[audit]` as written (the stack sets none), `[scopes]` added
    /// to the demo's (its required scopes and rules after the stack's, its `implies`
    /// over any of the stack's), so the file can ask for more, never for less.
    pub(crate) fn apply(&self, settings: &mut RawGatewayConfig) {
        settings.policy = self.raw.policy.clone();
        settings.rate_limit = self.raw.rate_limit.clone();
        settings.audit = self.raw.audit.clone();
        let scopes = &self.raw.scopes;
        for scope in &scopes.required {
            if !settings.scopes.required.contains(scope) {
                settings.scopes.required.push(scope.clone());
            }
        }
        settings.scopes.rules.extend(scopes.rules.iter().cloned());
        settings
            .scopes
            .implies
            .extend(scopes.implies.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// One line for the banner: the file and what it sets.
    pub(crate) fn summary(&self) -> String {
        let what: Vec<String> = self
            .tables
            .iter()
            .map(|t| match *t {
                "policy" => format!(
                    "[policy] {} rule{}, default {}",
                    self.raw.policy.rules.len(),
                    if self.raw.policy.rules.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    match self.raw.policy.default {
                        mcp_auth_resource::policy::Effect::Allow => "allow",
                        mcp_auth_resource::policy::Effect::Deny => "deny",
                    }
                ),
                other => format!("[{other}]"),
            })
            .collect();
        let what = if what.is_empty() {
            "nothing".to_owned()
        } else {
            what.join(", ")
        };
        format!("{} ({what})", self.path.display())
    }

    /// Whether the file adds to the demo's `[scopes]`.
    pub(crate) fn adds_scopes(&self) -> bool {
        self.tables.contains(&"scopes")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<GatewayExtras, GatewayConfigFileError> {
        GatewayExtras::parse(Path::new("g.toml"), text)
    }

    fn demo_settings() -> RawGatewayConfig {
        RawGatewayConfig {
            scopes: toml::from_str(
                "required = [\"mcp:read\"]\n[[rules]]\nmethod = \"tools/call\"\nname = \"write_*\"\nscopes = [\"mcp:write\"]\n",
            )
            .unwrap(),
            ..RawGatewayConfig::default()
        }
    }

    /// Fails if the policy were not copied, or the scopes replaced the demo's.
    #[test]
    fn the_file_adds_a_policy_and_scope_rules_on_top_of_the_demo() {
        let extras = parse(
            r#"
[policy]
default = "allow"
[[policy.rules]]
name = "no announce"
when = 'request.name == "announce"'
effect = "deny"
[scopes]
required = ["mcp:read", "extra"]
[[scopes.rules]]
method = "tools/call"
name = "slow"
scopes = ["mcp:write"]
"#,
        )
        .unwrap();
        let mut settings = demo_settings();
        extras.apply(&mut settings);
        assert_eq!(settings.policy.rules.len(), 1);
        assert_eq!(settings.policy.rules[0].name, "no announce");
        assert_eq!(settings.scopes.required, ["mcp:read", "extra"]);
        let names: Vec<_> = settings
            .scopes
            .rules
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, [Some("write_*".to_owned()), Some("slow".to_owned())]);
        assert_eq!(
            extras.summary(),
            "g.toml ([policy] 1 rule, default allow, [scopes])"
        );
        assert!(extras.adds_scopes());
    }

    /// Fails if a key `up` sets were accepted (or silently ignored).
    #[test]
    fn keys_up_sets_itself_are_refused_naming_the_key() {
        for (text, key) in [
            ("upstream = \"http://127.0.0.1:1/mcp\"", "upstream"),
            ("resource = \"http://x/mcp\"", "resource"),
            ("issuers = [\"http://x\"]", "issuers"),
            ("listen = \"127.0.0.1:1\"", "listen"),
            ("[dpop]\nenabled = true", "dpop"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                matches!(&e, GatewayConfigFileError::Owned { key: k, .. } if k == key),
                "{e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("g.toml: `{key}` is set by `mcp-auth up` itself")),
                "{msg}"
            );
        }
    }

    /// Fails if a gateway key `up` cannot honour were accepted.
    #[test]
    fn other_gateway_keys_are_refused_as_unsupported() {
        let e = parse("forward_token = true").unwrap_err();
        assert!(
            e.to_string()
                .contains("`forward_token` is not supported by `mcp-auth up --gateway-config`"),
            "{e}"
        );
    }

    /// Fails if a typo or a bad condition got past the read (they would then fail
    /// only once the AS is up, or never).
    #[test]
    fn unknown_keys_and_bad_conditions_are_refused_when_read() {
        let e = parse("[polcy]\ndefault = \"deny\"").unwrap_err();
        assert!(matches!(e, GatewayConfigFileError::Toml { .. }), "{e:?}");
        assert!(e.to_string().contains("polcy"), "{e}");
        let e = parse(
            "[[policy.rules]]\nname = \"typo\"\nwhen = 'request.name == (\"x\"'\neffect = \"deny\"",
        )
        .unwrap_err();
        assert!(matches!(e, GatewayConfigFileError::Policy { .. }), "{e:?}");
        assert!(e.to_string().contains("typo"), "{e}");
    }

    /// The refusal names the line, not its text (which may hold a secret), and has no
    /// source error that would print the text after it (`{:#}`).
    #[test]
    fn a_gateway_file_that_does_not_parse_is_told_without_its_text() {
        for text in [
            "[dpop]\nnonce_secert = \"S3cret-S3cret-S3cret-S3cret-S3cret\"",
            "[dpop]\nnonce_secret = \"S3cret-S3cret-S3cret-S3cret-S3cret",
        ] {
            let e = parse(text).unwrap_err();
            assert!(matches!(e, GatewayConfigFileError::Toml { .. }), "{e:?}");
            let told = format!("{:#}", anyhow::Error::new(e));
            assert!(told.contains("line 2"), "{told}");
            assert!(!told.contains("S3cret"), "{told}");
        }
    }
}
