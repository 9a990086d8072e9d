//! Access tokens the checker makes itself (`--issuer-key`): valid ones, to show the
//! server accepts what it should, and deliberately broken ones (another audience,
//! expired, `alg: none`, HMAC keyed with the public key, ...), each made from the
//! valid one by one change, so a refusal can only be for that change.
//!
//! The server under test must trust the issuer and its key; `mcp-auth conformance
//! issuer` serves the metadata and JWKS for that (see [`crate::issuer`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Map, Value, json};

/// Why a key cannot mint.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The PEM is not a private key.
    #[error("not a private key in PEM: {0}")]
    Key(String),
    /// A key of a kind no JWS algorithm here uses (HMAC).
    #[error("the key is not an Ed25519, P-256 or RSA key")]
    Kind,
}

/// Signs tokens as an issuer.
#[derive(Debug, Clone)]
pub struct Minter {
    key: SigningKey,
    alg: JwsAlgorithm,
    kid: String,
    issuer: String,
    public: Value,
}

/// The header and claims of a token before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl Minter {
    /// A minter for `issuer` with the private key in `pem` (PKCS#8: Ed25519, P-256 or
    /// RSA; the JWS algorithm follows the key: `EdDSA`, `ES256`, `RS256`). The `kid`
    /// is the key's RFC 7638 thumbprint.
    pub fn from_pem(pem: &str, issuer: &str) -> Result<Self, MintError> {
        let key = SigningKey::from_pem(pem).map_err(|e| MintError::Key(e.to_string()))?;
        let verifying = key.verifying_key();
        let mut public = serde_json::to_value(verifying.to_jwk()).unwrap_or(Value::Null);
        let alg = match (public["kty"].as_str(), public["crv"].as_str()) {
            (Some("OKP"), Some("Ed25519")) => JwsAlgorithm::EdDsa,
            (Some("EC"), Some("P-256")) => JwsAlgorithm::Es256,
            (Some("RSA"), _) => JwsAlgorithm::Rs256,
            _ => return Err(MintError::Kind),
        };
        let kid = verifying.thumbprint();
        public["kid"] = json!(kid);
        public["alg"] = json!(alg.name());
        public["use"] = json!("sig");
        Ok(Self {
            key,
            alg,
            kid,
            issuer: issuer.to_owned(),
            public,
        })
    }

    /// The JWS algorithm of the key (`EdDSA`, `ES256` or `RS256`).
    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// The issuer the tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` of the key: its RFC 7638 thumbprint, as the JWK Set names it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS `input` (`header.claims`, already encoded) with this key's signature
    /// appended: for tokens whose JSON a probe writes by hand (a member repeated,
    /// which no JSON map can hold).
    pub fn sign_input(&self, input: &str) -> String {
        let signature = self
            .key
            .sign(Algorithm::Jws(self.alg), input.as_bytes())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The JWK Set with the public key, as the issuer publishes it.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public] })
    }

    /// The public key as a JWK (what an HMAC-confusion attack keys HS256 with).
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// A valid RFC 9068 access token for `audience` with `scope` (none when empty),
    /// valid from now for five minutes.
    pub fn valid(&self, audience: &str, scope: &str, now: i64) -> Unsigned {
        let header = json!({"alg": self.alg.name(), "typ": "at+jwt", "kid": self.kid});
        let mut claims = json!({
            "iss": self.issuer,
            "sub": "mcp-auth-conformance",
            "aud": audience,
            "client_id": "mcp-auth-conformance",
            "iat": now,
            "exp": now + 300,
            "jti": format!("conformance-{now}-{}", random_suffix()),
        });
        if !scope.is_empty() {
            claims["scope"] = json!(scope);
        }
        Unsigned {
            header: object(header),
            claims: object(claims),
        }
    }

    /// Signs `token` with the issuer's key, whatever its header says.
    pub fn sign(&self, token: &Unsigned) -> String {
        let input = signing_input(token);
        let signature = self
            .key
            .sign(Algorithm::Jws(self.alg), input.as_bytes())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// `token` unsigned, as `alg: none` writes it (an empty signature).
    pub fn unsecured(&self, token: &Unsigned) -> String {
        let mut token = token.clone();
        token.header.insert("alg".into(), json!("none"));
        format!("{}.", signing_input(&token))
    }

    /// `token` with `alg: HS256`, keyed with the issuer's public JWK as the shared
    /// secret (RFC 8725 §2.1: the algorithm confusion a verifier that takes `alg`
    /// from the token falls for).
    pub fn hmac_with_public_key(&self, token: &Unsigned) -> String {
        let mut token = token.clone();
        token.header.insert("alg".into(), json!("HS256"));
        let input = signing_input(&token);
        let secret = self.public.to_string();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

/// `BASE64URL(header) || '.' || BASE64URL(claims)` (RFC 7515 §5.1).
fn signing_input(token: &Unsigned) -> String {
    let part =
        |m: &Map<String, Value>| URL_SAFE_NO_PAD.encode(Value::Object(m.clone()).to_string());
    format!("{}.{}", part(&token.header), part(&token.claims))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A few random characters, so that no two tokens share a `jti`.
fn random_suffix() -> String {
    mcp_auth_core::random_token::<8>().unwrap_or_default()
}

/// `token` with one character of its signature changed, away from the end (whose
/// low bits base64 may ignore): a signature of the right length that no longer
/// verifies.
pub fn with_broken_signature(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = chars.len().saturating_sub(10);
    if let Some(c) = chars.get_mut(at) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

/// `token` (a compact JWS) re-encoded as `alg: none` with an empty signature, its
/// claims unchanged: the unsecured copy of a token the checker did not mint. `None`
/// when it is not a JWS with a JSON object header.
pub fn unsecured_copy(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    let mut header: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.insert("alg".into(), json!("none"));
    Some(format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string())
    ))
}
