"""Appendix B (`VEC.*`), checked offline against the document's own rules."""

import json
import os
import re
import urllib.parse

import jwt

from .common import JWT_BEARER
from .report import check
from .token_endpoint import RFC9068_CLAIMS


# =========================================================================== Appendix B

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "profiles",
                   "workload-identity-federation.md")


def check_vectors():
    """Appendix B against the document's own rules, offline: signatures verify with the given
    keys (PyJWT), the shown header and claims are the assertion's, the token requests carry it
    with §7.1's parameters, and the access tokens follow §7.4/§7.6 with Appendix A's rules."""
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"<!-- BEGIN GENERATED: wif-vectors.*?-->(.*)<!-- END GENERATED: wif-vectors -->", text, re.S)
    if not m or "### B." not in m.group(1):
        check("VEC.appendix-b-present", False, "no generated vectors between the markers")
        return
    sections = {}
    chunks = re.split(r"^### (B\.\d)[^\n]*$", m.group(1), flags=re.M)
    for i in range(1, len(chunks), 2):
        sections[chunks[i]] = chunks[i + 1]
    blocks = lambda sec: re.findall(r"```(\w*)\n(.*?)\n```", sections.get(sec, ""), re.S)
    b1 = blocks("B.1")
    jwks, bundle = json.loads(b1[0][1]), json.loads(b1[1][1])
    as_issuer, resource = "https://as.example.com", "https://mcp.example.com/mcp"
    # (preset, key set, principal of the matching Appendix A rule, its ttl, rule check)
    presets = [
        ("B.2", jwks, "k8s-prod:mcp-agents/planner", 600,
         lambda c: c["sub"] == "system:serviceaccount:mcp-agents:planner"
         and c["kubernetes.io"]["namespace"] == "mcp-agents"
         and c["kubernetes.io"]["serviceaccount"]["uid"] == "3c1f2b7a-9d4e-4f7a-8b2c-5e6f7a8b9c0d"),
        ("B.3", jwks, "github:acme/deploy-tools@main", 300,
         lambda c: c["repository_owner_id"] == "1234567" and c["repository_id"] == "89012345"
         and c["sub"] == "repo:acme/deploy-tools:ref:refs/heads/main"),
        ("B.4", bundle, "spiffe://prod.example/ns/mcp-agents/sa/indexer", 300,
         lambda c: c["sub"] == "spiffe://prod.example/ns/mcp-agents/sa/indexer"),
    ]
    for sec, keyset, principal, ttl, rule in presets:
        bl = blocks(sec)
        try:
            hdr, claims, assertion = json.loads(bl[0][1]), json.loads(bl[1][1]), bl[2][1].strip()
            req, resp = bl[3][1], json.loads(bl[4][1])
            at_hdr, at = json.loads(bl[5][1]), json.loads(bl[6][1])
        except (IndexError, ValueError) as e:
            check(f"VEC.{sec}.parsed", False, repr(e))
            continue
        problems = []
        jwk = next((k for k in keyset["keys"] if k.get("kid") == hdr.get("kid")), None)
        try:
            key = jwt.PyJWK(jwk, algorithm=hdr["alg"]).key
            got = jwt.decode(assertion, key, algorithms=[hdr["alg"]],
                             options={"verify_exp": False, "verify_aud": False, "verify_nbf": False,
                                      "verify_iat": False})
            if got != claims:
                problems.append("the shown claims are not the assertion's")
            if jwt.get_unverified_header(assertion) != hdr:
                problems.append(f"the shown header is not the assertion's: {jwt.get_unverified_header(assertion)}")
        except Exception as e:
            problems.append(f"the assertion does not verify with the B.1 key: {e!r}")
        check(f"VEC.{sec}.assertion-verifies-with-B.1-keys", not problems, "; ".join(problems))
        problems = []
        t = claims.get("iat", 1767225600)
        aud = claims.get("aud")
        if not (aud == as_issuer or aud == [as_issuer]):
            problems.append(f"aud {aud}")
        if claims["exp"] - t > 3660 or claims["exp"] < 1767225600 - 60:
            problems.append("lifetime or exp outside §7.2 at the vectors' clock")
        try:
            if not rule(claims):
                problems.append("the Appendix A rule does not match")
        except KeyError as e:
            problems.append(f"the Appendix A rule reads a missing claim {e}")
        check(f"VEC.{sec}.assertion-valid-and-matches-appendix-a-rule", not problems, "; ".join(problems))
        head, _, body = req.partition("\n\n")
        form = urllib.parse.parse_qsl(body.strip(), keep_blank_values=True)
        fd = dict(form)
        problems = []
        if sorted(k for k, _ in form) != ["assertion", "grant_type", "resource", "scope"]:
            problems.append(f"parameters {sorted(k for k, _ in form)}")
        if fd.get("grant_type") != JWT_BEARER or fd.get("assertion") != assertion or fd.get("resource") != resource:
            problems.append("grant_type, assertion or resource differ")
        if re.search(r"^authorization:", head, re.I | re.M):
            problems.append("an Authorization header")
        check(f"VEC.{sec}.token-request-is-section-7.1", not problems, "; ".join(problems))
        problems = []
        exp = min(1767225600 + ttl, claims["exp"] + 60)
        want = {"aud": resource, "client_id": principal, "sub": principal, "iss": as_issuer,
                "exp": exp, "iat": 1767225600, "scope": fd.get("scope")}
        for k, v in want.items():
            if at.get(k) != v:
                problems.append(f"{k} {at.get(k)!r}, expected {v!r} (§7.4, §7.6)")
        if set(at) - RFC9068_CLAIMS - {"jti"}:
            problems.append(f"extra claims {set(at) - RFC9068_CLAIMS}")
        if at_hdr.get("typ") != "at+jwt":
            problems.append(f"typ {at_hdr.get('typ')}")
        if resp.get("expires_in") != exp - 1767225600 or resp.get("token_type") != "Bearer" or "refresh_token" in resp:
            problems.append(f"response {resp}")
        check(f"VEC.{sec}.access-token-follows-7.4-and-7.6", not problems, "; ".join(problems))
    # B.5: every row's error is the one §10.1 gives for its step.
    allowed = {"1": {"invalid_request", "invalid_target", "unsupported_grant_type"}, "2": {"invalid_grant"},
               "3": {"invalid_request"}, "4": {"invalid_signature", "invalid_dpop_proof", "use_dpop_nonce",
                                              "invalid_request"},
               "5": {"invalid_grant"}, "6": {"invalid_grant"}, "7": {"invalid_grant"}, "8": {"invalid_grant"},
               "9": {"invalid_grant"}, "10": {"unauthorized_client"}, "11": {"invalid_target"},
               "12": {"invalid_scope"}}
    rows = re.findall(r"^\| (\d+): ([^|]*)\| (\d+) \| `([a-z_]+)` \| ([^|]*)\|$", sections.get("B.5", ""), re.M)
    bad = [f"step {s_}: {what.strip()} -> {err}" for s_, what, st, err, d in rows
           if err not in allowed.get(s_, set()) or st != "400"]
    check("VEC.B.5.refusals-match-section-10.1", rows and not bad, f"{len(rows)} rows; {bad}")
    same = {d.strip() for s_, what, st, err, d in rows if s_ in ("6", "7", "8")}
    check("VEC.B.5.steps-6-to-8-one-description", len(same) == 1, f"{same}")
    leaks = [d.strip() for *_, d in rows if any(v in d for v in ("system:serviceaccount", "oidc.cluster.example.com",
                                                                  "1a6e0c52", "test-key", "planner"))]
    check("VEC.B.5.descriptions-carry-no-claim-values", not leaks, f"{leaks}")
