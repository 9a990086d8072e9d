//! The authorization server in process on loopback, with a fresh SQLite data directory.

use std::net::SocketAddr;

use mcp_auth_server::{AsState, AuthorizationServer, ClientRecord, Config, Overrides};
use serde_json::Value;

use crate::DataDir;

/// The scopes every test resource offers.
pub const SCOPES: [&str; 2] = ["mcp:read", "mcp:write"];

/// A running authorization server; it stops with the test's runtime, its data
/// directory is removed when this is dropped.
pub struct TestAs {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its issuer identifier.
    pub issuer: String,
    /// Its state (store, keys), for what a test sets up without HTTP.
    pub state: AsState,
    /// An HTTP client that does not follow redirects (as the tests of the
    /// authorization endpoint need).
    pub http: reqwest::Client,
    _dir: DataDir,
}

/// Starts an authorization server with `toml` configuration on a new port of
/// 127.0.0.1, its issuer `issuer_for(address)`, knowing each of `resources` with
/// [`SCOPES`].
pub async fn start_as(
    toml: &str,
    issuer_for: impl FnOnce(SocketAddr) -> String,
    resources: &[&str],
) -> TestAs {
    let dir = DataDir::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = issuer_for(addr);
    let config = Config::from_sources(
        toml,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(addr.to_string()),
            data_dir: Some(dir.data()),
            resources: resources
                .iter()
                .map(|r| ((*r).to_owned(), SCOPES.map(str::to_owned).to_vec()))
                .collect(),
            ..Overrides::default()
        },
    )
    .unwrap();
    let server = AuthorizationServer::start(config).await.unwrap();
    let state = server.state().clone();
    tokio::spawn(async move {
        server
            .serve(listener, std::future::pending())
            .await
            .unwrap()
    });
    TestAs {
        base: format!("http://{addr}"),
        issuer,
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

/// Registers client `client_id` in the store of `state` with `metadata` (RFC 7591
/// names), confidential with `secret` or public without.
pub async fn register_client(
    state: &AsState,
    client_id: &str,
    secret: Option<&str>,
    metadata: Value,
) {
    state
        .store
        .insert_client(&ClientRecord {
            client_id: client_id.into(),
            secret_sha256: secret.map(mcp_auth_server::client_auth::secret_digest),
            metadata,
            created_at: 0,
        })
        .await
        .unwrap();
}
