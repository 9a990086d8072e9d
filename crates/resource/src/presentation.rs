//! The check of one presentation (profiles/http-message-signatures.md §10,
//! HTTPSIG-RS-16 for the order), in two phases so that an unauthenticated request
//! never costs more than its head (nothing of its body is read):
//!
//! 1. the head: method → `Authorization` → token → the proof of the profile presented
//!    (`profiles.rs`: none for Bearer, the DPoP proof and its `jti`, or the
//!    HTTPSig signatures over the head) → body announced where none is allowed, or too
//!    large.
//! 2. the body, read within `max_body`: what the profile left for it (for HTTPSig:
//!    the coverage the body calls for → digest → signature nonces in the replay cache)
//!    → `Mcp-*` headers against the body → scope policy.
//!
//! [`ResourceVerifier::verify_request`] runs both on a streaming request (the layer's
//! way), [`ResourceVerifier::verify_presentation`] on a body already in memory. Both
//! answer a [`Presentation`]: the profile the request presented and the outcome, the
//! time read once, from the configured clock. The failure reported is the first in the
//! profile's order; see [`crate::signature`] for how the signature step is split at the
//! body.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use http::request::Parts;
use http::{HeaderMap, Request, header};
use http_body_util::Full;
use mcp_auth_core::mcp_binding::{BodyError, McpOperation};
use mcp_auth_core::mcp_binding::{JsonRpcBody, read_body};
use mcp_auth_core::weakening::Weakening;
use mcp_auth_core::{OneTimeUse, ReplayCache, ReplayKey, ReplayRefusal};
use mcp_auth_httpsig::{ComponentId, VerifiedSignature};

use mcp_auth_core::httpsig_profile::param_header_components;
use mcp_auth_core::mcp_param::ToolRegistry;

use crate::audit::{self, AuditSink};
use crate::config::ResourceConfig;
use crate::policy::{ListFilter, ListKind, Policy};
use crate::profiles::{PendingProof, Presented};
use crate::rejection::{Challenge, Rejection};
use crate::request::{BodyHint, MethodRule, method_rule};
use crate::signature::{self, Target, body_shape};
use crate::token::{AccessTokenCache, VerifiedToken};
use crate::whole_body::ReadError;

pub use crate::profiles::DPOP;

mod authorize;

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
///
/// Its strings are shared, not owned: a token's principal is made once, when the
/// token is verified and cached, and each request presenting it gets a copy that
/// costs reference counts, not allocations. [`ByteString`] reads as a `&str`
/// (`&*principal.subject`, `principal.subject == "alice"`), and the gateway sends
/// it on as an identity header's value without copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `iss`: the authorization server that issued the token. A `subject` is only
    /// unique within its issuer: compare (issuer, subject), never the subject alone.
    pub issuer: ByteString,
    /// `sub`: the user, or the client for client_credentials.
    pub subject: ByteString,
    /// `client_id`.
    pub client_id: ByteString,
    /// Granted scopes.
    pub scopes: Arc<[String]>,
    /// The token's `jti`.
    pub token_id: ByteString,
    /// How the token was presented.
    pub profile: Profile,
    /// Thumbprint of the key the request was signed with (HTTPSig) or the DPoP proof
    /// was made with (`cnf.jkt`).
    pub key_thumbprint: Option<ByteString>,
    /// Every claim of the token (a JSON object, shared with the token cache): what
    /// policy rules read as `principal.claims`.
    pub claims: Arc<serde_json::Value>,
}

/// What the check of one request found: the profile its `Authorization` field
/// names and the outcome. The profile is known for a refusal too, whose challenge
/// and metric label name it.
#[derive(Debug)]
pub struct Presentation<T = Principal> {
    /// The scheme of the `Authorization` field when it names one this crate knows
    /// (also when the field is otherwise malformed); `None` without one.
    pub profile: Option<Profile>,
    /// What passed ([`Principal`], or the request to pass on), or why it is refused.
    pub outcome: Result<T, Rejection>,
    /// The request announced a body that was not read whole (refused before or while
    /// reading it): its connection cannot carry another request, and the refusal
    /// should say so (`Connection: close`), or a client reusing it finds it closed.
    pub body_unread: bool,
}

