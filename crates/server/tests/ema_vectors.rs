//! Appendix B of profiles/enterprise-managed-authorization.md: test vectors generated
//! by two authorization servers in one process, the identity provider
//! `https://idp.acme.example` and the MCP authorization server
//! `https://as.example.com`, at fixed clocks with fixed keys (the RFC 9421 test keys),
//! and checked against the document. The test fails when the document differs from
//! what the code produces.
//!
//! Regenerate with:
//! `UPDATE_VECTORS=1 cargo test -p mcp-auth-server --test ema_vectors`
//!
//! Every request goes through a server's router. What the servers make at random (a
//! user's subject identifier, codes, refresh tokens, `jti`s) is shown as a
//! placeholder, so ID tokens, ID-JAGs and access tokens are shown decoded; RS256 and
//! Ed25519 signatures are deterministic, so everything else is the same on every
//! run, the DPoP proofs included (made here with fixed `jti`s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ema_vectors_env;

use ema_vectors_env::{
    AS, AS_SECRET, Doc, DpopKey, EXCHANGE, ID_JAG_TYPE, ID_TOKEN_TYPE, IDP, IDP_SECRET, JWT_BEARER,
    NONCE, RESOURCE, Refusals, SIGNATURE, Server, SignIn, T, VERIFIER, as_toml, code_form, decode,
    hide, idp_sign, idp_toml, key_file, rsa_pss_as_rs256, sign_in, with,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../profiles/enterprise-managed-authorization.md"
);
const BEGIN: &str = "<!-- BEGIN GENERATED: ema-vectors (UPDATE_VECTORS=1 cargo test -p mcp-auth-server --test ema_vectors) -->";
const END: &str = "<!-- END GENERATED: ema-vectors -->";

/// The resource configured at the MCP AS that the trust entry does not list.
const REPORTS: &str = "https://mcp.example.com/reports";
/// WIF §10.2 / EMA §10.3: the one description of steps 6 to 8.
const UNTRUSTED: &str = "the assertion is not signed by an issuer this server trusts";
const ALICE: &str = "<alice's subject identifier>";

const INVALID_REQUEST: (u16, &str) = (400, "invalid_request");
const INVALID_TARGET: (u16, &str) = (400, "invalid_target");
const INVALID_GRANT: (u16, &str) = (400, "invalid_grant");
const INVALID_CLIENT: (u16, &str) = (401, "invalid_client");

/// `base` with `patch` replacing or adding members (an empty value removes one).
fn patched<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    patch: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    for (k, v) in patch {
        form.retain(|(p, _)| p != k);
        if !v.is_empty() {
            form.push((k, v));
        }
    }
    form
}

/// The exchange of B.3 for `subject_token`, with `patch`.
fn exchange<'a>(subject_token: &'a str, patch: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let form = vec![
        ("grant_type", EXCHANGE),
        ("requested_token_type", ID_JAG_TYPE),
        ("subject_token", subject_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("audience", AS),
        ("resource", RESOURCE),
    ];
    patched(form, patch)
}

/// The redemption of B.4 for `assertion`, with `patch`.
fn redemption<'a>(assertion: &'a str, patch: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let form = vec![
        ("grant_type", JWT_BEARER),
        ("assertion", assertion),
        ("resource", RESOURCE),
    ];
    patched(form, patch)
}

