//! Each remote key source against a real server on 127.0.0.1 (WIF §6.2), and the
//! fetch guard's limits as the key sources see them (WIF-AS-9, -10, -11).

use super::*;

use JwsAlgorithm::{Es256, Rs256};
use KeyLookupError::{NoUsableKey, Unavailable};

const OIDC: &str = "/.well-known/openid-configuration";
const RFC8414: &str = "/.well-known/oauth-authorization-server";

/// A discovery document for `issuer` with its key set at `jwks_uri`.
fn discovery(issuer: &str, jwks_uri: &str) -> Value {
    json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"]})
}

#[tokio::test]
async fn wif_as_9_discovery_reads_the_openid_configuration() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let key = signing(Rs256, "k8s");
    server.set(
        OIDC,
        Reply::json(&discovery(&issuer, &server.url("/openid/v1/jwks"))),
    );
    server.set("/openid/v1/jwks", Reply::json(&jwks(&[public(&key)])));
    let entry = EntryKeys::new("k8s", KeySource::Discovery { issuer });
    let found = entry
        .select(&loopback_fetch(), T0, Some("k8s"), Rs256)
        .await;
    assert_is(&found.expect("the issuer's key"), &key);
    assert_eq!(server.hits(OIDC), 1);
    assert_eq!(server.hits(RFC8414), 0);
    assert_eq!(server.hits("/openid/v1/jwks"), 1);
}

#[tokio::test]
async fn wif_as_9_the_rfc_8414_location_is_read_on_404() {
    let server = Server::start().await;
    let issuer = server.url("/tenant");
    let key = signing(Es256, "t");
    // Nothing at `<issuer>/.well-known/openid-configuration`: the server answers 404.
    let rfc8414 = format!("{RFC8414}/tenant");
    server.set(
        &rfc8414,
        Reply::json(&discovery(&issuer, &server.url("/keys"))),
    );
    server.set("/keys", Reply::json(&jwks(&[public(&key)])));
    let entry = EntryKeys::new("t", KeySource::Discovery { issuer });
    let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
    assert_is(&found.expect("the issuer's key"), &key);
    assert_eq!(server.hits(&format!("/tenant{OIDC}")), 1);
    assert_eq!(server.hits(&rfc8414), 1);
}

#[tokio::test]
async fn wif_as_9_other_discovery_failures_do_not_fall_back() {
    for failing in [
        Reply::status(500),
        Reply::status(403),
        Reply::redirect("/elsewhere"),
        Reply {
            body: "<html>".to_owned(),
            ..Reply::json(&json!({}))
        },
    ] {
        let server = Server::start().await;
        let issuer = server.base.clone();
        server.set(OIDC, failing.clone());
        server.set(
            RFC8414,
            Reply::json(&discovery(&issuer, &server.url("/keys"))),
        );
        server.set("/keys", Reply::json(&jwks(&[public(&signing(Es256, "k"))])));
        let entry = EntryKeys::new("e", KeySource::Discovery { issuer });
        let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
        assert_eq!(found.err(), Some(Unavailable), "{failing:?}");
        assert_eq!(server.hits(RFC8414), 0, "{failing:?}");
        assert_eq!(server.hits("/keys"), 0, "{failing:?}");
    }
}

#[tokio::test]
async fn wif_as_9_the_document_must_name_the_issuer_exactly() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    for named in [
        json!(format!("{issuer}/")),
        json!("https://other.example"),
        json!(issuer.to_uppercase()),
        Value::Null,
    ] {
        let mut doc = discovery(&issuer, &server.url("/keys"));
        doc["issuer"] = named.clone();
        server.set(OIDC, Reply::json(&doc));
        server.set("/keys", Reply::json(&jwks(&[public(&signing(Es256, "k"))])));
        let entry = EntryKeys::new(
            "e",
            KeySource::Discovery {
                issuer: issuer.clone(),
            },
        );
        let found = entry.select(&loopback_fetch(), T0, Some("k"), Es256).await;
        assert_eq!(found.err(), Some(NoUsableKey), "issuer {named}");
        // Asked again within the minute: still refused, without another fetch.
        let again = entry
            .select(&loopback_fetch(), T0 + 1, Some("k"), Es256)
            .await;
        assert_eq!(again.err(), Some(NoUsableKey), "issuer {named}");
    }
    assert_eq!(server.hits("/keys"), 0);
    assert_eq!(server.hits(OIDC), 4);
}