/// Verifies presentations for one resource.
#[derive(Debug)]
pub struct ResourceVerifier {
    config: ResourceConfig,
    tokens: AccessTokenCache,
    replay: Arc<dyn ReplayCache>,
    challenge_scope: String,
    policies: signature::Policies,
    admission: Option<Arc<dyn Admission>>,
    audit: Option<AuditSink>,
    /// The policy rules with the scope policy's first (`crate::policy`), compiled
    /// once: what [`ResourceVerifier::authorize`] decides with.
    authorization: Policy,
    /// The tools' `x-mcp-header` annotations, learned by the gateway from the
    /// `tools/list` answers it forwards: the `Mcp-Param-*` headers checked against the
    /// arguments.
    tool_headers: Option<ToolRegistry>,
}

/// A check of an authenticated principal before its body is read: the gateway's
/// rate limit (`crate::rate_limit`). `Err` refuses the request with that rejection.
pub trait Admission: Send + Sync + std::fmt::Debug {
    /// Whether `principal` may go on.
    fn admit<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>>;

    /// Whether the check's store answers, for `/readyz`: `None` when it has no store
    /// to ask (in memory).
    fn ready(&self) -> std::pin::Pin<Box<dyn Future<Output = Option<bool>> + Send + '_>> {
        Box::pin(async { None })
    }
}

/// A request whose head passed: who sent it, and what remains to check once the body
/// has been read.
#[derive(Debug)]
struct VerifiedHead<'p> {
    principal: Principal,
    /// The token, as verified (its `scope` is what the scope policy reads).
    token: Arc<VerifiedToken>,
    rule: MethodRule,
    proof: PendingProof<'p>,
}

impl ResourceVerifier {
    /// A verifier for `config`, checking tokens with `tokens` and nonces in `replay`.
    pub fn new(
        config: ResourceConfig,
        tokens: AccessTokenCache,
        replay: Arc<dyn ReplayCache>,
    ) -> Self {
        let authorization = if config.weakenings.has(Weakening::IgnoreScope) {
            config.policy.clone()
        } else {
            config.policy.with_scopes(&config.scopes)
        };
        Self {
            challenge_scope: config.scopes.required.join(" "),
            policies: signature::Policies::new(config.window),
            tokens: tokens.weakened(config.weakenings),
            config,
            replay,
            admission: None,
            audit: None,
            authorization,
            tool_headers: None,
        }
    }

    /// The same verifier checking the `Mcp-Param-*` headers of a `tools/call` against
    /// its arguments, for the tools `registry` knows (SEP-2243; docs/gateway.md "Tool
    /// parameters in headers").
    pub fn with_tool_headers(mut self, registry: ToolRegistry) -> Self {
        self.tool_headers = Some(registry);
        self
    }

