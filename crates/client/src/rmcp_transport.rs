//! rmcp integration (feature `rmcp`): a Rust MCP client built on rmcp gets
//! discovery, tokens, step-up and request signing by using [`transport`] instead of
//! rmcp's own Streamable HTTP transport.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_auth_client::{ClientAuth, Grant, McpClient};
//! use rmcp::ServiceExt as _;
//!
//! let auth = McpClient::new(
//!     "http://127.0.0.1:8090/mcp",
//!     Some(Grant::ClientCredentials(ClientAuth::SecretBasic {
//!         client_id: "demo".into(),
//!         secret: std::env::var("MCP_AUTH_CLIENT_SECRET")?,
//!     })),
//!     None,
//! );
//! let service = ().serve(mcp_auth_client::rmcp_transport::transport(auth)).await?;
//! let tools = service.list_all_tools().await?;
//! # Ok(()) }
//! ```
//!
//! rmcp keeps the session (initialize, `Mcp-Session-Id`, the protocol version, the
//! standalone GET stream, DELETE); every HTTP request it makes goes through
//! [`McpClient::send_http`], which adds the token (Bearer, or `HTTPSig` with the
//! request signed when the client has a signer), authorizes on a 401 and steps up on
//! a 403 `insufficient_scope`. rmcp's own `auth_header` is not used. Every
//! [`crate::Grant`] works the same way, a workload's platform token included
//! (`Grant::Workload(PlatformToken::File(path))`, read for every token request),
//! and a signed-in user's ID token exchanged at the enterprise identity provider
//! (`Grant::Enterprise(EnterpriseGrant { id_token: IdTokenSource::File(path), .. })`,
//! one exchange and one ID-JAG for every access token the session needs).
//!
//! The answer to a `tools/list` loses the tools whose `x-mcp-header` annotations
//! are invalid before rmcp reads it, and the others are remembered, so that the
//! `tools/call` requests rmcp sends carry their `Mcp-Param-*` headers (SEP-2243,
//! [`crate::tool_headers`]).
//!
//! SSE streams are read by the client's one capped reader ([`crate::sse`]), not by
//! `sse-stream`'s parser (whose line buffer has no bound; only its `Sse` type,
//! which rmcp's interface names, is used): an event larger than the
//! client's [`McpClient::max_message_bytes`] ends the stream with an error, as does
//! a JSON body that large.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, SseError, StreamableHttpClient,
    StreamableHttpClientTransportConfig, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use crate::response::{has_media_type, read_message};
use crate::sse::{SseReadError, SseReader};
use crate::tool_headers::ToolsListWatch;
use crate::{CallError, McpClient, parse_challenges};

/// The rmcp transport for the server `client` was made for, authorizing through it.
pub fn transport(client: McpClient) -> StreamableHttpClientTransport<AuthorizedHttpClient> {
    let uri = client.server().to_owned();
    StreamableHttpClientTransport::with_client(
        AuthorizedHttpClient::new(client),
        StreamableHttpClientTransportConfig::with_uri(uri),
    )
}

/// An rmcp [`StreamableHttpClient`] that sends every request through one
/// [`McpClient`] (shared by clones, so one token serves the whole session).
#[derive(Clone, Debug)]
pub struct AuthorizedHttpClient {
    client: Arc<tokio::sync::Mutex<McpClient>>,
}

impl AuthorizedHttpClient {
    /// Wraps `client`.
    pub fn new(client: McpClient) -> Self {
        Self {
            client: Arc::new(tokio::sync::Mutex::new(client)),
        }
    }

    /// The wrapped client (e.g. to keep the token it obtained).
    pub fn client(&self) -> &Arc<tokio::sync::Mutex<McpClient>> {
        &self.client
    }

    async fn send(
        &self,
        method: Method,
        body: &str,
        session_id: Option<&str>,
        last_event_id: Option<&str>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(reqwest::Response, usize), StreamableHttpError<CallError>> {
        let mut headers: HeaderMap = custom_headers.into_iter().collect();
        for (name, value) in [
            ("mcp-session-id", session_id),
            ("last-event-id", last_event_id),
        ] {
            if let Some(value) = value {
                let value = HeaderValue::from_str(value).map_err(|_| {
                    StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!(
                        "{name} is not a valid header value"
                    )))
                })?;
                headers.insert(name, value);
            }
        }
        let (response, max_message_bytes) = {
            let mut client = self.client.lock().await;
            let response = client
                .send_http(method, body, headers)
                .await
                .map_err(StreamableHttpError::Client)?;
            (response, client.max_message_bytes())
        };
        // Still refused after authorizing and stepping up: rmcp's errors for it.
        let challenge = || {
            response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(StreamableHttpError::AuthRequired(
                AuthRequiredError::new(challenge()),
            )),
            StatusCode::FORBIDDEN => {
                let scope = parse_challenges(response.headers())
                    .iter()
                    .find_map(|c| c.param("scope").map(str::to_owned));
                Err(StreamableHttpError::InsufficientScope(
                    InsufficientScopeError::new(challenge(), scope),
                ))
            }
            _ => Ok((response, max_message_bytes)),
        }
    }
}

