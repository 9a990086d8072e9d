//! `mcp-auth call`: one MCP request, authorized as the server asks, printed readably
//! (or as JSON with --json).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcp_auth_client::{
    AuthorizationCodeClient, Authorizer, ClientAuth, DpopSigner, Grant, HttpSigSigner, McpClient,
    ProofKey, RequestSigner, TokenCache,
};
use serde_json::{Value, json};

use crate::cli::{CallArgs, ClientArgs, TokenCacheArgs};
use crate::output::{json_line, print};

/// The environment variable read for the client secret when --client-secret is not
/// given (keeps it out of the process list).
pub(crate) const SECRET_ENV: &str = "MCP_AUTH_CLIENT_SECRET";

pub(crate) fn run(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(call(args))
}

async fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let params = params(args)?;
    let (mut client, mut cache) = authorized_client(&args.server, &args.client)?;
    client = client.with_protocol_version(&args.protocol_version);
    let outcome = client.call(&args.method, params).await;
    save_token(cache.as_mut(), &args.server, &client)?;
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

/// An [`McpClient`] for `server` as the flags say, with the token cache (when
/// --token-cache is given and the token is not bound) and its token loaded.
pub(crate) fn authorized_client(
    server: &str,
    args: &ClientArgs,
) -> anyhow::Result<(McpClient, Option<TokenCache>)> {
    let credentials = match &args.client_id {
        Some(id) => Some(client_auth(args, id)?),
        None => None,
    };
    let grant = match args.grant.as_str() {
        "client_credentials" => credentials.map(Grant::ClientCredentials),
        "authorization_code" => Some(Grant::AuthorizationCode(
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
        other => bail!("--grant {other}: use client_credentials or authorization_code"),
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
    let bound = signer.is_some();
    let mut client = McpClient::new(server, grant, signer).with_scopes(&args.scope);
    // Bound tokens are not cached: their key is new in every run. Without client
    // credentials, the cache `mcp-auth login` wrote is the way to authorize.
    let cache = match bound {
        false => open_token_cache(&args.cache, args.client_id.is_none())?,
        true => None,
    };
    if let Some(t) = cache
        .as_ref()
        .and_then(|c| c.usable(server, mcp_auth_core::unix_now()))
    {
        client = client.with_cached(t);
    }
    Ok((client, cache))
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
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let cache =
        TokenCache::open(&path).with_context(|| format!("token cache {}", path.display()))?;
    Ok(Some(cache))
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

/// Creates `dir` (and its parents), the last one readable by its owner only.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes the token `client` obtained (if any) to the cache (if any).
pub(crate) fn save_token(
    cache: Option<&mut TokenCache>,
    server: &str,
    client: &McpClient,
) -> anyhow::Result<()> {
    if let (Some(cache), Some(token)) = (cache, client.obtained_token()) {
        cache
            .put(server, token)
            .context("writing the token cache")?;
    }
    Ok(())
}

/// The client's credentials from the flags (the secret from the environment when
/// not on the command line).
fn client_auth(args: &ClientArgs, id: &str) -> anyhow::Result<ClientAuth> {
    let client_id = id.to_owned();
    let secret = || -> anyhow::Result<String> {
        match &args.client_secret {
            Some(s) => Ok(s.clone()),
            None => std::env::var(SECRET_ENV)
                .with_context(|| format!("--client-id needs --client-secret or {SECRET_ENV}")),
        }
    };
    Ok(match args.client_auth.as_str() {
        "client_secret_basic" => ClientAuth::SecretBasic {
            client_id,
            secret: secret()?,
        },
        "client_secret_post" => ClientAuth::SecretPost {
            client_id,
            secret: secret()?,
        },
        "private_key_jwt" => {
            let path = args
                .private_key
                .as_ref()
                .context("private_key_jwt needs --private-key FILE (PKCS#8 PEM)")?;
            ClientAuth::PrivateKeyJwt {
                client_id,
                key_pem: crate::output::read_text(path)?,
                alg: args.signing_alg.clone(),
            }
        }
        "none" => ClientAuth::None { client_id },
        other => bail!(
            "--client-auth {other}: use client_secret_basic, client_secret_post, private_key_jwt or none"
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
