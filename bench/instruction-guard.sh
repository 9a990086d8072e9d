#!/usr/bin/env bash
# The instruction-count regression guard (issue 18): counts the instructions of one token
# issuance and one presentation check with callgrind (deterministic: the same binary gives
# the same count to within 0.15%, however loaded the machine is) and fails when a count grew
# by more than 10% over the recorded baseline.
#
#   bench/instruction-guard.sh [--update] [--profile debug|release]
#
# The cases and their baselines are in bench/instructions-<profile>.txt: one line per case,
#   <bench target> <function counted> <instructions per call> <criterion case filter>
# The bench binaries come from the build that is already there: `cargo build --workspace
# --all-targets` (debug, what scripts/test builds, so the guard adds no build) or
# `cargo build --release --workspace --benches` (release). Record and compare only after
# such a whole-workspace build: building one package alone unifies other dependency
# features, which gives other code and other counts (a DPoP check counted 19% apart).
# Each case runs under callgrind for 1 s of criterion's profiling mode, collecting only
# inside criterion's profiling routine (not the bench's setup, which checks one request of
# every group first); the count is the inclusive instructions of the function named (an
# #[inline(never)] function of the bench around one call) over its calls there.
#
# Counts depend on the compiler: the baseline file names the rustc it was recorded with,
# and another rustc makes the guard say SKIPPED loudly (re-record with --update).
# --update rewrites the counts of the baseline file with the ones measured now.
# Exit status: 0 all within 10% (or skipped), 1 a case grew by more than 10%, 2 cannot run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

update=0
profile=debug
while (($#)); do
  case $1 in
    --update) update=1 ;;
    --profile) profile=${2:?--profile needs debug or release}; shift ;;
    -h|--help) sed -n 2,21p "$0"; exit 0 ;;
    *) echo "instruction-guard: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $profile == debug || $profile == release ]] || { echo "instruction-guard: --profile debug|release" >&2; exit 2; }
baseline=bench/instructions-$profile.txt
[[ -f $baseline ]] || { echo "instruction-guard: no $baseline" >&2; exit 2; }
LIMIT_PERCENT=10

if ! command -v valgrind >/dev/null; then
  echo "!!! valgrind is not installed: the instruction-count guard is SKIPPED (apt-get install valgrind)"
  exit 0
fi
rustc_now=$(rustc --version)
rustc_then=$(sed -n 's/^# rustc: //p' "$baseline")
if [[ $update == 0 && $rustc_now != "$rustc_then" ]]; then
  echo "!!! $baseline was recorded with '$rustc_then', this is '$rustc_now':"
  echo "!!! instruction counts are not comparable, the guard is SKIPPED (re-record: $0 --update --profile $profile)"
  exit 0
fi

work=$(mktemp -d /tmp/mcp-auth-guard.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The newest criterion bench binary of target TARGET in this profile (a test target of
# the same name would also be in deps/: criterion's binaries know --profile-time).
binary() {
  local candidate
  for candidate in $(ls -t "target/$profile/deps/$1"-* 2>/dev/null | grep -v '\.d$'); do
    if [[ -x $candidate ]] && "$candidate" --help 2>/dev/null | grep -q -- --profile-time; then
      echo "$candidate"
      return
    fi
  done
  echo "instruction-guard: no $profile criterion binary for bench $1 (build it first; see $0 --help)" >&2
  exit 2
}

# Instructions per call of FUNCTION in callgrind file FILE: its inclusive instructions over
# its calls.
per_call() { # FILE FUNCTION
  python3 bench/callgrind_calls.py "$1" "$2" --exact | awk '{ print ($1 ? int($2 / $1 + 0.5) : 0) }'
}

printf '| case | baseline | now | change |\n|---|---|---|---|\n'
status=0
out=$work/baseline
grep '^#' "$baseline" | sed "s/^# rustc: .*/# rustc: $rustc_now/" >"$out"
while read -r target function count filter; do
  [[ -z $target || $target == \#* ]] && continue
  bin=$(binary "$target")
  file=$work/cg.$RANDOM
  valgrind --tool=callgrind --toggle-collect='criterion::routine::Routine::profile*' \
    --callgrind-out-file="$file" \
    "$bin" --bench --profile-time 1 "$filter" >"$file.log" 2>&1 \
    || { echo "instruction-guard: the $target bench failed under callgrind:"; tail -20 "$file.log"; exit 2; }
  now=$(per_call "$file" "$function")
  ((now > 0)) || { echo "instruction-guard: $function was never called for '$filter' in $target" >&2; exit 2; }
  if ((count > 0)); then
    change=$(python3 -c "print(f'{($now - $count) * 100 / $count:+.1f}%')")
  else
    change=new
  fi
  verdict=
  if ((update == 0 && (count == 0 || now * 100 > count * (100 + LIMIT_PERCENT)))); then
    verdict=" **more than +$LIMIT_PERCENT%: FAILED**"
    status=1
  fi
  printf '| %s %s | %s | %s | %s%s |\n' "$target" "$filter" "$count" "$now" "$change" "$verdict"
  printf '%s %s %s %s\n' "$target" "$function" "$((update ? now : count))" "$filter" >>"$out"
done < <(grep -v '^#' "$baseline")

if ((update)); then
  cp "$out" "$baseline"
  echo "recorded in $baseline ($rustc_now)"
elif ((status)); then
  echo "instruction-guard: a case costs more than $LIMIT_PERCENT% above its baseline: find the cause (callgrind_annotate), or, if the cost is wanted, re-record with $0 --update --profile $profile and say why in the commit"
fi
exit $status
