//! The `authorization_code` (RFC 6749 §4.1.3 with RFC 7636 §4.6) and `refresh_token`
//! (§6) grants.

use axum::response::Response;
use mcp_auth_core::metric_handle::Kept;
use serde_json::{Value, json};

use crate::AsState;
use crate::authorize::{new_secret, pkce_matches};
use crate::client_auth::secret_digest;
use crate::client_auth::{AuthMethod, AuthenticatedClient};
use crate::error::{AsError, GrantError, TokenRequestError};
use crate::form::Form;
use crate::httpsig_token::BoundKey;
use crate::idp::id_token;
use crate::store::{CodeOutcome, RefreshOutcome, string_list};
use crate::token::{TokenGrant, issue_access_token, new_token_id};

/// The refresh grant member holding the thumbprint of the key a public client's
/// tokens are bound to.
const BOUND_THUMBPRINT: &str = "httpsig_jkt";

/// The grant member holding the user's subject identifier when the code was issued.
const SUBJECT: &str = "subject";

/// A user removed since the sign-in has no grants left, and one who now holds the
/// username is not that user: the stored subject must still be the user's. (Grants
/// stored before subjects existed carry none; the username must still exist.)
async fn the_same_user(state: &AsState, grant: &Value) -> Result<(), AsError> {
    let username = field(grant, "username");
    if username.is_empty() {
        return Ok(());
    }
    let pinned = field(grant, SUBJECT);
    match state.store.user(username).await? {
        Some(user) if pinned.is_empty() || user.subject == pinned => Ok(()),
        _ => Err(GrantError::UserGone.into()),
    }
}

/// Refresh tokens live 30 days.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;

/// RFC 8707 at the token endpoint: a `resource` sent with a code or refresh token must
/// be the one the grant is for; `differs` otherwise.
fn same_resource(form: &Form, resource: &str, differs: GrantError) -> Result<(), GrantError> {
    match form.all("resource").as_slice() {
        [] => Ok(()),
        [one] if *one == resource => Ok(()),
        _ => Err(differs),
    }
}

fn field<'g>(grant: &'g Value, key: &str) -> &'g str {
    grant.get(key).and_then(Value::as_str).unwrap_or("")
}

fn scopes_of(grant: &Value) -> Vec<String> {
    string_list(grant, "scopes")
}

