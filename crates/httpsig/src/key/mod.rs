//! Keys for signing and verifying: Ed25519, ECDSA P-256/P-384, RSA and HMAC, read
//! from JWK, PEM (PKCS#8, SPKI, SEC1, PKCS#1) or raw `pub` bytes.
//!
//! Verification uses the fastest correct primitive measured on the target machine
//! (docs/architecture.md, "Cryptography"): for Ed25519, ed25519-dalek's strict rules on
//! curve25519-dalek's arithmetic (`ed25519`), for everything else aws-lc-rs, with public
//! keys parsed once.
//!
//! Both key types are key material plus what names it (the algorithm the key is
//! fixed to and its key id), so the rule that a fixed algorithm must suit the key
//! kind is written once, here. The rest is split by concept: key kinds and which
//! algorithms they allow (`kind`), each key type's own operations (`verifying`,
//! `signing`), the Ed25519 check (`ed25519`), PEM, SPKI and PKCS#8 import and export
//! (`pem_der`), JWK import and export (`jwk_io`), and RSA public keys and schemes
//! (`rsa_params`).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;

use crate::alg::Algorithm;
use crate::error::KeyError;
use crate::jwk::Jwk;
use kind::Curve;

pub(crate) mod ed25519;
mod jwk_io;
mod kind;
mod pem_der;
mod rsa_params;
mod signing;
#[cfg(test)]
mod tests;
mod verifying;

pub use kind::KeyKind;
pub use signing::SigningKey;
pub use verifying::VerifyingKey;

/// Key material of one of the four kinds. The public and the private form of a key
/// differ only in what each kind holds (`Ed`, `Ec`, `Rsa`), so the kind is read off
/// in one place.
#[derive(Clone)]
enum Material<Ed, Ec, Rsa> {
    Ed25519(Ed),
    Ec(Curve, Ec),
    Rsa(Rsa),
    Hmac(Secret),
}

impl<Ed, Ec, Rsa> Material<Ed, Ec, Rsa> {
    fn kind(&self) -> KeyKind {
        match self {
            Self::Ed25519(_) => KeyKind::Ed25519,
            Self::Ec(curve, _) => curve.kind(),
            Self::Rsa(_) => KeyKind::Rsa,
            Self::Hmac(_) => KeyKind::Hmac,
        }
    }
}

/// Key material together with what names it: the algorithm the key is fixed to
/// (a JWK `alg`, configuration, or the algorithm it was generated for) and its key
/// id.
#[derive(Clone)]
struct Named<M> {
    material: M,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
}

impl<Ed, Ec, Rsa> Named<Material<Ed, Ec, Rsa>> {
    /// Material with no algorithm fixed and no key id.
    fn new(material: Material<Ed, Ec, Rsa>) -> Self {
        Self {
            material,
            algorithm: None,
            kid: None,
        }
    }

    fn kind(&self) -> KeyKind {
        self.material.kind()
    }

    /// Fixes the algorithm, checked against the key kind.
    fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        self.kind().check(alg)?;
        self.algorithm = Some(alg);
        Ok(self)
    }

    /// Takes the members of `jwk` that name a key: `kid`, and `alg`, which fixes the
    /// algorithm.
    fn named_by(mut self, jwk: &Jwk) -> Result<Self, KeyError> {
        self.kid.clone_from(&jwk.kid);
        match jwk.alg.as_deref() {
            Some(alg) => self.with_algorithm(kind::jwk_algorithm(alg)?),
            None => Ok(self),
        }
    }

    /// A `Debug` view that shows what names the key and never its material.
    fn debug_struct<'a, 'b: 'a>(
        &self,
        f: &'a mut fmt::Formatter<'b>,
        name: &str,
    ) -> fmt::DebugStruct<'a, 'b> {
        let mut d = f.debug_struct(name);
        d.field("kind", &self.kind())
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid);
        d
    }
}

/// What names a key, the same for both key types: the public side of [`Named`].
macro_rules! named_accessors {
    ($key:ident) => {
        impl $key {
            /// The kind of key.
            pub fn kind(&self) -> KeyKind {
                self.0.kind()
            }

            /// The algorithm the key is fixed to (a JWK `alg`, configuration, or the
            /// algorithm it was generated for), if any.
            pub fn algorithm(&self) -> Option<Algorithm> {
                self.0.algorithm
            }

            /// Fixes the key's algorithm (as static configuration would), checked
            /// against the key kind.
            pub fn with_algorithm(self, alg: Algorithm) -> Result<Self, KeyError> {
                self.0.with_algorithm(alg).map(Self)
            }

            /// The key id, if known (JWK `kid`).
            pub fn kid(&self) -> Option<&str> {
                self.0.kid.as_deref()
            }
        }
    };
}

named_accessors!(VerifyingKey);
named_accessors!(SigningKey);

/// A shared secret for HMAC, with the bytes kept for export as an `oct` JWK.
#[derive(Clone)]
struct Secret {
    key: Arc<hmac::Key>,
    bytes: Vec<u8>,
}

impl Secret {
    fn new(secret: &[u8]) -> Self {
        Self {
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            bytes: secret.to_vec(),
        }
    }
}

/// Reads a key file's text with `from_jwk` when it is a JWK (JSON), else with
/// `from_pem`.
fn from_text<K>(
    text: &str,
    from_jwk: fn(&Jwk) -> Result<K, KeyError>,
    from_pem: fn(&str) -> Result<K, KeyError>,
) -> Result<K, KeyError> {
    if text.trim_start().starts_with('{') {
        from_jwk(&Jwk::from_json(text)?)
    } else {
        from_pem(text)
    }
}
