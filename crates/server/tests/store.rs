//! The store test suite, run on SQLite (a real file) and on PostgreSQL (a fresh
//! database on the server named by `MCP_AUTH_TEST_POSTGRES`, which `scripts/test` sets
//! when 127.0.0.1:5432 answers; without it the PostgreSQL half says it is skipped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_server::store::{Backend, ClientRecord, Store, StoreError, StoredKey};

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("as.db").display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    (store, dir)
}

/// A new empty PostgreSQL database, or `None` (loudly) when none is configured.
async fn postgres(test: &str) -> Option<Store> {
    let url = mcp_auth_testkit::postgres_database(test).await?;
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    Some(store)
}

fn key(kid: &str, created_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_pem: format!("pem-{kid}"),
        created_at,
        retired_at: None,
    }
}

async fn rotation_keeps_exactly_one_active_key(store: Store) {
    store.rotate_in(&key("k1", 100)).await.unwrap();
    store.rotate_in(&key("k2", 200)).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["k2", "k1"]
    );
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(200));
    assert!(
        matches!(store.rotate_in(&key("k2", 300)).await, Err(StoreError::AlreadyExists(k)) if k == "k2")
    );
    // The failed rotation changed nothing.
    assert_eq!(store.signing_keys().await.unwrap(), keys);
    assert_eq!(store.delete_keys_retired_before(200).await.unwrap(), 0);
    assert_eq!(store.delete_keys_retired_before(201).await.unwrap(), 1);
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
}

