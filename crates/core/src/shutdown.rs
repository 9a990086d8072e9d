//! How an mcp-auth server stops behind a load balancer: the drain.
//!
//! A [`Shutdown`] is the process's stop switch. The first stop request (SIGTERM or
//! Ctrl-C through [`Shutdown::on_signals`], or [`Shutdown::request_stop`]) begins the
//! drain; a second one stops at once. A server run by
//! [`crate::listener::Serve::with_shutdown`] then goes through these steps, each logged
//! once at `info` with the number of connections open:
//!
//! 1. **Draining**, at once: [`Shutdown::is_draining`] turns true, so `/readyz` answers
//!    `503 {"status":"draining"}` ([`draining_answer`]) and the load balancer takes the
//!    instance out of its pool. For `drain_delay` ([`crate::listener::ListenerLimits`],
//!    default 5 s, 0 to skip) the server still accepts and serves new connections and
//!    requests, the time the balancer needs to notice; every HTTP/1.1 answer now
//!    carries `Connection: close`, so kept-alive connections end after their next
//!    answer instead of being closed under a client about to reuse them.
//! 2. **Closing**: the listening socket is closed (new connections are refused), idle
//!    connections are closed, HTTP/2 connections get GOAWAY, and the requests in flight
//!    (streamed answers included) may finish for up to `shutdown_timeout` (default
//!    30 s).
//! 3. **Closed**: when the last connection is done, or at `shutdown_timeout`, when the
//!    connections still open are cut (a stream ends without its last event), the
//!    server returns; the process exits 0.
//!
//! This is the order Kubernetes and Envoy use (readiness fails first, in-flight work
//! drains with a bound, then the rest is cut); the process needs no `preStop` sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use tokio::sync::watch;

/// The process's stop switch, shared by the listener (which drains) and the
/// readiness handler (which reads [`Shutdown::is_draining`]). Cloning shares it.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Set by the first stop request; read on every answer (HTTP/1.1 `Connection:
    /// close`) and by `/readyz`.
    draining: AtomicBool,
    /// How many stop requests arrived, and why the last one did.
    requests: watch::Sender<Requests>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Requests {
    count: u32,
    reason: &'static str,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A switch nothing has asked to stop yet.
    pub fn new() -> Self {
        let (requests, _) = watch::channel(Requests::default());
        Self(Arc::new(Inner {
            draining: AtomicBool::new(false),
            requests,
        }))
    }

    /// Asks the server to stop, `reason` naming why in its log (`SIGTERM`): the first
    /// request begins the drain, the second stops at once.
    pub fn request_stop(&self, reason: &'static str) {
        self.0.draining.store(true, Ordering::Release);
        self.0.requests.send_modify(|r| {
            r.count = r.count.saturating_add(1);
            r.reason = reason;
        });
    }

    /// True from the first stop request on: the process is leaving the pool and
    /// `/readyz` must answer 503.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }

    /// Resolves once `n` stop requests have arrived, with the reason of the last.
    pub(crate) async fn requested(&self, n: u32) -> &'static str {
        let mut requests = self.0.requests.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        match requests.wait_for(|r| r.count >= n).await {
            Ok(r) => r.reason,
            Err(_) => "stop",
        }
    }

    /// Requests a stop on every SIGTERM and SIGINT (Ctrl-C) from now on, instead of
    /// the default action (the process ending at once). Call it before the server
    /// announces itself, inside the Tokio runtime.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let reason = tokio::select! {
                    Some(()) = terminate.recv() => "SIGTERM",
                    Some(()) = interrupt.recv() => "SIGINT",
                    else => break,
                };
                this.request_stop(reason);
            }
        });
        Ok(())
    }
}

/// A dependency a readiness check looked at: its name in the answer, whether it
/// answered, and the word the answer uses when it did not (`unavailable`,
/// `unreachable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    /// The member name in the body (`database`, `replay_cache`, `upstream`).
    pub name: &'static str,
    /// Whether it answered.
    pub ok: bool,
    /// The member's value when it did not.
    pub failed: &'static str,
}

