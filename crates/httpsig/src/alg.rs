//! Signature algorithms: the HTTP Signature Algorithms registry (RFC 9421 §3.3,
//! §6.2) and the JWS algorithms of §3.3.7.

use std::fmt;
use std::str::FromStr;

use crate::error::KeyError;

/// A JWS algorithm (RFC 7518, RFC 9864) usable through RFC 9421 §3.3.7. `none` and
/// symmetric JWS algorithms are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// `Ed25519` (fully specified, RFC 9864).
    Ed25519,
    /// `EdDSA` (polymorphic; only with an Ed25519 key here).
    EdDsa,
    /// `ES256`: ECDSA P-256 SHA-256, r||s.
    Es256,
    /// `ES384`: ECDSA P-384 SHA-384, r||s.
    Es384,
    /// `PS256`: RSASSA-PSS SHA-256, salt 32.
    Ps256,
    /// `PS384`: RSASSA-PSS SHA-384, salt 48.
    Ps384,
    /// `PS512`: RSASSA-PSS SHA-512, salt 64.
    Ps512,
    /// `RS256`: RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
}

impl JwsAlgorithm {
    /// The JWA name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs256 => "RS256",
        }
    }

    /// Looks up a JWA name. `none`, `HS*` and unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Ed25519" => Self::Ed25519,
            "EdDSA" => Self::EdDsa,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "RS256" => Self::Rs256,
            _ => return None,
        })
    }

    /// True when the name determines one primitive (draft-richer-oauth-httpsig-03 §3.1
    /// requires this of pre-registered keys; `EdDSA` is polymorphic).
    pub fn is_fully_specified(self) -> bool {
        !matches!(self, Self::EdDsa)
    }
}

/// An algorithm for HTTP message signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `rsa-pss-sha512` (§3.3.1): RSASSA-PSS, MGF1 SHA-512, salt 64.
    RsaPssSha512,
    /// `rsa-v1_5-sha256` (§3.3.2).
    RsaV15Sha256,
    /// `hmac-sha256` (§3.3.3), compared in constant time.
    HmacSha256,
    /// `ecdsa-p256-sha256` (§3.3.4), r||s, 64 bytes.
    EcdsaP256Sha256,
    /// `ecdsa-p384-sha384` (§3.3.5), r||s, 96 bytes.
    EcdsaP384Sha384,
    /// `ed25519` (§3.3.6).
    Ed25519,
    /// A JWS algorithm (§3.3.7), determined by a JWK, never by the `alg` parameter.
    Jws(JwsAlgorithm),
}

impl Algorithm {
    /// Every registry algorithm, in a stable order.
    pub const REGISTRY: [Algorithm; 6] = [
        Self::Ed25519,
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
        Self::RsaPssSha512,
        Self::RsaV15Sha256,
        Self::HmacSha256,
    ];

    /// The name: the registry name, or the JWA name for JWS algorithms.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::RsaV15Sha256 => "rsa-v1_5-sha256",
            Self::HmacSha256 => "hmac-sha256",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::Ed25519 => "ed25519",
            Self::Jws(j) => j.name(),
        }
    }

    /// Looks up a name of the HTTP Signature Algorithms registry (the only names the
    /// `alg` signature parameter may carry, §2.3).
    pub fn from_registry_name(name: &str) -> Option<Self> {
        Self::REGISTRY.into_iter().find(|a| a.name() == name)
    }

    /// True for the symmetric algorithm (`hmac-sha256`).
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HmacSha256)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    /// Registry names (`ed25519`, ...) or JWA names (`ES256`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_registry_name(s)
            .or_else(|| JwsAlgorithm::from_name(s).map(Self::Jws))
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::REGISTRY {
            assert_eq!(a.name().parse::<Algorithm>().unwrap(), a);
        }
        assert_eq!(
            "PS512".parse::<Algorithm>().unwrap(),
            Algorithm::Jws(JwsAlgorithm::Ps512)
        );
    }

    #[test]
    fn none_and_hmac_jws_are_refused() {
        assert!("none".parse::<Algorithm>().is_err());
        assert!("HS256".parse::<Algorithm>().is_err());
        assert_eq!(Algorithm::from_registry_name("ES256"), None);
    }
}
