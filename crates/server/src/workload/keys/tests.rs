//! Tests of the workload key sources (WIF §6.2, §7.3 step 7, D8): key selection
//! without a network (`selection`), each source and the fetch guard against real
//! HTTP servers on 127.0.0.1 (`fetching`), and the cache, refetch and outage rules
//! with a hand-moved clock (`caching`). The tests never sleep; the one slow server
//! costs the 5 s fetch deadline once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey, VerifyingKey};
use serde_json::{Value, json};

use super::*;

mod caching;
mod fetching;
mod selection;

/// The clock of the tests' AS: any fixed unix time; each test moves it by hand.
const T0: i64 = 1_700_000_000;

/// What the test server answers on one path.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: String,
    cache_control: Option<String>,
    location: Option<String>,
    delay: Duration,
}

impl Reply {
    /// A 200 JSON answer without `Cache-Control`.
    fn json(body: &Value) -> Self {
        Self {
            status: 200,
            body: body.to_string(),
            cache_control: None,
            location: None,
            delay: Duration::ZERO,
        }
    }

    /// A 200 JSON answer cacheable for `max_age` seconds.
    fn cached(body: &Value, max_age: u64) -> Self {
        Self::json(body).cache_control(&format!("public, max-age={max_age}"))
    }

    fn cache_control(mut self, value: &str) -> Self {
        self.cache_control = Some(value.to_owned());
        self
    }

    /// An answer with another status (and a JSON error body).
    fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::json(&json!({"error": "no"}))
        }
    }

    /// A `302 Found` to `location`.
    fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            location: Some(location.to_owned()),
            ..Self::json(&json!({}))
        }
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// The test server's state: its answers by path and the requests it counted.
#[derive(Debug, Default)]
struct Upstream {
    replies: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// One test's HTTP server on 127.0.0.1: 404 for every path without a reply.
struct Server {
    base: String,
    upstream: Arc<Upstream>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let upstream = Arc::new(Upstream::default());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&upstream));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            upstream,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn set(&self, path: &str, reply: Reply) {
        lock(&self.upstream.replies).insert(path.to_owned(), reply);
    }

    /// Requests received on `path` so far.
    fn hits(&self, path: &str) -> usize {
        lock(&self.upstream.hits).get(path).copied().unwrap_or(0)
    }

    /// Takes the server down: new connections are refused.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn answer(State(upstream): State<Arc<Upstream>>, uri: http::Uri) -> Response {
    let path = uri.path().to_owned();
    *lock(&upstream.hits).entry(path.clone()).or_default() += 1;
    let reply = lock(&upstream.replies).get(&path).cloned();
    let Some(reply) = reply else {
        return http::StatusCode::NOT_FOUND.into_response();
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    for (name, value) in [
        (http::header::CACHE_CONTROL, &reply.cache_control),
        (http::header::LOCATION, &reply.location),
    ] {
        if let Some(v) = value {
            headers.insert(name, v.parse().expect("header value"));
        }
    }
    let status = http::StatusCode::from_u16(reply.status).expect("status");
    (status, headers, reply.body).into_response()
}

/// A signing key for `alg` named `kid`; RSA keys are generated once and renamed.
fn signing(alg: JwsAlgorithm, kid: &str) -> SigningKey {
    static RSA: OnceLock<SigningKey> = OnceLock::new();
    static RSA_2: OnceLock<SigningKey> = OnceLock::new();
    let generate = |a| SigningKey::generate(Algorithm::Jws(a)).expect("key generation");
    match alg {
        JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256 | JwsAlgorithm::Ps384 | JwsAlgorithm::Ps512 => {
            // Two RSA keys are enough: kid "rsa-2..." takes the second.
            let cell = if kid.starts_with("rsa-2") {
                &RSA_2
            } else {
                &RSA
            };
            let key = cell.get_or_init(|| generate(JwsAlgorithm::Rs256)).clone();
            match key.with_algorithm(Algorithm::Jws(alg)) {
                Ok(k) => k.with_kid(kid),
                Err(e) => panic!("{e}"),
            }
        }
        other => generate(other).with_kid(kid),
    }
}

/// The public JWK of `key` as JSON (with `kid` and `alg`).
fn public(key: &SigningKey) -> Value {
    serde_json::to_value(key.verifying_key().to_jwk()).expect("JWK")
}

/// The public JWK of `key` with `alg` removed and the members of `extra` set.
fn public_with(key: &SigningKey, extra: &Value) -> Value {
    let mut jwk = public(key);
    let members = jwk.as_object_mut().expect("object");
    members.remove("alg");
    for (name, value) in extra.as_object().expect("object") {
        if value.is_null() {
            members.remove(name);
        } else {
            members.insert(name.clone(), value.clone());
        }
    }
    jwk
}

fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// Asserts that `found` is the public key of `expected`.
fn assert_is(found: &VerifyingKey, expected: &SigningKey) {
    assert_eq!(
        found.thumbprint(),
        expected.verifying_key().thumbprint(),
        "{found:?} is {expected:?}"
    );
    assert_eq!(found.kid(), expected.kid());
}

/// The guard of the tests: http on loopback allowed (the `[danger]` switch).
fn loopback_fetch() -> GuardedFetch {
    GuardedFetch::new(true)
}
