//! Whether a `tools/call` request's `Mcp-Param-*` headers agree with its body
//! (SEP-2243 "Server Behavior"), for any party that reads the body: the values,
//! decoded, must equal the arguments; a header must be there when its argument is,
//! and not when it is not.

use http::HeaderMap;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{ParamHeader, ParamValueError, decode_value};
use crate::mcp_binding::HEADER_MISMATCH_CODE;

/// Why a request's `Mcp-Param-*` headers do not agree with its body. Each maps to
/// HTTP 400 with JSON-RPC error -32020 (`HeaderMismatch`,
/// [`crate::mcp_binding::HEADER_MISMATCH_CODE`]). The messages name the header, never
/// a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamHeaderMismatch {
    /// The argument has a value and its header is absent.
    #[error("Header mismatch: required header {0} is missing")]
    Missing(String),
    /// The header is sent and the argument is absent or `null`.
    #[error("Header mismatch: {0} is sent but the argument it mirrors is absent")]
    Unexpected(String),
    /// The header appears more than once.
    #[error("Header mismatch: {0} appears more than once")]
    Repeated(String),
    /// The header value has invalid characters or bad base64.
    #[error("Header mismatch: {header} is malformed: {reason}")]
    Malformed {
        /// The header (`Mcp-Param-{name}`).
        header: String,
        /// What is wrong.
        reason: ParamValueError,
    },
    /// The argument is an object or an array: it cannot have a header.
    #[error("Header mismatch: the argument {0} mirrors is not a string, integer or boolean")]
    NotPrimitive(String),
    /// The decoded header value and the argument differ.
    #[error("Header mismatch: {0} does not match the body value")]
    Differs(String),
}

impl ParamHeaderMismatch {
    /// The JSON-RPC error code to answer with (-32020).
    pub const CODE: i64 = HEADER_MISMATCH_CODE;
}

/// Checks `headers` against `arguments` (the `params.arguments` of the
/// `tools/call`) for the tool's annotated properties `params` (SEP-2243 "Server
/// Behavior", "Custom Header Handling"):
///
/// - argument present and not `null`: its header must be there once, with valid
///   characters, and equal it once decoded: strings exactly (case-sensitive),
///   booleans as `true` / `false`, numbers numerically (`42.0` equals `42`);
/// - argument absent or `null`: its header must be absent too (a header with no
///   body value would let an intermediary act on a value the server never sees);
/// - `Mcp-Param-*` headers of names the tool does not declare are not looked at
///   (an intermediary forwards and ignores what it does not recognise).
pub fn check_call_headers(
    params: &[ParamHeader],
    headers: &HeaderMap,
    arguments: Option<&Value>,
) -> Result<(), ParamHeaderMismatch> {
    for param in params {
        let display = || format!("{}{}", super::HEADER_PREFIX, param.name);
        let mut values = headers.get_all(&param.header_name).iter();
        let sent = values.next();
        if values.next().is_some() {
            return Err(ParamHeaderMismatch::Repeated(display()));
        }
        let body = param.value_in(arguments);
        let (sent, body) = match (sent, body) {
            (None, None) => continue,
            (Some(_), None) => return Err(ParamHeaderMismatch::Unexpected(display())),
            (None, Some(_)) => return Err(ParamHeaderMismatch::Missing(display())),
            (Some(sent), Some(body)) => (sent, body),
        };
        let malformed = |reason| ParamHeaderMismatch::Malformed {
            header: display(),
            reason,
        };
        let text = sent
            .to_str()
            .map_err(|_| malformed(ParamValueError::InvalidCharacters))?;
        let decoded = decode_value(text).map_err(malformed)?;
        let agrees = match body {
            Value::String(s) => decoded == s.as_str(),
            Value::Bool(b) => decoded == if *b { "true" } else { "false" },
            Value::Number(n) => numbers_equal(&decoded, n),
            Value::Array(_) | Value::Object(_) => {
                return Err(ParamHeaderMismatch::NotPrimitive(display()));
            }
            // `value_in` never yields null.
            Value::Null => false,
        };
        if !agrees {
            return Err(ParamHeaderMismatch::Differs(display()));
        }
    }
    Ok(())
}

/// Whether a header's text is the number `body` (MCP 2026-07-28 §Server
/// Validation: compare numerically, `42.0` equals `42`). Integers compare exactly;
/// otherwise both sides as finite doubles.
fn numbers_equal(header: &str, body: &serde_json::Number) -> bool {
    // Only what JSON would write: no `inf`, `NaN`, `+1`, hex or surrounding text.
    let Ok(header) = serde_json::from_str::<serde_json::Number>(header) else {
        return false;
    };
    if let (Some(h), Some(b)) = (as_i128(&header), as_i128(body)) {
        return h == b;
    }
    match (header.as_f64(), body.as_f64()) {
        (Some(h), Some(b)) => h.is_finite() && h == b,
        _ => false,
    }
}

fn as_i128(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// The JSON-RPC error response for a mismatch (code -32020), echoing the request
/// `id` (`null` when there is none).
pub fn error_body(id: Option<&RawValue>, mismatch: &ParamHeaderMismatch) -> String {
    let id = id.map(RawValue::get).unwrap_or("null");
    let message = Value::String(mismatch.to_string());
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{HEADER_MISMATCH_CODE},"message":{message}}}}}"#
    )
}
