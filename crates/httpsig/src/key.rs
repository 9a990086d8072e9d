//! Keys for signing and verifying: Ed25519, ECDSA P-256/P-384, RSA and HMAC, read
//! from JWK, PEM (PKCS#8, SPKI, SEC1, PKCS#1) or raw `pub` bytes.
//!
//! Verification uses the fastest correct primitive measured on the target machine
//! (docs/architecture.md, "Cryptography"): ed25519-dalek's strict verification for Ed25519, aws-lc-rs for
//! everything else, with public keys parsed once.

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use aws_lc_rs::{hmac, rsa};
use pkcs8::der::Decode as _;

use crate::alg::{Algorithm, JwsAlgorithm};
use crate::error::KeyError;
use crate::jwk::{Jwk, b64u, enc};

const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";

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
    fn describe(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::EcP256 => "P-256",
            Self::EcP384 => "P-384",
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
}

#[derive(Clone)]
struct Secret {
    key: std::sync::Arc<hmac::Key>,
    bytes: Vec<u8>,
}

#[derive(Clone)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    Ec {
        kind: KeyKind,
        point: Vec<u8>,
        parsed: lc::ParsedPublicKey,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Hmac(Secret),
}

/// A key that verifies signatures. Cheap to clone.
#[derive(Clone)]
pub struct VerifyingKey {
    public: Public,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kind", &self.kind())
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish()
    }
}

