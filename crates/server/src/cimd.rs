//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP authorization "Client ID Metadata Documents"): a `client_id` that is an https URL
//! names a JSON document describing the client, fetched by the AS when first seen.
//!
//! The fetch goes through the SSRF guard of [`crate::outbound`] (at most 5 KiB,
//! cached per max-age). On top of its rules, a client id URL must have a path and no
//! dot segments, and the document's `client_id` must equal the URL exactly.

use serde_json::{Value, json};

use crate::error::{BindingMetadataError, GrantTypesError, RedirectUriError};
use crate::outbound::{FetchError, GuardedFetch};
use crate::store::{ClientRecord, string_list};

/// The largest document accepted.
pub const MAX_DOCUMENT: usize = 5 * 1024;

/// Why a client id URL did not yield a client.
#[derive(Debug, thiserror::Error)]
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
    Invalid(#[from] InvalidDocument),
}

/// What makes a client metadata document unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDocument {
    /// Its `client_id` is not the URL it came from.
    #[error("its client_id does not equal the URL it was fetched from")]
    ClientIdMismatch,
    /// No `client_name`.
    #[error("client_name is required")]
    ClientNameRequired,
    /// No `redirect_uris`.
    #[error("redirect_uris is required")]
    RedirectUrisRequired,
    /// A redirect URI breaks a rule.
    #[error(transparent)]
    RedirectUri(#[from] RedirectUriError),
    /// `private_key_jwt` with neither or both of `jwks` and `jwks_uri`.
    #[error("private_key_jwt needs exactly one of jwks and jwks_uri")]
    KeysNeeded,
    /// A `token_endpoint_auth_method` other than `none` and `private_key_jwt`.
    #[error("token_endpoint_auth_method `{0}` cannot be used by a metadata-document client")]
    AuthMethod(String),
    /// A proof-of-possession member is wrong.
    #[error(transparent)]
    Binding(#[from] BindingMetadataError),
    /// `grant_types` is not an array of strings.
    #[error("grant_types must be an array of strings")]
    GrantTypesNotStrings,
    /// A grant type no user consents to.
    #[error(transparent)]
    GrantTypes(#[from] GrantTypesError),
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
    Ok(to_record(client_id, &doc, scopes)?)
}

fn to_record(
    client_id: &str,
    doc: &Value,
    scopes: &[String],
) -> Result<ClientRecord, InvalidDocument> {
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(InvalidDocument::ClientIdMismatch);
    }
    let name = doc
        .get("client_name")
        .and_then(Value::as_str)
        .ok_or(InvalidDocument::ClientNameRequired)?;
    let redirect_uris = string_list(doc, "redirect_uris");
    if redirect_uris.is_empty() {
        return Err(InvalidDocument::RedirectUrisRequired);
    }
    for uri in &redirect_uris {
        crate::registration::check_redirect_uri(uri, "native")?;
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
                _ => return Err(InvalidDocument::KeysNeeded),
            }
        }
        other => return Err(InvalidDocument::AuthMethod(other.to_owned())),
    }
    let mut binding = crate::httpsig_token::registration_metadata(doc)?;
    binding.extend(crate::dpop_token::registration_metadata(doc)?);
    for (k, v) in binding {
        metadata[k] = v;
    }
    // Anyone can publish a metadata document: like a dynamically registered client, a
    // document client gets only grants a user consents to (docs/security.md).
    let grants = string_list(&metadata, "grant_types");
    if grants.len()
        != metadata["grant_types"]
            .as_array()
            .map_or(usize::MAX, Vec::len)
    {
        return Err(InvalidDocument::GrantTypesNotStrings);
    }
    crate::registration::check_user_consent_grants(&grants)?;
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
            let refused = client(&f, bad, &[]).await;
            assert!(
                matches!(&refused, Err(CimdError::BadUrl(w)) if *w == why),
                "{bad}: {refused:?}"
            );
        }
        assert!(matches!(
            client(&f, "http://app.example/c.json", &[]).await,
            Err(CimdError::Fetch(FetchError::BadUrl(_)))
        ));
    }
}
