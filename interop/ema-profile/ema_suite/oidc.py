"""The user's sign-in at the IdP, as a client with a browser does it (§7.1, OIDC Core §3.1):
authorization code + PKCE S256 + `openid` + `nonce`, through the IdP's own HTML login and consent
pages, parsed generically (every form's action, hidden inputs, the username and password fields,
the approving button). The redirect to the client's loopback redirect_uri is captured from the
Location header, never followed. The ID token is validated as OIDC Core §3.1.3.7 says."""

import hashlib
import secrets
import time
import urllib.parse
from html.parser import HTMLParser

import jwt
import requests

from .common import W, b64u, basic, body_json, post_form, short
from .report import check
from .tokens import jwks_of

APPROVE_WORDS = ("approve", "allow", "accept", "authorize", "authorise", "consent", "yes", "continue", "grant")
DENY_WORDS = ("deny", "cancel", "reject", "decline", "no")


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None
        self._button = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            t = a.get("type", "text").lower()
            if t in ("submit", "image"):
                self._form["buttons"].append({"name": a.get("name"), "value": a.get("value", ""),
                                              "text": a.get("value", "")})
            else:
                self._form["inputs"].append({"name": a.get("name"), "type": t, "value": a.get("value", "")})
        elif tag == "button":
            t = a.get("type", "submit").lower()
            if t == "submit":
                self._button = {"name": a.get("name"), "value": a.get("value", ""), "text": ""}
                self._form["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None
        elif tag == "form":
            self._form = None


def _pick_button(buttons, words):
    for b in buttons:
        label = " ".join(str(x or "") for x in (b.get("name"), b.get("value"), b.get("text"))).lower()
        if any(w in label for w in words):
            return b
    return None


def _fill(form, username, password, deny=False):
    """The fields a browser would submit for this form; None when it is not a login or consent form."""
    fields = []
    has_password = any(i["type"] == "password" for i in form["inputs"])
    user_done = False
    for i in form["inputs"]:
        if not i["name"]:
            continue
        if i["type"] == "hidden":
            fields.append((i["name"], i["value"]))
        elif i["type"] == "password":
            fields.append((i["name"], password))
        elif i["type"] in ("text", "email") and has_password and not user_done:
            fields.append((i["name"], username))
            user_done = True
        elif i["type"] in ("checkbox", "radio"):
            pass
        else:
            fields.append((i["name"], i["value"]))
    if has_password:
        b = form["buttons"][0] if form["buttons"] else None
    else:
        b = _pick_button(form["buttons"], DENY_WORDS if deny else APPROVE_WORDS)
        if b is None:
            return None
    if b and b.get("name"):
        fields.append((b["name"], b.get("value", "")))
    return fields


def pkce_pair():
    verifier = b64u(secrets.token_bytes(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def authorize(client_id, username, *, scope="openid", nonce=None, resource=None, deny=False, password=None):
    """Drive the browser part. Returns (dict of the callback's query, verifier, state) or raises."""
    meta = W.idp_meta
    verifier, challenge = pkce_pair()
    state = b64u(secrets.token_bytes(12))
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": W.callback, "scope": scope,
         "state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
    if nonce:
        q["nonce"] = nonce
    if resource:
        q["resource"] = resource
    sess = requests.Session()
    url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(q)
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(W.idp_issuer))
    r = sess.get(url, allow_redirects=False, timeout=20)
    password = password if password is not None else W.users.get(username, "")
    for _ in range(12):
        if r.status_code in (301, 302, 303, 307, 308):
            loc = urllib.parse.urljoin(r.url, r.headers.get("Location", ""))
            if loc.startswith(W.callback):
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
                return query, verifier, state
            if not loc.startswith(origin + "/"):
                raise RuntimeError(f"redirected away from the IdP to {loc}")
            r = sess.get(loc, allow_redirects=False, timeout=20)
            continue
        if r.status_code != 200 or "html" not in r.headers.get("Content-Type", ""):
            raise RuntimeError(f"sign-in page: {short(r)}")
        p = _Forms()
        p.feed(r.text)
        chosen = None
        for f in p.forms:
            fields = _fill(f, username, password, deny=deny)
            if fields is not None and f["method"] == "post":
                chosen = (f, fields)
                break
        if chosen is None:
            raise RuntimeError(f"no login or consent form on {r.url}: {r.text[:300]!r}")
        action = urllib.parse.urljoin(r.url, chosen[0]["action"] or r.url)
        r = sess.post(action, data=chosen[1], allow_redirects=False, timeout=30,
                      headers={"Origin": origin, "Referer": r.url, "Sec-Fetch-Site": "same-origin"})
    raise RuntimeError("too many steps in the sign-in")


def redeem_code(client_id, code, verifier, *, auth="basic", resource=None):
    fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", W.callback),
              ("code_verifier", verifier)]
    if resource:
        fields.append(("resource", resource))
    h = {}
    if auth == "basic":
        h["Authorization"] = basic(client_id, W.secrets[("idp", client_id)])
    elif auth == "pkjwt":
        from .tokens import client_auth
        client_auth("idp", client_id, "pkjwt", fields, h, endpoint=W.idp_meta["token_endpoint"])
    else:
        fields.append(("client_id", client_id))
    return post_form(W.idp_meta["token_endpoint"], fields, h)


def validate_id_token(id_token, client_id, nonce):
    """OIDC Core §3.1.3.7 (the checks a client makes), with the IdP's JWKS. Returns
    (header, claims, problems)."""
    problems = []
    try:
        header = jwt.get_unverified_header(id_token)
    except Exception as e:
        return None, None, [f"not a JWS: {e!r}"]
    if header.get("alg") != "RS256":
        problems.append(f"alg {header.get('alg')!r}, want RS256 (§3.1.3.7 item 7, D19)")
    try:
        key = None
        for refresh in (False, True):
            for k in jwks_of(W.idp_meta["jwks_uri"], refresh=refresh).keys:
                if k.key_id == header.get("kid"):
                    key = k
            if key:
                break
        if key is None:
            raise ValueError(f"no key {header.get('kid')!r} in the IdP's JWKS")
        claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=client_id, issuer=W.idp_issuer,
                            options={"require": ["iss", "sub", "aud", "exp", "iat"]})
    except Exception as e:
        return header, None, problems + [f"does not verify: {e!r}"]
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        problems.append("several audiences without azp")
    if claims.get("iat", 0) > time.time() + 60:
        problems.append("iat in the future")
    if nonce is not None and claims.get("nonce") != nonce:
        problems.append(f"nonce {claims.get('nonce')!r}, want {nonce!r}")
    return header, claims, problems


