//! RFC 8414 authorization server metadata (and its OIDC discovery alias) and the JWKS.
//!
//! For an issuer with a path (`https://as.example/tenant`) the metadata is served at
//! every location a client may try: `/.well-known/oauth-authorization-server/tenant`
//! (RFC 8414 §3.1 path insertion), `/.well-known/openid-configuration/tenant`, and
//! `/tenant/.well-known/openid-configuration` (OIDC Discovery 1.0 §4).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AsState;

/// The metadata document.
pub fn document(state: &AsState) -> Value {
    let issuer = &state.config.issuer;
    let mut scopes: Vec<&str> = state
        .config
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().map(String::as_str))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "ES384", "RS256", "PS256", "PS384", "PS512"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    // HTTPSIG-AS-1 (the draft leaves discovery open; profiles/http-message-signatures.md
    // defines these two members).
    let mut algs: Vec<&str> = mcp_auth_core::cnf::RUNTIME_ALGORITHMS
        .iter()
        .map(|a| a.name())
        .collect();
    algs.extend(
        mcp_auth_core::cnf::PREREGISTERED_ALGORITHMS
            .iter()
            .map(|a| a.name()),
    );
    doc["httpsig_key_binding_methods_supported"] = json!(["runtime", "preregistered"]);
    // RFC 9449 §5.1.
    doc["dpop_signing_alg_values_supported"] = json!(
        mcp_auth_core::dpop::DEFAULT_ALGORITHMS
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
    );
    doc["httpsig_signing_alg_values_supported"] = json!(algs);
    // WIF-AS-1, EMA-AS-1: the jwt-bearer grant, when some issuer is trusted for it;
    // the issuers themselves are not published (WIF §5.1, ID-JAG draft §8.4).
    if crate::jwt_bearer::is_offered(state)
        && let Some(grants) = doc["grant_types_supported"].as_array_mut()
    {
        grants.push(json!(crate::token::JWT_BEARER_GRANT));
    }
    if state.id_jag.is_enabled() {
        doc["authorization_grant_profiles_supported"] = json!([crate::id_jag::ID_JAG_PROFILE]);
    }
    if state.config.identity_provider.is_enabled() {
        identity_provider_members(&mut doc);
    }
    if state.config.dynamic_registration {
        doc["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    doc
}

/// EMA §5.1 (EMA-IDP-1): the identity provider role's members, from OIDC Discovery
/// §3 and the identity chaining draft §3. No member names a target (ID-JAG draft
/// §8.4).
fn identity_provider_members(doc: &mut Value) {
    use mcp_auth_core::id_jag::{ID_JAG_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
    doc["subject_types_supported"] = json!(["public"]);
    doc["id_token_signing_alg_values_supported"] = json!([crate::keys::IDENTITY_ALG.name()]);
    doc["claims_supported"] = json!(["iss", "sub", "aud", "iat", "exp", "auth_time", "nonce"]);
    doc["identity_chaining_requested_token_types_supported"] = json!([ID_JAG_TOKEN_TYPE]);
    if let Some(scopes) = doc["scopes_supported"].as_array_mut() {
        scopes.insert(0, json!(crate::idp::OPENID));
    }
    if let Some(grants) = doc["grant_types_supported"].as_array_mut() {
        grants.push(json!(TOKEN_EXCHANGE_GRANT));
    }
}

/// `GET` a metadata location.
pub async fn metadata(State(state): State<AsState>) -> Response {
    cacheable(Json(document(&state)).into_response())
}

/// `GET /jwks`.
pub async fn jwks(State(state): State<AsState>) -> Response {
    let keys = state.keys.current();
    cacheable(Json(&keys.jwks).into_response())
}

fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}
