//! `mcp-auth bridge`: stdio ↔ Streamable HTTP for MCP clients that only speak stdio.
//! One JSON-RPC message per line each way; authorization as `mcp-auth call` does it.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::call::{authorized_client, save_token};
use crate::cli::BridgeArgs;

pub(crate) fn run(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bridge(args))
}

async fn bridge(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    let (mut client, mut cache) = authorized_client(&args.server, &args.client)?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut saved = None;
    while let Some(line) = lines.next_line().await.context("reading standard input")? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("mcp-auth bridge: not JSON, ignored: {e}");
                continue;
            }
        };
        // Each message goes out as it arrives (progress before the result).
        let mut write_error = None;
        let forwarded = client
            .forward(&message, |m| {
                if let Err(e) = write_line(&m) {
                    write_error.get_or_insert(e);
                }
            })
            .await;
        if let Some(e) = write_error {
            return Err(e).context("writing standard output");
        }
        if let Err(e) = &forwarded {
            eprintln!("mcp-auth bridge: {e}");
            // A request must get an answer, or the client waits forever.
            if let Some(id) = message
                .get("id")
                .filter(|_| message.get("method").is_some())
            {
                write_line(&json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32603, "message": format!("mcp-auth bridge: {e}")}}))
                .context("writing standard output")?;
            }
        }
        let token = client.obtained_token();
        if token != saved {
            save_token(cache.as_mut(), &args.server, &client)?;
            saved = token;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One message and a newline on standard output, flushed.
fn write_line(message: &Value) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, message)?;
    out.write_all(b"\n")?;
    out.flush()
}
