//! `mcp-auth as user add --group`, `as user groups` and `as user remove`: the users
//! and groups the identity provider's policy reads (profiles/
//! enterprise-managed-authorization.md §6.1, EMA-IDP-16), checked in the store the
//! commands wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

/// Runs `mcp-auth as <args>` on the data directory `data`.
fn run(data: &Path, args: &[&str]) -> (bool, String) {
    common::as_admin(args, &["--data-dir".as_ref(), data.as_os_str()])
}

async fn user(data: &Path, name: &str) -> Option<mcp_auth_server::store::UserRecord> {
    let store =
        mcp_auth_server::Store::open(&format!("sqlite://{}", data.join("mcp-auth.db").display()))
            .await
            .unwrap();
    store.user(name).await.unwrap()
}

#[tokio::test]
async fn ema_idp_16_users_get_groups_are_regrouped_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, err) = run(
        &data,
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--group",
            "engineering",
            "--group",
            "ops",
        ],
    );
    assert!(ok, "{err}");
    let alice = user(&data, "alice").await.unwrap();
    assert_eq!(alice.groups, ["engineering", "ops"]);
    assert_eq!(alice.subject.len(), 32);
    let (ok, err) = run(
        &data,
        &["user", "groups", "--username", "alice", "--group", "eng"],
    );
    assert!(ok, "{err}");
    assert_eq!(user(&data, "alice").await.unwrap().groups, ["eng"]);
    let (ok, err) = run(
        &data,
        &[
            "user",
            "groups",
            "--username",
            "alice",
            "--group",
            "has space",
        ],
    );
    assert!(!ok && err.contains("printable ASCII"), "{err}");
    let (ok, err) = run(&data, &["user", "groups", "--username", "nobody"]);
    assert!(!ok && err.contains("no user `nobody`"), "{err}");
    let (ok, err) = run(&data, &["user", "remove", "--username", "alice"]);
    assert!(ok, "{err}");
    assert!(user(&data, "alice").await.is_none());
    let (ok, err) = run(&data, &["user", "remove", "--username", "alice"]);
    assert!(!ok && err.contains("no user `alice`"), "{err}");
    // Added again: another subject identifier, never the removed user's.
    let (ok, err) = run(&data, &["user", "add", "--username", "alice"]);
    assert!(ok, "{err}");
    assert_ne!(user(&data, "alice").await.unwrap().subject, alice.subject);
}
