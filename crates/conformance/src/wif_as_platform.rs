//! The workload platform the checker plays for `conformance as --profile wif`
//! (profiles/workload-identity-federation.md): an issuer the authorization server
//! under test is configured to trust, whose workload assertions the checker mints,
//! valid and broken; and, when the checker serves it itself, its OpenID Connect
//! discovery document and JWK Set, with a log of every request the AS makes there.
//!
//! Besides the trusted issuer, the same listener serves two things the AS must
//! never use: the discovery document of an issuer the AS does not trust
//! (`<issuer>/untrusted`, naming the same key) and the JWK Set of another key
//! (`<issuer>/attacker/jwks`, the `jku` of a probe). A request for either is
//! evidence that the AS fetched a URL taken from an assertion (WIF-AS-6, WIF-AS-8).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::mint::{MintError, Minter};

/// The path, under the issuer, of the issuer no trust entry names.
pub const UNTRUSTED_PATH: &str = "/untrusted";
/// The path, under the issuer, of the JWK Set of the key the AS must not trust.
pub const ATTACKER_JWKS_PATH: &str = "/attacker/jwks";

/// What the AS fetched from the checker's issuer: each path, and when.
pub type RequestLog = Arc<Mutex<Vec<(String, Instant)>>>;

/// The checker as a workload platform the AS trusts (`--workload-key`,
/// `--workload-issuer`, `--workload-subject`).
pub struct WorkloadPlatform {
    /// Signs the assertions, as the trusted issuer (`iss`), with the key whose
    /// public part the AS reads from the issuer's JWK Set.
    pub minter: Minter,
    /// A `sub` the AS's workload rule for this issuer accepts (with [`Self::claims`]).
    pub subject: String,
    /// Other claims the rule reads (a namespace, a repository id), added to every
    /// assertion the rule must accept.
    pub claims: Map<String, Value>,
    /// The trust entry's `clock_skew` (profile default 60 s).
    pub clock_skew: i64,
    /// The trust entry's `max_assertion_lifetime` (profile default 3660 s).
    pub max_assertion_lifetime: i64,
    attacker: Minter,
    log: Option<RequestLog>,
    pub(crate) control: OnceCell<Result<String, String>>,
}

impl std::fmt::Debug for WorkloadPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadPlatform")
            .field("issuer", &self.minter.issuer())
            .field("subject", &self.subject)
            .field("served", &self.log.is_some())
            .finish_non_exhaustive()
    }
}

impl WorkloadPlatform {
    /// The platform whose key is `minter`'s, issuing for workload `subject`, with the
    /// profile's default skew and lifetime. Makes a second key of the same kind, the
    /// one the AS must never trust.
    pub fn new(minter: Minter, subject: impl Into<String>) -> Result<Self, MintError> {
        let kind = match minter.alg() {
            JwsAlgorithm::EdDsa => Algorithm::Ed25519,
            other => Algorithm::Jws(other),
        };
        let pem = SigningKey::generate(kind)
            .and_then(|k| k.to_pkcs8_pem())
            .map_err(|e| MintError::Key(e.to_string()))?;
        let attacker = Minter::from_pem(&pem, minter.issuer())?;
        Ok(Self {
            minter,
            subject: subject.into(),
            claims: Map::new(),
            clock_skew: 60,
            max_assertion_lifetime: 3660,
            attacker,
            log: None,
            control: OnceCell::new(),
        })
    }

    /// The issuer (`iss`) of the assertions.
    pub fn issuer(&self) -> &str {
        self.minter.issuer()
    }

    /// The key the AS must not trust (same issuer name, same kind of key).
    pub fn attacker(&self) -> &Minter {
        &self.attacker
    }

    /// The issuer no trust entry names: the trusted one with [`UNTRUSTED_PATH`].
    pub fn untrusted_issuer(&self) -> String {
        format!("{}{UNTRUSTED_PATH}", self.issuer().trim_end_matches('/'))
    }

    /// Whether the checker serves the issuer itself (then it sees the AS's fetches).
    pub fn served(&self) -> bool {
        self.log.is_some()
    }

    /// The paths the AS fetched so far, with when; `None` when the issuer is not
    /// served by the checker.
    pub fn fetches(&self) -> Option<Vec<(String, Instant)>> {
        self.log
            .as_ref()
            .map(|l| l.lock().map(|v| v.clone()).unwrap_or_default())
    }

    /// The routes of the issuer, to be served at its URL: discovery
    /// (`/.well-known/openid-configuration`) and `/jwks`, the untrusted issuer's
    /// and the attacker's documents; every request is logged. From now on the
    /// checks count on seeing the AS's fetches.
    pub fn router(&mut self) -> Router {
        let log = RequestLog::default();
        self.log = Some(log.clone());
        let issuer = self.issuer().trim_end_matches('/').to_owned();
        let untrusted = self.untrusted_issuer();
        let jwks = self.minter.jwks();
        let attacker_jwks = self.attacker.jwks();
        Router::new().fallback(move |uri: Uri| {
            let path = uri.path().to_owned();
            if let Ok(mut l) = log.lock() {
                l.push((path.clone(), Instant::now()));
            }
            let answer = if path.ends_with(&format!(
                "{UNTRUSTED_PATH}/.well-known/openid-configuration"
            )) {
                Some(discovery(&untrusted))
            } else if path.ends_with(&format!("{UNTRUSTED_PATH}/jwks")) {
                Some(jwks.clone())
            } else if path.ends_with(ATTACKER_JWKS_PATH) {
                Some(attacker_jwks.clone())
            } else if path.ends_with("/.well-known/openid-configuration") {
                Some(discovery(&issuer))
            } else if path.ends_with("/jwks") {
                Some(jwks.clone())
            } else {
                None
            };
            async move { json_answer(answer) }
        })
    }
}

/// Whether a logged path is a fetch of the trusted issuer's JWK Set.
pub fn is_key_set_fetch(path: &str) -> bool {
    path.ends_with("/jwks")
        && !path.ends_with(&format!("{UNTRUSTED_PATH}/jwks"))
        && !path.ends_with(ATTACKER_JWKS_PATH)
}

/// Whether a logged path is one the AS must never fetch: the untrusted issuer's or
/// the attacker's.
pub fn is_forbidden_fetch(path: &str) -> bool {
    path.contains(&format!("{UNTRUSTED_PATH}/")) || path.ends_with(ATTACKER_JWKS_PATH)
}

/// An OpenID Connect discovery document (§4) of `issuer`: what an AS reads.
fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    })
}

fn json_answer(body: Option<Value>) -> Response {
    match body {
        Some(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
