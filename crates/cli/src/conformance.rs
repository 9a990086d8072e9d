//! `mcp-auth conformance`: wiring and presentation of the black-box checks
//! (`mcp-auth-conformance`).

use std::process::ExitCode;

use anyhow::Context as _;
use mcp_auth_conformance::authorization_server::{AsTarget, ConfidentialClient, PublicClient};
use mcp_auth_conformance::ema_as::{self, EmaTarget};
use mcp_auth_conformance::ema_idp::EnterpriseIdp;
use mcp_auth_conformance::ema_idp_checks::{self, IdpTarget};
use mcp_auth_conformance::server::TokenSource;
use mcp_auth_conformance::wif_as::WorkloadPlatform;
use mcp_auth_conformance::{Check, Minter, ServerTarget, report};

use crate::cli::{
    AsProfileArg, ConformanceAsArgs, ConformanceCommand, ConformanceIssuerArgs,
    ConformanceServerArgs, TokenSourceArgs,
};
use crate::output::print;

/// How a check command gives its results (`--only`, `--json`, `--junit`), from
/// the options every one of them shares.
struct Results<'a> {
    /// The JUnit suite name: the command.
    suite: &'static str,
    /// `--profile`, for the message about an unknown `--only`.
    profile: &'static str,
    only: &'a [String],
    json: bool,
    junit: Option<&'a std::path::Path>,
}

pub(crate) fn run(command: &ConformanceCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        ConformanceCommand::Server(args) => runtime.block_on(server(args)),
        ConformanceCommand::Issuer(args) => runtime.block_on(issuer(args)),
        ConformanceCommand::As(args) => authorization_server(args, &runtime),
    }
}

