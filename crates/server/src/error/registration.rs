//! Failures of client metadata: RFC 7591 dynamic registration, and the checks it
//! shares with Client ID Metadata Documents and configured clients (redirect URIs,
//! grant types, key binding members, pre-registered keys). The `Display` texts are
//! the `error_description`s.

use mcp_auth_core::httpsig_profile::KEY_BINDING_METADATA;

use crate::dpop_token::DPOP_BOUND_METADATA;
use crate::outbound::FetchError;
use crate::registration::caps;

/// A registration request refused (RFC 7591 §3.2.2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// `dynamic_registration = false`: the endpoint does not exist (404).
    #[error("dynamic registration is off")]
    Disabled,
    /// Too many registrations from this address this minute (429, `Retry-After: 60`).
    #[error("too many registrations from this address; retry in a minute")]
    RateLimited,
    /// `invalid_client_metadata`.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// `invalid_redirect_uri`.
    #[error(transparent)]
    RedirectUri(#[from] RedirectUriError),
}

/// A client metadata member that cannot be registered (`invalid_client_metadata`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The body is larger than [`caps::BODY`].
    #[error("the registration request is larger than {} bytes", caps::BODY)]
    TooLarge,
    /// The body is not a JSON object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// A list member is not an array of strings.
    #[error("`{0}` must be an array of strings")]
    NotStrings(&'static str),
    /// A string member is not a string.
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    /// A string member is longer than its cap (bytes).
    #[error("`{key}` is longer than {max} bytes")]
    TooLong {
        /// The member.
        key: &'static str,
        /// Its cap.
        max: usize,
    },
    /// `application_type` is neither `web` nor `native`.
    #[error("`application_type` must be `web` or `native`")]
    ApplicationType,
    /// A grant type a registration may not have.
    #[error(transparent)]
    GrantTypes(#[from] GrantTypesError),
    /// More than [`caps::LIST`] `response_types`.
    #[error("too many `response_types`")]
    TooManyResponseTypes,
    /// A response type other than `code`.
    #[error("only the `code` response type is supported")]
    ResponseType,
    /// A `token_endpoint_auth_method` that cannot be registered.
    #[error("token_endpoint_auth_method `{0}` cannot be registered dynamically")]
    AuthMethod(String),
    /// A scope no resource of this server offers.
    #[error("scope `{0}` is not offered by this server")]
    UnknownScope(String),
    /// `jwks` has no `keys` array.
    #[error("`jwks` must be a JWK Set")]
    JwksNotASet,
    /// More than [`caps::JWKS_KEYS`] keys.
    #[error("`jwks` may hold at most {} keys", caps::JWKS_KEYS)]
    TooManyKeys,
    /// A key of `jwks` does not read as a verification key.
    #[error(transparent)]
    Jwk(#[from] mcp_auth_httpsig::KeyError),
    /// A key of `jwks` is private.
    #[error("`jwks` must hold public keys only")]
    PrivateKey,
    /// `jwks_uri` breaks a rule of the guarded fetch.
    #[error("jwks_uri: {0}")]
    JwksUri(FetchError),
    /// `private_key_jwt` with neither or both of `jwks` and `jwks_uri`.
    #[error("private_key_jwt needs exactly one of `jwks` and `jwks_uri`")]
    KeysNeeded,
    /// A proof-of-possession member is wrong.
    #[error(transparent)]
    Binding(#[from] BindingMetadataError),
    /// `client_name` is longer than [`caps::CLIENT_NAME`] characters.
    #[error("`client_name` is longer than {} characters", caps::CLIENT_NAME)]
    ClientNameTooLong,
}

/// A redirect URI that cannot be registered (RFC 6749 §3.1.2, RFC 8252 §7;
/// `invalid_redirect_uri`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// None, though the authorization code grant needs one.
    #[error("`redirect_uris` is required for the authorization code grant")]
    Required,
    /// More than [`caps::REDIRECT_URIS`].
    #[error("at most {} `redirect_uris`", caps::REDIRECT_URIS)]
    TooMany,
    /// One is longer than [`caps::URI`] (its length in bytes).
    #[error("a redirect URI is longer than {max} bytes ({0} bytes)", max = caps::URI)]
    TooLong(usize),
    /// Not an absolute URI.
    #[error("`{0}` is not an absolute URI")]
    NotAbsolute(String),
    /// It has a fragment.
    #[error("`{0}` has a fragment")]
    Fragment(String),
    /// `http` on a host that is not loopback.
    #[error("`{0}`: http is only allowed on a loopback host")]
    HttpNotLoopback(String),
    /// A scheme the application type may not use.
    #[error("`{uri}`: scheme `{scheme}` is not allowed for a {application_type} client")]
    SchemeNotAllowed {
        /// The URI.
        uri: String,
        /// Its scheme.
        scheme: String,
        /// `web` or `native`.
        application_type: String,
    },
}

/// Grant types a client without an operator may not have: only grants a user
/// consents to (docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantTypesError {
    /// More than [`caps::LIST`].
    #[error("too many `grant_types`")]
    TooMany,
    /// `client_credentials`: machine clients come from the operator.
    #[error(
        "grant type `client_credentials` cannot be registered dynamically: a machine client \
         is configured by the server's operator (`mcp-auth as client add`)"
    )]
    ClientCredentials,
    /// Another grant type no user consents to.
    #[error(
        "grant type `{0}` cannot be registered here; use `authorization_code` (and `refresh_token`)"
    )]
    NotUserConsent(String),
    /// `authorization_code` is missing.
    #[error("`grant_types` must include `authorization_code`")]
    AuthorizationCodeRequired,
}

