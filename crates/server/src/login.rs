//! The login and consent pages' answers (`POST /login`, `POST /consent`), and what
//! ties each of them to the browser that started the authorization request.
//!
//! A pending authorization request belongs to one browser: `GET /authorize` gives the
//! browser a random *binding* value in an HttpOnly, SameSite=Lax cookie
//! (`__Host-`-prefixed on an https issuer, so no sibling host can plant it) and stores
//! its SHA-256 with the request. Login and consent are accepted only from a browser
//! that presents the value, only when the form's CSRF value matches the request, and
//! never from another site (`Origin`, `Sec-Fetch-Site`). So an attacker's page cannot
//! sign a victim into the attacker's account (login CSRF), and an authorization
//! request an attacker started cannot be consented with the victim's session
//! (docs/security.md).
//!
//! Failed logins are throttled per (username, client address) with exponential
//! backoff ([`crate::password::LoginThrottle`]) and limited per pending request
//! ([`MAX_GUESSES_PER_REQUEST`]); usernames of failed logins are logged only as a
//! digest prefix (a password typed into the username field must not reach the logs).

use aws_lc_rs::constant_time;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde_json::Value;

use crate::authorize::{
    PendingRequest, SESSION_COOKIE, SESSION_TTL, continue_as, endpoint, error_redirect, form_page,
    issue_code, new_secret,
};
use crate::client_auth::secret_digest;
use crate::error::{AsError, AuthorizeError, PageError};
use crate::form::Form;
use crate::peer::PeerAddr;
use crate::{AsState, pages, password};

/// Wrong passwords accepted for one pending request before it is discarded.
pub const MAX_GUESSES_PER_REQUEST: u32 = 5;

/// The name of the browser-binding cookie for this issuer: `__Host-` on https (the
/// prefix requires `Secure`, `Path=/` and no `Domain`, RFC 6265bis §4.1.3.2), a plain
/// name on http (development on loopback, where `Secure` cookies may be refused).
pub fn binding_cookie_name(state: &AsState) -> &'static str {
    if state.config.issuer.starts_with("https:") {
        "__Host-mcp_auth_browser"
    } else {
        "mcp_auth_browser"
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The browser's binding value: the one its cookie holds (when well formed), or a new
/// one with the `Set-Cookie` header that gives it to the browser.
pub fn browser_binding(
    state: &AsState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), mcp_auth_core::RandomError> {
    let name = binding_cookie_name(state);
    if let Some(v) = cookie(headers, name).filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Ok((v.to_owned(), None));
    }
    let value = new_secret()?;
    let secure = if name.starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    let set = HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={SESSION_TTL}{secure}"
    ))
    .ok();
    Ok((value, set))
}

/// What is stored of a binding value: its SHA-256, base64url.
pub fn binding_digest(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_digest(value))
}

/// Whether a form POST comes from the AS's own pages: `Sec-Fetch-Site` (when the
/// browser sends it) is `same-origin`, and `Origin` (when sent) is the issuer's
/// origin. A request with neither (an old browser, a script) is left to the binding
/// cookie and the CSRF value.
fn same_origin_post(state: &AsState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => url::Url::parse(&state.config.issuer)
            .map(|u| u.origin().ascii_serialization().as_bytes() == origin.as_bytes())
            .unwrap_or(false),
    }
}

/// A pending request named by a posted form, after every check that ties it to this
/// browser.
struct Pending {
    id: String,
    csrf: String,
    request: PendingRequest,
}

/// The pending request a posted page form names (the form itself read from `body`),
/// or the page that says why it cannot be used.
async fn pending_from(
    state: &AsState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Form, Pending), AsError> {
    let form = Form::parse(body, &[]).map_err(|_| PageError::RepeatedField)?;
    if !same_origin_post(state, headers) {
        return Err(PageError::CrossSite.into());
    }
    let (Some(id), Some(csrf)) = (form.get("request"), form.get("csrf")) else {
        return Err(PageError::IncompleteForm.into());
    };
    let Some((stored, expected)) = state.store.pending(id, state.clock.now()).await? else {
        return Err(PageError::RequestExpired.into());
    };
    if constant_time::verify_slices_are_equal(csrf.as_bytes(), expected.as_bytes()).is_err() {
        return Err(PageError::CsrfMismatch.into());
    }
    let request = PendingRequest::from_json(&stored).ok_or(PageError::RequestDamaged)?;
    let presented = cookie(headers, binding_cookie_name(state)).map(binding_digest);
    let bound = presented.is_some_and(|p| {
        constant_time::verify_slices_are_equal(p.as_bytes(), request.browser.as_bytes()).is_ok()
    });
    if !bound {
        tracing::info!(
            client_id = %request.client_id,
            "login or consent refused: the authorization request was started in another browser"
        );
        return Err(PageError::OtherBrowser.into());
    }
    let pending = Pending {
        id: id.to_owned(),
        csrf: expected,
        request,
    };
    Ok((form, pending))
}

/// The login page for a pending request, optionally with an error.
pub(crate) fn login_page(
    state: &AsState,
    status: StatusCode,
    pending_id: &str,
    csrf: &str,
    request: &PendingRequest,
    error: Option<&str>,
    username: &str,
) -> Response {
    form_page(
        status,
        pages::login(
            &endpoint(state, "login"),
            pending_id,
            csrf,
            &request.client_name,
            error,
            username,
        ),
        &request.redirect_uri,
    )
}

