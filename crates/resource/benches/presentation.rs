//! The whole HTTPSig presentation check of one MCP tools/call (token, key from `cnf`,
//! digest, MCP binding, signature, replay) beside the raw cryptography it must do, in
//! one criterion group so the report gives the ratio; and the same for a DPoP
//! presentation (token, proof check with `ath` and `cnf.jkt`, `jti` replay), with
//! ES256 and EdDSA proof keys; and the Bearer check, which has no cryptography of its
//! own once the token is cached.
//!
//! Run with: `cargo bench -p mcp-auth-resource --bench presentation`; with
//! `PRESENTATION_PAIRED=CASE` set, it compares the check of CASE (`ed25519`, `dpop-es256`,
//! `dpop-eddsa`) with its floor in one process instead (`paired.rs`).

// A fixture that cannot be built is a failed benchmark run: panicking with a label is the
// right answer here.
#![allow(missing_docs, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::{
    AccessTokenClaims, AsSigningKey, Confirmation, Jwks, MemoryReplayCache, ReplayCache,
};
use mcp_auth_httpsig::{Algorithm, DigestAlgorithm, JwsAlgorithm};
use mcp_auth_resource::{AccessTokenCache, Principal, ResourceConfig, ResourceVerifier};
use tokio::runtime::Runtime;

#[path = "presentation/paired.rs"]
mod paired;
use paired::Side;

type Parts = http::request::Parts;

/// The allocator of the `mcp-auth` binary (`crates/cli/src/main.rs`), so the check is
/// measured as the gateway runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Fixture {
    signer: HttpSigSigner,
    token: String,
    jwks: Jwks,
    body: Bytes,
}

fn fixture() -> Fixture {
    let proof = ProofKey::generate_runtime(Algorithm::Ed25519).expect("key");
    let as_key = AsSigningKey::generate(JwsAlgorithm::EdDsa).expect("as key");
    let t = now();
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "bench".into(),
        aud: RESOURCE.into(),
        exp: t + 3600,
        iat: t,
        jti: "bench-1".into(),
        client_id: "bench".into(),
        scope: "mcp:read".into(),
        cnf: Some(
            Confirmation::runtime(&proof.signing_key().verifying_key(), Algorithm::Ed25519)
                .expect("cnf"),
        ),
    };
    let token = as_key.sign(&claims).expect("token");
    // A 1 KiB tools/call body.
    let text = "x".repeat(900);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    );
    Fixture {
        signer: HttpSigSigner::new(proof),
        token,
        jwks: Jwks {
            keys: vec![as_key.public_jwk()],
        },
        body: Bytes::from(body),
    }
}

fn verifier(f: &Fixture) -> ResourceVerifier {
    verifier_with(f, Arc::new(MemoryReplayCache::new()))
}

fn verifier_with(f: &Fixture, replay: Arc<dyn ReplayCache>) -> ResourceVerifier {
    ResourceVerifier::new(
        ResourceConfig::new(RESOURCE, ISSUER).expect("resource"),
        AccessTokenCache::new(ISSUER, RESOURCE, &f.jwks),
        replay,
    )
}

/// Ten policy rules that all run for the bench's `tools/call echo` and none decides
/// (so every condition is evaluated): names, arguments, scopes, the principal.
fn ten_rules() -> mcp_auth_resource::policy::Policy {
    let mut text = String::new();
    let conditions = [
        r#"request.name.startsWith("delete_")"#,
        r#"request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")"#,
        r#"principal.client_id == "reporting" && request.method == "tools/call""#,
        r#""files:admin" in principal.scopes && request.name == "rm""#,
        r#"request.method == "resources/read" && request.name.startsWith("file:///etc")"#,
        r#"principal.profile == "bearer" && request.method == "tools/call""#,
        r#"has(request.arguments.mode) && request.arguments.mode == "dangerous""#,
        r#"principal.issuer != "https://as.example.com" && request.name == "echo""#,
        r#"request.protocol_version == "2024-11-05""#,
        r#"principal.subject == "mallory""#,
    ];
    for (i, when) in conditions.iter().enumerate() {
        text.push_str(&format!(
            "[[rules]]\nname = \"rule {i}\"\nwhen = '{when}'\neffect = \"deny\"\n"
        ));
    }
    let config: mcp_auth_resource::policy::PolicyConfig = toml::from_str(&text).expect("policy");
    mcp_auth_resource::policy::Policy::compile(&config).expect("compiles")
}