/// A proof-of-possession member of client metadata that cannot be used
/// (`httpsig_key_binding_method` with its keys, HTTPSIG-AS-2/AS-3; RFC 9449
/// `dpop_bound_access_tokens`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingMetadataError {
    /// A binding method other than `runtime` and `preregistered`.
    #[error("`{KEY_BINDING_METADATA}` must be `runtime` or `preregistered`, not `{0}`")]
    UnknownMethod(String),
    /// The binding method is not a string.
    #[error("`{KEY_BINDING_METADATA}` must be a string")]
    MethodNotAString,
    /// `jwks` has no `keys` array.
    #[error("`jwks` must be a JWK Set")]
    JwksNotASet,
    /// `jwks` has no key.
    #[error("`jwks` holds no key")]
    NoKey,
    /// A pre-registered key breaks a rule.
    #[error(transparent)]
    Key(#[from] PreregisteredKeyError),
    /// `preregistered` with neither or both of `jwks` and `jwks_uri`.
    #[error("`{KEY_BINDING_METADATA}: preregistered` needs exactly one of `jwks` and `jwks_uri`")]
    KeysNeeded,
    /// `dpop_bound_access_tokens` is not a boolean.
    #[error("`{DPOP_BOUND_METADATA}` must be a boolean")]
    DpopNotABoolean,
}

/// A pre-registered signing key of a client that cannot be used (HTTPSIG-AS-3,
/// AS-10: public, with a `kid` and a fully specified asymmetric `alg`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreregisteredKeyError {
    /// Not a JWK.
    #[error("a JWK is malformed: {0}")]
    Malformed(serde_json::Error),
    /// A private key.
    #[error("`jwks` must hold public keys only")]
    Private,
    /// No `kid`.
    #[error("every pre-registered JWK needs a `kid` (draft §2.1)")]
    KidRequired,
    /// No `alg` (the key's `kid`).
    #[error("JWK `{0}` needs an `alg` (draft §2.1)")]
    AlgRequired(String),
    /// Draft §3.1, RFC 9864: `EdDSA` does not say which curve (the key's `kid`).
    #[error(
        "JWK `{0}`: `EdDSA` is polymorphic; use the fully specified `Ed25519` (draft §3.1, RFC 9864)"
    )]
    Polymorphic(String),
    /// An `alg` that is not an accepted asymmetric algorithm.
    #[error(
        "JWK `{kid}`: `alg` `{alg}` is not a fully specified asymmetric algorithm accepted here"
    )]
    AlgorithmNotAccepted {
        /// The key's `kid`.
        kid: String,
        /// Its `alg`.
        alg: String,
    },
    /// The key material does not make a verification key.
    #[error("JWK `{kid}`: {source}")]
    Unusable {
        /// The key's `kid`.
        kid: String,
        /// Why.
        source: mcp_auth_httpsig::KeyError,
    },
    /// The signature has no `keyid`.
    #[error("no `keyid` parameter")]
    NoKeyId,
    /// `keyid` names no key of the client.
    #[error("`keyid` `{0}` names no key registered by this client")]
    UnknownKeyId(String),
    /// `keyid` names several keys of the client.
    #[error("`keyid` `{0}` names several keys of this client")]
    SeveralKeys(String),
}
