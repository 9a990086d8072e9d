//! The token exchange at the identity provider (RFC 8693 §2; profiles/
//! enterprise-managed-authorization.md §7.2 to §7.5): an authenticated client trades
//! an ID token this IdP issued to it for an ID-JAG for one MCP authorization server,
//! one resource and the scopes the policy allows. The checks run in the order of
//! EMA §7.3 and the first failure is reported (EMA-IDP-12).

use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mcp_auth_core::Confirmation;
use mcp_auth_core::id_jag::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
use mcp_auth_core::metric_handle::Kept;
use mcp_auth_core::workload_assertion::{AssertionKind, AssertionRules, TrustEntry};
use mcp_auth_httpsig::VerifyingKey;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::config::{PolicyRule, Target};
use super::id_token::ID_TOKEN_TYP;
use crate::AsState;
use crate::client_auth::{AuthenticatedClient, authenticate};
use crate::error::{AsError, ExchangeError, InternalError};
use crate::form::Form;
use crate::keys::IDENTITY_ALG;
use crate::store::UserRecord;
use crate::token::{new_token_id, no_store};

/// The `typ` of an ID-JAG (ID-JAG draft §3.1), written exactly so.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// The leeway on the ID token's `exp` and `iat`, seconds: the AS's own clock signed
/// it, so only the rounding of a second and a slow request need absorbing (EMA §7.3
/// step 5).
const SUBJECT_TOKEN_LEEWAY: u64 = 5;

/// The claims of an ID-JAG: these and no others (EMA §7.4, D18).
#[derive(Debug, Serialize)]
struct IdJagClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    jti: &'a str,
    iat: i64,
    exp: i64,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Value>,
}