/// Whether `response` is an SSE stream.
fn is_event_stream(response: &reqwest::Response) -> bool {
    has_media_type(response, "text/event-stream")
}

/// The events of an SSE response, parsed with a cap of `max_event_bytes` per event:
/// a larger one ends the stream with an error (after the events before it). The
/// answer `watch` names (a `tools/list` one) is filtered.
fn sse_events(
    response: reqwest::Response,
    max_event_bytes: usize,
    watch: Option<ToolsListWatch>,
) -> BoxStream<'static, Result<Sse, SseError>> {
    // The reader, or `None` once it failed (the error ends the stream).
    let reader = Some(SseReader::new(response, max_event_bytes));
    futures::stream::unfold(reader, move |reader| {
        let watch = watch.clone();
        async move { next_event(reader?, watch.as_ref()).await }
    })
    .boxed()
}

/// The next event of `reader` and the reader to go on with (`None` after an error),
/// or `None` at the end.
async fn next_event(
    mut reader: SseReader,
    watch: Option<&ToolsListWatch>,
) -> Option<(Result<Sse, SseError>, Option<SseReader>)> {
    match reader.next().await {
        Ok(Some(e)) => {
            let data = match watch {
                Some(watch) => e.data.map(|d| watch.apply_text(d)),
                None => e.data,
            };
            let sse = Sse {
                event: e.event,
                data,
                id: e.id,
                retry: e.retry,
            };
            Some((Ok(sse), Some(reader)))
        }
        // The end; an unfinished event is discarded (HTML §9.2.6).
        Ok(None) => None,
        Err(e) => {
            let failure: Box<dyn std::error::Error + Send + Sync> = match e {
                SseReadError::TooLarge(too_large) => Box::new(too_large),
                SseReadError::Body(e) => Box::new(e),
            };
            Some((Err(SseError::Body(failure)), None))
        }
    }
}

async fn unexpected(response: reqwest::Response) -> StreamableHttpError<CallError> {
    let status = response.status();
    let mut body = crate::limits::quoted_body(response).await;
    if let Some((cut, _)) = body.char_indices().nth(512) {
        body.truncate(cut);
    }
    StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!("{status}: {body}")))
}

impl StreamableHttpClient for AuthorizedHttpClient {
    type Error = CallError;

    async fn post_message(
        &self,
        _uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let body = serde_json::to_string(&message)?;
        let watch = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(request) => {
                let client = self.client.lock().await;
                ToolsListWatch::for_request(&request, client.tool_headers())
            }
            Err(_) => None,
        };
        let (mut response, max_message_bytes) = self
            .send(
                Method::POST,
                &body,
                session_id.as_deref(),
                None,
                custom_headers,
            )
            .await?;
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status.is_success() && is_event_stream(&response) {
            return Ok(StreamableHttpPostResponse::Sse(
                sse_events(response, max_message_bytes, watch),
                session,
            ));
        }
        if !has_media_type(&response, "application/json") {
            return if status.is_success() {
                Ok(StreamableHttpPostResponse::Accepted)
            } else {
                Err(unexpected(response).await)
            };
        }
        // JSON: the response, or a JSON-RPC error carried by an error status.
        let mut bytes = read_message(&mut response, max_message_bytes)
            .await
            .map_err(StreamableHttpError::Client)?;
        if let Some(watch) = &watch {
            bytes = match String::from_utf8(bytes) {
                Ok(text) => watch.apply_text(text).into_bytes(),
                Err(e) => e.into_bytes(),
            };
        }
        match serde_json::from_slice::<ServerJsonRpcMessage>(&bytes) {
            Ok(message) => Ok(StreamableHttpPostResponse::Json(message, session)),
            Err(_) if status.is_success() && bytes.iter().all(u8::is_ascii_whitespace) => {
                Ok(StreamableHttpPostResponse::Accepted)
            }
            Err(e) if status.is_success() => Err(e.into()),
            Err(_) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                ),
            ))),
        }
    }

    async fn delete_session(
        &self,
        _uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let (response, _) = self
            .send(Method::DELETE, "", Some(&session_id), None, custom_headers)
            .await?;
        match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => {
                Err(StreamableHttpError::ServerDoesNotSupportDeleteSession)
            }
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(unexpected(response).await),
        }
    }

    async fn get_stream(
        &self,
        _uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let (response, max_message_bytes) = self
            .send(
                Method::GET,
                "",
                session_id.as_deref(),
                last_event_id.as_deref(),
                custom_headers,
            )
            .await?;
        match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => Err(StreamableHttpError::ServerDoesNotSupportSse),
            s if s.is_success() && is_event_stream(&response) => {
                Ok(sse_events(response, max_message_bytes, None))
            }
            _ => Err(unexpected(response).await),
        }
    }
}
