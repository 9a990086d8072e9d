//! An identity for the upstream MCP server, minted by the gateway (issue 20): a
//! short-lived JWT signed with the gateway's own key, so that an upstream that calls
//! further APIs holds a credential anyone can verify, while the client's token never
//! leaves the gateway (the MCP authorization spec forbids token passthrough).
//!
//! # What the upstream gets
//!
//! Besides the `X-MCP-Auth-*` identity headers, each forwarded request carries one
//! header (`[upstream_identity] header`, default `Authorization: Bearer <jwt>`; any
//! other name carries the bare JWT). The JWT is a JWS (compact serialization) with
//! the header `{"alg", "typ": "at+jwt", "kid"}` and these claims:
//!
//! | claim | value | why |
//! |---|---|---|
//! | `iss` | the gateway (`issuer`, default its resource URL) | who vouches: the key in the gateway's JWKS |
//! | `aud` | the upstream (`audience`, default the upstream URL without its credentials) | usable at that upstream only (RFC 8707 spirit) |
//! | `sub` | the caller's subject | the user (or the client, for client_credentials) |
//! | `act` | `{"sub": <client_id>, "iss": <the caller's issuer>}` | RFC 8693 §4.1: the client acts for the subject; `act.iss` names the authorization server that authenticated them, in whose namespace `sub` and `act.sub` are (compare (`act.iss`, `sub`), never `sub` alone) |
//! | `client_id` | the caller's client | RFC 9068 §2.2 requires it; the same value as `act.sub` |
//! | `scope` | the caller's scopes, space-separated | what the AS granted (absent when none) |
//! | `iat`, `exp` | now, now + `lifetime` (default 60 s) | short-lived: a leaked token is soon useless |
//! | `jti` | 128 random bits | a unique id (for logs, replay caches) |
//!
//! No `nbf`: it would equal `iat`. No `cnf`: the token is a bearer credential between
//! the gateway and its upstream, over a hop the operator controls.
//!
//! # Why `typ: at+jwt`
//!
//! RFC 9068 is the JWT profile of *access tokens*, which is what the upstream receives:
//! a token presented as `Bearer` to a resource (the upstream) naming it as `aud`. The
//! gateway mints it the way an RFC 8693 token-exchange service issues an
//! `urn:ietf:params:oauth:token-type:access_token` for a subject token it verified: in
//! that role it is an authorization server of the upstream. The explicit type (RFC
//! 8725 §3.11) keeps the token from being taken for an ID token or any other JWT, and
//! lets the upstream use an unmodified RFC 9068 verifier (every claim §2.2 requires is
//! present), `mcp_auth_core::access_token::TokenVerifier` included. It is not one of
//! the authorization server's tokens: its `iss` and its key are the gateway's, so a
//! resource that trusts the AS refuses it, and the gateway itself (which trusts only
//! the AS) does too.
//!
//! # The key file
//!
//! `key_file` holds the signing key (PKCS#8 PEM). It is made with mode 0600 when
//! missing (exclusive create: no symlink followed, a racing process not
//! overwritten); when present it must be a regular file, mode 0600 (or stricter),
//! owned by the user the gateway runs as, else the start is refused with the path and
//! the fix. Its `kid` is the key's RFC 7638 thumbprint, so it stays the same across
//! restarts and across gateway instances sharing the file. Several instances behind
//! one address must share the key file: an upstream fetching the JWKS through that
//! address sees one instance's key only.
//!
//! # Caching
//!
//! A signature per forwarded request is avoidable work: the token minted for a
//! caller's token (its issuer, `jti`, subject, client and scopes, under this key) is
//! reused while at least half its lifetime remains, from a bounded cache (10 000
//! entries); the upstream thus always gets a token valid for at least `lifetime / 2`
//! more seconds. A minted token may outlive the caller's own token by up to
//! `lifetime` seconds ([`Principal`] does not carry the caller's `exp`): one more
//! reason to keep the lifetime short.
//!
//! # How an upstream verifies
//!
//! Fetch the JWKS from the gateway at [`JWKS_PATH`] (`https://<gateway>/.well-known/jwks.json`,
//! cacheable for 5 minutes), pick the key by the header's `kid`, accept only the
//! algorithm that key names (`EdDSA` or `ES256`), check `typ` = `at+jwt`, the
//! signature, `iss` = the configured issuer, `aud` = itself, `exp` (a few seconds of
//! leeway for clock skew). With PyJWT: `PyJWKClient(jwks_url)` then `jwt.decode(token,
//! key, algorithms=["EdDSA", "ES256"], audience=..., issuer=...)`
//! (`interop/upstream-identity/`).

