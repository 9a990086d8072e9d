//! The tower layer: verify the head, read the body (within `max_body`), verify what
//! needs the body, put the [`Principal`] in the request extensions, call the inner
//! service with the same body bytes; or answer with the rejection.
//!
//! The body is read only for a request whose head passed (method, token, signature or
//! DPoP proof): an unauthenticated request costs its head and nothing more.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use http_body_util::BodyExt as _;

use mcp_auth_core::unix_now;

use crate::presentation::{Profile, ResourceVerifier, presented_profile};
use crate::rejection::{Challenge, Rejection};
use crate::request::BodyHint;

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

impl<S> tower::Service<Request<Body>> for McpAuth<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The readied service handles this request; a fresh clone takes its place.
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let verifier = Arc::clone(&self.verifier);
        Box::pin(async move {
            let started = Instant::now();
            let (mut parts, body) = request.into_parts();
            // Phase 1 on the head alone: an unauthenticated request is answered
            // without a byte of its body being read.
            let hint = BodyHint::of_body(&body);
            let head = match verifier.verify_head(&parts, hint, unix_now()).await {
                Ok(head) => head,
                Err(rejection) => {
                    record_duration(started);
                    return Ok(reject(&verifier, &parts.headers, rejection));
                }
            };
            // Phase 2: the body, within `max_body`, then what needs it.
            let limit = verifier.config().max_body;
            let bytes = match http_body_util::Limited::new(body, limit).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    let rejection = if e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        Rejection::BodyTooLarge(limit)
                    } else {
                        Rejection::BodyUnreadable
                    };
                    record_duration(started);
                    return Ok(reject(&verifier, &parts.headers, rejection));
                }
            };
            let outcome = verifier.verify_body(head, &parts, &bytes).await;
            record_duration(started);
            match outcome {
                Ok(principal) => {
                    metrics::counter!("mcp_auth_requests_total", "profile" => principal.profile.as_str(), "outcome" => "accepted").increment(1);
                    tracing::debug!(iss = %principal.issuer, sub = %principal.subject, client_id = %principal.client_id, profile = principal.profile.as_str(), "presentation verified");
                    let dpop_nonce = (principal.profile == Profile::Dpop)
                        .then(|| verifier.next_dpop_nonce(unix_now()))
                        .flatten();
                    parts.extensions.insert(principal);
                    let mut response = ready
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await?;
                    if let Some(v) = dpop_nonce.and_then(|n| http::HeaderValue::from_str(&n).ok()) {
                        response.headers_mut().insert("dpop-nonce", v);
                    }
                    Ok(response)
                }
                Err(rejection) => Ok(reject(&verifier, &parts.headers, rejection)),
            }
        })
    }
}

/// `mcp_auth_verification_seconds`: the whole check, body read included.
fn record_duration(started: Instant) {
    metrics::histogram!("mcp_auth_verification_seconds").record(started.elapsed().as_secs_f64());
}

fn reject(
    verifier: &ResourceVerifier,
    headers: &http::HeaderMap,
    rejection: Rejection,
) -> Response {
    let presented = presented_profile(headers);
    let profile = presented.map_or("none", Profile::as_str);
    metrics::counter!("mcp_auth_requests_total", "profile" => profile, "outcome" => rejection.metric_label()).increment(1);
    tracing::info!(reason = rejection.metric_label(), profile, error = %rejection, "request refused");
    rejection.into_response(Challenge {
        resource_metadata: verifier.metadata_url(),
        bearer_accepted: !verifier.config().bound_tokens_required,
        presented,
        scope: verifier.challenge_scope(),
        dpop: verifier.config().dpop.as_ref(),
    })
}
