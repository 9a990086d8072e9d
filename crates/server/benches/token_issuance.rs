//! One `client_credentials` token request through the AS's router (routing, the
//! layers, the form, client authentication from the client cache, the grant, the
//! signature, the JSON answer; no socket), beside the cryptography it must do, in one
//! criterion group so the report gives the ratios: Basic authentication alone, and with
//! a DPoP proof (ES256 and EdDSA keys; the proof parsed and verified, its `jti`
//! recorded, the token bound by `cnf.jkt`). Every measured request is built in setup
//! (not timed) with a fresh proof, so the replay cache works as in production.
//!
//! Run with: `cargo bench -p mcp-auth-server --bench token_issuance`; instruction counts
//! with `bench/instructions.sh` (BENCHMARKS.md).

// A fixture that cannot be built is a failed benchmark run: panicking with a label is the
// right answer here.
#![allow(missing_docs, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_core::{AccessTokenClaims, AsSigningKey};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use mcp_auth_server::{AuthorizationServer, ClientRecord, Config, Overrides};
use tower::ServiceExt as _;

/// The allocator of the `mcp-auth` binary (`crates/cli/src/main.rs`), so a token is
/// measured as the authorization server issues it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ISSUER: &str = "http://127.0.0.1:4800";
const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const BODY: &str =
    "grant_type=client_credentials&resource=http%3A%2F%2F127.0.0.1%3A3000%2Fmcp&scope=mcp%3Aread";
/// `bench:bench-secret`, base64.
const BASIC: &str = "Basic YmVuY2g6YmVuY2gtc2VjcmV0";

fn now() -> i64 {
    mcp_auth_core::unix_now()
}

/// The router of an AS on a fresh SQLite file, client `bench` registered and used
/// once (so the client cache holds it, as under load).
fn router(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> axum::Router {
    rt.block_on(async {
        let config = Config::from_sources(
            // Cached for the whole run: the bench measures the hit.
            "client_cache_seconds = 60\n",
            &|_| None,
            &Overrides {
                issuer: Some(ISSUER.into()),
                data_dir: Some(dir.join("data")),
                resources: vec![(RESOURCE.into(), vec!["mcp:read".into()])],
                ..Overrides::default()
            },
        )
        .expect("config");
        let server = AuthorizationServer::start(config).await.expect("start");
        server
            .state()
            .store
            .insert_client(&ClientRecord {
                client_id: "bench".into(),
                secret_sha256: Some(mcp_auth_server::client_auth::secret_digest("bench-secret")),
                metadata: serde_json::json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"], "token_endpoint_auth_method": "client_secret_basic"}),
                created_at: now(),
            })
            .await
            .expect("client");
        let router = server.router();
        let answer = router.clone().oneshot(request(None)).await.expect("first");
        assert_eq!(answer.status(), 200, "the bench's request is answered with a token");
        router
    })
}

fn request(dpop: Option<String>) -> Request<Body> {
    let mut r = Request::post("/token")
        .header(header::HOST, "127.0.0.1:4800")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, BASIC);
    if let Some(proof) = dpop {
        r = r.header("dpop", proof);
    }
    r.body(Body::from(BODY)).expect("request")
}

#[inline(never)]
fn issue(rt: &tokio::runtime::Runtime, router: &axum::Router, r: Request<Body>) {
    rt.block_on(async {
        let answer = router.clone().oneshot(r).await.expect("answer");
        assert_eq!(answer.status(), 200);
        axum::body::to_bytes(answer.into_body(), 64 * 1024)
            .await
            .expect("body")
    });
}

fn token_issuance(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let router = router(&rt, dir.path());
    let mut g = c.benchmark_group("token");

    // Floors: the signature every token needs, and the proof verification of DPoP.
    let as_key = AsSigningKey::generate(JwsAlgorithm::EdDsa).expect("as key");
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "bench".into(),
        aud: RESOURCE.into(),
        exp: now() + 300,
        iat: now(),
        jti: "0123456789abcdef0123456789abcdef".into(),
        client_id: "bench".into(),
        scope: "mcp:read".into(),
        cnf: None,
    };
    g.bench_function("floor: sign an access token (EdDSA)", |b| {
        b.iter(|| as_key.sign(&claims).expect("sign"))
    });
    for (name, alg) in [
        ("ES256", Algorithm::EcdsaP256Sha256),
        ("EdDSA", Algorithm::Ed25519),
    ] {
        let key = SigningKey::generate(alg).expect("key");
        let public = key.verifying_key();
        let input = vec![b'x'; 400];
        let signature = key.sign(alg, &input).expect("sig");
        g.bench_function(format!("floor: verify a {name} proof signature"), |b| {
            b.iter(|| assert!(public.verify(alg, &input, &signature).expect("verify")))
        });
    }

    g.bench_function("client_credentials, Basic", |b| {
        b.iter_batched(
            || request(None),
            |r| issue(&rt, &router, r),
            BatchSize::SmallInput,
        )
    });
    for (name, alg) in [
        ("ES256", JwsAlgorithm::Es256),
        ("EdDSA", JwsAlgorithm::EdDsa),
    ] {
        let signer = ProofSigner::generate(alg).expect("proof key");
        let uri = format!("{ISSUER}/token");
        g.bench_function(format!("client_credentials, Basic, DPoP {name}"), |b| {
            b.iter_batched(
                || {
                    request(Some(
                        signer
                            .proof("POST", &uri, None, None, now())
                            .expect("proof"),
                    ))
                },
                |r| issue(&rt, &router, r),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, token_issuance);
criterion_main!(benches);
