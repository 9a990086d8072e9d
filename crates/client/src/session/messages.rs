//! What [`McpClient`] sends as JSON-RPC: a call and its response (stateless, with
//! `_meta`, or within a session), a message forwarded as a client wrote it, and for
//! protocol versions before 2026-07-28 the `initialize` exchange that opens a
//! session and the `Mcp-Session-Id` it gives.

use serde_json::{Value, json};

use super::{CallError, CallOutcome, McpClient, PROTOCOL_VERSION};
use crate::response::{PendingResponse, read_outcome};

impl McpClient {
    /// Sends `method` with `params` and waits for its response, authorizing and
    /// stepping up as the server asks (after `initialize`, for sessions).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<CallOutcome, CallError> {
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
        read_outcome(self.pending(response), id).await
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
        Ok(self.pending(response))
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
        let outcome = read_outcome(self.pending(response), id).await?;
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
