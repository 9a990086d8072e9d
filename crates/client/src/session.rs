//! One MCP client over Streamable HTTP with authorization: stateless 2026-07-28
//! requests (`MCP-Protocol-Version`, `_meta`, `Mcp-Method`/`Mcp-Name`), discovery
//! from the first 401, a client_credentials token for the resource the metadata
//! names, every request signed (HTTPSig) or carrying the token (Bearer) through one
//! path, and step-up on 403 `insufficient_scope` with the union of scopes.
//!
//! Tokens last across runs through [`McpClient::with_cached`] and
//! [`McpClient::obtained_token`]: an expired access token is refreshed (RFC 6749 §6)
//! at the issuer that issued it, before the user is asked again.
//!
//! A pre-registered client's credentials go only to the issuer its
//! [`IssuerPolicy`] allows ([`McpClient::with_issuer_policy`]), whatever the MCP
//! server's metadata names; what the server sends back is read with a cap per
//! message ([`McpClient::with_max_message_bytes`]).

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

mod tokens;

use crate::challenge::{Challenge, parse_challenges};
use crate::discovery::{Discovery, DiscoveryError, discover};
use crate::issuer_pin::{IssuerPin, IssuerPolicy, UntrustedIssuer};
use crate::response::{PendingResponse, read_outcome};
use crate::{AuthorizationCodeClient, Authorizer, ClientAuth, RequestSigner, TokenError};

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "2026-07-28";

