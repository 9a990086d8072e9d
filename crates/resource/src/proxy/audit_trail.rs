//! The audit event of each operation the gateway forwards (`crate::audit`): a place
//! in the audit queue taken before the request goes upstream (so that with
//! `on_full = "refuse"` an operation that could not be audited never happens: 503),
//! the event recorded once the upstream's answer head arrives (or it failed), with
//! its status and the latency. Operations refused before (scopes, policy, rate
//! limit) are recorded by the verifier.

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};

use crate::audit::{self, AuditSink, AuditSlot};
use crate::presentation::Principal;

/// An operation's audit record, pending its answer.
pub(super) struct Pending {
    slot: AuditSlot,
    request_id: String,
    started: Instant,
}

impl Pending {
    /// The request id, sent upstream as `X-Request-Id`.
    pub(super) fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// Takes a place in the queue for a verified request: `Ok(None)` without audit or
/// without a principal; `Err` when the queue is full and `on_full = "refuse"` (then
/// the caller answers [`unavailable`]).
pub(super) fn begin(
    sink: Option<&AuditSink>,
    principal: Option<&Principal>,
    headers: &HeaderMap,
) -> Result<Option<Pending>, audit::AuditRefused> {
    let (Some(sink), Some(_)) = (sink, principal) else {
        return Ok(None);
    };
    match sink.reserve() {
        Ok(slot) => Ok(Some(Pending {
            slot,
            request_id: audit::request_id(headers),
            started: Instant::now(),
        })),
        Err(refused) => Err(refused),
    }
}

/// 503: the operation could not be audited, so it was not forwarded.
pub(super) fn unavailable() -> Response {
    tracing::warn!("request refused: the audit queue is full (on_full = \"refuse\")");
    (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
                axum::Json(serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": {"code": -32603, "message": "the gateway cannot record this operation now"},
        })),
    )
        .into_response()
}

/// Records the event of the operation `body` names (nothing for a body that names
/// none: a GET, a DELETE, a response the client posts), answered `status`.
pub(super) fn finish(
    pending: Option<Pending>,
    sink: Option<&AuditSink>,
    principal: Option<&Principal>,
    body: &[u8],
    status: StatusCode,
) {
    let (Some(pending), Some(sink), Some(principal)) = (pending, sink, principal) else {
        return;
    };
    let Ok(JsonRpcBody::Operation(op)) = read_body(body) else {
        return;
    };
    let mut event = audit::operation_event(
        sink,
        &pending.request_id,
        principal,
        Some(&op),
        audit::decision::ALLOW,
    )
    .with_latency(pending.started.elapsed());
    event.upstream_status = Some(status.as_u16());
    pending.slot.record(event);
}
