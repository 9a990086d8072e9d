"""Checks of keys and fetching: key rotation and unknown-kid refetches (WIF-AS-12, WIF-AS-13),
algorithms (WIF-AS-7), key selection and bundle keys (WIF-AS-12, WIF-AS-10, WIF-AS-6), trust
entry selection (WIF-AS-8), discovery and the fetch guard (WIF-AS-9, WIF-AS-11), outages and the
key-set cache (WIF-AS-13), and the servers that must never be contacted."""

import secrets
import threading
import time

from cryptography.hazmat.primitives.asymmetric import ec

from .common import W, log, now
from .minting import (DEL, SPIFFE_ID, Key, compact, gh, gh_claims, k8s, k8s_claims, mint, svid, svid_claims,
                      wl_claims)
from .report import check
from .token_endpoint import expect_error, expect_token, request


def rotation_begin():
    """WIF-AS-12/13: a new kid is published; its first use; a flood of unknown kids."""
    W.k8s_keys.append(W.k8s_key2)
    W.rot_count0 = W.k8s.count("/openid/v1/jwks")
    W.rot_t0 = time.time()
    r = request(mint(k8s_claims(), W.k8s_key2, "RS256"))
    W.rot_first = r
    W.rot_accepted_at = time.time() if r.status == 200 else None
    for _ in range(20):
        request(mint(k8s_claims(), W.k8s_key1, "RS256", kid="rand-" + secrets.token_hex(6)))
    inc = W.k8s.count("/openid/v1/jwks") - W.rot_count0
    check("WIF-AS-13.unknown-kid-flood-at-most-one-refetch", inc <= 1,
          f"{inc} key-set fetches for one new kid and 20 unknown kids within {time.time() - W.rot_t0:.1f} s")


def rotation_finish():
    # §12.2: "The AS finds a new key within a minute of its first use". Polled every second
    # from 50 s on (2 s of slack for the poll and the request).
    deadline = W.rot_t0 + 62
    r = W.rot_first
    while W.rot_accepted_at is None and time.time() < deadline:
        time.sleep(1 if time.time() - W.rot_t0 > 50 else 5)
        r = request(mint(k8s_claims(), W.k8s_key2, "RS256"))
        if r.status == 200:
            W.rot_accepted_at = time.time()
    check("WIF-AS-12.rotated-kid-accepted-within-a-minute", W.rot_accepted_at is not None,
          f"kid {W.k8s_key2.kid} still refused {time.time() - W.rot_t0:.0f} s after its first use: {r.brief()}")
    if W.rot_accepted_at is not None:
        log(f"client.py: new kid accepted {W.rot_accepted_at - W.rot_t0:.1f} s after its first use; "
            f"k8s key-set fetches at {[round(t - W.rot_t0, 1) for t in W.k8s.times('/openid/v1/jwks')]} s")
    c0 = W.k8s.count("/openid/v1/jwks")
    for _ in range(20):
        request(mint(k8s_claims(), W.k8s_key1, "RS256", kid="rand-" + secrets.token_hex(6)))
    times = W.k8s.times("/openid/v1/jwks")
    inc = len(times) - c0
    check("WIF-AS-13.second-unknown-kid-flood-at-most-one-refetch", inc <= 1, f"{inc} fetches")
    gaps = [round(b - a, 1) for a, b in zip(times[1:], times[2:])]
    check("WIF-AS-13.refetches-at-least-60s-apart", all(g >= 59 for g in gaps),
          f"k8s key-set fetch times (s after the first): {[round(t - times[0], 1) for t in times]}")
    r = request(k8s())
    check("WIF-AS-12.old-kid-still-accepted-after-rotation", r.status == 200, r.brief())


