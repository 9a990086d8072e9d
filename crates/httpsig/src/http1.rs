//! HTTP/1.1 messages as text, the way RFC examples and debugging sessions show them:
//! for the `mcp-auth sig` tool and for tests.
//!
//! Accepts LF or CRLF line ends, RFC 8792 `\` line wrapping (when the text starts
//! with the RFC's `NOTE:` line), obsolete line folding (replaced by one space, RFC 9112
//! §5.2), and chunked bodies with trailers. The body is everything after the empty
//! line, cut to `Content-Length` when there is one; without one, the line end that
//! closes the file is not part of the body (so an editor's final newline does not change
//! a digest). This is not a network parser: servers use hyper.

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::message::{Message, RequestView, ResponseView};

/// Why a text message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Http1Error {
    /// The start line is not a request line or status line.
    #[error("line 1: `{0}` is not an HTTP/1.1 request line or status line")]
    StartLine(String),
    /// A header line is not `name: value`.
    #[error("line {line}: `{text}` is not a header field")]
    Header {
        /// 1-based line number.
        line: usize,
        /// The text.
        text: String,
    },
    /// The chunked body is malformed.
    #[error("the chunked body is malformed: {0}")]
    Chunked(String),
}

/// The start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD target HTTP/1.1`
    Request {
        /// The method.
        method: Method,
        /// The request target as written.
        uri: Uri,
    },
    /// `HTTP/1.1 200 OK`
    Response {
        /// The status.
        status: StatusCode,
        /// The reason phrase.
        reason: String,
    },
}

/// A parsed text message.
#[derive(Debug, Clone)]
pub struct Http1Message {
    /// The start line.
    pub start: StartLine,
    /// Header fields as written (name case kept), in order.
    pub header_lines: Vec<(String, HeaderValue)>,
    /// The header fields.
    pub headers: HeaderMap,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Option<HeaderMap>,
}

/// The RFC 8792 marker line.
const RFC8792_NOTE: &str = "NOTE: '\\' line wrapping per RFC 8792";

/// Undoes RFC 8792 single-backslash wrapping when `text` starts with its NOTE line.
pub fn unwrap_rfc8792(text: &str) -> String {
    let trimmed = text.trim_start_matches(['\r', '\n']);
    let Some(rest) = trimmed.strip_prefix(RFC8792_NOTE) else {
        return text.to_owned();
    };
    let rest = rest.trim_start_matches(['\r', '\n']);
    let mut out = String::with_capacity(rest.len());
    let mut continuing = false;
    let body = rest.strip_suffix('\n').unwrap_or(rest);
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let piece = if continuing {
            line.trim_start_matches([' ', '\t'])
        } else {
            line
        };
        if let Some(head) = piece.strip_suffix('\\') {
            out.push_str(head);
            continuing = true;
        } else {
            out.push_str(piece);
            out.push('\n');
            continuing = false;
        }
    }
    // The last line gets a line end only if the input had one.
    if !rest.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

