//! What the head of a request says before any of its body is read: which Streamable
//! HTTP method it uses, whether a body follows and how large it says it is, and the
//! request target reduced to origin form.
//!
//! The presentation check runs in two phases: everything the head alone decides first (method, token, signature or DPoP proof),
//! and only then the body is read, within `max_body`. These helpers are what the first
//! phase knows about the body: its announcement, never its bytes.

use std::borrow::Cow;

use http::{Method, Uri};

use crate::rejection::Rejection;

/// The methods an MCP endpoint serves (MCP Streamable HTTP transport): `POST` for
/// every JSON-RPC message, `GET` for the server's SSE stream, `DELETE` to end a
/// session. The value of `Allow` on a 405.
pub const ALLOWED_METHODS: &str = "GET, POST, DELETE";

/// How a method of [`ALLOWED_METHODS`] treats a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodRule {
    /// `POST`: the body is one JSON-RPC message, checked against `Mcp-Method` /
    /// `Mcp-Name` and the scope policy.
    JsonRpcBody,
    /// `GET` and `DELETE`: no body. One that comes with a body is refused, so a
    /// JSON-RPC operation can never reach the MCP server through a method the
    /// operation checks do not look at.
    NoBody,
}

/// The rule for `method`, or 405 for any other method (`PUT`, `PATCH`, `HEAD`,
/// `OPTIONS`, ...): a `PUT` carrying a `tools/call` must not slip past the per-tool
/// scope rules by not being a `POST`.
pub fn method_rule(method: &Method) -> Result<MethodRule, Rejection> {
    if method == Method::POST {
        Ok(MethodRule::JsonRpcBody)
    } else if method == Method::GET || method == Method::DELETE {
        Ok(MethodRule::NoBody)
    } else {
        Err(Rejection::MethodNotAllowed)
    }
}

/// What the head announces about the body, read before any body byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyHint {
    /// No body follows (no `Content-Length`, or `Content-Length: 0`, and no
    /// `Transfer-Encoding`; for HTTP/2, the headers ended the stream).
    pub empty: bool,
    /// At least this many bytes follow (`Content-Length`); 0 when unknown (chunked).
    pub at_least: u64,
}

impl BodyHint {
    /// The announcement of a body that has not been read.
    pub fn of_body<B: http_body::Body>(body: &B) -> Self {
        Self {
            empty: body.is_end_stream(),
            at_least: body.size_hint().lower(),
        }
    }

    /// The announcement of a body already in memory (tests, benchmarks, callers that
    /// buffered it themselves).
    pub fn of_bytes(body: &[u8]) -> Self {
        Self {
            empty: body.is_empty(),
            at_least: body.len() as u64,
        }
    }
}

/// The request target in origin form (path and query only). An absolute-form request
/// line (`POST http://other.example/mcp HTTP/1.1`, RFC 9112 §3.2.2) must not decide
/// the scheme and authority a signature or a DPoP proof is checked against: they come
/// from the configured resource URL (HTTPSIG-RS-11, profiles/dpop.md), and a
/// `RequestView` prefers a URI's own authority to the configured one.
pub fn origin_form(uri: &Uri) -> Cow<'_, Uri> {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return Cow::Borrowed(uri);
    }
    let mut parts = uri.clone().into_parts();
    parts.scheme = None;
    parts.authority = None;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Cow::Owned(Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_streamable_http_methods_are_served() {
        assert_eq!(
            method_rule(&Method::POST).ok(),
            Some(MethodRule::JsonRpcBody)
        );
        assert_eq!(method_rule(&Method::GET).ok(), Some(MethodRule::NoBody));
        assert_eq!(method_rule(&Method::DELETE).ok(), Some(MethodRule::NoBody));
        for m in [
            Method::PUT,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
        ] {
            assert!(matches!(method_rule(&m), Err(Rejection::MethodNotAllowed)));
        }
    }

    #[test]
    fn an_absolute_form_target_loses_its_scheme_and_authority() {
        let uri: Uri = "http://other.example:8443/mcp?x=1"
            .parse()
            .unwrap_or_default();
        let origin = origin_form(&uri);
        assert_eq!(origin.to_string(), "/mcp?x=1");
        assert!(origin.authority().is_none() && origin.scheme().is_none());
        let plain: Uri = "/mcp".parse().unwrap_or_default();
        assert!(matches!(origin_form(&plain), Cow::Borrowed(_)));
    }
}
