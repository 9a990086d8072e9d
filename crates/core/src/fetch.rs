//! The one way mcp-auth reads a JSON document from another server (authorization
//! server metadata, protected resource metadata, JWK Sets, client metadata
//! documents): a deadline over the whole exchange (connect, headers and body), a
//! size cap enforced while the body arrives (a declared `Content-Length` over the
//! cap is refused before reading), a 200 status, and JSON. A slow or endless peer
//! costs at most `timeout`, a large one at most `max_bytes` of memory.
//!
//! Callers build the request (their client decides redirects, address pinning and
//! TLS); this module bounds what reading it may cost. Errors say what went wrong in
//! a form fit for logs; callers that answer a third party map them to a fixed text.

use std::time::Duration;

/// The bounds of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest body accepted, bytes.
    pub max_bytes: usize,
    /// The deadline for the whole exchange.
    pub timeout: Duration,
}

impl FetchLimits {
    /// Metadata documents and JWK Sets: 64 KiB in 5 s.
    pub const METADATA: Self = Self {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(5),
    };
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// No connection, or the exchange broke off.
    #[error("connection failed")]
    Connection,
    /// A status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than allowed.
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not JSON.
    #[error("the response is not JSON")]
    NotJson,
}

/// A document that was read: its JSON and the response headers (for caching).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The document.
    pub value: serde_json::Value,
    /// The response headers.
    pub headers: http::HeaderMap,
}

/// An answer read within its limits, whatever its status.
#[derive(Debug)]
pub struct CappedAnswer {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body, at most the limit's `max_bytes`.
    pub body: Vec<u8>,
}

/// Sends `request` and reads its JSON body within `limits`; only a 200 is a document.
pub async fn json(
    request: reqwest::RequestBuilder,
    limits: FetchLimits,
) -> Result<Fetched, FetchError> {
    let request = request.header(http::header::ACCEPT, "application/json");
    let answer = exchange(request, limits, Some(http::StatusCode::OK)).await?;
    let value = serde_json::from_slice(&answer.body).map_err(|_| FetchError::NotJson)?;
    Ok(Fetched {
        value,
        headers: answer.headers,
    })
}

/// Sends `request` and reads its body, whatever the status, within `limits`: a
/// deadline over the whole exchange and a size cap enforced while the body arrives
/// ([`read_capped`]). For answers whose errors carry a body too (RFC 6749 §5.2, RFC
/// 7591 §3.2.2), and the building block of [`json`].
pub async fn send_capped(
    request: reqwest::RequestBuilder,
    limits: FetchLimits,
) -> Result<CappedAnswer, FetchError> {
    exchange(request, limits, None).await
}

/// One bounded exchange; with `only`, another status is refused before any body byte
/// is read.
async fn exchange(
    request: reqwest::RequestBuilder,
    limits: FetchLimits,
    only: Option<http::StatusCode>,
) -> Result<CappedAnswer, FetchError> {
    let exchange = async {
        let mut response = request.send().await.map_err(|e| transport_error(&e))?;
        if let Some(expected) = only
            && response.status() != expected
        {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let body = read_capped(&mut response, limits.max_bytes).await?;
        Ok(CappedAnswer {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    };
    tokio::time::timeout(limits.timeout, exchange)
        .await
        .unwrap_or(Err(FetchError::Timeout))
}

/// A transport failure as a [`FetchError`]: its own timeout, or a broken connection.
fn transport_error(e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Connection
    }
}

/// The body of `response`, refused as soon as it passes `max_bytes`.
pub async fn read_capped(
    response: &mut reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-connection server that answers with `response` after reading the request
    /// head, then keeps the socket open for `hold`.
    async fn serve_once(response: Vec<u8>, hold: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(&response).await;
            tokio::time::sleep(hold).await;
        });
        format!("http://{addr}/doc")
    }

    fn limits(max_bytes: usize, timeout_ms: u64) -> FetchLimits {
        FetchLimits {
            max_bytes,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    /// The error of reading `url` with a 1 KiB cap and a `timeout_ms` deadline.
    async fn refused(url: &str, timeout_ms: u64) -> FetchError {
        json(reqwest::Client::new().get(url), limits(1024, timeout_ms))
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_document_within_the_limits_is_read() {
        let body = br#"{"issuer":"x"}"#;
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(body);
        let url = serve_once(resp, Duration::ZERO).await;
        let got = json(reqwest::Client::new().get(&url), limits(1024, 2000))
            .await
            .expect("fetched");
        assert_eq!(got.value["issuer"], "x");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n{".to_vec();
        let url = serve_once(resp, Duration::from_secs(5)).await;
        assert_eq!(refused(&url, 2000).await, FetchError::TooLarge(1024));
    }

    #[tokio::test]
    async fn a_chunked_body_is_cut_at_the_cap() {
        let mut resp = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n800\r\n".to_vec();
        resp.extend(std::iter::repeat_n(b' ', 0x800));
        resp.extend_from_slice(b"\r\n");
        let url = serve_once(resp, Duration::from_secs(5)).await;
        assert_eq!(refused(&url, 2000).await, FetchError::TooLarge(1024));
    }

    #[tokio::test]
    async fn a_peer_that_never_finishes_costs_the_deadline() {
        // Headers, then a body that never comes.
        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{".to_vec();
        let url = serve_once(resp, Duration::from_secs(30)).await;
        assert_eq!(refused(&url, 300).await, FetchError::Timeout);
    }

    #[tokio::test]
    async fn other_statuses_and_non_json_are_refused() {
        let url = serve_once(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
            Duration::ZERO,
        )
        .await;
        assert_eq!(refused(&url, 2000).await, FetchError::Status(404));
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc".to_vec(),
            Duration::ZERO,
        )
        .await;
        assert_eq!(refused(&url, 2000).await, FetchError::NotJson);
    }
}
