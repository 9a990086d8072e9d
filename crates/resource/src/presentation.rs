//! The check of one presentation (profiles/http-message-signatures.md "Validation",
//! HTTPSIG-RS-16 for the order): token → signature policy and crypto → digest →
//! replay → `Mcp-*` headers against the body.

use std::sync::Arc;

use axum::body::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, header};
use mcp_auth_core::dpop::{ProofContext, ProofError, check_proof};
use mcp_auth_core::httpsig_profile::{RequestShape, presentation_components, presentation_policy};
use mcp_auth_core::mcp_binding::{BodyError, MCP_METHOD, MCP_PROTOCOL_VERSION, McpOperation};
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};
use mcp_auth_core::{Confirmation, Freshness, ReplayCache, replay_key};
use mcp_auth_httpsig::{Message, RequestView, Verifier};

use crate::config::ResourceConfig;
use crate::rejection::Rejection;
use crate::token::AccessTokenCache;

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP: &str = "dpop";

/// How the caller presented its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `Authorization: Bearer` with an unbound token.
    Bearer,
    /// `Authorization: HTTPSig` with a signature by the token's key.
    HttpSig,
    /// `Authorization: DPoP` with a DPoP proof by the token's key (RFC 9449 §7).
    Dpop,
}

impl Profile {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::HttpSig => "httpsig",
            Self::Dpop => "dpop",
        }
    }
}

/// The verified caller, put in the request extensions for the MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub`: the user, or the client for client_credentials.
    pub subject: String,
    /// `client_id`.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The token's `jti`.
    pub token_id: String,
    /// How the token was presented.
    pub profile: Profile,
    /// Thumbprint of the key the request was signed with (HTTPSig) or the DPoP proof
    /// was made with (`cnf.jkt`).
    pub key_thumbprint: Option<String>,
}

/// Verifies presentations for one resource.
#[derive(Debug)]
pub struct ResourceVerifier {
    config: ResourceConfig,
    tokens: AccessTokenCache,
    replay: Arc<dyn ReplayCache>,
    scheme: String,
    authority: String,
    metadata_url: String,
    challenge_scope: String,
}

