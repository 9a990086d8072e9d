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
//! Each request carries the peer address as a [`RemoteAddr`] extension.
//!
//! Stopping: [`Serve::with_shutdown`] drains as a server behind a load balancer must
//! (readiness 503 first, [`ListenerLimits::drain_delay`] of still serving, then the
//! requests in flight get up to [`ListenerLimits::shutdown_timeout`]; see
//! [`crate::shutdown`]). [`Serve::with_graceful_shutdown`] stops accepting when its
//! future completes and waits for the connections in flight without a bound.

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
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::shutdown::Shutdown;

/// The largest request head (request line and headers) read, bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What one listener allows a connection, and how it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// The time to send a request head, and the longest idle wait between requests on
    /// a kept-alive connection (default 10 s).
    pub header_read: Duration,
    /// The time to send a whole request body once it is being read (default 30 s).
    pub body_read: Duration,
    /// Connections served at once (default 1024).
    pub max_connections: usize,
    /// After the first stop request, how long the server keeps accepting and serving
    /// new requests while `/readyz` answers 503, so that the load balancer notices
    /// first (default 5 s; 0: stop accepting at once). [`Serve::with_shutdown`] only.
    pub drain_delay: Duration,
    /// Then, how long the requests in flight may take to finish before their
    /// connections are cut (default 30 s). [`Serve::with_shutdown`] only.
    pub shutdown_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            max_connections: 1024,
            drain_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
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
    /// Seconds of still serving after SIGTERM while `/readyz` answers 503 (0..=300;
    /// 0 skips it).
    pub drain_delay: Option<u64>,
    /// Seconds the requests in flight then get before their connections are cut
    /// (0..=3600).
    pub shutdown_timeout: Option<u64>,
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
    /// `drain_delay` over 300 seconds.
    #[error("drain_delay must be 0..=300 seconds")]
    DrainDelay,
    /// `shutdown_timeout` over 3600 seconds.
    #[error("shutdown_timeout must be 0..=3600 seconds")]
    ShutdownTimeout,
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
            drain_delay: self.drain_delay.map_or(d.drain_delay, Duration::from_secs),
            shutdown_timeout: self
                .shutdown_timeout
                .map_or(d.shutdown_timeout, Duration::from_secs),
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
        if limits.drain_delay.as_secs() > 300 {
            return Err(ListenerSettingsError::DrainDelay);
        }
        if limits.shutdown_timeout.as_secs() > 3600 {
            return Err(ListenerSettingsError::ShutdownTimeout);
        }
        Ok(limits)
    }
}

/// The address of the peer a request came from (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The request body handed to services: hyper's body with the body-read deadline.
pub type RequestBody = DeadlineBody<Incoming>;

/// A server being set up; `.await` it, or [`Serve::with_shutdown`] /
/// [`Serve::with_graceful_shutdown`].
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

    /// Serves until `signal` completes, then stops accepting and waits, without a
    /// bound, for the connections in flight to finish their requests. For servers
    /// that are not behind a load balancer (`mcp-auth up`, the demo servers); the AS
    /// and the gateway use [`Serve::with_shutdown`].
    pub async fn with_graceful_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut server = Accepting::new(self, Shutdown::new());
        server.accept_until(signal).await;
        let connections = server.stop_accepting();
        connections.wait(None, std::future::pending()).await;
        Ok(())
    }

    /// Serves until `shutdown` is asked to stop, then drains (see
    /// [`crate::shutdown`]): keeps accepting for [`ListenerLimits::drain_delay`]
    /// while `/readyz` answers 503, stops accepting, waits up to
    /// [`ListenerLimits::shutdown_timeout`] for the requests in flight, and cuts the
    /// connections still open. A second stop request cuts them at once. Each step is
    /// logged once.
    pub async fn with_shutdown(self, shutdown: Shutdown) -> std::io::Result<()> {
        let limits = self.limits;
        let mut server = Accepting::new(self, shutdown.clone());
        let reason = server.accept_until(shutdown.requested(1)).await;
        tracing::info!(
            reason,
            drain_delay_seconds = limits.drain_delay.as_secs_f64(),
            connections = server.open(),
            "shutdown: draining: /readyz answers 503; new requests are still served until the drain delay ends"
        );
        let second = server
            .accept_until(async {
                tokio::select! {
                    () = tokio::time::sleep(limits.drain_delay) => None,
                    reason = shutdown.requested(2) => Some(reason),
                }
            })
            .await;
        let connections = server.stop_accepting();
        if let Some(reason) = second {
            connections.cut(reason).await;
            return Ok(());
        }
        tracing::info!(
            shutdown_timeout_seconds = limits.shutdown_timeout.as_secs_f64(),
            connections = connections.open(),
            "shutdown: no new connections; waiting for the requests in flight"
        );
        connections
            .wait(Some(limits.shutdown_timeout), shutdown.requested(2))
            .await;
        Ok(())
    }
}

