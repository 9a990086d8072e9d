//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE (§4.1.3,
//! RFC 7636 §4.6), `refresh_token` (§6, rotated for public clients, a reused token
//! revokes its family), `client_credentials` (§4.4), all with RFC 8707 resources,
//! issuing RFC 9068 JWT access tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::AccessTokenClaims;
use mcp_auth_core::metric_handle::Kept;

use crate::AsState;
use crate::client_auth::{AuthenticatedClient, authenticate, authenticate_or_public};
use crate::error::{AsError, InternalError, TokenRequestError};
use crate::form::Form;
use crate::httpsig_token::{BoundKey, verify_token_request};

/// `POST /token`. The request is taken whole rather than through the `HeaderMap`
/// extractor, which copies every header (issue 18: six allocations per token).
pub async fn token(State(state): State<AsState>, mut request: Request) -> Response {
    // The headers are moved out (an empty map allocates nothing); the rest of the
    // request, its extensions with a `DefaultBodyLimit` among them, goes on to the body.
    let headers = std::mem::take(request.headers_mut());
    let body = match Bytes::from_request(request, &state).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    token_response(&state, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The token endpoint's answer to one form.
async fn token_response(
    state: &AsState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AsError> {
    // `audience` may repeat in RFC 8693; the exchange refuses that with its own error.
    let form = Form::parse(body, &["resource", "audience"])?;
    let grant_type = form.require("grant_type")?;
    let mut response = if grant_type == JWT_BEARER_GRANT && crate::jwt_bearer::is_offered(state) {
        // RFC 7523 §2.1: a workload assertion or an ID-JAG.
        crate::jwt_bearer::jwt_bearer(state, headers, &form, body).await?
    } else if grant_type == mcp_auth_core::id_jag::TOKEN_EXCHANGE_GRANT
        && state.config.identity_provider.is_enabled()
    {
        // RFC 8693 §2.1: an ID token for an ID-JAG (the identity provider role).
        crate::idp::exchange::exchange(state, headers, &form).await?
    } else {
        client_grant(state, grant_type, headers, &form, body).await?
    };
    // RFC 9449 §8.2: the next nonce comes with the answer.
    if let Some(nonce) = crate::dpop_token::next_nonce(state)
        && let Ok(v) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert("dpop-nonce", v);
    }
    Ok(response)
}

pub use mcp_auth_core::workload_assertion::JWT_BEARER_GRANT;

/// The grants of a client: it authenticates (or names itself, when public), then the
/// grant is served.
async fn client_grant(
    state: &AsState,
    grant_type: &str,
    headers: &HeaderMap,
    form: &Form,
    body: &[u8],
) -> Result<Response, AsError> {
    let client = match grant_type {
        "client_credentials" => authenticate(state, headers, form).await?,
        "authorization_code" | "refresh_token" => {
            authenticate_or_public(state, headers, form).await?
        }
        other => {
            return Err(TokenRequestError::UnsupportedGrantType(other.to_owned()).into());
        }
    };
    let bound = proof_of_possession(state, Some(&client.record), headers, body).await?;
    let bound = bound.as_ref();
    match grant_type {
        "client_credentials" => client_credentials(state, &client, form, bound).await,
        "authorization_code" => {
            crate::code_grant::authorization_code(state, &client, form, bound).await
        }
        _ => crate::code_grant::refresh_token(state, &client, form, bound).await,
    }
}

/// The key a token request asks its token to be bound to, on any grant:
/// draft-richer-oauth-httpsig-03 §2.3, a signature tagged `httpsig-oauth-token-request`;
/// RFC 9449 §5, a `DPoP` proof. One request binds to one key. `client` is `None` for a
/// grant without a client.
pub(crate) async fn proof_of_possession(
    state: &AsState,
    client: Option<&crate::store::ClientRecord>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<BoundKey>, AsError> {
    // Both at once is refused before either is checked, so the answer does not
    // depend on which of the two is broken.
    if headers.contains_key(crate::dpop_token::DPOP_HEADER)
        && crate::httpsig_token::has_token_request_signature(headers)
    {
        return Err(TokenRequestError::SignatureAndDpopProof.into());
    }
    let signed = verify_token_request(state, client, headers, body).await?;
    let proved = crate::dpop_token::verify_token_request(state, client, headers).await?;
    match (signed, proved) {
        (Some(_), Some(_)) => Err(TokenRequestError::SignatureAndDpopProof.into()),
        (signed, proved) => Ok(signed.or(proved)),
    }
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
        &TokenGrant {
            client_id: &client.record.client_id,
            sub: &client.record.client_id,
            resource: &resource.uri,
            scopes: &granted,
            refresh_token: None,
            id_token: None,
            bound,
            lifetime: state.config.access_token_ttl,
        },
    )?;
    // A key of literal labels, its handle kept (`metric_handle`: issue 18).
    static ISSUED: Kept<metrics::Counter> = Kept::new(
        || metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "client_credentials"),
    );
    ISSUED.with(|issued| issued.increment(1));
    Ok(response)
}

/// What an access token is issued for: who, where, what, and for how long.
pub(crate) struct TokenGrant<'a> {
    /// The `client_id` claim.
    pub client_id: &'a str,
    /// The `sub` claim.
    pub sub: &'a str,
    /// The `aud` claim: the resource.
    pub resource: &'a str,
    /// The granted scopes.
    pub scopes: &'a [String],
    /// A refresh token to return with it.
    pub refresh_token: Option<&'a str>,
    /// An ID token to return with it (OIDC Core §3.1.3.3).
    pub id_token: Option<&'a str>,
    /// The key it is bound to.
    pub bound: Option<&'a BoundKey>,
    /// Its lifetime, seconds.
    pub lifetime: i64,
}

/// Signs an access token for `grant` and builds the token response, with a refresh
/// token when one is given. A token bound to a key carries its `cnf` and has
/// `token_type: httpsig` (draft §6, HTTPSIG-AS-12), or `DPoP` for a DPoP key
/// (`cnf.jkt`, RFC 9449 §5). Returns the response and the access token's `jti`.
pub(crate) fn issue_access_token(
    state: &AsState,
    grant: &TokenGrant<'_>,
) -> Result<(Response, String), AsError> {
    let now = state.clock.now();
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: grant.sub.to_owned(),
        aud: grant.resource.to_owned(),
        exp: now + grant.lifetime,
        iat: now,
        jti: new_token_id()?,
        client_id: grant.client_id.to_owned(),
        scope: grant.scopes.join(" "),
        cnf: grant.bound.map(|b| b.confirmation.clone()),
    };
    let keys = state.keys.current();
    let access_token = keys.active.sign(&claims).map_err(InternalError::from)?;
    tracing::info!(client_id = %claims.client_id, sub = %claims.sub, aud = %claims.aud, scope = %claims.scope, jti = %claims.jti, bound = claims.cnf.as_ref().map(|c| c.member()), "issued access token");
    let body = TokenResponse {
        access_token: &access_token,
        token_type: mcp_auth_core::Confirmation::token_type(claims.cnf.as_ref()),
        expires_in: grant.lifetime,
        scope: &claims.scope,
        refresh_token: grant.refresh_token,
        id_token: grant.id_token,
    };
    let response = no_store(Json(body).into_response());
    Ok((response, claims.jti))
}

/// The successful token response (RFC 6749 §5.1; `id_token`: OIDC Core §3.1.3.3),
/// serialized as it is: no JSON map built first.
#[derive(serde::Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    /// Left out when empty: no scope was granted.
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
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
