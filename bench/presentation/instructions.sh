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
# the cost of one check. Only what runs inside criterion's profiling routine is counted, not the
# bench's setup, whose first checks of every group (a token's first use, a DPoP proof) would add
# about 2.4 k to each measured check's average. The floor case (Ed25519 verification of a
# check's own signature base + SHA-256 of its body) counts its `floor_check` function,
# so the ratio check/floor is the first row over the second (builds without
# `floor_check` show n/a there).
set -euo pipefail
(($#)) || { sed -n 2,18p "$0" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is needed" >&2; exit 1; }

# Each case: the bench's filter, and the function whose inclusive instructions per call
# are counted (`Runtime::block_on` around each check; the floor's own function).
CASES=(
  'ed25519/tools-call-1KiB/verify_presentation \(token cached\)$|Runtime::block_on'
  'ed25519/tools-call-1KiB/floor, fresh request each time|presentation::floor_check'
  'dpop-eddsa/tools-call-1KiB/verify_presentation \(token cached\)$|Runtime::block_on'
  'dpop-es256/tools-call-1KiB/verify_presentation \(token cached\)$|Runtime::block_on'
  'bearer/tools-call-1KiB/verify_presentation \(token cached\)$|Runtime::block_on'
)
WORK=$(mktemp -d /tmp/mcp-auth-instructions.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

per_call() { # CALLGRIND_FILE FUNCTION_SUBSTRING -> "calls inclusive_ir"
  python3 "$(dirname "$0")/../callgrind_calls.py" "$1" "$2" | cut -d' ' -f1-2
}

printf '| case | %s |\n' "$(for b in "$@"; do printf '%s | ' "$(basename "$b")"; done | sed 's/ | $//')"
printf '|---|%s\n' "$(for _ in "$@"; do printf -- '---|'; done)"
for entry in "${CASES[@]}"; do
  case=${entry%|*} function=${entry##*|}
  row="| ${case%%/tools-call*} $(sed -E 's/.*tools-call-1KiB\/(verify_presentation )?//; s/\\//g; s/\$$//' <<<"$case") |"
  for bin in "$@"; do
    out=$WORK/cg.$RANDOM
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      --toggle-collect='criterion::routine::Routine::profile*' \
      "$bin" --bench --profile-time 3 "$case" >/dev/null 2>&1
    read -r calls ir < <(per_call "$out" "$function")
    note=""
    if ((calls == 0)) && [[ $function == Runtime::block_on ]]; then
      # The link-time optimizer may inline criterion's profiling routine for a group, and
      # then nothing is collected: count inside the checks themselves instead (which
      # also counts the few checks of the bench's setup, see above).
      valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect='*Runtime::block_on*' \
        "$bin" --bench --profile-time 3 "$case" >/dev/null 2>&1
      read -r calls ir < <(per_call "$out" "$function")
      note=", inside block_on"
    fi
    if ((calls)); then
      row+=" $(python3 -c "print(f'{$ir / $calls / 1000:.1f} k')") ($calls checks$note) |"
    else
      row+=" n/a |"
    fi
  done
  echo "$row"
done
