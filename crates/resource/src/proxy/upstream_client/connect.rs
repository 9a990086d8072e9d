//! The connectors of the upstream client beyond hyper-util's and hyper-rustls's own: a
//! time limit over the whole connect, and the connection to a forward proxy.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An error of a connector, as hyper-util takes it.
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed connect: hyper-util's pool takes only connectors whose futures are
/// `Unpin`.
type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// A connector that gives up after `limit`: TCP, a proxy's `CONNECT` and the TLS
/// handshake together, as reqwest's connect timeout did.
#[derive(Clone)]
pub(super) struct ConnectWithin<C> {
    pub(super) inner: C,
    pub(super) limit: Duration,
}

impl<C> tower::Service<Uri> for ConnectWithin<C>
where
    C: tower::Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let connecting = self.inner.call(destination);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(format!("connecting took longer than {limit:?}").into()),
            }
        })
    }
}

/// A connector to a forward proxy, whatever the destination: for an `http://`
/// upstream, each request is sent to the proxy with its absolute URI as the target
/// (RFC 9112 §3.2.2), which hyper-util writes for a connection marked as proxied
/// ([`Proxied`]). TLS to the proxy when its address is `https://`.
#[derive(Clone)]
pub(super) struct ToProxy {
    pub(super) connector: HttpsConnector<HttpConnector>,
    pub(super) proxy: Uri,
}

impl tower::Service<Uri> for ToProxy {
    type Response = Proxied<MaybeHttpsStream<TokioIo<TcpStream>>>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.connector.poll_ready(cx)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        // Only plain HTTP is forwarded: an `https://` upstream's TLS is the gateway's,
        // inside a tunnel, never left to the proxy.
        if destination.scheme() != Some(&http::uri::Scheme::HTTP) {
            return Box::pin(async { Err("only http:// is sent to a forward proxy".into()) });
        }
        let connecting = self.connector.call(self.proxy.clone());
        Box::pin(async move { Ok(Proxied(connecting.await?)) })
    }
}

/// A connection to a forward proxy: the stream as it is, said to be proxied.
pub(super) struct Proxied<T>(T);

impl<T: Connection> Connection for Proxied<T> {
    fn connected(&self) -> Connected {
        self.0.connected().proxy(true)
    }
}

impl<T: Read + Unpin> Read for Proxied<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Proxied<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}
