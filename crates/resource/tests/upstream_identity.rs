//! The upstream identity token (issue 20): the key file rules on a real file system
//! (tempdir), every claim of a minted token, its signature checked by the project's
//! RFC 9068 verifier against the published JWKS, the cache, and the JWKS served over
//! real HTTP on 127.0.0.1. The independent check (PyJWT, `cryptography`) is
//! `interop/upstream-identity/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::access_token::{AccessTokenError, AsSigningKey, Jwks, TokenVerifier};
use mcp_auth_resource::presentation::{Principal, Profile};
use mcp_auth_resource::upstream_identity::{
    JWKS_PATH, UpstreamAlg, UpstreamIdentity, UpstreamIdentityConfig, UpstreamIdentityError,
    jwks_router,
};
use serde_json::{Value, json};

const GATEWAY: &str = "https://gateway.example/mcp";
const UPSTREAM: &str = "http://127.0.0.1:3000/mcp";
const NOW: i64 = 1_800_000_000;

fn principal(token_id: &str) -> Principal {
    Principal {
        issuer: "https://as.example".into(),
        subject: "alice".into(),
        client_id: "agent".into(),
        scopes: ["mcp:read".to_owned(), "mcp:write".to_owned()].into(),
        token_id: token_id.into(),
        profile: Profile::HttpSig,
        key_thumbprint: Some("thumb".into()),
        claims: Default::default(),
    }
}

fn with_key_file(path: &Path) -> UpstreamIdentityConfig {
    UpstreamIdentityConfig {
        key_file: Some(path.to_path_buf()),
        ..Default::default()
    }
}

fn load(config: &UpstreamIdentityConfig) -> Result<UpstreamIdentity, UpstreamIdentityError> {
    UpstreamIdentity::load(config, GATEWAY, UPSTREAM).map(|o| o.expect("enabled"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The decoded JOSE header and claims of a compact JWS.
fn decode(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let part = |i: usize| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[i]).unwrap()).unwrap()
    };
    (part(0), part(1))
}

fn jwks_of(identity: &UpstreamIdentity) -> Jwks {
    serde_json::from_slice(&identity.jwks_json()).unwrap()
}

/// Fails if the key file is created with the umask's mode, or a new key is made on
/// every start (the `kid` and the published key would change).
#[test]
fn the_key_file_is_generated_0600_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream-identity.pem");
    let first = load(&with_key_file(&path)).unwrap();
    assert_eq!(mode(&path), 0o600);
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let second = load(&with_key_file(&path)).unwrap();
    assert_eq!(first.kid(), second.kid());
    assert_eq!(first.jwks_json(), second.jwks_json());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
    // The key written is the key used: tokens of the first verify with the second's JWKS.
    let token = first.token_for(&principal("t1"), NOW).unwrap();
    TokenVerifier::new(GATEWAY, Some(UPSTREAM.to_owned()), &jwks_of(&second))
        .verify(&token, NOW)
        .unwrap();
}

