#![no_main]
//! `JsonMember` (`crates/core/src/json_member.rs`), how a DPoP proof's header and claims
//! and a JSON-RPC request's `params.name` and `params.uri` are read, against
//! `serde_json::Value` on any bytes: the same bytes accepted and refused, and the same
//! string or number read, from bytes (`from_slice`) and from text (`from_str`).
//!
//! One difference is by design and left out: with serde_json's `raw_value` feature (on
//! in this workspace), `Value` reads an object whose first key is serde_json's private
//! `RawValue` token as the JSON text in the string after it (`{"$serde_json::private::
//! RawValue":"1"}` is the number 1 to `Value`). `JsonMember` reads it as the object it
//! is (`Other`), so a DPoP claim spelled that way is of the wrong type and refused.
use std::fmt;

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::json_member::JsonMember;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// serde_json's private key for a `RawValue` (see above).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

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

/// Whether some object in a JSON text has the `RawValue` token as its first key (its
/// spelling unescaped); false for what is not JSON.
struct RawValueKey(bool);

impl<'de> Deserialize<'de> for RawValueKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawValueKeyVisitor)
    }
}

struct RawValueKeyVisitor;

impl<'de> Visitor<'de> for RawValueKeyVisitor {
    type Value = RawValueKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawValueKey, E> {
        Ok(RawValueKey(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValueKey, A::Error> {
        let mut found = false;
        while let Some(RawValueKey(inside)) = seq.next_element()? {
            found |= inside;
        }
        Ok(RawValueKey(found))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValueKey, A::Error> {
        let mut found = false;
        let mut first = true;
        while let Some((key, RawValueKey(inside))) = map.next_entry::<String, RawValueKey>()? {
            found |= inside || (first && key == RAW_VALUE_TOKEN);
            first = false;
        }
        Ok(RawValueKey(found))
    }
}

fuzz_target!(|data: &[u8]| {
    if serde_json::from_slice::<RawValueKey>(data).is_ok_and(|RawValueKey(found)| found) {
        return;
    }
    same(serde_json::from_slice(data), serde_json::from_slice(data));
    if let Ok(text) = std::str::from_utf8(data) {
        same(serde_json::from_str(text), serde_json::from_str(text));
    }
});
