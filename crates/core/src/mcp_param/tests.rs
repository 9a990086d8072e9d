//! The SEP-2243 rules for `x-mcp-header`, one test per rule, with every example of
//! the SEP ("Value Encoding" examples, "Conformance Test Cases") as a vector.

#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::*;

fn schema_with(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

fn reason(schema: &Value) -> InvalidReason {
    param_headers(schema).unwrap_err().reason
}

fn one(name: &str, ty: &str) -> Value {
    schema_with(json!({"p": {"type": ty, "x-mcp-header": name}}))
}

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

// --- Schema extension: extraction -------------------------------------------------

#[test]
fn the_sep_example_tool_yields_one_region_header() {
    // SEP-2243 "Example Tool Definition" (execute_sql).
    let schema = json!({
        "type": "object",
        "properties": {
            "region": {"type": "string", "description": "The region", "x-mcp-header": "Region"},
            "query": {"type": "string", "description": "The SQL query to execute"}
        },
        "required": ["region", "query"]
    });
    let found = param_headers(&schema).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Region");
    assert_eq!(found[0].header_name.as_str(), "mcp-param-region");
    assert_eq!(found[0].property_path, ["region"]);
    assert_eq!(found[0].kind, ParamKind::String);
}

#[test]
fn a_schema_without_annotations_has_no_headers() {
    assert!(
        param_headers(&schema_with(json!({"q": {"type": "string"}})))
            .unwrap()
            .is_empty()
    );
    assert!(
        param_headers(&json!({"type": "object"}))
            .unwrap()
            .is_empty()
    );
    assert!(param_headers(&json!(true)).unwrap().is_empty());
}

#[test]
fn string_integer_and_boolean_properties_may_be_annotated() {
    for (ty, kind) in [
        ("string", ParamKind::String),
        ("integer", ParamKind::Integer),
        ("boolean", ParamKind::Boolean),
    ] {
        assert_eq!(param_headers(&one("X", ty)).unwrap()[0].kind, kind);
    }
}

#[test]
fn a_nullable_primitive_type_list_is_accepted() {
    let schema = schema_with(json!({"p": {"type": ["string", "null"], "x-mcp-header": "P"}}));
    assert_eq!(param_headers(&schema).unwrap()[0].kind, ParamKind::String);
}

#[test]
fn nested_object_properties_reached_through_properties_are_allowed() {
    let schema = schema_with(json!({
        "target": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"}
        }}
    }));
    let found = param_headers(&schema).unwrap();
    assert_eq!(found[0].property_path, ["target", "region"]);
}

#[test]
fn a_header_named_like_a_standard_header_is_allowed() {
    // SEP-2243 "Header name matches standard header": Mcp-Param-Method, not Mcp-Method.
    let found = param_headers(&one("Method", "string")).unwrap();
    assert_eq!(found[0].header_name.as_str(), "mcp-param-method");
}

// --- Schema extension: refusals (SEP-2243 conformance cases) -----------------------

#[test]
fn duplicate_names_are_refused_in_any_case() {
    let same = schema_with(json!({
        "a": {"type": "string", "x-mcp-header": "Region"},
        "b": {"type": "string", "x-mcp-header": "Region"}
    }));
    assert_eq!(reason(&same), InvalidReason::Duplicate("Region".into()));
    let differs = schema_with(json!({
        "a": {"type": "string", "x-mcp-header": "Region"},
        "b": {"type": "string", "x-mcp-header": "REGION"}
    }));
    assert_eq!(reason(&differs), InvalidReason::Duplicate("REGION".into()));
}

#[test]
fn an_empty_name_is_refused() {
    assert_eq!(reason(&one("", "string")), InvalidReason::Empty);
}

#[test]
fn names_outside_the_token_characters_are_refused() {
    // Space, colon, non-ASCII, control character (tab), CR, LF.
    for name in [
        "My Region",
        "Region:Primary",
        "Région",
        "Region\t1",
        "A\rB",
        "A\nB",
    ] {
        assert_eq!(
            reason(&one(name, "string")),
            InvalidReason::NotAToken(name.into()),
            "{name:?}"
        );
    }
    assert_eq!(validate_header_name("Ok-Name_1.~!#$%&'*+^`|", 128), Ok(()));
}

