//! Failures at the token, introspection and revocation endpoints: the form, client
//! authentication, the token request, the grants, and the proof of possession of a
//! key (an HTTP message signature or a DPoP proof). The `Display` texts are the
//! `error_description`s; the codes and statuses are in [`super`].

use mcp_auth_core::dpop::ProofError;
use mcp_auth_core::httpsig_profile::{KEY_BINDING_METADATA, KeyBinding, TOKEN_REQUEST_TAG};

use crate::cimd::CimdError;
use crate::client_auth::{AuthMethod, JWT_BEARER_ASSERTION};
use crate::dpop_token::DPOP_BOUND_METADATA;
use crate::form::MAX_PARAMETERS;
use crate::outbound::FetchError;

use super::registration::PreregisteredKeyError;

/// An `application/x-www-form-urlencoded` body that cannot be used (`invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// More than [`MAX_PARAMETERS`] parameters.
    #[error("more than {MAX_PARAMETERS} parameters")]
    TooManyParameters,
    /// RFC 6749 §3.2: a parameter that must not repeat does.
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
    /// A required parameter is absent or empty.
    #[error("`{0}` is required")]
    Missing(&'static str),
}

/// Client authentication failed (RFC 6749 §2.3, RFC 7523 §3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// Credentials for more than one method.
    #[error("use one client authentication method (RFC 6749 §2.3), not several")]
    SeveralMethods,
    /// No credentials where the endpoint needs them.
    #[error("client authentication is required")]
    Required,
    /// The client is unknown or the secret is not its secret; `method` says whether
    /// HTTP Basic was used (answered with a Basic challenge).
    #[error("unknown client or wrong secret")]
    WrongSecret {
        /// `Basic` or `Post`.
        method: AuthMethod,
    },
    /// The `Authorization: Basic` value does not decode to `id:secret`.
    #[error("malformed HTTP Basic credentials")]
    MalformedBasic,
    /// An `Authorization` scheme other than Basic.
    #[error("unsupported client authentication scheme `{0}`")]
    UnsupportedScheme(String),
    /// A public client's request names no `client_id`.
    #[error("client authentication or client_id is required")]
    ClientIdRequired,
    /// The `client_id` of a public client is not registered.
    #[error("unknown client")]
    UnknownClient,
    /// A confidential client sent no credentials.
    #[error("this client must authenticate")]
    MustAuthenticate,
    /// `client_assertion_type` is not the JWT bearer type (`invalid_request`).
    #[error("client_assertion_type must be {JWT_BEARER_ASSERTION}")]
    AssertionType,
    /// The client assertion (`private_key_jwt`) is refused.
    #[error("client assertion: {0}")]
    Assertion(#[from] AssertionError),
    /// The client id is a metadata document URL whose document cannot be used.
    #[error(transparent)]
    MetadataDocument(#[from] CimdError),
}

/// Why a `private_key_jwt` client assertion is refused (RFC 7523 §3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a JWS compact serialization with a readable header.
    #[error("not a JWT")]
    NotAJwt,
    /// `alg` is not one of the asymmetric algorithms accepted.
    #[error("only asymmetric signature algorithms are accepted")]
    SymmetricAlgorithm,
    /// The header has `crit`, and no JWS extension is understood here (RFC 7515
    /// §4.1.11).
    #[error("the header has crit, and no JWS extension is understood here")]
    Critical,
    /// The claims are not a JSON object of registered claims.
    #[error("claims do not parse")]
    ClaimsUnreadable,
    /// No `sub`.
    #[error("`sub` is required")]
    SubRequired,
    /// The form's `client_id` is not the assertion's `sub`.
    #[error("`client_id` differs from the assertion's `sub`")]
    ClientIdDiffers,
    /// `sub` names no client.
    #[error("unknown client")]
    UnknownClient,
    /// The client registered another authentication method.
    #[error("this client does not authenticate with private_key_jwt")]
    NotPrivateKeyJwt,
    /// The client's `jwks_uri` could not be fetched.
    #[error("the client's jwks_uri could not be used: {0}")]
    JwksUri(FetchError),
    /// No registered key has the assertion's `kid`.
    #[error("no registered key matches the assertion's `kid`")]
    NoMatchingKey,
    /// Several registered keys match and the assertion has no `kid`.
    #[error("several registered keys match: send `kid`")]
    SeveralKeys,
    /// RFC 8725 §3.1: the header's `alg` is not the one the key is for.
    #[error("the assertion's `alg` is not the registered key's")]
    AlgorithmNotTheKeys,
    /// The registered JWK cannot be made a verification key.
    #[error("the registered key is unusable")]
    KeyUnusable,
    /// The signature does not verify.
    #[error("the signature does not verify with the registered key")]
    BadSignature,
    /// A claim breaks a rule of RFC 7523 §3.
    #[error(transparent)]
    Claims(#[from] AssertionClaimError),
    /// The `jti` was seen before.
    #[error("replayed (`jti` already used)")]
    Replayed,
}

/// Which rule of RFC 7523 §3 an assertion's claims break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionClaimError {
    /// `iss` or `sub` is not the client id.
    #[error("`iss` and `sub` must both be the client id")]
    NotTheClient,
    /// `aud` names neither the issuer nor the token endpoint.
    #[error("`aud` must be this authorization server (issuer or token endpoint)")]
    WrongAudience,
    /// No `exp`.
    #[error("`exp` is required")]
    ExpRequired,
    /// No `jti`.
    #[error("`jti` is required")]
    JtiRequired,
    /// `exp` has passed (with the leeway).
    #[error("expired")]
    Expired,
    /// `exp` is further ahead than the longest lifetime accepted.
    #[error("`exp` is too far in the future")]
    LifetimeTooLong,
    /// `nbf` or `iat` is in the future.
    #[error("not valid yet")]
    NotYetValid,
    /// A rule the shared claim check gained later.
    #[error("the claims are not acceptable")]
    Unacceptable,
}

