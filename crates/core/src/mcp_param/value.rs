//! One argument value to and from an `Mcp-Param-*` header value (SEP-2243 "Value
//! Encoding"): strings as they are when they are safe, integers in decimal,
//! booleans as `true` / `false`; anything else as `=?base64?…?=`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::MAX_SAFE_INTEGER;

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// Why a value cannot be mirrored, or a received header value cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamValueError {
    /// An object or an array: only strings, integers and booleans are mirrored.
    #[error("an object or array value cannot be mirrored into a header")]
    NotPrimitive,
    /// A number beyond ±(2^53 − 1), or not finite.
    #[error("a number outside the safe integer range cannot be mirrored into a header")]
    UnsafeNumber,
    /// The encoded value is not a valid header value (never happens for what
    /// [`encode_value`] returns).
    #[error("the value cannot be a header value")]
    Unencodable,
    /// A received value has a byte outside visible ASCII, space and tab (CR, LF,
    /// NUL, other controls, or anything above 0x7E).
    #[error("the header value has characters outside visible ASCII, space and tab")]
    InvalidCharacters,
    /// The sentinel form's payload is not strict, padded standard base64.
    #[error("the header value's base64 is invalid")]
    InvalidBase64,
    /// The sentinel form's payload does not decode to UTF-8.
    #[error("the header value's base64 payload is not UTF-8")]
    NotUtf8,
}

/// The header value of an argument (SEP-2243 "Encoding Rules"): `None` for `null`
/// (the header is omitted); strings through [`encode_str`]; integers in decimal;
/// booleans as `true` / `false`. A non-integral number (which only reaches here
/// when a caller passes one for an integer parameter) is written as JSON writes it,
/// for the server to compare numerically.
pub fn encode_value(value: &Value) -> Result<Option<String>, ParamValueError> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::String(s) => encode_str(s).into_owned(),
        Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Value::Number(n) => {
            let safe = if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_SAFE_INTEGER
            } else if n.as_u64().is_some() {
                false
            } else {
                n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64)
            };
            if !safe {
                return Err(ParamValueError::UnsafeNumber);
            }
            n.to_string()
        }
        Value::Array(_) | Value::Object(_) => return Err(ParamValueError::NotPrimitive),
    }))
}

/// A string as a header value: as it is when every character is in 0x20–0x7E, it
/// neither starts nor ends with a space or a tab, and it does not look like the
/// sentinel (`=?base64?…?=`); otherwise `=?base64?{standard base64 of the UTF-8}?=`.
/// The empty string stays empty (SEP-2243 conformance cases: "Empty string →
/// `Mcp-Param-Name: ` (empty value)").
pub fn encode_str(value: &str) -> Cow<'_, str> {
    let plain = value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
        && !looks_like_sentinel(value);
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!(
            "{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}",
            STANDARD.encode(value)
        ))
    }
}

fn looks_like_sentinel(value: &str) -> bool {
    value.len() >= SENTINEL_PREFIX.len() + SENTINEL_SUFFIX.len()
        && value.starts_with(SENTINEL_PREFIX)
        && value.ends_with(SENTINEL_SUFFIX)
}

/// A received header value, read back (SEP-2243 "Server Behavior"): refused when a
/// byte is outside visible ASCII, space and tab; surrounding spaces and tabs are
/// trimmed (HTTP field parsing); the sentinel form (markers exactly as written,
/// lower case) is decoded from strict padded base64 to UTF-8; anything else is the
/// value itself (`SGVsbG8=`, `=?BASE64?…?=` and a missing suffix are literal).
pub fn decode_value(raw: &str) -> Result<Cow<'_, str>, ParamValueError> {
    if !raw
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(ParamValueError::InvalidCharacters);
    }
    let raw = mcp_auth_httpsig::trim_ows_str(raw);
    if !looks_like_sentinel(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let inner = &raw[SENTINEL_PREFIX.len()..raw.len() - SENTINEL_SUFFIX.len()];
    let bytes = STANDARD
        .decode(inner)
        .map_err(|_| ParamValueError::InvalidBase64)?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| ParamValueError::NotUtf8)
}
