"""The client of §7.7 (WIF-C-*): a workload with a platform token file that discovers the AS from
the MCP resource, asks for a jwt-bearer token (Bearer or DPoP-bound) and calls the resource."""

import base64
import hashlib
import json
import re
import time
import urllib.parse

import requests

from .common import JWT_BEARER, b64u


# =========================================================================== the client (§7.7)


class NotUsable(Exception):
    """The client refuses to send anything (WIF-C-1, WIF-C-4)."""


class TokenError(Exception):
    def __init__(self, code, description=None):
        super().__init__(code)
        self.code, self.description = code, description


def well_known(url, suffix):
    """RFC 8414 §3.1 / RFC 9728 §3.1: the well-known segment inserted before the path."""
    u = urllib.parse.urlsplit(url)
    path = u.path.rstrip("/") if u.path != "/" else ""
    return f"{u.scheme}://{u.netloc}/.well-known/{suffix}{path}"


def no_repeated_members(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a member is repeated")
    return dict(pairs)


class WifClient:
    """The client of §7.7: a workload with a platform token file, for MCP resources."""

    def __init__(self, token_file, dpop=None):
        self.token_file = token_file
        self.dpop = dpop              # a DPoPKey: a bound token is asked for (WIF-C-6)
        self.http = requests.Session()
        self.cache = {}               # (resource, scope) -> (response json, expiry)
        self.token_requests = 0
        self.last_error = None

    def discover(self, mcp_url):
        """Item 1: the resource's metadata (from the 401 challenge, else the well-known URL),
        then the AS metadata (RFC 8414, issuer compared exactly)."""
        r = self.http.post(mcp_url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"},
                           headers={"Accept": "application/json, text/event-stream"}, timeout=10)
        prm_url = None
        m = re.search(r'resource_metadata="([^"]+)"', r.headers.get("WWW-Authenticate", ""))
        if r.status_code == 401 and m:
            prm_url = m.group(1)
        prm_url = prm_url or well_known(mcp_url, "oauth-protected-resource")
        prm = self.http.get(prm_url, timeout=10).json()
        if prm.get("resource") != mcp_url:
            raise NotUsable(f"protected resource metadata names {prm.get('resource')!r}")
        issuer = prm["authorization_servers"][0]
        meta = None
        for url in (well_known(issuer, "oauth-authorization-server"), well_known(issuer, "openid-configuration")):
            rr = self.http.get(url, timeout=10)
            if rr.status_code == 200:
                meta = rr.json()
                break
        if meta is None or meta.get("issuer") != issuer:
            raise NotUsable(f"no AS metadata with issuer {issuer!r}")
        return prm["resource"], meta

    def token(self, mcp_url, scope=None):
        resource, meta = self.discover(mcp_url)
        key = (resource, scope)
        hit = self.cache.get(key)
        if hit and hit[1] > time.time() + 5:          # item 6
            return hit[0]
        if JWT_BEARER not in (meta.get("grant_types_supported") or []):   # WIF-C-1
            raise NotUsable("the AS does not list the jwt-bearer grant")
        with open(self.token_file) as f:               # WIF-C-3: read for every request
            assertion = f.read().strip()
        try:                                           # item 3, WIF-C-4
            parts = assertion.split(".")
            if len(parts) != 3:
                raise ValueError("not three parts")
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)),
                                object_pairs_hook=no_repeated_members)
            if not isinstance(claims, dict):
                raise ValueError("claims not an object")
            aud = claims.get("aud")
        except Exception as e:
            raise NotUsable(f"the platform token is not a compact JWS with a claims object: {e}")
        if not (aud == meta["issuer"] or (isinstance(aud, list) and aud == [meta["issuer"]])):
            raise NotUsable(f"the platform token's aud is not the AS issuer")
        form = [("grant_type", JWT_BEARER), ("assertion", assertion), ("resource", resource)]
        if scope:
            form.append(("scope", scope))
        headers = {}
        use_dpop = self.dpop is not None                 # WIF-C-6: asked for, so advertised or nothing
        if use_dpop and "ES256" not in (meta.get("dpop_signing_alg_values_supported") or []):
            raise NotUsable("a DPoP-bound token was asked for, and the AS does not advertise ES256 DPoP")
        if use_dpop:
            headers["DPoP"] = self.dpop.proof("POST", meta["token_endpoint"])
        self.token_requests += 1
        r = self.http.post(meta["token_endpoint"], data=form, headers=headers, timeout=30)   # WIF-C-1
        if r.status_code == 400 and use_dpop and r.json().get("error") == "use_dpop_nonce":
            # RFC 9449 §8: the nonce retry is part of the one DPoP request, not a new grant attempt.
            headers["DPoP"] = self.dpop.proof("POST", meta["token_endpoint"], nonce=r.headers.get("DPoP-Nonce"))
            r = self.http.post(meta["token_endpoint"], data=form, headers=headers, timeout=30)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        if r.status_code != 200:                        # WIF-C-5: report, never retry
            self.last_error = body.get("error", f"http-{r.status_code}")
            raise TokenError(self.last_error, body.get("error_description"))
        self.cache[key] = (body, time.time() + int(body.get("expires_in", 60)))
        return body

    def call(self, mcp_url, method, params=None, name=None, scope=None):
        """One stateless MCP request (protocol 2026-07-28, as `mcp-auth demo-server` serves)."""
        for attempt in range(2):
            tok = self.token(mcp_url, scope)
            at, tt = tok["access_token"], tok.get("token_type", "Bearer")
            p = dict(params or {})
            p["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "wif-profile-interop", "version": "1"}}
            headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                       "Mcp-Method": method}
            if name:
                headers["Mcp-Name"] = name
            if tt.lower() == "dpop":
                headers["Authorization"] = f"DPoP {at}"
                ath = b64u(hashlib.sha256(at.encode()).digest())
                headers["DPoP"] = self.dpop.proof("POST", mcp_url, ath=ath)
            else:
                headers["Authorization"] = f"Bearer {at}"
            r = self.http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": p},
                               headers=headers, timeout=30)
            if r.status_code == 401 and "invalid_token" in r.headers.get("WWW-Authenticate", "") and attempt == 0:
                self.cache.pop((mcp_url, scope), None)   # item 6: a new token after 401 invalid_token
                continue
            return r
        return r


def parse_mcp(r):
    text = r.text
    if "text/event-stream" in r.headers.get("Content-Type", ""):
        data = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")]
        text = data[-1] if data else "{}"
    return json.loads(text)
