//! `mcp-auth gateway`: the TOML file with the flags overlaid on it, checked by the
//! resource crate's one conversion ([`RawGatewayConfig::validate`]), the router it
//! builds served with the metrics listener.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use mcp_auth_core::shutdown::Shutdown;
use mcp_auth_resource::gateway::{GatewayConfig, GatewayConfigError, RawGatewayConfig};

use crate::cli::GatewayArgs;
use crate::output::print;

/// The file named by `--config` (if any), with the flags on top,
/// `MCP_AUTH_DPOP_NONCE_SECRET` over `dpop.nonce_secret`, and `MCP_AUTH_DRAIN_DELAY`,
/// `MCP_AUTH_SHUTDOWN_TIMEOUT` over `[listener]` (under their flags, as at the AS). A
/// flag replaces the file's value; a switch (`--allow-bearer`, `--dpop`, ...) can only
/// turn a setting on.
fn settings(args: &GatewayArgs) -> anyhow::Result<RawGatewayConfig> {
    let mut raw = match &args.config {
        Some(path) => read_file(path)?,
        None => RawGatewayConfig::default(),
    };
    flag(&args.upstream, &mut raw.upstream);
    flag(&args.resource, &mut raw.resource);
    flag(&args.listen, &mut raw.listen);
    flag(&args.metrics_listen, &mut raw.metrics_listen);
    flag(&args.replay_cache, &mut raw.replay_cache);
    if !args.issuer.is_empty() {
        raw.issuers = args.issuer.clone();
    }
    raw.allow_bearer |= args.allow_bearer;
    raw.forward_token |= args.forward_token;
    raw.max_body = args.max_body.or(raw.max_body);
    raw.upstream_timeout = args.upstream_timeout.or(raw.upstream_timeout);
    raw.jwks_refresh = args.jwks_refresh.or(raw.jwks_refresh);
    raw.dpop.enabled |= args.dpop || args.dpop_nonce;
    raw.dpop.nonce |= args.dpop_nonce;
    if let Ok(secret) = std::env::var("MCP_AUTH_DPOP_NONCE_SECRET") {
        raw.dpop.nonce_secret = Some(secret.into());
    }
    let seconds = |var: &str| -> anyhow::Result<Option<u64>> {
        std::env::var(var)
            .ok()
            .map(|v| v.trim().parse::<u64>())
            .transpose()
            .with_context(|| format!("{var} is not a number of seconds"))
    };
    let drain = &args.drain;
    if let Some(s) = drain.drain_delay.or(seconds("MCP_AUTH_DRAIN_DELAY")?) {
        raw.listener.drain_delay = Some(s);
    }
    if let Some(s) = drain
        .shutdown_timeout
        .or(seconds("MCP_AUTH_SHUTDOWN_TIMEOUT")?)
    {
        raw.listener.shutdown_timeout = Some(s);
    }
    Ok(raw)
}

/// A flag given on the command line wins over the file's value (text, or a
/// `MaskedUrl`).
fn flag<A: Clone, T: From<A>>(value: &Option<A>, file: &mut Option<T>) {
    if let Some(v) = value {
        *file = Some(v.clone().into());
    }
}

fn read_file(path: &Path) -> anyhow::Result<RawGatewayConfig> {
    let text = crate::output::read_text(path)?;
    parse_file(path, &text)
}

/// The gateway's file, refused with the parser's position and message, not its quote
/// of the line, which may hold a secret (`mcp_auth_core::redact::config_error`).
fn parse_file(path: &Path, text: &str) -> anyhow::Result<RawGatewayConfig> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        anyhow::anyhow!(
            "{}: {}",
            path.display(),
            mcp_auth_core::redact::config_error(text, e.span(), e.message())
        )
    })
}

/// [`RawGatewayConfig::validate`], a missing key named with its flag.
fn validate(raw: RawGatewayConfig) -> anyhow::Result<GatewayConfig> {
    raw.validate().map_err(|e| match e {
        GatewayConfigError::Missing(key) => {
            let flag = if key == "issuers" { "issuer" } else { key };
            anyhow::anyhow!("--{flag} (or `{key}` in --config) is required")
        }
        other => other.into(),
    })
}

pub(crate) fn run(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    let raw = settings(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(raw))
}

