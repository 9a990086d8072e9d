#![no_main]
//! The client's server-sent events parser (`mcp_auth_client::sse::SseParser`, HTML
//! Standard §9.2.6) on a stream a malicious MCP server chose, cut into chunks where the
//! input says. Never panics; the events do not depend on where the stream was cut (a CR
//! and its LF in two chunks, a BOM or a field name split); an event past the cap is an
//! error however the stream arrives; and no event dispatched holds more than the cap
//! (its `data`, `event` and `id`, invalid UTF-8 already turned into U+FFFD).
//!
//! Input: `<cap byte><cut byte>...<stream>`: the cap is `cap byte * 4` bytes; each byte
//! of the stream whose position is a multiple of `cut byte` (when not 0) starts a chunk.
use libfuzzer_sys::fuzz_target;
use mcp_auth_client::sse::{SseEvent, SseParser};

/// Every event of `chunks`, or the error that stopped the stream.
fn events<'a>(cap: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Option<Vec<SseEvent>> {
    let mut parser = SseParser::new(cap);
    let mut all = Vec::new();
    for chunk in chunks {
        all.extend(parser.push(chunk).ok()?);
    }
    Some(all)
}

fuzz_target!(|data: &[u8]| {
    let [cap, cut, stream @ ..] = data else {
        return;
    };
    let cap = usize::from(*cap) * 4;
    let whole = events(cap, std::iter::once(stream));
    let chunked = match usize::from(*cut) {
        0 => events(cap, stream.iter().map(std::slice::from_ref)),
        every => events(cap, stream.chunks(every)),
    };
    assert_eq!(whole, chunked, "cut every {cut} byte(s)");
    for event in whole.iter().flatten() {
        let len = |field: &Option<String>| field.as_ref().map_or(0, String::len);
        let held = len(&event.data) + len(&event.event) + len(&event.id);
        assert!(held <= cap, "an event of {held} bytes under a cap of {cap}");
    }
});
