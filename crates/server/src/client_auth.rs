//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1) and
//! `private_key_jwt` (RFC 7523 §2.2, §3, with `jti` replay protection). Exactly one
//! method per request; secrets compared as SHA-256 digests in constant time.

use std::time::Duration;

use aws_lc_rs::{constant_time, digest};
use axum::http::HeaderMap;
use base64::Engine as _;
use mcp_auth_core::jwt_claims::{
    Accepted, AudienceRule, ClaimError, ClaimRules, LEEWAY, RegisteredClaims, SIGNATURE_ALGORITHMS,
    check_claims, check_key_algorithm,
};

use crate::AsState;
use crate::error::{AsError, AssertionClaimError, AssertionError, ClientAuthError};
use crate::form::Form;
use crate::store::ClientRecord;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
    /// A signed JWT assertion (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A public client (`token_endpoint_auth_method: none`), identified by `client_id`.
    None,
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead of now a client assertion's `exp` may lie (RFC 7523 §3 ¶4); its `jti`
/// is kept that long (plus the leeway).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The stored client (shared with the client cache).
    pub record: std::sync::Arc<ClientRecord>,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The stored form of a secret: its SHA-256. Client secrets, authorization codes,
/// refresh tokens, sessions and browser bindings are stored only this way, so a copy
/// of the database does not yield a usable secret.
pub fn secret_digest(secret: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Authenticates the client of a request to an endpoint of `state`'s issuer.
pub async fn authenticate(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<AuthenticatedClient, AsError> {
    let store = &state.store;
    let basic = basic_credentials(headers)?;
    let assertion = form.get("client_assertion");
    let post = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        _ => None,
    };
    let methods = usize::from(basic.is_some())
        + usize::from(post.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(ClientAuthError::SeveralMethods.into());
    }
    if let Some(assertion) = assertion {
        return private_key_jwt(state, form, assertion).await;
    }
    let (id, secret, method) = match (basic, post) {
        (Some((id, secret)), None) => (id, secret, AuthMethod::Basic),
        (None, Some((id, secret))) => (id, secret, AuthMethod::Post),
        _ => return Err(ClientAuthError::Required.into()),
    };
    // Compute the digest whether or not the client exists, so both failures take the
    // same path.
    let presented = secret_digest(&secret);
    let matches = |record: &ClientRecord| {
        record.secret_sha256.as_deref().is_some_and(|stored| {
            constant_time::verify_slices_are_equal(stored, &presented).is_ok()
        })
    };
    let mut record = store.client(&id).await?;
    // A cached record may predate a secret changed through another instance: a
    // mismatch is checked once more against the database before it is refused.
    if record.as_ref().is_some_and(|r| !matches(r)) {
        record = store.fresh_client(&id).await?;
    }
    match record {
        Some(record) if matches(&record) => Ok(AuthenticatedClient { record, method }),
        _ => Err(ClientAuthError::WrongSecret { method }.into()),
    }
}

/// Authenticates a confidential client, or identifies a public client by `client_id`
/// when the request carries no credentials and the client is registered with
/// `token_endpoint_auth_method: none` (the authorization code and refresh grants).
pub async fn authenticate_or_public(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<AuthenticatedClient, AsError> {
    let has_credentials = headers.contains_key(axum::http::header::AUTHORIZATION)
        || form.get("client_secret").is_some()
        || form.get("client_assertion").is_some();
    if has_credentials {
        return authenticate(state, headers, form).await;
    }
    let id = form
        .get("client_id")
        .ok_or(ClientAuthError::ClientIdRequired)?;
    let record = state
        .client(id)
        .await?
        .ok_or(ClientAuthError::UnknownClient)?;
    if auth_method(&record) != Some("none") {
        return Err(ClientAuthError::MustAuthenticate.into());
    }
    Ok(AuthenticatedClient {
        record,
        method: AuthMethod::None,
    })
}

/// RFC 7523 §2.2 and §3: the assertion is a JWT signed by a key the client registered,
/// `iss` = `sub` = the client id, `aud` names this AS (issuer or token endpoint), `exp`
/// in the future (and at most [`MAX_ASSERTION_LIFETIME`] away), a `jti` never seen
/// before. Asymmetric algorithms only ([`SIGNATURE_ALGORITHMS`]): no `none`, no HMAC,
/// and the algorithm must be one the registered key is for.
async fn private_key_jwt(
    state: &AsState,
    form: &Form,
    assertion: &str,
) -> Result<AuthenticatedClient, AsError> {
    if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
        return Err(ClientAuthError::AssertionType.into());
    }
    let invalid = |e: AssertionError| AsError::from(ClientAuthError::Assertion(e));
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| invalid(AssertionError::NotAJwt))?;
    if !SIGNATURE_ALGORITHMS.contains(&header.alg) {
        return Err(invalid(AssertionError::SymmetricAlgorithm));
    }
    if header.crit.is_some() || mcp_auth_core::jws::header_has_crit(assertion) {
        return Err(invalid(AssertionError::Critical));
    }
    // The client id comes from the (not yet verified) claims; nothing is trusted before
    // the signature checks out with that client's registered key.
    let unverified: RegisteredClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid(AssertionError::ClaimsUnreadable))?;
    let client_id = unverified
        .sub
        .clone()
        .ok_or_else(|| invalid(AssertionError::SubRequired))?;
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid(AssertionError::ClientIdDiffers));
    }
    let record = state
        .client(&client_id)
        .await?
        .ok_or_else(|| invalid(AssertionError::UnknownClient))?;
    if auth_method(&record) != Some("private_key_jwt") {
        return Err(invalid(AssertionError::NotPrivateKeyJwt));
    }
    // The client's keys: registered inline (`jwks`), or published at `jwks_uri` and
    // fetched through the SSRF guard (64 KiB, cached per max-age). The guard's errors
    // are fixed texts; the details are in its log line.
    let jwks = match (
        record.metadata.get("jwks"),
        record.metadata.get("jwks_uri").and_then(|u| u.as_str()),
    ) {
        (Some(j), _) => j.clone(),
        (None, Some(uri)) => state
            .outbound
            .json(uri, JWKS_URI_MAX_BYTES)
            .await
            .map_err(|e| invalid(AssertionError::JwksUri(e)))?,
        (None, None) => serde_json::Value::Null,
    };
    let keys: Vec<jsonwebtoken::jwk::Jwk> = jwks
        .get("keys")
        .and_then(|k| serde_json::from_value(k.clone()).ok())
        .unwrap_or_default();
    let candidates: Vec<&jsonwebtoken::jwk::Jwk> = keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .collect();
    let key = match candidates.as_slice() {
        [one] => *one,
        [] => return Err(invalid(AssertionError::NoMatchingKey)),
        _ => return Err(invalid(AssertionError::SeveralKeys)),
    };
    // RFC 8725 §3.1: the key decides which algorithm it verifies, by its type, curve
    // and declared `alg`.
    check_key_algorithm(key, header.alg)
        .map_err(|_| invalid(AssertionError::AlgorithmNotTheKeys))?;
    let decoding = jsonwebtoken::DecodingKey::from_jwk(key)
        .map_err(|_| invalid(AssertionError::KeyUnusable))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = std::collections::HashSet::new();
    let claims = jsonwebtoken::decode::<RegisteredClaims>(assertion, &decoding, &validation)
        .map_err(|_| invalid(AssertionError::BadSignature))?
        .claims;
    let accepted =
        check_assertion_claims(&claims, &client_id, &state.config.issuer, state.clock.now())
            .map_err(|e| invalid(e.into()))?;
    let jti = claims
        .jti
        .as_deref()
        .ok_or_else(|| invalid(AssertionClaimError::JtiRequired.into()))?;
    // The `jti` is remembered for as long as the assertion would be accepted.
    if !state
        .store
        .record_assertion_jti(&client_id, jti, accepted.accepted_until)
        .await?
    {
        return Err(invalid(AssertionError::Replayed));
    }
    Ok(AuthenticatedClient {
        record,
        method: AuthMethod::PrivateKeyJwt,
    })
}

