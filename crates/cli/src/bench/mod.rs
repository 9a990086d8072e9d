//! `mcp-auth bench gateway`: the gateway's throughput and latency against its
//! baselines, in one run and one process.
//!
//! Five targets, the same JSON-RPC call (`tools/call echo`, stateless 2026-07-28):
//! the demo server directly; the proxy with no checks ("auth off"); the gateway with
//! a Bearer JWT; with an HTTPSig-bound token and a signed request; with a DPoP-bound
//! token and a proof. With `--unchecked`, each check's requests also go to the
//! auth-off proxy (`target.rs`). Every request is prepared before its run starts
//! (HTTPSig requests are signed ahead, each with its own nonce, and DPoP proofs made
//! ahead), so signing is not counted as gateway cost. A signed batch and the warm-up
//! sent before it are at most [`CHUNK`] requests each and, at a fixed rate, last at
//! most [`SIGNED_SECONDS`] together, so each is sent well within the 30 s signature
//! window; tokens are fetched again for each batch, so a long run outlives them.

mod load;
pub(crate) mod soak;
mod target;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use http::{HeaderMap, HeaderValue};
use mcp_auth_client::{DpopSigner, HttpSigSigner, ProofKey, RequestSigner};
use serde_json::json;

use crate::cli::BenchGatewayArgs;
use crate::stack::{self, BEARER_CLIENT, HTTPSIG_CLIENT, READ_SCOPE, StackOptions};
use load::{Pace, Prepared, RunResult};
pub(crate) use target::Checked;
use target::{SentTo, Target};

/// The largest measured batch prepared at once (signatures must still be fresh when
/// sent), and the largest warm-up.
const CHUNK: usize = 20_000;

/// At a fixed rate, a batch and its warm-up last at most this many seconds (the
/// HTTPSig signature window is 30 s, DPoP's 60 s).
const SIGNED_SECONDS: f64 = 20.0;

/// The running stack and what it takes to build requests for each target.
struct Bench {
    stack_issuer: String,
    secret: String,
    upstream: String,
    auth_off: String,
    resource: String,
    httpsig: RequestSigner,
    dpop: RequestSigner,
    http: reqwest::Client,
    body: bytes::Bytes,
    /// What is measured, in order.
    targets: Vec<Target>,
    /// The stack's data directory (the AS's SQLite database among it): removed when the
    /// bench ends, not before, since the AS opens new connections to its database.
    _data_dir: RemovedOnDrop,
}

pub(crate) fn run(args: &BenchGatewayArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bench_gateway(args))
}

