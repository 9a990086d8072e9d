//! `mcp-auth login`: the authorization-code grant in the user's browser, answered on
//! a loopback listener (RFC 8252), with the token kept for `call`, `token` and
//! `bridge`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcp_auth_client::{
    AuthorizationCodeClient, Authorizer, ClientAuth, Grant, LoopbackRedirect, McpClient,
};

use crate::call::{ClientStore, open_token_cache};
use crate::cli::LoginArgs;

pub(crate) fn run(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(login(args))
}

async fn login(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let cache = open_token_cache(&args.cache, true)?
        .context("no token cache to keep the token in: give --token-cache FILE")?;
    let open_browser = !args.no_browser;
    let loopback = LoopbackRedirect::bind(Arc::new(move |url: &str| show(url, open_browser)))
        .await
        .context("listening on 127.0.0.1 for the browser's answer")?
        .with_timeout(Duration::from_secs(args.timeout));
    let preregistered = args.client_id.as_ref().map(|id| {
        let client_id = id.clone();
        match args
            .client_secret
            .clone()
            .or_else(|| std::env::var(crate::call::SECRET_ENV).ok())
        {
            Some(secret) => ClientAuth::SecretBasic { client_id, secret },
            None => ClientAuth::None { client_id },
        }
    });
    let authenticating_id = preregistered
        .as_ref()
        .filter(|c| c.authenticates())
        .map(|c| c.client_id().to_owned());
    let mut store = ClientStore::new(
        &args.server,
        authenticating_id.as_deref(),
        args.issuer.as_deref(),
        Some(cache),
        true,
    )?;
    let client = AuthorizationCodeClient {
        preregistered,
        metadata_document: args.client_metadata_url.clone(),
        redirect_uri: loopback.redirect_uri().to_owned(),
        client_name: "mcp-auth".into(),
    };
    let grant = Grant::AuthorizationCode(client, Authorizer::Browser(loopback));
    let mut mcp = McpClient::new(&args.server, Some(grant), None)
        .with_scopes(&args.scope)
        .with_issuer_policy(store.issuer_policy());
    let token = mcp.obtain_token().await;
    store.save(&mcp)?;
    let token = token.map_err(|e| anyhow::anyhow!("{e}"))?;
    let scopes = if token.scopes.is_empty() {
        "no scope".to_owned()
    } else {
        token.scopes.join(" ")
    };
    let lifetime = token.expires_at - mcp_auth_core::unix_now();
    eprintln!(
        "Signed in at {} for {} ({scopes}); the access token is valid for {lifetime} s{}.",
        token.issuer,
        args.server,
        if token.refresh_token.is_some() {
            " and is refreshed when it expires"
        } else {
            " (no refresh token: sign in again then)"
        }
    );
    eprintln!(
        "Now: mcp-auth call {} tools/list{}",
        args.server,
        match &args.cache.token_cache {
            Some(path) => format!(" --token-cache {}", path.display()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the URL (stderr, so stdout stays clean) and, unless told not to, asks the
/// desktop to open it.
fn show(url: &str, open_browser: bool) {
    eprintln!("Sign in by visiting this URL:\n\n  {url}\n");
    if open_browser && !open_in_browser(url) {
        eprintln!("(no browser could be opened; open the URL yourself)");
    }
}

/// `$BROWSER`, else the platform's opener. True when one started.
fn open_in_browser(url: &str) -> bool {
    let mut candidates: Vec<String> = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .into_iter()
        .collect();
    candidates.extend(
        if cfg!(target_os = "macos") {
            &["open"][..]
        } else {
            &["xdg-open"][..]
        }
        .iter()
        .map(|s| (*s).to_owned()),
    );
    candidates.iter().any(|program| {
        std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}
