//! A real authorization server on 127.0.0.1 in the identity provider role
//! (profiles/enterprise-managed-authorization.md): three confidential clients, one
//! target with a two-rule policy, and the users alice (group `engineering`), bob (no
//! group) and mallory (whom no rule admits). Sign-in goes through the real login and
//! consent pages.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Map, Value};

use crate::common::browser::{self, CALLBACK, pkce};

/// The target MCP AS and its resource.
pub const TARGET_AS: &str = "https://as.example.com";
pub const TARGET_RESOURCE: &str = "https://mcp.example.com/mcp";
/// The requesting client, its id at the target, and the secret of every client here.
pub const CLIENT: &str = "desktop-agent";
pub const MAPPED: &str = "acme-agent";
pub const SECRET: &str = "acme-secret";
pub const PASSWORD: &str = "correct horse";
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// `desktop-agent` may exchange for the target; `other-agent` may exchange but is
/// not mapped at the target; `web-only` may sign in but not exchange.
pub fn config() -> String {
    let hash = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw=";
    format!(
        r#"
[[clients]]
client_id = "{CLIENT}"
client_name = "Desktop Agent"
client_secret_sha256 = "{hash}"
grant_types = ["authorization_code", "refresh_token", "{EXCHANGE}"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid", "mcp:read"]

[[clients]]
client_id = "other-agent"
client_secret_sha256 = "{hash}"
grant_types = ["authorization_code", "{EXCHANGE}"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid"]

[[clients]]
client_id = "web-only"
client_secret_sha256 = "{hash}"
grant_types = ["authorization_code"]
redirect_uris = ["{CALLBACK}"]
scopes = ["openid"]

[[id_jag_targets]]
id = "mcp-example"
audience = "{TARGET_AS}"
client_ids = {{ "{CLIENT}" = "{MAPPED}" }}

[[id_jag_targets.rules]]
when = 'client.id == "{CLIENT}" && "engineering" in user.groups'
resources = ["{TARGET_RESOURCE}"]
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]

[[id_jag_targets.rules]]
when = 'client.name == "Desktop Agent" && user.username != "mallory"'
resources = ["{TARGET_RESOURCE}"]
scopes = ["mcp:read"]
default_scopes = ["mcp:read"]
"#
    )
}

pub struct Idp {
    pub env: browser::Env,
}

impl Idp {
    pub async fn start() -> Self {
        Self::start_with(&config()).await
    }

    pub async fn start_with(toml: &str) -> Self {
        let env = browser::start_with(toml).await;
        let hash = mcp_auth_server::password::hash_password(PASSWORD.into())
            .await
            .unwrap();
        let store = &env.state.store;
        for (user, groups) in [
            ("carol", vec!["engineering".to_owned()]),
            ("bob", vec![]),
            ("mallory", vec!["engineering-adjacent".to_owned()]),
        ] {
            store.insert_user(user, &hash, 0).await.unwrap();
            store.set_user_groups(user, &groups).await.unwrap();
        }
        // alice exists already (the browser env's user); she is an engineer.
        store
            .set_user_groups("alice", &["engineering".to_owned()])
            .await
            .unwrap();
        Self { env }
    }

    pub fn issuer(&self) -> &str {
        &self.env.issuer
    }

    /// The subject identifier of `username`.
    pub async fn subject(&self, username: &str) -> String {
        self.env
            .state
            .store
            .user(username)
            .await
            .unwrap()
            .unwrap()
            .subject
    }

    /// Signs `username` in for `client` with `openid` (and `nonce`), through the
    /// pages, and redeems the code: the token response.
    pub async fn sign_in(&self, client: &str, username: &str, extra: &[(&str, &str)]) -> Value {
        let browser = self.env.another_browser(None);
        let (verifier, challenge) = pkce();
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", CALLBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("state", "s1"),
        ];
        for (k, v) in extra {
            params.retain(|(p, _)| p != k);
            params.push((k, v));
        }
        let q = browser.sign_in(&params, username, PASSWORD).await;
        let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}"));
        let (status, body) = browser
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                ],
                Some((client, SECRET)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// An ID token of `username` for `client`.
    pub async fn id_token(&self, client: &str, username: &str) -> String {
        self.sign_in(client, username, &[]).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The exchange's form: `subject_token` and the defaults, with `extra` replacing
    /// or adding members (an empty value removes one).
    pub fn exchange_form<'a>(
        subject_token: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("requested_token_type", ID_JAG_TYPE),
            ("subject_token", subject_token),
            ("subject_token_type", ID_TOKEN_TYPE),
            ("audience", TARGET_AS),
            ("resource", TARGET_RESOURCE),
        ];
        for (k, v) in extra {
            form.retain(|(p, _)| p != k);
            if !v.is_empty() {
                form.push((k, v));
            }
        }
        form
    }

    /// `POST /token` with `form`, HTTP Basic as `client` when given, and `headers`.
    pub async fn post(
        &self,
        form: &[(&str, &str)],
        client: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .env
            .http
            .post(format!("{}/token", self.env.issuer))
            .form(form);
        if let Some(c) = client {
            req = req.basic_auth(c, Some(SECRET));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        Answer {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.json().await.unwrap(),
        }
    }

    /// The exchange of `subject_token` by `desktop-agent`, with `extra`.
    pub async fn exchange(&self, subject_token: &str, extra: &[(&str, &str)]) -> Answer {
        self.post(
            &Self::exchange_form(subject_token, extra),
            Some(CLIENT),
            &[],
        )
        .await
    }
}

/// A token endpoint answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// RFC 6749 §5.2: this status and `error`, a description, `no-store`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(
            (self.status.as_u16(), self.body["error"].as_str()),
            (status, Some(error)),
            "{}",
            self.body
        );
        assert!(self.body["error_description"].is_string(), "{}", self.body);
        assert_eq!(self.headers["cache-control"], "no-store");
    }

    /// The issued ID-JAG, after checking the response (EMA §7.5).
    #[track_caller]
    pub fn id_jag(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.headers["cache-control"], "no-store");
        assert_eq!(self.body["issued_token_type"], ID_JAG_TYPE);
        assert_eq!(self.body["token_type"], "N_A");
        assert!(self.body.get("refresh_token").is_none(), "{}", self.body);
        self.body["access_token"].as_str().unwrap().to_owned()
    }
}

/// The decoded header and claims of a compact JWS (not verified).
pub fn decode(jwt: &str) -> (Map<String, Value>, Map<String, Value>) {
    let part = |i: usize| -> Map<String, Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (part(0), part(1))
}

/// The names of an object's members, sorted.
pub fn members(m: &Map<String, Value>) -> Vec<&str> {
    let mut names: Vec<&str> = m.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// Signs `claims` with the IdP's own RS256 key as `typ` (to make tokens the IdP
/// would never issue: expired, from the future, for another audience).
pub fn sign_as_idp(idp: &Idp, typ: &str, claims: &Value) -> String {
    let keys = idp.env.state.keys.current();
    keys.identity
        .as_ref()
        .unwrap()
        .sign_typed(typ, claims)
        .unwrap()
}
