//! The token endpoint's `jwt-bearer` grant with a workload assertion: the checks of
//! WIF §7.3 in their order (WIF-AS-23), each reporting its own error (§10.1).
//!
//! The pure checks of the assertion are [`mcp_auth_core::workload_assertion`]'s; this
//! module adds what needs the server: the request form, the binding of the token to
//! a key (shared with every grant), the trust entry and its keys, the rules, the
//! resource and scopes, and the token.

use axum::http::{HeaderMap, header};
use axum::response::Response;
use mcp_auth_core::workload_assertion::{
    AssertionError, AssertionRules, ParsedAssertion, VerifiedAssertion,
};

use super::config::WorkloadRule;
use super::{TrustedIssuer, WorkloadTrust};
use crate::AsState;
use crate::error::{AsError, WorkloadGrantError};
use crate::form::Form;
use crate::token::{TokenGrant, issue_access_token, proof_of_possession};

/// The parameters that would authenticate a client, refused on this grant (WIF D6).
const CLIENT_PARAMETERS: [&str; 4] = [
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1) with a
/// workload assertion: WIF §7.3 steps 3 to 13, after [`crate::jwt_bearer`] did steps
/// 1 and 2 (the form, `resource`, and the kind by `typ`).
pub async fn redeem(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
    body: &[u8],
    resource: &str,
    parsed: ParsedAssertion,
) -> Result<Response, AsError> {
    // Step 3: no client.
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(WorkloadGrantError::ClientAuthentication("the Authorization header").into());
    }
    if let Some(p) = CLIENT_PARAMETERS.iter().find(|p| form.get(p).is_some()) {
        return Err(WorkloadGrantError::ClientAuthentication(p).into());
    }
    // Step 4: the binding, as for every grant.
    let bound = proof_of_possession(state, None, headers, body).await?;
    // Steps 5 to 9.
    let (issuer, verified) = verify(state, &parsed).await?;
    // Step 10: the first rule whose condition holds.
    let Some((number, rule)) = first_match(issuer, &verified) else {
        refused(issuer, &verified, None, "no workload rule matches");
        return Err(WorkloadGrantError::NoRuleMatches.into());
    };
    // Step 11: the resource is configured and the rule's.
    let Some(configured) = state
        .config
        .resource(resource)
        .filter(|_| rule.resources.iter().any(|r| r == resource))
    else {
        refused(
            issuer,
            &verified,
            Some((number, rule)),
            "resource not allowed",
        );
        return Err(WorkloadGrantError::ResourceNotAllowed.into());
    };
    // Step 12: every scope the resource's and the rule's; none asked: the defaults.
    let scopes =
        crate::scope::grant_scopes(form.get("scope"), configured, &rule.scopes).map_err(|e| {
            refused(issuer, &verified, Some((number, rule)), "scope not allowed");
            WorkloadGrantError::ScopeNotAllowed(e.0)
        })?;
    // Step 13: no access token outlives the assertion (WIF-AS-18); no refresh token
    // (WIF-AS-17); nothing about the assertion is stored.
    let now = state.clock.now();
    let lifetime = rule
        .access_token_ttl
        .min(verified.accepted_until.saturating_sub(now))
        .max(1);
    let (response, jti) = issue_access_token(
        state,
        &TokenGrant {
            client_id: &rule.principal,
            sub: &rule.principal,
            resource,
            scopes: &scopes,
            refresh_token: None,
            id_token: None,
            bound: bound.as_ref(),
            lifetime,
        },
    )?;
    // WIF-AS-25: the entry, the assertion's sub and jti, the rule, the principal.
    tracing::info!(
        entry = %issuer.config.id,
        assertion_sub = %verified.sub,
        assertion_jti = verified.jti.as_deref(),
        rule = number,
        principal = %rule.principal,
        resource,
        access_jti = %jti,
        "workload assertion accepted"
    );
    metrics::counter!("mcp_auth_tokens_issued_total", "grant" => "jwt-bearer", "entry" => issuer.config.id.clone()).increment(1);
    Ok(response)
}