#[tokio::test]
async fn wif_as_9_the_jwks_uri_must_be_https() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    for jwks_uri in [
        json!("http://keys.example/jwks"),
        json!("ftp://keys.example/jwks"),
        json!("https://u:p@keys.example/jwks"),
        json!("/keys"),
        json!(7),
        Value::Null,
    ] {
        let mut doc = discovery(&issuer, "");
        doc["jwks_uri"] = jwks_uri.clone();
        server.set(OIDC, Reply::json(&doc));
        let entry = EntryKeys::new(
            "e",
            KeySource::Discovery {
                issuer: issuer.clone(),
            },
        );
        let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
        assert_eq!(found.err(), Some(NoUsableKey), "jwks_uri {jwks_uri}");
    }
}

#[tokio::test]
async fn a_jwks_uri_entry_reads_its_key_set() {
    let server = Server::start().await;
    let a = signing(Es256, "a");
    let b = signing(Rs256, "b");
    server.set("/jwks.json", Reply::json(&jwks(&[public(&a), public(&b)])));
    let entry = EntryKeys::new("gh", KeySource::JwksUri(server.url("/jwks.json")));
    let fetch = loopback_fetch();
    assert_is(
        &entry.select(&fetch, T0, Some("b"), Rs256).await.expect("b"),
        &b,
    );
    assert_is(&entry.select(&fetch, T0, None, Es256).await.expect("a"), &a);
    // A known kid used with another algorithm: refused, and no refetch.
    assert_eq!(
        entry.select(&fetch, T0, Some("a"), Rs256).await.err(),
        Some(NoUsableKey)
    );
    assert_eq!(server.hits("/jwks.json"), 1);
}

#[tokio::test]
async fn wif_as_10_a_bundle_gives_only_jwt_svid_keys_with_a_kid() {
    let server = Server::start().await;
    let svid = signing(Es256, "svid");
    let bundle = json!({
        "spiffe_sequence": 7,
        "spiffe_refresh_hint": 600,
        "keys": [
            public_with(&signing(Es256, "root"), &json!({"use": "x509-svid", "x5c": ["AAAA"]})),
            public_with(&svid, &json!({"use": "jwt-svid"})),
            public_with(&signing(Es256, "nokid"), &json!({"use": "jwt-svid", "kid": null})),
            public_with(&signing(Es256, "plain"), &json!({})),
        ]
    });
    server.set("/bundle", Reply::json(&bundle));
    let entry = EntryKeys::new("spire", KeySource::SpiffeBundle(server.url("/bundle")));
    let fetch = loopback_fetch();
    let found = entry.select(&fetch, T0, None, Es256).await;
    assert_is(&found.expect("the one JWT-SVID key"), &svid);
    assert_is(
        &entry
            .select(&fetch, T0, Some("svid"), Es256)
            .await
            .expect("svid"),
        &svid,
    );
    assert_eq!(
        entry.select(&fetch, T0, Some("plain"), Es256).await.err(),
        Some(NoUsableKey)
    );
}

#[tokio::test]
async fn wif_as_11_redirects_are_not_followed() {
    let server = Server::start().await;
    server.set("/jwks", Reply::redirect("/moved"));
    server.set(
        "/moved",
        Reply::json(&jwks(&[public(&signing(Es256, "k"))])),
    );
    let entry = EntryKeys::new("e", KeySource::JwksUri(server.url("/jwks")));
    let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
    assert_eq!(found.err(), Some(Unavailable));
    assert_eq!(server.hits("/jwks"), 1);
    assert_eq!(server.hits("/moved"), 0);
}

#[tokio::test]
async fn wif_as_11_a_key_set_over_64_kib_is_a_failed_fetch() {
    let server = Server::start().await;
    let key = signing(Es256, "k");
    let mut big = jwks(&[public(&key)]);
    big["padding"] = json!("x".repeat(64 * 1024));
    server.set("/big", Reply::json(&big));
    let mut fits = jwks(&[public(&key)]);
    fits["padding"] = json!("x".repeat(60 * 1024));
    server.set("/fits", Reply::json(&fits));
    let fetch = loopback_fetch();
    let entry = EntryKeys::new("big", KeySource::JwksUri(server.url("/big")));
    assert_eq!(
        entry.select(&fetch, T0, None, Es256).await.err(),
        Some(Unavailable)
    );
    let entry = EntryKeys::new("fits", KeySource::JwksUri(server.url("/fits")));
    assert_is(
        &entry.select(&fetch, T0, None, Es256).await.expect("k"),
        &key,
    );
}

