//! A "browser" for the login and consent pages: one cookie jar per [`Env`] (the
//! browser-binding cookie, plus the session cookie the tests pass), real HTTP to a real
//! authorization server with four clients and the user alice.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub use mcp_auth_testkit::hidden;
use mcp_auth_testkit::register_client;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::RESOURCE;

/// The redirect URI of the test clients.
pub const CALLBACK: &str = "http://127.0.0.1:9999/callback";

pub struct Env {
    pub issuer: String,
    pub state: mcp_auth_server::AsState,
    pub http: reqwest::Client,
    /// The browser-binding cookie `/authorize` gave this "browser", sent with every
    /// later request as a browser would.
    pub browser: std::sync::Mutex<Option<String>>,
    pub _running: std::sync::Arc<super::TestServer>,
}

/// The name of the browser-binding cookie on an http issuer.
const BROWSER_COOKIE: &str = "mcp_auth_browser";

pub async fn start() -> Env {
    start_with("").await
}

/// [`start`] with more configuration.
pub async fn start_with(toml: &str) -> Env {
    let running = super::spawn(toml, "").await;
    let state = running.state.clone();
    let public = json!({"grant_types": ["authorization_code", "refresh_token"], "scopes": ["mcp:read", "mcp:write"], "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none", "client_name": "Test App"});
    for (id, secret, metadata) in [
        ("app", None, public.clone()),
        ("other-app", None, public.clone()),
        (
            "webapp",
            Some("web-secret"),
            json!({"grant_types": ["authorization_code", "refresh_token"], "scopes": ["mcp:read"], "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_basic"}),
        ),
        (
            "cc-only",
            Some("cc-secret"),
            json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"], "redirect_uris": [CALLBACK]}),
        ),
    ] {
        register_client(&state, id, secret, metadata).await;
    }
    let hash = mcp_auth_server::password::hash_password("correct horse".into())
        .await
        .unwrap();
    state.store.insert_user("alice", &hash, 0).await.unwrap();
    Env {
        issuer: running.issuer.clone(),
        state,
        http: running.http.clone(),
        browser: std::sync::Mutex::new(None),
        _running: std::sync::Arc::new(running),
    }
}

pub fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}", "x".repeat(40));
    let challenge = mcp_auth_testkit::pkce_challenge(&verifier);
    (verifier, challenge)
}

