//! JWK import and export (RFC 7517, RFC 7518 §6) of both key types.

use std::sync::Arc;

use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::rsa;
use aws_lc_rs::signature as lc;

use super::kind::Curve;
use super::rsa_params::rsa_public;
use super::signing::{Private, SigningKey};
use super::verifying::{
    EcPublic, Public, RsaPublic, VerifyingKey, ec_from_point, ed25519_from_bytes,
};
use super::{Named, Secret};
use crate::alg::Algorithm;
use crate::error::KeyError;
use crate::jwk::{Jwk, b64u, enc};

impl VerifyingKey {
    /// Reads a JWK (public or private members; private ones are ignored).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let public = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => ed25519_from_bytes(&b64u("x", &jwk.x)?)?,
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let curve = Curve::from_crv(crv);
                let (point, well_sized) = ec_point(jwk, curve)?;
                if !well_sized {
                    return Err(KeyError::Invalid(format!(
                        "{crv} coordinates must be {} bytes",
                        curve.coordinate_len()
                    )));
                }
                ec_from_point(curve, &point)?
            }
            ("RSA", _) => rsa_public(b64u("n", &jwk.n)?, b64u("e", &jwk.e)?)?,
            ("oct", _) => Public::Hmac(Secret::new(&b64u("k", &jwk.k)?)),
            (kty, crv) => return Err(unsupported(kty, crv)),
        };
        Named::new(public).named_by(jwk).map(Self)
    }

    /// The public JWK (for HMAC keys: the `oct` key itself).
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = match &self.0.material {
            Public::Ed25519(k) => Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(enc(k.as_bytes())),
                ..Jwk::default()
            },
            Public::Ec(curve, EcPublic { point, .. }) => {
                let len = (point.len() - 1) / 2;
                Jwk {
                    kty: "EC".into(),
                    crv: Some(curve.name().into()),
                    x: Some(enc(&point[1..=len])),
                    y: Some(enc(&point[1 + len..])),
                    ..Jwk::default()
                }
            }
            Public::Rsa(RsaPublic { n, e }) => Jwk {
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
        jwk.kid.clone_from(&self.0.kid);
        if let Some(Algorithm::Jws(j)) = self.0.algorithm {
            jwk.alg = Some(j.name().to_owned());
        }
        jwk
    }
}

impl SigningKey {
    /// Reads a private JWK (`OKP` Ed25519, `EC` P-256/P-384, `RSA` with CRT members,
    /// `oct`).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let private = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => Private::Ed25519(Arc::new(
                lc::Ed25519KeyPair::from_seed_and_public_key(
                    &b64u("d", &jwk.d)?,
                    &b64u("x", &jwk.x)?,
                )
                .map_err(|e| KeyError::Invalid(format!("Ed25519 JWK: {e}")))?,
            )),
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let curve = Curve::from_crv(crv);
                // A point of the wrong size is left for aws-lc-rs to refuse.
                let (point, _) = ec_point(jwk, curve)?;
                let kp = lc::EcdsaKeyPair::from_private_key_and_public_key(
                    curve.signing(),
                    &b64u("d", &jwk.d)?,
                    &point,
                )
                .map_err(|e| KeyError::Invalid(format!("{crv} JWK: {e}")))?;
                Private::Ec(curve, Arc::new(kp))
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
                Private::Rsa(Arc::new(
                    rsa::KeyPair::from_components(&components)
                        .map_err(|e| KeyError::Invalid(format!("RSA JWK: {e}")))?,
                ))
            }
            ("oct", _) => Private::Hmac(Secret::new(&b64u("k", &jwk.k)?)),
            (kty, crv) => return Err(unsupported(kty, crv)),
        };
        Named::new(private).named_by(jwk).map(Self)
    }

    /// The private JWK. RSA private keys are written as PEM only.
    pub fn to_private_jwk(&self) -> Result<Jwk, KeyError> {
        // The public members, `kid` and `alg`.
        let mut jwk = self.verifying_key().to_jwk();
        match &self.0.material {
            Private::Ed25519(kp) => {
                let seed = kp.seed().map_err(|_| KeyError::Invalid("no seed".into()))?;
                let bytes = AsBigEndian::<Curve25519SeedBin<'_>>::as_be_bytes(&seed)
                    .map_err(|_| KeyError::Invalid("no seed".into()))?;
                jwk.d = Some(enc(bytes.as_ref()));
            }
            Private::Ec(_, kp) => {
                let d = AsBigEndian::<EcPrivateKeyBin<'_>>::as_be_bytes(&kp.private_key())
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
        Ok(jwk)
    }
}

/// The `x` and `y` members of an `EC` JWK as the uncompressed point `04 || x || y`,
/// and whether both have the coordinate length of `curve`.
fn ec_point(jwk: &Jwk, curve: Curve) -> Result<(Vec<u8>, bool), KeyError> {
    let x = b64u("x", &jwk.x)?;
    let y = b64u("y", &jwk.y)?;
    let len = curve.coordinate_len();
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok((point, x.len() == len && y.len() == len))
}

/// A JWK of a type or curve that is not read.
fn unsupported(kty: &str, crv: Option<&str>) -> KeyError {
    KeyError::Unsupported(format!("JWK kty `{kty}` crv `{}`", crv.unwrap_or("-")))
}
