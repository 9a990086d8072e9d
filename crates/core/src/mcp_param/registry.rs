//! The tools a server listed whose parameters are mirrored into `Mcp-Param-*`
//! headers (SEP-2243 "Custom Headers from Tool Parameters"), remembered from the
//! `tools/list` answers read: by a client, so that every `tools/call` of them carries
//! the headers (`mcp_auth_client::ToolRegistry`), and by the gateway, so that it checks
//! them (`mcp_auth_resource::tool_headers`). The one store for both.
//!
//! A tool with valid annotations is remembered with its latest definition, a tool
//! without any is forgotten, and a tool whose annotations are invalid is forgotten
//! too: a client removes it from the answer ([`ToolRegistry::learn_tools_list`], with
//! a warning naming the tool and the reason), a gateway passes the answer on as it
//! is ([`ToolRegistry::learn`]). A tool never listed gets no headers (the SEP's
//! "SHOULD send the request without `Mcp-Param-*` headers"), and its headers are
//! not checked.
//!
//! A server may list any number of tools, with schemas as large as a message may
//! be: only annotated tools are remembered, at most [`DEFAULT_MAX_TOOLS`] of them
//! unless set otherwise (the oldest is forgotten first), each costing at most
//! [`MAX_BYTES_PER_TOOL`] (a tool whose annotations need more is treated like an
//! invalid one, as its calls could not carry their headers).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use super::{HEADER_PREFIX, ParamHeader, ParamValueError};

/// The annotated tools remembered unless set otherwise: past it, the one remembered
/// first is forgotten (its calls then go without `Mcp-Param-*` headers, and are not
/// checked, until it is listed again). Tools without annotations cost nothing.
pub const DEFAULT_MAX_TOOLS: usize = 1024;

/// What one remembered tool's annotations may cost (its name, header names and
/// property paths, roughly, in bytes): with [`DEFAULT_MAX_TOOLS`], a server's tool
/// lists cost at most 16 MiB.
pub const MAX_BYTES_PER_TOOL: usize = 16 * 1024;

/// The annotated tools seen listed, shared by its clones (a bridge reads answers on
/// other tasks than the one that sends; a gateway's verifier reads what its proxy
/// learns).
#[derive(Debug, Clone)]
pub struct ToolRegistry {
    inner: Arc<Mutex<Remembered>>,
}

impl Default for ToolRegistry {
    fn default() -> Self {
        Self::with_max_tools(DEFAULT_MAX_TOOLS)
    }
}

#[derive(Debug)]
struct Remembered {
    /// Tool name → (when it was remembered, its annotated properties).
    by_name: HashMap<String, (u64, Arc<[ParamHeader]>)>,
    /// When → tool name: the oldest first, for forgetting.
    order: BTreeMap<u64, String>,
    next: u64,
    max_tools: usize,
}

impl Remembered {
    fn forget(&mut self, name: &str) {
        if let Some((seq, _)) = self.by_name.remove(name) {
            self.order.remove(&seq);
        }
    }

    fn remember(&mut self, name: &str, params: Vec<ParamHeader>) {
        self.forget(name);
        if self.max_tools == 0 {
            return;
        }
        while self.by_name.len() >= self.max_tools {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.by_name.remove(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, name.to_owned());
        self.by_name.insert(name.to_owned(), (seq, params.into()));
    }
}

/// What [`Remembered::learn_tool`] made of one listed tool.
enum Learned<'t> {
    /// Remembered, forgotten (no annotations), or not a tool with a name: keep it.
    Kept,
    /// Its annotations are invalid or too large: forgotten, and a client drops it.
    Invalid(&'t str, String),
}

impl Remembered {
    /// Remembers or forgets one tool of a `tools/list` answer.
    fn learn_tool<'t>(&mut self, tool: &'t Value) -> Learned<'t> {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return Learned::Kept;
        };
        let found = match tool.get("inputSchema") {
            Some(schema) => super::param_headers(schema),
            None => Ok(Vec::new()),
        };
        match found {
            Err(e) => {
                self.forget(name);
                Learned::Invalid(name, e.to_string())
            }
            Ok(params) if params.is_empty() => {
                self.forget(name);
                Learned::Kept
            }
            Ok(params) if cost(name, &params) > MAX_BYTES_PER_TOOL => {
                self.forget(name);
                Learned::Invalid(
                    name,
                    format!("its annotations need more than {MAX_BYTES_PER_TOOL} bytes"),
                )
            }
            Ok(params) => {
                self.remember(name, params);
                Learned::Kept
            }
        }
    }
}

/// What remembering `params` for tool `name` costs, roughly, in bytes.
fn cost(name: &str, params: &[ParamHeader]) -> usize {
    name.len()
        + params
            .iter()
            .map(|p| {
                2 * p.name.len()
                    + HEADER_PREFIX.len()
                    + p.property_path.iter().map(|s| s.len() + 24).sum::<usize>()
                    + 64
            })
            .sum::<usize>()
}

