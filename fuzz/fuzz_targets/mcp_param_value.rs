#![no_main]
//! `Mcp-Param-*` header values (SEP-2243 "Value Encoding", "Server Behavior") on
//! arbitrary bytes: `decode_value` never panics and reads back what `encode_value`
//! wrote for any string, and `check_call_headers` never panics on any header values
//! against any arguments, and accepts the headers `call_headers` builds.
//!
//! Input layout: `<arguments JSON>\n<header value>\n<header value>...`. The whole input,
//! when UTF-8, is also one string for the round trip and one received value to decode.
//! Header value `i` is sent as the header of the `i % 5`-th parameter of a fixed tool
//! (so a sixth line repeats the first header); a line that is not a valid header value
//! (a NUL, a control character) sends nothing.
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::mcp_param::{
    ParamHeader, ParamValueError, call_headers, check_call_headers, decode_value, encode_str,
    encode_value, error_body, param_headers,
};
use serde_json::{Value, json};

/// The fixed tool: a string, an integer, a boolean, a second string and a nested string.
fn tool() -> Vec<ParamHeader> {
    let schema = json!({
        "type": "object",
        "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "priority": {"type": "integer", "x-mcp-header": "Priority"},
            "verbose": {"type": ["boolean", "null"], "x-mcp-header": "Verbose"},
            "text": {"type": "string", "x-mcp-header": "Text"},
            "target": {"type": "object", "properties": {
                "zone": {"type": "string", "x-mcp-header": "Zone"}
            }}
        }
    });
    match param_headers(&schema) {
        Ok(params) if params.len() == 5 => params,
        other => panic!("the fixed schema is valid with 5 headers: {other:?}"),
    }
}

/// `s` written by `encode_value` reads back as `s`, through a valid header value.
fn round_trip(s: &str) {
    let encoded = match encode_value(&Value::String(s.to_owned())) {
        Ok(Some(e)) => e,
        other => panic!("a string always encodes: {other:?}"),
    };
    assert_eq!(encoded, encode_str(s), "encode_value and encode_str agree");
    assert!(
        HeaderValue::from_str(&encoded).is_ok(),
        "an encoded value is a valid header value: {encoded:?}"
    );
    match decode_value(&encoded) {
        Ok(decoded) => assert_eq!(decoded, s, "round trip of {s:?} through {encoded:?}"),
        Err(e) => panic!("{encoded:?} (from {s:?}) does not decode: {e}"),
    }
}

/// A received value: decoding never panics; what decodes re-encodes and decodes to
/// itself; a value with a byte outside visible ASCII, space and tab is refused.
fn received(raw: &str) {
    let bad_char = raw
        .bytes()
        .any(|b| b != b'\t' && !(0x20..=0x7e).contains(&b));
    match decode_value(raw) {
        Ok(decoded) => {
            assert!(
                !bad_char,
                "{raw:?} has a byte outside visible ASCII but decodes"
            );
            round_trip(&decoded);
        }
        Err(e) => {
            if bad_char {
                assert_eq!(e, ParamValueError::InvalidCharacters);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        round_trip(text);
        received(text);
    }
    let params = tool();
    let (head, lines) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let arguments = serde_json::from_slice::<Value>(head).ok();
    let mut headers = HeaderMap::new();
    for (i, line) in lines
        .into_iter()
        .flat_map(|l| l.split(|&b| b == b'\n'))
        .enumerate()
    {
        if let Ok(text) = std::str::from_utf8(line) {
            received(text);
        }
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(params[i % params.len()].header_name.clone(), value);
        }
    }
    for args in [arguments.as_ref(), None] {
        if let Err(mismatch) = check_call_headers(&params, &headers, args) {
            // The JSON-RPC error for it is JSON.
            let body = error_body(None, &mismatch);
            assert!(
                serde_json::from_str::<Value>(&body).is_ok(),
                "error body is not JSON: {body}"
            );
        }
        // What a client sends for these arguments is accepted.
        if let Ok(built) = call_headers(&params, args) {
            let mut sent = HeaderMap::new();
            for (name, value) in built {
                sent.append(name, value);
            }
            if let Err(e) = check_call_headers(&params, &sent, args) {
                panic!("the headers call_headers built are refused: {e} ({sent:?}, {args:?})");
            }
        }
    }
});
