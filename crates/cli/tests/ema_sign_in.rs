//! The client's own OpenID Connect sign-in at the enterprise identity provider
//! (profiles/enterprise-managed-authorization.md §7.1, §7.11 item 2, EMA-C-2,
//! EMA-C-7, EMA-C-8), through the binary: `mcp-auth login --idp URL
//! --idp-client-id ID`, then `mcp-auth call ... --idp-client-id ID --client-id ID`
//! without --id-token. Over real HTTP on loopback: a test IdP (OpenID
//! configuration, a JWK Set with an RSA key, `/authorize` redirecting back with a
//! code, `/token` answering the code, refresh tokens and the exchange with RS256
//! ID tokens), the browser played by the test following the printed URL, and the
//! test MCP server of `common::ema`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

mod common;

use common::ema::{
    AS_CLIENT, IDP_CLIENT, TOKEN_EXCHANGE, access_token, basic, id_jag_for, mcp_auth, mcp_server,
    metadata, now, refusal,
};
use common::{Seen, Server, at, serve};

const RS256: Algorithm = Algorithm::Jws(JwsAlgorithm::Rs256);
/// The `sub` of the test IdP's user.
const SUBJECT: &str = "7f3c9a2e-5b1d-4e8f-9a6b-1c2d3e4f5a6b";

/// How the test IdP spoils the ID token of the code flow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tamper {
    Nothing,
    Nonce,
    Issuer,
    Audience,
    Signature,
}

/// What the test IdP knows and does.
struct State {
    key: SigningKey,
    /// A key of no JWK Set, with the same `kid`.
    forger: SigningKey,
    /// Code → the request's `nonce` and `code_challenge`.
    codes: HashMap<String, (String, String)>,
    /// The ID tokens issued, in order.
    issued: Vec<String>,
    /// The refresh token the IdP honours now (rotated at every refresh).
    refresh_token: Option<String>,
    /// Seconds until the next ID token expires.
    lifetime: i64,
    tamper: Tamper,
    /// Answer refresh tokens with `invalid_grant`.
    refuse_refresh: bool,
}

