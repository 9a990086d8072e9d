//! Outbound fetches an attacker can influence (Client ID Metadata Documents, client
//! `jwks_uri`), guarded against SSRF in one place: https only (http on loopback only
//! with the `[danger]` test switch); no credentials or fragment in the URL; every
//! address the host resolves to must be public ([`is_public`]: nothing in an IANA
//! special-purpose block, IPv4 embedded in IPv6 included), and the connection is
//! pinned to the address that was checked (no DNS rebinding between check and use);
//! no redirects; the body read by [`mcp_auth_core::fetch::json`] (one 5 s deadline
//! over the whole exchange, a size cap while it arrives, status 200, JSON).
//! Responses are cached per `Cache-Control: max-age` (clamped to 1 minute .. 1 day;
//! 5 minutes without).
//!
//! The errors are fixed texts: they reach the client that named the URL (in an
//! `invalid_client` `error_description`), so they never carry the upstream status,
//! the address or a connection error, which would turn the guard into a port and
//! network scanner. The details go to the server log.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_auth_core::fetch::{FetchError as ReadError, FetchLimits};
use serde_json::Value;

const MAX_CACHE_ENTRIES: usize = 1000;

/// Why a guarded fetch failed. The texts are what the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not acceptable.
    #[error("the URL is not acceptable: {0}")]
    BadUrl(&'static str),
    /// The host resolves to an address the server must not contact.
    #[error("the URL's host resolves to a non-public address")]
    Forbidden,
    /// No document: the name did not resolve, the connection failed or timed out, or
    /// the status was not 200 (redirects included). Which one is logged, not told.
    #[error("the host did not answer with the document")]
    Unavailable,
    /// The document is larger than the limit (bytes).
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not JSON.
    #[error("the response is not JSON")]
    NotJson,
    /// The host answered 404. Only [`GuardedFetch::fetch_document`] tells it apart
    /// (OpenID Connect discovery falls back to the RFC 8414 location on 404 only);
    /// the other methods report it as [`FetchError::Unavailable`].
    #[error("the host has no such document")]
    NotFound,
}

/// A document read by [`GuardedFetch::fetch_document`]: the JSON and how long the
/// server says it may be cached.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedDocument {
    /// The document.
    pub value: Value,
    /// The response's `Cache-Control: max-age`, in seconds, as sent (not clamped;
    /// `None` without one). The caller applies its own bounds.
    pub max_age: Option<u64>,
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
        // A missing document is as unavailable as any other (its callers do not tell).
        let document = match self.fetch_document(text, max_bytes).await {
            Err(FetchError::NotFound) => return Err(FetchError::Unavailable),
            other => other?,
        };
        let value = document.value;
        let max_age = Duration::from_secs(document.max_age.map_or(300, |s| s.clamp(60, 86_400)));
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
        // Resolution is bounded too: a slow resolver costs the same deadline at most.
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(FetchLimits::METADATA.timeout, lookup).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => {
                    tracing::info!(%url, error = %e, "guarded fetch: the host did not resolve");
                    return Err(FetchError::Unavailable);
                }
                Err(_) => {
                    tracing::info!(%url, "guarded fetch: resolving the host timed out");
                    return Err(FetchError::Unavailable);
                }
            };
        // Every address must be acceptable: a name that also resolves inward is refused.
        let allowed = |a: &SocketAddr| {
            is_public(a.ip()) || (self.allow_http_loopback && a.ip().is_loopback())
        };
        if let Some(refused) = addrs.iter().find(|a| !allowed(a)) {
            let block = refusal(refused.ip());
            tracing::info!(
                %url,
                address = %refused.ip(),
                block = ?block.map(|b| (b.to_string(), b.name, b.rfc)),
                "guarded fetch: refused a non-public address"
            );
            return Err(FetchError::Forbidden);
        }
        addrs.first().copied().ok_or_else(|| {
            tracing::info!(%url, "guarded fetch: the host has no address");
            FetchError::Unavailable
        })
    }
}

