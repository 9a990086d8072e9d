//! Entry points for the fuzz targets in `fuzz/` that reach what is not public API. Not
//! for other use: hidden, and free to change with the targets.

use bytes::Bytes;

use crate::policy::ListFilter;

/// A malicious MCP server's SSE answer to a list request, arriving as `chunks`, through
/// the gateway's filter of `filter` (`proxy/list_answer.rs`), read to its end: the bytes
/// the client receives, and whether the gateway cut the stream after them.
pub fn filter_event_stream(filter: ListFilter, chunks: Vec<Bytes>) -> (Vec<u8>, bool) {
    crate::proxy::filter_chunks(filter, chunks)
}
