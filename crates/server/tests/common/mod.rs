//! Starting a real authorization server on 127.0.0.1 with a fresh SQLite file.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_server::{AsState, AuthorizationServer, Config, Overrides};

pub mod browser;

/// The resource every test server offers.
pub const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

/// A running server.
pub struct TestServer {
    pub base: String,
    pub issuer: String,
    pub state: AsState,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Starts a server with `toml` configuration and the issuer at `issuer_path`.
pub async fn spawn(toml: &str, issuer_path: &str) -> TestServer {
    spawn_instance(toml, |addr| format!("http://{addr}{issuer_path}")).await
}

/// Starts another instance of the server whose issuer is `issuer` (as behind a
/// load balancer), on its own address (`base`).
pub async fn spawn_instance_of(toml: &str, issuer: &str) -> TestServer {
    let issuer = issuer.to_owned();
    spawn_instance(toml, move |_| issuer).await
}

async fn spawn_instance(
    toml: &str,
    issuer_for: impl FnOnce(std::net::SocketAddr) -> String,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = issuer_for(addr);
    let config = Config::from_sources(
        toml,
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(addr.to_string()),
            data_dir: Some(dir.path().join("data")),
            resources: vec![(RESOURCE.into(), vec!["mcp:read".into(), "mcp:write".into()])],
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
    TestServer {
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
