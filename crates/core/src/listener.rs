//! The one way every mcp-auth listener (authorization server, gateway, demo server,
//! metrics) serves HTTP: hyper with bounds on what a connection may cost before it
//! has sent a request.
//!
//! - **Header-read timeout** ([`ListenerLimits::header_read`]): the head of each
//!   HTTP/1.1 request must arrive within it, counted from when the server starts
//!   waiting for it, so it also ends keep-alive connections that sit idle between
//!   requests (slowloris, idle sockets).
//! - **Body-read timeout** ([`ListenerLimits::body_read`]): once a handler starts
//!   reading a request body, the whole body must arrive within it.
//! - **Connection cap** ([`ListenerLimits::max_connections`]): connections beyond it
//!   wait in the kernel's accept queue instead of costing memory and tasks.
//! - Header size: hyper's default of 100 headers; the read buffer is capped at
//!   [`MAX_HEAD_BYTES`].
//!
//! Each request carries the peer address as a [`RemoteAddr`] extension. SIGTERM
//! handling stays with the caller: [`Serve::with_graceful_shutdown`] stops accepting
//! when its future completes and waits for the connections in flight.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// The largest request head (request line and headers) read, bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What one listener allows a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// The time to send a request head, and the longest idle wait between requests on
    /// a kept-alive connection (default 10 s).
    pub header_read: Duration,
    /// The time to send a whole request body once it is being read (default 30 s).
    pub body_read: Duration,
    /// Connections served at once (default 1024).
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// `[listener]` in a configuration file (the AS's and the gateway's): every key
/// optional, seconds for the timeouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSettings {
    /// Seconds to send a request head; also the idle keep-alive limit (1..=300).
    pub header_read_timeout: Option<u64>,
    /// Seconds to send a request body once it is read (1..=600).
    pub body_read_timeout: Option<u64>,
    /// Connections served at once (at least 1).
    pub max_connections: Option<usize>,
}

/// A `[listener]` value out of its range; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerSettingsError {
    /// `header_read_timeout` outside 1..=300 seconds.
    #[error("header_read_timeout must be 1..=300 seconds")]
    HeaderReadTimeout,
    /// `body_read_timeout` outside 1..=600 seconds.
    #[error("body_read_timeout must be 1..=600 seconds")]
    BodyReadTimeout,
    /// `max_connections` is 0.
    #[error("max_connections must be at least 1")]
    MaxConnections,
}

impl ListenerSettings {
    /// The limits, defaults where a key is absent; an error naming the key that is
    /// out of range.
    pub fn limits(&self) -> Result<ListenerLimits, ListenerSettingsError> {
        let d = ListenerLimits::default();
        let limits = ListenerLimits {
            header_read: self
                .header_read_timeout
                .map_or(d.header_read, Duration::from_secs),
            body_read: self
                .body_read_timeout
                .map_or(d.body_read, Duration::from_secs),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
        };
        if !(1..=300).contains(&limits.header_read.as_secs()) {
            return Err(ListenerSettingsError::HeaderReadTimeout);
        }
        if !(1..=600).contains(&limits.body_read.as_secs()) {
            return Err(ListenerSettingsError::BodyReadTimeout);
        }
        if limits.max_connections == 0 {
            return Err(ListenerSettingsError::MaxConnections);
        }
        Ok(limits)
    }
}

/// The address of the peer a request came from (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The request body handed to services: hyper's body with the body-read deadline.
pub type RequestBody = DeadlineBody<Incoming>;

/// A server being set up; `.await` it (or [`Serve::with_graceful_shutdown`]).
#[derive(Debug)]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
    limits: ListenerLimits,
}

/// Serves `service` (an axum `Router`, or any tower service of HTTP requests) on
/// `listener` with the default [`ListenerLimits`].
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
        service,
        limits: ListenerLimits::default(),
    }
}

/// What [`serve`] serves: a cloneable tower service of HTTP requests that never fails
/// (an axum `Router`, a tower stack ending in one), whose futures can move between
/// threads. Its response type is bound where it is used.
pub trait HttpService:
    tower::Service<http::Request<RequestBody>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<http::Request<RequestBody>, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// A response body hyper can send.
