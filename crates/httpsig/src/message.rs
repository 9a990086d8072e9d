//! Borrowed views of the message a signature covers.
//!
//! The engine never owns or copies a message: it reads the method, target URI,
//! status and fields through these views, built from `http::request::Parts` /
//! `http::response::Parts` (or from their pieces) on either side of the wire.

use http::{HeaderMap, Method, StatusCode, Uri};

/// True when every byte is visible ASCII, SP or HTAB (see [`visible_ascii`]).
pub(crate) fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((0x20..0x7f).contains(&b) | (b == b'\t'))
    })
}

/// A field value as text when every byte is visible ASCII, SP or HTAB: the test of
/// `http::HeaderValue::to_str`, written as one pass without an early exit so that it
/// runs on whole vectors of bytes (field values such as `Authorization` are
/// hundreds of bytes long and are read on every request).
pub fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if is_visible_ascii(bytes) {
        // ASCII is UTF-8: this never fails here, and only gives the bytes their type.
        // simdutf8 does it with SIMD from 64 bytes on, and with std's check below that
        // (std's alone goes a word at a time: about 1.3 k instructions of an HTTPSig
        // check, most of them on the token's kilobyte).
        simdutf8::basic::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// Strips leading and trailing SP and HTAB (RFC 9110 OWS).
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let (start, end) = ows_bounds(bytes);
    &bytes[start..end]
}

/// [`trim_ows`] on text, byte by byte: a `char` pattern would decode UTF-8 at every
/// step, and field values are trimmed with every request.
pub fn trim_ows_str(text: &str) -> &str {
    // SP and HTAB are ASCII: both bounds fall on character boundaries.
    let (start, end) = ows_bounds(text.as_bytes());
    &text[start..end]
}

/// Where `bytes` starts and ends without its surrounding SP and HTAB.
fn ows_bounds(bytes: &[u8]) -> (usize, usize) {
    let start = bytes
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    (start, end)
}

/// A request as seen by a signer or verifier.
///
/// On a server the received URI is usually in origin form (`/mcp?x=1`), so the
/// scheme and authority of `@target-uri`, `@scheme` and `@authority` must come from
/// configuration ([`RequestView::with_scheme`], [`RequestView::with_authority`]); the
/// authority falls back to the `Host` header. Never take them from `X-Forwarded-*`
/// unless the deployment says a trusted proxy sets them.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) trailers: Option<&'a HeaderMap>,
    pub(crate) scheme: Option<&'a str>,
    pub(crate) authority: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// A view of a request's method, URI (as received) and header fields.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
            trailers: None,
            scheme: None,
            authority: None,
        }
    }

    /// A view of `http::request::Parts`.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers)
    }

    /// Trailer fields, for components with the `tr` parameter (§2.1.4).
    pub fn with_trailers(mut self, trailers: &'a HeaderMap) -> Self {
        self.trailers = Some(trailers);
        self
    }

    /// The scheme to use when the URI has none (origin-form requests on a server).
    pub fn with_scheme(mut self, scheme: &'a str) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// The authority to use when the URI has none, instead of the `Host` header.
    pub fn with_authority(mut self, authority: &'a str) -> Self {
        self.authority = Some(authority);
        self
    }

    /// The header fields.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The effective scheme: from the URI, else the configured one.
    pub fn effective_scheme(&self) -> Option<&'a str> {
        self.uri.scheme_str().or(self.scheme)
    }

    /// The effective authority as received: from the URI, else the configured one,
    /// else the `Host` header.
    pub fn effective_authority(&self) -> Option<&'a str> {
        if let Some(a) = self.uri.authority() {
            return Some(a.as_str());
        }
        if let Some(a) = self.authority {
            return Some(a);
        }
        self.headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::trim)
    }
}

/// A response as seen by a signer or verifier.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    pub(crate) status: StatusCode,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) trailers: Option<&'a HeaderMap>,
}

impl<'a> ResponseView<'a> {
    /// A view of a response's status and header fields.
    pub fn new(status: StatusCode, headers: &'a HeaderMap) -> Self {
        Self {
            status,
            headers,
            trailers: None,
        }
    }

    /// A view of `http::response::Parts`.
    pub fn from_parts(parts: &'a http::response::Parts) -> Self {
        Self::new(parts.status, &parts.headers)
    }

    /// Trailer fields, for components with the `tr` parameter.
    pub fn with_trailers(mut self, trailers: &'a HeaderMap) -> Self {
        self.trailers = Some(trailers);
        self
    }
}

/// The target message of a signature: a request, or a response with (optionally)
/// the request that triggered it, for components with `req` (§2.4).
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// A request.
    Request(RequestView<'a>),
    /// A response, and the related request when the verifier still has it.
    Response {
        /// The response.
        response: ResponseView<'a>,
        /// The request that triggered it.
        request: Option<RequestView<'a>>,
    },
}

impl<'a> Message<'a> {
    /// The header fields of the target message (where `Signature-Input` is read).
    pub fn headers(&self) -> &'a HeaderMap {
        match self {
            Self::Request(r) => r.headers,
            Self::Response { response, .. } => response.headers,
        }
    }

    /// The trailers of the target message, if known.
    pub fn trailers(&self) -> Option<&'a HeaderMap> {
        match self {
            Self::Request(r) => r.trailers,
            Self::Response { response, .. } => response.trailers,
        }
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Self::Request(_))
    }
}

impl<'a> From<RequestView<'a>> for Message<'a> {
    fn from(r: RequestView<'a>) -> Self {
        Self::Request(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sp_and_htab_are_trimmed() {
        assert_eq!(trim_ows_str(" \t a b \t"), "a b");
        assert_eq!(trim_ows_str("   "), "");
        assert_eq!(trim_ows_str(""), "");
        // Not other whitespace, and never inside a multi-byte character.
        assert_eq!(trim_ows_str("\u{a0}x\u{a0} "), "\u{a0}x\u{a0}");
        assert_eq!(trim_ows(b"\tx\n"), b"x\n");
    }
}
