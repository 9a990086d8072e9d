"""Independent check of the gateway's upstream identity tokens (issue 20): what the
upstream received is verified with PyJWT against the JWKS the gateway serves, and once
more with `cryptography` alone (no JOSE library), then refused where it must be.

usage:
  verify.py CONFIG.json [CONFIG.json ...]   the whole path: a token from `mcp-auth as`,
      a request through `mcp-auth gateway`, the upstream's record (run.sh writes the
      configs: as_issuer, client_id, client_secret, resource, jwks_url, issuer, audience,
      header, alg, lifetime, scope, record, label)
  verify.py --sample FILE                   the token checks alone, on the
      `UPSTREAM-IDENTITY-SAMPLE {json}` lines the Rust test `sample_for_the_python_verifier`
      prints with --nocapture (JWKS served from a local thread)

Prints one PASS/FAIL line per check, then `interop: N passed, M failed`; exits 1 on any
failure."""

import base64
import http.server
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

passed = 0
failed = 0
ALGORITHMS = ["EdDSA", "ES256"]
TIMEOUT = 10


def check(label, name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name} [{label}]")
    else:
        failed += 1
        print(f"FAIL {name} [{label}]{': ' + str(detail) if detail else ''}")
    return ok


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raises(fn, *errors):
    """Whether fn() raises one of errors (anything else propagates as a crash: a FAIL)."""
    try:
        fn()
    except errors:
        return True
    return False


def verify_with_cryptography(token, jwks):
    """The signature checked from the JWK's raw members with `cryptography` alone."""
    h, p, s = token.split(".")
    header = json.loads(b64d(h))
    key = next(k for k in jwks["keys"] if k.get("kid") == header["kid"])
    signing_input, signature = f"{h}.{p}".encode(), b64d(s)
    if key["kty"] == "OKP" and key.get("crv") == "Ed25519" and header["alg"] == "EdDSA":
        Ed25519PublicKey.from_public_bytes(b64d(key["x"])).verify(signature, signing_input)
    elif key["kty"] == "EC" and key.get("crv") == "P-256" and header["alg"] == "ES256":
        if len(signature) != 64:
            raise InvalidSignature("an ES256 JWS signature is R || S, 64 bytes")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64d(key["x"]), "big"), int.from_bytes(b64d(key["y"]), "big"), ec.SECP256R1()
        )
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        numbers.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError(f"unexpected key {key.get('kty')}/{key.get('crv')} for alg {header['alg']}")


