//! A JSON member's value as a check reads it: a string (borrowed from the JSON text
//! unless it had escapes), a number, or anything else. For structs that take only a
//! few members of untrusted JSON and judge their types themselves: a DPoP proof's
//! header and claims (`crate::dpop`), a JSON-RPC request's `params.name` and
//! `params.uri` (`crate::mcp_binding`).
//!
//! Read as a `serde_json::Value`, every string would be an allocation and every value
//! would go through `Value`'s generic visitor; through a `#[serde(untagged)]` enum, the
//! value would be buffered first (issue 18).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// A member's value: a string, a number (as `serde_json::Value` holds it), or
/// anything else (`true`, `null`, an array, an object), skipped without a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonMember<'a> {
    /// A string.
    Text(Cow<'a, str>),
    /// A number.
    Number(serde_json::Number),
    /// Any other value.
    Other,
}

impl<'a> JsonMember<'a> {
    /// The string this is, if it is one.
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number this is, as whole seconds (a fraction rounded down, as `as_f64`
    /// and a saturating cast give it beyond `i64`), if it is one.
    pub fn seconds(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            }),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonMember<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor(std::marker::PhantomData))
    }
}

struct MemberVisitor<'a>(std::marker::PhantomData<JsonMember<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for MemberVisitor<'a> {
    type Value = JsonMember<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonMember::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonMember::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonMember::Text(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JsonMember::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JsonMember::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // As `Value` reads it: a number that is not finite is not a number.
        Ok(serde_json::Number::from_f64(v).map_or(JsonMember::Other, JsonMember::Number))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(JsonMember::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonMember::Other)
    }

    // An array's or an object's contents are read as members too, not skipped: read
    // as `Value` reads them, so that what `Value` refuses inside (a lone surrogate
    // escape, a number beyond f64, nesting past serde_json's depth limit) is refused
    // here as well, where skipping (`IgnoredAny`) checks only the syntax.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<JsonMember<'a>>()?.is_some() {}
        Ok(JsonMember::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<JsonMember<'a>, JsonMember<'a>>()?
            .is_some()
        {}
        Ok(JsonMember::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(json: &str) -> JsonMember<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn strings_are_borrowed_unless_escaped_and_read_the_same_either_way() {
        assert_eq!(member(r#""POST""#), JsonMember::Text(Cow::Borrowed("POST")));
        let escaped = member(r#""https:\/\/a.example\/mcp""#).into_text().unwrap();
        assert!(matches!(&escaped, Cow::Owned(_)));
        assert_eq!(escaped, "https://a.example/mcp");
    }

    #[test]
    fn numbers_read_as_seconds_as_a_json_value_holds_them() {
        for (json, seconds) in [
            ("1700000000", 1_700_000_000),
            ("-5", -5),
            ("1700000000.9", 1_700_000_000),
            ("-0.5", -1),
            ("1e3", 1000),
            // Above i64::MAX: through f64, saturated.
            ("18446744073709551615", i64::MAX),
        ] {
            assert_eq!(member(json).seconds(), Some(seconds), "{json}");
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(
                member(json),
                JsonMember::Number(value.as_number().unwrap().clone())
            );
        }
    }

    #[test]
    fn any_other_value_is_other_and_is_read_whole() {
        for json in ["true", "null", "[1,[2,{}]]", r#"{"a":{"b":[1]}}"#] {
            assert_eq!(member(json), JsonMember::Other, "{json}");
            assert_eq!(member(json).seconds(), None);
        }
        assert_eq!(member(r#""1""#).seconds(), None);
        assert_eq!(member("1").into_text(), None);
        // A malformed value inside is still an error, and so is what `Value` refuses
        // inside an array or an object: a lone surrogate, a number beyond f64, nesting
        // past serde_json's limit of 128.
        for json in [
            "[1,]",
            r#"["\ud800"]"#,
            r#"{"a":{"\udc00":1}}"#,
            r#"{"a":[1e400]}"#,
        ] {
            assert!(
                serde_json::from_str::<JsonMember<'_>>(json).is_err(),
                "{json}"
            );
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_err(),
                "{json}"
            );
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(serde_json::from_str::<JsonMember<'_>>(&deep).is_err());
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            serde_json::from_str::<JsonMember<'_>>(&fine).unwrap(),
            JsonMember::Other
        );
    }
}