impl VerifyingKey {
    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match &self.public {
            Public::Ed25519(_) => KeyKind::Ed25519,
            Public::Ec { kind, .. } => *kind,
            Public::Rsa { .. } => KeyKind::Rsa,
            Public::Hmac(_) => KeyKind::Hmac,
        }
    }

    /// The algorithm the key itself names (a JWK `alg`), if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Fixes the key's algorithm (as static configuration would), checked against the
    /// key kind.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        check_kind(self.kind(), alg)?;
        self.algorithm = Some(alg);
        Ok(self)
    }

    /// The key id, if known (JWK `kid`).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A shared secret for `hmac-sha256`.
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            public: Public::Hmac(new_secret(secret)),
            algorithm: Some(Algorithm::HmacSha256),
            kid: None,
        }
    }

    /// A public key from the raw bytes of the `pub` signature parameter
    /// (draft-richer-oauth-httpsig-03 §4.2): 32 bytes for `ed25519`, the 65- or
    /// 97-byte uncompressed point for `ecdsa-p256-sha256` / `ecdsa-p384-sha384`.
    pub fn from_pub(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let public = match alg {
            Algorithm::Ed25519 => ed25519_from_bytes(bytes)?,
            Algorithm::EcdsaP256Sha256 => ec_from_point(KeyKind::EcP256, bytes, 65)?,
            Algorithm::EcdsaP384Sha384 => ec_from_point(KeyKind::EcP384, bytes, 97)?,
            other => {
                return Err(KeyError::Unsupported(format!(
                    "no `pub` encoding is defined for {other}"
                )));
            }
        };
        Ok(Self {
            public,
            algorithm: Some(alg),
            kid: None,
        })
    }

    /// The raw public key as carried in `pub` (Ed25519 `A`, or the uncompressed EC
    /// point); `None` for RSA and HMAC keys.
    pub fn pub_bytes(&self) -> Option<Vec<u8>> {
        match &self.public {
            Public::Ed25519(k) => Some(k.as_bytes().to_vec()),
            Public::Ec { point, .. } => Some(point.clone()),
            _ => None,
        }
    }

    /// Reads a JWK (public or private members; private ones are ignored).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let public = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => ed25519_from_bytes(&b64u("x", &jwk.x)?)?,
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (kind, len) = if crv == "P-256" {
                    (KeyKind::EcP256, 32)
                } else {
                    (KeyKind::EcP384, 48)
                };
                let x = b64u("x", &jwk.x)?;
                let y = b64u("y", &jwk.y)?;
                if x.len() != len || y.len() != len {
                    return Err(KeyError::Invalid(format!(
                        "{crv} coordinates must be {len} bytes"
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ec_from_point(kind, &point, 1 + 2 * len)?
            }
            ("RSA", _) => rsa_public(b64u("n", &jwk.n)?, b64u("e", &jwk.e)?)?,
            ("oct", _) => Public::Hmac(new_secret(&b64u("k", &jwk.k)?)),
            (kty, crv) => {
                return Err(KeyError::Unsupported(format!(
                    "JWK kty `{kty}` crv `{}`",
                    crv.unwrap_or("-")
                )));
            }
        };
        let key = Self {
            public,
            algorithm: None,
            kid: jwk.kid.clone(),
        };
        match jwk.alg.as_deref() {
            Some(alg) => {
                let alg = jwk_algorithm(alg)?;
                key.with_algorithm(alg)
            }
            None => Ok(key),
        }
    }

    /// Reads a PEM public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`) or the public
    /// half of a PEM private key.
    ///
    /// A file with several blocks (a public and a private key together) is read for its
    /// first public key block, else its first private key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(text)?;
        let block = blocks
            .iter()
            .find(|b| b.tag().contains("PUBLIC"))
            .unwrap_or(&blocks[0]);
        match block.tag() {
            "PUBLIC KEY" => from_spki(block.contents()),
            "RSA PUBLIC KEY" => {
                let key = rsa::PublicKey::from_der(block.contents())
                    .map_err(|e| KeyError::Invalid(format!("PKCS#1 public key: {e}")))?;
                Ok(Self {
                    public: rsa_public(
                        key.modulus().big_endian_without_leading_zero().to_vec(),
                        key.exponent().big_endian_without_leading_zero().to_vec(),
                    )?,
                    algorithm: None,
                    kid: None,
                })
            }
            _ => Ok(SigningKey::from_pem(&pem::encode(block))?.verifying_key()),
        }
    }

    /// Reads a key file: a JWK (JSON) or PEM, public or private.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        if text.trim_start().starts_with('{') {
            Self::from_jwk(&Jwk::from_json(text)?)
        } else {
            Self::from_pem(text)
        }
    }

    /// The public JWK (for HMAC keys: the `oct` key itself).
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = match &self.public {
            Public::Ed25519(k) => Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(enc(k.as_bytes())),
                ..Jwk::default()
            },
            Public::Ec { kind, point, .. } => {
                let len = (point.len() - 1) / 2;
                Jwk {
                    kty: "EC".into(),
                    crv: Some(
                        if *kind == KeyKind::EcP256 {
                            "P-256"
                        } else {
                            "P-384"
                        }
                        .into(),
                    ),
                    x: Some(enc(&point[1..=len])),
                    y: Some(enc(&point[1 + len..])),
                    ..Jwk::default()
                }
            }
            Public::Rsa { n, e } => Jwk {
                kty: "RSA".into(),
                n: Some(enc(n)),
                e: Some(enc(e)),
                ..Jwk::default()
            },
            Public::Hmac(s) => Jwk {
                kty: "oct".into(),
                k: Some(enc(&s.bytes)),
                ..Jwk::default()
            },
        };
        jwk.kid = self.kid.clone();
        if let Some(Algorithm::Jws(j)) = self.algorithm {
            jwk.alg = Some(j.name().to_owned());
        }
        jwk
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        // INVARIANT: to_jwk always fills the members the thumbprint needs.
        self.to_jwk().thumbprint().unwrap_or_default()
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
        check_kind(self.kind(), alg)?;
        Ok(match &self.public {
            Public::Ed25519(k) => match ed25519_dalek::Signature::from_slice(signature) {
                // Strict verification: rejects non-canonical S and small-order keys, so a
                // signature cannot be malleated into a second valid one.
                Ok(sig) => k.verify_strict(message, &sig).is_ok(),
                Err(_) => false,
            },
            Public::Ec { parsed, .. } => parsed.verify_sig(message, signature).is_ok(),
            Public::Rsa { n, e } => {
                let components = rsa::PublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                components
                    .verify(rsa_params(alg)?, message, signature)
                    .is_ok()
            }
            // Constant time (aws-lc-rs `hmac::verify`).
            Public::Hmac(s) => hmac::verify(&s.key, message, signature).is_ok(),
        })
    }
}