    /// The same verifier recording an audit event for each operation it refuses after
    /// authentication (scopes, policy, rate limit); the gateway records the ones it
    /// forwards.
    pub fn with_audit(mut self, audit: AuditSink) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same verifier with `admission` checked for every authenticated request,
    /// after its head and before its body is read.
    pub fn with_admission(mut self, admission: Arc<dyn Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceConfig {
        &self.config
    }

    /// The replay cache (readiness checks).
    pub fn replay_cache(&self) -> &dyn ReplayCache {
        self.replay.as_ref()
    }

    /// The admission check (the gateway's rate limit), if any.
    pub fn admission(&self) -> Option<&dyn Admission> {
        self.admission.as_deref()
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
        self.config.metadata_url()
    }

    /// Where `@target-uri` and the DPoP `htu` come from: the configured resource URL.
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            scheme: self.config.scheme(),
            authority: self.config.authority(),
        }
    }

    /// The HTTPSig presentation policies of this configuration.
    pub(crate) fn policies(&self) -> &signature::Policies {
        &self.policies
    }

    /// The replay cache, for the profiles' checks.
    pub(crate) fn replay(&self) -> &(dyn ReplayCache + 'static) {
        self.replay.as_ref()
    }

    /// The whole check of a request whose body has not been read: the head, then
    /// (only if it passed) the body read within `max_body` (413 past it), then what
    /// needs the body. Accepted: the same request, its body the bytes read, the
    /// [`Principal`] in its extensions.
    pub async fn verify_request<B>(&self, request: Request<B>) -> Presentation<Request<Full<Bytes>>>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (mut parts, body) = request.into_parts();
        let (profile, credentials) = authorization(&parts.headers);
        let hint = BodyHint::of_body(&body);
        let read_whole = std::sync::atomic::AtomicBool::new(hint.empty);
        let read = async {
            let read = read_within(body, self.config.max_body).await;
            if read.is_ok() {
                read_whole.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            read
        };
        let checked = self.check(&parts, credentials, hint, read).await;
        let outcome = checked.map(|(accepted, bytes)| {
            parts.extensions.insert(accepted.principal);
            if let Some(filter) = accepted.list_filter {
                parts.extensions.insert(filter);
            }
            if let Some(list) = accepted.list {
                parts.extensions.insert(list);
            }
            if let Some(event) = accepted.audit_event {
                parts.extensions.insert(event);
            }
            Request::from_parts(parts, Full::new(bytes))
        });
        Presentation {
            profile,
            outcome,
            body_unread: !read_whole.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The whole check of `parts` + `body`, a body already in memory (benchmarks,
    /// tests, callers that buffer bodies themselves).
    pub async fn verify_presentation(&self, parts: &Parts, body: &[u8]) -> Presentation {
        let (profile, credentials) = authorization(&parts.headers);
        let outcome = self
            .check(parts, credentials, BodyHint::of_bytes(body), async {
                Ok(body)
            })
            .await
            .map(|(accepted, _)| accepted.principal);
        Presentation {
            profile,
            outcome,
            body_unread: false,
        }
    }

    /// The response refusing a request that presented `profile`: the challenges this
    /// resource offers, with a fresh DPoP nonce when it requires them.
    pub fn refusal(
        &self,
        profile: Option<Profile>,
        rejection: Rejection,
    ) -> http::Response<Full<Bytes>> {
        let nonce = self.next_dpop_nonce();
        rejection.into_response(Challenge {
            resource_metadata: self.metadata_url(),
            bearer_accepted: !self.config.bound_tokens_required,
            presented: profile,
            scope: &self.challenge_scope,
            dpop: self.config.dpop.as_ref(),
            dpop_nonce: nonce.as_deref(),
        })
    }

    /// A new DPoP nonce, when this resource requires nonces (RFC 9449 §9: one comes
    /// with every challenge and every answer to a DPoP request). The one place nonces
    /// are issued, at the configured clock's time.
    pub fn next_dpop_nonce(&self) -> Option<String> {
        self.config
            .dpop
            .as_ref()
            .and_then(|p| p.nonces.as_ref())
            .and_then(|n| n.issue(self.config.clock.now()))
    }

    /// The two phases, the body obtained from `body` in between (read only if the head
    /// passed).
    async fn check<T: AsRef<[u8]>>(
        &self,
        parts: &Parts,
        credentials: Result<(Profile, &str), Rejection>,
        hint: BodyHint,
        body: impl Future<Output = Result<T, Rejection>>,
    ) -> Result<(Accepted, T), Rejection> {
        let head = self.verify_head(parts, credentials, hint).await?;
        let body = body.await?;
        let accepted = self.verify_body(head, parts, body.as_ref()).await?;
        Ok((accepted, body))
    }

    /// Phase 1, before any body byte is read: everything the head decides.
    ///
    /// 1. The method: `POST`, `GET`, `DELETE`, else 405 with `Allow` (Streamable HTTP).
    /// 2. The credentials (HTTPSIG-RS-2): one `Authorization` field, a known scheme,
    ///    one token.
    /// 3. The token (HTTPSIG-RS-3..5, DPOP-RS-*): JWT, issuer, audience, times, `cnf`.
    /// 4. The proof of the profile presented (`profiles.rs`).
    /// 5. For an authenticated request: a body announced on `GET`/`DELETE` (400), or
    ///    announced larger than `max_body` (413).
    ///
    /// An unauthenticated request is refused here, having cost its head only.
    async fn verify_head<'p>(
        &self,
        parts: &'p Parts,
        credentials: Result<(Profile, &str), Rejection>,
        body: BodyHint,
    ) -> Result<VerifiedHead<'p>, Rejection> {
        let rule = method_rule(&parts.method)?;
        let (profile, token) = credentials?;
        let now = self.config.clock.now();
        let verified = self.tokens.verify(token, now).await?;
        let presented = Presented {
            parts,
            verified: &verified,
            body,
            now,
        };
        let proof = match profile {
            Profile::Bearer => self.bearer(&presented).await,
            Profile::Dpop => self.dpop(&presented).await,
            Profile::HttpSig => self.httpsig(&presented).await,
        }?;
        if rule == MethodRule::NoBody && !body.empty {
            return Err(Rejection::BodyNotAllowed(parts.method.clone()));
        }
        if body.at_least > self.config.max_body as u64 {
            return Err(Rejection::BodyTooLarge(self.config.max_body));
        }
        let principal = verified.principal(profile, proof.key_thumbprint);
        if let Some(admission) = &self.admission
            && let Err(refused) = admission.admit(&principal).await
        {
            self.audit_refusal(parts, &principal, None, &refused);
            return Err(refused);
        }
        Ok(VerifiedHead {
            principal,
            token: verified,
            rule,
            proof: proof.pending,
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
    async fn verify_body(
        &self,
        head: VerifiedHead<'_>,
        parts: &Parts,
        body: &[u8],
    ) -> Result<Accepted, Rejection> {
        // The JSON-RPC body names the operation (HTTPSig coverage, SEP-2243 headers,
        // scope policy). A POST body that names none is refused at step 5, after the
        // signature has shown who sent it. GET and DELETE carry no body.
        let operation = if head.rule == MethodRule::JsonRpcBody {
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
        let headers_required = match head.proof {
            PendingProof::Complete => false,
            PendingProof::Signatures {
                signatures,
                claimed,
            } => {
                // The coverage the body requires: for a request whose `Mcp-*` headers
                // mirror its body, the one the head claimed.
                let shape = body_shape(parts, operation.as_ref(), body);
                let components = self.policies.components(shape);
                // HTTPSIG-RS-17: and every `Mcp-Param-*` field the request carries.
                let params = param_header_components(&parts.headers);
                let params_covered = !params.is_empty()
                    && !self.config.weakenings.has(Weakening::UncoveredParamHeaders);
                let components: std::borrow::Cow<'_, [ComponentId]> = if params_covered {
                    components.iter().cloned().chain(params).collect()
                } else {
                    components.into()
                };
                let components = components.as_ref();
                let weakenings = self.config.weakenings;
                // The head's policy checked every signature against the claimed shape's
                // components: only a body that calls for more is checked again.
                if shape != claimed || params_covered {
                    signature::check_body_coverage(&signatures, components)?;
                }
                if !weakenings.has(Weakening::SkipContentDigest) {
                    signature::check_content_digest(&signatures, components, &parts.headers, body)?;
                }
                if !weakenings.has(Weakening::SkipSignatureNonceReplay) {
                    // The thumbprint of the key that made the signatures, as the head
                    // recorded it (always, for HTTPSig).
                    let Some(thumbprint) = head.principal.key_thumbprint.as_deref() else {
                        return Err(Rejection::Internal(
                            "signatures verified without a key thumbprint".into(),
                        ));
                    };
                    self.record_nonces(&signatures, thumbprint, components)
                        .await?;
                }
                true
            }
        };
        let op = if self.config.weakenings.has(Weakening::IgnoreMirroredHeaders) {
            // The body is still read; no header is compared with it.
            check_operation(operation, &HeaderMap::new(), false)?
        } else {
            check_operation(operation, &parts.headers, headers_required)?
        };
        // SEP-2243's custom headers, checked: the policy's `request.params`.
        let params = match &op {
            Some(op) => match self.check_param_headers(op, &parts.headers) {
                Ok(params) => params,
                Err(refused) => {
                    self.audit_refusal(parts, &head.principal, Some(op), &refused);
                    return Err(refused);
                }
            },
            None => None,
        };
        let decided = self.authorize(
            &head.principal,
            op.as_ref(),
            parts,
            &head.token.claims.scope,
            params.as_ref(),
        );
        let list_filter = match decided {
            Ok(filter) => filter,
            Err(refused) => {
                self.audit_refusal(parts, &head.principal, op.as_ref(), &refused);
                return Err(refused);
            }
        };
        // The event of an operation going upstream, made here where the operation was
        // read; the gateway adds the upstream's status.
        let audit_event = self.audit.as_ref().zip(op.as_ref()).map(|(sink, op)| {
            let request_id = audit::request_id(&parts.headers);
            audit::operation_event(
                sink,
                &request_id,
                &head.principal,
                Some(op),
                audit::decision::ALLOW,
            )
        });
        Ok(Accepted {
            principal: head.principal,
            list_filter,
            list: op.and_then(|op| ListKind::of_list_method(&op.method)),
            audit_event,
        })
    }

    /// §10 step 4: each signature's (key thumbprint, nonce) inserted in the replay
    /// cache for `max_age + future_skew`; a second use is refused (naming the
    /// `components` to cover, for `Accept-Signature`), an unreachable cache is a 503
    /// (fail closed).
    async fn record_nonces(
        &self,
        signatures: &[VerifiedSignature<'_>],
        thumbprint: &str,
        components: &[ComponentId],
    ) -> Result<(), Rejection> {
        for sig in signatures {
            let nonce = sig.params.nonce().unwrap_or_default();
            let key = ReplayKey::new("httpsig", thumbprint, nonce);
            // Without `created` (only under a weakening) the proof's age is unknown.
            let created = sig.params.created().unwrap_or(i64::MIN);
            let window = &self.config.window;
            self.replay
                .check_once(OneTimeUse::new(
                    key.as_str(),
                    window.replay_ttl(),
                    created,
                    window.future_skew,
                ))
                .await
                .map_err(|refusal| match refusal {
                    ReplayRefusal::Replayed => Rejection::Replayed {
                        components: components.to_vec(),
                    },
                    ReplayRefusal::Forgotten { memory_since } => Rejection::ReplayUnknown {
                        memory_since,
                        components: components.to_vec(),
                    },
                    ReplayRefusal::Unavailable(e) => Rejection::ReplayCacheUnavailable(e),
                })?;
        }
        Ok(())
    }
}

/// What the body check adds to an accepted request, beside its principal.
struct Accepted {
    principal: Principal,
    /// The filter of a list answer (`tools/list`, …) under a policy.
    list_filter: Option<ListFilter>,
    /// What a list request lists (the gateway learns from a `tools/list` answer).
    list: Option<ListKind>,
    /// With `[audit]`: the operation's event, for the gateway to complete.
    audit_event: Option<audit::AuditEvent>,
}

/// The body of a request whose head passed, read within `limit` bytes: 413 past it,
/// 400 when it breaks off.
async fn read_within<B: http_body::Body>(body: B, limit: usize) -> Result<Bytes, Rejection> {
    crate::whole_body::read(body, limit)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => Rejection::BodyTooLarge(limit),
            ReadError::Unreadable => Rejection::BodyUnreadable,
        })
}

/// The operation the body names, its `Mcp-*` headers checked against it: always when
/// `headers_required` (a signed request) or the request is of a revision whose
/// clients mirror the operation (2026-07-28 on, BASE-RS-30), else only when the client
/// sent `Mcp-Method`. A POST body that is not one JSON-RPC message is refused with
/// -32020.
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
    op.check_headers_if_sent(headers, headers_required)
        .map_err(|mismatch| Rejection::HeaderMismatch {
            mismatch,
            id: op.id.map(|i| i.get().to_owned()),
        })?;
    Ok(Some(op))
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

/// The `Authorization` field, read once: the profile its (first) scheme names, for
/// the challenge and the metric label whatever else is wrong with it; and the
/// credentials when it is well-formed (HTTPSIG-RS-2: exactly one field, scheme
/// `HTTPSig`, `DPoP` or `Bearer`, case-insensitive, one token).
fn authorization(headers: &HeaderMap) -> (Option<Profile>, Result<(Profile, &str), Rejection>) {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return (None, Err(Rejection::NoCredentials));
    };
    let text = mcp_auth_httpsig::visible_ascii(value.as_bytes());
    let presented = text.and_then(|t| t.split(' ').next().and_then(scheme_profile));
    if values.next().is_some() {
        return (
            presented,
            Err(Rejection::BadAuthorization(
                "more than one Authorization field",
            )),
        );
    }
    (presented, credentials(text))
}

/// The scheme and the one token of a single `Authorization` value (`None`: not
/// visible ASCII).
fn credentials(text: Option<&str>) -> Result<(Profile, &str), Rejection> {
    let text = text.ok_or(Rejection::BadAuthorization(
        "the Authorization field is not visible ASCII",
    ))?;
    let (scheme, token) = text.split_once(' ').ok_or(Rejection::BadAuthorization(
        "the Authorization field has no token",
    ))?;
    let token = token.trim_matches(' ');
    // memchr: the token is hundreds of bytes, and `str::contains` reads them a word
    // at a time.
    if token.is_empty() || memchr::memchr(b' ', token.as_bytes()).is_some() {
        return Err(Rejection::BadAuthorization(
            "the Authorization field must carry exactly one token",
        ));
    }
    let profile = scheme_profile(scheme).ok_or(Rejection::BadAuthorization(
        "unsupported authorization scheme: use HTTPSig (or DPoP, or Bearer, where accepted)",
    ))?;
    Ok((profile, token))
}