/// Exchanges a code. A code presented a second time is refused and what the first
/// exchange produced is revoked (RFC 6749 §4.1.2).
pub async fn authorization_code(
    state: &AsState,
    client: &AuthenticatedClient,
    form: &Form,
    bound: Option<&BoundKey>,
) -> Result<Response, AsError> {
    if !client.record.allows_grant("authorization_code") {
        return Err(TokenRequestError::AuthorizationCodeNotAllowed.into());
    }
    let code = form.require("code")?;
    let verifier = form
        .require("code_verifier")
        .map_err(|_| TokenRequestError::CodeVerifierRequired)?;
    let code_hash = secret_digest(code);
    let now = state.clock.now();
    let (mut grant, expires_at) = match state.store.redeem_code(&code_hash, now).await? {
        CodeOutcome::Unknown => return Err(GrantError::UnknownCode.into()),
        CodeOutcome::AlreadyUsed(grant) => {
            revoke_what_it_produced(state, &grant, now).await?;
            tracing::warn!(client_id = %field(&grant, "client_id"), "authorization code replayed; its tokens are revoked");
            return Err(GrantError::CodeReplayed.into());
        }
        CodeOutcome::Fresh { grant, expires_at } => (grant, expires_at),
    };
    if now > expires_at {
        return Err(GrantError::CodeExpired.into());
    }
    if field(&grant, "client_id") != client.record.client_id {
        return Err(GrantError::CodeOfAnotherClient.into());
    }
    if form.get("redirect_uri") != Some(field(&grant, "redirect_uri")) {
        return Err(GrantError::RedirectUriMismatch.into());
    }
    if !pkce_matches(verifier, field(&grant, "code_challenge")) {
        return Err(GrantError::PkceMismatch.into());
    }
    // RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with a DPoP
    // proof by that key.
    if let Some(jkt) = grant.get("dpop_jkt").and_then(Value::as_str)
        && bound.map(|b| b.thumbprint.as_str()) != Some(jkt)
    {
        return Err(GrantError::CodeBoundToDpopKey.into());
    }
    the_same_user(state, &grant).await?;
    let resource = field(&grant, "resource").to_owned();
    same_resource(form, &resource, GrantError::ResourceDiffersFromRequest)?;
    let scopes = scopes_of(&grant);
    let username = field(&grant, "username").to_owned();
    let refresh = if client.record.allows_grant("refresh_token") {
        let token = new_secret()?;
        let family = new_token_id()?;
        let mut data = json!({"client_id": client.record.client_id, "username": username, "scopes": scopes, "resource": resource});
        // OIDC Core §12.2: a refresh of a sign-in with `openid` brings a new ID token;
        // the subject pins the refresh token to this user.
        for member in [id_token::OPENID_MEMBER, id_token::AUTH_TIME_MEMBER, SUBJECT] {
            if let Some(v) = grant.get(member) {
                data[member] = v.clone();
            }
        }
        // HTTPSIG-AS-14: a public client's refresh token stays bound to the key its
        // first token was bound to (it has no other proof of being the same client).
        if let (Some(b), AuthMethod::None) = (bound, client.method) {
            data[BOUND_THUMBPRINT] = json!(b.thumbprint);
        }
        state
            .store
            .insert_refresh(&secret_digest(&token), &family, &data, now + REFRESH_TTL)
            .await?;
        grant["refresh_family"] = json!(family);
        Some(token)
    } else {
        None
    };
    let id_token = id_token::for_grant(state, &grant, &client.record.client_id, true).await?;
    let (response, jti) = issue_access_token(
        state,
        &TokenGrant {
            client_id: &client.record.client_id,
            sub: &username,
            resource: &resource,
            scopes: &scopes,
            refresh_token: refresh.as_deref(),
            id_token: id_token.as_deref(),
            bound,
            lifetime: state.config.access_token_ttl,
        },
    )?;
    grant["access_jti"] = json!(jti);
    if !state.store.set_code_grant(&code_hash, &grant).await? {
        // Replayed (on another instance) while this redemption was under way: what it
        // issued is revoked and never handed out.
        revoke_what_it_produced(state, &grant, now).await?;
        tracing::warn!(client_id = %client.record.client_id, "authorization code replayed during its redemption; its tokens are revoked");
        return Err(GrantError::CodeReplayed.into());
    }
    // A key of literal labels, its handle kept (`metric_handle`: issue 18).
    static ISSUED: Kept<metrics::Counter> = Kept::new(
        || metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "authorization_code"),
    );
    ISSUED.with(|issued| issued.increment(1));
    Ok(response)
}

async fn revoke_what_it_produced(state: &AsState, grant: &Value, now: i64) -> Result<(), AsError> {
    if let Some(jti) = grant.get("access_jti").and_then(Value::as_str) {
        state
            .store
            .revoke(jti, now + state.config.access_token_ttl)
            .await?;
    }
    if let Some(family) = grant.get("refresh_family").and_then(Value::as_str) {
        state.store.revoke_family(family, now).await?;
    }
    Ok(())
}

