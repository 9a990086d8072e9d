//! Failures of the authorization request and of the sign-in pages: those sent back to
//! the client's redirect URI (RFC 6749 §4.1.2.1), and those shown to the user as a
//! page because the redirect URI cannot be trusted or there is none (an unknown
//! client, a form from another site). The `Display` texts are what the client or the
//! user reads.

use crate::cimd::CimdError;
use crate::scope::ScopeRefused;

/// An authorization request refused with a redirect to the client (§4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// `state` is longer than [`crate::authorize::MAX_STATE`].
    #[error("state is too long")]
    StateTooLong,
    /// `response_type` is not `code`.
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    /// The client may not use the authorization code grant.
    #[error("this client may not use the authorization code grant")]
    AuthorizationCodeNotAllowed,
    /// RFC 7636: no `code_challenge`.
    #[error("code_challenge is required (PKCE, RFC 7636)")]
    CodeChallengeRequired,
    /// `code_challenge_method` is not `S256`.
    #[error("code_challenge_method must be S256")]
    ChallengeMethod,
    /// The challenge is not 43 base64url characters.
    #[error("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")]
    MalformedChallenge,
    /// RFC 9449 §10: `dpop_jkt` is not a SHA-256 JWK thumbprint.
    #[error("dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)")]
    MalformedDpopJkt,
    /// OIDC Core §3.1.2.1: `nonce` is empty or longer than
    /// [`crate::authorize::MAX_STATE`].
    #[error("nonce must have 1 to 1024 characters")]
    MalformedNonce,
    /// RFC 8707: no `resource`.
    #[error("resource is required (RFC 8707)")]
    ResourceRequired,
    /// `resource` names no configured resource.
    #[error("unknown resource")]
    UnknownResource,
    /// More than one `resource`.
    #[error("request one resource at a time")]
    SeveralResources,
    /// A requested scope the resource does not define or the client may not have.
    #[error(transparent)]
    Scope(#[from] ScopeRefused),
    /// The user pressed "Deny" on the consent page.
    #[error("the user denied access")]
    AccessDenied,
}

/// A failure shown as an HTML page: of an authorization request that cannot be
/// redirected, or of a login or consent form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The query is longer than [`crate::authorize::MAX_QUERY`].
    #[error("The authorization request is too long.")]
    RequestTooLong,
    /// A parameter of the authorization request repeats.
    #[error("The authorization request repeats a parameter.")]
    RepeatedParameter,
    /// No `client_id`.
    #[error("The authorization request has no client_id.")]
    NoClientId,
    /// The `client_id` names no client.
    #[error("The application is not registered with this server.")]
    UnknownClient,
    /// The `client_id` is a metadata document URL whose document cannot be used.
    #[error("{}", mcp_auth_core::oauth_error::safe_description(&.0.to_string()))]
    MetadataDocument(CimdError),
    /// The `redirect_uri` is not one the client registered.
    #[error("The redirect URI is not registered for this application.")]
    RedirectUriNotRegistered,
    /// Too many pending requests from this address this minute.
    #[error("Too many sign-in requests from this address. Wait a minute.")]
    TooManyRequests,
    /// `Origin` or `Sec-Fetch-Site` says the form was posted from another site.
    #[error("This form was sent from another site, so it was not accepted.")]
    CrossSite,
    /// The form lacks the request id or CSRF value.
    #[error("The form is incomplete.")]
    IncompleteForm,
    /// A field of the form repeats.
    #[error("The form repeats a field.")]
    RepeatedField,
    /// The pending request is unknown or expired.
    #[error("This sign-in request has expired.")]
    RequestExpired,
    /// The CSRF value is not the request's.
    #[error("The form could not be verified.")]
    CsrfMismatch,
    /// The stored request does not read back.
    #[error("This sign-in request is damaged.")]
    RequestDamaged,
    /// The browser's binding cookie is not the one that started the request.
    #[error("This sign-in was started in another browser. Start again from the application.")]
    OtherBrowser,
    /// [`crate::login::MAX_GUESSES_PER_REQUEST`] wrong passwords: the request is gone.
    #[error("Too many wrong passwords for this sign-in. Start again from the application.")]
    TooManyWrongPasswords,
}
