//! `bench/soak/run.sh` (issue 19's soak) as a user runs it, made small: real
//! processes on loopback — a private redis-server, `mcp-auth as` on SQLite, the demo
//! server, three gateways sharing the replay cache in that Redis — and `mcp-auth
//! bench soak` signing every request. What it measures at full size is in
//! BENCHMARKS.md; here only that the whole chain runs and its summary holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Requests in the small run: a thousand for each gateway.
const REQUESTS: u64 = 3_000;
/// The longest the script may take (a debug build on a busy machine: starting five
/// processes and 3,000 requests take about ten seconds on a quiet one).
const LIMIT: Duration = Duration::from_secs(240);

/// Whether `tool` is on the PATH.
fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Reads a pipe to its end on a thread of its own, so that neither pipe fills.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

#[test]
fn the_soak_script_spreads_signed_requests_over_three_gateways_on_one_redis_without_an_error() {
    for tool in ["bash", "redis-server", "redis-cli", "curl", "openssl"] {
        if !have(tool) {
            eprintln!("SKIPPED: bench/soak/run.sh needs {tool}, which is not installed");
            return;
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/soak/run.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(REQUESTS.to_string())
        .arg(env!("CARGO_BIN_EXE_mcp-auth"))
        .env("SOAK_JSON", "1")
        .env("SOAK_CONCURRENCY", "16")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            // SIGTERM: the script stops every process it started, then exits.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            panic!(
                "the soak took more than {LIMIT:?}; its output:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    eprintln!("{stderr}\nsummary: {stdout}");
    assert!(status.success(), "exit {status}:\n{stderr}\n{stdout}");
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();

    assert_eq!(summary["pass"], true, "{summary}");
    assert_eq!(summary["failures"], serde_json::json!([]));
    assert_eq!(summary["requests"], REQUESTS);
    assert_eq!(summary["ok"], REQUESTS);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["error_kinds"], serde_json::json!({}));
    assert!(summary["rps"].as_f64().unwrap() > 0.0);
    // One token lasts the whole small run (it is fetched again only near its expiry).
    assert_eq!(summary["tokens"], 1);

    // Three different gateways, each sent a third and, by its own metrics, having
    // accepted exactly that and refused nothing.
    let gateways = summary["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 3);
    let mut urls: Vec<&str> = gateways
        .iter()
        .map(|g| g["url"].as_str().unwrap())
        .collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), 3, "{urls:?}");
    for g in gateways {
        assert_eq!(g["sent"], REQUESTS / 3, "{g}");
        assert_eq!(g["accepted"], REQUESTS / 3, "{g}");
        assert_eq!(g["rejected"], 0, "{g}");
        // Each gateway's memory read from its /proc, after the warm-up and at the end.
        assert!(g["rss_kib_after_warmup"].as_u64().unwrap() > 1024, "{g}");
        assert!(g["rss_kib_at_end"].as_u64().unwrap() > 1024, "{g}");
        assert!(g["rss_growth_percent"].as_f64().unwrap() < 10.0, "{g}");
    }

    // A sample after the warm-up (a tenth, 300) and after every tenth.
    let samples = summary["samples"].as_array().unwrap();
    let at: Vec<u64> = samples
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(at, (1..=10).map(|k| REQUESTS * k / 10).collect::<Vec<_>>());
    // The shared Redis holds the nonces the gateways recorded, each for 35 s, and the
    // replay cache's 16 bucket markers: every nonce when the run was shorter than
    // that; and never more than the window explains.
    let dbsize = summary["redis"]["dbsize"].as_u64().unwrap();
    let bound = summary["redis"]["bound"].as_u64().unwrap();
    if summary["seconds"].as_f64().unwrap() < 34.0 {
        assert!(dbsize >= REQUESTS + 16, "{dbsize} keys");
    } else {
        assert!(dbsize > 16, "{dbsize} keys");
    }
    assert!(dbsize <= bound, "{dbsize} keys, bound {bound}");
    for s in samples {
        assert!(s["dbsize"].as_u64().unwrap() > 0, "{s}");
    }
}
