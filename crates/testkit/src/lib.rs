//! Helpers shared by the tests of the mcp-auth crates (a dev-dependency only, never
//! published): servers and processes on loopback, the authorization server's pages,
//! token requests, generated documents, temporary data directories.
//!
//! What only one crate's tests need stays in that crate's `tests/common`. The
//! in-process authorization server ([`start_as`], [`register_client`]) is behind the
//! `server` feature, so that crates below mcp-auth-server can use the rest.
//!
//! Everything here panics on failure: a helper that cannot do its part fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod as_cluster;
mod browser;
mod dirs;
mod docs;
mod keep_alive;
mod log_capture;
mod net;
mod private_postgres;
mod redis_server;
mod token;
mod upstream;

#[cfg(feature = "server")]
mod authorization_server;
#[cfg(feature = "server")]
mod postgres;

pub use as_cluster::{AsCluster, AsInstance, CLUSTER_CALLBACK, CLUSTER_PASSWORD, CLUSTER_RESOURCE};
#[cfg(feature = "server")]
pub use authorization_server::{SCOPES, TestAs, register_client, start_as};
pub use browser::{hidden, pkce_challenge, set_cookie};
pub use dirs::DataDir;
pub use docs::check_generated_block;
pub use keep_alive::{ClosingUpstream, closing_upstream};
pub use log_capture::Captured;
pub use net::{
    Killed, RawResponse, Recording, free_port, raw_exchange, raw_request, serve, try_wait_for,
    wait_for,
};
#[cfg(feature = "server")]
pub use postgres::postgres_database;
pub use private_postgres::PrivatePostgres;
pub use redis_server::{PrivateRedis, PrivateRedisCluster, TestCa};
pub use token::{client_credentials, json, jwt_kid};
pub use upstream::{McpUpstream, Recorded, Recorder, mcp_upstream};
