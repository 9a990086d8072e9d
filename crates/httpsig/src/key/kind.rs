//! Key kinds, and which algorithms each kind of key can be used with (RFC 9421
//! §3.3).

use aws_lc_rs::signature as lc;

use crate::alg::{Algorithm, JwsAlgorithm};
use crate::error::KeyError;

/// The kind of key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// Ed25519.
    Ed25519,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// RSA (2048 to 8192 bits).
    Rsa,
    /// A shared secret for HMAC.
    Hmac,
}

impl KeyKind {
    /// How errors name the kind.
    fn describe(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::EcP256 => Curve::P256.name(),
            Self::EcP384 => Curve::P384.name(),
            Self::Rsa => "RSA",
            Self::Hmac => "shared-secret",
        }
    }

    /// True when this kind of key can be used with `alg` (RFC 9421 §3.3; HMAC only
    /// with a shared secret, never with a public key).
    pub fn supports(self, alg: Algorithm) -> bool {
        use JwsAlgorithm as J;
        matches!(
            (self, alg),
            (
                Self::Ed25519,
                Algorithm::Ed25519 | Algorithm::Jws(J::Ed25519 | J::EdDsa)
            ) | (
                Self::EcP256,
                Algorithm::EcdsaP256Sha256 | Algorithm::Jws(J::Es256)
            ) | (
                Self::EcP384,
                Algorithm::EcdsaP384Sha384 | Algorithm::Jws(J::Es384)
            ) | (
                Self::Rsa,
                Algorithm::RsaPssSha512
                    | Algorithm::RsaV15Sha256
                    | Algorithm::Jws(J::Ps256 | J::Ps384 | J::Ps512 | J::Rs256)
            ) | (Self::Hmac, Algorithm::HmacSha256)
        )
    }

    /// The registry algorithm this kind implies when nothing else names one; RSA keys
    /// imply none (PSS and PKCS#1 v1.5 are both possible).
    pub fn default_algorithm(self) -> Option<Algorithm> {
        match self {
            Self::Ed25519 => Some(Algorithm::Ed25519),
            Self::EcP256 => Some(Algorithm::EcdsaP256Sha256),
            Self::EcP384 => Some(Algorithm::EcdsaP384Sha384),
            Self::Hmac => Some(Algorithm::HmacSha256),
            Self::Rsa => None,
        }
    }

    /// [`Self::supports`] as the error a key reports when asked to use `alg`.
    pub(super) fn check(self, alg: Algorithm) -> Result<(), KeyError> {
        if self.supports(alg) {
            Ok(())
        } else {
            Err(KeyError::AlgorithmMismatch {
                alg: alg.name().to_owned(),
                key: self.describe(),
            })
        }
    }
}

/// A JWK `alg`: a JWA name, or (leniently) a registry name.
pub(super) fn jwk_algorithm(name: &str) -> Result<Algorithm, KeyError> {
    JwsAlgorithm::from_name(name)
        .map(Algorithm::Jws)
        .or_else(|| Algorithm::from_registry_name(name))
        .ok_or_else(|| KeyError::UnknownAlgorithm(name.to_owned()))
}

/// An ECDSA curve: everything that differs between the two EC key kinds, so that
/// each reader and writer of EC keys handles both with one code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The curve a JWK `crv` names; `P-384` for anything but `P-256`, so callers
    /// match the two names first.
    pub(super) fn from_crv(crv: &str) -> Self {
        if crv == "P-256" {
            Self::P256
        } else {
            Self::P384
        }
    }

    /// The key kind.
    pub(super) fn kind(self) -> KeyKind {
        match self {
            Self::P256 => KeyKind::EcP256,
            Self::P384 => KeyKind::EcP384,
        }
    }

    /// The JWK `crv` name, which errors use too.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }

    /// The length in bytes of one coordinate.
    pub(super) fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    /// The length in bytes of the uncompressed point `04 || x || y` (SEC 1 §2.3.3),
    /// the form of `pub`, of SPKI key bits and of aws-lc-rs public keys.
    pub(super) fn point_len(self) -> usize {
        1 + 2 * self.coordinate_len()
    }

    /// The fixed-length (`r || s`, RFC 9421 §3.3.4 and §3.3.5) verification algorithm.
    pub(super) fn verification(self) -> &'static dyn lc::VerificationAlgorithm {
        match self {
            Self::P256 => &lc::ECDSA_P256_SHA256_FIXED,
            Self::P384 => &lc::ECDSA_P384_SHA384_FIXED,
        }
    }

    /// The fixed-length signing algorithm.
    pub(super) fn signing(self) -> &'static lc::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P384 => &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }
}