mod key_file;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, header};
use mcp_auth_core::access_token::{ACCESS_TOKEN_TYP, AsSigningKey, Jwks, SigningKeyError};
use mcp_auth_core::random::{RandomError, random_token};
use mcp_auth_httpsig::JwsAlgorithm;
use serde::{Deserialize, Serialize};

use crate::presentation::Principal;

/// Where the gateway serves the public key of its upstream tokens (RFC 8414 §3's
/// customary `jwks_uri` path).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The `typ` of the minted tokens: `at+jwt` (see the module documentation for why).
pub const UPSTREAM_TOKEN_TYP: &str = ACCESS_TOKEN_TYP;

/// The default lifetime of a minted token, seconds.
pub const DEFAULT_LIFETIME: u64 = 60;

/// The allowed lifetimes, seconds: long enough to be cached usefully, short enough
/// that a token leaked by an upstream soon stops working.
pub const LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 10..=3600;

/// The default header carrying the token upstream (as `Bearer <jwt>`).
pub const DEFAULT_HEADER: &str = "authorization";

/// How many minted tokens are kept for reuse.
const CACHE_CAPACITY: u64 = 10_000;

/// `Cache-Control` of the JWKS answer.
const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Headers that cannot carry the token, besides the hop-by-hop ones the proxy never
/// forwards (`crate::proxy::HOP_BY_HOP`): those describing the message (the outgoing
/// request forwards them), the client's presentation and cookies, MCP's own, and the
/// forwarding headers.
const RESERVED_HEADERS: [&str; 12] = [
    "content-type",
    "content-encoding",
    "content-digest",
    "accept",
    "cookie",
    "signature",
    "signature-input",
    "dpop",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "forwarded",
];

/// The signature algorithm of the gateway's key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum UpstreamAlg {
    /// `EdDSA` over Ed25519 (RFC 8037), the default.
    #[default]
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// `ES256`: ECDSA P-256 SHA-256 (RFC 7518 §3.4), for upstreams whose JOSE library
    /// lacks Ed25519.
    #[serde(rename = "ES256")]
    Es256,
}

impl UpstreamAlg {
    /// The JWS algorithm.
    pub fn jws(self) -> JwsAlgorithm {
        match self {
            Self::EdDsa => JwsAlgorithm::EdDsa,
            Self::Es256 => JwsAlgorithm::Es256,
        }
    }
}

/// `[upstream_identity]` of the gateway's file. Without `key_file` no token is minted
/// (the upstream gets the `X-MCP-Auth-*` headers alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamIdentityConfig {
    /// The gateway's signing key (PKCS#8 PEM), generated with mode 0600 when missing.
    /// Absent: the feature is off.
    pub key_file: Option<PathBuf>,
    /// `EdDSA` (default) or `ES256`: the algorithm of the key, generated or read.
    #[serde(default)]
    pub alg: UpstreamAlg,
    /// The `iss` of the tokens [default: the gateway's resource URL].
    pub issuer: Option<String>,
    /// The `aud` of the tokens [default: the upstream URL, without the user and
    /// password it may carry].
    pub audience: Option<String>,
    /// Seconds a token is valid, 10..=3600 [default: 60].
    pub lifetime: Option<u64>,
    /// The header carrying the token (default `authorization`, as `Bearer <jwt>`);
    /// any other name carries the bare JWT.
    pub header: Option<String>,
}

impl UpstreamIdentityConfig {
    /// Whether tokens are minted (a `key_file` is configured).
    pub fn enabled(&self) -> bool {
        self.key_file.is_some()
    }

    /// Whether the token goes in `Authorization` (the default): then the client's
    /// `Authorization` cannot also be forwarded (`forward_token`), and the gateway's
    /// configuration check refuses the two together.
    pub fn uses_authorization(&self) -> bool {
        self.header
            .as_deref()
            .unwrap_or(DEFAULT_HEADER)
            .eq_ignore_ascii_case(DEFAULT_HEADER)
    }

