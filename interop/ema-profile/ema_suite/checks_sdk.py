"""The official MCP TypeScript SDK (@modelcontextprotocol/client, CrossAppAccessProvider) against
our IdP, MCP AS and gateway: sdk_client.mjs beside client.py does the exchange and the redemption
with the SDK's own code, then tools/call whoami. The ID token comes from a sign-in here."""

import json
import os
import shutil
import subprocess

from .checks_idp import S
from .common import GT_EXCHANGE, GT_JWT_BEARER, W
from .oidc import sign_in
from .report import check, log

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check_ts_sdk():
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(HERE, "node_modules", "@modelcontextprotocol", "client")):
        check("SDK.ts.not-run", False, "node or node_modules/@modelcontextprotocol/client missing (run.sh installs it)")
        return
    s = S.get("alice-sdk") or sign_in("SDK.ts", "alice", "desktop-agent", quiet=True)
    if not s:
        return
    env = dict(os.environ, EMA_MCP_URL=W.r1, EMA_IDP_ISSUER=W.idp_issuer, EMA_ID_TOKEN=s["id_token"],
               EMA_IDP_CLIENT_ID="desktop-agent", EMA_IDP_CLIENT_SECRET=W.secrets[("idp", "desktop-agent")],
               EMA_AS_CLIENT_ID="acme-agent", EMA_AS_CLIENT_SECRET=W.secrets[("as", "acme-agent")],
               EMA_AS_ISSUER=W.as_issuer)
    p = subprocess.run([node, os.path.join(HERE, "sdk_client.mjs")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=HERE)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception:
        check("SDK.ts.ran", False, f"exit {p.returncode}: {p.stdout[-300:]} {p.stderr[-300:]}")
        return
    with open(os.path.join(W.workdir, "sdk_client.json"), "w") as f:
        json.dump(out, f, indent=1)
    if p.stderr.strip():
        log(f"sdk_client.mjs stderr: {p.stderr.strip()[-500:]}")
    reqs = out.get("requests", [])
    ex = [r for r in reqs if r.get("values", {}).get("grant_type") == GT_EXCHANGE]
    rd = [r for r in reqs if r.get("values", {}).get("grant_type") == GT_JWT_BEARER]
    summary = f"step {out.get('step')}: {out.get('error')}; requests {json.dumps(reqs)[:700]}"
    if ex:
        v = ex[-1]["values"]
        check("SDK.ts.exchange-audience-exact", v.get("audience") == W.as_issuer,
              f"the SDK sent audience {v.get('audience')!r}, the MCP AS issuer is {W.as_issuer!r} (D1: exact)")
        check("SDK.ts.exchange-resource-exact", v.get("resource") == W.r1,
              f"the SDK sent resource {v.get('resource')!r}, the protected resource is {W.r1!r}")
        check("SDK.ts.exchange", ex[-1].get("status") == 200, f"status {ex[-1].get('status')}: {summary}")
    else:
        check("SDK.ts.exchange", False, f"no exchange request: {summary}")
    if rd:
        v = rd[-1]
        check("SDK.ts.redemption-has-resource", "resource" in v["params"],
              f"the SDK's jwt-bearer request has no resource (§7.6: REQUIRED): params {v['params']}")
        check("SDK.ts.redemption", v.get("status") == 200, f"status {v.get('status')}: {summary}")
    else:
        check("SDK.ts.redemption", False, f"no redemption request: {summary}")
    want = f"acme:{s['claims']['sub']}"
    check("SDK.ts.whoami-principal", out.get("ok") and want in (out.get("whoami") or ""),
          f"{summary}" if not out.get("ok") else f"whoami {out.get('whoami')!r}, want {want!r}")


STEPS = [check_ts_sdk]