/// The token request itself cannot be served (RFC 6749 §5.2, RFC 8707 §2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRequestError {
    /// A `grant_type` this server does not implement.
    #[error("grant_type `{0}` is not supported")]
    UnsupportedGrantType(String),
    /// The client may not use `client_credentials`.
    #[error("this client may not use the client_credentials grant")]
    ClientCredentialsNotAllowed,
    /// The client may not use `authorization_code`.
    #[error("this client may not use the authorization code grant")]
    AuthorizationCodeNotAllowed,
    /// The client may not use `refresh_token`.
    #[error("this client may not use refresh tokens")]
    RefreshTokenNotAllowed,
    /// Both an HTTP message signature and a DPoP proof: one request binds one key.
    #[error("a token request carries either an HTTP message signature or a DPoP proof, not both")]
    SignatureAndDpopProof,
    /// The client registered a key binding method and sent no tagged signature.
    #[error(
        "this client registered {KEY_BINDING_METADATA} `{}`: sign the token request with a signature tagged `{TOKEN_REQUEST_TAG}`",
        .0.as_str()
    )]
    SignatureRequired(KeyBinding),
    /// RFC 9449 §5.2: the client registered `dpop_bound_access_tokens` and sent no proof.
    #[error("this client registered {DPOP_BOUND_METADATA}: send a DPoP proof (RFC 9449 §5)")]
    DpopProofRequired,
    /// No `resource` (RFC 8707).
    #[error("`resource` is required (RFC 8707): the URI of the MCP server the token is for")]
    ResourceRequired,
    /// `resource` names no configured resource.
    #[error("unknown resource {0}")]
    UnknownResource(String),
    /// More than one `resource`.
    #[error("request a token for one resource at a time")]
    SeveralResources,
    /// A requested scope the resource does not define or the client may not have.
    #[error(transparent)]
    Scope(#[from] crate::scope::ScopeRefused),
    /// RFC 7636 §4.5: no `code_verifier` with a code.
    #[error("`code_verifier` is required (PKCE, RFC 7636)")]
    CodeVerifierRequired,
}

