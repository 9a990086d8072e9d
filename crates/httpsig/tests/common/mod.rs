//! Shared helpers for the vector tests: loading the transcribed RFC test data.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::PathBuf;

use base64::Engine as _;
use mcp_auth_httpsig::http1::Http1Message;
use mcp_auth_httpsig::{Algorithm, SigningKey, VerifyingKey};

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&read(rel)).unwrap()
}

/// Loads `rfc9421/messages/<name>.http`, with its `.trailers` appended when present.
pub fn message(name: &str) -> Http1Message {
    let dir = vectors_dir().join("rfc9421/messages");
    let mut text = std::fs::read_to_string(dir.join(format!("{name}.http"))).unwrap();
    if let Ok(trailers) = std::fs::read_to_string(dir.join(format!("{name}.trailers"))) {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&trailers);
    }
    Http1Message::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Scheme and authority of a target URI such as `https://example.com/foo`.
pub fn scheme_authority(target_uri: Option<&str>) -> (String, Option<String>) {
    match target_uri {
        Some(u) => {
            let uri: http::Uri = u.parse().unwrap();
            (
                uri.scheme_str().unwrap_or("https").to_owned(),
                uri.authority().map(|a| a.as_str().to_owned()),
            )
        }
        None => ("https".to_owned(), None),
    }
}

pub fn shared_secret() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(read("rfc9421/keys/test-shared-secret.b64").trim())
        .unwrap()
}

pub fn verifying_key(name: &str, alg: Algorithm) -> VerifyingKey {
    let key = if name == "test-shared-secret" {
        VerifyingKey::hmac(&shared_secret())
    } else {
        VerifyingKey::from_pem(&read(&format!("rfc9421/keys/{name}.public.pem"))).unwrap()
    };
    key.with_algorithm(alg).unwrap()
}

pub fn signing_key(name: &str) -> SigningKey {
    if name == "test-shared-secret" {
        SigningKey::hmac(&shared_secret())
    } else {
        SigningKey::from_pem(&read(&format!("rfc9421/keys/{name}.private.pem"))).unwrap()
    }
}