async fn bench_gateway(args: &BenchGatewayArgs) -> anyhow::Result<ExitCode> {
    let bench = Bench::start(args).await?;
    eprintln!(
        "mcp-auth bench gateway: {} requests per target, concurrency {}, in one process on {} cores",
        args.requests,
        args.concurrency,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for &target in &bench.targets {
        bench.check(target).await?;
    }

    let mut runs = Vec::new();
    for run in 1..=args.runs {
        if args.runs > 1 && !args.json {
            eprintln!("run {run} of {}", args.runs);
        }
        runs.push(bench.run(args, run).await?);
    }

    // 3. Soak: HTTPSig for a long run, watching errors and memory.
    let soak = match args.soak {
        Some(n) => Some(bench.soak(n, args.concurrency, !args.json).await?),
        None => None,
    };

    let report = Report {
        runs: &runs,
        soak: soak.as_ref(),
    };
    if args.json {
        crate::output::json_line(&report.json())?;
    } else {
        crate::output::print(&report.text())?;
    }
    let errors: u64 = runs
        .iter()
        .flat_map(|r| r.saturation.iter().chain(r.at_rate.iter()))
        .map(|(_, r)| r.errors)
        .sum::<u64>()
        + soak.as_ref().map_or(0, |s| s.result.errors);
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One run of both phases.
struct Run {
    /// Closed loop at a fixed concurrency.
    saturation: Vec<(Target, RunResult)>,
    /// Open loop at `rate` for every target.
    at_rate: Vec<(Target, RunResult)>,
    /// The fixed rate of `at_rate`, req/s.
    rate: f64,
}

impl Bench {
    /// Both phases: saturation, a closed loop at a fixed concurrency; then latency at
    /// one fixed rate for every target, a fraction of the slowest target's saturation
    /// rate, so each runs below its capacity and the latency each layer adds is
    /// compared at the same load.
    async fn run(&self, args: &BenchGatewayArgs, run: u32) -> anyhow::Result<Run> {
        let progress = !args.json;
        let mut saturation = Vec::new();
        for &target in &self.targets {
            let closed = Pace::Concurrency(args.concurrency);
            let r = self
                .measure(
                    target,
                    args.requests,
                    closed,
                    args.warmup,
                    target.label(),
                    progress,
                )
                .await?;
            saturation.push((target, r));
        }
        let slowest = saturation
            .iter()
            .map(|(_, r)| r.rate())
            .fold(f64::INFINITY, f64::min);
        let rate = (slowest * args.load_fraction).max(1.0);
        let at_rate_requests = args
            .requests
            .min((rate * args.rate_seconds) as usize)
            .max(100);
        let mut at_rate = Vec::new();
        for &target in &self.targets {
            let label = format!("{} @ {rate:.0}/s", target.label());
            let mut r = self
                .measure(
                    target,
                    at_rate_requests,
                    Pace::Rate(rate),
                    args.warmup,
                    &label,
                    progress,
                )
                .await?;
            if let Some(dir) = &args.latency_trace {
                write_trace(dir, run, target, &mut r)?;
            }
            at_rate.push((target, r));
        }
        Ok(Run {
            saturation,
            at_rate,
            rate,
        })
    }

    async fn start(args: &BenchGatewayArgs) -> anyhow::Result<Self> {
        // A name no other user can guess and take first (a process id could be), made
        // here or not at all: the stack writes keys into it.
        let dir = std::env::temp_dir().join(format!(
            "mcp-auth-bench-{}",
            mcp_auth_core::random_token::<9>()?
        ));
        mcp_auth_core::private_file::create_new_dir(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        // Removed however this ends (on success, when the bench is dropped).
        let data_dir = RemovedOnDrop(dir.clone());
        let stack = stack::start(&StackOptions {
            data_dir: dir.clone(),
            as_listen: "127.0.0.1:0".into(),
            gateway_listen: "127.0.0.1:0".into(),
            demo_listen: "127.0.0.1:0".into(),
            allow_bearer: true,
            allow_dpop: true,
            replay_cache: args.replay_cache.clone(),
            metrics_listen: None,
            allow_insecure_permissions: false,
            idp_listen: None,
        })
        .await?;
        let (listener, router) = stack.gateway;
        tokio::spawn(async move { crate::observability::serve(listener, router).await });
        let off = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let auth_off = format!("http://{}/mcp", off.local_addr()?);
        let upstream_url: url::Url = stack.upstream.parse()?;
        let proxy = mcp_auth_resource::unprotected_router(
            "/mcp",
            Arc::new(mcp_auth_resource::Upstream::new(upstream_url)),
        );
        tokio::spawn(async move { crate::observability::serve(off, proxy).await });
        Ok(Self {
            stack_issuer: stack.issuer,
            secret: stack.client_secret.expose().clone(),
            upstream: stack.upstream,
            auth_off,
            resource: stack.resource,
            httpsig: HttpSigSigner::new(ProofKey::generate_runtime(
                mcp_auth_httpsig::Algorithm::Ed25519,
            )?)
            .into(),
            dpop: DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)?.into(),
            http: mcp_auth_core::connection_pool::client_builder()
                .pool_max_idle_per_host(1024)
                .build()?,
            body: echo_body(),
            targets: Target::selected(&args.only, args.unchecked),
            _data_dir: data_dir,
        })
    }

    /// One request to `target` must succeed before anything is measured.
    async fn check(&self, target: Target) -> anyhow::Result<()> {
        let batch = Arc::new(self.prepare(target, 1).await?);
        let r = load::run(&self.http, batch, Pace::Concurrency(1), "check", false).await;
        if r.ok != 1 {
            bail!(
                "{}: the first request failed: {}",
                target.label(),
                r.error_samples.join("; ")
            );
        }
        Ok(())
    }

    /// `total` requests to `target` in batches, the results merged. Each batch is
    /// prepared together with its warm-up (untimed, one token for both), then the
    /// `warmup` requests go to the target at the same pace (untimed), then the batch:
    /// so a measured batch starts on a process already at work, with its connections
    /// open and its token verified. Preparing a signed batch keeps the process
    /// otherwise idle for up to a second, and a fixed-rate run that began right after
    /// that stalled for 5–40 ms at its start (the first requests, and the backlog
    /// behind them) in most signed runs (BENCHMARKS.md, issue 18). A batch and its
    /// warm-up are at most [`CHUNK`] requests each, and at a fixed rate last at most
    /// [`SIGNED_SECONDS`] together.
    async fn measure(
        &self,
        target: Target,
        total: usize,
        pace: Pace,
        warmup: usize,
        label: &str,
        progress: bool,
    ) -> anyhow::Result<RunResult> {
        let (warmup, most) = match pace {
            Pace::Rate(rate) => {
                // The warm-up takes at most half of the seconds a batch may last.
                let room = ((rate * SIGNED_SECONDS) as usize).max(2);
                let warmup = warmup.min(room / 2);
                (warmup, CHUNK.min(room - warmup))
            }
            Pace::Concurrency(_) => (warmup.min(CHUNK), CHUNK),
        };
        let mut merged: Option<RunResult> = None;
        let mut left = total;
        while left > 0 {
            let n = left.min(most);
            left -= n;
            let mut batch = self.prepare(target, warmup + n).await?;
            let measured = Arc::new(batch.split_off(warmup));
            if warmup > 0 {
                load::run(&self.http, Arc::new(batch), pace, "warm-up", progress).await;
            }
            let r = load::run(&self.http, measured, pace, label, progress).await;
            merged = Some(match merged {
                None => r,
                Some(m) => m.merge(r),
            });
        }
        merged.context("no requests")
    }

    /// HTTPSig requests in batches until `total`, resident memory sampled after every
    /// 100,000.
    async fn soak(&self, total: usize, concurrency: usize, progress: bool) -> anyhow::Result<Soak> {
        const SEGMENT: usize = 100_000;
        let started = Instant::now();
        let mut result: Option<RunResult> = None;
        let mut rss = Vec::new();
        let mut left = total;
        while left > 0 {
            let n = left.min(SEGMENT);
            left -= n;
            let label = format!("soak {}/{total}", total - left);
            let r = self
                .measure(
                    Target::HttpSig,
                    n,
                    Pace::Concurrency(concurrency),
                    0,
                    &label,
                    progress,
                )
                .await?;
            rss.push(load::resident_kib(None).unwrap_or(0));
            result = Some(match result {
                None => r,
                Some(m) => m.merge(r),
            });
        }
        Ok(Soak {
            result: result.context("no requests")?,
            rss,
            wall: started.elapsed(),
        })
    }

    /// `n` requests for `target`, with a fresh token (for HTTPSig a signature with its
    /// own nonce on each, for DPoP a proof on each), made for the gateway and sent
    /// where the target says ([`Self::url`]).
    async fn prepare(&self, target: Target, n: usize) -> anyhow::Result<Vec<Prepared>> {
        let mut headers = echo_headers();
        let plain = |url: &str, headers: HeaderMap| Prepared {
            url: url.to_owned(),
            headers,
            body: self.body.clone(),
        };
        Ok(match target {
            Target::Direct | Target::AuthOff => vec![plain(self.url(target), headers); n],
            Target::BearerUnchecked | Target::Bearer => {
                let token = self.token(BEARER_CLIENT, None).await?;
                headers.insert(
                    http::header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {token}"))?,
                );
                vec![plain(self.url(target), headers); n]
            }
            Target::HttpSigUnchecked | Target::HttpSig | Target::DpopUnchecked | Target::Dpop => {
                let (client, signer) = if target.profile() == Some(Checked::Httpsig) {
                    (HTTPSIG_CLIENT, &self.httpsig)
                } else {
                    (BEARER_CLIENT, &self.dpop)
                };
                let token = self.token(client, Some(signer)).await?;
                // Signed for the gateway's URL whatever the destination.
                signed_batch(signer, &token, &self.resource, &self.body, n, |_| {
                    self.url(target).to_owned()
                })?
            }
        })
    }

    /// The URL `target`'s requests are sent to ([`Target::sent_to`]).
    fn url(&self, target: Target) -> &str {
        match target.sent_to() {
            SentTo::Upstream => &self.upstream,
            SentTo::AuthOffProxy => &self.auth_off,
            SentTo::Gateway => &self.resource,
        }
    }

    async fn token(&self, client: &str, signer: Option<&RequestSigner>) -> anyhow::Result<String> {
        let response = client_token(
            &self.http,
            &format!("{}/token", self.stack_issuer),
            (client, &self.secret),
            &self.resource,
            Some(READ_SCOPE),
            signer,
        )
        .await?;
        Ok(response.access_token)
    }
}

/// The headers of the call every target gets (`tools/call echo`, stateless
/// 2026-07-28), before any authorization.
fn echo_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_static("2026-07-28"),
    );
    headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
    headers.insert("mcp-name", HeaderValue::from_static("echo"));
    headers
}