/// An authorization code or refresh token that cannot be redeemed (RFC 6749 §5.2
/// `invalid_grant`, and the RFC 8707 and scope rules of a redemption).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// No such code.
    #[error("unknown authorization code")]
    UnknownCode,
    /// The user the grant was made for no longer exists (an ID token would name them).
    #[error("the user of this grant no longer exists")]
    UserGone,
    /// RFC 6749 §4.1.2: the code was redeemed before; what it produced is revoked.
    #[error("the authorization code was already used; the tokens issued for it are revoked")]
    CodeReplayed,
    /// The code outlived its lifetime.
    #[error("the authorization code has expired")]
    CodeExpired,
    /// The code belongs to another client.
    #[error("the authorization code was issued to another client")]
    CodeOfAnotherClient,
    /// `redirect_uri` is not the one of the authorization request.
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    /// RFC 7636 §4.6: the verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    PkceMismatch,
    /// RFC 9449 §10: the code is bound to a DPoP key the request did not prove.
    #[error(
        "the authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof made with that key"
    )]
    CodeBoundToDpopKey,
    /// `resource` differs from the authorization request's (`invalid_target`).
    #[error("resource differs from the authorization request")]
    ResourceDiffersFromRequest,
    /// No such refresh token, or it was revoked.
    #[error("unknown or revoked refresh token")]
    UnknownRefreshToken,
    /// A rotated-away refresh token came back; its family is revoked.
    #[error("the refresh token was already used; all tokens of its family are revoked")]
    RefreshTokenReused,
    /// The refresh token belongs to another client.
    #[error("the refresh token was issued to another client")]
    RefreshTokenOfAnotherClient,
    /// The refresh token outlived its lifetime.
    #[error("the refresh token has expired")]
    RefreshTokenExpired,
    /// HTTPSIG-AS-14: the refresh token is bound to a key the request did not prove.
    #[error(
        "the refresh token is bound to another key: sign the request with the key of the original grant"
    )]
    RefreshTokenBoundToAnotherKey,
    /// `resource` differs from the original grant's (`invalid_target`).
    #[error("resource differs from the original grant")]
    ResourceDiffersFromGrant,
    /// A scope beyond the original grant (`invalid_scope`).
    #[error("scope `{0}` was not granted")]
    ScopeNotGranted(String),
}

/// A token request's `httpsig-oauth-token-request` signature is refused
/// (`invalid_signature`, profiles/http-message-signatures.md HTTPSIG-AS-*).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `Signature-Input` / `Signature` do not parse.
    #[error(transparent)]
    Fields(#[from] mcp_auth_httpsig::FieldError),
    /// Draft §6: more than one signature carries the tag.
    #[error("more than one signature is tagged `{TOKEN_REQUEST_TAG}`")]
    SeveralTagged,
    /// The signature fails verification (coverage, window, key, bytes, digest).
    #[error(transparent)]
    Verify(#[from] mcp_auth_httpsig::VerifyError),
    /// The key cannot be put in a token's `cnf`.
    #[error(transparent)]
    Confirmation(#[from] mcp_auth_core::ConfirmationError),
    /// The pre-registered key named by `keyid` cannot be used.
    #[error(transparent)]
    Key(#[from] PreregisteredKeyError),
    /// The client's `jwks_uri` could not be fetched.
    #[error("the client's jwks_uri could not be used: {0}")]
    JwksUri(FetchError),
    /// A `keyid` from a client that registered no keys.
    #[error("the client has no registered keys (jwks or jwks_uri) for a `keyid`")]
    NoRegisteredKeys,
    /// The signature's nonce was seen before.
    #[error("the nonce was already used (replayed request)")]
    Replayed,
    /// The replay cache lost its memory (a Redis restarted empty) after the signature
    /// could first be used: refused as too old (docs/security.md, "Replay cache memory
    /// loss").
    #[error(
        "the signature may predate the replay cache's memory (since {memory_since}); sign the request again"
    )]
    ReplayUnknown {
        /// When the replay cache's memory begins (Unix seconds).
        memory_since: i64,
    },
}

/// A token request's `DPoP` proof is refused (RFC 9449 §5, §8).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof fails a check of §4.3 (`invalid_dpop_proof`).
    #[error("DPoP proof: {0}")]
    Proof(ProofError),
    /// §8: the proof lacks a current server nonce (`use_dpop_nonce`); `nonce` is the
    /// one to use, sent in `DPoP-Nonce`.
    #[error("DPoP proof: {error}")]
    UseNonce {
        /// What the proof check said.
        error: ProofError,
        /// The nonce for the next proof.
        nonce: String,
    },
}

/// A revocation the client may not make (RFC 7009 §2.1, `unauthorized_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The token was issued to another client.
    #[error("the token was issued to another client")]
    IssuedToAnotherClient,
}

/// A failure inside the server: `server_error`, details only in the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// The active key could not sign an access token.
    #[error("signing an access token failed: {0}")]
    Signing(#[from] mcp_auth_core::SigningKeyError),
    /// `{issuer}/token` is not a URI (the configuration check makes this impossible).
    #[error("the issuer is not a valid URI")]
    IssuerNotUri,
    /// The verifier accepted a message without returning its signature.
    #[error("verifier returned no signature")]
    NoVerifiedSignature,
    /// No DPoP nonce could be sealed.
    #[error("the system random generator failed: no DPoP nonce")]
    NoDpopNonce,
    /// The identity provider role is on but the key ring has no RS256 key (the key
    /// ring's load makes this impossible).
    #[error("no RS256 key for ID tokens and ID-JAGs")]
    NoIdentityKey,
}
