//! The confirmation claim `cnf` (RFC 7800): the key an access token is bound to.
//!
//! Three members are understood, and a confirmation carries exactly one of them
//! (draft-richer-oauth-httpsig-03 §6.1):
//!
//! - `htsk` (draft-richer-oauth-httpsig-03 §5): a key introduced at runtime in a
//!   token request's `pub` signature parameter, named by an "HTTP Signature
//!   Algorithms" registry entry;
//! - `jwk` (RFC 7800 §3.2): a pre-registered public JWK whose `alg` is a fully
//!   specified JWS algorithm (never the polymorphic `EdDSA`, draft §3.1);
//! - `jkt` (RFC 9449 §6.1): the thumbprint of a DPoP key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The runtime algorithms a `pub` key may be introduced with (draft §3.2, §4:
/// ECDSA and Ed25519; ML-DSA has no registry entry yet).
pub const RUNTIME_ALGORITHMS: [Algorithm; 3] = [
    Algorithm::Ed25519,
    Algorithm::EcdsaP256Sha256,
    Algorithm::EcdsaP384Sha384,
];

/// The JWS algorithms a pre-registered key may name: fully specified and asymmetric
/// (draft §3.1, RFC 9864).
pub const PREREGISTERED_ALGORITHMS: [JwsAlgorithm; 7] = [
    JwsAlgorithm::Ed25519,
    JwsAlgorithm::Es256,
    JwsAlgorithm::Es384,
    JwsAlgorithm::Ps256,
    JwsAlgorithm::Ps384,
    JwsAlgorithm::Ps512,
    JwsAlgorithm::Rs256,
];

/// The `htsk` member: an "HTTP Signature Algorithms" name and the raw `pub` octets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSignatureKey {
    /// The registry name (`ed25519`, `ecdsa-p256-sha256`, `ecdsa-p384-sha384`).
    pub alg: String,
    /// base64url (no padding) of the `pub` octets (draft §4).
    #[serde(rename = "pub")]
    pub public: String,
}

/// A token's confirmation: exactly one bound key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// A runtime-introduced key (`htsk`).
    Htsk(HttpSignatureKey),
    /// A pre-registered key (`jwk`), public members and `alg` only.
    Jwk(Box<Jwk>),
    /// A DPoP key thumbprint (`jkt`).
    Jkt(String),
}

/// Why a confirmation cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfirmationError {
    /// Not an object with exactly one of `htsk`, `jwk`, `jkt`.
    #[error("cnf must carry exactly one of htsk, jwk, jkt")]
    NotExactlyOne,
    /// A member does not have its required form.
    #[error("cnf.{member} is malformed: {reason}")]
    Malformed {
        /// The member.
        member: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The algorithm is not one this profile allows for that member.
    #[error("cnf.{member} names algorithm `{alg}`, which is not allowed")]
    AlgorithmNotAllowed {
        /// The member.
        member: &'static str,
        /// The algorithm named.
        alg: String,
    },
    /// The confirmation is a DPoP thumbprint, which names no key to verify with.
    #[error("cnf.jkt is a DPoP binding, not an HTTP message signature key")]
    NotASignatureKey,
}

impl Confirmation {
    /// The `htsk` confirmation of a runtime key (`alg` must be in
    /// [`RUNTIME_ALGORITHMS`]).
    pub fn runtime(key: &VerifyingKey, alg: Algorithm) -> Result<Self, ConfirmationError> {
        if !RUNTIME_ALGORITHMS.contains(&alg) {
            return Err(ConfirmationError::AlgorithmNotAllowed {
                member: "htsk",
                alg: alg.name().to_owned(),
            });
        }
        let raw = key.pub_bytes().ok_or(ConfirmationError::Malformed {
            member: "htsk",
            reason: "the key has no `pub` encoding".into(),
        })?;
        Ok(Self::Htsk(HttpSignatureKey {
            alg: alg.name().to_owned(),
            public: URL_SAFE_NO_PAD.encode(raw),
        }))
    }

