//! Structured Field helpers: strict re-serialization for `sf` and `key`
//! (RFC 9421 §2.1.1, §2.1.2), and the raw member scanner that lets the verifier use
//! the received `@signature-params` text exactly (§3.2 step 7).

use sfv::{Dictionary, Item, List, ListEntry, Parser};

/// The structured type of a field, when the application knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    Dictionary,
    List,
    Item,
}

/// Fields whose structured type is registered (RFC 9421, RFC 9530, RFC 9218,
/// RFC 9211, RFC 9209) or used by the RFC 9421 examples.
fn known_type(name: &str) -> Option<FieldType> {
    Some(match name {
        "signature-input"
        | "signature"
        | "accept-signature"
        | "content-digest"
        | "repr-digest"
        | "want-content-digest"
        | "want-repr-digest"
        | "priority"
        | "example-dict"
        | "cache-control" => FieldType::Dictionary,
        "cache-status" | "proxy-status" => FieldType::List,
        _ => return None,
    })
}

#[derive(Debug)]
pub(crate) enum ReserializeError {
    NotStructured(String),
    MissingKey(String),
}

/// Strictly re-serializes a combined field value; with `key`, only that dictionary
/// member's value (Item or Inner List, with parameters).
///
/// For a field whose type is not registered, the value is tried as a Dictionary, then
/// a List, then an Item; the serializations of these readings agree wherever more than
/// one succeeds, so signer and verifier reach the same text.
pub(crate) fn reserialize(
    name: &str,
    value: &str,
    key: Option<&str>,
) -> Result<String, ReserializeError> {
    if let Some(key) = key {
        let dict: Dictionary = Parser::new(value)
            .parse()
            .map_err(|e| ReserializeError::NotStructured(e.to_string()))?;
        let member = dict
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
            .ok_or_else(|| ReserializeError::MissingKey(key.to_owned()))?;
        return Ok(serialize_entry(member));
    }
    let order: &[FieldType] = match known_type(name) {
        Some(t) => match t {
            FieldType::Dictionary => &[FieldType::Dictionary],
            FieldType::List => &[FieldType::List],
            FieldType::Item => &[FieldType::Item],
        },
        None => &[FieldType::Dictionary, FieldType::List, FieldType::Item],
    };
    let mut last_err = String::new();
    for t in order {
        let result = match t {
            FieldType::Dictionary => Parser::new(value).parse::<Dictionary>().map(|d| {
                let mut ser = sfv::DictSerializer::new();
                ser.members(&d);
                ser.finish().unwrap_or_default()
            }),
            FieldType::List => Parser::new(value).parse::<List>().map(|l| {
                let mut ser = sfv::ListSerializer::new();
                ser.members(&l);
                ser.finish().unwrap_or_default()
            }),
            FieldType::Item => Parser::new(value)
                .parse::<Item>()
                .map(|i| crate::components::serialize_owned_item(&i)),
        };
        match result {
            Ok(s) => return Ok(s),
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(ReserializeError::NotStructured(last_err))
}

/// Serializes a dictionary member value (Item or Inner List with parameters).
pub(crate) fn serialize_entry(entry: &ListEntry) -> String {
    let mut ser = sfv::ListSerializer::new();
    ser.members(std::iter::once(entry));
    ser.finish().unwrap_or_default()
}

/// One member of a dictionary field as received: its key and the exact text of its
/// value (Item or Inner List, with parameters), trailing whitespace removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMember<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
}

/// Splits a dictionary field value, already validated by the structured-field parser,
/// into its members as received. Commas inside strings, display strings, byte
/// sequences and inner lists do not split. Duplicate keys are all returned (the
/// parser keeps only the last; the caller decides).
pub(crate) fn raw_members(value: &str) -> Vec<RawMember<'_>> {
    let bytes = value.as_bytes();
    let mut members = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let key_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b',' | b';' | b' ' | b'\t') {
            i += 1;
        }
        let key = &value[key_start..i];
        let value_start = if i < bytes.len() && bytes[i] == b'=' {
            i + 1
        } else {
            i
        };
        i = value_start;
        let mut depth = 0u32;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b':' => {
                    // A byte sequence starts with `:` where a bare item starts; inside
                    // tokens `:` is allowed too, but tokens have no commas, so skipping
                    // to the next `:` is safe only for byte sequences. Distinguish by
                    // the previous byte.
                    let prev = if i == 0 { b'=' } else { bytes[i - 1] };
                    if matches!(prev, b'=' | b'(' | b' ' | b'\t') {
                        i += 1;
                        while i < bytes.len() && bytes[i] != b':' {
                            i += 1;
                        }
                    }
                }
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let raw = value[value_start..i.min(bytes.len())].trim_end_matches([' ', '\t']);
        members.push(RawMember { key, value: raw });
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9421_2_1_1_sf_reserialization() {
        assert_eq!(
            reserialize("example-dict", "a=1,    b=2;x=1;y=2,   c=(a   b   c)", None).unwrap(),
            "a=1, b=2;x=1;y=2, c=(a b c)"
        );
    }

    #[test]
    fn rfc9421_2_1_2_dictionary_members() {
        let v = "a=1, b=2;x=1;y=2, c=(a   b    c), d";
        assert_eq!(reserialize("example-dict", v, Some("a")).unwrap(), "1");
        assert_eq!(reserialize("example-dict", v, Some("d")).unwrap(), "?1");
        assert_eq!(
            reserialize("example-dict", v, Some("b")).unwrap(),
            "2;x=1;y=2"
        );
        assert_eq!(
            reserialize("example-dict", v, Some("c")).unwrap(),
            "(a b c)"
        );
        assert!(matches!(
            reserialize("example-dict", "a=1, b=2", Some("c")),
            Err(ReserializeError::MissingKey(_))
        ));
    }

    #[test]
    fn raw_members_keep_exact_text_and_duplicates() {
        let v = r#"sig1=("@method"  "x");created=1;nonce="a,b", sig2=:YWJj:, sig1=("@path")"#;
        let m = raw_members(v);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].key, "sig1");
        assert_eq!(m[0].value, r#"("@method"  "x");created=1;nonce="a,b""#);
        assert_eq!(m[1].value, ":YWJj:");
        assert_eq!(m[2].value, r#"("@path")"#);
    }

    #[test]
    fn raw_members_handle_byte_sequence_params() {
        let v = r#"sig1=("@method");pub=:iuem/cj+=:;tag="t", b"#;
        let m = raw_members(v);
        assert_eq!(m[0].value, r#"("@method");pub=:iuem/cj+=:;tag="t""#);
        assert_eq!(m[1].key, "b");
        assert_eq!(m[1].value, "");
    }
}