/// A username as it may appear in logs when the login failed: the first 12 hex digits
/// of its SHA-256 and its length. Enough to correlate attempts, useless to anyone
/// reading logs for a password typed into the wrong field.
pub fn redacted_username(username: &str) -> String {
    let digest = secret_digest(username);
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}/len{}", username.chars().count())
}

/// `POST /login`.
pub async fn login(
    State(state): State<AsState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AsError> {
    let (
        form,
        Pending {
            id,
            csrf,
            mut request,
        },
    ) = pending_from(&state, &headers, &body).await?;
    let username = form.get("username").unwrap_or("").to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    let page = |status, error: &str, request: &PendingRequest| {
        login_page(&state, status, &id, &csrf, request, Some(error), &username)
    };
    if let Err(wait) = state.logins.check(&username, peer) {
        metrics::counter!("mcp_auth_logins_total", "outcome" => "throttled").increment(1);
        tracing::warn!(username = %redacted_username(&username), wait_s = wait.as_secs(), "login throttled after repeated failures from this address");
        let mut r = page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed attempts. Wait {} seconds and try again.",
                wait.as_secs().max(1)
            ),
            &request,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let stored = state.store.user_password_hash(&username).await?;
    let verified = match password::verify_password(password, stored).await {
        Ok(v) => v,
        Err(password::PasswordError::Busy) => {
            metrics::counter!("mcp_auth_logins_total", "outcome" => "busy").increment(1);
            let mut r = page(
                StatusCode::TOO_MANY_REQUESTS,
                "The server is busy. Try again in a moment.",
                &request,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return Ok(r);
        }
    };
    if !verified {
        state.logins.failed(&username, peer);
        metrics::counter!("mcp_auth_logins_total", "outcome" => "failure").increment(1);
        tracing::info!(username = %redacted_username(&username), "login failed");
        request.failed_logins += 1;
        if request.failed_logins >= MAX_GUESSES_PER_REQUEST {
            state.store.delete_pending(&id).await?;
            return Err(PageError::TooManyWrongPasswords.into());
        }
        state.store.update_pending(&id, &request.to_json()).await?;
        return Ok(page(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
            &request,
        ));
    }
    state.logins.succeeded(&username, peer);
    metrics::counter!("mcp_auth_logins_total", "outcome" => "success").increment(1);
    let session = new_secret()?;
    let signed_in = SignedIn {
        username,
        auth_time: state.clock.now(),
    };
    state
        .store
        .create_session(
            &secret_digest(&session),
            &signed_in.username,
            signed_in.auth_time + SESSION_TTL,
        )
        .await?;
    let mut response = continue_as(
        &state,
        &id,
        &csrf,
        &request,
        &signed_in,
        StatusCode::SEE_OTHER,
    )
    .await?;
    let secure = if state.config.issuer.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let path = match state.config.issuer_path() {
        p if p.is_empty() => "/".to_owned(),
        p => p,
    };
    let cookie = format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={SESSION_TTL}{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /consent`.
pub async fn consent(
    State(state): State<AsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AsError> {
    let (form, Pending { id, csrf, request }) = pending_from(&state, &headers, &body).await?;
    let Some(user) = session_user(&state, &headers).await? else {
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &id,
            &csrf,
            &request,
            Some("Please sign in again."),
            "",
        ));
    };
    match form.get("decision") {
        Some("allow") => {
            state
                .store
                .record_consent(
                    &user.username,
                    &request.client_id,
                    &request.resource,
                    &request.consented_scopes(),
                    state.clock.now(),
                )
                .await?;
            issue_code(&state, &id, &request, &user, StatusCode::SEE_OTHER).await
        }
        _ => {
            state.store.delete_pending(&id).await?;
            Ok(error_redirect(
                &state,
                &request.redirect_uri,
                request.state.as_deref(),
                &AuthorizeError::AccessDenied,
                StatusCode::SEE_OTHER,
            ))
        }
    }
}

/// Who signed in to this browser, and when.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The username.
    pub(crate) username: String,
    /// When the password was checked (OIDC Core §2 `auth_time`).
    pub(crate) auth_time: i64,
}

/// The signed-in user of this browser, if its session cookie names a live session.
pub(crate) async fn session_user(
    state: &AsState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, AsError> {
    let Some(session) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = state
        .store
        .session_user(&secret_digest(session), state.clock.now())
        .await?;
    // A session lasts SESSION_TTL from the sign-in that created it.
    Ok(found.map(|(username, expires_at)| SignedIn {
        username,
        auth_time: expires_at - SESSION_TTL,
    }))
}

/// Reads a JSON string member (for [`PendingRequest::from_json`]).
pub(crate) fn str_member(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_14_a_failed_username_is_logged_as_a_digest_prefix() {
        let typed = "correct horse battery staple";
        let logged = redacted_username(typed);
        assert!(!logged.contains("horse"), "{logged}");
        assert!(logged.starts_with("sha256:") && logged.ends_with("/len28"));
        assert_eq!(logged, redacted_username(typed), "stable, to correlate");
    }
}
