//! The gateway's HTTP client for its upstream: hyper's pooled HTTP/1.1 client, TLS
//! by rustls with the platform's roots, and a proxy from the environment, all decided
//! once, when the gateway starts.
//!
//! Every other HTTP client of mcp-auth is reqwest's. This one is not, because the
//! gateway sends every request it accepts to one URL fixed at start, and reqwest
//! decides per request what is decided here once: it formats and parses the request's
//! URL again for its redirect policy (even with redirects off), looks up the proxy for
//! it, and copies its header map. Through the gateway that was about 28 k of the
//! auth-off proxy's 110 k instructions a request (BENCHMARKS.md, "Issue 18: the
//! gateway's upstream client without reqwest").
//!
//! What stays as it was with reqwest:
//! - 5 s to connect: the TCP connection, a proxy's `CONNECT` and the TLS handshake
//!   together ([`connect::ConnectWithin`]), and each address of a name its share of
//!   it; `TCP_NODELAY`; TCP keep-alive probes after 15 s idle, every 15 s, 3 of them;
//!   `TCP_USER_TIMEOUT` 30 s (Linux); connections dropped idle after the configured
//!   time;
//! - no redirects followed and no retries of a request that was sent (a POST the
//!   upstream may have begun is never sent twice);
//! - `https://` upstreams verified by [`rustls_platform_verifier`], with the
//!   process's crypto provider (aws-lc-rs): the system's roots (those of
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR` instead, when set); ALPN offers `http/1.1` only;
//! - `HTTPS_PROXY` (for an `https://` upstream), `HTTP_PROXY` (for `http://`),
//!   `ALL_PROXY` and `NO_PROXY` from the environment, read by hyper-util's matcher,
//!   the one reqwest reads them with; `http://` and `https://` proxies; an `https://`
//!   upstream reached through a `CONNECT` tunnel, an `http://` one by sending each
//!   request to the proxy with its absolute URI (`Proxy-Authorization` on each).
//!   What the proxy refuses itself is an error (a 502 of the gateway's own), where
//!   reqwest passed a forward proxy's `407` or error page on ([`proxy_refusal`]).
//!
//! What differs: a SOCKS proxy is refused at start (reqwest, built without `socks`,
//! failed every request instead); the client's query goes upstream byte for byte
//! (reqwest's `Url` percent-encoded a few characters again); and no `Accept: */*` is
//! added to a request that has no `Accept` (MCP clients send one).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use connect::{ConnectWithin, ToProxy};

mod connect;

/// How long connecting to the upstream may take: TCP, a proxy's tunnel and TLS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle time before TCP keep-alive probes, and between them (as reqwest's default).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// How long sent data may stay unacknowledged before the connection is dropped (as
/// reqwest's default on Linux).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request could not be sent, or its answer's head not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// Connecting, TLS, writing the request or reading the head failed.
    #[error("{}", mcp_auth_core::error_text::with_causes(.0))]
    Failed(#[from] hyper_util::client::legacy::Error),
    /// The client could not be built ([`UpstreamClient::proxy`] says why).
    #[error("the upstream client is unusable: {0}")]
    Unusable(Arc<str>),
    /// The client's query does not fit the upstream's URL.
    #[error("no request target: {0}")]
    Target(#[from] http::Error),
    /// The forward proxy answered for itself ([`proxy_refusal`]).
    #[error("the proxy refused the request: {0}")]
    Proxy(String),
}

/// An answer a forward proxy made itself, not the upstream: `407` (it wants other
/// credentials), or any answer with an RFC 9209 `Proxy-Status` that names an error.
/// It becomes the gateway's own 502, whose text says nothing of the upstream or the
/// proxy, where passing it on (as reqwest did) could show the client a proxy's error
/// page. Other answers a proxy makes without saying so cannot be told from the
/// upstream's, and are passed on.
fn proxy_refusal(response: &Response<Incoming>) -> Option<String> {
    if response.status() == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED {
        return Some("407, proxy authentication required".to_owned());
    }
    let status = response.headers().get("proxy-status")?.to_str().ok()?;
    status
        .contains("error=")
        .then(|| format!("{}, Proxy-Status: {status}", response.status().as_u16()))
}

/// TLS (for `https://`) over the TCP connection, or over a proxy's tunnel.
type Connector<T> = ConnectWithin<HttpsConnector<T>>;

/// The connection pool to the upstream, direct or through a proxy.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    inner: Inner,
    /// The upstream URL as a request target, without query ([`target`]).
    base: Uri,
}