async fn generate() -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Doc::default();

    // B.1: the two servers, their keys and configurations.
    let idp_keys = [("test-key-ed25519", "EdDSA"), ("test-key-rsa", "RS256")];
    let idp = Server::start(IDP, &idp_toml(), dir.path().join("idp"), &idp_keys).await;
    for (user, group) in [
        ("alice", "engineering"),
        ("bob", "staff"),
        ("mallory", "contractors"),
        ("dave", "staff"),
    ] {
        idp.add_user(user, &[group]).await;
    }
    let alice_sub = idp.subject("alice").await;
    let alice: &[(&str, &str)] = &[(&alice_sub, ALICE)];
    let jwks = idp.get("/jwks").await;
    assert_eq!(jwks.status, 200);
    let jwks_path = dir.path().join("idp-jwks.json");
    std::fs::write(&jwks_path, jwks.body.to_string()).unwrap();
    let as_config = as_toml(&jwks_path.display().to_string());
    let as_keys = [("test-key-ed25519", "EdDSA")];
    let mcp_as = Server::start(AS, &as_config, dir.path().join("as"), &as_keys).await;
    d.p("### B.1 Keys, clocks and configuration");
    d.p(&format!(
        "Times are UNIX seconds. Both servers' clocks start at `{T}` (2026-01-01T00:00:00Z): \
         the sign-ins are at `{T}`, the exchanges at `{}` and the redemptions at `{}` (the test \
         moves the clocks). Both servers sign access tokens with the RFC 9421 §B.1.4 Ed25519 \
         test key (`kid` `test-key-ed25519`); the IdP signs ID tokens and ID-JAGs with the RFC \
         9421 §B.1.1 RSA test key (`kid` `test-key-rsa`, RS256). The IdP's JWK Set, as `GET \
         {IDP}/jwks` returns it:",
        T + 60,
        T + 61
    ));
    d.json(&jwks.body, &[]);
    d.p(&format!(
        "The IdP's configuration (issuer `{IDP}`). The client secrets are `{}` \
         (`desktop-agent`), `{}` (`other-agent`) and `{}` (`web-only`); `client_secret_sha256` \
         is the base64 of the SHA-256 of each:",
        IDP_SECRET[0].1, IDP_SECRET[1].1, IDP_SECRET[2].1
    ));
    d.code("toml", &idp_toml());
    d.p(&format!(
        "Its users, all with the password `correct horse`: `alice` (group `engineering`), \
         `bob` (`staff`), `mallory` (`contractors`) and `dave` (`staff`; removed in B.6). Each \
         got a random subject identifier when created; alice's is shown as `\"{ALICE}\"`."
    ));
    d.p(&format!(
        "The MCP AS's configuration (issuer `{AS}`); `idp-jwks.json` holds the IdP's JWK Set \
         above. The client secrets are `{}` (`acme-agent`) and `{}` (`reporting-job`):",
        AS_SECRET[0].1, AS_SECRET[1].1
    ));
    d.code("toml", &as_toml("idp-jwks.json"));

    // B.2: alice signs in with desktop-agent. The other sign-ins (for B.6) are the
    // same requests.
    let s = sign_in(&idp, "desktop-agent", "alice").await;
    let others = [
        sign_in(&idp, "other-agent", "alice").await,
        sign_in(&idp, "desktop-agent", "mallory").await,
        sign_in(&idp, "desktop-agent", "bob").await,
        sign_in(&idp, "desktop-agent", "dave").await,
    ];
    let code: &[(&str, &str)] = &[(&s.code, "<random>")];
    d.p("### B.2 Sign-in at the IdP");
    d.p(&format!(
        "The client sends the browser to the IdP's authorization endpoint (PKCE with the RFC \
         7636 Appendix B code verifier `{VERIFIER}`):"
    ));
    let get = format!("GET {} HTTP/1.1\nHost: idp.acme.example", s.authorize);
    d.code("http", &get);
    d.p(
        "alice signs in on the login page (`POST /login` with the page's hidden `request` and \
         `csrf` fields) and allows access on the consent page (`POST /consent`); the browser \
         is redirected to:",
    );
    d.code("text", &hide(&s.location, code));
    d.p("The client redeems the code:");
    let form = code_form(&s.code);
    d.code("http", &idp.message(&form, Some(IDP_SECRET[0]), &[], code));
    let id_token = s.id_token();
    let access = s.answer.body["access_token"].as_str().unwrap().to_owned();
    d.response(
        &s.answer,
        &[
            ("access_token", "<the access token below>"),
            ("id_token", "<the ID token below>"),
            ("refresh_token", "<random>"),
        ],
    );
    let (_, claims) = decode(&id_token);
    assert_eq!(
        (&claims["sub"], &claims["nonce"]),
        (&json!(alice_sub), &json!(NONCE))
    );
    d.p("The ID token's JOSE header and claims:");
    d.jwt(&id_token, alice);
    d.p(
        "The access token's header and claims (for no resource server: `aud` is the IdP, \
         `scope` `openid`):",
    );
    d.jwt(&access, alice);

    // B.3: the exchange, a minute later.
    idp.clock.set(T + 60);
    mcp_as.clock.set(T + 61);
    let form = exchange(&id_token, &[("scope", "mcp:read")]);
    let id_token_shown: &[(&str, &str)] = &[(&id_token, "<the ID token of B.2>")];
    d.p("### B.3 Token exchange at the IdP");
    d.p(&format!(
        "At `{}`, `desktop-agent` exchanges alice's ID token of B.2 for an ID-JAG (the form \
         unwrapped):",
        T + 60
    ));
    d.code(
        "http",
        &idp.message(&form, Some(IDP_SECRET[0]), &[], id_token_shown),
    );
    let answer = idp.token(&form, Some(IDP_SECRET[0]), &[]).await;
    d.response(&answer, &[("access_token", "<the ID-JAG below>")]);
    let id_jag = answer.body["access_token"].as_str().unwrap().to_owned();
    d.p("The ID-JAG's JOSE header and claims:");
    d.jwt(&id_jag, alice);

    // B.4: the redemption.
    let form = redemption(&id_jag, &[("scope", "mcp:read")]);
    d.p("### B.4 Redemption at the MCP AS");
    d.p(&format!(
        "At `{}`, `acme-agent` redeems the ID-JAG of B.3:",
        T + 61
    ));
    let shown: &[(&str, &str)] = &[(&id_jag, "<the ID-JAG of B.3>")];
    d.code(
        "http",
        &mcp_as.message(&form, Some(AS_SECRET[0]), &[], shown),
    );
    let answer = mcp_as.token(&form, Some(AS_SECRET[0]), &[]).await;
    d.response(&answer, &[("access_token", "<the access token below>")]);
    let token = answer.body["access_token"].as_str().unwrap();
    assert_eq!(decode(token).1["sub"], format!("acme:{alice_sub}").as_str());
    d.p("The access token's JOSE header and claims:");
    d.jwt(token, alice);
    d.p("The same request again is refused (Section 7.7 step 14; the last row of B.6).");

    // B.5: the same with DPoP, deterministic: RS256, and fixed `jti`s.
    let dpop = DpopKey::new();
    let at_idp = dpop.proof("ema-vectors-exchange", &format!("{IDP}/token"), T + 60);
    let at_as = dpop.proof("ema-vectors-redemption", &format!("{AS}/token"), T + 61);
    d.p("### B.5 A DPoP-bound exchange and redemption");
    d.p(&format!(
        "The client's DPoP key is the RFC 9421 §B.1.2 RSA test key, used with RS256 (RFC 7638 \
         thumbprint `{}`). The JOSE header and claims of its proof for the exchange (the \
         `jti`s are fixed here; a client makes them at random):",
        dpop.jkt
    ));
    for (proof, next) in [
        (&at_idp, "And of its proof for the redemption:"),
        (&at_as, ""),
    ] {
        let (header, claims) = decode(proof);
        d.code("json", &header.to_string());
        d.json(&claims, &[]);
        if !next.is_empty() {
            d.p(next);
        }
    }
    let form = exchange(&id_token, &[("scope", "mcp:read mcp:write")]);
    d.p(&format!(
        "The exchange, at `{}`, asking for both scopes alice's rule allows:",
        T + 60
    ));
    let proof = [("DPoP", at_idp.as_str())];
    d.code(
        "http",
        &idp.message(&form, Some(IDP_SECRET[0]), &proof, id_token_shown),
    );
    let answer = idp.token(&form, Some(IDP_SECRET[0]), &proof).await;
    d.response(&answer, &[("access_token", "<the ID-JAG below>")]);
    let bound = answer.body["access_token"].as_str().unwrap();
    assert_eq!(decode(bound).1["cnf"], json!({"jkt": dpop.jkt}));
    d.p("The ID-JAG's JOSE header and claims:");
    d.jwt(bound, alice);
    let form = redemption(bound, &[]);
    d.p(&format!(
        "The redemption, at `{}`, with the proof made by the same key and no `scope` (the \
         ID-JAG's scopes are granted):",
        T + 61
    ));
    let proof = [("DPoP", at_as.as_str())];
    let shown: &[(&str, &str)] = &[(bound, "<the ID-JAG above>")];
    d.code(
        "http",
        &mcp_as.message(&form, Some(AS_SECRET[0]), &proof, shown),
    );
    let answer = mcp_as.token(&form, Some(AS_SECRET[0]), &proof).await;
    assert_eq!(answer.body["token_type"], "DPoP");
    d.response(&answer, &[("access_token", "<the access token below>")]);
    let token = answer.body["access_token"].as_str().unwrap();
    assert_eq!(decode(token).1["cnf"], json!({"jkt": dpop.jkt}));
    d.p("The access token's JOSE header and claims:");
    d.jwt(token, alice);

    // B.6: the refusals.
    let at_idp = idp_refusals(&idp, &s, &id_jag, &others).await;
    let at_as = as_refusals(&mcp_as, &idp, &id_jag).await;
    d.p("### B.6 Refusals");
    d.p(
        "One request per row of Sections 10.1 and 10.2 that a test request can show (the step \
         first), each the request of B.3 or B.4 changed as said, and the answer, every one with \
         `Cache-Control: no-store`. The tokens changed here are signed with the IdP's key \
         (`test-key-rsa`) unless the row says otherwise.",
    );
    at_idp.write(
        &mut d,
        "At the IdP (Section 10.1), at `1767225660`. Not shown: `use_dpop_nonce` (the IdP \
         requires no DPoP nonce) and the 503 of an unavailable replay cache.",
    );
    at_as.write(
        &mut d,
        "At the MCP AS (Section 10.2), at `1767225661`. Not shown: `use_dpop_nonce` (no DPoP \
         nonce is required), the 503s of an unavailable replay cache or key source (the entry's \
         keys are a file, read at start) and the 500 of a store that cannot record the `jti`.",
    );
    d.into_string()
}