def check_algorithms():
    """WIF-AS-7 and §7.3 step 5."""
    ks = W.ks
    wl = lambda **o: wl_claims(W.ks_iss, **o)
    accepted = [("RS256", ks["noalg"]), ("PS256", ks["noalg"]), ("PS384", ks["noalg"]), ("PS512", ks["noalg"]),
                ("ES256", ks["ec256"]), ("ES384", ks["ec384"]), ("EdDSA", ks["ed"])]
    for alg, key in accepted:
        r = request(mint(wl(), key, alg))
        check(f"WIF-AS-7.{alg}-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-7.alg-none-refused", request(compact(
        {"alg": "none", "kid": ks["noalg"].kid}, wl(), None, alg="none")), 400, "invalid_grant")
    expect_error("WIF-AS-7.HS256-refused", request(compact(
        {"alg": "HS256", "kid": ks["noalg"].kid}, wl(), b"a-shared-secret-of-enough-length!!", alg="HS256")),
        400, "invalid_grant")
    for alg in ("RS384", "RS512"):
        expect_error(f"WIF-AS-7.{alg}-refused", request(mint(wl(), ks["noalg"], alg)), 400, "invalid_grant")
    p521 = Key("EC", kid=ks["ec256"].kid, curve=ec.SECP521R1())
    expect_error("WIF-AS-7.ES512-refused", request(mint(wl(), p521, "ES512")), 400, "invalid_grant")
    expect_error("WIF-AS-7.fully-specified-Ed25519-refused", request(compact(
        {"alg": "Ed25519", "kid": ks["ed"].kid}, wl(), ks["ed"], alg="EdDSA")), 400, "invalid_grant")
    # The entry's allow-list: the GitHub entry allows RS256 only; its key has no `alg`.
    expect_error("WIF-AS-7.alg-outside-entry-list-refused", request(mint(gh_claims(), W.gh_key, "PS256", typ="JWT")),
                 400, "invalid_grant", step678=True)
    # A trust-domain entry never accepts EdDSA, even with an Ed25519 jwt-svid key in its bundle.
    expect_error("WIF-AS-7.spiffe-EdDSA-refused", request(svid(key=W.sp_ed, alg="EdDSA")),
                 400, "invalid_grant", step678=True)
    r = request(svid(key=W.sp_rsa, alg="RS256"))
    expect_token("WIF-AS-7.spiffe-RS256-accepted", r, SPIFFE_ID, W.R1)


def check_keys():
    """WIF-AS-12 (key selection), WIF-AS-10 (bundle keys), WIF-AS-6 (keys never from the header)."""
    ks = W.ks
    wl = lambda **o: wl_claims(W.ks_iss, **o)
    expect_error("WIF-AS-12.unknown-kid-refused", request(mint(wl(), ks["noalg"], "RS256", kid="nope-" + secrets.token_hex(4))),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.key-alg-differs-from-header-refused", request(mint(wl(), ks["rsa_a"], "PS256")),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.P256-key-for-ES384-refused", request(compact(
                 {"alg": "ES384", "kid": ks["ec256_noalg"].kid}, wl(), ks["ec256_noalg"])),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.RSA-kid-for-ES256-refused", request(mint(wl(), ks["ec256"], "ES256", kid=ks["noalg"].kid)),
                 400, "invalid_grant", step678=True)
    r = request(mint(wl(), ks["ops_verify"], "RS256"))
    check("WIF-AS-12.key-ops-verify-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.no-kid-ambiguous-RS256-refused", request(mint(wl(), ks["noalg"], "RS256", kid=None)),
                 400, "invalid_grant", step678=True)
    r = request(mint(wl(), ks["ec384"], "ES384", kid=None))
    check("WIF-AS-12.no-kid-single-ES384-key-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.no-kid-two-P256-keys-refused", request(mint(wl(), ks["ec256"], "ES256", kid=None)),
                 400, "invalid_grant", step678=True)
    r = request(mint(gh_claims(), W.gh_key, "RS256", kid=None, typ="JWT"))
    check("WIF-AS-12.no-kid-single-key-set-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.bad-signature-refused", request(mint(wl(), Key("RSA"), "RS256", kid=ks["noalg"].kid)),
                 400, "invalid_grant", step678=True)
    W.rsa8192_thread.join()
    r = request(mint(wl_claims(W.plain["rsa8192"]), W.rsa8192["key"], "RS256"))
    check("WIF-AS-12.rsa-8192-bit-key-accepted", r.status == 200, r.brief())
    for name, (iss, good, odd) in W.odd.items():
        r = request(mint(wl_claims(iss), good, "RS256"))
        check(f"WIF-AS-12.set-with-{name}-key-still-usable", r.status == 200, r.brief())
        expect_error(f"WIF-AS-12.{name}-key-refused", request(mint(wl_claims(iss), odd, "RS256")),
                     400, "invalid_grant", step678=True)

    # SPIFFE bundle: only jwt-svid keys with a kid.
    expect_error("WIF-AS-10.bundle-key-without-kid-unused", request(svid(key=W.sp_nokid, kid=None)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-x509-svid-key-unused", request(svid(key=W.sp_x509)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-use-sig-key-unused", request(svid(key=W.sp_sig)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-key-without-use-unused", request(svid(key=W.sp_nouse)),
                 400, "invalid_grant", step678=True)
    r = request(svid(kid=None))
    check("WIF-AS-10.no-kid-svid-uses-the-one-jwt-svid-ES256-key", r.status == 200, r.brief())
    c = svid_claims()
    c["iss"] = W.k8s_iss
    r = request(mint(c, W.k8s_key1, "RS256"))
    expect_error("WIF-AS-10.spiffe-sub-signed-by-issuer-key-refused", r, 400, "invalid_grant", step678=True)

    # Keys from the header are never used; jku/x5u never fetched.
    expect_error("WIF-AS-6.jku-not-followed", request(mint(wl(), W.att_key, "RS256",
                 headers={"jku": W.attacker.url("/jwks")})), 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-6.x5u-not-followed", request(mint(wl(), W.att_key, "RS256",
                 headers={"x5u": W.attacker.url("/x5u")})), 400, "invalid_grant", step678=True)
    att_jwk = {k: v for k, v in W.att_ec.jwk().items() if k in ("kty", "crv", "x", "y")}
    expect_error("WIF-AS-6.embedded-jwk-not-used", request(mint(wl(), W.att_ec, "ES256", kid=None,
                 headers={"jwk": att_jwk})), 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-6.crit-refused", request(mint(wl(), ks["noalg"], "RS256",
                 headers={"crit": ["x-ext"], "x-ext": 1})), 400, "invalid_grant")
    expect_error("WIF-AS-6.crit-exp-refused", request(mint(wl(), ks["noalg"], "RS256",
                 headers={"crit": ["exp"], "exp": now() + 60})), 400, "invalid_grant")


