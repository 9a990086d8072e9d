//! Every way a request is refused, and — in one place — the response for each
//! (HTTPSIG-RS-15, HTTPSIG-RS-16): status, `WWW-Authenticate` challenge,
//! `Accept-Signature`, JSON-RPC error body, and the metric label.
//!
//! Building the response is a pure function of the refusal and its [`Challenge`]:
//! it logs nothing and reads no clock (a DPoP nonce to send comes in the challenge,
//! issued by the verifier; logging and metrics are the layer's).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use mcp_auth_core::dpop::{ProofError, algs_param};
use mcp_auth_core::httpsig_profile::{INVALID_SIGNATURE, PRESENTATION_TAG, accept_signature};
use mcp_auth_core::oauth_error::safe_description;
use mcp_auth_core::{AccessTokenError, ConfirmationError, HeaderMismatch, ReplayError};
use mcp_auth_httpsig::{ComponentId, FieldError, VerifyError};

use crate::presentation::Profile;
use crate::token::TokenError;

/// `Retry-After` (seconds) of the 503 sent when the replay cache cannot answer.
pub const REPLAY_CACHE_RETRY_AFTER: &str = "2";

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No `Authorization` header: a challenge without an error code (RFC 6750 §3.1).
    #[error("no access token was presented")]
    NoCredentials,
    /// The `Authorization` header is malformed, repeated, or uses another scheme.
    #[error("{0}")]
    BadAuthorization(&'static str),
    /// The token does not verify.
    #[error("{0}")]
    Token(AccessTokenError),
    /// The token's `cnf` cannot be used.
    #[error("{0}")]
    Confirmation(ConfirmationError),
    /// A token bound to a key was presented as `Bearer` (`dpop`: bound by
    /// `cnf.jkt`, to be presented with the DPoP scheme).
    #[error("the token is bound to a key: present it with the {} scheme and a {}", if *dpop { "DPoP" } else { "HTTPSig" }, if *dpop { "DPoP proof" } else { "signature" })]
    BoundTokenAsBearer {
        /// Bound to a DPoP key.
        dpop: bool,
    },
    /// The resource requires bound tokens.
    #[error(
        "this resource requires access tokens bound to a key: an HTTP message signature key (HTTPSig){}",
        if *dpop_accepted { " or a DPoP key" } else { "" }
    )]
    BoundTokenRequired {
        /// DPoP-bound tokens are accepted too.
        dpop_accepted: bool,
    },
    /// The presentation signature fails a check. `components` is what the client
    /// must sign, for `Accept-Signature`.
    #[error("{error}")]
    Signature {
        /// The failure.
        error: VerifyError,
        /// The components the request must cover.
        components: Vec<ComponentId>,
    },
    /// The DPoP proof fails a check of RFC 9449 §4.3, was replayed, or lacks the
    /// server's nonce.
    #[error("{0}")]
    Dpop(ProofError),
    /// The nonce was used before within the window.
    #[error("the signature nonce was already used (replayed request)")]
    Replayed {
        /// The components the request must cover.
        components: Vec<ComponentId>,
    },
    /// The replay cache lost its memory (a Redis restarted empty) after this
    /// signature could first be used: whether it was is unknowable, so it is refused
    /// as too old (docs/security.md, "Replay cache memory loss").
    #[error(
        "the signature may predate the replay cache's memory (since {memory_since}); sign the request again"
    )]
    ReplayUnknown {
        /// When the replay cache's memory begins (Unix seconds).
        memory_since: i64,
        /// The components the request must cover.
        components: Vec<ComponentId>,
    },
    /// The replay cache could not answer: fail closed.
    #[error("{0}")]
    ReplayCacheUnavailable(ReplayError),
    /// `Mcp-*` headers do not mirror the body (SEP-2243): 400, JSON-RPC -32020.
    #[error("{mismatch}")]
    HeaderMismatch {
        /// What differs.
        mismatch: HeaderMismatch,
        /// The JSON-RPC id, raw.
        id: Option<String>,
    },
    /// The body is larger than the limit.
    #[error("the request body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read.
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// A method the MCP endpoint does not serve (Streamable HTTP uses `POST`, `GET` and
    /// `DELETE`): 405 with `Allow`, before any credential is looked at.
    #[error("this endpoint serves {} only", crate::request::ALLOWED_METHODS)]
    MethodNotAllowed,
    /// A `GET` or `DELETE` that announces a body: 400. A JSON-RPC message travels in
    /// a `POST`, where the operation and scope checks see it.
    #[error("a {0} request carries no body")]
    BodyNotAllowed(http::Method),
    /// The token is valid but lacks scopes the operation needs: 403
    /// `insufficient_scope` naming every scope the operation needs (step-up).
    #[error("this operation needs the scope{} {}", if required.len() == 1 { "" } else { "s" }, required.join(" "))]
    InsufficientScope {
        /// All the scopes the operation needs (not only the missing ones).
        required: Vec<String>,
    },
    /// A policy rule (or the policy's default) denies the operation: 403 with a
    /// JSON-RPC error ([`POLICY_DENIED_CODE`]) and no challenge, since no token or scope
    /// would change the answer. The rule is named in logs only.
    #[error("refused by the policy ({rule})")]
    PolicyDenied {
        /// Which rule decided, for logs (`rule `name`` or `the default`).
        rule: String,
        /// The JSON-RPC id, raw.
        id: Option<String>,
    },
    /// A call of a tool (prompt, resource) the policy hides from this caller's lists
    /// (`crate::policy::ListKind`): answered as the call of an unknown one is, 200 with
    /// the JSON-RPC error the MCP specification gives for it, so that a hidden entry
    /// cannot be told from a missing one. The rule is named in logs only.
    #[error("hidden by the policy ({rule})")]
    Hidden {
        /// What the call names.
        kind: crate::policy::ListKind,
        /// The tool's or prompt's name, the resource's URI.
        name: String,
        /// Which rule decided, for logs.
        rule: String,
        /// The JSON-RPC id, raw.
        id: Option<String>,
    },
    /// The principal sent more requests than its rate limit allows
    /// (`crate::rate_limit`): 429 with `Retry-After` (RFC 6585 §4), no challenge.
    #[error("rate limit exceeded: retry after {retry_after} s")]
    RateLimited {
        /// Whole seconds until a request would be accepted (at least 1).
        retry_after: u64,
    },
    /// The rate limit's store does not answer and the limit fails closed: 503 with
    /// `Retry-After`.
    #[error("the rate limit store is unavailable")]
    RateLimitUnavailable,
    /// A `tools/call`'s `Mcp-Param-*` headers disagree with its arguments (SEP-2243,
    /// MCP 2026-07-28 §Server Behavior for Custom Headers): 400, JSON-RPC -32020.
    #[error("{mismatch}")]
    ParamHeaderMismatch {
        /// What disagrees (names the header, never a value).
        mismatch: mcp_auth_core::mcp_param::ParamHeaderMismatch,
        /// The JSON-RPC id, raw.
        id: Option<String>,
    },
    /// An internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A JSON-RPC error response body answering the request `id` (raw JSON; `null`
