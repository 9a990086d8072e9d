//! The `x-mcp-header` annotations of a tool's `inputSchema`, validated (MCP
//! 2026-07-28 Streamable HTTP §Schema Extension): a tool with one invalid
//! annotation is invalid as a whole, and a client drops it from `tools/list`.

use std::collections::HashSet;

use http::HeaderName;
use serde_json::{Map, Value};

use super::{HEADER_PREFIX, ParamHeader, ParamKind, X_MCP_HEADER};

/// Bounds on the work and the result of reading one schema: what this
/// implementation accepts, beyond the SEP's own rules (which set no limits and let
/// clients and servers impose theirs, SEP-2243 "No Specification-Level Header Size
/// Limit"). A schema past a bound is refused like an invalid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaLimits {
    /// Annotated properties in one schema.
    pub max_headers: usize,
    /// Bytes of one `x-mcp-header` value.
    pub max_name_len: usize,
    /// Nesting of schema objects walked (`properties` → property → `properties` …
    /// counts one per schema).
    pub max_depth: usize,
}

impl Default for SchemaLimits {
    /// 64 annotations, 128-byte names, 64 levels of nested schemas.
    fn default() -> Self {
        Self {
            max_headers: 64,
            max_name_len: 128,
            max_depth: 64,
        }
    }
}

/// Why an `x-mcp-header` annotation, and with it the tool, is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The value is not a JSON string.
    #[error("the x-mcp-header value is not a string")]
    NotAString,
    /// `""`.
    #[error("the x-mcp-header value is empty")]
    Empty,
    /// A character outside the HTTP token characters (`tchar`, RFC 9110 §5.6.2):
    /// a space, a colon, a control character, anything non-ASCII...
    #[error("the x-mcp-header value {0:?} is not an HTTP field-name token")]
    NotAToken(String),
    /// Longer than [`SchemaLimits::max_name_len`].
    #[error("the x-mcp-header value is longer than {0} bytes")]
    TooLong(usize),
    /// Another annotation of the schema has the same name, ignoring case.
    #[error("the x-mcp-header value {0:?} is used more than once (names are case-insensitive)")]
    Duplicate(String),
    /// The property's `type` is missing or is not `string`, `integer` or `boolean`
    /// (`number`, `object`, `array`, `null` are not allowed).
    #[error("x-mcp-header is only allowed on string, integer and boolean properties, not {0}")]
    NotPrimitive(String),
    /// The annotation is not on a property reachable from the root through
    /// `properties` keys alone (it sits under `items`, `anyOf`, `$defs`, … or on
    /// the root schema itself).
    #[error(
        "x-mcp-header is only allowed on properties reached from the root through `properties` alone"
    )]
    NotStaticallyReachable,
    /// More annotations than [`SchemaLimits::max_headers`].
    #[error("more than {0} x-mcp-header annotations")]
    TooManyHeaders(usize),
    /// Schemas nested deeper than [`SchemaLimits::max_depth`].
    #[error("the input schema is nested deeper than {0} levels")]
    TooDeep(usize),
}

/// A tool definition's `x-mcp-header` annotations are invalid: where (a JSON
/// pointer into the `inputSchema`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at inputSchema {location})")]
pub struct InvalidToolHeaders {
    /// The JSON pointer of the offending schema in the `inputSchema` (`""` for the
    /// root, `/properties/region` for a property).
    pub location: String,
    /// What is wrong.
    pub reason: InvalidReason,
}

/// The annotated properties of `input_schema`, within [`SchemaLimits::default`].
pub fn param_headers(input_schema: &Value) -> Result<Vec<ParamHeader>, InvalidToolHeaders> {
    param_headers_with(input_schema, &SchemaLimits::default())
}

/// The annotated properties of `input_schema` (in the order `serde_json` keeps an
/// object's members, sorted by key unless its `preserve_order` is on), or why the tool
/// is invalid. Every schema position is looked at, so an annotation where it may
/// not be (under `items`, a composition keyword, `$defs`...) is found and refused;
/// values of non-schema keywords (`default`, `enum`, `const`, `examples`...) are
/// data and not looked into.
pub fn param_headers_with(
    input_schema: &Value,
    limits: &SchemaLimits,
) -> Result<Vec<ParamHeader>, InvalidToolHeaders> {
    let mut walk = Walk {
        limits,
        found: Vec::new(),
        seen_names: HashSet::new(),
        pointer: Vec::new(),
    };
    walk.schema(input_schema, Some(&mut Vec::new()), 0)?;
    Ok(walk.found)
}

