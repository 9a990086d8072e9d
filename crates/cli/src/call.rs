//! `mcp-auth call`: one MCP request, authorized as the server asks, printed readably
//! (or as JSON with --json).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcp_auth_client::{
    AuthorizationCodeClient, Authorizer, CachedToken, ClientAuth, DpopSigner, EnterpriseGrant,
    Grant, HttpSigSigner, IdTokenSource, IssuerPolicy, McpClient, PlatformToken, ProofKey,
    RequestSigner, TokenCache,
};
use serde_json::{Value, json};

use crate::cli::{CallArgs, ClientArgs, IdpClientArgs, TokenCacheArgs};
use crate::output::{json_line, print};

/// The environment variable read for the client secret when --client-secret is not
/// given (keeps it out of the process list).
pub(crate) const SECRET_ENV: &str = "MCP_AUTH_CLIENT_SECRET";

/// The environment variable read for the secret of --idp-client-id, the client's
/// registration at the identity provider (enterprise-managed-authorization
/// Appendix A.3): never on the command line, never sent anywhere but that IdP.
pub(crate) const IDP_SECRET_ENV: &str = "MCP_AUTH_IDP_CLIENT_SECRET";

pub(crate) fn run(args: &CallArgs) -> anyhow::Result<ExitCode> {
    init_warnings();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(call(args))
}

/// The client library's warnings (a tool left out of a `tools/list` answer for its
/// invalid `x-mcp-header` annotations, SEP-2243 "SHOULD log a warning") as plain lines
/// on stderr; `MCP_AUTH_LOG` sets the filter (default `warn`). Standard output stays
/// the command's (a bridge's protocol channel).
pub(crate) fn init_warnings() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_AUTH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}

async fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let params = params(args)?;
    let (mut client, mut store) = authorized_client(&args.server, &args.client)?;
    client = client.with_protocol_version(&args.protocol_version);
    let outcome = client.call(&args.method, params).await;
    store.save(&client)?;
    let outcome = outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        for n in &outcome.notifications {
            json_line(n)?;
        }
        json_line(&outcome.response)?;
    } else {
        for n in &outcome.notifications {
            if n["method"] == "notifications/progress" {
                let p = &n["params"];
                eprintln!(
                    "progress {}{}{}",
                    p["progress"],
                    p.get("total").map_or(String::new(), |t| format!("/{t}")),
                    p.get("message")
                        .and_then(Value::as_str)
                        .map_or(String::new(), |m| format!(": {m}"))
                );
            }
        }
        if let Some(error) = outcome.response.get("error") {
            eprintln!(
                "error {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or_default()
            );
            return Ok(ExitCode::from(1));
        }
        let result = &outcome.response["result"];
        print(&readable(&args.method, result))?;
        if result["isError"] == true {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An [`McpClient`] for `server` as the flags say, with what it keeps between runs:
/// the token cache's token (when the flags name a cache and the token is not bound)
/// and the issuer --client-id's credentials may go to.
pub(crate) fn authorized_client(
    server: &str,
    args: &ClientArgs,
) -> anyhow::Result<(McpClient, ClientStore)> {
    let credentials = match &args.client_id {
        Some(id) => Some(client_auth(&as_client(args), id)?),
        None => None,
    };
    let authenticates = credentials.as_ref().is_some_and(ClientAuth::authenticates);
    let workload = platform_token(args);
    // A workload's tokens are not the signed-in user's: like a --client-id's, they
    // go only to a --token-cache named for them, never to the default cache.
    let use_default_cache = args.client_id.is_none() && workload.is_none();
    let grant = match (workload, args.grant.as_str()) {
        (Some(token), _) => Some(Grant::Workload(token)),
        (None, _) if args.idp_client.idp_client_id.is_some() => {
            enterprise_grant(args, credentials)?
        }
        (None, "client_credentials") => credentials.map(Grant::ClientCredentials),
        (None, "authorization_code") => Some(Grant::AuthorizationCode(
            AuthorizationCodeClient {
                preregistered: credentials,
                metadata_document: args.client_metadata_url.clone(),
                redirect_uri: args.redirect_uri.clone(),
                client_name: "mcp-auth".into(),
            },
            // Browser sign-in arrives with `mcp-auth login`; for now the
            // authorization URL is requested directly.
            Authorizer::Headless,
        )),
        (None, other) => bail!("--grant {other}: use client_credentials or authorization_code"),
    };
    let signer: Option<RequestSigner> = match (args.httpsig, args.dpop) {
        (true, true) => bail!("--httpsig and --dpop: choose one way to bind the token"),
        (true, false) => Some(
            HttpSigSigner::new(ProofKey::generate_runtime(
                mcp_auth_httpsig::Algorithm::Ed25519,
            )?)
            .into(),
        ),
        (false, true) => Some(DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)?.into()),
        (false, false) => None,
    };
    // Bound tokens are not cached: their key is new in every run. Without client
    // credentials, the cache `mcp-auth login` wrote is the way to authorize.
    let keep_tokens = signer.is_none();
    let cache = match keep_tokens || authenticates {
        true => open_token_cache(&args.cache, use_default_cache)?,
        false => None,
    };
    let store = ClientStore::new(
        server,
        args.client_id.as_deref().filter(|_| authenticates),
        args.issuer.as_deref(),
        cache,
        keep_tokens,
    )?;
    let mut client = McpClient::new(server, grant, signer)
        .with_scopes(&args.scope)
        .with_issuer_policy(store.issuer_policy());
    if let Some(t) = store.usable_token() {
        client = client.with_cached(t);
    }
    Ok((client, store))
}

/// What a client command keeps between runs: its token cache (if any), which
/// holds the token (unless bound) and the issuer pinned for a pre-registered
/// client's credentials.
pub(crate) struct ClientStore {
    server: String,
    /// The pre-registered client whose credentials authenticate, if any.
    client_id: Option<String>,
    /// --issuer.
    issuer: Option<String>,
    cache: Option<TokenCache>,
    keep_tokens: bool,
    /// The token written last (the bridge saves after every message).
    saved: Option<CachedToken>,
    /// Whether the note on an unpinned issuer was printed.
    noted: bool,
}

impl ClientStore {
    /// The store for `client_id` (a pre-registered client that authenticates) at
    /// `server`; `issuer` is --issuer.
    pub(crate) fn new(
        server: &str,
        client_id: Option<&str>,
        issuer: Option<&str>,
        cache: Option<TokenCache>,
        keep_tokens: bool,
    ) -> anyhow::Result<Self> {
        if let Some(issuer) = issuer {
            check_issuer("--issuer", issuer)?;
        }
        Ok(Self {
            server: server.to_owned(),
            client_id: client_id.map(str::to_owned),
            issuer: issuer.map(str::to_owned),
            cache,
            keep_tokens,
            saved: None,
            noted: false,
        })
    }

    /// Where the pre-registered credentials may go: --issuer, else the issuer
    /// pinned in the token cache for this server and client, else the first one
    /// found (trust on first use).
    pub(crate) fn issuer_policy(&self) -> IssuerPolicy {
        match &self.issuer {
            Some(issuer) => IssuerPolicy::Configured(issuer.clone()),
            None => IssuerPolicy::FirstUse(self.pinned().map(str::to_owned)),
        }
    }

    fn pinned(&self) -> Option<&str> {
        let (cache, id) = (self.cache.as_ref()?, self.client_id.as_deref()?);
        cache.pinned_issuer(&self.server, id)
    }

    /// The cached token to start from, when tokens are kept.
    fn usable_token(&self) -> Option<&CachedToken> {
        self.cache
            .as_ref()
            .filter(|_| self.keep_tokens)
            .and_then(|c| c.usable(&self.server, mcp_auth_core::unix_now()))
    }

    /// Writes what `client` obtained: its token (when tokens are kept and it
    /// changed) and the issuer its pre-registered credentials went to (when that
    /// is not the pinned one). Without a cache, says once on stderr that nothing
    /// pinned the issuer.
    pub(crate) fn save(&mut self, client: &McpClient) -> anyhow::Result<()> {
        let sent_to = client
            .credentials_issuer()
            .filter(|_| self.client_id.is_some());
        if let (Some(issuer), Some(id)) = (sent_to, &self.client_id) {
            match &mut self.cache {
                Some(cache) if cache.pinned_issuer(&self.server, id) != Some(issuer) => cache
                    .pin_issuer(&self.server, id, issuer)
                    .context("writing the token cache")?,
                Some(_) => {}
                None if self.issuer.is_none() && !self.noted => {
                    self.noted = true;
                    eprintln!(
                        "mcp-auth: the credentials of client `{id}` went to {issuer}, the authorization server the MCP server names; nothing pins it (no --issuer, no token cache). Pass --issuer {issuer} to send them nowhere else."
                    );
                }
                None => {}
            }
        }
        let token = client.obtained_token().filter(|_| self.keep_tokens);
        if let (Some(cache), Some(token)) = (&mut self.cache, token)
            && self.saved.as_ref() != Some(&token)
        {
            cache
                .put(&self.server, token.clone())
                .context("writing the token cache")?;
            self.saved = Some(token);
        }
        Ok(())
    }
}

/// An issuer identifier as RFC 8414 §2 defines it: an https URL without query or
/// fragment; http only on a loopback address (secrets, codes and tokens go there).
pub(crate) fn check_issuer(flag: &str, issuer: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(issuer).with_context(|| format!("{flag} {issuer}: not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.query().is_some() || url.fragment().is_some() {
        bail!(
            "{flag} {issuer}: an issuer is an https URL (http only on a loopback address) without query or fragment (RFC 8414 §2)"
        );
    }
    Ok(())
}

/// The token cache the flags name: --token-cache, else (when `use_default`) the
/// default file, unless --no-token-cache.
pub(crate) fn open_token_cache(
    args: &TokenCacheArgs,
    use_default: bool,
) -> anyhow::Result<Option<TokenCache>> {
    let path = match (&args.token_cache, args.no_token_cache, use_default) {
        (Some(path), _, _) => path.clone(),
        (None, false, true) => match default_token_cache() {
            Some(path) => path,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    // The file and its directory are created (0600, 0700) at the first write.
    Ok(Some(TokenCache::open(&path)?))
}

/// MCP_AUTH_TOKEN_CACHE, else $XDG_CACHE_HOME/mcp-auth/tokens.json, else
/// ~/.cache/mcp-auth/tokens.json.
pub(crate) fn default_token_cache() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("MCP_AUTH_TOKEN_CACHE").or_else(|| {
        var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .map(|d| d.join("mcp-auth").join("tokens.json"))
    })
}

/// Where the workload's platform token is, when the flags give one
/// (--workload-token FILE, --workload-token-env VAR).
fn platform_token(args: &ClientArgs) -> Option<PlatformToken> {
    match (&args.workload_token, &args.workload_token_env) {
        (Some(path), _) => Some(PlatformToken::File(path.clone())),
        (None, Some(var)) => Some(PlatformToken::Env(var.clone())),
        (None, None) => None,
    }
}

/// The enterprise grant of --idp-client-id (profiles/enterprise-managed-authorization.md
/// §7.11): the ID token file of --id-token, else the sign-in `mcp-auth login --idp`
/// kept ([`crate::login::kept_sign_in`]); the client at the identity provider
/// (--idp-client-id, its secret from [`IDP_SECRET_ENV`]) and at the authorization
/// server (`credentials`, from --client-id).
fn enterprise_grant(
    args: &ClientArgs,
    credentials: Option<ClientAuth>,
) -> anyhow::Result<Option<Grant>> {
    let Some(client) = credentials else {
        bail!("--idp-client-id needs --client-id");
    };
    if let Some(idp) = &args.idp {
        check_issuer("--idp", idp)?;
    }
    let idp_client = idp_client_auth(&args.idp_client)?;
    let (id_token, idp_issuer) = match &args.id_token {
        Some(path) => (IdTokenSource::File(path.clone()), args.idp.clone()),
        None => {
            let (cache, issuer) = crate::login::kept_sign_in(
                &args.cache,
                args.idp.as_deref(),
                idp_client.client_id(),
            )?;
            let source = IdTokenSource::SignIn {
                cache,
                issuer: issuer.clone(),
            };
            (source, Some(issuer))
        }
    };
    Ok(Some(Grant::Enterprise(EnterpriseGrant {
        id_token,
        idp_client,
        idp_issuer,
        client,
    })))
}

/// The client's credentials at the identity provider: --idp-client-id, as
/// --idp-client-auth says (its secret from [`IDP_SECRET_ENV`]).
pub(crate) fn idp_client_auth(args: &IdpClientArgs) -> anyhow::Result<ClientAuth> {
    let Some(idp_id) = &args.idp_client_id else {
        bail!("no --idp-client-id");
    };
    client_auth(
        &ClientFlags {
            method: &args.idp_client_auth,
            method_flag: "--idp-client-auth",
            secret: None,
            secret_env: IDP_SECRET_ENV,
            id_flag: "--idp-client-id",
            private_key: args.idp_private_key.as_deref(),
            key_flag: "--idp-private-key",
            signing_alg: &args.idp_signing_alg,
        },
        idp_id,
    )
}

/// How one registration of the client authenticates, from the flags of its
/// server (the authorization server's, or the identity provider's), with the
/// flags' names for messages.
struct ClientFlags<'a> {
    method: &'a str,
    method_flag: &'a str,
    /// The secret given on the command line, if that server's flags have one.
    secret: Option<&'a str>,
    secret_env: &'a str,
    id_flag: &'a str,
    private_key: Option<&'a Path>,
    key_flag: &'a str,
    signing_alg: &'a str,
}

/// The flags of the client's registration at the authorization server.
fn as_client(args: &ClientArgs) -> ClientFlags<'_> {
    ClientFlags {
        method: &args.client_auth,
        method_flag: "--client-auth",
        secret: args.client_secret.as_ref().map(|s| s.expose().as_str()),
        secret_env: SECRET_ENV,
        id_flag: "--client-id",
        private_key: args.private_key.as_deref(),
        key_flag: "--private-key",
        signing_alg: &args.signing_alg,
    }
}

/// The client's credentials from the flags (the secret from the environment when
/// not on the command line).
fn client_auth(flags: &ClientFlags<'_>, id: &str) -> anyhow::Result<ClientAuth> {
    let client_id = id.to_owned();
    let secret = || -> anyhow::Result<String> {
        match flags.secret {
            Some(s) => Ok(s.to_owned()),
            None => std::env::var(flags.secret_env).with_context(|| {
                let on_command_line = match flags.id_flag {
                    "--client-id" => "--client-secret or ",
                    _ => "",
                };
                format!(
                    "{} needs {on_command_line}{} (or {} none for a public client)",
                    flags.id_flag, flags.secret_env, flags.method_flag
                )
            }),
        }
    };
    Ok(match flags.method {
        "client_secret_basic" => ClientAuth::SecretBasic {
            client_id,
            secret: secret()?,
        },
        "client_secret_post" => ClientAuth::SecretPost {
            client_id,
            secret: secret()?,
        },
        "private_key_jwt" => {
            let path = flags.private_key.with_context(|| {
                format!("private_key_jwt needs {} FILE (PKCS#8 PEM)", flags.key_flag)
            })?;
            ClientAuth::PrivateKeyJwt {
                client_id,
                key_pem: crate::output::read_text(path)?,
                alg: flags.signing_alg.to_owned(),
            }
        }
        "none" => ClientAuth::None { client_id },
        other => bail!(
            "{} {other}: use client_secret_basic, client_secret_post, private_key_jwt or none",
            flags.method_flag
        ),
    })
}

/// The request's params: the name or URI for the methods that take one, then --arg
/// values (JSON when they parse as JSON, else strings), or --params as a whole.
fn params(args: &CallArgs) -> anyhow::Result<Value> {
    if let Some(raw) = &args.params {
        return serde_json::from_str(raw).context("--params is not JSON");
    }
    let mut arguments = serde_json::Map::new();
    for a in &args.arg {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--arg {a}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        arguments.insert(k.to_owned(), value);
    }
    let target = args.target.clone();
    Ok(match args.method.as_str() {
        "tools/call" | "prompts/get" => {
            let Some(name) = target else {
                bail!(
                    "{} needs a name: mcp-auth call URL {} NAME",
                    args.method,
                    args.method
                );
            };
            json!({"name": name, "arguments": arguments})
        }
        "resources/read" => {
            let Some(uri) = target else {
                bail!("resources/read needs a URI: mcp-auth call URL resources/read URI");
            };
            json!({"uri": uri})
        }
        _ => json!({}),
    })
}

/// Tool lists as `name  description`, tool results as their text, everything else
/// as indented JSON.
fn readable(method: &str, result: &Value) -> String {
    match method {
        "tools/list" => result["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .map(|t| {
                        format!(
                            "{:<20} {}\n",
                            t["name"].as_str().unwrap_or_default(),
                            t["description"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "tools/call" => result["content"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|c| match c["text"].as_str() {
                        Some(t) => format!("{t}\n"),
                        None => format!("{c}\n"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => format!(
            "{}\n",
            serde_json::to_string_pretty(result).unwrap_or_default()
        ),
    }
}