/// without), with its `Content-Type`.
fn jsonrpc_error(
    headers: &mut http::HeaderMap,
    id: Option<&str>,
    error: serde_json::Value,
) -> Full<Bytes> {
    let id = id
        .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
        .unwrap_or(serde_json::Value::Null);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": error});
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Full::from(body.to_string())
}

/// The error the MCP specification gives for the call of an unknown entry: tools
/// ("Error Handling": -32602 `Unknown tool: <name>`), prompts (-32602 for an invalid
/// prompt name), resources (-32002 "Resource not found", the URI in `data`).
fn unknown_entry(kind: crate::policy::ListKind, name: &str) -> serde_json::Value {
    use crate::policy::ListKind;
    match kind {
        ListKind::Tools => {
            serde_json::json!({"code": -32602, "message": format!("Unknown tool: {name}")})
        }
        ListKind::Prompts => {
            serde_json::json!({"code": -32602, "message": format!("Unknown prompt: {name}")})
        }
        ListKind::Resources => {
            serde_json::json!({"code": -32002, "message": "Resource not found", "data": {"uri": name}})
        }
    }
}

/// The JSON-RPC error code of an operation a policy rule denies (in the range
/// JSON-RPC 2.0 §5.1 leaves to implementations; -32020 is the header mismatch of
/// SEP-2243).
pub const POLICY_DENIED_CODE: i64 = -32003;