def check_selection():
    """WIF-AS-8, §7.3 step 6, D2."""
    c = svid_claims()
    c["iss"] = W.k8s_iss
    r = request(svid(c))
    expect_token("WIF-AS-8.spiffe-sub-selects-trust-domain-whatever-iss", r, SPIFFE_ID, W.R1)
    c = k8s_claims(sub="spiffe://other.example/ns/x/sa/y")
    expect_error("WIF-AS-8.unconfigured-trust-domain-falls-back-to-iss",
                 request(k8s(c)), 400, "unauthorized_client")
    c = wl_claims(W.uncfg.url())
    expect_error("WIF-AS-8.unconfigured-issuer-refused", request(mint(c, W.uncfg_key, "RS256")),
                 400, "invalid_grant", step678=True)
    c = k8s_claims(sub="system:serviceaccount:mcp-agents:planner", iss=DEL)
    expect_error("WIF-AS-8.no-iss-no-spiffe-sub-refused", request(k8s(c)), 400, "invalid_grant", step678=True)
    c = k8s_claims(iss=W.k8s_iss + "/")
    expect_error("WIF-AS-8.iss-trailing-slash-refused", request(k8s(c)), 400, "invalid_grant", step678=True)
    c = k8s_claims(iss=[W.k8s_iss])
    expect_error("WIF-AS-8.iss-not-a-string-refused", request(compact(
        {"alg": "RS256", "kid": W.k8s_key1.kid}, c, W.k8s_key1)), 400, "invalid_grant", step678=True)
    c = svid_claims(sub="spiffe://PROD.example/ns/mcp-agents/sa/indexer")
    expect_error("WIF-AS-8.trust-domain-compared-exactly", request(svid(c)), 400, "invalid_grant", step678=True)


