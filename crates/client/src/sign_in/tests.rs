//! The ID token checks of OIDC Core §3.1.3.7 (EMA-C-2) against a JWK Set served on
//! loopback, the key choice, and the kept sign-in in the token cache: chosen,
//! refreshed, never shown. The whole sign-in, through the binary, is in the CLI's
//! tests (`ema_sign_in`).

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Value, json};

use super::id_token::{Expect, IdTokenProblem, key_for, validate};
use super::*;

const RS256: Algorithm = Algorithm::Jws(JwsAlgorithm::Rs256);
const CLIENT: &str = "desktop-agent";
const NOW: i64 = 1_767_225_600;

fn rsa_key() -> SigningKey {
    SigningKey::generate(RS256).unwrap()
}

/// The public JWK of `key` with these members added.
fn public(key: &SigningKey, members: Value) -> Value {
    let mut jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap();
    for (k, v) in members.as_object().unwrap() {
        jwk[k] = v.clone();
    }
    jwk
}

/// `claims` signed by `key` as an RS256 ID token with `kid` `k1`.
fn signed(key: &SigningKey, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    let input = format!("{}.{}", part(&header), part(claims));
    let signature = key.sign(RS256, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An IdP serving the JWK Set `jwks` at `/jwks`; its metadata as the client reads it.
async fn idp(jwks: Value) -> AuthorizationServerMetadata {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let base = mcp_auth_testkit::serve(app).await;
    serde_json::from_value(json!({
        "issuer": base, "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
    }))
    .unwrap()
}

/// §7.1's claims for `issuer`, with `nonce` `n-1`, valid for an hour from [`NOW`].
fn claims(issuer: &str) -> Value {
    json!({"iss": issuer, "sub": "user-1", "aud": CLIENT, "iat": NOW, "exp": NOW + 3600,
           "auth_time": NOW, "nonce": "n-1"})
}

/// What validating `jwt` from `idp` with `expect` gives: the problem, if any.
async fn problem_of(
    idp: &AuthorizationServerMetadata,
    jwt: &str,
    expect: Expect<'_>,
) -> Option<IdTokenProblem> {
    let http = reqwest::Client::new();
    match validate(&http, idp, CLIENT, jwt, expect, NOW).await {
        Ok(valid) => {
            assert_eq!(valid.sub, "user-1");
            assert_eq!(valid.exp, NOW + 3600);
            None
        }
        Err(SignInError::InvalidIdToken { problem, .. }) => Some(problem),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn ema_c_2_an_id_token_is_validated_as_oidc_core_3_1_3_7_says() {
    let key = rsa_key();
    let idp = idp(json!({"keys": [public(&key, json!({"kid": "k1", "use": "sig"}))]})).await;
    let good = claims(&idp.issuer);
    let nonce = Expect::Nonce("n-1");
    assert_eq!(problem_of(&idp, &signed(&key, &good), nonce).await, None);
    let changed = |member: &str, value: Value| {
        let mut c = good.clone();
        match value {
            Value::Null => c.as_object_mut().unwrap().remove(member),
            v => c.as_object_mut().unwrap().insert(member.into(), v),
        };
        signed(&key, &c)
    };
    let issuer = IdTokenProblem::Issuer {
        expected: idp.issuer.clone(),
    };
    let audience = IdTokenProblem::Audience {
        client_id: CLIENT.into(),
    };
    for (jwt, expected) in [
        (changed("nonce", json!("n-2")), IdTokenProblem::Nonce),
        (changed("nonce", Value::Null), IdTokenProblem::Nonce),
        (changed("iss", json!(format!("{}/", idp.issuer))), issuer),
        (changed("aud", json!("another")), audience.clone()),
        (changed("aud", json!([CLIENT, "another"])), audience),
        (
            changed("azp", json!("another")),
            IdTokenProblem::AuthorizedParty {
                client_id: CLIENT.into(),
            },
        ),
        (changed("exp", json!(NOW - 61)), IdTokenProblem::Expired),
        (changed("iat", Value::Null), IdTokenProblem::IssuedAt),
        (changed("iat", json!(NOW + 120)), IdTokenProblem::IssuedAt),
        (
            changed("exp", json!(NOW + 86_401)),
            IdTokenProblem::Lifetime,
        ),
        (changed("sub", Value::Null), IdTokenProblem::Subject),
        (signed(&rsa_key(), &good), IdTokenProblem::Signature),
        ("a.b.c".into(), IdTokenProblem::NotJws),
    ] {
        assert_eq!(problem_of(&idp, &jwt, nonce).await, Some(expected.clone()));
        // The message never quotes the token.
        let shown = SignInError::InvalidIdToken {
            idp: idp.issuer.clone(),
            problem: expected,
        }
        .to_string();
        assert!(!shown.contains(jwt.split('.').nth(1).unwrap()), "{shown}");
    }
    // A one-element array and an azp of the client are fine.
    let listed = changed("aud", json!([CLIENT]));
    assert_eq!(problem_of(&idp, &listed, nonce).await, None);
    let azp = changed("azp", json!(CLIENT));
    assert_eq!(problem_of(&idp, &azp, nonce).await, None);
}

#[tokio::test]
async fn ema_c_2_a_refreshed_id_token_names_the_same_user_and_needs_no_nonce() {
    let key = rsa_key();
    let idp = idp(json!({"keys": [public(&key, json!({"kid": "k1"}))]})).await;
    let mut renewed = claims(&idp.issuer);
    renewed.as_object_mut().unwrap().remove("nonce");
    let jwt = signed(&key, &renewed);
    assert_eq!(
        problem_of(&idp, &jwt, Expect::Subject("user-1")).await,
        None
    );
    assert_eq!(
        problem_of(&idp, &jwt, Expect::Subject("user-2")).await,
        Some(IdTokenProblem::OtherUser)
    );
}

#[test]
fn the_key_is_the_one_public_signature_key_of_the_kid_that_fits_the_alg() {
    let (a, b) = (rsa_key(), rsa_key());
    let alg = JwsAlgorithm::Rs256;
    let find = |keys: Value, kid| key_for(&json!({ "keys": keys }), kid, alg).is_some();
    assert!(find(json!([public(&a, json!({"kid": "k1"}))]), Some("k1")));
    assert!(!find(json!([public(&a, json!({"kid": "k1"}))]), Some("k2")));
    // Without a kid: the only key.
    assert!(find(json!([public(&a, json!({}))]), None));
    assert!(!find(
        json!([public(&a, json!({})), public(&b, json!({}))]),
        None
    ));
    // Two keys with one kid: no guess.
    let twins = json!([
        public(&a, json!({"kid": "k1"})),
        public(&b, json!({"kid": "k1"}))
    ]);
    assert!(!find(twins, Some("k1")));
    for unusable in [
        json!({"kid": "k1", "use": "enc"}),
        json!({"kid": "k1", "alg": "PS256"}),
        json!({"kid": "k1", "d": "AQAB"}),
    ] {
        assert!(
            !find(json!([public(&a, unusable.clone())]), Some("k1")),
            "{unusable}"
        );
    }
    // An EC key cannot verify RS256.
    let ec = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
    assert!(!find(
        json!([public(&ec, json!({"kid": "k1"}))]),
        Some("k1")
    ));
    assert!(key_for(&json!({"keys": "none"}), None, alg).is_none());
}

fn sign_in(id_token: &str, expires_at: i64, refresh_token: Option<&str>) -> KeptSignIn {
    KeptSignIn {
        id_token: id_token.into(),
        expires_at,
        subject: "user-1".into(),
        refresh_token: refresh_token.map(str::to_owned),
    }
}

#[tokio::test]
async fn ema_c_2_a_kept_id_token_is_used_as_kept_until_60_s_before_its_exp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let idp = "https://idp.acme.example";
    let client = ClientAuth::None {
        client_id: CLIENT.into(),
    };
    let mut cache = TokenCache::open(&path).unwrap();
    cache
        .put_sign_in(idp, CLIENT, sign_in("id-1", NOW + 61, Some("rt-1")))
        .unwrap();
    let (jwt, metadata) = kept_id_token(&path, idp, &client, NOW).await.unwrap();
    assert_eq!((jwt.as_str(), metadata), ("id-1", None));
    // Within 60 s of exp, with no refresh token: sign in again (no request made:
    // the IdP's URL does not exist).
    cache
        .put_sign_in(idp, CLIENT, sign_in("id-1", NOW + 60, None))
        .unwrap();
    let err = kept_id_token(&path, idp, &client, NOW).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the sign-in at the identity provider {idp} as `{CLIENT}` has ended (the ID token expires, and the identity provider issued no refresh token): sign in again with `mcp-auth login --idp {idp} --idp-client-id {CLIENT}`"
        )
    );
    let other = ClientAuth::None {
        client_id: "other".into(),
    };
    let err = kept_id_token(&path, idp, &other, NOW).await.unwrap_err();
    assert!(matches!(err, SignInError::NotKept { .. }), "{err}");
}

#[test]
fn a_kept_sign_in_is_chosen_by_idp_or_as_the_only_one_of_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let mut cache = TokenCache::open(&path).unwrap();
    let (a, b) = ("https://a.example", "https://b.example");
    let none = cache.sign_in_issuer(None, CLIENT).unwrap_err();
    assert!(
        none.to_string()
            .contains("run `mcp-auth login --idp URL --idp-client-id desktop-agent` first"),
        "{none}"
    );
    cache
        .put_sign_in(a, CLIENT, sign_in("id-a", NOW, None))
        .unwrap();
    cache
        .put_sign_in(b, "other", sign_in("id-b", NOW, None))
        .unwrap();
    assert_eq!(cache.sign_in_issuer(None, CLIENT).unwrap(), a);
    assert_eq!(cache.sign_in_issuer(Some(a), CLIENT).unwrap(), a);
    let elsewhere = cache.sign_in_issuer(Some(b), CLIENT).unwrap_err();
    assert!(
        elsewhere
            .to_string()
            .starts_with(&format!("no sign-in at {b} as `desktop-agent` is kept in")),
        "{elsewhere}"
    );
    cache
        .put_sign_in(b, CLIENT, sign_in("id-b", NOW, None))
        .unwrap();
    let both = cache.sign_in_issuer(None, CLIENT).unwrap_err();
    assert!(
        both.to_string()
            .ends_with(&format!("({a}, {b}): choose one with --idp URL")),
        "{both}"
    );
    assert_eq!(cache.sign_in_issuer(Some(b), CLIENT).unwrap(), b);
}