#[tokio::test]
async fn wif_as_11_an_answer_after_5_seconds_is_a_failed_fetch() {
    let server = Server::start().await;
    let set = jwks(&[public(&signing(Es256, "k"))]);
    server.set("/slow", Reply::json(&set).delayed(Duration::from_secs(6)));
    let entry = EntryKeys::new("slow", KeySource::JwksUri(server.url("/slow")));
    let started = std::time::Instant::now();
    let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
    assert_eq!(found.err(), Some(Unavailable));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "gave up after {took:?}");
    assert!(took >= Duration::from_secs(4), "gave up after {took:?}");
}

#[tokio::test]
async fn wif_as_11_other_answers_are_failed_fetches() {
    let server = Server::start().await;
    for (path, reply) in [
        ("/status", Reply::status(500)),
        ("/missing", Reply::status(404)),
        (
            "/html",
            Reply {
                body: "<html></html>".to_owned(),
                ..Reply::json(&json!({}))
            },
        ),
        ("/not-a-set", Reply::json(&json!({"keys": {"kty": "EC"}}))),
        ("/array", Reply::json(&json!([]))),
    ] {
        server.set(path, reply);
        let entry = EntryKeys::new("e", KeySource::JwksUri(server.url(path)));
        let found = entry.select(&loopback_fetch(), T0, None, Es256).await;
        assert_eq!(found.err(), Some(Unavailable), "{path}");
    }
}

/// WIF-AS-11's implementation test: without the `[danger]` switch, a key source on
/// a loopback address is refused before any connection.
#[tokio::test]
async fn wif_as_11_private_addresses_are_refused_before_connecting() {
    let server = Server::start().await;
    server.set("/jwks", Reply::json(&jwks(&[public(&signing(Es256, "k"))])));
    let port = server.base.rsplit(':').next().expect("port").to_owned();
    let guarded = GuardedFetch::new(false);
    for url in [
        server.url("/jwks"),
        format!("https://127.0.0.1:{port}/jwks"),
        format!("https://localhost:{port}/jwks"),
        format!("https://[::1]:{port}/jwks"),
    ] {
        let entry = EntryKeys::new("e", KeySource::JwksUri(url.clone()));
        let found = entry.select(&guarded, T0, None, Es256).await;
        assert_eq!(found.err(), Some(Unavailable), "{url}");
        let bundle = EntryKeys::new("b", KeySource::SpiffeBundle(url.clone()));
        let found = bundle.select(&guarded, T0, None, Es256).await;
        assert_eq!(found.err(), Some(Unavailable), "{url}");
    }
    assert_eq!(server.hits("/jwks"), 0);
    // And a discovered jwks_uri on a private address: the same guard.
    let issuer = server.base.clone();
    server.set(OIDC, Reply::json(&discovery(&issuer, &server.url("/jwks"))));
    let entry = EntryKeys::new("d", KeySource::Discovery { issuer });
    let found = entry.select(&guarded, T0, None, Es256).await;
    assert!(found.is_err());
    assert_eq!(server.hits(OIDC), 0);
    assert_eq!(server.hits("/jwks"), 0);
}

#[tokio::test]
async fn fetch_document_reports_404_and_the_max_age_as_sent() {
    let server = Server::start().await;
    let fetch = loopback_fetch();
    server.set(
        "/a",
        Reply::json(&json!({"a": 1})).cache_control("no-transform, Max-Age=5"),
    );
    server.set("/b", Reply::json(&json!({"b": 1})));
    server.set("/c", Reply::cached(&json!({"c": 1}), 999_999));
    let a = fetch.fetch_document(&server.url("/a"), 1024).await;
    assert_eq!(
        a,
        Ok(crate::outbound::FetchedDocument {
            value: json!({"a": 1}),
            max_age: Some(5)
        })
    );
    let b = fetch.fetch_document(&server.url("/b"), 1024).await;
    assert_eq!(b.map(|d| d.max_age), Ok(None));
    let c = fetch.fetch_document(&server.url("/c"), 1024).await;
    assert_eq!(c.map(|d| d.max_age), Ok(Some(999_999)));
    assert_eq!(
        fetch.fetch_document(&server.url("/none"), 1024).await,
        Err(FetchError::NotFound)
    );
    assert_eq!(
        fetch.fetch_document(&server.url("/a"), 4).await,
        Err(FetchError::TooLarge(4))
    );
    // Never cached: every call is a request.
    assert_eq!(server.hits("/a"), 2);
    // The cached `json` method still reports a 404 as before.
    assert_eq!(
        fetch.json(&server.url("/none"), 1024).await,
        Err(FetchError::Unavailable)
    );
}