pub trait ResponseBody:
    Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<B> ResponseBody for B where
    B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<S, B> Serve<S>
where
    S: HttpService<Response = http::Response<B>>,
    B: ResponseBody,
{
    /// Other limits.
    pub fn limits(mut self, limits: ListenerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves until `signal` completes, then stops accepting and waits for the
    /// connections in flight to finish their requests.
    pub async fn with_graceful_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            service,
            limits,
        } = self;
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .max_buf_size(MAX_HEAD_BYTES);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(limits.header_read)
            .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
        let builder = Arc::new(builder);
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            // A slot first: beyond the cap, connections wait in the accept queue.
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut signal => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            // Small writes (SSE events, JSON answers) are not held back by Nagle.
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            let body_read = limits.body_read;
            let hyper_service =
                hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let mut request = request.map(|b| DeadlineBody::new(b, body_read));
                    request.extensions_mut().insert(RemoteAddr(peer));
                    service.clone().oneshot(request)
                });
            let builder = Arc::clone(&builder);
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                // Errors here are the peer's (reset, timeout): nothing to report.
                let _ = connection.await;
                drop(permit);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: HttpService<Response = http::Response<B>>,
    B: ResponseBody,
{
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.with_graceful_shutdown(std::future::pending()))
    }
}

/// The body-read deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// A body that fails with [`BodyTimeout`] when it has not ended within its time,
/// counted from the first read.
#[derive(Debug)]
pub struct DeadlineBody<B> {
    inner: B,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> DeadlineBody<B> {
    /// `inner`, which must end within `limit` of its first read.
    pub fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A listener whose service answers 200 with the request body's length, or 408
    /// when the body timed out.
    async fn start(limits: ListenerLimits) -> SocketAddr {
        use http_body_util::BodyExt as _;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = tower::service_fn(|request: http::Request<RequestBody>| async move {
            let status = match request.into_body().collect().await {
                Ok(_) => 200,
                Err(_) => 408,
            };
            Ok::<_, Infallible>(
                http::Response::builder()
                    .status(status)
                    .body(http_body_util::Full::new(Bytes::from_static(b"ok")))
                    .expect("response"),
            )
        });
        tokio::spawn(serve(listener, service).limits(limits).into_future());
        addr
    }

    fn short() -> ListenerLimits {
        ListenerLimits {
            header_read: Duration::from_millis(300),
            body_read: Duration::from_millis(300),
            max_connections: 2,
        }
    }

    /// Connects to `addr`, sends `bytes`, and reads until the server closes.
    async fn send_and_read_to_close(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(bytes).await.expect("write");
        String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned()
    }

    /// Reads until the server closes the connection; the bytes read. Panics when it
    /// is still open after 10 s (the limits under test are 300 ms).
    async fn read_to_close(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "the server kept the connection open");
        out
    }

    #[tokio::test]
    async fn item_4_a_half_sent_head_is_cut_off() {
        // Never finish the head: the server closes the connection (hyper answers 408
        // or just closes); it must not wait for ever.
        let text =
            send_and_read_to_close(start(short()).await, b"POST / HTTP/1.1\r\nhost: x\r\n").await;
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn item_4_an_idle_kept_alive_connection_is_closed() {
        let answer =
            send_and_read_to_close(start(short()).await, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "the request is served, then the idle connection closed"
        );
    }

    #[tokio::test]
    async fn item_4_a_slow_body_fails_its_deadline() {
        let answer = send_and_read_to_close(
            start(short()).await,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }

    #[tokio::test]
    async fn item_4_connections_beyond_the_cap_wait_until_one_closes() {
        let addr = start(ListenerLimits {
            header_read: Duration::from_secs(2),
            ..short()
        })
        .await;
        // Two idle connections hold both slots.
        let a = tokio::net::TcpStream::connect(addr).await.expect("a");
        let b = tokio::net::TcpStream::connect(addr).await.expect("b");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("c");
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 16];
        let early = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
        assert!(
            early.is_err(),
            "the third connection is not served while two are held"
        );
        drop(a);
        drop(b);
        let answer = read_to_close(&mut c).await;
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    }
}