def check_token(label, token, jwks_url, jwks, exp):
    """Every check of one minted token. exp: issuer, audience, alg, sub, client_id,
    act_iss, scope, lifetime."""
    header = jwt.get_unverified_header(token)
    check(label, "typ is at+jwt", header.get("typ") == "at+jwt", header)
    check(label, f"alg is {exp['alg']}", header.get("alg") == exp["alg"], header)
    kids = [k.get("kid") for k in jwks["keys"]]
    check(label, "kid names a key of the JWKS", header.get("kid") in kids, f"{header.get('kid')} not in {kids}")
    for k in jwks["keys"]:
        check(label, "JWKS key is public, for signatures, with its alg",
              "d" not in k and k.get("use") == "sig" and k.get("alg") == exp["alg"], {m: k.get(m) for m in ("kty", "crv", "alg", "use", "kid")})

    signing_key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=ALGORITHMS,
        audience=exp["audience"],
        issuer=exp["issuer"],
        options={"require": ["iss", "aud", "exp", "iat", "sub", "jti"]},
    )
    check(label, "PyJWT verifies signature, iss, aud, exp with the gateway's JWKS", True)
    check(label, "sub is the caller's subject", claims.get("sub") == exp["sub"], claims)
    check(label, "client_id is the caller's client", claims.get("client_id") == exp["client_id"], claims)
    check(label, "act is the client acting for the subject (RFC 8693 §4.1), with the original issuer",
          claims.get("act") == {"sub": exp["client_id"], "iss": exp["act_iss"]}, claims.get("act"))
    check(label, "scope is the caller's", claims.get("scope") == exp["scope"], claims.get("scope"))
    check(label, f"lifetime is {exp['lifetime']} s", claims["exp"] - claims["iat"] == exp["lifetime"], claims)
    check(label, "jti is 128 random bits", isinstance(claims.get("jti"), str) and len(b64d(claims["jti"])) == 16, claims.get("jti"))
    expected_members = {"iss", "sub", "aud", "act", "client_id", "scope", "iat", "exp", "jti"}
    check(label, "no other claims", set(claims) == expected_members, sorted(set(claims) ^ expected_members))

    try:
        verify_with_cryptography(token, jwks)
        check(label, "signature verifies with cryptography alone (raw JWK members)", True)
    except (InvalidSignature, ValueError, StopIteration) as e:
        check(label, "signature verifies with cryptography alone (raw JWK members)", False, repr(e))

    key = signing_key.key
    check(label, "another audience is refused",
          raises(lambda: jwt.decode(token, key, algorithms=ALGORITHMS, audience="https://elsewhere.example/mcp", issuer=exp["issuer"]),
                 jwt.InvalidAudienceError))
    check(label, "another issuer is refused",
          raises(lambda: jwt.decode(token, key, algorithms=ALGORITHMS, audience=exp["audience"], issuer="https://as.elsewhere.example"),
                 jwt.InvalidIssuerError))
    h, p, s = token.split(".")
    forged = dict(claims, sub="mallory")
    tampered = f"{h}.{b64e(json.dumps(forged).encode())}.{s}"
    check(label, "a tampered token is refused",
          raises(lambda: jwt.decode(tampered, key, algorithms=ALGORITHMS, audience=exp["audience"], issuer=exp["issuer"]),
                 jwt.InvalidSignatureError))
    try:
        verify_with_cryptography(tampered, jwks)
        check(label, "a tampered token is refused by cryptography alone", False, "accepted")
    except InvalidSignature:
        check(label, "a tampered token is refused by cryptography alone", True)
    other_alg = [a for a in ALGORITHMS if a != exp["alg"]]
    check(label, "the key's algorithm only",
          raises(lambda: jwt.decode(token, key, algorithms=other_alg, audience=exp["audience"], issuer=exp["issuer"]),
                 jwt.InvalidAlgorithmError, jwt.InvalidKeyError))
    return claims


# --- the whole path --------------------------------------------------------------------------


