#![no_main]
//! The workload assertion checks (profiles/workload-identity-federation.md §7.3 steps 2
//! and 5 to 9) on arbitrary bytes: parsing, the `typ` decision, the header checks, the
//! trust selector and the full verification with a fixed key under both kinds of trust
//! entry must return a result or an error, never panic.
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::workload_assertion::{AssertionKind, AssertionRules, TrustEntry, parse};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(AssertionKind::Workload(assertion) | AssertionKind::IdJag(assertion)) = parse(text) else {
        return;
    };
    let _ = assertion.check_header();
    let _ = assertion.trust_selector();
    let Ok(key) = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256)) else {
        return;
    };
    let key = key.verifying_key();
    for entry in [
        TrustEntry::Issuer("https://issuer.example"),
        TrustEntry::SpiffeTrustDomain("prod.example"),
    ] {
        let rules = AssertionRules::new(entry, "https://as.example");
        let _ = assertion.verify(&key, &rules, 1_800_000_000);
    }
});
