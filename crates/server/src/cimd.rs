//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP authorization "Client ID Metadata Documents"): a `client_id` that is an https URL
//! names a JSON document describing the client, fetched by the AS when first seen.
//!
//! The fetch is an outbound request an attacker chooses, so it is guarded (§6, SSRF):
//! https only; no credentials, fragment, or dot segments in the URL; the host must
//! resolve to public addresses only, and the connection is pinned to the address that
//! was checked (no DNS rebinding between check and use); no redirects; 5 s timeout;
//! at most 5 KiB; `client_id` in the document must equal the URL exactly. Documents are
//! cached per `Cache-Control: max-age` (clamped to 1 minute .. 1 day; 5 minutes
//! without).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::store::ClientRecord;

/// The largest document accepted.
pub const MAX_DOCUMENT: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CACHE_ENTRIES: usize = 1000;

/// Why a client id URL did not yield a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CimdError {
    /// The URL is not an acceptable client id URL.
    #[error("the client_id URL is not acceptable: {0}")]
    BadUrl(&'static str),
    /// The host resolves to an address the AS must not contact.
    #[error("the client_id URL's host resolves to a non-public address")]
    Forbidden,
    /// The fetch failed (connection, timeout, status, size).
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    /// The document is not valid.
    #[error("the client metadata document is invalid: {0}")]
    Invalid(String),
}

/// Fetches and caches Client ID Metadata Documents.
#[derive(Debug, Default)]
pub struct CimdFetcher {
    cache: Mutex<HashMap<String, (ClientRecord, Instant)>>,
    allow_http_loopback: bool,
}

/// True when `client_id` has the form of a metadata document URL.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

impl CimdFetcher {
    /// A fetcher; `allow_http_loopback` is the `[danger]` switch for tests.
    pub fn new(allow_http_loopback: bool) -> Self {
        Self {
            cache: Mutex::new(HashMap::new()),
            allow_http_loopback,
        }
    }

    /// The client described by the document at `client_id`.
    pub async fn client(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<ClientRecord, CimdError> {
        if let Some(hit) = self.cached(client_id) {
            return Ok(hit);
        }
        let url = self.check_url(client_id)?;
        let addr = self.resolve_public(&url).await?;
        let (doc, max_age) = fetch(&url, addr).await?;
        let record = to_record(client_id, &doc, scopes)?;
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if cache.len() >= MAX_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(
            client_id.to_owned(),
            (record.clone(), Instant::now() + max_age),
        );
        Ok(record)
    }

    fn cached(&self, client_id: &str) -> Option<ClientRecord> {
        let cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        cache
            .get(client_id)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(r, _)| r.clone())
    }

    fn check_url(&self, client_id: &str) -> Result<url::Url, CimdError> {
        let url = url::Url::parse(client_id).map_err(|_| CimdError::BadUrl("not a URL"))?;
        let loopback_http = self.allow_http_loopback
            && url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !loopback_http {
            return Err(CimdError::BadUrl("it must use https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CimdError::BadUrl("it must not contain credentials"));
        }
        if url.fragment().is_some() {
            return Err(CimdError::BadUrl("it must not contain a fragment"));
        }
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
        Ok(url)
    }

    async fn resolve_public(&self, url: &url::Url) -> Result<SocketAddr, CimdError> {
        let host = url.host_str().ok_or(CimdError::BadUrl("it has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| CimdError::Fetch(format!("cannot resolve the host: {e}")))?
            .collect();
        let allowed = |a: &SocketAddr| {
            is_public(a.ip()) || (self.allow_http_loopback && a.ip().is_loopback())
        };
        // Every address must be acceptable: a name that also resolves inward is refused.
        if addrs.is_empty() || !addrs.iter().all(allowed) {
            return Err(CimdError::Forbidden);
        }
        Ok(addrs[0])
    }
}

/// True for addresses on the public internet: not loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast, documentation, or ULA.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

async fn fetch(url: &url::Url, addr: SocketAddr) -> Result<(Value, Duration), CimdError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        // Pin the connection to the address that passed the check.
        .resolve(&host, addr)
        .build()
        .map_err(|e| CimdError::Fetch(e.to_string()))?;
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            CimdError::Fetch(if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            })
        })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(CimdError::Fetch(format!(
            "HTTP status {}",
            response.status().as_u16()
        )));
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
        })
        .map_or(Duration::from_secs(300), |s| {
            Duration::from_secs(s.clamp(60, 86_400))
        });
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| CimdError::Fetch("the body could not be read".into()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err(CimdError::Fetch(format!(
                "the document is larger than {MAX_DOCUMENT} bytes"
            )));
        }
    }
    let doc: Value =
        serde_json::from_slice(&body).map_err(|_| CimdError::Invalid("not JSON".into()))?;
    Ok((doc, max_age))
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
            let jwks = doc.get("jwks").ok_or_else(|| {
                invalid("private_key_jwt needs jwks (jwks_uri is not supported yet)")
            })?;
            metadata["token_endpoint_auth_method"] = json!("private_key_jwt");
            metadata["jwks"] = jwks.clone();
        }
        other => {
            return Err(CimdError::Invalid(format!(
                "token_endpoint_auth_method `{other}` cannot be used by a metadata-document client"
            )));
        }
    }
    if metadata["grant_types"]
        .as_array()
        .is_some_and(|g| g.iter().any(|x| x == "client_credentials"))
        && method == "none"
    {
        return Err(invalid("a public client cannot use client_credentials"));
    }
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

    #[test]
    fn public_addresses() {
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn url_rules() {
        let f = CimdFetcher::new(false);
        assert!(f.check_url("https://app.example/client.json").is_ok());
        for bad in [
            "http://app.example/c.json",
            "https://app.example/",
            "https://app.example",
            "https://u:p@app.example/c",
            "https://app.example/c#f",
            "https://app.example/a/../c",
            "ftp://x/y",
            "not a url",
            "http://127.0.0.1/c",
        ] {
            assert!(f.check_url(bad).is_err(), "{bad}");
        }
        assert!(
            CimdFetcher::new(true)
                .check_url("http://127.0.0.1:9/c")
                .is_ok()
        );
    }
}
