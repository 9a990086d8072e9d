//! The upstream client against real servers on loopback: plain and TLS upstreams
//! (hyper's server; a private CA made by rcgen) and CONNECT proxies, plain and TLS.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::*;

/// The gateway's settings, with the platform's roots only.
fn connecting() -> Connecting {
    Connecting::new(Duration::from_secs(4))
}

/// The gateway's settings, trusting `ca` too.
fn trusting(ca: &CertificateDer<'static>) -> Connecting {
    Connecting {
        extra_roots: vec![ca.clone()],
        ..connecting()
    }
}

/// Answers every request with `METHOD TARGET host=HOST length=N x-test=V`, and
/// ` proxy-authorization=V` should one reach it.
async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let mut line = format!(
        "{} {} host={} length={} x-test={}",
        request.method(),
        request.uri(),
        header("host"),
        header("content-length"),
        header("x-test"),
    );
    if request.headers().contains_key("proxy-authorization") {
        line.push_str(&format!(
            " proxy-authorization={}",
            header("proxy-authorization")
        ));
    }
    Ok(Response::new(Full::new(Bytes::from(line))))
}

/// Serves [`echo`] on `stream`; with `tls`, only to a client that asked for
/// `http/1.1` by ALPN.
async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>) {
    let service = hyper::service::service_fn(echo);
    let http = hyper::server::conn::http1::Builder::new();
    match tls {
        None => {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
        Some(tls) => {
            let Ok(stream) = tls.accept(stream).await else {
                return;
            };
            if stream.get_ref().1.alpn_protocol() != Some(b"http/1.1") {
                return;
            }
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
    }
}

/// An upstream on loopback: its port, and how many connections it accepted.
async fn upstream(tls: Option<TlsAcceptor>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, tls.clone()));
        }
    });
    (port, accepted)
}

/// How a test proxy behaves.
#[derive(Clone, Copy)]
enum Proxy {
    /// Opens the tunnel a `CONNECT` names, or passes a request with an absolute URI
    /// on to its host.
    Passes,
    /// Answers 407 to a request without `Proxy-Authorization`.
    WantsCredentials,
    /// Reads the request and never answers.
    Silent,
    /// Answers this, whatever the request.
    Answers(&'static str),
}

/// Reads a request head from `client`, records it, and acts as `kind` says.
async fn proxy_connection<S>(mut client: S, kind: Proxy, seen: Arc<Mutex<Vec<String>>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if client.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let connect = text.starts_with("CONNECT ");
    let target = text.split(' ').nth(1).unwrap_or_default();
    // CONNECT host:port, or GET http://host:port/path.
    let address = match target.strip_prefix("http://") {
        Some(rest) => rest.split('/').next().unwrap_or_default().to_owned(),
        None => target.to_owned(),
    };
    let authorized = text
        .to_ascii_lowercase()
        .contains("\r\nproxy-authorization:");
    seen.lock().unwrap().push(text);
    match kind {
        Proxy::Silent => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        Proxy::WantsCredentials if !authorized => {
            let _ = client
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n",
                )
                .await;
            return;
        }
        Proxy::Answers(response) => {
            let _ = client.write_all(response.as_bytes()).await;
            return;
        }
        Proxy::Passes | Proxy::WantsCredentials => {}
    }
    let Ok(mut server) = TcpStream::connect(address).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let sent = if connect {
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
    } else {
        // The request as it came: hyper's server takes an absolute URI too.
        server.write_all(&head).await
    };
    if sent.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// A proxy on loopback (reached over TLS with `tls`): its port, and the heads of the
/// first request of each connection.
async fn proxy(kind: Proxy, tls: Option<TlsAcceptor>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => proxy_connection(client, kind, seen).await,
                    Some(tls) => {
                        if let Ok(client) = tls.accept(client).await {
                            proxy_connection(client, kind, seen).await;
                        }
                    }
                }
            });
        }
    });
    (port, heads)
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap()
}

/// The proxy `proxy` as the environment's matcher would give it for `upstream`.
pub(in crate::proxy) fn through(proxy: &str, upstream: &url::Url) -> Option<Intercept> {
    Matcher::builder()
        .all(proxy.to_owned())
        .build()
        .intercept(&base_of(upstream).unwrap())
}

