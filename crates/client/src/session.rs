//! One MCP client over Streamable HTTP with authorization: stateless 2026-07-28
//! requests (`MCP-Protocol-Version`, `_meta`, `Mcp-Method`/`Mcp-Name`), discovery
//! from the first 401, a client_credentials token for the resource the metadata
//! names, every request signed (HTTPSig) or carrying the token (Bearer) through one
//! path, and step-up on 403 `insufficient_scope` with the union of scopes.
//!
//! Tokens last across runs through [`McpClient::with_cached`] and
//! [`McpClient::obtained_token`]: an expired access token is refreshed (RFC 6749 §6)
//! at the issuer that issued it, before the user is asked again.

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::challenge::{Challenge, parse_challenges};
use crate::discovery::{Discovery, DiscoveryError, discover};
use crate::{
    AuthorizationCodeClient, Authorizer, ClientAuth, RequestSigner, TokenError, request_token,
};

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
}

impl McpClient {
    /// A client for the MCP endpoint `server`, getting tokens with `grant` when the
    /// server asks, and binding them to `signer`'s key when given.
    pub fn new(
        server: impl Into<String>,
        grant: Option<Grant>,
        signer: Option<RequestSigner>,
    ) -> Self {
        Self {
            http: reqwest::Client::new(),
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
        }
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
        read_outcome(response, id).await
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
        Ok(PendingResponse { response })
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
        let outcome = read_outcome(response, id).await?;
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
            s if s.is_success() => Ok(Some(PendingResponse { response })),
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

    /// Uses the refresh token, if there is one from the issuer discovery found
    /// (RFC 6749 §6; never sent to another AS). `false` when there is none or the AS
    /// refused it (it is then dropped, and the caller authorizes afresh).
    async fn refresh_token(&mut self) -> Result<bool, CallError> {
        let Some(discovery) = &self.discovery else {
            return Ok(false);
        };
        let server = &discovery.authorization_server;
        let Some((refresh_token, _)) = self
            .refresh
            .take()
            .filter(|(_, issuer)| *issuer == server.issuer)
        else {
            return Ok(false);
        };
        let credentials = match (self.registrations.get(&server.issuer), &self.grant) {
            (Some(c), _) => c.clone(),
            (None, Some(Grant::ClientCredentials(c))) => c.clone(),
            (None, Some(Grant::AuthorizationCode(client, _))) => {
                crate::authorization_code::register(&self.http, server, client).await?
            }
            (None, None) => return Ok(false),
        };
        let now = mcp_auth_core::unix_now();
        let mut form = Form::default();
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &refresh_token)
            .append_pair("resource", &discovery.resource.resource);
        for (k, v) in credentials.form_params(&server.issuer, now)? {
            form.append_pair(k, &v);
        }
        match request_token(
            &self.http,
            &server.token_endpoint,
            &form.finish(),
            credentials.basic(),
            self.signer.as_ref(),
            now,
        )
        .await
        {
            Ok(token) => {
                let issuer = server.issuer.clone();
                self.keep_token(token, &issuer, Some(refresh_token), now);
                Ok(true)
            }
            // Expired, revoked or reused: authorize afresh.
            Err(TokenError::Refused { .. }) => {
                self.token = None;
                self.token_expires_at = None;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes a token response: the access token, its expiry, and the refresh token
    /// (a new one replaces `previous`, else `previous` stays, RFC 6749 §6).
    fn keep_token(
        &mut self,
        token: crate::TokenResponse,
        issuer: &str,
        previous: Option<String>,
        now: i64,
    ) {
        self.token = Some(token.access_token);
        self.token_expires_at = token.expires_in.map(|s| now + s);
        self.refresh = token
            .refresh_token
            .or(previous)
            .map(|rt| (rt, issuer.to_owned()));
    }

    /// Discovery for this server: RFC 9728 then RFC 8414; for a server spoken to at
    /// 2025-03-26 that has no resource metadata, that version's own rules.
    async fn discover(&self, challenges: &[Challenge]) -> Result<Discovery, CallError> {
        match discover(&self.http, &self.server, challenges).await {
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
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !self.scopes.iter().any(|have| have == s) {
                self.scopes.push(s.to_owned());
            }
        }
    }

    async fn fetch_token(&mut self) -> Result<(), CallError> {
        let (Some(discovery), Some(grant)) = (&self.discovery, &self.grant) else {
            return Ok(());
        };
        let server = &discovery.authorization_server;
        let now = mcp_auth_core::unix_now();
        let mut form = Form::default();
        let credentials = match grant {
            Grant::ClientCredentials(credentials) => {
                form.append_pair("grant_type", "client_credentials");
                if !self.scopes.is_empty() {
                    form.append_pair("scope", &self.scopes.join(" "));
                }
                credentials.clone()
            }
            Grant::AuthorizationCode(client, authorizer) => {
                let credentials = match self.registrations.get(&server.issuer) {
                    Some(c) => c.clone(),
                    None => {
                        let c =
                            crate::authorization_code::register(&self.http, server, client).await?;
                        self.registrations.insert(server.issuer.clone(), c.clone());
                        let dynamic = client.preregistered.is_none()
                            && client.metadata_document.as_deref() != Some(c.client_id());
                        if dynamic || matches!(c, ClientAuth::None { .. }) {
                            self.kept_registrations.insert(server.issuer.clone());
                        }
                        c
                    }
                };
                // offline_access only where the AS lists it (MCP "Refresh tokens").
                let mut scopes = self.scopes.clone();
                if server
                    .scopes_supported
                    .iter()
                    .any(|s| s == "offline_access")
                    && !scopes.iter().any(|s| s == "offline_access")
                {
                    scopes.push("offline_access".into());
                }
                let scope = scopes.join(" ");
                let code = crate::authorization_code::authorize(
                    server,
                    credentials.client_id(),
                    &client.redirect_uri,
                    &discovery.resource.resource,
                    Some(&scope),
                    self.signer.as_ref().and_then(RequestSigner::dpop_jkt),
                    authorizer,
                )
                .await?;
                form.append_pair("grant_type", "authorization_code");
                form.append_pair("code", &code.code);
                form.append_pair("redirect_uri", &client.redirect_uri);
                form.append_pair("code_verifier", &code.verifier);
                credentials
            }
        };
        form.append_pair("resource", &discovery.resource.resource);
        for (k, v) in credentials.form_params(&server.issuer, now)? {
            form.append_pair(k, &v);
        }
        let token = request_token(
            &self.http,
            &server.token_endpoint,
            &form.finish(),
            credentials.basic(),
            self.signer.as_ref(),
            now,
        )
        .await?;
        let issuer = server.issuer.clone();
        self.keep_token(token, &issuer, None, now);
        Ok(())
    }
}

/// A form body being built. Pairs are kept as owned strings (url's serializer holds
/// a non-`Sync` closure, which would make the futures that build it not `Send`).
#[derive(Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn append_pair(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    fn finish(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
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
    let body = response.text().await.unwrap_or_default();
    CallError::Refused {
        status: status.as_u16(),
        challenge: if text.is_empty() { body } else { text },
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

/// A response still to be read: JSON, or an SSE stream whose messages arrive over
/// time.
#[derive(Debug)]
pub struct PendingResponse {
    response: reqwest::Response,
}

impl PendingResponse {
    /// Calls `on_message` with each JSON-RPC message of the response as it arrives.
    pub async fn for_each(self, mut on_message: impl FnMut(Value)) -> Result<(), CallError> {
        let mut response = self.response;
        let is_sse = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let read_error = |e: reqwest::Error| CallError::BadResponse(e.to_string());
        if is_sse {
            let mut events = SseEvents::default();
            while let Some(chunk) = response.chunk().await.map_err(read_error)? {
                for m in events.push(&chunk) {
                    on_message(m);
                }
            }
        } else {
            let body = response.bytes().await.map_err(read_error)?;
            if !body.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<Value>(&body)
                    .map_err(|e| CallError::BadResponse(e.to_string()))?
                {
                    Value::Array(all) => all.into_iter().for_each(&mut on_message),
                    one => on_message(one),
                }
            }
        }
        Ok(())
    }
}

/// JSON-RPC messages from an SSE stream fed in chunks (events end at a blank line;
/// `data:` lines joined; CRLF or LF).
#[derive(Debug, Default)]
struct SseEvents {
    buffer: Vec<u8>,
}

impl SseEvents {
    /// The messages completed by `chunk`.
    fn push(&mut self, chunk: &[u8]) -> Vec<Value> {
        self.buffer.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            let text = &self.buffer;
            let end = text
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
                .into_iter()
                .chain(
                    text.windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|i| (i, 4)),
                )
                .min_by_key(|(i, _)| *i);
            let Some((at, len)) = end else {
                return out;
            };
            let event: Vec<u8> = self.buffer.drain(..at + len).collect();
            let event = String::from_utf8_lossy(&event);
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty()
                && let Ok(m) = serde_json::from_str(&data.join("\n"))
            {
                out.push(m);
            }
        }
    }
}

/// The JSON-RPC response with `id` from a JSON or SSE body, and the messages before it.
async fn read_outcome(response: reqwest::Response, id: u64) -> Result<CallOutcome, CallError> {
    let mut messages = Vec::new();
    PendingResponse { response }
        .for_each(|m| messages.push(m))
        .await?;
    let at = messages
        .iter()
        .position(|m| {
            m.get("id") == Some(&json!(id))
                && (m.get("result").is_some() || m.get("error").is_some())
        })
        .ok_or_else(|| {
            CallError::BadResponse(format!(
                "no response with id {id} among {} messages",
                messages.len()
            ))
        })?;
    let response = messages.remove(at);
    messages.truncate(at);
    Ok(CallOutcome {
        response,
        notifications: messages,
    })
}
