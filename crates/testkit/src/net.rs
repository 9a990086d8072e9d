//! Servers, processes and raw HTTP/1.1 on loopback.

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A child process killed (and reaped) when this is dropped, so that a failing test
/// leaves no server behind.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for a process that must be
/// told its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first answer of `url` (any status), polled every 50 ms for 10 s; `None` when
/// nothing answered.
pub async fn try_wait_for(url: &str) -> Option<reqwest::Response> {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(url).await {
            return Some(r);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// [`try_wait_for`], panicking when `url` never answered.
pub async fn wait_for(url: &str) -> reqwest::Response {
    match try_wait_for(url).await {
        Some(r) => r,
        None => panic!("{url} never answered"),
    }
}

/// Serves `app` on 127.0.0.1 (a new port) and returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A test server on loopback: its base URL and what it received (`S`, whatever the
/// test records of a request), in order.
#[derive(Debug)]
pub struct Recording<S> {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The requests received so far.
    pub seen: Arc<Mutex<Vec<S>>>,
}

impl<S: Clone> Recording<S> {
    /// The requests received so far.
    pub fn seen(&self) -> Vec<S> {
        self.seen.lock().unwrap().clone()
    }
}

/// The head of a response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
}

impl RawResponse {
    /// The values of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// Writes `request` as is on a new connection to `addr` and reads the response head,
/// for what `reqwest` will not send (absolute-form request lines, a body that never
/// arrives). The connection stays open on our side: whatever the request announced
/// and did not send never arrives. Panics when no head comes within 10 s (the server
/// is waiting for something the test will not send).
pub async fn raw_exchange(addr: &str, request: &[u8]) -> RawResponse {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed without a response");
            received.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no response head: the server is still waiting for the request");
    let text = String::from_utf8_lossy(&received).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap().to_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    RawResponse { status, head }
}

/// A request head as HTTP/1.1 text: `request_line`, then `headers`, then an empty
/// line; `body` follows.
pub fn raw_request(request_line: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{request_line}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
