//! The configuration's tests: defaults, layering, and what each refusal names.

use super::*;

fn none(_: &str) -> Option<String> {
    None
}

#[test]
fn zero_config_defaults() {
    let c = Config::from_toml("", &none).unwrap();
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(*c.database_url, "sqlite://mcp-auth-data/mcp-auth.db");
    assert_eq!(c.access_token_ttl, 300);
    assert_eq!(c.issuer_path(), "");
}

#[test]
fn env_overrides_the_file() {
    let env = |k: &str| (k == "MCP_AUTH_ISSUER").then(|| "https://as.example/tenant".to_owned());
    let c = Config::from_toml("issuer = \"https://other\"", &env).unwrap();
    assert_eq!(c.issuer, "https://as.example/tenant");
    assert_eq!(c.issuer_path(), "/tenant");
}

#[test]
fn problems_name_their_key() {
    for (text, key) in [
        ("issuer = \"https://as.example/\"", "issuer"),
        ("issuer = \"ftp://x\"", "issuer"),
        ("listen = \"nope\"", "listen"),
        ("access_token_ttl = 1", "access_token_ttl"),
        ("signing_alg = \"HS256\"", "signing_alg"),
        ("[[resources]]\nuri = \"https://r#x\"", "resources[0].uri"),
        (
            "[[resources]]\nuri = \"https://r\"\nscopes = [\"a b\"]",
            "resources[0].scopes",
        ),
        (
            "[[clients]]\nclient_id = \"c\"\nclient_secret_sha256 = \"AAAA\"",
            "clients[0].client_secret_sha256",
        ),
        (
            "[[clients]]\nclient_id = \"c\"\ngrant_types = [\"client_credentials\"]",
            "clients[0].grant_types",
        ),
        (
            "[[clients]]\nclient_id = \"c\"\ngrant_types = [\"password\"]",
            "clients[0].grant_types",
        ),
        (
            "[[clients]]\nclient_id = \"c\"\ngrant_types = [\"authorization_code\"]",
            "clients[0].redirect_uris",
        ),
        (
            "[[clients]]\nclient_id = \"c\"\nredirect_uris = [\"http://evil.example/cb\"]",
            "clients[0].redirect_uris",
        ),
        ("bogus = 1", "(file)"),
        ("replay_cache = \"memcached://x\"", "replay_cache"),
        ("[httpsig]\nmax_age = 0", "httpsig"),
        (
            "[[clients]]\nclient_id = \"c\"\nhttpsig_key_binding_method = \"preregistered\"",
            "clients[0]",
        ),
    ] {
        let e = Config::from_toml(text, &none).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
    }
}

/// The nonce secret is kept for sealing, and it and the database URL's password are
/// masked wherever the configuration is printed with `Debug` (the server's state
/// derives it).
#[test]
fn the_dpop_nonce_secret_is_kept_and_never_printed() {
    let text = "database_url = \"postgres://mcp:S3cret@db.example/mcp\"\n\
                [dpop]\nnonce = true\nnonce_secret = \"S3cret-S3cret-S3cret-S3cret-S3cret\"";
    let c = Config::from_toml(text, &none).unwrap();
    assert_eq!(
        c.dpop.nonce_secret.as_ref().map(|s| s.expose().as_slice()),
        Some("S3cret-S3cret-S3cret-S3cret-S3cret".as_bytes())
    );
    let shown = format!("{c:?}");
    // Neither as text nor as the bytes a `Vec<u8>` shows ("S3" is 83, 51).
    assert!(
        !shown.contains("S3cret") && !shown.contains("83, 51"),
        "{shown}"
    );
    assert!(shown.contains("nonce_secret: Some(Secret(***))"), "{shown}");
}

/// A file the parser refuses is told by line and message, never by the line's text:
/// a misspelled key's value, or what follows an unclosed quote, may be a secret.
#[test]
fn a_file_that_does_not_parse_is_told_without_its_text() {
    for (text, place) in [
        (
            "issuer = \"https://as.example\"\ndatabse_url = \"postgres://u:S3cret@db/x\"",
            "line 2, column 1",
        ),
        (
            "[dpop]\nnonce_secret = \"S3cret-S3cret-S3cret-S3cret-S3cret",
            "line 2",
        ),
        // The secret under the wrong key: serde's message quotes the string.
        (
            "[dpop]\nnonce = \"S3cret-S3cret-S3cret-S3cret-S3cret\"",
            "line 2, column 9",
        ),
    ] {
        let e = Config::from_toml(text, &none).unwrap_err();
        assert_eq!(e.key, "(file)");
        let told = e.to_string();
        assert!(told.contains(place), "{told}");
        assert!(!told.contains("S3cret"), "{told}");
    }
}
