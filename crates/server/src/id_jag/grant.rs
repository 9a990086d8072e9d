//! The redemption of an ID-JAG at the token endpoint: the checks of
//! profiles/enterprise-managed-authorization.md §7.7 in their order (EMA-AS-21),
//! after [`crate::jwt_bearer`] did steps 1 and 2.

use axum::http::HeaderMap;
use axum::response::Response;
use mcp_auth_core::Confirmation;
use mcp_auth_core::workload_assertion::{
    AssertionError, AssertionRules, JWT_BEARER_GRANT, ParsedAssertion, TrustEntry,
    VerifiedAssertion,
};
use serde_json::Value;

use super::TrustedIdp;
use crate::AsState;
use crate::client_auth::{AuthenticatedClient, authenticate};
use crate::error::{AsError, IdJagGrantError};
use crate::form::Form;
use crate::httpsig_token::BoundKey;
use crate::token::{TokenGrant, issue_access_token, proof_of_possession};

/// EMA §7.7 steps 3 to 15 for the parsed ID-JAG and the request's `resource`.
pub async fn redeem(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
    body: &[u8],
    resource: &str,
    parsed: ParsedAssertion,
) -> Result<Response, AsError> {
    // Step 3: an authenticated client that may use the grant (D10).
    let client = authenticate(state, headers, form).await?;
    if !client.record.allows_grant(JWT_BEARER_GRANT) {
        return Err(IdJagGrantError::GrantNotAllowed.into());
    }
    // Step 4: the binding, as for every grant.
    let bound = proof_of_possession(state, Some(&client.record), headers, body).await?;
    // Steps 5 to 9.
    let (idp, verified) = verify(state, &parsed).await?;
    let claims = IdJagClaims::read(&verified.claims)?;
    let refused = |why: &str| {
        tracing::info!(
            entry = %idp.config.id,
            id_jag_sub = %verified.sub,
            id_jag_jti = claims.jti,
            id_jag_client_id = claims.client_id,
            client_id = %client.record.client_id,
            why,
            "ID-JAG refused"
        );
    };
    // Step 10: issued for this client.
    if claims.client_id != client.record.client_id {
        refused("issued for another client");
        return Err(IdJagGrantError::OtherClient.into());
    }
    // Step 11: an ID-JAG bound to a DPoP key needs a proof with that key.
    if let Some(cnf) = verified.claims.get("cnf") {
        let jkt = match cnf.as_object() {
            Some(m) if m.len() == 1 => m.get("jkt").and_then(Value::as_str),
            _ => None,
        };
        let proved = matches!(
            bound.as_ref().map(|b| &b.confirmation),
            Some(Confirmation::Jkt(j)) if Some(j.as_str()) == jkt
        );
        if !proved {
            refused("cnf not proved");
            return Err(IdJagGrantError::Confirmation.into());
        }
    }
    // Step 12: the resource is configured, the entry's, and the ID-JAG's.
    let configured = state.config.resource(resource).filter(|_| {
        idp.config.resources.iter().any(|r| r == resource) && claims.resource == resource
    });
    let Some(configured) = configured else {
        refused("resource not allowed");
        return Err(IdJagGrantError::ResourceNotAllowed.into());
    };
    // Step 13: scopes within the ID-JAG, the resource and the client (D15).
    let client_scopes = client.record.list("scopes");
    let allowed = |s: &str| {
        claims.scopes.contains(&s)
            && configured.scopes.iter().any(|x| x == s)
            && client_scopes.iter().any(|x| x == s)
    };
    let scopes: Vec<String> = match form.get("scope") {
        Some(requested) => {
            let mut out: Vec<String> = Vec::new();
            for s in mcp_auth_core::scope::tokens(requested) {
                if !allowed(s) {
                    refused("scope not granted");
                    return Err(IdJagGrantError::ScopeNotAllowed(s.to_owned()).into());
                }
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            out
        }
        None => claims
            .scopes
            .iter()
            .filter(|s| allowed(s))
            .map(|s| (*s).to_owned())
            .collect(),
    };
    // Step 14: single use (D3), recorded only now that everything else passed.
    single_use(state, idp, &verified, &claims).await?;
    // Step 15: the principal `<entry id>:<sub>` (D12), the entry's lifetime, no
    // refresh token (D11).
    let redemption = Redemption {
        idp,
        verified: &verified,
        client: &client,
        jti: claims.jti,
    };
    issue(state, &redemption, resource, &scopes, bound.as_ref())
}

/// What the token and its log line say of the redeemed ID-JAG.
struct Redemption<'a> {
    idp: &'a TrustedIdp,
    verified: &'a VerifiedAssertion,
    client: &'a AuthenticatedClient,
    jti: &'a str,
}

/// The ID-JAG claims of EMA §7.7 step 9 beyond those every assertion has.
struct IdJagClaims<'a> {
    jti: &'a str,
    client_id: &'a str,
    resource: &'a str,
    scopes: Vec<&'a str>,
}

