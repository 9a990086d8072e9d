//! The DPoP probes of the token endpoint (DPOP-AS-3, -4; profiles/dpop.md §5.1 and §9.1,
//! RFC 9449 §4.3): the proof changes both sides check, from `crate::dpop_proof_changes`,
//! with the AS's answer (400 `invalid_dpop_proof` in the body, no token), and the probes
//! of the token endpoint alone: the nonce answers (step 10). There is no `ath` at the
//! token endpoint (RFC 9449 §4.2: only with an access token).

use std::sync::LazyLock;

use serde_json::json;

use crate::dpop_as::Fixture;
use crate::dpop_proof_changes::{self as changes, Expect, OwnProbe, Row, Sent, changed};

/// A probe of the token endpoint alone: a request made from the accepted one.
pub(crate) type Probe = OwnProbe<for<'f, 't> fn(&'f Fixture<'t>) -> Result<Sent, String>>;

/// The requirement line of each shared change, with the AS's refusal status.
static LINES: LazyLock<Vec<String>> = LazyLock::new(|| changes::lines(400));

/// Every row, in the order of the profile's check (§5.1): steps 1 to 9, the nonce
/// (step 10), then the time (step 11).
pub(crate) fn rows() -> impl Iterator<Item = Row<Probe>> {
    let change = |(c, line)| Row::Change(c, line);
    changes::select(&LINES, ..=9)
        .map(change)
        .chain(NONCE_PROBES.iter().map(Row::Own))
        .chain(changes::select(&LINES, 10..).map(change))
}

/// Step 10: nonces, when the AS requires them (DPOP-AS-4).
static NONCE_PROBES: &[Probe] = &[
    Probe {
        id: "DPOP-AS-4",
        requirement: "nonces required: a proof without nonce gets 400 use_dpop_nonce and one DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(changed(fx, |p| {
                p.claims.remove("nonce");
            }))
        },
        expect: Expect::Nonce,
    },
    Probe {
        id: "DPOP-AS-4",
        requirement: "nonces required: a proof with a nonce the AS never issued gets 400 use_dpop_nonce and one DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(changed(fx, |p| {
                p.claims
                    .insert("nonce".into(), json!("conformance-not-a-nonce-of-yours"));
            }))
        },
        expect: Expect::Nonce,
    },
];
