//! What a verifier requires of a signature beyond RFC 9421 itself (§3.2.1):
//! covered components, algorithms, parameters, tag, freshness and nonce form.

use crate::alg::{Algorithm, JwsAlgorithm};
use crate::components::ComponentId;
use crate::error::{ParamName, PolicyError};
use crate::fields::{Limits, SignatureEntry};

/// The form a `nonce` must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceRule {
    /// Minimum length in characters.
    pub min_len: usize,
    /// Maximum length in characters.
    pub max_len: usize,
    /// Only the base64url alphabet (`A-Z a-z 0-9 - _`).
    pub base64url_only: bool,
}

impl Default for NonceRule {
    /// HTTPSIG-RS-9 / HTTPSIG-AS-8 of the profile: 16 to 128 base64url characters (at least 96 bits).
    fn default() -> Self {
        Self {
            min_len: 16,
            max_len: 128,
            base64url_only: true,
        }
    }
}

/// A verification policy. Start from [`VerificationPolicy::default`] (which requires
/// nothing beyond the RFC, allows the asymmetric algorithms and rejects stale
/// `expires`) and tighten it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationPolicy {
    /// Components every checked signature must cover, matched exactly (name and
    /// parameters): `"content-digest";sf` does not satisfy `"content-digest"`.
    pub required_components: Vec<ComponentId>,
    /// Algorithms accepted. `hmac-sha256` is not in the default list: add it only where
    /// a shared secret is expected.
    pub allowed_algorithms: Vec<Algorithm>,
    /// Parameters that must be present.
    pub required_params: Vec<ParamName>,
    /// Parameters that must be absent.
    pub forbidden_params: Vec<ParamName>,
    /// Check only the signatures with this `tag`, and require at least one.
    pub required_tag: Option<String>,
    /// Check only the signature with this label.
    pub label: Option<String>,
    /// Maximum age of `created`, in seconds (requires `created`).
    pub max_age: Option<u64>,
    /// Allowed clock skew in seconds, for `created` in the future and `expires`.
    pub future_skew: u64,
    /// The form of `nonce`, when present.
    pub nonce: Option<NonceRule>,
    /// Parser bounds.
    pub limits: Limits,
    /// A request or response with a non-empty body must cover `content-digest`
    /// (HTTPSIG-RS-12). On by default.
    pub require_digest_with_body: bool,
}

impl Default for VerificationPolicy {
    fn default() -> Self {
        use JwsAlgorithm as J;
        Self {
            required_components: Vec::new(),
            allowed_algorithms: vec![
                Algorithm::Ed25519,
                Algorithm::EcdsaP256Sha256,
                Algorithm::EcdsaP384Sha384,
                Algorithm::RsaPssSha512,
                Algorithm::RsaV15Sha256,
                Algorithm::Jws(J::Ed25519),
                Algorithm::Jws(J::EdDsa),
                Algorithm::Jws(J::Es256),
                Algorithm::Jws(J::Es384),
                Algorithm::Jws(J::Ps256),
                Algorithm::Jws(J::Ps384),
                Algorithm::Jws(J::Ps512),
                Algorithm::Jws(J::Rs256),
            ],
            required_params: Vec::new(),
            forbidden_params: Vec::new(),
            required_tag: None,
            label: None,
            max_age: None,
            future_skew: 5,
            nonce: None,
            limits: Limits::default(),
            require_digest_with_body: true,
        }
    }
}

