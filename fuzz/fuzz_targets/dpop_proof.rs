#![no_main]
//! The DPoP proof check (RFC 9449 §4.3) on arbitrary `DPoP` header bytes: it must
//! return an error or a proof, never panic, whatever the JWT parts decode to.
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::dpop::{
    AccessTokenDigest, DEFAULT_ALGORITHMS, NonceSealer, ProofContext, ProofWindow, check_proof,
};

fuzz_target!(|data: &[u8]| {
    let sealer = NonceSealer::new(&[0u8; 32], "https://mcp.example.com/mcp", 300).ok();
    for nonces in [None, sealer.as_ref()] {
        let context = ProofContext {
            method: "POST",
            uri: "https://mcp.example.com/mcp",
            access_token: Some(AccessTokenDigest::of("token")),
            bound_jkt: Some("jkt"),
            algorithms: &DEFAULT_ALGORITHMS,
            window: ProofWindow::default(),
            nonces,
            now: 1_800_000_000,
        };
        let _ = check_proof([data], &context);
    }
});
