//! `mcp-auth bench soak`: a long HTTPSig run over several gateway processes that share
//! a replay cache in Redis (issue 19: 1,000,000 requests over three gateways, no
//! error, each gateway's memory growing less than 10%). `bench/soak/run.sh` starts
//! the processes and runs this.
//!
//! The load is [`super::load`]'s closed loop over batches that [`super::signed_batch`]
//! signs just before they are sent, as `bench gateway` does; here the requests of a
//! batch go to the gateways in turn and every batch is sized from the last one's pace,
//! so that signing and sending it take about [`BATCH_SECONDS`], well within the 30 s
//! a signature is accepted. The token, bound to the generator's runtime Ed25519 key,
//! is fetched again a minute before it expires. The generator's signing shares the
//! machine with everything else: its rate is reported beside the sending rate.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mcp_auth_client::{HttpSigSigner, ProofKey, RequestSigner};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::load::{self, Pace, RunResult};
use super::{CHUNK, client_token, echo_body, signed_batch};
use crate::cli::BenchSoakArgs;

/// What one batch, signing and sending, should take: a signature is `created` when
/// its batch is signed and accepted for 30 s.
const BATCH_SECONDS: f64 = 8.0;
/// The smallest batch (and the first one after the check, before a pace is known).
const MIN_BATCH: usize = 200;
/// A token is fetched again when it has less than this many seconds left.
const TOKEN_MARGIN: i64 = 60;
/// The run stops after this many errors: the rest would only repeat them.
const ERROR_LIMIT: u64 = 1_000;
/// Keys in Redis besides the nonces: the replay cache's memory marker of each bucket.
const MARKERS: u64 = mcp_auth_core::replay::REDIS_BUCKETS as u64;
/// Share of expired keys Redis may hold before its active expiry reclaims them,
/// over the nonces the window explains.
const EXPIRED_SLACK: f64 = 0.25;

pub(crate) fn run(args: &BenchSoakArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(soak(args))
}

/// A gateway under test and where to watch it.
struct Gateway {
    url: String,
    pid: Option<u32>,
    metrics: Option<String>,
}

/// A reading after the warm-up and after every tenth of the run.
#[derive(Debug, Clone)]
struct Sample {
    /// Requests sent so far.
    requests: usize,
    /// Resident KiB of each gateway (`None`: no --pid, or it could not be read).
    rss_kib: Vec<Option<u64>>,
    /// Keys in Redis (`None`: no --redis).
    dbsize: Option<u64>,
}

/// The signer and its token, fetched again before it expires.
struct Client {
    http: reqwest::Client,
    token_endpoint: String,
    id: String,
    secret: String,
    resource: String,
    scope: Option<String>,
    signer: RequestSigner,
    /// The token and when it expires (Unix seconds).
    token: Option<(String, i64)>,
    /// Tokens fetched.
    fetched: u64,
}

impl Client {
    async fn token(&mut self) -> anyhow::Result<String> {
        let now = mcp_auth_core::unix_now();
        if let Some((token, expires)) = &self.token
            && expires - now > TOKEN_MARGIN
        {
            return Ok(token.clone());
        }
        let response = client_token(
            &self.http,
            &self.token_endpoint,
            (&self.id, &self.secret),
            &self.resource,
            self.scope.as_deref(),
            Some(&self.signer),
        )
        .await?;
        // A token without a lifetime is fetched again after the AS default's (300 s).
        let expires = now + response.expires_in.unwrap_or(300);
        self.token = Some((response.access_token.clone(), expires));
        self.fetched += 1;
        Ok(response.access_token)
    }
}