#[derive(Clone)]
enum Inner {
    Direct(Client<Connector<HttpConnector>, Full<Bytes>>),
    /// An `https://` upstream through a proxy: TLS inside a `CONNECT` tunnel (itself
    /// TLS to an `https://` proxy).
    Tunneled {
        client: Client<Connector<Tunnel<HttpsConnector<HttpConnector>>>, Full<Bytes>>,
        via: Via,
    },
    /// An `http://` upstream through a proxy: each request sent to the proxy.
    Forwarded {
        client: Client<ConnectWithin<ToProxy>, Full<Bytes>>,
        via: Via,
        /// `Proxy-Authorization` for each request (marked sensitive).
        authorization: Option<HeaderValue>,
    },
    Unusable(Arc<str>),
}

/// The proxy in use.
#[derive(Clone)]
struct Via {
    /// Its address, `scheme://host:port` (never its credentials).
    address: String,
    /// Where TCP connections go: its host and port.
    first_hop: (String, u16),
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UpstreamClient");
        match &self.inner {
            Inner::Direct(_) => d.field("base", &self.base).field("proxy", &"none"),
            Inner::Tunneled { via, .. } | Inner::Forwarded { via, .. } => {
                d.field("base", &self.base).field("proxy", &via.address)
            }
            Inner::Unusable(reason) => d.field("unusable", reason),
        };
        d.finish_non_exhaustive()
    }
}

/// How the client connects, apart from where: what tests shorten or widen.
#[derive(Debug, Clone)]
pub(crate) struct Connecting {
    /// How long an idle connection is kept for the next request.
    pub(crate) idle: Duration,
    /// How long connecting may take ([`CONNECT_TIMEOUT`]).
    pub(crate) within: Duration,
    /// Roots trusted beside the platform's (tests: a private CA; none in the gateway).
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Connecting {
    /// The gateway's: idle connections kept for `idle`, [`CONNECT_TIMEOUT`], the
    /// platform's roots only.
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            idle,
            within: CONNECT_TIMEOUT,
            extra_roots: Vec::new(),
        }
    }
}

impl UpstreamClient {
    /// A client for `upstream` (without credentials: [`super::url_credentials`]),
    /// through the proxy the environment names for it (if any), keeping idle
    /// connections for `idle`.
    pub(crate) fn from_environment(upstream: &url::Url, idle: Duration) -> Self {
        let proxy = base_of(upstream)
            .ok()
            .and_then(|base| Matcher::from_system().intercept(&base));
        Self::new(upstream, proxy, Connecting::new(idle))
    }