    /// Checks the values without touching the key file: `lifetime` in
    /// [`LIFETIME_RANGE`], `header` a header name that can carry the token, `issuer`
    /// and `audience` not empty when given. The gateway's configuration check calls
    /// it; [`UpstreamIdentity::load`] does too.
    pub fn validate(&self) -> Result<(), UpstreamIdentityError> {
        self.lifetime_seconds()?;
        self.header_name()?;
        for (key, value) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(UpstreamIdentityError::Empty(key));
            }
        }
        Ok(())
    }

    fn lifetime_seconds(&self) -> Result<u64, UpstreamIdentityError> {
        let lifetime = self.lifetime.unwrap_or(DEFAULT_LIFETIME);
        if LIFETIME_RANGE.contains(&lifetime) {
            Ok(lifetime)
        } else {
            Err(UpstreamIdentityError::Lifetime(lifetime))
        }
    }

    /// The header name (lowercased), and whether it is `authorization`.
    fn header_name(&self) -> Result<(HeaderName, bool), UpstreamIdentityError> {
        let configured = self.header.as_deref().unwrap_or(DEFAULT_HEADER);
        let refuse = |why: &'static str| UpstreamIdentityError::Header {
            name: configured.to_owned(),
            why,
        };
        let lower = configured.to_ascii_lowercase();
        let name =
            HeaderName::from_bytes(lower.as_bytes()).map_err(|_| refuse("not a header name"))?;
        if crate::proxy::HOP_BY_HOP.contains(&name) || RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(refuse("the request needs it for something else"));
        }
        if lower.starts_with("x-forwarded-") {
            return Err(refuse("the request needs it for something else"));
        }
        // A CGI/WSGI upstream reads `a_b` and `a-b` as one header: a client could
        // then pose as the gateway with the other spelling.
        if lower.contains('_') {
            return Err(refuse("use `-`, not `_` (CGI/WSGI servers merge them)"));
        }
        let bearer = name == header::AUTHORIZATION;
        Ok((name, bearer))
    }
}

/// Why the upstream identity cannot be set up or a token minted. The configuration
/// errors name the key; the key file errors name the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamIdentityError {
    /// `lifetime` outside [`LIFETIME_RANGE`].
    #[error("upstream_identity.lifetime must be 10..=3600 seconds, not {0}")]
    Lifetime(u64),
    /// `header` cannot carry the token.
    #[error("upstream_identity.header {name:?} cannot carry the token: {why}")]
    Header {
        /// The configured name.
        name: String,
        /// Why not.
        why: &'static str,
    },
    /// `issuer` or `audience` (named) is empty.
    #[error("upstream_identity.{0} must not be empty")]
    Empty(&'static str),
    /// The key file cannot be created, opened or read.
    #[error("upstream_identity.key_file {path}: {problem}")]
    KeyFile {
        /// The path.
        path: String,
        /// What failed.
        problem: String,
    },
    /// The key file is a symbolic link, a directory or another non-regular file.
    #[error(
        "upstream_identity.key_file {path} is {what}; it must be a regular file holding the \
         key (remove it to have a new key generated)"
    )]
    NotRegularFile {
        /// The path.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// The key file grants something to group or others.
    #[error(
        "upstream_identity.key_file {path} can be read or written by other local users \
         (mode {mode:04o}); whoever reads it can pose as any caller to the upstream. Fix it \
         with `chmod 600 {path}` (and replace the key if others may have read it)"
    )]
    InsecureKeyFile {
        /// The path.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file belongs to another user than the one the gateway runs as.
    #[error(
        "upstream_identity.key_file {path} belongs to user {owner}, not to the user the \
         gateway runs as ({uid}), who could replace the key: `chown {uid} {path}` and \
         `chmod 600 {path}`"
    )]
    ForeignKeyFile {
        /// The path.
        path: String,
        /// The file's owner.
        owner: u32,
        /// The gateway's user.
        uid: u32,
    },
    /// The key file holds no key of the configured algorithm, or a key cannot be
    /// generated.
    #[error(
        "upstream_identity.key_file {path}: not a usable PKCS#8 key of the configured alg: {source}"
    )]
    Key {
        /// The path.
        path: String,
        /// Why.
        source: SigningKeyError,
    },
    /// A token could not be signed.
    #[error("signing the upstream identity token: {0}")]
    Sign(SigningKeyError),
    /// The signed token is not a header value (a JWS compact serialization always
    /// is: this is a defect of the signer).
    #[error("the signed upstream identity token is not a header value")]
    HeaderValue,
    /// No random `jti` could be made.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The claims of a minted token (see the module documentation).
