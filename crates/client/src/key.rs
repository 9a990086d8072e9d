//! The client's proof-of-possession key (HTTPSIG-C-6): generated once, kept in a
//! 0600 PKCS#8 file, never sent anywhere but as a public key.

use std::path::Path;

use mcp_auth_core::httpsig_profile::KeyBinding;
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, SigningKey};

/// A private key and how the AS knows it: introduced at runtime (`alg` + `pub`), or
/// pre-registered in the client's `jwks` under a `kid`.
#[derive(Debug, Clone)]
pub struct ProofKey {
    key: SigningKey,
    algorithm: Algorithm,
    binding: KeyBinding,
    kid: Option<String>,
}

/// A key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key is unusable.
    #[error(transparent)]
    Key(#[from] mcp_auth_httpsig::KeyError),
    /// The algorithm cannot be used for this binding.
    #[error("{0}")]
    Unsupported(String),
}

impl ProofKey {
    /// A new key introduced at runtime with `alg` (`ed25519`, `ecdsa-p256-sha256`,
    /// `ecdsa-p384-sha384`).
    pub fn generate_runtime(alg: Algorithm) -> Result<Self, KeyFileError> {
        let key = SigningKey::generate(alg)?;
        Self::runtime(key, alg)
    }

    /// A runtime key from an existing private key.
    pub fn runtime(key: SigningKey, alg: Algorithm) -> Result<Self, KeyFileError> {
        if !mcp_auth_core::cnf::RUNTIME_ALGORITHMS.contains(&alg) {
            return Err(KeyFileError::Unsupported(format!(
                "{alg} has no `pub` encoding; use ed25519, ecdsa-p256-sha256 or ecdsa-p384-sha384"
            )));
        }
        Ok(Self {
            key,
            algorithm: alg,
            binding: KeyBinding::Runtime,
            kid: None,
        })
    }

    /// A pre-registered key: `alg` must be a fully specified JWS algorithm
    /// (`Ed25519`, `ES256`, ...) and `kid` the key's id in the client's `jwks`.
    pub fn preregistered(
        key: SigningKey,
        alg: JwsAlgorithm,
        kid: impl Into<String>,
    ) -> Result<Self, KeyFileError> {
        if !mcp_auth_core::cnf::PREREGISTERED_ALGORITHMS.contains(&alg) {
            return Err(KeyFileError::Unsupported(format!(
                "{} is not a fully specified asymmetric JWS algorithm",
                alg.name()
            )));
        }
        let kid = kid.into();
        let key = key
            .with_algorithm(Algorithm::Jws(alg))?
            .with_kid(kid.clone());
        Ok(Self {
            key,
            algorithm: Algorithm::Jws(alg),
            binding: KeyBinding::Preregistered,
            kid: Some(kid),
        })
    }

    /// Reads a PKCS#8 PEM file written by [`ProofKey::save`] as a runtime key.
    pub fn load_runtime(path: &Path, alg: Algorithm) -> Result<Self, KeyFileError> {
        use mcp_auth_core::private_file::{Others, Owners, read_to_string};
        // Not a key another user could have put in place of ours.
        let text =
            read_to_string(path, 64 * 1024, Owners::Provided, Others::Read).map_err(|source| {
                KeyFileError::Io {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        Self::runtime(SigningKey::from_pem(&text)?, alg)
    }

    /// Writes the private key as PKCS#8 PEM to a new file readable by the owner
    /// only (0600). An existing file is never overwritten; a file that could not be
    /// written whole is removed.
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        let pem = self.key.to_pkcs8_pem()?;
        mcp_auth_core::private_file::write_new(path, pem.as_bytes()).map_err(|source| {
            KeyFileError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// The binding method, as registered (`httpsig_key_binding_method`).
    pub fn binding(&self) -> KeyBinding {
        self.binding
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` of a pre-registered key.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The private key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public JWK to register (with `kid` and the fully specified `alg` for a
    /// pre-registered key).
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = self.key.verifying_key().to_jwk();
        jwk.kid = self.kid.clone();
        if let Algorithm::Jws(a) = self.algorithm {
            jwk.alg = Some(a.name().to_owned());
        }
        jwk
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        self.key.verifying_key().thumbprint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_key_is_private_to_the_owner_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.pem");
        let key = ProofKey::generate_runtime(Algorithm::Ed25519).unwrap();
        key.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(key.save(&path), Err(KeyFileError::Io { .. })));
        let back = ProofKey::load_runtime(&path, Algorithm::Ed25519).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
    }

    #[test]
    fn runtime_keys_need_a_pub_encoding_and_preregistered_a_full_alg() {
        assert!(ProofKey::generate_runtime(Algorithm::RsaPssSha512).is_err());
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        assert!(ProofKey::preregistered(key.clone(), JwsAlgorithm::EdDsa, "k").is_err());
        let k = ProofKey::preregistered(key, JwsAlgorithm::Ed25519, "k1").unwrap();
        assert_eq!(k.public_jwk().alg.as_deref(), Some("Ed25519"));
        assert_eq!(k.public_jwk().kid.as_deref(), Some("k1"));
    }
}
