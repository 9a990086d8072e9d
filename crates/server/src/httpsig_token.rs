//! The token endpoint side of the http-message-signatures profile
//! (draft-richer-oauth-httpsig-03 §2–§6, profiles/http-message-signatures.md
//! HTTPSIG-AS-*): client registration metadata, and the verification of a token
//! request's `httpsig-oauth-token-request` signature that yields the key the token
//! is bound to.

use axum::http::{HeaderMap, Method, Uri, header};
use mcp_auth_core::cnf::PREREGISTERED_ALGORITHMS;
use mcp_auth_core::httpsig_profile::{
    KEY_BINDING_METADATA, KeyBinding, TOKEN_REQUEST_TAG, token_request_components,
    token_request_policy,
};
use mcp_auth_core::{Confirmation, OneTimeUse, ReplayRefusal, replay_key};
use mcp_auth_httpsig::{
    EmbeddedKey, Jwk, JwsAlgorithm, KeyResolver, Message, ParamName, RequestView, ResolveError,
    SignatureEntry, Verifier, VerifyingKey, parse_signatures,
};
use serde_json::{Value, json};

use crate::AsState;
use crate::error::{
    AsError, BindingMetadataError, InternalError, PreregisteredKeyError, SignatureError,
    TokenRequestError,
};
use crate::store::ClientRecord;

/// The key a token request proved possession of, to bind the token to.
#[derive(Debug, Clone)]
pub struct BoundKey {
    /// The confirmation to put in the token (`htsk` or `jwk`).
    pub confirmation: Confirmation,
    /// RFC 7638 thumbprint of the key, to compare at refresh.
    pub thumbprint: String,
}

/// HTTPSIG-AS-2/AS-3: reads `httpsig_key_binding_method` from client metadata (DCR,
/// CIMD or configuration) and checks a pre-registered client's keys: `jwks` or
/// `jwks_uri` present; each inline JWK public, with a `kid` and a fully specified
/// asymmetric `alg` (`EdDSA` is refused, draft §3.1). Returns the members to store.
pub fn registration_metadata(
    meta: &Value,
) -> Result<Vec<(&'static str, Value)>, BindingMetadataError> {
    let method = match meta.get(KEY_BINDING_METADATA) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(m)) => KeyBinding::from_metadata(m)
            .ok_or_else(|| BindingMetadataError::UnknownMethod(m.clone()))?,
        Some(_) => return Err(BindingMetadataError::MethodNotAString),
    };
    let mut out = vec![(KEY_BINDING_METADATA, json!(method.as_str()))];
    if method == KeyBinding::Preregistered {
        match (meta.get("jwks"), meta.get("jwks_uri")) {
            (Some(jwks), None) => {
                let keys = jwks
                    .get("keys")
                    .and_then(Value::as_array)
                    .ok_or(BindingMetadataError::JwksNotASet)?;
                if keys.is_empty() {
                    return Err(BindingMetadataError::NoKey);
                }
                for k in keys {
                    check_preregistered_jwk(k)?;
                }
                out.push(("jwks", jwks.clone()));
            }
            (None, Some(Value::String(uri))) => out.push(("jwks_uri", json!(uri))),
            _ => return Err(BindingMetadataError::KeysNeeded),
        }
    }
    Ok(out)
}

/// One pre-registered JWK: public, `kid`, fully specified asymmetric `alg`.
fn check_preregistered_jwk(value: &Value) -> Result<Jwk, PreregisteredKeyError> {
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(PreregisteredKeyError::Malformed)?;
    if jwk.is_private() {
        return Err(PreregisteredKeyError::Private);
    }
    let kid = jwk.kid.as_deref().unwrap_or("");
    if kid.is_empty() {
        return Err(PreregisteredKeyError::KidRequired);
    }
    let alg = jwk
        .alg
        .as_deref()
        .ok_or_else(|| PreregisteredKeyError::AlgRequired(kid.to_owned()))?;
    match JwsAlgorithm::from_name(alg) {
        Some(JwsAlgorithm::EdDsa) => {
            return Err(PreregisteredKeyError::Polymorphic(kid.to_owned()));
        }
        Some(a) if PREREGISTERED_ALGORITHMS.contains(&a) => {}
        _ => {
            return Err(PreregisteredKeyError::AlgorithmNotAccepted {
                kid: kid.to_owned(),
                alg: alg.to_owned(),
            });
        }
    }
    VerifyingKey::from_jwk(&jwk).map_err(|source| PreregisteredKeyError::Unusable {
        kid: kid.to_owned(),
        source,
    })?;
    Ok(jwk)
}