impl VerificationPolicy {
    /// Checks everything about one signature that does not need the key: coverage,
    /// parameters, tag, time window, nonce form.
    pub fn check(&self, entry: &SignatureEntry<'_>, now: i64) -> Result<(), PolicyError> {
        let label = || entry.label.to_string();
        let p = &entry.params;
        for required in &self.required_components {
            if !p.components.iter().any(|c| c.same_as(required)) {
                return Err(PolicyError::MissingComponent {
                    label: label(),
                    component: required.as_str().to_owned(),
                });
            }
        }
        for &param in &self.required_params {
            if !p.has(param) {
                return Err(PolicyError::MissingParameter {
                    label: label(),
                    param,
                });
            }
        }
        for &param in &self.forbidden_params {
            if p.has(param) {
                return Err(PolicyError::ForbiddenParameter {
                    label: label(),
                    param,
                });
            }
        }
        if let Some(expected) = &self.required_tag
            && p.tag() != Some(expected.as_str())
        {
            return Err(PolicyError::WrongTag {
                label: label(),
                found: p.tag().map(str::to_owned),
                expected: expected.clone(),
            });
        }
        self.check_time(entry, now)?;
        if let (Some(rule), Some(nonce)) = (&self.nonce, p.nonce()) {
            check_nonce(rule, nonce).map_err(|e| PolicyError::InvalidNonce {
                label: label(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// HTTPSIG-RS-8 / HTTPSIG-AS-7 of the profile: `created` no older than `max_age` and no more than
    /// `future_skew` ahead; `expires`, when present, after `created` and not passed.
    fn check_time(&self, entry: &SignatureEntry<'_>, now: i64) -> Result<(), PolicyError> {
        let label = || entry.label.to_string();
        let skew = i64::try_from(self.future_skew).unwrap_or(i64::MAX);
        let created = entry.params.created();
        if let Some(created) = created {
            let ahead = created.saturating_sub(now);
            if ahead > skew {
                return Err(PolicyError::CreatedInFuture {
                    label: label(),
                    ahead,
                    skew: self.future_skew,
                });
            }
        }
        if let Some(max_age) = self.max_age {
            let created = created.ok_or_else(|| PolicyError::MissingParameter {
                label: label(),
                param: ParamName::Created,
            })?;
            let age = now.saturating_sub(created);
            if age > i64::try_from(max_age).unwrap_or(i64::MAX) {
                return Err(PolicyError::Stale {
                    label: label(),
                    created,
                    age,
                    max_age,
                });
            }
        }
        if let Some(expires) = entry.params.expires() {
            if let Some(created) = created
                && expires <= created
            {
                return Err(PolicyError::ExpiresBeforeCreated {
                    label: label(),
                    created,
                    expires,
                });
            }
            if now > expires.saturating_add(skew) {
                return Err(PolicyError::Expired {
                    label: label(),
                    expires,
                });
            }
        }
        Ok(())
    }

    /// §3.2 step 6: the algorithm from configuration or the key (`configured`) and from
    /// the `alg` parameter must agree; with neither, the key kind's only algorithm is
    /// used; the result must be allowed.
    pub fn resolve_algorithm(
        &self,
        entry: &SignatureEntry<'_>,
        configured: Option<Algorithm>,
        key_default: Option<Algorithm>,
    ) -> Result<Algorithm, PolicyError> {
        let label = || entry.label.to_string();
        let declared = match entry.params.alg() {
            Some(name) => Some(Algorithm::from_registry_name(name).ok_or_else(|| {
                PolicyError::AlgorithmNotAllowed {
                    label: label(),
                    alg: name.to_owned(),
                }
            })?),
            None => None,
        };
        let alg = match (configured, declared) {
            (Some(c), Some(d)) if c != d => {
                return Err(PolicyError::AlgorithmMismatch {
                    label: label(),
                    declared: d.name().to_owned(),
                    expected: c.name().to_owned(),
                });
            }
            (Some(c), _) => c,
            (None, Some(d)) => d,
            (None, None) => {
                key_default.ok_or_else(|| PolicyError::AlgorithmUnknown { label: label() })?
            }
        };
        if !self.allowed_algorithms.contains(&alg) {
            return Err(PolicyError::AlgorithmNotAllowed {
                label: label(),
                alg: alg.name().to_owned(),
            });
        }
        Ok(alg)
    }
}

/// Why a nonce does not have the form a [`NonceRule`] requires; the `Display` text
/// is the reason [`PolicyError::InvalidNonce`] reports.
#[derive(Debug, thiserror::Error)]
enum NonceFormError {
    #[error("{len} characters, at least {min} required")]
    TooShort { len: usize, min: usize },
    #[error("{len} characters, at most {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("only base64url characters (A-Z a-z 0-9 - _) are allowed")]
    NotBase64url,
}

fn check_nonce(rule: &NonceRule, nonce: &str) -> Result<(), NonceFormError> {
    let len = nonce.chars().count();
    if len < rule.min_len {
        return Err(NonceFormError::TooShort {
            len,
            min: rule.min_len,
        });
    }
    if len > rule.max_len {
        return Err(NonceFormError::TooLong {
            len,
            max: rule.max_len,
        });
    }
    if rule.base64url_only
        && !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(NonceFormError::NotBase64url);
    }
    Ok(())
}
