#!/usr/bin/env bash
# The presentation check against its floor in time, measured so that the machine's drift
# cancels: ROUNDS rounds, each timing the floor and the check back to back with criterion
# (the order alternating, ABBA), the ratio taken within each round, the median reported.
#
#   bench/presentation/ratio.sh BENCH_BINARY [ROUNDS] [CASE]
#
# BENCH_BINARY is built by `cargo bench --no-run -p mcp-auth-resource --bench presentation`
# (target/release/deps/presentation-<hash>). CASE is `ed25519` (the HTTPSig check, default),
# `dpop-es256` or `dpop-eddsa`; each is compared with its group's floor (what the check
# cannot avoid: the signature verification, and for HTTPSig the body's SHA-256), measured
# as the check is: on a fresh
# request (signature, proof) each time, so that both run with the same cache state.
# ROUNDS defaults to 7. The wall-clock times on this 2-core machine swing by 20% from one
# hour to the next, and by several percent between two runs a minute apart: only a ratio
# taken within a round means anything.
#
#   bench/presentation/ratio.sh --paired BENCH_BINARY [CASE] [PROCESSES]
#
# The same comparison without criterion, in PROCESSES runs of the binary (default 9): each
# run times 300 rounds of a block of 64 floors and a block of 64 checks back to back (a few
# milliseconds each, the order alternating) and reports the median of its rounds' ratios
# (crates/resource/benches/presentation/paired.rs). Within a run, the machine's drift over
# seconds cancels and the quartiles are within about 5%; between runs the ratio still moves,
# by several percent and in some runs far more, partly with where the process's stack and
# heap happen to lie (with address-space randomization off, runs agree, and a longer
# environment moves the ratio). So the figure reported is the median over runs, each with
# its own layout.
set -euo pipefail
(($#)) || { sed -n 2,26p "$0" >&2; exit 2; }
if [[ $1 == --paired ]]; then
  (($# >= 2)) || { sed -n 2,26p "$0" >&2; exit 2; }
  bin=$2 case=${3:-ed25519} runs=${4:-9}
  [[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "ratio.sh: PROCESSES is a positive number" >&2; exit 2; }
  medians=()
  for ((r = 1; r <= runs; r++)); do
    line=$(PRESENTATION_PAIRED=$case "$bin" | grep -E 'check / floor median')
    echo "run $r: $line"
    m=$(grep -oE 'median [0-9]+\.[0-9]+x' <<<"$line" | grep -oE '[0-9]+\.[0-9]+') ||
      { echo "ratio.sh: no ratio in run $r's output" >&2; exit 1; }
    medians+=("$m")
  done
  printf '\nmedian of %d runs, %s check / floor: %sx\n' "$runs" "$case" \
    "$(printf '%s\n' "${medians[@]}" | LC_ALL=C sort -n | awk '{ v[NR] = $1 } END {
      if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  exit 0
fi
bin=$1 rounds=${2:-7} case=${3:-ed25519}
case $case in
  ed25519) floor="presentation/ed25519/tools-call-1KiB/floor, fresh request each time" ;;
  dpop-es256 | dpop-eddsa) floor="presentation/$case/tools-call-1KiB/floor, fresh proof each time" ;;
  *) echo "ratio.sh: CASE is ed25519, dpop-es256 or dpop-eddsa" >&2; exit 2 ;;
esac
check="presentation/$case/tools-call-1KiB/verify_presentation \(token cached\)\$"

# Criterion's point estimate of FILTER, in µs.
time_of() {
  "$bin" --bench "$1" --warm-up-time 1 --measurement-time 3 --noplot 2>/dev/null |
    awk 'match($0, /time: +\[/) && !done {
      split(substr($0, RSTART), f, " ")
      v = f[4]; u = f[5]
      if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000
      print v; done = 1
    }'
}

ratios=()
printf '| round | floor µs | check µs | check / floor |\n|---|---|---|---|\n'
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then
    f=$(time_of "$floor"); c=$(time_of "$check")
  else
    c=$(time_of "$check"); f=$(time_of "$floor")
  fi
  [[ -n $f && -n $c ]] || { echo "ratio.sh: no estimate for $case (is the binary a presentation bench?)" >&2; exit 1; }
  ratio=$(awk -v c="$c" -v f="$f" 'BEGIN { printf "%.3f", c / f }')
  ratios+=("$ratio")
  printf '| %d | %.2f | %.2f | %sx |\n' "$r" "$f" "$c" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | LC_ALL=C sort -n | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
printf '\nmedian of %d rounds, %s check / floor: %sx\n' "$rounds" "$case" "$median"