/// The largest JWK Set accepted from a client's `jwks_uri`.
const JWKS_URI_MAX_BYTES: usize = 64 * 1024;

/// RFC 7523 §3 for a client assertion, with the shared claim check of
/// [`mcp_auth_core::jwt_claims`]: `iss` = `sub` = `client_id`; `aud` this AS's issuer
/// or token endpoint; `exp` required, not passed, at most [`MAX_ASSERTION_LIFETIME`]
/// ahead; `nbf` and `iat` not in the future; `jti` required; all with [`LEEWAY`].
fn check_assertion_claims(
    claims: &RegisteredClaims,
    client_id: &str,
    issuer: &str,
    now: i64,
) -> Result<Accepted, AssertionClaimError> {
    if claims.sub.as_deref() != Some(client_id) {
        return Err(AssertionClaimError::NotTheClient);
    }
    let token_endpoint = format!("{issuer}/token");
    let audiences = [issuer, token_endpoint.as_str()];
    let rules = ClaimRules {
        issuer: client_id,
        audience: AudienceRule::AnyOf(&audiences),
        leeway: LEEWAY,
        max_lifetime: Some(MAX_ASSERTION_LIFETIME),
        require_jti: true,
        now,
    };
    check_claims(claims, &rules).map_err(|e| match e {
        ClaimError::Missing("iss") | ClaimError::WrongIssuer => AssertionClaimError::NotTheClient,
        ClaimError::Missing("aud") | ClaimError::WrongAudience => {
            AssertionClaimError::WrongAudience
        }
        ClaimError::Missing("exp") => AssertionClaimError::ExpRequired,
        ClaimError::Missing("jti") => AssertionClaimError::JtiRequired,
        ClaimError::Expired => AssertionClaimError::Expired,
        ClaimError::LifetimeTooLong => AssertionClaimError::LifetimeTooLong,
        ClaimError::NotYetValid | ClaimError::IssuedInFuture => AssertionClaimError::NotYetValid,
        // A rule added to the shared check later.
        _ => AssertionClaimError::Unacceptable,
    })
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if present.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ClientAuthError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ClientAuthError::MalformedBasic)?;
    let (scheme, rest) = text
        .split_once(' ')
        .ok_or(ClientAuthError::MalformedBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ClientAuthError::UnsupportedScheme(scheme.to_owned()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| ClientAuthError::MalformedBasic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ClientAuthError::MalformedBasic)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or(ClientAuthError::MalformedBasic)?;
    // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
    let id = form_decode(id);
    let secret = form_decode(secret);
    if id.is_empty() {
        return Err(ClientAuthError::MalformedBasic);
    }
    Ok(Some((id, secret)))
}

