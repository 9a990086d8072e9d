#!/usr/bin/env python3
"""Instructions per request of each `mcp-auth bench gateway` target, counted by callgrind:
the deterministic twin of the bench's throughput ratios, which swing by several percent
from one run to the next on this shared 2-core machine.

    bench/gateway/instructions.py MCP_AUTH_BINARY [--top N] [-- BENCH_ARGS...]

e.g. `bench/gateway/instructions.py target/release/mcp-auth --top 30 -- --only bearer`.
The bench runs once under `valgrind --tool=callgrind` (about a minute and a half with
the defaults below: 3,000 requests per target, 300 of warm-up before each run; BENCH_ARGS
override them: on a machine where valgrind runs a signed target's 3,000 requests past their
signatures' 30 s, pass `--requests 1000`). Its progress line is
printed as each run starts and cleared as it ends; the counts are dumped at both
(`callgrind_control -d`), so each saturation run's dump holds exactly its own
requests: the whole process, load generator, upstream and gateway alike, as the
bench's CPU figure does. Each target's row is its instructions per request and, as
"auth off / target", the throughput ratio it would have if time followed
instructions; and its calls into the global allocator per request (allocations and
reallocations; frees are not counted). Kernel time, cache misses and the SHA extensions (valgrind runs SHA-256
in software: a 1 KiB body's hash counts about 33 k here and costs about 0.5 µs natively)
are not in it; see BENCHMARKS.md for how it compares with the measured ratios.
With --top N, the N functions whose exclusive instructions per request grew most
against the auth-off proxy, for each checked target. CALLGRIND_ARGS adds options to
valgrind's command: with its cache model, e.g. `CALLGRIND_ARGS="--cache-sim=yes
--D1=32768,8,64 --LL=524288,8,64"` (one core's L1 data and L2 here), a table of read
misses per request follows (the model runs the threads one at a time on one cache and
does not see the kernel).
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import progress  # noqa: E402  (bench/gateway/progress.py)

DEFAULT_BENCH_ARGS = ["--requests", "3000", "--warmup", "300", "--rate-seconds", "1"]


def names_in(prefix: str) -> dict:
    """Function ids to names, from every part file (names are compressed across parts)."""
    names = {}
    for path in glob.glob(prefix + "*"):
        for line in open(path, errors="replace"):
            m = re.match(r"^c?fn=\((\d+)\) (.*)$", line.rstrip("\n"))
            if m:
                names[m.group(1)] = m.group(2)
    return names


def exclusive(path: str, names: dict) -> dict:
    """Exclusive instructions per function in one part file."""
    per, fn, call_cost_next = {}, None, False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^fn=\((\d+)\)", line)
        if m:
            fn = names.get(m.group(1), m.group(1))
            continue
        if line.startswith("calls="):
            call_cost_next = True  # the next cost line is the call's inclusive cost
            continue
        m = re.match(r"^(?:[+-]?\d+|\*) (\d+)$", line)
        if m:
            if call_cost_next:
                call_cost_next = False
            else:
                per[fn] = per.get(fn, 0) + int(m.group(1))
    return per


# The global allocator's entry points (what `#[global_allocator]` is called through),
# and mimalloc's (what those call): with link-time optimization the Rust shims are
# inlined into their callers, and the calls land in mimalloc directly.
ALLOCATOR = re.compile(r"^(?:__rustc::)?__rust_(?:alloc|alloc_zeroed|realloc)$")
MIMALLOC = re.compile(r"^mi_(?:malloc|zalloc|realloc)(?:_aligned)?(?:'\d+)?$")


def allocations(path: str, names: dict) -> int:
    """Calls into the global allocator (allocations and reallocations, not frees) in
    one part file: into the Rust shims, and into mimalloc from anything but a shim (or
    `MiMalloc`'s `GlobalAlloc` methods, when they are not inlined into it)."""
    count, caller, callee = 0, "", None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?fn)=\((\d+)\)", line)
        if m:
            if m.group(1) == "cfn":
                callee = names.get(m.group(2), "")
            else:
                caller, callee = names.get(m.group(2), ""), None
            continue
        m = re.match(r"^calls=(\d+)", line)
        if m and callee is not None:
            if ALLOCATOR.match(callee) or (
                MIMALLOC.match(callee)
                and not ALLOCATOR.match(caller)
                and not caller.startswith(("mi_", "_mi_"))  # mimalloc inside itself
                and "GlobalAlloc" not in caller
            ):
                count += int(m.group(1))
    return count


