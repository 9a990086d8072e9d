//! The authorization server's errors, and the one place where they become HTTP
//! responses.
//!
//! Each endpoint or concern has its own enum, each variant naming one failure: the
//! token side ([`FormError`], [`ClientAuthError`], [`TokenRequestError`],
//! [`GrantError`], [`SignatureError`], [`DpopError`], [`RevocationError`]), the
//! authorization request and sign-in pages ([`AuthorizeError`], [`PageError`]), and
//! client metadata ([`RegistrationError`] and the checks it shares). Their `Display`
//! texts are the descriptions; this module decides the rest, following RFC 6749 §5.2
//! (a JSON body, 400 or 401, `Cache-Control: no-store`; `WWW-Authenticate: Basic` when
//! a client failed HTTP Basic), RFC 7591 §3.2.2, RFC 9449 §5 and §8 (`DPoP-Nonce`), and
//! RFC 6749 §4.1.2.1 for what is shown as a page instead of sent to a redirect URI.

mod authorization;
mod exchange;
mod id_jag;
mod registration;
mod token;
mod workload;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::ErrorCode;
use mcp_auth_core::oauth_error::safe_description;

pub use authorization::{AuthorizeError, PageError};
pub use exchange::ExchangeError;
pub use id_jag::IdJagGrantError;
pub use registration::{
    BindingMetadataError, GrantTypesError, MetadataError, PreregisteredKeyError, RedirectUriError,
    RegistrationError,
};
pub use token::{
    AssertionClaimError, AssertionError, ClientAuthError, DpopError, FormError, GrantError,
    InternalError, RevocationError, SignatureError, TokenRequestError,
};
pub use workload::WorkloadGrantError;

use crate::client_auth::AuthMethod;
use crate::store::StoreError;

