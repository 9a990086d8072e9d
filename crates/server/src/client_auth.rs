//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1). Exactly one
//! method per request; secrets compared as SHA-256 digests in constant time.

use aws_lc_rs::{constant_time, digest};
use axum::http::HeaderMap;
use base64::Engine as _;
use mcp_auth_core::ErrorCode;

use crate::error::AsError;
use crate::form::Form;
use crate::store::{ClientRecord, Store};

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
}

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

/// Authenticates the client of a request.
pub async fn authenticate(
    store: &Store,
    headers: &HeaderMap,
    form: &Form,
) -> Result<AuthenticatedClient, AsError> {
    let basic = basic_credentials(headers)?;
    let post = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        _ => None,
    };
    let (id, secret, method) = match (basic, post) {
        (Some(_), Some(_)) => {
            return Err(AsError::oauth(
                ErrorCode::InvalidRequest,
                "use one client authentication method, not HTTP Basic and client_secret together",
            ));
        }
        (Some((id, secret)), None) => (id, secret, AuthMethod::Basic),
        (None, Some((id, secret))) => (id, secret, AuthMethod::Post),
        (None, None) => {
            return Err(AsError::oauth(
                ErrorCode::InvalidClient,
                "client authentication is required",
            ));
        }
    };
    let fail = |method| match method {
        AuthMethod::Basic => AsError::BasicAuthFailed("unknown client or wrong secret".into()),
        AuthMethod::Post => {
            AsError::oauth(ErrorCode::InvalidClient, "unknown client or wrong secret")
        }
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
