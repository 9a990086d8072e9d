//! PEM import and export: SPKI and PKCS#1 public keys, PKCS#8 (including RSA-PSS),
//! SEC1 and PKCS#1 private keys.

use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::error::{KeyRejected, Unspecified};
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use pkcs8::der::Decode as _;

use super::Named;
use super::kind::Curve;
use super::rsa_params::{rsa_components, rsa_public};
use super::signing::{Private, SigningKey};
use super::verifying::{Public, VerifyingKey, ec_from_point, ed25519_from_bytes};
use crate::error::KeyError;

const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";

impl VerifyingKey {
    /// Reads a PEM public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`) or the public
    /// half of a PEM private key.
    ///
    /// A file with several blocks (a public and a private key together) is read for its
    /// first public key block, else its first private key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem_block(text, "PUBLIC")?;
        let public = match block.tag() {
            "PUBLIC KEY" => from_spki(block.contents())?,
            "RSA PUBLIC KEY" => {
                let key = rsa::PublicKey::from_der(block.contents())
                    .map_err(|e| KeyError::Invalid(format!("PKCS#1 public key: {e}")))?;
                let (n, e) = rsa_components(&key);
                rsa_public(n, e)?
            }
            _ => return Ok(SigningKey(Named::new(from_private_block(&block)?)).verifying_key()),
        };
        Ok(Self(Named::new(public)))
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 `PRIVATE KEY` (Ed25519, EC, RSA, RSA-PSS), SEC1
    /// `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`.
    ///
    /// In a file with several blocks, the first private key block is used.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem_block(text, "PRIVATE")?;
        Ok(Self(Named::new(from_private_block(&block)?)))
    }

    /// PKCS#8 PEM of the private key (HMAC secrets have no PEM form).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let der = match &self.0.material {
            Private::Ed25519(kp) => pkcs8_der(&**kp),
            Private::Ec(_, kp) => kp.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Private::Rsa(kp) => pkcs8_der(&**kp),
            Private::Hmac(_) => return Err(secrets_are_jwk()),
        }
        .map_err(|_| KeyError::Invalid("PKCS#8 encoding failed".into()))?;
        Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
    }

    /// SPKI PEM of the public key (HMAC secrets have no PEM form).
    pub fn to_public_pem(&self) -> Result<String, KeyError> {
        let der = match &self.0.material {
            Private::Ed25519(kp) => spki_der(kp.public_key()),
            Private::Ec(_, kp) => spki_der(kp.public_key()),
            Private::Rsa(kp) => spki_der(kp.public_key()),
            Private::Hmac(_) => return Err(secrets_are_jwk()),
        }
        .map_err(|_| KeyError::Invalid("SPKI encoding failed".into()))?;
        Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }
}

/// The first PEM block of `text` whose tag contains `wanted` (`PUBLIC`, `PRIVATE`),
/// else its first block.
fn pem_block(text: &str, wanted: &str) -> Result<pem::Pem, KeyError> {
    let mut blocks = pem::parse_many(text).map_err(|e| KeyError::Format(format!("PEM: {e}")))?;
    if blocks.is_empty() {
        return Err(KeyError::Format(
            "no PEM block (-----BEGIN ...-----) and not a JWK".into(),
        ));
    }
    let index = blocks
        .iter()
        .position(|b| b.tag().contains(wanted))
        .unwrap_or(0);
    Ok(blocks.swap_remove(index))
}

/// The private key in a PEM block, by its tag.
fn from_private_block(block: &pem::Pem) -> Result<Private, KeyError> {
    let der = block.contents();
    Ok(match block.tag() {
        "PRIVATE KEY" => from_pkcs8(der)?,
        "EC PRIVATE KEY" => {
            // SEC1 does not say the curve outside the key itself: try both.
            let (curve, kp) =
                match lc::EcdsaKeyPair::from_private_key_der(Curve::P256.signing(), der) {
                    Ok(kp) => (Curve::P256, kp),
                    Err(_) => (
                        Curve::P384,
                        lc::EcdsaKeyPair::from_private_key_der(Curve::P384.signing(), der)
                            .map_err(|e| KeyError::Invalid(format!("SEC1 EC key: {e}")))?,
                    ),
                };
            Private::Ec(curve, Arc::new(kp))
        }
        "RSA PRIVATE KEY" => Private::Rsa(Arc::new(
            rsa::KeyPair::from_der(der)
                .map_err(|e| KeyError::Invalid(format!("PKCS#1 RSA key: {e}")))?,
        )),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            return Err(KeyError::Format(
                "this is a public key; signing needs the private key".into(),
            ));
        }
        other => return Err(KeyError::Format(format!("unsupported PEM block `{other}`"))),
    })
}