def events(path: str) -> dict:
    """The part's totals by event name (`Ir`, and with the cache model `D1mr`, `DLmr`...)."""
    names, values = [], []
    for line in open(path, errors="replace"):
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            values = [int(v) for v in line.split()[1:]]
            break
    return dict(zip(names or ["Ir"], values))


def total(path: str) -> int:
    return events(path).get("Ir", 0)


def given_option(option: str, given: list) -> bool:
    """Whether `given` holds `option`, as `--option value` or `--option=value`."""
    return any(g == option or g.startswith(option + "=") for g in given)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        sys.exit(__doc__)
    bench_args = DEFAULT_BENCH_ARGS
    if "--" in args:
        i = args.index("--")
        args, given = args[:i], args[i + 1:]
        # A default the caller gives again is theirs (the bench takes each option once).
        defaults = [DEFAULT_BENCH_ARGS[j:j + 2] for j in range(0, len(DEFAULT_BENCH_ARGS), 2)]
        bench_args = [a for d in defaults if not given_option(d[0], given) for a in d] + given
    top = 0
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
    binary = args[0]
    work = tempfile.mkdtemp(prefix="mcp-auth-gateway-instructions.")
    out = os.path.join(work, "cg.out")
    env = dict(os.environ, MCP_AUTH_LOG=os.environ.get("MCP_AUTH_LOG", "warn"))
    extra = os.environ.get("CALLGRIND_ARGS", "").split()
    bench = subprocess.Popen(
        ["valgrind", "--tool=callgrind", *extra, f"--callgrind-out-file={out}",
         binary, "bench", "gateway", *bench_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    dumps = 0

    def dump() -> int:
        nonlocal dumps
        subprocess.run(["callgrind_control", "-d", str(bench.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        dumps += 1
        return dumps

    runs, current = [], None
    for line in progress.lines(bench.stderr):
        m = re.match(r"(.+?)\s+0/(\d+) requests$", line)
        if m and current is None:
            dump()  # everything before this run
            current = (m.group(1).strip(), int(m.group(2)))
        elif line == "" and current is not None:
            runs.append((*current, dump()))
            current = None
    table = bench.stdout.read().decode()
    if bench.wait() != 0:
        sys.exit(f"the bench failed:\n{table}")
    print(table)
    saturation = [(label, n, part) for label, n, part in runs
                  if label != "warm-up" and "@" not in label and not label.startswith("soak")]
    per_request = {label: total(f"{out}.{part}") / n for label, n, part in saturation}
    base = per_request.get("gateway, auth off")
    names = names_in(out)
    print("Instructions per request, whole process (callgrind), saturation runs:\n")
    print("| target | requests | instructions per request | auth off / target | added vs auth off "
          "| allocations per request |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, n, part in saturation:
        ir = per_request[label]
        ratio = f"{100 * base / ir:.1f}%" if base else "n/a"
        added = f"{(ir - base) / 1000:+.1f} k" if base else "n/a"
        allocs = allocations(f"{out}.{part}", names) / n
        print(f"| {label} | {n} | {ir / 1000:.1f} k | {ratio} | {added} | {allocs:.1f} |")
    missed = [(label, n, events(f"{out}.{part}")) for label, n, part in saturation]
    if missed and "DLmr" in missed[0][2]:
        print("\nRead misses per request in valgrind's cache model (CALLGRIND_ARGS):\n")
        print("| target | L1 data | last level, data | last level, instructions |")
        print("|---|---:|---:|---:|")
        for label, n, e in missed:
            print(f"| {label} | {e['D1mr'] / n / 1000:.2f} k | {e['DLmr'] / n / 1000:.2f} k "
                  f"| {e['ILmr'] / n / 1000:.2f} k |")
    if top and base:
        parts = {label: (n, part) for label, n, part in saturation}
        n0, p0 = parts["gateway, auth off"]
        off = {k: v / n0 for k, v in exclusive(f"{out}.{p0}", names).items()}
        for label, (n, part) in parts.items():
            if label in ("gateway, auth off", "upstream direct"):
                continue
            mine = {k: v / n for k, v in exclusive(f"{out}.{part}", names).items()}
            grown = sorted(((mine.get(k, 0) - off.get(k, 0), k) for k in set(mine) | set(off)),
                           reverse=True)[:top]
            print(f"\n{label}: the {top} functions that grew most per request against auth off\n")
            print("| added | auth off | this target | function |\n|---:|---:|---:|---|")
            for d, k in grown:
                print(f"| {d:.0f} | {off.get(k, 0):.0f} | {mine.get(k, 0):.0f} | `{str(k)[:110]}` |")
    print(f"\n(callgrind files in {work})")


if __name__ == "__main__":
    main()
