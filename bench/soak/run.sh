#!/usr/bin/env bash
# Issue 19's soak: REQUESTS signed HTTPSig tools/call requests spread round-robin over three
# `mcp-auth gateway` processes that share their replay cache in one Redis, with no error and
# each gateway's resident memory growing less than 10% from the warm-up to the end.
#
#   bench/soak/run.sh [REQUESTS=1000000] [BINARY=target/release/mcp-auth]
#
# Starts, on free loopback ports, in a temporary directory, and stops at the end:
#   - a private redis-server (no persistence; never the system's Redis),
#   - `mcp-auth as` on SQLite, with one client `soak` whose tokens are bound to a runtime
#     HTTP message signature key (httpsig_key_binding_method = "runtime"),
#   - `mcp-auth demo-server`, the upstream,
#   - three `mcp-auth gateway --replay-cache redis://...` with --metrics-listen, one public
#     resource identifier for all three (as behind one load balancer),
# then runs the load generator, `mcp-auth bench soak` (--help), which signs every request
# (Ed25519, its own nonce), refreshes the token before it expires, reads each gateway's
# VmRSS after the warm-up and every tenth of the run and the Redis DBSIZE with it, reads
# each gateway's count of accepted requests at the end, and prints the table. Exit code:
# 0 pass; 1 an error, a gateway grew 10% or more, Redis holds more keys than the replay
# window explains, or a process died; 2 the setup failed (logs are kept and named).
#
# Environment: SOAK_CONCURRENCY (24) requests in flight; SOAK_WARMUP (20000) requests
# before the memory baseline (at most a tenth of REQUESTS); SOAK_MAX_GROWTH (10) percent;
# SOAK_JSON=1 prints the summary as one JSON object on stdout (everything else on stderr);
# SOAK_KEEP=1 keeps the temporary directory (logs, data) after a pass too.
set -euo pipefail

REQUESTS=${1:-1000000}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${2:-$ROOT/target/release/mcp-auth}
CONCURRENCY=${SOAK_CONCURRENCY:-24}
WARMUP=${SOAK_WARMUP:-20000}
MAX_GROWTH=${SOAK_MAX_GROWTH:-10}
GATEWAYS=3
RESOURCE=https://mcp.soak.example/mcp
SCOPE=mcp:read
CLIENT=soak

# With SOAK_JSON, stdout carries the JSON summary only.
if [[ -n ${SOAK_JSON:-} ]]; then exec 3>&2; else exec 3>&1; fi
say() { echo "$@" >&3; }
die() { echo "run.sh: $*" >&2; exit 2; }

[[ $REQUESTS =~ ^[0-9]+$ ]] && ((REQUESTS >= GATEWAYS)) || die "REQUESTS is a number, at least $GATEWAYS"
[[ -x $BIN ]] || die "no $BIN: run 'cargo build --release -p mcp-auth' first, or name a binary"
for tool in redis-server redis-cli curl openssl; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done

WORK=$(mktemp -d /tmp/mcp-auth-soak.XXXXXX)
PIDS=()
NAMES=()

GENERATOR=