/// An error of an AS endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsError {
    /// The request body is not a usable form.
    #[error(transparent)]
    Form(#[from] FormError),
    /// Client authentication failed.
    #[error(transparent)]
    ClientAuth(#[from] ClientAuthError),
    /// The token request cannot be served.
    #[error(transparent)]
    TokenRequest(#[from] TokenRequestError),
    /// The code or refresh token cannot be redeemed.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The token request's HTTP message signature is refused.
    #[error("token request signature: {0}")]
    Signature(#[from] SignatureError),
    /// The token request's DPoP proof is refused.
    #[error(transparent)]
    Dpop(#[from] DpopError),
    /// The workload assertion grant is refused (profiles/workload-identity-federation.md).
    #[error(transparent)]
    Workload(#[from] WorkloadGrantError),
    /// The ID-JAG redemption is refused (profiles/enterprise-managed-authorization.md).
    #[error(transparent)]
    IdJag(#[from] IdJagGrantError),
    /// The token exchange for an ID-JAG is refused (the identity provider role).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The revocation is not this client's to make.
    #[error(transparent)]
    Revocation(#[from] RevocationError),
    /// The registration is refused.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// An authorization request or sign-in form fails; shown as a page.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The store failed: `temporarily_unavailable` (503, `Retry-After`) when the
    /// database cannot be reached ([`StoreError::is_unavailable`]), else
    /// `server_error`; details only in the log.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replay cache cannot answer: `temporarily_unavailable` (503, `Retry-After`);
    /// the request is refused, never accepted unchecked.
    #[error(transparent)]
    ReplayCache(#[from] mcp_auth_core::ReplayError),
    /// The system random generator failed: `server_error`, nothing issued.
    #[error(transparent)]
    Random(#[from] mcp_auth_core::RandomError),
    /// Another failure inside the server: `server_error`.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<crate::cimd::CimdError> for AsError {
    fn from(e: crate::cimd::CimdError) -> Self {
        Self::ClientAuth(e.into())
    }
}

impl From<crate::scope::ScopeRefused> for AsError {
    fn from(e: crate::scope::ScopeRefused) -> Self {
        Self::TokenRequest(e.into())
    }
}

/// The description of every `server_error`: what failed is in the log only.
const SERVER_ERROR: &str = "the server could not complete the request";

impl ClientAuthError {
    /// RFC 6749 §5.2: `invalid_request` for a request that is malformed whoever the
    /// client is, `invalid_client` for a client that did not authenticate.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::SeveralMethods | Self::AssertionType => ErrorCode::InvalidRequest,
            _ => ErrorCode::InvalidClient,
        }
    }

    /// RFC 6749 §5.2: a client that tried HTTP Basic gets a Basic challenge.
    fn basic_challenge(&self) -> bool {
        matches!(
            self,
            Self::MalformedBasic
                | Self::WrongSecret {
                    method: AuthMethod::Basic
                }
        )
    }
}

impl TokenRequestError {
    /// RFC 6749 §5.2 and RFC 8707 §2.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedGrantType(_) => ErrorCode::UnsupportedGrantType,
            Self::ClientCredentialsNotAllowed
            | Self::AuthorizationCodeNotAllowed
            | Self::RefreshTokenNotAllowed => ErrorCode::UnauthorizedClient,
            Self::UnknownResource(_) | Self::SeveralResources => ErrorCode::InvalidTarget,
            Self::Scope(_) => ErrorCode::InvalidScope,
            Self::SignatureAndDpopProof
            | Self::SignatureRequired(_)
            | Self::DpopProofRequired
            | Self::ResourceRequired
            | Self::CodeVerifierRequired => ErrorCode::InvalidRequest,
        }
    }
}

impl WorkloadGrantError {
    /// WIF §10.1: the code of each step's failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Assertion(_) => ErrorCode::InvalidGrant,
            Self::ClientAuthentication(_) => ErrorCode::InvalidRequest,
            Self::KeyIdWithoutClient => ErrorCode::InvalidSignature,
            Self::KeysUnavailable => ErrorCode::TemporarilyUnavailable,
            Self::NoRuleMatches => ErrorCode::UnauthorizedClient,
            Self::ResourceNotAllowed => ErrorCode::InvalidTarget,
            Self::ScopeNotAllowed(_) => ErrorCode::InvalidScope,
        }
    }
}

impl IdJagGrantError {
    /// EMA §10.2: the code of each step's failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::GrantNotAllowed => ErrorCode::UnauthorizedClient,
            Self::KeysUnavailable => ErrorCode::TemporarilyUnavailable,
            Self::ResourceNotAllowed => ErrorCode::InvalidTarget,
            Self::ScopeNotAllowed(_) => ErrorCode::InvalidScope,
            Self::Assertion(_)
            | Self::Claim(_)
            | Self::OtherClient
            | Self::Confirmation
            | Self::Replayed => ErrorCode::InvalidGrant,
        }
    }
}

impl ExchangeError {
    /// EMA §10.1: the code of each step's failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Missing(_)
            | Self::UnsupportedParameter(_)
            | Self::SignatureNotAccepted
            | Self::RequestedTokenType
            | Self::SubjectTokenType => ErrorCode::InvalidRequest,
            Self::GrantNotAllowed => ErrorCode::UnauthorizedClient,
            Self::SubjectToken => ErrorCode::InvalidGrant,
            Self::Repeated(_)
            | Self::UnknownAudience
            | Self::PolicyRefused
            | Self::ResourceNotAllowed => ErrorCode::InvalidTarget,
            Self::ScopeNotAllowed(_) => ErrorCode::InvalidScope,
        }
    }
}

impl GrantError {
    /// `invalid_grant`, except a resource (`invalid_target`) or scope
    /// (`invalid_scope`) beyond the grant.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ResourceDiffersFromRequest | Self::ResourceDiffersFromGrant => {
                ErrorCode::InvalidTarget
            }
            Self::ScopeNotGranted(_) => ErrorCode::InvalidScope,
            _ => ErrorCode::InvalidGrant,
        }
    }
}

