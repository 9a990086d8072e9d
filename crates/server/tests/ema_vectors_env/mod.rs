//! The two servers of `ema_vectors.rs` and what it writes: requests through a
//! server's router, a browser's sign-in, deterministic DPoP proofs, and the
//! formatting of Appendix B.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use mcp_auth_core::ManualClock;
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, SigningKey};
use mcp_auth_server::store::StoredKey;
use mcp_auth_server::{AsState, AuthorizationServer, Config, Overrides};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../httpsig/tests/vectors/rfc9421/keys"
);

/// 2026-01-01T00:00:00Z.
pub const T: i64 = 1_767_225_600;
pub const IDP: &str = "https://idp.acme.example";
pub const AS: &str = "https://as.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const CALLBACK: &str = "http://127.0.0.1/callback";
pub const NONCE: &str = "n-0S6_WzA2Mj";
/// RFC 7636 Appendix B's code verifier.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PASSWORD: &str = "correct horse";
/// The IdP's clients and their secrets.
pub const IDP_SECRET: [(&str, &str); 3] = [
    ("desktop-agent", "5Wq8rT2vLx"),
    ("other-agent", "Jt3uQ9wEz4"),
    ("web-only", "Pv6sN1kYb8"),
];
/// The MCP AS's clients and their secrets.
pub const AS_SECRET: [(&str, &str); 2] = [
    ("acme-agent", "Hn4pZ7cKd1"),
    ("reporting-job", "Xc2mL5gFh9"),
];
/// A token-request signature (http-message-signatures profile) whose `keyid` names
/// no key.
pub const SIGNATURE: [(&str, &str); 2] = [
    (
        "Signature-Input",
        "sig1=(\"@method\" \"@target-uri\");created=1767225660;keyid=\"k\";tag=\"httpsig-oauth-token-request\"",
    ),
    ("Signature", "sig1=:AAAA:"),
];

pub fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