cleanup() {
  local rc=$?
  local pid
  if [[ -n $GENERATOR ]]; then kill "$GENERATOR" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((rc == 0)) && [[ -z ${SOAK_KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    echo "run.sh: logs and data kept in $WORK" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port on 127.0.0.1 that nothing listens on, below the ephemeral range (so no
# outgoing connection takes it meanwhile), not handed out before: into variable $1.
USED=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ $USED == *" $p "* ]] && continue
    if ! (exec 4<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED+="$p "
      printf -v "$1" %s "$p"
      return
    fi
  done
}

# Runs a process in the background, remembered for cleanup: NAME LOG COMMAND...
# mcp-auth servers log warnings only (info is a line per request) and, when stopped,
# do not hold their listeners open for the drain delay: nothing routes to them.
start() {
  local name=$1 log=$2
  shift 2
  MCP_AUTH_LOG=warn MCP_AUTH_DRAIN_DELAY=0 "$@" >"$log.out" 2>"$log" &
  PIDS+=($!)
  NAMES+=("$name")
}

# Waits up to 30 s for URL to answer (with status EXPECT, else any): NAME PID LOG URL [EXPECT].
wait_http() {
  local name=$1 pid=$2 log=$3 url=$4 expect=${5:-} code
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
    if [[ -n $expect && $code == "$expect" ]] || [[ -z $expect && $code != 000 ]]; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$name exited at start (log: $log)"
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  die "$name did not answer $url within 30 s (last status $code)"
}

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then REV="$REV (dirty)"; fi
say "== soak over $GATEWAYS gateways on Redis: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "command:  bench/soak/run.sh $REQUESTS $BIN"
say "mcp-auth: $("$BIN" --version | head -1), git $REV, binary built $(date -u -d "@$(stat -c %Y "$BIN")" +%Y-%m-%dT%H:%M:%SZ)"
say "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
say "redis:    $(redis-server --version)"

# ---- Redis, private --------------------------------------------------------------
free_port REDIS_PORT
start redis "$WORK/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
  --save '' --appendonly no --dir "$WORK"
REDIS_PID=${PIDS[-1]}
for _ in $(seq 1 100); do
  [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break
  kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at start (log: $WORK/redis.log.out)"
  sleep 0.1
done
[[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] || die "redis-server did not answer PING"
REDIS=redis://127.0.0.1:$REDIS_PORT/

# ---- the authorization server, on SQLite -----------------------------------------
free_port AS_PORT
ISSUER=http://127.0.0.1:$AS_PORT
SECRET=$(openssl rand -hex 32)
DIGEST=$(printf %s "$SECRET" | openssl dgst -sha256 -binary | base64)
cat >"$WORK/as.toml" <<TOML
[[clients]]
client_id = "$CLIENT"
client_name = "Soak load generator (HTTP message signatures)"
client_secret_sha256 = "$DIGEST"
grant_types = ["client_credentials"]
scopes = ["$SCOPE"]
httpsig_key_binding_method = "runtime"
TOML
start as "$WORK/as.log" "$BIN" as --config "$WORK/as.toml" \
  --data-dir "$WORK/as-data" --listen "127.0.0.1:$AS_PORT" --issuer "$ISSUER" \
  --resource "$RESOURCE $SCOPE"
wait_http "the authorization server" "${PIDS[-1]}" "$WORK/as.log" \
  "$ISSUER/.well-known/oauth-authorization-server" 200

# ---- the upstream: the demo MCP server -------------------------------------------
free_port DEMO_PORT
UPSTREAM=http://127.0.0.1:$DEMO_PORT/mcp
start demo-server "$WORK/demo.log" "$BIN" demo-server --listen "127.0.0.1:$DEMO_PORT"
wait_http "the demo server" "${PIDS[-1]}" "$WORK/demo.log" "$UPSTREAM"

# ---- three gateways on one Redis ---------------------------------------------------
GATEWAY_ARGS=()
GW_PIDS=()
for i in $(seq 1 "$GATEWAYS"); do
  free_port PORT
  free_port METRICS_PORT
  start "gateway $i" "$WORK/gateway-$i.log" "$BIN" gateway \
    --upstream "$UPSTREAM" --resource "$RESOURCE" --issuer "$ISSUER" \
    --listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" --replay-cache "$REDIS"
  GW_PIDS+=("${PIDS[-1]}")
  GATEWAY_ARGS+=(--gateway "http://127.0.0.1:$PORT/mcp" --pid "${PIDS[-1]}"
    --metrics "http://127.0.0.1:$METRICS_PORT/metrics")
  READY[i]=http://127.0.0.1:$PORT/readyz
done
for i in $(seq 1 "$GATEWAYS"); do
  wait_http "gateway $i" "${GW_PIDS[i - 1]}" "$WORK/gateway-$i.log" "${READY[i]}" 200
done
# A Redis that has just started cannot know which nonces were used before it: the
# replay cache refuses every proof that could have been made before its start, i.e.
# created within the 5 s of future skew after it (mcp_auth_core::replay, "memory
# since"). Real clients meet this after a Redis restart; the soak starts after it.
for _ in $(seq 1 100); do
  UPTIME=$(redis-cli -p "$REDIS_PORT" info server | tr -d '\r' | sed -n 's/^uptime_in_seconds://p')
  ((UPTIME >= 7)) && break
  sleep 0.2
done
say "started:  redis $REDIS, as $ISSUER, upstream $UPSTREAM, gateways for $RESOURCE:"
say "          $(printf '%s ' "${GATEWAY_ARGS[@]}")"
say "load:     $REQUESTS requests, $CONCURRENCY in flight, memory baseline after $WARMUP (at most a tenth)"
say

# ---- the load ----------------------------------------------------------------------
JSON=()
[[ -n ${SOAK_JSON:-} ]] && JSON=(--json)
# In the background and waited for, so that a signal to this script stops it too.
MCP_AUTH_CLIENT_SECRET=$SECRET MCP_AUTH_LOG=warn "$BIN" bench soak "${GATEWAY_ARGS[@]}" \
  --resource "$RESOURCE" --issuer "$ISSUER" --client-id "$CLIENT" --scope "$SCOPE" \
  --requests "$REQUESTS" --warmup "$WARMUP" --concurrency "$CONCURRENCY" \
  --max-growth "$MAX_GROWTH" --redis "$REDIS" "${JSON[@]}" &
GENERATOR=$!
RC=0
wait "$GENERATOR" || RC=$?
GENERATOR=

# Every process must have lived through it.
for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
    echo "run.sh: ${NAMES[i]} (pid ${PIDS[i]}) exited during the run" >&2
    ((RC == 0)) && RC=1
  fi
done
exit "$RC"
