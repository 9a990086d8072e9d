//! The Client ID Metadata Document checks (profiles/base.md BASE-AS-21, -22): the
//! checker serves its own documents ([`router`]), one valid and three broken, at a
//! base URL the AS under test can fetch ([`AsTarget::client_documents`]), and uses
//! their URLs as `client_id`s. Without such a URL the checks are skipped: an AS
//! fetches documents over https from the Internet, which a checker on a laptop does
//! not serve unless the user puts it behind one (a tunnel, a reverse proxy).
//!
//! Each check first sends the valid document's authorization request (the control):
//! when even that is refused, the AS cannot fetch from here (or refuses the URL), so
//! a refusal of a broken one would prove nothing, and the check is skipped.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::authorization_server::{AsTarget, PublicClient, REGISTERED_REDIRECT_URI};
use crate::check::{Check, Outcome};

/// The documents, by path: the valid one first.
const VALID: &str = "/valid.json";
/// One document broken in each way of BASE-AS-21: its path and how it is broken.
const BROKEN: [(&str, &str); 3] = [
    ("/not-json.json", "not JSON"),
    ("/no-client-name.json", "no client_name"),
    ("/other-client-id.json", "a client_id other than its URL"),
];

/// Serves the documents as they must be reachable at `base` (no trailing slash):
/// each `client_id` names `base` + its path, the redirect URI is
/// [`REGISTERED_REDIRECT_URI`].
pub fn router(base: &str) -> Router {
    let valid = document(base, VALID, true);
    let no_name = document(base, "/no-client-name.json", false);
    let other = {
        let mut d = document(base, "/other-client-id.json", true);
        d["client_id"] = json!("https://another-client.example/client.json");
        d
    };
    Router::new()
        .route(VALID, get(move || async move { axum::Json(valid) }))
        .route(
            "/not-json.json",
            get(|| async { ([("content-type", "application/json")], "{not json") }),
        )
        .route(
            "/no-client-name.json",
            get(move || async move { axum::Json(no_name) }),
        )
        .route(
            "/other-client-id.json",
            get(move || async move { axum::Json(other) }),
        )
}

fn document(base: &str, path: &str, named: bool) -> Value {
    let mut d = json!({
        "client_id": format!("{base}{path}"),
        "redirect_uris": [REGISTERED_REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if named {
        d["client_name"] = json!("mcp-auth conformance");
    }
    d
}

/// BASE-AS-21 and -22, in order.
pub fn checks() -> Vec<Check<AsTarget>> {
    vec![
        Check {
            id: "BASE-AS-21",
            requirement: "a client whose metadata document is not JSON, lacks a required member or names another client_id is refused",
            run: Box::new(|t| Box::pin(broken_documents_refused(t))),
        },
        Check {
            id: "BASE-AS-22",
            requirement: "a redirect_uri the client's metadata document does not list is refused",
            run: Box::new(|t| Box::pin(unlisted_redirect_refused(t))),
        },
    ]
}

/// The documents' base URL after the control, or the outcome when the checks
/// cannot run.
async fn control(t: &AsTarget) -> Result<String, Outcome> {
    let supported = t.metadata().await.ok().and_then(|m| {
        m.get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
    });
    if supported != Some(true) {
        return Err(Outcome::skip(
            "the AS does not publish client_id_metadata_document_supported: true",
        ));
    }
    let Some(base) = t.client_documents.clone() else {
        return Err(Outcome::skip(
            "needs the checker's metadata documents at a URL the AS can fetch (--client-documents-url with --client-documents-listen)",
        ));
    };
    let client = PublicClient {
        client_id: format!("{base}{VALID}"),
        redirect_uri: REGISTERED_REDIRECT_URI.to_owned(),
    };
    let reply = crate::as_authorize::reply(t, &client, REGISTERED_REDIRECT_URI).await?;
    if reply.refused() {
        return Err(Outcome::skip(format!(
            "the valid document {} is refused ({}): the AS cannot fetch it or refuses its URL, so a refusal would prove nothing",
            client.client_id,
            reply.summary()
        )));
    }
    Ok(base)
}

async fn broken_documents_refused(t: &AsTarget) -> Outcome {
    let base = match control(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let mut seen = Vec::new();
    for (path, how) in BROKEN {
        let client = PublicClient {
            client_id: format!("{base}{path}"),
            redirect_uri: REGISTERED_REDIRECT_URI.to_owned(),
        };
        let reply = match crate::as_authorize::reply(t, &client, REGISTERED_REDIRECT_URI).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let line = format!("{how}: {}", reply.summary());
        if reply.to_client() {
            return Outcome::fail(line);
        }
        seen.push(line);
    }
    Outcome::pass(seen.join("; "))
}

async fn unlisted_redirect_refused(t: &AsTarget) -> Outcome {
    let base = match control(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let client = PublicClient {
        client_id: format!("{base}{VALID}"),
        redirect_uri: REGISTERED_REDIRECT_URI.to_owned(),
    };
    let unlisted = format!("{REGISTERED_REDIRECT_URI}/unlisted");
    match crate::as_authorize::reply(t, &client, &unlisted).await {
        Ok(reply) => Outcome::from_bool(
            !reply.to_client(),
            format!("redirect_uri {unlisted}: {}", reply.summary()),
        ),
        Err(o) => o,
    }
}
