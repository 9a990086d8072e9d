//! A body read whole, within a limit: the one way this crate reads a body it needs in
//! memory (the layer, before the checks that need the body; the gateway, before it
//! forwards a request or filters a list answer).
//!
//! `http_body_util`'s `collect` gathers the frames in a list of buffers (an allocation)
//! and joins them at the end. Almost every body read here comes in one frame (a
//! JSON-RPC request under its `Content-Length`, the body the layer already read), so
//! the first frame's bytes are kept as they came and a second frame alone starts a
//! buffer: a one-frame body costs no allocation and no copy (issue 18).

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt as _;

/// Why [`read`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// More than the limit arrived: nothing past it was kept.
    TooLarge,
    /// The body broke off or failed.
    Unreadable,
}

/// The data of `body` (trailers are dropped), at most `limit` bytes of it: as it came
/// when it came in one frame.
pub(crate) async fn read<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: http_body::Body,
{
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Unreadable)?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if !data.has_remaining() {
            continue;
        }
        let read = joined.as_ref().map_or(first.len(), BytesMut::len);
        if data.remaining() > limit.saturating_sub(read) {
            return Err(ReadError::TooLarge);
        }
        match joined.as_mut() {
            Some(joined) => put(joined, &mut data),
            // `Bytes` gives itself up without a copy.
            None if first.is_empty() => first = data.copy_to_bytes(data.remaining()),
            None => {
                let mut both = BytesMut::with_capacity(first.len() + data.remaining());
                both.extend_from_slice(&first);
                put(&mut both, &mut data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// Appends `data`'s bytes, chunk by chunk (a `Buf` may be several slices).
fn put(to: &mut BytesMut, data: &mut impl Buf) {
    while data.has_remaining() {
        let chunk = data.chunk();
        let n = chunk.len();
        to.extend_from_slice(chunk);
        data.advance(n);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body::Frame;
    use http_body_util::{Full, StreamBody};

    use super::*;

    /// The frames of a test body: data or trailers, or the error it breaks off with.
    type Frames = Vec<Result<Frame<Bytes>, &'static str>>;

    /// A body of the given frames, then an error if `fails`.
    fn frames(
        chunks: &[&'static str],
        trailers: bool,
        fails: bool,
    ) -> StreamBody<futures_util::stream::Iter<<Frames as IntoIterator>::IntoIter>> {
        let mut items: Frames = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        if trailers {
            items.push(Ok(Frame::trailers(http::HeaderMap::new())));
        }
        if fails {
            items.push(Err("reset"));
        }
        StreamBody::new(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_the_frames_own_bytes() {
        let data = Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}");
        let read = read(Full::new(data.clone()), 1024).await.unwrap();
        assert_eq!(read, data);
        assert_eq!(read.as_ptr(), data.as_ptr(), "not copied");
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_dropped() {
        for chunks in [
            &["ab"][..],
            &["a", "b"],
            &["", "a", "", "b"],
            &["a", "b", "cd"],
        ] {
            let want: String = chunks.concat();
            let got = read(frames(chunks, true, false), 1024).await.unwrap();
            assert_eq!(got, want.as_bytes(), "{chunks:?}");
        }
        assert_eq!(read(frames(&[], false, false), 0).await.unwrap(), "");
    }

    #[tokio::test]
    async fn the_limit_is_the_most_bytes_read_in_any_frames() {
        for chunks in [&["abcd"][..], &["ab", "cd"], &["a", "b", "c", "d"]] {
            assert_eq!(read(frames(chunks, false, false), 4).await.unwrap(), "abcd");
            assert_eq!(
                read(frames(chunks, false, false), 3).await,
                Err(ReadError::TooLarge),
                "{chunks:?}"
            );
        }
        assert_eq!(
            read(frames(&["a"], false, false), 0).await,
            Err(ReadError::TooLarge)
        );
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_unreadable() {
        assert_eq!(
            read(frames(&["ab"], false, true), 1024).await,
            Err(ReadError::Unreadable)
        );
    }

    /// A frame's data may be a `Buf` of several slices (a chained buffer).
    #[tokio::test]
    async fn a_frame_of_several_slices_is_read_whole() {
        let chained = Bytes::from_static(b"ab").chain(Bytes::from_static(b"cd"));
        let first = Bytes::from_static(b"x").chain(Bytes::new());
        let body = StreamBody::new(futures_util::stream::iter([
            Ok::<_, Infallible>(Frame::data(first)),
            Ok(Frame::data(chained)),
        ]));
        assert_eq!(read(body, 5).await.unwrap(), "xabcd");
    }
}
