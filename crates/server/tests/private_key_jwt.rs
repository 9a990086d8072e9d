//! Client authentication with a signed assertion (private_key_jwt, RFC 7523 §3) at
//! the token endpoint, over real HTTP on 127.0.0.1 with a real SQLite file: one
//! test per rule, each refusal asserting status, `error` and the description that
//! names the rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm as A, EncodingKey, Header};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use mcp_auth_testkit::register_client;
use reqwest::StatusCode;
use serde_json::Value;

use common::RESOURCE;
use token_env::{Env, assert_error, start};

mod common;
mod token_env;

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Client {
    key: EncodingKey,
    other: EncodingKey,
}

/// Registers `jwt-client` with an ES256 key `k1`; `other` is a key it never
/// registered.
async fn register(env: &Env) -> Client {
    let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
    let mut jwk = key.verifying_key().to_jwk();
    jwk.kid = Some("k1".into());
    jwk.alg = Some("ES256".into());
    let metadata = serde_json::json!({
        "grant_types": ["client_credentials"], "scopes": ["mcp:read"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [jwk]},
    });
    register_client(&env.server, "jwt-client", None, metadata).await;
    let other = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)).unwrap();
    Client {
        key: EncodingKey::from_ec_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap(),
        other: EncodingKey::from_ec_pem(other.to_pkcs8_pem().unwrap().as_bytes()).unwrap(),
    }
}

/// A server with `jwt-client` registered.
async fn setup() -> (Env, Client) {
    let env = start().await;
    let c = register(&env).await;
    (env, c)
}

fn assertion(key: &EncodingKey, claims: serde_json::Value) -> String {
    let mut h = Header::new(A::ES256);
    h.kid = Some("k1".into());
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

fn claims(env: &Env, jti: &str) -> serde_json::Value {
    let now = mcp_auth_core::unix_now();
    serde_json::json!({"iss": "jwt-client", "sub": "jwt-client", "aud": format!("{}/token", env.issuer), "exp": now + 60, "iat": now, "jti": jti})
}

/// `claims(env, jti)` changed by `f`.
fn claims_with(env: &Env, jti: &str, f: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut x = claims(env, jti);
    f(&mut x);
    x
}

async fn token_with(env: &Env, assertion: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    env.post(
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", TYPE),
            ("client_assertion", assertion),
            ("resource", RESOURCE),
        ],
    )
    .await
}

/// The assertion is refused as `invalid_client` with the description
/// `client assertion: {why}`.
async fn assert_refused(env: &Env, assertion: &str, why: &str) {
    let got = token_with(env, assertion).await;
    assert_error(&got, 401, "invalid_client");
    assert_eq!(
        got.2["error_description"],
        format!("client assertion: {why}"),
        "{why}"
    );
}

#[tokio::test]
async fn accepted_once_then_rejected_as_a_replay() {
    let (env, c) = setup().await;
    let a = assertion(&c.key, claims(&env, "a-1"));
    let (status, _, body) = token_with(&env, &a).await;
    assert_eq!(status, 200, "{body}");
    let replay = token_with(&env, &a).await;
    assert_error(&replay, 401, "invalid_client");
    assert_eq!(
        replay.2["error_description"],
        "client assertion: replayed (`jti` already used)"
    );
}

#[tokio::test]
async fn the_issuer_itself_is_an_accepted_assertion_audience() {
    let (env, c) = setup().await;
    let c2 = claims_with(&env, "a-2", |x| x["aud"] = serde_json::json!([env.issuer]));
    assert_eq!(token_with(&env, &assertion(&c.key, c2)).await.0, 200);
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let (env, c) = setup().await;
    let now = mcp_auth_core::unix_now();
    let a = assertion(
        &c.key,
        claims_with(&env, "e1", |x| x["exp"] = (now - 120).into()),
    );
    assert_refused(&env, &a, "expired").await;
}

#[tokio::test]
async fn an_assertion_whose_exp_is_too_far_in_the_future_is_refused() {
    let (env, c) = setup().await;
    let now = mcp_auth_core::unix_now();
    let a = assertion(
        &c.key,
        claims_with(&env, "e2", |x| x["exp"] = (now + 3600).into()),
    );
    assert_refused(&env, &a, "`exp` is too far in the future").await;
}

