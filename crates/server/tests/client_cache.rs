//! Clients are held in memory ([`mcp_auth_server::store::ClientCache`]): two AS
//! instances on one database (a SQLite file, and PostgreSQL when
//! `MCP_AUTH_TEST_POSTGRES` is set) show the stated consistency. A change made through
//! one instance is seen by the other within `client_cache_seconds` on the servers'
//! clock (a [`ManualClock`], so the bound is exact and nothing sleeps); a change made
//! through an instance is seen by that instance at once; a rotated secret works at
//! once everywhere; 0 turns the cache off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use mcp_auth_core::ManualClock;
use mcp_auth_server::client_auth::secret_digest;
use mcp_auth_server::{AuthorizationServer, ClientRecord, Config, Overrides};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const T0: i64 = 1_000_000_000;

/// One AS instance: its router and state.
struct Instance {
    router: axum::Router,
    server: AuthorizationServer,
}

/// Two instances on one database, on one manual clock.
struct Pair {
    a: Instance,
    b: Instance,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn instance(toml: &str, dir: &std::path::Path, clock: &Arc<ManualClock>) -> Instance {
    let mut config = Config::from_sources(
        toml,
        &|_| None,
        &Overrides {
            data_dir: Some(dir.join("data")),
            resources: vec![(RESOURCE.into(), vec!["mcp:read".into()])],
            ..Overrides::default()
        },
    )
    .unwrap();
    config.clock = clock.clone();
    let server = AuthorizationServer::start(config).await.unwrap();
    Instance {
        router: server.router(),
        server,
    }
}

/// Two instances with `client_cache_seconds = ttl` on `database_url` (SQLite in a
/// temporary directory when `None`), and client `bot` registered through `a`.
async fn pair(ttl: u64, database_url: Option<&str>) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = format!("client_cache_seconds = {ttl}\n");
    if let Some(url) = database_url {
        toml.push_str(&format!("database_url = \"{url}\"\n"));
    }
    let clock = ManualClock::new(T0);
    let a = instance(&toml, dir.path(), &clock).await;
    let b = instance(&toml, dir.path(), &clock).await;
    a.server
        .state()
        .store
        .insert_client(&client("bot-secret"))
        .await
        .unwrap();
    Pair {
        a,
        b,
        clock,
        _dir: dir,
    }
}

fn client(secret: &str) -> ClientRecord {
    ClientRecord {
        client_id: "bot".into(),
        secret_sha256: Some(secret_digest(secret)),
        metadata: json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"], "token_endpoint_auth_method": "client_secret_basic"}),
        created_at: T0,
    }
}

impl Instance {
    /// A client_credentials request as `bot` with `secret`: the status and the error.
    async fn token(&self, secret: &str) -> (StatusCode, Option<String>) {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("bot:{secret}"));
        let request = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from(format!(
                "grant_type=client_credentials&resource={}",
                url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
            )))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        (status, body["error"].as_str().map(str::to_owned))
    }

    fn store(&self) -> &mcp_auth_server::Store {
        &self.server.state().store
    }
}

const ISSUED: (StatusCode, Option<String>) = (StatusCode::OK, None);

fn refused() -> (StatusCode, Option<String>) {
    (StatusCode::UNAUTHORIZED, Some("invalid_client".into()))
}

async fn removal_through_another_instance_is_seen_within_the_bound(p: Pair) {
    assert_eq!(p.b.token("bot-secret").await, ISSUED, "b caches bot");
    assert!(p.a.store().delete_client("bot").await.unwrap());
    assert_eq!(
        p.a.token("bot-secret").await,
        refused(),
        "a removed it: at once"
    );
    // b still holds what it read: the stated staleness, no more.
    p.clock.advance(4);
    assert_eq!(
        p.b.token("bot-secret").await,
        ISSUED,
        "within 5 s: still cached"
    );
    p.clock.advance(1);
    assert_eq!(
        p.b.token("bot-secret").await,
        refused(),
        "5 s after reading: gone"
    );
}

async fn a_secret_rotated_through_another_instance_works_at_once(p: Pair) {
    assert_eq!(p.b.token("bot-secret").await, ISSUED, "b caches bot");
    p.a.store()
        .upsert_client(&client("new-secret"))
        .await
        .unwrap();
    // The mismatch against b's cached record is checked again against the database.
    assert_eq!(p.b.token("new-secret").await, ISSUED);
    assert_eq!(
        p.b.token("bot-secret").await,
        refused(),
        "b read the new record while checking the new secret"
    );
    assert_eq!(p.a.token("bot-secret").await, refused());
}

async fn a_client_added_through_another_instance_is_usable_at_once(p: Pair) {
    // An unknown id is never cached: b's miss does not hide a later registration.
    assert!(p.a.store().delete_client("bot").await.unwrap());
    assert_eq!(p.b.token("bot-secret").await, refused());
    p.a.store()
        .insert_client(&client("bot-secret"))
        .await
        .unwrap();
    assert_eq!(p.b.token("bot-secret").await, ISSUED);
}

async fn zero_reads_the_database_for_every_request(p: Pair) {
    assert_eq!(p.b.token("bot-secret").await, ISSUED);
    assert!(p.a.store().delete_client("bot").await.unwrap());
    assert_eq!(p.b.token("bot-secret").await, refused());
    assert!(p.b.store().client_cache().is_empty());
}

/// Each case on SQLite, then on PostgreSQL (or a loud skip).
macro_rules! on_both_backends {
    ($ttl:expr, $($name:ident as $db:literal),+) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::pair($ttl, None).await).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(url) = mcp_auth_testkit::postgres_database($db).await {
                    super::$name(super::pair($ttl, Some(&url)).await).await;
                }
            }
        }
    )+};
}

on_both_backends!(
    5,
    removal_through_another_instance_is_seen_within_the_bound as "cc_removal",
    a_secret_rotated_through_another_instance_works_at_once as "cc_rotation",
    a_client_added_through_another_instance_is_usable_at_once as "cc_added"
);
on_both_backends!(0, zero_reads_the_database_for_every_request as "cc_off");