/// How many times one call may step up its scopes (MCP: "no more than a few").
pub const MAX_STEP_UPS: usize = 2;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Could not reach the server.
    #[error("{url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The failure.
        source: reqwest::Error,
    },
    /// Discovery failed.
    #[error("discovering the authorization server: {0}")]
    Discovery(#[from] DiscoveryError),
    /// The server asks for authorization and no credentials were given.
    #[error(
        "the server requires authorization ({challenge}); sign in with `mcp-auth login SERVER`, or give client credentials (--client-id, --client-secret)"
    )]
    NeedsCredentials {
        /// The challenge, for the message.
        challenge: String,
    },
    /// The token endpoint refused.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The authorization-code grant failed.
    #[error("authorization: {0}")]
    Authorization(#[from] crate::AuthorizationError),
    /// The client's authentication could not be built.
    #[error("{0}")]
    ClientAuth(#[from] crate::ClientAuthError),
    /// Signing failed.
    #[error("signing the request: {0}")]
    Sign(#[from] crate::SignRequestError),
    /// The server refused even with a fresh token.
    #[error("the server answered {status}: {challenge}")]
    Refused {
        /// The status.
        status: u16,
        /// The `WWW-Authenticate` fields, or the body.
        challenge: String,
    },
    /// The answer is not a JSON-RPC response to this call.
    #[error("the server's answer is not a JSON-RPC response: {0}")]
    BadResponse(String),
    /// A message of the server's answer (an SSE event, or the JSON body) is larger
    /// than the client accepts; the answer was not read further.
    #[error("the server sent a message larger than {0} bytes; the response was not read further")]
    MessageTooLarge(usize),
    /// A pre-registered client's credentials would have gone to an authorization
    /// server the issuer policy does not allow; nothing was sent to it.
    #[error("{0}")]
    UntrustedIssuer(#[from] UntrustedIssuer),
}

/// The outcome of one call: the JSON-RPC response and the notifications (e.g.
/// progress) that came before it on the same stream.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The response (`result` or `error`).
    pub response: Value,
    /// Server messages before it.
    pub notifications: Vec<Value>,
}

/// How the client gets tokens.
#[derive(Debug, Clone)]
pub enum Grant {
    /// client_credentials, as this client.
    ClientCredentials(ClientAuth),
    /// authorization_code with PKCE, registering as needed at each issuer.
    AuthorizationCode(AuthorizationCodeClient, Authorizer),
}

/// An MCP client for one server URL.
#[derive(Debug)]
pub struct McpClient {
    http: reqwest::Client,
    server: String,
    grant: Option<Grant>,
    signer: Option<RequestSigner>,
    /// Credentials per authorization server issuer, never used at another.
    registrations: std::collections::HashMap<String, ClientAuth>,
    /// The issuers whose registration may be written to a token cache: dynamic
    /// registrations and public clients. Pre-registered secrets never are.
    kept_registrations: std::collections::HashSet<String>,
    discovery: Option<Discovery>,
    token: Option<String>,
    /// When the current token expires (UNIX seconds), if the AS said.
    token_expires_at: Option<i64>,
    /// The refresh token and the issuer it was issued by.
    refresh: Option<(String, String)>,
    scopes: Vec<String>,
    next_id: u64,
    protocol_version: String,
    /// For 2025-11-25 and earlier: whether `initialize` was done, and the session.
    initialized: bool,
    session_id: Option<HeaderValue>,
    /// Where the grant's pre-registered credentials may go.
    issuer_pin: IssuerPin,
    /// The largest message read from the server.
    max_message_bytes: usize,
}

/// How long the client waits for a connection to the MCP server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl McpClient {
    /// A client for the MCP endpoint `server`, getting tokens with `grant` when the
    /// server asks, and binding them to `signer`'s key when given.
    pub fn new(
        server: impl Into<String>,
        grant: Option<Grant>,
        signer: Option<RequestSigner>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            http,
            server: server.into(),
            grant,
            signer,
            registrations: std::collections::HashMap::new(),
            kept_registrations: std::collections::HashSet::new(),
            discovery: None,
            token: None,
            token_expires_at: None,
            refresh: None,
            scopes: Vec::new(),
            next_id: 1,
            protocol_version: PROTOCOL_VERSION.to_owned(),
            initialized: false,
            session_id: None,
            issuer_pin: IssuerPin::default(),
            max_message_bytes: crate::limits::MAX_MESSAGE_BYTES,
        }
    }

    /// Where the grant's pre-registered credentials (a secret, or a key for
    /// `private_key_jwt`) may go: only to the configured issuer, or to the one
    /// pinned on first use (the default: the first issuer discovery finds).
    /// Another issuer gets nothing and the call fails with
    /// [`CallError::UntrustedIssuer`]. The issuer is also preferred when a resource
    /// lists several.
    pub fn with_issuer_policy(mut self, policy: IssuerPolicy) -> Self {
        self.issuer_pin = IssuerPin::new(policy);
        self
    }

    /// The issuer the grant's pre-registered credentials were sent to, once they
    /// were (for a caller that keeps the pin for later runs).
    pub fn credentials_issuer(&self) -> Option<&str> {
        self.issuer_pin.sent_to()
    }

    /// Reads messages (one SSE event, or a JSON body) of at most `bytes` from the
    /// server instead of [`crate::limits::MAX_MESSAGE_BYTES`].
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The largest message read from the server.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Speaks `version` instead of the stateless 2026-07-28: for earlier versions
    /// the first call is preceded by `initialize` (and `notifications/initialized`),
    /// and the session id the server gives is sent on every request after it.
    pub fn with_protocol_version(mut self, version: &str) -> Self {
        self.protocol_version = version.to_owned();
        self
    }

    fn stateless(&self) -> bool {
        self.protocol_version.as_str() >= PROTOCOL_VERSION
    }

    /// Asks for these scopes from the start (besides what challenges name).
    pub fn with_scopes(mut self, scopes: &[String]) -> Self {
        self.scopes = scopes.to_vec();
        self
    }

    /// Starts from a token kept by an earlier run: its access token while it is
    /// fresh, and its refresh token (used at its issuer only, before any new
    /// authorization) with the client registered there.
    pub fn with_cached(mut self, cached: &crate::CachedToken) -> Self {
        if cached.is_fresh(mcp_auth_core::unix_now()) {
            self.token = Some(cached.access_token.clone());
            self.token_expires_at = Some(cached.expires_at);
        }
        self.add_scopes(&cached.scopes.join(" "));
        if let Some(rt) = &cached.refresh_token {
            self.refresh = Some((rt.clone(), cached.issuer.clone()));
        }
        if let Some(client) = &cached.registered_client {
            self.registrations
                .insert(cached.issuer.clone(), client.to_auth());
            self.kept_registrations.insert(cached.issuer.clone());
        }
        self
    }

    /// The current token, its scopes, its expiry, its issuer, its refresh token and
    /// the dynamically registered client, when one was obtained by this client (not
    /// one given by [`McpClient::with_cached`] until it was refreshed).
    pub fn obtained_token(&self) -> Option<crate::CachedToken> {
        let issuer = &self.discovery.as_ref()?.authorization_server.issuer;
        Some(crate::CachedToken {
            access_token: self.token.clone()?,
            scopes: self.scopes.clone(),
            expires_at: self.token_expires_at?,
            issuer: issuer.clone(),
            refresh_token: self
                .refresh
                .as_ref()
                .filter(|(_, at)| at == issuer)
                .map(|(rt, _)| rt.clone()),
            registered_client: self
                .registrations
                .get(issuer)
                .filter(|_| self.kept_registrations.contains(issuer))
                .and_then(crate::RegisteredClient::from_auth),
        })
    }

    /// Gets a token now, without calling a tool: the server is asked for nothing but
    /// its metadata (RFC 9728 well-known URLs), then the grant runs.
    pub async fn obtain_token(&mut self) -> Result<crate::CachedToken, CallError> {
        if self.grant.is_none() {
            return Err(CallError::NeedsCredentials {
                challenge: "a token was asked for".into(),
            });
        }
        let discovery = self.discover(&[]).await?;
        self.choose_scopes(&discovery);
        self.discovery = Some(discovery);
        self.fetch_token().await?;
        self.obtained_token()
            .ok_or_else(|| CallError::BadResponse("the token response has no expires_in".into()))
    }

    /// Whether a session is open (the server gave an `Mcp-Session-Id` at
    /// `initialize`).
    pub fn has_session(&self) -> bool {
        self.session_id.is_some()
    }

    /// The MCP endpoint this client talks to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// What discovery found, once a 401 made it run.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

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

    fn pending(&self, response: reqwest::Response) -> PendingResponse {
        PendingResponse {
            response,
            max_message_bytes: self.max_message_bytes,
        }
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
            .exchange_raw(&Outgoing {
                method: http::Method::GET,
                body: "",
                headers: None,
            })
            .await?;
        match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            s if s.is_success() => Ok(Some(self.pending(response))),
            s => Err(refused(s, &[], response).await),
        }
    }

    /// POSTs `body` with this client's session headers; the first 2xx response.
    async fn exchange(&mut self, body: &str) -> Result<reqwest::Response, CallError> {
        let response = self
            .exchange_raw(&Outgoing {
                method: http::Method::POST,
                body,
                headers: None,
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(response),
            s => {
                let challenges = parse_challenges(response.headers());
                Err(refused(s, &challenges, response).await)
            }
        }
    }

    /// Sends `request`, authorizing on a 401 (once) and stepping up on a 403
    /// `insufficient_scope` (at most [`MAX_STEP_UPS`] times); the response after that.
    async fn exchange_raw(
        &mut self,
        request: &Outgoing<'_>,
    ) -> Result<reqwest::Response, CallError> {
        let mut step_ups = 0;
        let mut authorized_once = false;
        let mut nonce_retried = false;
        let expired = self
            .token_expires_at
            .is_some_and(|at| at - crate::token_cache::EXPIRY_MARGIN <= mcp_auth_core::unix_now());
        if (self.token.is_none() || expired) && self.refresh.is_some() {
            if self.discovery.is_none() {
                self.discovery = Some(self.discover(&[]).await?);
            }
            self.refresh_token().await?;
        }
        loop {
            let response = self.send(request).await?;
            let status = response.status();
            let challenges = parse_challenges(response.headers());
            let new_nonce = self
                .signer
                .as_ref()
                .is_some_and(|s| s.remember_nonce(&self.server, response.headers()));
            match status {
                // RFC 9449 §9: the resource wants its nonce in the proof; once.
                StatusCode::UNAUTHORIZED
                    if new_nonce
                        && !nonce_retried
                        && self.token.is_some()
                        && challenges
                            .iter()
                            .any(|c| c.param("error") == Some("use_dpop_nonce")) =>
                {
                    nonce_retried = true;
                }
                StatusCode::UNAUTHORIZED if !authorized_once => {
                    authorized_once = true;
                    self.authorize(&challenges).await?;
                }
                StatusCode::FORBIDDEN
                    if step_ups < MAX_STEP_UPS && insufficient_scope(&challenges).is_some() =>
                {
                    step_ups += 1;
                    let needed = insufficient_scope(&challenges).unwrap_or_default();
                    self.add_scopes(&needed);
                    if self.discovery.is_none() {
                        // A token from a cache: find its AS from this challenge.
                        self.discovery = Some(self.discover(&challenges).await?);
                    }
                    self.fetch_token().await?;
                }
                _ => return Ok(response),
            }
        }
    }

    async fn send(&self, outgoing: &Outgoing<'_>) -> Result<reqwest::Response, CallError> {
        let body = outgoing.body;
        let mut request = http::Request::builder()
            .method(outgoing.method.clone())
            .uri(&self.server)
            .header("accept", "application/json, text/event-stream")
            .body(())
            .map_err(|_| CallError::BadResponse(format!("{} is not a URL", self.server)))?;
        if !body.is_empty() {
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        match &outgoing.headers {
            Some(headers) => request.headers_mut().extend(headers.clone()),
            None => {
                // Every request carries the version, except `initialize` of a
                // session (the version is negotiated there); a session's id once
                // the server gave one.
                if (self.stateless() || self.initialized)
                    && let Ok(v) = HeaderValue::from_str(&self.protocol_version)
                {
                    request.headers_mut().insert("mcp-protocol-version", v);
                }
                if let Some(id) = &self.session_id {
                    request.headers_mut().insert("mcp-session-id", id.clone());
                }
            }
        }
        match (&self.token, &self.signer) {
            (Some(token), Some(signer)) => {
                let (mut parts, ()) = request.into_parts();
                signer.sign_resource_request(
                    &mut parts,
                    token,
                    body.as_bytes(),
                    mcp_auth_core::unix_now(),
                )?;
                request = http::Request::from_parts(parts, ());
            }
            (token, None) => {
                let headers = request.headers_mut();
                if let Some(token) = token
                    && let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}"))
                {
                    headers.insert(http::header::AUTHORIZATION, v);
                }
                if outgoing.method == http::Method::POST {
                    add_operation_headers(headers, body.as_bytes());
                }
            }
            (None, Some(_)) if outgoing.method == http::Method::POST => {
                add_operation_headers(request.headers_mut(), body.as_bytes())
            }
            (None, Some(_)) => {}
        }
        let (parts, ()) = request.into_parts();
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

    /// After a 401: discover (once), then get a token with the challenge's scopes.
    async fn authorize(&mut self, challenges: &[Challenge]) -> Result<(), CallError> {
        let needs_credentials = || CallError::NeedsCredentials {
            challenge: describe(challenges),
        };
        if self.grant.is_none() && self.refresh.is_none() {
            return Err(needs_credentials());
        }
        let discovery = self.discover(challenges).await?;
        self.choose_scopes(&discovery);
        self.discovery = Some(discovery);
        if self.refresh_token().await? {
            return Ok(());
        }
        if self.grant.is_none() {
            return Err(needs_credentials());
        }
        self.fetch_token().await
    }

    /// Discovery for this server: RFC 9728 then RFC 8414; for a server spoken to at
    /// 2025-03-26 that has no resource metadata, that version's own rules.
    async fn discover(&self, challenges: &[Challenge]) -> Result<Discovery, CallError> {
        let preferred = self.issuer_pin.preferred();
        match discover(&self.http, &self.server, challenges, preferred).await {
            Err(DiscoveryError::NoResourceMetadata(_)) if self.protocol_version == "2025-03-26" => {
                Ok(
                    crate::discovery::discover_2025_03_26(&self.http, &self.server, challenges)
                        .await?,
                )
            }
            other => Ok(other?),
        }
    }

    /// MCP "Scope Selection Strategy": the challenge's scopes always; the resource's
    /// `scopes_supported` only when nothing else says what to ask for (not the
    /// caller, not a challenge).
    fn choose_scopes(&mut self, discovery: &Discovery) {
        match &discovery.challenge_scope {
            Some(scope) => self.add_scopes(scope),
            None if self.scopes.is_empty() => {
                if let Some(scope) = discovery.initial_scope() {
                    self.add_scopes(&scope);
                }
            }
            None => {}
        }
    }

    fn add_scopes(&mut self, scope: &str) {
        for s in mcp_auth_core::scope::tokens(scope) {
            if !self.scopes.iter().any(|have| have == s) {
                self.scopes.push(s.to_owned());
            }
        }
    }
}

/// One HTTP request to the server: the method, the body (empty for none), and the
/// caller's headers, or `None` for this client's own session headers.
struct Outgoing<'a> {
    method: http::Method,
    body: &'a str,
    headers: Option<HeaderMap>,
}