/// The JSON-RPC body of that call.
fn echo_body() -> bytes::Bytes {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": "hello"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string()
    .into()
}

/// `n` copies of the echo call with `body`, each signed by `signer` (HTTPSig or DPoP)
/// for `resource` (the URI the signature or proof covers) with `token`, each with its
/// own nonce or proof, all created now; copy `i` is sent to `url(i)` (the resource
/// itself, one of several gateways that serve it, or the auth-off proxy).
fn signed_batch(
    signer: &RequestSigner,
    token: &str,
    resource: &str,
    body: &bytes::Bytes,
    n: usize,
    url: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<Prepared>> {
    let headers = echo_headers();
    let now = mcp_auth_core::unix_now();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut request = http::Request::post(resource).body(())?;
        *request.headers_mut() = headers.clone();
        let (mut parts, ()) = request.into_parts();
        signer
            .sign_resource_request(&mut parts, token, body, now)
            .context("signing")?;
        // The signer's field values are new `Bytes`, which allocate their shared form at
        // their first clone. Cloned once here, before the clock, the clone `load::send`
        // makes of each request costs reference counts only, as a Bearer batch's does
        // (`vec!` cloned its one value into every copy): otherwise the load generator
        // spent about nine allocations per signed request that the gateway was charged for.
        drop(parts.headers.clone());
        out.push(Prepared {
            url: url(i),
            headers: parts.headers,
            body: body.clone(),
        });
    }
    Ok(out)
}

