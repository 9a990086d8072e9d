#![no_main]
//! The JSON-RPC body / `Mcp-*` header binding (SEP-2243) on arbitrary bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mcp_auth_core::mcp_binding::fuzzing::binding(data));
