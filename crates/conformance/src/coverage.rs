//! Which requirements of profiles/*.md the checker checks, and why it does not check
//! the others. `tests/every_requirement_has_a_check.rs` reads the documents and
//! holds this to them: every identifier they define has a check here, a "Check: not
//! black-box" reason in its document, or an entry of [`UNCHECKED`]; and every check
//! names an identifier a document defines.

use crate::ServerProfile;

/// Requirements without a check, by identifier or identifier prefix, with why.
/// Entries that are still to be written say so; an entry that a new check makes
/// stale fails the test.
pub const UNCHECKED: &[(&str, &str)] = &[
    (
        "HTTPSIG-C-",
        "a client requirement: the checker checks servers; the client's tests check it by name",
    ),
    (
        "DPOP-C-",
        "a client requirement: the checker checks servers; the client's tests check it by name",
    ),
    (
        "WIF-C-",
        "a client requirement: the checker checks servers; the client's tests and the independent suite (interop/wif-profile) check it",
    ),
    (
        "EMA-C-",
        "a client requirement: the checker checks servers; the client's tests and the independent suite (interop/ema-profile) check it",
    ),
    (
        "HTTPSIG-AS-",
        "still to come: conformance as --profile httpsig (issue 17)",
    ),
    (
        "DPOP-AS-",
        "still to come: conformance as --profile dpop (issue 17)",
    ),
    (
        "WIF-AS-",
        "still to come: conformance as --profile wif (issue 17)",
    ),
    (
        "EMA-AS-",
        "still to come: conformance as --profile ema (issue 17)",
    ),
    (
        "EMA-IDP-",
        "still to come: conformance as --profile ema (issue 17)",
    ),
];

/// Why `id` has no check, when [`UNCHECKED`] says.
pub fn unchecked_because(id: &str) -> Option<&'static str> {
    UNCHECKED
        .iter()
        .find(|(prefix, _)| id == *prefix || (prefix.ends_with('-') && id.starts_with(prefix)))
        .map(|(_, why)| *why)
}

/// The identifier of every check of every target, with repeats (one requirement may
/// have several probes).
pub fn checked_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = crate::server_checks(ServerProfile::All)
        .iter()
        .map(|c| c.id)
        .collect();
    ids.extend(crate::base_as::checks().iter().map(|c| c.id));
    ids
}