#[derive(Serialize)]
struct UpstreamClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    act: Actor<'a>,
    client_id: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// RFC 8693 §4.1 `act`: the client acting for the subject, within its issuer.
#[derive(Serialize)]
struct Actor<'a> {
    sub: &'a str,
    iss: &'a str,
}

/// A minted token kept for reuse, with its header value made once.
#[derive(Clone)]
struct Minted {
    token: Arc<str>,
    value: HeaderValue,
    iat: i64,
    exp: i64,
}

/// The gateway's minter of upstream identity tokens: its key, the claims' fixed
/// part, the header, the JWKS it publishes and the cache of minted tokens.
pub struct UpstreamIdentity {
    key: AsSigningKey,
    issuer: String,
    audience: String,
    lifetime: i64,
    header: HeaderName,
    bearer: bool,
    jwks: Bytes,
    minted: moka::sync::Cache<[u8; 32], Minted>,
}

impl std::fmt::Debug for UpstreamIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamIdentity")
            .field("kid", &self.key.kid())
            .field("alg", &self.key.alg().name())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .field("header", &self.header)
            .field("cached", &self.minted.entry_count())
            .finish_non_exhaustive()
    }
}

impl UpstreamIdentity {
    /// The minter `config` describes, or `None` when it is off (no `key_file`). The
    /// key file is read, or generated when missing (see the module documentation);
    /// `issuer` and `audience` default to `default_issuer` (the gateway's resource
    /// URL) and `default_audience` (the gateway passes the upstream URL without its
    /// credentials).
    pub fn load(
        config: &UpstreamIdentityConfig,
        default_issuer: &str,
        default_audience: &str,
    ) -> Result<Option<Self>, UpstreamIdentityError> {
        let Some(path) = &config.key_file else {
            return Ok(None);
        };
        config.validate()?;
        let (key, _created) = key_file::load_or_create(path, config.alg.jws())?;
        Self::with_key(config, key, default_issuer, default_audience).map(Some)
    }

    /// A minter with `key` (no key file): `config.key_file` and `config.alg` are
    /// ignored (the key's algorithm is used). For tests and for a key kept elsewhere.
    pub fn with_key(
        config: &UpstreamIdentityConfig,
        key: AsSigningKey,
        default_issuer: &str,
        default_audience: &str,
    ) -> Result<Self, UpstreamIdentityError> {
        config.validate()?;
        let lifetime = config.lifetime_seconds()?;
        let (header, bearer) = config.header_name()?;
        let pick = |configured: &Option<String>, default: &str, name| {
            let value = configured.as_deref().unwrap_or(default).trim().to_owned();
            if value.is_empty() {
                Err(UpstreamIdentityError::Empty(name))
            } else {
                Ok(value)
            }
        };
        let issuer = pick(&config.issuer, default_issuer, "issuer")?;
        let audience = pick(&config.audience, default_audience, "audience")?;
        let jwks = Jwks {
            keys: vec![key.public_jwk()],
        };
        let jwks = Bytes::from(
            serde_json::to_vec(&jwks)
                .map_err(|e| UpstreamIdentityError::Sign(SigningKeyError::Claims(e)))?,
        );
        Ok(Self {
            key,
            issuer,
            audience,
            // At most 3600 (checked above): always an i64.
            lifetime: i64::try_from(lifetime).unwrap_or(60),
            header,
            bearer,
            jwks,
            minted: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(Duration::from_secs(lifetime))
                .build(),
        })
    }

    /// The JWT for `principal` at UNIX time `now` (the gateway's clock): a cached one
    /// while it has at least half its lifetime left, else a new one.
    pub fn token_for(
        &self,
        principal: &Principal,
        now: i64,
    ) -> Result<Arc<str>, UpstreamIdentityError> {
        self.minted_for(principal, now).map(|m| m.token)
    }

