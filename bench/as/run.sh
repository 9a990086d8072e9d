#!/usr/bin/env bash
# client_credentials tokens per second: mcp-auth on SQLite, mcp-auth on PostgreSQL, and
# npm oidc-provider (JWT access tokens, EdDSA), one after the other on this machine, with
# the same load generator, request and settings.
#
#   bench/as/run.sh [SECONDS=10] [CONNECTIONS=32]
#
# Needs (builds nothing):
#   cargo build --release -p mcp-auth        # target/release/mcp-auth
#   npm ci --prefix bench/as                 # oidc-provider + autocannon, pinned
#   PostgreSQL on 127.0.0.1:5432, user postgres, trust auth (skipped, loudly, if absent)
#
# Each server is started fresh for each run (new data dir / new database, one client),
# one token is checked to be an RFC 9068 JWT (typ at+jwt, alg EdDSA, the right aud and
# scope), then autocannon warms up for 2 s and measures SECONDS with CONNECTIONS
# connections, every request the same: POST /token, Basic client authentication,
# grant_type=client_credentials&resource=http://127.0.0.1:3000/mcp&scope=mcp:read.
# The order is A B C C B A, so each server runs twice and drift averages out.
# With MCP_AUTH_BASE_BIN=/path/to/an/older/mcp-auth, that build runs too (on SQLite, as
# "sqlite-base"), in the same order, so a change is compared with its baseline in one
# run; BENCH_SERVERS="sqlite sqlite-base" limits the run to the servers named.
# With BENCH_DPOP=es256 (or eddsa), every request also carries a fresh RFC 9449 DPoP proof
# by one key of that type (made by the load generator); each server's first token is then
# checked to be DPoP-bound (token_type DPoP, cnf.jkt).
# mcp-auth runs with MCP_AUTH_LOG=warn (it logs one info line per token otherwise);
# oidc-provider logs nothing per request. A run with any non-2xx response or socket
# error is reported as invalid and left out of the means. It also reports the CPU time
# the server (and PostgreSQL) and the load generator used per token.
set -euo pipefail
# The AS is stopped with SIGTERM after each run: no drain delay (the default 5 s is for load balancers).
export MCP_AUTH_DRAIN_DELAY=${MCP_AUTH_DRAIN_DELAY:-0}

SECS=${1:-10}
CONNS=${2:-32}
WARMUP=2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${MCP_AUTH_BIN:-$ROOT/target/release/mcp-auth}
BASE_BIN=${MCP_AUTH_BASE_BIN:-}
PG_HOST=127.0.0.1
PG_PORT=5432
RESOURCE=http://127.0.0.1:3000/mcp
SCOPE=mcp:read
BODY='grant_type=client_credentials&resource=http%3A%2F%2F127.0.0.1%3A3000%2Fmcp&scope=mcp%3Aread'
DPOP=${BENCH_DPOP:-}
case $DPOP in
  '') LOAD_MODE=() ;;
  es256|eddsa) LOAD_MODE=("dpop-$DPOP") ;;
  *) echo "run.sh: BENCH_DPOP is es256 or eddsa" >&2; exit 2 ;;
esac

die() { echo "run.sh: $*" >&2; exit 1; }
[[ -x $BIN ]] || die "no $BIN: run 'cargo build --release -p mcp-auth' first"
[[ -z $BASE_BIN || -x $BASE_BIN ]] || die "MCP_AUTH_BASE_BIN=$BASE_BIN is not an executable"
[[ -d $HERE/node_modules/oidc-provider && -d $HERE/node_modules/autocannon ]] \
  || die "no bench/as/node_modules: run 'npm ci --prefix bench/as' first"
command -v node >/dev/null || die "node is needed"
command -v curl >/dev/null || die "curl is needed"