/// Fails if a key file others can read is used, or the error does not say which
/// file and how to fix it.
#[test]
fn a_key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream-identity.pem");
    load(&with_key_file(&path)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = load(&with_key_file(&path)).unwrap_err();
    assert!(
        matches!(
            error,
            UpstreamIdentityError::InsecureKeyFile { mode: 0o644, .. }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("chmod 600"), "{text}");
    // Fixed as told, it loads.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    load(&with_key_file(&path)).unwrap();
}

/// Fails if a symbolic link is followed: to a private key file (whose owner did not
/// choose this path), or dangling (the generated key would be written wherever it
/// points).
#[test]
fn a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.pem");
    load(&with_key_file(&real)).unwrap();
    let link = dir.path().join("link.pem");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let error = load(&with_key_file(&link)).unwrap_err();
    assert!(
        matches!(error, UpstreamIdentityError::NotRegularFile { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("symbolic link"), "{error}");

    let target = dir.path().join("planted-target.pem");
    let dangling = dir.path().join("dangling.pem");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    let error = load(&with_key_file(&dangling)).unwrap_err();
    assert!(
        matches!(error, UpstreamIdentityError::NotRegularFile { .. }),
        "{error}"
    );
    assert!(!target.exists(), "the key was written through the link");
}

/// Fails if a key file owned by another user is used (that user could replace the
/// key). Giving a file away needs root: elsewhere the check is skipped, said on stderr.
#[test]
fn a_key_file_of_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream-identity.pem");
    load(&with_key_file(&path)).unwrap();
    if std::os::unix::fs::chown(&path, Some(65_534), None).is_err() {
        eprintln!("not root: cannot give the key file away; owner check not exercised");
        return;
    }
    let error = load(&with_key_file(&path)).unwrap_err();
    assert!(
        matches!(
            error,
            UpstreamIdentityError::ForeignKeyFile { owner: 65_534, .. }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

/// Fails if a directory at the path is accepted or replaced.
#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    std::fs::create_dir(&path).unwrap();
    let error = load(&with_key_file(&path)).unwrap_err();
    assert!(
        matches!(error, UpstreamIdentityError::NotRegularFile { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("directory"), "{error}");
    assert!(path.is_dir());
}

/// Fails if a missing directory is created silently, or the error hides the path.
#[test]
fn a_key_file_in_a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("k.pem");
    let error = load(&with_key_file(&path)).unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
}

/// Fails if any claim or header member is missing or wrong: every member is
/// compared, and nothing else may be there.
#[test]
fn the_token_carries_exactly_the_documented_claims() {
    for alg in [UpstreamAlg::EdDsa, UpstreamAlg::Es256] {
        let dir = tempfile::tempdir().unwrap();
        let config = UpstreamIdentityConfig {
            alg,
            lifetime: Some(120),
            ..with_key_file(&dir.path().join("k.pem"))
        };
        let identity = load(&config).unwrap();
        let token = identity.token_for(&principal("tok-1"), NOW).unwrap();
        let (header, claims) = decode(&token);
        let alg_name = match alg {
            UpstreamAlg::EdDsa => "EdDSA",
            UpstreamAlg::Es256 => "ES256",
        };
        assert_eq!(
            header,
            json!({"alg": alg_name, "typ": "at+jwt", "kid": identity.kid()})
        );
        let jti = claims["jti"].as_str().unwrap().to_owned();
        assert_eq!(jti.len(), 22, "128 random bits, base64url");
        assert_ne!(jti, "tok-1", "the caller's jti is not reused");
        assert_eq!(
            claims,
            json!({
                "iss": GATEWAY,
                "sub": "alice",
                "aud": UPSTREAM,
                "act": {"sub": "agent", "iss": "https://as.example"},
                "client_id": "agent",
                "scope": "mcp:read mcp:write",
                "iat": NOW,
                "exp": NOW + 120,
                "jti": jti,
            })
        );
        // A caller without scopes: no `scope` member rather than an empty one.
        let mut bare = principal("tok-2");
        bare.scopes = Default::default();
        let (_, claims) = decode(&identity.token_for(&bare, NOW).unwrap());
        assert!(claims.get("scope").is_none(), "{claims}");
    }
}

/// Fails if the configured issuer, audience and header are not the ones used.
#[test]
fn configured_issuer_audience_and_header_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = UpstreamIdentityConfig {
        issuer: Some("https://gw.internal".to_owned()),
        audience: Some("urn:upstream:tools".to_owned()),
        header: Some("X-Upstream-Identity".to_owned()),
        ..with_key_file(&dir.path().join("k.pem"))
    };
    let identity = load(&config).unwrap();
    assert_eq!(identity.header_name().as_str(), "x-upstream-identity");
    let p = principal("tok-1");
    let token = identity.token_for(&p, NOW).unwrap();
    let value = identity.header_value_for(&p, NOW).unwrap();
    // The bare JWT under another header name; never logged.
    assert_eq!(value.to_str().unwrap(), &*token);
    assert!(value.is_sensitive());
    // Every spelling a CGI/WSGI upstream would read as this header, and only those.
    for spoof in [
        "x-upstream-identity",
        "X_UPSTREAM_IDENTITY",
        "x_upstream-Identity",
    ] {
        assert!(identity.matches_header(spoof), "{spoof}");
    }
    for other in [
        "x-upstream-identit",
        "x-upstream-identity2",
        "authorization",
    ] {
        assert!(!identity.matches_header(other), "{other}");
    }
    let (_, claims) = decode(&token);
    assert_eq!(claims["iss"], "https://gw.internal");
    assert_eq!(claims["aud"], "urn:upstream:tools");
}

/// Fails if `Authorization` does not get the `Bearer` scheme.
#[test]
fn the_default_header_is_authorization_bearer() {
    let dir = tempfile::tempdir().unwrap();
    let identity = load(&with_key_file(&dir.path().join("k.pem"))).unwrap();
    assert_eq!(identity.header_name(), http::header::AUTHORIZATION);
    assert!(identity.matches_header("Authorization"));
    let p = principal("tok-1");
    let token = identity.token_for(&p, NOW).unwrap();
    let value = identity.header_value_for(&p, NOW).unwrap();
    assert_eq!(value.to_str().unwrap(), format!("Bearer {token}"));
    assert!(value.is_sensitive());
}

/// Fails if the signature, the `typ` or the published key is wrong (the project's
/// RFC 9068 verifier, with the JWKS as served), or if the token is accepted for
/// another audience, from another issuer, after `exp`, or altered.
#[test]
fn the_token_verifies_against_the_published_jwks_and_nowhere_else() {
    for alg in [UpstreamAlg::EdDsa, UpstreamAlg::Es256] {
        let dir = tempfile::tempdir().unwrap();
        let config = UpstreamIdentityConfig {
            alg,
            ..with_key_file(&dir.path().join("k.pem"))
        };
        let identity = load(&config).unwrap();
        let jwks = jwks_of(&identity);
        assert_eq!(jwks.keys.len(), 1);
        let jwk = &jwks.keys[0];
        assert_eq!(jwk.kid.as_deref(), Some(identity.kid()));
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert!(!jwk.is_private(), "the JWKS leaks the private key");
        let token = identity.token_for(&principal("tok-1"), NOW).unwrap();
        let verifier = TokenVerifier::new(GATEWAY, Some(UPSTREAM.to_owned()), &jwks);
        let claims = verifier.verify(&token, NOW + 1).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.client_id, "agent");
        assert_eq!(claims.aud, UPSTREAM);

        let elsewhere = TokenVerifier::new(GATEWAY, Some("https://other/mcp".to_owned()), &jwks);
        assert_eq!(
            elsewhere.verify(&token, NOW),
            Err(AccessTokenError::WrongAudience)
        );
        // A resource trusting the authorization server refuses it.
        let as_verifier =
            TokenVerifier::new("https://as.example", Some(UPSTREAM.to_owned()), &jwks);
        assert_eq!(
            as_verifier.verify(&token, NOW),
            Err(AccessTokenError::WrongIssuer)
        );
        assert_eq!(
            verifier.verify(&token, NOW + 60 + 10),
            Err(AccessTokenError::Expired)
        );
        // Another key with the same kid does not verify it.
        let mut other = AsSigningKey::generate(alg.jws()).unwrap().public_jwk();
        other.kid = Some(identity.kid().to_owned());
        let impostor = TokenVerifier::new(
            GATEWAY,
            Some(UPSTREAM.to_owned()),
            &Jwks { keys: vec![other] },
        );
        assert_eq!(
            impostor.verify(&token, NOW),
            Err(AccessTokenError::BadSignature)
        );
        // A changed claim breaks the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let (_, mut claims) = decode(&token);
        claims["sub"] = "mallory".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(
            verifier.verify(&forged, NOW),
            Err(AccessTokenError::BadSignature)
        );
    }
}

/// Fails if every request costs a signature (no reuse), if a token is reused with
/// less than half its lifetime left, or if two callers can share one.
#[test]
fn tokens_are_reused_for_half_their_lifetime_per_caller_token() {
    let dir = tempfile::tempdir().unwrap();
    let identity = load(&with_key_file(&dir.path().join("k.pem"))).unwrap();
    assert_eq!(identity.lifetime(), 60);
    let p = principal("tok-1");
    let first = identity.token_for(&p, NOW).unwrap();
    // Within half the lifetime (30 s of 60): the same token, and the same header value.
    assert_eq!(identity.token_for(&p, NOW + 10).unwrap(), first);
    assert_eq!(identity.token_for(&p, NOW + 30).unwrap(), first);
    let value = identity.header_value_for(&p, NOW + 30).unwrap();
    assert_eq!(value.to_str().unwrap(), format!("Bearer {first}"));
    // Less than half left: a new one, issued now, reused from then on.
    let second = identity.token_for(&p, NOW + 31).unwrap();
    assert_ne!(second, first);
    assert_eq!(decode(&second).1["iat"], NOW + 31);
    assert_eq!(identity.token_for(&p, NOW + 40).unwrap(), second);
    // A clock that went back before `iat`: not a token "issued in the future".
    let earlier = identity.token_for(&p, NOW).unwrap();
    assert_eq!(decode(&earlier).1["iat"], NOW);

    // Another caller token, or the same `jti` with other claims: never shared.
    let other_token = identity.token_for(&principal("tok-2"), NOW).unwrap();
    assert_ne!(decode(&other_token).1["jti"], decode(&earlier).1["jti"]);
    let mut other_subject = principal("tok-1");
    other_subject.subject = "bob".into();
    assert_eq!(
        decode(&identity.token_for(&other_subject, NOW).unwrap()).1["sub"],
        "bob"
    );
    let mut other_issuer = principal("tok-1");
    other_issuer.issuer = "https://as2.example".into();
    assert_eq!(
        decode(&identity.token_for(&other_issuer, NOW).unwrap()).1["act"]["iss"],
        "https://as2.example"
    );
    let mut fewer_scopes = principal("tok-1");
    fewer_scopes.scopes = ["mcp:read".to_owned()].into();
    assert_eq!(
        decode(&identity.token_for(&fewer_scopes, NOW).unwrap()).1["scope"],
        "mcp:read"
    );
    // And the first caller still gets its own.
    assert_eq!(
        decode(&identity.token_for(&p, NOW).unwrap()).1["sub"],
        "alice"
    );
}

/// Fails if `load` accepts a configuration `validate` refuses.
#[test]
fn load_checks_the_configuration_before_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    for bad in [
        UpstreamIdentityConfig {
            lifetime: Some(5),
            ..with_key_file(&path)
        },
        UpstreamIdentityConfig {
            lifetime: Some(7200),
            ..with_key_file(&path)
        },
        UpstreamIdentityConfig {
            header: Some("not a header".to_owned()),
            ..with_key_file(&path)
        },
        UpstreamIdentityConfig {
            header: Some("content-type".to_owned()),
            ..with_key_file(&path)
        },
    ] {
        assert!(load(&bad).is_err(), "{bad:?}");
        assert!(!path.exists(), "{bad:?} created the key file");
    }
    let unknown: Result<UpstreamIdentityConfig, _> =
        toml::from_str("key_file = \"k.pem\"\nalg = \"RS256\"");
    assert!(unknown.is_err());
}

/// Fails if the JWKS is not served at its path, as JSON, cacheable, with the key.
#[tokio::test]
async fn the_jwks_is_served_as_cacheable_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = UpstreamIdentityConfig {
        alg: UpstreamAlg::Es256,
        ..with_key_file(&dir.path().join("k.pem"))
    };
    let identity = Arc::new(load(&config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = jwks_router(Arc::clone(&identity));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let r = reqwest::get(format!("http://{address}{JWKS_PATH}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let body = r.bytes().await.unwrap();
    assert_eq!(body, identity.jwks_json());
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let key = &doc["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], identity.kid());
    assert!(key.get("d").is_none());
}

/// Not a check: with `--nocapture` prints a token and its JWKS (one JSON line per
/// algorithm, prefixed `UPSTREAM-IDENTITY-SAMPLE`) for trying the Python verifier by
/// hand (`interop/upstream-identity/README.md`).
#[test]
fn sample_for_the_python_verifier() {
    let now = mcp_auth_core::unix_now();
    for alg in [UpstreamAlg::EdDsa, UpstreamAlg::Es256] {
        let dir = tempfile::tempdir().unwrap();
        let identity = load(&UpstreamIdentityConfig {
            alg,
            lifetime: Some(600),
            ..with_key_file(&dir.path().join("k.pem"))
        })
        .unwrap();
        let token = identity.token_for(&principal("tok-1"), now).unwrap();
        let jwks: Value = serde_json::from_slice(&identity.jwks_json()).unwrap();
        println!(
            "UPSTREAM-IDENTITY-SAMPLE {}",
            json!({
                "token": &*token,
                "jwks": jwks,
                "issuer": GATEWAY,
                "audience": UPSTREAM,
                "expect": {
                    "sub": "alice",
                    "client_id": "agent",
                    "act_iss": "https://as.example",
                    "scope": "mcp:read mcp:write",
                    "lifetime": 600,
                },
            })
        );
    }
}
