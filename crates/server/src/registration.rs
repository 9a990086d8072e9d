//! RFC 7591 dynamic client registration (`POST /register`), with `application_type`
//! (`web`, the default, or `native`), a rate limit per client address, and a switch to
//! turn it off (`dynamic_registration = false`).
//!
//! Anyone can register, so a registered client must not be able to get anything
//! without a user: only the `authorization_code` grant (with `refresh_token`) is
//! accepted, where a signed-in user consents to each client, resource and scope.
//! Machine clients (`client_credentials`) come from the operator's configuration or
//! `mcp-auth as client add`, never from this endpoint (docs/security.md).
//!
//! Every stored member has a length cap, so an anonymous caller cannot make the store
//! or the consent page hold more than a few KiB per registration.
//!
//! Rules for redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7, MCP authorization §"Redirect
//! URI"): absolute, no fragment; `https`, or `http` on a loopback host; `native` clients
//! may also use a private-use scheme with a dot in it (`com.example.app:/cb`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AsState;
use crate::error::{AsError, GrantTypesError, MetadataError, RedirectUriError, RegistrationError};
use crate::peer::PeerAddr;
use crate::store::ClientRecord;
use crate::token::{new_token_id, no_store};

/// The grants a dynamically registered (or metadata-document) client may use: those
/// in which a user consents. Shared with [`crate::cimd`].
pub const USER_CONSENT_GRANTS: [&str; 2] = ["authorization_code", "refresh_token"];

/// Caps on what one registration may store.
pub mod caps {
    /// The largest registration request, bytes.
    pub const BODY: usize = 16 * 1024;
    /// `client_name`, characters.
    pub const CLIENT_NAME: usize = 128;
    /// Number of `redirect_uris`.
    pub const REDIRECT_URIS: usize = 8;
    /// One URI (`redirect_uris` entries, `jwks_uri`), bytes.
    pub const URI: usize = 1024;
    /// `scope`, bytes.
    pub const SCOPE: usize = 1024;
    /// Keys in an inline `jwks`.
    pub const JWKS_KEYS: usize = 4;
    /// Entries of `grant_types` and `response_types`.
    pub const LIST: usize = 4;
}

/// `v[key]` as a list of strings, if present.
fn strings(v: &Value, key: &'static str) -> Result<Option<Vec<String>>, MetadataError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or(MetadataError::NotStrings(key))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(MetadataError::NotStrings(key)),
    }
}

/// Checks one redirect URI for an application type.
pub fn check_redirect_uri(uri: &str, application_type: &str) -> Result<(), RedirectUriError> {
    let u = url::Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute(uri.to_owned()))?;
    if u.fragment().is_some() {
        return Err(RedirectUriError::Fragment(uri.to_owned()));
    }
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(RedirectUriError::HttpNotLoopback(uri.to_owned())),
        scheme if application_type == "native" && scheme.contains('.') => Ok(()),
        scheme => Err(RedirectUriError::SchemeNotAllowed {
            uri: uri.to_owned(),
            scheme: scheme.to_owned(),
            application_type: application_type.to_owned(),
        }),
    }
}

/// Whether the `redirect_uri` of an authorization request is the registered one:
/// the same string, or for an `http` loopback redirect the same but for the port.
/// RFC 8252 §7.3: the AS "MUST allow any port to be specified at the time of the
/// request for loopback IP redirect URIs", since a native app takes whatever port
/// the system gives it. `localhost` is treated alike (the MCP spec's examples use
/// it). Scheme, host, path and query must still match exactly.
pub fn redirect_uri_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = matches!(r.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    loopback
        && r.scheme() == "http"
        && g.scheme() == "http"
        && r.host_str() == g.host_str()
        && r.username() == g.username()
        && r.password().is_none()
        && g.password().is_none()
        && r.path() == g.path()
        && r.query() == g.query()
        && r.fragment().is_none()
        && g.fragment().is_none()
}

/// `POST /register`.
pub async fn register(
    State(state): State<AsState>,
    peer: PeerAddr,
    body: Bytes,
) -> Result<Response, AsError> {
    if !state.config.dynamic_registration {
        return Err(RegistrationError::Disabled.into());
    }
    if !state
        .registrations
        .allow(peer.0, state.config.registrations_per_minute)
    {
        metrics::counter!("mcp_auth_registrations_total", "outcome" => "rate_limited").increment(1);
        return Err(RegistrationError::RateLimited.into());
    }
    if body.len() > caps::BODY {
        return Err(RegistrationError::from(MetadataError::TooLarge).into());
    }
    let meta = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or(RegistrationError::Metadata(MetadataError::NotAnObject))?;
    registered(&state, &meta).await
}

