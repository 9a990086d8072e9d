//! `mcp-auth as`: wiring and presentation for the authorization server.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcp_auth_core::redact::url_password;
use mcp_auth_server::{AuthorizationServer, ClientRecord, Config, Overrides, Store};
use serde_json::json;

use crate::cli::{AsArgs, AsCommand, AsCommon, ClientCommand, DrainArgs, UserCommand};
use crate::output::{json_line, print};

pub(crate) fn run(args: AsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.common, args.drain)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            None => serve(config).await,
            Some(AsCommand::RotateKeys) => {
                let store = open_store(&config).await?;
                for alg in config.key_policy().algorithms() {
                    // Published by every running instance before any signs with it.
                    let kid = mcp_auth_server::keys::rotate_published_first(&store, alg, config.clock.now()).await?;
                    print(&format!("new signing key {kid} ({}): published now, signing in {} s; the previous key signs until then and stays published until its tokens expire\n", alg.name(), mcp_auth_server::keys::PUBLISH_BEFORE_SIGNING))?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::Client(ClientCommand::Add { id, scopes, grants, jwks, redirect_uris, public, name, json })) => {
                refuse_reserved(&config, "client", &id)?;
                let store = open_store(&config).await?;
                let jwt_bearer = mcp_auth_core::workload_assertion::JWT_BEARER_GRANT;
                let exchange = mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT;
                for g in &grants {
                    if !matches!(g.as_str(), "client_credentials" | "authorization_code" | "refresh_token") && g != jwt_bearer && g != exchange {
                        bail!("--grant {g}: use client_credentials, authorization_code, refresh_token, {jwt_bearer} (to redeem ID-JAGs) or {exchange} (to request them)");
                    }
                }
                if let Some(g) = grants.iter().find(|g| public && (*g == jwt_bearer || *g == exchange)) {
                    bail!("--grant {g}: a client that requests or redeems ID-JAGs authenticates; drop --public");
                }
                if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
                    bail!("--grant authorization_code needs at least one --redirect-uri");
                }
                for uri in &redirect_uris {
                    let parsed = url::Url::parse(uri).with_context(|| format!("--redirect-uri {uri}"))?;
                    if parsed.fragment().is_some() {
                        bail!("--redirect-uri {uri}: a redirect URI has no fragment (RFC 6749 §3.1.2)");
                    }
                }
                if public && grants.iter().any(|g| g == "client_credentials") {
                    bail!("a --public client cannot use client_credentials: give --grant authorization_code");
                }
                let base = json!({"grant_types": grants, "scopes": scopes, "redirect_uris": redirect_uris, "client_name": name.clone().unwrap_or_else(|| id.clone()), "source": "cli"});
                let with = |method: &str, extra: Option<(&str, serde_json::Value)>| {
                    let mut m = base.clone();
                    m["token_endpoint_auth_method"] = json!(method);
                    if let Some((k, v)) = extra {
                        m[k] = v;
                    }
                    m
                };
                let (secret, secret_sha256, metadata) = match jwks {
                    Some(path) => (None, None, with("private_key_jwt", Some(("jwks", read_jwks(&path)?)))),
                    None if public => (None, None, with("none", None)),
                    None => {
                        let secret = mcp_auth_core::random_token::<32>()?;
                        let digest = mcp_auth_server::client_auth::secret_digest(&secret);
                        (Some(secret), Some(digest), with("client_secret_basic", None))
                    }
                };
                store
                    .insert_client(&ClientRecord {
                        client_id: id.clone(),
                        secret_sha256,
                        metadata,
                        created_at: config.clock.now(),
                    })
                    .await
                    .with_context(|| format!("registering client `{id}`"))?;
                if json {
                    json_line(&json!({"type": "client", "client_id": id, "client_secret": secret}))?;
                } else if let Some(secret) = secret {
                    print(&format!("client_id:     {id}\nclient_secret: {secret}\n(the secret is shown once; only its SHA-256 is stored)\n"))?;
                } else {
                    let method = if public { "public, PKCE" } else { "private_key_jwt" };
                    print(&format!("client_id: {id} ({method})\n"))?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::User(UserCommand::Remove { username })) => {
                let store = open_store(&config).await?;
                if !store.delete_user(&username).await? {
                    bail!("no user `{username}`");
                }
                print(&format!("user {username} removed\n"))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::User(UserCommand::Groups { username, groups })) => {
                let store = open_store(&config).await?;
                check_groups(&groups)?;
                if !store.set_user_groups(&username, &groups).await? {
                    bail!("no user `{username}`");
                }
                print(&format!("user {username}: groups [{}]\n", groups.join(", ")))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::User(UserCommand::Add { username, groups })) => {
                check_groups(&groups)?;
                refuse_reserved(&config, "user", &username)?;
                let store = open_store(&config).await?;
                let mut password = String::new();
                std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
                let password = password.trim_end_matches(['\r', '\n']).to_owned();
                if password.chars().count() < 8 {
                    bail!("the password must have at least 8 characters");
                }
                let hash = mcp_auth_server::password::hash_password(password).await.map_err(|e| anyhow::anyhow!(e))?;
                store
                    .insert_user(&username, &hash, config.clock.now())
                    .await
                    .with_context(|| format!("adding user `{username}`"))?;
                if !groups.is_empty() {
                    store.set_user_groups(&username, &groups).await?;
                }
                print(&format!("user {username} added\n"))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::Client(ClientCommand::List)) => {
                let store = open_store(&config).await?;
                let mut text = String::new();
                for id in store.client_ids().await? {
                    text.push_str(&id);
                    text.push('\n');
                }
                print(&text)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(AsCommand::Client(ClientCommand::Remove { id })) => {
                let store = open_store(&config).await?;
                if !store.delete_client(&id).await? {
                    bail!("no client `{id}`");
                }
                print(&format!(
                    "client {id} removed (running instances refuse it within {} s: client_cache_seconds)\n",
                    config.client_cache_ttl
                ))?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// A group name: 1 to 128 printable ASCII characters without spaces, so that
/// `user.groups` in a policy condition reads as it was typed.
fn check_groups(groups: &[String]) -> anyhow::Result<()> {
    for g in groups {
        if g.is_empty() || g.len() > 128 || !g.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("--group {g:?}: use 1 to 128 printable ASCII characters without spaces");
        }
    }
    Ok(())
}

/// EMA-AS-19: a user or client may not take a name in the principal space
/// (`<entry id>:`) of an `[[id_jag_issuers]]` entry.
fn refuse_reserved(config: &Config, kind: &str, name: &str) -> anyhow::Result<()> {
    match mcp_auth_server::id_jag::config::reserved_by(&config.id_jag_issuers, name) {
        Some(entry) => bail!(
            "{kind} `{name}` begins with `{entry}:`, the prefix of the principals of [[id_jag_issuers]] entry `{entry}`: choose another name"
        ),
        None => Ok(()),
    }
}

/// Reads a JWK Set of public keys, refusing private members and keys we cannot use.
fn read_jwks(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = crate::output::read_text(path)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let keys = value
        .get("keys")
        .and_then(|k| k.as_array())
        .context("a JWK Set has a `keys` array")?;
    for (i, k) in keys.iter().enumerate() {
        let jwk = mcp_auth_httpsig::Jwk::from_json(&k.to_string())
            .with_context(|| format!("keys[{i}]"))?;
        if jwk.is_private() {
            bail!("keys[{i}] has private members: register public keys only");
        }
        mcp_auth_httpsig::VerifyingKey::from_jwk(&jwk).with_context(|| format!("keys[{i}]"))?;
    }
    Ok(value)
}

fn load_config(common: &AsCommon, drain: DrainArgs) -> anyhow::Result<Config> {
    let text = match &common.config {
        Some(p) => crate::output::read_text(p)?,
        None => String::new(),
    };
    let mut resources = Vec::new();
    for r in &common.resource {
        let mut parts = r.split_whitespace();
        let uri = parts.next().context("--resource needs a URI")?.to_owned();
        resources.push((uri, parts.map(str::to_owned).collect()));
    }
    let overrides = Overrides {
        issuer: common.issuer.clone(),
        listen: common.listen.clone(),
        data_dir: common.data_dir.clone(),
        database_url: common.database_url.clone(),
        resources,
        default_scopes: common.default_scope.clone(),
        metrics_listen: common.metrics_listen.clone(),
        allow_insecure_permissions: common.allow_insecure_permissions,
        drain_delay: drain.drain_delay,
        shutdown_timeout: drain.shutdown_timeout,
    };
    Ok(Config::from_sources(
        &text,
        &|k| std::env::var(k).ok(),
        &overrides,
    )?)
}

/// The store for the admin commands, opened as the server opens it (private data
/// directory and database file).
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    mcp_auth_server::open_store(config)
        .await
        .map(|(store, _)| store)
        .with_context(|| {
            format!(
                "opening the store at {}",
                url_password(&config.database_url)
            )
        })
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    crate::observability::init_json_logs();
    let listen = config.listen;
    let server = AuthorizationServer::start(config)
        .await
        .context("starting the authorization server")?;
    // From here a SIGTERM drains (`/readyz` 503 first) instead of ending the process.
    server
        .shutdown()
        .on_signals()
        .context("installing the signal handlers")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let c = server.config();
    let r = server.report();
    let mut text = format!(
        "mcp-auth authorization server\n  issuer:   {}\n  metadata: {}\n",
        c.issuer,
        metadata_url(&c.issuer)
    );
    text.push_str(&format!("  store:    {}\n", url_password(&c.database_url)));
    if r.created_data_dir {
        text.push_str(&format!(
            "  created data directory {}\n",
            c.data_dir.display()
        ));
    }
    if r.created_signing_key {
        text.push_str(&format!(
            "  created signing key {} ({})\n",
            server.state().keys.current().active.kid(),
            c.signing_alg.name()
        ));
    }
    if c.resources.is_empty() {
        text.push_str("  no resources configured: tokens need one (--resource 'URI SCOPES' or [[resources]] in --config)\n");
    }
    for res in &c.resources {
        text.push_str(&format!(
            "  resource: {} (scopes: {}; default: {})\n",
            res.uri,
            res.scopes.join(" "),
            if res.default_scopes.is_empty() {
                "none".to_owned()
            } else {
                res.default_scopes.join(" ")
            }
        ));
    }
    if let Some(addr) = c.metrics_listen {
        let bound = crate::observability::serve_metrics(&addr.to_string()).await?;
        text.push_str(&format!("  metrics:  http://{bound}/metrics\n"));
    }
    text.push_str("  register a client: mcp-auth as client add --id NAME --scope SCOPE\n");
    print(&text)?;
    server.serve_with_shutdown(listener).await?;
    Ok(ExitCode::SUCCESS)
}

/// The first URL a client tries for the issuer's metadata (core::discovery's order).
fn metadata_url(issuer: &str) -> String {
    mcp_auth_core::discovery::authorization_server_metadata_urls(issuer)
        .ok()
        .and_then(|urls| urls.into_iter().next())
        .unwrap_or_else(|| issuer.to_owned())
}