/// Validates one `x-mcp-header` value: not empty, HTTP token characters only (which
/// excludes controls, CR, LF, spaces, colons and non-ASCII), at most `max_len`
/// bytes.
pub fn validate_header_name(name: &str, max_len: usize) -> Result<(), InvalidReason> {
    if name.is_empty() {
        return Err(InvalidReason::Empty);
    }
    if !name.bytes().all(is_tchar) {
        return Err(InvalidReason::NotAToken(name.to_owned()));
    }
    if name.len() > max_len {
        return Err(InvalidReason::TooLong(max_len));
    }
    Ok(())
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Keywords whose value is one subschema.
const ONE_SCHEMA: &[&str] = &[
    "items",
    "additionalItems",
    "contains",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
/// Keywords whose value maps names to subschemas (`properties` aside).
const SCHEMA_MAPS: &[&str] = &[
    "patternProperties",
    "dependentSchemas",
    "dependencies",
    "$defs",
    "definitions",
];

struct Walk<'l, 's> {
    limits: &'l SchemaLimits,
    found: Vec<ParamHeader>,
    seen_names: HashSet<String>,
    /// The JSON pointer of the schema being walked, as segments.
    pointer: Vec<&'s str>,
}

impl<'s> Walk<'_, 's> {
    fn invalid(&self, reason: InvalidReason) -> InvalidToolHeaders {
        let location = self
            .pointer
            .iter()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect();
        InvalidToolHeaders { location, reason }
    }

    /// Walks `schema`; `path` is its chain of `properties` keys when it is
    /// statically reachable, `None` when it is not.
    fn schema(
        &mut self,
        schema: &'s Value,
        path: Option<&mut Vec<String>>,
        depth: usize,
    ) -> Result<(), InvalidToolHeaders> {
        // Boolean schemas (and anything that is not a schema object) carry nothing.
        let Value::Object(schema) = schema else {
            return Ok(());
        };
        if depth > self.limits.max_depth {
            return Err(self.invalid(InvalidReason::TooDeep(self.limits.max_depth)));
        }
        let mut path = path;
        if let Some(name) = schema.get(X_MCP_HEADER) {
            self.annotation(schema, name, path.as_deref())?;
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (key, sub) in properties {
                self.pointer.push("properties");
                self.pointer.push(key);
                match path.as_deref_mut() {
                    Some(p) => {
                        p.push(key.clone());
                        let r = self.schema(sub, Some(p), depth + 1);
                        p.pop();
                        r?;
                    }
                    None => self.schema(sub, None, depth + 1)?,
                }
                self.pointer.truncate(self.pointer.len() - 2);
            }
        }
        for keyword in ONE_SCHEMA {
            if let Some(sub @ Value::Object(_)) = schema.get(*keyword) {
                self.pointer.push(keyword);
                self.schema(sub, None, depth + 1)?;
                self.pointer.pop();
            }
        }
        for keyword in SCHEMA_ARRAYS {
            if let Some(Value::Array(subs)) = schema.get(*keyword) {
                self.pointer.push(keyword);
                for sub in subs {
                    self.schema(sub, None, depth + 1)?;
                }
                self.pointer.pop();
            }
        }
        for keyword in SCHEMA_MAPS {
            if let Some(Value::Object(subs)) = schema.get(*keyword) {
                for (key, sub) in subs {
                    self.pointer.push(keyword);
                    self.pointer.push(key);
                    self.schema(sub, None, depth + 1)?;
                    self.pointer.truncate(self.pointer.len() - 2);
                }
            }
        }
        Ok(())
    }

    /// Checks and records the annotation `name` of the property `schema` at `path`.
    fn annotation(
        &mut self,
        schema: &Map<String, Value>,
        name: &Value,
        path: Option<&Vec<String>>,
    ) -> Result<(), InvalidToolHeaders> {
        // The root itself has an empty path: it is no property.
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            return Err(self.invalid(InvalidReason::NotStaticallyReachable));
        };
        let Value::String(name) = name else {
            return Err(self.invalid(InvalidReason::NotAString));
        };
        validate_header_name(name, self.limits.max_name_len).map_err(|r| self.invalid(r))?;
        let kind = declared_kind(schema.get("type")).map_err(|r| self.invalid(r))?;
        if !self.seen_names.insert(name.to_ascii_lowercase()) {
            return Err(self.invalid(InvalidReason::Duplicate(name.clone())));
        }
        if self.found.len() == self.limits.max_headers {
            return Err(self.invalid(InvalidReason::TooManyHeaders(self.limits.max_headers)));
        }
        let header_name = HeaderName::from_bytes(format!("{HEADER_PREFIX}{name}").as_bytes())
            .map_err(|_| self.invalid(InvalidReason::NotAToken(name.clone())))?;
        self.found.push(ParamHeader {
            name: name.clone(),
            header_name,
            property_path: path.clone(),
            kind,
        });
        Ok(())
    }
}

/// The kind a property's `type` declares: one of `string`, `integer`, `boolean`,
/// alone or in a list with `null` (a nullable parameter: a `null` argument is
/// simply not mirrored).
fn declared_kind(declared: Option<&Value>) -> Result<ParamKind, InvalidReason> {
    let one = |t: &str| match t {
        "string" => Some(ParamKind::String),
        "integer" => Some(ParamKind::Integer),
        "boolean" => Some(ParamKind::Boolean),
        _ => None,
    };
    let refused = |what: String| Err(InvalidReason::NotPrimitive(what));
    match declared {
        None => refused("a property without a type".into()),
        Some(Value::String(t)) => one(t).map_or_else(|| refused(format!("type {t:?}")), Ok),
        Some(Value::Array(types)) => {
            let mut non_null = types.iter().filter(|t| t.as_str() != Some("null"));
            match (non_null.next(), non_null.next()) {
                (Some(Value::String(t)), None) => {
                    one(t).map_or_else(|| refused(format!("type {t:?}")), Ok)
                }
                _ => refused(format!("type {}", Value::Array(types.clone()))),
            }
        }
        Some(other) => refused(format!("type {other}")),
    }
}