#[test]
fn a_name_that_is_not_a_string_is_refused() {
    let schema = schema_with(json!({"p": {"type": "string", "x-mcp-header": 7}}));
    assert_eq!(reason(&schema), InvalidReason::NotAString);
}

#[test]
fn non_primitive_and_number_types_are_refused() {
    for ty in ["array", "object", "null", "number"] {
        assert!(
            matches!(reason(&one("X", ty)), InvalidReason::NotPrimitive(_)),
            "{ty}"
        );
    }
    let untyped = schema_with(json!({"p": {"x-mcp-header": "X"}}));
    assert!(matches!(reason(&untyped), InvalidReason::NotPrimitive(_)));
    let two = schema_with(json!({"p": {"type": ["string", "integer"], "x-mcp-header": "X"}}));
    assert!(matches!(reason(&two), InvalidReason::NotPrimitive(_)));
}

#[test]
fn annotations_not_statically_reachable_are_refused() {
    let cases = [
        // On the root.
        json!({"type": "string", "x-mcp-header": "Root"}),
        // Under items.
        schema_with(json!({"list": {"type": "array",
            "items": {"type": "object", "properties": {"r": {"type": "string", "x-mcp-header": "R"}}}}})),
        // Under a composition keyword.
        schema_with(json!({"p": {"anyOf": [{"type": "string", "x-mcp-header": "R"}]}})),
        // In $defs (reached by $ref).
        json!({"type": "object", "properties": {"r": {"$ref": "#/$defs/r"}},
               "$defs": {"r": {"type": "string", "x-mcp-header": "R"}}}),
        // Under if/then.
        json!({"type": "object", "if": {"properties": {"r": {"type": "string", "x-mcp-header": "R"}}}}),
        // Under additionalProperties.
        json!({"type": "object", "additionalProperties": {"type": "string", "x-mcp-header": "R"}}),
    ];
    for schema in &cases {
        assert_eq!(
            reason(schema),
            InvalidReason::NotStaticallyReachable,
            "{schema}"
        );
    }
}

#[test]
fn annotation_like_data_in_non_schema_keywords_is_not_an_annotation() {
    // A property named "x-mcp-header", and the keyword inside `default` data.
    let schema = schema_with(json!({
        "x-mcp-header": {"type": "string"},
        "o": {"type": "object", "default": {"x-mcp-header": "nope"}}
    }));
    assert!(param_headers(&schema).unwrap().is_empty());
}

#[test]
fn the_error_names_where_the_annotation_is() {
    let err = param_headers(&schema_with(
        json!({"a/b": {"type": "number", "x-mcp-header": "S"}}),
    ))
    .unwrap_err();
    assert_eq!(err.location, "/properties/a~1b");
    assert!(err.to_string().contains("/properties/a~1b"));
}

#[test]
fn limits_bound_names_annotations_and_depth() {
    let limits = SchemaLimits {
        max_headers: 2,
        max_name_len: 4,
        max_depth: 3,
    };
    let long = one("Toolong", "string");
    assert_eq!(
        param_headers_with(&long, &limits).unwrap_err().reason,
        InvalidReason::TooLong(4)
    );
    let three = schema_with(json!({
        "a": {"type": "string", "x-mcp-header": "A"},
        "b": {"type": "string", "x-mcp-header": "B"},
        "c": {"type": "string", "x-mcp-header": "C"}
    }));
    assert_eq!(
        param_headers_with(&three, &limits).unwrap_err().reason,
        InvalidReason::TooManyHeaders(2)
    );
    let deep = schema_with(
        json!({"a": {"properties": {"b": {"properties": {"c": {"properties": {"d": {}}}}}}}}),
    );
    assert_eq!(
        param_headers_with(&deep, &limits).unwrap_err().reason,
        InvalidReason::TooDeep(3)
    );
}

// --- Value encoding ----------------------------------------------------------------