    /// The `jwk` confirmation of a pre-registered key: its public members, `kty`,
    /// `crv` and `alg` (the `kid`, `use` and private members are dropped).
    pub fn preregistered(jwk: &Jwk) -> Result<Self, ConfirmationError> {
        let mut public = jwk.public();
        public.kid = None;
        public.use_ = None;
        let confirmation = Self::Jwk(Box::new(public));
        confirmation.verifying_key()?;
        Ok(confirmation)
    }

    /// The OAuth `token_type` of a token with this confirmation (or none): `DPoP` for
    /// `jkt` (RFC 9449 §5, §6.2), `httpsig` for the signature keys (draft §6),
    /// `Bearer` for an unbound token.
    pub fn token_type(confirmation: Option<&Self>) -> &'static str {
        match confirmation {
            None => "Bearer",
            Some(Self::Jkt(_)) => "DPoP",
            Some(_) => crate::httpsig_profile::TOKEN_TYPE,
        }
    }

    /// The member name (`htsk`, `jwk`, `jkt`).
    pub fn member(&self) -> &'static str {
        match self {
            Self::Htsk(_) => "htsk",
            Self::Jwk(_) => "jwk",
            Self::Jkt(_) => "jkt",
        }
    }

    /// The key and the algorithm to verify HTTP message signatures with: for `htsk`
    /// the registry algorithm it names, for `jwk` the JWS algorithm of its `alg`
    /// (RFC 9421 §3.3.7). Checked against the allow-lists on every call, so a token
    /// signed with some other algorithm by a misconfigured AS is still refused.
    pub fn verifying_key(&self) -> Result<VerifyingKey, ConfirmationError> {
        match self {
            Self::Htsk(h) => {
                let alg = Algorithm::from_registry_name(&h.alg)
                    .filter(|a| RUNTIME_ALGORITHMS.contains(a))
                    .ok_or_else(|| ConfirmationError::AlgorithmNotAllowed {
                        member: "htsk",
                        alg: h.alg.clone(),
                    })?;
                let raw = URL_SAFE_NO_PAD.decode(&h.public).map_err(|_| {
                    ConfirmationError::Malformed {
                        member: "htsk",
                        reason: "`pub` is not base64url without padding".into(),
                    }
                })?;
                VerifyingKey::from_pub(alg, &raw).map_err(|e| ConfirmationError::Malformed {
                    member: "htsk",
                    reason: e.to_string(),
                })
            }
            Self::Jwk(jwk) => {
                if jwk.is_private() {
                    return Err(ConfirmationError::Malformed {
                        member: "jwk",
                        reason: "a confirmation key must be public".into(),
                    });
                }
                let name = jwk.alg.as_deref().ok_or(ConfirmationError::Malformed {
                    member: "jwk",
                    reason: "`alg` is required".into(),
                })?;
                let allowed = JwsAlgorithm::from_name(name)
                    .filter(|a| PREREGISTERED_ALGORITHMS.contains(a))
                    .ok_or_else(|| ConfirmationError::AlgorithmNotAllowed {
                        member: "jwk",
                        alg: name.to_owned(),
                    })?;
                let key =
                    VerifyingKey::from_jwk(jwk).map_err(|e| ConfirmationError::Malformed {
                        member: "jwk",
                        reason: e.to_string(),
                    })?;
                debug_assert_eq!(key.algorithm(), Some(Algorithm::Jws(allowed)));
                Ok(key)
            }
            Self::Jkt(_) => Err(ConfirmationError::NotASignatureKey),
        }
    }
}

impl Serialize for Confirmation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::Htsk(h) => map.serialize_entry("htsk", h)?,
            Self::Jwk(j) => map.serialize_entry("jwk", j)?,
            Self::Jkt(t) => map.serialize_entry("jkt", t)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Confirmation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        Self::from_json(map).map_err(serde::de::Error::custom)
    }
}

