//! RFC 9068 JWT access tokens: claims, signing with the authorization server's key,
//! and verification against its JWKS: `typ`, then the claims through the one shared
//! check of [`crate::jwt_claims`] (`iss`, `aud`, `exp`, `nbf`, `iat`, one leeway).
//!
//! The signature algorithms are those of the AS keys: `EdDSA` (Ed25519, the default),
//! `ES256` and `RS256`. The verifier takes the key from the JWKS by `kid` and accepts
//! only an algorithm that key is for ([`crate::jwt_claims::check_key_algorithm`]): no
//! `none`, no HMAC, no algorithm chosen by the token.

use std::collections::HashSet;

use base64::Engine as _;
use jsonwebtoken::{DecodingKey, Validation};
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, SigningKey};
use serde::{Deserialize, Serialize};

use crate::jwt_claims::{
    AudienceRule, ClaimError, ClaimRules, LEEWAY, RegisteredClaims, SIGNATURE_ALGORITHMS,
    check_claims, check_key_algorithm,
};
use crate::weakening::{Weakening, Weakenings};

/// The `typ` of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// RFC 9068 §2.2 claims (plus `scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: the AS issuer identifier, exactly.
    pub iss: String,
    /// Subject: the resource owner, or the client for client_credentials.
    pub sub: String,
    /// Audience: the resource (RFC 8707) the token is for.
    pub aud: String,
    /// Expiry (UNIX seconds).
    pub exp: i64,
    /// Issued at (UNIX seconds).
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The key the token is bound to (RFC 7800), for proof-of-possession profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::cnf::Confirmation>,
}

/// Why an access token is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// Not a JWT, or its header or claims do not parse.
    #[error("the token is malformed")]
    Malformed,
    /// `typ` is not `at+jwt` (RFC 9068 §4).
    #[error("the token is not an RFC 9068 access token (typ must be at+jwt)")]
    WrongType,
    /// No key in the JWKS has the token's `kid`.
    #[error("the token's key is unknown")]
    UnknownKey,
    /// The header's `alg` is not the one the key is for.
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// `iss` is not the expected issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `aud` is not this resource.
    #[error("the token is for another resource")]
    WrongAudience,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `iat` is in the future.
    #[error("the token is issued in the future")]
    NotYetValid,
}

