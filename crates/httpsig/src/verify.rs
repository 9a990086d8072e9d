//! Verification (RFC 9421 §3.2) of the signatures in a message, together with its
//! `Content-Digest` (RFC 9530), in one call.
//!
//! Order of checks for each selected signature, cheapest first and crypto last:
//! policy (coverage, parameters, tag, time, nonce form) → key → algorithm → base →
//! signature → digest → nonce hook (replay). A nonce is only ever recorded for a
//! signature that verified, so forged requests cannot burn a client's nonces.

use std::borrow::Cow;
use std::sync::Arc;

use crate::alg::Algorithm;
use crate::base;
use crate::components::ComponentId;
use crate::digest::{DigestAlgorithms, DigestField, verify_digest};
use crate::error::{NonceError, ParamName, PolicyError, ResolveError, VerifyError};
use crate::fields::{SignatureEntry, parse_signatures};
use crate::key::VerifyingKey;
use crate::message::Message;
use crate::params::SignatureParams;
use crate::policy::VerificationPolicy;

/// Finds the key for a signature (from `keyid`, `pub`, a token's `cnf`, or a fixed
/// configuration).
pub trait KeyResolver {
    /// The key for `entry`, or the reason there is none.
    fn resolve(&self, entry: &SignatureEntry<'_>) -> Result<VerifyingKey, ResolveError>;
}

impl KeyResolver for VerifyingKey {
    fn resolve(&self, _: &SignatureEntry<'_>) -> Result<VerifyingKey, ResolveError> {
        Ok(self.clone())
    }
}

impl<F> KeyResolver for F
where
    F: Fn(&SignatureEntry<'_>) -> Result<VerifyingKey, ResolveError>,
{
    fn resolve(&self, entry: &SignatureEntry<'_>) -> Result<VerifyingKey, ResolveError> {
        self(entry)
    }
}

/// Resolves the key a signature carries itself: the `pub` parameter, read for the
/// algorithm its `alg` parameter names (draft-richer-oauth-httpsig-03 §4.2, a
/// runtime-introduced key). Whoever uses it must still decide whether to trust that
/// key; the signature only proves possession of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedKey;

impl KeyResolver for EmbeddedKey {
    fn resolve(&self, entry: &SignatureEntry<'_>) -> Result<VerifyingKey, ResolveError> {
        let alg = entry.params.alg().ok_or(ResolveError::NoPubAlgorithm)?;
        let alg = Algorithm::from_registry_name(alg)
            .ok_or_else(|| ResolveError::UnknownAlgorithm(alg.to_owned()))?;
        let raw = entry
            .params
            .public_key()
            .ok_or(ResolveError::MissingParameter(ParamName::Pub))?;
        Ok(VerifyingKey::from_pub(alg, raw)?)
    }
}

/// Called with each verified signature's nonce (after signature and digest checks):
/// the place for a replay cache. Return an error to reject.
pub trait NonceHook: Send + Sync {
    /// Accepts or rejects `nonce` of a signature made with `key`.
    fn check(
        &self,
        nonce: &str,
        key: &VerifyingKey,
        params: &SignatureParams<'_>,
    ) -> Result<(), NonceError>;
}

/// A signature that verified. Its label and parameters borrow the message's fields
/// as its [`SignatureEntry`] did (`'a`).
#[derive(Debug, Clone)]
pub struct VerifiedSignature<'a> {
    /// Its label.
    pub label: Cow<'a, str>,
    /// Its parameters.
    pub params: SignatureParams<'a>,
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// The key that verified it.
    pub key: VerifyingKey,
    /// The signature base that was verified.
    pub base: String,
}

impl VerifiedSignature<'_> {
    /// The same signature, owning its label and parameters.
    pub fn into_owned(self) -> VerifiedSignature<'static> {
        VerifiedSignature {
            label: Cow::Owned(self.label.into_owned()),
            params: self.params.into_owned(),
            algorithm: self.algorithm,
            key: self.key,
            base: self.base,
        }
    }
}

/// The outcome of [`Verifier::verify`].
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    /// Every checked signature.
    pub signatures: Vec<VerifiedSignature<'a>>,
    /// The `Content-Digest` algorithms that matched the body (empty when the digest is
    /// not covered and the body is empty).
    pub content_digest: DigestAlgorithms,
}

impl Verified<'_> {
    /// The same outcome, owning its strings (to keep it past the message).
    pub fn into_owned(self) -> Verified<'static> {
        Verified {
            signatures: self
                .signatures
                .into_iter()
                .map(VerifiedSignature::into_owned)
                .collect(),
            content_digest: self.content_digest,
        }
    }
}

/// Verifies messages under a [`VerificationPolicy`].
#[derive(Clone)]
pub struct Verifier {
    policy: VerificationPolicy,
    nonce_hook: Option<Arc<dyn NonceHook>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("nonce_hook", &self.nonce_hook.is_some())
            .finish()
    }
}

impl Verifier {
    /// A verifier with this policy.
    pub fn new(policy: VerificationPolicy) -> Self {
        Self {
            policy,
            nonce_hook: None,
        }
    }