/// The client's registered `token_endpoint_auth_method`.
fn auth_method(client: &ClientRecord) -> Option<&str> {
    client
        .metadata
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
}

/// One part of HTTP Basic client credentials, form-decoded as one value (RFC 6749
/// §2.3.1 and Appendix B): `+` is a space, then `%XX` escapes are decoded (invalid
/// UTF-8 replaced, as the form decoder does). An `&` or `=` is part of the value, not a
/// separator.
fn form_decode(s: &str) -> String {
    if !s.contains(['+', '%']) {
        return s.to_owned();
    }
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use mcp_auth_core::jwt_claims::Audience;

    const AS: &str = "https://as.example";
    const NOW: i64 = 1_000_000;

    fn claims() -> RegisteredClaims {
        RegisteredClaims {
            iss: Some("c1".into()),
            sub: Some("c1".into()),
            aud: Some(Audience::One(format!("{AS}/token"))),
            exp: Some(NOW + 60),
            nbf: None,
            iat: Some(NOW),
            jti: Some("j1".into()),
        }
    }

    /// The check's answer, the error as the text after "client assertion: " in the
    /// `error_description`.
    fn check(f: impl FnOnce(&mut RegisteredClaims)) -> Result<Accepted, String> {
        let mut c = claims();
        f(&mut c);
        check_assertion_claims(&c, "c1", AS, NOW).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_assertion_is_remembered_until_exp_plus_the_leeway() {
        assert_eq!(
            check(|_| ()),
            Ok(Accepted {
                exp: NOW + 60,
                accepted_until: NOW + 65
            })
        );
        // The issuer itself, alone or in an array, is an accepted audience too.
        assert!(check(|c| c.aud = Some(Audience::One(AS.into()))).is_ok());
        assert!(check(|c| c.aud = Some(Audience::Many(vec!["x".into(), AS.into()]))).is_ok());
    }

    #[test]
    fn every_claim_rule_of_rfc7523_section_3() {
        type Change = fn(&mut RegisteredClaims);
        let cases: [(&str, Change); 11] = [
            ("`iss` and `sub` must both be the client id", |c| {
                c.sub = Some("c2".into())
            }),
            ("`iss` and `sub` must both be the client id", |c| {
                c.iss = Some("c2".into())
            }),
            ("`iss` and `sub` must both be the client id", |c| {
                c.iss = None
            }),
            (
                "`aud` must be this authorization server (issuer or token endpoint)",
                |c| c.aud = Some(Audience::One("https://elsewhere".into())),
            ),
            (
                "`aud` must be this authorization server (issuer or token endpoint)",
                |c| c.aud = None,
            ),
            ("`exp` is required", |c| c.exp = None),
            ("expired", |c| c.exp = Some(NOW - 5)),
            ("`exp` is too far in the future", |c| {
                c.exp = Some(NOW + 606)
            }),
            ("not valid yet", |c| c.iat = Some(NOW + 6)),
            ("not valid yet", |c| c.nbf = Some(NOW + 6)),
            ("`jti` is required", |c| c.jti = None),
        ];
        for (why, change) in cases {
            assert_eq!(check(change), Err(why.to_owned()), "{why}");
        }
    }

    /// Item 17: the assertion check computed `exp + leeway` with a plain add, which
    /// overflowed (a panic in debug builds) for `exp = i64::MAX`.
    #[test]
    fn item_17_an_assertion_with_exp_i64_max_is_refused_without_overflow() {
        assert_eq!(
            check(|c| c.exp = Some(i64::MAX)),
            Err("`exp` is too far in the future".to_owned())
        );
        assert_eq!(
            check_assertion_claims(&claims(), "c1", AS, i64::MAX),
            Err(AssertionClaimError::Expired)
        );
    }

    /// Item 17: one leeway for assertions and access tokens (it was 30 s here, 5 s
    /// for access tokens): an assertion that expired 5 s ago is refused.
    #[test]
    fn item_17_assertions_use_the_shared_5_second_leeway() {
        assert!(check(|c| c.exp = Some(NOW - 4)).is_ok());
        assert_eq!(check(|c| c.exp = Some(NOW - 5)), Err("expired".to_owned()));
        assert_eq!(
            check(|c| c.iat = Some(NOW + 29)),
            Err("not valid yet".to_owned())
        );
    }

    #[test]
    fn the_algorithm_must_be_the_registered_keys() {
        let p256: jsonwebtoken::jwk::Jwk = serde_json::from_value(
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
        )
        .unwrap();
        assert!(check_key_algorithm(&p256, jsonwebtoken::Algorithm::ES256).is_ok());
        for alg in [
            jsonwebtoken::Algorithm::ES384,
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::EdDSA,
        ] {
            assert!(check_key_algorithm(&p256, alg).is_err(), "{alg:?}");
        }
        assert!(!SIGNATURE_ALGORITHMS.contains(&jsonwebtoken::Algorithm::HS256));
    }

    /// RFC 6749 §2.3.1: each part of Basic credentials is one form-encoded value.
    #[test]
    fn basic_credentials_parts_are_form_decoded_as_one_value() {
        for (encoded, decoded) in [
            ("plain", "plain"),
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("%3A%25", ":%"),
            ("a&b", "a&b"),
            ("a&b%21", "a&b!"),
            ("k=v+w", "k=v w"),
            ("caf%C3%A9", "café"),
            ("café+x", "café x"),
            ("%FF", "\u{FFFD}"),
            ("%zz", "%zz"),
            ("100%", "100%"),
            ("%2", "%2"),
            ("%2+", "%2 "),
            ("", ""),
        ] {
            assert_eq!(form_decode(encoded), decoded, "{encoded}");
        }
    }
}
