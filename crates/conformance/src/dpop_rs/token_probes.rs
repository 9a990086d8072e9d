//! The table of token, scheme and nonce probes: each one change to a request the
//! server accepted (the token's binding, how it is presented, the nonce), and the
//! answer profiles/dpop.md §9.2 requires for it.

use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use super::{Fixture, Probe, Request};
use crate::dpop_proof::{self, ProofKey};
use crate::dpop_proof_changes::{Expect, ProbeFixture, ProofFixture, changed};
use crate::mint::with_broken_signature;

const BAD_TOKEN: Expect = Expect::Refuse("invalid_token");

/// Every token, scheme and nonce probe, in order.
pub(super) static TOKEN_PROBES: &[Probe] = &[
    // Step 12: the token's key.
    Probe {
        id: "DPOP-RS-4",
        requirement: "a token whose cnf.jkt is the proof key's thumbprint with base64 padding (=): 401 invalid_token",
        needs_nonce: false,
        make: |fx| {
            let padded = json!({"jkt": format!("{}=", fx.key.jkt())});
            Ok(unbound(fx, Some(padded)))
        },
        expect: BAD_TOKEN,
    },
    Probe {
        id: "DPOP-RS-4",
        requirement: "a valid proof by another key than the token's cnf.jkt: 401 invalid_token",
        needs_nonce: false,
        make: |fx| {
            let other = ProofKey::generate(JwsAlgorithm::Es256).ok_or("no ES256 key")?;
            let proof = other.claims(
                "POST",
                fx.url(),
                Some(&fx.signed),
                fx.nonce.as_deref(),
                super::now(),
            );
            Ok(fx.with_proof(other.sign(&proof)))
        },
        expect: BAD_TOKEN,
    },
    // The scheme.
    Probe {
        id: "DPOP-RS-2",
        requirement: "the scheme written dpop (lower case) with a valid proof: accepted",
        needs_nonce: false,
        make: |fx| Ok(with_scheme(fx, "dpop")),
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-2",
        requirement: "the scheme written DPOP (upper case) with a valid proof: accepted",
        needs_nonce: false,
        make: |fx| Ok(with_scheme(fx, "DPOP")),
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-2",
        requirement: "three spaces between the scheme and the token (RFC 9449 §7.1: 1*SP) with a valid proof: accepted",
        needs_nonce: false,
        make: |fx| Ok(with_scheme(fx, "DPoP  ")),
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-2",
        requirement: "the bound token in the query string (access_token) with a valid proof, no Authorization: not accepted, 401 with a DPoP challenge",
        needs_nonce: false,
        make: |fx| {
            let mut s = fx.with_proof(fx.valid_proof());
            s.url = format!("{}?access_token={}", fx.url(), fx.signed);
            s.authorization = None;
            Ok(s)
        },
        expect: Expect::Unaccepted,
    },
    Probe {
        id: "DPOP-RS-6",
        requirement: "the DPoP-bound token as Bearer, no proof: 401 invalid_token in the DPoP challenge",
        needs_nonce: false,
        make: |fx| {
            let mut s = fx.with_proof(String::new());
            s.authorization = Some(format!("Bearer {}", fx.signed));
            s.proofs.clear();
            Ok(s)
        },
        expect: BAD_TOKEN,
    },
    Probe {
        id: "DPOP-RS-6",
        requirement: "the DPoP-bound token as Bearer with a valid proof: 401 invalid_token in the DPoP challenge",
        needs_nonce: false,
        make: |fx| {
            let mut s = fx.with_proof(fx.valid_proof());
            s.authorization = Some(format!("Bearer {}", fx.signed));
            Ok(s)
        },
        expect: BAD_TOKEN,
    },
    Probe {
        id: "DPOP-RS-7",
        requirement: "a token without cnf as DPoP, with a valid proof: 401 invalid_token",
        needs_nonce: false,
        make: |fx| Ok(unbound(fx, None)),
        expect: BAD_TOKEN,
    },
    Probe {
        id: "DPOP-RS-7",
        requirement: "a token whose cnf has no jkt (x5t#S256 only) as DPoP, with a valid proof: 401 invalid_token",
        needs_nonce: false,
        make: |fx| {
            let cnf = json!({"x5t#S256": dpop_proof::ath("not-a-certificate")});
            Ok(unbound(fx, Some(cnf)))
        },
        expect: BAD_TOKEN,
    },
    // Step 10: the server's nonce.
    Probe {
        id: "DPOP-RS-8",
        requirement: "with nonces required, a proof without nonce whose signature does not verify: 401 invalid_dpop_proof (profile §5.1: the signature, step 7, before the nonce, step 10)",
        needs_nonce: true,
        make: |fx| {
            let mut p = fx.proof();
            p.claims.remove("nonce");
            Ok(fx.with_proof(with_broken_signature(&fx.key.sign(&p))))
        },
        expect: Expect::Refuse("invalid_dpop_proof"),
    },
    Probe {
        id: "DPOP-RS-8",
        requirement: "with nonces required, a proof without nonce: 401 use_dpop_nonce and a DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(fx.request(changed(fx, |p| {
                p.claims.remove("nonce");
            })))
        },
        expect: Expect::Nonce,
    },
    Probe {
        id: "DPOP-RS-8",
        requirement: "with nonces required, a proof with a nonce the server never issued: 401 use_dpop_nonce and a DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(fx.request(changed(fx, |p| {
                p.claims
                    .insert("nonce".into(), json!("bm90LWEtbm9uY2Utb2YteW91cnM"));
            })))
        },
        expect: Expect::Nonce,
    },
];

/// The valid request with the scheme written `scheme` (RFC 9110 §11.1: the scheme
/// is case-insensitive).
fn with_scheme(fx: &Fixture<'_>, scheme: &str) -> Request {
    let mut s = fx.with_proof(fx.valid_proof());
    s.authorization = Some(format!("{scheme} {}", fx.signed));
    s
}

/// The fixture's token with `cnf` changed (removed when `None`), with a valid proof
/// by the fixture's key over it.
fn unbound(fx: &Fixture<'_>, cnf: Option<Value>) -> Request {
    let token = fx.token_with_cnf(cnf);
    let proof = fx.key.claims(
        "POST",
        fx.url(),
        Some(&token),
        fx.nonce.as_deref(),
        super::now(),
    );
    Request {
        url: fx.url().to_owned(),
        authorization: Some(format!("DPoP {token}")),
        proofs: vec![fx.key.sign(&proof)],
        headers: Vec::new(),
    }
}
