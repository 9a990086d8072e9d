//! What [`McpClient`] sends as JSON-RPC: a call and its response (stateless, with
//! `_meta`, or within a session), a message forwarded as a client wrote it, and for
//! protocol versions before 2026-07-28 the `initialize` exchange that opens a
//! session and the `Mcp-Session-Id` it gives.

use serde_json::{Value, json};

use super::{CallError, CallOutcome, McpClient, PROTOCOL_VERSION};
use crate::response::{PendingResponse, read_outcome};

/// How many pages of `tools/list` a `tools/call` refused with `HeaderMismatch`
/// reads, looking for the tool's current definition, before it gives up.
const MAX_RELIST_PAGES: usize = 8;

impl McpClient {
    /// Sends `method` with `params` and waits for its response, authorizing and
    /// stepping up as the server asks (after `initialize`, for sessions).
    ///
    /// A `tools/call` the server refuses with `400` and `HeaderMismatch` (-32020)
    /// because its `Mcp-Param-*` headers are missing or stale (the tool was never
    /// listed by this client, or its `inputSchema` changed) is retried once after a
    /// `tools/list` that finds the tool with `x-mcp-header` annotations (SEP-2243
    /// "Client Behavior": "SHOULD call `tools/list` … then retry").
    pub async fn call(&mut self, method: &str, params: Value) -> Result<CallOutcome, CallError> {
        // The tool of a `tools/call`, and its params again for the one retry.
        let retry = (method == "tools/call")
            .then(|| {
                params
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten()
            .map(|tool| (tool, params.clone()));
        match (self.call_once(method, params).await, retry) {
            (
                Err(CallError::Refused {
                    status: 400,
                    challenge,
                }),
                Some((tool, params)),
            ) if is_header_mismatch(&challenge) => {
                if self.relist_until(&tool).await? {
                    self.call_once(method, params).await
                } else {
                    Err(CallError::Refused {
                        status: 400,
                        challenge,
                    })
                }
            }
            (outcome, _) => outcome,
        }
    }

    /// Reads `tools/list` pages until `tool` is found with `x-mcp-header`
    /// annotations (true), or the pages end, or [`MAX_RELIST_PAGES`] were read.
    async fn relist_until(&mut self, tool: &str) -> Result<bool, CallError> {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_RELIST_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.call_once("tools/list", params).await?;
            if self.tool_headers.get(tool).is_some() {
                return Ok(true);
            }
            cursor = match page.response["result"]["nextCursor"].as_str() {
                Some(next) => Some(next.to_owned()),
                None => return Ok(false),
            };
        }
        Ok(false)
    }

    /// [`McpClient::call`] without the retry.
    async fn call_once(&mut self, method: &str, params: Value) -> Result<CallOutcome, CallError> {
        if !self.stateless() && !self.initialized {
            self.initialize().await?;
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut params = match params {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        if self.stateless() {
            params.insert(
                "_meta".into(),
                json!({"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                       "io.modelcontextprotocol/clientCapabilities": {}}),
            );
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.exchange(&body.to_string()).await?;
        read_outcome(self.pending(response, Some(&body)), id).await
    }

    /// Forwards one JSON-RPC message exactly as a client wrote it (a bridge's job) and
    /// calls `on_message` with every message the server sends back for it, as each
    /// arrives (progress notifications before the response; nothing for a
    /// notification). An `initialize` starts a new session: its protocol version and
    /// the session id the server gives are sent on every later request.
    pub async fn forward(
        &mut self,
        message: &Value,
        mut on_message: impl FnMut(Value),
    ) -> Result<(), CallError> {
        let initialize = message.get("method") == Some(&json!("initialize"));
        if initialize {
            if let Some(v) = message["params"]["protocolVersion"].as_str() {
                self.protocol_version = v.to_owned();
            }
            self.initialized = false;
            self.session_id = None;
            // A new session: its tools are listed anew.
            self.tool_headers.clear();
        }
        let response = self.send_message(message).await?;
        if initialize {
            self.session_id = response.response.headers().get("mcp-session-id").cloned();
        }
        let mut negotiated = None;
        response
            .for_each(|m: Value| {
                if initialize && m.get("id") == message.get("id") {
                    negotiated = m["result"]["protocolVersion"].as_str().map(str::to_owned);
                }
                on_message(m);
            })
            .await?;
        if initialize {
            if let Some(v) = negotiated {
                self.protocol_version = v;
            }
            self.initialized = true;
        }
        Ok(())
    }

    /// Sends one message as the client wrote it, authorizing as needed, and returns
    /// the response to read without holding the client: other messages can be sent
    /// while it streams. (`initialize` goes through [`McpClient::forward`], which
    /// also keeps the session.)
    pub async fn send_message(&mut self, message: &Value) -> Result<PendingResponse, CallError> {
        let response = self.exchange(&message.to_string()).await?;
        Ok(self.pending(response, Some(message)))
    }

    /// `initialize`, the session id, then `notifications/initialized`.
    async fn initialize(&mut self) -> Result<(), CallError> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": self.protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "mcp-auth", "version": env!("CARGO_PKG_VERSION")}}});
        let response = self.exchange(&body.to_string()).await?;
        self.session_id = response.headers().get("mcp-session-id").cloned();
        let outcome = read_outcome(self.pending(response, None), id).await?;
        if let Some(error) = outcome.response.get("error") {
            return Err(CallError::BadResponse(format!(
                "initialize failed: {error}"
            )));
        }
        if let Some(v) = outcome.response["result"]["protocolVersion"].as_str() {
            self.protocol_version = v.to_owned();
        }
        self.initialized = true;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.exchange(&note.to_string()).await?;
        Ok(())
    }
}

/// Whether a refused request's body is a JSON-RPC `HeaderMismatch` error (-32020).
fn is_header_mismatch(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| {
        v["error"]["code"].as_i64() == Some(mcp_auth_core::mcp_binding::HEADER_MISMATCH_CODE)
    })
}
