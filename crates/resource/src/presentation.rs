//! The check of one presentation (profiles/http-message-signatures.md §10,
//! HTTPSIG-RS-16 for the order), in two phases so that an unauthenticated request
//! never costs more than its head (nothing of its body is read):
//!
//! 1. [`ResourceVerifier::verify_head`]: method → token → signature over the head (or
//!    DPoP proof and its `jti`) → body announced where none is allowed, or too large.
//! 2. [`ResourceVerifier::verify_body`], on the body read within `max_body`: the
//!    coverage the body calls for → digest → signature nonces in the replay cache →
//!    `Mcp-*` headers against the body → scope policy.
//!
//! The failure reported is the first in the profile's order; see [`crate::signature`]
//! for how the signature step is split at the body.

use std::sync::Arc;

use axum::body::Bytes;
use http::request::Parts;
use http::{HeaderMap, header};
use mcp_auth_core::dpop::{ProofContext, ProofError, check_proof};
use mcp_auth_core::httpsig_profile::{RequestShape, presentation_components};
use mcp_auth_core::mcp_binding::{BodyError, MCP_METHOD, McpOperation};
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};
use mcp_auth_core::{Confirmation, ReplayCache, ReplayRefusal, replay_key};
use mcp_auth_httpsig::VerifiedSignature;

use crate::config::ResourceConfig;
use crate::rejection::Rejection;
use crate::request::{BodyHint, MethodRule, method_rule};
use crate::signature::{self, Target, body_shape, claimed_shape};
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
    /// `iss`: the authorization server that issued the token. A `subject` is only
    /// unique within its issuer: compare (issuer, subject), never the subject alone.
    pub issuer: String,
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

    /// Where `@target-uri` and the DPoP `htu` come from: the configured resource URL.
    fn target(&self) -> Target<'_> {
        Target {
            scheme: &self.scheme,
            authority: &self.authority,
        }
    }

    /// Phase 1, before any body byte is read: everything the head decides.
    ///
    /// 1. The method: `POST`, `GET`, `DELETE`, else 405 with `Allow` (Streamable HTTP).
    /// 2. The token (HTTPSIG-RS-2..5, DPOP-RS-*): scheme, JWT, binding.
    /// 3. The proof: the HTTPSig signatures against the coverage the head claims and
    ///    the token's key (§10 step 2 without the body), or the DPoP proof with its
    ///    `jti` recorded (RFC 9449 §4.3, §11.1: the proof covers no body, so its whole
    ///    check, replay included, belongs to the head).
    /// 4. For an authenticated request: a body announced on `GET`/`DELETE` (400), or
    ///    announced larger than `max_body` (413).
    ///
    /// An unauthenticated request is refused here, having cost its head only.
    pub async fn verify_head(
        &self,
        parts: &Parts,
        body: BodyHint,
        now: i64,
    ) -> Result<VerifiedHead, Rejection> {
        let rule = method_rule(&parts.method)?;
        let (profile, token) = authorization(&parts.headers)?;
        let verified = self.tokens.verify(token, now).await?;
        let claims = &verified.claims;
        let (key_thumbprint, proof) = match profile {
            Profile::Bearer => {
                // HTTPSIG-RS-5 and DPOP-RS-6, RFC 9449 §7.2: a bound token never works as a
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
                (None, PendingProof::Complete)
            }
            Profile::Dpop => {
                let jkt = self
                    .check_dpop_proof(parts, token, claims.cnf.as_ref(), now)
                    .await?;
                (Some(jkt), PendingProof::Complete)
            }
            Profile::HttpSig => {
                let (Some(key), Some(thumbprint)) = (&verified.key, &verified.thumbprint) else {
                    return Err(match &claims.cnf {
                        None => Rejection::BadAuthorization(
                            "the token is not bound to a key and cannot be presented with HTTPSig",
                        ),
                        Some(_) => Rejection::Confirmation(
                            mcp_auth_core::ConfirmationError::NotASignatureKey,
                        ),
                    });
                };
                let signatures = signature::verify_head(
                    parts,
                    claimed_shape(parts, body),
                    self.target(),
                    self.config.window,
                    key,
                    now,
                )?;
                (
                    Some(thumbprint.clone()),
                    PendingProof::Signatures {
                        signatures,
                        thumbprint: thumbprint.clone(),
                    },
                )
            }
        };
        if rule == MethodRule::NoBody && !body.empty {
            return Err(Rejection::BodyNotAllowed(parts.method.clone()));
        }
        if body.at_least > self.config.max_body as u64 {
            return Err(Rejection::BodyTooLarge(self.config.max_body));
        }
        Ok(VerifiedHead {
            principal: Principal {
                issuer: claims.iss.clone(),
                subject: claims.sub.clone(),
                client_id: claims.client_id.clone(),
                scopes: mcp_auth_core::scope::parse(&claims.scope),
                token_id: claims.jti.clone(),
                profile,
                key_thumbprint,
            },
            granted_scope: claims.scope.clone(),
            proof,
        })
    }

    /// Phase 2, on `body` (the exact bytes received, read within `max_body`) of a
    /// request whose head passed:
    ///
    /// 1. HTTPSig: the coverage the body requires and `Content-Digest` (§10 steps 2, 3),
    ///    then every signature's (thumbprint, nonce) recorded in the replay cache
    ///    (step 4, HTTPSIG-RS-13): after the digest, so a request whose body does not
    ///    match its signature never consumes the client's nonce.
    /// 2. `Mcp-Method` / `Mcp-Name` against the JSON-RPC body (step 5, HTTPSIG-RS-14,
    ///    SEP-2243): required under HTTPSig, checked when sent otherwise.
    /// 3. The scope policy for the operation the body names (step 6, 403).
    pub async fn verify_body(
        &self,
        head: VerifiedHead,
        parts: &Parts,
        body: &[u8],
    ) -> Result<Principal, Rejection> {
        // The JSON-RPC body names the operation (HTTPSig coverage, SEP-2243 headers,
        // scope policy). A POST body that names none is refused at step 5, after the
        // signature has shown who sent it. GET and DELETE carry no body.
        let operation = if method_rule(&parts.method)? == MethodRule::JsonRpcBody {
            match read_body(body) {
                Ok(JsonRpcBody::Response) => None,
                Ok(JsonRpcBody::Operation(op)) => Some(Ok(op)),
                Err(e) => Some(Err(e)),
            }
        } else if body.is_empty() {
            None
        } else {
            return Err(Rejection::BodyNotAllowed(parts.method.clone()));
        };
        let headers_required = match &head.proof {
            PendingProof::Complete => false,
            PendingProof::Signatures {
                signatures,
                thumbprint,
            } => {
                let shape = body_shape(parts, operation.as_ref(), body);
                signature::check_body(signatures, shape, &parts.headers, body)?;
                self.record_nonces(signatures, thumbprint, shape).await?;
                true
            }
        };
        let op = check_operation(operation, &parts.headers, headers_required)?;
        self.check_scopes(op.as_ref(), &head.granted_scope)?;
        Ok(head.principal)
    }

    /// Both phases over a body already in memory: the whole check of `parts` +
    /// `body` at `now` (benchmarks, tests, callers that buffer bodies themselves).
    pub async fn verify_presentation(
        &self,
        parts: &Parts,
        body: &Bytes,
        now: i64,
    ) -> Result<Principal, Rejection> {
        let head = self
            .verify_head(parts, BodyHint::of_bytes(body), now)
            .await?;
        self.verify_body(head, parts, body).await
    }

    /// §10 step 4: each signature's (key thumbprint, nonce) inserted in the replay
    /// cache for `max_age + future_skew`; a second use is refused, an unreachable
    /// cache is a 503 (fail closed).
    async fn record_nonces(
        &self,
        signatures: &[VerifiedSignature],
        thumbprint: &str,
        shape: RequestShape,
    ) -> Result<(), Rejection> {
        for sig in signatures {
            let nonce = sig.params.nonce().unwrap_or_default();
            self.replay
                .check_once(
                    &replay_key("httpsig", thumbprint, nonce),
                    self.config.window.replay_ttl(),
                )
                .await
                .map_err(|refusal| match refusal {
                    ReplayRefusal::Replayed => Rejection::Replayed {
                        components: presentation_components(shape),
                    },
                    ReplayRefusal::Unavailable(e) => Rejection::ReplayCacheUnavailable(e),
                })?;
        }
        Ok(())
    }
}

