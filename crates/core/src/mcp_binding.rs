//! The JSON-RPC operation of an MCP request and its mirror in HTTP headers
//! (SEP-2243): `Mcp-Method` carries `method`, `Mcp-Name` carries `params.name`
//! (`tools/call`, `prompts/get`) or `params.uri` (`resources/read`).
//!
//! Signing these headers is what narrows a signature to one operation; checking them
//! against the body is what makes the signed headers mean something. Values that are
//! not plain visible ASCII travel as `=?base64?...?=` (SEP-2243 "Value Encoding") and
//! are compared decoded.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::json_member::JsonMember;

/// `Mcp-Method`.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// `MCP-Protocol-Version`.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// JSON-RPC error code `HeaderMismatch` (SEP-2243, renumbered to -32020 by the
/// 2026-07-28 error-code allocation).
pub const HEADER_MISMATCH_CODE: i64 = -32020;

/// The first protocol revision whose clients mirror the operation in `Mcp-Method`
/// and `Mcp-Name` on every POST (MCP 2026-07-28, Streamable HTTP §Standard Request
/// Headers).
pub const MIRRORED_HEADERS_SINCE: &str = "2026-07-28";

/// Whether the request's `MCP-Protocol-Version` is a revision whose clients must send
/// the mirrored headers, so that a server must refuse a request without them (MCP
/// 2026-07-28 §Server Validation: "a required standard header ... is missing").
/// Revisions are `YYYY-MM-DD` dates and compare as strings; a value of another shape,
/// or none, is an earlier revision's request, checked only when it carries
/// `Mcp-Method`.
pub fn mirrored_headers_required(headers: &HeaderMap) -> bool {
    let Some(version) = headers
        .get(&MCP_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let b = version.as_bytes();
    let is_date = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    is_date && version >= MIRRORED_HEADERS_SINCE
}

/// The operation a JSON-RPC message names.
#[derive(Debug, Clone)]
pub struct McpOperation<'a> {
    /// `method`.
    pub method: Cow<'a, str>,
    /// `params.name` or `params.uri`, for the methods that have one.
    pub name: Option<Cow<'a, str>>,
    /// `id`, as raw JSON, for the error response (absent for notifications).
    pub id: Option<&'a RawValue>,
    /// `params.arguments` (of `tools/call` and `prompts/get`), as raw JSON: parsed
    /// only by what reads it (the gateway's policy rules).
    pub arguments: Option<&'a RawValue>,
}

/// Why a body names no single operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not a JSON object with a string `method` (or not JSON at all).
    #[error("the body is not a JSON-RPC message: {0}")]
    NotJsonRpc(String),
    /// A JSON array: a batch cannot be bound to one operation (HTTPSIG-RS-14).
    #[error("JSON-RPC batches cannot be bound to one operation and are refused")]
    Batch,
    /// The method has a name member but it is missing or not a string.
    #[error("`params.{member}` is required for {method}")]
    MissingName {
        /// The method.
        method: String,
        /// `name` or `uri`.
        member: &'static str,
    },
}

/// Why the `Mcp-*` headers do not mirror the body. Each maps to HTTP 400 with
/// JSON-RPC error -32020.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderMismatch {
    /// A required header is absent.
    #[error("Header mismatch: required header {0} is missing")]
    Missing(&'static str),
    /// A header appears more than once.
    #[error("Header mismatch: {0} appears more than once")]
    Repeated(&'static str),
    /// A header value has bytes outside visible ASCII, or a bad base64 payload.
    #[error("Header mismatch: {header} is malformed: {reason}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The header and the body differ.
    #[error(
        "Header mismatch: {header} header value '{header_value}' does not match body value '{body_value}'"
    )]
    Differs {
        /// The header.
        header: &'static str,
        /// The (decoded) header value.
        header_value: String,
        /// The body value.
        body_value: String,
    },
    /// `Mcp-Name` was sent for a method that has no name.
    #[error("Header mismatch: Mcp-Name is sent but method {0} has no name")]
    Unexpected(String),
    /// The body itself is unusable.
    #[error("{0}")]
    Body(#[from] BodyError),
}

