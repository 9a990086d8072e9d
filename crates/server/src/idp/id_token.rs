//! ID tokens (OIDC Core §2, §3.1.3.3; profiles/enterprise-managed-authorization.md
//! §7.1): issued with the tokens of an authorization code whose request had the
//! `openid` scope, and again at each refresh of that grant (OIDC Core §12.2).

use serde::Serialize;
use serde_json::Value;

use crate::AsState;
use crate::error::{AsError, GrantError, InternalError};

/// The `typ` of an ID token (D19: `JWT`, as OIDC relying parties expect).
pub const ID_TOKEN_TYP: &str = "JWT";

/// The members of a code or refresh grant that carry the sign-in into its ID tokens.
pub(crate) const OPENID_MEMBER: &str = "openid";
pub(crate) const NONCE_MEMBER: &str = "nonce";
pub(crate) const AUTH_TIME_MEMBER: &str = "auth_time";

/// The claims of an ID token: these and no others (D18).
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// The ID token for a grant (a stored code or refresh grant), or `None` when the
/// grant did not ask for one. The user is looked up again: a user removed since the
/// sign-in gets no ID token (the grant fails).
pub(crate) async fn for_grant(
    state: &AsState,
    grant: &Value,
    client_id: &str,
    with_nonce: bool,
) -> Result<Option<String>, AsError> {
    // Without the role (turned off since the sign-in) there is no ID token to give.
    if grant.get(OPENID_MEMBER).and_then(Value::as_bool) != Some(true)
        || !state.config.identity_provider.is_enabled()
    {
        return Ok(None);
    }
    let username = grant.get("username").and_then(Value::as_str).unwrap_or("");
    let Some(user) = state.store.user(username).await? else {
        return Err(GrantError::UserGone.into());
    };
    let auth_time = grant
        .get(AUTH_TIME_MEMBER)
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let nonce = if with_nonce {
        grant.get(NONCE_MEMBER).and_then(Value::as_str)
    } else {
        None
    };
    sign(state, &user.subject, client_id, auth_time, nonce).map(Some)
}

/// Signs an ID token for `subject`, issued to `client_id`.
fn sign(
    state: &AsState,
    subject: &str,
    client_id: &str,
    auth_time: i64,
    nonce: Option<&str>,
) -> Result<String, AsError> {
    let now = state.clock.now();
    let keys = state.keys.current();
    let key = keys.identity.as_ref().ok_or(InternalError::NoIdentityKey)?;
    let claims = IdTokenClaims {
        iss: &state.config.issuer,
        sub: subject,
        aud: client_id,
        iat: now,
        exp: now + state.config.identity_provider.id_token_ttl,
        auth_time,
        nonce,
    };
    let token = key
        .sign_typed(ID_TOKEN_TYP, &claims)
        .map_err(InternalError::from)?;
    tracing::info!(client_id, sub = subject, "issued ID token");
    Ok(token)
}
