#!/usr/bin/env bash
# Interop: an independent Python client, written from profiles/http-message-signatures.md
# alone, runs the whole profile (discovery, DCR, signed token request, signed MCP requests,
# tampered requests) against the `httpsig_demo` example (AS + protected MCP endpoint).
#
# usage: interop/httpsig-profile/run.sh <path-to-mcp-auth-binary> <workdir>
#
# The first argument is accepted for symmetry with the other interop suites; the server under
# test is "$REPO/target/debug/examples/httpsig_demo" (built by `cargo build --all-targets`, or
# `cargo build -p mcp-auth-resource --example httpsig_demo`).
# Prints client.py's PASS/FAIL lines and `interop: N passed, M failed`; exits with client.py's
# status (1 on failure), or 2 on setup errors. The demo's logs stay in <workdir>.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_usage "$@"
DEMO="$REPO/target/debug/examples/httpsig_demo"
PYDIR="$REPO/.interop/py-httpsig-profile"

need python3
if [[ ! -x "$DEMO" ]]; then
    echo "run.sh: $DEMO not found; build it with: cargo build -p mcp-auth-resource --example httpsig_demo" >&2
    exit 2
fi
interop_workdir "$2"
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2

# Ports 0 0: the demo picks free ports and reports its URLs on its first stdout line.
interop_traps
start "$WORK/demo.stdout" "$WORK/demo.stderr" "$DEMO" 0 0
pid=$LAST_PID

resource=""
for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "run.sh: httpsig_demo exited early; its stderr:" >&2
        tail -n 20 "$WORK/demo.stderr" >&2
        exit 2
    fi
    if [[ "$(wc -l <"$WORK/demo.stdout")" -ge 1 ]]; then  # one complete line
        line="$(head -n 1 "$WORK/demo.stdout")"
        resource="$(json_get resource "$line")" \
            || { echo "run.sh: cannot read the demo's JSON line: $line" >&2; exit 2; }
        break
    fi
    sleep 0.1
done
[[ -n "$resource" ]] || { echo "run.sh: httpsig_demo printed no JSON line within 30 s" >&2; exit 2; }
echo "run.sh: httpsig_demo pid $pid, MCP endpoint $resource" >&2

# A second resource-server process for the same resource, sharing the replay cache
# through Redis with the first, when Redis answers: a request accepted by one must be a
# replay at the other (HTTPSIG-RS-13). Both demos then use Redis.
second=""
if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    stop_pid "$pid"
    redis_url=${MCP_AUTH_TEST_REDIS:-redis://127.0.0.1:6379/}
    start "$WORK/demo.stdout" "$WORK/demo.stderr" env HTTPSIG_DEMO_REDIS="$redis_url" "$DEMO" 0 0
    pid=$LAST_PID
    for _ in $(seq 1 300); do [[ "$(wc -l <"$WORK/demo.stdout")" -ge 1 ]] && break; sleep 0.1; done
    line="$(head -n 1 "$WORK/demo.stdout")"
    resource="$(json_get resource "$line")" || exit 2
    issuer="$(json_get issuer "$line")" || exit 2
    start "$WORK/demo2.stdout" "$WORK/demo2.stderr" env HTTPSIG_DEMO_REDIS="$redis_url" HTTPSIG_DEMO_AS="$issuer" \
        HTTPSIG_DEMO_RESOURCE="$resource" "$DEMO" 0 0
    pid2=$LAST_PID
    for _ in $(seq 1 300); do [[ "$(wc -l <"$WORK/demo2.stdout")" -ge 1 ]] && break; sleep 0.1; done
    second="$(json_get listening "$(head -n 1 "$WORK/demo2.stdout")")" \
        || { echo "run.sh: the second httpsig_demo did not start; its stderr:" >&2; tail -n 20 "$WORK/demo2.stderr" >&2; exit 2; }
    echo "run.sh: second resource server pid $pid2 at $second, both on Redis $redis_url" >&2
else
    echo "!!! run.sh: Redis NOT reachable at 127.0.0.1:6379: the two-process replay check is SKIPPED" >&2
fi

# The pre-registered machine client the demo printed (anonymous registration gets no
# client_credentials grant).
HTTPSIG_INTEROP_CLIENT_ID="$(json_get client_id "$line")" || exit 2
HTTPSIG_INTEROP_CLIENT_SECRET="$(json_get client_secret "$line")" || exit 2
export HTTPSIG_INTEROP_CLIENT_ID HTTPSIG_INTEROP_CLIENT_SECRET
PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 "$HERE/client.py" "$resource" $second
rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "run.sh: client.py exited with $rc; demo stderr:" >&2
    tail -n 20 "$WORK/demo.stderr" >&2
fi
exit "$rc"
