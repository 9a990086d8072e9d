//! How long the HTTP clients of mcp-auth keep an idle connection for reuse, and the
//! reqwest builder they start from.

use std::time::Duration;

/// Idle pooled connections are dropped after this long, before the servers at the
/// other end drop them: every long-lived `reqwest::Client` of mcp-auth (the MCP
/// client, the resource side's metadata and key fetches, the conformance checker's
/// clients, the load generators) is built from [`client_builder`]; the gateway's
/// upstream client (hyper's, not reqwest's: `mcp_auth_resource`'s
/// `proxy/upstream_client.rs`) uses it as the default of its `upstream_idle_timeout`.
///
/// reqwest keeps an idle connection for 90 s by default. Node's HTTP server (under
/// the MCP TypeScript SDK) and uvicorn (under the Python SDK) close a keep-alive
/// connection after 5 s idle. A request written into a pooled connection just as its
/// server closes it fails with "connection closed before message completed", and a
/// POST is not retried, since the server may have begun it: through the gateway
/// that is a 502 for a tool call, which an agent pausing about five seconds between
/// calls meets now and then. With the client dropping the connection first, the
/// race cannot happen; the price is a new TCP connection after 4 s of quiet.
///
/// The servers of mcp-auth themselves keep an idle connection for their
/// `header_read_timeout` (10 s by default, [`crate::listener`]).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A `reqwest` client builder with mcp-auth's pool policy ([`POOL_IDLE_TIMEOUT`]): the
/// start of every long-lived HTTP client, so none keeps reqwest's 90 s default.
///
/// Its clients make no retries either ([`no_retries`]).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .retry(no_retries())
}

/// reqwest's retry policy for a client that cannot retry anyway, so that it stops
/// copying every request for a retry it will never make.
///
/// reqwest's default policy retries only HTTP/2 refusals (`GOAWAY` without error,
/// `REFUSED_STREAM`: RFC 9113 §8.7), and mcp-auth builds reqwest without `http2`: its
/// clients speak HTTP/1.1, and the policy can never fire. It still clones each
/// request's header map and extensions before sending, in case it does (about 1.2 k
/// instructions and two allocations a request; BENCHMARKS.md, "Issue 18: the
/// gateway's upstream client without reqwest"). With no retry allowed (`0` per
/// request) the copy is not made.
fn no_retries() -> reqwest::retry::Builder {
    reqwest::retry::never().max_retries_per_request(0)
}