/// SEP-2243 "Value Encoding" examples and "Value Encoding Edge Cases", as
/// (argument, expected header value). `3.14159` is the SEP's vector, not π.
#[allow(clippy::approx_constant)]
fn encoding_vectors() -> Vec<(Value, &'static str)> {
    vec![
        (json!("us-west1"), "us-west1"),
        (json!("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (json!(" padded "), "=?base64?IHBhZGRlZCA=?="),
        (json!("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?="),
        (
            json!("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
        ),
        (json!(" us-west1"), "=?base64?IHVzLXdlc3Qx?="),
        (json!("us-west1 "), "=?base64?dXMtd2VzdDEg?="),
        (json!(" us-west1 "), "=?base64?IHVzLXdlc3QxIA==?="),
        (json!("us west 1"), "us west 1"),
        (json!(true), "true"),
        (json!(false), "false"),
        (json!(42), "42"),
        (json!(3.14159), "3.14159"),
        (json!("日本語"), "=?base64?5pel5pys6Kqe?="),
        (json!("line1\r\nline2"), "=?base64?bGluZTENCmxpbmUy?="),
        (json!("\tindented"), "=?base64?CWluZGVudGVk?="),
        (json!(""), ""),
    ]
}

#[test]
fn every_sep_encoding_example_encodes_as_the_sep_says() {
    for (value, expected) in encoding_vectors() {
        assert_eq!(
            encode_value(&value).unwrap().as_deref(),
            Some(expected),
            "{value}"
        );
    }
    assert_eq!(encode_value(&json!(-7)).unwrap().as_deref(), Some("-7"));
}

#[test]
fn every_encoded_string_decodes_to_the_original() {
    for (value, encoded) in encoding_vectors() {
        if let Value::String(s) = value {
            assert_eq!(decode_value(encoded).unwrap(), s, "{encoded}");
        }
    }
}

#[test]
fn controls_del_and_non_ascii_are_base64_encoded() {
    for s in ["a\u{0}b", "a\u{1f}b", "a\u{7f}b", "é"] {
        assert!(encode_str(s).starts_with("=?base64?"), "{s:?}");
    }
}

#[test]
fn null_is_omitted_and_objects_arrays_and_unsafe_integers_are_refused() {
    assert_eq!(encode_value(&Value::Null).unwrap(), None);
    assert_eq!(
        encode_value(&json!({"a": 1})).unwrap_err(),
        ParamValueError::NotPrimitive
    );
    assert_eq!(
        encode_value(&json!([1])).unwrap_err(),
        ParamValueError::NotPrimitive
    );
    assert_eq!(
        encode_value(&json!(9_007_199_254_740_992_u64)).unwrap_err(),
        ParamValueError::UnsafeNumber
    );
    assert_eq!(
        encode_value(&json!(-9_007_199_254_740_992_i64)).unwrap_err(),
        ParamValueError::UnsafeNumber
    );
    assert_eq!(
        encode_value(&json!(u64::MAX)).unwrap_err(),
        ParamValueError::UnsafeNumber
    );
    assert_eq!(
        encode_value(&json!(9_007_199_254_740_991_u64))
            .unwrap()
            .as_deref(),
        Some("9007199254740991")
    );
}

// --- Decoding (SEP-2243 "Base64 Decoding") -----------------------------------------

#[test]
fn sep_base64_decoding_cases() {
    assert_eq!(decode_value("=?base64?SGVsbG8=?=").unwrap(), "Hello");
    assert_eq!(
        decode_value("=?base64?SGVsbG8?=").unwrap_err(),
        ParamValueError::InvalidBase64
    );
    assert_eq!(
        decode_value("=?base64?SGVs!!!bG8=?=").unwrap_err(),
        ParamValueError::InvalidBase64
    );
    assert_eq!(decode_value("SGVsbG8=").unwrap(), "SGVsbG8=");
    assert_eq!(
        decode_value("=?base64?SGVsbG8=").unwrap(),
        "=?base64?SGVsbG8="
    );
    assert_eq!(
        decode_value("=?BASE64?SGVsbG8=?=").unwrap(),
        "=?BASE64?SGVsbG8=?="
    );
}

#[test]
fn decoding_refuses_forbidden_characters_and_non_utf8_payloads() {
    for raw in ["a\rb", "a\nb", "a\0b", "é", "a\u{7f}"] {
        assert_eq!(
            decode_value(raw).unwrap_err(),
            ParamValueError::InvalidCharacters,
            "{raw:?}"
        );
    }
    // 0xff 0xfe is not UTF-8.
    assert_eq!(
        decode_value("=?base64?//4=?=").unwrap_err(),
        ParamValueError::NotUtf8
    );
    // Surrounding whitespace is trimmed as HTTP parsing does; tabs inside are fine.
    assert_eq!(decode_value("  us-west1 \t").unwrap(), "us-west1");
    assert_eq!(decode_value("a\tb").unwrap(), "a\tb");
}

// --- The headers of one call -------------------------------------------------------

fn custom_tool() -> Vec<ParamHeader> {
    param_headers(&schema_with(json!({
        "region": {"type": "string", "x-mcp-header": "Region"},
        "priority": {"type": "integer", "x-mcp-header": "Priority"},
        "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
        "text": {"type": "string", "x-mcp-header": "Text"},
        "query": {"type": "string"}
    })))
    .unwrap()
}

#[test]
fn call_headers_mirror_present_values_and_omit_null_and_missing_ones() {
    let params = custom_tool();
    let args = json!({"region": "us-west1", "priority": 42, "verbose": null,
                      "query": "SELECT 1"});
    let got = call_headers(&params, Some(&args)).unwrap();
    let got: Vec<(&str, &str)> = got
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("mcp-param-priority", "42"),
            ("mcp-param-region", "us-west1")
        ]
    );
    assert!(call_headers(&params, None).unwrap().is_empty());
}

#[test]
fn call_headers_base64_encode_unsafe_values() {
    let args = json!({"text": "Hello, 世界"});
    let got = call_headers(&custom_tool(), Some(&args)).unwrap();
    assert_eq!(got[0].1, "=?base64?SGVsbG8sIOS4lueVjA==?=");
}

#[test]
fn call_headers_refuse_a_value_that_cannot_be_mirrored() {
    let args = json!({"region": {"not": "a string"}});
    assert_eq!(
        call_headers(&custom_tool(), Some(&args)).unwrap_err(),
        ParamValueError::NotPrimitive
    );
}

#[test]
fn nested_values_are_read_at_their_property_path() {
    let params = param_headers(&schema_with(json!({
        "target": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"}}}
    })))
    .unwrap();
    let args = json!({"target": {"region": "eu"}});
    assert_eq!(call_headers(&params, Some(&args)).unwrap()[0].1, "eu");
    // A non-object on the way is "no value": the header is omitted.
    let args = json!({"target": "eu"});
    assert!(call_headers(&params, Some(&args)).unwrap().is_empty());
}

// --- Server side: headers against the body -----------------------------------------

#[test]
fn headers_built_from_the_body_agree_with_it() {
    let params = custom_tool();
    let args = json!({"region": " padded ", "priority": 7, "verbose": true, "text": "日本語"});
    let mut h = HeaderMap::new();
    for (k, v) in call_headers(&params, Some(&args)).unwrap() {
        h.insert(k, v);
    }
    assert_eq!(check_call_headers(&params, &h, Some(&args)), Ok(()));
}

#[test]
fn header_names_are_case_insensitive_and_values_case_sensitive() {
    let params = custom_tool();
    let args = json!({"region": "us-west1"});
    let ok = headers(&[("MCP-PARAM-REGION", "us-west1")]);
    assert_eq!(check_call_headers(&params, &ok, Some(&args)), Ok(()));
    let upper = headers(&[("mcp-param-region", "US-WEST1")]);
    assert_eq!(
        check_call_headers(&params, &upper, Some(&args)),
        Err(ParamHeaderMismatch::Differs("Mcp-Param-Region".into()))
    );
}

#[test]
fn a_missing_header_for_a_body_value_is_refused() {
    // SEP-2243 "Custom header omitted, value in body".
    let args = json!({"region": "us-west1"});
    assert_eq!(
        check_call_headers(&custom_tool(), &HeaderMap::new(), Some(&args)),
        Err(ParamHeaderMismatch::Missing("Mcp-Param-Region".into()))
    );
}

#[test]
fn null_or_absent_values_expect_no_header() {
    let params = custom_tool();
    let args = json!({"verbose": null});
    assert_eq!(
        check_call_headers(&params, &HeaderMap::new(), Some(&args)),
        Ok(())
    );
    let h = headers(&[("mcp-param-verbose", "true")]);
    assert_eq!(
        check_call_headers(&params, &h, Some(&args)),
        Err(ParamHeaderMismatch::Unexpected("Mcp-Param-Verbose".into()))
    );
}

#[test]
fn repeated_malformed_and_mismatched_headers_are_refused() {
    let params = custom_tool();
    let args = json!({"region": "us-west1"});
    let twice = headers(&[("mcp-param-region", "us-west1"), ("mcp-param-region", "x")]);
    assert_eq!(
        check_call_headers(&params, &twice, Some(&args)),
        Err(ParamHeaderMismatch::Repeated("Mcp-Param-Region".into()))
    );
    let bad = headers(&[("mcp-param-region", "=?base64?SGVsbG8?=")]);
    assert_eq!(
        check_call_headers(&params, &bad, Some(&args)),
        Err(ParamHeaderMismatch::Malformed {
            header: "Mcp-Param-Region".into(),
            reason: ParamValueError::InvalidBase64
        })
    );
    let mut obs = HeaderMap::new();
    obs.insert(
        "mcp-param-region",
        HeaderValue::from_bytes(b"us-\xe9").unwrap(),
    );
    assert!(matches!(
        check_call_headers(&params, &obs, Some(&args)),
        Err(ParamHeaderMismatch::Malformed {
            reason: ParamValueError::InvalidCharacters,
            ..
        })
    ));
    let other = headers(&[("mcp-param-region", "eu-west1")]);
    assert_eq!(
        check_call_headers(&params, &other, Some(&args)),
        Err(ParamHeaderMismatch::Differs("Mcp-Param-Region".into()))
    );
    let obj = json!({"region": {"a": 1}});
    assert_eq!(
        check_call_headers(&params, &other, Some(&obj)),
        Err(ParamHeaderMismatch::NotPrimitive("Mcp-Param-Region".into()))
    );
}

#[test]
fn numbers_compare_numerically_and_booleans_exactly() {
    let params = custom_tool();
    let check = |header: &str, body: Value| {
        let h = headers(&[("mcp-param-priority", header)]);
        check_call_headers(&params, &h, Some(&json!({"priority": body})))
    };
    assert_eq!(check("42", json!(42)), Ok(()));
    assert_eq!(check("42.0", json!(42)), Ok(()));
    assert_eq!(check("42", json!(42.0)), Ok(()));
    assert!(check("43", json!(42)).is_err());
    assert!(check("42x", json!(42)).is_err());
    assert!(check("+42", json!(42)).is_err());
    assert!(check("NaN", json!(42)).is_err());
    // A base64-encoded number decodes first.
    assert_eq!(check("=?base64?NDI=?=", json!(42)), Ok(()));
    let flag = |header: &str| {
        let h = headers(&[("mcp-param-verbose", header)]);
        check_call_headers(&params, &h, Some(&json!({"verbose": true})))
    };
    assert_eq!(flag("true"), Ok(()));
    assert!(flag("True").is_err());
    assert!(flag("1").is_err());
}

#[test]
fn undeclared_param_headers_are_ignored() {
    let h = headers(&[("mcp-param-other", "x")]);
    assert_eq!(
        check_call_headers(&custom_tool(), &h, Some(&json!({}))),
        Ok(())
    );
}

#[test]
fn the_error_body_is_a_header_mismatch_with_the_request_id() {
    let id = serde_json::value::RawValue::from_string("7".into()).unwrap();
    let body = error_body(
        Some(&id),
        &ParamHeaderMismatch::Missing("Mcp-Param-Region".into()),
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], 7);
    assert_eq!(v["error"]["code"], -32020);
    assert_eq!(
        v["error"]["message"],
        "Header mismatch: required header Mcp-Param-Region is missing"
    );
}

proptest::proptest! {
    // Fails if some string encodes to something that is not a header value, or does
    // not decode back to itself (the server would refuse an honest client).
    #[test]
    fn any_string_round_trips_through_a_valid_header_value(s in "\\PC*|[ \t\r\n\0\u{7f}a=?]*") {
        let encoded = encode_str(&s);
        proptest::prop_assert!(HeaderValue::from_str(&encoded).is_ok());
        proptest::prop_assert_eq!(decode_value(&encoded).unwrap(), s.as_str());
    }
}