impl Confirmation {
    /// Reads a `cnf` object: exactly one member, one of `htsk`, `jwk`, `jkt`.
    pub fn from_json(
        map: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, ConfirmationError> {
        let mut members = map.into_iter();
        let (Some((name, value)), None) = (members.next(), members.next()) else {
            return Err(ConfirmationError::NotExactlyOne);
        };
        let malformed = |member: &'static str, e: serde_json::Error| ConfirmationError::Malformed {
            member,
            reason: e.to_string(),
        };
        match name.as_str() {
            "htsk" => serde_json::from_value(value)
                .map(Self::Htsk)
                .map_err(|e| malformed("htsk", e)),
            "jwk" => serde_json::from_value::<Jwk>(value)
                .map(|j| Self::Jwk(Box::new(j)))
                .map_err(|e| malformed("jwk", e)),
            "jkt" => serde_json::from_value(value)
                .map(Self::Jkt)
                .map_err(|e| malformed("jkt", e)),
            _ => Err(ConfirmationError::NotExactlyOne),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_httpsig::SigningKey;

    #[test]
    fn draft_htsk_example_reads_as_an_ed25519_key() {
        // draft-richer-oauth-httpsig-03 §6.1, the runtime example.
        let cnf: Confirmation = serde_json::from_str(
            r#"{"htsk":{"alg":"ed25519","pub":"iuemcj_GhRHmY_yCsMlDNp3BQgPZDdG00VRsg_BgU3s"}}"#,
        )
        .unwrap();
        let key = cnf.verifying_key().unwrap();
        assert_eq!(key.algorithm(), Some(Algorithm::Ed25519));
    }

    #[test]
    fn draft_jwk_example_reads_with_its_jws_algorithm() {
        // draft §8, the pre-registered ES256 example.
        let cnf: Confirmation = serde_json::from_str(
            r#"{"jwk":{"kty":"EC","crv":"P-256","alg":"ES256",
              "x":"R4YT13Ra4frLCH75BdM53OEHYi_YY2eQgR43BWWQpVw",
              "y":"UFVFPBGODokYW06OXCqDskhZSU3RpUI6fR8_OCz2doo"}}"#,
        )
        .unwrap();
        assert_eq!(
            cnf.verifying_key().unwrap().algorithm(),
            Some(Algorithm::Jws(JwsAlgorithm::Es256))
        );
    }

    #[test]
    fn confirmation_must_carry_exactly_one_member() {
        for text in [
            r#"{}"#,
            r#"{"jkt":"a","htsk":{"alg":"ed25519","pub":"AA"}}"#,
            r#"{"x5t#S256":"abc"}"#,
        ] {
            let err = serde_json::from_str::<Confirmation>(text).unwrap_err();
            assert!(err.to_string().contains("exactly one"), "{text}: {err}");
        }
    }

    #[test]
    fn polymorphic_and_symmetric_algorithms_are_refused() {
        let eddsa = Confirmation::Jwk(Box::new(
            Jwk::from_json(
                r#"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"iuemcj_GhRHmY_yCsMlDNp3BQgPZDdG00VRsg_BgU3s"}"#,
            )
            .unwrap(),
        ));
        assert_eq!(
            eddsa.verifying_key().unwrap_err(),
            ConfirmationError::AlgorithmNotAllowed {
                member: "jwk",
                alg: "EdDSA".into()
            }
        );
        let hmac = Confirmation::Htsk(HttpSignatureKey {
            alg: "hmac-sha256".into(),
            public: "AAAA".into(),
        });
        assert!(matches!(
            hmac.verifying_key(),
            Err(ConfirmationError::AlgorithmNotAllowed { member: "htsk", .. })
        ));
        let jkt = Confirmation::Jkt("abc".into());
        assert_eq!(
            jkt.verifying_key().unwrap_err(),
            ConfirmationError::NotASignatureKey
        );
    }

    #[test]
    fn runtime_confirmation_round_trips_for_each_algorithm() {
        for alg in RUNTIME_ALGORITHMS {
            let key = SigningKey::generate(alg).unwrap().verifying_key();
            let cnf = Confirmation::runtime(&key, alg).unwrap();
            let text = serde_json::to_string(&cnf).unwrap();
            let back: Confirmation = serde_json::from_str(&text).unwrap();
            assert_eq!(back, cnf);
            assert_eq!(back.verifying_key().unwrap().thumbprint(), key.thumbprint());
        }
    }

    #[test]
    fn malformed_pub_is_refused() {
        let short = Confirmation::Htsk(HttpSignatureKey {
            alg: "ed25519".into(),
            public: "AAAA".into(),
        });
        assert!(matches!(
            short.verifying_key(),
            Err(ConfirmationError::Malformed { member: "htsk", .. })
        ));
    }
}
