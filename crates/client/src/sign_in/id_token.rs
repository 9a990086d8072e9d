//! ID token validation as OIDC Core §3.1.3.7 says, for the client's own sign-in
//! (profiles/enterprise-managed-authorization.md §7.1, EMA-C-2). The JWS checks
//! are the project's one implementation, [`mcp_auth_core::workload_assertion`]
//! (the form, `crit`, an asymmetric `alg`, the key's type for it, the signature,
//! then `iss`, `aud`, `exp`, `nbf`, `iat` and the lifetime through
//! [`mcp_auth_core::jwt_claims`]); what is particular to an ID token is here: the
//! key from the IdP's `jwks_uri`, `azp`, and the `nonce` of the request (or, for a
//! refreshed ID token, the same `sub`, OIDC Core §12.2).

use std::time::Duration;

use mcp_auth_core::workload_assertion::{
    ALGORITHMS, AssertionError, AssertionKind, AssertionRules, DEFAULT_CLOCK_SKEW, TrustEntry,
};
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, VerifyingKey};
use serde_json::Value;

use super::SignInError;
use crate::discovery::AuthorizationServerMetadata;

/// The longest ID token lifetime accepted (`exp` − `iat`): a day, the longest
/// `id_token_ttl` of §7.1's IdP.
pub const MAX_ID_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// What an ID token must carry besides the checks every ID token passes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect<'a> {
    /// The `nonce` the authorization request sent (OIDC Core §3.1.3.7 item 11).
    Nonce(&'a str),
    /// The `sub` of the ID token it renews (OIDC Core §12.2).
    Subject(&'a str),
}

/// Which check of OIDC Core §3.1.3.7 an ID token failed. The text never quotes
/// the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenProblem {
    /// Not a compact JWS of at most 16 KiB with JSON header and claims.
    #[error("it is not a signed JWT (a compact JWS with JSON header and claims)")]
    NotJws,
    /// Its `typ` says it is another kind of token.
    #[error("its typ says it is not an ID token")]
    WrongType,
    /// `alg` missing, `none`, an HMAC, or `crit` present (item 6, 7).
    #[error("its alg is not an accepted asymmetric signature algorithm (RS256, ...)")]
    Algorithm,
    /// No single usable key of the JWK Set has its `kid` (or fits its `alg`).
    #[error("no key of the identity provider's JWK Set (jwks_uri) fits its kid and alg")]
    UnknownKey,
    /// The signature does not verify (item 6).
    #[error("its signature does not verify with the identity provider's key")]
    Signature,
    /// `iss` is not the IdP's issuer exactly (item 2).
    #[error("its iss is not exactly the identity provider's issuer {expected}")]
    Issuer {
        /// The issuer.
        expected: String,
    },
    /// `aud` is not exactly the IdP client (item 3).
    #[error("its aud is not exactly the client id {client_id}")]
    Audience {
        /// The IdP client id.
        client_id: String,
    },
    /// `azp` is present and not the IdP client (item 5).
    #[error("its azp is not the client id {client_id}")]
    AuthorizedParty {
        /// The IdP client id.
        client_id: String,
    },
    /// `exp` missing or passed (item 9).
    #[error("it has expired, or has no exp")]
    Expired,
    /// `iat` missing, or `iat` or `nbf` in the future (item 10).
    #[error("it has no iat, or its iat or nbf is in the future")]
    IssuedAt,
    /// `exp` − `iat` over [`MAX_ID_TOKEN_LIFETIME`].
    #[error("it is valid for more than a day")]
    Lifetime,
    /// No `sub` (OIDC Core §2).
    #[error("it has no sub")]
    Subject,
    /// `nonce` missing or not the request's (item 11).
    #[error("its nonce is not the one the authorization request sent")]
    Nonce,
    /// A refreshed ID token names another user (OIDC Core §12.2).
    #[error("its sub is not the user of the kept sign-in")]
    OtherUser,
}

/// What a valid ID token established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Valid {
    /// `sub`.
    pub(crate) sub: String,
    /// `exp`.
    pub(crate) exp: i64,
}