/// A client_credentials token for `resource` (with `scope`, else the AS's default)
/// from `token_endpoint`, the client authenticated with its id and secret; bound to
/// `signer`'s key when there is one (the token request signed with it).
async fn client_token(
    http: &reqwest::Client,
    token_endpoint: &str,
    (client, secret): (&str, &str),
    resource: &str,
    scope: Option<&str>,
    signer: Option<&RequestSigner>,
) -> anyhow::Result<mcp_auth_client::TokenResponse> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scope) = scope {
        form.append_pair("scope", scope);
    }
    form.append_pair("resource", resource);
    mcp_auth_client::request_token(
        http,
        token_endpoint,
        &form.finish(),
        Some((client, secret)),
        signer,
        mcp_auth_core::unix_now(),
    )
    .await
    .with_context(|| format!("a token for {client} from {token_endpoint}"))
}

impl RunResult {
    fn merge(mut self, other: Self) -> Self {
        self.ok += other.ok;
        self.errors += other.errors;
        self.error_samples.extend(other.error_samples);
        self.error_samples.truncate(3);
        load::add_kinds(&mut self.error_kinds, other.error_kinds);
        let offset = u64::try_from(self.elapsed.as_micros()).unwrap_or(u64::MAX);
        self.trace
            .extend(other.trace.into_iter().map(|t| load::Traced {
                scheduled: t.scheduled.saturating_add(offset),
                ..t
            }));
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        let _ = self.latency.add(&other.latency);
        self
    }
}