/// Section 10.1, at the IdP. `s` is B.2's sign-in, `id_jag` B.3's, `others` the
/// sign-ins of alice at other-agent, mallory, bob and dave.
async fn idp_refusals<'s>(
    idp: &'s Server,
    s: &SignIn,
    id_jag: &str,
    others: &[SignIn; 4],
) -> Refusals<'s> {
    let [for_other, mallory, bob, dave] = others.each_ref().map(SignIn::id_token);
    let t = &s.id_token();
    let mut r = Refusals::new(idp, IDP_SECRET[0]);
    let saml = "urn:ietf:params:oauth:grant-type:saml2-bearer";
    let what = format!("1: `grant_type` `{saml}`");
    r.form(
        &what,
        (400, "unsupported_grant_type"),
        exchange(t, &[("grant_type", saml)]),
    )
    .await;
    let form = exchange(t, &[("requested_token_type", "")]);
    r.form("1: no `requested_token_type`", INVALID_REQUEST, form)
        .await;
    let mut twice = exchange(t, &[("scope", "mcp:read")]);
    twice.push(("scope", "mcp:write"));
    r.form("1: `scope` twice", INVALID_REQUEST, twice).await;
    let form = exchange(
        t,
        &[("actor_token", t), ("actor_token_type", ID_TOKEN_TYPE)],
    );
    r.form("1: an `actor_token`", INVALID_REQUEST, form).await;
    for name in ["audience", "resource"] {
        let mut twice = exchange(t, &[]);
        twice.push((name, "https://other.example.com"));
        r.form(&format!("1: `{name}` twice"), INVALID_TARGET, twice)
            .await;
    }
    let wrong = Some(("desktop-agent", "wrong"));
    for (what, client) in [
        ("2: no client authentication", None),
        ("2: a wrong secret", wrong),
    ] {
        r.send(what, INVALID_CLIENT, exchange(t, &[]), client, &[])
            .await;
    }
    let what = "2: `web-only`, without the token-exchange grant";
    let web_only = Some(IDP_SECRET[2]);
    r.send(
        what,
        (400, "unauthorized_client"),
        exchange(t, &[]),
        web_only,
        &[],
    )
    .await;
    let headers = [("DPoP", "not-a-proof")];
    let what = "3: a `DPoP` header that is not a JWT";
    let desktop = Some(IDP_SECRET[0]);
    r.send(
        what,
        (400, "invalid_dpop_proof"),
        exchange(t, &[]),
        desktop,
        &headers,
    )
    .await;
    let what = "3: a token-request signature";
    r.send(what, INVALID_REQUEST, exchange(t, &[]), desktop, &SIGNATURE)
        .await;
    let access_type = "urn:ietf:params:oauth:token-type:access_token";
    for name in ["requested_token_type", "subject_token_type"] {
        let what = format!("4: `{name}` `{access_type}`");
        r.form(&what, INVALID_REQUEST, exchange(t, &[(name, access_type)]))
            .await;
    }
    let (_, claims) = decode(t);
    let patch = json!({"iss": "https://idp.other.example"});
    let other_issuer = idp_sign(idp, "JWT", &with(&claims, patch));
    let patch = json!({"iat": T + 120, "exp": T + 3660});
    let future = idp_sign(idp, "JWT", &with(&claims, patch));
    let access = s.answer.body["access_token"].as_str().unwrap();
    for (what, subject) in [
        ("5: an ID token issued to `other-agent`", for_other.as_str()),
        ("5: the access token of B.2 (`typ` `at+jwt`)", access),
        ("5: the ID-JAG of B.3", id_jag),
        ("5: an ID token of another issuer", &other_issuer),
        ("5: an ID token issued a minute in the future", &future),
    ] {
        r.form(what, INVALID_GRANT, exchange(subject, &[])).await;
    }
    idp.clock.set(T + 3606);
    let what = "5: the ID token of B.2 at `1767229206` (expired, beyond the 5 s leeway)";
    r.form(what, INVALID_GRANT, exchange(t, &[])).await;
    idp.clock.set(T + 60);
    assert!(idp.state.store.delete_user("dave").await.unwrap());
    r.form(
        "5: dave's ID token, dave removed",
        INVALID_GRANT,
        exchange(&dave, &[]),
    )
    .await;
    let form = exchange(t, &[("audience", "https://unknown.example.com")]);
    r.form(
        "6: `audience` `https://unknown.example.com`",
        INVALID_TARGET,
        form,
    )
    .await;
    let what = "6: `other-agent` (which the target does not map) with its ID token";
    let other = Some(IDP_SECRET[1]);
    r.send(what, INVALID_TARGET, exchange(&for_other, &[]), other, &[])
        .await;
    let what = "7: mallory's ID token (no rule matches)";
    r.form(what, INVALID_TARGET, exchange(&mallory, &[])).await;
    let form = exchange(t, &[("resource", REPORTS)]);
    r.form(
        "8: `resource` `https://mcp.example.com/reports`",
        INVALID_TARGET,
        form,
    )
    .await;
    let form = exchange(&bob, &[("scope", "mcp:read mcp:write")]);
    let what = "9: bob's ID token with `scope` `mcp:read mcp:write`";
    r.form(what, (400, "invalid_scope"), form).await;
    r
}

