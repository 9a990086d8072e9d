//! One HTTP request from [`McpClient`] to the MCP server: the headers of the
//! protocol (`Accept`, `Content-Type`, `MCP-Protocol-Version`, `Mcp-Session-Id`, or
//! the caller's own), and the token: presented as Bearer with `Mcp-Method` /
//! `Mcp-Name`, or bound to the signer's key (an HTTP message signature or a DPoP
//! proof) when the client has one.

use http::{HeaderMap, HeaderValue, StatusCode};

use super::McpClient;
use super::authorize::refused;
use crate::CallError;
use crate::response::PendingResponse;
use crate::signer::{add_operation_headers, present_token};
use mcp_auth_core::challenge::parse_challenges;
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};
use mcp_auth_core::mcp_param;

impl McpClient {
    /// Sends one HTTP request with the caller's own headers (session id, protocol
    /// version, `Last-Event-ID`: for a transport that keeps the session itself, such
    /// as rmcp's), authorizing, signing and stepping up as [`McpClient::call`] does.
    /// Every response is returned, errors included, once authorization is settled.
    pub async fn send_http(
        &mut self,
        method: http::Method,
        body: &str,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, CallError> {
        self.exchange_raw(&Outgoing {
            method,
            body,
            headers: Some(headers),
        })
        .await
    }

    /// Opens the standalone SSE stream of the current session (GET), on which the
    /// server sends messages outside any request; `None` when the server has none
    /// (405).
    pub async fn open_event_stream(&mut self) -> Result<Option<PendingResponse>, CallError> {
        let response = self
            .exchange_raw(&Outgoing::session(http::Method::GET, ""))
            .await?;
        match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            s if s.is_success() => Ok(Some(self.pending(response, None))),
            s => Err(refused(s, &[], response).await),
        }
    }

    /// POSTs `body` with this client's session headers; the first 2xx response.
    pub(super) async fn exchange(&mut self, body: &str) -> Result<reqwest::Response, CallError> {
        let response = self
            .exchange_raw(&Outgoing::session(http::Method::POST, body))
            .await?;
        match response.status() {
            s if s.is_success() => Ok(response),
            s => {
                let challenges = parse_challenges(response.headers());
                Err(refused(s, &challenges, response).await)
            }
        }
    }

    /// Sends `outgoing` once, with the current token: signed when the client has a
    /// signer, else as Bearer.
    pub(super) async fn send(
        &self,
        outgoing: &Outgoing<'_>,
    ) -> Result<reqwest::Response, CallError> {
        let body = outgoing.body;
        let (mut parts, ()) = http::Request::builder()
            .method(outgoing.method.clone())
            .uri(&self.server)
            .header("accept", "application/json, text/event-stream")
            .body(())
            .map_err(|_| CallError::BadResponse(format!("{} is not a URL", self.server)))?
            .into_parts();
        if !body.is_empty() {
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        match &outgoing.headers {
            Some(headers) => parts.headers.extend(headers.clone()),
            None => self.add_session_headers(&mut parts.headers),
        }
        // Before the signature, so that a signer sees the request as sent.
        if outgoing.method == http::Method::POST {
            self.add_param_headers(&mut parts.headers, body)?;
        }
        match (&self.token, &self.signer) {
            (Some(token), Some(signer)) => signer.sign_resource_request(
                &mut parts,
                token,
                body.as_bytes(),
                mcp_auth_core::unix_now(),
            )?,
            (token, _) => {
                // A token that cannot be a header value is not sent; the server's
                // refusal says the rest.
                if let Some(token) = token {
                    let _ = present_token(&mut parts, "Bearer", token);
                }
                if outgoing.method == http::Method::POST {
                    add_operation_headers(&mut parts.headers, body.as_bytes());
                }
            }
        }
        let mut builder = self
            .http
            .request(parts.method, &self.server)
            .headers(parts.headers);
        if !body.is_empty() {
            builder = builder.body(body.to_owned());
        }
        builder.send().await.map_err(|source| CallError::Http {
            url: self.server.clone(),
            source,
        })
    }

    /// The `Mcp-Param-*` headers of a `tools/call` of a listed tool whose
    /// parameters are annotated with `x-mcp-header` (SEP-2243 "Client Behavior"),
    /// replacing any the caller set; nothing for other requests, for tools never
    /// listed and for bodies that are not one JSON-RPC request.
    fn add_param_headers(&self, headers: &mut HeaderMap, body: &str) -> Result<(), CallError> {
        if self.tool_headers.is_empty() {
            return Ok(());
        }
        let Ok(JsonRpcBody::Operation(op)) = read_body(body.as_bytes()) else {
            return Ok(());
        };
        let (Some(tool), "tools/call") = (op.name.as_deref(), op.method.as_ref()) else {
            return Ok(());
        };
        let Some(params) = self.tool_headers.get(tool) else {
            return Ok(());
        };
        let failed = |source| CallError::ParamHeader {
            tool: tool.to_owned(),
            source,
        };
        // Arguments that are not JSON cannot be in a body `read_body` accepted.
        let arguments = op
            .arguments
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok());
        for (name, value) in mcp_param::call_headers(&params, arguments.as_ref()).map_err(failed)? {
            headers.insert(name, value);
        }
        Ok(())
    }

    /// This client's own session headers: the protocol version on every request
    /// but a session's `initialize` (the version is negotiated there), and the
    /// session id once the server gave one.
    fn add_session_headers(&self, headers: &mut HeaderMap) {
        if (self.stateless() || self.initialized)
            && let Ok(v) = HeaderValue::from_str(&self.protocol_version)
        {
            headers.insert("mcp-protocol-version", v);
        }
        if let Some(id) = &self.session_id {
            headers.insert("mcp-session-id", id.clone());
        }
    }
}

/// One HTTP request to the server: the method, the body (empty for none), and the
/// caller's headers, or `None` for this client's own session headers.
pub(super) struct Outgoing<'a> {
    pub(super) method: http::Method,
    pub(super) body: &'a str,
    pub(super) headers: Option<HeaderMap>,
}

impl<'a> Outgoing<'a> {
    /// A request with this client's own session headers.
    fn session(method: http::Method, body: &'a str) -> Self {
        Self {
            method,
            body,
            headers: None,
        }
    }
}