impl ToolRegistry {
    /// Remembers at most `max_tools` annotated tools (0: none, so no call carries
    /// `Mcp-Param-*` headers).
    pub fn with_max_tools(max_tools: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Remembered {
                by_name: HashMap::new(),
                order: BTreeMap::new(),
                next: 0,
                max_tools,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Remembered> {
        // A panic elsewhere leaves a consistent map (every update is one step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the `result` of a `tools/list` answer as a client: drops the tools whose
    /// `x-mcp-header` annotations are invalid (or too large to remember) from
    /// `result.tools`, with a warning for each, and remembers the annotations of the
    /// others (a tool without any is forgotten: its latest definition has none).
    /// Tools without a string `name` are left as they are.
    pub fn learn_tools_list(&self, result: &mut Value) {
        let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) else {
            return;
        };
        let mut remembered = self.lock();
        tools.retain(|tool| match remembered.learn_tool(tool) {
            Learned::Invalid(name, reason) => {
                tracing::warn!(tool = name, %reason,
                    "tools/list: the tool's x-mcp-header annotations cannot be used (SEP-2243); the tool is left out");
                false
            }
            Learned::Kept => true,
        });
    }

    /// Reads one message of a `tools/list` answer as an intermediary (a JSON body,
    /// or one SSE event's data): remembers as [`ToolRegistry::learn_tools_list`]
    /// does and changes nothing; a message that is not a result with `tools` teaches
    /// nothing.
    pub fn learn(&self, message: &[u8]) {
        let Ok(message) = serde_json::from_slice::<Value>(message) else {
            return;
        };
        let Some(tools) = message.pointer("/result/tools").and_then(Value::as_array) else {
            return;
        };
        let mut remembered = self.lock();
        for tool in tools {
            if let Learned::Invalid(name, reason) = remembered.learn_tool(tool) {
                tracing::debug!(tool = name, %reason,
                    "tools/list: the tool's x-mcp-header annotations cannot be used; its calls are not checked");
            }
        }
    }

    /// The annotated properties of `tool`, if it was listed with some (and is still
    /// remembered).
    pub fn get(&self, tool: &str) -> Option<Arc<[ParamHeader]>> {
        self.lock().by_name.get(tool).map(|(_, p)| p.clone())
    }

    /// The `Mcp-Param-*` headers of a call of `tool` with `arguments`
    /// ([`super::call_headers`]); none for a tool not remembered.
    pub fn headers_for_call(
        &self,
        tool: &str,
        arguments: Option<&Value>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ParamValueError> {
        match self.get(tool) {
            Some(params) => super::call_headers(&params, arguments),
            None => Ok(Vec::new()),
        }
    }

    /// How many tools are remembered.
    pub fn len(&self) -> usize {
        self.lock().by_name.len()
    }

    /// Whether no tool is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every tool (a new session starts).
    pub fn clear(&self) {
        let mut remembered = self.lock();
        remembered.by_name.clear();
        remembered.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(tools: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":{tools}}}}}"#)
    }

    const ROUTE: &str = r#"{"name":"route","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}"#;

    #[test]
    fn an_intermediary_learns_annotated_tools_and_forgets_invalid_or_plain_ones() {
        let registry = ToolRegistry::default();
        registry.learn(
            list(&format!(
                r#"[{ROUTE},{{"name":"plain","inputSchema":{{"type":"object"}}}}]"#
            ))
            .as_bytes(),
        );
        let route = registry.get("route").expect("learned");
        assert_eq!(route[0].name, "Region");
        assert_eq!(route[0].property_path, ["region"]);
        assert!(registry.get("plain").is_none());
        assert_eq!(registry.len(), 1);
        // Listed again with an invalid annotation (a space in the name): forgotten.
        let invalid = ROUTE.replace("\"Region\"", "\"Re gion\"");
        registry.learn(list(&format!("[{invalid}]")).as_bytes());
        assert!(registry.get("route").is_none());
        // Not a list result: nothing is learned.
        registry.learn(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
        registry.learn(br#"{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"x"}}}"#);
        registry.learn(b"not json");
        assert!(registry.is_empty());
    }

    #[test]
    fn a_client_drops_what_it_cannot_use_and_the_oldest_tool_goes_first() {
        let registry = ToolRegistry::with_max_tools(2);
        let invalid = ROUTE
            .replace("\"Region\"", "\"Re gion\"")
            .replace("route", "bad");
        let mut result: Value = serde_json::from_str(&format!(
            r#"{{"tools":[{ROUTE},{invalid},{}]}}"#,
            ROUTE.replace("route", "second")
        ))
        .unwrap();
        registry.learn_tools_list(&mut result);
        let names: Vec<&str> = result["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["route", "second"], "the invalid tool is left out");
        registry.learn(list(&format!("[{}]", ROUTE.replace("route", "third"))).as_bytes());
        assert_eq!(registry.len(), 2);
        assert!(registry.get("route").is_none(), "the oldest was forgotten");
        assert!(registry.get("second").is_some() && registry.get("third").is_some());
    }
}