/// The error for a response that is still a refusal after authorization.
async fn refused(
    status: StatusCode,
    challenges: &[Challenge],
    response: reqwest::Response,
) -> CallError {
    let text = describe(challenges);
    let challenge = if text.is_empty() {
        crate::limits::quoted_body(response).await
    } else {
        text
    };
    CallError::Refused {
        status: status.as_u16(),
        challenge,
    }
}

/// `Mcp-Method` / `Mcp-Name` from the body (SEP-2243), for unsigned requests.
pub(crate) fn add_operation_headers(headers: &mut HeaderMap, body: &[u8]) {
    if let Ok(op) = mcp_auth_core::McpOperation::from_body(body) {
        for (name, value) in op.headers() {
            headers.insert(name, value);
        }
    }
}

/// The scopes a 403 `insufficient_scope` challenge asks for.
fn insufficient_scope(challenges: &[Challenge]) -> Option<String> {
    challenges
        .iter()
        .find(|c| c.param("error") == Some("insufficient_scope"))
        .map(|c| c.param("scope").unwrap_or_default().to_owned())
}

/// The challenges, readable: `Bearer error="..." (description)`.
fn describe(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let mut s = c.scheme.clone();
            if let Some(e) = c.param("error") {
                s.push_str(&format!(" {e}"));
            }
            if let Some(d) = c.param("error_description") {
                s.push_str(&format!(": {d}"));
            }
            if let Some(scope) = c.param("scope") {
                s.push_str(&format!(" (scope {scope})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}
