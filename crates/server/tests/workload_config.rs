//! WIF-AS-22: the AS refuses to start with a trust configuration that breaks a rule
//! of profiles/workload-identity-federation.md §6.4, and the error names the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_server::Config;

const ISSUER: &str = "https://as.example.com";

/// A valid configuration with one entry; `entry` and `rule` replace its tables'
/// bodies when given.
fn toml(entry: &str, rule: &str) -> String {
    format!(
        r#"
issuer = "{ISSUER}"

[[resources]]
uri = "https://mcp.example.com/mcp"
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "ci-bot"
client_secret_sha256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
grant_types = ["client_credentials"]

[[workload_issuers]]
{entry}

[[workload_issuers.rules]]
{rule}
"#
    )
}

const ENTRY: &str = r#"id = "k8s"
issuer = "https://oidc.cluster.example"
discovery = true"#;

const RULE: &str = r#"when = 'claims.sub == "system:serviceaccount:a:b"'
principal = "k8s:a/b"
resources = ["https://mcp.example.com/mcp"]
scopes = ["mcp:read"]"#;

/// Asserts the configuration is refused with a problem at `key`.
fn refused(text: &str, key: &str) -> String {
    let e = Config::from_toml(text, &|_| None).expect_err("must be refused");
    assert_eq!(e.key, key, "{e}");
    e.to_string()
}

#[test]
fn wif_as_22_the_presets_shape_is_accepted() {
    let c = Config::from_toml(&toml(ENTRY, RULE), &|_| None).unwrap();
    assert_eq!(c.workload_issuers.len(), 1);
    let e = &c.workload_issuers[0];
    assert_eq!(e.max_assertion_lifetime.as_secs(), 3660);
    assert_eq!(e.clock_skew.as_secs(), 60);
    assert_eq!(e.algorithms.len(), 7, "every WIF §7.2 algorithm by default");
    assert_eq!(e.rules[0].access_token_ttl, 300, "the AS default");
}

