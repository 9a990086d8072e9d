//! The MCP server's answer to a list request, filtered by the policy on its way back
//! (`crate::policy::ListFilter`): a JSON answer is read whole (within
//! [`MAX_LIST_ANSWER`] and the upstream timeout) and rewritten; an SSE answer is
//! filtered event by event as it streams, every other event passed on the moment it
//! is complete, byte for byte.
//!
//! Fail closed: an answer the filter cannot read (compressed, too large, cut off, a
//! list twice) is not passed on — a JSON answer becomes a 502, an SSE stream ends
//! with an error. An entry is never let through because the gateway did not
//! understand the answer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, header};
use http_body::{Body as HttpBody, Frame};

use mcp_auth_core::mcp_param::ToolRegistry;

use crate::policy::{ListFilter, ListFilterError};

/// What the gateway does with each message of a list answer: learns the tools'
/// `x-mcp-header` annotations (SEP-2243, `tools/list` only), then filters
/// the entries by the policy.
#[derive(Debug)]
pub(super) struct ListAnswer {
    filter: Option<ListFilter>,
    learn: Option<ToolRegistry>,
}

impl ListAnswer {
    /// `None` when there is nothing to do with the answer.
    pub(super) fn new(filter: Option<ListFilter>, learn: Option<ToolRegistry>) -> Option<Self> {
        (filter.is_some() || learn.is_some()).then_some(Self { filter, learn })
    }

    /// Whether entries may be removed (the answer must then be read uncompressed).
    pub(super) fn filters(&self) -> bool {
        self.filter.is_some()
    }

    /// One message: learned from, then filtered (`Ok(None)`: unchanged).
    fn filter_message(&self, message: &[u8]) -> Result<Option<Vec<u8>>, ListFilterError> {
        if let Some(registry) = &self.learn {
            registry.learn(message);
        }
        match &self.filter {
            Some(filter) => filter.filter_message(message),
            None => Ok(None),
        }
    }
}

/// The largest list answer (a JSON body, or one SSE event) the gateway reads to
/// filter it; larger answers are refused (fail closed).
pub(super) const MAX_LIST_ANSWER: usize = 8 * 1024 * 1024;

/// How the answer's body will be treated.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AnswerShape {
    /// `application/json`: read whole, then filtered or learned from.
    Json,
    /// `text/event-stream`: filtered or learned from event by event.
    EventStream,
    /// Passed on as it is: not a success, or nothing to learn from it.
    PassOn,
    /// Entries may have to be hidden and the gateway cannot read the answer (a
    /// `Content-Encoding` the server applied unasked, a media type other than JSON
    /// and SSE that a client may still read as JSON): refused.
    Refuse,
}

/// What to do with a list answer from its head. `filters`: entries may be hidden
/// (else the answer is only learned from, and whatever cannot be read passes on);
/// a JSON answer only learned from is read when its length (`length`: the
/// `Content-Length` the body announced) is within [`MAX_LIST_ANSWER`] (else it
/// streams through).
pub(super) fn shape(
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    filters: bool,
) -> AnswerShape {
    if !status.is_success() {
        return AnswerShape::PassOn;
    }
    let unreadable = if filters {
        AnswerShape::Refuse
    } else {
        AnswerShape::PassOn
    };
    // Every field line, every member: `identity, gzip` is compressed.
    let encoded = headers.get_all(header::CONTENT_ENCODING).iter().any(|e| {
        e.as_bytes()
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
    });
    if encoded {
        return unreadable;
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let within_cap = length.is_some_and(|n| n <= MAX_LIST_ANSWER as u64);
    match media.as_deref() {
        Some("application/json") if filters || within_cap => AnswerShape::Json,
        Some("text/event-stream") => AnswerShape::EventStream,
        _ => unreadable,
    }
}

/// A JSON answer read (within the cap and `timeout`) and filtered; `Err` when it
/// cannot be (then the caller answers 502).
pub(super) async fn filter_json<B>(
    filter: &ListAnswer,
    body: B,
    timeout: Duration,
) -> Result<Bytes, ()>
where
    B: HttpBody,
    B::Error: Into<axum::BoxError>,
{
    let read = crate::whole_body::read(body, MAX_LIST_ANSWER);
    let bytes = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        _ => return Err(()),
    };
    match filter.filter_message(&bytes) {
        Ok(None) => Ok(bytes),
        Ok(Some(filtered)) => Ok(Bytes::from(filtered)),
        Err(e) => {
            tracing::warn!(error = %e, "list answer refused");
            Err(())
        }
    }
}

