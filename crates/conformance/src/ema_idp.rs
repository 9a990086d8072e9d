//! The enterprise identity provider the checker plays for `conformance as --profile
//! ema` (profiles/enterprise-managed-authorization.md): an issuer the authorization
//! server under test trusts for ID-JAGs (a `[[id_jag_issuers]]` entry), whose
//! ID-JAGs the checker mints, valid and broken, and redeems as a client of the AS.
//!
//! When the checker serves the IdP itself ([`EnterpriseIdp::router`]), it serves its
//! OpenID Connect discovery document (and the RFC 8414 alias) and its JWK Set, logs
//! every request the AS makes there, and can take the key set down (EMA-AS-7). The
//! same listener answers two things the AS must never fetch: the discovery document
//! of an issuer no trust entry names (`<issuer>/untrusted`) and the JWK Set of a key
//! the AS must not trust (`<issuer>/attacker/jwks`, the `jku` of a probe). A request
//! for either is evidence that the AS fetched a URL taken from an ID-JAG (EMA-AS-5,
//! EMA-AS-6).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Map, Value, json};

use crate::mint::{MintError, Minter, Unsigned};

/// The `typ` of an ID-JAG (profile §7.4).
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// The path, under the issuer, of the issuer no trust entry names.
pub const UNTRUSTED_PATH: &str = "/untrusted";
/// The path, under the issuer, of the JWK Set of the key the AS must not trust.
pub const ATTACKER_JWKS_PATH: &str = "/attacker/jwks";

/// What the checker's IdP listener saw and how it answers.
#[derive(Debug, Default)]
struct Served {
    /// The path of every request, in order.
    paths: Mutex<Vec<String>>,
    /// Answer 503 to the discovery document and the key set.
    down: AtomicBool,
}

/// The checker as an enterprise IdP the AS trusts (`--idp-key`, `--idp-issuer`,
/// `--idp-subject`).
pub struct EnterpriseIdp {
    /// Signs the ID-JAGs as the trusted issuer (`iss`), with the key whose public part
    /// the AS reads from the IdP's JWK Set (or its `jwks_file`).
    pub minter: Minter,
    /// The user's subject identifier (`sub`) the ID-JAGs carry.
    pub subject: String,
    /// The `tenant` claim the AS's trust entry is pinned to, if any (profile D13).
    pub tenant: Option<String>,
    /// The trust entry's `clock_skew` (profile default 60 s).
    pub clock_skew: i64,
    /// The trust entry's `max_assertion_lifetime` (profile default 300 s).
    pub max_assertion_lifetime: i64,
    attacker: Minter,
    served: Option<Arc<Served>>,
}

impl std::fmt::Debug for EnterpriseIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterpriseIdp")
            .field("issuer", &self.minter.issuer())
            .field("subject", &self.subject)
            .field("tenant", &self.tenant)
            .field("served", &self.served.is_some())
            .finish_non_exhaustive()
    }
}

impl EnterpriseIdp {
    /// The IdP whose key is `minter`'s, speaking for user `subject`, with the
    /// profile's default skew (60 s) and lifetime (300 s). Makes a second key of the
    /// same kind, the one the AS must never trust.
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
            tenant: None,
            clock_skew: 60,
            max_assertion_lifetime: 300,
            attacker,
            served: None,
        })
    }

    /// The issuer (`iss`) of the ID-JAGs.
    pub fn issuer(&self) -> &str {
        self.minter.issuer()
    }

    /// The key the AS must not trust (same kind as the IdP's).
    pub fn attacker(&self) -> &Minter {
        &self.attacker
    }

    /// An issuer no trust entry names, on the checker's listener when it serves one.
    pub fn untrusted_issuer(&self) -> String {
        format!("{}{UNTRUSTED_PATH}", self.issuer().trim_end_matches('/'))
    }

    /// Whether the checker serves the IdP's discovery document and key set.
    pub fn served(&self) -> bool {
        self.served.is_some()
    }

    /// The paths the AS requested from the checker's listener so far, when served.
    pub fn fetches(&self) -> Option<Vec<String>> {
        self.served
            .as_ref()
            .map(|s| s.paths.lock().map(|p| p.clone()).unwrap_or_default())
    }

    /// Takes the served discovery document and key set down (503) or back up.
    pub fn set_down(&self, down: bool) {
        if let Some(s) = &self.served {
            s.down.store(down, Ordering::SeqCst);
        }
    }

    /// The routes of the IdP, mounted at the root of the issuer's origin: the
    /// discovery document at both locations, `/jwks`, and the two decoys. Every
    /// request is logged for the checks.
    pub fn router(&mut self) -> Router {
        let served = Arc::new(Served::default());
        self.served = Some(Arc::clone(&served));
        let issuer = self.issuer().trim_end_matches('/').to_owned();
        let jwks = self.minter.jwks();
        let attacker_jwks = self.attacker.jwks();
        let untrusted = self.untrusted_issuer();
        Router::new().fallback(move |uri: Uri| {
            let served = Arc::clone(&served);
            let (issuer, jwks, attacker_jwks, untrusted) = (
                issuer.clone(),
                jwks.clone(),
                attacker_jwks.clone(),
                untrusted.clone(),
            );
            async move {
                let path = uri.path().to_owned();
                if let Ok(mut paths) = served.paths.lock() {
                    paths.push(path.clone());
                }
                if is_forbidden_fetch(&path) {
                    // Answer as a real issuer would, so that an AS that fetches gets
                    // something it might use: the fetch itself is the failure.
                    if path.ends_with("/jwks") {
                        return axum::Json(attacker_jwks).into_response();
                    }
                    return axum::Json(discovery(&untrusted)).into_response();
                }
                if served.down.load(Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                serve(&path, &issuer, &jwks)
            }
        })
    }

    /// The header and claims of a valid ID-JAG at `now` for the AS `audience`,
    /// client `client_id`, `resource` and `scope` (none when empty), living 300 s
    /// (or the entry's maximum when lower).
    pub fn valid(
        &self,
        audience: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> Unsigned {
        let header =
            json!({"alg": self.minter.alg().name(), "kid": self.minter.kid(), "typ": ID_JAG_TYP});
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": self.subject,
            "aud": audience,
            "client_id": client_id,
            "jti": new_jti(),
            "iat": now,
            "exp": now + self.max_assertion_lifetime.min(300),
            "resource": resource,
        });
        if !scope.is_empty() {
            claims["scope"] = json!(scope);
        }
        if let Some(tenant) = &self.tenant {
            claims["tenant"] = json!(tenant);
        }
        Unsigned {
            header: object(header),
            claims: object(claims),
        }
    }

    /// `jag` signed with the IdP's key, whatever its header says.
    pub fn sign(&self, jag: &Unsigned) -> String {
        self.minter.sign(jag)
    }
}

/// Whether a request for `path` is one the AS must never make: the untrusted
/// issuer's documents or the attacker's key set.
pub fn is_forbidden_fetch(path: &str) -> bool {
    path.contains(UNTRUSTED_PATH) || path.contains("/attacker/")
}

/// Whether `path` is a request for the trusted key set.
pub fn is_key_set_fetch(path: &str) -> bool {
    path == "/jwks"
}

fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

fn serve(path: &str, issuer: &str, jwks: &Value) -> Response {
    match path {
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            axum::Json(discovery(issuer)).into_response()
        }
        "/jwks" => axum::Json(jwks.clone()).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A new `jti`: 128 random bits, base64url.
pub fn new_jti() -> String {
    mcp_auth_core::random_token::<16>().unwrap_or_default()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
