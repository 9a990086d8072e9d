//! Sign and verify a typical MCP request (method, target-uri, authorization,
//! content-digest, mcp-method, mcp-name, content-type; 1 KiB body) per algorithm.
//!
//! Each group holds, on the same bytes in the same run: the floor (the raw aws-lc-rs
//! operation on the signature base; for Ed25519 also ed25519-dalek, the primitive we
//! verify with), our full pipeline, and the `httpsig` crate doing the same work. The
//! criterion report's ratios are the numbers to read; BENCHMARKS.md records them.
//!
//! Run: cargo bench -p mcp-auth-httpsig --bench sign_verify
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aws_lc_rs::signature as lc;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use httpsig::prelude::{
    AlgorithmName, HttpSignatureBase, HttpSignatureHeaders, PublicKey, SharedKey,
    message_component::{HttpMessageComponent, HttpMessageComponentId, HttpMessageComponentName},
};
use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestAlgorithm, Message, NonceMode, RequestTarget, RequestView,
    Signer, SigningKey, VerificationPolicy, Verifier, VerifyingKey,
};

const COMPONENTS: &str = r#""@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name" "content-type""#;
const NOW: i64 = 1_780_000_000;

fn body() -> Vec<u8> {
    let mut text = String::from(
        r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#,
    );
    while text.len() < 1000 {
        text.push_str("lorem ipsum dolor sit amet ");
    }
    text.truncate(1000);
    text.push_str(r#""}}}"#);
    text.into_bytes()
}

fn unsigned_parts() -> http::request::Parts {
    http::Request::post("https://mcp.example.com/mcp")
        .header(
            "authorization",
            "HTTPSig eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        )
        .header("content-type", "application/json")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

struct Fixture {
    alg: Algorithm,
    signing: SigningKey,
    verifying: VerifyingKey,
    signer: Signer,
    parts: http::request::Parts,
    body: Vec<u8>,
    base: Vec<u8>,
    signature: Vec<u8>,
}

fn fixture(alg: Algorithm) -> Fixture {
    let signing = SigningKey::generate(alg).unwrap();
    let verifying = signing.verifying_key().with_algorithm(alg).unwrap();
    let signer = Signer::new(signing.clone(), alg)
        .unwrap()
        .components(ComponentId::parse_list(COMPONENTS).unwrap())
        .content_digest(Some(DigestAlgorithm::Sha256))
        .nonce(NonceMode::Random)
        .tag("httpsig-oauth");
    let body = body();
    let mut parts = unsigned_parts();
    signer
        .sign_request(&mut parts, &body, RequestTarget::default(), NOW)
        .unwrap();
    let verified = verifier(alg)
        .verify(
            &Message::Request(RequestView::from_parts(&parts)),
            &body,
            &verifying,
            NOW,
        )
        .unwrap();
    let base = verified.signatures[0].base.clone().into_bytes();
    let signature = mcp_auth_httpsig::parse_signatures(&parts.headers, &Default::default())
        .unwrap()
        .remove(0)
        .signature;
    Fixture {
        alg,
        signing,
        verifying,
        signer,
        parts,
        body,
        base,
        signature,
    }
}

fn verifier(alg: Algorithm) -> Verifier {
    let mut policy = VerificationPolicy {
        required_components: ComponentId::parse_list(COMPONENTS).unwrap(),
        required_tag: Some("httpsig-oauth".into()),
        max_age: Some(30),
        nonce: Some(Default::default()),
        ..VerificationPolicy::default()
    };
    if alg == Algorithm::HmacSha256 {
        policy.allowed_algorithms.push(alg);
    }
    Verifier::new(policy)
}

/// The raw aws-lc-rs verification on the base: the floor.
fn raw_verifier(f: &Fixture) -> Box<dyn Fn() -> bool> {
    let base = f.base.clone();
    let sig = f.signature.clone();
    let jwk = f.verifying.to_jwk();
    let b64 = |s: &Option<String>| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_deref().unwrap())
            .unwrap()
    };
    match f.alg {
        Algorithm::Ed25519 => {
            let key = lc::ParsedPublicKey::new(&lc::ED25519, b64(&jwk.x)).unwrap();
            Box::new(move || key.verify_sig(&base, &sig).is_ok())
        }
        Algorithm::EcdsaP256Sha256 | Algorithm::EcdsaP384Sha384 => {
            let point = f.verifying.pub_bytes().unwrap();
            let alg: &'static dyn lc::VerificationAlgorithm = if f.alg == Algorithm::EcdsaP256Sha256
            {
                &lc::ECDSA_P256_SHA256_FIXED
            } else {
                &lc::ECDSA_P384_SHA384_FIXED
            };
            let key = lc::ParsedPublicKey::new(alg, point).unwrap();
            Box::new(move || key.verify_sig(&base, &sig).is_ok())
        }
        Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256 => {
            let params: &'static aws_lc_rs::rsa::RsaParameters = if f.alg == Algorithm::RsaPssSha512
            {
                &lc::RSA_PSS_2048_8192_SHA512
            } else {
                &lc::RSA_PKCS1_2048_8192_SHA256
            };
            let key = aws_lc_rs::rsa::PublicKeyComponents {
                n: b64(&jwk.n),
                e: b64(&jwk.e),
            }
            .to_parsed_public_key(params)
            .unwrap();
            Box::new(move || key.verify_sig(&base, &sig).is_ok())
        }
        Algorithm::HmacSha256 => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &b64(&jwk.k));
            Box::new(move || aws_lc_rs::hmac::verify(&key, &base, &sig).is_ok())
        }
        _ => unreachable!(),
    }
}