async fn soak(args: &BenchSoakArgs) -> anyhow::Result<ExitCode> {
    let gateways = gateways(args)?;
    if args.requests < gateways.len() {
        bail!("--requests must be at least one per gateway");
    }
    let secret = match &args.client_secret {
        Some(s) => s.expose().clone(),
        None => std::env::var(crate::call::SECRET_ENV)
            .with_context(|| format!("--client-secret or {} is needed", crate::call::SECRET_ENV))?,
    };
    let redis = args
        .redis
        .as_deref()
        .map(|url| redis_addr(url))
        .transpose()?;
    let http = mcp_auth_core::connection_pool::client_builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let metadata = mcp_auth_client::discovery::authorization_server_metadata(&http, &args.issuer)
        .await
        .with_context(|| format!("the metadata of {}", args.issuer))?;
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| gateways[0].url.clone());
    let mut client = Client {
        http: http.clone(),
        token_endpoint: metadata.token_endpoint,
        id: args.client_id.clone(),
        secret,
        resource: resource.clone(),
        scope: args.scope.clone(),
        signer: HttpSigSigner::new(ProofKey::generate_runtime(
            mcp_auth_httpsig::Algorithm::Ed25519,
        )?)
        .into(),
        token: None,
        fetched: 0,
    };
    let baseline_at = args.warmup.min(args.requests / 10).max(gateways.len());
    let checkpoints = checkpoints(args.requests, baseline_at);
    let progress = !args.json;
    if progress {
        eprintln!(
            "mcp-auth bench soak: {} requests over {} gateways, {} in flight, memory baseline after {baseline_at}",
            args.requests,
            gateways.len(),
            args.concurrency
        );
    }

    let body = echo_body();
    let started = Instant::now();
    let (mut signing, mut sending) = (Duration::ZERO, Duration::ZERO);
    let mut total: Option<RunResult> = None;
    let mut samples = Vec::new();
    let mut peak_rate = 0.0_f64;
    let mut done = 0;
    let mut batch = MIN_BATCH;
    let mut next = checkpoints.iter().copied().peekable();
    while let Some(&until) = next.peek() {
        // First one request to each gateway, one at a time: each must answer.
        let check = done == 0;
        let n = if check {
            gateways.len()
        } else {
            batch.min(until - done)
        };
        let token = client.token().await?;
        let t = Instant::now();
        let prepared = signed_batch(&client.signer, &token, &resource, &body, n, |i| {
            gateways[(done + i) % gateways.len()].url.clone()
        })?;
        let signed = t.elapsed();
        let (pace, label) = if check {
            (Pace::Concurrency(1), "check".to_owned())
        } else {
            (
                Pace::Concurrency(args.concurrency),
                format!("soak {}/{}", done + n, args.requests),
            )
        };
        let r = load::run(&http, Arc::new(prepared), pace, &label, progress).await;
        if check && r.errors > 0 {
            bail!(
                "the first request to each gateway: {:?} {}",
                r.error_kinds,
                r.error_samples.join("; ")
            );
        }
        if !check {
            peak_rate = peak_rate.max(n as f64 / r.elapsed.as_secs_f64());
        }
        signing += signed;
        sending += r.elapsed;
        let per_request = (signed + r.elapsed).as_secs_f64() / n as f64;
        batch = ((BATCH_SECONDS / per_request.max(1e-9)) as usize).clamp(MIN_BATCH, CHUNK);
        done += n;
        let errors = total.as_ref().map_or(0, |t| t.errors) + r.errors;
        total = Some(match total {
            None => r,
            Some(t) => t.merge(r),
        });
        if done == until {
            next.next();
            samples.push(sample(done, &gateways, redis.as_deref()).await);
        }
        if errors >= ERROR_LIMIT {
            if samples.last().is_none_or(|s| s.requests != done) {
                samples.push(sample(done, &gateways, redis.as_deref()).await);
            }
            break;
        }
    }
    let result = total.context("no requests")?;
    let (mut counts, mut unread) = (Vec::new(), Vec::new());
    for g in &gateways {
        counts.push(match &g.metrics {
            Some(url) => match served(&http, url).await {
                Ok(s) => Some(s),
                Err(e) => {
                    unread.push(format!("{}: its metrics could not be read: {e:#}", g.url));
                    None
                }
            },
            None => None,
        });
    }
    let summary = Summary {
        requests: done,
        planned: args.requests,
        concurrency: args.concurrency,
        wall: started.elapsed(),
        signing,
        sending,
        tokens: client.fetched,
        gateways: &gateways,
        served: counts,
        unread,
        samples,
        baseline_at,
        peak_rate,
        max_growth: args.max_growth,
        result,
    };
    let failures = summary.failures();
    if args.json {
        crate::output::json_line(&summary.json(&failures))?;
    } else {
        crate::output::print(&summary.text(&failures))?;
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The gateways with their --pid and --metrics, which must be given for each or none.
fn gateways(args: &BenchSoakArgs) -> anyhow::Result<Vec<Gateway>> {
    let n = args.gateways.len();
    if !args.pids.is_empty() && args.pids.len() != n {
        bail!("--pid: give one for each --gateway ({n}), in the same order, or none");
    }
    if !args.metrics.is_empty() && args.metrics.len() != n {
        bail!("--metrics: give one for each --gateway ({n}), in the same order, or none");
    }
    Ok(args
        .gateways
        .iter()
        .enumerate()
        .map(|(i, url)| Gateway {
            url: url.clone(),
            pid: args.pids.get(i).copied(),
            metrics: args.metrics.get(i).cloned(),
        })
        .collect())
}

/// Where samples are taken: after `baseline_at` requests (the memory baseline), then
/// at every tenth of `requests` beyond it; the last is `requests`.
fn checkpoints(requests: usize, baseline_at: usize) -> Vec<usize> {
    let mut at = vec![baseline_at];
    at.extend(
        (1..=10)
            .map(|k| requests * k / 10)
            .filter(|&c| c > baseline_at),
    );
    at
}

/// Each gateway's memory and the Redis key count, after `requests`.
async fn sample(requests: usize, gateways: &[Gateway], redis: Option<&str>) -> Sample {
    let dbsize = match redis {
        Some(addr) => match dbsize(addr).await {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("\nRedis DBSIZE at {addr}: {e:#}");
                None
            }
        },
        None => None,
    };
    Sample {
        requests,
        rss_kib: gateways
            .iter()
            .map(|g| g.pid.and_then(|p| load::resident_kib(Some(p))))
            .collect(),
        dbsize,
    }
}

