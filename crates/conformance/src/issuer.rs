//! The issuer a server under test trusts so that the checker can mint its tokens:
//! RFC 8414 metadata (and the OpenID Connect alias) and the JWKS with the checker's
//! public key. `mcp-auth conformance issuer` serves it; the server under test is
//! configured to trust its URL. It issues nothing: it has no token endpoint that
//! works, only what a verifier reads.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::mint::Minter;

/// The routes: `/.well-known/oauth-authorization-server`,
/// `/.well-known/openid-configuration` and `/jwks`.
pub fn router(minter: &Minter) -> Router {
    let issuer = minter.issuer().to_owned();
    let metadata = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["client_credentials"],
    });
    let jwks = minter.jwks();
    let served = metadata.clone();
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let m = served.clone();
                async move { Json(m) }
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let m = metadata.clone();
                async move { Json(m) }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let k = jwks.clone();
                async move { Json(k) }
            }),
        )
}
