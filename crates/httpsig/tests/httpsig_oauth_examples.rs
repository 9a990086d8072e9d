//! The example messages and keys of draft-richer-oauth-httpsig-03 (transcribed in
//! `tests/vectors/httpsig-oauth/examples.json`) parse and verify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mcp_auth_httpsig::http1::Http1Message;
use mcp_auth_httpsig::{
    Algorithm, DigestField, EmbeddedKey, Jwk, JwsAlgorithm, Limits, VerificationPolicy, Verifier,
    VerifyingKey, base, parse_signatures, verify_digest,
};
use serde_json::Value;

fn examples() -> Value {
    common::json("httpsig-oauth/examples.json")
}

fn message(name: &str) -> Http1Message {
    let ex = examples();
    Http1Message::parse(ex["messages"][name].as_str().unwrap().as_bytes()).unwrap()
}

fn token_key() -> Jwk {
    Jwk::from_json(examples()["keys"]["token-key.jwk"].as_str().unwrap()).unwrap()
}

fn p256_key() -> VerifyingKey {
    VerifyingKey::from_pem(
        examples()["keys"]["test-key-ecdsa-p256.pem"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn policy(tag: &str) -> VerificationPolicy {
    VerificationPolicy {
        required_tag: Some(tag.to_owned()),
        ..VerificationPolicy::default()
    }
}

/// The request bodies' Content-Digest values are right.
#[test]
fn example_content_digests_match_their_bodies() {
    let test_request = message("test-request");
    assert!(
        verify_digest(
            DigestField::Content,
            &test_request.headers,
            &test_request.body
        )
        .is_ok()
    );
    let wrapped = message("test-request-wrapped");
    assert_eq!(wrapped.headers, test_request.headers);
    let ex = examples();
    let header = ex["values"]["content-digest.hdr"].as_str().unwrap();
    let value = header.strip_prefix("Content-Digest: ").unwrap();
    let body = ex["values"]["token-request-body.form"].as_str().unwrap();
    assert!(
        mcp_auth_httpsig::digest::verify_digest_value(DigestField::Content, value, body.as_bytes())
            .is_ok()
    );
    let token_request = message("token-request");
    assert_eq!(token_request.body, body.as_bytes());
}

/// §4 runtime key: the key is the `pub` parameter, its algorithm the `alg` parameter.
#[test]
fn runtime_key_token_request_verifies_with_its_pub_parameter() {
    let msg = message("token-request-signed");
    let view = msg.view("https", None);
    let verified = Verifier::new(policy("httpsig-oauth-token-request"))
        .verify(&view, &msg.body, &EmbeddedKey, 1_618_884_473)
        .unwrap();
    let sig = &verified.signatures[0];
    assert_eq!(sig.algorithm, Algorithm::Ed25519);
    assert_eq!(verified.content_digest.len(), 1);
    // The embedded key is the example token key.
    assert_eq!(sig.key.thumbprint(), token_key().thumbprint().unwrap());
}

/// §3 pre-registered key: `keyid` names the client's JWK; the draft's own key says
/// `alg: EdDSA` (polymorphic) and its `kid` differs from the example's `keyid`
/// (HTTPSIG-AS-3 and the profile's vector appendix note both).
#[test]
fn preregistered_key_token_request_verifies_with_the_client_jwk() {
    let msg = message("token-request-prereg-signed");
    let entry = parse_signatures(&msg.headers, &Limits::default())
        .unwrap()
        .remove(0);
    let jwk = token_key();
    assert_eq!(entry.params.keyid(), Some("j-0Ny45NWmqGq6GQ"));
    assert_ne!(
        jwk.kid.as_deref(),
        entry.params.keyid(),
        "the draft's example kid and keyid differ"
    );
    assert!(
        !JwsAlgorithm::from_name(jwk.alg.as_deref().unwrap())
            .unwrap()
            .is_fully_specified()
    );
    let key = VerifyingKey::from_jwk(&jwk.public()).unwrap();
    assert_eq!(key.algorithm(), Some(Algorithm::Jws(JwsAlgorithm::EdDsa)));
    let verified = Verifier::new(policy("httpsig-oauth-token-request"))
        .verify(&msg.view("https", None), &msg.body, &key, 1_618_884_473)
        .unwrap();
    assert_eq!(verified.content_digest.len(), 1);
}

/// §5 presentation: the request signed with the token key, and the same base under the
/// P-256 key, whether the token binds it as `cnf.jwk` (ES256) or `cnf.htsk`
/// (ecdsa-p256-sha256).
#[test]
fn presentation_examples_verify_and_build_the_drafts_base() {
    let ex = examples();
    let expected_base = ex["values"]["rs-sig-base.sigbase"].as_str().unwrap();
    let present = message("present-request-signed");
    let entry = parse_signatures(&present.headers, &Limits::default())
        .unwrap()
        .remove(0);
    let view = present.view("https", None);
    assert_eq!(
        base::build(&view, &entry.params.components, &entry.params_text).unwrap(),
        expected_base
    );
    let ed = VerifyingKey::from_jwk(&token_key().public()).unwrap();
    Verifier::new(policy("httpsig-oauth"))
        .verify(&view, &present.body, &ed, 1_776_650_875)
        .unwrap();

    let rs = message("rs-request-signed");
    let rs_view = rs.view("https", None);
    let as_jwk = p256_key()
        .with_algorithm(Algorithm::Jws(JwsAlgorithm::Es256))
        .unwrap();
    let as_htsk = p256_key()
        .with_algorithm(Algorithm::EcdsaP256Sha256)
        .unwrap();
    for key in [as_jwk, as_htsk] {
        let v = Verifier::new(policy("httpsig-oauth"))
            .verify(&rs_view, &rs.body, &key, 1_776_650_875)
            .unwrap();
        assert_eq!(v.signatures[0].base, expected_base);
    }
    // The draft's cnf values are this key.
    let jwk = p256_key().to_jwk();
    assert_eq!(
        jwk.x.as_deref(),
        Some("R4YT13Ra4frLCH75BdM53OEHYi_YY2eQgR43BWWQpVw")
    );
    assert_eq!(
        jwk.y.as_deref(),
        Some("UFVFPBGODokYW06OXCqDskhZSU3RpUI6fR8_OCz2doo")
    );
    // And the Ed25519 signature does not verify under the P-256 key (nor the reverse).
    assert!(
        Verifier::new(policy("httpsig-oauth"))
            .verify(&rs_view, &rs.body, &ed, 1_776_650_875)
            .is_err()
    );
}
