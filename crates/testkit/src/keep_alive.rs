//! An upstream that loses the keep-alive race every time: what a pooled HTTP client
//! meets now and then from Node's or uvicorn's servers, made deterministic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running [`closing_upstream`].
#[derive(Debug)]
pub struct ClosingUpstream {
    /// Its MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    connections: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

impl ClosingUpstream {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// An MCP endpoint over raw HTTP/1.1 on 127.0.0.1 that answers every JSON-RPC
/// request with an empty result (`application/json`) and keeps the connection open,
/// except a request that arrives on a connection idle for `idle` or longer since its
/// last answer: that connection is closed without an answer. It is a server whose
/// keep-alive timer fires just as the request arrives. Node and uvicorn close
/// after 5 s idle, and a client that pools the connection longer loses this race
/// only when the timing falls so; here it loses every time, so a client's pool can
/// be tested exactly.
pub async fn closing_upstream(idle: Duration) -> ClosingUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (accepted, counted) = (connections.clone(), answered.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_connection(socket, idle, counted.clone()));
        }
    });
    ClosingUpstream {
        url,
        connections,
        answered,
    }
}

async fn serve_connection(
    mut socket: tokio::net::TcpStream,
    idle: Duration,
    answered: Arc<AtomicUsize>,
) {
    let mut quiet_since: Option<Instant> = None;
    let mut buf = [0u8; 8192];
    loop {
        let mut request = Vec::new();
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        if quiet_since.is_some_and(|t| t.elapsed() >= idle) {
            // Dropping the socket closes it with the request unanswered.
            return;
        }
        request.extend_from_slice(&buf[..n]);
        let Some(body) = read_rest(&mut socket, &mut request).await else {
            return;
        };
        let rpc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let answer =
            serde_json::json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {}}).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        answered.fetch_add(1, Ordering::SeqCst);
        quiet_since = Some(Instant::now());
    }
}

/// Reads the rest of a request whose first bytes are in `request`: the head, then
/// `Content-Length` bytes of body (this server needs no chunked bodies). The body, or
/// `None` when the connection ends first.
async fn read_rest(socket: &mut tokio::net::TcpStream, request: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buf[..n]);
    }
    Some(request[head_end..head_end + length].to_vec())
}
