//! EMA-IDP-13: the identity provider refuses to start with an `[[id_jag_targets]]`
//! configuration that breaks a rule of profiles/enterprise-managed-authorization.md
//! §6.4, naming the key; and `id_token_ttl`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_server::Config;

const BASE: &str = r#"
issuer = "https://idp.acme.example"

[[clients]]
client_id = "desktop-agent"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]

[[clients]]
client_id = "web-only"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["client_credentials"]
"#;

const TARGET: &str = r#"
[[id_jag_targets]]
id = "mcp-example"
audience = "https://as.example.com"
client_ids = { "desktop-agent" = "acme-agent" }
[[id_jag_targets.rules]]
when = '"engineering" in user.groups'
resources = ["https://mcp.example.com/mcp"]
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]
"#;

fn refused(text: &str, key: &str) {
    let e = Config::from_toml(text, &|_| None).expect_err("must be refused");
    assert_eq!(e.key, key, "{e}");
}

#[test]
fn ema_idp_13_a_valid_target_and_the_defaults() {
    let c = Config::from_toml(&format!("{BASE}{TARGET}"), &|_| None).unwrap();
    let idp = &c.identity_provider;
    assert!(idp.is_enabled());
    assert_eq!(idp.id_token_ttl, 3600);
    assert_eq!(idp.targets[0].id_jag_ttl, 300);
    assert_eq!(idp.targets[0].client_ids["desktop-agent"], "acme-agent");
    // The RS256 key is kept beside the access tokens' key, and published as long as
    // an ID token lives.
    let policy = c.key_policy();
    assert!(policy.identity);
    assert_eq!(policy.retain, 3600);
    let none = Config::from_toml(BASE, &|_| None).unwrap();
    assert!(!none.identity_provider.is_enabled());
    assert!(!none.key_policy().identity);
}

#[test]
fn ema_idp_13_targets_that_break_section_6_4_are_refused() {
    let t = TARGET;
    let cases = [
        (
            t.replace(r#"id = "mcp-example""#, r#"id = "MCP Example""#),
            "id_jag_targets[0].id",
        ),
        (
            t.replace("https://as.example.com", "https://idp.acme.example"),
            "id_jag_targets[0].audience",
        ),
        (
            t.replace("https://as.example.com", "http://as.example.com"),
            "id_jag_targets[0].audience",
        ),
        (
            t.replace("https://as.example.com", "https://as.example.com#x"),
            "id_jag_targets[0].audience",
        ),
        (
            t.replace(
                r#""desktop-agent" = "acme-agent""#,
                r#""web-only" = "acme-agent""#,
            ),
            "id_jag_targets[0].client_ids",
        ),
        (
            t.replace(
                r#""desktop-agent" = "acme-agent""#,
                r#""desktop-agent" = """#,
            ),
            "id_jag_targets[0].client_ids",
        ),
        (
            t.replace(r#"client_ids = { "desktop-agent" = "acme-agent" }"#, ""),
            "id_jag_targets[0].client_ids",
        ),
        (
            t.replace(r#"'"engineering" in user.groups'"#, "'true'"),
            "id_jag_targets[0].rules[0].when",
        ),
        (
            t.replace(r#"'"engineering" in user.groups'"#, "'user.groups =='"),
            "id_jag_targets[0].rules[0].when",
        ),
        (
            t.replace(r#"resources = ["https://mcp.example.com/mcp"]"#, ""),
            "id_jag_targets[0].rules[0].resources",
        ),
        (
            t.replace(
                "https://mcp.example.com/mcp",
                "https://mcp.example.com/mcp#f",
            ),
            "id_jag_targets[0].rules[0].resources",
        ),
        (
            t.replace("https://mcp.example.com/mcp", "mcp-server"),
            "id_jag_targets[0].rules[0].resources",
        ),
        (
            t.replace(
                r#"default_scopes = ["mcp:read"]"#,
                r#"default_scopes = ["mcp:admin"]"#,
            ),
            "id_jag_targets[0].rules[0].default_scopes",
        ),
        (
            t.replace(r#""mcp:read", "mcp:write""#, r#""mcp read""#),
            "id_jag_targets[0].rules[0].scopes",
        ),
        (
            t.replace("client_ids =", "id_jag_ttl = 301\nclient_ids ="),
            "id_jag_targets[0].id_jag_ttl",
        ),
        (
            t.replace("client_ids =", "id_jag_ttl = 59\nclient_ids ="),
            "id_jag_targets[0].id_jag_ttl",
        ),
        (
            t.split("[[id_jag_targets.rules]]")
                .next()
                .unwrap()
                .to_owned(),
            "id_jag_targets[0].rules",
        ),
        (format!("{t}{t}"), "id_jag_targets[1].id"),
        (
            format!(
                "{t}{}",
                t.replace(r#"id = "mcp-example""#, r#"id = "second""#)
            ),
            "id_jag_targets[1].audience",
        ),
    ];
    for (target, key) in cases {
        refused(&format!("{BASE}{target}"), key);
    }
    refused(
        &format!("id_token_ttl = 299\n{BASE}{TARGET}"),
        "id_token_ttl",
    );
    refused(
        &format!("id_token_ttl = 86401\n{BASE}{TARGET}"),
        "id_token_ttl",
    );
    // A client with the exchange grant authenticates.
    refused(
        r#"
issuer = "https://idp.acme.example"
[[clients]]
client_id = "desktop-agent"
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]
redirect_uris = ["http://127.0.0.1/callback"]
"#,
        "clients[0].grant_types",
    );
}

#[tokio::test]
async fn ema_idp_13_a_requesting_client_outside_the_file_is_checked_in_the_store_at_start() {
    use mcp_auth_server::{AuthorizationServer, ClientRecord, Overrides, StartError};
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{BASE}{}",
        TARGET.replace(
            r#""desktop-agent" = "acme-agent""#,
            r#""added-later" = "acme-agent""#
        )
    );
    let config = || {
        Config::from_sources(
            &text,
            &|_| None,
            &Overrides {
                data_dir: Some(dir.path().join("data")),
                ..Overrides::default()
            },
        )
        .unwrap()
    };
    // Not in the store yet: the AS does not start.
    match AuthorizationServer::start(config()).await {
        Err(StartError::ExchangeClient { target, client }) => {
            assert_eq!(
                (target.as_str(), client.as_str()),
                ("mcp-example", "added-later")
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("started"),
    }
    let (store, _) = mcp_auth_server::open_store(&config()).await.unwrap();
    let client = |method: &str, grants: serde_json::Value| ClientRecord {
        client_id: "added-later".into(),
        secret_sha256: (method == "client_secret_basic").then(|| vec![7; 32]),
        metadata: serde_json::json!({"grant_types": grants, "token_endpoint_auth_method": method}),
        created_at: 0,
    };
    let exchange = serde_json::json!(["urn:ietf:params:oauth:grant-type:token-exchange"]);
    // A public client, or one without the grant: still not.
    store
        .upsert_client(&client("none", exchange.clone()))
        .await
        .unwrap();
    assert!(AuthorizationServer::start(config()).await.is_err());
    store
        .upsert_client(&client(
            "client_secret_basic",
            serde_json::json!(["client_credentials"]),
        ))
        .await
        .unwrap();
    assert!(AuthorizationServer::start(config()).await.is_err());
    // A confidential client with the grant, as `as client add` makes it: it starts.
    store
        .upsert_client(&client("private_key_jwt", exchange))
        .await
        .unwrap();
    assert!(AuthorizationServer::start(config()).await.is_ok());
}
