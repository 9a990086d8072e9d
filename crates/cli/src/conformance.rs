//! `mcp-auth conformance`: wiring and presentation of the black-box checks
//! (`mcp-auth-conformance`).

use std::process::ExitCode;

use anyhow::Context as _;
use mcp_auth_conformance::authorization_server::{AsTarget, ConfidentialClient, PublicClient};
use mcp_auth_conformance::{Check, Minter, ServerTarget, report};

use crate::cli::{ConformanceCommand, ConformanceIssuerArgs, ConformanceServerArgs};
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
        ConformanceCommand::As(args) => {
            let secret = match (&args.client_secret, &args.client_secret_env) {
                (Some(s), _) => Some(s.clone()),
                (None, Some(var)) => Some(std::env::var(var).with_context(|| {
                    format!("--client-secret-env {var}: the variable is not set")
                })?),
                (None, None) => None,
            };
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
            if let (Some(listen), Some(url)) =
                (&args.client_documents_listen, &args.client_documents_url)
            {
                let url = url.trim_end_matches('/').to_owned();
                let documents = mcp_auth_conformance::as_cimd::router(&url);
                runtime.block_on(async {
                    let listener = tokio::net::TcpListener::bind(listen)
                        .await
                        .with_context(|| format!("listening on {listen}"))?;
                    // Served until the checks end (the runtime is dropped with them).
                    tokio::spawn(crate::observability::serve(listener, documents).into_future());
                    anyhow::Ok(())
                })?;
                target.client_documents = Some(url);
            }
            let checks = mcp_auth_conformance::authorization_server::checks(args.profile.into());
            let results = Results {
                suite: "mcp-auth conformance as",
                profile: args.profile.name(),
                only: &args.output.only,
                json: args.output.json,
                junit: args.output.junit.as_deref(),
            };
            runtime.block_on(check_and_report(&checks, &target, &results))
        }
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

fn minter(key: &std::path::Path, issuer: &str) -> anyhow::Result<Minter> {
    let pem = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    Minter::from_pem(&pem, issuer).with_context(|| format!("{}", key.display()))
}

async fn server(args: &ConformanceServerArgs) -> anyhow::Result<ExitCode> {
    let minter = match (&args.issuer_key, &args.issuer) {
        (Some(key), Some(issuer)) => Some(minter(key, issuer)?),
        _ => None,
    };
    let mut target = ServerTarget::new(&args.url, minter).context("the HTTP client")?;
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
