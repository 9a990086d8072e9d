//! Prometheus metrics: the recorder, the `/metrics` handler, and a layer that counts
//! requests by route and status and times them. Label values come from closed sets
//! (the matched route, the status code), never from client input.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the Prometheus recorder once per process (if another recorder is already
/// installed, metrics are not exported and `/metrics` answers 404), with its upkeep
/// thread.
///
/// The recorder keeps every histogram sample until it is folded into the buckets,
/// which a scrape or an upkeep run does (metrics-exporter-prometheus, "upkeep
/// task"). `install_recorder` starts no upkeep, so without this thread a process
/// nobody scrapes grows by every sample: about 35 bytes per gateway request,
/// measured by `mcp-auth bench gateway --soak`.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .install_recorder()
                .ok()?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics() -> Response {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(h) => {
            let mut r = h.render().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Counts and times every request: `mcp_auth_http_requests_total{route,status}` and
/// `mcp_auth_http_request_duration_seconds{route}`.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("mcp_auth_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("mcp_auth_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}