/// Writes the open-loop run `r` of `target` in run `run` to `DIR/run<run>-<target>.tsv`:
/// a line per request, its scheduled start (µs after the run began), its latency and
/// how late the load generator sent it (µs from its scheduled start; the latency
/// includes it), in schedule order. A latency that stays high over consecutive starts is a
/// stall; one at the very start of a run is something that run does first. A long
/// run is several batches, each with its own start (its schedule continues where
/// the batch before it ended, without the untimed preparation and warm-up between
/// them).
fn write_trace(
    dir: &std::path::Path,
    run: u32,
    target: Target,
    r: &mut RunResult,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    r.trace.sort_unstable();
    let mut text = String::from("scheduled_us\tlatency_us\tsent_late_us\n");
    for t in &r.trace {
        let _ = writeln!(text, "{}\t{}\t{}", t.scheduled, t.latency, t.sent_late);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("run{run}-{}.tsv", target.slug()));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The soak's outcome.
struct Soak {
    result: RunResult,
    /// Resident KiB after each 100,000 requests.
    rss: Vec<u64>,
    wall: std::time::Duration,
}

impl Soak {
    fn first(&self) -> u64 {
        self.rss.first().copied().unwrap_or(0)
    }

    fn last(&self) -> u64 {
        self.rss.last().copied().unwrap_or(0)
    }
}

struct Report<'a> {
    runs: &'a [Run],
    soak: Option<&'a Soak>,
}

/// The figures of one target in one run that the report compares.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    rps: f64,
    vs_auth_off: f64,
    cpu_us: f64,
    p99_at_rate: f64,
    p99_added_vs_direct: f64,
    p99_added_vs_auth_off: f64,
}

impl Run {
    fn result(list: &[(Target, RunResult)], target: Target) -> Option<&RunResult> {
        list.iter().find(|(t, _)| *t == target).map(|(_, r)| r)
    }

    fn figures(&self, target: Target) -> Figures {
        let sat = Self::result(&self.saturation, target);
        let off = Self::result(&self.saturation, Target::AuthOff).map_or(1.0, RunResult::rate);
        let p99 = |t: Target| Self::result(&self.at_rate, t).map_or(0.0, |r| r.ms(0.99));
        Figures {
            rps: sat.map_or(0.0, RunResult::rate),
            vs_auth_off: 100.0 * sat.map_or(0.0, RunResult::rate) / off,
            cpu_us: sat.map_or(0.0, RunResult::cpu_us_per_request),
            p99_at_rate: p99(target),
            p99_added_vs_direct: p99(target) - p99(Target::Direct),
            p99_added_vs_auth_off: p99(target) - p99(Target::AuthOff),
        }
    }

