//! The HTTPSig presentation signature (profiles/http-message-signatures.md §10,
//! steps 2 and 3), split at the body.
//!
//! Every component a presentation covers is in the head: `content-digest` is a header
//! field, so the signature verifies before a single body byte is read. What needs the
//! body is which components the request must cover (`mcp-method`, `mcp-name` and
//! `content-digest` follow the JSON-RPC message) and whether `Content-Digest` matches
//! the bytes. So:
//!
//! - [`verify_head`]: the signatures tagged `httpsig-oauth` are checked against the
//!   coverage the *head claims* ([`claimed_shape`]: `Mcp-Method` and `Mcp-Name` sent,
//!   a body announced) and verified with the token's key, `@target-uri` from the
//!   configured resource URL.
//! - [`check_body_coverage`] and [`check_content_digest`]: once the body is read,
//!   the coverage the *body requires* ([`body_shape`]) is checked against what each
//!   verified signature covers (when it requires more than the head claimed: the
//!   head's policy checked the claimed coverage already), then the digest.
//!
//! For a request whose `Mcp-*` headers mirror its body (every conforming client's),
//! the two shapes are the same and the failures reported are exactly those of the
//! single-pass order of §10. A request whose headers do not mirror its body is refused
//! either way (coverage here, or step 5); only which refusal it gets may differ.

use std::borrow::Cow;
use std::sync::OnceLock;

use http::request::Parts;
use http::{HeaderMap, Method};
use mcp_auth_core::cnf::{PREREGISTERED_ALGORITHMS, RUNTIME_ALGORITHMS};
use mcp_auth_core::httpsig_profile::{
    PRESENTATION_TAG, RequestShape, Window, presentation_components, presentation_policy,
};
use mcp_auth_core::mcp_binding::{
    BodyError, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, McpOperation, decode_header_value,
    name_member,
};
use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestField, Message, PolicyError, RequestView, VerifiedSignature,
    Verifier, VerifyError, VerifyingKey, parse_signatures, verify_digest,
};

use crate::rejection::Rejection;
use crate::request::{BodyHint, origin_form};

/// Where `@target-uri` comes from: the configured resource URL's scheme and
/// authority (HTTPSIG-RS-11), never the request line, `Host` or `X-Forwarded-*`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The configured scheme.
    pub scheme: &'a str,
    /// The configured authority.
    pub authority: &'a str,
}

/// The coverage the head claims: `mcp-method` when a `POST` sends `Mcp-Method`,
/// `mcp-name` when it also sends `Mcp-Name` for a method that has a name,
/// `content-digest` when a body is announced by length, `mcp-protocol-version` when
/// sent. These are untrusted claims (profile §14.7): they only decide what the
/// signature must cover before the body is read; [`check_body_coverage`] requires the coverage
/// the body itself calls for.
pub fn claimed_shape(parts: &Parts, hint: BodyHint) -> RequestShape {
    let claimed_method = (parts.method == Method::POST)
        .then(|| single_value(&parts.headers, &MCP_METHOD))
        .flatten();
    let has_operation = claimed_method.is_some();
    let has_mcp_name = claimed_method
        .and_then(|m| decode_header_value(m, "Mcp-Method").ok())
        .is_some_and(|m| name_member(&m).is_some())
        && parts.headers.contains_key(MCP_NAME);
    RequestShape {
        has_operation,
        has_body: hint.at_least > 0,
        has_mcp_name,
        has_protocol_version: parts.headers.contains_key(MCP_PROTOCOL_VERSION),
    }
}

/// The coverage the request requires once its body is known (HTTPSIG-RS-7):
/// `operation` is what the `POST` body names (`None` for a JSON-RPC response and for
/// `GET`/`DELETE`; `Some(Err)` for a body that is no single JSON-RPC message, which
/// step 5 refuses).
pub fn body_shape(
    parts: &Parts,
    operation: Option<&Result<McpOperation<'_>, BodyError>>,
    body: &[u8],
) -> RequestShape {
    RequestShape {
        has_operation: operation.is_some(),
        has_body: !body.is_empty(),
        has_mcp_name: matches!(operation, Some(Ok(op)) if op.name.is_some()),
        has_protocol_version: parts.headers.contains_key(MCP_PROTOCOL_VERSION),
    }
}

/// The presentation policies of one resource, made once per configuration rather than
/// per request: for each [`RequestShape`], the components a signature must cover
/// ([`presentation_components`]) and, per algorithm a token's key can have, the
/// [`Verifier`] of [`presentation_policy`] (made on first use).
#[derive(Debug)]
pub struct Policies {
    window: Window,
    components: [Vec<ComponentId>; SHAPES],
    verifiers: [[OnceLock<Verifier>; ALGORITHMS]; SHAPES],
}

/// Every combination of the four flags of a [`RequestShape`].
const SHAPES: usize = 16;
/// The algorithms of a bound key: `cnf.htsk` ([`RUNTIME_ALGORITHMS`]) or `cnf.jwk`
/// ([`PREREGISTERED_ALGORITHMS`]).
const ALGORITHMS: usize = RUNTIME_ALGORITHMS.len() + PREREGISTERED_ALGORITHMS.len();

