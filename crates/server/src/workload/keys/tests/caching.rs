//! The cache, the unknown-`kid` refetch and the outage rules (WIF §6.2, D8,
//! WIF-AS-13, Sections 12.2 and 12.3), with a clock moved by hand and the requests
//! counted at the server.

use super::*;

use JwsAlgorithm::Es256;
use KeyLookupError::{NoUsableKey, Unavailable};

const JWKS: &str = "/jwks";

/// A server with `keys` at [`JWKS`], and an entry reading it.
async fn serving(reply: Reply) -> (Server, EntryKeys) {
    let server = Server::start().await;
    server.set(JWKS, reply);
    let entry = EntryKeys::new("e", KeySource::JwksUri(server.url(JWKS)));
    (server, entry)
}

/// Selects `kid` at `now` and says whether a key was found.
async fn finds(entry: &EntryKeys, now: i64, kid: &str) -> Result<(), KeyLookupError> {
    entry
        .select(&loopback_fetch(), now, Some(kid), Es256)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn wif_as_13_a_key_set_is_cached_for_its_max_age() {
    let key = signing(Es256, "a");
    let (server, entry) = serving(Reply::cached(&jwks(&[public(&key)]), 600)).await;
    for now in [T0, T0 + 1, T0 + 599] {
        assert_eq!(finds(&entry, now, "a").await, Ok(()));
    }
    assert_eq!(server.hits(JWKS), 1);
    assert_eq!(finds(&entry, T0 + 600, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
    assert_eq!(finds(&entry, T0 + 1199, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
}

/// D8: `max-age` clamped to 60 s .. 3600 s, and 300 s without one.
#[tokio::test]
async fn wif_as_13_the_cache_lifetime_is_clamped() {
    let set = jwks(&[public(&signing(Es256, "a"))]);
    for (reply, lifetime) in [
        (Reply::cached(&set, 5), 60),
        (Reply::cached(&set, 0), 60),
        (Reply::json(&set).cache_control("no-cache"), 300),
        (Reply::json(&set), 300),
        (Reply::cached(&set, 86_400), 3600),
    ] {
        let (server, entry) = serving(reply.clone()).await;
        assert_eq!(finds(&entry, T0, "a").await, Ok(()));
        assert_eq!(finds(&entry, T0 + lifetime - 1, "a").await, Ok(()));
        assert_eq!(server.hits(JWKS), 1, "{reply:?}");
        assert_eq!(finds(&entry, T0 + lifetime, "a").await, Ok(()));
        assert_eq!(server.hits(JWKS), 2, "{reply:?}");
    }
}

/// D8: a bundle is cached for the smaller of `max-age` and `spiffe_refresh_hint`.
#[tokio::test]
async fn wif_as_10_the_bundle_refresh_hint_shortens_the_cache() {
    let key = public_with(&signing(Es256, "a"), &json!({"use": "jwt-svid"}));
    for (max_age, hint, lifetime) in [
        (Some(600), Some(120), 120),
        (Some(600), Some(1000), 600),
        (None, Some(90), 90),
        (None, Some(10), 60),
        (Some(100_000), Some(100_000), 3600),
    ] {
        let mut bundle = jwks(std::slice::from_ref(&key));
        if let Some(hint) = hint {
            bundle["spiffe_refresh_hint"] = json!(hint);
        }
        let reply = match max_age {
            Some(s) => Reply::cached(&bundle, s),
            None => Reply::json(&bundle),
        };
        let server = Server::start().await;
        server.set("/bundle", reply);
        let entry = EntryKeys::new("spire", KeySource::SpiffeBundle(server.url("/bundle")));
        assert_eq!(finds(&entry, T0, "a").await, Ok(()));
        assert_eq!(finds(&entry, T0 + lifetime - 1, "a").await, Ok(()));
        assert_eq!(server.hits("/bundle"), 1, "{max_age:?} {hint:?}");
        assert_eq!(finds(&entry, T0 + lifetime, "a").await, Ok(()));
        assert_eq!(server.hits("/bundle"), 2, "{max_age:?} {hint:?}");
    }
}

#[tokio::test]
async fn wif_as_13_unknown_kid_refetch_is_rate_limited() {
    let (server, entry) =
        serving(Reply::cached(&jwks(&[public(&signing(Es256, "a"))]), 3600)).await;
    assert_eq!(finds(&entry, T0, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 1);
    // Made-up kids within the same minute: one refetch (at T0 + 60, the first
    // moment 60 s after the first fetch), and no more.
    for (i, now) in [T0 + 10, T0 + 30, T0 + 59].into_iter().enumerate() {
        assert_eq!(
            finds(&entry, now, &format!("made-up-{i}")).await,
            Err(NoUsableKey)
        );
    }
    assert_eq!(server.hits(JWKS), 1);
    for (i, now) in [T0 + 60, T0 + 61, T0 + 70, T0 + 90, T0 + 119]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            finds(&entry, now, &format!("random-{i}")).await,
            Err(NoUsableKey)
        );
    }
    assert_eq!(server.hits(JWKS), 2);
    assert_eq!(
        finds(&entry, T0 + 120, "random-again").await,
        Err(NoUsableKey)
    );
    assert_eq!(server.hits(JWKS), 3);
    // The known kid keeps working throughout, from the cache.
    assert_eq!(finds(&entry, T0 + 121, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 3);
}

/// Section 12.2: a key published after the last fetch is found on its first use,
/// once the minute since the last fetch has passed.
#[tokio::test]
async fn wif_as_13_a_rotated_key_is_found_by_the_refetch() {
    let old = signing(Es256, "old");
    let new = signing(Es256, "new");
    let (server, entry) = serving(Reply::cached(&jwks(&[public(&old)]), 3600)).await;
    assert_eq!(finds(&entry, T0, "old").await, Ok(()));
    server.set(
        JWKS,
        Reply::cached(&jwks(&[public(&old), public(&new)]), 3600),
    );
    assert_eq!(finds(&entry, T0 + 59, "new").await, Err(NoUsableKey));
    let found = entry
        .select(&loopback_fetch(), T0 + 60, Some("new"), Es256)
        .await;
    assert_is(&found.expect("the new key"), &new);
    assert_eq!(server.hits(JWKS), 2);
    // The old key is removed: it is trusted until the set expires, not after.
    server.set(JWKS, Reply::cached(&jwks(&[public(&new)]), 3600));
    assert_eq!(finds(&entry, T0 + 3659, "old").await, Ok(()));
    assert_eq!(finds(&entry, T0 + 3660, "old").await, Err(NoUsableKey));
    assert_eq!(server.hits(JWKS), 3);
}

/// Single flight: concurrent requests with an unknown kid wait for one fetch.
#[tokio::test]
async fn wif_as_13_concurrent_unknown_kids_share_one_fetch() {
    let old = signing(Es256, "old");
    let new = signing(Es256, "new");
    let (server, entry) = serving(Reply::cached(&jwks(&[public(&old)]), 3600)).await;
    assert_eq!(finds(&entry, T0, "old").await, Ok(()));
    server.set(
        JWKS,
        Reply::cached(&jwks(&[public(&old), public(&new)]), 3600)
            .delayed(Duration::from_millis(200)),
    );
    let now = T0 + 100;
    let (a, b, c, d, e) = tokio::join!(
        finds(&entry, now, "new"),
        finds(&entry, now, "new"),
        finds(&entry, now, "other"),
        finds(&entry, now, "new"),
        finds(&entry, now, "old"),
    );
    assert_eq!([a, b, d, e], [Ok(()); 4]);
    assert_eq!(c, Err(NoUsableKey));
    assert_eq!(server.hits(JWKS), 2);
}

/// Section 12.3: the last key set fetched successfully is used for 24 h after that
/// fetch while the source is down; then the entry's requests get 503.
#[tokio::test]
async fn wif_as_13_cached_keys_outlive_an_outage_by_24_hours() {
    let (server, entry) = serving(Reply::cached(&jwks(&[public(&signing(Es256, "a"))]), 60)).await;
    assert_eq!(finds(&entry, T0, "a").await, Ok(()));
    server.stop().await;
    for now in [T0 + 60, T0 + 100, T0 + 3600, T0 + 86_400] {
        assert_eq!(
            finds(&entry, now, "a").await,
            Ok(()),
            "at T0 + {}",
            now - T0
        );
    }
    // A kid that is not in the kept set is refused, not a 503: keys are known.
    assert_eq!(finds(&entry, T0 + 86_400, "b").await, Err(NoUsableKey));
    assert_eq!(finds(&entry, T0 + 86_401, "a").await, Err(Unavailable));
    assert_eq!(finds(&entry, T0 + 90_000, "a").await, Err(Unavailable));
}

/// A failed fetch is retried at most once per 60 s, and the kept set answers in
/// between without waiting for the source.
#[tokio::test]
async fn wif_as_13_a_failing_source_is_retried_at_most_once_a_minute() {
    let set = jwks(&[public(&signing(Es256, "a"))]);
    let (server, entry) = serving(Reply::cached(&set, 60)).await;
    assert_eq!(finds(&entry, T0, "a").await, Ok(()));
    server.set(JWKS, Reply::status(503));
    assert_eq!(finds(&entry, T0 + 300, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
    for now in [T0 + 301, T0 + 330, T0 + 359] {
        assert_eq!(finds(&entry, now, "a").await, Ok(()));
        assert_eq!(finds(&entry, now, "unknown").await, Err(NoUsableKey));
    }
    assert_eq!(server.hits(JWKS), 2);
    assert_eq!(finds(&entry, T0 + 360, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 3);
    // The source is back: the next attempt replaces the set.
    server.set(JWKS, Reply::cached(&set, 600));
    assert_eq!(finds(&entry, T0 + 420, "a").await, Ok(()));
    assert_eq!(finds(&entry, T0 + 1019, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 4);
}

/// An unknown kid whose refetch fails leaves the fresh set in place.
#[tokio::test]
async fn wif_as_13_a_failed_refetch_keeps_the_fresh_set() {
    let (server, entry) =
        serving(Reply::cached(&jwks(&[public(&signing(Es256, "a"))]), 3600)).await;
    assert_eq!(finds(&entry, T0, "a").await, Ok(()));
    server.set(JWKS, Reply::status(500));
    assert_eq!(finds(&entry, T0 + 60, "b").await, Err(NoUsableKey));
    assert_eq!(finds(&entry, T0 + 61, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
}

#[tokio::test]
async fn wif_as_13_never_fetched_and_down_is_unavailable() {
    let (server, entry) = serving(Reply::json(&jwks(&[]))).await;
    server.stop().await;
    assert_eq!(finds(&entry, T0, "a").await, Err(Unavailable));
    assert_eq!(finds(&entry, T0 + 59, "a").await, Err(Unavailable));
    let (server, entry) = serving(Reply::status(503)).await;
    assert_eq!(finds(&entry, T0, "a").await, Err(Unavailable));
    assert_eq!(finds(&entry, T0 + 30, "a").await, Err(Unavailable));
    assert_eq!(server.hits(JWKS), 1);
    // Back again: found at the next attempt.
    server.set(JWKS, Reply::json(&jwks(&[public(&signing(Es256, "a"))])));
    assert_eq!(finds(&entry, T0 + 60, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
}

/// The discovery document is cached by the same rules: key sets are refetched from
/// the known `jwks_uri` while it is fresh, and it survives an outage of the issuer's
/// discovery endpoint for 24 h.
#[tokio::test]
async fn wif_as_13_the_discovery_document_is_cached_too() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let oidc = "/.well-known/openid-configuration";
    let doc = json!({"issuer": issuer, "jwks_uri": server.url(JWKS)});
    server.set(oidc, Reply::cached(&doc, 3600));
    server.set(
        JWKS,
        Reply::cached(&jwks(&[public(&signing(Es256, "a"))]), 60),
    );
    let entry = EntryKeys::new("d", KeySource::Discovery { issuer });
    assert_eq!(finds(&entry, T0, "a").await, Ok(()));
    assert_eq!(finds(&entry, T0 + 60, "a").await, Ok(()));
    assert_eq!((server.hits(oidc), server.hits(JWKS)), (1, 2));
    // The discovery document expires and its endpoint fails: the key set is still
    // read from the last jwks_uri.
    server.set(oidc, Reply::status(500));
    assert_eq!(finds(&entry, T0 + 3600, "a").await, Ok(()));
    assert_eq!((server.hits(oidc), server.hits(JWKS)), (2, 3));
}

/// A request dropped while its fetch is under way (its client went away) still
/// counts as the entry's fetch: callers that disconnect at once cannot make the AS
/// fetch more than once per 60 s. Until the next fetch is allowed, nothing is cached:
/// 503.
#[tokio::test]
async fn wif_as_13_a_cancelled_fetch_still_counts_against_the_refetch_limit() {
    let set = jwks(&[public(&signing(Es256, "a"))]);
    let (server, entry) = serving(Reply::json(&set).delayed(Duration::from_secs(3))).await;
    let dropped = tokio::time::timeout(Duration::from_millis(200), finds(&entry, T0, "a")).await;
    assert!(dropped.is_err(), "the request is cancelled");
    server.set(JWKS, Reply::json(&set));
    for later in 1..5 {
        assert_eq!(finds(&entry, T0 + later, "a").await, Err(Unavailable));
    }
    assert_eq!(
        server.hits(JWKS),
        1,
        "one fetch, though its request was cancelled"
    );
    assert_eq!(finds(&entry, T0 + 60, "a").await, Ok(()));
    assert_eq!(server.hits(JWKS), 2);
}