/// HOST:PORT of a `redis://HOST:PORT[/0]` URL without credentials (DBSIZE is sent
/// on a plain connection).
fn redis_addr(text: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(text)
        .with_context(|| format!("--redis {}", mcp_auth_core::redact::url_password(text)))?;
    if url.scheme() != "redis" || !url.username().is_empty() || url.password().is_some() {
        bail!("--redis: a redis://HOST:PORT URL without credentials");
    }
    if !matches!(url.path(), "" | "/" | "/0") {
        bail!("--redis: database 0 only (the gateways' replay cache is there)");
    }
    let host = url.host_str().context("--redis: no host")?;
    Ok(format!("{host}:{}", url.port().unwrap_or(6379)))
}

/// The number of keys in the Redis at `addr` (`DBSIZE`, in RESP, within 5 s).
async fn dbsize(addr: &str) -> anyhow::Result<u64> {
    let ask = async {
        let mut socket = tokio::net::TcpStream::connect(addr).await?;
        socket.write_all(b"*1\r\n$6\r\nDBSIZE\r\n").await?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 64];
        while !answer.ends_with(b"\r\n") {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                bail!("the connection closed");
            }
            answer.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&answer);
        line.trim_end()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("DBSIZE answered {line:?}"))
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .context("no answer within 5 s")?
}

/// The requests a gateway accepted and rejected since it started, from its
/// `mcp_auth_requests_total{profile, outcome}` counters.
#[derive(Debug, Clone, Copy)]
struct Served {
    accepted: u64,
    rejected: u64,
}