/// `meta[key]` as a string of at most `max` bytes.
fn capped_str<'a>(
    meta: &'a Value,
    key: &'static str,
    max: usize,
) -> Result<Option<&'a str>, MetadataError> {
    match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s)),
        Some(Value::String(_)) => Err(MetadataError::TooLong { key, max }),
        Some(_) => Err(MetadataError::NotAString(key)),
    }
}

/// Refuses any grant a user does not consent to (`client_credentials` first of all):
/// an anonymous registration must not yield tokens without a user. The message says
/// where machine clients come from.
pub fn check_user_consent_grants(grant_types: &[String]) -> Result<(), GrantTypesError> {
    if grant_types.len() > caps::LIST {
        return Err(GrantTypesError::TooMany);
    }
    if let Some(g) = grant_types
        .iter()
        .find(|g| !USER_CONSENT_GRANTS.contains(&g.as_str()))
    {
        return Err(if g == "client_credentials" {
            GrantTypesError::ClientCredentials
        } else {
            GrantTypesError::NotUserConsent(g.clone())
        });
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(GrantTypesError::AuthorizationCodeRequired);
    }
    Ok(())
}

/// The checked redirect URIs of a registration.
fn redirect_uris(meta: &Value, application_type: &str) -> Result<Vec<String>, RegistrationError> {
    let redirect_uris = strings(meta, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(RedirectUriError::Required.into());
    }
    if redirect_uris.len() > caps::REDIRECT_URIS {
        return Err(RedirectUriError::TooMany.into());
    }
    if let Some(long) = redirect_uris.iter().find(|u| u.len() > caps::URI) {
        return Err(RedirectUriError::TooLong(long.len()).into());
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, application_type)?;
    }
    Ok(redirect_uris)
}

/// private_key_jwt: the client's public keys, inline or at a URL (fetched later,
/// through the SSRF guard, when the client authenticates).
fn client_keys(state: &AsState, meta: &Value) -> Result<(&'static str, Value), MetadataError> {
    match (meta.get("jwks"), meta.get("jwks_uri")) {
        (Some(jwks), None) => {
            let list = jwks
                .get("keys")
                .and_then(Value::as_array)
                .ok_or(MetadataError::JwksNotASet)?;
            if list.len() > caps::JWKS_KEYS {
                return Err(MetadataError::TooManyKeys);
            }
            for k in list {
                let jwk = mcp_auth_httpsig::Jwk::from_json(&k.to_string())?;
                if jwk.is_private() {
                    return Err(MetadataError::PrivateKey);
                }
                mcp_auth_httpsig::VerifyingKey::from_jwk(&jwk)?;
            }
            Ok(("jwks", jwks.clone()))
        }
        (None, Some(Value::String(uri))) if uri.len() <= caps::URI => {
            state
                .outbound
                .check_url(uri)
                .map_err(MetadataError::JwksUri)?;
            Ok(("jwks_uri", json!(uri)))
        }
        _ => Err(MetadataError::KeysNeeded),
    }
}

