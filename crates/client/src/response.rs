//! Reading an MCP server's answer: one JSON body, or an SSE stream whose messages
//! arrive over time (Streamable HTTP). A message, one SSE event or the JSON body,
//! holds at most the client's cap ([`crate::limits::MAX_MESSAGE_BYTES`] unless
//! changed): a server that sends more gets [`CallError::MessageTooLarge`].

use std::collections::VecDeque;

use mcp_auth_core::fetch::{FetchError, read_capped};
use serde_json::{Value, json};

use crate::CallError;
use crate::limits::MAX_KEPT_NOTIFICATIONS;
use crate::sse::{SseReadError, SseReader};

/// A response still to be read: JSON, or an SSE stream whose messages arrive over
/// time.
#[derive(Debug)]
pub struct PendingResponse {
    pub(crate) response: reqwest::Response,
    pub(crate) max_message_bytes: usize,
    /// For the answer to a `tools/list`: the tools with invalid `x-mcp-header`
    /// annotations are left out of it, the others remembered (SEP-2243).
    pub(crate) tools_list: Option<crate::tool_headers::ToolsListWatch>,
}

impl PendingResponse {
    /// Calls `on_message` with each JSON-RPC message of the response as it arrives
    /// (the answer to a `tools/list` without the tools whose `x-mcp-header`
    /// annotations are invalid).
    pub async fn for_each(self, mut on_message: impl FnMut(Value)) -> Result<(), CallError> {
        let watch = self.tools_list;
        let mut on_message = |mut m: Value| {
            if let Some(watch) = &watch {
                watch.apply(&mut m);
            }
            on_message(m)
        };
        let mut response = self.response;
        if has_media_type(&response, "text/event-stream") {
            let mut events = SseReader::new(response, self.max_message_bytes);
            while let Some(event) = events.next().await.map_err(|e| match e {
                SseReadError::TooLarge(e) => CallError::MessageTooLarge(e.limit),
                SseReadError::Body(e) => CallError::BadResponse(e.to_string()),
            })? {
                if let Some(m) = event.data.and_then(|d| serde_json::from_str(&d).ok()) {
                    on_message(m);
                }
            }
        } else {
            let body = read_message(&mut response, self.max_message_bytes).await?;
            if !body.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<Value>(&body)
                    .map_err(|e| CallError::BadResponse(e.to_string()))?
                {
                    Value::Array(all) => all.into_iter().for_each(&mut on_message),
                    one => on_message(one),
                }
            }
        }
        Ok(())
    }
}

/// Whether `response`'s `Content-Type` is `media_type` (parameters aside).
pub(crate) fn has_media_type(response: &reqwest::Response, media_type: &str) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(media_type))
}

/// The body of a response that is one message (JSON), within the client's cap
/// ([`CallError::MessageTooLarge`] past it).
pub(crate) async fn read_message(
    response: &mut reqwest::Response,
    max_message_bytes: usize,
) -> Result<Vec<u8>, CallError> {
    read_capped(response, max_message_bytes)
        .await
        .map_err(|e| match e {
            FetchError::TooLarge(limit) => CallError::MessageTooLarge(limit),
            other => CallError::BadResponse(other.to_string()),
        })
}

/// The JSON-RPC response with `id` from a JSON or SSE body, and the notifications
/// before it (the last [`MAX_KEPT_NOTIFICATIONS`]); messages after it are ignored.
pub(crate) async fn read_outcome(
    response: PendingResponse,
    id: u64,
) -> Result<crate::CallOutcome, CallError> {
    let mut notifications = VecDeque::new();
    let mut answer = None;
    let mut seen = 0usize;
    response
        .for_each(|m| {
            seen += 1;
            if answer.is_some() {
                return;
            }
            if m.get("id") == Some(&json!(id))
                && (m.get("result").is_some() || m.get("error").is_some())
            {
                answer = Some(m);
            } else {
                if notifications.len() == MAX_KEPT_NOTIFICATIONS {
                    notifications.pop_front();
                }
                notifications.push_back(m);
            }
        })
        .await?;
    let response = answer.ok_or_else(|| {
        CallError::BadResponse(format!("no response with id {id} among {seen} messages"))
    })?;
    Ok(crate::CallOutcome {
        response,
        notifications: notifications.into(),
    })
}
