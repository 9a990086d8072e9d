//! The upstream client against real servers on loopback: a plain and a TLS upstream
//! (hyper's server; a private CA made by rcgen) and a CONNECT proxy.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const IDLE: Duration = Duration::from_secs(4);

/// Answers every request with `METHOD TARGET host=HOST length=N x-test=V`.
async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let line = format!(
        "{} {} host={} length={} x-test={}",
        request.method(),
        request.uri(),
        header("host"),
        header("content-length"),
        header("x-test"),
    );
    Ok(Response::new(Full::new(Bytes::from(line))))
}

/// Serves [`echo`] on `stream` (TLS first, with `tls`).
async fn serve(stream: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
    let service = hyper::service::service_fn(echo);
    let http = hyper::server::conn::http1::Builder::new();
    match tls {
        None => {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
        Some(tls) => {
            if let Ok(stream) = tls.accept(stream).await {
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            }
        }
    }
}

/// An upstream on loopback; its port.
async fn upstream(tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, tls.clone()));
        }
    });
    port
}

/// A CONNECT proxy on loopback: its port, and the heads of the requests it took.
async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8];
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                seen.lock().unwrap().push(head);
                let Ok(mut server) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, heads)
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap()
}

/// What the upstream said, or the error's text.
async fn send(client: &UpstreamClient, query: Option<&str>) -> Result<String, String> {
    let mut headers = HeaderMap::new();
    headers.insert("x-test", http::HeaderValue::from_static("yes"));
    match client
        .send(Method::POST, query, headers, Bytes::from_static(b"{}"))
        .await
    {
        Ok(response) => {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Ok(String::from_utf8(body.to_vec()).unwrap())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn the_request_target_is_the_upstreams_path_with_the_clients_query() {
    let base = base_of(&url("http://upstream.internal:8080/mcp?key=1#part")).unwrap();
    assert_eq!(base.to_string(), "http://upstream.internal:8080/mcp");
    assert_eq!(target(&base, None).unwrap(), base);
    assert_eq!(
        target(&base, Some("a=b&c")).unwrap().to_string(),
        "http://upstream.internal:8080/mcp?a=b&c"
    );
    let root = base_of(&url("https://[::1]")).unwrap();
    assert_eq!(
        target(&root, Some("x")).unwrap().to_string(),
        "https://[::1]/?x"
    );
}

#[tokio::test]
async fn a_request_reaches_the_upstream_with_its_method_target_headers_and_body() {
    let port = upstream(None).await;
    let client = UpstreamClient::new(
        &url(&format!("http://127.0.0.1:{port}/mcp")),
        None,
        IDLE,
        None,
    );
    assert_eq!((client.proxy(), client.first_hop()), (Ok(None), None));
    assert_eq!(
        send(&client, Some("a=b")).await.unwrap(),
        format!("POST /mcp?a=b host=127.0.0.1:{port} length=2 x-test=yes")
    );
    // The pooled connection serves the next request.
    assert_eq!(
        send(&client, None).await.unwrap(),
        format!("POST /mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_an_error_naming_the_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = UpstreamClient::new(
        &url(&format!("http://127.0.0.1:{port}/mcp")),
        None,
        IDLE,
        None,
    );
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("onnect"), "{error}");
}

#[tokio::test]
async fn through_an_http_proxy_the_upstream_is_reached_by_connect_with_the_proxys_credentials() {
    let port = upstream(None).await;
    let (proxy_port, heads) = connect_proxy().await;
    let upstream_url = url(&format!("http://127.0.0.1:{port}/mcp"));
    let proxy = Matcher::builder()
        .all(format!("http://agent:s3cret@127.0.0.1:{proxy_port}"))
        .build()
        .intercept(&base_of(&upstream_url).unwrap());
    let client = UpstreamClient::new(&upstream_url, proxy, IDLE, None);
    assert!(!format!("{client:?}").contains("s3cret"), "{client:?}");
    let address = format!("http://127.0.0.1:{proxy_port}");
    assert_eq!(client.proxy(), Ok(Some(address.as_str())));
    assert_eq!(client.first_hop(), Some(("127.0.0.1", proxy_port)));
    assert_eq!(
        send(&client, Some("a=b")).await.unwrap(),
        format!("POST /mcp?a=b host=127.0.0.1:{port} length=2 x-test=yes")
    );
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.starts_with(&format!("connect 127.0.0.1:{port} http/1.1\r\n")),
        "{head}"
    );
    // "agent:s3cret" in base64 (lowercased with the rest of the head).
    assert!(
        head.contains("\r\nproxy-authorization: basic ywdlbnq6cznjcmv0\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn a_proxy_other_than_http_is_refused_and_nothing_is_sent() {
    let port = upstream(None).await;
    let upstream_url = url(&format!("http://127.0.0.1:{port}/mcp"));
    let proxy = Matcher::builder()
        .all("socks5://user:pw@127.0.0.1:1080")
        .build()
        .intercept(&base_of(&upstream_url).unwrap());
    assert!(proxy.is_some());
    let client = UpstreamClient::new(&upstream_url, proxy, IDLE, None);
    let reason = client.proxy().unwrap_err();
    assert!(
        reason.contains("socks5://127.0.0.1:1080") && reason.contains("not an http:// proxy"),
        "{reason}"
    );
    assert!(!reason.contains("pw@"), "{reason}");
    let error = send(&client, None).await.unwrap_err();
    assert!(error.contains("not an http:// proxy"), "{error}");
}

/// A private CA, and a TLS acceptor presenting a certificate it issued for `name`.
fn private_ca(
    name: &str,
) -> (
    rustls::pki_types::CertificateDer<'static>,
    tokio_rustls::TlsAcceptor,
) {
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
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .unwrap();
    (
        ca.der().clone(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

#[tokio::test]
async fn an_https_upstream_is_reached_only_with_a_certificate_that_chains_and_names_it() {
    let (ca, acceptor) = private_ca("127.0.0.1");
    let port = upstream(Some(acceptor)).await;
    let upstream_url = url(&format!("https://127.0.0.1:{port}/mcp"));
    let trusting = UpstreamClient::new(&upstream_url, None, IDLE, Some(vec![ca.clone()]));
    assert_eq!(
        send(&trusting, None).await.unwrap(),
        format!("POST /mcp host=127.0.0.1:{port} length=2 x-test=yes")
    );
    // The platform's roots alone do not know the private CA.
    let platform = UpstreamClient::new(&upstream_url, None, IDLE, None);
    let error = send(&platform, None).await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
    // A certificate of the trusted CA for another name.
    let (ca, acceptor) = private_ca("upstream.example");
    let port = upstream(Some(acceptor)).await;
    let other = UpstreamClient::new(
        &url(&format!("https://127.0.0.1:{port}/mcp")),
        None,
        IDLE,
        Some(vec![ca]),
    );
    let error = send(&other, None).await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
}