/// The named curve of an EC key's algorithm identifier (RFC 5480 §2.1.1).
fn ec_curve(algorithm: &spki::AlgorithmIdentifierRef<'_>) -> Result<Curve, KeyError> {
    let oid = algorithm
        .parameters_oid()
        .map_err(|_| KeyError::Invalid("EC key without a named curve".into()))?
        .to_string();
    match oid.as_str() {
        OID_P256 => Ok(Curve::P256),
        OID_P384 => Ok(Curve::P384),
        other => Err(KeyError::Unsupported(format!("EC curve {other}"))),
    }
}

/// A DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
fn from_spki(der: &[u8]) -> Result<Public, KeyError> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| KeyError::Format(format!("SPKI: {e}")))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Invalid("SPKI key bits are not whole bytes".into()))?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_ED25519 => ed25519_from_bytes(bits),
        OID_EC_PUBLIC_KEY => ec_from_point(ec_curve(&spki.algorithm)?, bits),
        OID_RSA | OID_RSA_PSS => {
            let key = rsa::PublicKey::from_der(bits)
                .map_err(|e| KeyError::Invalid(format!("RSA public key: {e}")))?;
            let (n, e) = rsa_components(&key);
            rsa_public(n, e)
        }
        other => Err(KeyError::Unsupported(format!(
            "public key algorithm {other}"
        ))),
    }
}

/// A DER PKCS#8 `PrivateKeyInfo` (RFC 5208 §5).
fn from_pkcs8(der: &[u8]) -> Result<Private, KeyError> {
    let info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|e| KeyError::Format(format!("PKCS#8: {e}")))?;
    let invalid = |what: &str, e: KeyRejected| KeyError::Invalid(format!("{what}: {e}"));
    Ok(match info.algorithm.oid.to_string().as_str() {
        OID_ED25519 => Private::Ed25519(Arc::new(
            lc::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| invalid("Ed25519 key", e))?,
        )),
        OID_EC_PUBLIC_KEY => {
            let curve = ec_curve(&info.algorithm)?;
            let kp = lc::EcdsaKeyPair::from_pkcs8(curve.signing(), der)
                .map_err(|e| invalid("EC key", e))?;
            Private::Ec(curve, Arc::new(kp))
        }
        OID_RSA => Private::Rsa(Arc::new(
            rsa::KeyPair::from_pkcs8(der).map_err(|e| invalid("RSA key", e))?,
        )),
        // id-RSASSA-PSS keys (RFC 9421's test-key-rsa-pss): the inner key is a
        // plain PKCS#1 RSAPrivateKey.
        OID_RSA_PSS => Private::Rsa(Arc::new(
            rsa::KeyPair::from_der(info.private_key).map_err(|e| invalid("RSA-PSS key", e))?,
        )),
        other => {
            return Err(KeyError::Unsupported(format!(
                "private key algorithm {other}"
            )));
        }
    })
}

fn pkcs8_der(key: &impl AsDer<Pkcs8V1Der<'static>>) -> Result<Vec<u8>, Unspecified> {
    key.as_der().map(|d| d.as_ref().to_vec())
}

fn spki_der(key: &impl AsDer<PublicKeyX509Der<'static>>) -> Result<Vec<u8>, Unspecified> {
    key.as_der().map(|d| d.as_ref().to_vec())
}

/// HMAC secrets have no PEM form.
fn secrets_are_jwk() -> KeyError {
    KeyError::Unsupported("shared secrets are written as JWK".into())
}