/// The member of `params` that names the target of `method`, if it has one.
pub fn name_member(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// What the body of an MCP POST carries.
#[derive(Debug, Clone)]
pub enum JsonRpcBody<'a> {
    /// A request or notification: it names an operation.
    Operation(McpOperation<'a>),
    /// A response (`result` or `error`, no `method`) to a request the server sent:
    /// it names no operation and has no `Mcp-*` headers (SEP-2243 covers requests and
    /// notifications only).
    Response,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Params<'a> {
    /// Any JSON (only a string names something), read without buffering it as an
    /// untagged enum would.
    #[serde(borrow, default)]
    name: Option<JsonMember<'a>>,
    #[serde(borrow, default)]
    uri: Option<JsonMember<'a>>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

/// A JSON string, borrowed from the body unless it has escapes. serde borrows a
/// `Cow<str>` only where it is the field's own type: inside an `Option` it would
/// always copy.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> McpOperation<'a> {
    /// Reads the operation of a JSON-RPC request or notification. Duplicate members
    /// (`"method"` twice) are an error: a reader taking the last one must not see a
    /// different operation from ours.
    pub fn from_body(body: &'a [u8]) -> Result<Self, BodyError> {
        match read_body(body)? {
            JsonRpcBody::Operation(op) => Ok(op),
            JsonRpcBody::Response => Err(BodyError::NotJsonRpc(
                "`method` is missing (a response names no operation)".into(),
            )),
        }
    }

    /// SEP-2243 server behaviour: `Mcp-Method` present and equal to `method`;
    /// `Mcp-Name` present and equal to the name when the method has one, absent
    /// otherwise. Values are trimmed of surrounding whitespace (HTTP field parsing)
    /// and decoded from the base64 sentinel form.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), HeaderMismatch> {
        self.check_headers_if_sent(headers, true)
    }

    /// [`McpOperation::check_headers`] where the headers may be left out: unless
    /// `required` (a signed request) or the request is of a revision whose clients
    /// mirror the operation (2026-07-28 on, [`mirrored_headers_required`]), a request
    /// without `Mcp-Method` has nothing compared. One lookup of `Mcp-Method` either way.
    pub fn check_headers_if_sent(
        &self,
        headers: &HeaderMap,
        required: bool,
    ) -> Result<(), HeaderMismatch> {
        let Some(method) = single(headers, &MCP_METHOD, "Mcp-Method")? else {
            if required || mirrored_headers_required(headers) {
                return Err(HeaderMismatch::Missing("Mcp-Method"));
            }
            return Ok(());
        };
        let method = decode_header_value(method, "Mcp-Method")?;
        if method != self.method {
            return Err(HeaderMismatch::Differs {
                header: "Mcp-Method",
                header_value: method.into_owned(),
                body_value: self.method.clone().into_owned(),
            });
        }
        let name = single(headers, &MCP_NAME, "Mcp-Name")?;
        match (&self.name, name) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(HeaderMismatch::Unexpected(self.method.clone().into_owned())),
            (Some(_), None) => Err(HeaderMismatch::Missing("Mcp-Name")),
            (Some(expected), Some(raw)) => {
                let got = decode_header_value(raw, "Mcp-Name")?;
                if got == *expected {
                    Ok(())
                } else {
                    Err(HeaderMismatch::Differs {
                        header: "Mcp-Name",
                        header_value: got.into_owned(),
                        body_value: expected.clone().into_owned(),
                    })
                }
            }
        }
    }

    /// The headers a client adds for this operation (SEP-2243 "Client Behavior").
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(2);
        for (name, value) in [
            (MCP_METHOD, Some(&self.method)),
            (MCP_NAME, self.name.as_ref()),
        ] {
            if let Some(v) = value {
                // INVARIANT: encode_header_value returns visible ASCII only.
                if let Ok(v) = HeaderValue::from_str(&encode_header_value(v)) {
                    out.push((name, v));
                }
            }
        }
        out
    }

    /// The JSON-RPC error response for a mismatch, echoing the request `id`.
    pub fn error_body(id: Option<&RawValue>, mismatch: &HeaderMismatch) -> String {
        let id = id.map(RawValue::get).unwrap_or("null");
        let message = serde_json::Value::String(mismatch.to_string());
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{HEADER_MISMATCH_CODE},"message":{message}}}}}"#
        )
    }
}

fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    display: &'static str,
) -> Result<Option<&'h str>, HeaderMismatch> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderMismatch::Repeated(display));
    }
    first
        .to_str()
        .map(|s| Some(mcp_auth_httpsig::trim_ows_str(s)))
        .map_err(|_| HeaderMismatch::Malformed {
            header: display,
            reason: "not visible ASCII",
        })
}

/// SEP-2243 "Value Encoding" for `Mcp-Name` ([`crate::mcp_param::encode_str`], the
/// one encoder): plain when the value is visible ASCII with no leading or trailing
/// whitespace and does not look like the sentinel; otherwise
/// `=?base64?<standard base64 of the UTF-8>?=`. An empty name, which no method
/// allows, is sent as the sentinel of nothing rather than as an empty field.
pub fn encode_header_value(value: &str) -> Cow<'_, str> {
    if value.is_empty() {
        return Cow::Borrowed("=?base64??=");
    }
    crate::mcp_param::encode_str(value)
}

/// Decodes a received `Mcp-Method` or `Mcp-Name` value
/// ([`crate::mcp_param::decode_value`], the one decoder): the sentinel form is
/// base64-decoded (strict padding, UTF-8); anything else is taken literally. The
/// markers are case-sensitive.
pub fn decode_header_value<'v>(
    raw: &'v str,
    header: &'static str,
) -> Result<Cow<'v, str>, HeaderMismatch> {
    use crate::mcp_param::ParamValueError;
    crate::mcp_param::decode_value(raw).map_err(|e| HeaderMismatch::Malformed {
        header,
        reason: match e {
            ParamValueError::InvalidBase64 => "invalid base64",
            ParamValueError::NotUtf8 => "base64 payload is not UTF-8",
            _ => "invalid characters",
        },
    })
}

/// Reads a JSON-RPC message: a request or notification (its operation), or a
/// response. Duplicate members (`"method"` twice) are an error: a reader taking the
/// last one must not see a different operation from ours. A body that is not UTF-8
/// is refused whole (RFC 8259 §8.1), even where the bytes are in a member nothing
/// reads: the MCP server's parser would refuse it too.
pub fn read_body<'a>(body: &'a [u8]) -> Result<JsonRpcBody<'a>, BodyError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(BodyError::Batch);
    }
    // Checked once, whole, with SIMD (under a third of the instructions of `std`'s check
    // on a 1 KiB body, fewer still on larger ones): serde_json then reads each string
    // without checking it again, where `from_slice` would check each one it reads, which
    // is most of the work in a small body (issue 18).
    let text = simdutf8::basic::from_utf8(body)
        .map_err(|_| BodyError::NotJsonRpc("the body is not UTF-8".into()))?;
    let envelope: Envelope<'a> =
        serde_json::from_str(text).map_err(|e| BodyError::NotJsonRpc(e.to_string()))?;
    let Some(Text(method)) = envelope.method else {
        if envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some()) {
            return Ok(JsonRpcBody::Response);
        }
        return Err(BodyError::NotJsonRpc("`method` is missing".into()));
    };
    let (params_name, params_uri, arguments) = match envelope.params {
        Some(p) => (p.name, p.uri, p.arguments),
        None => (None, None, None),
    };
    let name = match name_member(&method) {
        None => None,
        Some(member) => {
            let value = match member {
                "uri" => params_uri,
                _ => params_name,
            };
            match value {
                Some(JsonMember::Text(t)) => Some(t),
                _ => {
                    return Err(BodyError::MissingName {
                        method: method.into_owned(),
                        member,
                    });
                }
            }
        }
    };
    Ok(JsonRpcBody::Operation(McpOperation {
        method,
        name,
        id: envelope.id,
        arguments,
    }))
}