async fn clients_round_trip_and_are_unique(store: Store) {
    let c = ClientRecord {
        client_id: "c1".into(),
        secret_sha256: Some(vec![7; 32]),
        metadata: serde_json::json!({"grant_types": ["client_credentials"], "scopes": ["a", "b"]}),
        created_at: 5,
    };
    store.insert_client(&c).await.unwrap();
    assert_eq!(
        store.client("c1").await.unwrap(),
        Some(std::sync::Arc::new(c.clone()))
    );
    assert_eq!(store.client("nope").await.unwrap(), None);
    assert!(matches!(
        store.insert_client(&c).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let public = ClientRecord {
        client_id: "c2".into(),
        secret_sha256: None,
        ..c.clone()
    };
    store.insert_client(&public).await.unwrap();
    assert_eq!(
        store.client("c2").await.unwrap().unwrap().secret_sha256,
        None
    );
    let replaced = ClientRecord {
        metadata: serde_json::json!({"scopes": []}),
        ..c
    };
    store.upsert_client(&replaced).await.unwrap();
    assert_eq!(
        store.client("c1").await.unwrap(),
        Some(std::sync::Arc::new(replaced))
    );
    assert_eq!(store.client_ids().await.unwrap(), ["c1", "c2"]);
}

async fn revocations_are_idempotent_and_purged(store: Store) {
    assert!(!store.is_revoked("j1").await.unwrap());
    store.revoke("j1", 100).await.unwrap();
    store.revoke("j1", 100).await.unwrap();
    assert!(store.is_revoked("j1").await.unwrap());
    assert_eq!(store.purge_revocations(100).await.unwrap(), 0);
    assert_eq!(store.purge_revocations(101).await.unwrap(), 1);
    assert!(!store.is_revoked("j1").await.unwrap());
}

async fn assertion_jtis_are_single_use(store: Store) {
    assert!(store.record_assertion_jti("c1", "j", 100).await.unwrap());
    assert!(!store.record_assertion_jti("c1", "j", 100).await.unwrap());
    // Another client may use the same jti.
    assert!(store.record_assertion_jti("c2", "j", 100).await.unwrap());
    assert_eq!(store.purge_assertion_jtis(101).await.unwrap(), 2);
    assert!(store.record_assertion_jti("c1", "j", 200).await.unwrap());
}

async fn codes_and_refresh_tokens_are_consumed_once(store: Store) {
    use mcp_auth_server::store::{CodeOutcome, RefreshOutcome};
    let grant = serde_json::json!({"client_id": "c"});
    store.insert_code(b"code-hash", &grant, 100).await.unwrap();
    assert_eq!(
        store.redeem_code(b"code-hash", 10).await.unwrap(),
        CodeOutcome::Fresh {
            grant: grant.clone(),
            expires_at: 100
        }
    );
    assert_eq!(
        store.redeem_code(b"code-hash", 11).await.unwrap(),
        CodeOutcome::AlreadyUsed({
            // A replay is marked in the grant, so a redemption in flight learns of it.
            let mut replayed = grant.clone();
            replayed[mcp_auth_server::store::REPLAYED] = serde_json::json!(11);
            replayed
        })
    );
    assert_eq!(
        store.redeem_code(b"other", 11).await.unwrap(),
        CodeOutcome::Unknown
    );
    store
        .insert_refresh(b"r1", "fam", &grant, 1000)
        .await
        .unwrap();
    store
        .insert_refresh(b"r2", "fam", &grant, 1000)
        .await
        .unwrap();
    assert!(matches!(
        store
            .use_refresh(b"r1", 10, Some(&b"r1-next"[..]))
            .await
            .unwrap(),
        RefreshOutcome::Valid { .. }
    ));
    assert_eq!(
        store
            .use_refresh(b"r1", 11, Some(&b"r1-other"[..]))
            .await
            .unwrap(),
        RefreshOutcome::Reused("fam".into())
    );
    // Without rotation a token stays usable.
    assert!(matches!(
        store.use_refresh(b"r2", 12, None).await.unwrap(),
        RefreshOutcome::Valid { .. }
    ));
    assert!(matches!(
        store.use_refresh(b"r2", 13, None).await.unwrap(),
        RefreshOutcome::Valid { .. }
    ));
    // r1, its successor stored with its consumption, and r2.
    assert_eq!(store.revoke_family("fam", 14).await.unwrap(), 3);
    assert_eq!(
        store.use_refresh(b"r2", 15, None).await.unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        store
            .use_refresh(b"nope", 15, Some(&b"n"[..]))
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn users_sessions_pending_and_consents(store: Store) {
    store
        .insert_user("alice", "$argon2id$hash", 1)
        .await
        .unwrap();
    assert!(matches!(
        store.insert_user("alice", "x", 1).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.user_password_hash("alice").await.unwrap().as_deref(),
        Some("$argon2id$hash")
    );
    assert_eq!(store.user_password_hash("bob").await.unwrap(), None);
    store.create_session(b"sid", "alice", 100).await.unwrap();
    assert_eq!(
        store.session_user(b"sid", 99).await.unwrap(),
        Some(("alice".to_owned(), 100))
    );
    assert_eq!(
        store.session_user(b"sid", 100).await.unwrap(),
        None,
        "expired"
    );
    let req = serde_json::json!({"client_id": "c"});
    store.insert_pending("p1", &req, "csrf", 50).await.unwrap();
    assert_eq!(
        store.pending("p1", 49).await.unwrap(),
        Some((req, "csrf".to_owned()))
    );
    assert_eq!(store.pending("p1", 50).await.unwrap(), None);
    store.delete_pending("p1").await.unwrap();
    assert_eq!(store.consent("alice", "c", "r").await.unwrap(), None);
    store
        .record_consent("alice", "c", "r", &["a".into(), "b".into()], 1)
        .await
        .unwrap();
    store
        .record_consent("alice", "c", "r", &["a".into()], 2)
        .await
        .unwrap();
    assert_eq!(
        store.consent("alice", "c", "r").await.unwrap(),
        Some(vec!["a".to_owned()])
    );
    // The identity provider role (EMA §7.1): each user has a subject identifier,
    // kept across password changes, never shared; and groups for the policy.
    let alice = store.user("alice").await.unwrap().unwrap();
    assert_eq!(alice.subject.len(), 32, "{}", alice.subject);
    assert!(alice.groups.is_empty());
    store
        .set_user_password("alice", "$argon2id$new", 2)
        .await
        .unwrap();
    assert_eq!(
        store.user("alice").await.unwrap().unwrap().subject,
        alice.subject
    );
    store
        .set_user_password("dora", "$argon2id$d", 2)
        .await
        .unwrap();
    let dora = store.user("dora").await.unwrap().unwrap();
    assert_ne!(dora.subject, alice.subject);
    assert!(
        store
            .set_user_groups("alice", &["eng".to_owned(), "ops".to_owned()])
            .await
            .unwrap()
    );
    assert!(!store.set_user_groups("nobody", &[]).await.unwrap());
    let found = store
        .user_by_subject(&alice.subject)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.username.as_str(), found.groups),
        ("alice", vec!["eng".to_owned(), "ops".to_owned()])
    );
    assert_eq!(store.user_by_subject("nobody").await.unwrap(), None);
}

macro_rules! on_both {
    ($($name:ident),*) => { $(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$name(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(store) = super::postgres(stringify!($name)).await {
                    super::$name(store).await;
                }
            }
        }
    )* };
}

on_both!(
    rotation_keeps_exactly_one_active_key,
    clients_round_trip_and_are_unique,
    revocations_are_idempotent_and_purged,
    assertion_jtis_are_single_use,
    codes_and_refresh_tokens_are_consumed_once,
    users_sessions_pending_and_consents
);

#[tokio::test]
async fn sqlite_file_uses_the_wal_journal_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("as.db").display());
    let store = Store::open(&url).await.unwrap();
    store.rotate_in(&key("k1", 1)).await.unwrap();
    store.close().await;
    assert!(dir.path().join("as.db").exists());
    let again = Store::open(&url).await.unwrap();
    assert_eq!(again.signing_keys().await.unwrap().len(), 1);
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.0, "wal");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(matches!(
        Store::open("mysql://x").await,
        Err(StoreError::UnsupportedUrl)
    ));
}