impl ResourceVerifier {
    /// A verifier for `config`, checking tokens with `tokens` and nonces in `replay`.
    pub fn new(
        config: ResourceConfig,
        tokens: AccessTokenCache,
        replay: Arc<dyn ReplayCache>,
    ) -> Self {
        Self {
            scheme: config.scheme(),
            authority: config.authority(),
            metadata_url: config.metadata_url(),
            challenge_scope: config.scopes.required.join(" "),
            config,
            tokens,
            replay,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceConfig {
        &self.config
    }

    /// The replay cache (readiness checks).
    pub fn replay_cache(&self) -> &dyn ReplayCache {
        self.replay.as_ref()
    }

    /// The access token cache (to refresh its JWKS).
    pub fn tokens(&self) -> &AccessTokenCache {
        &self.tokens
    }

    /// The scopes named in 401 challenges: those every request needs.
    pub fn challenge_scope(&self) -> &str {
        &self.challenge_scope
    }

    /// The RFC 9728 metadata URL named in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Verifies the presentation of `parts` + `body` (the exact bytes received) at
    /// `now`.
    pub async fn verify_presentation(
        &self,
        parts: &Parts,
        body: &Bytes,
        now: i64,
    ) -> Result<Principal, Rejection> {
        // 1. The token (HTTPSIG-RS-2..5).
        let (profile, token) = authorization(&parts.headers)?;
        let verified = self.tokens.verify(token, now).await?;
        let claims = &verified.claims;
        let principal = |profile, key_thumbprint| Principal {
            subject: claims.sub.clone(),
            client_id: claims.client_id.clone(),
            scopes: claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            token_id: claims.jti.clone(),
            profile,
            key_thumbprint,
        };
        // The JSON-RPC body names the operation (HTTPSig coverage, SEP-2243 headers,
        // scope policy). A body that names none is refused at step 5, after the
        // signature has shown who sent it.
        let operation = if parts.method == Method::POST {
            match read_body(body) {
                Ok(JsonRpcBody::Response) => None,
                Ok(JsonRpcBody::Operation(op)) => Some(Ok(op)),
                Err(e) => Some(Err(e)),
            }
        } else {
            None
        };
        if profile == Profile::Bearer {
            // PROFILE-DECISIONS 15, RFC 9449 §7.2: a bound token never works as a
            // bearer token.
            if let Some(cnf) = &claims.cnf {
                return Err(Rejection::BoundTokenAsBearer {
                    dpop: matches!(cnf, Confirmation::Jkt(_)),
                });
            }
            if self.config.bound_tokens_required {
                return Err(Rejection::BoundTokenRequired {
                    dpop_accepted: self.config.dpop.is_some(),
                });
            }
            // SEP-2243 headers are checked when the client sent them (2026-07-28
            // clients do; 2025-11-25 clients do not).
            let op = check_operation(operation, &parts.headers, false)?;
            self.check_scopes(op.as_ref(), &claims.scope)?;
            return Ok(principal(Profile::Bearer, None));
        }
        if profile == Profile::Dpop {
            let jkt = self
                .check_dpop_proof(parts, token, claims.cnf.as_ref(), now)
                .await?;
            let op = check_operation(operation, &parts.headers, false)?;
            self.check_scopes(op.as_ref(), &claims.scope)?;
            return Ok(principal(Profile::Dpop, Some(jkt)));
        }
        let (Some(key), Some(thumbprint)) = (&verified.key, &verified.thumbprint) else {
            return Err(match &claims.cnf {
                None => Rejection::BadAuthorization(
                    "the token is not bound to a key and cannot be presented with HTTPSig",
                ),
                Some(_) => {
                    Rejection::Confirmation(mcp_auth_core::ConfirmationError::NotASignatureKey)
                }
            });
        };
        // 2–3. Coverage follows the request (HTTPSIG-RS-7).
        let shape = RequestShape {
            has_operation: operation.is_some(),
            has_body: !body.is_empty(),
            has_mcp_name: matches!(&operation, Some(Ok(op)) if op.name.is_some()),
            has_protocol_version: parts.headers.contains_key(MCP_PROTOCOL_VERSION),
        };
        let algorithm = key
            .algorithm()
            .ok_or_else(|| Rejection::Internal("bound key without algorithm".into()))?;
        // The components go into the policy; a rejection recomputes them for its
        // Accept-Signature (cheap, and only on the error path).
        let verifier = Verifier::new(presentation_policy(
            presentation_components(shape),
            self.config.window,
            algorithm,
        ));
        // HTTPSIG-RS-11: scheme and authority from configuration, never from Host or
        // X-Forwarded-*.
        let view = RequestView::new(&parts.method, &parts.uri, &parts.headers)
            .with_scheme(&self.scheme)
            .with_authority(&self.authority);
        let verified_sigs = verifier
            .verify(&Message::Request(view), body, key, now)
            .map_err(|error| Rejection::Signature {
                error,
                components: presentation_components(shape),
            })?;
        // 4. Replay (HTTPSIG-RS-13), for every checked signature.
        for sig in &verified_sigs.signatures {
            let nonce = sig.params.nonce().unwrap_or_default();
            match self
                .replay
                .check_and_record(
                    &replay_key("httpsig", thumbprint, nonce),
                    self.config.window.replay_ttl(),
                )
                .await
            {
                Ok(Freshness::Fresh) => {}
                Ok(Freshness::Replayed) => {
                    return Err(Rejection::Replayed {
                        components: presentation_components(shape),
                    });
                }
                Err(e) => return Err(Rejection::ReplayCacheUnavailable(e)),
            }
        }
        // 5. Mcp-Method / Mcp-Name against the body (HTTPSIG-RS-14, SEP-2243).
        let op = check_operation(operation, &parts.headers, true)?;
        // 6. Scope policy (403 insufficient_scope, step-up).
        self.check_scopes(op.as_ref(), &claims.scope)?;
        Ok(principal(Profile::HttpSig, Some(thumbprint.clone())))
    }
}

impl ResourceVerifier {
    /// RFC 9449 §7.1 (profiles/dpop.md DPOP-RS-*): the resource accepts DPoP; the
    /// token is bound by `cnf.jkt`; the one proof check of `mcp_auth_core::dpop` at
    /// the request's method and URI (scheme and authority from configuration, as for
    /// HTTPSig), with `ath` and the binding; the `jti` recorded in the replay cache.
    /// The key thumbprint.
    async fn check_dpop_proof(
        &self,
        parts: &Parts,
        token: &str,
        cnf: Option<&Confirmation>,
        now: i64,
    ) -> Result<String, Rejection> {
        let policy = self
            .config
            .dpop
            .as_ref()
            .ok_or(Rejection::BadAuthorization(
                "this resource does not accept the DPoP scheme: use HTTPSig",
            ))?;
        let Some(Confirmation::Jkt(jkt)) = cnf else {
            return Err(Rejection::BadAuthorization(
                "the token is not bound to a DPoP key (cnf.jkt)",
            ));
        };
        let uri = format!("{}://{}{}", self.scheme, self.authority, parts.uri.path());
        let context = ProofContext {
            method: parts.method.as_str(),
            uri: &uri,
            access_token: Some(token),
            bound_jkt: Some(jkt),
            algorithms: &policy.algorithms,
            window: policy.window,
            nonces: policy.nonces.as_deref(),
            now,
        };
        let proof = check_proof(
            parts.headers.get_all(DPOP).iter().map(|v| v.as_bytes()),
            &context,
        )
        .map_err(Rejection::Dpop)?;
        if policy.jti_replay {
            match self
                .replay
                .check_and_record(&proof.replay_key(), policy.window.replay_ttl())
                .await
            {
                Ok(Freshness::Fresh) => {}
                Ok(Freshness::Replayed) => return Err(Rejection::Dpop(ProofError::Replayed)),
                Err(e) => return Err(Rejection::ReplayCacheUnavailable(e)),
            }
        }
        Ok(proof.jkt)
    }

    /// A new DPoP nonce for the response, when this resource requires nonces
    /// (RFC 9449 §9: the next one comes with each answer).
    pub fn next_dpop_nonce(&self, now: i64) -> Option<String> {
        self.config
            .dpop
            .as_ref()
            .and_then(|p| p.nonces.as_ref())
            .and_then(|n| n.issue(now))
    }

    /// Refuses with 403 `insufficient_scope` when `granted` (the token's `scope`) lacks a
    /// scope the operation needs; the challenge names all the scopes it needs.
    fn check_scopes(
        &self,
        operation: Option<&McpOperation<'_>>,
        granted: &str,
    ) -> Result<(), Rejection> {
        let policy = &self.config.scopes;
        if policy.is_empty() {
            return Ok(());
        }
        let required =
            policy.required_for(operation.map(|op| (op.method.as_ref(), op.name.as_deref())));
        if policy.missing(&required, granted).is_empty() {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope {
                required: required.into_iter().map(str::to_owned).collect(),
            })
        }
    }
}

/// The operation the body names, its `Mcp-*` headers checked against it (always when
/// `headers_required`, else only when the client sent `Mcp-Method`). A POST body that
/// is not one JSON-RPC message is refused with -32020.
fn check_operation<'a>(
    operation: Option<Result<McpOperation<'a>, BodyError>>,
    headers: &HeaderMap,
    headers_required: bool,
) -> Result<Option<McpOperation<'a>>, Rejection> {
    let Some(operation) = operation else {
        return Ok(None);
    };
    let op = operation.map_err(|e| Rejection::HeaderMismatch {
        mismatch: e.into(),
        id: None,
    })?;
    if headers_required || headers.contains_key(MCP_METHOD) {
        op.check_headers(headers)
            .map_err(|mismatch| Rejection::HeaderMismatch {
                mismatch,
                id: op.id.map(|i| i.get().to_owned()),
            })?;
    }
    Ok(Some(op))
}

