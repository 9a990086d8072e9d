#![no_main]
//! `JsonMember` (`crates/core/src/json_member.rs`), how a DPoP proof's header and claims
//! and a JSON-RPC request's `params.name` and `params.uri` are read, against
//! `serde_json::Value` on any bytes: the same bytes accepted and refused, and the same
//! string or number read, from bytes (`from_slice`) and from text (`from_str`, where
//! unescaped strings are borrowed).
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::json_member::JsonMember;
use serde_json::Value;

fn same(
    member: Result<JsonMember<'_>, serde_json::Error>,
    value: Result<Value, serde_json::Error>,
) {
    match (&member, &value) {
        (Err(_), Err(_)) => {}
        (Ok(JsonMember::Text(text)), Ok(Value::String(string))) => assert_eq!(text, string),
        (Ok(JsonMember::Number(number)), Ok(Value::Number(n))) => assert_eq!(number, n),
        (
            Ok(JsonMember::Other),
            Ok(Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_)),
        ) => {}
        _ => panic!("JsonMember {member:?} where Value reads {value:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    same(serde_json::from_slice(data), serde_json::from_slice(data));
    if let Ok(text) = std::str::from_utf8(data) {
        same(serde_json::from_str(text), serde_json::from_str(text));
    }
});