/// A replay cache that remembers nothing: to show what the real one costs.
#[derive(Debug)]
struct NoReplayCache;

impl ReplayCache for NoReplayCache {
    fn check_and_record<'a>(
        &'a self,
        _one_time: mcp_auth_core::OneTimeUse<'a>,
    ) -> mcp_auth_core::replay::ReplayFuture<'a> {
        mcp_auth_core::replay::ReplayFuture::ready(Ok(mcp_auth_core::Freshness::Fresh))
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

/// A freshly signed request (unique nonce), as the server receives it.
fn signed(f: &Fixture) -> http::request::Parts {
    let (mut parts, ()) = http::Request::post(RESOURCE)
        .header("mcp-protocol-version", "2026-07-28")
        .body(())
        .expect("request")
        .into_parts();
    f.signer
        .sign_mcp_request(&mut parts, &f.token, &f.body, now())
        .expect("sign");
    let mut b = http::Request::post("/mcp");
    for (k, v) in &parts.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("request").into_parts().0
}

/// The floor of one HTTPSig check: the Ed25519 verification of its signature base and
/// the SHA-256 of its body. Not inlined, so that `bench/presentation/instructions.sh`
/// can count its instructions per call beside those of the check.
#[inline(never)]
fn floor_check(
    key: &mcp_auth_httpsig::VerifyingKey,
    base: &str,
    sig: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let ok = key
        .verify(Algorithm::Ed25519, base.as_bytes(), sig)
        .expect("verify");
    assert!(ok);
    DigestAlgorithm::Sha256.digest(body)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The check of a fresh request by `rs`, timed with the request returned, so that its
/// drop is not timed (the floors return theirs too). The principal is returned as well,
/// as criterion returns what a routine gives: its drop, which a server pays after the
/// request, is not timed either.
fn check_of<'a>(
    rt: &'a Runtime,
    rs: &'a ResourceVerifier,
    body: &'a [u8],
) -> impl FnMut(Parts) -> (Parts, Principal) + 'a {
    move |parts| {
        let principal = rt
            .block_on(rs.verify_presentation(&parts, body))
            .outcome
            .expect("valid");
        (parts, principal)
    }
}

/// The HTTPSig check with its token cached, and its floor measured the way the check
/// is: a freshly signed request each time, its signature base built in setup, the
/// Ed25519 verification of that base and the SHA-256 of the body timed.
#[allow(clippy::type_complexity)]
fn httpsig_sides<'a>(
    f: &'a Fixture,
    rs: &'a ResourceVerifier,
    rt: &'a Runtime,
) -> (
    Side<
        impl FnMut() -> (Parts, String, Vec<u8>) + 'a,
        impl FnMut((Parts, String, Vec<u8>)) -> (Parts, Vec<u8>, String, Vec<u8>) + 'a,
    >,
    Side<impl FnMut() -> Parts + 'a, impl FnMut(Parts) -> (Parts, Principal) + 'a>,
) {
    let key = f.signer.key().signing_key().verifying_key();
    // The check's key (the token's `cnf`) may get a table: so may the floor's.
    key.allow_table();
    let floor = Side {
        setup: move || {
            let parts = signed(f);
            let entry = mcp_auth_httpsig::parse_signatures(&parts.headers, &Default::default())
                .expect("fields")
                .remove(0);
            let view =
                mcp_auth_httpsig::RequestView::new(&parts.method, &parts.uri, &parts.headers)
                    .with_scheme("https")
                    .with_authority("mcp.example.com");
            let base = mcp_auth_httpsig::base::build(
                &mcp_auth_httpsig::Message::Request(view),
                &entry.params.components,
                &entry.params_text,
            )
            .expect("base");
            let signature = entry.signature;
            (parts, base, signature)
        },
        run: move |(parts, base, sig): (Parts, String, Vec<u8>)| {
            let digest = floor_check(&key, &base, &sig, &f.body);
            // Returned, so that their drop is not timed.
            (parts, digest, base, sig)
        },
    };
    let check = Side {
        setup: move || signed(f),
        run: check_of(rt, rs, &f.body),
    };
    (floor, check)
}

