//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP authorization "Client ID Metadata Documents"): a `client_id` that is an https URL
//! names a JSON document describing the client, fetched by the AS when first seen.
//!
//! The fetch goes through the SSRF guard of [`crate::outbound`] (at most 5 KiB,
//! cached per max-age). On top of its rules, a client id URL must have a path and no
//! dot segments, and the document's `client_id` must equal the URL exactly.

use serde_json::{Value, json};

use crate::outbound::{FetchError, GuardedFetch};
use crate::store::ClientRecord;

/// The largest document accepted.
pub const MAX_DOCUMENT: usize = 5 * 1024;

/// Why a client id URL did not yield a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CimdError {
    /// The URL is not an acceptable client id URL.
    #[error("the client_id URL is not acceptable: {0}")]
    BadUrl(&'static str),
    /// The guarded fetch failed.
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    /// The document is not valid.
    #[error("the client metadata document is invalid: {0}")]
    Invalid(String),
}

/// True when `client_id` has the form of a metadata document URL.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The client described by the document at `client_id`.
pub async fn client(
    fetcher: &GuardedFetch,
    client_id: &str,
    scopes: &[String],
) -> Result<ClientRecord, CimdError> {
    let url = fetcher.check_url(client_id)?;
    if url.path() == "/" || url.path().is_empty() {
        return Err(CimdError::BadUrl("it must contain a path"));
    }
    // `Url` normalizes dot segments away; compare with the text to refuse them.
    if client_id.contains("/./")
        || client_id.contains("/../")
        || client_id.ends_with("/.")
        || client_id.ends_with("/..")
    {
        return Err(CimdError::BadUrl("it must not contain dot segments"));
    }
    let doc = fetcher.json(client_id, MAX_DOCUMENT).await?;
    to_record(client_id, &doc, scopes)
}

fn to_record(client_id: &str, doc: &Value, scopes: &[String]) -> Result<ClientRecord, CimdError> {
    let invalid = |d: &str| CimdError::Invalid(d.to_owned());
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(invalid(
            "its client_id does not equal the URL it was fetched from",
        ));
    }
    let name = doc
        .get("client_name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("client_name is required"))?;
    let redirect_uris: Vec<String> = doc
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .ok_or_else(|| invalid("redirect_uris is required"))?;
    for uri in &redirect_uris {
        crate::registration::check_redirect_uri(uri, "native").map_err(CimdError::Invalid)?;
    }
    let method = doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("none");
    let mut metadata = json!({
        "client_name": name, "redirect_uris": redirect_uris,
        "grant_types": doc.get("grant_types").cloned().unwrap_or_else(|| json!(["authorization_code"])),
        "scopes": scopes, "source": "cimd",
    });
    match method {
        "none" => metadata["token_endpoint_auth_method"] = json!("none"),
        "private_key_jwt" => {
            metadata["token_endpoint_auth_method"] = json!("private_key_jwt");
            // The keys inline, or their URL (fetched through the same guard when needed).
            match (doc.get("jwks"), doc.get("jwks_uri").and_then(Value::as_str)) {
                (Some(jwks), None) => metadata["jwks"] = jwks.clone(),
                (None, Some(uri)) => metadata["jwks_uri"] = json!(uri),
                _ => {
                    return Err(invalid(
                        "private_key_jwt needs exactly one of jwks and jwks_uri",
                    ));
                }
            }
        }
        other => {
            return Err(CimdError::Invalid(format!(
                "token_endpoint_auth_method `{other}` cannot be used by a metadata-document client"
            )));
        }
    }
    let binding = crate::httpsig_token::registration_metadata(doc)
        .and_then(|mut b| {
            b.extend(crate::dpop_token::registration_metadata(doc)?);
            Ok(b)
        })
        .map_err(CimdError::Invalid)?;
    for (k, v) in binding {
        metadata[k] = v;
    }
    // Anyone can publish a metadata document: like a dynamically registered client, a
    // document client gets only grants a user consents to (docs/security.md).
    let grants: Vec<String> = metadata["grant_types"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if grants.len()
        != metadata["grant_types"]
            .as_array()
            .map_or(usize::MAX, Vec::len)
    {
        return Err(invalid("grant_types must be an array of strings"));
    }
    crate::registration::check_user_consent_grants(&grants).map_err(CimdError::Invalid)?;
    Ok(ClientRecord {
        client_id: client_id.to_owned(),
        secret_sha256: None,
        metadata,
        created_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn client_id_url_rules() {
        let f = GuardedFetch::new(false);
        for (bad, why) in [
            ("https://app.example/", "it must contain a path"),
            ("https://app.example", "it must contain a path"),
            (
                "https://app.example/a/../c",
                "it must not contain dot segments",
            ),
        ] {
            assert_eq!(
                client(&f, bad, &[]).await.unwrap_err(),
                CimdError::BadUrl(why),
                "{bad}"
            );
        }
        assert!(matches!(
            client(&f, "http://app.example/c.json", &[]).await,
            Err(CimdError::Fetch(FetchError::BadUrl(_)))
        ));
    }
}