/// Steps 5 to 9: the header, the trust entry, its key, the signature and the claims.
/// Steps 6 to 8 fail with one description (WIF-AS-24); why is logged.
async fn verify<'s>(
    state: &'s AsState,
    parsed: &ParsedAssertion,
) -> Result<(&'s TrustedIssuer, VerifiedAssertion), AsError> {
    let refuse = |e: AssertionError| AsError::from(WorkloadGrantError::from(e));
    // Step 5.
    let alg = parsed.check_header().map_err(refuse)?;
    // Step 6: the trust domain of a SPIFFE `sub` first, then the exact `iss`.
    let selector = parsed.trust_selector().map_err(refuse)?;
    let Some(issuer) = state.workload.select(&selector) else {
        tracing::info!(
            iss = selector.issuer,
            trust_domain = selector.spiffe_trust_domain,
            "workload assertion refused: no trust entry"
        );
        return Err(refuse(AssertionError::NoTrustEntry));
    };
    let entry = &issuer.config;
    // Step 7: the entry's algorithms, then its one usable key.
    let key = issuer
        .keys
        .key_for(
            &state.outbound,
            state.clock.now(),
            &entry.algorithms,
            parsed.kid(),
            alg,
        )
        .await
        .map_err(|e| AsError::from(e.refusal(WorkloadGrantError::KeysUnavailable)))?;
    // Steps 8 and 9.
    let rules = AssertionRules {
        algorithms: &entry.algorithms,
        max_lifetime: entry.max_assertion_lifetime,
        clock_skew: entry.clock_skew,
        ..AssertionRules::new(entry.trust.entry(), &state.config.issuer)
    };
    let verified = parsed
        .verify(&key, &rules, state.clock.now())
        .map_err(|e| {
            tracing::info!(entry = %entry.id, kid = parsed.kid(), error = ?e, "workload assertion refused");
            refuse(e)
        })?;
    Ok((issuer, verified))
}

/// WIF §6.3: the first rule whose `when` is true; an evaluation error is no match,
/// and is logged for the operator.
fn first_match<'i>(
    issuer: &'i TrustedIssuer,
    verified: &VerifiedAssertion,
) -> Option<(usize, &'i WorkloadRule)> {
    issuer
        .config
        .rules
        .iter()
        .enumerate()
        .find(|(number, rule)| match rule.when.evaluate(&verified.claims) {
            Ok(matched) => matched,
            Err(e) => {
                tracing::info!(entry = %issuer.config.id, rule = number, error = %e, "workload rule did not evaluate; counted as no match");
                false
            }
        })
}

/// WIF-AS-25: a refusal after the signature, with what the operator needs to fix it.
fn refused(
    issuer: &TrustedIssuer,
    verified: &VerifiedAssertion,
    rule: Option<(usize, &WorkloadRule)>,
    why: &str,
) {
    tracing::info!(
        entry = %issuer.config.id,
        assertion_sub = %verified.sub,
        assertion_jti = verified.jti.as_deref(),
        rule = rule.map(|(n, _)| n),
        principal = rule.map(|(_, r)| r.principal.as_str()),
        why,
        "workload assertion refused"
    );
}

impl WorkloadTrust {
    /// WIF §7.3 step 6.
    fn select(
        &self,
        selector: &mcp_auth_core::workload_assertion::TrustSelector<'_>,
    ) -> Option<&TrustedIssuer> {
        use super::config::TrustName;
        let by_domain = selector.spiffe_trust_domain.and_then(|d| {
            self.entries
                .iter()
                .find(|e| matches!(&e.config.trust, TrustName::SpiffeTrustDomain(x) if x == d))
        });
        by_domain.or_else(|| {
            selector.issuer.and_then(|i| {
                self.entries
                    .iter()
                    .find(|e| matches!(&e.config.trust, TrustName::Issuer(x) if x == i))
            })
        })
    }
}