/// `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`.
pub async fn exchange(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, AsError> {
    // Step 1: the form (`Form::parse` refused every other repeated parameter).
    let requested_token_type = form.require("requested_token_type")?;
    let subject_token = form.require("subject_token")?;
    let subject_token_type = form.require("subject_token_type")?;
    let audience = once(form, "audience")?;
    let resource = once(form, "resource")?;
    for p in ["actor_token", "actor_token_type", "authorization_details"] {
        if form.get(p).is_some() {
            return Err(ExchangeError::UnsupportedParameter(p).into());
        }
    }
    // Step 2: an authenticated client with the grant (D10).
    let client = authenticate(state, headers, form).await?;
    if !client.record.allows_grant(TOKEN_EXCHANGE_GRANT) {
        return Err(ExchangeError::GrantNotAllowed.into());
    }
    // Step 3: DPoP binds the ID-JAG; a token-request signature does not (D16).
    if crate::httpsig_token::has_token_request_signature(headers) {
        return Err(ExchangeError::SignatureNotAccepted.into());
    }
    let bound =
        crate::dpop_token::verify_token_request(state, Some(&client.record), headers).await?;
    // Step 4: the token types (D9).
    if requested_token_type != ID_JAG_TOKEN_TYPE {
        return Err(ExchangeError::RequestedTokenType.into());
    }
    if subject_token_type != ID_TOKEN_TYPE {
        return Err(ExchangeError::SubjectTokenType.into());
    }
    // Step 5: an ID token of this IdP, for this client, of a user who still exists.
    let user = subject_user(state, subject_token, &client.record.client_id).await?;
    let refused = |why: &str, target: Option<&str>, rule: Option<usize>| {
        tracing::info!(
            client_id = %client.record.client_id,
            sub = %user.subject,
            audience = %audience,
            resource = %resource,
            requested_scope = %form.get("scope").unwrap_or(""),
            target = %target.unwrap_or(""),
            rule,
            why,
            "ID-JAG refused"
        );
    };
    // Step 6: the target, and this client among its requesting clients.
    let idp = &state.config.identity_provider;
    let Some((target, mapped_client_id)) = idp
        .target(audience)
        .and_then(|t| Some((t, t.client_ids.get(&client.record.client_id)?)))
    else {
        refused("no target for this audience and client", None, None);
        return Err(ExchangeError::UnknownAudience.into());
    };
    // Step 7: the first rule that matches decides.
    let Some((rule_number, rule)) = first_matching_rule(target, &user, &client) else {
        refused("no policy rule matches", Some(&target.id), None);
        return Err(ExchangeError::PolicyRefused.into());
    };
    // Step 8: the resource.
    if !rule.resources.iter().any(|r| r == resource) {
        refused(
            "resource not in the matching rule",
            Some(&target.id),
            Some(rule_number),
        );
        return Err(ExchangeError::ResourceNotAllowed.into());
    }
    // Step 9: scopes within the rule, never narrowed (D15).
    // An empty `scope` is no scope: the rule's defaults (an ID-JAG without `scope`
    // could read as "every scope" to another vendor's AS).
    let scopes = match form.get("scope").filter(|s| !s.trim().is_empty()) {
        Some(requested) => {
            let mut out: Vec<String> = Vec::new();
            for s in mcp_auth_core::scope::tokens(requested) {
                if !rule.scopes.iter().any(|x| x == s) {
                    refused(
                        "scope not in the matching rule",
                        Some(&target.id),
                        Some(rule_number),
                    );
                    return Err(ExchangeError::ScopeNotAllowed(s.to_owned()).into());
                }
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            out
        }
        None => rule.default_scopes.clone(),
    };
    // Step 10: the ID-JAG, logged (EMA-IDP-15).
    let cnf = bound.and_then(|b| match b.confirmation {
        Confirmation::Jkt(jkt) => Some(json!({ "jkt": jkt })),
        _ => None,
    });
    let issued = Issued {
        target,
        rule_number,
        user: &user,
        client_id: mapped_client_id,
        resource,
        scopes: &scopes,
        cnf,
    };
    let response = issue(state, &client, &issued)?;
    // A key of literal labels, its handle kept (`metric_handle`: issue 18).
    static ISSUED: Kept<metrics::Counter> =
        Kept::new(|| metrics::counter!("mcp_auth_id_jags_issued_total"));
    ISSUED.with(|issued| issued.increment(1));
    Ok(response)
}

/// A parameter sent exactly once: missing is `invalid_request`, repeated
/// `invalid_target` (EMA §7.3 step 1).
fn once<'f>(form: &'f Form, name: &'static str) -> Result<&'f str, ExchangeError> {
    match form.all(name).as_slice() {
        [] => Err(ExchangeError::Missing(name)),
        [one] => Ok(one),
        _ => Err(ExchangeError::Repeated(name)),
    }
}

/// EMA §7.3 step 5: the subject token is an ID token this IdP signed with one of its
/// published RS256 keys, for `client_id`, unexpired, of a user who still exists.
/// Every failure is the one `invalid_grant`; the reason is logged.
async fn subject_user(
    state: &AsState,
    token: &str,
    client_id: &str,
) -> Result<UserRecord, AsError> {
    let refused = |why: &str| {
        tracing::info!(client_id = %client_id, why, "subject_token refused");
        AsError::from(ExchangeError::SubjectToken)
    };
    let parsed = match mcp_auth_core::workload_assertion::parse(token) {
        Ok(AssertionKind::Workload(p)) => p,
        Ok(AssertionKind::IdJag(_)) => return Err(refused("an ID-JAG, not an ID token")),
        Err(e) => return Err(refused(&e.to_string())),
    };
    // `typ` exactly as this IdP writes it: an access token (`at+jwt`) is not an ID token.
    if parsed.header().get("typ").and_then(Value::as_str) != Some(ID_TOKEN_TYP) {
        return Err(refused("typ is not JWT"));
    }
    let keys = state.keys.current();
    let key = parsed
        .kid()
        .and_then(|kid| {
            keys.jwks
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
        })
        .filter(|jwk| jwk.alg.as_deref() == Some(IDENTITY_ALG.name()))
        .and_then(|jwk| VerifyingKey::from_jwk(jwk).ok());
    let Some(key) = key else {
        return Err(refused("kid names no RS256 key of this identity provider"));
    };
    let mut rules = AssertionRules::new(TrustEntry::Issuer(&state.config.issuer), client_id);
    rules.algorithms = std::slice::from_ref(&IDENTITY_ALG);
    rules.max_lifetime =
        std::time::Duration::from_secs(state.config.identity_provider.id_token_ttl as u64);
    rules.clock_skew = std::time::Duration::from_secs(SUBJECT_TOKEN_LEEWAY);
    rules.require_iat = true;
    let verified = parsed
        .verify(&key, &rules, state.clock.now())
        .map_err(|e| refused(&e.to_string()))?;
    match state.store.user_by_subject(&verified.sub).await? {
        Some(user) => Ok(user),
        None => Err(refused("no user has this subject")),
    }
}

/// EMA §6.1: the target's rules in order; the first whose `when` is `true`. An
/// evaluation error is no match, logged.
fn first_matching_rule<'t>(
    target: &'t Target,
    user: &UserRecord,
    client: &AuthenticatedClient,
) -> Option<(usize, &'t PolicyRule)> {
    let user_var = object(json!({
        "sub": user.subject, "username": user.username, "groups": user.groups,
    }));
    let client_name = client
        .record
        .metadata
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let client_var = object(json!({ "id": client.record.client_id, "name": client_name }));
    target.rules.iter().enumerate().find_map(|(i, rule)| {
        match rule
            .when
            .evaluate_with(&[("user", &user_var), ("client", &client_var)])
        {
            Ok(true) => Some((i, rule)),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(target = %target.id, rule = i, error = %e, "policy rule failed to evaluate; it does not match");
                None
            }
        }
    })
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What an ID-JAG is issued for.
struct Issued<'a> {
    target: &'a Target,
    /// The index of the matching rule, for the log.
    rule_number: usize,
    user: &'a UserRecord,
    client_id: &'a str,
    resource: &'a str,
    scopes: &'a [String],
    cnf: Option<Value>,
}

