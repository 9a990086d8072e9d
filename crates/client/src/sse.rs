//! Server-sent events, read incrementally with a cap on what one event may hold.
//!
//! The parsing follows the HTML Standard's "Interpreting an event stream" (§9.2.6):
//! lines end at CRLF, LF or CR; a leading BOM is dropped; `data`, `event`, `id` and
//! `retry` fields fill the event, a line starting with `:` is a comment, other
//! fields are ignored; a blank line dispatches the event; an unfinished event at
//! the end of the stream is discarded.
//!
//! What is kept for the event under way (its `data`, `event`, `id` and the line
//! being read) is held to the cap as each piece of a line arrives: a server that sends
//! an endless line, or endless `data:` lines without the blank line that ends an event,
//! gets [`SseEventTooLarge`] instead of a buffer that grows for as long as it sends. An
//! event dispatched holds at most the cap; in between, a line of invalid UTF-8 (each
//! byte becoming a three-byte U+FFFD) can leave up to three times it held until the
//! next check.
//! The client reads SSE in one place, [`SseReader`] over this parser: for
//! [`crate::PendingResponse`] and for the rmcp transport alike (the `sse-stream`
//! crate gives only the event type rmcp's interface names; its parser, whose line
//! buffer has no bound, is not used).

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field (the event type), when given.
    pub event: Option<String>,
    /// The `data` lines joined with LF, when any was given.
    pub data: Option<String>,
    /// The `id` field, when given (and free of NUL).
    pub id: Option<String>,
    /// The `retry` field in milliseconds, when given as digits.
    pub retry: Option<u64>,
}

/// An event grew past the cap; the stream is not read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server sent an SSE event larger than {limit} bytes")]
pub struct SseEventTooLarge {
    /// The cap, bytes.
    pub limit: usize,
}

/// An SSE parser fed with the chunks of a response body as they arrive.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// The line being read, without its end.
    line: Vec<u8>,
    /// The last byte consumed was a CR: an LF right after it ends no new line.
    after_cr: bool,
    /// No line has been completed yet (a BOM may start the first).
    first_line: bool,
    /// The event under way.
    pending: SseEvent,
    /// Whether any field of the pending event was given.
    has_field: bool,
    /// Set once the cap was passed: the stream is not trusted further.
    failed: bool,
}

impl SseParser {
    /// A parser that keeps at most `max_event_bytes` for one event.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            pending: SseEvent::default(),
            has_field: false,
            failed: false,
        }
    }

    /// The events `chunk` completes, in order; an error once an event would hold
    /// more than the cap (and for every chunk after that).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseEventTooLarge> {
        let too_large = SseEventTooLarge {
            limit: self.max_event_bytes,
        };
        if self.failed {
            return Err(too_large);
        }
        let mut events = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr) && rest[0] == b'\n' {
                rest = &rest[1..];
                continue;
            }
            let end = rest.iter().position(|b| *b == b'\n' || *b == b'\r');
            let segment = &rest[..end.unwrap_or(rest.len())];
            if self.kept_bytes() + self.line.len() + segment.len() > self.max_event_bytes {
                self.failed = true;
                return Err(too_large);
            }
            self.line.extend_from_slice(segment);
            let Some(at) = end else {
                break;
            };
            self.after_cr = rest[at] == b'\r';
            rest = &rest[at + 1..];
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.complete_line(&line) {
                events.push(event);
            }
            // Keep the buffer's allocation for the next line.
            self.line = line;
            self.line.clear();
        }
        Ok(events)
    }

    /// The bytes the pending event holds.
    fn kept_bytes(&self) -> usize {
        let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        len(&self.pending.data) + len(&self.pending.event) + len(&self.pending.id)
    }

    /// Takes one complete line; the event it dispatches, if it is blank.
    fn complete_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        let mut line = line;
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            return std::mem::take(&mut self.has_field).then(|| std::mem::take(&mut self.pending));
        }
        if line[0] == b':' {
            return None;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let text = || String::from_utf8_lossy(value).into_owned();
        match name {
            b"data" => {
                match &mut self.pending.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&text());
                    }
                    None => self.pending.data = Some(text()),
                }
                self.has_field = true;
            }
            b"event" => {
                self.pending.event = Some(text());
                self.has_field = true;
            }
            b"id" if !value.contains(&0) => {
                self.pending.id = Some(text());
                self.has_field = true;
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = text().parse() {
                    self.pending.retry = Some(ms);
                    self.has_field = true;
                }
            }
            _ => {}
        }
        None
    }
}

