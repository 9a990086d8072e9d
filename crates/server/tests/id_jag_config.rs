//! EMA-AS-19 and EMA-AS-20: the AS refuses to start with an `[[id_jag_issuers]]`
//! configuration that breaks a rule of profiles/enterprise-managed-authorization.md
//! §6.4, naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_server::Config;

const BASE: &str = r#"
issuer = "https://as.example.com"

[[resources]]
uri = "https://mcp.example.com/mcp"
scopes = ["mcp:read"]
"#;

const ENTRY: &str = r#"
[[id_jag_issuers]]
id = "acme"
issuer = "https://idp.acme.example"
discovery = true
resources = ["https://mcp.example.com/mcp"]
"#;

fn refused(text: &str, key: &str) {
    let e = Config::from_toml(text, &|_| None).expect_err("must be refused");
    assert_eq!(e.key, key, "{e}");
}

#[test]
fn ema_as_20_a_valid_entry_and_its_defaults() {
    let c = Config::from_toml(&format!("{BASE}{ENTRY}"), &|_| None).unwrap();
    let e = &c.id_jag_issuers[0];
    assert_eq!(e.max_assertion_lifetime.as_secs(), 300);
    assert_eq!(e.clock_skew.as_secs(), 60);
    assert_eq!(e.access_token_ttl, 300);
    assert_eq!(e.tenant, None);
}

#[test]
fn ema_as_20_entries_that_break_section_6_4_are_refused() {
    let cases = [
        (
            ENTRY.replace(r#"id = "acme""#, r#"id = "https""#),
            "id_jag_issuers[0].id",
        ),
        (
            ENTRY.replace(r#"id = "acme""#, r#"id = "Acme Corp""#),
            "id_jag_issuers[0].id",
        ),
        (
            ENTRY.replace("https://idp.acme.example", "https://as.example.com"),
            "id_jag_issuers[0].issuer",
        ),
        (ENTRY.replace("discovery = true", ""), "id_jag_issuers[0]"),
        (
            ENTRY.replace(
                "discovery = true",
                "discovery = true\njwks_uri = \"https://idp.acme.example/keys\"",
            ),
            "id_jag_issuers[0]",
        ),
        (
            ENTRY.replace("https://mcp.example.com/mcp", "https://unknown.example/mcp"),
            "id_jag_issuers[0].resources",
        ),
        (
            ENTRY.replace("resources = [\"https://mcp.example.com/mcp\"]", ""),
            "id_jag_issuers[0].resources",
        ),
        (
            format!("{ENTRY}algorithms = [\"HS256\"]\n"),
            "id_jag_issuers[0].algorithms",
        ),
        (
            format!("{ENTRY}max_assertion_lifetime = 3601\n"),
            "id_jag_issuers[0].max_assertion_lifetime",
        ),
        (
            format!("{ENTRY}access_token_ttl = 59\n"),
            "id_jag_issuers[0].access_token_ttl",
        ),
    ];
    for (entry, key) in cases {
        refused(&format!("{BASE}{entry}"), key);
    }
    // Two entries of one issuer: same tenant, or one with and one without a tenant.
    let tenant = |id: &str, t: &str| {
        ENTRY
            .replace(r#"id = "acme""#, &format!("id = \"{id}\""))
            .replace(
                "discovery = true",
                &format!("discovery = true\ntenant = \"{t}\""),
            )
    };
    refused(
        &format!("{BASE}{}{}", tenant("a", "t1"), tenant("b", "t1")),
        "id_jag_issuers[1]",
    );
    refused(
        &format!(
            "{BASE}{}{}",
            tenant("a", "t1"),
            ENTRY.replace(r#"id = "acme""#, r#"id = "b""#)
        ),
        "id_jag_issuers[1].tenant",
    );
    Config::from_toml(
        &format!("{BASE}{}{}", tenant("a", "t1"), tenant("b", "t2")),
        &|_| None,
    )
    .unwrap();
}

#[test]
fn ema_as_19_no_client_or_workload_principal_in_an_entrys_principal_space() {
    let client = r#"
[[clients]]
client_id = "acme:robot"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["client_credentials"]
"#;
    refused(&format!("{BASE}{client}{ENTRY}"), "id_jag_issuers[0].id");
    let workload = r#"
[[workload_issuers]]
id = "acme"
issuer = "https://oidc.cluster.example"
discovery = true
[[workload_issuers.rules]]
when = 'claims.sub == "x"'
principal = "k8s:x"
resources = ["https://mcp.example.com/mcp"]
"#;
    // Ids are shared between the two kinds of entries.
    refused(&format!("{BASE}{workload}{ENTRY}"), "id_jag_issuers[0].id");
    let principal = workload
        .replace(r#"id = "acme""#, r#"id = "k8s""#)
        .replace("k8s:x", "acme:x");
    refused(&format!("{BASE}{principal}{ENTRY}"), "id_jag_issuers[0].id");
}

#[test]
fn ema_as_3_redeeming_needs_a_confidential_client() {
    let public = r#"
[[clients]]
client_id = "agent"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
"#;
    refused(&format!("{BASE}{public}"), "clients[0].grant_types");
}

#[tokio::test]
async fn ema_as_19_a_stored_user_or_client_in_an_entrys_principal_space_stops_the_start() {
    use mcp_auth_server::{AuthorizationServer, Overrides, StartError};
    let dir = tempfile::tempdir().unwrap();
    let config = |toml: &str| {
        Config::from_sources(
            toml,
            &|_| None,
            &Overrides {
                data_dir: Some(dir.path().join("data")),
                ..Overrides::default()
            },
        )
        .unwrap()
    };
    // Without the entry, a user named acme:bob is just a user.
    let server = AuthorizationServer::start(config(BASE)).await.unwrap();
    server
        .state()
        .store
        .insert_user(
            "acme:bob",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            0,
        )
        .await
        .unwrap();
    server.state().store.close().await;
    drop(server);
    // With it, bob's tokens (sub acme:bob) could pass for the IdP's user `bob`.
    let Err(e) = AuthorizationServer::start(config(&format!("{BASE}{ENTRY}"))).await else {
        panic!("the start must be refused");
    };
    assert!(
        matches!(&e, StartError::ReservedName { kind: "user", name, entry } if name == "acme:bob" && entry == "acme"),
        "{e}"
    );
}
