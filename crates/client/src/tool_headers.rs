//! The client's store of the tools a server listed whose parameters are mirrored
//! into `Mcp-Param-*` headers (SEP-2243): core's [`ToolRegistry`], kept per
//! [`crate::McpClient`] so that every `tools/call` of them carries the headers.
//! Every `tools/list` answer the client reads ([`crate::McpClient::call`],
//! [`crate::McpClient::forward`] and [`crate::McpClient::send_message`] for a
//! bridge, the rmcp transport) goes through [`ToolRegistry::learn_tools_list`], which
//! drops the tools whose annotations cannot be used, with a warning.

use serde_json::Value;

pub use mcp_auth_core::mcp_param::ToolRegistry as ToolHeaders;

/// The `tools/list` request whose answer is being read: the answer (the response
/// with its `id`) goes through [`ToolHeaders::learn_tools_list`] before the caller
/// sees it.
#[derive(Debug, Clone)]
pub(crate) struct ToolsListWatch {
    pub(crate) id: Value,
    pub(crate) tools: ToolHeaders,
}

impl ToolsListWatch {
    /// A watch when `request` is a `tools/list` request (it has an `id`).
    pub(crate) fn for_request(request: &Value, tools: &ToolHeaders) -> Option<Self> {
        if request.get("method").and_then(Value::as_str) != Some("tools/list") {
            return None;
        }
        Some(Self {
            id: request.get("id")?.clone(),
            tools: tools.clone(),
        })
    }

    /// Filters `message` when it is the answer.
    pub(crate) fn apply(&self, message: &mut Value) {
        if message.get("id") == Some(&self.id)
            && let Some(result) = message.get_mut("result")
        {
            self.tools.learn_tools_list(result);
        }
    }

    /// [`ToolsListWatch::apply`] on a message as JSON text: the text itself when it
    /// is not JSON or not the answer, else the filtered answer.
    #[cfg_attr(not(feature = "rmcp"), allow(dead_code))]
    pub(crate) fn apply_text(&self, text: String) -> String {
        let Ok(mut message) = serde_json::from_str::<Value>(&text) else {
            return text;
        };
        if message.get("id") != Some(&self.id) {
            return text;
        }
        self.apply(&mut message);
        serde_json::to_string(&message).unwrap_or(text)
    }
}
