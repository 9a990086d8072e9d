//! The tower layer: verify the head, read the body (within `max_body`), verify what
//! needs the body, put the [`Principal`] in the request extensions, call the inner
//! service with the same body bytes; or answer with the rejection.
//!
//! The body is read only for a request whose head passed (method, token, signature or
//! DPoP proof): an unauthenticated request costs its head and nothing more.
//!
//! The layer takes requests with any body ([`http_body::Body`]: hyper's, axum's, a
//! test's) and hands the inner service the body it read as [`Full<Bytes>`]; its
//! responses are the inner service's or its own refusals ([`ResponseBody`]), through
//! the named [`ResponseFuture`]. So it fits any tower stack, axum's `Router::layer`
//! included. Logging and metrics of each outcome are done here, and only here.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use mcp_auth_core::metric_handle::Kept;
use metrics::{Counter, Histogram};

use crate::presentation::{Presentation, Principal, Profile, ResourceVerifier};
use crate::rejection::Rejection;

/// The body of the layer's responses: the inner service's, or a refusal's.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// Adds presentation verification to a service.
#[derive(Debug, Clone)]
pub struct McpAuthLayer {
    verifier: Arc<ResourceVerifier>,
}

impl McpAuthLayer {
    /// A layer using `verifier`.
    pub fn new(verifier: Arc<ResourceVerifier>) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for McpAuthLayer {
    type Service = McpAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpAuth {
            inner,
            verifier: Arc::clone(&self.verifier),
        }
    }
}

/// The service built by [`McpAuthLayer`].
#[derive(Debug, Clone)]
pub struct McpAuth<S> {
    inner: S,
    verifier: Arc<ResourceVerifier>,
}

impl<S, B, ResBody> tower::Service<Request<B>> for McpAuth<S>
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The readied service handles this request; a fresh clone takes its place.
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let verifier = Arc::clone(&self.verifier);
        ResponseFuture {
            inner: Box::pin(async move {
                let started = Instant::now();
                let Presentation {
                    profile,
                    outcome,
                    body_unread,
                } = verifier.verify_request(request).await;
                // `mcp_auth_verification_seconds`: the whole check, body read included.
                VERIFICATION_SECONDS
                    .with(|seconds| seconds.record(started.elapsed().as_secs_f64()));
                let request = match outcome {
                    Ok(request) => request,
                    Err(rejection) => {
                        record_refusal(profile, &rejection);
                        let mut refusal = verifier.refusal(profile, rejection);
                        if body_unread {
                            // HTTP/1.1: the unread body ends this connection; saying so
                            // keeps clients from reusing it (RFC 9112 §9.6). HTTP/2
                            // drops the header (its streams end on their own).
                            refusal.headers_mut().insert(
                                http::header::CONNECTION,
                                http::HeaderValue::from_static("close"),
                            );
                        }
                        return Ok(refusal.map(Either::Right));
                    }
                };
                if let Some(principal) = request.extensions().get::<Principal>() {
                    record_acceptance(principal);
                }
                // RFC 9449 §9: the next nonce comes with each answer to a DPoP request.
                let dpop_nonce = if profile == Some(Profile::Dpop) {
                    verifier.next_dpop_nonce()
                } else {
                    None
                };
                let mut response = ready.call(request).await?;
                if let Some(v) = dpop_nonce.and_then(|n| http::HeaderValue::from_str(&n).ok()) {
                    response.headers_mut().insert("dpop-nonce", v);
                }
                Ok(response.map(Either::Left))
            }),
        }
    }
}

/// What [`ResponseFuture`] resolves to.
type Answer<ResBody, E> = Result<Response<ResponseBody<ResBody>>, E>;

/// The future of [`McpAuth`]: the check, then the inner service's answer.
pub struct ResponseFuture<ResBody, E> {
    inner: Pin<Box<dyn Future<Output = Answer<ResBody, E>> + Send>>,
}

