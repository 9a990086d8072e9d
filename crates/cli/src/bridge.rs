//! `mcp-auth bridge`: stdio ↔ Streamable HTTP for MCP clients that only speak stdio.
//! One JSON-RPC message per line each way; authorization as `mcp-auth call` does it.
//!
//! Messages are sent in the order they are read, and each response is streamed back
//! on its own task, so a second request (or a `notifications/cancelled`, or the
//! answer to a server's question) does not wait for a long tool call to finish.
//! `initialize` is the exception: it is answered before the next line is read, as
//! the session it opens is needed by everything after it.
//!
//! Once a session is initialized (the client's `notifications/initialized` went
//! through), the bridge opens the session's standalone GET stream and relays what
//! the server sends outside any request (list changes, server requests, logs).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::call::authorized_client;
use crate::cli::BridgeArgs;

pub(crate) fn run(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    crate::call::init_warnings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bridge(args))
}

async fn bridge(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    let (client, mut store) = authorized_client(&args.server, &args.client)?;
    let client = Arc::new(tokio::sync::Mutex::new(client));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut streams = tokio::task::JoinSet::new();
    let mut event_stream: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(line) = lines.next_line().await.context("reading standard input")? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                // JSON-RPC 2.0 §5.1: a parse error, with a null id.
                write_line(&json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32700, "message": format!("parse error: {e}")}}))?;
                continue;
            }
        };
        let mut guard = client.lock().await;
        if message.get("method") == Some(&json!("initialize")) {
            let result = guard
                .forward(&message, |m| {
                    let _ = write_line(&m);
                })
                .await;
            if let Err(e) = result {
                answer_failure(&message, &e)?;
            }
        } else {
            match guard.send_message(&message).await {
                Ok(pending) => {
                    let request = message.clone();
                    streams.spawn(async move {
                        if let Err(e) = pending
                            .for_each(|m| {
                                let _ = write_line(&m);
                            })
                            .await
                        {
                            let _ = answer_failure(&request, &e);
                        }
                    });
                }
                Err(e) => answer_failure(&message, &e)?,
            }
        }
        let initialized = message.get("method") == Some(&json!("notifications/initialized"));
        if initialized && event_stream.is_none() && guard.has_session() {
            match guard.open_event_stream().await {
                Ok(Some(stream)) => {
                    event_stream = Some(tokio::spawn(async move {
                        if let Err(e) = stream
                            .for_each(|m| {
                                let _ = write_line(&m);
                            })
                            .await
                        {
                            eprintln!("mcp-auth bridge: the server's event stream ended: {e}");
                        }
                    }));
                }
                Ok(None) => {}
                Err(e) => eprintln!("mcp-auth bridge: no standalone event stream: {e}"),
            }
        }
        store.save(&guard)?;
    }
    // Standard input closed: let the responses under way finish; the standalone
    // stream ends with them.
    while streams.join_next().await.is_some() {}
    if let Some(stream) = event_stream {
        stream.abort();
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs the failure and, for a request, answers it with a JSON-RPC error so the
/// client never waits for a response that cannot come.
fn answer_failure(message: &Value, error: &mcp_auth_client::CallError) -> anyhow::Result<()> {
    eprintln!("mcp-auth bridge: {error}");
    if let Some(id) = message
        .get("id")
        .filter(|_| message.get("method").is_some())
    {
        write_line(&json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32603, "message": format!("mcp-auth bridge: {error}")}}))
        .context("writing standard output")?;
    }
    Ok(())
}

/// One message and a newline on standard output, flushed; whole lines only (the
/// lock is held for the write).
fn write_line(message: &Value) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut text = serde_json::to_vec(message)?;
    text.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()
}