WORK=$(mktemp -d /tmp/mcp-auth-as-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
SERVER_PID=
PG_DBS=()

cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  for db in "${PG_DBS[@]}"; do
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qAt -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PostgreSQL present? ----------------------------------------------------------
HAVE_PG=0
if command -v psql >/dev/null \
  && psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qAt -c 'SELECT 1' >/dev/null 2>&1; then
  HAVE_PG=1
else
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! PostgreSQL does not answer on $PG_HOST:$PG_PORT (user postgres):"
  echo "!!! the mcp-auth (PostgreSQL) runs are SKIPPED."
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo
fi

# ---- versions ---------------------------------------------------------------------
pkgver() { node -p "require('$HERE/node_modules/$1/package.json').version"; }
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then REV="$REV (dirty)"; fi
echo "== client_credentials benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "command:       bench/as/run.sh $SECS $CONNS"
echo "nproc:         $(nproc)"
echo "cpu:           $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "node:          $(node --version)"
echo "oidc-provider: $(pkgver oidc-provider)"
echo "autocannon:    $(pkgver autocannon)"
BIN_TIME=$(stat -c %Y "$BIN")
HEAD_TIME=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)
echo "mcp-auth:      $("$BIN" --version 2>/dev/null | head -1), git $REV, binary built $(date -u -d "@$BIN_TIME" +%Y-%m-%dT%H:%M:%SZ)"
if ((BIN_TIME < HEAD_TIME)); then
  echo "               WARNING: the binary is older than HEAD's commit ($(date -u -d "@$HEAD_TIME" +%H:%M:%SZ)): rebuild to measure HEAD"
fi
if ((HAVE_PG)); then
  echo "postgresql:    $(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qAt -c 'SHOW server_version')"
fi
echo "load:          ${SECS}s measured after ${WARMUP}s warm-up, $CONNS connections, pipelining 1"
echo "request:       POST /token, Basic auth, $BODY${DPOP:+, a fresh DPoP proof ($DPOP key) each}"
echo "logging:       mcp-auth MCP_AUTH_LOG=warn; oidc-provider none per request"
echo