    /// Adds a nonce hook (replay cache).
    pub fn with_nonce_hook(mut self, hook: Arc<dyn NonceHook>) -> Self {
        self.nonce_hook = Some(hook);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &VerificationPolicy {
        &self.policy
    }

    /// Verifies the selected signatures of `message` and its content digest against
    /// `body` (the exact bytes received; empty for no body), at UNIX time `now`.
    ///
    /// Selection: the policy's label if set, else every signature with the policy's
    /// tag (at least one), else every signature in the message. Each selected signature
    /// must pass; signatures outside the selection are ignored.
    pub fn verify<'a>(
        &self,
        message: &Message<'a>,
        body: &[u8],
        keys: &dyn KeyResolver,
        now: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        let entries = parse_signatures(message.headers(), &self.policy.limits)?;
        let selected = self.select(entries)?;
        let mut signatures = Vec::with_capacity(selected.len());
        for entry in selected {
            signatures.push(self.verify_entry(message, entry, keys, now)?);
        }
        let content_digest = self.check_digest(message, body, &signatures)?;
        if let Some(hook) = &self.nonce_hook {
            for s in &signatures {
                if let Some(nonce) = s.params.nonce() {
                    hook.check(nonce, &s.key, &s.params).map_err(|e| {
                        PolicyError::NonceRejected {
                            label: s.label.to_string(),
                            reason: e.to_string(),
                        }
                    })?;
                }
            }
        }
        Ok(Verified {
            signatures,
            content_digest,
        })
    }

    fn select<'a>(
        &self,
        entries: Vec<SignatureEntry<'a>>,
    ) -> Result<Vec<SignatureEntry<'a>>, VerifyError> {
        if entries.is_empty() {
            return Err(PolicyError::Unsigned.into());
        }
        if let Some(label) = &self.policy.label {
            return match entries.into_iter().find(|e| e.label == label.as_str()) {
                Some(e) => Ok(vec![e]),
                None => Err(crate::error::FieldError::LabelNotFound(label.clone()).into()),
            };
        }
        if let Some(tag) = &self.policy.required_tag {
            let tagged: Vec<_> = entries
                .into_iter()
                .filter(|e| e.params.tag() == Some(tag.as_str()))
                .collect();
            if tagged.is_empty() {
                return Err(PolicyError::NoSignatureWithTag(tag.clone()).into());
            }
            return Ok(tagged);
        }
        Ok(entries)
    }

    /// Verifies one signature entry (policy, key, algorithm, base, crypto): no digest
    /// and no nonce hook. Public for tools that explain a single signature.
    pub fn verify_entry<'a>(
        &self,
        message: &Message<'_>,
        entry: SignatureEntry<'a>,
        keys: &dyn KeyResolver,
        now: i64,
    ) -> Result<VerifiedSignature<'a>, VerifyError> {
        self.policy.check(&entry, now)?;
        let key = keys.resolve(&entry).map_err(|e| VerifyError::Key {
            label: entry.label.to_string(),
            reason: e.to_string(),
        })?;
        let alg = self.policy.resolve_algorithm(
            &entry,
            key.algorithm(),
            key.kind().default_algorithm(),
        )?;
        let base = base::build(message, &entry.params.components, &entry.params_text).map_err(
            |source| VerifyError::Base {
                label: entry.label.to_string(),
                source,
            },
        )?;
        let ok = key
            .verify(alg, base.as_bytes(), &entry.signature)
            .map_err(|e| VerifyError::Key {
                label: entry.label.to_string(),
                reason: e.to_string(),
            })?;
        if !ok {
            return Err(VerifyError::BadSignature {
                label: entry.label.into_owned(),
                alg: alg.name().to_owned(),
                base,
            });
        }
        Ok(VerifiedSignature {
            label: entry.label,
            params: entry.params,
            algorithm: alg,
            key,
            base,
        })
    }

    /// HTTPSIG-RS-12 of the http-message-signatures profile: a covered `content-digest` is always checked against the
    /// body; a non-empty body needs it covered by every checked signature (unless the
    /// policy says otherwise).
    fn check_digest(
        &self,
        message: &Message<'_>,
        body: &[u8],
        signatures: &[VerifiedSignature<'_>],
    ) -> Result<DigestAlgorithms, VerifyError> {
        let covers = |s: &VerifiedSignature<'_>| {
            s.params
                .components
                .iter()
                .any(|c| c.is_plain_field("content-digest"))
        };
        if !body.is_empty()
            && self.policy.require_digest_with_body
            && let Some(s) = signatures.iter().find(|s| !covers(s))
        {
            return Err(PolicyError::MissingComponent {
                label: s.label.to_string(),
                component: ComponentId::field("content-digest").as_str().to_owned(),
            }
            .into());
        }
        if signatures.iter().any(covers) {
            return Ok(verify_digest(
                DigestField::Content,
                message.headers(),
                body,
            )?);
        }
        Ok(DigestAlgorithms::default())
    }
}