/// What the upstream said (`status N` for an answer other than 200), or the
/// error's text.
async fn send(client: &UpstreamClient, query: Option<&str>) -> Result<String, String> {
    let mut headers = HeaderMap::new();
    headers.insert("x-test", http::HeaderValue::from_static("yes"));
    match client
        .send(Method::POST, query, headers, Bytes::from_static(b"{}"))
        .await
    {
        Ok(response) if response.status() != 200 => {
            Ok(format!("status {}", response.status().as_u16()))
        }
        Ok(response) => {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Ok(String::from_utf8(body.to_vec()).unwrap())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A private CA, and a TLS acceptor presenting a certificate it issued for `name`,
/// speaking `http/1.1` by ALPN.
fn private_ca(name: &str) -> (CertificateDer<'static>, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.der().clone(), TlsAcceptor::from(Arc::new(config)))
}

#[test]
fn the_request_target_is_the_upstreams_path_and_port_with_the_clients_query() {
    let base = base_of(&url("http://upstream.internal:8080/mcp?key=1#part")).unwrap();
    assert_eq!(base.to_string(), "http://upstream.internal:8080/mcp");
    assert_eq!(target(&base, None).unwrap(), base);
    assert_eq!(
        target(&base, Some("a=b&c")).unwrap().to_string(),
        "http://upstream.internal:8080/mcp?a=b&c"
    );
    // A default port is not written (url drops it; reqwest wrote none either).
    let base = base_of(&url("http://upstream.internal:80/mcp")).unwrap();
    assert_eq!(base.to_string(), "http://upstream.internal/mcp");
    let root = base_of(&url("https://[::1]")).unwrap();
    assert_eq!(
        target(&root, Some("x")).unwrap().to_string(),
        "https://[::1]/?x"
    );
}

#[tokio::test]
async fn a_request_reaches_the_upstream_with_its_method_target_headers_and_body() {
    let (port, accepted) = upstream(None).await;
    let client = UpstreamClient::new(
        &url(&format!("http://127.0.0.1:{port}/mcp")),
        None,
        connecting(),
    );
    assert_eq!((client.proxy(), client.first_hop()), (Ok(None), None));
    assert_eq!(
        send(&client, Some("a=b")).await.unwrap(),
        format!("POST /mcp?a=b host=127.0.0.1:{port} length=2 x-test=yes")
    );
    assert_eq!(
        send(&client, None).await.unwrap(),
        format!("POST /mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
    // Over one connection, kept for the second request.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_upstream_is_an_error_naming_the_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = UpstreamClient::new(
        &url(&format!("http://127.0.0.1:{port}/mcp")),
        None,
        connecting(),
    );
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("Connection refused"), "{error}");
}

#[tokio::test]
async fn through_an_http_proxy_an_http_upstream_gets_each_request_with_the_proxys_credentials() {
    let (port, accepted) = upstream(None).await;
    let (proxy_port, heads) = proxy(Proxy::WantsCredentials, None).await;
    let upstream_url = url(&format!("http://127.0.0.1:{port}/mcp"));
    let via = through(
        &format!("http://agent:s3cret@127.0.0.1:{proxy_port}"),
        &upstream_url,
    );
    let client = UpstreamClient::new(&upstream_url, via, connecting());
    assert!(!format!("{client:?}").contains("s3cret"), "{client:?}");
    let address = format!("http://127.0.0.1:{proxy_port}");
    assert_eq!(client.proxy(), Ok(Some(address.as_str())));
    assert_eq!(client.first_hop(), Some(("127.0.0.1", proxy_port)));
    // The request went to the proxy with its absolute URI (RFC 9112 §3.2.2); this
    // test's proxy passes it on as it came, `Proxy-Authorization` included.
    assert_eq!(
        send(&client, Some("a=b")).await.unwrap(),
        format!(
            "POST http://127.0.0.1:{port}/mcp?a=b host=127.0.0.1:{port} length=2 x-test=yes proxy-authorization=Basic YWdlbnQ6czNjcmV0"
        )
    );
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.starts_with(&format!(
            "post http://127.0.0.1:{port}/mcp?a=b http/1.1\r\n"
        )),
        "{head}"
    );
    // "agent:s3cret" in base64 (lowercased with the rest of the head).
    assert!(
        head.contains("\r\nproxy-authorization: basic ywdlbnq6cznjcmv0\r\n"),
        "{head}"
    );
    // The next request goes over the same connection to the proxy (whose first head
    // only this test's proxy reads).
    assert_eq!(
        send(&client, None).await.unwrap(),
        format!(
            "POST http://127.0.0.1:{port}/mcp host=127.0.0.1:{port} length=2 x-test=yes proxy-authorization=Basic YWdlbnQ6czNjcmV0"
        )
    );
    assert_eq!(heads.len(), 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // Without the credentials, the proxy's 407 is the gateway's error, not an answer.
    let via = through(&format!("http://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, connecting());
    let error = send(&client, None).await.unwrap_err();
    assert!(
        error.contains("the proxy refused the request: 407"),
        "{error}"
    );
}

#[tokio::test]
async fn an_error_a_forward_proxy_reports_in_proxy_status_is_the_gateways_error() {
    let (proxy_port, _) = proxy(
        Proxy::Answers(
            "HTTP/1.1 502 Bad Gateway\r\nproxy-status: squid; error=dns_error\r\ncontent-length: 0\r\n\r\n",
        ),
        None,
    )
    .await;
    let upstream_url = url("http://upstream.test/mcp");
    let via = through(&format!("http://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, connecting());
    let error = send(&client, None).await.unwrap_err();
    assert!(
        error.contains("the proxy refused the request: 502, Proxy-Status: squid; error=dns_error"),
        "{error}"
    );
}

#[tokio::test]
async fn through_an_http_proxy_an_http_upstream_on_its_default_port_is_named_without_it() {
    let (proxy_port, heads) = proxy(Proxy::Answers("HTTP/1.1 204 No Content\r\n\r\n"), None).await;
    let upstream_url = url("http://upstream.test:80/mcp");
    let via = through(&format!("http://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, connecting());
    assert_eq!(send(&client, None).await.unwrap(), "status 204");
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("post http://upstream.test/mcp http/1.1\r\n")
            && head.contains("\r\nhost: upstream.test\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn through_an_http_proxy_an_https_upstream_is_reached_in_a_tunnel_with_the_proxys_credentials()
 {
    let (ca, acceptor) = private_ca("127.0.0.1");
    let (port, _) = upstream(Some(acceptor)).await;
    let (proxy_port, heads) = proxy(Proxy::WantsCredentials, None).await;
    let upstream_url = url(&format!("https://127.0.0.1:{port}/mcp"));
    let via = through(
        &format!("http://agent:s3cret@127.0.0.1:{proxy_port}"),
        &upstream_url,
    );
    let client = UpstreamClient::new(&upstream_url, via, trusting(&ca));
    assert_eq!(
        send(&client, Some("a=b")).await.unwrap(),
        format!("POST /mcp?a=b host=127.0.0.1:{port} length=2 x-test=yes")
    );
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with(&format!("connect 127.0.0.1:{port} http/1.1\r\n"))
            && head.contains("\r\nproxy-authorization: basic ywdlbnq6cznjcmv0\r\n"),
        "{head}"
    );
    // Without the credentials, the tunnel is refused.
    let via = through(&format!("http://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, trusting(&ca));
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("proxy authorization required"), "{error}");
}

#[tokio::test]
async fn connecting_gives_up_after_its_limit_in_a_tunnel_and_in_tls() {
    let limited = || Connecting {
        within: Duration::from_secs(1),
        ..connecting()
    };
    // A proxy that never answers the CONNECT (to port 443: an https:// upstream
    // without a port).
    let (proxy_port, heads) = proxy(Proxy::Silent, None).await;
    let upstream_url = url("https://upstream.test/mcp");
    let via = through(&format!("http://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, limited());
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("connecting took longer than 1s"), "{error}");
    let heads = heads.lock().unwrap().clone();
    assert!(
        heads.first().is_some_and(|h| h
            .to_ascii_lowercase()
            .starts_with("connect upstream.test:443 http/1.1\r\n")),
        "{heads:?}"
    );
    // An upstream that accepts the connection and never speaks TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = UpstreamClient::new(
        &url(&format!("https://127.0.0.1:{port}/mcp")),
        None,
        limited(),
    );
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("connecting took longer than 1s"), "{error}");
}

#[test]
fn an_https_proxy_without_a_port_is_reached_on_443() {
    let upstream_url = url("http://upstream.test/mcp");
    let client = UpstreamClient::new(
        &upstream_url,
        through("https://proxy.test", &upstream_url),
        connecting(),
    );
    assert_eq!(client.proxy(), Ok(Some("https://proxy.test")));
    assert_eq!(client.first_hop(), Some(("proxy.test", 443)));
}

/// A client for a URL that is not http(s) (a configuration not checked by
/// `RawGatewayConfig::validate`) says so and sends nothing.
#[tokio::test]
async fn an_upstream_that_is_not_http_or_https_makes_an_unusable_client() {
    let client = UpstreamClient::new(&url("ftp://agent:pw@127.0.0.1:21/mcp"), None, connecting());
    let reason = client.proxy().unwrap_err();
    assert_eq!(
        reason,
        "the upstream is not an http:// or https:// URL (its scheme is `ftp`)"
    );
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("its scheme is `ftp`"), "{error}");
}

#[tokio::test]
async fn a_socks_proxy_is_refused_and_nothing_is_sent() {
    let (port, accepted) = upstream(None).await;
    let upstream_url = url(&format!("http://127.0.0.1:{port}/mcp"));
    let proxy = through("socks5://user:pw@127.0.0.1:1080", &upstream_url);
    assert!(proxy.is_some());
    let client = UpstreamClient::new(&upstream_url, proxy, connecting());
    let reason = client.proxy().unwrap_err();
    assert!(
        reason.contains("socks5://127.0.0.1:1080")
            && reason.contains("not an http:// or https:// proxy"),
        "{reason}"
    );
    assert!(!reason.contains("pw@"), "{reason}");
    let error = send(&client, None).await.unwrap_err();
    assert!(
        error.contains("not an http:// or https:// proxy"),
        "{error}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_https_upstream_is_reached_only_with_a_certificate_that_chains_and_names_it() {
    let (ca, acceptor) = private_ca("127.0.0.1");
    let (port, _) = upstream(Some(acceptor)).await;
    let upstream_url = url(&format!("https://127.0.0.1:{port}/mcp"));
    // The upstream answers only when `http/1.1` was offered by ALPN.
    let trusted = UpstreamClient::new(&upstream_url, None, trusting(&ca));
    assert_eq!(
        send(&trusted, None).await.unwrap(),
        format!("POST /mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
    // The platform's roots alone do not know the private CA.
    let platform = UpstreamClient::new(&upstream_url, None, connecting());
    let error = send(&platform, None).await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
    // A certificate of the trusted CA for another name.
    let (ca, acceptor) = private_ca("upstream.example");
    let (port, _) = upstream(Some(acceptor)).await;
    let other = UpstreamClient::new(
        &url(&format!("https://127.0.0.1:{port}/mcp")),
        None,
        trusting(&ca),
    );
    let error = send(&other, None).await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
}

#[tokio::test]
async fn an_https_upstream_is_reached_through_an_https_proxy_each_verified_by_its_own_name() {
    let (upstream_ca, acceptor) = private_ca("127.0.0.1");
    let (port, _) = upstream(Some(acceptor)).await;
    let (proxy_ca, acceptor) = private_ca("localhost");
    let (proxy_port, heads) = proxy(Proxy::Passes, Some(acceptor)).await;
    let upstream_url = url(&format!("https://127.0.0.1:{port}/mcp"));
    let both = Connecting {
        extra_roots: vec![upstream_ca.clone(), proxy_ca],
        ..connecting()
    };
    let via = || through(&format!("https://localhost:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via(), both);
    assert_eq!(
        send(&client, None).await.unwrap(),
        format!("POST /mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
    assert_eq!(heads.lock().unwrap().len(), 1);
    // A proxy whose certificate the client cannot verify is not used.
    let client = UpstreamClient::new(&upstream_url, via(), trusting(&upstream_ca));
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
    assert_eq!(heads.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_http_upstream_is_reached_through_an_https_proxy() {
    let (port, _) = upstream(None).await;
    let (ca, acceptor) = private_ca("127.0.0.1");
    let (proxy_port, heads) = proxy(Proxy::Passes, Some(acceptor)).await;
    let upstream_url = url(&format!("http://127.0.0.1:{port}/mcp"));
    let via = through(&format!("https://127.0.0.1:{proxy_port}"), &upstream_url);
    let client = UpstreamClient::new(&upstream_url, via, trusting(&ca));
    assert_eq!(
        send(&client, None).await.unwrap(),
        format!("POST http://127.0.0.1:{port}/mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
    assert_eq!(heads.lock().unwrap().len(), 1);
}