#[derive(Clone)]
enum Private {
    Ed25519(std::sync::Arc<lc::Ed25519KeyPair>),
    Ec(KeyKind, std::sync::Arc<lc::EcdsaKeyPair>),
    Rsa(std::sync::Arc<rsa::KeyPair>),
    Hmac(Secret),
}

/// A key that signs.
#[derive(Clone)]
pub struct SigningKey {
    private: Private,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind())
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key for `alg` (RSA keys are 2048 bits).
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        use JwsAlgorithm as J;
        let unspecified = |_| KeyError::Invalid("key generation failed".into());
        let private = match alg {
            Algorithm::Ed25519 | Algorithm::Jws(J::Ed25519 | J::EdDsa) => Private::Ed25519(
                std::sync::Arc::new(lc::Ed25519KeyPair::generate().map_err(unspecified)?),
            ),
            Algorithm::EcdsaP256Sha256 | Algorithm::Jws(J::Es256) => Private::Ec(
                KeyKind::EcP256,
                std::sync::Arc::new(
                    lc::EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING)
                        .map_err(unspecified)?,
                ),
            ),
            Algorithm::EcdsaP384Sha384 | Algorithm::Jws(J::Es384) => Private::Ec(
                KeyKind::EcP384,
                std::sync::Arc::new(
                    lc::EcdsaKeyPair::generate(&lc::ECDSA_P384_SHA384_FIXED_SIGNING)
                        .map_err(unspecified)?,
                ),
            ),
            Algorithm::HmacSha256 => {
                let mut secret = [0u8; 32];
                aws_lc_rs::rand::fill(&mut secret).map_err(unspecified)?;
                Private::Hmac(new_secret(&secret))
            }
            _ => Private::Rsa(std::sync::Arc::new(
                rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(unspecified)?,
            )),
        };
        Ok(Self {
            private,
            algorithm: Some(alg),
            kid: None,
        })
    }

    /// A shared secret for `hmac-sha256`.
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            private: Private::Hmac(new_secret(secret)),
            algorithm: Some(Algorithm::HmacSha256),
            kid: None,
        }
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match &self.private {
            Private::Ed25519(_) => KeyKind::Ed25519,
            Private::Ec(kind, _) => *kind,
            Private::Rsa(_) => KeyKind::Rsa,
            Private::Hmac(_) => KeyKind::Hmac,
        }
    }

    /// The algorithm the key names (JWK `alg`, or the one it was generated for).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Fixes the key's algorithm, checked against the key kind.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        check_kind(self.kind(), alg)?;
        self.algorithm = Some(alg);
        Ok(self)
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id, if known.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The matching verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let public = match &self.private {
            Private::Ed25519(kp) => {
                let bytes = kp.public_key().as_ref();
                // INVARIANT: aws-lc-rs Ed25519 public keys are 32 valid bytes.
                match ed25519_from_bytes(bytes) {
                    Ok(p) => p,
                    Err(_) => unreachable_public(),
                }
            }
            Private::Ec(kind, kp) => {
                let point = kp.public_key().as_ref().to_vec();
                let len = point.len();
                match ec_from_point(*kind, &point, len) {
                    Ok(p) => p,
                    Err(_) => unreachable_public(),
                }
            }
            Private::Rsa(kp) => {
                let pk = kp.public_key();
                Public::Rsa {
                    n: pk.modulus().big_endian_without_leading_zero().to_vec(),
                    e: pk.exponent().big_endian_without_leading_zero().to_vec(),
                }
            }
            Private::Hmac(s) => Public::Hmac(s.clone()),
        };
        VerifyingKey {
            public,
            algorithm: self.algorithm,
            kid: self.kid.clone(),
        }
    }

    /// Signs `message` with `alg`.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        check_kind(self.kind(), alg)?;
        let rng = SystemRandom::new();
        match &self.private {
            Private::Ed25519(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Private::Ec(_, kp) => kp
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SigningFailed),
            Private::Rsa(kp) => {
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(rsa_encoding(alg)?, &rng, message, &mut out)
                    .map_err(|_| KeyError::SigningFailed)?;
                Ok(out)
            }
            Private::Hmac(s) => Ok(hmac::sign(&s.key, message).as_ref().to_vec()),
        }
    }

    /// Reads a PEM private key: PKCS#8 `PRIVATE KEY` (Ed25519, EC, RSA, RSA-PSS), SEC1
    /// `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`.
    ///
    /// In a file with several blocks, the first private key block is used.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(text)?;
        let block = blocks
            .iter()
            .find(|b| b.tag().contains("PRIVATE"))
            .unwrap_or(&blocks[0]);
        let der = block.contents();
        let private = match block.tag() {
            "PRIVATE KEY" => from_pkcs8(der)?,
            "EC PRIVATE KEY" => {
                let (kind, alg) = match lc::EcdsaKeyPair::from_private_key_der(
                    &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                ) {
                    Ok(kp) => (KeyKind::EcP256, kp),
                    Err(_) => (
                        KeyKind::EcP384,
                        lc::EcdsaKeyPair::from_private_key_der(
                            &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
                            der,
                        )
                        .map_err(|e| KeyError::Invalid(format!("SEC1 EC key: {e}")))?,
                    ),
                };
                Private::Ec(kind, std::sync::Arc::new(alg))
            }
            "RSA PRIVATE KEY" => Private::Rsa(std::sync::Arc::new(
                rsa::KeyPair::from_der(der)
                    .map_err(|e| KeyError::Invalid(format!("PKCS#1 RSA key: {e}")))?,
            )),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(KeyError::Format(
                    "this is a public key; signing needs the private key".into(),
                ));
            }
            other => return Err(KeyError::Format(format!("unsupported PEM block `{other}`"))),
        };
        Ok(Self {
            private,
            algorithm: None,
            kid: None,
        })
    }

    /// Reads a private JWK (`OKP` Ed25519, `EC` P-256/P-384, `RSA` with CRT members,
    /// `oct`).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let private = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => Private::Ed25519(std::sync::Arc::new(
                lc::Ed25519KeyPair::from_seed_and_public_key(
                    &b64u("d", &jwk.d)?,
                    &b64u("x", &jwk.x)?,
                )
                .map_err(|e| KeyError::Invalid(format!("Ed25519 JWK: {e}")))?,
            )),
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (kind, alg) = if crv == "P-256" {
                    (KeyKind::EcP256, &lc::ECDSA_P256_SHA256_FIXED_SIGNING)
                } else {
                    (KeyKind::EcP384, &lc::ECDSA_P384_SHA384_FIXED_SIGNING)
                };
                let mut point = vec![4u8];
                point.extend_from_slice(&b64u("x", &jwk.x)?);
                point.extend_from_slice(&b64u("y", &jwk.y)?);
                let kp = lc::EcdsaKeyPair::from_private_key_and_public_key(
                    alg,
                    &b64u("d", &jwk.d)?,
                    &point,
                )
                .map_err(|e| KeyError::Invalid(format!("{crv} JWK: {e}")))?;
                Private::Ec(kind, std::sync::Arc::new(kp))
            }
            ("RSA", _) => {
                let components = rsa::KeyPairComponents {
                    public_key: rsa::PublicKeyComponents {
                        n: b64u("n", &jwk.n)?,
                        e: b64u("e", &jwk.e)?,
                    },
                    d: b64u("d", &jwk.d)?,
                    p: b64u("p", &jwk.p)?,
                    q: b64u("q", &jwk.q)?,
                    dP: b64u("dp", &jwk.dp)?,
                    dQ: b64u("dq", &jwk.dq)?,
                    qInv: b64u("qi", &jwk.qi)?,
                };
                Private::Rsa(std::sync::Arc::new(
                    rsa::KeyPair::from_components(&components)
                        .map_err(|e| KeyError::Invalid(format!("RSA JWK: {e}")))?,
                ))
            }
            ("oct", _) => Private::Hmac(new_secret(&b64u("k", &jwk.k)?)),
            (kty, crv) => {
                return Err(KeyError::Unsupported(format!(
                    "JWK kty `{kty}` crv `{}`",
                    crv.unwrap_or("-")
                )));
            }
        };
        let key = Self {
            private,
            algorithm: None,
            kid: jwk.kid.clone(),
        };
        match jwk.alg.as_deref() {
            Some(alg) => key.with_algorithm(jwk_algorithm(alg)?),
            None => Ok(key),
        }
    }

    /// Reads a key file: a private JWK (JSON) or a PEM private key.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        if text.trim_start().starts_with('{') {
            Self::from_jwk(&Jwk::from_json(text)?)
        } else {
            Self::from_pem(text)
        }
    }

    /// The private JWK. RSA private keys are written as PEM only.
    pub fn to_private_jwk(&self) -> Result<Jwk, KeyError> {
        let mut jwk = self.verifying_key().to_jwk();
        match &self.private {
            Private::Ed25519(kp) => {
                let seed = kp.seed().map_err(|_| KeyError::Invalid("no seed".into()))?;
                let bytes =
                    AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin<'_>>::as_be_bytes(&seed)
                        .map_err(|_| KeyError::Invalid("no seed".into()))?;
                jwk.d = Some(enc(bytes.as_ref()));
            }
            Private::Ec(_, kp) => {
                let d = AsBigEndian::<aws_lc_rs::encoding::EcPrivateKeyBin<'_>>::as_be_bytes(
                    &kp.private_key(),
                )
                .map_err(|_| KeyError::Invalid("EC private key".into()))?;
                jwk.d = Some(enc(d.as_ref()));
            }
            Private::Rsa(_) => {
                return Err(KeyError::Unsupported(
                    "RSA private keys are written as PEM".into(),
                ));
            }
            Private::Hmac(_) => {}
        }
        if let Some(alg) = self.algorithm
            && let Algorithm::Jws(j) = alg
        {
            jwk.alg = Some(j.name().to_owned());
        }
        Ok(jwk)
    }

    /// PKCS#8 PEM of the private key (HMAC secrets have no PEM form).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let fail = |_| KeyError::Invalid("PKCS#8 encoding failed".into());
        let der: Vec<u8> = match &self.private {
            Private::Ed25519(kp) => {
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(kp.as_ref())
                    .map_err(fail)?
                    .as_ref()
                    .to_vec()
            }
            Private::Ec(_, kp) => kp.to_pkcs8v1().map_err(fail)?.as_ref().to_vec(),
            Private::Rsa(kp) => AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(kp.as_ref())
                .map_err(fail)?
                .as_ref()
                .to_vec(),
            Private::Hmac(_) => {
                return Err(KeyError::Unsupported(
                    "shared secrets are written as JWK".into(),
                ));
            }
        };
        Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
    }

    /// SPKI PEM of the public key (HMAC secrets have no PEM form).
    pub fn to_public_pem(&self) -> Result<String, KeyError> {
        let fail = |_| KeyError::Invalid("SPKI encoding failed".into());
        let der: Vec<u8> = match &self.private {
            Private::Ed25519(kp) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(kp.public_key())
                    .map_err(fail)?
                    .as_ref()
                    .to_vec()
            }
            Private::Ec(_, kp) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(kp.public_key())
                    .map_err(fail)?
                    .as_ref()
                    .to_vec()
            }
            Private::Rsa(kp) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(kp.public_key())
                    .map_err(fail)?
                    .as_ref()
                    .to_vec()
            }
            Private::Hmac(_) => {
                return Err(KeyError::Unsupported(
                    "shared secrets are written as JWK".into(),
                ));
            }
        };
        Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }
}

