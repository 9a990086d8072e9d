//! Workload issuers on loopback for the tests of the `jwt-bearer` grant: a
//! Kubernetes-shaped issuer (OIDC discovery + JWK Set, RS256), a GitHub-shaped one
//! (its `jwks_uri` configured, RS256) and a SPIFFE bundle endpoint (ES256), each a
//! real HTTP server that counts the requests it gets and can be taken down or
//! have its keys rotated; and an authorization server trusting all three.
//!
//! Assertions are minted with the `jsonwebtoken` crate, not with this project's
//! signing code, so that what the AS verifies is another library's JWS.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_core::{Clock as _, ManualClock};
use mcp_auth_httpsig::{Algorithm as KeyAlgorithm, JwsAlgorithm, SigningKey};
use mcp_auth_server::{AsState, AuthorizationServer, Config, Overrides};
use serde_json::{Value, json};

/// The two resources of the test AS.
pub const R1: &str = "http://127.0.0.1:3000/mcp";
pub const R2: &str = "http://127.0.0.1:3001/mcp";
/// The SPIFFE trust domain of the bundle endpoint.
pub const TRUST_DOMAIN: &str = "prod.example";
/// The Kubernetes service account the rules allow.
pub const K8S_SUB: &str = "system:serviceaccount:mcp-agents:planner";
/// The GitHub subject the rules allow.
pub const GITHUB_SUB: &str = "repo:acme/tools:ref:refs/heads/main";
/// The SPIFFE ID the rules allow.
pub const SPIFFE_SUB: &str = "spiffe://prod.example/ns/mcp-agents/sa/indexer";

/// A signing key of an issuer, usable by `jsonwebtoken`.
#[derive(Clone)]
pub struct IssuerKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    /// The public JWK, as the issuer publishes it.
    pub jwk: Value,
}

impl IssuerKey {
    /// A new key for `alg` (`RS256`, `ES256`, `EdDSA`).
    pub fn generate(alg: Algorithm, kid: &str) -> Self {
        let (key_alg, jws) = match alg {
            Algorithm::RS256 => (KeyAlgorithm::Jws(JwsAlgorithm::Rs256), JwsAlgorithm::Rs256),
            Algorithm::ES256 => (KeyAlgorithm::Jws(JwsAlgorithm::Es256), JwsAlgorithm::Es256),
            Algorithm::EdDSA => (KeyAlgorithm::Ed25519, JwsAlgorithm::EdDsa),
            other => panic!("no test key for {other:?}"),
        };
        let _ = jws;
        let key = SigningKey::generate(key_alg).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        };
        let mut jwk: Value = serde_json::from_str(&key.verifying_key().to_jwk().to_json()).unwrap();
        jwk["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    /// A JWT of `claims` with this key's `kid` and `typ: JWT`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        self.sign_with(header, claims)
    }

    /// A JWT of `claims` with `header` (its `alg` is this key's).
    pub fn sign_with(&self, mut header: Header, claims: &Value) -> String {
        header.alg = self.alg;
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// What an issuer serves, changeable while it runs.
#[derive(Default)]
struct Served {
    /// The JWK Set (or bundle) members.
    keys: Mutex<Vec<Value>>,
    /// Requests for the key set.
    key_requests: AtomicUsize,
    /// Requests for any path.
    requests: AtomicUsize,
    /// Answer 503 to everything.
    down: AtomicBool,
    /// The `issuer` the discovery document names (default: the base URL).
    discovery_issuer: Mutex<Option<String>>,
    /// `spiffe_refresh_hint` of a bundle.
    bundle: AtomicBool,
    /// The `jwks_uri` the discovery document names (default: `<base>/jwks`).
    jwks_uri: Mutex<Option<String>>,
}

/// A running issuer.
#[derive(Clone)]
pub struct Issuer {
    pub base: String,
    pub key: IssuerKey,
    served: Arc<Served>,
}

impl Issuer {
    /// An OIDC issuer (discovery at `/.well-known/openid-configuration`, keys at
    /// `/jwks`), or with `bundle` a SPIFFE bundle endpoint at `/bundle`.
    pub async fn start(key: IssuerKey, bundle: bool) -> Self {
        let served = Arc::new(Served::default());
        let mut jwk = key.jwk.clone();
        if bundle {
            jwk["use"] = json!("jwt-svid");
        }
        served.keys.lock().unwrap().push(jwk);
        served.bundle.store(bundle, Ordering::SeqCst);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(key_set))
            .route("/bundle", get(key_set))
            .fallback(not_found)
            .with_state(Arc::clone(&served));
        let base = mcp_auth_testkit::serve(app).await;
        Self { base, key, served }
    }

    /// Requests for the key set so far.
    pub fn key_requests(&self) -> usize {
        self.served.key_requests.load(Ordering::SeqCst)
    }

    /// Requests for anything so far.
    pub fn requests(&self) -> usize {
        self.served.requests.load(Ordering::SeqCst)
    }

    /// Takes the issuer down (503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.served.down.store(down, Ordering::SeqCst);
    }

