//! HTTPSIG-AS-1 (profiles/http-message-signatures.md §5.1): the metadata members,
//! and the form of the advertised `token_endpoint` (§7.2, HTTPSIG-AS-15).
//!
//! HTTPSIG-AS-2 and -3 (§6): the client metadata
//! `httpsig_key_binding_method` in RFC 7591 dynamic registration. Each probe
//! registers a public client of the authorization code grant (the only kind an
//! open registration endpoint is expected to take) with one binding declaration;
//! the valid ones must be registered and echoed (RFC 7591 §3.2.1), the others
//! refused with 400 `invalid_client_metadata` (RFC 7591 §3.2.2). The keys are
//! fresh public keys of the checker; no private key is sent except in the probe
//! that must be refused for it, with a key made for that probe only.
//!
//! Static configuration and Client ID Metadata Documents, the other two sources
//! HTTPSIG-AS-2 names, cannot be observed from outside without a grant that
//! succeeds.

use mcp_auth_httpsig::{Algorithm, SigningKey};
use serde_json::{Map, Value, json};

use crate::authorization_server::{AsTarget, REGISTERED_REDIRECT_URI};
use crate::check::{Check, Outcome};
use crate::httpsig_as::{RUNTIME_ALGS, shown};

/// One registration request and what it must get.
struct Registration {
    id: &'static str,
    what: &'static str,
    /// The members added to the public client's metadata.
    metadata: fn() -> Value,
    /// `true`: 201 with the method echoed; `false`: 400 `invalid_client_metadata`.
    accepted: bool,
}

/// A fresh public JWK of `alg` with `kid` and the JWS `alg` name given.
fn jwk(alg: Algorithm, jws: Option<&str>, kid: Option<&str>) -> Value {
    let key = SigningKey::generate(alg)
        .ok()
        .map(|k| k.verifying_key().to_jwk());
    let mut jwk = serde_json::to_value(key).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut jwk {
        m.remove("kid");
        m.remove("alg");
        if let Some(a) = jws {
            m.insert("alg".into(), json!(a));
        }
        if let Some(k) = kid {
            m.insert("kid".into(), json!(k));
        }
    }
    jwk
}

fn preregistered(keys: Vec<Value>) -> Value {
    json!({"httpsig_key_binding_method": "preregistered", "jwks": {"keys": keys}})
}

static REGISTRATIONS: &[Registration] = &[
    Registration {
        id: "HTTPSIG-AS-2",
        what: "registration with httpsig_key_binding_method runtime: 201, echoed",
        accepted: true,
        metadata: || json!({"httpsig_key_binding_method": "runtime"}),
    },
    Registration {
        id: "HTTPSIG-AS-2",
        what: "registration with httpsig_key_binding_method preregistered and a valid Ed25519 key: 201, echoed",
        accepted: true,
        metadata: || preregistered(vec![jwk(Algorithm::Ed25519, Some("Ed25519"), Some("k1"))]),
    },
    Registration {
        id: "HTTPSIG-AS-2",
        what: "registration with httpsig_key_binding_method \"bound\": 400 invalid_client_metadata",
        accepted: false,
        metadata: || json!({"httpsig_key_binding_method": "bound"}),
    },
    Registration {
        id: "HTTPSIG-AS-2",
        what: "registration with httpsig_key_binding_method \"Runtime\" (compared case-sensitively): 400 invalid_client_metadata",
        accepted: false,
        metadata: || json!({"httpsig_key_binding_method": "Runtime"}),
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered without jwks or jwks_uri: 400 invalid_client_metadata",
        accepted: false,
        metadata: || json!({"httpsig_key_binding_method": "preregistered"}),
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with an Ed25519 key of alg EdDSA (not fully specified): 400 invalid_client_metadata",
        accepted: false,
        metadata: || preregistered(vec![jwk(Algorithm::Ed25519, Some("EdDSA"), Some("k1"))]),
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with a key without kid: 400 invalid_client_metadata",
        accepted: false,
        metadata: || preregistered(vec![jwk(Algorithm::Ed25519, Some("Ed25519"), None)]),
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with a key without alg: 400 invalid_client_metadata",
        accepted: false,
        metadata: || preregistered(vec![jwk(Algorithm::Ed25519, None, Some("k1"))]),
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with a P-256 key of alg Ed25519 (alg not matching the key): 400 invalid_client_metadata",
        accepted: false,
        metadata: || {
            preregistered(vec![jwk(
                Algorithm::EcdsaP256Sha256,
                Some("Ed25519"),
                Some("k1"),
            )])
        },
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with a private key (a fresh Ed25519 JWK with d): 400 invalid_client_metadata",
        accepted: false,
        metadata: || {
            let private = SigningKey::generate(Algorithm::Ed25519)
                .ok()
                .and_then(|k| k.to_private_jwk().ok());
            let mut jwk = serde_json::to_value(private).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut jwk {
                m.insert("alg".into(), json!("Ed25519"));
                m.insert("kid".into(), json!("k1"));
            }
            preregistered(vec![jwk])
        },
    },
    Registration {
        id: "HTTPSIG-AS-3",
        what: "preregistered with a symmetric key (kty oct, alg HS256): 400 invalid_client_metadata",
        accepted: false,
        metadata: || {
            preregistered(vec![
                json!({"kty": "oct", "k": "bWNwLWF1dGggY29uZm9ybWFuY2Ugbm90IGEgc2VjcmV0", "alg": "HS256", "kid": "k1"}),
            ])
        },
    },
];