def fetch(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)
        return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def client_token(cfg):
    u = urllib.parse.urlsplit(cfg["as_issuer"])
    meta_url = f"{u.scheme}://{u.netloc}/.well-known/oauth-authorization-server{u.path.rstrip('/')}"
    status, _, body = fetch(meta_url)
    if status != 200:
        raise RuntimeError(f"AS metadata {meta_url}: {status}")
    meta = json.loads(body)
    basic = base64.b64encode(
        f"{urllib.parse.quote(cfg['client_id'])}:{urllib.parse.quote(cfg['client_secret'])}".encode()
    ).decode()
    form = {"grant_type": "client_credentials", "resource": cfg["resource"], "scope": cfg["scope"]}
    status, _, body = fetch(
        meta["token_endpoint"],
        urllib.parse.urlencode(form).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise RuntimeError(f"token request: {status} {body[:200]!r}")
    return json.loads(body)["access_token"], meta["jwks_uri"]


def records(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def call_through_gateway(cfg, token, request_id, spoof):
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if spoof:
        headers[cfg["header"]] = "forged-by-the-client"
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/list", "params": {}}).encode()
    before = len(records(cfg["record"]))
    status, _, answer = fetch(cfg["resource"], body, headers)
    after = records(cfg["record"])
    return status, answer, after[before:]


def received_token(cfg, entry):
    """The values the upstream got under the configured header, and the token in them."""
    values = [v for k, v in entry["headers"] if k.lower() == cfg["header"].lower()]
    if len(values) != 1:
        return values, None
    value = values[0]
    if cfg["header"].lower() == "authorization":
        scheme, _, rest = value.partition(" ")
        return values, rest if scheme.lower() == "bearer" else None
    return values, value


def run_config(cfg):
    label = cfg["label"]
    token, as_jwks_uri = client_token(cfg)
    client_jti = jwt.decode(token, options={"verify_signature": False}).get("jti")
    spoof = cfg["header"].lower() != "authorization"
    status, answer, seen = call_through_gateway(cfg, token, 1, spoof)
    ok = status == 200 and json.loads(answer or b"null") == {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}
    check(label, "the gateway forwards an authenticated call and returns the upstream's answer", ok, f"{status} {answer[:200]!r}")
    if not check(label, "the upstream received the call once", len(seen) == 1, f"{len(seen)} requests recorded"):
        return
    entry = seen[0]
    values, upstream_token = received_token(cfg, entry)
    shape = "Bearer <jwt>" if cfg["header"].lower() == "authorization" else "the bare JWT"
    if not check(label, f"one {cfg['header']} header went upstream, carrying {shape}",
                 upstream_token is not None and upstream_token.count(".") == 2, values):
        return
    if spoof:
        check(label, f"the client's own {cfg['header']} did not reach the upstream",
              "forged-by-the-client" not in values, values)
    check(label, "the client's token did not reach the upstream (no passthrough)",
          all(token not in v for _, v in entry["headers"]), [k for k, v in entry["headers"] if token in v])
    check(label, "the upstream token is not the client's", upstream_token != token)

    status, headers, body = fetch(cfg["jwks_url"])
    check(label, "the gateway serves its JWKS", status == 200, status)
    check(label, "the JWKS is application/json", (headers.get("Content-Type") or "").split(";")[0].strip() == "application/json",
          headers.get("Content-Type"))
    check(label, "the JWKS is cacheable", "max-age=" in (headers.get("Cache-Control") or ""), headers.get("Cache-Control"))
    jwks = json.loads(body)
    exp = {
        "issuer": cfg["issuer"], "audience": cfg["audience"], "alg": cfg["alg"], "sub": cfg["client_id"],
        "client_id": cfg["client_id"], "act_iss": cfg["as_issuer"], "scope": cfg["scope"], "lifetime": cfg["lifetime"],
    }
    claims = check_token(label, upstream_token, cfg["jwks_url"], jwks, exp)
    check(label, "its jti is not the client token's", claims.get("jti") != client_jti)
    check(label, "the authorization server's keys do not verify it",
          raises(lambda: jwt.PyJWKClient(as_jwks_uri, cache_keys=False).get_signing_key_from_jwt(upstream_token),
                 jwt.PyJWKClientError))

    # A second call well within half the lifetime: the gateway reuses the minted token.
    status, _, seen = call_through_gateway(cfg, token, 2, False)
    again = received_token(cfg, seen[0])[1] if status == 200 and len(seen) == 1 else None
    check(label, "a second call within half the lifetime carries the same token (cache)", again == upstream_token,
          f"status {status}, {len(seen)} recorded")


def serve_once(document):
    """Serves `document` (JSON) at http://127.0.0.1:<port>/jwks.json from a thread:
    PyJWKClient fetches keys over HTTP(S) only."""
    body = json.dumps(document).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def run_samples(path):
    with open(path, encoding="utf-8") as f:
        lines = [line.split(" ", 1)[1] for line in f if line.startswith("UPSTREAM-IDENTITY-SAMPLE ")]
    if not lines:
        check("sample", "the file has UPSTREAM-IDENTITY-SAMPLE lines", False, path)
    for line in lines:
        sample = json.loads(line)
        alg = jwt.get_unverified_header(sample["token"])["alg"]
        server, url = serve_once(sample["jwks"])
        try:
            exp = dict(sample["expect"], issuer=sample["issuer"], audience=sample["audience"], alg=alg)
            check_token(f"sample {alg}", sample["token"], url, sample["jwks"], exp)
        except Exception as e:  # PyJWT's refusals are exceptions: one failure each
            check(f"sample {alg}", "the checks ran to the end", False, repr(e))
        finally:
            server.shutdown()


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if args[0] == "--sample":
        run_samples(args[1])
    else:
        for path in args:
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
            try:
                run_config(cfg)
            except Exception as e:  # a crash in one configuration is one failure, the rest still run
                check(cfg.get("label", path), "the checks ran to the end", False, repr(e))
    print(f"interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