#[test]
fn wif_as_22_ids_and_trust_names() {
    let bad_id = ENTRY.replace(r#"id = "k8s""#, r#"id = "K8S prod""#);
    refused(&toml(&bad_id, RULE), "workload_issuers[0].id");
    let both = format!("{ENTRY}\nspiffe_trust_domain = \"prod.example\"");
    refused(&toml(&both, RULE), "workload_issuers[0]");
    let own = ENTRY.replace("https://oidc.cluster.example", ISSUER);
    refused(&toml(&own, RULE), "workload_issuers[0].issuer");
    let bad_domain = r#"id = "s"
spiffe_trust_domain = "Prod.Example"
spiffe_bundle_endpoint = "https://bundle.example""#;
    refused(
        &toml(bad_domain, RULE),
        "workload_issuers[0].spiffe_trust_domain",
    );
    // Two entries with the same id, or the same issuer.
    let twice = format!(
        "{}\n[[workload_issuers]]\n{}\n[[workload_issuers.rules]]\n{}",
        toml(ENTRY, RULE),
        ENTRY.replace("oidc.cluster.example", "other.example"),
        RULE.replace("k8s:a/b", "other:a/b")
    );
    refused(&twice, "workload_issuers[1].id");
    let same_issuer = format!(
        "{}\n[[workload_issuers]]\n{}\n[[workload_issuers.rules]]\n{}",
        toml(ENTRY, RULE),
        ENTRY.replace(r#"id = "k8s""#, r#"id = "k8s-2""#),
        RULE.replace("k8s:a/b", "other:a/b")
    );
    refused(&same_issuer, "workload_issuers[1]");
}

#[test]
fn wif_as_22_exactly_one_key_source_of_the_right_kind() {
    let none = ENTRY.replace("discovery = true", "");
    refused(&toml(&none, RULE), "workload_issuers[0]");
    let two = format!("{ENTRY}\njwks_uri = \"https://oidc.cluster.example/keys\"");
    refused(&toml(&two, RULE), "workload_issuers[0]");
    let bundle_on_issuer = ENTRY.replace(
        "discovery = true",
        "spiffe_bundle_endpoint = \"https://bundle.example\"",
    );
    refused(
        &toml(&bundle_on_issuer, RULE),
        "workload_issuers[0].spiffe_bundle_endpoint",
    );
    let discovery_on_domain = r#"id = "s"
spiffe_trust_domain = "prod.example"
discovery = true"#;
    refused(&toml(discovery_on_domain, RULE), "workload_issuers[0]");
    let http = ENTRY.replace("https://oidc", "http://oidc");
    refused(&toml(&http, RULE), "workload_issuers[0].issuer");
    // http on loopback only with the [danger] switch.
    let loopback = ENTRY.replace("https://oidc.cluster.example", "http://127.0.0.1:9");
    refused(&toml(&loopback, RULE), "workload_issuers[0].issuer");
    let with_danger = format!(
        "{}\n[danger]\nallow_http_loopback_fetches = true\n",
        toml(&loopback, RULE)
    );
    Config::from_toml(&with_danger, &|_| None).unwrap();
    // The switch's former name is still read.
    let former = with_danger.replace("allow_http_loopback_fetches", "cimd_allow_http_loopback");
    assert!(
        Config::from_toml(&former, &|_| None)
            .unwrap()
            .danger_allow_http_loopback_fetches
    );
}

#[test]
fn wif_as_22_a_jwks_file_must_hold_a_usable_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let entry = |p: &std::path::Path| {
        ENTRY.replace(
            "discovery = true",
            &format!("jwks_file = \"{}\"\nalgorithms = [\"ES256\"]", p.display()),
        )
    };
    std::fs::write(&path, r#"{"keys": []}"#).unwrap();
    refused(&toml(&entry(&path), RULE), "workload_issuers[0].jwks_file");
    // An Ed25519 key is no use to an ES256-only entry.
    let ed = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let set = format!(r#"{{"keys": [{}]}}"#, ed.verifying_key().to_jwk().to_json());
    std::fs::write(&path, &set).unwrap();
    refused(&toml(&entry(&path), RULE), "workload_issuers[0].jwks_file");
    let es = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Jws(
        mcp_auth_httpsig::JwsAlgorithm::Es256,
    ))
    .unwrap();
    let set = format!(r#"{{"keys": [{}]}}"#, es.verifying_key().to_jwk().to_json());
    std::fs::write(&path, &set).unwrap();
    Config::from_toml(&toml(&entry(&path), RULE), &|_| None).unwrap();
    refused(
        &toml(&entry(&dir.path().join("missing.json")), RULE),
        "workload_issuers[0].jwks_file",
    );
}

#[test]
fn wif_as_22_algorithms_and_numbers_in_range() {
    for (setting, key) in [
        ("algorithms = [\"HS256\"]", "algorithms"),
        ("algorithms = [\"none\"]", "algorithms"),
        ("algorithms = []", "algorithms"),
        ("max_assertion_lifetime = 59", "max_assertion_lifetime"),
        ("max_assertion_lifetime = 86401", "max_assertion_lifetime"),
        ("clock_skew = 301", "clock_skew"),
    ] {
        refused(
            &toml(&format!("{ENTRY}\n{setting}"), RULE),
            &format!("workload_issuers[0].{key}"),
        );
    }
    // EdDSA is never a trust domain's (JWT-SVID §2.1).
    let domain = r#"id = "s"
spiffe_trust_domain = "prod.example"
spiffe_bundle_endpoint = "https://bundle.example"
algorithms = ["EdDSA"]"#;
    refused(&toml(domain, RULE), "workload_issuers[0].algorithms");
}

#[test]
fn wif_as_22_rules_conditions_principals_resources_scopes() {
    let entry_rules = |rule: &str| toml(ENTRY, rule);
    let key = |k: &str| format!("workload_issuers[0].rules[0].{k}");
    refused(
        &entry_rules(&RULE.replace("claims.sub ==", "claims.sub ==== ")),
        &key("when"),
    );
    refused(
        &entry_rules(&RULE.replace(
            r#"when = 'claims.sub == "system:serviceaccount:a:b"'"#,
            "when = 'true'",
        )),
        &key("when"),
    );
    for bad in ["", "https://app.example", "tab\there", "ci-bot"] {
        refused(
            &entry_rules(&RULE.replace("k8s:a/b", bad)),
            &key("principal"),
        );
    }
    refused(
        &entry_rules(&RULE.replace(
            "resources = [\"https://mcp.example.com/mcp\"]",
            "resources = [\"https://unknown.example/mcp\"]",
        )),
        &key("resources"),
    );
    refused(
        &entry_rules(&RULE.replace("resources = [\"https://mcp.example.com/mcp\"]", "")),
        &key("resources"),
    );
    refused(
        &entry_rules(&RULE.replace("mcp:read", "mcp:admin")),
        &key("scopes"),
    );
    refused(
        &entry_rules(&format!("{RULE}\naccess_token_ttl = 0")),
        &key("access_token_ttl"),
    );
    // No rule at all.
    let no_rule = format!(
        "issuer = \"{ISSUER}\"\n[[resources]]\nuri = \"https://mcp.example.com/mcp\"\n[[workload_issuers]]\n{ENTRY}"
    );
    refused(&no_rule, "workload_issuers[0].rules");
    // A principal belongs to one entry.
    let shared = format!(
        "{}\n[[workload_issuers]]\n{}\n[[workload_issuers.rules]]\n{}",
        toml(ENTRY, RULE),
        ENTRY
            .replace(r#"id = "k8s""#, r#"id = "k8s-2""#)
            .replace("oidc.cluster.example", "other.example"),
        RULE
    );
    refused(&shared, "workload_issuers[1].rules[0].principal");
}
