//! RFC 7662 introspection and RFC 7009 revocation of the access tokens this AS issued.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mcp_auth_core::{AccessTokenClaims, TokenVerifier};
use serde_json::json;

use crate::AsState;
use crate::client_auth::authenticate;
use crate::error::{AsError, RevocationError};
use crate::form::Form;
use crate::token::no_store;

/// The claims of a token this AS issued and has not revoked, if it is one.
async fn active_claims(state: &AsState, token: &str) -> Result<Option<AccessTokenClaims>, AsError> {
    let keys = state.keys.current();
    let verifier = TokenVerifier::new(state.config.issuer.clone(), None, &keys.jwks);
    let Ok(claims) = verifier.verify(token, state.clock.now()) else {
        return Ok(None);
    };
    if state.store.is_revoked(&claims.jti).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// `POST /introspect` (RFC 7662 §2): any authenticated client may introspect; an
/// unknown, expired, revoked or foreign token is `{"active": false}`.
pub async fn introspect(
    State(state): State<AsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AsError> {
    let form = Form::parse(&body, &[])?;
    authenticate(&state, &headers, &form).await?;
    let token = form.require("token")?;
    let body = match active_claims(&state, token).await? {
        // HTTPSIG-AS-13, RFC 9449 §6.2: the same `cnf` as in the token, and its token
        // type.
        Some(c) => {
            let mut body = json!({
                "active": true,
                "iss": c.iss, "sub": c.sub, "aud": c.aud, "exp": c.exp, "iat": c.iat,
                "jti": c.jti, "client_id": c.client_id, "scope": c.scope,
                "token_type": mcp_auth_core::Confirmation::token_type(c.cnf.as_ref()),
            });
            if let Some(cnf) = &c.cnf {
                body["cnf"] = json!(cnf);
            }
            body
        }
        None => json!({"active": false}),
    };
    Ok(no_store(Json(body).into_response()))
}

/// `POST /revoke` (RFC 7009 §2): the client that a token was issued to may revoke it;
/// an invalid or unknown token is answered 200 as the RFC asks (§2.2).
pub async fn revoke(
    State(state): State<AsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AsError> {
    let form = Form::parse(&body, &[])?;
    let client = authenticate(&state, &headers, &form).await?;
    let token = form.require("token")?;
    if let Some(hint) = form.get("token_type_hint")
        && hint != "access_token"
        && hint != "refresh_token"
    {
        // §2.1: an unknown hint may be ignored; we say so in the log only.
        tracing::debug!(hint, "unknown token_type_hint ignored");
    }
    if let Some(claims) = active_claims(&state, token).await? {
        if claims.client_id != client.record.client_id {
            return Err(RevocationError::IssuedToAnotherClient.into());
        }
        state.store.revoke(&claims.jti, claims.exp).await?;
        tracing::info!(client_id = %claims.client_id, jti = %claims.jti, "revoked access token");
    }
    Ok(no_store(().into_response()))
}