/// Every PEM block of `text`; at least one.
fn pem_blocks(text: &str) -> Result<Vec<pem::Pem>, KeyError> {
    let blocks = pem::parse_many(text).map_err(|e| KeyError::Format(format!("PEM: {e}")))?;
    if blocks.is_empty() {
        return Err(KeyError::Format(
            "no PEM block (-----BEGIN ...-----) and not a JWK".into(),
        ));
    }
    Ok(blocks)
}

fn unreachable_public() -> Public {
    // Only reachable if aws-lc-rs hands out a public key it cannot itself parse; an
    // HMAC key with no secret then fails every verification instead of panicking.
    Public::Hmac(new_secret(&[]))
}

fn new_secret(secret: &[u8]) -> Secret {
    Secret {
        key: std::sync::Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
        bytes: secret.to_vec(),
    }
}

fn check_kind(kind: KeyKind, alg: Algorithm) -> Result<(), KeyError> {
    if kind.supports(alg) {
        Ok(())
    } else {
        Err(KeyError::AlgorithmMismatch {
            alg: alg.name().to_owned(),
            key: kind.describe(),
        })
    }
}

/// A JWK `alg`: a JWA name, or (leniently) a registry name.
fn jwk_algorithm(name: &str) -> Result<Algorithm, KeyError> {
    JwsAlgorithm::from_name(name)
        .map(Algorithm::Jws)
        .or_else(|| Algorithm::from_registry_name(name))
        .ok_or_else(|| KeyError::UnknownAlgorithm(name.to_owned()))
}

