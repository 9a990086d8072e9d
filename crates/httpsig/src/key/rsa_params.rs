//! RSA public keys and the scheme (padding and hash) each algorithm names.

use aws_lc_rs::rsa;
use aws_lc_rs::signature as lc;

use super::verifying::{Public, RsaPublic};
use crate::alg::{Algorithm, JwsAlgorithm};
use crate::error::KeyError;

/// An RSA public key from its modulus and exponent, refused outside 2048 to 8192
/// bits (the sizes aws-lc-rs verifies).
pub(super) fn rsa_public(n: Vec<u8>, e: Vec<u8>) -> Result<Public, KeyError> {
    let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
    let bits = n.len() * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::Unsupported(format!(
            "RSA keys must be 2048 to 8192 bits, this one is {bits}"
        )));
    }
    let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
    Ok(Public::Rsa(RsaPublic { n, e }))
}

/// The modulus and exponent of a parsed RSA public key, big-endian without leading
/// zeros.
pub(super) fn rsa_components(key: &rsa::PublicKey) -> (Vec<u8>, Vec<u8>) {
    (
        key.modulus().big_endian_without_leading_zero().to_vec(),
        key.exponent().big_endian_without_leading_zero().to_vec(),
    )
}

/// An RSA scheme as aws-lc-rs names it twice: the verification parameters and the
/// signing encoding of the same padding and hash.
pub(super) type RsaScheme = (&'static rsa::RsaParameters, &'static dyn lc::RsaEncoding);

/// The RSA scheme `alg` names.
pub(super) fn rsa_scheme(alg: Algorithm) -> Result<RsaScheme, KeyError> {
    use JwsAlgorithm as J;
    Ok(match alg {
        Algorithm::RsaPssSha512 | Algorithm::Jws(J::Ps512) => {
            (&lc::RSA_PSS_2048_8192_SHA512, &lc::RSA_PSS_SHA512)
        }
        Algorithm::Jws(J::Ps384) => (&lc::RSA_PSS_2048_8192_SHA384, &lc::RSA_PSS_SHA384),
        Algorithm::Jws(J::Ps256) => (&lc::RSA_PSS_2048_8192_SHA256, &lc::RSA_PSS_SHA256),
        Algorithm::RsaV15Sha256 | Algorithm::Jws(J::Rs256) => {
            (&lc::RSA_PKCS1_2048_8192_SHA256, &lc::RSA_PKCS1_SHA256)
        }
        other => {
            return Err(KeyError::AlgorithmMismatch {
                alg: other.name().to_owned(),
                key: "RSA",
            });
        }
    })
}
