//! The loopback redirect of a native app (RFC 8252 §7.3): the client listens on
//! `127.0.0.1`, the user's browser visits the authorization URL, and the
//! authorization server sends the browser back to `http://127.0.0.1:PORT/callback`,
//! where this listener reads the code.
//!
//! The listener answers only a `GET` of the callback path that carries the `state`
//! of the request under way; anything else (a favicon, another local page probing
//! the port, a stale redirect) gets an error page and the wait goes on, so no local
//! page can end the sign-in with a forged answer (RFC 8252 §8.9).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long the user has to sign in by default.
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The largest request head read from the browser.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What shows the authorization URL to the user (opens a browser, prints it).
pub type ShowUrl = Arc<dyn Fn(&str) + Send + Sync>;

/// A listener on loopback waiting for the authorization response.
#[derive(Clone)]
pub struct LoopbackRedirect {
    listener: Arc<tokio::net::TcpListener>,
    redirect_uri: String,
    show: ShowUrl,
    timeout: Duration,
}

impl std::fmt::Debug for LoopbackRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackRedirect")
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LoopbackRedirect {
    /// Listens on `127.0.0.1` on a port the system picks; `show` is given the
    /// authorization URL when the user must visit it.
    pub async fn bind(show: ShowUrl) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: Arc::new(listener),
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            show,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
        })
    }

    /// Gives up after `timeout` instead of [`DEFAULT_SIGN_IN_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The redirect URI to register and send: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Shows `authorization_url` and waits for the browser to come back with
    /// `state`; the full callback URL.
    pub(crate) async fn visit(
        &self,
        authorization_url: &str,
        state: &str,
    ) -> Result<url::Url, LoopbackError> {
        (self.show)(authorization_url);
        tokio::time::timeout(self.timeout, self.receive(state))
            .await
            .map_err(|_| LoopbackError::TimedOut(self.timeout))?
    }

    async fn receive(&self, state: &str) -> Result<url::Url, LoopbackError> {
        let base = url::Url::parse(&self.redirect_uri).map_err(|_| LoopbackError::Listener)?;
        loop {
            let (mut stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|_| LoopbackError::Listener)?;
            let Some(target) = read_request_target(&mut stream).await else {
                let _ = respond(&mut stream, "400 Bad Request", "Not a sign-in answer.").await;
                continue;
            };
            let Ok(url) = base.join(&target) else {
                let _ = respond(&mut stream, "400 Bad Request", "Not a sign-in answer.").await;
                continue;
            };
            let ours = url.path() == base.path()
                && url
                    .query_pairs()
                    .any(|(k, v)| k == "state" && v.as_bytes() == state.as_bytes());
            if !ours {
                let _ = respond(&mut stream, "404 Not Found", "Not a sign-in answer.").await;
                continue;
            }
            let refused = url.query_pairs().any(|(k, _)| k == "error");
            let page = if refused {
                "Sign-in was not completed. Return to the terminal for details."
            } else {
                "Signed in. You can close this tab and return to the terminal."
            };
            let _ = respond(&mut stream, "200 OK", page).await;
            return Ok(url);
        }
    }
}

/// Why no authorization response arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// Nobody signed in in time.
    #[error("no answer from the browser within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The listener failed.
    #[error("the loopback listener failed")]
    Listener,
}

/// The request target of a `GET` request head, or `None` when the bytes are not one
/// (not GET, too long, not UTF-8, closed early).
async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    request_target(&head)
}

/// `/callback?code=...` from `GET /callback?code=... HTTP/1.1`.
fn request_target(head: &[u8]) -> Option<String> {
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    (method == "GET"
        && target.starts_with('/')
        && version.starts_with("HTTP/1.")
        && parts.next().is_none())
    .then(|| target.to_owned())
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mcp-auth</title></head><body><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_request_line_gives_a_target() {
        assert_eq!(
            request_target(b"GET /callback?code=a&state=s HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("/callback?code=a&state=s")
        );
        for bad in [
            &b"POST /callback HTTP/1.1\r\n\r\n"[..],
            b"GET http://evil/ HTTP/1.1\r\n\r\n",
            b"GET /callback HTTP/1.1 extra\r\n\r\n",
            b"GET /callback\r\n\r\n",
            b"\xff\xfe /x HTTP/1.1\r\n\r\n",
            b"",
        ] {
            assert_eq!(request_target(bad), None, "{bad:?}");
        }
    }

    async fn get(port: u16, target: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_wait_ends_only_with_the_callback_carrying_our_state() {
        let shown = Arc::new(std::sync::Mutex::new(String::new()));
        let seen = shown.clone();
        let redirect = LoopbackRedirect::bind(Arc::new(move |u: &str| {
            *seen.lock().unwrap() = u.to_owned();
        }))
        .await
        .unwrap();
        let port = url::Url::parse(redirect.redirect_uri())
            .unwrap()
            .port()
            .unwrap();
        let waiting = tokio::spawn({
            let redirect = redirect.clone();
            async move {
                redirect
                    .visit("https://as.example/authorize?x=1", "s1")
                    .await
            }
        });
        // A probe, a forged answer with another state, then the real one.
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(port, "/callback?code=evil&state=other")
                .await
                .starts_with("HTTP/1.1 404")
        );
        let real = get(port, "/callback?code=good&state=s1").await;
        assert!(real.starts_with("HTTP/1.1 200"), "{real}");
        assert!(real.contains("Signed in"));
        let url = waiting.await.unwrap().unwrap();
        assert_eq!(
            url.query_pairs().find(|(k, _)| k == "code").unwrap().1,
            "good"
        );
        assert_eq!(*shown.lock().unwrap(), "https://as.example/authorize?x=1");
    }

    #[tokio::test]
    async fn nobody_signing_in_is_a_timeout() {
        let redirect = LoopbackRedirect::bind(Arc::new(|_: &str| {}))
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(50));
        let err = redirect
            .visit("https://as.example/a", "s")
            .await
            .unwrap_err();
        assert!(matches!(err, LoopbackError::TimedOut(_)), "{err}");
    }
}
