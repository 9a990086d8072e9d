//! The one place where the authorization server's errors become HTTP responses
//! (RFC 6749 §5.2: JSON body, status, `Cache-Control: no-store`; `invalid_client`
//! with `WWW-Authenticate` when the client used HTTP Basic).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::{ErrorCode, OAuthError};

use crate::store::StoreError;

/// An error of an AS endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsError {
    /// An OAuth error for the client.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Client authentication failed with HTTP Basic: 401 with a Basic challenge.
    #[error("client authentication failed: {0}")]
    BasicAuthFailed(String),
    /// The store failed: `server_error`, details only in the log.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// RFC 9449 §8: `use_dpop_nonce` (400) with the nonce to use in `DPoP-Nonce`.
    #[error("{error}")]
    UseDpopNonce {
        /// The error body.
        error: OAuthError,
        /// The nonce for the next proof.
        nonce: String,
    },
    /// The replay cache cannot answer: `temporarily_unavailable` (503); the request
    /// is refused, never accepted unchecked.
    #[error(transparent)]
    ReplayCache(#[from] mcp_auth_core::ReplayError),
    /// The system random generator failed: `server_error`, nothing issued.
    #[error(transparent)]
    Random(#[from] mcp_auth_core::RandomError),
    /// Anything else internal.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AsError {
    /// Shorthand for an OAuth error.
    pub fn oauth(code: ErrorCode, description: impl Into<String>) -> Self {
        Self::OAuth(OAuthError::new(code, description))
    }
}

impl IntoResponse for AsError {
    fn into_response(self) -> Response {
        let mut dpop_nonce = None;
        let (body, basic) = match self {
            Self::OAuth(e) => (e, false),
            Self::UseDpopNonce { error, nonce } => {
                dpop_nonce = HeaderValue::from_str(&nonce).ok();
                (error, false)
            }
            Self::BasicAuthFailed(d) => (OAuthError::new(ErrorCode::InvalidClient, d), true),
            Self::Store(e) => {
                tracing::error!(error = %e, "store failure");
                (
                    OAuthError::new(
                        ErrorCode::ServerError,
                        "the server could not complete the request",
                    ),
                    false,
                )
            }
            Self::ReplayCache(e) => {
                tracing::error!(error = %e, "replay cache unavailable; request refused");
                (
                    OAuthError::new(
                        ErrorCode::TemporarilyUnavailable,
                        "the replay cache is unavailable; retry later",
                    ),
                    false,
                )
            }
            Self::Random(e) => {
                tracing::error!(error = %e, "no random value could be made");
                (
                    OAuthError::new(
                        ErrorCode::ServerError,
                        "the server could not complete the request",
                    ),
                    false,
                )
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal failure");
                (
                    OAuthError::new(
                        ErrorCode::ServerError,
                        "the server could not complete the request",
                    ),
                    false,
                )
            }
        };
        let status = StatusCode::from_u16(body.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(nonce) = dpop_nonce {
            headers.insert("dpop-nonce", nonce);
        }
        if basic {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-auth\""),
            );
        }
        response
    }
}
