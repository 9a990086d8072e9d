#!/usr/bin/env python3
"""Where the gateway's CPU per request goes, target by target: `mcp-auth bench gateway`
run once, `perf record` attached to it for SECONDS in the middle of each saturation
phase, the samples turned into CPU microseconds per request and grouped by crate.

    bench/gateway/profile.py MCP_AUTH_BINARY [SECONDS] [-- BENCH_ARGS...]

e.g. `bench/gateway/profile.py target/release/mcp-auth 1.2 -- --only bearer,httpsig
--requests 40000`. Needs `perf` (software clock sampling is enough: no hardware
counters on this machine kind) and the binary's symbols (a release build has them).

How it reads: the bench rewrites its progress line every half second; at the first
rewrite of each run, perf is attached, for SECONDS, at 4,999 samples per second and
CPU. A sample is 200 µs of CPU, and the run's rate (its row of the bench's table) turns a window's samples
into µs per request: samples * 200 µs / (rate * SECONDS). Choose --requests so that
each run lasts past the window (one batch is 20,000 requests, and a longer run
prepares its next batch and sends its warm-up in between: keep SECONDS under a batch's duration minus
half a second). The whole process is sampled (load generator, gateway, upstream), as
the bench's own CPU figure is: the columns are what each target costs per request
and the difference to the auth-off proxy is what its check adds.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import progress  # noqa: E402  (bench/gateway/progress.py)

HZ = 4999

# First match wins: symbol pattern -> group.
GROUPS = [
    (r"curve25519|ed25519|sha512|subtle::", "Ed25519 (dalek)"),
    (r"p256|ecdsa|nistz256|bn_|BN_|ec_GFp|aws_lc.*(ecdsa|p256|ec_)", "ECDSA (aws-lc)"),
    (r"sha256", "SHA-256"),
    (r"aws_lc", "aws-lc, other"),
    (r"^_?mi_|mi_theap|mi_malloc|mi_free|mi_check|mi_find", "allocator"),
    (r"memmove|memcpy|memset|memcmp", "libc mem*"),
    (r"mcp_auth_httpsig", "mcp-auth httpsig"),
    (r"mcp_auth_resource", "mcp-auth resource"),
    (r"mcp_auth_core", "mcp-auth core"),
    (r"serde", "serde"),
    (r"^http::|httparse", "http/httparse"),
    (r"hyper", "hyper"),
    (r"reqwest", "reqwest"),
    (r"tokio", "tokio"),
    (r"^bytes::", "bytes"),
    (r"moka|crossbeam|quanta", "moka"),
    (r"axum|tower|rmcp|matchit", "axum/tower/rmcp"),
    (r"idna|url::", "url"),
    (r"metrics", "metrics"),
    (r"tracing", "tracing"),
    (r"^[a-z_0-9.]+(\.isra\.\d+|\.constprop\.\d+)?$", "kernel"),
    (r"core::|alloc::|std::|hashbrown", "std/alloc"),
]


def group(symbol: str) -> str:
    for pattern, name in GROUPS:
        if re.search(pattern, symbol):
            return name
    return "other"


def samples(path: str) -> dict:
    out = subprocess.run(
        ["perf", "report", "-i", path, "-n", "--sort", "sym", "--stdio"],
        capture_output=True, text=True, check=True,
    ).stdout
    per = {}
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+\[[.k]\]\s+(.*)$", line)
        if m:
            per[m.group(2).strip()] = per.get(m.group(2).strip(), 0) + int(m.group(1))
    return per


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        sys.exit(__doc__)
    bench_args = []
    if "--" in args:
        i = args.index("--")
        args, bench_args = args[:i], args[i + 1:]
    binary = args[0]
    seconds = args[1] if len(args) > 1 else "1.2"
    work = tempfile.mkdtemp(prefix="mcp-auth-gateway-profile.")
    env = dict(os.environ, MCP_AUTH_LOG=os.environ.get("MCP_AUTH_LOG", "warn"))
    bench = subprocess.Popen([binary, "bench", "gateway", *bench_args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    windows, seen = [], set()
    for line in progress.lines(bench.stderr):
        m = re.match(r"(.+?)\s+(\d+)/\d+ requests", line)
        # The first line after the one printed at the start, half a second in.
        if not m or m.group(2) == "0":
            continue
        label = m.group(1).strip()
        # Saturation phases only: not the warm-ups, not the fixed-rate phase (`@`).
        if label in seen or label == "warm-up" or "@" in label or label.startswith("soak"):
            continue
        seen.add(label)
        path = os.path.join(work, f"{len(windows)}.data")
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-F", str(HZ), "-p", str(bench.pid), "-o", path,
             "--", "sleep", seconds],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        windows.append((label, path, perf))
    for _, _, perf in windows:
        perf.wait()
    table = bench.stdout.read().decode()
    if bench.wait() != 0:
        sys.exit(f"the bench failed:\n{table}")
    print(table)
    rates = {}
    for line in table.splitlines():
        m = re.match(r"(\S.*?)\s{2,}(\d+)\s+[\d.]+%", line)
        if m and m.group(1) not in rates:
            rates[m.group(1)] = float(m.group(2))
    per_request = {}
    for label, path, _ in windows:
        if label not in rates:
            continue
        scale = 1e6 / HZ / (rates[label] * float(seconds))
        groups = {}
        for symbol, n in samples(path).items():
            groups[group(symbol)] = groups.get(group(symbol), 0.0) + n * scale
        per_request[label] = groups
    labels = [label for label, _, _ in windows if label in per_request]
    names = sorted({g for v in per_request.values() for g in v},
                   key=lambda g: -max(v.get(g, 0.0) for v in per_request.values()))
    print(f"CPU µs per request by group (perf, {seconds} s windows at {HZ} Hz):\n")
    print("| group | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in names:
        print(f"| {name} | " + " | ".join(
            f"{per_request[label].get(name, 0.0):.1f}" for label in labels) + " |")
    print("| **total** | " + " | ".join(
        f"**{sum(per_request[label].values()):.1f}**" for label in labels) + " |")


if __name__ == "__main__":
    main()