/// The metadata and registration checks.
pub(crate) fn checks() -> Vec<Check<AsTarget>> {
    let mut checks = vec![Check {
        id: "HTTPSIG-AS-1",
        requirement: "the metadata has httpsig_key_binding_methods_supported and httpsig_signing_alg_values_supported with the values of §5.1",
        run: Box::new(|t| Box::pin(metadata(t))),
    }];
    checks.extend(REGISTRATIONS.iter().map(|r| Check {
        id: r.id,
        requirement: r.what,
        run: Box::new(move |t| Box::pin(register(t, r))),
    }));
    checks.push(Check {
        id: "HTTPSIG-AS-15",
        requirement: "the metadata's token_endpoint is in RFC 9421 §2.2.2 normal form (lowercase scheme and host, no default port), the @target-uri clients sign",
        run: Box::new(|t| Box::pin(normal_form(t))),
    });
    checks
}

/// §7.2: the AS advertises `token_endpoint` as RFC 9421 §2.2.2 normalizes it, so a
/// client deriving `@target-uri` from the URL it sends to signs the same string.
async fn normal_form(t: &AsTarget) -> Outcome {
    let endpoint = match t.endpoint("token_endpoint").await {
        Ok(e) => e,
        Err(e) => return Outcome::fail(e),
    };
    let Ok(url) = url::Url::parse(&endpoint) else {
        return Outcome::fail(format!("token_endpoint {endpoint:?} is not a URL"));
    };
    // The origin serialization has the scheme and host lowercased and no default
    // port (RFC 6454 §6.2, as the url crate parses).
    let origin = url.origin().ascii_serialization();
    let rest = endpoint.strip_prefix(&origin);
    let holds = rest.is_some_and(|r| r.is_empty() || r.starts_with('/'));
    Outcome::from_bool(
        holds,
        format!("token_endpoint {endpoint}, normal origin {origin}"),
    )
}

const JWS_ALGS: [&str; 7] = [
    "Ed25519", "ES256", "ES384", "PS256", "PS384", "PS512", "RS256",
];

/// The strings of the metadata array `name`, or why it is not one.
fn strings(metadata: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let Some(Value::Array(items)) = metadata.get(name) else {
        return Err(format!("{name} is {}", shown(metadata.get(name))));
    };
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("{name} has a member that is not a string"))
}

async fn metadata(t: &AsTarget) -> Outcome {
    let metadata = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(e),
    };
    let (methods, algs) = match (
        strings(metadata, "httpsig_key_binding_methods_supported"),
        strings(metadata, "httpsig_signing_alg_values_supported"),
    ) {
        (Ok(m), Ok(a)) => (m, a),
        (Err(e), _) | (_, Err(e)) => return Outcome::fail(e),
    };
    let evidence = format!(
        "httpsig_key_binding_methods_supported {methods:?}, httpsig_signing_alg_values_supported {algs:?}"
    );
    // §5.1: both methods (HTTPSIG-AS-9 and -10 require both), algorithms from the
    // two registries' lists only, compared case-sensitively.
    let both = methods.len() == 2
        && methods.iter().any(|m| m == "runtime")
        && methods.iter().any(|m| m == "preregistered");
    let unknown: Vec<&String> = algs
        .iter()
        .filter(|a| !RUNTIME_ALGS.contains(&a.as_str()) && !JWS_ALGS.contains(&a.as_str()))
        .collect();
    if !both {
        return Outcome::fail(format!(
            "expected [\"runtime\", \"preregistered\"]: {evidence}"
        ));
    }
    if algs.is_empty() || !unknown.is_empty() {
        return Outcome::fail(format!("algorithms not of §5.1 {unknown:?}: {evidence}"));
    }
    Outcome::pass(evidence)
}

async fn register(t: &AsTarget, r: &Registration) -> Outcome {
    if !t.register {
        return Outcome::skip("registration is turned off: the checker registers no client");
    }
    let Ok(endpoint) = t.endpoint("registration_endpoint").await else {
        return Outcome::skip(
            "the AS offers no registration_endpoint; static configuration and Client ID Metadata Documents are not observable from outside",
        );
    };
    let mut request = json!({
        "client_name": "mcp-auth conformance (httpsig)",
        "redirect_uris": [REGISTERED_REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let sent = (r.metadata)();
    if let (Value::Object(req), Value::Object(extra)) = (&mut request, &sent) {
        req.extend(extra.clone());
    }
    let answer = match crate::server::send_capped(t.http.post(&endpoint).json(&request)).await {
        Ok(a) => (a.status, a.body),
        Err(e) => return Outcome::fail(format!("POST {endpoint}: {e}")),
    };
    let body: Value = serde_json::from_str(&answer.1).unwrap_or(Value::Null);
    let echoed = &body["httpsig_key_binding_method"];
    let description: String = body["error_description"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    let line = format!(
        "{} error={} error_description={description:?}, httpsig_key_binding_method {echoed}",
        answer.0,
        body["error"].as_str().unwrap_or("none"),
    );
    let holds = if r.accepted {
        answer.0 == 201 && *echoed == sent["httpsig_key_binding_method"]
    } else {
        answer.0 == 400
            && body["error"] == "invalid_client_metadata"
            && body.get("client_id").is_none()
    };
    Outcome::from_bool(holds, line)
}