impl DpopError {
    /// RFC 9449 §5 `invalid_dpop_proof`, §8 `use_dpop_nonce`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Proof(_) => ErrorCode::InvalidDpopProof,
            Self::UseNonce { .. } => ErrorCode::UseDpopNonce,
        }
    }
}

impl AuthorizeError {
    /// The `error` of the redirect (RFC 6749 §4.1.2.1, RFC 8707 §2).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AuthorizationCodeNotAllowed => ErrorCode::UnauthorizedClient.as_str(),
            Self::UnknownResource | Self::SeveralResources => ErrorCode::InvalidTarget.as_str(),
            Self::Scope(_) => ErrorCode::InvalidScope.as_str(),
            Self::AccessDenied => "access_denied",
            Self::StateTooLong
            | Self::MalformedNonce
            | Self::CodeChallengeRequired
            | Self::ChallengeMethod
            | Self::MalformedChallenge
            | Self::MalformedDpopJkt
            | Self::ResourceRequired => ErrorCode::InvalidRequest.as_str(),
        }
    }
}

impl PageError {
    /// The page's status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RequestTooLong => StatusCode::URI_TOO_LONG,
            Self::TooManyRequests | Self::TooManyWrongPasswords => StatusCode::TOO_MANY_REQUESTS,
            Self::CrossSite | Self::OtherBrowser => StatusCode::FORBIDDEN,
            Self::RepeatedParameter
            | Self::NoClientId
            | Self::UnknownClient
            | Self::MetadataDocument(_)
            | Self::RedirectUriNotRegistered
            | Self::IncompleteForm
            | Self::RepeatedField
            | Self::RequestExpired
            | Self::CsrfMismatch
            | Self::RequestDamaged => StatusCode::BAD_REQUEST,
        }
    }
}

impl RegistrationError {
    /// RFC 7591 §3.2.2; a registration over the rate limit is 429
    /// `temporarily_unavailable`; `None`: the endpoint is switched off (a bare 404).
    fn status_and_code(&self) -> Option<(StatusCode, &'static str)> {
        match self {
            Self::Disabled => None,
            Self::RateLimited => Some((
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TemporarilyUnavailable.as_str(),
            )),
            Self::RedirectUri(_) => Some((StatusCode::BAD_REQUEST, "invalid_redirect_uri")),
            Self::Metadata(_) => Some((StatusCode::BAD_REQUEST, "invalid_client_metadata")),
        }
    }
}

/// The JSON body of an error (RFC 6749 §5.2, RFC 7591 §3.2.2).
#[derive(serde::Serialize)]
struct Body {
    error: &'static str,
    error_description: String,
}

/// How an error is answered.
enum Answer {
    /// A JSON error body with this status and these extra headers.
    Json {
        status: StatusCode,
        body: Body,
        headers: Vec<(header::HeaderName, HeaderValue)>,
    },
    /// An HTML error page.
    Page(PageError),
    /// An empty 404: the endpoint is switched off.
    NotFound,
}

impl Answer {
    /// An OAuth error: the code's status, the description made safe for
    /// `error_description` ([`safe_description`]).
    fn oauth(code: ErrorCode, description: &str) -> Self {
        Self::Json {
            status: StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST),
            body: Body {
                error: code.as_str(),
                error_description: safe_description(description),
            },
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        if let Self::Json { headers, .. } = &mut self {
            headers.push((name, value));
        }
        self
    }
}

