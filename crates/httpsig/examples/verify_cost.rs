//! Counts the work of verifying a typical MCP request, for instruction-count
//! comparisons that do not depend on machine noise:
//!
//! ```sh
//! cargo build --release -p mcp-auth-httpsig --example verify_cost
//! for mode in setup raw full; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$mode \
//!     target/release/examples/verify_cost $mode 200
//! done
//! ```
//!
//! (Ir(raw) - Ir(setup)) / 200 is the raw ed25519-dalek verification of the signature
//! base; (Ir(full) - Ir(setup)) / 200 is the whole `Verifier::verify` (fields, policy,
//! base, signature, digest). BENCHMARKS.md records the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestAlgorithm, Message, NonceMode, RequestTarget, RequestView,
    Signer, SigningKey, VerificationPolicy, Verifier,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let n: usize = args.next().map_or(100, |s| s.parse().unwrap());
    let components = ComponentId::parse_list(
        r#""@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name" "content-type""#,
    )
    .unwrap();
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let mut body = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#.to_vec();
    body.resize(1020, b'x');
    body.extend_from_slice(br#""}}}"#);
    let (mut parts, ()) = http::Request::post("https://mcp.example.com/mcp")
        .header(
            "authorization",
            "HTTPSig eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
        )
        .header("content-type", "application/json")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(())
        .unwrap()
        .into_parts();
    Signer::new(key.clone(), Algorithm::Ed25519)
        .unwrap()
        .components(components.clone())
        .content_digest(Some(DigestAlgorithm::Sha256))
        .nonce(NonceMode::Random)
        .tag("httpsig-oauth")
        .sign_request(&mut parts, &body, RequestTarget::default(), 1_000)
        .unwrap();
    let verifier = Verifier::new(VerificationPolicy {
        required_components: components,
        required_tag: Some("httpsig-oauth".into()),
        max_age: Some(30),
        nonce: Some(Default::default()),
        ..VerificationPolicy::default()
    });
    let public = key.verifying_key();
    let verified = verifier
        .verify(
            &Message::Request(RequestView::from_parts(&parts)),
            &body,
            &public,
            1_000,
        )
        .unwrap();
    let base = verified.signatures[0].base.clone();
    let entry = mcp_auth_httpsig::parse_signatures(&parts.headers, &Default::default())
        .unwrap()
        .remove(0);
    let x: [u8; 32] = public.pub_bytes().unwrap().try_into().unwrap();
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&entry.signature).unwrap();
    let mut ok = 0usize;
    for _ in 0..n {
        ok += match mode.as_str() {
            "setup" => 1,
            "raw" => usize::from(
                dalek
                    .verify_strict(black_box(base.as_bytes()), &sig)
                    .is_ok(),
            ),
            _ => usize::from(
                verifier
                    .verify(
                        &Message::Request(RequestView::from_parts(black_box(&parts))),
                        &body,
                        &public,
                        1_000,
                    )
                    .is_ok(),
            ),
        };
    }
    assert_eq!(ok, n);
    println!("{mode}: {n} verifications");
}
