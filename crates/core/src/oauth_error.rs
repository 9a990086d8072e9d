//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 8707 §2, RFC 7009, RFC 7662): the
//! codes and their HTTP status, in one place.

use serde::Serialize;

/// An OAuth error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// RFC 6749 §5.2: missing or repeated parameter, malformed request.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: grant invalid, expired, revoked, or issued to another client.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// RFC 8707 §2: the resource is invalid or unknown.
    InvalidTarget,
    /// RFC 7009 §2.2.1: the token type cannot be revoked.
    UnsupportedTokenType,
    /// RFC 6749 §4.1.2.1: an unexpected condition on the server.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: the access token is malformed, expired, revoked or not for
    /// this resource.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a scope the request needs.
    InsufficientScope,
    /// profiles/http-message-signatures.md: a token-request or presentation
    /// signature fails a check.
    InvalidSignature,
    /// RFC 9449 §5: the DPoP proof fails a check of §4.3.
    InvalidDpopProof,
    /// RFC 9449 §8: the server requires a (new) nonce in the DPoP proof.
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status of a token-endpoint error with this code (RFC 6749 §5.2: 400,
    /// except `invalid_client`, which is 401). At a resource, `invalid_token` is 401 and
    /// `insufficient_scope` 403 (RFC 6750 §3.1).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth error: code and a human-readable description that never carries secrets
/// or internal details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}: {description}", error.as_str())]
pub struct OAuthError {
    /// The code.
    pub error: ErrorCode,
    /// What is wrong, for the client developer.
    #[serde(rename = "error_description")]
    pub description: String,
}

impl OAuthError {
    /// A new error. The description is made safe for `error_description` (see
    /// [`safe_description`]).
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            description: safe_description(&description.into()),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
}

/// RFC 6749 §5.2 and RFC 6750 §3: `error_description` holds only `%x20-21 /
/// %x23-5B / %x5D-7E`: no `"`, no `\\`, no controls, no non-ASCII. Quotes become
/// `'`, a backslash `/`, anything else outside the set `?`. Used for every description
/// this project sends, in a JSON body or a `WWW-Authenticate` challenge.
pub fn safe_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_never_carry_quotes_backslashes_or_controls() {
        let e = OAuthError::new(
            ErrorCode::InvalidSignature,
            "component \"authorization\" \\ line\nbreak é",
        );
        assert_eq!(e.description, "component 'authorization' / line?break ?");
    }
}
