#![no_main]
//! A malicious MCP server's tool schemas (SEP-2243 `x-mcp-header`): `param_headers` on
//! any JSON value never panics and keeps to its limits, and what it finds is where it
//! says; `ToolRegistry::learn` on any bytes and `learn_tools_list` on any JSON value
//! never panic, and remember or drop only what `param_headers` says.
//!
//! Input: any bytes (a JSON value for most checks: an `inputSchema`, a `tools/list`
//! message, a `tools/list` result).
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::mcp_param::{
    HEADER_PREFIX, ParamHeader, SchemaLimits, ToolRegistry, X_MCP_HEADER, param_headers,
    param_headers_with, validate_header_name,
};
use serde_json::{Value, json};

/// Small limits, to reach every limit with small inputs.
const SMALL: SchemaLimits = SchemaLimits {
    max_headers: 2,
    max_name_len: 8,
    max_depth: 3,
};

/// `found` keeps to `limits`, and each header is the annotation of the property it
/// names in `schema`.
fn check_found(schema: &Value, found: &[ParamHeader], limits: &SchemaLimits) {
    assert!(found.len() <= limits.max_headers, "{} headers", found.len());
    let mut seen = std::collections::HashSet::new();
    for p in found {
        assert!(
            validate_header_name(&p.name, limits.max_name_len).is_ok(),
            "{:?}",
            p.name
        );
        assert!(
            seen.insert(p.name.to_ascii_lowercase()),
            "{:?} twice",
            p.name
        );
        assert_eq!(
            p.header_name.as_str(),
            format!("{HEADER_PREFIX}{}", p.name).to_ascii_lowercase()
        );
        assert!(!p.property_path.is_empty(), "the root is no property");
        assert!(
            p.property_path.len() <= limits.max_depth,
            "{:?}",
            p.property_path
        );
        // properties/<k0>/properties/<k1>/... leads to the annotated property.
        let property = p
            .property_path
            .iter()
            .try_fold(schema, |s, key| s.get("properties")?.get(key.as_str()));
        let annotation = property
            .and_then(|s| s.get(X_MCP_HEADER))
            .and_then(Value::as_str);
        assert_eq!(annotation, Some(p.name.as_str()), "{:?}", p.property_path);
    }
}

/// `schema` under `levels` statically reachable properties.
fn nest(schema: &Value, levels: usize) -> Value {
    let mut v = schema.clone();
    for _ in 0..levels {
        v = json!({"type": "object", "properties": {"p": v}});
    }
    v
}

fuzz_target!(|data: &[u8]| {
    // A gateway reads any message of a list answer.
    let registry = ToolRegistry::with_max_tools(4);
    registry.learn(data);
    assert!(registry.len() <= 4);

    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    // The value as an inputSchema.
    let default = param_headers(&value);
    if let Ok(found) = &default {
        check_found(&value, found, &SchemaLimits::default());
    }
    let small = param_headers_with(&value, &SMALL);
    if let Ok(found) = &small {
        check_found(&value, found, &SMALL);
        // Larger limits refuse nothing more, and find the same.
        assert_eq!(default.as_ref().ok(), Some(found));
    }
    // Beyond the parser's own nesting limit: the schema depth limit holds.
    let deep = nest(&value, 70);
    assert!(
        param_headers(&deep).is_err(),
        "70 levels of properties pass"
    );

    // The value as the inputSchema of a listed tool, seen by a gateway.
    let message = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
        {"name": "t", "inputSchema": value},
        {"name": "plain", "inputSchema": {"type": "object"}}
    ]}});
    let Ok(bytes) = serde_json::to_vec(&message) else {
        return;
    };
    let registry = ToolRegistry::default();
    registry.learn(&bytes);
    // Not remembered: invalid, without annotations, too costly, or nested past the
    // parser's limit once in the message.
    if let Some(params) = registry.get("t") {
        assert_eq!(
            default.as_deref().ok(),
            Some(&params[..]),
            "remembered as found"
        );
        assert!(!params.is_empty(), "remembered without annotations");
    }
    assert!(registry.get("plain").is_none());

    // The value as a tools/list result, read by a client: it drops only tools with a
    // name whose annotations are unusable, and keeps the rest in order.
    let mut result = value.clone();
    let registry = ToolRegistry::with_max_tools(2);
    registry.learn_tools_list(&mut result);
    assert!(registry.len() <= 2);
    match (
        value.get("tools").and_then(Value::as_array),
        result.get("tools"),
    ) {
        (Some(before), Some(Value::Array(after))) => {
            let mut kept = after.iter().peekable();
            for tool in before {
                if kept.peek() == Some(&tool) {
                    kept.next();
                    continue;
                }
                // Dropped: a named tool whose schema is invalid or too costly.
                assert!(tool.get("name").is_some_and(Value::is_string), "{tool}");
                let schema = tool.get("inputSchema");
                assert!(
                    schema.is_some_and(|s| param_headers(s).map_or(true, |p| !p.is_empty())),
                    "dropped a tool with usable or no annotations: {tool}"
                );
            }
            assert!(kept.next().is_none(), "tools/list gained a tool");
        }
        _ => assert_eq!(
            result, value,
            "a value without a tools array is left as it is"
        ),
    }
});