/// An SSE answer filtered event by event.
pub(super) fn filter_event_stream<B>(filter: ListAnswer, body: B) -> Body
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    Body::new(EventStreamFilter {
        inner: body,
        filter: Arc::new(filter),
        pending: BytesMut::new(),
        scanned: 0,
        searched: 0,
        ready: VecDeque::new(),
        passing_through: false,
        bom_checked: false,
        ended: false,
    })
}

/// Why an SSE list answer was cut.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("an event of the list answer is larger than the gateway filters")]
    TooLarge,
    #[error("{0}")]
    Filter(#[from] crate::policy::ListFilterError),
    #[error("the MCP server's stream failed")]
    Upstream,
}

/// The SSE filter (WHATWG HTML "Server-sent events", §9.2.5/§9.2.6): lines end with
/// CRLF, LF or CR; a blank line ends an event; its `data:` lines joined with LF are
/// the JSON-RPC message.
struct EventStreamFilter<B> {
    inner: B,
    filter: Arc<ListAnswer>,
    /// Bytes received and not passed on yet: the current event, incomplete.
    pending: BytesMut,
    /// How far `pending` (the current event) was scanned for line ends.
    scanned: usize,
    /// How far `pending` was searched for a line end (past `scanned`).
    searched: usize,
    /// Events ready to go.
    ready: VecDeque<Bytes>,
    /// An event too large to read came while only learning: the rest streams
    /// through as it comes.
    passing_through: bool,
    /// Whether the stream's start was looked at for a byte order mark.
    bom_checked: bool,
    ended: bool,
}

impl<B> EventStreamFilter<B> {
    /// Moves every complete event of `pending` to `ready`, filtered; `at_end`: the
    /// stream ended, so a final CR ends its line and an unterminated event is
    /// complete.
    fn take_events(&mut self, at_end: bool) -> Result<(), StreamError> {
        if !self.bom_checked {
            // §9.2.6: one leading U+FEFF is ignored by clients. It is passed on as it
            // came and skipped in the reading here, so that the client skips the same
            // one and reads the rest as the gateway did. Dropping it instead would make
            // a second one the client's to skip, and the line it starts (a `data`
            // field to the client, another field to the gateway) pass unfiltered.
            const BOM: &[u8] = b"\xef\xbb\xbf";
            if self.pending.len() < BOM.len() && BOM.starts_with(&self.pending) && !at_end {
                return Ok(());
            }
            if self.pending.starts_with(BOM) {
                self.ready
                    .push_back(self.pending.split_to(BOM.len()).freeze());
            }
            self.bom_checked = true;
        }
        while let Some((line_start, line_end, next)) = self.next_line(at_end) {
            self.scanned = next;
            if line_start == line_end {
                // A blank line: the event (and the blank line) is complete.
                let event = self.pending.split_to(next).freeze();
                self.scanned = 0;
                self.searched = 0;
                self.ready
                    .push_back(filter_event(&self.filter, event, true)?);
            }
        }
        if self.pending.len() > MAX_LIST_ANSWER {
            if self.filter.filters() {
                return Err(StreamError::TooLarge);
            }
            // Only learning: nothing to hide, so the rest passes as it comes.
            self.ready.push_back(self.pending.split().freeze());
            self.passing_through = true;
            return Ok(());
        }
        if at_end && !self.pending.is_empty() {
            // An event the stream did not finish: a client dispatches nothing for it
            // (§9.2.6 "discard"), but filter it all the same, and leave it unfinished.
            let event = self.pending.split().freeze();
            self.ready
                .push_back(filter_event(&self.filter, event, false)?);
        }
        Ok(())
    }