impl Http1Message {
    /// Parses a message from text (see the module docs for what is accepted).
    pub fn parse(input: &[u8]) -> Result<Self, Http1Error> {
        let text = String::from_utf8_lossy(input);
        let unwrapped;
        let bytes: &[u8] = if text.trim_start().starts_with(RFC8792_NOTE) {
            unwrapped = unwrap_rfc8792(&text);
            unwrapped.as_bytes()
        } else {
            input
        };
        let mut lines = Lines {
            rest: bytes,
            number: 0,
        };
        let start_text = lines
            .next_line()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .unwrap_or_default();
        let start = parse_start_line(&start_text)?;
        let header_lines = read_fields(&mut lines)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &header_lines {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Http1Error::Header {
                line: 0,
                text: name.clone(),
            })?;
            headers.append(name, value.clone());
        }
        let mut body = lines.rest.to_vec();
        let mut trailers = None;
        let chunked = headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.to_ascii_lowercase().contains("chunked"))
            });
        if chunked {
            let (decoded, t) = dechunk(&body)?;
            body = decoded;
            trailers = Some(t);
        } else if let Some(len) = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            body.truncate(len);
        } else if body.ends_with(b"\n") {
            // Without Content-Length, the line end that closes the file is not content
            // (as in the RFC examples); give Content-Length to keep a final newline.
            body.pop();
            if body.ends_with(b"\r") {
                body.pop();
            }
        }
        Ok(Self {
            start,
            header_lines,
            headers,
            body,
            trailers,
        })
    }

    /// A view for signing or verifying. Requests in origin form take `scheme` (default
    /// `https`) and the `Host` header as their authority.
    pub fn view<'a>(&'a self, scheme: &'a str, request: Option<RequestView<'a>>) -> Message<'a> {
        match &self.start {
            StartLine::Request { method, uri } => {
                let mut v = RequestView::new(method, uri, &self.headers).with_scheme(scheme);
                if let Some(t) = &self.trailers {
                    v = v.with_trailers(t);
                }
                Message::Request(v)
            }
            StartLine::Response { status, .. } => {
                let mut r = ResponseView::new(*status, &self.headers);
                if let Some(t) = &self.trailers {
                    r = r.with_trailers(t);
                }
                Message::Response {
                    response: r,
                    request,
                }
            }
        }
    }

    /// A request view (for the `req` context of a response), or `None` for a response.
    pub fn request_view<'a>(&'a self, scheme: &'a str) -> Option<RequestView<'a>> {
        match self.view(scheme, None) {
            Message::Request(r) => Some(r),
            Message::Response { .. } => None,
        }
    }

    /// Adds a header line at the end (and to `headers`).
    pub fn append_header(&mut self, name: &str, value: HeaderValue) {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            self.headers.append(n, value.clone());
            self.header_lines.push((name.to_owned(), value));
        }
    }

    /// Replaces every line of a header with one line, keeping the position of the first.
    pub fn set_header(&mut self, name: &str, value: HeaderValue) {
        let pos = self
            .header_lines
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        self.header_lines
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        match pos {
            Some(p) => self.header_lines.insert(
                p.min(self.header_lines.len()),
                (name.to_owned(), value.clone()),
            ),
            None => self.header_lines.push((name.to_owned(), value.clone())),
        }
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            self.headers.insert(n, value);
        }
    }

    /// Brings `header_lines` in line with `headers` after a signer changed the map:
    /// lines of names the map no longer has are dropped, new values appended.
    pub fn sync_from_headers(&mut self, headers: &HeaderMap) {
        let mut lines: Vec<(String, HeaderValue)> = Vec::new();
        for (name, value) in headers {
            let display = self
                .header_lines
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_str()))
                .map_or_else(|| display_name(name.as_str()), |(n, _)| n.clone());
            lines.push((display, value.clone()));
        }
        // Keep the original order for names that were there; new names at the end.
        let mut ordered = Vec::with_capacity(lines.len());
        for (n, _) in &self.header_lines {
            for (ln, v) in lines.iter().filter(|(ln, _)| ln.eq_ignore_ascii_case(n)) {
                if !ordered
                    .iter()
                    .any(|(o, ov): &(String, HeaderValue)| o.eq_ignore_ascii_case(ln) && ov == v)
                {
                    ordered.push((ln.clone(), v.clone()));
                }
            }
        }
        for (ln, v) in lines {
            if !ordered
                .iter()
                .any(|(o, ov)| o.eq_ignore_ascii_case(&ln) && *ov == v)
            {
                ordered.push((ln, v));
            }
        }
        self.header_lines = ordered;
        self.headers = headers.clone();
    }

    /// Writes the message back as text with CRLF line ends (the body is not re-chunked;
    /// a chunked message is written with its decoded body and no trailers).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} HTTP/1.1\r\n").as_bytes());
            }
            StartLine::Response { status, reason } => {
                out.extend_from_slice(
                    format!("HTTP/1.1 {} {reason}\r\n", status.as_str()).as_bytes(),
                );
            }
        }
        for (name, value) in &self.header_lines {
            if self.trailers.is_some() && name.eq_ignore_ascii_case("transfer-encoding") {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn display_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

struct Lines<'a> {
    rest: &'a [u8],
    number: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its line end, or `None` at the end of input.
    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.number += 1;
        let (line, rest) = match self.rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn peek_is_fold(&self) -> bool {
        matches!(self.rest.first(), Some(b' ' | b'\t'))
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, Http1Error> {
    let bad = || Http1Error::StartLine(line.to_owned());
    if let Some(rest) = line.strip_prefix("HTTP/") {
        let mut parts = rest.splitn(3, ' ');
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| StatusCode::from_bytes(s.as_bytes()).ok())
            .ok_or_else(bad)?;
        let reason = parts.next().unwrap_or("").to_owned();
        return Ok(StartLine::Response { status, reason });
    }
    let mut parts = line.split(' ');
    let method = parts
        .next()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(bad)?;
    let uri = parts
        .next()
        .and_then(|u| u.parse::<Uri>().ok())
        .ok_or_else(bad)?;
    match parts.next() {
        Some(v) if v.starts_with("HTTP/") => Ok(StartLine::Request { method, uri }),
        _ => Err(bad()),
    }
}

/// Reads header (or trailer) lines up to the empty line, unfolding obs-fold.
fn read_fields(lines: &mut Lines<'_>) -> Result<Vec<(String, HeaderValue)>, Http1Error> {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(line) = lines.next_line() {
        if line.is_empty() {
            break;
        }
        let number = lines.number;
        let bad = || Http1Error::Header {
            line: number,
            text: String::from_utf8_lossy(line).into_owned(),
        };
        let colon = line.iter().position(|b| *b == b':').ok_or_else(bad)?;
        let name = std::str::from_utf8(&line[..colon]).map_err(|_| bad())?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(bad());
        }
        let mut value = crate::message::trim_ows(&line[colon + 1..]).to_vec();
        // RFC 9112 §5.2: obs-fold is replaced by one SP.
        while lines.peek_is_fold() {
            let cont = lines.next_line().unwrap_or_default();
            value.push(b' ');
            value.extend_from_slice(crate::message::trim_ows(cont));
        }
        fields.push((name.to_owned(), value));
    }
    fields
        .into_iter()
        .map(|(n, v)| {
            HeaderValue::from_bytes(&v)
                .map(|v| (n.clone(), v))
                .map_err(|_| Http1Error::Header { line: 0, text: n })
        })
        .collect()
}