/// Validates `jwt`, an ID token from `idp` for `client_id`, at `now`, with the
/// IdP's JWK Set fetched now (so a key it rotated in is found).
pub(crate) async fn validate(
    http: &reqwest::Client,
    idp: &AuthorizationServerMetadata,
    client_id: &str,
    jwt: &str,
    expect: Expect<'_>,
    now: i64,
) -> Result<Valid, SignInError> {
    let invalid = |problem| SignInError::InvalidIdToken {
        idp: idp.issuer.clone(),
        problem,
    };
    let parsed = match mcp_auth_core::workload_assertion::parse(jwt) {
        Ok(AssertionKind::Workload(parsed)) => parsed,
        Ok(AssertionKind::IdJag(_)) | Err(AssertionError::WrongType) => {
            return Err(invalid(IdTokenProblem::WrongType));
        }
        Err(_) => return Err(invalid(IdTokenProblem::NotJws)),
    };
    let alg = parsed
        .check_header()
        .map_err(|_| invalid(IdTokenProblem::Algorithm))?;
    let keys = jwk_set(http, idp).await?;
    let key = key_for(&keys, parsed.kid(), alg).ok_or(invalid(IdTokenProblem::UnknownKey))?;
    let rules = AssertionRules {
        algorithms: &ALGORITHMS,
        max_lifetime: MAX_ID_TOKEN_LIFETIME,
        clock_skew: DEFAULT_CLOCK_SKEW,
        require_iat: true,
        ..AssertionRules::new(TrustEntry::Issuer(&idp.issuer), client_id)
    };
    let verified = parsed
        .verify(&key, &rules, now)
        .map_err(|e| invalid(problem(&e, &idp.issuer, client_id)))?;
    let claim = |name| verified.claims.get(name).and_then(Value::as_str);
    if verified
        .claims
        .get("azp")
        .is_some_and(|_| claim("azp") != Some(client_id))
    {
        return Err(invalid(IdTokenProblem::AuthorizedParty {
            client_id: client_id.to_owned(),
        }));
    }
    match expect {
        Expect::Nonce(nonce) if claim("nonce") != Some(nonce) => {
            return Err(invalid(IdTokenProblem::Nonce));
        }
        Expect::Subject(sub) if verified.sub != sub => {
            return Err(invalid(IdTokenProblem::OtherUser));
        }
        _ => {}
    }
    Ok(Valid {
        sub: verified.sub,
        exp: verified.exp,
    })
}

/// The check of [`mcp_auth_core::workload_assertion`] that failed, as an ID
/// token's.
fn problem(error: &AssertionError, issuer: &str, client_id: &str) -> IdTokenProblem {
    match error {
        AssertionError::NoTrustEntry => IdTokenProblem::Issuer {
            expected: issuer.to_owned(),
        },
        AssertionError::MissingAudience | AssertionError::WrongAudience => {
            IdTokenProblem::Audience {
                client_id: client_id.to_owned(),
            }
        }
        AssertionError::BadSignature | AssertionError::KeyNotForAlgorithm => {
            IdTokenProblem::Signature
        }
        AssertionError::CriticalHeader
        | AssertionError::AlgorithmNotAccepted
        | AssertionError::AlgorithmNotAllowed => IdTokenProblem::Algorithm,
        AssertionError::MissingExpiry | AssertionError::Expired { .. } => IdTokenProblem::Expired,
        AssertionError::MissingIssuedAt
        | AssertionError::IssuedInFuture
        | AssertionError::NotYetValid
        | AssertionError::MalformedTime(_) => IdTokenProblem::IssuedAt,
        AssertionError::LifetimeTooLong { .. } => IdTokenProblem::Lifetime,
        AssertionError::MissingSubject => IdTokenProblem::Subject,
        _ => IdTokenProblem::NotJws,
    }
}

/// The IdP's JWK Set, read from its `jwks_uri` within the metadata limits.
async fn jwk_set(
    http: &reqwest::Client,
    idp: &AuthorizationServerMetadata,
) -> Result<Value, SignInError> {
    let url = idp.jwks_uri.clone().unwrap_or_default();
    let fetched =
        mcp_auth_core::fetch::json(http.get(&url), mcp_auth_core::fetch::FetchLimits::METADATA)
            .await;
    fetched.map(|f| f.value).map_err(|e| SignInError::Keys {
        idp: idp.issuer.clone(),
        url,
        reason: e.to_string(),
    })
}

/// The one key of the JWK Set `set` that may verify an ID token signed with `alg`
/// and naming `kid` (any key when it names none): a public key whose `kid` is
/// that one, whose `use` is absent or `sig`, whose `alg` is absent or `alg`, and
/// whose type fits `alg`. `None` when no key or several do: the client never
/// guesses.
pub(crate) fn key_for(set: &Value, kid: Option<&str>, alg: JwsAlgorithm) -> Option<VerifyingKey> {
    let keys = set.get("keys").and_then(Value::as_array)?;
    let mut fitting = keys.iter().filter_map(|member| {
        let jwk = serde_json::from_value::<Jwk>(member.clone()).ok()?;
        let named = kid.is_none_or(|kid| jwk.kid.as_deref() == Some(kid));
        let for_signatures = jwk.use_.as_deref().is_none_or(|u| u == "sig");
        let for_alg = jwk.alg.as_deref().is_none_or(|a| a == alg.name());
        if !named || !for_signatures || !for_alg || jwk.is_private() {
            return None;
        }
        let key = VerifyingKey::from_jwk(&jwk).ok()?;
        mcp_auth_core::workload_assertion::key_fits(&key, alg).ok()?;
        key.with_algorithm(Algorithm::Jws(alg)).ok()
    });
    let key = fitting.next()?;
    fitting.next().is_none().then_some(key)
}
