//! The proof probes of DPOP-RS-3: the proof changes both sides check, from
//! [`crate::dpop_proof_changes`], with the resource server's answer (401
//! `invalid_dpop_proof` in the `DPoP` challenge, profiles/dpop.md §9.2), between the
//! probes of a resource server alone, in the order of the profile's proof check (§5.1,
//! RFC 9449 §4.3). The token, scheme and nonce probes are in `token_probes.rs`.

use std::sync::LazyLock;

use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::json;

use super::{Fixture, Probe, Request};
use crate::dpop_proof::{self, ProofKey};
use crate::dpop_proof_changes::{
    self as changes, BAD_PROOF, Expect, ProbeFixture, ProofFixture, Row, changed, parts, with_htu,
};

/// The requirement line of each shared change, with the RS's refusal status.
static LINES: LazyLock<Vec<String>> = LazyLock::new(|| changes::lines(401));

/// Every proof probe, in order: the shared changes, each group of the RS's own after
/// the steps it belongs to.
pub(super) fn rows() -> impl Iterator<Item = Row<Probe>> {
    let change = |(c, line)| Row::Change(c, line);
    changes::select(&LINES, ..=2)
        .map(change)
        .chain(WELL_FORMED.iter().map(Row::Own))
        .chain(changes::select(&LINES, 3..=9).map(change))
        .chain(HTU.iter().map(Row::Own))
        .chain(changes::select(&LINES, 10..).map(change))
        .chain(KEY.iter().map(Row::Own))
}

/// A DPOP-RS-3 probe whose request is the valid one with the proof changed.
macro_rules! proof_probe {
    ($requirement:expr, $expect:expr, |$fx:ident| $make:expr) => {
        Probe {
            id: "DPOP-RS-3",
            requirement: $requirement,
            needs_nonce: false,
            make: |$fx| $make,
            expect: $expect,
        }
    };
}

/// Steps 1 and 2 at the RS: the token without a proof, and the size limit.
static WELL_FORMED: &[Probe] = &[
    proof_probe!(
        "DPoP token without a DPoP proof field: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| {
            let mut s = fx.with_proof(String::new());
            s.proofs.clear();
            Ok(s)
        }
    ),
    proof_probe!(
        "a valid proof padded past 8 KiB with an extra claim: 401 invalid_dpop_proof (profile §5.1 step 2)",
        BAD_PROOF,
        |fx| Ok(fx.request(changed(fx, |p| {
            p.claims.insert("pad".into(), json!("x".repeat(9 * 1024)));
        })))
    ),
];

/// Step 9 at the RS: the path's case, what the request says of its own origin, the
/// request's query, percent-encoding.
static HTU: &[Probe] = &[
    proof_probe!(
        "a proof whose htu has the path in upper case (paths are case-sensitive, RFC 3986 §6.2.2.1): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let upper = path.to_ascii_uppercase();
            if upper == path {
                return Err("the endpoint's path has no lower-case letter".into());
            }
            Ok(fx.request(with_htu(fx, format!("{scheme}://{host}{port}{upper}"))))
        }
    ),
    proof_probe!(
        "Host: another-host.example and a proof for that host: 401 invalid_dpop_proof (profile §5.1 step 9: htu is checked against the configured URL, never Host)",
        BAD_PROOF,
        |fx| {
            let (scheme, _, port, path) = parts(fx)?;
            let host = format!("another-host.example{port}");
            let mut s = with_htu(fx, format!("{scheme}://{host}{path}"));
            s.headers.push(("host", host));
            Ok(fx.request(s))
        }
    ),
    proof_probe!(
        "a request with a query, its proof's htu without (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| {
            let mut s = fx.with_proof(fx.valid_proof());
            s.url = format!("{}?conformance=1", fx.url());
            Ok(s)
        }
    ),
    proof_probe!(
        "a proof whose htu percent-encodes an unreserved path character, upper-case hex (RFC 3986 §6.2.2.2, required by profile §5.1 step 9): accepted",
        Expect::Accept,
        |fx| percent_encoded(fx, false)
    ),
    proof_probe!(
        "a proof whose htu percent-encodes an unreserved path character, lower-case hex (RFC 3986 §6.2.2.1-2, required by profile §5.1 step 9): accepted",
        Expect::Accept,
        |fx| percent_encoded(fx, true)
    ),
];

/// Step 12 (`ath`), the parts of the jwk outside its thumbprint, and the other proof
/// algorithms the server offers.
static KEY: &[Probe] = &[
    proof_probe!(
        "a proof without ath: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| Ok(fx.request(changed(fx, |p| {
            p.claims.remove("ath");
        })))
    ),
    proof_probe!(
        "a proof whose ath is the hash of another token: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| Ok(fx.request(changed(fx, |p| {
            p.claims
                .insert("ath".into(), json!(dpop_proof::ath("another-access-token")));
        })))
    ),
    proof_probe!(
        "a proof whose ath is the right hash with base64 padding (=, not base64url as RFC 7515 §2 defines it): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| Ok(fx.request(changed(fx, |p| {
            p.claims.insert(
                "ath".into(),
                json!(format!("{}=", dpop_proof::ath(&fx.signed))),
            );
        })))
    ),
    proof_probe!(
        "a proof whose jwk also has kid, alg and use (outside the RFC 7638 thumbprint): accepted",
        Expect::Accept,
        |fx| Ok(fx.request(changed(fx, |p| {
            let mut jwk = fx.key.public_jwk().clone();
            jwk["kid"] = json!("conformance");
            jwk["alg"] = json!(fx.key.alg());
            jwk["use"] = json!("sig");
            p.header.insert("jwk".into(), jwk);
        })))
    ),
    proof_probe!(
        "a proof signed with EdDSA (Ed25519 key), when the challenge offers it: accepted",
        Expect::Accept,
        |fx| other_alg(fx, JwsAlgorithm::EdDsa)
    ),
    proof_probe!(
        "a proof signed with Ed25519 (RFC 9864 name), when the challenge offers it: accepted",
        Expect::Accept,
        |fx| other_alg(fx, JwsAlgorithm::Ed25519)
    ),
];

/// A token bound to a new key of `alg`, with a valid proof by it; not applicable
/// when the challenge does not offer `alg`.
fn other_alg(fx: &Fixture<'_>, alg: JwsAlgorithm) -> Result<Request, String> {
    if !fx.offers(alg.name()) {
        return Err(format!(
            "the DPoP challenge does not offer {} (algs: {})",
            alg.name(),
            fx.algs.join(" ")
        ));
    }
    let key = ProofKey::generate(alg).ok_or("no key could be generated")?;
    Ok(fx.request(fx.proof_by(&key, &mut |_| {})))
}

/// The valid proof with the first unreserved character of the `htu` path
/// percent-encoded, in upper- or lower-case hex: the same URI after RFC 3986
/// §6.2.2.1 and §6.2.2.2 normalization.
fn percent_encoded(fx: &Fixture<'_>, lower_hex: bool) -> Result<Request, String> {
    let (scheme, host, port, path) = parts(fx)?;
    let at = path
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .ok_or("the endpoint's path has no unreserved character to encode")?;
    let (head, tail) = path.split_at(at);
    let mut chars = tail.chars();
    let c = chars.next().map(u32::from).unwrap_or_default();
    let encoded = if lower_hex {
        format!("%{c:02x}")
    } else {
        format!("%{c:02X}")
    };
    Ok(fx.request(with_htu(
        fx,
        format!("{scheme}://{host}{port}{head}{encoded}{}", chars.as_str()),
    )))
}
