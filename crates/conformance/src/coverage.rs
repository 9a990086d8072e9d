//! Which requirements of profiles/*.md the checker checks, and why it does not check
//! the others. `tests/every_requirement_has_a_check.rs` reads the documents and
//! holds this to them: every identifier they define has a check here, a "Check: not
//! black-box" or "Check: implementation test" reason in its document, or an entry of
//! [`UNCHECKED`]; and every check names an identifier a document defines.

use crate::ServerProfile;
use crate::authorization_server::AsProfile;

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
        "WIF-AS-9",
        "needs more trust entries at the AS, each pointing at a misbehaving discovery server (another issuer, the RFC 8414 fallback); one trusted issuer cannot drive it",
    ),
    (
        "WIF-AS-10",
        "needs a trust entry with a SPIFFE bundle endpoint the checker serves; one trusted issuer cannot drive it",
    ),
    (
        "WIF-AS-11",
        "needs trust entries whose key sources redirect, send 70 KiB or answer after 7 s; one trusted issuer cannot drive it",
    ),
    (
        "EMA-IDP-2",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
    ),
    (
        "EMA-IDP-6",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
    ),
    (
        "EMA-IDP-7",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
    ),
    (
        "EMA-IDP-8",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
    ),
    (
        "EMA-IDP-9",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
    ),
    (
        "EMA-IDP-10",
        "needs a user's sign-in at the IdP (an ID token), which the checker does not script",
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
    for profile in [
        AsProfile::Base,
        AsProfile::Httpsig,
        AsProfile::Dpop,
        AsProfile::Wif,
    ] {
        ids.extend(
            crate::authorization_server::checks(profile)
                .iter()
                .map(|c| c.id),
        );
    }
    ids.extend(crate::ema_as::checks().iter().map(|c| c.id));
    ids.extend(crate::ema_idp_checks::checks().iter().map(|c| c.id));
    ids
}