impl GuardedFetch {
    /// The JSON document at `text`, at most `max_bytes` long, behind the same guard
    /// as [`GuardedFetch::json`] (URL rules, public and pinned address, no redirects,
    /// one 5 s deadline, status 200, JSON) but never from or into the cache: the
    /// caller keeps its own (workload key sources, WIF §6.2, whose cache rules and
    /// 24 h fallback differ). A 404 is [`FetchError::NotFound`] so that discovery can
    /// fall back on it alone; every other failure is what [`GuardedFetch::json`]
    /// returns.
    pub async fn fetch_document(
        &self,
        text: &str,
        max_bytes: usize,
    ) -> Result<FetchedDocument, FetchError> {
        let url = self.check_url(text)?;
        let addr = self.resolve_public(&url).await?;
        fetch_uncached(&url, addr, max_bytes).await
    }
}

/// The guarded request: pinned to `addr`, no redirects, read by the one bounded JSON
/// read of `mcp_auth_core::fetch` (5 s for the whole exchange, `max_bytes`); a 404
/// told apart, and the `max-age` returned as sent.
async fn fetch_uncached(
    url: &url::Url,
    addr: SocketAddr,
    max_bytes: usize,
) -> Result<FetchedDocument, FetchError> {
    let host = url.host_str().unwrap_or_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Pin the connection to the address that passed the check.
        .resolve(host, addr)
        .build()
        .map_err(|e| {
            tracing::warn!(error = %e, "guarded fetch: no HTTP client");
            FetchError::Unavailable
        })?;
    let limits = FetchLimits {
        max_bytes,
        ..FetchLimits::METADATA
    };
    let fetched = mcp_auth_core::fetch::json(client.get(url.clone()), limits)
        .await
        .map_err(|e| {
            tracing::info!(%url, %addr, error = %e, "guarded fetch failed");
            match e {
                ReadError::Status(404) => FetchError::NotFound,
                ReadError::TooLarge(n) => FetchError::TooLarge(n),
                ReadError::NotJson => FetchError::NotJson,
                _ => FetchError::Unavailable,
            }
        })?;
    Ok(FetchedDocument {
        max_age: max_age_seconds(&fetched.headers),
        value: fetched.value,
    })
}

/// The `max-age` directive of a response's `Cache-Control`, in seconds, unclamped.
fn max_age_seconds(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|d| {
                let (name, value) = d.trim().split_once('=')?;
                if name.trim().eq_ignore_ascii_case("max-age") {
                    value.trim().parse::<u64>().ok()
                } else {
                    None
                }
            })
        })
}

/// What the IANA registry says of a block's "Globally Reachable" (RFC 8190 §2), kept
/// with each entry so the table can be audited against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachable {
    /// False in the registry.
    No,
    /// N/A in the registry (Teredo, 6to4: it depends on an embedded IPv4 address).
    NotApplicable,
    /// True in the registry, refused anyway for the reason in the block's name.
    YesButRefused,
    /// Not a special-purpose registry entry (IANA address-space registries).
    Unlisted,
}

/// How the guard treats addresses in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Never contacted.
    Refuse,
    /// The last 32 bits are an IPv4 address (RFC 6052 §2.2, /96), which decides.
    EmbeddedIpv4,
}

/// One block of the guard's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialBlock {
    /// The first address.
    pub prefix: IpAddr,
    /// The prefix length.
    pub len: u8,
    /// The registry's name for it (and why it is refused, when the registry calls it
    /// globally reachable).
    pub name: &'static str,
    /// The RFC that assigns it.
    pub rfc: &'static str,
    /// The registry's "Globally Reachable".
    pub reachable: Reachable,
    /// What the guard does with it.
    pub treatment: Treatment,
}

impl SpecialBlock {
    /// True when `ip` is in this block (same family, same first `len` bits).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.prefix, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for SpecialBlock {
    /// `prefix/len`, as the registries write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix, self.len)
    }
}

const fn v4(
    octets: [u8; 4],
    len: u8,
    reachable: Reachable,
    name: &'static str,
    rfc: &'static str,
) -> SpecialBlock {
    let [a, b, c, d] = octets;
    SpecialBlock {
        prefix: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        len,
        name,
        rfc,
        reachable,
        treatment: Treatment::Refuse,
    }
}

/// An IPv6 block from its leading segments (the rest zero).
const fn v6(
    leading: &[u16],
    len: u8,
    reachable: Reachable,
    name: &'static str,
    rfc: &'static str,
) -> SpecialBlock {
    let mut s = [0u16; 8];
    let mut i = 0;
    while i < leading.len() {
        s[i] = leading[i];
        i += 1;
    }
    SpecialBlock {
        prefix: IpAddr::V6(Ipv6Addr::new(
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
        )),
        len,
        name,
        rfc,
        reachable,
        treatment: Treatment::Refuse,
    }
}