    /// Publishes `key` too (a rotation: old and new keys side by side).
    pub fn publish(&self, key: &IssuerKey) {
        self.served.keys.lock().unwrap().push(key.jwk.clone());
    }

    /// Makes the discovery document name another `jwks_uri`.
    pub fn set_jwks_uri(&self, uri: &str) {
        *self.served.jwks_uri.lock().unwrap() = Some(uri.to_owned());
    }

    /// Makes the discovery document name another `issuer`.
    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.served.discovery_issuer.lock().unwrap() = Some(issuer.to_owned());
    }
}

async fn discovery(State(s): State<Arc<Served>>, host: axum::http::HeaderMap) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let base = format!(
        "http://{}",
        host.get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
    );
    let issuer = s
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| base.clone());
    let jwks_uri = s
        .jwks_uri
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("{base}/jwks"));
    axum::Json(json!({"issuer": issuer, "jwks_uri": jwks_uri})).into_response()
}

async fn key_set(State(s): State<Arc<Served>>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.key_requests.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = s.keys.lock().unwrap().clone();
    let mut doc = json!({ "keys": keys });
    if s.bundle.load(Ordering::SeqCst) {
        doc["spiffe_refresh_hint"] = json!(300);
        doc["spiffe_sequence"] = json!(1);
    }
    axum::Json(doc).into_response()
}