impl<ResBody, E> Future for ResponseFuture<ResBody, E> {
    type Output = Answer<ResBody, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<ResBody, E> fmt::Debug for ResponseFuture<ResBody, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// `mcp_auth_verification_seconds`, its handle kept ([`Kept`]: issue 18).
static VERIFICATION_SECONDS: Kept<Histogram> =
    Kept::new(|| metrics::histogram!("mcp_auth_verification_seconds"));

/// `mcp_auth_requests_total{outcome="accepted"}` of each profile. Literal labels make
/// each key a static (`metrics::key_var!`), so its handle can be kept ([`Kept`]): a
/// label computed at run time would allocate the key for every accepted request.
fn acceptances(profile: Profile) -> &'static Kept<Counter> {
    static BEARER: Kept<Counter> = Kept::new(
        || metrics::counter!("mcp_auth_requests_total", "profile" => "bearer", "outcome" => "accepted"),
    );
    static HTTPSIG: Kept<Counter> = Kept::new(
        || metrics::counter!("mcp_auth_requests_total", "profile" => "httpsig", "outcome" => "accepted"),
    );
    static DPOP: Kept<Counter> = Kept::new(
        || metrics::counter!("mcp_auth_requests_total", "profile" => "dpop", "outcome" => "accepted"),
    );
    match profile {
        Profile::Bearer => &BEARER,
        Profile::HttpSig => &HTTPSIG,
        Profile::Dpop => &DPOP,
    }
}

/// `mcp_auth_requests_total{outcome="accepted"}` and a debug line.
fn record_acceptance(principal: &Principal) {
    acceptances(principal.profile).with(|accepted| accepted.increment(1));
    tracing::debug!(iss = %principal.issuer, sub = %principal.subject, client_id = %principal.client_id, profile = principal.profile.as_str(), "presentation verified");
}

/// `mcp_auth_requests_total` by refusal, and a log line: info for the request's
/// fault, error for the server's (replay cache down, internal failure).
fn record_refusal(presented: Option<Profile>, rejection: &Rejection) {
    let profile = presented.map_or("none", Profile::as_str);
    metrics::counter!("mcp_auth_requests_total", "profile" => profile, "outcome" => rejection.metric_label()).increment(1);
    tracing::info!(reason = rejection.metric_label(), profile, error = %rejection, "request refused");
    if rejection.is_server_failure() {
        tracing::error!(error = %rejection, "request refused: server-side failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal labels of each profile's acceptance are its `Profile::as_str`, the
    /// label every other series of the profile carries.
    #[test]
    fn an_acceptance_is_counted_under_its_profiles_label() {
        // Nothing in this test binary installs a global recorder, so each handle is made
        // under the thread-local one below.
        assert!(!mcp_auth_core::metric_handle::handles_may_be_kept());
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let counts = [
            (Profile::Bearer, 1),
            (Profile::HttpSig, 2),
            (Profile::Dpop, 3),
        ];
        for (profile, times) in counts {
            let principal = Principal {
                issuer: "https://as.example".into(),
                subject: "alice".into(),
                client_id: "agent".into(),
                scopes: Arc::default(),
                token_id: "t1".into(),
                profile,
                key_thumbprint: None,
                claims: Arc::default(),
            };
            for _ in 0..times {
                metrics::with_local_recorder(&recorder, || record_acceptance(&principal));
            }
        }
        let text = handle.render();
        for (profile, times) in counts {
            let label = profile.as_str();
            let series = text
                .lines()
                .find(|l| {
                    l.starts_with("mcp_auth_requests_total{")
                        && l.contains(&format!("profile=\"{label}\""))
                })
                .unwrap_or_else(|| panic!("no series for {label} in:\n{text}"));
            assert!(series.contains("outcome=\"accepted\""), "{series}");
            assert!(series.ends_with(&format!(" {times}")), "{series}");
        }
    }
}