fn presentation(c: &mut Criterion) {
    let f = fixture();
    let rt = runtime();
    let key = f.signer.key().signing_key().verifying_key();
    // The check's key (the token's `cnf`) may get a table: so may the floor's.
    key.allow_table();
    let base = b"a signature base of about the size of an MCP tools/call presentation".repeat(12);
    let sig = f
        .signer
        .key()
        .signing_key()
        .sign(Algorithm::Ed25519, &base)
        .expect("sig");
    let rs = verifier(&f);
    // Warm the token cache.
    rt.block_on(rs.verify_presentation(&signed(&f), &f.body))
        .outcome
        .expect("valid");

    let mut g = c.benchmark_group("presentation/ed25519/tools-call-1KiB");
    g.bench_function("floor: ed25519 verify + sha-256 of the body", |b| {
        b.iter(|| {
            let ok = key.verify(Algorithm::Ed25519, &base, &sig).expect("verify");
            let d = DigestAlgorithm::Sha256.digest(&f.body);
            (ok, d)
        })
    });
    // The same floor measured the way the full check is: a freshly signed request per
    // iteration (its base built in setup), so both run with the same cache state.
    let (mut floor, mut check) = httpsig_sides(&f, &rs, &rt);
    g.bench_function(
        "floor, fresh request each time: ed25519 verify of its base + sha-256",
        |b| b.iter_batched(&mut floor.setup, &mut floor.run, BatchSize::SmallInput),
    );
    g.bench_function("verify_presentation (token cached)", |b| {
        b.iter_batched(&mut check.setup, &mut check.run, BatchSize::SmallInput)
    });
    let no_replay = verifier_with(&f, Arc::new(NoReplayCache));
    rt.block_on(no_replay.verify_presentation(&signed(&f), &f.body))
        .outcome
        .expect("valid");
    g.bench_function(
        "verify_presentation (token cached, replay check off)",
        |b| {
            b.iter_batched(
                || signed(&f),
                check_of(&rt, &no_replay, &f.body),
                BatchSize::SmallInput,
            )
        },
    );
    let mut config = ResourceConfig::new(RESOURCE, ISSUER).expect("resource");
    config.policy = ten_rules();
    let with_policy = ResourceVerifier::new(
        config,
        AccessTokenCache::new(ISSUER, RESOURCE, &f.jwks),
        Arc::new(MemoryReplayCache::new()),
    );
    rt.block_on(with_policy.verify_presentation(&signed(&f), &f.body))
        .outcome
        .expect("valid");
    g.bench_function("verify_presentation (token cached, 10 policy rules)", |b| {
        b.iter_batched(
            || signed(&f),
            check_of(&rt, &with_policy, &f.body),
            BatchSize::SmallInput,
        )
    });
    g.bench_function(
        "floor: 2 x ed25519 verify + sha-256 (token not cached)",
        |b| {
            b.iter(|| {
                let a = key.verify(Algorithm::Ed25519, &base, &sig).expect("verify");
                let b2 = key.verify(Algorithm::Ed25519, &base, &sig).expect("verify");
                (a, b2, DigestAlgorithm::Sha256.digest(&f.body))
            })
        },
    );
    g.bench_function("verify_presentation (first use of the token)", |b| {
        b.iter_batched(
            || (verifier(&f), signed(&f)),
            |(rs, parts)| {
                let principal = check_of(&rt, &rs, &f.body)(parts);
                (rs, principal)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// A DPoP-bound token for `signer` and a verifier that accepts DPoP.
fn dpop_fixture(
    alg: JwsAlgorithm,
) -> (
    mcp_auth_client::RequestSigner,
    String,
    ResourceVerifier,
    Bytes,
) {
    let f = fixture();
    let dpop = mcp_auth_client::DpopSigner::generate(alg).expect("dpop key");
    let (token, rs) = token_and_verifier(
        "bench-dpop",
        Some(Confirmation::Jkt(dpop.jkt().to_owned())),
        |config| config.dpop = Some(mcp_auth_resource::DpopPolicy::default()),
    );
    (dpop.into(), token, rs, f.body)
}

/// An access token from a fresh AS key (confirmed by `cnf`, if any) and a verifier
/// trusting that key, its configuration adjusted by `configure`.
fn token_and_verifier(
    jti: &str,
    cnf: Option<Confirmation>,
    configure: impl FnOnce(&mut ResourceConfig),
) -> (String, ResourceVerifier) {
    let as_key = AsSigningKey::generate(JwsAlgorithm::EdDsa).expect("as key");
    let t = now();
    let token = as_key
        .sign(&AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "bench".into(),
            aud: RESOURCE.into(),
            exp: t + 3600,
            iat: t,
            jti: jti.into(),
            client_id: "bench".into(),
            scope: "mcp:read".into(),
            cnf,
        })
        .expect("token");
    let mut config = ResourceConfig::new(RESOURCE, ISSUER).expect("resource");
    configure(&mut config);
    let rs = ResourceVerifier::new(
        config,
        AccessTokenCache::new(
            ISSUER,
            RESOURCE,
            &Jwks {
                keys: vec![as_key.public_jwk()],
            },
        ),
        Arc::new(MemoryReplayCache::new()),
    );
    (token, rs)
}

/// A request with a fresh DPoP proof, as the server receives it.
fn proved(
    signer: &mcp_auth_client::RequestSigner,
    token: &str,
    body: &[u8],
) -> http::request::Parts {
    let (mut parts, ()) = http::Request::post(RESOURCE)
        .header("mcp-protocol-version", "2026-07-28")
        .body(())
        .expect("request")
        .into_parts();
    signer
        .sign_resource_request(&mut parts, token, body, now())
        .expect("proof");
    let mut b = http::Request::post("/mcp");
    for (k, v) in &parts.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("request").into_parts().0
}

/// The signing input (`header.payload`) and the decoded signature of a request's
/// DPoP proof.
fn jws_parts(parts: &http::request::Parts) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let proof = parts.headers["dpop"].to_str().expect("ascii proof");
    let (input, sig) = proof.rsplit_once('.').expect("a compact JWS");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("base64url signature");
    (input.to_owned(), sig)
}

/// The public key in the `jwk` header of a request's DPoP proof.
fn proof_key(parts: &http::request::Parts) -> mcp_auth_httpsig::VerifyingKey {
    use base64::Engine as _;
    let proof = parts.headers["dpop"].to_str().expect("ascii proof");
    let header = proof.split('.').next().expect("a compact JWS");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url header"),
    )
    .expect("JSON header");
    let jwk: mcp_auth_httpsig::Jwk =
        serde_json::from_value(header["jwk"].clone()).expect("a jwk header");
    mcp_auth_httpsig::VerifyingKey::from_jwk(&jwk).expect("a public key")
}

/// The DPoP check with its token cached, and its floor measured the way the check is:
/// a fresh proof each time, its signing input and signature split off in setup, the
/// proof's verification timed. The token's SHA-256 (what `ath` is checked against) is
/// not in the floor: the check compares `ath` with the digest its token cache computed
/// when the token was first verified, and hashes nothing per request.
/// The proof key is read from a first proof's header once.
#[allow(clippy::type_complexity)]
fn dpop_sides<'a>(
    alg: JwsAlgorithm,
    signer: &'a mcp_auth_client::RequestSigner,
    token: &'a str,
    rs: &'a ResourceVerifier,
    body: &'a Bytes,
    rt: &'a Runtime,
) -> (
    Side<
        impl FnMut() -> (String, Vec<u8>) + 'a,
        impl FnMut((String, Vec<u8>)) -> (bool, String, Vec<u8>) + 'a,
    >,
    Side<impl FnMut() -> Parts + 'a, impl FnMut(Parts) -> (Parts, Principal) + 'a>,
) {
    let key = proof_key(&proved(signer, token, body));
    // The check's proof key may get a table once bound to the token: so may the floor's.
    key.allow_table();
    let floor = Side {
        setup: move || jws_parts(&proved(signer, token, body)),
        run: move |(input, sig): (String, Vec<u8>)| {
            let ok = key
                .verify(Algorithm::Jws(alg), input.as_bytes(), &sig)
                .expect("verify");
            // Returned, so that their drop is not timed.
            (ok, input, sig)
        },
    };
    let check = Side {
        setup: move || proved(signer, token, body),
        run: check_of(rt, rs, body),
    };
    (floor, check)
}

fn dpop_presentation(c: &mut Criterion) {
    let rt = runtime();
    for (alg, name) in [
        (JwsAlgorithm::Es256, "es256"),
        (JwsAlgorithm::EdDsa, "eddsa"),
    ] {
        let (signer, token, rs, body) = dpop_fixture(alg);
        rt.block_on(rs.verify_presentation(&proved(&signer, &token, &body), &body))
            .outcome
            .expect("valid");
        // A floor in a hot loop: verifying one proof-sized JWS with a key of the proof's
        // algorithm, again and again. The fresh floor below is the one `ratio.sh`
        // compares with.
        let key = mcp_auth_httpsig::SigningKey::generate(Algorithm::Jws(alg)).expect("key");
        let input = b"a DPoP proof header and claims, about this long".repeat(8);
        let sig = key.sign(Algorithm::Jws(alg), &input).expect("sig");
        let public = key.verifying_key();
        public.allow_table();
        let mut g = c.benchmark_group(format!("presentation/dpop-{name}/tools-call-1KiB"));
        g.bench_function(format!("floor: {name} verify"), |b| {
            b.iter(|| {
                public
                    .verify(Algorithm::Jws(alg), &input, &sig)
                    .expect("verify")
            })
        });
        // The same floor measured the way the check is: a fresh proof per iteration (its
        // signing input and signature split off in setup), so both run with the same
        // cache state, as the HTTPSig group's fresh floor does.
        let (mut floor, mut check) = dpop_sides(alg, &signer, &token, &rs, &body, &rt);
        g.bench_function(
            format!("floor, fresh proof each time: {name} verify of its JWS"),
            |b| b.iter_batched(&mut floor.setup, &mut floor.run, BatchSize::SmallInput),
        );
        g.bench_function("verify_presentation (token cached)", |b| {
            b.iter_batched(&mut check.setup, &mut check.run, BatchSize::SmallInput)
        });
        g.finish();
    }
}

/// The Bearer check of the same `tools/call`, token cached: what a gateway with Bearer
/// tokens does per request beside forwarding (the token found in the cache, the
/// `Mcp-*` headers against the body, the scope policy, the principal). It has no
/// cryptography of its own, so it is counted (`bench/presentation/instructions.sh`),
/// not compared with a floor.
fn bearer_presentation(c: &mut Criterion) {
    let rt = runtime();
    let f = fixture();
    let (token, rs) = token_and_verifier("bench-bearer", None, |config| {
        config.bound_tokens_required = false;
    });
    let request = || {
        http::Request::post("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .header("content-type", "application/json")
            .body(())
            .expect("request")
            .into_parts()
            .0
    };
    rt.block_on(rs.verify_presentation(&request(), &f.body))
        .outcome
        .expect("valid");
    let mut g = c.benchmark_group("presentation/bearer/tools-call-1KiB");
    g.bench_function("verify_presentation (token cached)", |b| {
        b.iter_batched(request, check_of(&rt, &rs, &f.body), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(
    benches,
    presentation,
    dpop_presentation,
    bearer_presentation
);
/// criterion's benches, or with `PRESENTATION_PAIRED=CASE` one check against its floor
/// in `paired.rs`.
fn main() {
    let Ok(case) = std::env::var("PRESENTATION_PAIRED") else {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    };
    let rt = runtime();
    match case.as_str() {
        "ed25519" => {
            let f = fixture();
            let rs = verifier(&f);
            let (floor, check) = httpsig_sides(&f, &rs, &rt);
            paired::compare(&case, floor, check);
        }
        "dpop-es256" | "dpop-eddsa" => {
            let alg = if case == "dpop-es256" {
                JwsAlgorithm::Es256
            } else {
                JwsAlgorithm::EdDsa
            };
            let (signer, token, rs, body) = dpop_fixture(alg);
            let (floor, check) = dpop_sides(alg, &signer, &token, &rs, &body, &rt);
            paired::compare(&case, floor, check);
        }
        _ => panic!("PRESENTATION_PAIRED is ed25519, dpop-es256 or dpop-eddsa, not {case:?}"),
    }
}
