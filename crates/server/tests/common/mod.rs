//! Starting a real authorization server on 127.0.0.1 with a fresh SQLite file (the
//! test kit's `start_as`, with this crate's test resource).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub use mcp_auth_testkit::TestAs as TestServer;

pub mod browser;

/// The resource every test server offers.
pub const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

/// Starts a server with `toml` configuration and the issuer at `issuer_path`.
pub async fn spawn(toml: &str, issuer_path: &str) -> TestServer {
    mcp_auth_testkit::start_as(
        toml,
        |addr| format!("http://{addr}{issuer_path}"),
        &[RESOURCE],
    )
    .await
}

/// Starts another instance of the server whose issuer is `issuer` (as behind a
/// load balancer), on its own address (`base`).
pub async fn spawn_instance_of(toml: &str, issuer: &str) -> TestServer {
    mcp_auth_testkit::start_as(toml, |_| issuer.to_owned(), &[RESOURCE]).await
}
