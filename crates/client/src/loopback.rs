//! The loopback redirect of a native app (RFC 8252 §7.3): the client listens on
//! `127.0.0.1`, the user's browser visits the authorization URL, and the
//! authorization server sends the browser back to `http://127.0.0.1:PORT/callback`,
//! where this listener reads the code.
//!
//! The listener answers only a `GET` of the callback path that carries the `state`
//! of the request under way; anything else (a favicon, another local page probing
//! the port, a stale redirect) gets an error page and the wait goes on, so no local
//! page can end the sign-in with a forged answer (RFC 8252 §8.9).
//!
//! Another local user is kept out three more ways:
//! - On Linux, a connection the kernel's socket tables (`/proc/net/tcp`) do not name
//!   as this user's or root's socket (or one of [`BrowserUsers`]) is closed unread:
//!   another user can neither send a code nor take the one-time address below, nor
//!   hold a connection open. A socket closed right after sending is no longer listed,
//!   and is closed unread too.
//! - The browser is given a one-time local address, `/start/<random>`, that
//!   redirects to the authorization URL, not the URL itself: a program's command
//!   line is readable by every user (`/proc/PID/cmdline`), and with the URL's
//!   `state` and `code_challenge` another user could sign in as themselves and
//!   send their own code back here, signing this client in to their account. The
//!   address answers once; a second request (anyone who read it and came after the
//!   browser, or before it) stops the sign-in.
//! - Each connection is read on its own, within [`HEAD_DEADLINE`] in all, at most
//!   [`MAX_CONNECTIONS`] at a time: a connection sending a byte every few seconds
//!   cannot hold up the browser's answer.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

mod peer_user;

pub use peer_user::BrowserUsers;

/// How long the user has to sign in by default.
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The largest request head read from the browser.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// The most connections read at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 32;

/// What shows the authorization URL to the user: given the URL itself (to print, on
/// the user's own terminal) and the one-time local address that redirects to it (to
/// give a browser, whose command line other users can read).
pub type ShowUrl = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// A listener on loopback waiting for the authorization response.
#[derive(Clone)]
pub struct LoopbackRedirect {
    listener: Arc<tokio::net::TcpListener>,
    redirect_uri: String,
    show: ShowUrl,
    timeout: Duration,
    /// Whose connections are read.
    browser_users: BrowserUsers,
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
    /// authorization URL and the one-time local address that redirects to it, when
    /// the user must visit it ([`ShowUrl`]).
    pub async fn bind(show: ShowUrl) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: Arc::new(listener),
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            show,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
            browser_users: BrowserUsers::Own,
        })
    }

    /// Reads the connections of `users` ([`BrowserUsers::Own`] by default).
    pub fn with_browser_users(mut self, users: BrowserUsers) -> Self {
        self.browser_users = users;
        self
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
        let start = format!(
            "/start/{}",
            mcp_auth_core::random_token::<16>().map_err(|_| LoopbackError::Listener)?
        );
        let base = url::Url::parse(&self.redirect_uri).map_err(|_| LoopbackError::Listener)?;
        let start_url = base.join(&start).map_err(|_| LoopbackError::Listener)?;
        (self.show)(authorization_url, start_url.as_str());
        let wait = Wait {
            base,
            state,
            start: &start,
            authorization_url,
        };
        tokio::time::timeout(self.timeout, self.receive(&wait))
            .await
            .map_err(|_| LoopbackError::TimedOut(self.timeout))?
    }

    /// Reads connections, each on its own task, until one brings the answer.
    async fn receive(&self, wait: &Wait<'_>) -> Result<url::Url, LoopbackError> {
        let mut reading = tokio::task::JoinSet::new();
        let mut started = false;
        let mut warned = std::collections::HashSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept(), if reading.len() < MAX_CONNECTIONS => {
                    let (mut stream, peer) = accepted.map_err(|_| LoopbackError::Listener)?;
                    let browser_users = self.browser_users.clone();
                    reading.spawn(async move {
                        // Closed unread when it is another user's.
                        admitted(&stream, peer, &browser_users).await?;
                        let target = tokio::time::timeout(
                            HEAD_DEADLINE,
                            read_request_target(&mut stream),
                        )
                        .await
                        .ok()
                        .flatten();
                        Ok((stream, target))
                    });
                }
                Some(Ok(read)) = reading.join_next() => {
                    let (mut stream, target) = match read {
                        Ok(read) => read,
                        Err(owner) => {
                            if warned.insert(owner) {
                                warn_refused(owner);
                            }
                            continue;
                        }
                    };
                    match wait.answer(target.as_deref(), &mut started) {
                        Answer::Redirect => {
                            let _ = redirect(&mut stream, wait.authorization_url).await;
                        }
                        Answer::Refuse(status) => {
                            let _ = respond(&mut stream, status, "Not a sign-in answer.").await;
                        }
                        Answer::OpenedTwice => {
                            let page = "This sign-in was opened twice, so it was stopped. \
                                        Return to the terminal and start it again.";
                            let _ = respond(&mut stream, "409 Conflict", page).await;
                            return Err(LoopbackError::OpenedTwice);
                        }
                        Answer::Done(url) => {
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
                // Only when a task failed (it never panics) with the set full.
                else => {}
            }
        }
    }
}

