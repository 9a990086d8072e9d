//! The token cache's own tests (the presentation paths are tested in `tests/`).

use super::*;
use mcp_auth_core::{AsSigningKey, Confirmation};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

/// A token of `ISSUER` for `RESOURCE`, valid for ten minutes from `now`.
fn token(key: &AsSigningKey, jti: &str, cnf: Option<Confirmation>, now: i64) -> String {
    key.sign(&AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "alice".into(),
        aud: RESOURCE.into(),
        exp: now + 600,
        iat: now,
        jti: jti.into(),
        client_id: "c".into(),
        scope: "mcp:read".into(),
        cnf,
    })
    .unwrap()
}

/// A cache trusting `key` for `ISSUER`.
fn cache_trusting(key: &AsSigningKey) -> AccessTokenCache {
    AccessTokenCache::new(
        ISSUER,
        RESOURCE,
        &Jwks {
            keys: vec![key.public_jwk()],
        },
    )
}

fn headers(values: &[&str]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for v in values {
        h.append(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// The digest kept with a verified token is its own SHA-256 (what DPoP's `ath` is
/// checked against), on a miss and on a hit, for each of two tokens.
#[tokio::test]
async fn a_verified_token_keeps_its_own_sha_256() {
    let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let now = mcp_auth_core::unix_now();
    let cache = cache_trusting(&key);
    let (first, second) = (token(&key, "t-1", None, now), token(&key, "t-2", None, now));
    for t in [&first, &second, &first, &second] {
        let verified = cache.verify(t, now).await.unwrap();
        assert_eq!(verified.digest, AccessTokenDigest::of(t));
    }
    assert_ne!(
        AccessTokenDigest::of(&first),
        AccessTokenDigest::of(&second)
    );
}

/// The cache is keyed by the token's bytes: once a token is cached, the same token
/// with one character of its signature changed (another letter, or the same in
/// another case), its last character removed, or a character added, finds no entry
/// and is refused (its signature does not verify), before and after the original's
/// hits.
#[tokio::test]
async fn only_the_very_token_that_verified_hits_the_cache() {
    let key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let now = mcp_auth_core::unix_now();
    let token = token(&key, "t-1", None, now);
    let cache = cache_trusting(&key);
    let first = cache.verify(&token, now).await.unwrap();
    // The signature's first character: all six bits of it are signature bits.
    let at = token.rfind('.').unwrap() + 1;
    let flipped = if token.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    let altered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    // The same character in the other case (a digit or `-`/`_` has none: then the
    // first letter of the signature).
    let letter = at + token[at..].find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let other_case = token[letter..=letter]
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect::<String>();
    let recased = format!("{}{other_case}{}", &token[..letter], &token[letter + 1..]);
    let shortened = token[..token.len() - 1].to_owned();
    for forged in [altered, recased, shortened, format!("{token}A")] {
        assert!(
            matches!(
                cache.verify(&forged, now).await,
                Err(TokenError::Invalid(
                    AccessTokenError::Malformed | AccessTokenError::BadSignature
                ))
            ),
            "{forged}"
        );
        let again = cache.verify(&token, now).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the original is still a hit");
    }
    cache.verified.run_pending_tasks();
    assert_eq!(cache.verified.entry_count(), 1);
}

/// The `cnf` key of a verified token may get its table (`VerifyingKey::allow_table`):
/// after 64 valid signatures, the key cached with the token has one.
#[tokio::test]
async fn the_cnf_key_of_a_verified_token_gets_its_table_after_64_signatures() {
    let as_key = AsSigningKey::generate(JwsAlgorithm::EdDsa).unwrap();
    let client = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let now = mcp_auth_core::unix_now();
    let cnf = Confirmation::runtime(&client.verifying_key(), Algorithm::Ed25519).unwrap();
    let token = token(&as_key, "t-1", Some(cnf), now);
    let cache = cache_trusting(&as_key);
    let signature = client.sign(Algorithm::Ed25519, b"a base").unwrap();
    for i in 1..=64 {
        let verified = cache.verify(&token, now).await.unwrap();
        let key = verified.key.as_ref().expect("the cnf key");
        assert!(!key.has_table(), "no table before the 64th signature ({i})");
        assert!(
            key.verify(Algorithm::Ed25519, b"a base", &signature)
                .unwrap()
        );
    }
    let verified = cache.verify(&token, now).await.unwrap();
    assert!(verified.key.as_ref().expect("the cnf key").has_table());
}

#[test]
fn cache_control_gives_the_smallest_max_age_and_no_cache_is_zero() {
    assert_eq!(cache_max_age(&headers(&[])), None);
    assert_eq!(cache_max_age(&headers(&["public"])), None);
    assert_eq!(
        cache_max_age(&headers(&["public, max-age=60"])),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        cache_max_age(&headers(&["max-age=600", "Max-Age=\"120\""])),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        cache_max_age(&headers(&["max-age=600, no-cache"])),
        Some(Duration::ZERO)
    );
    assert_eq!(cache_max_age(&headers(&["no-store"])), Some(Duration::ZERO));
    assert_eq!(cache_max_age(&headers(&["max-age=soon"])), None);
}

#[test]
fn the_refresh_interval_is_shortened_by_max_age_within_its_range() {
    let five_minutes = Duration::from_secs(300);
    assert_eq!(next_refresh(five_minutes, None), five_minutes);
    // Our AS: `max-age=60`.
    assert_eq!(
        next_refresh(five_minutes, Some(Duration::from_secs(60))),
        Duration::from_secs(60)
    );
    // Never more often than every 30 s because of the issuer...
    assert_eq!(
        next_refresh(five_minutes, Some(Duration::ZERO)),
        Duration::from_secs(30)
    );
    // ...nor less often than configured.
    assert_eq!(
        next_refresh(five_minutes, Some(Duration::from_secs(7 * 24 * 3600))),
        five_minutes
    );
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(
        next_refresh(2 * day, Some(Duration::from_secs(7 * 24 * 3600))),
        day
    );
    // A configured interval under 30 s is the operator's choice.
    assert_eq!(
        next_refresh(Duration::from_secs(1), Some(Duration::from_secs(60))),
        Duration::from_secs(1)
    );
}
