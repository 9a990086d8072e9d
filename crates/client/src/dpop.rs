//! The client side of the dpop profile (RFC 9449; profiles/dpop.md DPOP-C-*): one
//! key, a fresh proof for every request (token requests without `ath`, resource
//! requests with it), and the latest nonce each server gave (§8, §9), kept per
//! origin: a nonce is used only at the server that issued it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue, request::Parts};
use mcp_auth_core::dpop::{ProofSigner, ProofSignerError};
use mcp_auth_httpsig::JwsAlgorithm;

use crate::httpsig::SignRequestError;

/// The `DPoP` request header and the `DPoP-Nonce` response header.
pub const DPOP: &str = "dpop";
/// The `DPoP-Nonce` response header (§8.1).
pub const DPOP_NONCE: &str = "dpop-nonce";

/// Makes DPoP proofs with one key and remembers servers' nonces. Clones share the
/// key and the nonces.
#[derive(Debug, Clone)]
pub struct DpopSigner {
    key: Arc<ProofSigner>,
    nonces: Arc<Mutex<HashMap<String, String>>>,
}

impl DpopSigner {
    /// A signer for `key`.
    pub fn new(key: ProofSigner) -> Self {
        Self {
            key: Arc::new(key),
            nonces: Arc::default(),
        }
    }

    /// A new key for `alg` (ES256 is what every DPoP server supports).
    pub fn generate(alg: JwsAlgorithm) -> Result<Self, ProofSignerError> {
        ProofSigner::generate(alg).map(Self::new)
    }

    /// The thumbprint of the key (`cnf.jkt` of tokens bound to it, `dpop_jkt`).
    pub fn jkt(&self) -> &str {
        self.key.jkt()
    }

    /// The proofs' algorithm (`alg`), as the AS metadata lists it
    /// (`dpop_signing_alg_values_supported`).
    pub fn alg(&self) -> JwsAlgorithm {
        self.key.alg()
    }

    /// Adds a `DPoP` proof for `parts` (its method and URI, query dropped), with
    /// `ath` for `access_token` and the nonce this origin gave last, if any.
    pub fn add_proof(
        &self,
        parts: &mut Parts,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<(), SignRequestError> {
        let uri = parts.uri.to_string();
        let nonce = self.nonce_for(&uri);
        let proof = self
            .key
            .proof(
                parts.method.as_str(),
                &uri,
                access_token,
                nonce.as_deref(),
                now,
            )
            .map_err(|e| SignRequestError::Dpop(e.to_string()))?;
        let value = HeaderValue::from_str(&proof).map_err(|_| SignRequestError::Token)?;
        parts.headers.insert(DPOP, value);
        Ok(())
    }

    /// Keeps the `DPoP-Nonce` of a response from `uri`'s origin. True when it was
    /// a new nonce (a request refused for want of it is worth one retry).
    pub fn remember_nonce(&self, uri: &str, headers: &HeaderMap) -> bool {
        let (Some(origin), Some(nonce)) = (
            origin(uri),
            headers.get(DPOP_NONCE).and_then(|v| v.to_str().ok()),
        ) else {
            return false;
        };
        let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.insert(origin, nonce.to_owned()).as_deref() != Some(nonce)
    }

    fn nonce_for(&self, uri: &str) -> Option<String> {
        let origin = origin(uri)?;
        let nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.get(&origin).cloned()
    }
}

fn origin(uri: &str) -> Option<String> {
    url::Url::parse(uri)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::dpop::{
        AccessTokenDigest, DEFAULT_ALGORITHMS, ProofContext, ProofWindow, check_proof,
    };

    #[test]
    fn dpop_c_1_proofs_carry_ath_and_the_nonce_of_their_origin_only() {
        let signer = DpopSigner::generate(JwsAlgorithm::Es256).unwrap();
        let mut h = HeaderMap::new();
        h.insert(DPOP_NONCE, HeaderValue::from_static("n-1"));
        assert!(signer.remember_nonce("https://rs.example/mcp", &h));
        assert!(!signer.remember_nonce("https://rs.example/other", &h));
        let parts = proved(&signer, "https://rs.example/mcp?x=1", Some("tok"));
        let proof = parts.headers[DPOP].as_bytes();
        let c = ProofContext {
            method: "POST",
            uri: "https://rs.example/mcp",
            access_token: Some(AccessTokenDigest::of("tok")),
            bound_jkt: Some(signer.jkt()),
            algorithms: &DEFAULT_ALGORITHMS,
            window: ProofWindow::default(),
            nonces: None,
            now: NOW,
        };
        let first = check_proof([proof], &c).unwrap();
        // A fresh jti each time.
        let again = proved(&signer, "https://rs.example/mcp", Some("tok"));
        let second = check_proof([again.headers[DPOP].as_bytes()], &c).unwrap();
        assert_ne!(first.jti, second.jti);
        let claims = payload(proof);
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["htu"], "https://rs.example/mcp");
        // Another origin gets no nonce.
        let parts = proved(&signer, "https://as.example/token", None);
        let claims = payload(parts.headers[DPOP].as_bytes());
        assert!(
            claims.get("nonce").is_none() && claims.get("ath").is_none(),
            "a nonce is only used at the server that gave it: {claims}"
        );
    }

    const NOW: i64 = 1_800_000_000;

    /// A POST to `uri` with the proof `signer` adds for `access_token`.
    fn proved(signer: &DpopSigner, uri: &str, access_token: Option<&str>) -> Parts {
        let (mut parts, ()) = http::Request::post(uri).body(()).unwrap().into_parts();
        signer.add_proof(&mut parts, access_token, NOW).unwrap();
        parts
    }

    fn payload(proof: &[u8]) -> serde_json::Value {
        use base64::Engine as _;
        let p = std::str::from_utf8(proof)
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    }
}