    fn text(&self) -> String {
        let mut t = String::from(
            "\nSaturation (closed loop)\n\
             target                    req/s   vs auth off   CPU µs/req   p50 ms   p99 ms   p99.9 ms   errors\n",
        );
        for (target, r) in &self.saturation {
            let f = self.figures(*target);
            t.push_str(&format!(
                "{:<22} {:>8.0} {:>12.1}% {:>12.1} {:>8.3} {:>8.3} {:>10.3} {:>8}\n",
                target.label(),
                f.rps,
                f.vs_auth_off,
                f.cpu_us,
                r.ms(0.5),
                r.ms(0.99),
                r.ms(0.999),
                r.errors
            ));
        }
        t.push_str(&format!(
            "\nLatency at {:.0} req/s (open loop, measured from the scheduled start)\n\
             target                   p50 ms   p99 ms   p99.9 ms   p99 added vs direct   vs auth off   errors\n",
            self.rate
        ));
        for (target, r) in &self.at_rate {
            let f = self.figures(*target);
            t.push_str(&format!(
                "{:<22} {:>8.3} {:>8.3} {:>10.3} {:>18.3} ms {:>10.3} ms {:>8}\n",
                target.label(),
                r.ms(0.5),
                f.p99_at_rate,
                r.ms(0.999),
                f.p99_added_vs_direct,
                f.p99_added_vs_auth_off,
                r.errors
            ));
        }
        for (target, r) in self.saturation.iter().chain(&self.at_rate) {
            for e in &r.error_samples {
                t.push_str(&format!("error ({}): {e}\n", target.label()));
            }
        }
        t
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

impl Report<'_> {
    /// The targets measured, in order.
    fn targets(&self) -> Vec<Target> {
        self.runs
            .first()
            .map(|r| r.saturation.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default()
    }

    /// Each figure of `target`, the median over the runs.
    fn median(&self, target: Target) -> Figures {
        let each = |f: fn(&Figures) -> f64| {
            median(self.runs.iter().map(|r| f(&r.figures(target))).collect())
        };
        Figures {
            rps: each(|f| f.rps),
            vs_auth_off: each(|f| f.vs_auth_off),
            cpu_us: each(|f| f.cpu_us),
            p99_at_rate: each(|f| f.p99_at_rate),
            p99_added_vs_direct: each(|f| f.p99_added_vs_direct),
            p99_added_vs_auth_off: each(|f| f.p99_added_vs_auth_off),
        }
    }

    fn text(&self) -> String {
        let mut t = String::new();
        for (i, run) in self.runs.iter().enumerate() {
            if self.runs.len() > 1 {
                t.push_str(&format!("\n== run {} of {}", i + 1, self.runs.len()));
            }
            t.push_str(&run.text());
        }
        if self.runs.len() > 1 {
            t.push_str(&format!(
                "\n== median of {} runs (each figure separately)\n\
                 target                    req/s   vs auth off   CPU µs/req   p99 ms at rate   p99 added vs direct   vs auth off\n",
                self.runs.len()
            ));
            for target in self.targets() {
                let f = self.median(target);
                t.push_str(&format!(
                    "{:<22} {:>8.0} {:>12.1}% {:>12.1} {:>16.3} {:>18.3} ms {:>10.3} ms\n",
                    target.label(),
                    f.rps,
                    f.vs_auth_off,
                    f.cpu_us,
                    f.p99_at_rate,
                    f.p99_added_vs_direct,
                    f.p99_added_vs_auth_off
                ));
            }
        }
        if let Some(s) = self.soak {
            t.push_str(&format!(
                "\nSoak (HTTPSig): {} requests in {:.0} s, {} errors; resident memory {} KiB after the first 100,000, {} KiB at the end ({:+.1}%)\n  after each 100,000 (MiB): {}\n",
                s.result.ok + s.result.errors,
                s.wall.as_secs_f64(),
                s.result.errors,
                s.first(),
                s.last(),
                growth(s.first(), s.last()),
                s.rss
                    .iter()
                    .map(|k| format!("{:.0}", *k as f64 / 1024.0))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        t
    }

    fn json(&self) -> serde_json::Value {
        let figures = |f: Figures| {
            json!({"rps": f.rps, "vs_auth_off_percent": f.vs_auth_off, "cpu_us_per_request": f.cpu_us,
                   "p99_ms_at_rate": f.p99_at_rate, "p99_added_vs_direct_ms": f.p99_added_vs_direct,
                   "p99_added_vs_auth_off_ms": f.p99_added_vs_auth_off})
        };
        let run = |r: &Run| {
            let rows = |list: &[(Target, RunResult)]| {
                list.iter()
                    .map(|(t, x)| {
                        json!({"target": t.label(), "rps": x.rate(), "p50_ms": x.ms(0.5),
                               "p99_ms": x.ms(0.99), "p999_ms": x.ms(0.999),
                               "cpu_us_per_request": x.cpu_us_per_request(),
                               "ok": x.ok, "errors": x.errors})
                    })
                    .collect::<Vec<_>>()
            };
            json!({"saturation": rows(&r.saturation), "rate": r.rate, "at_rate": rows(&r.at_rate)})
        };
        json!({
            "runs": self.runs.iter().map(run).collect::<Vec<_>>(),
            "median": self.targets().iter().map(|t| {
                let mut v = figures(self.median(*t));
                v["target"] = json!(t.label());
                v
            }).collect::<Vec<_>>(),
            "soak": self.soak.map(|s| json!({
                "requests": s.result.ok + s.result.errors, "errors": s.result.errors,
                "rss_kib_per_100k": s.rss,
                "rss_growth_percent": growth(s.first(), s.last()),
                "seconds": s.wall.as_secs_f64()})),
        })
    }
}

fn growth(first: u64, last: u64) -> f64 {
    if first == 0 {
        0.0
    } else {
        100.0 * (last as f64 - first as f64) / first as f64
    }
}

/// A directory removed, with what is in it, when this is dropped.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
