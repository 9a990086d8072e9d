//! Which keys of a JWK Set may verify an assertion, and the one key that does (WIF
//! §7.3 step 7, WIF-AS-10, WIF-AS-12). Pure functions over the JSON of the set, so
//! that the same rule serves fetched sets, SPIFFE bundles and `jwks_file` sets
//! checked when the AS starts (WIF §6.4).

use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, VerifyingKey};
use serde_json::Value;

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2,
/// §6.3.2, §6.4.1): a key with any of them is not a published verification key, so
/// it is never used, whatever its other members say.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The `use` of the keys of a SPIFFE bundle that verify JWT-SVIDs (SPIFFE Trust
/// Domain and Bundle §4.2.2; JWT-SVID §6.1, §6.2).
const JWT_SVID_USE: &str = "jwt-svid";

/// The keys of a JWK Set (or, with `bundle`, of a SPIFFE bundle) that are usable
/// for `alg` as WIF §7.3 step 7 says: no private members; a `use` that is absent or
/// `sig` (a bundle: `jwt-svid`, and a `kid` is required); a `key_ops` that is absent
/// or contains `verify`; an `alg` that is absent or equal to `alg`; a type that fits
/// `alg` (RSA of at least 2048 bits, EC P-256 for ES256, P-384 for ES384, OKP
/// Ed25519 for EdDSA). A document that is not a JWK Set has none. Each key returned
/// is fixed to `alg`.
///
/// Used when the AS starts to check that a `jwks_file` holds a usable key (WIF §6.4),
/// and, through [`select_key`], for every assertion.
pub(crate) fn usable_keys(set: &Value, bundle: bool, alg: JwsAlgorithm) -> Vec<VerifyingKey> {
    set_keys(set)
        .iter()
        .filter_map(|key| usable(key, bundle, alg))
        .collect()
}

/// The `keys` array of a JWK Set; empty when the document has none.
pub(super) fn set_keys(set: &Value) -> &[Value] {
    set.get("keys")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// WIF §7.3 step 7 (WIF-AS-12): with a `kid`, the one usable key with that `kid`;
/// without, the one usable key for `alg` in the whole set. `None` when there is no
/// such key or more than one: an ambiguous set never lets the AS guess.
pub(super) fn select_key(
    keys: &[Value],
    bundle: bool,
    kid: Option<&str>,
    alg: JwsAlgorithm,
) -> Option<VerifyingKey> {
    let mut found = keys
        .iter()
        .filter(|key| kid.is_none_or(|kid| kid_of(key) == Some(kid)))
        .filter_map(|key| usable(key, bundle, alg));
    let key = found.next()?;
    found.next().is_none().then_some(key)
}

/// The `kid` of a JWK, when it is a string.
pub(super) fn kid_of(key: &Value) -> Option<&str> {
    key.get("kid").and_then(Value::as_str)
}

/// Whether a key of a SPIFFE bundle is one the AS may use at all (WIF §6.2,
/// WIF-AS-10): `use` `jwt-svid` and a `kid`. The others (X.509-SVID roots, keys
/// without a `kid`) are dropped when the bundle is read, so they cannot take part in
/// the unknown-`kid` refetch either.
pub(super) fn is_jwt_svid_key(key: &Value) -> bool {
    key.get("use").and_then(Value::as_str) == Some(JWT_SVID_USE) && kid_of(key).is_some()
}

/// The key `key` as a verifying key fixed to `alg`, when it is usable for `alg`
/// (see [`usable_keys`]).
fn usable(key: &Value, bundle: bool, alg: JwsAlgorithm) -> Option<VerifyingKey> {
    let members = key.as_object()?;
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return None;
    }
    let use_fits = if bundle {
        is_jwt_svid_key(key)
    } else {
        members.get("use").is_none_or(|u| u.as_str() == Some("sig"))
    };
    let ops_fit = members.get("key_ops").is_none_or(|ops| {
        ops.as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
    });
    let alg_fits = members
        .get("alg")
        .is_none_or(|a| a.as_str() == Some(alg.name()));
    // A `kid` that is not a string is a malformed key, not a key without a `kid`.
    let kid_well_formed = members.get("kid").is_none_or(Value::is_string);
    if !(use_fits && ops_fit && alg_fits && kid_well_formed) {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(key.clone()).ok()?;
    if jwk.is_private() {
        return None;
    }
    // Refuses RSA outside 2048..8192 bits, unknown curves and malformed points.
    let verifying = VerifyingKey::from_jwk(&jwk).ok()?;
    if !type_fits(&verifying, alg) {
        return None;
    }
    verifying.with_algorithm(Algorithm::Jws(alg)).ok()
}

/// "A type that fits `alg`": the project's one rule,
/// [`mcp_auth_core::jwt_claims::check_key_algorithm`] (type, curve and declared
/// `alg`), applied to the key's JWK as `mcp_auth_core::workload_assertion` does
/// when it verifies, so that a key chosen here is never refused there.
fn type_fits(key: &VerifyingKey, alg: JwsAlgorithm) -> bool {
    mcp_auth_core::workload_assertion::key_fits(key, alg).is_ok()
}