#[tokio::test]
async fn an_assertion_aud_must_be_this_authorization_server() {
    let (env, c) = setup().await;
    let a = assertion(
        &c.key,
        claims_with(&env, "e3", |x| x["aud"] = "https://elsewhere".into()),
    );
    assert_refused(
        &env,
        &a,
        "`aud` must be this authorization server (issuer or token endpoint)",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_iss_and_sub_must_both_be_the_client_id() {
    let (env, c) = setup().await;
    let a = assertion(
        &c.key,
        claims_with(&env, "e4", |x| x["iss"] = "someone".into()),
    );
    assert_refused(&env, &a, "`iss` and `sub` must both be the client id").await;
}

#[tokio::test]
async fn an_assertion_without_jti_is_refused() {
    let (env, c) = setup().await;
    let a = assertion(
        &c.key,
        claims_with(&env, "e5", |x| {
            x.as_object_mut().unwrap().remove("jti");
        }),
    );
    assert_refused(&env, &a, "`jti` is required").await;
}

#[tokio::test]
async fn an_assertion_not_signed_by_the_registered_key_is_refused() {
    let (env, c) = setup().await;
    let a = assertion(&c.other, claims(&env, "e6"));
    assert_refused(
        &env,
        &a,
        "the signature does not verify with the registered key",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_from_an_unknown_client_is_refused() {
    let (env, c) = setup().await;
    let a = assertion(
        &c.key,
        claims_with(&env, "e7", |x| {
            x["sub"] = "ghost".into();
            x["iss"] = "ghost".into();
        }),
    );
    assert_refused(&env, &a, "unknown client").await;
}

#[tokio::test]
async fn an_assertion_issued_in_the_future_is_not_valid_yet() {
    let (env, c) = setup().await;
    let now = mcp_auth_core::unix_now();
    let a = assertion(
        &c.key,
        claims_with(&env, "e8", |x| x["iat"] = (now + 300).into()),
    );
    assert_refused(&env, &a, "not valid yet").await;
}

/// HMAC with the public key as the secret (algorithm confusion).
#[tokio::test]
async fn only_asymmetric_assertion_signatures_are_accepted() {
    let (env, _c) = setup().await;
    let mut h = Header::new(A::HS256);
    h.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(
        &h,
        &claims(&env, "e9"),
        &EncodingKey::from_secret(b"public key bytes"),
    )
    .unwrap();
    let got = token_with(&env, &hs).await;
    assert_error(&got, 401, "invalid_client");
    assert_eq!(
        got.2["error_description"],
        "client assertion: only asymmetric signature algorithms are accepted"
    );
}

/// RFC 7515 §4.1.11: an extension in `crit` must be understood, and none is.
#[tokio::test]
async fn an_assertion_with_crit_is_refused() {
    let (env, c) = setup().await;
    let mut h = Header::new(A::ES256);
    h.kid = Some("k1".into());
    h.crit = Some(vec!["exp".into()]);
    let critical = jsonwebtoken::encode(&h, &claims(&env, "crit-1"), &c.key).unwrap();
    assert_refused(
        &env,
        &critical,
        "the header has crit, and no JWS extension is understood here",
    )
    .await;
    // `"crit": null` too, which jsonwebtoken's `Header` reads as no `crit`: it must be
    // a non-empty array, so it is none that is understood.
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"ES256","typ":"JWT","kid":"k1","crit":null}"#),
        b64(&serde_json::to_vec(&claims(&env, "crit-3")).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &c.key, A::ES256).unwrap();
    assert_refused(
        &env,
        &format!("{input}.{signature}"),
        "the header has crit, and no JWS extension is understood here",
    )
    .await;
    // The same assertion without crit is accepted.
    let plain = assertion(&c.key, claims(&env, "crit-2"));
    assert_eq!(token_with(&env, &plain).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_client_assertion_of_another_type_is_an_invalid_request() {
    let (env, c) = setup().await;
    let got = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "x"),
                ("client_assertion", &assertion(&c.key, claims(&env, "e10"))),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&got, 400, "invalid_request");
}

/// A secret-based client cannot add an assertion to its secret.
#[tokio::test]
async fn a_client_secret_and_an_assertion_together_are_an_invalid_request() {
    let (env, c) = setup().await;
    let both = env
        .post(
            "/token",
            Some(("bot", "bot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", TYPE),
                ("client_assertion", &assertion(&c.key, claims(&env, "e11"))),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&both, 400, "invalid_request");
}

#[tokio::test]
async fn a_client_id_that_disagrees_with_the_assertion_is_invalid_client() {
    let (env, c) = setup().await;
    let got = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_assertion_type", TYPE),
                ("client_assertion", &assertion(&c.key, claims(&env, "e12"))),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&got, 401, "invalid_client");
}