/// EMA §7.4 and §7.5: signs the ID-JAG and builds the response.
fn issue(
    state: &AsState,
    client: &AuthenticatedClient,
    issued: &Issued<'_>,
) -> Result<Response, AsError> {
    let now = state.clock.now();
    let jti = new_token_id()?;
    let scope = (!issued.scopes.is_empty()).then(|| issued.scopes.join(" "));
    let claims = IdJagClaims {
        iss: &state.config.issuer,
        sub: &issued.user.subject,
        aud: &issued.target.audience,
        client_id: issued.client_id,
        jti: &jti,
        iat: now,
        exp: now + issued.target.id_jag_ttl,
        resource: issued.resource,
        scope: scope.clone(),
        cnf: issued.cnf.clone(),
    };
    let keys = state.keys.current();
    let key = keys.identity.as_ref().ok_or(InternalError::NoIdentityKey)?;
    let id_jag = key
        .sign_typed(ID_JAG_TYP, &claims)
        .map_err(InternalError::from)?;
    tracing::info!(
        target = %issued.target.id,
        rule = issued.rule_number,
        client_id = %client.record.client_id,
        id_jag_client_id = %issued.client_id,
        sub = %issued.user.subject,
        aud = %issued.target.audience,
        resource = %issued.resource,
        scope = %scope.as_deref().unwrap_or(""),
        jti = %jti,
        bound = issued.cnf.is_some(),
        "issued ID-JAG"
    );
    let mut body = json!({
        "access_token": id_jag,
        "issued_token_type": ID_JAG_TOKEN_TYPE,
        "token_type": "N_A",
        "expires_in": issued.target.id_jag_ttl,
    });
    if let Some(s) = scope {
        body["scope"] = json!(s);
    }
    Ok(no_store(Json(body).into_response()))
}
