//! JSON Web Keys (RFC 7517) as read and written here, and RFC 7638 thumbprints.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// A JWK with the members this crate uses. Private members are never printed by
/// `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC`, `RSA` or `oct`.
    pub kty: String,
    /// Curve for `OKP` and `EC` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public x (OKP, EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public y (EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private scalar / seed / exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA first prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA second prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA CRT exponent of p.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA CRT exponent of q.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA CRT coefficient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    /// Symmetric key value (oct).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// Algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use (`sig`).
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("crv", &self.crv)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &(self.d.is_some() || self.k.is_some()))
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Parses a JWK from JSON.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        serde_json::from_str(text).map_err(|e| KeyError::Format(format!("not a JWK: {e}")))
    }

    /// The JSON serialization.
    pub fn to_json(&self) -> String {
        // INVARIANT: a struct of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The same key without its private members.
    pub fn public(&self) -> Self {
        Self {
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: if self.kty == "oct" {
                self.k.clone()
            } else {
                None
            },
            ..self.clone()
        }
    }

    /// True when the key has private members.
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.kty == "oct"
    }

    /// RFC 7638 thumbprint (SHA-256, base64url): the required members in
    /// lexicographic order, no whitespace.
    pub fn thumbprint(&self) -> Result<String, KeyError> {
        let member = |name: &str, v: &Option<String>| {
            v.clone()
                .ok_or_else(|| KeyError::Invalid(format!("JWK lacks `{name}`")))
        };
        // Values are base64url or fixed names, so JSON escaping never applies; build
        // the canonical JSON with serde_json for the strings anyway.
        let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        let json = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                s(&member("crv", &self.crv)?),
                s(&member("x", &self.x)?),
                s(&member("y", &self.y)?)
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                s(&member("crv", &self.crv)?),
                s(&member("x", &self.x)?)
            ),
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                s(&member("e", &self.e)?),
                s(&member("n", &self.n)?)
            ),
            "oct" => format!(r#"{{"k":{},"kty":"oct"}}"#, s(&member("k", &self.k)?)),
            other => return Err(KeyError::Unsupported(format!("JWK kty `{other}`"))),
        };
        Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes())))
    }
}

/// Decodes a base64url member (padding tolerated).
pub(crate) fn b64u(name: &str, v: &Option<String>) -> Result<Vec<u8>, KeyError> {
    let v = v
        .as_deref()
        .ok_or_else(|| KeyError::Invalid(format!("JWK lacks `{name}`")))?;
    URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|_| KeyError::Invalid(format!("JWK member `{name}` is not base64url")))
}

pub(crate) fn enc(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_3_1_thumbprint() {
        let jwk = Jwk::from_json(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn debug_hides_private_members() {
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some("c2VjcmV0".into()),
            ..Jwk::default()
        };
        assert!(!format!("{jwk:?}").contains("c2VjcmV0"));
    }
}
