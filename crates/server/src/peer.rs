//! Who is on the other end of a connection, and per-address limits on what one
//! address may do: registrations per minute, login attempts. The address is the TCP
//! peer ([`mcp_auth_core::listener::RemoteAddr`], set by the listener that
//! [`crate::AuthorizationServer::serve`] runs);
//! behind a reverse proxy it is the proxy's, so per-address limits then act as one
//! shared limit (docs/security.md).
//!
//! IPv6 addresses are grouped by their /64: one host usually holds a whole /64, and
//! counting each of its 2^64 addresses separately would make the limit meaningless.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mcp_auth_core::listener::RemoteAddr;

/// The peer's address, when the router runs behind the mcp-auth listener (always
/// through [`crate::AuthorizationServer::serve`]; `None` for a router served another
/// way, which then shares one limit for all callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<RemoteAddr>()
                .map(|RemoteAddr(a)| a.ip()),
        ))
    }
}

/// The key an address is counted under: IPv4 as is (IPv4-mapped IPv6 as IPv4),
/// IPv6 by its /64.
pub fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The most addresses a limiter remembers; past it, windows that ended are dropped,
/// and if none has, the new address is refused (fail closed rather than grow).
const MAX_TRACKED: usize = 65_536;

/// A fixed-window counter per address group: at most `limit` events per `window`.
#[derive(Debug)]
pub struct PerAddressLimit {
    window: Duration,
    counts: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl PerAddressLimit {
    /// A limiter with windows of `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `peer`; false when its window already holds `limit`.
    pub fn allow(&self, peer: Option<IpAddr>, limit: u32) -> bool {
        let key = peer.map(address_group);
        let now = Instant::now();
        let mut counts = match self.counts.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if counts.len() >= MAX_TRACKED && !counts.contains_key(&key) {
            let window = self.window;
            counts.retain(|_, (start, _)| now.duration_since(*start) < window);
            if counts.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_window_and_a_v6_host_is_one_address() {
        let l = PerAddressLimit::new(Duration::from_secs(60));
        let a: IpAddr = "203.0.113.1".parse().expect("ip");
        let b: IpAddr = "203.0.113.2".parse().expect("ip");
        assert!(l.allow(Some(a), 2));
        assert!(l.allow(Some(a), 2));
        assert!(!l.allow(Some(a), 2));
        assert!(l.allow(Some(b), 2), "another address is not limited by a");
        let v6a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert!(l.allow(Some(v6a), 1));
        assert!(!l.allow(Some(v6b), 1), "same /64");
        assert_eq!(
            address_group("::ffff:203.0.113.1".parse().expect("ip")),
            a,
            "IPv4-mapped counts as the IPv4 address"
        );
    }
}