def sign_in(name, username, client_id, *, scope="openid", resource=None, auth="basic", quiet=False, nonce=True):
    """The whole sign-in; one check `<name>.sign-in` (skipped when quiet and it works). Returns a
    dict with id_token, header, claims, response (the token response JSON), nonce, or None."""
    nonce = b64u(secrets.token_bytes(12)) if nonce else None
    try:
        query, verifier, state = authorize(client_id, username, scope=scope, nonce=nonce, resource=resource)
    except Exception as e:
        check(f"{name}.sign-in", False, f"{username} at {client_id}: {e}")
        return None
    why = []
    if query.get("state") != state:
        why.append(f"state {query.get('state')!r}")
    if "code" not in query:
        why.append(f"no code: {query}")
    if query.get("iss") not in (None, W.idp_issuer):
        why.append(f"iss {query.get('iss')!r} (RFC 9207)")
    if why:
        check(f"{name}.sign-in", False, "; ".join(why))
        return None
    r = redeem_code(client_id, query["code"], verifier, auth=auth, resource=resource)
    j = body_json(r)
    if r.status_code != 200 or "id_token" not in j:
        check(f"{name}.sign-in", False, f"token response without id_token: {short(r)}")
        return None
    header, claims, problems = validate_id_token(j["id_token"], client_id, nonce)
    if problems or claims is None:
        check(f"{name}.sign-in", False, "ID token: " + "; ".join(problems))
        return None
    if not quiet:
        check(f"{name}.sign-in", True)
    return {"id_token": j["id_token"], "header": header, "claims": claims, "response": j, "nonce": nonce}