/// The binding method a client registered, if any.
pub fn registered_binding(client: &ClientRecord) -> Option<KeyBinding> {
    client
        .metadata
        .get(KEY_BINDING_METADATA)
        .and_then(Value::as_str)
        .and_then(KeyBinding::from_metadata)
}

/// Whether the request carries a signature tagged `httpsig-oauth-token-request` (by
/// its `Signature-Input`, before anything is verified): what "a token-request
/// signature" means when the token endpoint refuses one together with a DPoP proof
/// before checking either (WIF §7.3 step 4). Unparsable signature fields count as
/// none here; [`verify_token_request`] reports them.
pub fn has_token_request_signature(headers: &HeaderMap) -> bool {
    parse_signatures(headers, &mcp_auth_httpsig::Limits::default()).is_ok_and(|entries| {
        entries
            .iter()
            .any(|e| e.params.tag() == Some(TOKEN_REQUEST_TAG))
    })
}

/// Verifies the token request's `httpsig-oauth-token-request` signature, if there is
/// one, and returns the key to bind. `Ok(None)`: no such signature and the client did
/// not register a binding method (a Bearer token is issued). `client` is `None` for a
/// grant without a client (a workload assertion): only a runtime key can sign then,
/// and a `keyid` is refused (WIF §7.5, WIF-AS-5).
///
/// Order: count the tagged signatures (more than one is an error, draft §6); choose
/// the binding (registered, else by the parameters); fetch the client's keys when
/// pre-registered; verify coverage, parameters, window, key, signature and
/// `Content-Digest`; record the nonce (replay → error, cache down → 503).
pub async fn verify_token_request(
    state: &AsState,
    client: Option<&ClientRecord>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<BoundKey>, AsError> {
    let registered = client.and_then(registered_binding);
    let window = state.config.httpsig_window;
    let entries = parse_signatures(headers, &mcp_auth_httpsig::Limits::default())
        .map_err(SignatureError::from)?;
    let mut tagged = entries
        .into_iter()
        .filter(|e| e.params.tag() == Some(TOKEN_REQUEST_TAG));
    let entry = match (tagged.next(), tagged.next()) {
        (None, _) => {
            return match registered {
                Some(b) => Err(TokenRequestError::SignatureRequired(b).into()),
                None => Ok(None),
            };
        }
        (Some(_), Some(_)) => return Err(SignatureError::SeveralTagged.into()),
        (Some(e), None) => e,
    };
    let binding = registered.unwrap_or(if entry.params.has(ParamName::KeyId) {
        KeyBinding::Preregistered
    } else {
        KeyBinding::Runtime
    });
    let mut policy = token_request_policy(
        token_request_components(headers.contains_key(header::AUTHORIZATION)),
        window,
        binding,
    );
    policy.label = Some(entry.label.to_string());
    let verifier = Verifier::new(policy);
    // HTTPSIG-AS-15: `@target-uri` is the token endpoint as advertised, whatever
    // Host or forwarding headers say.
    let target: Uri = format!("{}/token", state.config.issuer)
        .parse()
        .map_err(|_| InternalError::IssuerNotUri)?;
    let method = Method::POST;
    let message = Message::Request(RequestView::new(&method, &target, headers));
    let now = state.clock.now();
    let (verified, confirmation) = match binding {
        KeyBinding::Runtime => {
            let verified = verifier
                .verify(&message, body, &EmbeddedKey, now)
                .map_err(SignatureError::from)?;
            let sig = first(&verified.signatures)?;
            let cnf =
                Confirmation::runtime(&sig.key, sig.algorithm).map_err(SignatureError::from)?;
            (verified, cnf)
        }
        KeyBinding::Preregistered => {
            let Some(client) = client else {
                return Err(crate::error::WorkloadGrantError::KeyIdWithoutClient.into());
            };
            let keys = client_keys(state, client).await?;
            let resolver = PreregisteredKeys(&keys);
            let verified = verifier
                .verify(&message, body, &resolver, now)
                .map_err(SignatureError::from)?;
            let sig = first(&verified.signatures)?;
            let kid = sig.params.keyid().unwrap_or_default();
            let jwk = find_key(&keys, kid).map_err(SignatureError::from)?;
            let cnf = Confirmation::preregistered(&jwk).map_err(SignatureError::from)?;
            (verified, cnf)
        }
    };
    let sig = first(&verified.signatures)?;
    let thumbprint = sig.key.thumbprint();
    let nonce = sig.params.nonce().unwrap_or_default();
    state
        .replay
        .check_once(OneTimeUse::new(
            &replay_key("httpsig-token", &thumbprint, nonce),
            window.replay_ttl(),
            sig.params.created().unwrap_or(i64::MIN),
            window.future_skew,
        ))
        .await
        .map_err(|refusal| match refusal {
            ReplayRefusal::Replayed => SignatureError::Replayed.into(),
            ReplayRefusal::Forgotten { memory_since } => {
                SignatureError::ReplayUnknown { memory_since }.into()
            }
            ReplayRefusal::Unavailable(e) => AsError::from(e),
        })?;
    tracing::debug!(
        client_id = client.map(|c| c.client_id.as_str()),
        binding = binding.as_str(),
        "token request signature verified"
    );
    Ok(Some(BoundKey {
        confirmation,
        thumbprint,
    }))
}

fn first<'s, 'm>(
    signatures: &'s [mcp_auth_httpsig::VerifiedSignature<'m>],
) -> Result<&'s mcp_auth_httpsig::VerifiedSignature<'m>, AsError> {
    signatures
        .first()
        .ok_or_else(|| InternalError::NoVerifiedSignature.into())
}

