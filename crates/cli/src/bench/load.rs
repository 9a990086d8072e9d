//! The load driver: sends prepared requests at a fixed concurrency (closed loop) or a
//! fixed rate (open loop) and records every latency in an HDR histogram.
//!
//! Requests are prepared before the clock starts (signatures included), so their
//! cost is not counted as the server's. In open-loop runs the latency of a request
//! is measured from the moment it was *scheduled*, not sent, so a stalled server
//! shows as latency rather than as a lower rate (no coordinated omission).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// One request ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) url: String,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: bytes::Bytes,
}

/// One open-loop request's scheduled start (µs after the run started), its latency
/// and how late it was sent (both µs from its scheduled start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Traced {
    pub(crate) scheduled: u64,
    pub(crate) latency: u64,
    pub(crate) sent_late: u64,
}

/// How to drive the load.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// `n` requests in flight at all times.
    Concurrency(usize),
    /// Requests started at this many per second, whatever the responses do.
    Rate(f64),
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) struct RunResult {
    /// Requests answered 2xx.
    pub(crate) ok: u64,
    /// Requests answered otherwise, or failed.
    pub(crate) errors: u64,
    /// The first few error descriptions, for the report.
    pub(crate) error_samples: Vec<String>,
    /// How many errors of each kind: the status (`401 Unauthorized`) or what failed
    /// before one arrived (`connect`, `timeout`, `request`, `body`).
    pub(crate) error_kinds: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub(crate) elapsed: Duration,
    /// Latencies in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Open-loop runs only: every request's scheduled start (µs after the run
    /// started), its latency and how late the load generator sent it (µs from its
    /// scheduled start), grouped by worker, not sorted (`bench gateway
    /// --latency-trace`).
    pub(crate) trace: Vec<Traced>,
    /// CPU time the whole process used during the run (load generator, servers,
    /// everything; zero where it cannot be read).
    pub(crate) cpu: Duration,
}

impl RunResult {
    /// Successful requests per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU microseconds of the whole process per successful request.
    pub(crate) fn cpu_us_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / (self.ok.max(1) as f64)
    }

    /// A latency quantile in milliseconds.
    pub(crate) fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Sends every request of `batch` once, with `pace`, showing progress on stderr under
/// `label` when `progress` is set.
pub(crate) async fn run(
    client: &reqwest::Client,
    batch: Arc<Vec<Prepared>>,
    pace: Pace,
    label: &str,
    progress: bool,
) -> RunResult {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let ticker = progress.then(|| {
        let done = Arc::clone(&done);
        let total = batch.len();
        let label = label.to_owned();
        // The first line goes out as the run starts (0 requests), the line is cleared
        // as it ends: bench/gateway/instructions.py cuts its counts at both.
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r  {label:<24} {:>9}/{total} requests   ", 0);
        let _ = err.flush();
        drop(err);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = done.load(Ordering::Relaxed);
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r  {label:<24} {now:>9}/{total} requests, {:>8.0} req/s   ",
                    (now - last) as f64 * 2.0
                );
                let _ = err.flush();
                last = now;
            }
        })
    });
    let cpu_before = process_cpu();
    let started = Instant::now();
    let workers = match pace {
        Pace::Concurrency(n) => n,
        // Enough workers that a slow response does not hold back the schedule.
        Pace::Rate(r) => ((r / 100.0).ceil() as usize).clamp(16, 512),
    };
    let interval = match pace {
        Pace::Rate(r) => Some(Duration::from_secs_f64(1.0 / r)),
        Pace::Concurrency(_) => None,
    };
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client.clone();
        let batch = Arc::clone(&batch);
        let next = Arc::clone(&next);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let mut latency = new_histogram();
            let mut trace = Vec::new();
            let (mut ok, mut errors, mut samples) = (0u64, 0u64, Vec::new());
            let mut kinds = BTreeMap::<String, u64>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = batch.get(i) else { break };
                let scheduled = match interval {
                    // Tokio's timer has 1 ms ticks, so the requests due within a
                    // tick leave together (the trace's `sent_late_us` shows it). A
                    // thread releasing each at its own time (`nanosleep`) was tried:
                    // it removed the bunching but added about 120 µs of CPU per
                    // request to this process on a 2-core VM, load that disturbs what
                    // is measured, and the p99 added did not improve (BENCHMARKS.md,
                    // issue 18).
                    Some(every) => {
                        let at = started + every.mul_f64(i as f64);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                let sent_late = micros(scheduled.elapsed());
                match send(&client, request).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        *kinds.entry(e.kind).or_default() += 1;
                        if samples.len() < 3 {
                            samples.push(e.detail);
                        }
                    }
                }
                let took = micros(scheduled.elapsed()).max(1);
                let _ = latency.record(took);
                if interval.is_some() {
                    trace.push(Traced {
                        scheduled: micros(scheduled.duration_since(started)),
                        latency: took,
                        sent_late,
                    });
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latency, trace, ok, errors, samples, kinds)
        }));
    }
    let mut result = RunResult {
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        error_kinds: BTreeMap::new(),
        elapsed: Duration::ZERO,
        latency: new_histogram(),
        trace: Vec::new(),
        cpu: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((latency, trace, ok, errors, samples, kinds)) = task.await {
            let _ = result.latency.add(&latency);
            result.trace.extend(trace);
            result.ok += ok;
            result.errors += errors;
            result.error_samples.extend(
                samples
                    .into_iter()
                    .take(3 - result.error_samples.len().min(3)),
            );
            add_kinds(&mut result.error_kinds, kinds);
        }
    }
    result.elapsed = started.elapsed();
    if let (Some(before), Some(after)) = (cpu_before, process_cpu()) {
        result.cpu = after.saturating_sub(before);
    }
    if let Some(t) = ticker {
        t.abort();
        eprint!("\r{:<80}\r", "");
    }
    result
}