/// The test IdP.
struct Idp {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Idp {
    async fn start(tamper: Tamper, lifetime: i64) -> Self {
        let generate = || SigningKey::generate(RS256).unwrap().with_kid("idp-rsa-1");
        let state = Arc::new(Mutex::new(State {
            key: generate(),
            forger: generate(),
            codes: HashMap::new(),
            issued: Vec::new(),
            refresh_token: None,
            lifetime,
            tamper,
            refuse_refresh: false,
        }));
        let shared = state.clone();
        let server = serve(move |request, base| {
            let mut state = shared.lock().unwrap();
            match request.path.as_str() {
                "/.well-known/openid-configuration" => openid_configuration(base),
                "/jwks" => jwks(&state.key),
                "/authorize" => authorize(&mut state, request),
                "/token" => token(&mut state, request, base),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        })
        .await;
        Self { server, state }
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    /// The `n`th ID token issued (0 for the sign-in's).
    fn issued(&self, n: usize) -> String {
        self.state.lock().unwrap().issued[n].clone()
    }

    /// The token requests with this `grant_type`.
    fn token_requests(&self, grant_type: &str) -> Vec<Seen> {
        at(&self.server, "/token")
            .into_iter()
            .filter(|r| r.form("grant_type").as_deref() == Some(grant_type))
            .collect()
    }
}

/// §5.1's metadata (OIDC Discovery §3), at the OpenID Connect location only.
fn openid_configuration(base: &str) -> Response {
    let mut doc = metadata(base);
    for (k, v) in [
        ("authorization_endpoint", json!(format!("{base}/authorize"))),
        ("jwks_uri", json!(format!("{base}/jwks"))),
        ("response_types_supported", json!(["code"])),
        ("code_challenge_methods_supported", json!(["S256"])),
        ("subject_types_supported", json!(["public"])),
        ("id_token_signing_alg_values_supported", json!(["RS256"])),
        ("scopes_supported", json!(["openid"])),
        (
            "grant_types_supported",
            json!(["authorization_code", "refresh_token", TOKEN_EXCHANGE]),
        ),
    ] {
        doc[k] = v;
    }
    axum::Json(doc).into_response()
}

fn jwks(key: &SigningKey) -> Response {
    let mut jwk = key.verifying_key().to_jwk();
    jwk.kid = Some("idp-rsa-1".into());
    jwk.alg = Some("RS256".into());
    jwk.use_ = Some("sig".into());
    axum::Json(json!({"keys": [jwk]})).into_response()
}

/// Approves at once: back to `redirect_uri` with a code and the `state`.
fn authorize(state: &mut State, request: &Seen) -> Response {
    let q = |name| request.query(name).unwrap_or_default();
    let code = format!("code-{}", state.codes.len() + 1);
    state
        .codes
        .insert(code.clone(), (q("nonce"), q("code_challenge")));
    let mut back = url::Url::parse(&q("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q("state"));
    (StatusCode::FOUND, [("location", back.to_string())]).into_response()
}

/// The token endpoint: the code (PKCE checked), refresh tokens (rotated), and the
/// exchange (an unsigned ID-JAG).
fn token(state: &mut State, request: &Seen, base: &str) -> Response {
    if request.header("authorization") != Some(basic(IDP_CLIENT).as_str()) {
        return refusal("invalid_client", "the IdP client did not authenticate");
    }
    let form = |name| request.form(name).unwrap_or_default();
    let nonce = match form("grant_type").as_str() {
        TOKEN_EXCHANGE => return id_jag_for(request, state.issued.len()),
        "authorization_code" => match state.codes.remove(&form("code")) {
            Some((nonce, challenge))
                if mcp_auth_testkit::pkce_challenge(&form("code_verifier")) == challenge =>
            {
                Some(nonce)
            }
            _ => return refusal("invalid_grant", "unknown code or wrong code_verifier"),
        },
        "refresh_token"
            if !state.refuse_refresh
                && state.refresh_token.as_deref() == Some(form("refresh_token").as_str()) =>
        {
            None
        }
        "refresh_token" => return refusal("invalid_grant", "the refresh token has ended"),
        _ => return refusal("unsupported_grant_type", ""),
    };
    let id_token = id_token(state, base, nonce);
    state.issued.push(id_token.clone());
    let refresh_token = format!("rt-{}", state.issued.len());
    state.refresh_token = Some(refresh_token.clone());
    axum::Json(json!({
        "access_token": "idp-access-token", "token_type": "Bearer", "expires_in": 3600,
        "scope": "openid", "id_token": id_token, "refresh_token": refresh_token,
    }))
    .into_response()
}

/// An RS256 ID token (§7.1) for the code flow's `nonce` (none on a refresh),
/// spoiled as the IdP's tamper says for the code flow.
fn id_token(state: &State, base: &str, nonce: Option<String>) -> String {
    let tamper = match nonce {
        Some(_) => state.tamper,
        None => Tamper::Nothing,
    };
    let iat = now();
    let mut claims = json!({
        "iss": base, "sub": SUBJECT, "aud": IDP_CLIENT.0, "iat": iat,
        "exp": iat + state.lifetime, "auth_time": iat,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    match tamper {
        Tamper::Nonce => claims["nonce"] = json!("n-another-request"),
        Tamper::Issuer => claims["iss"] = json!("https://idp.other.example"),
        Tamper::Audience => claims["aud"] = json!("another-client"),
        Tamper::Signature | Tamper::Nothing => {}
    }
    let key = match tamper {
        Tamper::Signature => &state.forger,
        _ => &state.key,
    };
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"alg": "RS256", "kid": "idp-rsa-1", "typ": "JWT"});
    let input = format!("{}.{}", part(&header), part(&claims));
    let signature = key.sign(RS256, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A user's directory, whose default token cache `default-cache.json` is where
/// `login` keeps the sign-in unless told otherwise.
struct User {
    dir: tempfile::TempDir,
}

/// What `mcp-auth login --idp` did.
struct Login {
    code: i32,
    stderr: String,
    /// The authorization URL it printed, if it got that far.
    url: Option<url::Url>,
}

impl Login {
    fn param(&self, name: &str) -> Option<String> {
        let url = self.url.as_ref()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl User {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn default_cache(&self) -> PathBuf {
        self.dir.path().join("default-cache.json")
    }

    /// `mcp-auth login --idp IDP --idp-client-id desktop-agent --no-browser
    /// <extra>`, the test visiting the printed URL as the browser (the IdP
    /// redirects it back to the loopback listener at once).
    async fn login(&self, idp: &Idp, extra: &[&str]) -> Login {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
            .args([
                "login",
                "--idp",
                idp.base(),
                "--idp-client-id",
                IDP_CLIENT.0,
            ])
            .args(["--no-browser", "--timeout", "30"])
            .args(extra)
            .env("MCP_AUTH_TOKEN_CACHE", self.default_cache())
            .env("MCP_AUTH_IDP_CLIENT_SECRET", IDP_CLIENT.1)
            .env_remove("MCP_AUTH_CLIENT_SECRET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut stderr = String::new();
        let mut url = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            stderr.push_str(&line);
            stderr.push('\n');
            if let Some(rest) = line.trim().strip_prefix("http") {
                url = Some(url::Url::parse(&format!("http{rest}")).unwrap());
                break;
            }
        }
        if let Some(url) = &url {
            let page = reqwest::get(url.as_str()).await.unwrap();
            assert_eq!(page.status(), 200, "the loopback listener's page");
        }
        while let Some(line) = lines.next_line().await.unwrap() {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        let code = child.wait().await.unwrap().code().unwrap_or(-1);
        Login { code, stderr, url }
    }

    /// `mcp-auth call MCP tools/list --idp-client-id desktop-agent --client-id
    /// acme-agent <extra>` with both secrets; (exit code, stdout, stderr).
    async fn call(&self, mcp: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec!["call", mcp, "tools/list"];
        args.extend(["--idp-client-id", IDP_CLIENT.0, "--client-id", AS_CLIENT.0]);
        args.extend_from_slice(extra);
        let env = [
            ("MCP_AUTH_IDP_CLIENT_SECRET", IDP_CLIENT.1),
            ("MCP_AUTH_CLIENT_SECRET", AS_CLIENT.1),
        ];
        mcp_auth(self.dir.path(), &args, &env).await
    }
}

/// The sign-in kept in `cache` for `idp` and desktop-agent.
fn kept(cache: &Path, idp: &Idp) -> Value {
    let all: Value = serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    all["idp_sign_ins"][idp.base()][IDP_CLIENT.0].clone()
}

/// A test MCP server whose authorization server always issues `at-1`, the token
/// its `/mcp` accepts; and its MCP endpoint.
async fn mcp() -> (Server, String) {
    let server = mcp_server(|request, _| access_token(request, 1)).await;
    let mcp = format!("{}/mcp", server.base);
    (server, mcp)
}

/// The payload of a JWT: what a log or a file would show of it.
fn payload(jwt: &str) -> &str {
    jwt.split('.').nth(1).unwrap()
}

#[tokio::test]
async fn ema_c_2_login_signs_in_with_pkce_and_a_nonce_and_call_exchanges_the_kept_id_token() {
    let idp = Idp::start(Tamper::Nothing, 3600).await;
    let (server, mcp) = mcp().await;
    let user = User::new();
    let login = user.login(&idp, &[]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(
        login.stderr.contains(&format!(
            "Signed in at {} as `desktop-agent`; the ID token is valid for",
            idp.base()
        )),
        "{}",
        login.stderr
    );
    // §7.1: the authorization request.
    let url = login.url.as_ref().unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/authorize?", idp.base()))
    );
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", IDP_CLIENT.0),
        ("scope", "openid"),
        ("code_challenge_method", "S256"),
    ] {
        assert_eq!(login.param(name).as_deref(), Some(value), "{url}");
    }
    assert!(login.param("nonce").is_some_and(|n| n.len() >= 16), "{url}");
    assert!(login.param("state").is_some_and(|s| s.len() >= 16), "{url}");
    assert_eq!(
        login.param("resource"),
        None,
        "scope openid alone: no resource"
    );
    let redirect_uri = login.param("redirect_uri").unwrap();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:"),
        "{redirect_uri}"
    );
    // The code redeemed with its verifier, as the IdP client, without resource.
    let code = &idp.token_requests("authorization_code")[0];
    assert_eq!(code.form("redirect_uri"), Some(redirect_uri));
    assert!(code.form("code_verifier").is_some());
    assert_eq!(code.form("resource"), None);
    assert_eq!(
        code.header("authorization"),
        Some(basic(IDP_CLIENT).as_str())
    );
    // Kept in the default cache, keyed by the IdP and the IdP client.
    let sign_in = kept(&user.default_cache(), &idp);
    assert_eq!(sign_in["id_token"], idp.issued(0));
    assert_eq!(sign_in["refresh_token"], "rt-1");
    assert_eq!(sign_in["subject"], SUBJECT);

    let (code, out, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("whoami"), "{out}");
    let exchange = &idp.token_requests(TOKEN_EXCHANGE)[0];
    assert_eq!(exchange.form("subject_token"), Some(idp.issued(0)));
    assert_eq!(
        exchange.header("authorization"),
        Some(basic(IDP_CLIENT).as_str())
    );
    assert!(
        idp.token_requests("refresh_token").is_empty(),
        "an ID token valid for an hour is sent as kept"
    );
    assert_eq!(
        at(&server, "/token")[0].header("authorization"),
        Some(basic(AS_CLIENT).as_str())
    );
    // EMA-C-7: neither command wrote the ID token anywhere but the cache.
    for output in [&login.stderr, &out, &err] {
        assert!(!output.contains(payload(&idp.issued(0))), "{output}");
        assert!(!output.contains("rt-1"), "{output}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn ema_c_2_the_sign_in_is_kept_0600_in_a_0700_directory_without_the_idp_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let idp = Idp::start(Tamper::Nothing, 3600).await;
    let user = User::new();
    let cache = user.dir.path().join("new").join("tokens.json");
    let login = user
        .login(&idp, &["--token-cache", cache.to_str().unwrap()])
        .await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
    let written = std::fs::read_to_string(&cache).unwrap();
    assert!(written.contains(payload(&idp.issued(0))));
    assert!(!written.contains(IDP_CLIENT.1), "{written}");
    assert!(!user.default_cache().exists());
}

/// Signs in at an IdP that spoils its ID token as `tamper` says, its ID tokens
/// valid for `lifetime` s; asserts the login refused, saying `problem`, with
/// nothing kept and no token printed.
async fn refused_sign_in(tamper: Tamper, lifetime: i64, problem: &str) {
    let idp = Idp::start(tamper, lifetime).await;
    let user = User::new();
    let login = user.login(&idp, &[]).await;
    let problem = problem.replace("{issuer}", idp.base());
    assert_eq!(login.code, 2, "{}", login.stderr);
    assert!(
        login.stderr.contains(&format!(
            "error: the identity provider {} sent an ID token that is not valid: {problem}; it was not kept",
            idp.base()
        )),
        "{}",
        login.stderr
    );
    assert!(!login.stderr.contains(payload(&idp.issued(0))));
    assert!(!user.default_cache().exists(), "nothing kept");
}

#[tokio::test]
async fn ema_c_2_an_id_token_with_another_nonce_is_refused() {
    let problem = "its nonce is not the one the authorization request sent";
    refused_sign_in(Tamper::Nonce, 3600, problem).await;
}

#[tokio::test]
async fn ema_c_2_an_id_token_of_another_issuer_is_refused() {
    let problem = "its iss is not exactly the identity provider's issuer {issuer}";
    refused_sign_in(Tamper::Issuer, 3600, problem).await;
}

#[tokio::test]
async fn ema_c_2_an_id_token_for_another_client_is_refused() {
    let problem = "its aud is not exactly the client id desktop-agent";
    refused_sign_in(Tamper::Audience, 3600, problem).await;
}

#[tokio::test]
async fn ema_c_2_an_id_token_not_signed_by_a_key_of_the_idps_jwks_is_refused() {
    let problem = "its signature does not verify with the identity provider's key";
    refused_sign_in(Tamper::Signature, 3600, problem).await;
}

#[tokio::test]
async fn ema_c_2_an_expired_id_token_is_refused() {
    refused_sign_in(Tamper::Nothing, -120, "it has expired, or has no exp").await;
}

#[tokio::test]
async fn ema_c_2_an_id_token_expiring_within_60_s_or_expired_is_refreshed_before_the_exchange() {
    let idp = Idp::start(Tamper::Nothing, 30).await;
    let (_server, mcp) = mcp().await;
    let user = User::new();
    let login = user.login(&idp, &[]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);

    // Expires within 60 s: refreshed first, the new ID token exchanged and kept.
    let (code, _, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 0, "{err}");
    let refresh = &idp.token_requests("refresh_token")[0];
    assert_eq!(refresh.form("refresh_token").as_deref(), Some("rt-1"));
    assert_eq!(
        refresh.header("authorization"),
        Some(basic(IDP_CLIENT).as_str())
    );
    assert_eq!(refresh.form("resource"), None);
    let exchanges = idp.token_requests(TOKEN_EXCHANGE);
    assert_eq!(exchanges[0].form("subject_token"), Some(idp.issued(1)));
    let sign_in = kept(&user.default_cache(), &idp);
    assert_eq!(sign_in["id_token"], idp.issued(1));
    assert_eq!(
        sign_in["refresh_token"], "rt-2",
        "the rotated refresh token"
    );

    // Expired: refreshed with the rotated refresh token.
    idp.state.lock().unwrap().lifetime = 3600;
    let mut all: Value =
        serde_json::from_slice(&std::fs::read(user.default_cache()).unwrap()).unwrap();
    all["idp_sign_ins"][idp.base()][IDP_CLIENT.0]["expires_at"] = json!(now() - 10);
    std::fs::write(user.default_cache(), all.to_string()).unwrap();
    let (code, _, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 0, "{err}");
    let refreshes = idp.token_requests("refresh_token");
    assert_eq!(refreshes[1].form("refresh_token").as_deref(), Some("rt-2"));
    let exchanges = idp.token_requests(TOKEN_EXCHANGE);
    assert_eq!(exchanges[1].form("subject_token"), Some(idp.issued(2)));

    // Valid for an hour now: sent as kept.
    let (code, _, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(idp.token_requests("refresh_token").len(), 2);
    let exchanges = idp.token_requests(TOKEN_EXCHANGE);
    assert_eq!(exchanges[2].form("subject_token"), Some(idp.issued(2)));
    for output in [&err, &login.stderr] {
        for n in 0..3 {
            assert!(!output.contains(payload(&idp.issued(n))), "{output}");
        }
    }
}

#[tokio::test]
async fn ema_c_8_after_the_idps_invalid_grant_on_refresh_call_says_to_log_in_again() {
    let idp = Idp::start(Tamper::Nothing, 30).await;
    let (server, mcp) = mcp().await;
    let user = User::new();
    let login = user.login(&idp, &[]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    idp.state.lock().unwrap().refuse_refresh = true;
    let (code, out, err) = user.call(&mcp, &[]).await;
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains(&format!(
            "it refused the refresh token: invalid_grant: the refresh token has ended): sign in again with `mcp-auth login --idp {} --idp-client-id desktop-agent`",
            idp.base()
        )),
        "{err}"
    );
    assert_eq!(idp.token_requests("refresh_token").len(), 1, "no retry");
    assert!(idp.token_requests(TOKEN_EXCHANGE).is_empty(), "no exchange");
    assert!(at(&server, "/token").is_empty(), "no other grant");
    assert!(!err.contains(payload(&idp.issued(0))), "{err}");
}

#[tokio::test]
async fn with_sign_ins_at_two_idps_call_needs_idp_to_choose_one() {
    let (first, second) = (
        Idp::start(Tamper::Nothing, 3600).await,
        Idp::start(Tamper::Nothing, 3600).await,
    );
    let (_server, mcp) = mcp().await;
    let user = User::new();
    for idp in [&first, &second] {
        let login = user.login(idp, &[]).await;
        assert_eq!(login.code, 0, "{}", login.stderr);
    }
    let (code, _, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 2);
    let mut bases = [first.base(), second.base()];
    bases.sort_unstable();
    assert_eq!(
        err,
        format!(
            "error: sign-ins at several identity providers are kept as `desktop-agent` in {} ({}, {}): choose one with --idp URL\n",
            user.default_cache().display(),
            bases[0],
            bases[1]
        )
    );
    let (code, _, err) = user.call(&mcp, &["--idp", second.base()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(first.token_requests(TOKEN_EXCHANGE).is_empty());
    assert_eq!(
        second.token_requests(TOKEN_EXCHANGE)[0].form("subject_token"),
        Some(second.issued(0))
    );
}

#[tokio::test]
async fn without_a_kept_sign_in_call_says_to_log_in_and_sends_nothing() {
    let (server, mcp) = mcp().await;
    let user = User::new();
    let (code, _, err) = user.call(&mcp, &[]).await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: no sign-in as `desktop-agent` is kept in {}: run `mcp-auth login --idp URL --idp-client-id desktop-agent` first, or give --id-token FILE\n",
            user.default_cache().display()
        )
    );
    let (code, _, err) = user
        .call(&mcp, &["--idp", "https://idp.acme.example"])
        .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("no sign-in at https://idp.acme.example as `desktop-agent`"),
        "{err}"
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn login_idp_flags_require_each_other_and_exclude_an_mcp_server_sign_in() {
    let user = User::new();
    let run = |args: &'static [&'static str]| mcp_auth(user.dir.path(), args, &[]);
    for (args, says) in [
        (
            &["login", "--idp", "https://idp.example"][..],
            "--idp-client-id <ID>",
        ),
        (&["login", "--idp-client-id", "d"], "<SERVER>"),
        (
            &["login", "http://127.0.0.1:9/mcp", "--idp-client-id", "d"],
            "cannot be used with",
        ),
        (
            &[
                "login",
                "--idp",
                "https://idp.example",
                "--idp-client-id",
                "d",
                "--client-id",
                "c",
            ],
            "cannot be used with",
        ),
        (
            &[
                "login",
                "--idp",
                "https://idp.example",
                "--idp-client-id",
                "d",
                "--scope",
                "s",
            ],
            "cannot be used with",
        ),
        (
            &[
                "login",
                "--idp",
                "https://idp.example?x",
                "--idp-client-id",
                "d",
            ],
            "--idp https://idp.example?x: an issuer is an https URL",
        ),
        (&["login"], "<SERVER>"),
    ] {
        let (code, _, err) = run(args).await;
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let words = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (code, help, _) = run(&["login", "--help"]).await;
    assert_eq!(code, 0);
    let help = words(help);
    for flag in [
        "--idp <URL>",
        "--idp-client-id <ID>",
        "--idp-client-auth <METHOD>",
        "--idp-private-key <FILE>",
        "--idp-signing-alg <ALG>",
        "mcp-auth login --idp https://idp.acme.example --idp-client-id desktop-agent",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    let (code, help, _) = run(&["call", "--help"]).await;
    assert_eq!(code, 0);
    let help = words(help);
    assert!(
        help.contains("without --id-token, the ID token is the one"),
        "{help}"
    );
}
