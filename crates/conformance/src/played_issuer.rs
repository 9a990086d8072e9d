//! An issuer the checker plays for an authorization server under test (a workload
//! platform for `--profile wif`, an enterprise IdP for `--profile ema`): the key the
//! AS must never trust, and, when the checker serves the issuer itself, its OpenID
//! Connect discovery document (also at the RFC 8414 location) and JWK Set, with a log
//! of every request the AS makes there.
//!
//! The same listener serves two decoys the AS must never use: the discovery
//! document of an issuer no trust entry names (`<issuer>/untrusted`) and the JWK Set
//! of the other key (`<issuer>/attacker/jwks`, the `jku` of a probe). They answer
//! as a real issuer would, so that an AS that fetches them gets something it might
//! use: the fetch itself, in the log, is the failure (WIF-AS-6, -8; EMA-AS-5, -6).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Value, json};

use crate::mint::{MintError, Minter};

/// The path, under the issuer, of the issuer no trust entry names.
pub const UNTRUSTED_PATH: &str = "/untrusted";
/// The path, under the issuer, of the JWK Set of the key the AS must not trust.
pub const ATTACKER_JWKS_PATH: &str = "/attacker/jwks";

/// What the listener saw, and how it answers.
#[derive(Debug, Default)]
struct Served {
    /// Every request's path, and when.
    log: Mutex<Vec<(String, Instant)>>,
    /// Answer 503 to the discovery document and the key set.
    down: AtomicBool,
}

/// The decoys and the fetch log of an issuer the checker plays.
pub struct PlayedIssuer {
    issuer: String,
    attacker: Minter,
    served: Option<Arc<Served>>,
}

impl std::fmt::Debug for PlayedIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayedIssuer")
            .field("issuer", &self.issuer)
            .field("served", &self.served.is_some())
            .finish_non_exhaustive()
    }
}

impl PlayedIssuer {
    /// The issuer of `minter`, with a second key of the same kind: the one the AS
    /// must never trust.
    pub fn new(minter: &Minter) -> Result<Self, MintError> {
        let kind = match minter.alg() {
            JwsAlgorithm::EdDsa => Algorithm::Ed25519,
            other => Algorithm::Jws(other),
        };
        let pem = SigningKey::generate(kind)
            .and_then(|k| k.to_pkcs8_pem())
            .map_err(|e| MintError::Key(e.to_string()))?;
        Ok(Self {
            issuer: minter.issuer().to_owned(),
            attacker: Minter::from_pem(&pem, minter.issuer())?,
            served: None,
        })
    }

    /// The key the AS must not trust (same issuer name, same kind of key).
    pub fn attacker(&self) -> &Minter {
        &self.attacker
    }

    /// The issuer no trust entry names: the trusted one with [`UNTRUSTED_PATH`].
    pub fn untrusted_issuer(&self) -> String {
        format!("{}{UNTRUSTED_PATH}", self.issuer.trim_end_matches('/'))
    }

    /// Whether the checker serves the issuer itself (then it sees the AS's fetches).
    pub fn served(&self) -> bool {
        self.served.is_some()
    }

    /// The paths the AS fetched so far, with when; `None` when not served.
    pub fn fetches(&self) -> Option<Vec<(String, Instant)>> {
        self.served
            .as_ref()
            .map(|s| s.log.lock().map(|v| v.clone()).unwrap_or_default())
    }

    /// Takes the served discovery document and key set down (503) or back up; the
    /// decoys keep answering.
    pub fn set_down(&self, down: bool) {
        if let Some(s) = &self.served {
            s.down.store(down, Ordering::SeqCst);
        }
    }

    /// The routes of the issuer, served at its URL: discovery at
    /// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`,
    /// `jwks` at `/jwks`, and the decoys; every request logged. From now on the
    /// checks count on seeing the AS's fetches.
    pub fn router(&mut self, jwks: Value, alg: JwsAlgorithm) -> Router {
        let served = Arc::new(Served::default());
        self.served = Some(Arc::clone(&served));
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let untrusted = self.untrusted_issuer();
        let attacker_jwks = self.attacker.jwks();
        Router::new().fallback(move |uri: Uri| {
            let path = uri.path().to_owned();
            if let Ok(mut log) = served.log.lock() {
                log.push((path.clone(), Instant::now()));
            }
            let answer = if is_forbidden_fetch(&path) {
                if path.ends_with("/jwks") {
                    Ok(attacker_jwks.clone())
                } else {
                    Ok(discovery(&untrusted, alg))
                }
            } else if served.down.load(Ordering::SeqCst) {
                Err(StatusCode::SERVICE_UNAVAILABLE)
            } else if path.ends_with("/.well-known/openid-configuration")
                || path.ends_with("/.well-known/oauth-authorization-server")
            {
                Ok(discovery(&issuer, alg))
            } else if path.ends_with("/jwks") {
                Ok(jwks.clone())
            } else {
                Err(StatusCode::NOT_FOUND)
            };
            async move {
                match answer {
                    Ok(body) => axum::Json(body).into_response(),
                    Err(status) => status.into_response(),
                }
            }
        })
    }
}

/// Whether a logged path is a fetch of the trusted issuer's JWK Set.
pub fn is_key_set_fetch(path: &str) -> bool {
    path.ends_with("/jwks") && !is_forbidden_fetch(path)
}

/// Whether a logged path is one the AS must never fetch: the untrusted issuer's or
/// the attacker's.
pub fn is_forbidden_fetch(path: &str) -> bool {
    path.contains(UNTRUSTED_PATH) || path.contains("/attacker/")
}

/// An OpenID Connect discovery document (§4) of `issuer`: what an AS reads of it.
fn discovery(issuer: &str, alg: JwsAlgorithm) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg.name()],
    })
}