/// The RFC 9421 §B.1.2 key (an RSASSA-PSS key in its PEM file), as an RS256 key.
pub fn rsa_pss_as_rs256() -> EncodingKey {
    let jwk = Jwk::from_json(&key_file("test-key-rsa-pss.jwk")).unwrap();
    let pem = SigningKey::from_jwk(&jwk).unwrap().to_pkcs8_pem().unwrap();
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// `text` with each `(actual, placeholder)` replaced.
pub fn hide(text: &str, hidden: &[(&str, &str)]) -> String {
    hidden.iter().fold(text.to_owned(), |t, (actual, shown)| {
        t.replace(actual, shown)
    })
}

/// The decoded header and claims of a compact JWS (not verified).
pub fn decode(jwt: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    (part(0), part(1))
}

/// `claims` with the members of `patch` set, or removed where `patch` has `null`.
pub fn with(claims: &Value, patch: Value) -> Value {
    let mut claims = claims.clone();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// `claims` signed with the IdP's own RS256 key, as it signs ID tokens and ID-JAGs.
pub fn idp_sign(idp: &Server, typ: &str, claims: &Value) -> String {
    let keys = idp.state.keys.current();
    keys.identity
        .as_ref()
        .unwrap()
        .sign_typed(typ, claims)
        .unwrap()
}

pub fn basic((id, secret): (&str, &str)) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn form_body(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

fn digest(secret: &str) -> String {
    STANDARD.encode(mcp_auth_server::client_auth::secret_digest(secret))
}

/// The IdP's configuration: Appendix A.1's, with a second rule for `staff` and two
/// more clients.
pub fn idp_toml() -> String {
    let [(desktop, d), (other, o), (web, w)] = IDP_SECRET;
    format!(
        r#"[[clients]]
client_id = "{desktop}"
client_name = "Desktop Agent"
client_secret_sha256 = "{d}"
grant_types = ["authorization_code", "refresh_token", "{EXCHANGE}"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid"]

# May exchange, but no target maps it.
[[clients]]
client_id = "{other}"
client_secret_sha256 = "{o}"
grant_types = ["authorization_code", "{EXCHANGE}"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid"]

# May sign users in, not exchange.
[[clients]]
client_id = "{web}"
client_secret_sha256 = "{w}"
grant_types = ["authorization_code"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid"]

[[id_jag_targets]]
id = "mcp-example"
audience = "{AS}"
id_jag_ttl = 300

[id_jag_targets.client_ids]
"{desktop}" = "acme-agent"

[[id_jag_targets.rules]]
when = 'client.id == "{desktop}" && "engineering" in user.groups'
resources = ["{RESOURCE}"]
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]

[[id_jag_targets.rules]]
when = 'client.id == "{desktop}" && "staff" in user.groups'
resources = ["{RESOURCE}"]
scopes = ["mcp:read"]
default_scopes = ["mcp:read"]
"#,
        d = digest(d),
        o = digest(o),
        w = digest(w),
    )
}

/// The MCP AS's configuration: Appendix A.2's with the IdP's keys in `jwks`, a
/// second resource and a client without the grant.
pub fn as_toml(jwks: &str) -> String {
    let [(acme, a), (job, j)] = AS_SECRET;
    format!(
        r#"[[resources]]
uri = "{RESOURCE}"
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]

[[resources]]
uri = "https://mcp.example.com/reports"
scopes = ["mcp:read"]

[[clients]]
client_id = "{acme}"
client_secret_sha256 = "{a}"
grant_types = ["{JWT_BEARER}"]
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "{job}"
client_secret_sha256 = "{j}"
grant_types = ["client_credentials"]
scopes = ["mcp:read"]

[[id_jag_issuers]]
id = "acme"
issuer = "{IDP}"
jwks_file = "{jwks}"
algorithms = ["RS256"]
resources = ["{RESOURCE}"]
"#,
        a = digest(a),
        j = digest(j),
    )
}

/// One server: its router, state and clock.
pub struct Server {
    router: axum::Router,
    pub state: AsState,
    pub clock: Arc<ManualClock>,
    host: String,
    _server: AuthorizationServer,
}

/// An answer: status, headers, the body as text and as JSON (`Null` if not).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Server {
    /// Starts the server `issuer` at `T` and installs the test keys `keys` (kid,
    /// alg); the keys generated at the first start are removed, so only the test keys
    /// sign and are published.
    pub async fn start(issuer: &str, toml: &str, data: PathBuf, keys: &[(&str, &str)]) -> Self {
        let mut config = Config::from_sources(
            toml,
            &|_| None,
            &Overrides {
                issuer: Some(issuer.into()),
                data_dir: Some(data),
                ..Overrides::default()
            },
        )
        .unwrap();
        let clock = ManualClock::new(T);
        config.clock = clock.clone();
        let server = AuthorizationServer::start(config).await.unwrap();
        let state = server.state().clone();
        for (kid, alg) in keys {
            state
                .store
                .rotate_in(&StoredKey {
                    kid: (*kid).into(),
                    alg: (*alg).into(),
                    private_pem: key_file(&format!("{kid}.private.pem")),
                    created_at: T,
                    retired_at: None,
                })
                .await
                .unwrap();
        }
        state.store.delete_keys_retired_before(T + 1).await.unwrap();
        state
            .keys
            .reload(&state.store, state.config.access_token_ttl, T)
            .await
            .unwrap();
        Self {
            router: server.router(),
            state,
            clock,
            host: issuer.trim_start_matches("https://").to_owned(),
            _server: server,
        }
    }

    pub async fn add_user(&self, username: &str, groups: &[&str]) {
        let hash = mcp_auth_server::password::hash_password(PASSWORD.into())
            .await
            .unwrap();
        let store = &self.state.store;
        store.insert_user(username, &hash, T).await.unwrap();
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        store.set_user_groups(username, &groups).await.unwrap();
    }

    pub async fn subject(&self, username: &str) -> String {
        let user = self.state.store.user(username).await.unwrap().unwrap();
        user.subject
    }

    async fn send(&self, req: axum::http::request::Builder, body: String) -> Answer {
        let req = req
            .header("host", &self.host)
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.send(Request::get(uri), String::new()).await
    }

    /// `POST path` with `form` and `headers`.
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        self.send(req, form_body(form)).await
    }

    /// A form of the login or consent page, with the browser's cookies.
    async fn page(&self, path: &str, form: &[(&str, String)], jar: &Jar) -> Answer {
        let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.post(path, &form, &[("cookie", &jar.header())]).await
    }

    /// `POST /token` as an HTTP/1.1 message, with `hidden` values replaced.
    pub fn message(
        &self,
        form: &[(&str, &str)],
        client: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        hidden: &[(&str, &str)],
    ) -> String {
        let mut m = format!("POST /token HTTP/1.1\nHost: {}\n", self.host);
        if let Some(c) = client {
            writeln!(m, "Authorization: {}", basic(c)).unwrap();
        }
        writeln!(m, "Content-Type: application/x-www-form-urlencoded").unwrap();
        for (n, v) in headers {
            writeln!(m, "{n}: {v}").unwrap();
        }
        write!(m, "\n{}", form_body(form)).unwrap();
        hide(&m, hidden)
    }

    /// `POST /token` with `form`, HTTP Basic as `client` when given, and `headers`.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        client: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let auth = client.map(basic);
        let mut all: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        all.extend_from_slice(headers);
        self.post("/token", form, &all).await
    }
}

/// A browser's cookies.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn keep(&mut self, headers: &HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.to_owned(), value.to_owned()));
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }
}

