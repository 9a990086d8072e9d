"""Logs and stores (EMA-IDP-15, EMA-AS-22; "implementation tests" in the profile, observable in
the processes' stderr and data directories): no ID token or ID-JAG is logged or stored by either
server, and issuances and refusals are logged with what the profile lists."""

import glob
import json
import os
import time

from .checks_idp import S
from .common import W, body_json, jwt_parts
from .idjag import jag
from .report import check
from .tokens import exchange, redeem


def _read(paths):
    out = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                out[p] = f.read()
        except OSError:
            pass
    return out


def _lines(name):
    try:
        return open(os.path.join(W.workdir, f"{name}.stderr"), errors="replace").read().splitlines()
    except OSError:
        return []


def _logged(name, *needles):
    """The first log line of process `name` that contains every needle."""
    for line in _lines(name):
        if all(n in line for n in needles):
            return line
    return None


def _fields(line):
    try:
        return json.loads(line).get("fields")
    except (TypeError, ValueError):
        return line


def _last(name, needle):
    found = [ln for ln in _lines(name) if needle in ln]
    return found[-1] if found else None


def check_no_tokens_stored():
    for who, procs, data in (("EMA-AS-22", ["as"], "as-data"), ("EMA-IDP-15", ["idp"], "idp-data")):
        files = [os.path.join(W.workdir, f"{p}.{s}") for p in procs for s in ("stderr", "stdout")]
        files += glob.glob(os.path.join(W.workdir, data, "**", "*"), recursive=True)
        blobs = _read([f for f in files if os.path.isfile(f)])
        hits = sorted({os.path.relpath(p, W.workdir) for p, b in blobs.items() for sig in W.seen_jws
                       if sig.encode() in b})
        check(f"{who}.no-id-token-or-id-jag-logged-or-stored", not hits,
              f"{len(W.seen_jws)} signatures looked for; found in {hits}")


def _new_lines(name, action):
    """The log lines process `name` wrote while `action` ran."""
    n0 = len(_lines(name))
    action()
    time.sleep(0.4)
    return _lines(name)[n0:]


def check_as_logs():
    t, c = jag(scope="mcp:read")
    lines = _new_lines("as", lambda: redeem(t))
    ok = any(all(n in ln for n in (c["jti"], c["sub"], "acme-agent", f"test:{c['sub']}", '"test"')) for ln in lines)
    check("EMA-AS-22.issuance-logged", ok,
          f"no log line with the entry id, the ID-JAG's sub, jti and client_id and the principal: "
          f"{[_fields(ln) for ln in lines]}")
    t2, c2 = jag(aud="https://elsewhere.example")
    t3, c3 = jag(scope="mcp:read")
    t4, c4 = jag(scope="mcp:read")
    redeem(t4)
    for step, c_, act in (("9-aud", c2, lambda: redeem(t2)), ("13-scope", c3, lambda: redeem(t3, scope="mcp:write")),
                          ("14-replay", c4, lambda: redeem(t4))):
        lines = [ln for ln in _new_lines("as", act) if "refused" in ln]
        ok = any(all(n in ln for n in (c_["jti"], c_["sub"], "acme-agent", '"test"')) for ln in lines)
        check(f"EMA-AS-22.refusal-at-step-{step}-logged", ok,
              f"the refusal is logged as {[_fields(ln) for ln in lines]}: without the ID-JAG's sub, jti or client_id")


def check_idp_logs():
    a, b = S.get("alice"), S.get("bob")
    if not a or not b:
        return
    r = exchange(a["id_token"], scope="mcp:read")
    jti = (jwt_parts(body_json(r).get("access_token", "x.x.x"))[1] or {}).get("jti", "?")
    exchange(b["id_token"], scope="mcp:write")
    time.sleep(0.5)
    need = [jti, "desktop-agent", a["claims"]["sub"], "mcp-as", W.r1, "mcp:read"]
    line = _logged("idp", *need)
    rule = None
    if line:
        try:
            rule = json.loads(line).get("fields", {}).get("rule")
        except ValueError:
            pass
    check("EMA-IDP-15.issuance-logged", line is not None and rule is not None,
          "no log line with the client, sub, target id, resource, scopes, rule number and jti")
    line = _logged("idp", "refused", "desktop-agent", b["claims"]["sub"], "mcp-as", W.r1, '"rule"')
    check("EMA-IDP-15.refusal-logged", line is not None,
          "the refusal of bob's mcp:write (step 9) is not logged with client, sub, target, resource and rule")
    check("EMA-IDP-15.refusal-logs-the-scopes", line is not None and "mcp:write" in line,
          f"the step-9 refusal's log line does not name the scopes: {_fields(line)}")


STEPS = [check_as_logs, check_no_tokens_stored]
IDP_STEPS = [check_idp_logs]