def check_discovery_entries():
    """WIF-AS-9 and WIF-AS-11 (with the tester's server)."""
    key = W.simple_key
    r = request(mint(wl_claims(W.r8414_iss), key, "RS256"))
    expect_token("WIF-AS-9.rfc8414-location-after-oidc-404", r, "rfc8414-principal", W.R1)
    oidc = W.misc.times("/tenant/.well-known/openid-configuration")
    r8414 = W.misc.times("/.well-known/oauth-authorization-server/tenant")
    check("WIF-AS-9.oidc-location-read-first", oidc and r8414 and min(oidc) <= min(r8414),
          f"OIDC location hits {len(oidc)}, RFC 8414 location hits {len(r8414)}")

    # The OIDC location answers 500: a failed fetch (no RFC 8414 fallback), so no key set: 503.
    r = request(mint(wl_claims(W.t500_iss), key, "RS256"))
    expect_error("WIF-AS-9.oidc-500-is-a-failed-fetch", r, 503, "temporarily_unavailable")
    check("WIF-AS-9.no-rfc8414-fallback-on-500", W.misc.count("/.well-known/oauth-authorization-server/t500") == 0,
          f"RFC 8414 location read {W.misc.count('/.well-known/oauth-authorization-server/t500')} times")
    # §6.2: a document whose issuer differs "is not the issuer's": invalid_grant, steps 6–8's text.
    r = request(mint(wl_claims(W.badiss_iss), key, "RS256"))
    expect_error("WIF-AS-9.discovery-issuer-mismatch-refused", r, 400, "invalid_grant", step678=True)
    check("WIF-AS-9.mismatched-document-jwks-uri-never-read", W.misc.count("/badiss/jwks") == 0,
          f"read {W.misc.count('/badiss/jwks')} times")

    # Fetch guard (WIF-AS-11): redirect, size, time. With no key set cached: 503.
    r = request(mint(wl_claims(W.plain["redir"]), key, "RS256"))
    expect_error("WIF-AS-11.redirect-not-followed", r, 503, "temporarily_unavailable")
    check("WIF-AS-11.redirect-target-never-fetched", W.misc.count("/redir/target") == 0,
          f"{W.misc.count('/redir/target')} hits")
    expect_error("WIF-AS-11.key-set-over-64KiB-refused",
                 request(mint(wl_claims(W.plain["big"]), key, "RS256")), 503, "temporarily_unavailable")
    r = request(mint(wl_claims(W.plain["bigok"]), key, "RS256"))
    check("WIF-AS-11.key-set-of-60KiB-accepted", r.status == 200, r.brief())
    t0 = time.time()
    r = request(mint(wl_claims(W.plain["slow"]), key, "RS256"))
    took = time.time() - t0
    expect_error("WIF-AS-11.key-set-slower-than-5s-refused", r, 503, "temporarily_unavailable")
    check("WIF-AS-11.slow-fetch-abandoned-after-about-5s", took < 6.8, f"the request took {took:.1f} s")
    r = request(mint(wl_claims(W.plain["slowok"]), key, "RS256"))
    check("WIF-AS-11.key-set-in-2s-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-11.key-set-not-json-refused",
                 request(mint(wl_claims(W.plain["notjson"]), key, "RS256")), 503, "temporarily_unavailable")
    expect_error("WIF-AS-11.key-set-status-201-refused",
                 request(mint(wl_claims(W.plain["status201"]), key, "RS256")), 503, "temporarily_unavailable")

    # WIF-AS-13: no key set → 503; failed fetches retried at most once per 60 s.
    for i in range(4):
        r = request(mint(wl_claims(W.plain["flaky"]), key, "RS256"))
        if i == 0:
            expect_error("WIF-AS-13.no-key-set-is-503", r, 503, "temporarily_unavailable")
    check("WIF-AS-13.failed-fetch-retried-at-most-once-per-60s", W.misc.count("/flaky/jwks") <= 1,
          f"{W.misc.count('/flaky/jwks')} fetches for 4 requests within a few seconds")
    expect_error("WIF-AS-13.unreachable-key-source-is-503",
                 request(mint(wl_claims(W.dead_iss), key, "RS256")), 503, "temporarily_unavailable")

    # Single flight: concurrent first requests of an entry wait for one fetch.
    results = []
    def one():
        try:
            results.append(request(mint(wl_claims(W.plain["burst"]), key, "RS256")).status)
        except Exception as e:
            results.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("WIF-AS-13.concurrent-requests-share-one-fetch",
          results == [200] * 8 and W.misc.count("/burst/jwks") == 1,
          f"statuses {results}, key-set fetches {W.misc.count('/burst/jwks')}")


def check_outage():
    """WIF-AS-13: the GitHub-shaped issuer goes down; cached keys keep working."""
    W.gh_jwks_mode = "down"
    c0 = W.gh.count(W.gh_jwks_path)
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-while-issuer-answers-503", r.status == 200, r.brief())
    for _ in range(5):
        rr = request(mint(gh_claims(), W.gh_key, "RS256", kid="gone-" + secrets.token_hex(4), typ="JWT"))
    expect_error("WIF-AS-13.unknown-kid-during-outage-is-invalid-grant-not-503", rr, 400, "invalid_grant", step678=True)
    check("WIF-AS-13.outage-refetch-at-most-once", W.gh.count(W.gh_jwks_path) - c0 <= 1,
          f"{W.gh.count(W.gh_jwks_path) - c0} fetches during the outage")
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-after-a-failed-refetch", r.status == 200, r.brief())
    W.gh.stop()
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-while-issuer-unreachable", r.status == 200, r.brief())


