#!/usr/bin/env bash
# deploy/check.sh: the deployment files and the examples of docs/deployment.md, checked so that
# they cannot rot.
#
#   (a) the Kubernetes manifests: read by kubectl offline, and validated against the
#       Kubernetes JSON schemas (strict: unknown fields refused) by PyPI kubernetes-validate;
#       the Secret holds placeholders only;
#   (b) the systemd units: `systemd-analyze verify`, and `systemd-analyze security --offline`
#       under an exposure threshold, so the hardening cannot be dropped unnoticed;
#   (c) the configuration examples, run with the real binary: the `as.toml` and `gateway.toml`
#       blocks of docs/deployment.md as a fleet (three AS instances on one PostgreSQL database,
#       three gateways on one Redis, a demo MCP server upstream), then the files of the
#       ConfigMap; what the document says of the fleet is checked on it (one JWKS, a token of one
#       instance accepted by another, an HTTPSig-bound call through a gateway, the metrics' names,
#       a key rotation reaching every instance, /readyz of both with PostgreSQL or Redis
#       down, and the drain on SIGTERM).
#
# usage: deploy/check.sh [path-to-mcp-auth]     (default: target/debug/mcp-auth)
# env:   DEPLOY_CHECK_KEEP=1        keep the work directory (logs, configurations) and say where
#        MCP_AUTH_TEST_POSTGRES   a PostgreSQL URL whose user may CREATE DATABASE
#                                 (default postgres://postgres@127.0.0.1:5432/postgres);
#                                 a database of its own is created and dropped
# Prints PASS/FAIL/SKIPPED lines and ends with `deploy: N passed, M failed`; exits 1 on any
# failure. Takes about 16 s here (5 of them waiting for a key rotation to reach every instance).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# free_ports, start, stop_pid, stop_all, wait_http, http_answers, pip_install, show_logs
source "$HERE/../interop/common.sh"
cd "$REPO" || exit 2

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { echo "SKIPPED: $* !!!"; }
# check NAME CMD...: PASS when CMD succeeds.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# same_json A B: A and B are the same JSON value (member order aside).
same_json() { python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# answered CODE FILE WANT_CODE WANT_JSON: the status was WANT_CODE and FILE holds WANT_JSON.
answered() { [[ $1 == "$3" ]] && same_json "$(cat "$2")" "$4"; }
# refused URL: no connection can be made to URL (curl: nothing listens).
refused() { ! curl -s -m 2 -o /dev/null "$1"; }

WORK="$(mktemp -d /tmp/mcp-auth-deploy-check.XXXXXX)"
PG_ADMIN=${MCP_AUTH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=""
cleanup() {
    stop_all
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
    fi
    if [[ -n "${DEPLOY_CHECK_KEEP:-}" ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
echo "== (a) Kubernetes manifests"
if command -v kubectl >/dev/null 2>&1; then
    # `kubectl apply --dry-run=client` cannot run without a cluster: even with --validate=false
    # it asks the API server's discovery which resource each kind is ("unable to recognize").
    # `kubectl label --local` reads every object with the same decoder and mapping and asks no
    # server; --server names a closed port so that nothing listening on localhost:8080 (the
    # default) is ever contacted. It catches YAML and kind/apiVersion errors, not field types:
    # those are the schema check below.
    objects=$(kubectl --server=http://127.0.0.1:9 label --local --dry-run=client \
        -f deploy/kubernetes/ checked=yes -o name 2>"$WORK/kubectl.err")
    st=$?
    expected="configmap/mcp-auth-config secret/mcp-auth-secrets deployment.apps/mcp-auth-as service/mcp-auth-as poddisruptionbudget.policy/mcp-auth-as deployment.apps/mcp-auth-gateway service/mcp-auth-gateway poddisruptionbudget.policy/mcp-auth-gateway"
    if [[ $st -eq 0 && "$(echo $objects)" == "$expected" ]]; then
        pass "kubectl reads the 8 objects of deploy/kubernetes/ (kubectl label --local --dry-run=client)"
    else
        fail "kubectl could not read deploy/kubernetes/ (exit $st): got [$(echo $objects)]"
        sed 's/^/  /' "$WORK/kubectl.err" | tail -5
    fi
else
    skip "kubectl is not installed: the manifests were not read by kubectl"
fi
KV="$REPO/.interop/py-deploy"
if printf 'kubernetes-validate==1.37.0\n' >"$WORK/kv-requirements.txt" \
    && pip_install "$KV" "$WORK/kv-requirements.txt" 2>"$WORK/pip.err"; then
    # 1.30: the oldest version the manifests are written for.
    for version in 1.30.0 1.37.0; do
        if out=$(PYTHONPATH="$KV" python3 -m kubernetes_validate --strict --quiet \
            -k "$version" deploy/kubernetes/*.yaml 2>&1); then
            pass "manifests valid against the Kubernetes $version schemas (strict)"
        else
            fail "manifests against the Kubernetes $version schemas:"
            echo "$out" | sed 's/^/  /' | head -10
        fi
    done
else
    skip "pip could not install kubernetes-validate: the manifests' fields were not validated"
    tail -3 "$WORK/pip.err" | sed 's/^/  /'
fi
# The Secret holds placeholders only: every value says CHANGE-ME.
check "every value of the Secret is a CHANGE-ME placeholder" python3 - <<'EOF'
import sys, yaml
doc = yaml.safe_load(open("deploy/kubernetes/01-secret.yaml"))
values = list((doc.get("stringData") or {}).values()) + list((doc.get("data") or {}).values())
bad = [v for v in values if "CHANGE-ME" not in v]
if not values or bad:
    print("  not placeholders:", len(bad), "of", len(values)); sys.exit(1)
EOF

# ---------------------------------------------------------------------------------------------
echo "== (b) systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify refuses a unit whose ExecStart binary is missing, and /usr/local/bin/mcp-auth is
    # not installed here: the units are verified as copies that name the built binary instead
    # (or /bin/true when there is none), everything else unchanged.
    exe="$REPO/target/debug/mcp-auth"; [[ -x "$exe" ]] || exe=/bin/true
    mkdir -p "$WORK/units"
    for unit in deploy/systemd/*.service; do
        name=$(basename "$unit")
        sed "s#/usr/local/bin/mcp-auth#$exe#" "$unit" >"$WORK/units/$name"
        if out=$(cd "$WORK/units" && systemd-analyze verify "./$name" 2>&1) && [[ -z "$out" ]]; then
            pass "systemd-analyze verify $name"
        else
            fail "systemd-analyze verify $name:"; echo "$out" | sed 's/^/  /' | head -10
        fi
        # 1.5 today ("OK"); a unit that loses its hardening goes above 2.
        if out=$(cd "$WORK/units" && systemd-analyze security --offline=yes --threshold=20 "./$name" 2>&1); then
            pass "systemd-analyze security $name: $(grep -o 'Overall exposure level.*' <<<"$out")"
        else
            fail "systemd-analyze security $name: $(grep -o 'Overall exposure level.*' <<<"$out")"
        fi
    done
else
    skip "systemd-analyze is not installed: the systemd units were not verified"
fi

# ---------------------------------------------------------------------------------------------
echo "== (c) the configuration examples, run"
MCP="$REPO/${1:-target/debug/mcp-auth}"
[[ "${1:-}" == /* ]] && MCP="$1"
if [[ ! -x "$MCP" ]]; then
    skip "$MCP does not exist (cargo build -p mcp-auth --bin mcp-auth): no example was run"
    echo "deploy: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]; exit
fi
command -v redis-server >/dev/null || { fail "redis-server not found: the fleet needs Redis"; echo "deploy: $passed passed, $failed failed"; exit 1; }

# The examples: the marked blocks of docs/deployment.md, and the ConfigMap's files.
python3 - "$WORK" <<'EOF' || { fail "extracting the examples"; }
import re, sys, yaml
work = sys.argv[1]
doc = open("docs/deployment.md").read()
blocks = dict(re.findall(r"<!-- deploy-check: (\S+) -->\n```toml\n(.*?)```", doc, re.S))
assert set(blocks) == {"as.toml", "gateway.toml"}, f"marked blocks: {sorted(blocks)}"
for name, text in blocks.items():
    open(f"{work}/doc-{name}", "w").write(text)
for d in yaml.safe_load_all(open("deploy/kubernetes/00-config.yaml")):
    for name in ("as.toml", "gateway.toml"):
        open(f"{work}/cm-{name}", "w").write(d["data"][name])
EOF

read -r R U A1 A2 A3 A4 M1 M2 M3 M4 G1 G2 G3 G4 N1 N2 N3 N4 <<<"$(free_ports 18)"
REDIS="redis://127.0.0.1:$R/"
start "$WORK/redis.out" "$WORK/redis.err" redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
REDIS_PID=$LAST_PID
for _ in $(seq 50); do redis-cli -p "$R" ping >/dev/null 2>&1 && break; sleep 0.1; done

if psql "$PG_ADMIN" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    PG_DB="mcp_auth_deploy_check_$$"
    psql "$PG_ADMIN" -qAtc "CREATE DATABASE $PG_DB" >/dev/null || { fail "CREATE DATABASE $PG_DB"; PG_DB=""; }
fi
if [[ -n "$PG_DB" ]]; then
    DB_URL="${PG_ADMIN%/*}/$PG_DB"
    AS_PORTS=("$A1" "$A2" "$A3"); AS_METRICS=("$M1" "$M2" "$M3")
else
    skip "PostgreSQL does not answer at $PG_ADMIN: one AS instance on SQLite instead of three on PostgreSQL"
    DB_URL="sqlite://$WORK/data/mcp-auth.db"
    AS_PORTS=("$A1"); AS_METRICS=("$M1")
fi
ISSUER="http://127.0.0.1:$A1"   # no load balancer here: the fleet's one issuer URL is as-1's
RESOURCE="https://mcp.example.com/mcp"
CALL_RESOURCE="http://127.0.0.1:$G1/mcp"   # gw-1 answers at its own URL, for `mcp-auth call`
export MCP_AUTH_DATABASE_URL="$DB_URL" MCP_AUTH_REPLAY_CACHE="$REDIS" MCP_AUTH_DATA_DIR="$WORK/data"
export MCP_AUTH_ISSUER="$ISSUER" MCP_AUTH_LOG=warn
# The drain on SIGTERM, shortened from the files' 5 s (the environment wins over the file,
# as the document says): the servers are stopped below and at the end.
export MCP_AUTH_DRAIN_DELAY=2

# The administration step of the document: a client, added from outside any server.
secret=$("$MCP" as client add --id deploy-check --scope mcp:read --scope mcp:write --json \
    --config "$WORK/doc-as.toml" 2>"$WORK/client-add.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
check "mcp-auth as client add with the example as.toml" test -n "$secret"

# start_as PORT METRICS CONFIG: one AS instance, the environment naming its addresses.
start_as() {
    MCP_AUTH_LISTEN="127.0.0.1:$1" MCP_AUTH_METRICS_LISTEN="127.0.0.1:$2" \
        start "$WORK/as-$1.out" "$WORK/as-$1.err" "$MCP" as --config "$3" \
        --resource "$CALL_RESOURCE mcp:read mcp:write"
}
# As the document says: the first instance alone (it creates the signing key), then the others.
AS_PIDS=()
for i in "${!AS_PORTS[@]}"; do
    start_as "${AS_PORTS[$i]}" "${AS_METRICS[$i]}" "$WORK/doc-as.toml"; AS_PIDS+=("$LAST_PID")
    [[ $i == 0 ]] && { wait_http "http://127.0.0.1:$A1/healthz" ok "$LAST_PID" "$WORK/as-$A1.err" || true; }
done
for i in "${!AS_PORTS[@]}"; do
    p=${AS_PORTS[$i]}
    if wait_http "http://127.0.0.1:$p/healthz" ok "${AS_PIDS[$i]}" "$WORK/as-$p.err"; then
        pass "as-$((i + 1)) (docs as.toml, $DB_URL) answers /healthz 200"
    else fail "as-$((i + 1)) did not become healthy"; fi
done

code=$(curl -s -o "$WORK/as-readyz.json" -w '%{http_code}' "http://127.0.0.1:$A1/readyz")
check "as-1 /readyz $code $(cat "$WORK/as-readyz.json")" \
    answered "$code" "$WORK/as-readyz.json" 200 '{"status":"ready","database":"ok","replay_cache":"ok"}'

jwks() { curl -s "http://127.0.0.1:$1/jwks" | python3 -c 'import json,sys; print(" ".join(sorted(k["kid"] for k in json.load(sys.stdin)["keys"])))' 2>/dev/null; }
kids1=$(jwks "$A1")
same=1; for p in "${AS_PORTS[@]}"; do [[ "$(jwks "$p")" == "$kids1" ]] || same=0; done
check "every AS instance publishes the same JWKS ($kids1)" test -n "$kids1" -a "$same" = 1

# A token from the last instance, introspected at the first: one database, one key.
last=${AS_PORTS[-1]}
token=$(curl -s -u "deploy-check:$secret" -d grant_type=client_credentials -d scope=mcp:read \
    --data-urlencode "resource=$RESOURCE" "http://127.0.0.1:$last/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null)
active=$(curl -s -u "deploy-check:$secret" --data-urlencode "token=$token" "http://127.0.0.1:$A1/introspect" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("active"))' 2>/dev/null)
check "a token issued by as-${#AS_PORTS[@]} is active at as-1's introspection" test "$active" = True

# The upstream and three gateways, each on the example gateway.toml, with the flags the
# Kubernetes Deployment uses (--flag=value) for the addresses and Redis.
start "$WORK/upstream.out" "$WORK/upstream.err" "$MCP" demo-server --listen "127.0.0.1:$U"
wait_http "http://127.0.0.1:$U/healthz" any "$LAST_PID" "$WORK/upstream.err" >/dev/null 2>&1 || true
# start_gateway PORT METRICS CONFIG [FLAGS...]
start_gateway() {
    local port=$1 metrics=$2 config=$3; shift 3
    start "$WORK/gw-$port.out" "$WORK/gw-$port.err" "$MCP" gateway --config="$config" \
        --listen="127.0.0.1:$port" --metrics-listen="127.0.0.1:$metrics" \
        --upstream="http://127.0.0.1:$U/mcp" --issuer="$ISSUER" --replay-cache="$REDIS" "$@"
}
start_gateway "$G1" "$N1" "$WORK/doc-gateway.toml" --resource="$CALL_RESOURCE"; GW1=$LAST_PID
start_gateway "$G2" "$N2" "$WORK/doc-gateway.toml"; GW2=$LAST_PID
start_gateway "$G3" "$N3" "$WORK/doc-gateway.toml"; GW3=$LAST_PID
i=0
for pair in "$G1:$GW1" "$G2:$GW2" "$G3:$GW3"; do
    i=$((i + 1)); p=${pair%:*}; pid=${pair#*:}
    if wait_http "http://127.0.0.1:$p/readyz" ok "$pid" "$WORK/gw-$p.err"; then
        body=$(curl -s "http://127.0.0.1:$p/readyz")
        check "gw-$i (docs gateway.toml, Redis) /readyz 200 $body" \
            same_json "$body" '{"status":"ready","upstream":"ok","replay_cache":"ok","session_store":"ok"}'
    else fail "gw-$i did not become ready"; fi
done

# An unauthenticated request to gw-2: 401, the metadata of the configured resource.
hdrs=$(curl -s -o /dev/null -D - -X POST -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "http://127.0.0.1:$G2/mcp")
check "gw-2 answers an unauthenticated POST 401 naming the metadata of $RESOURCE" \
    grep -qi '^www-authenticate:.*resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"' <<<"$hdrs"
grep -q '^HTTP/1.1 401' <<<"$hdrs" || fail "gw-2's status was not 401: $(head -1 <<<"$hdrs")"

# A call through gw-1 with an HTTPSig-bound token, every request signed: the signature
# nonces go to Redis at the AS (token request) and at the gateway. Retried for up to 15 s:
# a Redis that has just started remembers nothing from before, so a proof that could have
# been made before its memory began (up to the future skew, 5 s for signatures) is refused.
# DPoP proofs have a 60 s skew by default; the interop suites cover DPoP through the gateway.
t0=$SECONDS
while :; do
    out=$(MCP_AUTH_CLIENT_SECRET="$secret" "$MCP" call "$CALL_RESOURCE" tools/call echo --arg text=deploy-check \
        --client-id deploy-check --httpsig --issuer "$ISSUER" --token-cache "$WORK/tokens.json" 2>"$WORK/call.err")
    grep -q deploy-check <<<"$out" && break
    [[ $((SECONDS - t0)) -ge 15 ]] && break
    sleep 1
done
if grep -q deploy-check <<<"$out"; then pass "an HTTPSig-bound tools/call through gw-1 reaches the upstream (after $((SECONDS - t0)) s)"
else fail "mcp-auth call --httpsig through gw-1: $(tail -3 "$WORK/call.err")"; fi

# The metric names the document lists for alerts exist once used.
metrics_gw=$(curl -s "http://127.0.0.1:$N1/metrics")
check "gw-1 metrics: mcp_auth_requests_total{profile=\"httpsig\",outcome=\"accepted\"}" \
    grep -qE '^mcp_auth_requests_total\{(outcome="accepted",profile="httpsig"|profile="httpsig",outcome="accepted")\}' <<<"$metrics_gw"
check "gw-1 metrics: mcp_auth_upstream_seconds and mcp_auth_verification_seconds" \
    bash -c 'grep -q "^mcp_auth_upstream_seconds" <<<"$1" && grep -q "^mcp_auth_verification_seconds" <<<"$1"' _ "$metrics_gw"
metrics_as=""; for m in "${AS_METRICS[@]}"; do metrics_as+=$(curl -s "http://127.0.0.1:$m/metrics"); metrics_as+=$'\n'; done
check "AS metrics: mcp_auth_tokens_issued_total{grant=\"client_credentials\"} and mcp_auth_http_requests_total" \
    bash -c 'grep -q "^mcp_auth_tokens_issued_total{grant=\"client_credentials\"}" <<<"$1" && grep -q "^mcp_auth_http_requests_total" <<<"$1"' _ "$metrics_as"

# The ConfigMap's files: a fourth AS and a fourth gateway on the same database and Redis.
if [[ -n "$PG_DB" ]]; then
    start_as "$A4" "$M4" "$WORK/cm-as.toml"; AS4=$LAST_PID
    if wait_http "http://127.0.0.1:$A4/healthz" ok "$AS4" "$WORK/as-$A4.err"; then
        check "an AS on the ConfigMap's as.toml joins the fleet (same JWKS)" test "$(jwks "$A4")" = "$kids1"
    else fail "an AS on the ConfigMap's as.toml did not become healthy"; fi
else
    skip "the ConfigMap's as.toml was not run (no PostgreSQL)"
fi
start_gateway "$G4" "$N4" "$WORK/cm-gateway.toml"; GW4=$LAST_PID
check "a gateway on the ConfigMap's gateway.toml becomes ready" \
    wait_http "http://127.0.0.1:$G4/readyz" ok "$GW4" "$WORK/gw-$G4.err"

# rotate-keys, run once from outside: every instance publishes the new key within 10 s.
rotated=$("$MCP" as rotate-keys --config "$WORK/doc-as.toml" 2>"$WORK/rotate.err")
kid=$(sed -nE 's/^new signing key ([^ ]+) .*/\1/p' <<<"$rotated" | head -1)
t0=$SECONDS; everywhere=0
while [[ -n "$kid" && $((SECONDS - t0)) -le 15 ]]; do
    everywhere=1
    for p in "${AS_PORTS[@]}"; do grep -qw -- "$kid" <<<"$(jwks "$p")" || everywhere=0; done
    [[ $everywhere == 1 ]] && break
    sleep 0.5
done
check "after rotate-keys every instance publishes the new key $kid (in $((SECONDS - t0)) s, at most 10 expected)" \
    test "$everywhere" = 1 -a $((SECONDS - t0)) -le 11

# SIGTERM during a streamed answer: gw-1 drains. /readyz answers 503 draining at once, new
# requests are still served for the drain delay (2 s here), then the port refuses; the `slow`
# tool's answer (3 s: 6 steps of 500 ms) still arrives, and gw-1 exits 0 after both.
(MCP_AUTH_CLIENT_SECRET="$secret" "$MCP" call "$CALL_RESOURCE" tools/call slow --arg steps=6 --arg delay_ms=500 \
    --json --client-id deploy-check --httpsig --issuer "$ISSUER" --token-cache "$WORK/tokens.json" \
    >"$WORK/slow.out" 2>"$WORK/slow.err"; echo "exit $?" >>"$WORK/slow.out") &
SLOW=$!
sleep 1.2
kill -TERM "$GW1"; t0=$(date +%s%N)
sleep 0.2
code=$(curl -s -o "$WORK/drain.json" -w '%{http_code}' "http://127.0.0.1:$G1/readyz")
check "SIGTERM: gw-1 /readyz at once $code $(cat "$WORK/drain.json")" \
    answered "$code" "$WORK/drain.json" 503 '{"status":"draining"}'
check "SIGTERM: gw-1 still serves during the drain delay (/healthz 200)" http_answers "http://127.0.0.1:$G1/healthz" ok
sleep 2.2
check "SIGTERM: gw-1 refuses new connections after the drain delay" refused "http://127.0.0.1:$G1/healthz"
wait "$SLOW"
st=timeout
for _ in $(seq 100); do kill -0 "$GW1" 2>/dev/null || { wait "$GW1"; st=$?; break; }; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "SIGTERM: the tools/call in flight through gw-1 got its answer" \
    bash -c 'grep -q "done after 6 steps" "$1" && grep -q "^exit 0" "$1"' _ "$WORK/slow.out"
check "SIGTERM: gw-1 exited with status $st, $ms ms after the signal (after the drain delay: 2000 ms or more)" \
    test "$st" = 0 -a "$ms" -ge 2000

# Redis down: /readyz of the gateways and of the AS says which; /healthz still 200.
stop_pid "$REDIS_PID"
t0=$(date +%s%N)
code=$(curl -s -o "$WORK/readyz.json" -w '%{http_code}' "http://127.0.0.1:$G2/readyz")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
readyz_down=0
[[ $code == 503 && $ms -lt 3500 ]] && same_json "$(cat "$WORK/readyz.json")" \
    '{"status":"unavailable","upstream":"ok","replay_cache":"unavailable","session_store":"unavailable"}' && readyz_down=1
check "Redis down: gw-2 /readyz $code in $ms ms: $(cat "$WORK/readyz.json")" test "$readyz_down" = 1
check "Redis down: gw-2 /healthz still 200" http_answers "http://127.0.0.1:$G2/healthz" ok
check "Redis down: as-1 /healthz still 200 (it checks the database only)" http_answers "http://127.0.0.1:$A1/healthz" ok
code=$(curl -s -o "$WORK/as-readyz.json" -w '%{http_code}' "http://127.0.0.1:$A1/readyz")
check "Redis down: as-1 /readyz $code $(cat "$WORK/as-readyz.json")" \
    answered "$code" "$WORK/as-readyz.json" 503 '{"status":"unavailable","database":"ok","replay_cache":"unavailable"}'

# Redis down at start: neither process starts (status 2), so the supervisor retries it.
MCP_AUTH_LISTEN="127.0.0.1:$A4" timeout 20 "$MCP" as --config "$WORK/doc-as.toml" >/dev/null 2>"$WORK/as-nostart.err"
st=$?
check "Redis down: an AS does not start (exit status $st, 2 expected)" test "$st" = 2
timeout 20 "$MCP" gateway --config="$WORK/doc-gateway.toml" --listen="127.0.0.1:$G4" --upstream="http://127.0.0.1:$U/mcp" \
    --issuer="$ISSUER" --replay-cache="$REDIS" >/dev/null 2>"$WORK/gw-nostart.err"
st=$?
check "Redis down: a gateway does not start (exit status $st, 2 expected)" test "$st" = 2

# SIGTERM at an AS: /readyz draining at once, then it exits 0 and its port is closed.
kill -TERM "${AS_PIDS[0]}"; sleep 0.2
code=$(curl -s -o "$WORK/as-drain.json" -w '%{http_code}' "http://127.0.0.1:$A1/readyz")
check "SIGTERM: as-1 /readyz at once $code $(cat "$WORK/as-drain.json")" \
    answered "$code" "$WORK/as-drain.json" 503 '{"status":"draining"}'
st=timeout
for _ in $(seq 100); do kill -0 "${AS_PIDS[0]}" 2>/dev/null || { wait "${AS_PIDS[0]}"; st=$?; break; }; sleep 0.1; done
check "SIGTERM: as-1 exits with status $st (0 expected)" test "$st" = 0
check "after SIGTERM nothing listens on as-1's port" refused "http://127.0.0.1:$A1/healthz"

echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