/// Why an access-token signing key could not be made, read, stored or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The key material is invalid or of another kind than the algorithm needs.
    #[error(transparent)]
    Key(#[from] mcp_auth_httpsig::KeyError),
    /// The claims do not serialize.
    #[error("the claims do not serialize: {0}")]
    Claims(serde_json::Error),
    /// The algorithm cannot sign access tokens here.
    #[error("{0} is not an access-token signing algorithm here")]
    UnsupportedAlgorithm(&'static str),
}

/// One of the authorization server's signing keys, with its `kid`.
#[derive(Debug, Clone)]
pub struct AsSigningKey {
    kid: String,
    alg: JwsAlgorithm,
    /// The parsed, ready key (aws-lc's key pair): signing does not parse PKCS#8 again,
    /// as a `jsonwebtoken::EncodingKey` does on every token (issue 18: for Ed25519
    /// that parse derives the public key, about the cost of the signature itself).
    key: SigningKey,
    /// The base64url JWS header of an access token (`alg`, `typ: at+jwt`, `kid`),
    /// computed once.
    access_token_header: String,
}

impl AsSigningKey {
    /// Generates a key for `alg` (`EdDSA`, `ES256` or `RS256`), with its RFC 7638
    /// thumbprint as `kid`.
    pub fn generate(alg: JwsAlgorithm) -> Result<Self, SigningKeyError> {
        let key = SigningKey::generate(Algorithm::Jws(alg))?;
        let pem = key.to_pkcs8_pem()?;
        Self::from_pkcs8_pem(alg, &pem, None)
    }

    /// Reads a stored key (PKCS#8 PEM). `kid` defaults to the thumbprint.
    pub fn from_pkcs8_pem(
        alg: JwsAlgorithm,
        pem: &str,
        kid: Option<String>,
    ) -> Result<Self, SigningKeyError> {
        // Only what `jws_header` names (and verifiers accept).
        header_alg(alg)?;
        let key = SigningKey::from_pem(pem)?.with_algorithm(Algorithm::Jws(alg))?;
        let kid = kid.unwrap_or_else(|| key.verifying_key().thumbprint());
        let access_token_header = jws_header(alg, ACCESS_TOKEN_TYP, &kid)?;
        Ok(Self {
            kid,
            alg,
            key,
            access_token_header,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm.
    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// The private key as PKCS#8 PEM, for storage.
    pub fn to_pkcs8_pem(&self) -> Result<String, SigningKeyError> {
        Ok(self.key.to_pkcs8_pem()?)
    }

    /// The public JWK published in the JWKS (`kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = self.key.verifying_key().to_jwk();
        jwk.kid = Some(self.kid.clone());
        jwk.alg = Some(self.alg.name().to_owned());
        jwk.use_ = Some("sig".to_owned());
        jwk
    }

    /// Signs an access token (`typ: at+jwt`, `kid`).
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, SigningKeyError> {
        self.sign_typed(ACCESS_TOKEN_TYP, claims)
    }

    /// Signs any JWT this server issues: the header is `alg`, `typ` and `kid`, nothing
    /// else (an ID token has `typ: JWT`, an ID-JAG `typ: oauth-id-jag+jwt`). JWS
    /// compact serialization (RFC 7515 §7.1) over the prepared key: Ed25519 (RFC 8037
    /// §3.1), ES256 as R || S (RFC 7518 §3.4), RS256 PKCS#1 v1.5 (§3.3).
    pub fn sign_typed<T: serde::Serialize>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, SigningKeyError> {
        let payload = serde_json::to_vec(claims).map_err(SigningKeyError::Claims)?;
        let mut jws = if typ == ACCESS_TOKEN_TYP {
            let mut h =
                String::with_capacity(self.access_token_header.len() + payload.len() * 4 / 3 + 100);
            h.push_str(&self.access_token_header);
            h
        } else {
            jws_header(self.alg, typ, &self.kid)?
        };
        jws.push('.');
        B64.encode_string(&payload, &mut jws);
        let signature = self.key.sign(Algorithm::Jws(self.alg), jws.as_bytes())?;
        jws.push('.');
        B64.encode_string(&signature, &mut jws);
        Ok(jws)
    }
}

/// The base64url of the JWS header `{"alg":..,"typ":..,"kid":..}`.
fn jws_header(alg: JwsAlgorithm, typ: &str, kid: &str) -> Result<String, SigningKeyError> {
    let header = serde_json::json!({"alg": header_alg(alg)?, "typ": typ, "kid": kid});
    let bytes = serde_json::to_vec(&header).map_err(SigningKeyError::Claims)?;
    Ok(B64.encode(bytes))
}

/// The `alg` header value for a key of `alg`: `EdDSA` for Ed25519 (RFC 8037 §3.1;
/// the name every JOSE library verifies), `ES256`, `RS256`.
fn header_alg(alg: JwsAlgorithm) -> Result<&'static str, SigningKeyError> {
    match alg {
        JwsAlgorithm::EdDsa | JwsAlgorithm::Ed25519 => Ok("EdDSA"),
        JwsAlgorithm::Es256 => Ok("ES256"),
        JwsAlgorithm::Rs256 => Ok("RS256"),
        other => Err(SigningKeyError::UnsupportedAlgorithm(other.name())),
    }
}

/// Base64url without padding (RFC 7515 §2).
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A JWKS document (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The claims as any RFC 9068 issuer may send them: the registered claims (each
/// optional on the wire; [`check_claims`] and [`TokenVerifier::verify`] decide which
/// are required) and the RFC 9068 §2.2 extras.
#[derive(Deserialize)]
struct WireClaims {
    #[serde(flatten)]
    registered: RegisteredClaims,
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    cnf: Option<crate::cnf::Confirmation>,
}

#[derive(Clone)]
struct VerifierKey {
    kid: String,
    /// The key as published, for the algorithm rule of [`check_key_algorithm`].
    jwk: jsonwebtoken::jwk::Jwk,
    decoding: DecodingKey,
}

/// Verifies access tokens for one issuer and one audience against a JWKS.
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    audience: Option<String>,
    keys: Vec<VerifierKey>,
    /// Checks switched off for the conformance checker's mutation proof (always none
    /// outside it; see [`crate::weakening`]).
    weakenings: Weakenings,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier for tokens of `issuer` signed by a key of `jwks`. Keys without `kid`,
    /// and keys no algorithm of [`SIGNATURE_ALGORITHMS`] may use (HMAC secrets,
    /// unsupported curves, a declared `alg` mcp-auth does not verify), are ignored.
    /// `audience: None` accepts any audience (the AS's own introspection).
    pub fn new(issuer: impl Into<String>, audience: Option<String>, jwks: &Jwks) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.kid.clone()?;
                let mut json = serde_json::to_value(jwk).ok()?;
                // RFC 9864's fully specified `Ed25519` is EdDSA over an Ed25519 key: the
                // signatures a token header calls `EdDSA`.
                if jwk.alg.as_deref() == Some("Ed25519") {
                    json["alg"] = "EdDSA".into();
                }
                let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(json).ok()?;
                if !SIGNATURE_ALGORITHMS
                    .iter()
                    .any(|alg| check_key_algorithm(&parsed, *alg).is_ok())
                {
                    return None;
                }
                let decoding = DecodingKey::from_jwk(&parsed).ok()?;
                Some(VerifierKey {
                    kid,
                    jwk: parsed,
                    decoding,
                })
            })
            .collect();
        Self {
            issuer: issuer.into(),
            audience,
            keys,
            weakenings: Weakenings::NONE,
        }
    }

    /// This verifier with `weakenings` switched off (the conformance checker's
    /// mutation proof; see [`crate::weakening`]).
    #[must_use]
    pub fn weakened(mut self, weakenings: Weakenings) -> Self {
        self.weakenings = weakenings;
        self
    }

    /// The claims of an unsecured token (`alg: none`), read without any check, when
    /// [`Weakening::AcceptAlgNone`] is on; `None` otherwise.
    fn unsecured_claims(&self, token: &str) -> Option<WireClaims> {
        if !self.weakenings.has(Weakening::AcceptAlgNone) {
            return None;
        }
        let jws = crate::jws::split_compact(token).ok()?;
        let header: serde_json::Value = serde_json::from_slice(&jws.header).ok()?;
        (header["alg"] == "none")
            .then(|| serde_json::from_slice(&jws.payload).ok())
            .flatten()
    }

    /// `typ`, the key by `kid`, the header's `alg` against that key, and the
    /// signature; the claims as signed.
    fn verify_signature(&self, token: &str) -> Result<WireClaims, AccessTokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::Malformed)?;
        if !self.weakenings.has(Weakening::AcceptAnyTyp)
            && header
                .typ
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
                != Some(ACCESS_TOKEN_TYP)
            && header.typ.as_deref() != Some("application/at+jwt")
        {
            return Err(AccessTokenError::WrongType);
        }
        // RFC 7515 §4.1.11: `crit` names extensions the recipient must understand,
        // and no extension is understood here.
        if header.crit.is_some() || crate::jws::header_has_crit(token) {
            return Err(AccessTokenError::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(AccessTokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(AccessTokenError::UnknownKey)?;
        check_key_algorithm(&key.jwk, header.alg)
            .map_err(|_| AccessTokenError::AlgorithmMismatch)?;
        let mut validation = Validation::new(header.alg);
        // Time and audience are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        if self.weakenings.has(Weakening::SkipTokenSignature) {
            return jsonwebtoken::dangerous::insecure_decode::<WireClaims>(token)
                .map(|data| data.claims)
                .map_err(|_| AccessTokenError::Malformed);
        }
        let data =
            jsonwebtoken::decode::<WireClaims>(token, &key.decoding, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        AccessTokenError::BadSignature
                    }
                    _ => AccessTokenError::Malformed,
                }
            })?;
        Ok(data.claims)
    }

    /// Verifies `token` at UNIX time `now`: `typ`, key by `kid`, the header's `alg`
    /// against that key ([`check_key_algorithm`]), signature, then the claims with
    /// [`check_claims`] (`iss`, `aud`, `exp`, `nbf`, `iat`, [`LEEWAY`]) and the
    /// presence of every claim RFC 9068 §2.2 requires.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, AccessTokenError> {
        let wire = match self.unsecured_claims(token) {
            Some(claims) => claims,
            None => self.verify_signature(token)?,
        };
        // RFC 9068 §2.2: `sub`, `iat` and `jti` are required too (`client_id` is
        // required by the wire type).
        let registered = &wire.registered;
        let (Some(sub), Some(iat), Some(jti)) = (
            registered.sub.clone(),
            registered.iat,
            registered.jti.clone(),
        ) else {
            return Err(AccessTokenError::Malformed);
        };
        let expected: [&str; 1];
        let audience = match &self.audience {
            Some(_) if self.weakenings.has(Weakening::IgnoreAudience) => AudienceRule::Any,
            Some(one) => {
                expected = [one.as_str()];
                AudienceRule::AnyOf(&expected)
            }
            None => AudienceRule::Any,
        };
        let rules = ClaimRules {
            issuer: &self.issuer,
            audience,
            leeway: LEEWAY,
            max_lifetime: None,
            require_jti: true,
            now: match registered.exp {
                // As if it were always just before the token expires.
                Some(exp) if self.weakenings.has(Weakening::IgnoreExpiry) => now.min(exp - 1),
                _ => now,
            },
        };
        let accepted = check_claims(registered, &rules).map_err(|e| match e {
            ClaimError::WrongIssuer => AccessTokenError::WrongIssuer,
            ClaimError::WrongAudience => AccessTokenError::WrongAudience,
            ClaimError::Expired => AccessTokenError::Expired,
            ClaimError::NotYetValid | ClaimError::IssuedInFuture => AccessTokenError::NotYetValid,
            // A required claim is absent; no maximum lifetime is set for access tokens.
            ClaimError::Missing(_) | ClaimError::LifetimeTooLong => AccessTokenError::Malformed,
        })?;
        // The audience reported: ours, or (any audience accepted) the first named.
        let aud = match (&self.audience, &registered.aud) {
            (Some(ours), _) => ours.clone(),
            (None, Some(aud)) => aud.iter().next().unwrap_or_default().to_owned(),
            (None, None) => String::new(),
        };
        Ok(AccessTokenClaims {
            iss: self.issuer.clone(),
            sub,
            aud,
            exp: accepted.exp,
            iat,
            jti,
            client_id: wire.client_id,
            scope: wire.scope,
            cnf: wire.cnf,
        })
    }
}

#[cfg(test)]
mod tests;
