#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_auth_httpsig::fuzzing::ed25519_verify(data));