fn ed25519_from_bytes(bytes: &[u8]) -> Result<Public, KeyError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Invalid("an Ed25519 public key is 32 bytes".into()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr)
        .map(Public::Ed25519)
        .map_err(|_| KeyError::Invalid("not a valid Ed25519 public key".into()))
}

fn ec_from_point(kind: KeyKind, point: &[u8], len: usize) -> Result<Public, KeyError> {
    if point.len() != len || point.first() != Some(&4) {
        return Err(KeyError::Invalid(format!(
            "a {} public key is the {len}-byte uncompressed point",
            kind.describe()
        )));
    }
    let alg: &'static dyn lc::VerificationAlgorithm = if kind == KeyKind::EcP256 {
        &lc::ECDSA_P256_SHA256_FIXED
    } else {
        &lc::ECDSA_P384_SHA384_FIXED
    };
    let parsed = lc::ParsedPublicKey::new(alg, point)
        .map_err(|_| KeyError::Invalid(format!("not a point on {}", kind.describe())))?;
    Ok(Public::Ec {
        kind,
        point: point.to_vec(),
        parsed,
    })
}

fn rsa_public(n: Vec<u8>, e: Vec<u8>) -> Result<Public, KeyError> {
    let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
    let bits = n.len() * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::Unsupported(format!(
            "RSA keys must be 2048 to 8192 bits, this one is {bits}"
        )));
    }
    let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
    Ok(Public::Rsa { n, e })
}

