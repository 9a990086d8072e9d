//! A fresh PostgreSQL database per test, on the server named by
//! `MCP_AUTH_TEST_POSTGRES` (which `scripts/test` sets when 127.0.0.1:5432 answers).

use sqlx::Connection as _;

/// The URL of a new, empty database for `test` (a name of `[a-z0-9_]` characters), or
/// `None`, said loudly on standard error, when `MCP_AUTH_TEST_POSTGRES` is not set.
/// Panics when it is set and PostgreSQL does not answer: a configured database that is
/// down is a failure, not a skip.
pub async fn postgres_database(test: &str) -> Option<String> {
    assert!(
        test.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "a test database name is [a-z0-9_]: {test}"
    );
    let Ok(admin_url) = std::env::var("MCP_AUTH_TEST_POSTGRES") else {
        eprintln!("!!! {test}: PostgreSQL half SKIPPED (MCP_AUTH_TEST_POSTGRES not set)");
        return None;
    };
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("MCP_AUTH_TEST_POSTGRES is set but PostgreSQL does not answer");
    let name = format!("mcp_auth_test_{}_{}", test, std::process::id());
    // The name is built from a checked test name and the process id: no outside input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}