/// Whether `browser_users` lets the connection from `peer` through, by the kernel's
/// socket tables on Linux (read on a blocking thread); else the owner they name.
async fn admitted(
    stream: &tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    browser_users: &BrowserUsers,
) -> Result<(), Option<u32>> {
    #[cfg(unix)]
    if *browser_users != BrowserUsers::Any
        && let Ok(local) = stream.local_addr()
    {
        let seen = tokio::task::spawn_blocking(move || peer_user::lookup(local, peer))
            .await
            .unwrap_or(peer_user::Peer::Unlisted);
        let own = mcp_auth_core::private_file::own_uid();
        return peer_user::admits(browser_users, own, seen);
    }
    let _ = (stream, peer, browser_users);
    Ok(())
}

/// Says, once per user, that a connection was closed unread.
fn warn_refused(owner: Option<u32>) {
    match owner {
        // Another user can cause these: they say what happened, and point to the
        // option only for a sign-in that then does not complete.
        Some(user) => tracing::warn!(
            user,
            "a connection to the sign-in listener from another local user's socket was closed \
             unread (if the sign-in does not complete because your browser runs as that user, \
             see --browser-user)"
        ),
        None => tracing::warn!(
            "a connection to the sign-in listener that the kernel's socket tables do not list \
             was closed unread (if the sign-in does not complete because your browser comes \
             through a relay, see --browser-user)"
        ),
    }
}

/// One sign-in under way: what the listener waits for.
struct Wait<'a> {
    /// The redirect URI, which request targets are read against.
    base: url::Url,
    /// The request's `state`.
    state: &'a str,
    /// The one-time local path that redirects to the authorization URL.
    start: &'a str,
    authorization_url: &'a str,
}

/// What one request gets.
enum Answer {
    /// The one-time address, the first time: to the authorization URL.
    Redirect,
    /// Not a sign-in answer; the wait goes on.
    Refuse(&'static str),
    /// The one-time address a second time: the sign-in stops.
    OpenedTwice,
    /// The callback with our `state`.
    Done(url::Url),
}

impl Wait<'_> {
    fn answer(&self, target: Option<&str>, started: &mut bool) -> Answer {
        let Some(url) = target.and_then(|t| self.base.join(t).ok()) else {
            return Answer::Refuse("400 Bad Request");
        };
        if url.path() == self.start {
            if std::mem::replace(started, true) {
                return Answer::OpenedTwice;
            }
            return Answer::Redirect;
        }
        let ours = url.path() == self.base.path()
            && url
                .query_pairs()
                .any(|(k, v)| k == "state" && v.as_bytes() == self.state.as_bytes());
        if ours {
            Answer::Done(url)
        } else {
            Answer::Refuse("404 Not Found")
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
    /// The one-time address given to the browser was requested twice: someone else
    /// (another local user can read a browser's command line) may have it.
    #[error(
        "the sign-in's one-time address was opened twice, so it was stopped (another local \
         user may have read it from the browser's command line); start it again"
    )]
    OpenedTwice,
}

/// The request target of a `GET` request head, or `None` when the bytes are not one
/// (not GET, too long, not UTF-8, closed early).
async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
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