pub fn query(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub struct Resp {
    pub status: StatusCode,
    pub csp: String,
    pub location: Option<String>,
    pub cookie: Option<String>,
    pub body: String,
}

impl Env {
    /// Another browser (its own cookie jar) on the same server, connecting from
    /// `from` (another loopback address stands for another machine).
    pub fn another_browser(&self, from: Option<std::net::IpAddr>) -> Env {
        let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(ip) = from {
            http = http.local_address(ip);
        }
        Env {
            issuer: self.issuer.clone(),
            state: self.state.clone(),
            http: http.build().unwrap(),
            browser: std::sync::Mutex::new(None),
            _running: std::sync::Arc::clone(&self._running),
        }
    }

    /// The `cookie` header: the browser binding (when there is one) and `extra`.
    pub fn cookies(&self, extra: Option<&str>) -> Option<String> {
        let binding = self.browser.lock().unwrap().clone();
        match (binding, extra) {
            (Some(b), Some(e)) => Some(format!("{b}; {e}")),
            (b, e) => b.or(e.map(str::to_owned)),
        }
    }

    pub async fn get_authorize(&self, params: &[(&str, &str)], cookie: Option<&str>) -> Resp {
        let mut req = self
            .http
            .get(format!("{}/authorize", self.issuer))
            .query(params);
        if let Some(c) = self.cookies(cookie) {
            req = req.header("cookie", c);
        }
        self.read(req.send().await.unwrap()).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Resp {
        let mut req = self.http.post(format!("{}{path}", self.issuer)).form(form);
        if let Some(c) = self.cookies(cookie) {
            req = req.header("cookie", c);
        }
        self.read(req.send().await.unwrap()).await
    }

    /// Reads a response; a browser-binding cookie it sets is kept for later requests,
    /// any other cookie (the session) is returned.
    pub async fn read(&self, r: reqwest::Response) -> Resp {
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let mut cookie = None;
        for set in r.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if pair.starts_with(&format!("{BROWSER_COOKIE}=")) {
                *self.browser.lock().unwrap() = Some(pair);
            } else {
                cookie = Some(pair);
            }
        }
        let csp = r
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Resp {
            status,
            csp,
            location,
            cookie,
            body: r.text().await.unwrap(),
        }
    }

    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}/token", self.issuer)).form(form);
        if let Some((id, s)) = basic {
            req = req.basic_auth(id, Some(s));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        assert_eq!(r.headers()["cache-control"], "no-store");
        (status, r.json().await.unwrap())
    }

    /// Runs authorize → login → consent for `client`; returns the redirect query and
    /// the session cookie.
    pub async fn code_for(
        &self,
        client: &str,
        challenge: &str,
        state: &str,
    ) -> (std::collections::HashMap<String, String>, String) {
        self.code_for_with(client, challenge, state, &[]).await
    }

    /// Runs authorize → login as `username` → consent with exactly `params`; returns
    /// the redirect query.
    pub async fn sign_in(
        &self,
        params: &[(&str, &str)],
        username: &str,
        password: &str,
    ) -> std::collections::HashMap<String, String> {
        self.sign_in_showing(params, username, password, &[])
            .await
            .0
    }

    /// [`Env::sign_in`], checking that the consent page shows each of `shown`; returns
    /// the redirect query and the session cookie.
    pub async fn sign_in_showing(
        &self,
        params: &[(&str, &str)],
        username: &str,
        password: &str,
        shown: &[&str],
    ) -> (std::collections::HashMap<String, String>, String) {
        let login = self.get_authorize(params, None).await;
        assert_eq!(login.status, 200, "{:?} {}", login.location, login.body);
        // Browsers apply form-action to the redirect that answers the form: the
        // client's origin must be allowed beside 'self'.
        assert!(
            login
                .csp
                .contains("form-action 'self' http://127.0.0.1:9999;"),
            "{}",
            login.csp
        );
        assert!(login.body.contains("<h1>Sign in</h1>"), "{}", login.body);
        let consent = self
            .post_form(
                "/login",
                &[
                    ("request", &hidden(&login.body, "request")),
                    ("csrf", &hidden(&login.body, "csrf")),
                    ("username", username),
                    ("password", password),
                ],
                None,
            )
            .await;
        if consent.status == 303 {
            // Consent was remembered from an earlier run: the code comes at once.
            let location = consent.location.unwrap();
            return (query(&location), consent.cookie.expect("a session cookie"));
        }
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains("<h1>Allow access?</h1>"));
        for text in shown {
            assert!(consent.body.contains(text), "{text}: {}", consent.body);
        }
        let cookie = consent.cookie.expect("a session cookie");
        let done = self
            .post_form(
                "/consent",
                &[
                    ("request", &hidden(&consent.body, "request")),
                    ("csrf", &hidden(&consent.body, "csrf")),
                    ("decision", "allow"),
                ],
                Some(&cookie),
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let location = done.location.unwrap();
        assert!(location.starts_with(CALLBACK));
        (query(&location), cookie)
    }

    /// [`Env::code_for`] with more authorization request parameters.
    pub async fn code_for_with(
        &self,
        client: &str,
        challenge: &str,
        state: &str,
        extra: &[(&str, &str)],
    ) -> (std::collections::HashMap<String, String>, String) {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", CALLBACK),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
            ("scope", "mcp:read"),
            ("state", state),
        ];
        params.extend_from_slice(extra);
        self.sign_in_showing(&params, "alice", "correct horse", &[RESOURCE, "mcp:read"])
            .await
    }
}