# ---- servers ----------------------------------------------------------------------
wait_port() { # PORT
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" || true)
    [[ $code != 000 ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Sets SERVER_PID, PORT, CLIENT_ID, CLIENT_SECRET, LOG.
start_mcp_auth() { # sqlite|postgres RUN [BINARY]
  local kind=$1 run=$2 dir=$WORK/data-$1-$2 db_args=() bin=${3:-$BIN}
  PORT=$((4100 + run))
  LOG=$WORK/server-$kind-$run.log
  if [[ $kind == postgres ]]; then
    local db="mcp_auth_bench_$$_$run"
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qAt -c "CREATE DATABASE $db" >/dev/null
    PG_DBS+=("$db")
    db_args=(--database-url "postgres://postgres@$PG_HOST:$PG_PORT/$db")
  fi
  local common=(--data-dir "$dir" "${db_args[@]}" --listen "127.0.0.1:$PORT"
    --issuer "http://127.0.0.1:$PORT" --resource "$RESOURCE $SCOPE")
  local creds
  creds=$(MCP_AUTH_LOG=warn "$bin" as client add --id bench --scope "$SCOPE" --json "${common[@]}" 2>>"$LOG")
  CLIENT_ID=$(node -p "JSON.parse(process.argv[1]).client_id" "$creds")
  CLIENT_SECRET=$(node -p "JSON.parse(process.argv[1]).client_secret" "$creds")
  MCP_AUTH_LOG=warn "$bin" as "${common[@]}" >"$LOG.stdout" 2>>"$LOG" &
  SERVER_PID=$!
}

start_oidc_provider() { # RUN
  PORT=$((4100 + $1))
  LOG=$WORK/server-oidc-$1.log
  CLIENT_ID=bench
  CLIENT_SECRET=$(node -p "require('crypto').randomBytes(32).toString('hex')")
  NODE_ENV=production node "$HERE/oidc-provider.mjs" "$PORT" "$CLIENT_ID" "$CLIENT_SECRET" \
    "$RESOURCE" "$SCOPE" >"$LOG.stdout" 2>"$LOG" &
  SERVER_PID=$!
}

# utime + stime of a process, in clock ticks (its threads included).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The same, summed over this machine's PostgreSQL processes (read only).
pg_ticks() {
  local t=0 p v
  for p in $(pgrep -x postgres || true); do
    v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$((t + v))
  done
  echo "$t"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# One token, checked: 200, a JWT with typ at+jwt and alg EdDSA, aud RESOURCE, scope.
check_token() {
  local out
  out=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d "$BODY" -w '\n%{http_code}' "http://127.0.0.1:$PORT/token")
  node -e '
    const [text, resource, scope, issuer] = process.argv.slice(1);
    const lines = text.split("\n"); const status = lines.pop();
    if (status !== "200") { console.error(`token request: HTTP ${status}: ${lines.join("")}`); process.exit(1); }
    const t = JSON.parse(lines.join("")).access_token;
    const dec = (s) => JSON.parse(Buffer.from(s, "base64url"));
    const [h, p] = t.split(".").slice(0, 2).map(dec);
    const bad = [];
    if (h.typ !== "at+jwt") bad.push(`typ ${h.typ}`);
    if (h.alg !== "EdDSA") bad.push(`alg ${h.alg}`);
    if (p.aud !== resource && !(Array.isArray(p.aud) && p.aud.includes(resource))) bad.push(`aud ${p.aud}`);
    if (p.scope !== scope) bad.push(`scope ${p.scope}`);
    if (p.iss !== issuer) bad.push(`iss ${p.iss}`);
    if (bad.length) { console.error(`token is not the expected JWT: ${bad.join(", ")}`); process.exit(1); }
    console.log(`token ok: ${t.length} chars, header ${JSON.stringify(h)}, claims ${Object.keys(p).sort().join(",")}`);
  ' "$out" "$RESOURCE" "$SCOPE" "http://127.0.0.1:$PORT"
}

# With DPoP: one token request with a proof answers token_type DPoP and a token with cnf.jkt.
check_dpop_token() {
  local out
  out=$(node "$HERE/load.mjs" "http://127.0.0.1:$PORT/token" "$CLIENT_ID" "$CLIENT_SECRET" "$BODY" 1 1 check "${LOAD_MODE[@]}")
  node -e '
    const text = process.argv[1]; const space = text.indexOf(" ");
    const [status, answer] = [text.slice(0, space), JSON.parse(text.slice(space + 1))];
    const claims = answer.access_token ? JSON.parse(Buffer.from(answer.access_token.split(".")[1], "base64url")) : {};
    if (status !== "200" || answer.token_type !== "DPoP" || !claims.cnf?.jkt) {
      console.error(`not a DPoP-bound token: HTTP ${status} ${text.slice(space + 1, space + 300)}`); process.exit(1);
    }
    console.log(`DPoP token ok: token_type ${answer.token_type}, cnf.jkt ${claims.cnf.jkt}`);
  ' "$out"
}

run_one() { # NAME RUN
  local name=$1 run=$2 load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "-- run $run: $name (load average before: $load)"
  case $name in
    sqlite) start_mcp_auth sqlite "$run" ;;
    sqlite-base) start_mcp_auth sqlite "$run" "$BASE_BIN" ;;
    postgres) start_mcp_auth postgres "$run" ;;
    oidc-provider) start_oidc_provider "$run" ;;
  esac
  if ! wait_port "$PORT"; then
    echo "   server did not start; its log:"; sed 's/^/   | /' "$LOG" "$LOG.stdout" | tail -20
    stop_server
    echo "{\"server\":\"$name\",\"run\":$run,\"load\":\"$load\",\"invalid\":\"did not start\"}" >>"$RESULTS"
    return
  fi
  local checked
  if [[ -n $DPOP ]] && ! checked=$(check_dpop_token 2>&1); then
    echo "   $checked"
    stop_server
    echo "{\"server\":\"$name\",\"run\":$run,\"load\":\"$load\",\"invalid\":\"DPoP token check failed\"}" >>"$RESULTS"
    return
  fi
  [[ -n $DPOP ]] && echo "   $checked"
  if checked=$(check_token 2>&1); then
    echo "   $checked"
  else
    echo "   $checked"
    stop_server
    echo "{\"server\":\"$name\",\"run\":$run,\"load\":\"$load\",\"invalid\":\"token check failed\"}" >>"$RESULTS"
    return
  fi
  local log_lines_before url=http://127.0.0.1:$PORT/token
  node "$HERE/load.mjs" "$url" "$CLIENT_ID" "$CLIENT_SECRET" "$BODY" "$CONNS" "$WARMUP" "${LOAD_MODE[@]}" >"$WORK/warmup.json"
  log_lines_before=$(wc -l <"$LOG")
  local res cpu_before cpu_after
  local pg_before=0 pg_after=0
  [[ $name == postgres ]] && pg_before=$(pg_ticks)
  cpu_before=$(cpu_ticks "$SERVER_PID")
  res=$(node "$HERE/load.mjs" "$url" "$CLIENT_ID" "$CLIENT_SECRET" "$BODY" "$CONNS" "$SECS" "${LOAD_MODE[@]}")
  cpu_after=$(cpu_ticks "$SERVER_PID")
  [[ $name == postgres ]] && pg_after=$(pg_ticks)
  local server_log_lines=$(($(wc -l <"$LOG") - log_lines_before))
  local failures='{}'
  if node -e 'const r = JSON.parse(process.argv[1]); process.exit(r.non2xx + r.errors + r.timeouts ? 0 : 1)' "$res"; then
    # Errors: run a short capture pass to see what the failing responses say.
    failures=$(node "$HERE/load.mjs" "$url" "$CLIENT_ID" "$CLIENT_SECRET" "$BODY" "$CONNS" 3 capture "${LOAD_MODE[@]}" \
      | node -p 'JSON.stringify(JSON.parse(require("fs").readFileSync(0)).failures)')
  fi
  stop_server
  node -e '
    const [res, name, run, load, logLines, failures, warm, cpuTicks, clk, pgTicks] = process.argv.slice(1);
    const r = JSON.parse(res);
    const w = JSON.parse(warm);
    const bad = r.non2xx + r.errors + r.timeouts;
    const cpu_s = Number(cpuTicks) / Number(clk);
    const out = { server: name, run: Number(run), load, ...r, warmup_rps: w.rps, warmup_non2xx: w.non2xx,
      server_cpu_s: cpu_s, server_cpu_us_per_req: r.total ? (cpu_s * 1e6) / r.total : null,
      ...(name === "postgres" ? { pg_cpu_us_per_req: r.total ? (Number(pgTicks) / Number(clk) * 1e6) / r.total : null } : {}),
      loadgen_cpu_us_per_req: r.total ? (r.loadgen_cpu_s * 1e6) / r.total : null,
      server_log_lines: Number(logLines), capture: JSON.parse(failures) };
    if (bad) out.invalid = `${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`;
    console.log(JSON.stringify(out));
  ' "$res" "$name" "$run" "$load" "$server_log_lines" "$failures" "$(cat "$WORK/warmup.json")" \
    "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" "$((pg_after - pg_before))" >>"$RESULTS"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").at(-1));
    console.log(`   ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.total} requests, status ${JSON.stringify(r.statusCodes)}, errors ${r.errors}, timeouts ${r.timeouts}, server CPU ${r.server_cpu_s.toFixed(2)} s (${r.server_cpu_us_per_req.toFixed(0)} us/token${r.pg_cpu_us_per_req != null ? `, + PostgreSQL ${r.pg_cpu_us_per_req.toFixed(0)} us/token` : ""}), load generator CPU ${r.loadgen_cpu_s} s`);
  ' "$RESULTS"
  if ((server_log_lines > 0)); then
    echo "   server wrote $server_log_lines log lines at warn or above during the run; first 10:"
    tail -n "$server_log_lines" "$LOG" | head -10 | cut -c1-400 | sed 's/^/   | /'
  fi
  if [[ $failures != '{}' ]]; then
    echo "   failing responses (3 s capture pass after the run):"
    node -e 'for (const [k, n] of Object.entries(JSON.parse(process.argv[1]))) console.log(`   | ${n}x ${k}`)' "$failures"
  fi
}

SERVERS=(sqlite)
[[ -n $BASE_BIN ]] && SERVERS+=(sqlite-base)
((HAVE_PG)) && SERVERS+=(postgres)
SERVERS+=(oidc-provider)
if [[ -n ${BENCH_SERVERS:-} ]]; then
  read -r -a SERVERS <<<"$BENCH_SERVERS"
  for name in "${SERVERS[@]}"; do
    case $name in
      sqlite | postgres | oidc-provider) ;;
      sqlite-base) [[ -n $BASE_BIN ]] || die "sqlite-base needs MCP_AUTH_BASE_BIN" ;;
      *) die "BENCH_SERVERS: unknown server $name (sqlite, sqlite-base, postgres, oidc-provider)" ;;
    esac
  done
fi
ORDER=("${SERVERS[@]}")
for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do ORDER+=("${SERVERS[i]}"); done

run=1
for name in "${ORDER[@]}"; do
  run_one "$name" "$run"
  run=$((run + 1))
  sleep 1
done

# ---- table ------------------------------------------------------------------------
echo
node "$HERE/report.mjs" "$RESULTS" "$HAVE_PG"
