//! Every way a request is refused, and — in one place — the response for each
//! (HTTPSIG-RS-15, PROFILE-DECISIONS 6): status, `WWW-Authenticate` challenge,
//! `Accept-Signature`, JSON-RPC error body, and the metric label.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use mcp_auth_core::httpsig_profile::{INVALID_SIGNATURE, PRESENTATION_TAG, accept_signature};
use mcp_auth_core::oauth_error::safe_description;
use mcp_auth_core::{AccessTokenError, ConfirmationError, HeaderMismatch, ReplayError};
use mcp_auth_httpsig::{ComponentId, FieldError, VerifyError};

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
    /// A token bound to a key was presented as `Bearer`.
    #[error("the token is bound to a key: present it with the HTTPSig scheme and a signature")]
    BoundTokenAsBearer,
    /// The resource requires bound tokens.
    #[error(
        "this resource requires access tokens bound to an HTTP message signature key (HTTPSig)"
    )]
    BoundTokenRequired,
    /// The presentation signature fails a check. `components` is what the client
    /// must sign, for `Accept-Signature`.
    #[error("{error}")]
    Signature {
        /// The failure.
        error: VerifyError,
        /// The components the request must cover.
        components: Vec<ComponentId>,
    },
    /// The nonce was used before within the window.
    #[error("the signature nonce was already used (replayed request)")]
    Replayed {
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
    /// An internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Rejection {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::BadAuthorization(_) => "bad_authorization",
            Self::Token(_) | Self::Confirmation(_) => "invalid_token",
            Self::BoundTokenAsBearer => "bound_token_as_bearer",
            Self::BoundTokenRequired => "bound_token_required",
            Self::Signature { error, .. } => error.metric_label(),
            Self::Replayed { .. } => "replay",
            Self::ReplayCacheUnavailable(_) => "replay_cache_unavailable",
            Self::HeaderMismatch { .. } => "header_mismatch",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
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
            Self::HeaderMismatch { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::ReplayCacheUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Signature { .. } | Self::Replayed { .. } => Some(INVALID_SIGNATURE),
            Self::BadAuthorization(_)
            | Self::Token(_)
            | Self::Confirmation(_)
            | Self::BoundTokenAsBearer
            | Self::BoundTokenRequired => Some("invalid_token"),
            _ => None,
        }
    }

    /// Builds the response. `resource_metadata` is the RFC 9728 URL for challenges;
    /// `bearer_accepted` adds a `Bearer` challenge beside the `HTTPSig` one.
    pub fn into_response(self, resource_metadata: &str, bearer_accepted: bool) -> Response {
        let status = self.status();
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        match &self {
            Self::HeaderMismatch { mismatch, id } => {
                let raw = id
                    .as_deref()
                    .and_then(|i| serde_json::value::RawValue::from_string(i.to_owned()).ok());
                let body = mcp_auth_core::McpOperation::error_body(raw.as_deref(), mismatch);
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                *response.body_mut() = Body::from(body);
                return response;
            }
            Self::ReplayCacheUnavailable(_) | Self::Internal(_) => {
                tracing::error!(error = %self, "request refused: server-side failure");
                return response;
            }
            Self::BodyTooLarge(_) | Self::BodyUnreadable => return response,
            _ => {}
        }
        let mut challenge = String::from("HTTPSig");
        let mut sep = " ";
        if let Some(code) = self.error_code() {
            challenge.push_str(&format!("{sep}error=\"{code}\""));
            sep = ", ";
            challenge.push_str(&format!(
                "{sep}error_description=\"{}\"",
                safe_description(&self.to_string())
            ));
        }
        challenge.push_str(&format!(
            "{sep}resource_metadata=\"{}\"",
            safe_description(resource_metadata)
        ));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
        if bearer_accepted
            && matches!(self, Self::NoCredentials)
            && let Ok(v) = HeaderValue::from_str(&format!(
                "Bearer resource_metadata=\"{}\"",
                safe_description(resource_metadata)
            ))
        {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
        if let Self::Signature { components, .. } | Self::Replayed { components } = &self
            && let Ok(v) =
                HeaderValue::from_str(&accept_signature(components.clone(), PRESENTATION_TAG))
        {
            headers.insert("accept-signature", v);
        }
        response
    }
}