async fn served(http: &reqwest::Client, url: &str) -> anyhow::Result<Served> {
    let response = http.get(url).send().await?.error_for_status()?;
    Ok(parse_requests_total(&response.text().await?))
}

/// Sums `mcp_auth_requests_total` (Prometheus text format) by outcome.
fn parse_requests_total(text: &str) -> Served {
    let mut served = Served {
        accepted: 0,
        rejected: 0,
    };
    for line in text.lines() {
        let Some((labels, value)) = line
            .strip_prefix("mcp_auth_requests_total{")
            .and_then(|rest| rest.split_once("} "))
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if labels.contains("outcome=\"accepted\"") {
            served.accepted += value as u64;
        } else {
            served.rejected += value as u64;
        }
    }
    served
}

/// Everything the run measured.
struct Summary<'a> {
    /// Requests sent (fewer than `planned` when the run stopped at [`ERROR_LIMIT`]).
    requests: usize,
    planned: usize,
    concurrency: usize,
    wall: Duration,
    /// Time spent signing batches.
    signing: Duration,
    /// Time spent sending them.
    sending: Duration,
    tokens: u64,
    gateways: &'a [Gateway],
    /// Each gateway's own count (`None` without --metrics, or when unread).
    served: Vec<Option<Served>>,
    /// The metrics that could not be read, and why.
    unread: Vec<String>,
    samples: Vec<Sample>,
    baseline_at: usize,
    /// The fastest batch's sending rate, req/s (the check's aside).
    peak_rate: f64,
    max_growth: f64,
    result: RunResult,
}