/// Security review item 2: the data directory is created 0700 and the database (with
/// its WAL and SHM) 0600; an existing directory others can read stops the start with
/// an error naming it, unless `allow_insecure_permissions`.
#[cfg(unix)]
#[tokio::test]
async fn item_2_the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = |dir: &std::path::Path, allow: bool| {
        mcp_auth_server::Config::from_sources(
            "",
            &|_| None,
            &mcp_auth_server::Overrides {
                data_dir: Some(dir.to_owned()),
                allow_insecure_permissions: allow,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let server = mcp_auth_server::AuthorizationServer::start(config(&data, false))
        .await
        .unwrap();
    // A write, so that SQLite has made its WAL and SHM files.
    server
        .state()
        .store
        .insert_user("u", "hash", 0)
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    for file in ["mcp-auth.db", "mcp-auth.db-wal", "mcp-auth.db-shm"] {
        let path = data.join(file);
        assert!(path.exists(), "{file}");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    drop(server);

    // A directory others can read: refused, naming it.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = mcp_auth_server::AuthorizationServer::start(config(&open, false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&open.display().to_string()), "{err}");
    assert!(
        err.contains("0755") && err.contains("--allow-insecure-permissions"),
        "{err}"
    );
    // A database file others can read, in a private directory: refused too.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        data.join("mcp-auth.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let err = mcp_auth_server::AuthorizationServer::start(config(&data, false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("mcp-auth.db"), "{err}");
    // The operator's explicit choice starts anyway.
    assert!(
        mcp_auth_server::AuthorizationServer::start(config(&open, true))
            .await
            .is_ok()
    );
}

/// The PostgreSQL connection's CA file is checked before any connection: one another
/// user could change stops the start, naming it and the parameter that named it (the
/// database at port 1 is never reached: the refusal comes first).
#[cfg(unix)]
#[tokio::test]
async fn a_postgres_ca_file_others_could_change_stops_the_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("pg-ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o646)).unwrap();
    let url = format!(
        "postgres://mcp@127.0.0.1:1/mcp?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let config = mcp_auth_server::Config::from_sources(
        "",
        &|_| None,
        &mcp_auth_server::Overrides {
            database_url: Some(url.as_str().into()),
            ..Default::default()
        },
    )
    .unwrap();
    let err = mcp_auth_server::AuthorizationServer::start(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "{} (the PostgreSQL connection's sslrootcert)",
            ca.display()
        )),
        "{err}"
    );
    assert!(err.contains("go-w"), "{err}");
}

/// The PostgreSQL connection is encrypted (`pg_stat_ssl`) and, with
/// `sslmode=verify-full`, the server is verified against the CA named: a private
/// PostgreSQL serving a certificate from a test CA is reached through the store, and the
/// same URL naming another CA is refused. sqlx was built without TLS before, so
/// `sslmode=verify-full` could not connect at all and `prefer` ran in plaintext.
#[tokio::test]
async fn a_postgres_connection_is_encrypted_and_its_server_verified() {
    use sqlx::Connection as _;
    let test = "a_postgres_connection_is_encrypted_and_its_server_verified";
    let Some(mut postgres) = mcp_auth_testkit::PrivatePostgres::start(test) else {
        return;
    };
    let (Some(ca), Some(another)) = (
        mcp_auth_testkit::TestCa::new(test, "mcp-auth test PostgreSQL CA"),
        mcp_auth_testkit::TestCa::new(test, "another CA"),
    ) else {
        return;
    };
    postgres.serve_tls(&ca);
    let url = |ca: &mcp_auth_testkit::TestCa| {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            postgres.url(),
            ca.certificate().display()
        )
    };
    let store = Store::open(&url(&ca)).await.unwrap();
    assert!(store.ping().await);
    let mut connection = sqlx::PgConnection::connect(&url(&ca)).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(encrypted, "the connection is not encrypted");
    let refused = Store::open(&url(&another)).await.unwrap_err().to_string();
    assert!(refused.contains("invalid peer certificate"), "{refused}");
}