/// The secret of a client: given on the command line, or read from the
/// environment variable `env`.
fn client_secret(given: Option<&str>, env: Option<&str>) -> anyhow::Result<Option<String>> {
    match (given, env) {
        (Some(s), _) => Ok(Some(s.to_owned())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .with_context(|| format!("{var}: the variable is not set")),
        (None, None) => Ok(None),
    }
}

/// `conformance as`: the target from the options, then the checks of `--profile`.
fn authorization_server(
    args: &ConformanceAsArgs,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let secret = client_secret(
        args.client_secret.as_ref().map(|s| s.expose().as_str()),
        args.client_secret_env.as_deref(),
    )?;
    let mut target = AsTarget::new(&args.issuer).context("the HTTP client")?;
    target.confidential = match (&args.client_id, secret) {
        (Some(id), Some(secret)) => Some(ConfidentialClient::new(
            id.clone(),
            secret,
            args.client_auth.into(),
        )),
        (Some(_), None) => {
            anyhow::bail!("--client-id needs --client-secret-env (or --client-secret)")
        }
        (None, _) => None,
    };
    if let (Some(id), Some(uri)) = (&args.public_client_id, &args.redirect_uri) {
        target.public = Some(PublicClient {
            client_id: id.clone(),
            redirect_uri: uri.clone(),
        });
    }
    target.register = !args.no_register;
    target.token_endpoint.clone_from(&args.token_endpoint);
    target.resources.clone_from(&args.resource);
    target.protocol_version.clone_from(&args.protocol_version);
    if let (Some(listen), Some(url)) = (&args.client_documents_listen, &args.client_documents_url) {
        let url = url.trim_end_matches('/').to_owned();
        let (listener, _) = bind_issuer(
            Some(listen),
            Some(&url),
            "--client-documents-listen",
            runtime,
        )?;
        serve_while_checking(
            listener,
            mcp_auth_conformance::as_cimd::router(&url),
            runtime,
        );
        target.client_documents = Some(url);
    }
    let results = Results {
        suite: "mcp-auth conformance as",
        profile: args.profile.name(),
        only: &args.output.only,
        json: args.output.json,
        junit: args.output.junit.as_deref(),
    };
    let Some(profile) = args.profile.as_profile() else {
        return enterprise(args, target, runtime, &results);
    };
    let w = &args.workload;
    let options = WorkloadOptions {
        key: w.workload_key.as_deref(),
        issuer: w.workload_issuer.as_deref(),
        listen: w.workload_listen.as_deref(),
        subject: w.workload_subject.as_deref(),
        claims: w.workload_claims.as_deref(),
        clock_skew: w.workload_clock_skew,
        max_lifetime: w.workload_max_lifetime,
    };
    target.workload = workload_platform(&options, runtime)?;
    let checks = mcp_auth_conformance::authorization_server::checks(profile);
    runtime.block_on(check_and_report(&checks, &target, &results))
}

/// `conformance as --profile ema` (the checker as an IdP the AS trusts) and
/// `--profile ema-idp` (the IdP under test, --issuer).
fn enterprise(
    args: &ConformanceAsArgs,
    target: AsTarget,
    runtime: &tokio::runtime::Runtime,
    results: &Results<'_>,
) -> anyhow::Result<ExitCode> {
    let e = &args.enterprise;
    let client = target.confidential.clone().with_context(|| {
        format!(
            "--profile {} needs --client-id with --client-secret-env: the client that {}",
            args.profile.name(),
            if matches!(args.profile, AsProfileArg::EmaIdp) {
                "exchanges ID tokens (the token-exchange grant)"
            } else {
                "redeems ID-JAGs (the jwt-bearer grant)"
            }
        )
    })?;
    let resource = args
        .resource
        .first()
        .cloned()
        .context("needs --resource: the MCP resource the ID-JAGs name")?;
    let other_client = match &e.other_client_id {
        Some(id) => {
            let secret = client_secret(None, e.other_client_secret_env.as_deref())?
                .context("--other-client-id needs --other-client-secret-env")?;
            Some(ConfidentialClient::new(
                id.clone(),
                secret,
                args.client_auth.into(),
            ))
        }
        None => None,
    };
    if matches!(args.profile, AsProfileArg::EmaIdp) {
        let audience = e
            .audience
            .clone()
            .context("--profile ema-idp needs --audience: the MCP AS the ID-JAGs are for")?;
        let mut idp = IdpTarget::new(target, client, audience, resource)
            .map_err(|e| anyhow::anyhow!("the checker's forging key: {e}"))?;
        idp.target.other_client = other_client;
        return runtime.block_on(check_and_report(&ema_idp_checks::checks(), &idp, results));
    }
    let key = e
        .idp_key
        .as_deref()
        .context("--profile ema needs --idp-key: the key of the IdP the AS trusts")?;
    let (listener, issuer) = bind_issuer(
        e.idp_listen.as_deref(),
        e.idp_issuer.as_deref(),
        "--idp-listen",
        runtime,
    )?;
    let issuer = issuer
        .context("--idp-key needs --idp-issuer (the issuer the AS trusts) or --idp-listen")?;
    let mut idp = EnterpriseIdp::new(minter(key, &issuer)?, &e.idp_subject)
        .with_context(|| format!("{}", key.display()))?;
    if let Some(listener) = listener {
        let router = idp.router();
        serve_while_checking(Some(listener), router, runtime);
    }
    let mut ema = EmaTarget::new(target, idp, client, resource, e.scopes.clone());
    ema.other_client = other_client;
    ema.other_resource.clone_from(&e.other_resource);
    ema.entry_id.clone_from(&e.entry_id);
    ema.access_token_ttl = e.access_token_ttl;
    runtime.block_on(check_and_report(&ema_as::checks(), &ema, results))
}

/// A listener at `listen` when given, and the issuer URL: `issuer` when given, else
/// `http://<the listener's address>`.
fn bind_issuer(
    listen: Option<&str>,
    issuer: Option<&str>,
    option: &str,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(Option<tokio::net::TcpListener>, Option<String>)> {
    let listener = match listen {
        Some(listen) => Some(
            runtime
                .block_on(tokio::net::TcpListener::bind(listen))
                .with_context(|| format!("{option}: listening on {listen}"))?,
        ),
        None => None,
    };
    let issuer = match (issuer, &listener) {
        (Some(issuer), _) => Some(issuer.to_owned()),
        (None, Some(l)) => Some(format!("http://{}", l.local_addr()?)),
        (None, None) => None,
    };
    Ok((listener, issuer))
}

/// Serves `router` on `listener` (the hardened listener of every mcp-auth server)
/// until the checks end: the runtime is dropped with them.
fn serve_while_checking(
    listener: Option<tokio::net::TcpListener>,
    router: axum::Router,
    runtime: &tokio::runtime::Runtime,
) {
    if let Some(listener) = listener {
        runtime.block_on(async {
            tokio::spawn(crate::observability::serve(listener, router).into_future());
        });
    }
}

/// Runs `checks` against `target` and gives the results as `results` asks: the
/// table (or JSON) on standard output, JUnit XML to a file. Exit code 0 when
/// every applicable check passed, 1 when one failed; an error (exit 2) when an
/// `--only` names no check or the file cannot be written.
async fn check_and_report<T: Sync>(
    checks: &[Check<T>],
    target: &T,
    results: &Results<'_>,
) -> anyhow::Result<ExitCode> {
    if let Some(unknown) = results
        .only
        .iter()
        .find(|id| !checks.iter().any(|c| c.id == id.as_str()))
    {
        anyhow::bail!(
            "--only {unknown}: no such check in --profile {} (the identifiers are in profiles/*.md)",
            results.profile
        );
    }
    let only = (!results.only.is_empty()).then_some(results.only);
    let outcomes = mcp_auth_conformance::run(checks, target, only).await;
    if let Some(path) = results.junit {
        std::fs::write(path, report::junit(results.suite, &outcomes))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if results.json {
        print(&format!("{}\n", report::json(&outcomes)))?;
    } else {
        print(&report::table(&outcomes))?;
    }
    Ok(if mcp_auth_conformance::all_pass(&outcomes) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The `--workload-*` options of `conformance as`.
struct WorkloadOptions<'a> {
    key: Option<&'a std::path::Path>,
    issuer: Option<&'a str>,
    listen: Option<&'a str>,
    subject: Option<&'a str>,
    claims: Option<&'a str>,
    clock_skew: i64,
    max_lifetime: i64,
}

/// The workload platform of `conformance as --profile wif` (`--workload-*`), its
/// issuer served on `--workload-listen` when given: the discovery document and JWK
/// Set the AS reads, on the hardened listener of every mcp-auth server, until the
/// checks end (the runtime is dropped with them).
fn workload_platform(
    args: &WorkloadOptions<'_>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<WorkloadPlatform>> {
    let Some(key) = args.key else {
        return Ok(None);
    };
    let Some(subject) = args.subject else {
        anyhow::bail!("--workload-key needs --workload-subject");
    };
    let (listener, issuer) = bind_issuer(args.listen, args.issuer, "--workload-listen", runtime)?;
    let issuer = issuer.context(
        "--workload-key needs --workload-issuer (the issuer the AS trusts) or --workload-listen",
    )?;
    let mut platform = WorkloadPlatform::new(minter(key, &issuer)?, subject)
        .with_context(|| format!("{}", key.display()))?;
    if let Some(json) = args.claims {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(claims)) => platform.claims = claims,
            _ => anyhow::bail!("--workload-claims: not a JSON object"),
        }
    }
    platform.clock_skew = args.clock_skew;
    platform.max_assertion_lifetime = args.max_lifetime;
    if listener.is_some() {
        let router = platform.router();
        serve_while_checking(listener, router, runtime);
    }
    Ok(Some(platform))
}

fn minter(key: &std::path::Path, issuer: &str) -> anyhow::Result<Minter> {
    let pem = crate::output::read_text(key)?;
    Minter::from_pem(&pem, issuer).with_context(|| format!("{}", key.display()))
}

async fn server(args: &ConformanceServerArgs) -> anyhow::Result<ExitCode> {
    let minter = match (&args.issuer_key, &args.issuer) {
        (Some(key), Some(issuer)) => Some(minter(key, issuer)?),
        _ => None,
    };
    let mut target = ServerTarget::new(&args.url, minter).context("the HTTP client")?;
    target.tokens = token_source(&args.tokens)?;
    target.scope.clone_from(&args.scope);
    target.protocol_version.clone_from(&args.protocol_version);
    let checks = mcp_auth_conformance::server_checks(args.profile.into());
    let results = Results {
        suite: "mcp-auth conformance server",
        profile: args.profile.name(),
        only: &args.output.only,
        json: args.output.json,
        junit: args.output.junit.as_deref(),
    };
    check_and_report(&checks, &target, &results).await
}

/// Where `conformance server` gets tokens without --issuer-key: the command, or the
/// client credentials grant at --as-issuer.
fn token_source(args: &TokenSourceArgs) -> anyhow::Result<Option<TokenSource>> {
    if let Some(command) = &args.token_command {
        return Ok(Some(TokenSource::Command(command.expose().clone())));
    }
    let (Some(issuer), Some(id)) = (&args.as_issuer, &args.client_id) else {
        return Ok(None);
    };
    let secret = client_secret(None, args.client_secret_env.as_deref())?
        .context("--client-id needs --client-secret-env")?;
    let mut at = AsTarget::new(issuer).context("the HTTP client")?;
    at.confidential = Some(ConfidentialClient::new(
        id.clone(),
        secret,
        args.client_auth.into(),
    ));
    Ok(Some(TokenSource::ClientCredentials(Box::new(at))))
}

async fn issuer(args: &ConformanceIssuerArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let issuer = match &args.issuer {
        Some(i) => i.clone(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let minter = minter(&args.issuer_key, &issuer)?;
    print(&format!("conformance issuer {issuer}\n"))?;
    // The hardened listener of every mcp-auth server: header and idle timeouts, a
    // connection cap.
    crate::observability::serve(listener, mcp_auth_conformance::issuer::router(&minter))
        .with_graceful_shutdown(crate::observability::shutdown_signal())
        .await
        .context("serving the issuer")?;
    Ok(ExitCode::SUCCESS)
}