/// The `/readyz` answer of every mcp-auth server, one shape for the AS and the
/// gateway: `200 {"status":"ready", <name>: "ok", ...}` when every dependency
/// answered, else `503 {"status":"unavailable", <name>: "ok" | <failed>, ...}`. Why
/// one failed is not in the body (the listener is public): callers log it.
pub fn readiness_answer(dependencies: &[Dependency]) -> (StatusCode, serde_json::Value) {
    let ready = dependencies.iter().all(|d| d.ok);
    let mut body = serde_json::Map::new();
    body.insert(
        "status".to_owned(),
        (if ready { "ready" } else { "unavailable" }).into(),
    );
    for d in dependencies {
        body.insert(
            d.name.to_owned(),
            (if d.ok { "ok" } else { d.failed }).into(),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, serde_json::Value::Object(body))
}

/// The `/readyz` answer while draining: `503 {"status":"draining"}`, without looking
/// at any dependency (the instance is leaving whatever they say).
pub fn draining_answer() -> (StatusCode, serde_json::Value) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"status": "draining"}),
    )
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future as _;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http_body::{Body, Frame};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::listener::{ListenerLimits, RequestBody, serve};

    /// A streamed answer: `left` chunks `tick N\n`, one every `every`.
    struct Ticks {
        left: u32,
        n: u32,
        every: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl Body for Ticks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let every = self.every;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
            self.left -= 1;
            self.n += 1;
            let chunk = format!("tick {}\n", self.n);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
        }
    }

    type Answer = http::Response<http_body_util::Either<Ticks, http_body_util::Full<Bytes>>>;

    /// A server drained by `shutdown`: `/readyz` (503 while draining), `/stream` (ten
    /// ticks 100 ms apart, 1 s in all), anything else `ok`. Returns its address and
    /// the task serving it.
    async fn start(
        shutdown: &Shutdown,
        drain_delay: Duration,
        shutdown_timeout: Duration,
    ) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
        use http_body_util::Either;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let readiness = shutdown.clone();
        let service = tower::service_fn(move |request: http::Request<RequestBody>| {
            let draining = readiness.is_draining();
            async move {
                let full = |status: u16, text: &'static str| -> Answer {
                    http::Response::builder()
                        .status(status)
                        .body(Either::Right(http_body_util::Full::new(
                            Bytes::from_static(text.as_bytes()),
                        )))
                        .unwrap()
                };
                let answer: Answer = match request.uri().path() {
                    "/readyz" if draining => full(503, "draining"),
                    "/stream" => http::Response::new(Either::Left(Ticks {
                        left: 10,
                        n: 0,
                        every: Duration::from_millis(100),
                        sleep: None,
                    })),
                    _ => full(200, "ok"),
                };
                Ok::<_, Infallible>(answer)
            }
        });
        let limits = ListenerLimits {
            drain_delay,
            shutdown_timeout,
            ..ListenerLimits::default()
        };
        let server = serve(listener, service)
            .limits(limits)
            .with_shutdown(shutdown.clone());
        (addr, tokio::spawn(server))
    }

    /// Sends `GET path` on a new connection and reads until the server closes it.
    async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A kept-alive connection with one request answered on it.
    async fn kept_alive(addr: SocketAddr) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        s
    }

    #[tokio::test]
    async fn the_drain_serves_new_requests_then_lets_a_stream_finish() {
        let shutdown = Shutdown::new();
        let (addr, server) = start(
            &shutdown,
            Duration::from_millis(600),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            get(addr, "/readyz")
                .await
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
        let mut idle = kept_alive(addr).await;
        let stream = tokio::spawn(get(addr, "/stream"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped = Instant::now();
        shutdown.request_stop("test");
        assert!(shutdown.is_draining());
        // At once: not ready; still served, on new connections and kept-alive ones,
        // each HTTP/1.1 answer closing its connection.
        let ready = get(addr, "/readyz").await.unwrap();
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        let served = get(addr, "/").await.unwrap();
        assert!(served.starts_with("HTTP/1.1 200"), "{served}");
        idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            closed.is_ok(),
            "the kept-alive connection was closed after its answer"
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        // After the drain delay: refused.
        tokio::time::sleep(Duration::from_millis(700).saturating_sub(stopped.elapsed())).await;
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "no new connection after the drain delay");
        // The stream started before the stop ends whole, and then the server stops.
        let streamed = stream.await.unwrap().unwrap();
        assert!(streamed.contains("tick 10\n"), "{streamed}");
        assert!(
            streamed.ends_with("0\r\n\r\n"),
            "the chunked body ended: {streamed}"
        );
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .expect("the server stops once the stream is done")
            .unwrap()
            .unwrap();
        assert!(stopped.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn the_shutdown_timeout_cuts_a_longer_stream() {
        let shutdown = Shutdown::new();
        let (addr, server) = start(&shutdown, Duration::ZERO, Duration::from_millis(300)).await;
        let stream = tokio::spawn(get(addr, "/stream"));
        tokio::time::sleep(Duration::from_millis(150)).await;
        let stopped = Instant::now();
        shutdown.request_stop("test");
        tokio::time::timeout(Duration::from_secs(3), server)
            .await
            .expect("the server stops at the shutdown timeout")
            .unwrap()
            .unwrap();
        let took = stopped.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        let streamed = stream.await.unwrap().unwrap();
        assert!(streamed.contains("tick 1\n"), "{streamed}");
        assert!(
            !streamed.contains("tick 10"),
            "cut before its end: {streamed}"
        );
        assert!(!streamed.ends_with("0\r\n\r\n"), "{streamed}");
    }

    #[tokio::test]
    async fn a_second_stop_request_cuts_at_once() {
        let shutdown = Shutdown::new();
        let (addr, server) =
            start(&shutdown, Duration::from_secs(10), Duration::from_secs(30)).await;
        let stream = tokio::spawn(get(addr, "/stream"));
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.request_stop("first");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get(addr, "/").await.unwrap().starts_with("HTTP/1.1 200"));
        let second = Instant::now();
        shutdown.request_stop("second");
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .expect("the server stops at the second request")
            .unwrap()
            .unwrap();
        assert!(second.elapsed() < Duration::from_millis(1500));
        let streamed = stream.await.unwrap().unwrap();
        assert!(!streamed.contains("tick 10"), "{streamed}");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn readiness_answers_have_one_shape() {
        let (status, body) = readiness_answer(&[
            Dependency {
                name: "database",
                ok: true,
                failed: "unavailable",
            },
            Dependency {
                name: "replay_cache",
                ok: false,
                failed: "unavailable",
            },
        ]);
        assert_eq!(status, 503);
        assert_eq!(
            body,
            serde_json::json!({"status": "unavailable", "database": "ok", "replay_cache": "unavailable"})
        );
        let (status, body) = readiness_answer(&[]);
        assert_eq!(
            (status.as_u16(), body["status"].as_str()),
            (200, Some("ready"))
        );
        let (status, body) = draining_answer();
        assert_eq!(status, 503);
        assert_eq!(body, serde_json::json!({"status": "draining"}));
    }

    #[test]
    fn the_drain_settings_are_checked() {
        use crate::listener::{ListenerSettings, ListenerSettingsError};
        let limits = ListenerSettings::default().limits().unwrap();
        assert_eq!(limits.drain_delay, Duration::from_secs(5));
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(30));
        let set = |drain_delay, shutdown_timeout| ListenerSettings {
            drain_delay,
            shutdown_timeout,
            ..ListenerSettings::default()
        };
        assert_eq!(
            set(Some(0), Some(0))
                .limits()
                .map(|l| (l.drain_delay, l.shutdown_timeout)),
            Ok((Duration::ZERO, Duration::ZERO))
        );
        assert_eq!(
            set(Some(301), None).limits(),
            Err(ListenerSettingsError::DrainDelay)
        );
        assert_eq!(
            set(None, Some(3601)).limits(),
            Err(ListenerSettingsError::ShutdownTimeout)
        );
    }
}
