//! `mcp-auth conformance`: wiring and presentation of the black-box checks
//! (`mcp-auth-conformance`).

use std::process::ExitCode;

use anyhow::Context as _;
use mcp_auth_conformance::{Minter, ServerTarget, report};

use crate::cli::{ConformanceCommand, ConformanceIssuerArgs, ConformanceServerArgs};
use crate::output::print;

pub(crate) fn run(command: &ConformanceCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        ConformanceCommand::Server(args) => runtime.block_on(server(args)),
        ConformanceCommand::Issuer(args) => runtime.block_on(issuer(args)),
    }
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
    let only = (!args.only.is_empty()).then_some(args.only.as_slice());
    let checks = mcp_auth_conformance::server_checks(args.profile.into());
    if let Some(unknown) = args
        .only
        .iter()
        .find(|id| !checks.iter().any(|c| c.id == id.as_str()))
    {
        anyhow::bail!(
            "--only {unknown}: no such check in --profile {} (the identifiers are in profiles/*.md)",
            args.profile.name()
        );
    }
    let results = mcp_auth_conformance::run(&checks, &target, only).await;
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit("mcp-auth conformance server", &results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        print(&format!("{}\n", report::json(&results)))?;
    } else {
        print(&report::table(&results))?;
    }
    Ok(if mcp_auth_conformance::all_pass(&results) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
