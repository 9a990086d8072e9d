//! What the client accepts from the servers it talks to, and the one way it reads an
//! answer whose error statuses carry JSON too.
//!
//! An MCP server, its authorization server and anything their metadata names may be
//! hostile: every body the client reads has a size cap, and every exchange with an
//! authorization server a deadline. Metadata documents and JWK Sets are read with
//! [`mcp_auth_core::fetch::json`] ([`FetchLimits::METADATA`]); token and registration
//! answers (whose errors come with status 400 or 401 and a JSON body) with
//! [`mcp_auth_core::fetch::send_capped`]; MCP messages, one SSE event or one JSON body at a time, up to
//! [`MAX_MESSAGE_BYTES`].

use std::time::Duration;

use mcp_auth_core::fetch::FetchLimits;
pub use mcp_auth_core::fetch::{CappedAnswer, send_capped};

/// The largest JSON-RPC message the client takes from an MCP server: one SSE event
/// (its `data`, `event` and `id` together, and any line of it), or a JSON response
/// body. Larger ones end the response with [`crate::CallError::MessageTooLarge`]
/// instead of growing a buffer for as long as the server sends.
/// [`crate::McpClient::with_max_message_bytes`] changes it per client.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The notifications `McpClient::call` keeps from before its response (the latest
/// ones): a server that streams notifications without end costs no more memory
/// than this many messages.
pub const MAX_KEPT_NOTIFICATIONS: usize = 1024;

/// The tools with `x-mcp-header` annotations a client remembers from `tools/list`
/// answers (SEP-2243): past it, the one remembered first is forgotten (its calls then
/// go without `Mcp-Param-*` headers until it is listed again). Tools without
/// annotations cost nothing. [`crate::McpClient::with_max_remembered_tools`] changes
/// it per client.
pub const MAX_REMEMBERED_TOOLS: usize = mcp_auth_core::mcp_param::DEFAULT_MAX_TOOLS;

/// What one remembered tool's annotations may cost (its name, header names and
/// property paths, roughly, in bytes): a tool past it is left out of the
/// `tools/list` answer, as its calls could not carry their headers. With
/// [`MAX_REMEMBERED_TOOLS`], bounds what a server's tool lists cost at 16 MiB.
pub const MAX_REMEMBERED_BYTES_PER_TOOL: usize = mcp_auth_core::mcp_param::MAX_BYTES_PER_TOOL;

/// Token endpoint and registration answers: 64 KiB (a token response is a few
/// kilobytes) within 30 s (the authorization server may fetch a client's JWK Set
/// or metadata document before it answers).
pub const AUTHORIZATION_SERVER_ANSWER: FetchLimits = FetchLimits {
    max_bytes: 64 * 1024,
    timeout: Duration::from_secs(30),
};

/// How much of an error body is quoted in a message.
pub const MAX_QUOTED_ERROR_BYTES: usize = 4 * 1024;

/// How long the client waits for an error body it quotes.
const QUOTED_ERROR_TIMEOUT: Duration = Duration::from_secs(5);

/// At most [`MAX_QUOTED_ERROR_BYTES`] of `response`'s body, as text, for an error
/// message: what arrived within a few seconds (a body that never ends costs no more).
pub async fn quoted_body(mut response: reqwest::Response) -> String {
    let mut quoted = Vec::new();
    let read = async {
        while quoted.len() < MAX_QUOTED_ERROR_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => quoted.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(QUOTED_ERROR_TIMEOUT, read).await;
    quoted.truncate(MAX_QUOTED_ERROR_BYTES);
    String::from_utf8_lossy(&quoted).into_owned()
}