/// A duration in whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits: constant bounds that are valid (low ≥ 1,
    // high ≥ 2·low, 0..=5 digits), so construction cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .expect("1 µs..60 s at 3 digits is a valid histogram")
}

/// Adds the counts of `more` to `into`.
pub(crate) fn add_kinds(into: &mut BTreeMap<String, u64>, more: BTreeMap<String, u64>) {
    for (kind, n) in more {
        *into.entry(kind).or_default() += n;
    }
}

/// A request that failed: its kind (counted) and a description (sampled).
struct SendError {
    kind: String,
    detail: String,
}

impl SendError {
    /// A failure before a status arrived, or while reading the body.
    fn transport(e: &reqwest::Error) -> Self {
        let kind = if e.is_connect() {
            "connect"
        } else if e.is_timeout() {
            "timeout"
        } else if e.is_body() || e.is_decode() {
            "body"
        } else {
            "request"
        };
        // reqwest's message names the URL only; the causes say what happened.
        Self {
            kind: kind.to_owned(),
            detail: mcp_auth_core::error_text::with_causes(e),
        }
    }
}

/// Sends one request and reads the whole response; anything but 2xx is an error.
async fn send(client: &reqwest::Client, request: &Prepared) -> Result<(), SendError> {
    let response = client
        .post(&request.url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await
        .map_err(|e| SendError::transport(&e))?;
    let status = response.status();
    let code = challenge_error(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| SendError::transport(&e))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError {
            kind: code.map_or_else(|| status.to_string(), |c| format!("{status} {c}")),
            detail: format!(
                "{status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        })
    }
}

/// The `error` parameter of a refusal's challenge (`WWW-Authenticate: HTTPSig
/// error="invalid_token", ...`), which says why better than the status alone.
fn challenge_error(headers: &http::HeaderMap) -> Option<String> {
    mcp_auth_core::challenge::parse_challenges(headers)
        .iter()
        .find_map(|c| c.param("error").map(str::to_owned))
}

/// The resident set size of process `pid` (this process when `None`), in KiB (Linux
/// `/proc/PID/status`); `None` when it cannot be read (no such process, not Linux).
pub(crate) fn resident_kib(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The CPU time this process has used (every thread, user and system), from
/// `/proc/self/stat` (clock ticks, which Linux reports at 100 per second whatever the
/// kernel's own rate); `None` off Linux.
pub(crate) fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are the 14th and 15th fields; the first after ')' is the 3rd.
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
