//! `mcp-auth login`: the authorization-code grant in the user's browser, answered on
//! a loopback listener (RFC 8252), with the token kept for `call`, `token` and
//! `bridge`; with --idp, the OpenID Connect sign-in at an enterprise identity
//! provider ([`mcp_auth_client::sign_in`]), whose ID token and refresh token are
//! kept for their enterprise grant ([`kept_sign_in`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mcp_auth_client::loopback::BrowserUsers;
use mcp_auth_client::{
    AuthorizationCodeClient, Authorizer, ClientAuth, Grant, LoopbackRedirect, McpClient,
};

use crate::call::{ClientStore, open_token_cache};
use crate::cli::{LoginArgs, TokenCacheArgs};

pub(crate) fn run(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(login(args))
}

async fn login(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    crate::call::init_warnings();
    let server = match (&args.idp, &args.server) {
        (Some(idp), _) => return sign_in_at_idp(args, idp).await,
        (None, Some(server)) => server.as_str(),
        (None, None) => bail!("give the MCP server to sign in for, or --idp URL"),
    };
    let cache = open_token_cache(&args.cache, true)?
        .context("no token cache to keep the token in: give --token-cache FILE")?;
    let loopback = loopback(args).await?;
    let preregistered = args.client_id.as_ref().map(|id| {
        let client_id = id.clone();
        match args
            .client_secret
            .as_ref()
            .map(|s| s.expose().clone())
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
        server,
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
    let mut mcp = McpClient::new(server, Some(grant), None)
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
        server,
        if token.refresh_token.is_some() {
            " and is refreshed when it expires"
        } else {
            " (no refresh token: sign in again then)"
        }
    );
    eprintln!(
        "Now: mcp-auth call {} tools/list{}",
        server,
        match &args.cache.token_cache {
            Some(path) => format!(" --token-cache {}", path.display()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Whose connections the sign-in listener reads: this user's and root's, and those of
/// --browser-user (numeric ids, or `any`).
fn browser_users(given: &[String]) -> anyhow::Result<BrowserUsers> {
    if given.iter().any(|u| u == "any") {
        return Ok(BrowserUsers::Any);
    }
    if given.is_empty() {
        return Ok(BrowserUsers::Own);
    }
    let users = given
        .iter()
        .map(|u| {
            u.parse::<u32>()
                .with_context(|| format!("--browser-user {u}: a numeric user id, or any"))
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    Ok(BrowserUsers::Also(users.into()))
}

/// The listener on 127.0.0.1 the browser comes back to, within --timeout.
async fn loopback(args: &LoginArgs) -> anyhow::Result<LoopbackRedirect> {
    let open_browser = !args.no_browser;
    Ok(
        LoopbackRedirect::bind(Arc::new(move |url: &str, start: &str| {
            show(url, start, open_browser);
        }))
        .await
        .context("listening on 127.0.0.1 for the browser's answer")?
        .with_timeout(Duration::from_secs(args.timeout))
        .with_browser_users(browser_users(&args.browser_user)?),
    )
}

/// `mcp-auth login --idp URL --idp-client-id ID`: the OpenID Connect sign-in at the
/// identity provider `idp`, kept in the token cache for the IdP and the IdP client.
/// Prints neither token.
async fn sign_in_at_idp(args: &LoginArgs, idp: &str) -> anyhow::Result<ExitCode> {
    crate::call::check_issuer("--idp", idp)?;
    let mut cache = open_token_cache(&args.cache, true)?
        .context("no token cache to keep the sign-in in: give --token-cache FILE")?;
    let client = crate::call::idp_client_auth(&args.idp_client)?;
    let loopback = loopback(args).await?;
    let redirect_uri = loopback.redirect_uri().to_owned();
    let browser = Authorizer::Browser(loopback);
    let kept = mcp_auth_client::sign_in::sign_in(idp, &client, &redirect_uri, &browser)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let lifetime = kept.expires_at - mcp_auth_core::unix_now();
    let refreshed = match kept.refresh_token {
        Some(_) => " and is refreshed with the identity provider's refresh token when it expires",
        None => " (no refresh token: sign in again then)",
    };
    let id = client.client_id();
    cache
        .put_sign_in(idp, id, kept)
        .context("writing the token cache")?;
    eprintln!(
        "Signed in at {idp} as `{id}`; the ID token is valid for {lifetime} s{refreshed}. Kept in {}.",
        cache.path().display()
    );
    eprintln!(
        "Now: mcp-auth call MCP-SERVER tools/list --idp-client-id {id} --client-id YOUR-ID-AT-ITS-AS{}",
        match &args.cache.token_cache {
            Some(path) => format!(" --token-cache {}", path.display()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The token cache file holding the sign-in `mcp-auth login --idp` kept for the
/// IdP client `client_id`, and that IdP's issuer: --idp when given, else the only
/// IdP with a sign-in of that client (none or several: an error saying what to
/// do). The cache is --token-cache, else the default one, as for `login`.
pub(crate) fn kept_sign_in(
    cache: &TokenCacheArgs,
    idp: Option<&str>,
    client_id: &str,
) -> anyhow::Result<(PathBuf, String)> {
    let Some(cache) = open_token_cache(cache, true)? else {
        bail!(
            "--idp-client-id without --id-token uses the sign-in `mcp-auth login --idp` kept in the token cache, and there is none to read: give --id-token FILE, or --token-cache FILE instead of --no-token-cache"
        );
    };
    let issuer = cache.sign_in_issuer(idp, client_id)?;
    Ok((cache.path().to_owned(), issuer))
}

/// Unless told not to, asks the desktop to open the one-time local address that
/// redirects to the URL: a browser's command line is readable by every local user,
/// and the URL's `state` and `code_challenge` must not be
/// (`mcp_auth_client::loopback`). Else, or when no browser opens, prints the URL
/// (stderr, so stdout stays clean) for the user to open: printed while a browser is
/// opened too, a click on it in the terminal would put it on a command line again.
fn show(url: &str, start: &str, open_browser: bool) {
    // Without a display (an SSH session), an opener may start and fail unseen. WSL
    // opens the Windows browser; $BROWSER is the user's own choice.
    let display = cfg!(target_os = "macos")
        || [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "BROWSER",
            "WSL_DISTRO_NAME",
            "WSL_INTEROP",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if open_browser && display && open_in_browser(start) {
        eprintln!(
            "Sign in in the browser that was opened. (If none shows the sign-in page, stop and \
             run again with --no-browser: it prints the URL to open.)"
        );
        return;
    }
    if open_browser && !display {
        eprintln!("(no display to open a browser on; open the URL yourself)");
    } else if open_browser {
        eprintln!("(no browser could be opened; open the URL yourself)");
    }
    eprintln!("Sign in by visiting this URL:\n\n  {url}\n");
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
