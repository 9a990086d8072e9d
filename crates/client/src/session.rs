//! One MCP client over Streamable HTTP with authorization: stateless 2026-07-28
//! requests (`MCP-Protocol-Version`, `_meta`, `Mcp-Method`/`Mcp-Name`), discovery
//! from the first 401, a token from the [`Grant`] for the resource the metadata
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
//!
//! This module holds the client's state and configuration; the rest is split by
//! concept: `messages` (JSON-RPC calls, and `initialize` with its session id for
//! versions before 2026-07-28), `transport` (one HTTP request: its headers, the
//! token and the signature), `authorize` (what a 401 or a 403 `insufficient_scope`
//! sets off: discovery, scopes, retries) and `tokens` (the token endpoint: the
//! grant, refresh, client credentials per issuer).

use http::HeaderValue;
use mcp_auth_core::connection_pool;
use serde_json::Value;

mod authorize;
mod messages;
mod tokens;
mod transport;

#[cfg(test)]
mod tests;

use crate::discovery::{Discovery, DiscoveryError};
use crate::enterprise::{EnterpriseError, EnterpriseGrant};
use crate::issuer_pin::{IssuerPin, IssuerPolicy, UntrustedIssuer};
use crate::response::PendingResponse;
use crate::workload::{PlatformToken, WorkloadError};
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
        "the server requires authorization ({challenge}); sign in with `mcp-auth login SERVER`, give client credentials (--client-id, --client-secret), a workload token (--workload-token FILE), or a user's ID token (--id-token FILE with --idp-client-id and --client-id)"
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
    /// The workload grant sent no token request (WIF-C-1, WIF-C-4, WIF-C-6), or
    /// could not read the platform token.
    #[error("{0}")]
    Workload(#[from] WorkloadError),
    /// The enterprise grant sent no redemption (EMA-C-1 to EMA-C-6), or the
    /// identity provider or the authorization server refused (EMA-C-8).
    #[error("{0}")]
    Enterprise(#[from] EnterpriseError),
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
    /// An argument of a `tools/call` that the tool's `x-mcp-header` annotations
    /// mirror into a header cannot be a header value (an object or an array, an
    /// integer beyond ±(2^53 − 1)); nothing was sent.
    #[error("tools/call {tool}: {source}")]
    ParamHeader {
        /// The tool.
        tool: String,
        /// Why.
        source: mcp_auth_core::mcp_param::ParamValueError,
    },
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
    /// RFC 7523 `jwt-bearer` with the workload's platform token as the assertion,
    /// read anew for every token request, sent only to the authorization server its
    /// `aud` names, without a client id or client authentication
    /// (profiles/workload-identity-federation.md, [`crate::workload`]).
    Workload(PlatformToken),
    /// The user's ID token exchanged at the enterprise identity provider (RFC 8693)
    /// for an ID-JAG, redeemed with RFC 7523 `jwt-bearer` and the client's
    /// authentication at the authorization server: one exchange for every access
    /// token, no refresh token kept (profiles/enterprise-managed-authorization.md,
    /// [`crate::enterprise`]).
    Enterprise(EnterpriseGrant),
}

impl Grant {
    /// Whether tokens of this grant are renewed with refresh tokens. A workload's
    /// platform token (WIF D11) and a user's ID token (EMA D3, D11) are what gets
    /// the next access token: a refresh token would outlive the decision of the
    /// party that issued them, and is neither kept nor taken from a cache.
    fn refreshes(&self) -> bool {
        !matches!(self, Self::Workload(_) | Self::Enterprise(_))
    }
}

/// An MCP client for one server URL. Its `Debug` shows no token and no session id.
pub struct McpClient {
    http: reqwest::Client,
    /// For token requests: never follows a redirect, which would send the grant and
    /// the client's credentials (`client_secret_post`, an assertion) to wherever the
    /// token endpoint points (RFC 6749 §3.2 names one endpoint, not a chain).
    token_http: reqwest::Client,
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
    /// The listed tools whose parameters are mirrored into `Mcp-Param-*` headers.
    tool_headers: crate::ToolHeaders,
}

/// How long the client waits for a connection to the MCP server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |present: bool| present.then_some("..");
        f.debug_struct("McpClient")
            .field("server", &self.server)
            .field("grant", &self.grant)
            .field("signer", &self.signer)
            .field("registrations", &self.registrations)
            .field("discovery", &self.discovery)
            .field("token", &masked(self.token.is_some()))
            .field("token_expires_at", &self.token_expires_at)
            .field("refresh_token", &masked(self.refresh.is_some()))
            .field("scopes", &self.scopes)
            .field("protocol_version", &self.protocol_version)
            .field("initialized", &self.initialized)
            .field("session_id", &masked(self.session_id.is_some()))
            .field("issuer_pin", &self.issuer_pin)
            .field("kept_registrations", &self.kept_registrations)
            .field("next_id", &self.next_id)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("tool_headers", &self.tool_headers)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// A client for the MCP endpoint `server`, getting tokens with `grant` when the
    /// server asks, and binding them to `signer`'s key when given.
    pub fn new(
        server: impl Into<String>,
        grant: Option<Grant>,
        signer: Option<RequestSigner>,
    ) -> Self {
        let http = connection_pool::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        let token_http = connection_pool::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            token_http,
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
            tool_headers: crate::ToolHeaders::default(),
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

    /// Remembers at most `tools` listed tools with `x-mcp-header` annotations
    /// instead of [`crate::limits::MAX_REMEMBERED_TOOLS`] (what was remembered is
    /// forgotten).
    pub fn with_max_remembered_tools(mut self, tools: usize) -> Self {
        self.tool_headers = crate::ToolHeaders::with_max_tools(tools);
        self
    }

    /// The listed tools whose parameters every `tools/call` mirrors into
    /// `Mcp-Param-*` headers (SEP-2243): learnt from every `tools/list` answer the
    /// client reads; a caller that has a tool's definition from elsewhere may
    /// [`crate::ToolHeaders::learn_tools_list`] it here.
    pub fn tool_headers(&self) -> &crate::ToolHeaders {
        &self.tool_headers
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
    /// authorization) with the client registered there. A workload and the
    /// enterprise grant take the access token only: their platform token or ID
    /// token is their only grant (WIF-C-5, D11; EMA-C-8, D11).
    pub fn with_cached(mut self, cached: &crate::CachedToken) -> Self {
        if cached.is_fresh(mcp_auth_core::unix_now()) {
            self.token = Some(cached.access_token.clone());
            self.token_expires_at = Some(cached.expires_at);
        }
        self.add_scopes(&cached.scopes.join(" "));
        if self.grant.as_ref().is_some_and(|g| !g.refreshes()) {
            return self;
        }
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

    /// The response to read; `request`, when given, is the message it answers (a
    /// `tools/list` answer is filtered and learnt from).
    fn pending(&self, response: reqwest::Response, request: Option<&Value>) -> PendingResponse {
        PendingResponse {
            response,
            max_message_bytes: self.max_message_bytes,
            tools_list: request.and_then(|r| {
                crate::tool_headers::ToolsListWatch::for_request(r, &self.tool_headers)
            }),
        }
    }
}
