//! RFC 9728 protected resource metadata, with the http-message-signatures members
//! (HTTPSIG-RS-1; the draft leaves discovery open) and RFC 9728's DPoP members.

use axum::Json;
use axum::Router;
use axum::routing::get;
use mcp_auth_core::httpsig_profile::ALL_PRESENTATION_COMPONENTS;
use serde_json::{Value, json};

use crate::config::ResourceConfig;

/// The metadata document.
pub fn document(config: &ResourceConfig) -> Value {
    let mut doc = json!({
        "resource": config.resource(),
        "authorization_servers": config.authorization_servers,
        "bearer_methods_supported": ["header"],
        // "Required" means "always this profile": with both bound profiles accepted,
        // neither is required on its own (profiles/dpop.md, DPOP-RS-1).
        "httpsig_bound_access_tokens_required": config.bound_tokens_required && config.dpop.is_none(),
        "httpsig_required_components": ALL_PRESENTATION_COMPONENTS,
    });
    // RFC 9728 §2.
    if let Some(dpop) = &config.dpop {
        doc["dpop_signing_alg_values_supported"] =
            json!(dpop.algorithms.iter().map(|a| a.name()).collect::<Vec<_>>());
        doc["dpop_bound_access_tokens_required"] = json!(false);
    }
    if !config.scopes_supported.is_empty() {
        doc["scopes_supported"] = json!(config.scopes_supported);
    }
    doc
}

/// A router serving the document at both RFC 9728 locations: the path-inserted one
/// (`/.well-known/oauth-protected-resource/mcp`) and the bare one.
pub fn router(config: &ResourceConfig) -> Router {
    let doc = document(config);
    let path = config.url().path().trim_end_matches('/').to_owned();
    let serve = move || {
        let doc = doc.clone();
        async move { Json(doc) }
    };
    // The resource's path is matched literally (`gateway_router_with_shutdown`).
    let mut r = Router::new()
        .without_v07_checks()
        .route("/.well-known/oauth-protected-resource", get(serve.clone()));
    if !path.is_empty() {
        r = r.route(
            &format!("/.well-known/oauth-protected-resource{path}"),
            get(serve),
        );
    }
    r
}
