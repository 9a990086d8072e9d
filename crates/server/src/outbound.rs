//! Outbound fetches an attacker can influence (Client ID Metadata Documents, client
//! `jwks_uri`), guarded against SSRF in one place: https only (http on loopback only
//! with the `[danger]` test switch); no credentials or fragment in the URL; every
//! address the host resolves to must be public, and the connection is pinned to the
//! address that was checked (no DNS rebinding between check and use); no redirects;
//! 5 s timeout; a size limit; JSON only. Responses are cached per
//! `Cache-Control: max-age` (clamped to 1 minute .. 1 day; 5 minutes without).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CACHE_ENTRIES: usize = 1000;

/// Why a guarded fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not acceptable.
    #[error("the URL is not acceptable: {0}")]
    BadUrl(&'static str),
    /// The host resolves to an address the server must not contact.
    #[error("the URL's host resolves to a non-public address")]
    Forbidden,
    /// Connection, timeout, status or size.
    #[error("{0}")]
    Failed(String),
    /// The body is not JSON.
    #[error("the response is not JSON")]
    NotJson,
}

/// Fetches JSON documents behind the SSRF guard, with a cache.
#[derive(Debug, Default)]
pub struct GuardedFetch {
    allow_http_loopback: bool,
    cache: Mutex<HashMap<String, (Value, Instant)>>,
}

impl GuardedFetch {
    /// A fetcher; `allow_http_loopback` is the `[danger]` switch for tests.
    pub fn new(allow_http_loopback: bool) -> Self {
        Self {
            allow_http_loopback,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the generic URL rules (scheme, credentials, fragment).
    pub fn check_url(&self, text: &str) -> Result<url::Url, FetchError> {
        let url = url::Url::parse(text).map_err(|_| FetchError::BadUrl("not a URL"))?;
        let loopback_http = self.allow_http_loopback
            && url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !loopback_http {
            return Err(FetchError::BadUrl("it must use https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::BadUrl("it must not contain credentials"));
        }
        if url.fragment().is_some() {
            return Err(FetchError::BadUrl("it must not contain a fragment"));
        }
        Ok(url)
    }

    /// The JSON document at `text`, at most `max_bytes` long, from the cache when fresh.
    pub async fn json(&self, text: &str, max_bytes: usize) -> Result<Value, FetchError> {
        if let Some(v) = self.cached(text) {
            return Ok(v);
        }
        let url = self.check_url(text)?;
        let addr = self.resolve_public(&url).await?;
        let (value, max_age) = fetch(&url, addr, max_bytes).await?;
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if cache.len() >= MAX_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(text.to_owned(), (value.clone(), Instant::now() + max_age));
        Ok(value)
    }

    fn cached(&self, text: &str) -> Option<Value> {
        let cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        cache
            .get(text)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(v, _)| v.clone())
    }

    async fn resolve_public(&self, url: &url::Url) -> Result<SocketAddr, FetchError> {
        let host = url.host_str().ok_or(FetchError::BadUrl("it has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| FetchError::Failed(format!("cannot resolve the host: {e}")))?
            .collect();
        let allowed = |a: &SocketAddr| {
            is_public(a.ip()) || (self.allow_http_loopback && a.ip().is_loopback())
        };
        // Every address must be acceptable: a name that also resolves inward is refused.
        if addrs.is_empty() || !addrs.iter().all(allowed) {
            return Err(FetchError::Forbidden);
        }
        Ok(addrs[0])
    }
}

/// True for addresses on the public internet: not loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast, documentation, reserved or ULA.
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

async fn fetch(
    url: &url::Url,
    addr: SocketAddr,
    max_bytes: usize,
) -> Result<(Value, Duration), FetchError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        // Pin the connection to the address that passed the check.
        .resolve(&host, addr)
        .build()
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            FetchError::Failed(if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            })
        })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Failed(format!(
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
        .map_err(|_| FetchError::Failed("the body could not be read".into()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            return Err(FetchError::Failed(format!(
                "the document is larger than {max_bytes} bytes"
            )));
        }
    }
    let value: Value = serde_json::from_slice(&body).map_err(|_| FetchError::NotJson)?;
    Ok((value, max_age))
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
        let f = GuardedFetch::new(false);
        assert!(f.check_url("https://app.example/keys.json").is_ok());
        for bad in [
            "http://app.example/c.json",
            "https://u:p@app.example/c",
            "https://app.example/c#f",
            "ftp://x/y",
            "not a url",
            "http://127.0.0.1/c",
        ] {
            assert!(f.check_url(bad).is_err(), "{bad}");
        }
        assert!(
            GuardedFetch::new(true)
                .check_url("http://127.0.0.1:9/c")
                .is_ok()
        );
    }
}