/// Uses a refresh token. Public clients get a new one each time (rotation) and the old
/// one is consumed; presenting a consumed token revokes the whole family (OAuth 2.0
/// Security BCP §4.14.2).
pub async fn refresh_token(
    state: &AsState,
    client: &AuthenticatedClient,
    form: &Form,
    bound: Option<&BoundKey>,
) -> Result<Response, AsError> {
    if !client.record.allows_grant("refresh_token") {
        return Err(TokenRequestError::RefreshTokenNotAllowed.into());
    }
    let token = form.require("refresh_token")?;
    // A public client gets a new refresh token each time; the store keeps its
    // successor with the consumption of this one, atomically.
    let new_refresh = if client.method == AuthMethod::None {
        Some(new_secret()?)
    } else {
        None
    };
    let successor = new_refresh.as_deref().map(secret_digest);
    let now = state.clock.now();
    let (outcome, rotation) = state
        .store
        .begin_refresh(&secret_digest(token), now, successor.as_deref())
        .await?;
    let (grant, expires_at) = match outcome {
        RefreshOutcome::Invalid => return Err(GrantError::UnknownRefreshToken.into()),
        RefreshOutcome::Reused(family) => {
            state.store.revoke_family(&family, now).await?;
            tracing::warn!(client_id = %client.record.client_id, "refresh token reused; its family is revoked");
            return Err(GrantError::RefreshTokenReused.into());
        }
        RefreshOutcome::Valid {
            grant, expires_at, ..
        } => (grant, expires_at),
    };
    let answer = refresh_answer(
        state,
        client,
        form,
        bound,
        &grant,
        expires_at,
        new_refresh.as_deref(),
    )
    .await;
    // The rotation is committed once the answer is known: with the tokens, or with a
    // refusal of the grant (the attempt consumes the token, so a later use is a
    // reuse). On any other failure (the database among others) it is dropped: nothing
    // happened, and the client may retry with the same token.
    if let Some(rotation) = rotation
        && matches!(answer, Ok(_) | Err(AsError::Grant(_)))
    {
        rotation.commit().await?;
    }
    let response = answer?;
    // A key of literal labels, its handle kept (`metric_handle`: issue 18).
    static ISSUED: Kept<metrics::Counter> =
        Kept::new(|| metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "refresh_token"));
    ISSUED.with(|issued| issued.increment(1));
    Ok(response)
}

/// The answer to a refresh of `grant` (already consumed, not yet committed): the
/// checks of the grant against this request, then the tokens.
async fn refresh_answer(
    state: &AsState,
    client: &AuthenticatedClient,
    form: &Form,
    bound: Option<&BoundKey>,
    grant: &Value,
    expires_at: i64,
    new_refresh: Option<&str>,
) -> Result<Response, AsError> {
    let now = state.clock.now();
    if field(grant, "client_id") != client.record.client_id {
        return Err(GrantError::RefreshTokenOfAnotherClient.into());
    }
    if now > expires_at {
        return Err(GrantError::RefreshTokenExpired.into());
    }
    if let Some(expected) = grant.get(BOUND_THUMBPRINT).and_then(Value::as_str)
        && bound.map(|b| b.thumbprint.as_str()) != Some(expected)
    {
        return Err(GrantError::RefreshTokenBoundToAnotherKey.into());
    }
    the_same_user(state, grant).await?;
    let resource = field(grant, "resource").to_owned();
    same_resource(form, &resource, GrantError::ResourceDiffersFromGrant)?;
    let granted = scopes_of(grant);
    let scopes = match form.get("scope") {
        Some(requested) => {
            let asked = mcp_auth_core::scope::parse(requested);
            if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
                return Err(GrantError::ScopeNotGranted(extra.clone()).into());
            }
            asked
        }
        None => granted.clone(),
    };
    let id_token = id_token::for_grant(state, grant, &client.record.client_id, false).await?;
    let (response, _) = issue_access_token(
        state,
        &TokenGrant {
            client_id: &client.record.client_id,
            sub: field(grant, "username"),
            resource: &resource,
            scopes: &scopes,
            refresh_token: new_refresh,
            id_token: id_token.as_deref(),
            bound,
            lifetime: state.config.access_token_ttl,
        },
    )?;
    Ok(response)
}