async fn registered(state: &AsState, meta: &Value) -> Result<Response, AsError> {
    let application_type = match meta.get("application_type") {
        None => "web".to_owned(),
        Some(Value::String(t)) if t == "web" || t == "native" => t.clone(),
        Some(_) => return Err(metadata(MetadataError::ApplicationType)),
    };
    let grant_types = strings(meta, "grant_types")
        .map_err(metadata)?
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    check_user_consent_grants(&grant_types).map_err(|e| metadata(e.into()))?;
    let response_types = strings(meta, "response_types")
        .map_err(metadata)?
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.len() > caps::LIST {
        return Err(metadata(MetadataError::TooManyResponseTypes));
    }
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata(MetadataError::ResponseType));
    }
    let method = match meta.get("token_endpoint_auth_method") {
        None => "client_secret_basic".to_owned(),
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "none" | "client_secret_basic" | "client_secret_post" | "private_key_jwt"
            ) =>
        {
            m.clone()
        }
        Some(Value::String(m)) => return Err(metadata(MetadataError::AuthMethod(m.clone()))),
        Some(_) => {
            return Err(metadata(MetadataError::NotAString(
                "token_endpoint_auth_method",
            )));
        }
    };
    let redirect_uris = redirect_uris(meta, &application_type)?;
    let all_scopes: Vec<String> = state
        .config
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().cloned())
        .collect();
    let scopes: Vec<String> = match capped_str(meta, "scope", caps::SCOPE).map_err(metadata)? {
        Some(s) => {
            let asked = mcp_auth_core::scope::parse(s);
            if let Some(unknown) = asked.iter().find(|x| !all_scopes.contains(x)) {
                return Err(metadata(MetadataError::UnknownScope(unknown.clone())));
            }
            asked
        }
        None => all_scopes,
    };
    let keys = if method == "private_key_jwt" {
        Some(client_keys(state, meta).map_err(metadata)?)
    } else {
        None
    };
    let mut httpsig =
        crate::httpsig_token::registration_metadata(meta).map_err(|e| metadata(e.into()))?;
    httpsig.extend(crate::dpop_token::registration_metadata(meta).map_err(|e| metadata(e.into()))?);
    let client_name = match meta.get("client_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if n.chars().count() <= caps::CLIENT_NAME => Some(n.clone()),
        Some(Value::String(_)) => return Err(metadata(MetadataError::ClientNameTooLong)),
        Some(_) => return Err(metadata(MetadataError::NotAString("client_name"))),
    };
    let client_id = new_token_id()?;
    let secret = if method != "none" && method != "private_key_jwt" {
        Some(mcp_auth_core::random_token::<32>()?)
    } else {
        None
    };
    let issued_at = state.clock.now();
    let mut stored = json!({
        "grant_types": grant_types, "response_types": response_types, "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": method, "scopes": scopes, "application_type": application_type,
        "client_name": client_name.clone().unwrap_or_else(|| client_id.clone()), "source": "dcr",
    });
    if let Some((k, v)) = keys {
        stored[k] = v;
    }
    for (k, v) in &httpsig {
        stored[*k] = v.clone();
    }
    state
        .store
        .insert_client(&ClientRecord {
            client_id: client_id.clone(),
            secret_sha256: secret.as_deref().map(crate::client_auth::secret_digest),
            metadata: stored,
            created_at: issued_at,
        })
        .await?;
    metrics::counter!("mcp_auth_registrations_total", "outcome" => "registered").increment(1);
    tracing::info!(client_id = %client_id, application_type = %application_type, "registered client (RFC 7591)");
    let mut body = json!({
        "client_id": client_id, "client_id_issued_at": issued_at,
        "redirect_uris": redirect_uris, "grant_types": grant_types, "response_types": response_types,
        "token_endpoint_auth_method": method, "application_type": application_type, "scope": scopes.join(" "),
    });
    if let Some(name) = client_name {
        body["client_name"] = json!(name);
    }
    for (k, v) in httpsig {
        body[k] = v;
    }
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// An `invalid_client_metadata` answer.
fn metadata(e: MetadataError) -> AsError {
    RegistrationError::Metadata(e).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_redirect_uris_match_on_any_port_and_nothing_else_does() {
        use super::redirect_uri_matches as m;
        assert!(m(
            "http://127.0.0.1:33418/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(m(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(m("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(m(
            "http://localhost:3000/cb?x=1",
            "http://localhost:4000/cb?x=1"
        ));
        assert!(m("https://app.example/cb", "https://app.example/cb"));
        for (registered, given) in [
            ("https://app.example/cb", "https://app.example:8443/cb"),
            ("http://127.0.0.1:1/callback", "http://127.0.0.1:2/other"),
            ("http://127.0.0.1:1/callback", "http://127.0.0.2:1/callback"),
            ("http://127.0.0.1:1/callback", "http://localhost:1/callback"),
            (
                "http://127.0.0.1:1/callback",
                "https://127.0.0.1:1/callback",
            ),
            ("http://127.0.0.1:1/cb?a=1", "http://127.0.0.1:2/cb?a=2"),
            ("http://127.0.0.1:1/cb", "http://127.0.0.1:2/cb#f"),
            ("http://127.0.0.1:1/cb", "http://u@127.0.0.1:2/cb"),
            ("http://127.0.0.1:1/cb", "not a url"),
        ] {
            assert!(!m(registered, given), "{registered} vs {given}");
        }
    }
}