#[test]
fn two_handles_on_one_cache_file_keep_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let mut command = TokenCache::open(&path).unwrap();
    let mut grant = TokenCache::open(&path).unwrap();
    grant
        .put_sign_in(
            "https://idp.example",
            CLIENT,
            sign_in("id-2", NOW, Some("rt-2")),
        )
        .unwrap();
    command
        .pin_issuer(
            "https://mcp.example/mcp",
            "acme-agent",
            "https://as.example",
        )
        .unwrap();
    let again = TokenCache::open(&path).unwrap();
    assert_eq!(
        again
            .sign_in("https://idp.example", CLIENT)
            .unwrap()
            .id_token,
        "id-2"
    );
    assert!(
        again
            .pinned_issuer("https://mcp.example/mcp", "acme-agent")
            .is_some()
    );
}

#[test]
fn ema_c_7_debug_shows_no_token() {
    let kept = sign_in("eyJ.id-token.sig", NOW, Some("refresh-secret"));
    let answer: crate::TokenResponse = serde_json::from_value(json!({
        "access_token": "eyJ.id-jag.sig", "token_type": "N_A",
        "id_token": "eyJ.id-token.sig", "refresh_token": "refresh-secret",
    }))
    .unwrap();
    let shown = format!("{kept:?} {answer:?}");
    for secret in ["id-token", "id-jag", "refresh-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
