//! `mcp-auth up`: the whole stack in one process, and how to try it.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::UpArgs;
use crate::demo_idp::{AGENT_CLIENT, IDP_CLIENT};
use crate::output::print;
use crate::stack::{
    self, BEARER_CLIENT, DEMO_USER, GatewayExtras, HTTPSIG_CLIENT, READ_SCOPE, StackOptions,
    WRITE_SCOPE,
};

pub(crate) fn run(args: &UpArgs) -> anyhow::Result<ExitCode> {
    // Read and checked before anything starts: a mistake in the file costs no port.
    let extras = args
        .gateway_config
        .as_deref()
        .map(GatewayExtras::read)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args, extras.as_ref()))
}

async fn serve(args: &UpArgs, extras: Option<&GatewayExtras>) -> anyhow::Result<ExitCode> {
    crate::observability::init_json_logs();
    let stack = stack::start_with(
        &StackOptions {
            data_dir: args.data_dir.clone(),
            as_listen: args.as_listen.clone(),
            gateway_listen: args.listen.clone(),
            demo_listen: args.demo_listen.clone(),
            allow_bearer: !args.httpsig_only,
            allow_dpop: !args.httpsig_only,
            replay_cache: args.replay_cache.clone(),
            metrics_listen: args.metrics_listen.clone(),
            allow_insecure_permissions: args.allow_insecure_permissions,
            idp_listen: Some(args.idp_listen.clone()),
        },
        extras,
    )
    .await?;
    print(&banner(&stack, args.httpsig_only, extras))?;
    let (listener, router) = stack.gateway;
    crate::observability::serve(listener, router)
        .with_graceful_shutdown(crate::observability::shutdown_signal())
        .await
        .context("serving the gateway")?;
    crate::gateway::flush_audit(stack.gateway_audit).await;
    Ok(ExitCode::SUCCESS)
}

/// What is running, and commands to paste.
fn banner(stack: &stack::Stack, httpsig_only: bool, extras: Option<&GatewayExtras>) -> String {
    let stack::Stack {
        issuer,
        resource,
        upstream,
        client_secret,
        created,
        idp,
        ..
    } = stack;
    // The banner shows the demo's secret on purpose: it is what the pasted commands need.
    let client_secret = client_secret.expose();
    let metadata = mcp_auth_core::discovery::protected_resource_metadata_urls(resource)
        .ok()
        .and_then(|u| u.into_iter().next())
        .unwrap_or_default();
    let mut text = format!(
        "mcp-auth is up\n\
         \x20 MCP endpoint (protected)  {resource}\n\
         \x20   resource metadata       {metadata}\n\
         \x20 authorization server      {issuer}\n\
         \x20 demo MCP server           {upstream} (the gateway's upstream)\n\
         \x20 clients                   {BEARER_CLIENT} (Bearer), {HTTPSIG_CLIENT} (HTTPSig-bound); secret {client_secret} (new at every start)\n\
         \x20 scopes                    {READ_SCOPE} for every call, {WRITE_SCOPE} for write_note{more}\n",
        more = if extras.is_some_and(GatewayExtras::adds_scopes) {
            ", and the [scopes] of --gateway-config"
        } else {
            ""
        },
    );
    if let Some(extras) = extras {
        text.push_str(&format!(
            "  gateway config            {}\n",
            extras.summary()
        ));
    }
    if let Some(idp) = idp {
        text.push_str(&format!(
            "  enterprise IdP (demo)     {idp} (user {DEMO_USER}, password: the secret; client {IDP_CLIENT})\n"
        ));
    }
    for line in created {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!(
        "\nCall a tool with the mcp-auth client (it finds the AS from the 401, binds the token to a new key and signs every request):\n\
         \x20 MCP_AUTH_CLIENT_SECRET={client_secret} mcp-auth call {resource} tools/call echo --arg text=hello --client-id {HTTPSIG_CLIENT} --httpsig\n"
    ));
    text.push_str(&format!(
        "\nOr as a workload, with no client at all (profile workload-identity-federation): a token of the demo \
         platform issuer (its key is in the data directory), read from a file for every token request:\n\
         \x20 mcp-auth demo-workload-token --audience {issuer} --out mcp-workload-token\n\
         \x20 mcp-auth call {resource} tools/call whoami --workload-token mcp-workload-token{bind}\n",
        bind = if httpsig_only { " --httpsig" } else { "" },
    ));
    if let Some(idp) = idp {
        text.push_str(&format!(
            "\nOr as an enterprise user (profile enterprise-managed-authorization): the demo identity provider's \
             policy decides; sign in there once, then every token is an ID-JAG for you, exchanged and redeemed without a consent page:\n\
             \x20 MCP_AUTH_IDP_CLIENT_SECRET={client_secret} mcp-auth login --idp {idp} --idp-client-id {IDP_CLIENT}\n\
             \x20 MCP_AUTH_IDP_CLIENT_SECRET={client_secret} MCP_AUTH_CLIENT_SECRET={client_secret} mcp-auth call {resource} tools/call whoami \
             --idp-client-id {IDP_CLIENT} --client-id {AGENT_CLIENT}{bind}\n",
            bind = if httpsig_only { " --httpsig" } else { "" },
        ));
    }
    if httpsig_only {
        text.push_str("\nBearer tokens and DPoP are refused (--httpsig-only).\n");
        return text;
    }
    text.push_str(&format!(
        "\nOr with a DPoP-bound token (RFC 9449: a proof on every request):\n\
         \x20 MCP_AUTH_CLIENT_SECRET={client_secret} mcp-auth call {resource} tools/call whoami --client-id {BEARER_CLIENT} --dpop\n"
    ));
    let call = |name: &str, arguments: &str| {
        format!(
            "curl -s {resource} -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
             -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
             -H 'Mcp-Method: tools/call' -H 'Mcp-Name: {name}' \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"{name}\",\"arguments\":{arguments},\
             \"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}'"
        )
    };
    text.push_str(&format!(
        "\nTry it (a Bearer token with scope {READ_SCOPE}):\n\
         \x20 TOKEN=$(curl -s -u {BEARER_CLIENT}:{client_secret} -d grant_type=client_credentials -d scope={READ_SCOPE} \
         --data-urlencode resource={resource} {issuer}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n\
         \x20 {}\n\
         and a tool that needs {WRITE_SCOPE} (403 insufficient_scope: ask for scope={READ_SCOPE}+{WRITE_SCOPE}):\n\
         \x20 {}\n",
        call("echo", "{\"text\":\"hello\"}"),
        call("write_note", "{\"note\":\"hi\"}"),
    ));
    text
}
