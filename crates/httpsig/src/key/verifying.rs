//! [`VerifyingKey`]: public keys and shared secrets, and the signature check.

use aws_lc_rs::hmac;
use aws_lc_rs::signature as lc;

use super::ed25519::Ed25519Public;
use super::kind::Curve;
use super::rsa_params::rsa_scheme;
use super::{Material, Named, Secret};
use crate::alg::Algorithm;
use crate::error::KeyError;

/// Public key material, parsed once.
pub(super) type Public = Material<Ed25519Public, EcPublic, RsaPublic>;

/// An EC public key.
#[derive(Clone)]
pub(super) struct EcPublic {
    /// The uncompressed point, as carried in `pub`.
    pub(super) point: Vec<u8>,
    pub(super) parsed: lc::ParsedPublicKey,
}

/// An RSA public key: modulus and exponent, big-endian without leading zeros.
#[derive(Clone)]
pub(super) struct RsaPublic {
    pub(super) n: Vec<u8>,
    pub(super) e: Vec<u8>,
}

/// A key that verifies signatures. Cheap to clone.
#[derive(Clone)]
pub struct VerifyingKey(pub(super) Named<Public>);

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug_struct(f, "VerifyingKey").finish()
    }
}

impl VerifyingKey {
    /// A shared secret for `hmac-sha256`.
    pub fn hmac(secret: &[u8]) -> Self {
        Self(Named {
            algorithm: Some(Algorithm::HmacSha256),
            ..Named::new(Public::Hmac(Secret::new(secret)))
        })
    }

    /// A public key from the raw bytes of the `pub` signature parameter
    /// (draft-richer-oauth-httpsig-03 §4.2): 32 bytes for `ed25519`, the 65- or
    /// 97-byte uncompressed point for `ecdsa-p256-sha256` / `ecdsa-p384-sha384`.
    pub fn from_pub(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let public = match alg {
            Algorithm::Ed25519 => ed25519_from_bytes(bytes)?,
            Algorithm::EcdsaP256Sha256 => ec_from_point(Curve::P256, bytes)?,
            Algorithm::EcdsaP384Sha384 => ec_from_point(Curve::P384, bytes)?,
            other => {
                return Err(KeyError::Unsupported(format!(
                    "no `pub` encoding is defined for {other}"
                )));
            }
        };
        Ok(Self(Named {
            algorithm: Some(alg),
            ..Named::new(public)
        }))
    }

    /// The raw public key as carried in `pub` (Ed25519 `A`, or the uncompressed EC
    /// point); `None` for RSA and HMAC keys.
    pub fn pub_bytes(&self) -> Option<Vec<u8>> {
        match &self.0.material {
            Public::Ed25519(k) => Some(k.as_bytes().to_vec()),
            Public::Ec(_, ec) => Some(ec.point.clone()),
            _ => None,
        }
    }

    /// Reads a key file: a JWK (JSON) or PEM, public or private.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        super::from_text(text, Self::from_jwk, Self::from_pem)
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        // INVARIANT: to_jwk always fills the members the thumbprint needs.
        self.to_jwk().thumbprint().unwrap_or_default()
    }

    /// Lets this key, if it is an Ed25519 key, get a table of its multiples once it has
    /// verified 64 more valid signatures, which makes each later check about a third
    /// cheaper (40 KiB, about 0.1 ms to build; at most 768 per process: docs/architecture.md,
    /// "Cryptography"). Clones share it. For a key whose signatures will be checked many
    /// times and whose holder was authenticated some other way, such as the `cnf` key of
    /// a trusted access token; not for keys any caller can bring. No effect on other
    /// kinds of key.
    pub fn allow_table(&self) {
        if let Public::Ed25519(k) = &self.0.material {
            k.allow_table();
        }
    }

    /// Whether the key has its table ([`Self::allow_table`]): for tests and diagnostics.
    pub fn has_table(&self) -> bool {
        matches!(&self.0.material, Public::Ed25519(k) if k.is_prepared())
    }

    /// Verifies `signature` over `message` with `alg`.
    ///
    /// `Ok(false)` is a signature that does not verify; `Err` means the key cannot be
    /// used with `alg` at all.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        self.kind().check(alg)?;
        Ok(match &self.0.material {
            // Strict verification: rejects non-canonical S and small-order keys and
            // R, so a signature cannot be malleated into a second valid one.
            Public::Ed25519(k) => k.verify(message, signature),
            Public::Ec(_, ec) => ec.parsed.verify_sig(message, signature).is_ok(),
            Public::Rsa(RsaPublic { n, e }) => {
                let components = aws_lc_rs::rsa::PublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                let (params, _) = rsa_scheme(alg)?;
                components.verify(params, message, signature).is_ok()
            }
            // Constant time (aws-lc-rs `hmac::verify`).
            Public::Hmac(s) => hmac::verify(&s.key, message, signature).is_ok(),
        })
    }
}

/// An Ed25519 public key from its 32 bytes.
pub(super) fn ed25519_from_bytes(bytes: &[u8]) -> Result<Public, KeyError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Invalid("an Ed25519 public key is 32 bytes".into()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr)
        .map(|key| Public::Ed25519(Ed25519Public::new(key)))
        .map_err(|_| KeyError::Invalid("not a valid Ed25519 public key".into()))
}

/// An EC public key from its uncompressed point, checked to be on `curve`.
pub(super) fn ec_from_point(curve: Curve, point: &[u8]) -> Result<Public, KeyError> {
    let len = curve.point_len();
    if point.len() != len || point.first() != Some(&4) {
        return Err(KeyError::Invalid(format!(
            "a {} public key is the {len}-byte uncompressed point",
            curve.name()
        )));
    }
    let parsed = lc::ParsedPublicKey::new(curve.verification(), point)
        .map_err(|_| KeyError::Invalid(format!("not a point on {}", curve.name())))?;
    Ok(Public::Ec(
        curve,
        EcPublic {
            point: point.to_vec(),
            parsed,
        },
    ))
}