async fn not_found(State(s): State<Arc<Served>>) -> StatusCode {
    s.requests.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

/// The three issuers and an AS trusting them, its clock in the test's hands.
pub struct Federation {
    pub k8s: Issuer,
    pub github: Issuer,
    pub spiffe: Issuer,
    pub as_base: String,
    pub issuer: String,
    pub state: AsState,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A token endpoint answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts a refusal: `status`, `error`, a description, `no-store`.
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"], error, "{}", self.body);
        assert!(
            self.body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
        assert_eq!(self.headers["cache-control"], "no-store");
        assert!(self.body.get("access_token").is_none());
    }

    /// Asserts success and returns the access token's claims.
    pub fn claims(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let token = self.body["access_token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    }

    /// The description.
    pub fn description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or_default()
    }
}

/// The trust configuration of [`Federation`], after `extra` TOML (e.g. `[dpop]`).
fn trust_toml(k8s: &Issuer, github: &Issuer, spiffe: &Issuer) -> String {
    format!(
        r#"
[danger]
allow_http_loopback_fetches = true

[[resources]]
uri = "{R1}"
scopes = ["mcp:read", "mcp:write"]
default_scopes = ["mcp:read"]

[[resources]]
uri = "{R2}"
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "ci-bot"
client_secret_sha256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
grant_types = ["client_credentials"]
scopes = ["mcp:read"]

[[workload_issuers]]
id = "k8s"
issuer = "{k8s}"
discovery = true
algorithms = ["RS256"]

[[workload_issuers.rules]]
when = 'claims.environment == "production"'
principal = "never-k8s"
resources = ["{R1}"]

[[workload_issuers.rules]]
when = '''claims.sub == "{K8S_SUB}" && claims["kubernetes.io"].namespace == "mcp-agents"'''
principal = "k8s:mcp-agents/planner"
resources = ["{R1}", "{R2}"]
scopes = ["mcp:read", "mcp:write"]
access_token_ttl = 600

[[workload_issuers.rules]]
when = 'claims.sub.startsWith("system:serviceaccount:mcp-agents:")'
principal = "k8s:mcp-agents/other"
resources = ["{R2}"]
scopes = ["mcp:read"]

[[workload_issuers]]
id = "github"
issuer = "{github}"
jwks_uri = "{github}/jwks"

[[workload_issuers.rules]]
when = 'claims.repository_id == "89012345" && claims.sub == "{GITHUB_SUB}"'
principal = "github:acme/tools@main"
resources = ["{R1}"]
scopes = ["mcp:read"]

[[workload_issuers]]
id = "spiffe"
spiffe_trust_domain = "{TRUST_DOMAIN}"
spiffe_bundle_endpoint = "{spiffe}/bundle"
algorithms = ["ES256"]

[[workload_issuers.rules]]
when = 'claims.sub == "{SPIFFE_SUB}"'
principal = "{SPIFFE_SUB}"
resources = ["{R1}"]
scopes = ["mcp:read"]
"#,
        k8s = k8s.base,
        github = github.base,
        spiffe = spiffe.base,
    )
}

impl Federation {
    /// Starts the issuers and the AS (its clock at the current time, moved only by
    /// the test), with `extra` TOML appended to the trust configuration.
    pub async fn start(extra: &str) -> Self {
        Self::start_with(|_| extra.to_owned()).await
    }

    /// [`Federation::start`] with TOML that names the issuers (`extra` gets the
    /// GitHub-shaped one, which the enterprise tests use as their IdP too).
    pub async fn start_with(extra: impl FnOnce(&Issuer) -> String) -> Self {
        let k8s = Issuer::start(IssuerKey::generate(Algorithm::RS256, "k8s-1"), false).await;
        let github = Issuer::start(IssuerKey::generate(Algorithm::RS256, "gh-1"), false).await;
        let spiffe = Issuer::start(IssuerKey::generate(Algorithm::ES256, "spire-1"), true).await;
        let toml = format!("{}\n{}", trust_toml(&k8s, &github, &spiffe), extra(&github));
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let mut config = Config::from_sources(
            &toml,
            &|_| None,
            &Overrides {
                issuer: Some(issuer.clone()),
                listen: Some(addr.to_string()),
                data_dir: Some(dir.path().join("data")),
                ..Overrides::default()
            },
        )
        .unwrap();
        let clock = ManualClock::new(mcp_auth_core::unix_now());
        config.clock = clock.clone();
        let server = AuthorizationServer::start(config).await.unwrap();
        let state = server.state().clone();
        tokio::spawn(async move {
            server
                .serve(listener, std::future::pending())
                .await
                .unwrap()
        });
        Self {
            k8s,
            github,
            spiffe,
            as_base: format!("http://{addr}"),
            issuer,
            state,
            clock,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The AS's RFC 8414 metadata.
    pub async fn metadata(&self) -> Value {
        self.http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                self.as_base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Now, on the AS clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Claims of a Kubernetes projected token for this AS, valid for an hour.
    pub fn k8s_claims(&self) -> Value {
        let now = self.now();
        json!({
            "aud": [self.issuer],
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "iss": self.k8s.base,
            "jti": "1a6e0c52-5f6c-4a51-9e0e-8a34f5a1f0c2",
            "kubernetes.io": {
                "namespace": "mcp-agents",
                "pod": {"name": "planner-6d5f9c7b8-x2k4q", "uid": "7f3a9e10"},
                "serviceaccount": {"name": "planner", "uid": "3c1f2b7a"}
            },
            "sub": K8S_SUB
        })
    }

    /// Claims of a GitHub Actions token for this AS.
    pub fn github_claims(&self) -> Value {
        let now = self.now();
        json!({
            "aud": self.issuer,
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "iss": self.github.base,
            "jti": "b2c5",
            "sub": GITHUB_SUB,
            "repository": "acme/tools",
            "repository_id": "89012345",
            "repository_owner_id": "1234567",
            "ref": "refs/heads/main",
            "actor": "octocat"
        })
    }

    /// Claims of a JWT-SVID for this AS (no `iss`, no `jti`).
    pub fn spiffe_claims(&self) -> Value {
        let now = self.now();
        json!({"aud": [self.issuer], "exp": now + 300, "iat": now, "sub": SPIFFE_SUB})
    }

    /// A valid Kubernetes assertion.
    pub fn k8s_token(&self) -> String {
        self.k8s.key.sign(&self.k8s_claims())
    }

    /// Posts `form` to the token endpoint with `headers`.
    pub async fn post(&self, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.post_raw(body, headers).await
    }

    /// Posts a raw form body.
    pub async fn post_raw(&self, body: String, headers: &[(&str, &str)]) -> Answer {
        self.post_raw_to(&self.as_base, body, headers).await
    }

    /// Starts another instance of the AS: the same configuration and database, its
    /// own listener and memory (as behind a load balancer, or after a restart).
    /// Returns its base URL, for [`Federation::post_raw_to`].
    pub async fn another_instance(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = (*self.state.config).clone();
        config.listen = addr;
        let server = AuthorizationServer::start(config).await.unwrap();
        tokio::spawn(async move {
            server
                .serve(listener, std::future::pending())
                .await
                .unwrap()
        });
        format!("http://{addr}")
    }

    /// Posts a raw form body to the token endpoint of the instance at `base`.
    pub async fn post_raw_to(&self, base: &str, body: String, headers: &[(&str, &str)]) -> Answer {
        let mut req = self
            .http
            .post(format!("{base}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let r = req.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.json().await.unwrap_or(Value::Null),
        }
    }

    /// The grant request for `assertion` at `resource`, with `extra` parameters.
    pub async fn grant(&self, assertion: &str, resource: &str, extra: &[(&str, &str)]) -> Answer {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
            ("resource", resource),
        ];
        form.extend_from_slice(extra);
        self.post(&form, &[]).await
    }
}