    /// The value of [`UpstreamIdentity::header_name`] for `principal` at `now`:
    /// `Bearer <jwt>` for `authorization`, the bare JWT otherwise; marked sensitive
    /// (never logged by `http`'s `Debug`). Cached with the token.
    pub fn header_value_for(
        &self,
        principal: &Principal,
        now: i64,
    ) -> Result<HeaderValue, UpstreamIdentityError> {
        self.minted_for(principal, now).map(|m| m.value)
    }

    /// The header carrying the token upstream (lowercase). The proxy must remove
    /// whatever a client sent under this name and `insert` (not append) the minted
    /// value.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// Whether a header a client sent under `name` must be removed before forwarding:
    /// it is [`UpstreamIdentity::header_name`] once `_` is read as `-` and case is
    /// ignored, the way CGI/WSGI upstreams read names (`X_Upstream_Identity` would
    /// reach such an application as the gateway's `X-Upstream-Identity`).
    pub fn matches_header(&self, name: &str) -> bool {
        let fold = |b: u8| match b {
            b'_' => b'-',
            b => b.to_ascii_lowercase(),
        };
        let ours = self.header.as_str();
        name.len() == ours.len()
            && name
                .bytes()
                .zip(ours.bytes())
                .all(|(n, o)| fold(n) == fold(o))
    }

    /// The `iss` of the minted tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of the minted tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key id (the key's RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// The lifetime of a minted token, seconds.
    pub fn lifetime(&self) -> i64 {
        self.lifetime
    }

    /// The JWKS document the gateway serves at [`JWKS_PATH`]: `{"keys":[<public JWK>]}`
    /// with `kid`, `alg` and `use: sig`, serialized once.
    pub fn jwks_json(&self) -> Bytes {
        self.jwks.clone()
    }

    fn minted_for(&self, principal: &Principal, now: i64) -> Result<Minted, UpstreamIdentityError> {
        let key = self.cache_key(principal);
        if let Some(cached) = self.minted.get(&key)
            && cached.iat <= now
            && cached.exp - now >= self.lifetime - self.lifetime / 2
        {
            return Ok(cached);
        }
        let minted = self.mint(principal, now)?;
        self.minted.insert(key, minted.clone());
        Ok(minted)
    }

    /// Signs a new token for `principal`, issued at `now`.
    fn mint(&self, principal: &Principal, now: i64) -> Result<Minted, UpstreamIdentityError> {
        let exp = now.saturating_add(self.lifetime);
        let claims = UpstreamClaims {
            iss: &self.issuer,
            sub: &principal.subject,
            aud: &self.audience,
            act: Actor {
                sub: &principal.client_id,
                iss: &principal.issuer,
            },
            client_id: &principal.client_id,
            scope: principal.scopes.join(" "),
            iat: now,
            exp,
            jti: random_token::<16>()?,
        };
        let token = self
            .key
            .sign_typed(UPSTREAM_TOKEN_TYP, &claims)
            .map_err(UpstreamIdentityError::Sign)?;
        let value = if self.bearer {
            format!("Bearer {token}")
        } else {
            token.clone()
        };
        // A JWS compact serialization is base64url and dots: always a header value.
        let mut value =
            HeaderValue::try_from(value).map_err(|_| UpstreamIdentityError::HeaderValue)?;
        value.set_sensitive(true);
        Ok(Minted {
            token: token.into(),
            value,
            iat: now,
            exp,
        })
    }

    /// What a minted token depends on, digested: the caller's token (issuer and
    /// `jti`) and every claim taken from it, and this key. Two callers never share a
    /// token, even if an issuer repeated a `jti`.
    fn cache_key(&self, p: &Principal) -> [u8; 32] {
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut field = |bytes: &[u8]| {
            digest.update(&(bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        };
        field(self.key.kid().as_bytes());
        field(p.issuer.as_bytes());
        field(p.token_id.as_bytes());
        field(p.subject.as_bytes());
        field(p.client_id.as_bytes());
        for scope in p.scopes.iter() {
            field(scope.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.finish().as_ref());
        key
    }
}

/// `GET /.well-known/jwks.json`: [`UpstreamIdentity::jwks_json`] as
/// `application/json`, cacheable for 5 minutes.
pub async fn jwks(State(identity): State<Arc<UpstreamIdentity>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, JWKS_CACHE_CONTROL),
        ],
        identity.jwks_json(),
    )
        .into_response()
}