fn dechunk(body: &[u8]) -> Result<(Vec<u8>, HeaderMap), Http1Error> {
    let mut lines = Lines {
        rest: body,
        number: 0,
    };
    let mut out = Vec::new();
    loop {
        let size_line = lines
            .next_line()
            .ok_or_else(|| Http1Error::Chunked("missing last chunk".into()))?;
        let size_text = String::from_utf8_lossy(size_line);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| Http1Error::Chunked(format!("bad chunk size `{size_hex}`")))?;
        if size == 0 {
            break;
        }
        if lines.rest.len() < size {
            return Err(Http1Error::Chunked("chunk longer than the body".into()));
        }
        out.extend_from_slice(&lines.rest[..size]);
        lines.rest = &lines.rest[size..];
        // The CRLF after the chunk data.
        lines.next_line();
    }
    let mut trailers = HeaderMap::new();
    for (name, value) in read_fields(&mut lines)? {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            trailers.append(n, value);
        }
    }
    Ok((out, trailers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_with_obs_fold_and_content_length() {
        let m = Http1Message::parse(
            b"POST /foo?a=1 HTTP/1.1\r\nHost: example.com\r\nX-Fold: one\r\n   two\r\nContent-Length: 2\r\n\r\nhi\n",
        )
        .unwrap();
        assert_eq!(m.headers["x-fold"], "one two");
        assert_eq!(m.body, b"hi");
    }

    #[test]
    fn unwraps_rfc8792() {
        let t = "NOTE: '\\' line wrapping per RFC 8792\n\nGET / HTTP/1.1\nX-A: abc\\\n  def\n\n";
        let m = Http1Message::parse(t.as_bytes()).unwrap();
        assert_eq!(m.headers["x-a"], "abcdef");
    }

    #[test]
    fn dechunks_with_trailers() {
        let t = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: Expires\n\n4\nHTTP\n7\nMessage\na\nSignatures\n0\nExpires: Wed, 9 Nov 2022 07:28:00 GMT\n";
        let m = Http1Message::parse(t.as_bytes()).unwrap();
        assert_eq!(m.body, b"HTTPMessageSignatures");
        assert_eq!(
            m.trailers.unwrap()["expires"],
            "Wed, 9 Nov 2022 07:28:00 GMT"
        );
    }

    #[test]
    fn bad_start_lines_and_headers_are_errors() {
        assert!(matches!(
            Http1Message::parse(b"hello"),
            Err(Http1Error::StartLine(_))
        ));
        assert!(matches!(
            Http1Message::parse(b"GET / HTTP/1.1\nno colon\n\n"),
            Err(Http1Error::Header { line: 2, .. })
        ));
    }
}