/// What a challenge says besides the error: where the metadata is, which schemes the
/// resource accepts, which the client used, and the scopes every request needs.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    /// The RFC 9728 metadata URL (`resource_metadata`).
    pub resource_metadata: &'a str,
    /// Whether unbound Bearer tokens are accepted (a `Bearer` challenge is added).
    pub bearer_accepted: bool,
    /// The scheme of the rejected request's `Authorization`, when it had one.
    pub presented: Option<crate::presentation::Profile>,
    /// The scopes of 401 challenges (RFC 6750 §3 `scope`), space-separated; empty for
    /// none.
    pub scope: &'a str,
    /// When DPoP is accepted: its policy (a `DPoP algs=...` challenge).
    pub dpop: Option<&'a crate::config::DpopPolicy>,
    /// A fresh DPoP nonce for the `DPoP-Nonce` header, when nonces are required
    /// (RFC 9449 §9: with every challenge).
    pub dpop_nonce: Option<&'a str>,
}

impl From<TokenError> for Rejection {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid(e) => Self::Token(e),
            TokenError::Confirmation(e) => Self::Confirmation(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl Rejection {
    /// Whether the refusal is the server's failure rather than the request's (logged as
    /// an error).
    pub fn is_server_failure(&self) -> bool {
        self.status().is_server_error()
    }

    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::BadAuthorization(_) => "bad_authorization",
            Self::Token(_) | Self::Confirmation(_) => "invalid_token",
            Self::BoundTokenAsBearer { .. } => "bound_token_as_bearer",
            Self::Dpop(ProofError::Nonce) => "use_dpop_nonce",
            Self::Dpop(ProofError::Replayed) => "dpop_replay",
            Self::Dpop(ProofError::KeyBinding) => "dpop_key_binding",
            Self::Dpop(_) => "invalid_dpop_proof",
            Self::BoundTokenRequired { .. } => "bound_token_required",
            Self::Signature { error, .. } => error.metric_label(),
            Self::Replayed { .. } => "replay",
            Self::ReplayUnknown { .. } => "replay_unknown",
            Self::ReplayCacheUnavailable(_) => "replay_cache_unavailable",
            Self::HeaderMismatch { .. } | Self::ParamHeaderMismatch { .. } => "header_mismatch",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::PolicyDenied { .. } => "policy_denied",
            Self::Hidden { .. } => "hidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::RateLimitUnavailable => "rate_limit_unavailable",
            Self::BodyUnreadable => "body_unreadable",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BodyNotAllowed(_) => "body_not_allowed",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Signature {
                error: VerifyError::Fields(FieldError::DuplicateLabel { .. }),
                ..
            } => StatusCode::BAD_REQUEST,
            Self::HeaderMismatch { .. } | Self::ParamHeaderMismatch { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::InsufficientScope { .. } | Self::PolicyDenied { .. } => StatusCode::FORBIDDEN,
            Self::Hidden { .. } => StatusCode::OK,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable | Self::BodyNotAllowed(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::ReplayCacheUnavailable(_) | Self::RateLimitUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `error` code of the challenge, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::NoCredentials => None,
            Self::Signature {
                error: VerifyError::Fields(FieldError::DuplicateLabel { .. }),
                ..
            } => Some("invalid_request"),
            Self::Signature { .. } | Self::Replayed { .. } | Self::ReplayUnknown { .. } => {
                Some(INVALID_SIGNATURE)
            }
            Self::Dpop(e) => Some(e.code()),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::BadAuthorization(_)
            | Self::Token(_)
            | Self::Confirmation(_)
            | Self::BoundTokenAsBearer { .. }
            | Self::BoundTokenRequired { .. } => Some("invalid_token"),
            _ => None,
        }
    }

    /// Builds the response, with the challenges `challenge` describes.
    ///
    /// The error goes in the challenge of the scheme the client used when that
    /// scheme is accepted (a Bearer client reads `Bearer error=...`); otherwise in
    /// the `HTTPSig` challenge. The other accepted scheme is offered beside it, without
    /// an error. When Bearer is accepted its challenge comes first.
    pub fn into_response(self, challenge: Challenge<'_>) -> Response<Full<Bytes>> {
        let status = self.status();
        let mut response = Response::new(Full::default());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        match &self {
            Self::ParamHeaderMismatch { mismatch, id } => {
                let raw = id
                    .as_deref()
                    .and_then(|i| serde_json::value::RawValue::from_string(i.to_owned()).ok());
                let body = mcp_auth_core::mcp_param::error_body(raw.as_deref(), mismatch);
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                *response.body_mut() = Full::from(body);
                return response;
            }
            Self::HeaderMismatch { mismatch, id } => {
                let raw = id
                    .as_deref()
                    .and_then(|i| serde_json::value::RawValue::from_string(i.to_owned()).ok());
                let body = mcp_auth_core::McpOperation::error_body(raw.as_deref(), mismatch);
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                *response.body_mut() = Full::from(body);
                return response;
            }
            Self::PolicyDenied { id, .. } => {
                let error = serde_json::json!({
                    "code": POLICY_DENIED_CODE,
                    "message": "Forbidden: the gateway's policy does not allow this operation",
                });
                *response.body_mut() = jsonrpc_error(headers, id.as_deref(), error);
                return response;
            }
            Self::Hidden { kind, name, id, .. } => {
                *response.body_mut() =
                    jsonrpc_error(headers, id.as_deref(), unknown_entry(*kind, name));
                return response;
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
                return response;
            }
            Self::ReplayCacheUnavailable(_) | Self::RateLimitUnavailable => {
                // RFC 9110 §10.2.3: how long the client should wait; a Redis that
                // restarts or fails over is back within seconds.
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(REPLAY_CACHE_RETRY_AFTER),
                );
                return response;
            }
            Self::Internal(_)
            | Self::BodyTooLarge(_)
            | Self::BodyUnreadable
            | Self::BodyNotAllowed(_) => {
                return response;
            }
            Self::MethodNotAllowed => {
                headers.insert(
                    header::ALLOW,
                    HeaderValue::from_static(crate::request::ALLOWED_METHODS),
                );
                return response;
            }
            _ => {}
        }
        let scope = match &self {
            Self::InsufficientScope { required } => required.join(" "),
            _ => challenge.scope.to_owned(),
        };
        let with_error = self.challenge_params(&scope, challenge.resource_metadata, true);
        let without_error = self.challenge_params(&scope, challenge.resource_metadata, false);
        // The error goes in the challenge of the scheme the client used, when it is
        // accepted (RFC 9449 §7.2: "the corresponding challenge"); else in HTTPSig's.
        let carrier = match (&self, challenge.presented) {
            (Self::BoundTokenAsBearer { dpop: true }, _) | (Self::Dpop(_), _)
                if challenge.dpop.is_some() =>
            {
                Profile::Dpop
            }
            (Self::BoundTokenAsBearer { .. }, _) => Profile::HttpSig,
            (_, Some(Profile::Bearer)) if challenge.bearer_accepted => Profile::Bearer,
            (_, Some(Profile::Dpop)) if challenge.dpop.is_some() => Profile::Dpop,
            _ => Profile::HttpSig,
        };
        let params = |scheme| {
            if scheme == carrier {
                with_error.as_str()
            } else {
                without_error.as_str()
            }
        };
        // Bearer first when accepted: common clients read only the first challenge
        // (the TypeScript MCP SDK does); DPoP and HTTPSig clients look for theirs.
        if challenge.bearer_accepted
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", params(Profile::Bearer)))
        {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
        if let Some(dpop) = challenge.dpop {
            // RFC 9449 §7.1: `algs` names the accepted proof algorithms.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "DPoP algs=\"{}\", {}",
                algs_param(&dpop.algorithms),
                params(Profile::Dpop)
            )) {
                headers.append(header::WWW_AUTHENTICATE, v);
            }
            // §9: a nonce to use, with every challenge when nonces are required.
            if let Some(nonce) = challenge.dpop_nonce
                && let Ok(v) = HeaderValue::from_str(nonce)
            {
                headers.insert("dpop-nonce", v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&format!("HTTPSig {}", params(Profile::HttpSig))) {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
        if let Self::Signature { components, .. }
        | Self::Replayed { components }
        | Self::ReplayUnknown { components, .. } = &self
            && let Ok(v) =
                HeaderValue::from_str(&accept_signature(components.clone(), PRESENTATION_TAG))
        {
            headers.insert("accept-signature", v);
        }
        response
    }

    /// `error`, `error_description` (when `with_error`), `scope` and
    /// `resource_metadata`, as auth-params.
    fn challenge_params(&self, scope: &str, resource_metadata: &str, with_error: bool) -> String {
        let mut params = Vec::with_capacity(4);
        if with_error && let Some(code) = self.error_code() {
            params.push(format!("error=\"{code}\""));
            params.push(format!(
                "error_description=\"{}\"",
                safe_description(&self.to_string())
            ));
        }
        if !scope.is_empty() {
            params.push(format!("scope=\"{}\"", safe_description(scope)));
        }
        params.push(format!(
            "resource_metadata=\"{}\"",
            safe_description(resource_metadata)
        ));
        params.join(", ")
    }
}