/// A router serving [`jwks`] at [`JWKS_PATH`], to merge into the gateway's.
pub fn jwks_router(identity: Arc<UpstreamIdentity>) -> axum::Router {
    axum::Router::new()
        .route(JWKS_PATH, axum::routing::get(jwks))
        .with_state(identity)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(toml_text: &str) -> Result<UpstreamIdentityConfig, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    /// Fails if a default changes or the table stops being optional.
    #[test]
    fn the_defaults_are_off_eddsa_60_seconds_authorization() {
        let c = config("").unwrap();
        assert_eq!(c, UpstreamIdentityConfig::default());
        assert!(!c.enabled());
        assert_eq!(c.alg, UpstreamAlg::EdDsa);
        assert_eq!(c.lifetime_seconds().unwrap(), 60);
        let (name, bearer) = c.header_name().unwrap();
        assert_eq!(name, header::AUTHORIZATION);
        assert!(bearer);
        let full = config(
            r#"key_file = "/k.pem"
alg = "ES256"
issuer = "https://gw"
audience = "https://up"
lifetime = 300
header = "X-Upstream-Identity""#,
        )
        .unwrap();
        assert!(full.enabled());
        assert!(c.uses_authorization());
        assert!(!full.uses_authorization());
        let spelled = config(r#"header = "Authorization""#).unwrap();
        assert!(spelled.uses_authorization());
        assert_eq!(full.alg.jws(), JwsAlgorithm::Es256);
        let (name, bearer) = full.header_name().unwrap();
        assert_eq!(name.as_str(), "x-upstream-identity");
        assert!(!bearer);
        full.validate().unwrap();
    }

    /// Fails if an unknown key or algorithm is accepted.
    #[test]
    fn unknown_keys_and_algorithms_are_refused() {
        for bad in [
            r#"alg = "RS256""#,
            r#"alg = "HS256""#,
            r#"alg = "none""#,
            r#"alg = "eddsa""#,
            r#"lifetim = 60"#,
        ] {
            assert!(config(bad).is_err(), "{bad} accepted");
        }
    }

    /// Fails if a bound is off by one or not checked.
    #[test]
    fn lifetime_bounds() {
        for (lifetime, ok) in [
            (9, false),
            (10, true),
            (3600, true),
            (3601, false),
            (0, false),
        ] {
            let c = UpstreamIdentityConfig {
                lifetime: Some(lifetime),
                ..Default::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "lifetime {lifetime}");
            if !ok {
                assert!(c.validate().unwrap_err().to_string().contains("lifetime"));
            }
        }
    }

    /// Fails if a header that is no header name, or one the request needs, is
    /// accepted.
    #[test]
    fn bad_header_names_are_refused() {
        for bad in [
            "",
            "bad header",
            "x-ident:",
            "x_upstream_identity",
            "Host",
            "content-length",
            "Cookie",
            "mcp-session-id",
            "dpop",
            "x-forwarded-for",
            "transfer-encoding",
        ] {
            let c = UpstreamIdentityConfig {
                header: Some(bad.to_owned()),
                ..Default::default()
            };
            let error = c.validate().expect_err(bad);
            assert!(
                matches!(error, UpstreamIdentityError::Header { .. }),
                "{bad}: {error}"
            );
        }
    }

    /// Fails if an empty issuer or audience would be signed.
    #[test]
    fn empty_issuer_or_audience_is_refused() {
        let c = UpstreamIdentityConfig {
            issuer: Some(" ".to_owned()),
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(UpstreamIdentityError::Empty("issuer"))
        ));
        let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
        let error =
            UpstreamIdentity::with_key(&UpstreamIdentityConfig::default(), key, "https://gw", "")
                .unwrap_err();
        assert!(matches!(error, UpstreamIdentityError::Empty("audience")));
    }

    /// Fails if the feature switches on without a key file.
    #[test]
    fn no_key_file_means_off() {
        let off = UpstreamIdentity::load(
            &UpstreamIdentityConfig::default(),
            "https://gw",
            "https://up",
        )
        .unwrap();
        assert!(off.is_none());
    }
}
