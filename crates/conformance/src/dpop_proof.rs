//! The checker's own DPoP proofs (RFC 9449 §4.2), valid and deliberately broken.
//!
//! Written here, not borrowed from the verifier of `mcp-auth-core`: the checker must
//! not share the code it checks (a thumbprint or `ath` computed by the same function
//! on both sides would hide a bug in it), and it must be able to make proofs no
//! well-behaved signer would. Only the signature primitives come from
//! `mcp_auth_httpsig::SigningKey`, as [`crate::mint`] uses them.
//!
//! A proof is made in two steps, as a token is in [`crate::mint`]: [`ProofKey::claims`]
//! gives the header and claims of a valid proof as an [`Unsigned`], which a probe may
//! change, then [`ProofKey::sign`] signs whatever it says with the key.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Map, Value, json};

use crate::mint::Unsigned;

/// An ephemeral key pair that signs proofs, with its public JWK and thumbprint.
#[derive(Debug, Clone)]
pub struct ProofKey {
    key: SigningKey,
    alg: JwsAlgorithm,
    public: Value,
    jkt: String,
}

impl ProofKey {
    /// A new key for `alg` (`ES256`, `EdDSA` or `Ed25519`; RSA keys are slow to make
    /// and add nothing a black-box check needs). `None` when the key cannot be made.
    pub fn generate(alg: JwsAlgorithm) -> Option<Self> {
        if !matches!(
            alg,
            JwsAlgorithm::Es256 | JwsAlgorithm::EdDsa | JwsAlgorithm::Ed25519
        ) {
            return None;
        }
        let key = SigningKey::generate(Algorithm::Jws(alg)).ok()?;
        let jwk = key.verifying_key().to_jwk();
        // Only the public members: no `kid`, `alg` or `use` the library may add.
        let public = match jwk.kty.as_str() {
            "EC" => json!({"kty": "EC", "crv": jwk.crv?, "x": jwk.x?, "y": jwk.y?}),
            "OKP" => json!({"kty": "OKP", "crv": jwk.crv?, "x": jwk.x?}),
            _ => return None,
        };
        let jkt = thumbprint(&public)?;
        Some(Self {
            key,
            alg,
            public,
            jkt,
        })
    }

    /// The JWS algorithm name the key signs with.
    pub fn alg(&self) -> &'static str {
        self.alg.name()
    }

    /// The public key as a JWK (the `jwk` header of its proofs).
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key: what a bound token's
    /// `cnf.jkt` names (RFC 9449 §6.1).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The JWK with the private member `d` as well (what RFC 9449 §4.2 forbids in a
    /// proof's `jwk`). `None` when the library cannot write it.
    pub fn private_jwk(&self) -> Option<Value> {
        let private = self.key.to_private_jwk().ok()?;
        let mut jwk = self.public.clone();
        jwk["d"] = json!(private.d?);
        Some(jwk)
    }

    /// A valid proof for `htm` and `htu` at `now`, with a fresh 128-bit `jti`,
    /// `ath` for `token` (RFC 9449 §4.2: required with an access token) and `nonce`
    /// when given.
    pub fn claims(
        &self,
        htm: &str,
        htu: &str,
        token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Unsigned {
        let header = json!({"typ": "dpop+jwt", "alg": self.alg.name(), "jwk": self.public});
        let mut claims = json!({"jti": new_jti(), "htm": htm, "htu": htu, "iat": now});
        if let Some(token) = token {
            claims["ath"] = json!(ath(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        Unsigned {
            header: object(header),
            claims: object(claims),
        }
    }

    /// `proof` signed with this key, whatever its header says.
    pub fn sign(&self, proof: &Unsigned) -> String {
        self.sign_input(&signing_input(proof))
    }

    /// The JWS `input` (`header.claims`, already encoded) with this key's signature
    /// appended: for proofs whose JSON a probe writes by hand.
    pub fn sign_input(&self, input: &str) -> String {
        let signature = self
            .key
            .sign(Algorithm::Jws(self.alg), input.as_bytes())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `proof` with `alg: none` and an empty signature (RFC 7519 §6.1: an unsecured JWT).
pub fn unsecured(proof: &Unsigned) -> String {
    let mut proof = proof.clone();
    proof.header.insert("alg".into(), json!("none"));
    format!("{}.", signing_input(&proof))
}

/// `proof` MACed with HS256 under a fresh secret that its `jwk` carries as an `oct`
/// key: a proof that "verifies with its jwk", were symmetric algorithms allowed
/// (RFC 9449 §4.2 forbids them; §4.3 step 5).
pub fn hmac_with_jwk_secret(proof: &Unsigned) -> String {
    let mut secret = [7u8; 32];
    // A fixed secret is no weaker here: whoever reads the proof reads the key.
    let _ = aws_lc_rs::rand::fill(&mut secret);
    let mut proof = proof.clone();
    proof.header.insert("alg".into(), json!("HS256"));
    proof.header.insert(
        "jwk".into(),
        json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret)}),
    );
    let input = signing_input(&proof);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// An ES256 `proof` with its R || S signature (RFC 7518 §3.4) re-encoded as the
/// ASN.1 DER `ECDSA-Sig-Value` that other ECDSA interfaces use: the same signature,
/// in a form a JWS verifier must not accept. `None` when the signature is not 64
/// bytes.
pub fn with_der_signature(proof: &str) -> Option<String> {
    let (input, signature) = proof.rsplit_once('.')?;
    let raw = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if raw.len() != 64 {
        return None;
    }
    let integer = |bytes: &[u8]| {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x02];
        let pad = trimmed.first().is_none_or(|b| b & 0x80 != 0);
        let len = trimmed.len() + usize::from(pad);
        out.push(u8::try_from(len).unwrap_or(0));
        if pad {
            out.push(0);
        }
        out.extend(trimmed);
        out
    };
    let (r, s) = raw.split_at(32);
    let body = [integer(r), integer(s)].concat();
    let mut der = vec![0x30, u8::try_from(body.len()).ok()?];
    der.extend(body);
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(der)))
}

/// `ath`: base64url SHA-256 of the ASCII token (RFC 9449 §4.2).
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK: the required members only, in
/// lexicographic order, no white space (§3.2, §3.3). `None` for a key type other than
/// `EC`, `OKP` and `RSA`, or a member missing.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let s = |m: &str| jwk[m].as_str().map(|v| json!(v).to_string());
    let canonical = match jwk["kty"].as_str()? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s("crv")?,
            s("x")?,
            s("y")?
        ),
        "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, s("crv")?, s("x")?),
        "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s("e")?, s("n")?),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// `BASE64URL(header) || '.' || BASE64URL(claims)` (RFC 7515 §5.1).
pub fn signing_input(proof: &Unsigned) -> String {
    encoded_input(
        &Value::Object(proof.header.clone()).to_string(),
        &Value::Object(proof.claims.clone()).to_string(),
    )
}

/// The signing input of a header and claims given as JSON text, written by hand
/// (a member repeated, say, which no JSON map can hold).
pub fn encoded_input(header_json: &str, claims_json: &str) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    )
}

/// A new `jti`: 128 random bits, base64url (RFC 9449 §4.2 asks for at least 96).
fn new_jti() -> String {
    mcp_auth_core::random_token::<16>().unwrap_or_default()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
