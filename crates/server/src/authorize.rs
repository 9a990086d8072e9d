//! The authorization endpoint (RFC 6749 §4.1 with PKCE S256, RFC 7636; RFC 8707
//! `resource`; RFC 9207 `iss`) and its login and consent pages.
//!
//! An authorization request is checked, stored as *pending* (10 minutes, with a CSRF
//! token and the digest of the browser's binding cookie, see [`crate::login`]), and
//! answered by the login page, the consent page, or, when the user has a session and
//! has already consented to these scopes for this client and resource, a redirect with
//! the code straight away. Errors that cannot be trusted to the redirect URI (unknown
//! client, unregistered redirect URI) are shown as a page (§4.1.2.1).
//!
//! Anyone can send this request, so what it stores is bounded: the query at most
//! [`MAX_QUERY`] bytes, `state` at most [`MAX_STATE`], and pending requests per client
//! address per minute at most [`PENDING_PER_MINUTE`].

use aws_lc_rs::{constant_time, digest};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::client_auth::secret_digest;
use crate::error::{AsError, AuthorizeError, ClientAuthError, PageError};
use crate::form::Form;
use crate::idp::OPENID;
use crate::idp::id_token;
use crate::login::SignedIn;
use crate::peer::PeerAddr;
use crate::store::{ClientRecord, string_list};
use crate::token::new_token_id;
use crate::{AsState, pages};

/// The session cookie.
pub const SESSION_COOKIE: &str = "mcp_auth_session";
const PENDING_TTL: i64 = 600;
/// How long a sign-in session (and a browser binding) lasts, seconds.
pub const SESSION_TTL: i64 = 8 * 3600;
/// The longest authorization request query accepted, bytes.
pub const MAX_QUERY: usize = 8 * 1024;
/// The longest `state` accepted, bytes (RFC 6749 leaves it opaque; clients use a
/// random value of a few dozen characters).
pub const MAX_STATE: usize = 1024;
/// Pending authorization requests one client address may create per minute.
pub const PENDING_PER_MINUTE: u32 = 60;
/// Authorization codes live one minute (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL: i64 = 60;

/// A checked authorization request, as stored while it waits for login and consent.
#[derive(Debug, Clone)]
pub(crate) struct PendingRequest {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: String,
    pub(crate) code_challenge: String,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    pub(crate) dpop_jkt: Option<String>,
    /// OIDC Core §3.1.2.1: `openid` was asked for (the identity provider role): the
    /// code brings an ID token.
    pub(crate) openid: bool,
    /// OIDC Core §3.1.2.1: the `nonce` to put in the ID token.
    pub(crate) nonce: Option<String>,
    /// The digest of the binding cookie of the browser that sent the request.
    pub(crate) browser: String,
    /// Wrong passwords entered for this request so far.
    pub(crate) failed_logins: u32,
}

impl PendingRequest {
    /// What the user consents to: the resource's scopes and, when asked, `openid`
    /// (an ID token for this client, which the identity provider role exchanges for
    /// ID-JAGs): a consent remembered without `openid` does not give an ID token.
    pub(crate) fn consented_scopes(&self) -> Vec<String> {
        let mut scopes = self.scopes.clone();
        if self.openid && !scopes.iter().any(|s| s == OPENID) {
            scopes.insert(0, OPENID.to_owned());
        }
        scopes
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "client_id": self.client_id, "client_name": self.client_name,
            "redirect_uri": self.redirect_uri, "state": self.state, "scopes": self.scopes,
            "resource": self.resource, "code_challenge": self.code_challenge,
            "dpop_jkt": self.dpop_jkt, "openid": self.openid, "nonce": self.nonce,
            "browser": self.browser,
            "failed_logins": self.failed_logins,
        })
    }

    pub(crate) fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            client_id: v.get("client_id")?.as_str()?.to_owned(),
            client_name: v.get("client_name")?.as_str()?.to_owned(),
            redirect_uri: v.get("redirect_uri")?.as_str()?.to_owned(),
            state: v.get("state").and_then(Value::as_str).map(str::to_owned),
            scopes: {
                v.get("scopes")?.as_array()?;
                string_list(v, "scopes")
            },
            resource: v.get("resource")?.as_str()?.to_owned(),
            code_challenge: v.get("code_challenge")?.as_str()?.to_owned(),
            dpop_jkt: v.get("dpop_jkt").and_then(Value::as_str).map(str::to_owned),
            openid: v.get("openid").and_then(Value::as_bool).unwrap_or(false),
            nonce: v.get("nonce").and_then(Value::as_str).map(str::to_owned),
            browser: crate::login::str_member(v, "browser")?,
            failed_logins: v
                .get("failed_logins")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        })
    }
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The pages must not be framed (clickjacking of the consent button).
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    r
}

