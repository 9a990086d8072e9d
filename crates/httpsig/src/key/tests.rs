//! Round trips through every key form, and the algorithm checks.

use super::{SigningKey, VerifyingKey};
use crate::alg::{Algorithm, JwsAlgorithm};
use crate::error::KeyError;

#[test]
fn every_registry_algorithm_signs_and_verifies() {
    for alg in Algorithm::REGISTRY {
        let key = SigningKey::generate(alg).unwrap();
        let sig = key.sign(alg, b"base").unwrap();
        let public = key.verifying_key();
        assert!(public.verify(alg, b"base", &sig).unwrap(), "{alg}");
        assert!(!public.verify(alg, b"basf", &sig).unwrap(), "{alg}");
    }
}

#[test]
fn hmac_is_refused_with_a_public_key() {
    let key = SigningKey::generate(Algorithm::Ed25519)
        .unwrap()
        .verifying_key();
    assert_eq!(
        key.verify(Algorithm::HmacSha256, b"m", &[0; 32]),
        Err(KeyError::AlgorithmMismatch {
            alg: "hmac-sha256".into(),
            key: "Ed25519"
        })
    );
}

#[test]
fn pub_round_trip_and_bad_lengths() {
    let key = SigningKey::generate(Algorithm::EcdsaP256Sha256).unwrap();
    let raw = key.verifying_key().pub_bytes().unwrap();
    assert_eq!(raw.len(), 65);
    let again = VerifyingKey::from_pub(Algorithm::EcdsaP256Sha256, &raw).unwrap();
    assert_eq!(again.thumbprint(), key.verifying_key().thumbprint());
    assert!(VerifyingKey::from_pub(Algorithm::EcdsaP256Sha256, &raw[..64]).is_err());
    assert!(VerifyingKey::from_pub(Algorithm::Ed25519, &[0u8; 31]).is_err());
    assert!(VerifyingKey::from_pub(Algorithm::RsaPssSha512, &[0u8; 31]).is_err());
}

#[test]
fn jwk_and_pem_round_trips() {
    for alg in [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
    ] {
        let key = SigningKey::generate(alg).unwrap();
        let jwk = key.to_private_jwk().unwrap();
        let again = SigningKey::from_jwk(&jwk).unwrap();
        let sig = again.sign(alg, b"x").unwrap();
        assert!(key.verifying_key().verify(alg, b"x", &sig).unwrap());
        let pem = key.to_pkcs8_pem().unwrap();
        assert_eq!(
            SigningKey::from_pem(&pem)
                .unwrap()
                .verifying_key()
                .thumbprint(),
            key.verifying_key().thumbprint()
        );
        let public = key.to_public_pem().unwrap();
        assert_eq!(
            VerifyingKey::from_pem(&public).unwrap().thumbprint(),
            key.verifying_key().thumbprint()
        );
    }
    let rsa = SigningKey::generate(Algorithm::RsaPssSha512).unwrap();
    let pem = rsa.to_pkcs8_pem().unwrap();
    let again = SigningKey::from_pem(&pem).unwrap();
    let sig = again.sign(Algorithm::RsaPssSha512, b"x").unwrap();
    let public = VerifyingKey::from_pem(&rsa.to_public_pem().unwrap()).unwrap();
    assert!(public.verify(Algorithm::RsaPssSha512, b"x", &sig).unwrap());
    assert!(!public.verify(Algorithm::RsaV15Sha256, b"x", &sig).unwrap());
}

#[test]
fn jwk_alg_fixes_the_algorithm() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let mut jwk = key.verifying_key().to_jwk();
    jwk.alg = Some("ES256".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(KeyError::AlgorithmMismatch { .. })
    ));
    jwk.alg = Some("none".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(KeyError::UnknownAlgorithm(_))
    ));
    jwk.alg = Some("Ed25519".into());
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap().algorithm(),
        Some(Algorithm::Jws(JwsAlgorithm::Ed25519))
    );
}