/// The client's JWKS: inline, or fetched from `jwks_uri` through the SSRF guard.
async fn client_keys(state: &AsState, client: &ClientRecord) -> Result<Vec<Value>, AsError> {
    let jwks = match (
        client.metadata.get("jwks"),
        client.metadata.get("jwks_uri").and_then(Value::as_str),
    ) {
        (Some(j), _) => j.clone(),
        (None, Some(uri)) => state
            .outbound
            .json(uri, 64 * 1024)
            .await
            .map_err(SignatureError::JwksUri)?,
        (None, None) => return Err(SignatureError::NoRegisteredKeys.into()),
    };
    Ok(jwks
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// HTTPSIG-AS-10: the key named by `keyid`, with the checks of AS-3 applied again
/// (keys at a `jwks_uri` were never checked at registration).
fn find_key(keys: &[Value], kid: &str) -> Result<Jwk, PreregisteredKeyError> {
    let mut found = keys
        .iter()
        .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid));
    match (found.next(), found.next()) {
        (Some(k), None) => check_preregistered_jwk(k),
        (None, _) => Err(PreregisteredKeyError::UnknownKeyId(kid.to_owned())),
        (Some(_), Some(_)) => Err(PreregisteredKeyError::SeveralKeys(kid.to_owned())),
    }
}

/// The key a signature's `keyid` names among the client's keys.
fn resolve_preregistered(
    keys: &[Value],
    entry: &SignatureEntry,
) -> Result<VerifyingKey, PreregisteredKeyError> {
    let kid = entry.params.keyid().ok_or(PreregisteredKeyError::NoKeyId)?;
    let jwk = find_key(keys, kid)?;
    VerifyingKey::from_jwk(&jwk).map_err(|source| PreregisteredKeyError::Unusable {
        kid: kid.to_owned(),
        source,
    })
}

struct PreregisteredKeys<'k>(&'k [Value]);

impl KeyResolver for PreregisteredKeys<'_> {
    fn resolve(&self, entry: &SignatureEntry) -> Result<VerifyingKey, ResolveError> {
        resolve_preregistered(self.0, entry).map_err(|e| ResolveError::NoKey(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_the_two_methods_and_nothing_else() {
        assert!(registration_metadata(&json!({})).unwrap().is_empty());
        assert_eq!(
            registration_metadata(&json!({"httpsig_key_binding_method": "runtime"})).unwrap(),
            vec![(KEY_BINDING_METADATA, json!("runtime"))]
        );
        let e = registration_metadata(&json!({"httpsig_key_binding_method": "inline"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be `runtime` or `preregistered`"), "{e}");
    }

    #[test]
    fn preregistered_keys_must_be_fully_specified_public_and_named() {
        let x = "iuemcj_GhRHmY_yCsMlDNp3BQgPZDdG00VRsg_BgU3s";
        let ok = json!({"httpsig_key_binding_method": "preregistered", "jwks": {"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "Ed25519", "x": x}]}});
        assert_eq!(registration_metadata(&ok).unwrap().len(), 2);
        for (key, why) in [
            (
                json!({"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "x": x}),
                "polymorphic",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519", "x": x}),
                "needs a `kid`",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}),
                "needs an `alg`",
            ),
            (
                json!({"kty": "oct", "kid": "k1", "alg": "HS256", "k": "c2VjcmV0"}),
                "public keys only",
            ),
        ] {
            let meta =
                json!({"httpsig_key_binding_method": "preregistered", "jwks": {"keys": [key]}});
            let e = registration_metadata(&meta).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let e = registration_metadata(&json!({"httpsig_key_binding_method": "preregistered"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one of `jwks` and `jwks_uri`"), "{e}");
    }
}