/// A sign-in: the authorization request, the redirect, the code and the token
/// response.
pub struct SignIn {
    pub authorize: String,
    pub location: String,
    pub code: String,
    pub answer: Answer,
}

impl SignIn {
    pub fn id_token(&self) -> String {
        self.answer.body["id_token"].as_str().unwrap().to_owned()
    }
}

/// The token request's form for `code`.
pub fn code_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ]
}

/// `username` signs in for `client` through the login and consent pages (`openid`
/// with a nonce, no resource), and `client` redeems the code.
pub async fn sign_in(idp: &Server, client: &str, username: &str) -> SignIn {
    let challenge = mcp_auth_testkit::pkce_challenge(VERIFIER);
    let authorize = format!(
        "/authorize?{}",
        form_body(&[
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", CALLBACK),
            ("scope", "openid"),
            ("state", "af0ifjsldkj"),
            ("nonce", NONCE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    );
    let mut jar = Jar::default();
    let login = idp.get(&authorize).await;
    assert_eq!(login.status, 200, "{}", login.text);
    jar.keep(&login.headers);
    let hidden = |page: &Answer, name| mcp_auth_testkit::hidden(&page.text, name);
    let form = [
        ("request", hidden(&login, "request")),
        ("csrf", hidden(&login, "csrf")),
        ("username", username.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let consent = idp.page("/login", &form, &jar).await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    jar.keep(&consent.headers);
    let form = [
        ("request", hidden(&consent, "request")),
        ("csrf", hidden(&consent, "csrf")),
        ("decision", "allow".to_owned()),
    ];
    let done = idp.page("/consent", &form, &jar).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let location = done.headers["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    let (_, code) = url.query_pairs().find(|(k, _)| k == "code").unwrap();
    let code = code.into_owned();
    let secret = IDP_SECRET.iter().find(|(c, _)| *c == client).unwrap();
    let answer = idp.token(&code_form(&code), Some(*secret), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    SignIn {
        authorize,
        location,
        code,
        answer,
    }
}

/// A DPoP key: the RFC 9421 §B.1.2 key used with RS256, whose signatures are
/// deterministic.
pub struct DpopKey {
    key: SigningKey,
    jwk: Value,
    pub jkt: String,
}

impl DpopKey {
    pub fn new() -> Self {
        let jwk = Jwk::from_json(&key_file("test-key-rsa-pss.jwk")).unwrap();
        let pem = SigningKey::from_jwk(&jwk).unwrap().to_pkcs8_pem().unwrap();
        let key = SigningKey::from_pem(&pem).unwrap();
        let signer = mcp_auth_core::dpop::ProofSigner::new(
            SigningKey::from_pem(&pem).unwrap(),
            JwsAlgorithm::Rs256,
        )
        .unwrap();
        let full: Value = serde_json::from_str(&key_file("test-key-rsa-pss.jwk")).unwrap();
        Self {
            key,
            jwk: json!({"kty": "RSA", "e": full["e"], "n": full["n"]}),
            jkt: signer.jkt().to_owned(),
        }
    }

    /// A proof for `POST htu` at `iat` with `jti`.
    pub fn proof(&self, jti: &str, htu: &str, iat: i64) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": self.jwk});
        let claims = json!({"jti": jti, "htm": "POST", "htu": htu, "iat": iat});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(Algorithm::Jws(JwsAlgorithm::Rs256), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// Refused requests at one server: what was changed, the status and the body.
pub struct Refusals<'s> {
    server: &'s Server,
    /// The client of most requests.
    client: (&'s str, &'s str),
    pub rows: Vec<(String, u16, Value)>,
    /// The first 401 with a `WWW-Authenticate`, and its value.
    challenge: Option<(String, String)>,
}

impl<'s> Refusals<'s> {
    pub fn new(server: &'s Server, client: (&'s str, &'s str)) -> Self {
        Self {
            server,
            client,
            rows: Vec::new(),
            challenge: None,
        }
    }

    /// [`Refusals::send`] as the usual client, without headers.
    pub async fn form(&mut self, what: &str, expected: (u16, &str), form: Vec<(&str, &str)>) {
        let client = Some(self.client);
        self.send(what, expected, form, client, &[]).await;
    }

    /// Sends the token request and records the answer, after checking it is
    /// `expected`, an RFC 6749 §5.2 error with `no-store`.
    pub async fn send(
        &mut self,
        what: &str,
        expected: (u16, &str),
        form: Vec<(&str, &str)>,
        client: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) {
        let answer = self.server.token(&form, client, headers).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (expected.0, Some(expected.1)),
            "{what}: {}",
            answer.text
        );
        assert!(answer.body["error_description"].is_string(), "{what}");
        assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
        if answer.status == 401 && self.challenge.is_none() {
            self.challenge = answer
                .headers
                .get("www-authenticate")
                .map(|v| (what.to_owned(), v.to_str().unwrap().to_owned()));
        }
        self.rows
            .push((what.to_owned(), answer.status, answer.body));
    }

    /// The table, after `intro`.
    pub fn write(&self, doc: &mut Doc, intro: &str) {
        let mut text = intro.to_owned();
        if let Some((what, c)) = &self.challenge {
            let what = what.split_once(": ").map_or(what.as_str(), |(_, w)| w);
            write!(text, " The 401 of {what} carries `WWW-Authenticate: {c}`.").unwrap();
        }
        doc.p(&text);
        let mut table =
            "| step: request | status | error | error_description |\n|---|---|---|---|\n"
                .to_owned();
        for (what, status, body) in &self.rows {
            let error = body["error"].as_str().unwrap();
            let description = body["error_description"].as_str().unwrap();
            writeln!(table, "| {what} | {status} | `{error}` | {description} |").unwrap();
        }
        doc.p(&table);
    }
}

/// The text of the appendix, paragraph by paragraph.
#[derive(Default)]
pub struct Doc(String);

impl Doc {
    /// A paragraph (or a heading, or a table).
    pub fn p(&mut self, text: &str) {
        writeln!(self.0, "{}\n", text.trim_end()).unwrap();
    }

    /// A fenced code block.
    pub fn code(&mut self, lang: &str, text: &str) {
        writeln!(self.0, "```{lang}\n{}\n```\n", text.trim_end()).unwrap();
    }

    /// JSON, pretty, with `hidden` values replaced.
    pub fn json(&mut self, v: &Value, hidden: &[(&str, &str)]) {
        self.code("json", &hide(&pretty(v), hidden));
    }

    /// A JWT's header (on one line) and claims, with `jti` (random whenever the
    /// servers make one) and `hidden` values replaced.
    pub fn jwt(&mut self, token: &str, hidden: &[(&str, &str)]) {
        let (header, mut claims) = decode(token);
        if claims.get("jti").is_some() {
            claims["jti"] = json!("<random>");
        }
        self.code("json", &header.to_string());
        self.json(&claims, hidden);
    }

    /// A 200 token response with `no-store`, its members `replaced` by placeholders.
    pub fn response(&mut self, answer: &Answer, replaced: &[(&str, &str)]) {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.headers["cache-control"], "no-store");
        let mut body = answer.body.clone();
        for (member, shown) in replaced {
            assert!(body[*member].is_string(), "{member}: {body}");
            body[*member] = json!(shown);
        }
        self.p("The response (200, with `Cache-Control: no-store`):");
        self.json(&body, &[]);
    }

    pub fn into_string(self) -> String {
        self.0
    }
}