def cache_probes():
    """§6.2: a key set's lifetime is max-age (for a bundle: the smaller refresh hint) clamped to
    60 to 3600 s. Probed with a bundle whose hint is 5 s and a JWK Set with max-age=1."""
    return [("bundle-refresh-hint-5s", W.sp, "/bundle", lambda: request(svid())),
            ("max-age-1s", W.misc, "/maxage/jwks",
             lambda: request(mint(wl_claims(W.plain["maxage"]), W.simple_key, "RS256")))]


def cache_probe_clamp(final=False):
    """Once per probe, when its last fetch is 15 to 50 s old (between other steps), or at the
    end after a wait: a valid request must not make the AS read the key set again."""
    for name, site, path, send in cache_probes():
        key = "clamp-" + name
        if key in W.__dict__:
            continue
        times = site.times(path)
        if not times:
            continue
        age = time.time() - max(times)
        if final and age < 15:
            time.sleep(15 - age)
            age = time.time() - max(times)
        if not (15 <= age <= 50):
            if final:
                check(f"WIF-AS-13.{name}-clamped-to-60s", False, f"could not probe (age {age:.0f} s)")
            continue
        W.__dict__[key] = True
        c = site.count(path)
        r = send()
        time.sleep(1)
        check(f"WIF-AS-13.{name}-clamped-to-60s", r.status == 200 and site.count(path) == c,
              f"key set read again {age:.0f} s after the last read: {site.count(path) - c} fetch(es); "
              f"{r.brief()[:80]}")


def check_no_kid_never_refetches():
    """§6.2: "An assertion without kid never causes a refetch", while an unknown kid does once
    the entry's 60 s window allows. Run when keysel's last fetch is over 60 s old."""
    times = W.misc.times("/keysel/jwks")
    wait = max(times) + 62 - time.time()
    if wait > 0:
        time.sleep(wait)
    c = W.misc.count("/keysel/jwks")
    wl = lambda: wl_claims(W.ks_iss)
    for _ in range(3):
        request(mint(wl(), W.ks["noalg"], "PS256", kid=None))        # ambiguous: two usable keys
        request(mint(wl(), Key("OKP"), "EdDSA", kid=None))           # the one Ed25519 key: bad signature
        request(mint(wl(), Key("EC", curve=ec.SECP384R1()), "ES384", kid=None))
    time.sleep(0.5)
    check("WIF-AS-13.assertion-without-kid-never-refetches", W.misc.count("/keysel/jwks") == c,
          f"{W.misc.count('/keysel/jwks') - c} key-set fetches for 9 refused assertions without kid, "
          f"{time.time() - max(times):.0f} s after the last fetch")
    request(mint(wl(), W.ks["noalg"], "RS256", kid="unknown-" + secrets.token_hex(4)))
    time.sleep(0.5)
    check("WIF-AS-13.unknown-kid-refetches-after-the-window", W.misc.count("/keysel/jwks") == c + 1,
          f"{W.misc.count('/keysel/jwks') - c} fetches for one unknown kid, over 60 s after the last fetch")


def check_cache_expiry():
    """After 60 s (the clamped lifetime) the key set is read again on the next request."""
    for name, site, path, send in cache_probes():
        c = site.count(path)
        wait = max(site.times(path)) + 66 - time.time()
        if wait > 0:
            time.sleep(wait)
        t_last = max(site.times(path))
        r = send()
        for _ in range(30):
            if site.count(path) > c:
                break
            time.sleep(0.1)
        check(f"WIF-AS-13.{name}-read-again-after-60s", r.status == 200 and site.count(path) > c,
              f"{site.count(path) - c} fetches {time.time() - t_last:.0f} s after the last one; {r.brief()[:80]}")


def check_never_contacted():
    check("WIF-AS-8.unconfigured-issuer-never-contacted", W.uncfg.count() == 0,
          f"{[r.path for r in W.uncfg.hits]}")
    check("WIF-AS-6.attacker-jku-x5u-never-fetched", W.attacker.count() == 0, f"{[r.path for r in W.attacker.hits]}")
