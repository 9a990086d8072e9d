//! [`SigningKey`]: private keys and shared secrets, key generation and signing.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use aws_lc_rs::{hmac, rsa};

use super::kind::Curve;
use super::rsa_params::{rsa_components, rsa_scheme};
use super::verifying::{Public, RsaPublic, VerifyingKey, ec_from_point, ed25519_from_bytes};
use super::{Material, Named, Secret};
use crate::alg::{Algorithm, JwsAlgorithm};
use crate::error::KeyError;

/// Private key material.
pub(super) type Private =
    Material<Arc<lc::Ed25519KeyPair>, Arc<lc::EcdsaKeyPair>, Arc<rsa::KeyPair>>;

/// A key that signs.
#[derive(Clone)]
pub struct SigningKey(pub(super) Named<Private>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug_struct(f, "SigningKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key for `alg` (RSA keys are 2048 bits).
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        use JwsAlgorithm as J;
        let unspecified = |_| KeyError::Invalid("key generation failed".into());
        let ec = |curve: Curve| {
            lc::EcdsaKeyPair::generate(curve.signing())
                .map(|kp| Private::Ec(curve, Arc::new(kp)))
                .map_err(unspecified)
        };
        let private = match alg {
            Algorithm::Ed25519 | Algorithm::Jws(J::Ed25519 | J::EdDsa) => Private::Ed25519(
                Arc::new(lc::Ed25519KeyPair::generate().map_err(unspecified)?),
            ),
            Algorithm::EcdsaP256Sha256 | Algorithm::Jws(J::Es256) => ec(Curve::P256)?,
            Algorithm::EcdsaP384Sha384 | Algorithm::Jws(J::Es384) => ec(Curve::P384)?,
            Algorithm::HmacSha256 => {
                let mut secret = [0u8; 32];
                aws_lc_rs::rand::fill(&mut secret).map_err(unspecified)?;
                Private::Hmac(Secret::new(&secret))
            }
            _ => Private::Rsa(Arc::new(
                rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(unspecified)?,
            )),
        };
        Ok(Self(Named {
            algorithm: Some(alg),
            ..Named::new(private)
        }))
    }

    /// A shared secret for `hmac-sha256`.
    pub fn hmac(secret: &[u8]) -> Self {
        Self(Named {
            algorithm: Some(Algorithm::HmacSha256),
            ..Named::new(Private::Hmac(Secret::new(secret)))
        })
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.0.kid = Some(kid.into());
        self
    }

    /// Reads a key file: a private JWK (JSON) or a PEM private key.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        super::from_text(text, Self::from_jwk, Self::from_pem)
    }

    /// The matching verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let public = match &self.0.material {
            // INVARIANT: aws-lc-rs Ed25519 public keys are 32 valid bytes, and its EC
            // public keys uncompressed points on their curve.
            Private::Ed25519(kp) => {
                ed25519_from_bytes(kp.public_key().as_ref()).unwrap_or_else(|_| unreachable())
            }
            Private::Ec(curve, kp) => {
                ec_from_point(*curve, kp.public_key().as_ref()).unwrap_or_else(|_| unreachable())
            }
            Private::Rsa(kp) => {
                let (n, e) = rsa_components(kp.public_key());
                Public::Rsa(RsaPublic { n, e })
            }
            Private::Hmac(s) => Public::Hmac(s.clone()),
        };
        VerifyingKey(Named {
            material: public,
            algorithm: self.0.algorithm,
            kid: self.0.kid.clone(),
        })
    }

    /// Signs `message` with `alg`.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.kind().check(alg)?;
        let rng = SystemRandom::new();
        match &self.0.material {
            Private::Ed25519(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Private::Ec(_, kp) => kp
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SigningFailed),
            Private::Rsa(kp) => {
                let (_, encoding) = rsa_scheme(alg)?;
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(encoding, &rng, message, &mut out)
                    .map_err(|_| KeyError::SigningFailed)?;
                Ok(out)
            }
            Private::Hmac(s) => Ok(hmac::sign(&s.key, message).as_ref().to_vec()),
        }
    }
}

/// The public half of a key pair that aws-lc-rs hands out but cannot itself parse:
/// an HMAC key with no secret, which fails every verification instead of panicking.
fn unreachable() -> Public {
    Public::Hmac(Secret::new(&[]))
}