    /// A client for `upstream` through `proxy` (none: direct).
    pub(crate) fn new(
        upstream: &url::Url,
        proxy: Option<Intercept>,
        connecting: Connecting,
    ) -> Self {
        if !matches!(upstream.scheme(), "http" | "https") {
            // The gateway's configuration refuses such an upstream; an embedder's
            // that skips it gets a client that says why.
            return Self::unusable(format!(
                "the upstream is not an http:// or https:// URL (its scheme is `{}`)",
                upstream.scheme()
            ));
        }
        let base = match base_of(upstream) {
            Ok(base) => base,
            Err(e) => return Self::unusable(format!("the upstream URL is no request target: {e}")),
        };
        let tls = match tls_config(connecting.extra_roots) {
            Ok(tls) => Arc::new(tls),
            Err(e) => return Self::unusable(format!("no TLS configuration: {e}")),
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        // Each address of the name gets its share (hyper-util), within the limit on
        // the whole connect.
        tcp.set_connect_timeout(Some(connecting.within));
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_interval(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        tcp.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(connecting.idle)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        let Some(proxy) = proxy else {
            let connector = ConnectWithin {
                inner: HttpsConnector::from((tcp, tls)),
                limit: connecting.within,
            };
            return Self {
                inner: Inner::Direct(builder.build(connector)),
                base,
            };
        };
        let address = proxy.uri().clone();
        let default_port = match address.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            _ => {
                return Self::unusable(format!(
                    "the proxy for the upstream ({}) is not an http:// or https:// proxy",
                    proxy_address(&address)
                ));
            }
        };
        let via = Via {
            address: proxy_address(&address),
            first_hop: (
                address.host().unwrap_or_default().to_owned(),
                address.port_u16().unwrap_or(default_port),
            ),
        };
        let to_proxy = HttpsConnector::from((tcp, Arc::clone(&tls)));
        let authorization = proxy.basic_auth().cloned().map(|mut auth| {
            auth.set_sensitive(true);
            auth
        });
        if base.scheme_str() == Some("http") {
            let connector = ConnectWithin {
                inner: ToProxy {
                    connector: to_proxy,
                    proxy: address,
                },
                limit: connecting.within,
            };
            return Self {
                inner: Inner::Forwarded {
                    client: builder.build(connector),
                    via,
                    authorization,
                },
                base,
            };
        }
        let mut tunnel = Tunnel::new(address, to_proxy);
        if let Some(auth) = authorization {
            tunnel = tunnel.with_auth(auth);
        }
        let connector = ConnectWithin {
            inner: HttpsConnector::from((tunnel, tls)),
            limit: connecting.within,
        };
        Self {
            inner: Inner::Tunneled {
                client: builder.build(connector),
                via,
            },
            base,
        }
    }

    fn unusable(reason: String) -> Self {
        Self {
            inner: Inner::Unusable(reason.into()),
            base: Uri::default(),
        }
    }

    /// The proxy's address (`None`: direct), or why no request can be sent.
    pub(crate) fn proxy(&self) -> Result<Option<&str>, &str> {
        match &self.inner {
            Inner::Direct(_) => Ok(None),
            Inner::Tunneled { via, .. } | Inner::Forwarded { via, .. } => Ok(Some(&via.address)),
            Inner::Unusable(reason) => Err(reason),
        }
    }

    /// The host and port TCP connections go to: the proxy's when there is one
    /// (`None`: the upstream's own, or none at all: see [`UpstreamClient::proxy`]).
    pub(crate) fn first_hop(&self) -> Option<(&str, u16)> {
        match &self.inner {
            Inner::Tunneled { via, .. } | Inner::Forwarded { via, .. } => {
                Some((&via.first_hop.0, via.first_hop.1))
            }
            Inner::Direct(_) | Inner::Unusable(_) => None,
        }
    }

    /// Sends a request to the upstream URL with the client's `query`, `headers` (the
    /// forwarded ones: `Host` and `Content-Length` are set here) and `body`, over
    /// HTTP/1.1; the answer's head when it came, its body streaming.
    pub(crate) async fn send(
        &self,
        method: Method,
        query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = target(&self.base, query)?;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        match &self.inner {
            Inner::Direct(client) => Ok(client.request(request).await?),
            Inner::Tunneled { client, .. } => Ok(client.request(request).await?),
            Inner::Forwarded {
                client,
                authorization,
                ..
            } => {
                if let Some(authorization) = authorization {
                    request
                        .headers_mut()
                        .insert(header::PROXY_AUTHORIZATION, authorization.clone());
                }
                let response = client.request(request).await?;
                match proxy_refusal(&response) {
                    Some(refusal) => Err(UpstreamError::Proxy(refusal)),
                    None => Ok(response),
                }
            }
            Inner::Unusable(reason) => Err(UpstreamError::Unusable(Arc::clone(reason))),
        }
    }
}

/// `scheme://host:port` of a proxy's address, never its credentials. hyper-util's
/// matcher takes them out of the URI already (into [`Intercept::basic_auth`]); this
/// makes sure no `user:password@` reaches a log or an error even if that changed.
fn proxy_address(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    match (uri.scheme_str(), uri.port_u16()) {
        (Some(scheme), Some(port)) => format!("{scheme}://{host}:{port}"),
        (Some(scheme), None) => format!("{scheme}://{host}"),
        _ => host.to_owned(),
    }
}

/// rustls with the process's crypto provider (aws-lc-rs unless the process installed
/// another), its default protocol versions, the platform's verifier (plus
/// `extra_roots`), no client certificate, ALPN `http/1.1`.
fn tls_config(
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(Arc::clone(&provider))?
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots,
            Arc::clone(&provider),
        )?
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The upstream URL without its credentials, query and fragment, as a request
/// target; its port only when not the scheme's default (as reqwest wrote it: a
/// forward proxy gets this URI as it is). A tunnel, only ever to an `https://`
/// upstream, goes to 443 when no port is written.
fn base_of(upstream: &url::Url) -> Result<Uri, http::Error> {
    let host = upstream.host_str().unwrap_or_default();
    let authority = match upstream.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Uri::builder()
        .scheme(upstream.scheme())
        .authority(authority)
        .path_and_query(upstream.path())
        .build()
}

/// The request target of a forwarded request: the upstream's scheme, authority and
/// path (made once, `base`), with the client's query, if any (the gateway's
/// configuration refuses an upstream URL with a query of its own).
fn target(base: &Uri, query: Option<&str>) -> Result<Uri, http::Error> {
    let Some(query) = query else {
        return Ok(base.clone());
    };
    let path = base.path();
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(format!("{path}?{query}").try_into()?);
    Ok(Uri::from_parts(parts)?)
}

#[cfg(test)]
pub(in crate::proxy) mod tests;
