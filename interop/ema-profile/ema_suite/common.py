"""Shared state, HTTP helpers and the assertions every check uses.

`W` holds what set-up created (ports, URLs, processes, keys, secrets). HTTP goes through
`requests` with redirects never followed (a token endpoint must not redirect, and the sign-in
driver follows only what it decides to follow).
"""

import base64
import hashlib
import json
import os
import re
import urllib.parse

import requests

from .report import check, log

GT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TT_ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
TT_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TT_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
PROFILE_ID_JAG = "urn:ietf:params:oauth:grant-profile:id-jag"
TYP_ID_JAG = "oauth-id-jag+jwt"

VERBOSE = os.environ.get("INTEROP_VERBOSE") == "1"


class _State:
    """Everything set-up made; filled by setup.py."""

    def __init__(self):
        self.binary = None
        self.workdir = None
        self.procs = {}           # name -> Popen
        self.ports = {}           # name -> int
        self.as_issuer = None     # the MCP AS
        self.idp_issuer = None    # the enterprise IdP
        self.idp_up = False       # the IdP role started (with [[id_jag_targets]])
        self.idp_why = ""         # why not
        self.as_meta = None
        self.idp_meta = None
        self.secrets = {}         # (server, client_id) -> secret
        self.r1 = self.r2 = self.r3 = self.r_unknown = None
        self.test_iss = None      # the jwks_file trust entry's issuer (our own keys)
        self.keys = None          # keys.Keys
        self.descriptions = set()  # every error_description seen
        self.seen_jws = set()     # signatures of every ID token and ID-JAG sent or received
        self.users = {}           # username -> password (at the IdP)
        self.callback = None      # the loopback redirect_uri (never served)
        self.timed_id_tokens = {}  # "expired" / "future": ID tokens from the IdP under libfaketime
        self.timed_why = "the IdP did not start"
        self.idp_pk_why = "the IdP did not start"
        self.pre_rotation = None
        self.rotated_at = None
        self.rotate_why = "the IdP did not start"


W = _State()


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sha256_b64(secret):
    """client_secret_sha256: base64 (standard, padded) of SHA-256 of the secret."""
    return base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def jwt_parts(token):
    """(header, claims) of a compact JWS, decoded without verification; None on any error."""
    try:
        h, c, _ = token.split(".")
        return json.loads(b64u_decode(h)), json.loads(b64u_decode(c))
    except Exception:
        return None, None


def basic(client_id, secret):
    """RFC 6749 §2.3.1: form-urlencode each part, then base64 of `id:secret`."""
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def _remember_jws(token, want_typ=None):
    """Keep the signature of an ID token or ID-JAG that crossed the wire (EMA-IDP-15, EMA-AS-22:
    no server may log or store one)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return
    h, _ = jwt_parts(token)
    sig = token.split(".")[2]
    if not isinstance(h, dict) or len(sig) < 40:
        return
    typ = str(h.get("typ", "")).lower()
    if "id-jag" in typ or (want_typ and typ == want_typ):
        W.seen_jws.add(sig)


def post_form(url, fields, headers=None, timeout=20):
    """POST application/x-www-form-urlencoded; fields is a list of pairs (repeats allowed)."""
    for k, v in fields:
        if k in ("assertion", "subject_token"):
            _remember_jws(v, "jwt")
    h = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    h.update(headers or {})
    body = urllib.parse.urlencode(fields)
    r = requests.post(url, data=body, headers=h, allow_redirects=False, timeout=timeout)
    j = body_json(r)
    _remember_jws(j.get("id_token"), "jwt")
    if j.get("issued_token_type") == TT_ID_JAG:
        _remember_jws(j.get("access_token"))
    if VERBOSE:
        log(f"POST {url} {[k for k, _ in fields]} -> {r.status_code} {r.text[:300]}")
    return r


def get(url, **kw):
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 20)
    return requests.get(url, **kw)


def body_json(r):
    try:
        v = r.json()
        return v if isinstance(v, dict) else {}
    except Exception:
        return {}


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def short(r):
    """A response, for a FAIL line (JWTs shown as <jwt>)."""
    text = _JWT.sub("<jwt>", r.text)
    text = text if len(text) < 300 else text[:300] + "..."
    return f"{r.status_code} {text}"


def no_store(r):
    return "no-store" in r.headers.get("Cache-Control", "").lower()


def expect_error(name, r, status, error, *, challenge=None, forbidden=()):
    """One check: the answer is `status` with `error` (RFC 6749 §5.2), Cache-Control: no-store
    (profile §10), with `challenge` (a scheme) in WWW-Authenticate when given, and an
    error_description that carries none of the `forbidden` strings (tokens, claim values)."""
    j = body_json(r)
    why = []
    if r.status_code != status:
        why.append(f"status {r.status_code}, want {status}")
    if j.get("error") != error:
        why.append(f"error {j.get('error')!r}, want {error!r}")
    if not no_store(r):
        why.append(f"Cache-Control {r.headers.get('Cache-Control')!r}, want no-store")
    if challenge is not None:
        wa = r.headers.get("WWW-Authenticate", "")
        if not wa.lower().startswith(challenge.lower()):
            why.append(f"WWW-Authenticate {wa!r}, want a {challenge} challenge")
    desc = j.get("error_description")
    if isinstance(desc, str):
        W.descriptions.add((j.get("error"), desc))
        for f in forbidden:
            if f and f in desc:
                why.append(f"error_description carries {f[:40]!r}")
    ok = not why
    return check(name, ok, "; ".join(why) + (f" ({short(r)})" if why else ""))


def expect_ok(name, r, *, want=None):
    """One check: 200 with Cache-Control: no-store and a JSON object; `want` is a function of the
    JSON returning a list of problems. Returns the JSON (or None)."""
    j = body_json(r)
    why = []
    if r.status_code != 200:
        why.append(f"status {r.status_code}")
    elif not no_store(r):
        why.append(f"Cache-Control {r.headers.get('Cache-Control')!r}, want no-store")
    if not why and want is not None:
        why.extend(want(j))
    check(name, not why, "; ".join(why) + (f" ({short(r)})" if why else ""))
    return j if r.status_code == 200 else None
