//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1) and
//! `private_key_jwt` (RFC 7523 §2.2, §3, with `jti` replay protection). Exactly one
//! method per request; secrets compared as SHA-256 digests in constant time.

use aws_lc_rs::{constant_time, digest};
use axum::http::HeaderMap;
use base64::Engine as _;
use mcp_auth_core::ErrorCode;

use crate::AsState;
use crate::error::AsError;
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

/// The longest lifetime accepted for a client assertion (its `jti` is kept that long).
pub const MAX_ASSERTION_LIFETIME: i64 = 600;

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The stored client.
    pub record: ClientRecord,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// SHA-256 of a client secret, as stored.
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
        return Err(AsError::oauth(
            ErrorCode::InvalidRequest,
            "use one client authentication method (RFC 6749 §2.3), not several",
        ));
    }
    if let Some(assertion) = assertion {
        return private_key_jwt(state, form, assertion).await;
    }
    let (id, secret, method) = match (basic, post) {
        (Some((id, secret)), None) => (id, secret, AuthMethod::Basic),
        (None, Some((id, secret))) => (id, secret, AuthMethod::Post),
        _ => {
            return Err(AsError::oauth(
                ErrorCode::InvalidClient,
                "client authentication is required",
            ));
        }
    };
    let fail = |method| match method {
        AuthMethod::Basic => AsError::BasicAuthFailed("unknown client or wrong secret".into()),
        _ => AsError::oauth(ErrorCode::InvalidClient, "unknown client or wrong secret"),
    };
    // Compute the digest whether or not the client exists, so both failures take the
    // same path.
    let presented = secret_digest(&secret);
    let record = store.client(&id).await?;
    match record {
        Some(record)
            if record.secret_sha256.as_deref().is_some_and(|stored| {
                constant_time::verify_slices_are_equal(stored, &presented).is_ok()
            }) =>
        {
            Ok(AuthenticatedClient { record, method })
        }
        _ => Err(fail(method)),
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
    let id = form.get("client_id").ok_or_else(|| {
        AsError::oauth(
            ErrorCode::InvalidClient,
            "client authentication or client_id is required",
        )
    })?;
    let record = state
        .client(id)
        .await?
        .ok_or_else(|| AsError::oauth(ErrorCode::InvalidClient, "unknown client"))?;
    if record
        .metadata
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
        != Some("none")
    {
        return Err(AsError::oauth(
            ErrorCode::InvalidClient,
            "this client must authenticate",
        ));
    }
    Ok(AuthenticatedClient {
        record,
        method: AuthMethod::None,
    })
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// RFC 7523 §2.2 and §3: the assertion is a JWT signed by a key the client registered,
/// `iss` = `sub` = the client id, `aud` names this AS (issuer or token endpoint), `exp`
/// in the future (and at most [`MAX_ASSERTION_LIFETIME`] away), a `jti` never seen
/// before. Asymmetric algorithms only: no `none`, no HMAC.
async fn private_key_jwt(
    state: &AsState,
    form: &Form,
    assertion: &str,
) -> Result<AuthenticatedClient, AsError> {
    let invalid =
        |d: &str| AsError::oauth(ErrorCode::InvalidClient, format!("client assertion: {d}"));
    if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
        return Err(AsError::oauth(
            ErrorCode::InvalidRequest,
            format!("client_assertion_type must be {JWT_BEARER_ASSERTION}"),
        ));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("not a JWT"))?;
    use jsonwebtoken::Algorithm as A;
    if !matches!(
        header.alg,
        A::EdDSA | A::ES256 | A::ES384 | A::RS256 | A::PS256 | A::PS384 | A::PS512
    ) {
        return Err(invalid("only asymmetric signature algorithms are accepted"));
    }
    // The client id comes from the (not yet verified) claims; nothing is trusted before
    // the signature checks out with that client's registered key.
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid("claims do not parse"))?;
    let client_id = unverified
        .sub
        .clone()
        .ok_or_else(|| invalid("`sub` is required"))?;
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid("`client_id` differs from the assertion's `sub`"));
    }
    let record = state
        .client(&client_id)
        .await?
        .ok_or_else(|| invalid("unknown client"))?;
    if record
        .metadata
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
        != Some("private_key_jwt")
    {
        return Err(invalid(
            "this client does not authenticate with private_key_jwt",
        ));
    }
    // The client's keys: registered inline (`jwks`), or published at `jwks_uri` and
    // fetched through the SSRF guard (64 KiB, cached per max-age).
    let jwks = match (
        record.metadata.get("jwks"),
        record.metadata.get("jwks_uri").and_then(|u| u.as_str()),
    ) {
        (Some(j), _) => j.clone(),
        (None, Some(uri)) => state
            .outbound
            .json(uri, 64 * 1024)
            .await
            .map_err(|e| invalid(&format!("the client's jwks_uri could not be used: {e}")))?,
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
        [] => return Err(invalid("no registered key matches the assertion's `kid`")),
        _ => return Err(invalid("several registered keys match: send `kid`")),
    };
    // The JWK `alg` and the JWS `alg` are different enums with the same names.
    if key
        .common
        .key_algorithm
        .is_some_and(|alg| format!("{alg:?}") != format!("{:?}", header.alg))
    {
        return Err(invalid("the assertion's `alg` is not the registered key's"));
    }
    let decoding = jsonwebtoken::DecodingKey::from_jwk(key)
        .map_err(|_| invalid("the registered key is unusable"))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = std::collections::HashSet::new();
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation)
        .map_err(|_| invalid("the signature does not verify with the registered key"))?
        .claims;
    let now = crate::now();
    let leeway = 30;
    if claims.iss.as_deref() != Some(client_id.as_str())
        || claims.sub.as_deref() != Some(client_id.as_str())
    {
        return Err(invalid("`iss` and `sub` must both be the client id"));
    }
    let issuer = &state.config.issuer;
    let token_endpoint = format!("{issuer}/token");
    let audience_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => *a == *issuer || *a == token_endpoint,
        Some(serde_json::Value::Array(list)) => list.iter().any(|a| {
            a.as_str()
                .is_some_and(|a| a == issuer || a == token_endpoint)
        }),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid(
            "`aud` must be this authorization server (issuer or token endpoint)",
        ));
    }
    let exp = claims.exp.ok_or_else(|| invalid("`exp` is required"))?;
    if exp + leeway < now {
        return Err(invalid("expired"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(invalid("`exp` is too far in the future"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + leeway)
        || claims.iat.is_some_and(|iat| iat > now + leeway)
    {
        return Err(invalid("not valid yet"));
    }
    let jti = claims.jti.ok_or_else(|| invalid("`jti` is required"))?;
    if !state
        .store
        .record_assertion_jti(&client_id, &jti, exp + leeway)
        .await?
    {
        return Err(invalid("replayed (`jti` already used)"));
    }
    Ok(AuthenticatedClient {
        record,
        method: AuthMethod::PrivateKeyJwt,
    })
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if present.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AsError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || AsError::BasicAuthFailed("malformed HTTP Basic credentials".into());
    let text = value.to_str().map_err(|_| bad())?;
    let (scheme, rest) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AsError::oauth(
            ErrorCode::InvalidClient,
            format!("unsupported client authentication scheme `{scheme}`"),
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
    let id = form_decode(id);
    let secret = form_decode(secret);
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
