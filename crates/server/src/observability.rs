//! Prometheus metrics: the recorder, the `/metrics` handler, and a layer that counts
//! requests by route and status and times them. Label values come from closed sets
//! (the matched route, the status code), never from client input.

use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
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
            // Installed for good: metric handles may be kept from now on.
            mcp_auth_core::metric_handle::recorder_installed();
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

/// Counts and times every request that matches a route and method (it is a route
/// layer: a 404 or a 405 does not reach it): `mcp_auth_http_requests_total{route,status}`
/// and `mcp_auth_http_request_duration_seconds{route}`.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let start = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let _ = record(route, response.status(), start.elapsed());
    response
}

/// How [`record`] counted a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    /// Through the macros: the recorder is not this process's own.
    Uncached,
    /// The first of its route and status: handles made and kept.
    Registered,
    /// Through handles kept before.
    Cached,
}

const REQUESTS: &str = "mcp_auth_http_requests_total";
const DURATION: &str = "mcp_auth_http_request_duration_seconds";

/// The two metrics of one route and status.
struct RouteMetrics {
    route: Box<str>,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// The handles of every route and status seen, once handles may be kept
/// ([`mcp_auth_core::metric_handle`], which says when and why). `counter!` with labels
/// copies the label values into a new key, hashes it and looks it up in the recorder's
/// registry on every call: about ten allocations per request for these two (issue 18).
/// Routes and statuses are closed sets (the router's own routes, the codes it answers):
/// a few dozen pairs at most, found by a scan.
static HANDLES: RwLock<Vec<RouteMetrics>> = RwLock::new(Vec::new());

/// Records one request of `route` answered `status` in `elapsed`.
fn record(route: &str, status: StatusCode, elapsed: Duration) -> Recorded {
    let seconds = elapsed.as_secs_f64();
    if !mcp_auth_core::metric_handle::handles_may_be_kept() {
        metrics::counter!(REQUESTS, "route" => route.to_owned(), "status" => status.as_str().to_owned())
            .increment(1);
        metrics::histogram!(DURATION, "route" => route.to_owned()).record(seconds);
        return Recorded::Uncached;
    }
    let code = status.as_u16();
    let handles = HANDLES.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = handles
        .iter()
        .find(|m| m.status == code && *m.route == *route)
    {
        found.requests.increment(1);
        found.duration.record(seconds);
        return Recorded::Cached;
    }
    drop(handles);
    let made = RouteMetrics {
        route: route.into(),
        status: code,
        requests: metrics::counter!(REQUESTS, "route" => route.to_owned(), "status" => status.as_str().to_owned()),
        duration: metrics::histogram!(DURATION, "route" => route.to_owned()),
    };
    made.requests.increment(1);
    made.duration.record(seconds);
    let mut handles = HANDLES.write().unwrap_or_else(PoisonError::into_inner);
    // Another request of the same pair may have got here first: keep one entry.
    if !handles
        .iter()
        .any(|m| m.status == code && *m.route == *route)
    {
        handles.push(made);
    }
    Recorded::Registered
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first request of a route and status registers its handles, the next ones
    /// find them: every one is counted, under the recorder that renders them.
    #[test]
    fn every_request_of_a_route_is_counted_and_timed() {
        let handle = install().expect("the Prometheus recorder");
        let took: Vec<Recorded> = [
            StatusCode::IM_A_TEAPOT,
            StatusCode::IM_A_TEAPOT,
            StatusCode::IM_A_TEAPOT,
            StatusCode::OK,
        ]
        .into_iter()
        .map(|status| record("/counted-route", status, Duration::from_millis(2)))
        .collect();
        assert_eq!(
            took,
            [
                Recorded::Registered,
                Recorded::Cached,
                Recorded::Cached,
                Recorded::Registered
            ]
        );
        let cached = HANDLES
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|m| &*m.route == "/counted-route")
            .count();
        assert_eq!(cached, 2, "one entry per route and status, found again");
        let text = handle.render();
        assert!(
            text.contains(
                "mcp_auth_http_requests_total{route=\"/counted-route\",status=\"418\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mcp_auth_http_requests_total{route=\"/counted-route\",status=\"200\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mcp_auth_http_request_duration_seconds_count{route=\"/counted-route\"} 4\n"
            ),
            "{text}"
        );
    }
}