/// Where a connection stands in the server's shutdown, sent to every connection task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving (draining or not: the difference is only `Connection: close`).
    Open,
    /// The listener closed: finish the request in flight, then close (HTTP/2 GOAWAY).
    Closing,
    /// Close now, whatever is in flight.
    Cut,
}

/// A server accepting connections: the listener, the connection slots and the
/// channel that tells every connection task to close.
struct Accepting<S> {
    listener: TcpListener,
    service: S,
    limits: ListenerLimits,
    builder: Arc<Builder<TokioExecutor>>,
    connections: Connections,
    shutdown: Shutdown,
}

/// The connections a server has open: counted by the slots they hold, told to close
/// through `phase`.
struct Connections {
    slots: Arc<Semaphore>,
    max: usize,
    phase: watch::Sender<Phase>,
}

impl Connections {
    /// Connections open now.
    fn open(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    /// Tells every connection to finish its request and close, then waits until all
    /// have closed, at most `bound` (none: without a bound) and until `interrupt`
    /// completes (a second stop request, with its reason); then cuts the rest. Logs
    /// the outcome when bounded.
    async fn wait(self, bound: Option<Duration>, interrupt: impl Future<Output = &'static str>) {
        self.phase.send_replace(Phase::Closing);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let slots = Arc::clone(&self.slots);
        let all_closed = async move {
            let _ = slots.acquire_many(all).await;
        };
        let Some(bound) = bound else {
            all_closed.await;
            return;
        };
        let reason = tokio::select! {
            done = tokio::time::timeout(bound, all_closed) => match done {
                Ok(()) => {
                    tracing::info!("shutdown: every connection finished; stopped");
                    return;
                }
                Err(_) => "shutdown_timeout",
            },
            reason = interrupt => reason,
        };
        self.cut(reason).await;
    }

    /// Closes every connection now (streams end without their last event) and waits
    /// (briefly) for their tasks to let go of them.
    async fn cut(self, reason: &'static str) {
        tracing::info!(
            reason,
            connections = self.open(),
            "shutdown: closing the connections still open; stopped"
        );
        self.phase.send_replace(Phase::Cut);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.slots.acquire_many(all)).await;
    }
}

impl<S, B> Accepting<S>
where
    S: HttpService<Response = http::Response<B>>,
    B: ResponseBody,
{
    fn new(serve: Serve<S>, shutdown: Shutdown) -> Self {
        let Serve {
            listener,
            service,
            limits,
        } = serve;
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
        let max = limits.max_connections.max(1);
        Self {
            listener,
            service,
            limits,
            builder: Arc::new(builder),
            connections: Connections {
                slots: Arc::new(Semaphore::new(max)),
                max,
                phase: watch::channel(Phase::Open).0,
            },
            shutdown,
        }
    }

    fn open(&self) -> usize {
        self.connections.open()
    }

    /// Closes the listening socket (new connections are refused from now on) and
    /// hands over the connections still open.
    fn stop_accepting(self) -> Connections {
        drop(self.listener);
        self.connections
    }

    /// Accepts and serves connections until `until` completes; its output.
    async fn accept_until<T>(&mut self, until: impl Future<Output = T>) -> T {
        tokio::pin!(until);
        loop {
            // A slot first: beyond the cap, connections wait in the accept queue.
            let permit = tokio::select! {
                permit = Arc::clone(&self.connections.slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    // The semaphore is never closed.
                    Err(_) => return until.await,
                },
                out = &mut until => return out,
            };
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                out = &mut until => return out,
            };
            self.spawn_connection(stream, peer, permit);
        }
    }

    /// Serves one accepted connection on a task of its own, which holds `permit`
    /// until the connection ends and obeys the shutdown phase.
    fn spawn_connection(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        // Small writes (SSE events, JSON answers) are not held back by Nagle.
        let _ = stream.set_nodelay(true);
        let service = self.service.clone();
        let body_read = self.limits.body_read;
        let shutdown = self.shutdown.clone();
        let hyper_service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let http1 = request.version() <= http::Version::HTTP_11;
            let mut request = request.map(|b| DeadlineBody::new(b, body_read));
            request.extensions_mut().insert(RemoteAddr(peer));
            let answer = service.clone().oneshot(request);
            let shutdown = shutdown.clone();
            async move {
                let mut response = answer.await?;
                // Draining: this kept-alive connection ends after this answer, so
                // its client opens its next one where the balancer sends it.
                if http1 && shutdown.is_draining() {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
            .into_owned();
        let mut phase = self.connections.phase.subscribe();
        tokio::spawn(async move {
            {
                tokio::pin!(connection);
                let mut closing = false;
                loop {
                    let now = *phase.borrow_and_update();
                    match now {
                        Phase::Cut => break,
                        Phase::Closing if !closing => {
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                        }
                        _ => {}
                    }
                    tokio::select! {
                        // Errors here are the peer's (reset, timeout): nothing to report.
                        _ = connection.as_mut() => break,
                        changed = phase.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                    }
                }
                // The connection is dropped here (a cut closes its socket), before
                // its slot is given back.
            }
            drop(permit);
        });
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
            ..ListenerLimits::default()
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