fn rsa_params(alg: Algorithm) -> Result<&'static rsa::RsaParameters, KeyError> {
    use JwsAlgorithm as J;
    Ok(match alg {
        Algorithm::RsaPssSha512 | Algorithm::Jws(J::Ps512) => &lc::RSA_PSS_2048_8192_SHA512,
        Algorithm::Jws(J::Ps384) => &lc::RSA_PSS_2048_8192_SHA384,
        Algorithm::Jws(J::Ps256) => &lc::RSA_PSS_2048_8192_SHA256,
        Algorithm::RsaV15Sha256 | Algorithm::Jws(J::Rs256) => &lc::RSA_PKCS1_2048_8192_SHA256,
        other => {
            return Err(KeyError::AlgorithmMismatch {
                alg: other.name().to_owned(),
                key: "RSA",
            });
        }
    })
}

fn rsa_encoding(alg: Algorithm) -> Result<&'static dyn lc::RsaEncoding, KeyError> {
    use JwsAlgorithm as J;
    Ok(match alg {
        Algorithm::RsaPssSha512 | Algorithm::Jws(J::Ps512) => &lc::RSA_PSS_SHA512,
        Algorithm::Jws(J::Ps384) => &lc::RSA_PSS_SHA384,
        Algorithm::Jws(J::Ps256) => &lc::RSA_PSS_SHA256,
        Algorithm::RsaV15Sha256 | Algorithm::Jws(J::Rs256) => &lc::RSA_PKCS1_SHA256,
        other => {
            return Err(KeyError::AlgorithmMismatch {
                alg: other.name().to_owned(),
                key: "RSA",
            });
        }
    })
}