/// A login or consent page. Its form's answer may be a redirect to the client, and
/// browsers apply CSP `form-action` to that redirect too (Chromium blocks it otherwise),
/// so the redirect URI's origin (or, for a native app, its scheme) is allowed beside
/// `'self'`.
pub(crate) fn form_page(status: StatusCode, body: String, redirect_uri: &str) -> Response {
    let mut r = html(status, body);
    let source = match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => String::new(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {source}; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert("content-security-policy", v);
    }
    r
}

pub(crate) fn redirect(location: &str, status: StatusCode) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The redirect URI with the authorization response or error parameters, and `iss`.
pub(crate) fn redirect_with(
    state: &AsState,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    client_state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = client_state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.config.issuer);
    }
    url.to_string()
}

/// RFC 6749 §4.1.2.1: the redirect that tells the client why its request was refused.
pub(crate) fn error_redirect(
    state: &AsState,
    req_redirect: &str,
    client_state: Option<&str>,
    error: &AuthorizeError,
    status: StatusCode,
) -> Response {
    redirect(
        &redirect_with(
            state,
            req_redirect,
            &[
                ("error", error.code()),
                ("error_description", &error.to_string()),
            ],
            client_state,
        ),
        status,
    )
}

/// 43 base64url characters: a SHA-256 digest (PKCE challenge, JWK thumbprint).
fn is_sha256_base64url(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /authorize`.
pub async fn authorize(
    State(state): State<AsState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AsError> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY {
        return Err(PageError::RequestTooLong.into());
    }
    let form = Form::parse(query.as_bytes(), &[]).map_err(|_| PageError::RepeatedParameter)?;
    // §4.1.2.1: without a known client and a registered redirect URI, show the error.
    let client_id = form.get("client_id").ok_or(PageError::NoClientId)?;
    let client = match state.client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(PageError::UnknownClient.into()),
        Err(AsError::ClientAuth(ClientAuthError::MetadataDocument(e))) => {
            return Err(PageError::MetadataDocument(e).into());
        }
        Err(other) => return Err(other),
    };
    let registered = client.list("redirect_uris");
    let redirect_uri = match (form.get("redirect_uri"), registered.as_slice()) {
        (Some(given), list)
            if list
                .iter()
                .any(|r| crate::registration::redirect_uri_matches(r, given)) =>
        {
            given.to_owned()
        }
        (None, [only]) => only.clone(),
        _ => return Err(PageError::RedirectUriNotRegistered.into()),
    };
    let client_state = form.get("state").filter(|s| s.len() <= MAX_STATE);
    let request = match check_request(&state, &client, &form, client_state.is_none()) {
        Ok(r) => r,
        Err(e) => {
            return Ok(error_redirect(
                &state,
                &redirect_uri,
                client_state,
                &e,
                StatusCode::FOUND,
            ));
        }
    };
    if !state.pending_requests.allow(peer, PENDING_PER_MINUTE) {
        return Err(PageError::TooManyRequests.into());
    }
    let (binding, set_binding) = crate::login::browser_binding(&state, &headers)?;
    let request = PendingRequest {
        client_id: client.client_id.clone(),
        client_name: client_name(&client),
        redirect_uri,
        state: client_state.map(str::to_owned),
        scopes: request.scopes,
        resource: request.resource,
        code_challenge: request.code_challenge,
        dpop_jkt: request.dpop_jkt,
        openid: request.openid,
        nonce: request.nonce,
        browser: crate::login::binding_digest(&binding),
        failed_logins: 0,
    };
    let pending_id = new_token_id()?;
    let csrf = new_token_id()?;
    state
        .store
        .insert_pending(
            &pending_id,
            &request.to_json(),
            &csrf,
            state.clock.now() + PENDING_TTL,
        )
        .await?;
    let mut response = match crate::login::session_user(&state, &headers).await? {
        Some(user) => {
            continue_as(
                &state,
                &pending_id,
                &csrf,
                &request,
                &user,
                StatusCode::FOUND,
            )
            .await?
        }
        None => crate::login::login_page(
            &state,
            StatusCode::OK,
            &pending_id,
            &csrf,
            &request,
            None,
            "",
        ),
    };
    if let Some(cookie) = set_binding {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// What an authorization request asks for, once checked.
struct Checked {
    scopes: Vec<String>,
    resource: String,
    code_challenge: String,
    dpop_jkt: Option<String>,
    openid: bool,
    nonce: Option<String>,
}

/// The checks of an authorization request whose client and redirect URI are known,
/// in the order their errors are reported; `state_too_long` when `state` was dropped
/// for its length.
fn check_request(
    state: &AsState,
    client: &ClientRecord,
    form: &Form,
    state_too_long: bool,
) -> Result<Checked, AuthorizeError> {
    if state_too_long && form.get("state").is_some() {
        return Err(AuthorizeError::StateTooLong);
    }
    if form.get("response_type") != Some("code") {
        return Err(AuthorizeError::UnsupportedResponseType);
    }
    if !client.allows_grant("authorization_code") {
        return Err(AuthorizeError::AuthorizationCodeNotAllowed);
    }
    let challenge = form
        .get("code_challenge")
        .ok_or(AuthorizeError::CodeChallengeRequired)?;
    if form.get("code_challenge_method") != Some("S256") {
        return Err(AuthorizeError::ChallengeMethod);
    }
    if !is_sha256_base64url(challenge) {
        return Err(AuthorizeError::MalformedChallenge);
    }
    // RFC 9449 §10: `dpop_jkt` binds the code to a DPoP key (a SHA-256 JWK
    // thumbprint, 43 base64url characters).
    let dpop_jkt = form.get("dpop_jkt");
    if dpop_jkt.is_some_and(|jkt| !is_sha256_base64url(jkt)) {
        return Err(AuthorizeError::MalformedDpopJkt);
    }
    let nonce = form.get("nonce");
    if nonce.is_some_and(|n| n.is_empty() || n.len() > MAX_STATE) {
        return Err(AuthorizeError::MalformedNonce);
    }
    let allowed = client.list("scopes");
    let openid = OpenIdRequest::of(state, form.get("scope"));
    if openid.asked && !allowed.iter().any(|s| s == OPENID) {
        return Err(crate::scope::ScopeRefused(OPENID.to_owned()).into());
    }
    let (scopes, resource) = match form.all("resource").as_slice() {
        // EMA §7.1: a sign-in for the ID token alone names no resource; its access
        // token is for this server itself, with the scope `openid`.
        [] if openid.asked && openid.others.is_none() => {
            (vec![OPENID.to_owned()], state.config.issuer.clone())
        }
        [] => return Err(AuthorizeError::ResourceRequired),
        [one] => {
            let resource = state
                .config
                .resource(one)
                .ok_or(AuthorizeError::UnknownResource)?;
            let scopes = crate::scope::grant_scopes(openid.others.as_deref(), resource, &allowed)?;
            (scopes, resource.uri.clone())
        }
        _ => return Err(AuthorizeError::SeveralResources),
    };
    Ok(Checked {
        scopes,
        resource,
        code_challenge: challenge.to_owned(),
        dpop_jkt: dpop_jkt.map(str::to_owned),
        openid: openid.asked,
        nonce: nonce.filter(|_| openid.asked).map(str::to_owned),
    })
}

/// The `scope` of an authorization request split into `openid` and the rest, when
/// the identity provider role is on (OIDC Core §3.1.2.1). Off, `openid` is a scope
/// like any other.
struct OpenIdRequest {
    asked: bool,
    /// The other scopes, `None` when there are none.
    others: Option<String>,
}

impl OpenIdRequest {
    fn of(state: &AsState, scope: Option<&str>) -> Self {
        let enabled = state.config.identity_provider.is_enabled();
        let Some(scope) = scope.filter(|_| enabled) else {
            return Self {
                asked: false,
                others: scope.map(str::to_owned),
            };
        };
        let others: Vec<&str> = mcp_auth_core::scope::tokens(scope)
            .filter(|s| *s != OPENID)
            .collect();
        Self {
            asked: others.len() < mcp_auth_core::scope::tokens(scope).count(),
            others: (!others.is_empty()).then(|| others.join(" ")),
        }
    }
}

fn client_name(client: &ClientRecord) -> String {
    client
        .metadata
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or(&client.client_id)
        .to_owned()
}

pub(crate) fn endpoint(state: &AsState, name: &str) -> String {
    format!("{}/{name}", state.config.issuer_path())
}

/// After login: the code if consent is remembered, else the consent page.
pub(crate) async fn continue_as(
    state: &AsState,
    pending_id: &str,
    csrf: &str,
    request: &PendingRequest,
    user: &SignedIn,
    status: StatusCode,
) -> Result<Response, AsError> {
    let remembered = state
        .store
        .consent(&user.username, &request.client_id, &request.resource)
        .await?;
    let consented = request.consented_scopes();
    if remembered.is_some_and(|granted| consented.iter().all(|s| granted.contains(s))) {
        return issue_code(state, pending_id, request, user, status).await;
    }
    let host = url::Url::parse(&request.redirect_uri)
        .ok()
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
        .unwrap_or_default();
    let loopback =
        ["http://127.0.0.1", "http://localhost", "http://[::1]"].contains(&host.as_str());
    // MCP authorization security considerations: show the redirect host, and warn when
    // a client that proved nothing but a URL sends the code to this machine.
    let warning = (loopback && crate::cimd::is_document_url(&request.client_id))
        .then_some("This application returns to a program on your own computer. Continue only if you started it.");
    Ok(form_page(
        StatusCode::OK,
        pages::consent(
            &endpoint(state, "consent"),
            pending_id,
            csrf,
            &request.client_name,
            &user.username,
            &request.resource,
            &consented,
            &host,
            warning,
        ),
        &request.redirect_uri,
    ))
}

pub(crate) async fn issue_code(
    state: &AsState,
    pending_id: &str,
    request: &PendingRequest,
    user: &SignedIn,
    status: StatusCode,
) -> Result<Response, AsError> {
    let code = new_secret()?;
    // The user's subject identifier pins the grant to this user: a username removed
    // and given to someone else later does not inherit it.
    let subject = state
        .store
        .user(&user.username)
        .await?
        .map(|u| u.subject)
        .unwrap_or_default();
    let mut grant = json!({
        "client_id": request.client_id, "username": user.username, "subject": subject,
        "redirect_uri": request.redirect_uri, "scopes": request.scopes,
        "resource": request.resource, "code_challenge": request.code_challenge,
        "dpop_jkt": request.dpop_jkt,
    });
    if request.openid {
        grant[id_token::OPENID_MEMBER] = json!(true);
        grant[id_token::AUTH_TIME_MEMBER] = json!(user.auth_time);
        if let Some(n) = &request.nonce {
            grant[id_token::NONCE_MEMBER] = json!(n);
        }
    }
    state
        .store
        .insert_code(&secret_digest(&code), &grant, state.clock.now() + CODE_TTL)
        .await?;
    state.store.delete_pending(pending_id).await?;
    tracing::info!(client_id = %request.client_id, username = %user.username, resource = %request.resource, "issued authorization code");
    Ok(redirect(
        &redirect_with(
            state,
            &request.redirect_uri,
            &[("code", &code)],
            request.state.as_deref(),
        ),
        status,
    ))
}

/// 256 random bits, base64url: codes, sessions, refresh tokens, browser bindings.
pub(crate) fn new_secret() -> Result<String, mcp_auth_core::RandomError> {
    mcp_auth_core::random_token::<32>()
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, for a verifier of 43 to
/// 128 unreserved characters.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    well_formed
        && constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_appendix_b_s256() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