/// `claims` signed by `key` with the header `alg`, `kid` and `typ` `oauth-id-jag+jwt`,
/// and `crit` when given.
fn signed(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value, crit: bool) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    header.typ = Some("oauth-id-jag+jwt".into());
    header.crit = crit.then(|| vec!["exp".into()]);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Section 10.2, at the MCP AS. `id_jag` is B.3's, already redeemed.
async fn as_refusals<'s>(mcp_as: &'s Server, idp: &Server, id_jag: &str) -> Refusals<'s> {
    let mut r = Refusals::new(mcp_as, AS_SECRET[0]);
    let (_, base) = decode(id_jag);
    let mut n = 0;
    // B.3's claims with a new fixed `jti` (none is recorded as used), patched.
    let mut jag = |patch: Value| {
        n += 1;
        let claims = with(&with(&base, json!({"jti": format!("refused-{n}")})), patch);
        idp_sign(idp, "oauth-id-jag+jwt", &claims)
    };
    let good = &jag(json!({}));
    let dpop_grant = "urn:ietf:params:oauth:grant-type:jwt-dpop";
    let form = redemption(good, &[("grant_type", dpop_grant)]);
    let what = format!("1: `grant_type` `{dpop_grant}`");
    r.form(&what, (400, "unsupported_grant_type"), form).await;
    let form = redemption(good, &[("assertion", "")]);
    r.form("1: no `assertion`", INVALID_REQUEST, form).await;
    let mut twice = redemption(good, &[]);
    twice.push(("assertion", good));
    r.form("1: `assertion` twice", INVALID_REQUEST, twice).await;
    let form = redemption(good, &[("resource", "")]);
    r.form("1: no `resource`", INVALID_REQUEST, form).await;
    let mut twice = redemption(good, &[]);
    twice.push(("resource", REPORTS));
    r.form("1: `resource` twice", INVALID_TARGET, twice).await;
    let form = redemption("not-a-jwt", &[]);
    r.form("2: not a compact JWS", INVALID_GRANT, form).await;
    let at_jwt = idp_sign(idp, "at+jwt", &with(&base, json!({"jti": "refused-at"})));
    r.form("2: `typ` `at+jwt`", INVALID_GRANT, redemption(&at_jwt, &[]))
        .await;
    let alone = redemption(good, &[("client_id", "acme-agent")]);
    let wrong = Some(("acme-agent", "wrong"));
    for (what, form, client) in [
        ("3: no client authentication", redemption(good, &[]), None),
        ("3: `client_id` `acme-agent` alone", alone, None),
        ("3: a wrong secret", redemption(good, &[]), wrong),
    ] {
        r.send(what, INVALID_CLIENT, form, client, &[]).await;
    }
    let what = "3: `reporting-job`, without the `jwt-bearer` grant";
    let job = Some(AS_SECRET[1]);
    r.send(
        what,
        (400, "unauthorized_client"),
        redemption(good, &[]),
        job,
        &[],
    )
    .await;
    let acme = Some(AS_SECRET[0]);
    let what = "4: a token-request signature that does not verify";
    let form = redemption(good, &[]);
    r.send(what, (400, "invalid_signature"), form, acme, &SIGNATURE)
        .await;
    let what = "4: a `DPoP` header that is not a JWT";
    let headers = [("DPoP", "not-a-proof")];
    r.send(
        what,
        (400, "invalid_dpop_proof"),
        redemption(good, &[]),
        acme,
        &headers,
    )
    .await;
    let both = [SIGNATURE[0], SIGNATURE[1], ("DPoP", "not-a-proof")];
    let what = "4: a signature and a `DPoP` header";
    r.send(what, INVALID_REQUEST, redemption(good, &[]), acme, &both)
        .await;
    let claims = with(&base, json!({"jti": "refused-header"}));
    let rsa = EncodingKey::from_rsa_pem(key_file("test-key-rsa.private.pem").as_bytes()).unwrap();
    let crit = signed(Algorithm::RS256, "test-key-rsa", &rsa, &claims, true);
    r.form(
        "5: `crit` in the header",
        INVALID_GRANT,
        redemption(&crit, &[]),
    )
    .await;
    let secret = EncodingKey::from_secret(b"a shared secret");
    let hs = signed(Algorithm::HS256, "test-key-rsa", &secret, &claims, false);
    r.form("5: `alg` `HS256`", INVALID_GRANT, redemption(&hs, &[]))
        .await;
    let ed_pem = key_file("test-key-ed25519.private.pem");
    let ed_key = EncodingKey::from_ed_pem(ed_pem.as_bytes()).unwrap();
    let ed = signed(
        Algorithm::EdDSA,
        "test-key-ed25519",
        &ed_key,
        &claims,
        false,
    );
    let other = signed(
        Algorithm::RS256,
        "test-key-rsa",
        &rsa_pss_as_rs256(),
        &claims,
        false,
    );
    for (what, t) in [
        (
            "6: `iss` `https://idp.other.example`",
            jag(json!({"iss": "https://idp.other.example"})),
        ),
        (
            "6: a `tenant` claim (the entry has no `tenant`)",
            jag(json!({"tenant": "acme-eu"})),
        ),
        ("6: `iss` the MCP AS itself", jag(json!({"iss": AS}))),
        (
            "7: `alg` `EdDSA`, `kid` `test-key-ed25519` (in the entry's key set; not in its `algorithms`)",
            ed,
        ),
        (
            "8: signed with the RFC 9421 §B.1.2 key, `kid` `test-key-rsa`",
            other,
        ),
    ] {
        r.form(what, INVALID_GRANT, redemption(&t, &[])).await;
        assert_eq!(r.rows.last().unwrap().2["error_description"], UNTRUSTED);
    }
    let now = T + 61;
    let jkt = DpopKey::new().jkt;
    for (what, patch) in [
        (
            "9: `aud` `https://as.example.com/token`",
            json!({"aud": format!("{AS}/token")}),
        ),
        (
            "9: `aud` with a second audience",
            json!({"aud": [AS, "https://other.example.com"]}),
        ),
        (
            "9: `exp` 61 s ago",
            json!({"iat": now - 361, "exp": now - 61}),
        ),
        ("9: no `iat`", json!({"iat": null})),
        (
            "9: `iat` 61 s ahead",
            json!({"iat": now + 61, "exp": now + 301}),
        ),
        ("9: `nbf` 61 s ahead", json!({"nbf": now + 61})),
        ("9: `exp − iat` 301 s", json!({"exp": T + 60 + 301})),
        ("9: no `sub`", json!({"sub": null})),
        ("9: `jti` empty", json!({"jti": ""})),
        ("9: no `client_id`", json!({"client_id": null})),
        ("9: two resources", json!({"resource": [RESOURCE, REPORTS]})),
        ("9: `scope` an array", json!({"scope": ["mcp:read"]})),
        (
            "9: an `act` claim",
            json!({"act": {"sub": "desktop-agent"}}),
        ),
        (
            "9: an `authorization_details` claim",
            json!({"authorization_details": []}),
        ),
        (
            "10: `client_id` `other-agent`",
            json!({"client_id": "other-agent"}),
        ),
        (
            "11: `cnf` with `x5t#S256`",
            json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}),
        ),
        (
            "11: `cnf.jkt` (B.5's key), no DPoP proof",
            json!({"cnf": {"jkt": jkt}}),
        ),
    ] {
        r.form(what, INVALID_GRANT, redemption(&jag(patch), &[]))
            .await;
    }
    let reports = &jag(json!({"resource": REPORTS}));
    let unknown = "https://mcp.example.com/unknown";
    for (what, form) in [
        (
            "12: `resource` `https://mcp.example.com/unknown`",
            redemption(good, &[("resource", unknown)]),
        ),
        (
            "12: `resource` (and the ID-JAG's) `https://mcp.example.com/reports`, not the entry's",
            redemption(reports, &[("resource", REPORTS)]),
        ),
        (
            "12: the ID-JAG's `resource` `https://mcp.example.com/reports`, B.4's in the request",
            redemption(reports, &[]),
        ),
    ] {
        r.form(what, INVALID_TARGET, form).await;
    }
    let admin = &jag(json!({"scope": "mcp:read mcp:admin"}));
    for (what, form) in [
        (
            "13: `scope` `mcp:write`, the ID-JAG's `mcp:read`",
            redemption(good, &[("scope", "mcp:write")]),
        ),
        (
            "13: `scope` `mcp:admin`, in the ID-JAG, not defined by the resource",
            redemption(admin, &[("scope", "mcp:admin")]),
        ),
    ] {
        r.form(what, (400, "invalid_scope"), form).await;
    }
    let form = redemption(id_jag, &[("scope", "mcp:read")]);
    r.form("14: the request of B.4 again", INVALID_GRANT, form)
        .await;
    r
}

#[tokio::test]
async fn ema_vectors_match_the_profile_document() {
    let generated = generate().await;
    mcp_auth_testkit::check_generated_block(
        DOC,
        BEGIN,
        END,
        &generated,
        "UPDATE_VECTORS",
        "UPDATE_VECTORS=1 cargo test -p mcp-auth-server --test ema_vectors",
    );
}