impl Summary<'_> {
    /// Requests sent to gateway `g` (requests go round-robin from the first).
    fn sent(&self, g: usize) -> usize {
        let k = self.gateways.len();
        self.requests / k + usize::from(g < self.requests % k)
    }

    /// Gateway `g`'s resident KiB after the warm-up and at the end.
    fn rss(&self, g: usize) -> (Option<u64>, Option<u64>) {
        let at = |s: Option<&Sample>| s.and_then(|s| s.rss_kib[g]);
        (at(self.samples.first()), at(self.samples.last()))
    }

    /// Gateway `g`'s growth from the warm-up to the end, percent.
    fn growth(&self, g: usize) -> Option<f64> {
        match self.rss(g) {
            (Some(first), Some(last)) if first > 0 => {
                Some(100.0 * (last as f64 - first as f64) / first as f64)
            }
            _ => None,
        }
    }

    /// The most keys the replay window explains: the nonces of the last
    /// `replay_ttl` (35 s by default) at the fastest pace seen (at most every
    /// request sent), expired keys Redis has not reclaimed yet, and the markers.
    fn dbsize_bound(&self) -> u64 {
        let ttl = mcp_auth_core::httpsig_profile::Window::default()
            .replay_ttl()
            .as_secs_f64();
        let nonces = (self.peak_rate * ttl).min(self.requests as f64);
        MARKERS + (nonces * (1.0 + EXPIRED_SLACK)).ceil() as u64 + 100
    }

    fn dbsize_end(&self) -> Option<u64> {
        self.samples.last().and_then(|s| s.dbsize)
    }

    /// Why the run failed; empty when it passed.
    fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.result.errors > 0 {
            out.push(format!("{} requests failed", self.result.errors));
        }
        if self.requests < self.planned {
            out.push(format!(
                "stopped after {} of {} requests ({ERROR_LIMIT} errors)",
                self.requests, self.planned
            ));
        }
        out.extend(self.unread.iter().cloned());
        for (g, gateway) in self.gateways.iter().enumerate() {
            if gateway.pid.is_some() {
                match self.growth(g) {
                    Some(p) if p >= self.max_growth => out.push(format!(
                        "{}: resident memory grew {p:+.1}% (limit {}%)",
                        gateway.url, self.max_growth
                    )),
                    Some(_) => {}
                    None => out.push(format!(
                        "{}: its memory could not be read (has it exited?)",
                        gateway.url
                    )),
                }
            }
            if let Some(s) = self.served[g]
                && self.result.errors == 0
                && s.accepted != self.sent(g) as u64
            {
                out.push(format!(
                    "{}: accepted {} requests by its own count, {} were sent to it",
                    gateway.url,
                    s.accepted,
                    self.sent(g)
                ));
            }
        }
        if let Some(n) = self.dbsize_end()
            && n > self.dbsize_bound()
        {
            out.push(format!(
                "Redis holds {n} keys, more than the replay window explains ({})",
                self.dbsize_bound()
            ));
        }
        out
    }

    fn text(&self, failures: &[String]) -> String {
        let r = &self.result;
        let secs = self.wall.as_secs_f64();
        let mut t = format!(
            "\nSoak: {} requests over {} gateways in {secs:.0} s ({:.0} req/s), {} in flight; memory baseline after {}\n",
            self.requests,
            self.gateways.len(),
            self.requests as f64 / secs,
            self.concurrency,
            self.baseline_at
        );
        t.push_str(&format!("errors: {}", r.errors));
        for (kind, n) in &r.error_kinds {
            t.push_str(&format!(", {kind}: {n}"));
        }
        t.push('\n');
        for e in &r.error_samples {
            t.push_str(&format!("  error: {e}\n"));
        }
        t.push_str(&format!(
            "latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms\n\
             generator: sending {:.0} req/s ({:.0} s), signing {:.0} signatures/s ({:.0} s), tokens fetched: {}\n",
            r.ms(0.5),
            r.ms(0.99),
            r.ms(0.999),
            self.requests as f64 / self.sending.as_secs_f64(),
            self.sending.as_secs_f64(),
            self.requests as f64 / self.signing.as_secs_f64().max(1e-9),
            self.signing.as_secs_f64(),
            self.tokens
        ));
        let mib = |k: Option<u64>| {
            k.map_or_else(|| "-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
        };
        let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        t.push_str(&format!(
            "\n{:<32} {:>9} {:>9} {:>9} {:>14} {:>11} {:>8}\n",
            "gateway", "sent", "accepted", "rejected", "MiB warmed up", "MiB at end", "growth"
        ));
        for (g, gateway) in self.gateways.iter().enumerate() {
            let (first, last) = self.rss(g);
            t.push_str(&format!(
                "{:<32} {:>9} {:>9} {:>9} {:>14} {:>11} {:>8}\n",
                gateway.url,
                self.sent(g),
                count(self.served[g].map(|s| s.accepted)),
                count(self.served[g].map(|s| s.rejected)),
                mib(first),
                mib(last),
                self.growth(g)
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:+.1}%"))
            ));
        }
        t.push_str("\nafter requests:  ");
        for s in &self.samples {
            t.push_str(&format!(" {:>8}", s.requests));
        }
        for (g, _) in self.gateways.iter().enumerate() {
            t.push_str(&format!("\ngateway {} MiB: ", g + 1));
            for s in &self.samples {
                t.push_str(&format!(" {:>8}", mib(s.rss_kib[g])));
            }
        }
        t.push_str("\nRedis DBSIZE:   ");
        for s in &self.samples {
            t.push_str(&format!(" {:>8}", count(s.dbsize)));
        }
        if let Some(n) = self.dbsize_end() {
            t.push_str(&format!(
                "\nRedis at the end: {n} keys; the replay window explains up to {} (35 s of nonces at the fastest {:.0} req/s, expired keys not yet reclaimed, {MARKERS} markers)",
                self.dbsize_bound(),
                self.peak_rate
            ));
        }
        t.push('\n');
        if failures.is_empty() {
            t.push_str("\nresult: PASS\n");
        } else {
            t.push_str("\nresult: FAIL\n");
            for f in failures {
                t.push_str(&format!("  {f}\n"));
            }
        }
        t
    }

    fn json(&self, failures: &[String]) -> serde_json::Value {
        let r = &self.result;
        json!({
            "requests": self.requests,
            "ok": r.ok,
            "errors": r.errors,
            "error_kinds": r.error_kinds,
            "error_samples": r.error_samples,
            "seconds": self.wall.as_secs_f64(),
            "rps": self.requests as f64 / self.wall.as_secs_f64(),
            "sending_rps": self.requests as f64 / self.sending.as_secs_f64(),
            "signing_per_second": self.requests as f64 / self.signing.as_secs_f64().max(1e-9),
            "tokens": self.tokens,
            "concurrency": self.concurrency,
            "baseline_at": self.baseline_at,
            "p50_ms": r.ms(0.5), "p99_ms": r.ms(0.99), "p999_ms": r.ms(0.999),
            "gateways": self.gateways.iter().enumerate().map(|(g, gw)| {
                let (first, last) = self.rss(g);
                json!({"url": gw.url, "sent": self.sent(g),
                       "accepted": self.served[g].map(|s| s.accepted),
                       "rejected": self.served[g].map(|s| s.rejected),
                       "rss_kib_after_warmup": first, "rss_kib_at_end": last,
                       "rss_growth_percent": self.growth(g)})
            }).collect::<Vec<_>>(),
            "samples": self.samples.iter().map(|s| json!({
                "requests": s.requests, "rss_kib": s.rss_kib, "dbsize": s.dbsize})).collect::<Vec<_>>(),
            "redis": {"dbsize": self.dbsize_end(), "bound": self.dbsize_bound(),
                      "peak_rps": self.peak_rate},
            "failures": failures,
            "pass": failures.is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_start_at_the_baseline_and_end_at_the_last_request() {
        assert_eq!(
            checkpoints(1_000_000, 20_000),
            [
                20_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000,
                900_000, 1_000_000
            ]
        );
        // A small run: the baseline is its first tenth, which is not taken twice.
        assert_eq!(
            checkpoints(3_000, 300),
            [
                300, 600, 900, 1_200, 1_500, 1_800, 2_100, 2_400, 2_700, 3_000
            ]
        );
        assert_eq!(checkpoints(3, 3), [3]);
    }

    #[test]
    fn the_requests_counter_is_summed_by_outcome() {
        let text = "# TYPE mcp_auth_requests_total counter\n\
            mcp_auth_requests_total{profile=\"httpsig\",outcome=\"accepted\"} 3334\n\
            mcp_auth_requests_total{profile=\"bearer\",outcome=\"accepted\"} 1\n\
            mcp_auth_requests_total{profile=\"httpsig\",outcome=\"replayed\"} 2\n\
            mcp_auth_requests_total_other{outcome=\"accepted\"} 9\n";
        let s = parse_requests_total(text);
        assert_eq!((s.accepted, s.rejected), (3335, 2));
    }

    #[test]
    fn only_a_plain_redis_url_is_taken() {
        assert_eq!(
            redis_addr("redis://127.0.0.1:6390/").unwrap(),
            "127.0.0.1:6390"
        );
        assert_eq!(redis_addr("redis://localhost").unwrap(), "localhost:6379");
        for bad in [
            "redis://:secret@127.0.0.1:6390/",
            "redis://127.0.0.1:6390/2",
            "rediss://127.0.0.1:6390/",
            "redis-cluster://127.0.0.1:7000",
        ] {
            assert!(redis_addr(bad).is_err(), "{bad}");
        }
        // Refused unparsed, its password not quoted.
        let error = format!(
            "{:#}",
            redis_addr("redis://:pa#ss@127.0.0.1:6390").unwrap_err()
        );
        assert!(
            error.starts_with("--redis redis://:***@127.0.0.1:6390"),
            "{error}"
        );
        assert!(!error.contains("pa#ss"), "{error}");
    }
}
