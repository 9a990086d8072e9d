//! How a client authenticates at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2):
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt`, or `none` (a
//! public client names itself only).

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's credentials and how it presents them.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`.
    SecretBasic {
        /// `client_id`.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// `client_secret_post`.
    SecretPost {
        /// `client_id`.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// `private_key_jwt`: a short-lived JWT signed with the client's key, `aud` the
    /// authorization server's issuer.
    PrivateKeyJwt {
        /// `client_id`.
        client_id: String,
        /// The private key, PKCS#8 PEM.
        key_pem: String,
        /// `ES256`, `ES384`, `EdDSA`, `RS256` or `PS256`.
        alg: String,
    },
    /// A public client (`token_endpoint_auth_method: none`).
    None {
        /// `client_id`.
        client_id: String,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the key.
        f.debug_struct("ClientAuth")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish()
    }
}

/// Why the client's authentication could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// The algorithm is not one this client signs with.
    #[error("unsupported client assertion algorithm {0}")]
    Algorithm(String),
    /// The key does not load or sign.
    #[error("the private key cannot sign a client assertion: {0}")]
    Key(String),
}

impl ClientAuth {
    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        match self {
            Self::SecretBasic { client_id, .. }
            | Self::SecretPost { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// The RFC 7591 name of the method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::SecretBasic { .. } => "client_secret_basic",
            Self::SecretPost { .. } => "client_secret_post",
            Self::PrivateKeyJwt { .. } => "private_key_jwt",
            Self::None { .. } => "none",
        }
    }

    /// Whether these credentials prove the client's identity (a secret, or a private
    /// key that signs assertions): what must reach no authorization server but the
    /// one the client is registered at. A public client's `client_id` proves nothing.
    pub fn authenticates(&self) -> bool {
        !matches!(self, Self::None { .. })
    }

    /// The `(client_id, secret)` for an `Authorization: Basic` header, when that is
    /// the method.
    pub fn basic(&self) -> Option<(&str, &str)> {
        match self {
            Self::SecretBasic { client_id, secret } => Some((client_id, secret)),
            _ => None,
        }
    }

    /// The form parameters the method adds to a token request (empty for Basic).
    pub fn form_params(
        &self,
        issuer: &str,
        now: i64,
    ) -> Result<Vec<(&'static str, String)>, ClientAuthError> {
        Ok(match self {
            Self::SecretBasic { .. } => Vec::new(),
            Self::SecretPost { client_id, secret } => vec![
                ("client_id", client_id.clone()),
                ("client_secret", secret.clone()),
            ],
            Self::None { client_id } => vec![("client_id", client_id.clone())],
            Self::PrivateKeyJwt {
                client_id,
                key_pem,
                alg,
            } => vec![
                ("client_id", client_id.clone()),
                ("client_assertion_type", JWT_BEARER_ASSERTION.to_owned()),
                (
                    "client_assertion",
                    client_assertion(client_id, key_pem, alg, issuer, now)?,
                ),
            ],
        })
    }
}

/// An RFC 7523 §3 client assertion: `iss` = `sub` = the client, `aud` the issuer,
/// a fresh `jti`, valid for a minute.
fn client_assertion(
    client_id: &str,
    key_pem: &str,
    alg: &str,
    issuer: &str,
    now: i64,
) -> Result<String, ClientAuthError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    type FromPem = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;
    let (algorithm, from_pem): (Algorithm, FromPem) = match alg {
        "ES256" => (Algorithm::ES256, EncodingKey::from_ec_pem),
        "ES384" => (Algorithm::ES384, EncodingKey::from_ec_pem),
        "EdDSA" => (Algorithm::EdDSA, EncodingKey::from_ed_pem),
        "RS256" => (Algorithm::RS256, EncodingKey::from_rsa_pem),
        "PS256" => (Algorithm::PS256, EncodingKey::from_rsa_pem),
        other => return Err(ClientAuthError::Algorithm(other.to_owned())),
    };
    let key = from_pem(key_pem.as_bytes()).map_err(|e| ClientAuthError::Key(e.to_string()))?;
    let jti = mcp_auth_core::random_token::<16>()
        .map_err(|_| ClientAuthError::Key("no randomness".into()))?;
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": issuer,
        "jti": jti,
        "iat": now, "exp": now + 60,
    });
    let mut header = Header::new(algorithm);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| ClientAuthError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::AsSigningKey;
    use mcp_auth_httpsig::JwsAlgorithm;

    #[test]
    fn private_key_jwt_is_an_rfc_7523_assertion_for_the_issuer() {
        for (alg, name) in [
            (JwsAlgorithm::Es256, "ES256"),
            (JwsAlgorithm::EdDsa, "EdDSA"),
        ] {
            let key = AsSigningKey::generate(alg).unwrap();
            let auth = ClientAuth::PrivateKeyJwt {
                client_id: "bot".into(),
                key_pem: key.to_pkcs8_pem().unwrap(),
                alg: name.into(),
            };
            let params = auth.form_params("https://as.example", 1000).unwrap();
            assert_eq!(params[0], ("client_id", "bot".to_owned()));
            assert_eq!(params[1].1, JWT_BEARER_ASSERTION);
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
            let mut v = jsonwebtoken::Validation::new(
                jsonwebtoken::decode_header(&params[2].1).unwrap().alg,
            );
            v.set_audience(&["https://as.example"]);
            v.validate_exp = false;
            let claims = jsonwebtoken::decode::<serde_json::Value>(
                &params[2].1,
                &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
                &v,
            )
            .unwrap()
            .claims;
            assert_eq!(claims["iss"], "bot");
            assert_eq!(claims["sub"], "bot");
            assert_eq!(claims["exp"], 1060);
            assert!(claims["jti"].as_str().unwrap().len() >= 22);
        }
    }

    #[test]
    fn post_carries_the_secret_in_the_form_and_debug_never_shows_it() {
        let auth = ClientAuth::SecretPost {
            client_id: "bot".into(),
            secret: "s3cret".into(),
        };
        assert_eq!(
            auth.form_params("https://as.example", 0).unwrap(),
            [
                ("client_id", "bot".to_owned()),
                ("client_secret", "s3cret".to_owned())
            ]
        );
        assert!(auth.basic().is_none());
        assert!(!format!("{auth:?}").contains("s3cret"));
        let unknown = ClientAuth::PrivateKeyJwt {
            client_id: "bot".into(),
            key_pem: String::new(),
            alg: "HS256".into(),
        };
        assert!(matches!(
            unknown.form_params("https://as.example", 0),
            Err(ClientAuthError::Algorithm(_))
        ));
    }
}