impl<'a> IdJagClaims<'a> {
    /// Step 9, after `aud` and the times: `sub`, `jti`, `client_id`, `resource`,
    /// `scope`, no `act` or `authorization_details` (D9), in that order.
    fn read(claims: &'a serde_json::Map<String, Value>) -> Result<Self, IdJagGrantError> {
        let text = |name| claims.get(name).and_then(Value::as_str);
        // OIDC Core §2: a subject identifier is at most 255 ASCII characters; the
        // principal built from it travels in HTTP headers (the gateway's identity
        // headers), which carry visible ASCII and spaces only.
        let sub = text("sub").unwrap_or_default();
        if sub.is_empty() || sub.len() > 255 || !sub.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(IdJagGrantError::Claim(
                "sub must be 1 to 255 ASCII characters without control characters",
            ));
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.chars().count() <= 256)
            .ok_or(IdJagGrantError::Claim(
                "jti must be a string of 1 to 256 characters",
            ))?;
        let client_id =
            text("client_id")
                .filter(|c| !c.is_empty())
                .ok_or(IdJagGrantError::Claim(
                    "client_id must be a non-empty string",
                ))?;
        let resource = match claims.get("resource") {
            Some(Value::String(r)) => r.as_str(),
            Some(Value::Array(a)) if a.len() == 1 => a[0]
                .as_str()
                .ok_or(IdJagGrantError::Claim("resource must be one string"))?,
            _ => return Err(IdJagGrantError::Claim("resource must be one string")),
        };
        let scopes = match claims.get("scope") {
            None => Vec::new(),
            Some(Value::String(s)) => mcp_auth_core::scope::tokens(s).collect(),
            Some(_) => return Err(IdJagGrantError::Claim("scope must be a string")),
        };
        if claims.contains_key("act") || claims.contains_key("authorization_details") {
            return Err(IdJagGrantError::Claim(
                "act and authorization_details are not accepted",
            ));
        }
        Ok(Self {
            jti,
            client_id,
            resource,
            scopes,
        })
    }
}

/// Steps 5 to 9 (up to the claims every assertion has): the header, the trust entry
/// by `iss` and `tenant`, its key, the signature, `aud` and the times. Steps 6 to 8
/// share one description (EMA-AS-6); why is logged.
async fn verify<'s>(
    state: &'s AsState,
    parsed: &ParsedAssertion,
) -> Result<(&'s TrustedIdp, VerifiedAssertion), AsError> {
    let refuse = |e: AssertionError| AsError::from(IdJagGrantError::from(e));
    let alg = parsed.check_header().map_err(refuse)?;
    let claims = parsed.claims().map_err(refuse)?;
    let iss = claims.get("iss").and_then(Value::as_str);
    let tenant = claims.get("tenant").and_then(Value::as_str);
    let Some(idp) = iss.and_then(|iss| state.id_jag.select(iss, tenant)) else {
        tracing::info!(iss, tenant, "ID-JAG refused: no trust entry");
        return Err(refuse(AssertionError::NoTrustEntry));
    };
    let entry = &idp.config;
    let key = idp
        .keys
        .key_for(
            &state.outbound,
            state.clock.now(),
            &entry.algorithms,
            parsed.kid(),
            alg,
        )
        .await
        .map_err(|e| AsError::from(e.refusal(IdJagGrantError::KeysUnavailable)))?;
    let rules = AssertionRules {
        algorithms: &entry.algorithms,
        max_lifetime: entry.max_assertion_lifetime,
        clock_skew: entry.clock_skew,
        require_iat: true,
        ..AssertionRules::new(TrustEntry::Issuer(&entry.issuer), &state.config.issuer)
    };
    let verified = parsed
        .verify(&key, &rules, state.clock.now())
        .map_err(|e| {
            // EMA-AS-22: what the ID-JAG says it is (verified when the failure is
            // past the signature, step 9).
            let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
            tracing::info!(
                entry = %entry.id,
                id_jag_sub = %claim("sub"),
                id_jag_jti = %claim("jti"),
                id_jag_client_id = %claim("client_id"),
                error = ?e,
                "ID-JAG refused"
            );
            refuse(e)
        })?;
    Ok((idp, verified))
}

/// Step 14: (`iss`, `jti`) once, recorded in the database (every instance of the AS
/// on that database agrees, and a restart forgets nothing), until the ID-JAG could no
/// longer be accepted. The record's namespace is `id-jag <iss>` in the table of
/// client assertion `jti`s.
async fn single_use(
    state: &AsState,
    idp: &TrustedIdp,
    verified: &VerifiedAssertion,
    claims: &IdJagClaims<'_>,
) -> Result<(), AsError> {
    let (jti, client_id) = (claims.jti, claims.client_id);
    let namespace = format!("id-jag {}", idp.config.issuer);
    if state
        .store
        .record_assertion_jti(&namespace, jti, verified.accepted_until)
        .await?
    {
        return Ok(());
    }
    tracing::info!(
        entry = %idp.config.id,
        id_jag_sub = %verified.sub,
        id_jag_jti = jti,
        id_jag_client_id = %client_id,
        principal = %format!("{}:{}", idp.config.id, verified.sub),
        "ID-JAG refused: already redeemed"
    );
    Err(IdJagGrantError::Replayed.into())
}

/// Step 15, and the log line of EMA-AS-22.
fn issue(
    state: &AsState,
    redemption: &Redemption<'_>,
    resource: &str,
    scopes: &[String],
    bound: Option<&BoundKey>,
) -> Result<Response, AsError> {
    let Redemption {
        idp,
        verified,
        client,
        jti,
    } = redemption;
    let principal = format!("{}:{}", idp.config.id, verified.sub);
    let (response, access_jti) = issue_access_token(
        state,
        &TokenGrant {
            client_id: &client.record.client_id,
            sub: &principal,
            resource,
            scopes,
            refresh_token: None,
            id_token: None,
            bound,
            lifetime: idp.config.access_token_ttl,
        },
    )?;
    tracing::info!(
        entry = %idp.config.id,
        id_jag_sub = %verified.sub,
        id_jag_jti = jti,
        client_id = %client.record.client_id,
        principal = %principal,
        resource,
        access_jti = %access_jti,
        "ID-JAG redeemed"
    );
    metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "jwt-bearer", "entry" => idp.config.id.clone()).increment(1);
    Ok(response)
}
