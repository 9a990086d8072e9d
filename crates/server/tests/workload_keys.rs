//! The key sources of workload trust entries through the token endpoint
//! (profiles/workload-identity-federation.md §6.2, WIF-AS-9, WIF-AS-11, WIF-AS-13):
//! discovery documents that are not the issuer's, `jwks_uri`s the SSRF guard
//! refuses, key rotation, the refetch limit and issuer outages, against real issuers
//! on loopback with the AS clock moved by hand. The key-source rules one by one are
//! unit tests of `crates/server/src/workload/keys/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::Algorithm;

use workload_env::{Federation, IssuerKey, R1};

mod workload_env;

/// WIF §10.2: the one description of steps 6 to 8.
const UNTRUSTED: &str = "the assertion is not signed by an issuer this server trusts";

#[tokio::test]
async fn wif_as_9_a_discovery_document_naming_another_issuer_is_refused() {
    let f = Federation::start("").await;
    f.k8s.set_discovery_issuer("https://evil.example");
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    // The document is not the issuer's: the entry's assertions are refused, with the
    // one description of steps 6 to 8, and its jwks_uri is never read.
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
    assert_eq!(
        f.k8s.key_requests(),
        0,
        "the jwks_uri of a wrong document is not read"
    );
}

#[tokio::test]
async fn wif_as_11_a_discovered_jwks_uri_on_a_private_address_is_never_fetched() {
    let f = Federation::start("").await;
    // The issuer's discovery document (it may be compromised) points inward: the
    // cloud metadata address, a private network, plain http to another host. The
    // guard refuses each before connecting; the entry's assertions are refused.
    // A fetch the guard refuses is a failed fetch: with no key set cached, 503.
    for uri in [
        "https://169.254.169.254/latest/meta-data/jwks",
        "https://10.1.2.3/jwks",
        "https://[fd00::1]/jwks",
    ] {
        f.k8s.set_jwks_uri(uri);
        let a = f.grant(&f.k8s_token(), R1, &[]).await;
        a.assert_error(503, "temporarily_unavailable");
        assert!(!a.body.to_string().contains(&uri[8..14]), "{}", a.body);
        // Past the discovery document's cache lifetime (300 s without max-age).
        f.clock.advance(301);
    }
    // A jwks_uri that is not https makes the document not the issuer's (WIF-AS-9).
    f.k8s.set_jwks_uri("http://example.com/jwks");
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
    assert_eq!(f.k8s.key_requests(), 0);
}

#[tokio::test]
async fn wif_as_13_an_issuer_never_reached_is_temporarily_unavailable() {
    let f = Federation::start("").await;
    f.k8s.set_down(true);
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    a.assert_error(503, "temporarily_unavailable");
    assert_eq!(a.headers["retry-after"], "60");
    // Other entries are not affected.
    let gh = f.github.key.sign(&f.github_claims());
    assert_eq!(f.grant(&gh, R1, &[]).await.status, 200);
}

#[tokio::test]
async fn wif_as_13_a_rotated_key_is_found_and_an_outage_keeps_the_cached_keys() {
    let f = Federation::start("").await;
    assert_eq!(f.grant(&f.k8s_token(), R1, &[]).await.status, 200);
    let fetched = f.k8s.key_requests();
    // Cached: no new fetch for the same key.
    assert_eq!(f.grant(&f.k8s_token(), R1, &[]).await.status, 200);
    assert_eq!(f.k8s.key_requests(), fetched);
    // The issuer rotates: the new kid is unknown, one refetch finds it.
    let new = IssuerKey::generate(Algorithm::RS256, "k8s-2");
    f.k8s.publish(&new);
    f.clock.advance(61);
    assert_eq!(
        f.grant(&new.sign(&f.k8s_claims()), R1, &[]).await.status,
        200
    );
    assert_eq!(f.k8s.key_requests(), fetched + 1);
    // Made-up kids: at most one more fetch per 60 s.
    for i in 0..5 {
        let bogus = IssuerKey::generate(Algorithm::RS256, &format!("bogus-{i}"));
        let a = f.grant(&bogus.sign(&f.k8s_claims()), R1, &[]).await;
        a.assert_error(400, "invalid_grant");
    }
    assert!(
        f.k8s.key_requests() <= fetched + 2,
        "{}",
        f.k8s.key_requests()
    );
    // Outage: the cached keys keep working.
    f.k8s.set_down(true);
    f.clock.advance(3600);
    assert_eq!(f.grant(&f.k8s_token(), R1, &[]).await.status, 200);
    // 24 h after the last successful fetch: no key set, 503.
    f.clock.advance(24 * 3600);
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"], "temporarily_unavailable");
}