/// Why an SSE response could not be read further.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SseReadError {
    /// An event grew past the cap.
    #[error(transparent)]
    TooLarge(#[from] SseEventTooLarge),
    /// The body broke off.
    #[error(transparent)]
    Body(#[from] reqwest::Error),
}

/// The events of an SSE response, in order, as its body arrives: one
/// [`SseParser`] fed with the response's chunks.
#[derive(Debug)]
pub(crate) struct SseReader {
    response: reqwest::Response,
    parser: SseParser,
    /// Events parsed and not yet taken.
    ready: VecDeque<SseEvent>,
}

impl SseReader {
    /// A reader of `response` that keeps at most `max_event_bytes` for one event.
    pub(crate) fn new(response: reqwest::Response, max_event_bytes: usize) -> Self {
        Self {
            response,
            parser: SseParser::new(max_event_bytes),
            ready: VecDeque::new(),
        }
    }

    /// The next event; `None` at the end of the body (an unfinished event is
    /// discarded). The events a chunk completes are lost with it when the same
    /// chunk passes the cap.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, SseReadError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let Some(chunk) = self.response.chunk().await? else {
                return Ok(None);
            };
            self.ready.extend(self.parser.push(&chunk)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().filter_map(|e| e.data.as_deref()).collect()
    }

    #[test]
    fn events_end_at_a_blank_line_with_any_line_end_and_across_chunks() {
        let mut p = SseParser::new(1024);
        assert!(p.push(b"\xEF\xBB\xBFdata: a\r").unwrap().is_empty());
        // The LF after the CR of the previous chunk ends no extra line.
        let events = p.push(b"\ndata:b\r\n\r\nid: 7\n").unwrap();
        assert_eq!(data(&events), ["a\nb"]);
        let events = p
            .push(b"retry: 100\nevent: message\n\ndata: c\r\rdata: d\n")
            .unwrap();
        assert_eq!(
            events,
            [
                SseEvent {
                    id: Some("7".into()),
                    retry: Some(100),
                    event: Some("message".into()),
                    data: None,
                },
                SseEvent {
                    data: Some("c".into()),
                    ..SseEvent::default()
                }
            ]
        );
        // Comments and unknown fields are ignored; an unfinished event is kept.
        assert!(p.push(b": keep-alive\nfoo: bar\n").unwrap().is_empty());
        assert_eq!(data(&p.push(b"\n").unwrap()), ["d"]);
    }

    #[test]
    fn an_endless_line_is_refused_at_the_cap() {
        let mut p = SseParser::new(1000);
        assert!(p.push(b"data: ").unwrap().is_empty());
        let mut refused = None;
        for _ in 0..100 {
            if let Err(e) = p.push(&[b'x'; 64]) {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused, Some(SseEventTooLarge { limit: 1000 }));
        // Nothing more is read from a stream that passed the cap.
        assert_eq!(p.push(b"\n\n"), Err(SseEventTooLarge { limit: 1000 }));
        assert!(p.line.len() <= 1000);
    }

    #[test]
    fn endless_data_lines_without_a_blank_line_are_refused_at_the_cap() {
        let mut p = SseParser::new(1000);
        let mut refused = None;
        for _ in 0..100 {
            if let Err(e) = p.push(b"data: 0123456789012345678901234567890123456789\n") {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused, Some(SseEventTooLarge { limit: 1000 }));
        assert!(p.kept_bytes() <= 1000);
        // Events under the cap pass, one after another, for as long as they come.
        let mut p = SseParser::new(1000);
        for _ in 0..100 {
            assert_eq!(
                data(
                    &p.push(&[b"data: ", &[b'y'; 900][..], b"\n\n"].concat())
                        .unwrap()
                )
                .len(),
                1
            );
        }
    }
}