/// Entry points for the fuzz targets.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a body and checks it against headers built from the same bytes.
    pub fn binding(data: &[u8]) {
        if let Ok(op) = super::McpOperation::from_body(data) {
            let mut headers = http::HeaderMap::new();
            for (k, v) in op.headers() {
                headers.insert(k, v);
            }
            // Headers a client built from the body always match it.
            assert!(op.check_headers(&headers).is_ok());
        }
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = super::decode_header_value(text, "Mcp-Name");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const CALL: &[u8] =
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{}}}"#;

    #[test]
    fn operation_of_each_named_method() {
        let op = McpOperation::from_body(CALL).unwrap();
        assert_eq!(
            (op.method.as_ref(), op.name.as_deref()),
            ("tools/call", Some("get_weather"))
        );
        let op = McpOperation::from_body(
            br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///projects/myapp/config.json"}}"#,
        )
        .unwrap();
        assert_eq!(
            op.name.as_deref(),
            Some("file:///projects/myapp/config.json")
        );
        let op =
            McpOperation::from_body(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .unwrap();
        assert_eq!(
            (op.method.as_ref(), op.name),
            ("notifications/initialized", None)
        );
        assert!(op.id.is_none());
    }

    #[test]
    fn the_method_and_name_are_borrowed_from_the_body_unless_escaped() {
        let op = McpOperation::from_body(CALL).unwrap();
        assert!(matches!(op.method, Cow::Borrowed("tools/call")));
        assert!(matches!(op.name, Some(Cow::Borrowed("get_weather"))));
        let op = McpOperation::from_body(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools\/call","params":{"name":"get\u005fweather"}}"#,
        )
        .unwrap();
        assert!(matches!(op.method, Cow::Owned(ref m) if m == "tools/call"));
        assert_eq!(op.name.as_deref(), Some("get_weather"));
    }

    #[test]
    fn a_response_names_no_operation() {
        assert!(matches!(
            read_body(br#"{"jsonrpc":"2.0","id":3,"result":{"action":"accept"}}"#),
            Ok(JsonRpcBody::Response)
        ));
        assert!(matches!(
            read_body(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#),
            Ok(JsonRpcBody::Response)
        ));
        // Neither method nor result: not JSON-RPC.
        assert!(matches!(
            read_body(br#"{"jsonrpc":"2.0","id":3}"#),
            Err(BodyError::NotJsonRpc(_))
        ));
    }

    #[test]
    fn batches_duplicates_and_non_rpc_bodies_are_refused() {
        assert_eq!(
            McpOperation::from_body(b" [{}]").unwrap_err(),
            BodyError::Batch
        );
        assert!(matches!(
            McpOperation::from_body(b"{}"),
            Err(BodyError::NotJsonRpc(_))
        ));
        assert!(matches!(
            McpOperation::from_body(br#"{"method":"tools/list","method":"tools/call"}"#),
            Err(BodyError::NotJsonRpc(_))
        ));
        assert!(matches!(
            McpOperation::from_body(b"not json"),
            Err(BodyError::NotJsonRpc(_))
        ));
        assert_eq!(
            McpOperation::from_body(br#"{"method":"tools/call","params":{"name":3}}"#).unwrap_err(),
            BodyError::MissingName {
                method: "tools/call".into(),
                member: "name"
            }
        );
    }

    /// `params.name` (and `uri`) may be any JSON: only a string names something; any
    /// other value, however nested, is read past whole, and a malformed one is no
    /// JSON-RPC message at all.
    #[test]
    fn a_name_of_any_other_json_kind_names_nothing() {
        for value in [
            "3",
            "-1.5e3",
            "true",
            "[]",
            r#"["a",{"b":[1,null]}]"#,
            "{}",
            r#"{"a":"b","a":[{"c":"d"}]}"#,
        ] {
            for (method, member) in [("tools/call", "name"), ("resources/read", "uri")] {
                let body =
                    format!(r#"{{"method":"{method}","params":{{"{member}":{value}}},"id":1}}"#);
                assert_eq!(
                    McpOperation::from_body(body.as_bytes()).unwrap_err(),
                    BodyError::MissingName {
                        method: method.into(),
                        member
                    },
                    "{body}"
                );
            }
        }
        // `null` is as absent.
        assert!(matches!(
            McpOperation::from_body(br#"{"method":"tools/call","params":{"name":null}}"#),
            Err(BodyError::MissingName { .. })
        ));
        // A name of another member's kind does not stop the one that counts.
        let op = McpOperation::from_body(
            br#"{"method":"resources/read","params":{"name":[1],"uri":"file:///a"}}"#,
        )
        .unwrap();
        assert_eq!(op.name.as_deref(), Some("file:///a"));
        for broken in [r#"[1,}"#, r#"{"a" 1}"#, r#"{"a":1"#, "tru"] {
            let body = format!(r#"{{"method":"tools/call","params":{{"name":{broken}}}}}"#);
            assert!(
                matches!(
                    McpOperation::from_body(body.as_bytes()),
                    Err(BodyError::NotJsonRpc(_))
                ),
                "{body}"
            );
        }
    }

    /// Bytes that are not UTF-8 make the body no JSON-RPC message, wherever they are:
    /// in the members nothing here reads too (`jsonrpc`, `params._meta`, a response's
    /// `result`), which serde_json skips without checking them.
    #[test]
    fn a_body_that_is_not_utf8_is_refused_whole() {
        for body in [
            &b"{\"jsonrpc\":\"2.\xff\",\"method\":\"tools/list\",\"id\":1}"[..],
            b"{\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"_meta\":{\"x\":\"\xed\xa0\x80\"}}}",
            b"{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"text\":\"\xc3\"}}",
        ] {
            assert!(
                matches!(read_body(body), Err(BodyError::NotJsonRpc(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // The same bodies in UTF-8 are read.
        assert!(
            McpOperation::from_body(
                "{\"jsonrpc\":\"2.\u{e9}\",\"method\":\"tools/list\",\"id\":1}".as_bytes()
            )
            .is_ok()
        );
        let op = McpOperation::from_body(
            "{\"method\":\"tools/call\",\"params\":{\"name\":\"\u{e9}t\u{e9}\"}}".as_bytes(),
        )
        .unwrap();
        assert!(matches!(op.name, Some(Cow::Borrowed("\u{e9}t\u{e9}"))));
    }

    // SEP-2243 "Conformance Test Cases", standard header edge cases.
    #[test]
    fn sep_2243_case_sensitivity_and_whitespace() {
        let op = McpOperation::from_body(CALL).unwrap();
        assert!(
            op.check_headers(&headers(&[
                ("mcp-method", "tools/call"),
                ("mcp-name", "get_weather")
            ]))
            .is_ok()
        );
        assert!(
            op.check_headers(&headers(&[
                ("MCP-METHOD", "tools/call"),
                ("Mcp-Name", "  get_weather ")
            ]))
            .is_ok()
        );
        assert_eq!(
            op.check_headers(&headers(&[
                ("Mcp-Method", "TOOLS/CALL"),
                ("Mcp-Name", "get_weather")
            ]))
            .unwrap_err(),
            HeaderMismatch::Differs {
                header: "Mcp-Method",
                header_value: "TOOLS/CALL".into(),
                body_value: "tools/call".into()
            }
        );
    }

    #[test]
    fn sep_2243_mismatch_and_missing_headers() {
        let op = McpOperation::from_body(CALL).unwrap();
        assert_eq!(
            op.check_headers(&headers(&[("Mcp-Name", "get_weather")]))
                .unwrap_err(),
            HeaderMismatch::Missing("Mcp-Method")
        );
        assert_eq!(
            op.check_headers(&headers(&[("Mcp-Method", "tools/call")]))
                .unwrap_err(),
            HeaderMismatch::Missing("Mcp-Name")
        );
        let err = op
            .check_headers(&headers(&[
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "foo"),
            ]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Header mismatch: Mcp-Name header value 'foo' does not match body value 'get_weather'"
        );
        assert_eq!(
            op.check_headers(&headers(&[
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "get_weather"),
                ("Mcp-Name", "x")
            ]))
            .unwrap_err(),
            HeaderMismatch::Repeated("Mcp-Name")
        );
        let list =
            McpOperation::from_body(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(
            list.check_headers(&headers(&[("Mcp-Method", "tools/list"), ("Mcp-Name", "x")]))
                .unwrap_err(),
            HeaderMismatch::Unexpected("tools/list".into())
        );
    }

    // SEP-2243 "Value Encoding" examples and "Base64 Decoding" cases.
    #[test]
    fn sep_2243_value_encoding_examples() {
        assert_eq!(encode_header_value("us-west1"), "us-west1");
        assert_eq!(
            encode_header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(
            encode_header_value("line1\nline2"),
            "=?base64?bGluZTEKbGluZTI=?="
        );
        assert_eq!(
            encode_header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
        assert_eq!(encode_header_value("\tindented"), "=?base64?CWluZGVudGVk?=");
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8=?=", "h").unwrap(),
            "Hello"
        );
        assert!(matches!(
            decode_header_value("=?base64?SGVsbG8?=", "h"),
            Err(HeaderMismatch::Malformed { .. })
        ));
        assert!(matches!(
            decode_header_value("=?base64?SGVs!!!bG8=?=", "h"),
            Err(HeaderMismatch::Malformed { .. })
        ));
        assert_eq!(decode_header_value("SGVsbG8=", "h").unwrap(), "SGVsbG8=");
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8=", "h").unwrap(),
            "=?base64?SGVsbG8="
        );
        assert_eq!(
            decode_header_value("=?BASE64?SGVsbG8=?=", "h").unwrap(),
            "=?BASE64?SGVsbG8=?="
        );
    }

    #[test]
    fn encoded_names_are_compared_decoded() {
        let op = McpOperation::from_body(
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"wetter-über"}}"#
                .as_bytes(),
        )
        .unwrap();
        let mut h = HeaderMap::new();
        for (k, v) in op.headers() {
            h.insert(k, v);
        }
        assert_eq!(h.get("mcp-name").unwrap(), "=?base64?d2V0dGVyLcO8YmVy?=");
        assert!(op.check_headers(&h).is_ok());
    }

    #[test]
    fn error_body_echoes_the_id() {
        let op = McpOperation::from_body(CALL).unwrap();
        let body = McpOperation::error_body(op.id, &HeaderMismatch::Missing("Mcp-Name"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -32020);
        assert_eq!(
            v["error"]["message"],
            "Header mismatch: required header Mcp-Name is missing"
        );
    }

    #[test]
    fn mirrored_headers_are_required_from_2026_07_28_on() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_str(v).unwrap());
            mirrored_headers_required(&h)
        };
        assert!(with("2026-07-28"));
        assert!(with("2027-01-01"));
        assert!(!with("2025-11-25"));
        assert!(!with("2026-07-2"));
        assert!(!with("9999-99-9x"));
        assert!(!with("latest"));
        assert!(!mirrored_headers_required(&HeaderMap::new()));
    }
}