const fn embedding(block: SpecialBlock) -> SpecialBlock {
    SpecialBlock {
        treatment: Treatment::EmbeddedIpv4,
        ..block
    }
}

use Reachable::{No, NotApplicable, Unlisted, YesButRefused};

/// Every block the guard treats specially: the IANA IPv4 and IPv6 Special-Purpose
/// Address Registries (RFC 6890, RFC 8190) entry by entry, the blocks of the IANA
/// address-space registries that are not global unicast (multicast, reserved,
/// deprecated site-local), and the IPv4-in-IPv6 forms. The most specific block
/// containing an address decides ([`refusal`]). Registry entries that are globally
/// reachable and stay reachable (AS112 `192.31.196.0/24`, `192.175.48.0/24`,
/// `2620:4f:8000::/48`; AMT `192.52.193.0/24`) are not listed; those inside a refused
/// block are listed with [`Reachable::YesButRefused`] and the reason.
#[rustfmt::skip]
pub const SPECIAL_PURPOSE: &[SpecialBlock] = &[
    // IANA IPv4 Special-Purpose Address Registry.
    v4([0, 0, 0, 0], 8, No, "This network", "RFC 791 §3.2"),
    v4([0, 0, 0, 0], 32, No, "This host on this network", "RFC 1122 §3.2.1.3"),
    v4([10, 0, 0, 0], 8, No, "Private-Use", "RFC 1918"),
    v4([100, 64, 0, 0], 10, No, "Shared Address Space", "RFC 6598"),
    v4([127, 0, 0, 0], 8, No, "Loopback", "RFC 1122 §3.2.1.3"),
    v4([169, 254, 0, 0], 16, No, "Link Local", "RFC 3927"),
    v4([172, 16, 0, 0], 12, No, "Private-Use", "RFC 1918"),
    v4([192, 0, 0, 0], 24, No, "IETF Protocol Assignments", "RFC 6890 §2.1"),
    v4([192, 0, 0, 0], 29, No, "IPv4 Service Continuity Prefix", "RFC 7335"),
    v4([192, 0, 0, 8], 32, No, "IPv4 dummy address", "RFC 7600"),
    v4([192, 0, 0, 9], 32, YesButRefused, "Port Control Protocol Anycast (not an HTTP service)", "RFC 7723"),
    v4([192, 0, 0, 10], 32, YesButRefused, "Traversal Using Relays around NAT Anycast (not an HTTP service)", "RFC 8155"),
    v4([192, 0, 0, 170], 32, No, "NAT64/DNS64 Discovery", "RFC 8880"),
    v4([192, 0, 0, 171], 32, No, "NAT64/DNS64 Discovery", "RFC 8880"),
    v4([192, 0, 2, 0], 24, No, "Documentation (TEST-NET-1)", "RFC 5737"),
    v4([192, 88, 99, 0], 24, NotApplicable, "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    v4([192, 168, 0, 0], 16, No, "Private-Use", "RFC 1918"),
    v4([198, 18, 0, 0], 15, No, "Benchmarking", "RFC 2544"),
    v4([198, 51, 100, 0], 24, No, "Documentation (TEST-NET-2)", "RFC 5737"),
    v4([203, 0, 113, 0], 24, No, "Documentation (TEST-NET-3)", "RFC 5737"),
    v4([240, 0, 0, 0], 4, No, "Reserved", "RFC 1112 §4"),
    v4([255, 255, 255, 255], 32, No, "Limited Broadcast", "RFC 8190, RFC 919 §7"),
    // IANA IPv4 Address Space: not unicast.
    v4([224, 0, 0, 0], 4, Unlisted, "Multicast", "RFC 5771"),

    // IANA IPv6 Address Space: only 2000::/3 is global unicast; the rest is reserved
    // or special (RFC 4291 §2.4). The blocks below refine these three.
    v6(&[], 3, Unlisted, "Reserved by IETF (outside global unicast 2000::/3)", "RFC 4291 §2.4"),
    v6(&[0x4000], 2, Unlisted, "Reserved by IETF (outside global unicast 2000::/3)", "RFC 4291 §2.4"),
    v6(&[0x8000], 1, Unlisted, "Reserved by IETF (outside global unicast 2000::/3)", "RFC 4291 §2.4"),
    // IANA IPv6 Special-Purpose Address Registry, and the IPv4-in-IPv6 forms.
    v6(&[0, 0, 0, 0, 0, 0, 0, 0], 128, No, "Unspecified Address", "RFC 4291 §2.5.2"),
    v6(&[0, 0, 0, 0, 0, 0, 0, 1], 128, No, "Loopback Address", "RFC 4291 §2.5.3"),
    v6(&[0, 0, 0, 0, 0, 0], 96, Unlisted, "IPv4-Compatible (deprecated)", "RFC 4291 §2.5.5.1"),
    v6(&[0, 0, 0, 0, 0, 0xffff], 96, No, "IPv4-mapped Address", "RFC 4291 §2.5.5.2"),
    v6(&[0, 0, 0, 0, 0xffff, 0], 96, Unlisted, "IPv4-translated (SIIT)", "RFC 2765 §2.1"),
    // RFC 6052 §3.1: the Well-Known Prefix "MUST NOT be used to represent non-global
    // IPv4 addresses"; the embedded address decides.
    embedding(v6(&[0x64, 0xff9b, 0, 0, 0, 0], 96, Unlisted, "IPv4-IPv6 Translat. (globally reachable; decided by the embedded IPv4)", "RFC 6052")),
    v6(&[0x64, 0xff9b, 1], 48, No, "IPv4-IPv6 Translat. (local use)", "RFC 8215"),
    v6(&[0x100, 0, 0, 0], 64, No, "Discard-Only Address Block", "RFC 6666"),
    v6(&[0x100, 0, 0, 1], 64, No, "Dummy IPv6 Prefix", "RFC 9780"),
    v6(&[0x2001], 23, No, "IETF Protocol Assignments", "RFC 2928"),
    v6(&[0x2001, 0], 32, NotApplicable, "TEREDO", "RFC 4380, RFC 8190"),
    v6(&[0x2001, 1, 0, 0, 0, 0, 0, 1], 128, YesButRefused, "Port Control Protocol Anycast (not an HTTP service)", "RFC 7723"),
    v6(&[0x2001, 1, 0, 0, 0, 0, 0, 2], 128, YesButRefused, "TURN Anycast (not an HTTP service)", "RFC 8155"),
    v6(&[0x2001, 1, 0, 0, 0, 0, 0, 3], 128, YesButRefused, "DNS-SD Service Registration Protocol Anycast (not an HTTP service)", "RFC 9665"),
    v6(&[0x2001, 2, 0], 48, No, "Benchmarking", "RFC 5180, RFC Errata 1752"),
    v6(&[0x2001, 3], 32, YesButRefused, "AMT (multicast tunnelling relays, not HTTP)", "RFC 7450"),
    v6(&[0x2001, 4, 0x112], 48, YesButRefused, "AS112-v6 (DNS sink, not HTTP)", "RFC 7535"),
    v6(&[0x2001, 0x10], 28, NotApplicable, "Deprecated (previously ORCHID)", "RFC 4843"),
    v6(&[0x2001, 0x20], 28, YesButRefused, "ORCHIDv2 (identifiers, not locators)", "RFC 7343"),
    v6(&[0x2001, 0x30], 28, YesButRefused, "Drone Remote ID Protocol Entity Tags (identifiers, not locators)", "RFC 9374"),
    v6(&[0x2001, 0xdb8], 32, No, "Documentation", "RFC 3849"),
    // 6to4 embeds an IPv4 address in bits 16..48 and reaches it through relays that
    // RFC 7526 deprecated; refused whole rather than trusted to a relay.
    v6(&[0x2002], 16, NotApplicable, "6to4", "RFC 3056"),
    v6(&[0x3fff], 20, No, "Documentation", "RFC 9637"),
    v6(&[0x5f00], 16, No, "Segment Routing (SRv6) SIDs", "RFC 9602"),
    v6(&[0xfc00], 7, No, "Unique-Local", "RFC 4193, RFC 8190"),
    v6(&[0xfe80], 10, No, "Link-Local Unicast", "RFC 4291 §2.5.6"),
    v6(&[0xfec0], 10, Unlisted, "Site-Local (deprecated)", "RFC 3879"),
    v6(&[0xff00], 8, Unlisted, "Multicast", "RFC 4291 §2.7"),
];

/// The most specific block of [`SPECIAL_PURPOSE`] that refuses `ip`, if any. For an
/// address under the NAT64 Well-Known Prefix, the block that refuses the embedded
/// IPv4 address.
pub fn refusal(ip: IpAddr) -> Option<&'static SpecialBlock> {
    let block = SPECIAL_PURPOSE
        .iter()
        .filter(|b| b.contains(ip))
        .max_by_key(|b| b.len)?;
    match (block.treatment, ip) {
        (Treatment::EmbeddedIpv4, IpAddr::V6(v6)) => {
            let [.., a, b, c, d] = v6.octets();
            refusal(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
        }
        _ => Some(block),
    }
}

/// True for addresses on the public internet: in no block of [`SPECIAL_PURPOSE`]
/// (private, loopback, link-local, shared, documentation, benchmarking, reserved,
/// multicast, ULA, site-local, discard, Teredo, 6to4, IPv4-mapped or -compatible, ...),
/// and under NAT64's Well-Known Prefix only when the embedded IPv4 address is public.
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    /// Asserts that each `inside` address is refused by the block written `block`
    /// (the most specific one), and that each `outside` address is public.
    fn check_block(block: &str, inside: &[&str], outside: &[&str]) {
        assert!(
            SPECIAL_PURPOSE.iter().any(|b| b.to_string() == block),
            "{block} is in the table"
        );
        for a in inside {
            assert_eq!(
                refusal(ip(a)).map(ToString::to_string).as_deref(),
                Some(block),
                "{a} is refused by {block}"
            );
        }
        for a in outside {
            assert_eq!(refusal(ip(a)), None, "{a} is public");
        }
    }

    /// One test per block of the table: `name: "block" refuses [inside..] allows
    /// [just outside..];` (no outside address where the block sits inside another).
    macro_rules! blocks {
        ($($test:ident: $block:literal refuses [$($inside:literal),+] allows [$($outside:literal),*];)+) => {
            $(
                #[test]
                fn $test() {
                    check_block($block, &[$($inside),+], &[$($outside),*]);
                }
            )+
            const TESTED: &[&str] = &[$($block),+];
        };
    }

    blocks! {
        v4_this_network: "0.0.0.0/8" refuses ["0.0.0.1", "0.255.255.255"] allows ["1.0.0.0"];
        v4_this_host: "0.0.0.0/32" refuses ["0.0.0.0"] allows [];
        v4_private_10: "10.0.0.0/8" refuses ["10.0.0.0", "10.255.255.255"] allows ["9.255.255.255", "11.0.0.0"];
        v4_shared_cgnat: "100.64.0.0/10" refuses ["100.64.0.0", "100.127.255.255"] allows ["100.63.255.255", "100.128.0.0"];
        v4_loopback: "127.0.0.0/8" refuses ["127.0.0.1", "127.255.255.255"] allows ["126.255.255.255", "128.0.0.0"];
        v4_link_local: "169.254.0.0/16" refuses ["169.254.169.254"] allows ["169.253.255.255", "169.255.0.0"];
        v4_private_172: "172.16.0.0/12" refuses ["172.16.0.0", "172.31.255.255"] allows ["172.15.255.255", "172.32.0.0"];
        v4_ietf_protocol_assignments: "192.0.0.0/24" refuses ["192.0.0.11", "192.0.0.255"] allows ["191.255.255.255", "192.0.1.0"];
        v4_service_continuity: "192.0.0.0/29" refuses ["192.0.0.0", "192.0.0.7"] allows [];
        v4_dummy: "192.0.0.8/32" refuses ["192.0.0.8"] allows [];
        v4_pcp_anycast: "192.0.0.9/32" refuses ["192.0.0.9"] allows [];
        v4_turn_anycast: "192.0.0.10/32" refuses ["192.0.0.10"] allows [];
        v4_nat64_discovery_170: "192.0.0.170/32" refuses ["192.0.0.170"] allows [];
        v4_nat64_discovery_171: "192.0.0.171/32" refuses ["192.0.0.171"] allows [];
        v4_test_net_1: "192.0.2.0/24" refuses ["192.0.2.1"] allows ["192.0.1.255", "192.0.3.0"];
        v4_6to4_relay_anycast: "192.88.99.0/24" refuses ["192.88.99.1"] allows ["192.88.98.255", "192.88.100.0"];
        v4_private_192: "192.168.0.0/16" refuses ["192.168.1.1"] allows ["192.167.255.255", "192.169.0.0"];
        item_12_v4_benchmarking_is_refused: "198.18.0.0/15" refuses ["198.18.0.0", "198.19.255.255"] allows ["198.17.255.255", "198.20.0.0"];
        v4_test_net_2: "198.51.100.0/24" refuses ["198.51.100.1"] allows ["198.51.99.255", "198.51.101.0"];
        v4_test_net_3: "203.0.113.0/24" refuses ["203.0.113.1"] allows ["203.0.112.255", "203.0.114.0"];
        v4_reserved: "240.0.0.0/4" refuses ["240.0.0.1", "255.255.255.254"] allows [];
        v4_limited_broadcast: "255.255.255.255/32" refuses ["255.255.255.255"] allows [];
        v4_multicast: "224.0.0.0/4" refuses ["224.0.0.1", "239.255.255.255"] allows ["223.255.255.255"];
        v6_reserved_low: "::/3" refuses ["1fff:ffff::1", "0:0:0:1::1", "200::1"] allows ["2000::1"];
        v6_reserved_middle: "4000::/2" refuses ["4000::1", "7fff::1"] allows ["3ffe:ffff::1"];
        v6_reserved_high: "8000::/1" refuses ["8000::1", "fbff::1", "fe00::1"] allows [];
        v6_unspecified: "::/128" refuses ["::"] allows [];
        v6_loopback: "::1/128" refuses ["::1"] allows [];
        item_12_v4_compatible_loopback_is_refused: "::/96" refuses ["::127.0.0.1", "::8.8.8.8", "::2"] allows [];
        item_12_v4_mapped_is_refused: "::ffff:0.0.0.0/96" refuses ["::ffff:127.0.0.1", "::ffff:8.8.8.8"] allows [];
        v6_v4_translated_siit: "::ffff:0:0:0/96" refuses ["::ffff:0:7f00:1", "::ffff:0:808:808"] allows [];
        item_12_nat64_local_use_is_refused: "64:ff9b:1::/48" refuses ["64:ff9b:1::808:808", "64:ff9b:1:ffff::1"] allows [];
        item_12_discard_only_is_refused: "100::/64" refuses ["100::1", "100::ffff:ffff:ffff:ffff"] allows [];
        v6_dummy_prefix: "100:0:0:1::/64" refuses ["100:0:0:1::1"] allows [];
        v6_ietf_protocol_assignments: "2001::/23" refuses ["2001:100::1", "2001:1ff:ffff::1", "2001:1::4"] allows ["2001:200::1", "2000:ffff:ffff::1"];
        item_12_teredo_is_refused: "2001::/32" refuses ["2001:0:4136:e378:8000:63bf:3fff:fdd2"] allows [];
        v6_pcp_anycast: "2001:1::1/128" refuses ["2001:1::1"] allows [];
        v6_turn_anycast: "2001:1::2/128" refuses ["2001:1::2"] allows [];
        v6_dnssd_srp_anycast: "2001:1::3/128" refuses ["2001:1::3"] allows [];
        item_12_v6_benchmarking_is_refused: "2001:2::/48" refuses ["2001:2::1", "2001:2:0:ffff::1"] allows [];
        v6_amt: "2001:3::/32" refuses ["2001:3::1"] allows [];
        v6_as112: "2001:4:112::/48" refuses ["2001:4:112::1"] allows [];
        v6_orchid_deprecated: "2001:10::/28" refuses ["2001:10::1", "2001:1f::1"] allows [];
        item_12_orchid_v2_is_refused: "2001:20::/28" refuses ["2001:20::1", "2001:2f:ffff::1"] allows [];
        v6_drip: "2001:30::/28" refuses ["2001:30::1"] allows [];
        v6_documentation: "2001:db8::/32" refuses ["2001:db8::1", "2001:db8:ffff::1"] allows ["2001:db7:ffff::1", "2001:db9::1"];
        item_12_6to4_is_refused: "2002::/16" refuses ["2002:7f00:1::1", "2002:808:808::1"] allows ["2001:ffff::1", "2003::1"];
        v6_documentation_3fff: "3fff::/20" refuses ["3fff::1", "3fff:fff::1"] allows ["3ffe:ffff::1", "3fff:1000::1"];
        v6_srv6_sids: "5f00::/16" refuses ["5f00::1"] allows [];
        v6_unique_local: "fc00::/7" refuses ["fc00::1", "fdff::1"] allows [];
        v6_link_local: "fe80::/10" refuses ["fe80::1", "febf::1"] allows [];
        item_12_site_local_is_refused: "fec0::/10" refuses ["fec0::1", "feff::1"] allows [];
        v6_multicast: "ff00::/8" refuses ["ff02::1", "ff0e::1"] allows [];
    }

    /// The NAT64 Well-Known Prefix, tested by [`item_12_nat64_loopback_is_refused`].
    const NAT64: &str = "64:ff9b::/96";

    #[test]
    fn every_block_of_the_table_has_a_test() {
        for b in SPECIAL_PURPOSE {
            let text = b.to_string();
            assert!(
                TESTED.contains(&text.as_str()) || text == NAT64,
                "{text} has no test"
            );
        }
        assert_eq!(TESTED.len() + 1, SPECIAL_PURPOSE.len());
    }

    /// Item 12: NAT64's Well-Known Prefix reaches the embedded IPv4 address; it is
    /// refused when that address is (RFC 6052 §3.1), and only then.
    #[test]
    fn item_12_nat64_loopback_is_refused() {
        assert!(
            SPECIAL_PURPOSE
                .iter()
                .any(|b| b.to_string() == NAT64 && b.treatment == Treatment::EmbeddedIpv4)
        );
        for (nat64, block) in [
            ("64:ff9b::7f00:1", "127.0.0.0/8"),
            ("64:ff9b::a9fe:a9fe", "169.254.0.0/16"),
            ("64:ff9b::a00:1", "10.0.0.0/8"),
            ("64:ff9b::c612:1", "198.18.0.0/15"),
        ] {
            assert_eq!(
                refusal(ip(nat64)).map(ToString::to_string).as_deref(),
                Some(block),
                "{nat64}"
            );
        }
        assert!(is_public(ip("64:ff9b::808:808")));
        assert!(is_public(ip("64:ff9b::5db8:d822")));
    }

    #[test]
    fn public_addresses_and_reachable_registry_entries_are_allowed() {
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            // Globally reachable special-purpose blocks the guard does not refuse.
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "2620:4f:8000::1",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    /// Item 12: the guard refuses `[::127.0.0.1]` (and the other embedding forms)
    /// before any connection is attempted.
    #[tokio::test]
    async fn item_12_embedded_loopback_urls_are_refused_before_connecting() {
        let f = GuardedFetch::new(false);
        for url in [
            "https://[::127.0.0.1]/c.json",
            "https://[::ffff:127.0.0.1]/c.json",
            "https://[64:ff9b::127.0.0.1]/c.json",
            "https://[2002:7f00:1::1]/c.json",
            "https://[fec0::1]/c.json",
            "https://[100::1]/c.json",
            "https://198.18.0.1/c.json",
            "https://0x7f.1/c.json",
        ] {
            assert_eq!(f.json(url, 1024).await, Err(FetchError::Forbidden), "{url}");
        }
    }

    #[test]
    fn errors_are_fixed_texts() {
        assert_eq!(
            FetchError::Unavailable.to_string(),
            "the host did not answer with the document"
        );
        assert_eq!(
            FetchError::Forbidden.to_string(),
            "the URL's host resolves to a non-public address"
        );
    }

    #[test]
    fn url_rules() {
        let f = GuardedFetch::new(false);
        assert!(f.check_url("https://app.example/keys.json").is_ok());
        for (bad, why) in [
            ("http://app.example/c.json", "it must use https"),
            (
                "https://u:p@app.example/c",
                "it must not contain credentials",
            ),
            ("https://app.example/c#f", "it must not contain a fragment"),
            ("ftp://x/y", "it must use https"),
            ("not a url", "not a URL"),
            ("http://127.0.0.1/c", "it must use https"),
        ] {
            assert_eq!(f.check_url(bad), Err(FetchError::BadUrl(why)), "{bad}");
        }
        assert!(
            GuardedFetch::new(true)
                .check_url("http://127.0.0.1:9/c")
                .is_ok()
        );
    }
}
