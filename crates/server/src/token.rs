//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE (§4.1.3,
//! RFC 7636 §4.6), `refresh_token` (§6, rotated for public clients, a reused token
//! revokes its family), `client_credentials` (§4.4), all with RFC 8707 resources,
//! issuing RFC 9068 JWT access tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::AccessTokenClaims;
use serde_json::json;

use crate::AsState;
use crate::client_auth::{AuthenticatedClient, authenticate, authenticate_or_public};
use crate::error::{AsError, InternalError, TokenRequestError};
use crate::form::Form;
use crate::httpsig_token::{BoundKey, verify_token_request};

/// `POST /token`.
pub async fn token(
    State(state): State<AsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AsError> {
    let form = Form::parse(&body, &["resource"])?;
    let grant_type = form.require("grant_type")?;
    let client = match grant_type {
        "client_credentials" => authenticate(&state, &headers, &form).await?,
        "authorization_code" | "refresh_token" => {
            authenticate_or_public(&state, &headers, &form).await?
        }
        other => {
            return Err(TokenRequestError::UnsupportedGrantType(other.to_owned()).into());
        }
    };
    // draft-richer-oauth-httpsig-03 §2.3: a signature tagged
    // `httpsig-oauth-token-request` asks for a token bound to its key, on any grant;
    // RFC 9449 §5: so does a `DPoP` proof. One request binds to one key.
    let signed = verify_token_request(&state, &client.record, &headers, &body).await?;
    let proved = crate::dpop_token::verify_token_request(&state, &client.record, &headers).await?;
    let bound = match (signed, proved) {
        (Some(_), Some(_)) => return Err(TokenRequestError::SignatureAndDpopProof.into()),
        (signed, proved) => signed.or(proved),
    };
    let bound = bound.as_ref();
    let mut response = match grant_type {
        "client_credentials" => client_credentials(&state, &client, &form, bound).await,
        "authorization_code" => {
            crate::code_grant::authorization_code(&state, &client, &form, bound).await
        }
        _ => crate::code_grant::refresh_token(&state, &client, &form, bound).await,
    }?;
    // RFC 9449 §8.2: the next nonce comes with the answer.
    if let Some(nonce) = crate::dpop_token::next_nonce(&state)
        && let Ok(v) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert("dpop-nonce", v);
    }
    Ok(response)
}

/// RFC 6749 §4.4 with RFC 8707: one `resource`, scopes within what the client may
/// have and the resource defines.
async fn client_credentials(
    state: &AsState,
    client: &AuthenticatedClient,
    form: &Form,
    bound: Option<&BoundKey>,
) -> Result<Response, AsError> {
    if !client.record.allows_grant("client_credentials") {
        return Err(TokenRequestError::ClientCredentialsNotAllowed.into());
    }
    let resource = single_resource(state, form)?;
    let client_scopes = client.record.list("scopes");
    let granted = crate::scope::grant_scopes(form.get("scope"), resource, &client_scopes)?;
    let (response, _) = issue_access_token(
        state,
        &client.record.client_id,
        &client.record.client_id,
        &resource.uri,
        &granted,
        None,
        bound,
    )?;
    metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "client_credentials").increment(1);
    Ok(response)
}

/// Signs an access token for `sub` at `resource` and builds the token response, with a
/// refresh token when one is given. A token bound to a key (`bound`) carries its
/// `cnf` and has `token_type: httpsig` (draft §6, HTTPSIG-AS-12), or `DPoP` for a
/// DPoP key (`cnf.jkt`, RFC 9449 §5). Returns the response and the access token's
/// `jti`.
pub(crate) fn issue_access_token(
    state: &AsState,
    client_id: &str,
    sub: &str,
    resource: &str,
    scopes: &[String],
    refresh_token: Option<&str>,
    bound: Option<&BoundKey>,
) -> Result<(Response, String), AsError> {
    let now = state.clock.now();
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: sub.to_owned(),
        aud: resource.to_owned(),
        exp: now + state.config.access_token_ttl,
        iat: now,
        jti: new_token_id()?,
        client_id: client_id.to_owned(),
        scope: scopes.join(" "),
        cnf: bound.map(|b| b.confirmation.clone()),
    };
    let keys = state.keys.current();
    let access_token = keys.active.sign(&claims).map_err(InternalError::from)?;
    tracing::info!(client_id = %claims.client_id, sub = %claims.sub, aud = %claims.aud, scope = %claims.scope, jti = %claims.jti, bound = claims.cnf.as_ref().map(|c| c.member()), "issued access token");
    let mut body = json!({
        "access_token": access_token,
        "token_type": mcp_auth_core::Confirmation::token_type(claims.cnf.as_ref()),
        "expires_in": state.config.access_token_ttl,
    });
    if !claims.scope.is_empty() {
        body["scope"] = json!(claims.scope);
    }
    if let Some(r) = refresh_token {
        body["refresh_token"] = json!(r);
    }
    Ok((no_store(Json(body).into_response()), claims.jti))
}

/// RFC 8707 §2: `resource` names exactly one configured resource.
pub(crate) fn single_resource<'s>(
    state: &'s AsState,
    form: &Form,
) -> Result<&'s crate::config::Resource, TokenRequestError> {
    let resources = form.all("resource");
    match resources.as_slice() {
        [] => Err(TokenRequestError::ResourceRequired),
        [one] => state
            .config
            .resource(one)
            .ok_or_else(|| TokenRequestError::UnknownResource((*one).to_owned())),
        _ => Err(TokenRequestError::SeveralResources),
    }
}

/// 128 random bits, base64url: token ids, client ids, pending request ids.
pub(crate) fn new_token_id() -> Result<String, mcp_auth_core::RandomError> {
    mcp_auth_core::random_token::<16>()
}

/// RFC 6749 §5.1: token responses are not cached.
pub(crate) fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