/// A request whose head passed [`ResourceVerifier::verify_head`]: who sent it, and
/// what remains to check once the body has been read.
#[derive(Debug)]
pub struct VerifiedHead {
    principal: Principal,
    granted_scope: String,
    proof: PendingProof,
}

impl VerifiedHead {
    /// The caller, as the token and its proof identify it (scopes not yet checked
    /// against the operation).
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// What is left of the proof after the head.
#[derive(Debug)]
enum PendingProof {
    /// Bearer, or a DPoP proof already checked and its `jti` recorded: nothing about
    /// the proof depends on the body.
    Complete,
    /// HTTPSig signatures verified over the head: their body coverage, the digest and
    /// their nonces remain.
    Signatures {
        signatures: Vec<VerifiedSignature>,
        thumbprint: String,
    },
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
        // `htu` (RFC 9449 §4.3 step 9): the configured scheme and authority with the
        // received path, never the authority of an absolute-form request line nor
        // `Host` (the same rule as HTTPSIG-RS-11; profiles/dpop.md).
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
            self.replay
                .check_once(&proof.replay_key(), policy.window.replay_ttl())
                .await
                .map_err(|refusal| match refusal {
                    ReplayRefusal::Replayed => Rejection::Dpop(ProofError::Replayed),
                    ReplayRefusal::Unavailable(e) => Rejection::ReplayCacheUnavailable(e),
                })?;
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