fn from_spki(der: &[u8]) -> Result<VerifyingKey, KeyError> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| KeyError::Format(format!("SPKI: {e}")))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Invalid("SPKI key bits are not whole bytes".into()))?;
    let oid = spki.algorithm.oid.to_string();
    let public = match oid.as_str() {
        OID_ED25519 => ed25519_from_bytes(bits)?,
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyError::Invalid("EC key without a named curve".into()))?
                .to_string();
            match curve.as_str() {
                OID_P256 => ec_from_point(KeyKind::EcP256, bits, 65)?,
                OID_P384 => ec_from_point(KeyKind::EcP384, bits, 97)?,
                other => return Err(KeyError::Unsupported(format!("EC curve {other}"))),
            }
        }
        OID_RSA | OID_RSA_PSS => {
            let key = rsa::PublicKey::from_der(bits)
                .map_err(|e| KeyError::Invalid(format!("RSA public key: {e}")))?;
            rsa_public(
                key.modulus().big_endian_without_leading_zero().to_vec(),
                key.exponent().big_endian_without_leading_zero().to_vec(),
            )?
        }
        other => {
            return Err(KeyError::Unsupported(format!(
                "public key algorithm {other}"
            )));
        }
    };
    Ok(VerifyingKey {
        public,
        algorithm: None,
        kid: None,
    })
}

fn from_pkcs8(der: &[u8]) -> Result<Private, KeyError> {
    let info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|e| KeyError::Format(format!("PKCS#8: {e}")))?;
    let oid = info.algorithm.oid.to_string();
    let invalid =
        |what: &str, e: aws_lc_rs::error::KeyRejected| KeyError::Invalid(format!("{what}: {e}"));
    Ok(match oid.as_str() {
        OID_ED25519 => Private::Ed25519(std::sync::Arc::new(
            lc::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| invalid("Ed25519 key", e))?,
        )),
        OID_EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyError::Invalid("EC key without a named curve".into()))?
                .to_string();
            let (kind, alg) = match curve.as_str() {
                OID_P256 => (KeyKind::EcP256, &lc::ECDSA_P256_SHA256_FIXED_SIGNING),
                OID_P384 => (KeyKind::EcP384, &lc::ECDSA_P384_SHA384_FIXED_SIGNING),
                other => return Err(KeyError::Unsupported(format!("EC curve {other}"))),
            };
            Private::Ec(
                kind,
                std::sync::Arc::new(
                    lc::EcdsaKeyPair::from_pkcs8(alg, der).map_err(|e| invalid("EC key", e))?,
                ),
            )
        }
        OID_RSA => Private::Rsa(std::sync::Arc::new(
            rsa::KeyPair::from_pkcs8(der).map_err(|e| invalid("RSA key", e))?,
        )),
        // id-RSASSA-PSS keys (RFC 9421's test-key-rsa-pss): the inner key is a
        // plain PKCS#1 RSAPrivateKey.
        OID_RSA_PSS => Private::Rsa(std::sync::Arc::new(
            rsa::KeyPair::from_der(info.private_key).map_err(|e| invalid("RSA-PSS key", e))?,
        )),
        other => {
            return Err(KeyError::Unsupported(format!(
                "private key algorithm {other}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
