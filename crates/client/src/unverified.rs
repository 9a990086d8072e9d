//! What the client reads from a JWT without verifying its signature: only what
//! decides where the token may be sent (the workload token's `aud`, WIF-C-4; the ID
//! token's `iss` and `exp`, EMA-C-2 and EMA-C-3; the ID-JAG's `aud`, EMA-C-5), never
//! whether to trust it: the server it goes to verifies it. The checks protect the
//! token from a party a malicious MCP server names (WIF §12.5,
//! profiles/enterprise-managed-authorization.md §12.3).

use mcp_auth_core::jwt_claims::Audience;
use serde_json::{Map, Value};

/// The claims of `token`: a compact JWS whose payload is a JSON object with no
/// member repeated, or `None`.
pub(crate) fn claims(token: &str) -> Option<Map<String, Value>> {
    mcp_auth_core::jws::split_compact(token)
        .ok()
        .and_then(|jws| mcp_auth_core::jws::strict_object(&jws.payload))
}

/// What a token's `aud` says about the issuer it may be sent to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AudienceCheck {
    /// Exactly the issuer: send.
    Issuer,
    /// Not a JWT whose claims can be read.
    NotJwt,
    /// Anything else, as JSON (`none` when absent).
    Other(String),
}

/// Whether `token`'s `aud` (decoded, not verified) is exactly `issuer`, as a
/// string or the only element of an array (WIF-C-4 and EMA-C-5, D1 of both
/// profiles: no trailing-slash or case normalization, no second audience).
pub(crate) fn audience_of(token: &str, issuer: &str) -> AudienceCheck {
    match claims(token) {
        Some(claims) => audience_in(&claims, issuer),
        None => AudienceCheck::NotJwt,
    }
}

/// [`audience_of`] for claims already decoded.
pub(crate) fn audience_in(claims: &Map<String, Value>, issuer: &str) -> AudienceCheck {
    let Some(aud) = claims.get("aud") else {
        return AudienceCheck::Other("none".into());
    };
    match serde_json::from_value::<Audience>(aud.clone()) {
        Ok(named) if named.iter().eq([issuer]) => AudienceCheck::Issuer,
        _ => AudienceCheck::Other(aud.to_string()),
    }
}
