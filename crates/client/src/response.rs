//! Reading an MCP server's answer: one JSON body, or an SSE stream whose messages
//! arrive over time (Streamable HTTP). A message, one SSE event or the JSON body,
//! holds at most the client's cap ([`crate::limits::MAX_MESSAGE_BYTES`] unless
//! changed): a server that sends more gets [`CallError::MessageTooLarge`].

use std::collections::VecDeque;

use serde_json::{Value, json};

use crate::CallError;
use crate::limits::MAX_KEPT_NOTIFICATIONS;
use crate::sse::SseParser;

/// A response still to be read: JSON, or an SSE stream whose messages arrive over
/// time.
#[derive(Debug)]
pub struct PendingResponse {
    pub(crate) response: reqwest::Response,
    pub(crate) max_message_bytes: usize,
}

impl PendingResponse {
    /// Calls `on_message` with each JSON-RPC message of the response as it arrives.
    pub async fn for_each(self, mut on_message: impl FnMut(Value)) -> Result<(), CallError> {
        let mut response = self.response;
        let is_sse = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let read_error = |e: reqwest::Error| CallError::BadResponse(e.to_string());
        if is_sse {
            let mut events = SseParser::new(self.max_message_bytes);
            while let Some(chunk) = response.chunk().await.map_err(read_error)? {
                let events = events
                    .push(&chunk)
                    .map_err(|e| CallError::MessageTooLarge(e.limit))?;
                for data in events.into_iter().filter_map(|e| e.data) {
                    if let Ok(m) = serde_json::from_str(&data) {
                        on_message(m);
                    }
                }
            }
        } else {
            let body = mcp_auth_core::fetch::read_capped(&mut response, self.max_message_bytes)
                .await
                .map_err(|e| match e {
                    mcp_auth_core::fetch::FetchError::TooLarge(limit) => {
                        CallError::MessageTooLarge(limit)
                    }
                    other => CallError::BadResponse(other.to_string()),
                })?;
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
