//! The token endpoint side of the dpop profile (RFC 9449 §5, §8; profiles/dpop.md
//! DPOP-AS-*): the `DPoP` proof of a token request, checked by the one proof check
//! of `mcp_auth_core::dpop`, yields the key the token is bound to (`cnf.jkt`,
//! `token_type: DPoP`); server nonces; the `dpop_bound_access_tokens` client
//! metadata.

use axum::http::HeaderMap;
use mcp_auth_core::dpop::{DEFAULT_ALGORITHMS, ProofContext, ProofError, check_proof};
use mcp_auth_core::{Confirmation, OneTimeUse, ReplayRefusal, replay_key};
use serde_json::Value;

use crate::AsState;
use crate::error::{AsError, BindingMetadataError, DpopError, InternalError, TokenRequestError};
use crate::httpsig_token::BoundKey;
use crate::store::ClientRecord;

/// RFC 9449 §5.2: the client always sends a DPoP proof.
pub const DPOP_BOUND_METADATA: &str = "dpop_bound_access_tokens";

/// The `DPoP` header.
pub const DPOP_HEADER: &str = "dpop";

/// Reads `dpop_bound_access_tokens` from client metadata (DCR, CIMD): a boolean.
pub fn registration_metadata(
    meta: &Value,
) -> Result<Vec<(&'static str, Value)>, BindingMetadataError> {
    match meta.get(DPOP_BOUND_METADATA) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Bool(b)) => Ok(vec![(DPOP_BOUND_METADATA, Value::Bool(*b))]),
        Some(_) => Err(BindingMetadataError::DpopNotABoolean),
    }
}

/// Whether the client registered `dpop_bound_access_tokens: true`.
fn always_dpop(client: &ClientRecord) -> bool {
    client.metadata.get(DPOP_BOUND_METADATA) == Some(&Value::Bool(true))
}

/// Checks the token request's `DPoP` proof, if any (RFC 9449 §4.3 at the token
/// endpoint as advertised, `{issuer}/token`), records its `jti`, and returns the key
/// to bind. `Ok(None)`: no proof, and the client did not register
/// `dpop_bound_access_tokens` (§5.2 makes the proof mandatory then). `client` is
/// `None` for a grant without a client (a workload assertion).
pub async fn verify_token_request(
    state: &AsState,
    client: Option<&ClientRecord>,
    headers: &HeaderMap,
) -> Result<Option<BoundKey>, AsError> {
    let values: Vec<&[u8]> = headers
        .get_all(DPOP_HEADER)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if values.is_empty() {
        if client.is_some_and(always_dpop) {
            return Err(TokenRequestError::DpopProofRequired.into());
        }
        return Ok(None);
    }
    let uri = format!("{}/token", state.config.issuer);
    let now = state.clock.now();
    let context = ProofContext {
        method: "POST",
        uri: &uri,
        access_token: None,
        bound_jkt: None,
        algorithms: &DEFAULT_ALGORITHMS,
        window: state.config.dpop.window,
        nonces: state.dpop_nonces.as_deref(),
        now,
    };
    let proof = check_proof(values, &context).map_err(|e| proof_error(state, e, now))?;
    state
        .replay
        .check_once(OneTimeUse::new(
            &replay_key("dpop-token", &proof.jkt, &proof.jti),
            state.config.dpop.window.replay_ttl(),
            proof.iat,
            u64::try_from(state.config.dpop.window.max_skew).unwrap_or(0),
        ))
        .await
        .map_err(|refusal| match refusal {
            ReplayRefusal::Replayed => proof_error(state, ProofError::Replayed, now),
            // The replay cache's memory begins after the proof could be used: refused
            // as a proof outside its window (RFC 9449 §4.3 check 11).
            ReplayRefusal::Forgotten { .. } => proof_error(state, ProofError::Time, now),
            ReplayRefusal::Unavailable(e) => AsError::from(e),
        })?;
    tracing::debug!(client_id = client.map(|c| c.client_id.as_str()), jkt = %proof.jkt, "DPoP proof verified");
    Ok(Some(BoundKey {
        confirmation: Confirmation::Jkt(proof.jkt.clone()),
        thumbprint: proof.jkt,
    }))
}

/// §5: `invalid_dpop_proof` (400); §8: `use_dpop_nonce` (400) with a fresh nonce in
/// `DPoP-Nonce`.
fn proof_error(state: &AsState, error: ProofError, now: i64) -> AsError {
    match (&error, state.dpop_nonces.as_ref().map(|s| s.issue(now))) {
        (ProofError::Nonce, Some(Some(nonce))) => DpopError::UseNonce { error, nonce }.into(),
        (ProofError::Nonce, Some(None)) => InternalError::NoDpopNonce.into(),
        _ => DpopError::Proof(error).into(),
    }
}

/// The nonce to send with a successful token response, when nonces are on (§8.2:
/// the next one, so the client never has to fail first).
pub fn next_nonce(state: &AsState) -> Option<String> {
    state
        .dpop_nonces
        .as_ref()
        .and_then(|s| s.issue(state.clock.now()))
}
