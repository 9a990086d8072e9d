#!/usr/bin/env bash
# Instructions per presentation check, counted by valgrind's callgrind (independent of machine
# load, unlike wall-clock times on a shared 2-core machine), for one or more builds of the
# criterion bench `crates/resource/benches/presentation.rs`: compare a change with its baseline.
#
#   bench/presentation/instructions.sh BENCH_BINARY [BENCH_BINARY...]
#
# Build a bench binary with `cargo bench --no-run -p mcp-auth-resource --bench presentation`
# (it prints the path, target/release/deps/presentation-<hash>); for a baseline, build an older
# commit in a worktree with its own CARGO_TARGET_DIR. For each binary and each case below, the
# bench runs under callgrind for 3 s of profiling; every iteration is one `Runtime::block_on`
# around `verify_presentation`, so the inclusive instructions of `block_on` over its calls is
# the cost of one check, setup excluded.
set -euo pipefail
(($#)) || { sed -n 2,13p "$0" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is needed" >&2; exit 1; }

CASES=(
  'ed25519/tools-call-1KiB/verify_presentation \(token cached\)$'
  'dpop-eddsa/tools-call-1KiB/verify_presentation \(token cached\)$'
  'dpop-es256/tools-call-1KiB/verify_presentation \(token cached\)$'
)
WORK=$(mktemp -d /tmp/mcp-auth-instructions.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

per_call() { # CALLGRIND_FILE FUNCTION_SUBSTRING -> "calls inclusive_ir"
  python3 - "$1" "$2" <<'PY'
import re, sys
path, wanted = sys.argv[1], sys.argv[2]
names, calls, inclusive = {}, 0, 0
callee, pending = None, None
for line in open(path, errors="replace"):
    m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
    if m:
        kind, ident, name = m.groups()
        if name:
            names[ident] = name
        callee = names.get(ident, "") if kind == "cfn" else None
        continue
    m = re.match(r"^calls=(\d+)", line)
    if m:
        pending = int(m.group(1))
        continue
    if pending is not None:
        fields = line.split()
        if callee and wanted in callee and len(fields) > 1:
            calls += pending
            inclusive += int(fields[1])
        pending = None
print(calls, inclusive)
PY
}

printf '| case | %s |\n' "$(for b in "$@"; do printf '%s | ' "$(basename "$b")"; done | sed 's/ | $//')"
printf '|---|%s\n' "$(for _ in "$@"; do printf -- '---|'; done)"
for case in "${CASES[@]}"; do
  row="| ${case%%/tools-call*} $(sed -E 's/.*verify_presentation \\\((.*)\\\)\$/(\1)/' <<<"$case") |"
  for bin in "$@"; do
    out=$WORK/cg.$RANDOM
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --bench --profile-time 3 "$case" \
      >/dev/null 2>&1
    read -r calls ir < <(per_call "$out" "Runtime::block_on")
    if ((calls)); then
      row+=" $(python3 -c "print(f'{$ir / $calls / 1000:.1f} k')") ($calls checks) |"
    else
      row+=" n/a |"
    fi
  done
  echo "$row"
done
