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
/// client never waits for a response that cannot come: the server's own, when its
/// refusal carried one for this request (a gateway policy's 403 `-32003`, a 400
/// `-32020`), else `-32603` naming the failure.
fn answer_failure(message: &Value, error: &mcp_auth_client::CallError) -> anyhow::Result<()> {
    eprintln!("mcp-auth bridge: {error}");
    if let Some(id) = message
        .get("id")
        .filter(|_| message.get("method").is_some())
    {
        let answer = server_error(error, id).unwrap_or_else(|| {
            json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32603, "message": format!("mcp-auth bridge: {error}")}})
        });
        write_line(&answer).context("writing standard output")?;
    }
    Ok(())
}

/// The JSON-RPC error response a refusal's body holds for the request `id`: an
/// object with `jsonrpc`, this `id` and an `error` with an integer `code` and a string
/// `message`; nothing else is passed on as the server's.
fn server_error(error: &mcp_auth_client::CallError, id: &Value) -> Option<Value> {
    let mcp_auth_client::CallError::Refused { challenge, .. } = error else {
        return None;
    };
    let body: Value = serde_json::from_str(challenge).ok()?;
    let error = body.get("error")?;
    let well_formed = body.get("jsonrpc") == Some(&json!("2.0"))
        && body.get("id") == Some(id)
        && error.get("code").is_some_and(Value::is_i64)
        && error.get("message").is_some_and(Value::is_string);
    well_formed.then_some(body)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> mcp_auth_client::CallError {
        mcp_auth_client::CallError::Refused {
            status: 403,
            challenge: body.to_owned(),
        }
    }

    #[test]
    fn the_servers_own_json_rpc_error_for_this_request_is_passed_on() {
        let policy = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32003,"message":"Forbidden"}}"#;
        assert_eq!(
            server_error(&refused(policy), &json!(7)),
            Some(serde_json::from_str(policy).unwrap())
        );
        // Another request's, a body that is no JSON-RPC error, a challenge: not passed on.
        for other in [
            r#"{"jsonrpc":"2.0","id":8,"error":{"code":-32003,"message":"Forbidden"}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":"x","message":"m"}}"#,
            r#"{"id":7,"error":{"code":-1,"message":"m"}}"#,
            r#"HTTPSig error="invalid_token""#,
        ] {
            assert_eq!(server_error(&refused(other), &json!(7)), None, "{other}");
        }
    }
}