/// How long the end of the process waits for the audit writer.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve(raw: RawGatewayConfig) -> anyhow::Result<ExitCode> {
    crate::observability::init_json_logs();
    let config = validate(raw)?;
    let shutdown = Shutdown::new();
    let started = config.start(&shutdown).await?;
    // Before the gateway is announced: from here a SIGTERM drains
    // (mcp_auth_core::shutdown) instead of ending the process.
    shutdown
        .on_signals()
        .context("installing the signal handlers")?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let metrics = match &config.metrics_listen {
        Some(addr) => Some(crate::observability::serve_metrics(addr).await?),
        None => None,
    };
    print(&format!(
        "mcp-auth gateway\n  listening: http://{}\n  resource:  {}\n  upstream:  {}\n  issuers:   {}\n  metadata:  {}\n{}",
        listener.local_addr()?,
        config.resource.resource(),
        config.upstream_without_credentials(),
        config.resource.authorization_servers.join(", "),
        config.resource.metadata_url(),
        metrics.map_or_else(String::new, |a| format!(
            "  metrics:   http://{a}/metrics\n"
        )),
    ))?;
    crate::observability::serve(listener, started.router)
        .limits(config.listener)
        .with_shutdown(shutdown)
        .await
        .context("serving")?;
    flush_audit(started.audit).await;
    Ok(ExitCode::SUCCESS)
}

/// The gateway from `raw` (the stack of `mcp-auth up` and `bench`): checked, issuers
/// discovered, stores connected; its router, and its audit sink to flush at the end
/// ([`flush_audit`]).
pub(crate) async fn build(
    raw: RawGatewayConfig,
) -> anyhow::Result<mcp_auth_resource::gateway::StartedGateway> {
    Ok(validate(raw)?
        .start(&mcp_auth_core::shutdown::Shutdown::new())
        .await?)
}

/// Writes out what the audit queue holds once the gateway stopped serving; a stalled
/// output (a FIFO nobody reads) holds the exit [`AUDIT_FLUSH`] at most.
pub(crate) async fn flush_audit(audit: Option<mcp_auth_resource::audit::AuditSink>) {
    if let Some(audit) = audit
        && tokio::time::timeout(AUDIT_FLUSH, audit.shutdown())
            .await
            .is_err()
    {
        tracing::warn!("the audit output did not take the last events in time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A misspelled key beside a URL's password, and an unclosed quote before a
    /// secret: the refusal names the file and the line, and quotes neither.
    #[test]
    fn a_config_that_does_not_parse_is_told_without_its_text() {
        let path = Path::new("gateway.toml");
        for text in [
            "upstream = \"http://127.0.0.1:9\"\nreplay_cahce = \"redis://:S3cret@127.0.0.1\"",
            "upstream = \"http://127.0.0.1:9\"\n[dpop]\nnonce_secret = \"S3cret-S3cret-S3cret",
        ] {
            let e = parse_file(path, text).unwrap_err();
            let told = format!("{e:#}");
            assert!(told.starts_with("gateway.toml: line "), "{told}");
            assert!(!told.contains("S3cret"), "{told}");
        }
        assert!(parse_file(path, "upstream = \"http://127.0.0.1:9\"").is_ok());
    }

    /// The nonce secret and the passwords of the upstream and Redis URLs are read, and
    /// masked when the configuration is printed, as written and as checked.
    #[test]
    fn secrets_in_the_config_are_read_and_never_printed() {
        let text = "upstream = \"http://agent:S3cret@127.0.0.1:9/mcp\"\n\
                    resource = \"http://127.0.0.1:8090/mcp\"\n\
                    issuers = [\"http://127.0.0.1:8080\"]\n\
                    replay_cache = \"redis://:S3cret@127.0.0.1:6379\"\n\
                    [rate_limit]\nrate = 1\nstore = \"redis://:S3cret@127.0.0.1:6379\"\n\
                    [dpop]\nenabled = true\nnonce = true\n\
                    nonce_secret = \"S3cret-S3cret-S3cret-S3cret-S3cret\"";
        let raw = parse_file(Path::new("gateway.toml"), text).unwrap();
        let secret = raw.dpop.nonce_secret.as_ref().map(|s| s.expose().as_str());
        assert_eq!(secret, Some("S3cret-S3cret-S3cret-S3cret-S3cret"));
        assert_eq!(
            raw.upstream.as_deref().map(String::as_str),
            Some("http://agent:S3cret@127.0.0.1:9/mcp")
        );
        let shown = format!("{raw:?}");
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(
            shown.contains("http://agent:***@127.0.0.1:9/mcp"),
            "{shown}"
        );
        let checked = raw.validate().unwrap();
        assert_eq!(checked.upstream.password(), Some("S3cret"));
        let shown = format!("{checked:?}");
        assert!(!shown.contains("S3cret"), "{shown}");
    }
}