/// The `httpsig` crate (0.0.26) doing the same work: parse both fields, collect the
/// component values from the request, build the base, verify; plus the digest check,
/// which it does not do itself (SHA-256 with aws-lc-rs, as ours).
fn peer_verifier(f: &Fixture) -> Option<Box<dyn Fn() -> bool>> {
    let key: PeerKey = match f.alg {
        Algorithm::Ed25519 => peer_public(AlgorithmName::Ed25519, f),
        Algorithm::EcdsaP256Sha256 => peer_public(AlgorithmName::EcdsaP256Sha256, f),
        Algorithm::EcdsaP384Sha384 => peer_public(AlgorithmName::EcdsaP384Sha384, f),
        Algorithm::HmacSha256 => {
            use base64::Engine as _;
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(f.verifying.to_jwk().k.unwrap())
                .unwrap();
            let k = base64::engine::general_purpose::STANDARD.encode(k);
            PeerKey::Shared(SharedKey::from_base64(&AlgorithmName::HmacSha256, &k).unwrap())
        }
        _ => return None,
    };
    let parts = f.parts.clone();
    let body = f.body.clone();
    Some(Box::new(move || {
        let sig = parts.headers["signature"].to_str().unwrap();
        let input = parts.headers["signature-input"].to_str().unwrap();
        let map = HttpSignatureHeaders::try_parse(sig, input).unwrap();
        let headers = map.get("sig1").unwrap();
        let mut lines = Vec::new();
        for id in headers.signature_params().covered_components.iter() {
            let values: Vec<String> = match &id.name {
                HttpMessageComponentName::Derived(d) => vec![match d.to_string().as_str() {
                    "@method" => parts.method.to_string(),
                    "@target-uri" => parts.uri.to_string(),
                    other => panic!("{other}"),
                }],
                HttpMessageComponentName::HttpField(name) => parts
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect(),
            };
            lines.push(
                HttpMessageComponent::try_from((id as &HttpMessageComponentId, values.as_slice()))
                    .unwrap(),
            );
        }
        let base = HttpSignatureBase::try_new(&lines, headers.signature_params()).unwrap();
        let ok = match &key {
            PeerKey::Public(k) => base.verify_signature_headers(k, headers).is_ok(),
            PeerKey::Shared(k) => base.verify_signature_headers(k, headers).is_ok(),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
        ok && parts.headers["content-digest"]
            .to_str()
            .unwrap()
            .contains(&{
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
            })
    }))
}

fn peer_public(name: AlgorithmName, f: &Fixture) -> PeerKey {
    PeerKey::Public(PublicKey::from_pem(&name, &f.signing.to_public_pem().unwrap()).unwrap())
}

enum PeerKey {
    Public(PublicKey),
    Shared(SharedKey),
}

fn verify_benches(c: &mut Criterion) {
    for alg in Algorithm::REGISTRY {
        let f = fixture(alg);
        let v = verifier(alg);
        let mut g = c.benchmark_group(format!("verify/{}/mcp-tool-call", alg.name()));
        let raw = raw_verifier(&f);
        assert!(raw());
        g.bench_function("floor: raw aws-lc-rs verify", |b| {
            b.iter(|| black_box(raw()))
        });
        if alg == Algorithm::Ed25519 {
            let jwk = f.verifying.to_jwk();
            let x: [u8; 32] = {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(jwk.x.unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            };
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&f.signature).unwrap();
            g.bench_function("floor: raw ed25519-dalek verify_strict", |b| {
                b.iter(|| black_box(key.verify_strict(black_box(&f.base), &sig).is_ok()))
            });
        }
        g.bench_function(
            "mcp-auth: full verify (fields, policy, base, signature, digest)",
            |b| {
                b.iter(|| {
                    let m = Message::Request(RequestView::from_parts(black_box(&f.parts)));
                    black_box(v.verify(&m, black_box(&f.body), &f.verifying, NOW).is_ok())
                })
            },
        );
        if let Some(peer) = peer_verifier(&f) {
            assert!(peer());
            g.bench_function("peer: httpsig 0.0.26 (same work)", |b| {
                b.iter(|| black_box(peer()))
            });
        }
        g.finish();
    }
}

fn sign_benches(c: &mut Criterion) {
    for alg in Algorithm::REGISTRY {
        let f = fixture(alg);
        let mut g = c.benchmark_group(format!("sign/{}/mcp-tool-call", alg.name()));
        g.bench_function("floor: raw sign of the base", |b| {
            b.iter(|| black_box(f.signing.sign(alg, black_box(&f.base)).unwrap()))
        });
        g.bench_function(
            "mcp-auth: sign_request (digest, params, base, signature, headers)",
            |b| {
                b.iter_batched(
                    unsigned_parts,
                    |mut parts| {
                        f.signer
                            .sign_request(&mut parts, &f.body, RequestTarget::default(), NOW)
                            .unwrap();
                        parts
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        g.finish();
    }
}

criterion_group!(benches, verify_benches, sign_benches);
criterion_main!(benches);