/// The scheme of the `Authorization` field, if it names one we know (for choosing
/// the challenge a rejection answers with).
pub fn presented_profile(headers: &HeaderMap) -> Option<Profile> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.split(' ').next()?;
    scheme_profile(scheme)
}

/// The profile an `Authorization` scheme names (case-insensitive, RFC 9110 §11.1).
fn scheme_profile(scheme: &str) -> Option<Profile> {
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Profile::Bearer)
    } else if scheme.eq_ignore_ascii_case("httpsig") {
        Some(Profile::HttpSig)
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some(Profile::Dpop)
    } else {
        None
    }
}

/// HTTPSIG-RS-2: exactly one `Authorization` field, scheme `HTTPSig`, `DPoP` or
/// `Bearer` (case-insensitive, RFC 9110 §11.1), one token.
fn authorization(headers: &HeaderMap) -> Result<(Profile, &str), Rejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::NoCredentials);
    };
    if values.next().is_some() {
        return Err(Rejection::BadAuthorization(
            "more than one Authorization field",
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| Rejection::BadAuthorization("the Authorization field is not visible ASCII"))?;
    let (scheme, token) = text.split_once(' ').ok_or(Rejection::BadAuthorization(
        "the Authorization field has no token",
    ))?;
    let token = token.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(Rejection::BadAuthorization(
            "the Authorization field must carry exactly one token",
        ));
    }
    let profile = scheme_profile(scheme).ok_or(Rejection::BadAuthorization(
        "unsupported authorization scheme: use HTTPSig (or DPoP, or Bearer, where accepted)",
    ))?;
    Ok((profile, token))
}