    /// The next whole line from `scanned`: (start, end of content, start of the next
    /// line). A CR at the very end waits for the next bytes (it may be a CRLF).
    /// Bytes already searched are not searched again (`searched`), so a line that
    /// arrives a few bytes at a time costs its length once, not its length squared.
    fn next_line(&mut self, at_end: bool) -> Option<(usize, usize, usize)> {
        let start = self.scanned;
        let from = self.searched.max(start);
        let Some(at) = self.pending[from..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        else {
            self.searched = self.pending.len();
            return None;
        };
        let end = from + at;
        let next = match self.pending[end] {
            b'\r' if end + 1 == self.pending.len() && !at_end => {
                self.searched = end;
                return None;
            }
            b'\r' if self.pending.get(end + 1) == Some(&b'\n') => end + 2,
            _ => end + 1,
        };
        Some((start, end, next))
    }
}

/// One event (its bytes, with the blank line when `complete`), filtered: unchanged
/// unless its data is a list result with entries to hide; then its other fields as
/// they were and the new data.
fn filter_event(filter: &ListAnswer, event: Bytes, complete: bool) -> Result<Bytes, StreamError> {
    let mut data: Vec<u8> = Vec::new();
    let mut has_data = false;
    let mut others: Vec<&[u8]> = Vec::new();
    for line in lines(&event) {
        if let Some(value) = field(line, b"data") {
            if has_data {
                data.push(b'\n');
            }
            has_data = true;
            data.extend_from_slice(value);
        } else if !line.is_empty() {
            others.push(line);
        }
    }
    if !has_data {
        return Ok(event);
    }
    let Some(filtered) = filter.filter_message(&data)? else {
        return Ok(event);
    };
    let mut out = Vec::with_capacity(filtered.len() + 64);
    for line in others {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    // JSON may hold line breaks as whitespace: each line its own `data:` field, so
    // the client joins them back into the same message.
    for line in lines(&filtered) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    if complete {
        out.push(b'\n');
    }
    Ok(Bytes::from(out))
}

/// The lines of `bytes`, each without its CRLF, LF or CR.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let at = rest
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..at];
        let skip = match rest.get(at) {
            Some(b'\r') if rest.get(at + 1) == Some(&b'\n') => at + 2,
            Some(_) => at + 1,
            None => at,
        };
        rest = &rest[skip..];
        Some(line)
    })
}

/// The value of the field `name` in `line` (`name:value`, one leading space
/// dropped), or `None` for another field or a comment.
fn field<'l>(line: &'l [u8], name: &[u8]) -> Option<&'l [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        // `data` alone: the field with an empty value.
        return Some(rest);
    }
    let value = rest.strip_prefix(b":")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

impl<B> HttpBody for EventStreamFilter<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(event))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
            let outcome = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if this.passing_through => {
                        this.ready.push_back(data);
                        Ok(())
                    }
                    Ok(data) => {
                        this.pending.extend_from_slice(&data);
                        this.take_events(false)
                    }
                    // Trailers: nothing to filter in them, and SSE has none.
                    Err(_) => Ok(()),
                },
                Some(Err(_)) => Err(StreamError::Upstream),
                None if this.passing_through => {
                    this.ended = true;
                    Ok(())
                }
                None => {
                    this.ended = true;
                    this.take_events(true)
                }
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "list answer stream cut");
                this.ended = true;
                this.ready.clear();
                return Poll::Ready(Some(Err(e.into())));
            }
        }
    }
}

/// A body that yields `chunks`, one frame each, every one ready at once.
struct Chunks(VecDeque<Bytes>);

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

