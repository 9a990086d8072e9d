//! The audit event of each operation the gateway forwards (`crate::audit`): a place
//! in the audit queue taken before the request goes upstream (so that with
//! `on_full = "refuse"` an operation that could not be audited never happens: 503),
//! the event (made by the verifier, which read the operation) recorded once the
//! upstream's answer head arrives (or it failed), with its status and the latency.
//! Operations refused before (scopes, policy, rate limit) are recorded by the
//! verifier.

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::audit::{self, AuditEvent, AuditSink, AuditSlot};

/// An operation's audit record, pending its answer.
pub(super) struct Pending {
    slot: AuditSlot,
    event: AuditEvent,
    started: Instant,
}

impl Pending {
    /// The request id, sent upstream as `X-Request-Id`.
    pub(super) fn request_id(&self) -> &str {
        &self.event.request_id
    }
}

/// Takes a place in the queue for the operation whose event the verifier made
/// (`event`: `None` without audit, or for a request naming no operation: a GET, a
/// DELETE, a response the client posts); `Err` when the queue is full and
/// `on_full = "refuse"` (then the caller answers [`unavailable`]).
pub(super) fn begin(
    sink: Option<&AuditSink>,
    event: Option<AuditEvent>,
) -> Result<Option<Pending>, audit::AuditRefused> {
    let (Some(sink), Some(event)) = (sink, event) else {
        return Ok(None);
    };
    Ok(Some(Pending {
        slot: sink.reserve()?,
        event,
        started: Instant::now(),
    }))
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

/// Records the pending event, answered `status` now.
pub(super) fn finish(pending: Option<Pending>, status: StatusCode) {
    let Some(Pending {
        slot,
        event,
        started,
    }) = pending
    else {
        return;
    };
    let mut event = event.with_latency(started.elapsed());
    event.upstream_status = Some(status.as_u16());
    slot.record(event);
}
