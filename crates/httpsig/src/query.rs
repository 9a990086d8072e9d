//! `@query-param` (RFC 9421 §2.2.8): `application/x-www-form-urlencoded` parsing of
//! the query, then "percent-encode after encoding" of names and values.

use crate::error::BaseError;

/// The encoded value of the single query parameter whose encoded name is `name`.
///
/// A parameter that occurs more than once MUST NOT be signed (§2.2.8), so it is an
/// error here, as is an absent one.
pub(crate) fn single_param(query: &str, name: &str) -> Result<String, BaseError> {
    let mut found: Option<String> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        if encode(&decode(raw_name)) != name {
            continue;
        }
        if found.is_some() {
            return Err(BaseError::RepeatedQueryParam(name.to_owned()));
        }
        found = Some(encode(&decode(raw_value)));
    }
    found.ok_or_else(|| BaseError::MissingQueryParam(name.to_owned()))
}

/// WHATWG URL "application/x-www-form-urlencoded parser" for one name or value:
/// `+` is a space, `%XX` is a byte (malformed escapes stay as they are), and the
/// bytes are decoded as UTF-8 with replacement.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// "Percent-encode after encoding" with the application/x-www-form-urlencoded
/// percent-encode set, spaces as `%20` (as the RFC's examples show, not `+`): only
/// ASCII alphanumerics and `*-._` stay literal.
fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9421_2_2_8_examples() {
        let q = "param=value&foo=bar&baz=batman&qux=";
        assert_eq!(single_param(q, "baz").unwrap(), "batman");
        assert_eq!(single_param(q, "qux").unwrap(), "");
        assert_eq!(single_param(q, "param").unwrap(), "value");
        let q = "var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something";
        assert_eq!(
            single_param(q, "var").unwrap(),
            "this%20is%20a%20big%0Amultiline%20value"
        );
        assert_eq!(single_param(q, "bar").unwrap(), "with%20plus%20whitespace");
        assert_eq!(
            single_param(q, "fa%C3%A7ade%22%3A%20").unwrap(),
            "something"
        );
    }

    #[test]
    fn repeated_and_missing_parameters_are_errors() {
        assert_eq!(
            single_param("a=1&a=2", "a"),
            Err(BaseError::RepeatedQueryParam("a".into()))
        );
        assert_eq!(
            single_param("a=1", "b"),
            Err(BaseError::MissingQueryParam("b".into()))
        );
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(single_param("a=%zz%4", "a").unwrap(), "%25zz%254");
    }
}