/// An SSE answer arriving as `chunks` through the filter of `filter`, read to its end:
/// the bytes a client receives, and whether the stream was cut after them. The entry of
/// the `sse_list_filter` fuzz target (`crate::fuzzing`).
pub(crate) fn filter_chunks(filter: ListFilter, chunks: Vec<Bytes>) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let Some(answer) = ListAnswer::new(Some(filter), None) else {
        return (received, false);
    };
    let mut body = std::pin::pin!(filter_event_stream(answer, Chunks(chunks.into())));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    received.extend_from_slice(&data);
                }
            }
            Poll::Ready(None) => return (received, false),
            // Cut; or waiting, which chunks that are all ready never make it do.
            Poll::Ready(Some(Err(_))) | Poll::Pending => return (received, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::policy::{ListKind, Policy, PolicyConfig};
    use crate::presentation::{Principal, Profile};

    fn filter() -> ListFilter {
        let config: PolicyConfig = toml::from_str(
            "[[rules]]\nname = \"no admin\"\nwhen = 'request.name.startsWith(\"admin_\")'\neffect = \"deny\"\n",
        )
        .unwrap();
        let principal = Principal {
            issuer: "https://as.example".into(),
            subject: "alice".into(),
            client_id: "agent".into(),
            scopes: Arc::default(),
            token_id: "t".into(),
            profile: Profile::Bearer,
            key_thumbprint: None,
            claims: Default::default(),
        };
        ListFilter::new(
            Policy::compile(&config).unwrap(),
            principal,
            ListKind::Tools,
            "",
        )
    }

    /// The stream `sse`, cut into `size`-byte chunks, through the filter.
    async fn through(sse: &str, size: usize) -> Result<String, String> {
        let chunks = sse
            .as_bytes()
            .chunks(size)
            .map(Bytes::copy_from_slice)
            .collect();
        let answer = ListAnswer::new(Some(filter()), None).unwrap();
        let body = filter_event_stream(answer, Chunks(chunks));
        match body.collect().await {
            Ok(c) => Ok(String::from_utf8(c.to_bytes().to_vec()).unwrap()),
            Err(e) => Err(e.to_string()),
        }
    }

    const LIST: &str = r#"{"id":1,"result":{"tools":[{"name":"a"},{"name":"admin_b"}]}}"#;
    const FILTERED: &str = r#"{"id":1,"result":{"tools":[{"name":"a"}]}}"#;

    #[tokio::test]
    async fn every_line_ending_and_every_chunk_boundary_gives_the_same_events() {
        for end in ["\n", "\r\n", "\r"] {
            let sse = format!(
                ": comment{end}id: 1{end}data:{end}{end}event: message{end}id: 2{end}data: {LIST}{end}{end}data: {{\"jsonrpc\":\"2.0\"}}{end}{end}"
            );
            let expected = format!(
                ": comment{end}id: 1{end}data:{end}{end}event: message\nid: 2\ndata: {FILTERED}\n\ndata: {{\"jsonrpc\":\"2.0\"}}{end}{end}"
            );
            for size in [1, 2, 3, 7, 1000] {
                assert_eq!(
                    through(&sse, size).await.unwrap(),
                    expected,
                    "{end:?} in {size}-byte chunks"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_stream_only_learned_from_passes_an_event_past_the_cap_as_it_is() {
        let registry = mcp_auth_core::mcp_param::ToolRegistry::default();
        let sse = format!(
            "data: {}\n\ndata: {LIST}\n\n",
            "x".repeat(MAX_LIST_ANSWER + 10)
        );
        let chunks = sse
            .as_bytes()
            .chunks(1 << 16)
            .map(Bytes::copy_from_slice)
            .collect();
        let answer = ListAnswer::new(None, Some(registry)).unwrap();
        let out = filter_event_stream(answer, Chunks(chunks))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(out, sse.as_bytes(), "nothing to hide: every byte passes");
    }

    #[tokio::test]
    async fn a_byte_order_mark_at_the_start_does_not_hide_the_first_event() {
        let sse = format!("\u{feff}data: {LIST}\n\n");
        for size in [1, 2, 3, 4, 100] {
            assert_eq!(
                through(&sse, size).await.unwrap(),
                format!("\u{feff}data: {FILTERED}\n\n"),
                "{size}-byte chunks"
            );
        }
    }

    /// Two byte order marks: the client skips the first (passed on as it came) and
    /// reads the line the second starts as a field named `\u{feff}data`, which it
    /// ignores, as the gateway does. Before, the gateway dropped the first: the client
    /// then skipped the second and read the hidden tool (found by the
    /// `sse_list_filter` fuzz target's oracle).
    #[tokio::test]
    async fn a_second_byte_order_mark_hides_no_event_from_the_filter() {
        for end in ["\n", "\r"] {
            let sse = format!("\u{feff}\u{feff}data: {LIST}{end}{end}");
            for size in [1, 3, 4, 100] {
                let out = through(&sse, size).await.unwrap();
                let events = mcp_auth_client::sse::SseParser::new(1 << 20)
                    .push(out.as_bytes())
                    .unwrap();
                assert!(
                    events.iter().all(|e| e.data.is_none()),
                    "{size}-byte chunks: the client read {events:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn data_over_several_lines_is_one_message_and_an_unfinished_event_is_filtered_too() {
        let sse = "data: {\"id\":1,\r\ndata: \"result\":{\"tools\":[{\"name\":\"admin_b\"}]}}";
        let out = through(sse, 5).await.unwrap();
        assert_eq!(
            out, "data: {\"id\":1,\"result\":{\"tools\":[]}}\n",
            "still unfinished"
        );
    }

    #[tokio::test]
    async fn an_event_past_the_cap_or_a_bad_list_cuts_the_stream() {
        let big = format!("data: {}", "x".repeat(MAX_LIST_ANSWER + 1));
        assert!(through(&big, 1 << 20).await.is_err());
        let twice = "data: {\"result\":{\"tools\":[],\"tools\":[{\"name\":\"admin_b\"}]}}\n\n";
        let cut = through(twice, 4).await.unwrap_err();
        assert!(cut.contains("cannot be filtered"), "{cut}");
    }

    #[test]
    fn only_an_uncompressed_json_or_sse_success_is_read_and_the_rest_refused_when_filtering() {
        let head = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (k, v) in pairs {
                headers.append(*k, v.parse().unwrap());
            }
            headers
        };
        let json = head(&[("content-type", "Application/JSON; charset=utf-8")]);
        assert_eq!(shape(StatusCode::OK, &json, None, true), AnswerShape::Json);
        assert_eq!(
            shape(StatusCode::NOT_FOUND, &json, None, true),
            AnswerShape::PassOn
        );
        // Only learning: a JSON body is read when its length is known and small.
        assert_eq!(
            shape(StatusCode::OK, &json, None, false),
            AnswerShape::PassOn
        );
        assert_eq!(
            shape(StatusCode::OK, &json, Some(120), false),
            AnswerShape::Json
        );
        let too_long = Some(MAX_LIST_ANSWER as u64 + 1);
        assert_eq!(
            shape(StatusCode::OK, &json, too_long, false),
            AnswerShape::PassOn
        );
        let sse = head(&[("content-type", "text/event-stream")]);
        assert_eq!(
            shape(StatusCode::OK, &sse, None, true),
            AnswerShape::EventStream
        );
        // What a client may read as JSON and the gateway would not: refused when filtering.
        for unreadable in [
            head(&[
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ]),
            head(&[
                ("content-type", "text/event-stream"),
                ("content-encoding", "identity"),
                ("content-encoding", "gzip"),
            ]),
            head(&[
                ("content-type", "application/json"),
                ("content-encoding", "identity, gzip"),
            ]),
            head(&[("content-type", "application/json-rpc")]),
            head(&[("content-type", "text/plain")]),
            head(&[]),
        ] {
            assert_eq!(
                shape(StatusCode::OK, &unreadable, None, true),
                AnswerShape::Refuse,
                "{unreadable:?}"
            );
            assert_eq!(
                shape(StatusCode::OK, &unreadable, None, false),
                AnswerShape::PassOn,
                "{unreadable:?}"
            );
        }
        let identity = head(&[
            ("content-type", "text/event-stream"),
            ("content-encoding", "identity"),
        ]);
        assert_eq!(
            shape(StatusCode::OK, &identity, None, true),
            AnswerShape::EventStream
        );
    }
}