/// A `303 See Other` to `location` (the authorization URL, which the browser is
/// sent on to with a `GET`).
async fn redirect(stream: &mut tokio::net::TcpStream, location: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 303 See Other\r\nlocation: {location}\r\ncontent-length: 0\r\ncache-control: no-store\r\nreferrer-policy: no-referrer\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
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
        let redirect = LoopbackRedirect::bind(Arc::new(move |u: &str, _: &str| {
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
        let redirect = LoopbackRedirect::bind(Arc::new(|_: &str, _: &str| {}))
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(50));
        let err = redirect
            .visit("https://as.example/a", "s")
            .await
            .unwrap_err();
        assert!(matches!(err, LoopbackError::TimedOut(_)), "{err}");
    }

    /// A sign-in waiting on `authorization_url`: its port, the one-time address it
    /// showed, and the wait.
    async fn waiting(
        authorization_url: &'static str,
    ) -> (
        u16,
        String,
        tokio::task::JoinHandle<Result<url::Url, LoopbackError>>,
    ) {
        let (shown, mut start) = tokio::sync::mpsc::unbounded_channel();
        let redirect = LoopbackRedirect::bind(Arc::new(move |_: &str, s: &str| {
            shown.send(s.to_owned()).unwrap();
        }))
        .await
        .unwrap();
        let port = url::Url::parse(redirect.redirect_uri())
            .unwrap()
            .port()
            .unwrap();
        let wait = tokio::spawn(async move { redirect.visit(authorization_url, "s1").await });
        let start = start.recv().await.unwrap();
        (port, start, wait)
    }

    /// The browser gets a one-time local address, not the authorization URL (whose
    /// `state` and `code_challenge` another user could read from its command line):
    /// the first request is sent on to the URL, and the sign-in completes.
    #[tokio::test]
    async fn the_browser_is_sent_on_from_a_one_time_address() {
        let (port, start, wait) = waiting("https://as.example/authorize?state=s1").await;
        let start = url::Url::parse(&start).unwrap();
        assert_eq!(start.host_str(), Some("127.0.0.1"));
        assert!(
            start.path().starts_with("/start/") && start.path().len() > 20,
            "{start}"
        );
        assert!(!start.as_str().contains("as.example") && start.query().is_none());
        let sent_on = get(port, start.path()).await;
        assert!(sent_on.starts_with("HTTP/1.1 303"), "{sent_on}");
        assert!(
            sent_on.contains("\r\nlocation: https://as.example/authorize?state=s1\r\n"),
            "{sent_on}"
        );
        assert!(
            get(port, "/callback?code=good&state=s1")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert!(wait.await.unwrap().is_ok());
    }

    /// Whoever requests the one-time address second (another user who read it, before
    /// or after the browser) stops the sign-in: no code is taken after that.
    #[tokio::test]
    async fn a_second_request_of_the_one_time_address_stops_the_sign_in() {
        let (port, start, wait) = waiting("https://as.example/authorize").await;
        let path = url::Url::parse(&start).unwrap().path().to_owned();
        assert!(get(port, &path).await.starts_with("HTTP/1.1 303"));
        let again = get(port, &path).await;
        assert!(
            again.starts_with("HTTP/1.1 409") && again.contains("opened twice"),
            "{again}"
        );
        let err = wait.await.unwrap().unwrap_err();
        assert!(matches!(err, LoopbackError::OpenedTwice), "{err}");
    }

    /// Connections that send their head a byte at a time, or nothing, do not hold up
    /// the browser's answer: each is read on its own. (Read one after another, the
    /// stalled ones would have held it for `HEAD_DEADLINE` each, over five minutes;
    /// the minute allowed is a hang guard, not a measure of speed.)
    #[tokio::test]
    async fn slow_connections_do_not_hold_up_the_answer() {
        let (port, _, wait) = waiting("https://as.example/authorize").await;
        let mut stalled = Vec::new();
        for _ in 0..MAX_CONNECTIONS - 1 {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(b"G").await.unwrap();
            stalled.push(s);
        }
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            get(port, "/callback?code=good&state=s1"),
        )
        .await
        .expect("answered while the other connections stall");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(wait.await.unwrap().is_ok());
        drop(stalled);
    }

    /// On Linux, another user's connection is dropped unread: the callback it sends,
    /// with the right `state` (as if it had read the one-time address first), neither
    /// ends the wait nor gets an answer; this user's callback then does.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn another_users_callback_is_dropped_unread() {
        use std::os::unix::process::CommandExt as _;
        if mcp_auth_core::private_file::own_uid() != 0 {
            eprintln!("SKIPPED: connecting as another user needs root");
            return;
        }
        let (port, _, wait) = waiting("https://as.example/authorize").await;
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port}; \
             printf 'GET /callback?code=evil&state=s1 HTTP/1.1\\r\\n\\r\\n' >&3; cat <&3"
        );
        let attacker = tokio::task::spawn_blocking(move || {
            let mut command = std::process::Command::new("bash");
            command.args(["-c", &script]).uid(4242).gid(4242);
            command.output().unwrap()
        })
        .await
        .unwrap();
        // Closed unread: no answer (a reset, as data was left unread).
        assert!(attacker.stdout.is_empty(), "no answer: {attacker:?}");
        assert!(!wait.is_finished(), "the wait goes on");
        assert!(
            get(port, "/callback?code=good&state=s1")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let url = wait.await.unwrap().unwrap();
        assert_eq!(
            url.query_pairs().find(|(k, _)| k == "code").unwrap().1,
            "good"
        );
    }
}