impl AsError {
    /// Logs what the client is not told.
    fn log(&self) {
        match self {
            Self::Store(e) if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable; request refused with 503");
            }
            Self::Store(e) => tracing::error!(error = %e, "store failure"),
            Self::ReplayCache(e) => {
                tracing::error!(error = %e, "replay cache unavailable; request refused");
            }
            Self::Random(e) => tracing::error!(error = %e, "no random value could be made"),
            Self::Internal(e) => tracing::error!(error = %e, "internal failure"),
            _ => {}
        }
    }

    fn answer(self) -> Answer {
        let description = self.to_string();
        match self {
            Self::Form(_) => Answer::oauth(ErrorCode::InvalidRequest, &description),
            Self::ClientAuth(e) => {
                let answer = Answer::oauth(e.code(), &description);
                if e.basic_challenge() {
                    answer.with_header(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"mcp-auth\""),
                    )
                } else {
                    answer
                }
            }
            Self::TokenRequest(e) => Answer::oauth(e.code(), &description),
            Self::Grant(e) => Answer::oauth(e.code(), &description),
            Self::Signature(_) => Answer::oauth(ErrorCode::InvalidSignature, &description),
            Self::Dpop(e) => {
                let answer = Answer::oauth(e.code(), &description);
                match e {
                    DpopError::UseNonce { nonce, .. } => match HeaderValue::from_str(&nonce) {
                        Ok(v) => {
                            answer.with_header(header::HeaderName::from_static("dpop-nonce"), v)
                        }
                        Err(_) => answer,
                    },
                    DpopError::Proof(_) => answer,
                }
            }
            Self::Workload(e) => {
                let answer = Answer::oauth(e.code(), &description);
                if e == WorkloadGrantError::KeysUnavailable {
                    answer.with_header(header::RETRY_AFTER, HeaderValue::from_static("60"))
                } else {
                    answer
                }
            }
            Self::IdJag(e) => {
                let answer = Answer::oauth(e.code(), &description);
                if e == IdJagGrantError::KeysUnavailable {
                    answer.with_header(header::RETRY_AFTER, HeaderValue::from_static("60"))
                } else {
                    answer
                }
            }
            Self::Exchange(e) => Answer::oauth(e.code(), &description),
            Self::Revocation(_) => Answer::oauth(ErrorCode::UnauthorizedClient, &description),
            // RFC 7591 codes, with the description as written (it always was).
            Self::Registration(e) => {
                let Some((status, error)) = e.status_and_code() else {
                    return Answer::NotFound;
                };
                let answer = Answer::Json {
                    status,
                    body: Body {
                        error,
                        error_description: description,
                    },
                    headers: Vec::new(),
                };
                match e {
                    RegistrationError::RateLimited => {
                        answer.with_header(header::RETRY_AFTER, HeaderValue::from_static("60"))
                    }
                    _ => answer,
                }
            }
            Self::Page(e) => Answer::Page(e),
            // Fail closed, and say it is worth retrying, as for the database.
            Self::ReplayCache(_) => Answer::oauth(
                ErrorCode::TemporarilyUnavailable,
                "the replay cache is unavailable; retry later",
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(crate::store::RETRY_AFTER_SECONDS),
            ),
            // Fail closed, and say it is worth retrying: nothing was decided.
            Self::Store(e) if e.is_unavailable() => Answer::oauth(
                ErrorCode::TemporarilyUnavailable,
                "the database is unavailable; retry later",
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(crate::store::RETRY_AFTER_SECONDS),
            ),
            Self::Store(_) | Self::Random(_) | Self::Internal(_) => {
                Answer::oauth(ErrorCode::ServerError, SERVER_ERROR)
            }
        }
    }
}

impl IntoResponse for AsError {
    fn into_response(self) -> Response {
        self.log();
        match self.answer() {
            Answer::NotFound => StatusCode::NOT_FOUND.into_response(),
            Answer::Page(e) => {
                crate::authorize::html(e.status(), crate::pages::error(&e.to_string()))
            }
            Answer::Json {
                status,
                body,
                headers: extra,
            } => {
                let mut response = (status, axum::Json(body)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                for (name, value) in extra {
                    headers.insert(name, value);
                }
                response
            }
        }
    }
}
