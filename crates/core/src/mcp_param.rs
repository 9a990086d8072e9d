//! Tool parameters mirrored into HTTP headers (SEP-2243 "Custom Headers from Tool
//! Parameters"; MCP 2026-07-28 Streamable HTTP §Custom Headers): a tool's
//! `inputSchema` may mark a property with `"x-mcp-header": "Name"`, and every
//! `tools/call` of that tool then carries the argument's value in
//! `Mcp-Param-Name`, plain or as `=?base64?…?=`.
//!
//! The one place for the rules, used by the client (which mirrors the arguments and
//! drops tools whose annotations are invalid) and by whatever checks a request (the
//! header must agree with the body):
//!
//! - [`param_headers`]: the annotations of an `inputSchema`, validated (name syntax,
//!   case-insensitive uniqueness, primitive type, statically reachable position);
//! - [`encode_value`] / [`decode_value`]: one argument value to and from a header
//!   value (SEP-2243 "Value Encoding");
//! - [`call_headers`]: the `Mcp-Param-*` headers of one call;
//! - [`check_call_headers`]: whether a request's `Mcp-Param-*` headers agree with its
//!   body.

use http::{HeaderName, HeaderValue};
use serde_json::Value;

mod check;
mod registry;
mod schema;
mod value;

#[cfg(test)]
mod tests;

pub use check::{ParamHeaderMismatch, check_call_headers, error_body};
pub use registry::{DEFAULT_MAX_TOOLS, MAX_BYTES_PER_TOOL, ToolRegistry};
pub use schema::{
    InvalidReason, InvalidToolHeaders, SchemaLimits, param_headers, param_headers_with,
    validate_header_name,
};
pub use value::{ParamValueError, decode_value, encode_str, encode_value};

/// The schema keyword that marks a property as mirrored.
pub const X_MCP_HEADER: &str = "x-mcp-header";

/// The prefix of every mirrored parameter's header name.
pub const HEADER_PREFIX: &str = "Mcp-Param-";

/// The largest integer magnitude a mirrored value may have (JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 − 1: SEP-2243 "Integer values MUST be within the
/// safe range for JavaScript").
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The declared type of an annotated property (the only ones SEP-2243 allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `"type": "string"`.
    String,
    /// `"type": "integer"`.
    Integer,
    /// `"type": "boolean"`.
    Boolean,
}

/// One annotated property of a tool: the header it is mirrored into and where its
/// value sits in the `tools/call` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The `x-mcp-header` value as the schema gives it (e.g. `Region`).
    pub name: String,
    /// `Mcp-Param-{name}` (header names are case-insensitive; `http` keeps them in
    /// lower case).
    pub header_name: HeaderName,
    /// The chain of `properties` keys from the schema root to the property
    /// (`["region"]`, or `["target", "region"]` for a nested object's property).
    pub property_path: Vec<String>,
    /// The declared type; for a type list (`["string", "null"]`), its non-null type.
    pub kind: ParamKind,
}

impl ParamHeader {
    /// The argument this header mirrors, if the arguments have one at its path
    /// (`null` counts as absent: SEP-2243 "Parameter value is null: omit the header").
    pub fn value_in<'a>(&self, arguments: Option<&'a Value>) -> Option<&'a Value> {
        value_at(arguments?, &self.property_path).filter(|v| !v.is_null())
    }
}

/// The instance value at `path` (a chain of object members) in `arguments`.
pub fn value_at<'a>(arguments: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(arguments, |v, key| v.as_object()?.get(key.as_str()))
}

/// The `Mcp-Param-*` headers of one `tools/call` of a tool with `params` (SEP-2243
/// "Client Behavior"): one per annotated property that has a non-null value in
/// `arguments`, encoded by [`encode_value`], in [`param_headers`]'s order. A value that
/// cannot be mirrored (an object or an array where the schema declares a primitive,
/// an integer beyond the safe range) fails the whole call: sending the request
/// without its header would only have it refused.
pub fn call_headers(
    params: &[ParamHeader],
    arguments: Option<&Value>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ParamValueError> {
    let mut out = Vec::with_capacity(params.len());
    for param in params {
        let Some(value) = param.value_in(arguments) else {
            continue;
        };
        let Some(encoded) = encode_value(value)? else {
            continue;
        };
        // INVARIANT: encode_value returns visible ASCII (or empty) only.
        let value = HeaderValue::from_str(&encoded).map_err(|_| ParamValueError::Unencodable)?;
        out.push((param.header_name.clone(), value));
    }
    Ok(out)
}