impl Policies {
    /// The policies of a resource accepting signatures within `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            components: std::array::from_fn(|i| presentation_components(shape_of(i))),
            verifiers: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// The components a request of `shape` must cover.
    pub fn components(&self, shape: RequestShape) -> &[ComponentId] {
        &self.components[index_of(shape)]
    }

    /// The verifier for a request of `shape` signed with `algorithm`: made once, or
    /// made for this request alone for an algorithm no bound key can have.
    fn verifier(&self, shape: RequestShape, algorithm: Algorithm) -> Cow<'_, Verifier> {
        let make = || {
            Verifier::new(presentation_policy(
                self.components(shape).to_vec(),
                self.window,
                algorithm,
            ))
        };
        match algorithm_index(algorithm) {
            Some(a) => Cow::Borrowed(self.verifiers[index_of(shape)][a].get_or_init(make)),
            None => Cow::Owned(make()),
        }
    }
}

fn index_of(shape: RequestShape) -> usize {
    usize::from(shape.has_operation)
        | usize::from(shape.has_body) << 1
        | usize::from(shape.has_mcp_name) << 2
        | usize::from(shape.has_protocol_version) << 3
}

fn shape_of(index: usize) -> RequestShape {
    RequestShape {
        has_operation: index & 1 != 0,
        has_body: index & 2 != 0,
        has_mcp_name: index & 4 != 0,
        has_protocol_version: index & 8 != 0,
    }
}

fn algorithm_index(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::Jws(jws) => PREREGISTERED_ALGORITHMS
            .iter()
            .position(|a| *a == jws)
            .map(|i| RUNTIME_ALGORITHMS.len() + i),
        other => RUNTIME_ALGORITHMS.iter().position(|a| *a == other),
    }
}

/// Step 2 on the head: every signature tagged `httpsig-oauth` (at least one) passes
/// the presentation policy of `shape` (the [`claimed_shape`]) and verifies with `key`
/// over a base whose `@target-uri` is built from `target`.
/// Nothing is recorded: the nonces go to the replay cache after [`check_content_digest`]
/// (profile §10: a forged signature, or one whose body does not match its digest,
/// cannot consume a client's nonce).
pub fn verify_head<'p>(
    parts: &'p Parts,
    shape: RequestShape,
    policies: &Policies,
    target: Target<'_>,
    key: &VerifyingKey,
    now: i64,
) -> Result<Vec<VerifiedSignature<'p>>, Rejection> {
    let components = policies.components(shape);
    let refuse = |error: VerifyError| Rejection::Signature {
        error,
        components: components.to_vec(),
    };
    let algorithm = key
        .algorithm()
        .ok_or_else(|| Rejection::Internal("bound key without algorithm".into()))?;
    let verifier = policies.verifier(shape, algorithm);
    let uri = origin_form(&parts.uri);
    let view = RequestView::new(&parts.method, uri.as_ref(), &parts.headers)
        .with_scheme(target.scheme)
        .with_authority(target.authority);
    let message = Message::Request(view);
    // The selection of `Verifier::verify` (HTTPSIG-RS-6): every signature with the
    // presentation tag, at least one; signatures with other tags are ignored.
    let mut entries = parse_signatures(&parts.headers, &verifier.policy().limits)
        .map_err(|e| refuse(e.into()))?;
    if entries.is_empty() {
        return Err(refuse(PolicyError::Unsigned.into()));
    }
    entries.retain(|e| e.params.tag() == Some(PRESENTATION_TAG));
    if entries.is_empty() {
        return Err(refuse(
            PolicyError::NoSignatureWithTag(PRESENTATION_TAG.to_owned()).into(),
        ));
    }
    entries
        .into_iter()
        .map(|entry| {
            verifier
                .verify_entry(&message, entry, key, now)
                .map_err(&refuse)
        })
        .collect()
}

/// Step 2 on the body: each signature covers every one of `components`, as a plain
/// identifier.
pub fn check_body_coverage(
    signatures: &[VerifiedSignature<'_>],
    components: &[ComponentId],
) -> Result<(), Rejection> {
    for signature in signatures {
        if let Some(missing) = components.iter().find(|required| {
            !signature
                .params
                .components
                .iter()
                .any(|c| c.same_as(required))
        }) {
            return Err(Rejection::Signature {
                error: PolicyError::MissingComponent {
                    label: signature.label.to_string(),
                    component: missing.as_str().to_owned(),
                }
                .into(),
                components: components.to_vec(),
            });
        }
    }
    Ok(())
}

/// Step 3: a covered `Content-Digest` matches `body` (RFC 9530, HTTPSIG-RS-12).
pub fn check_content_digest(
    signatures: &[VerifiedSignature<'_>],
    components: &[ComponentId],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    let covers_digest = |s: &VerifiedSignature<'_>| {
        s.params
            .components
            .iter()
            .any(|c| c.is_plain_field("content-digest"))
    };
    if signatures.iter().any(covers_digest) {
        verify_digest(DigestField::Content, headers, body).map_err(|e| Rejection::Signature {
            error: e.into(),
            components: components.to_vec(),
        })?;
    }
    Ok(())
}

/// The one value of `name`, trimmed; `None` when absent, repeated or not ASCII.
fn single_value<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok().map(mcp_auth_httpsig::trim_ows_str)
}
