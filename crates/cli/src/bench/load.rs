//! The load driver: sends prepared requests at a fixed concurrency (closed loop) or a
//! fixed rate (open loop) and records every latency in an HDR histogram.
//!
//! Requests are prepared before the clock starts (signatures included), so their
//! cost is not counted as the server's. In open-loop runs the latency of a request
//! is measured from the moment it was *scheduled*, not sent, so a stalled server
//! shows as latency rather than as a lower rate (no coordinated omission).

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
    /// Wall time of the run.
    pub(crate) elapsed: Duration,
    /// Latencies in microseconds.
    pub(crate) latency: Histogram<u64>,
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
    let cpu_before = process_cpu();
    let started = Instant::now();
    let ticker = progress.then(|| {
        let done = Arc::clone(&done);
        let total = batch.len();
        let label = label.to_owned();
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
            let (mut ok, mut errors, mut samples) = (0u64, 0u64, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = batch.get(i) else { break };
                let scheduled = match interval {
                    Some(every) => {
                        let at = started + every.mul_f64(i as f64);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                match send(&client, request).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        if samples.len() < 3 {
                            samples.push(e);
                        }
                    }
                }
                let micros = scheduled.elapsed().as_micros();
                let _ = latency.record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latency, ok, errors, samples)
        }));
    }
    let mut result = RunResult {
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        elapsed: Duration::ZERO,
        latency: new_histogram(),
        cpu: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((latency, ok, errors, samples)) = task.await {
            let _ = result.latency.add(&latency);
            result.ok += ok;
            result.errors += errors;
            result.error_samples.extend(
                samples
                    .into_iter()
                    .take(3 - result.error_samples.len().min(3)),
            );
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

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits: constant bounds that are valid (low ≥ 1,
    // high ≥ 2·low, 0..=5 digits), so construction cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .expect("1 µs..60 s at 3 digits is a valid histogram")
}

/// Sends one request and reads the whole response; anything but 2xx is an error.
async fn send(client: &reqwest::Client, request: &Prepared) -> Result<(), String> {
    let response = client
        .post(&request.url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}

/// The resident set size of this process, in KiB (Linux `/proc/self/status`).
pub(crate) fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
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
