//! `mcp-auth bench gateway` as a user runs it, made small: the whole stack in one
//! process, every target answered, two runs and their medians, the CPU per request
//! read. What it measures is in BENCHMARKS.md; here only that it measures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

mod common;

#[test]
fn bench_gateway_measures_every_target_in_each_run_and_reports_the_medians() {
    let traces = tempfile::tempdir().unwrap();
    let out = common::mcp_auth()
        .env("MCP_AUTH_LOG", "warn")
        .args(["bench", "gateway", "--requests", "60", "--warmup", "10"])
        .args(["--rate-seconds", "1", "--runs", "2", "--json"])
        .arg("--latency-trace")
        .arg(traces.path().join("traces"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets = [
        "upstream direct",
        "gateway, auth off",
        "gateway, Bearer JWT",
        "gateway, HTTPSig",
        "gateway, DPoP",
    ];
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        for phase in ["saturation", "at_rate"] {
            let rows = run[phase].as_array().unwrap();
            let names: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
            assert_eq!(names, targets, "{phase}");
            for row in rows {
                assert_eq!(row["errors"], 0, "{row}");
                assert!(row["ok"].as_u64().unwrap() >= 60, "{row}");
            }
        }
        assert!(run["rate"].as_f64().unwrap() >= 1.0);
    }
    let median = report["median"].as_array().unwrap();
    assert_eq!(median.len(), 5);
    let off = &median[1];
    assert_eq!(off["target"], "gateway, auth off");
    assert!((off["vs_auth_off_percent"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    for row in median {
        assert!(row["rps"].as_f64().unwrap() > 0.0, "{row}");
        // The process's CPU over ~60 requests: read from /proc, never zero for a run
        // that did work (10 ms ticks; the stack and the client share the process).
        assert!(row["cpu_us_per_request"].as_f64().unwrap() > 0.0, "{row}");
    }
    // --latency-trace: every fixed-rate run's requests, in schedule order.
    for run in 1..=2 {
        for target in ["direct", "auth-off", "bearer", "httpsig", "dpop"] {
            let path = traces.path().join(format!("traces/run{run}-{target}.tsv"));
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("scheduled_us\tlatency_us\tsent_late_us"));
            let rows: Vec<(u64, u64, u64)> = lines
                .map(|l| {
                    let mut cells = l.split('\t').map(|c| c.parse::<u64>().unwrap());
                    let row = (
                        cells.next().unwrap(),
                        cells.next().unwrap(),
                        cells.next().unwrap(),
                    );
                    assert_eq!(cells.next(), None, "{l}");
                    row
                })
                .collect();
            let ok = report["runs"][run - 1]["at_rate"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["target"].as_str().unwrap().contains(match target {
                        "direct" => "direct",
                        "auth-off" => "auth off",
                        "bearer" => "Bearer",
                        "httpsig" => "HTTPSig",
                        _ => "DPoP",
                    })
                })
                .unwrap()["ok"]
                .as_u64()
                .unwrap();
            assert_eq!(rows.len() as u64, ok, "{}", path.display());
            assert!(
                rows.windows(2).all(|w| w[0].0 <= w[1].0),
                "in schedule order"
            );
            // The columns in their documented order: the latency is counted from
            // the scheduled start, so it includes the lateness in sending.
            assert!(rows.iter().all(|r| r.2 <= r.1), "{}", path.display());
        }
    }
}

/// Every measured run, saturation and fixed rate alike, follows an untimed warm-up of
/// `--warmup` requests (read from the progress lines, which name each run and its
/// size as it starts): a fixed-rate run that began on a process left idle by its
/// preparation stalled at its start.
#[test]
fn bench_gateway_warms_up_right_before_every_measured_batch() {
    let out = common::mcp_auth()
        .env("MCP_AUTH_LOG", "warn")
        .args(["bench", "gateway", "--requests", "40", "--warmup", "5"])
        .args(["--rate-seconds", "1", "--only", "bearer"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Each run's progress line starts as `\r  <label> <done>/<total> requests`.
    let mut runs: Vec<&str> = Vec::new();
    for line in stderr.split('\r') {
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        let Some(label) = rest.split("  ").next().map(str::trim) else {
            continue;
        };
        if rest.contains(" requests") && runs.last() != Some(&label) {
            if label == "warm-up" {
                assert!(rest.contains("/5 requests"), "{rest}");
            }
            runs.push(label);
        }
    }
    let measured: Vec<usize> = (0..runs.len()).filter(|&i| runs[i] != "warm-up").collect();
    // Saturation and fixed rate for the upstream, the auth-off proxy and Bearer.
    assert_eq!(measured.len(), 6, "{runs:?}");
    assert_eq!(
        runs.iter().filter(|r| r.contains(" @ ")).count(),
        3,
        "{runs:?}"
    );
    for i in measured {
        assert!(
            i > 0 && runs[i - 1] == "warm-up",
            "{} did not follow a warm-up: {runs:?}",
            runs[i]
        );
    }
}

/// `--unchecked`: each measured check's requests are also measured in a row of their
/// own just before the check's, every one answered. (That the row's requests go to the
/// auth-off proxy is `bench::target`'s unit test: from outside, a request the gateway
/// accepts looks the same.)
#[test]
fn bench_gateway_with_unchecked_adds_a_row_before_each_check() {
    let out = common::mcp_auth()
        .env("MCP_AUTH_LOG", "warn")
        .args(["bench", "gateway", "--requests", "40", "--warmup", "5"])
        .args(["--rate-seconds", "1", "--only", "httpsig", "--unchecked"])
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for phase in ["saturation", "at_rate"] {
        let rows = report["runs"][0][phase].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "upstream direct",
                "gateway, auth off",
                "auth off, HTTPSig req",
                "gateway, HTTPSig"
            ],
            "{phase}"
        );
        for row in rows {
            assert_eq!(row["errors"], 0, "{row}");
            assert!(row["ok"].as_u64().unwrap() >= 40, "{row}");
        }
    }
}
