"""Independent check of mcp-auth access tokens: PyJWT fetches the AS metadata and
JWKS, and verifies a client_credentials token (RFC 9068: typ at+jwt, iss, aud, exp,
iat, jti, client_id, scope) with its own cryptography.

usage: verify_tokens.py ISSUER CLIENT_ID CLIENT_SECRET RESOURCE EXPECTED_ALG
Prints one PASS/FAIL line per check and exits 1 on any failure."""

import base64
import json
import sys
import urllib.parse
import urllib.request

import jwt

issuer, client_id, secret, resource, expected_alg = sys.argv[1:6]
failures = 0


def check(name, ok, detail=""):
    global failures
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures += 1


def metadata_url(iss):
    u = urllib.parse.urlsplit(iss)
    return f"{u.scheme}://{u.netloc}/.well-known/oauth-authorization-server{u.path.rstrip('/')}"


meta = json.load(urllib.request.urlopen(metadata_url(issuer)))
check("metadata issuer is exactly the issuer", meta["issuer"] == issuer, meta.get("issuer"))

basic = base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
req = urllib.request.Request(
    meta["token_endpoint"],
    data=urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource}).encode(),
    headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
)
resp = urllib.request.urlopen(req)
check("token response is not cached", resp.headers.get("Cache-Control") == "no-store")
body = json.load(resp)
token = body["access_token"]

header = jwt.get_unverified_header(token)
check("typ is at+jwt (RFC 9068 §2.1)", header.get("typ") == "at+jwt", str(header))
check(f"alg is {expected_alg}", header.get("alg") == expected_alg, str(header))

jwks_client = jwt.PyJWKClient(meta["jwks_uri"])
signing_key = jwks_client.get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=[expected_alg],
    audience=resource,
    issuer=issuer,
    options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
)
check("signature, iss, aud, exp verify with PyJWT", True)
check("client_id and sub", claims["client_id"] == client_id and claims["sub"] == client_id, str(claims))

# The same token must not verify for another audience, or once tampered with.
try:
    jwt.decode(token, signing_key.key, algorithms=[expected_alg], audience="https://elsewhere.example", issuer=issuer)
    check("other audience rejected", False, "accepted")
except jwt.InvalidAudienceError:
    check("other audience rejected", True)
h, p, s = token.split(".")
claims["scope"] = "admin"
forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
try:
    jwt.decode(f"{h}.{forged_payload}.{s}", signing_key.key, algorithms=[expected_alg], audience=resource, issuer=issuer)
    check("tampered token rejected", False, "accepted")
except jwt.InvalidSignatureError:
    check("tampered token rejected", True)

sys.exit(1 if failures else 0)
