//! The three ways a token is presented, each one function of the same shape: given
//! the request head and the verified token ([`Presented`]), prove that the caller
//! holds what the token is bound to, or refuse; answer the key thumbprint and what is
//! left for the body ([`Proof`]).
//!
//! - [`ResourceVerifier::bearer`]: no proof; only an unbound token, only where Bearer
//!   is accepted (HTTPSIG-RS-5, DPOP-RS-6).
//! - [`ResourceVerifier::dpop`]: the DPoP proof, checked whole, its `jti` recorded
//!   (RFC 9449 §4.3, §7.1; a proof covers no body).
//! - [`ResourceVerifier::httpsig`]: the HTTP message signatures over the head
//!   (§10 step 2 without the body); their body coverage, the digest and the nonces
//!   are left for the body.

use bytestring::ByteString;
use http::request::Parts;
use mcp_auth_core::dpop::{ProofContext, ProofError, check_proof};
use mcp_auth_core::httpsig_profile::RequestShape;
use mcp_auth_core::weakening::Weakening;
use mcp_auth_core::{Confirmation, OneTimeUse, ReplayRefusal};
use mcp_auth_httpsig::VerifiedSignature;

use crate::presentation::ResourceVerifier;
use crate::rejection::Rejection;
use crate::request::BodyHint;
use crate::signature::{self, claimed_shape};
use crate::token::VerifiedToken;

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP: &str = "dpop";

/// What a profile's check is given: the request head (`'p`, which what the check
/// proves may borrow) and the token (`'t`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented<'p, 't> {
    /// The request head.
    pub(crate) parts: &'p Parts,
    /// The token, verified.
    pub(crate) verified: &'t VerifiedToken,
    /// What the head announces about the body.
    pub(crate) body: BodyHint,
    /// The time of the check.
    pub(crate) now: i64,
}

/// What a profile's check proved, of a request head borrowed for `'p`.
#[derive(Debug)]
pub(crate) struct Proof<'p> {
    /// The thumbprint of the key the request is bound to (none for Bearer).
    pub(crate) key_thumbprint: Option<ByteString>,
    /// What remains to check on the body.
    pub(crate) pending: PendingProof<'p>,
}

/// What is left of the proof after the head.
#[derive(Debug)]
pub(crate) enum PendingProof<'p> {
    /// Bearer, or a DPoP proof already checked and its `jti` recorded: nothing about
    /// the proof depends on the body.
    Complete,
    /// HTTPSig signatures verified over the head: their body coverage, the digest and
    /// their nonces remain.
    Signatures {
        /// The signatures tagged for presentations, verified (their labels and
        /// parameters borrow the head's `Signature-Input`).
        signatures: Vec<VerifiedSignature<'p>>,
        /// The shape the head claimed: every signature was checked to cover its
        /// components (the verifier's policy).
        claimed: RequestShape,
    },
}

impl ResourceVerifier {
    /// `Authorization: Bearer`: no proof. A bound token never works as a bearer token
    /// (HTTPSIG-RS-5, DPOP-RS-6, RFC 9449 §7.2); an unbound one only where Bearer is
    /// accepted.
    pub(crate) async fn bearer<'p>(
        &self,
        presented: &Presented<'p, '_>,
    ) -> Result<Proof<'p>, Rejection> {
        if let Some(cnf) = &presented.verified.claims.cnf
            && !self
                .config()
                .weakenings
                .has(Weakening::BearerForBoundTokens)
        {
            return Err(Rejection::BoundTokenAsBearer {
                dpop: matches!(cnf, Confirmation::Jkt(_)),
            });
        }
        if self.config().bound_tokens_required {
            return Err(Rejection::BoundTokenRequired {
                dpop_accepted: self.config().dpop.is_some(),
            });
        }
        Ok(Proof {
            key_thumbprint: None,
            pending: PendingProof::Complete,
        })
    }

    /// `Authorization: DPoP` (RFC 9449 §7.1, profiles/dpop.md DPOP-RS-*): the resource
    /// accepts DPoP; the token is bound by `cnf.jkt`; the one proof check of
    /// `mcp_auth_core::dpop` at the request's method and URI (scheme and authority
    /// from configuration, as for HTTPSig), with `ath` and the binding; the `jti`
    /// recorded in the replay cache (DPOP-RS-5) unless that is turned off.
    pub(crate) async fn dpop<'p>(
        &self,
        presented: &Presented<'p, '_>,
    ) -> Result<Proof<'p>, Rejection> {
        let policy = self
            .config()
            .dpop
            .as_ref()
            .ok_or(Rejection::BadAuthorization(
                "this resource does not accept the DPoP scheme: use HTTPSig",
            ))?;
        let Some(Confirmation::Jkt(jkt)) = &presented.verified.claims.cnf else {
            return Err(Rejection::BadAuthorization(
                "the token is not bound to a DPoP key (cnf.jkt)",
            ));
        };
        // `htu` (RFC 9449 §4.3 step 9): the configured scheme and authority with the
        // received path, never the authority of an absolute-form request line nor
        // `Host` (the same rule as HTTPSIG-RS-11; profiles/dpop.md).
        let parts = presented.parts;
        let target = self.target();
        // One allocation of the exact length (`format!` grows its buffer).
        let uri = [target.scheme, "://", target.authority, parts.uri.path()].concat();
        let context = ProofContext {
            method: parts.method.as_str(),
            uri: &uri,
            // Without the token, check 12 compares no `ath` (a weakening only).
            access_token: (!self.config().weakenings.has(Weakening::SkipAth))
                .then_some(presented.verified.digest),
            bound_jkt: Some(jkt),
            algorithms: &policy.algorithms,
            window: policy.window,
            nonces: policy.nonces.as_deref(),
            now: presented.now,
        };
        let proof = check_proof(
            parts.headers.get_all(DPOP).iter().map(|v| v.as_bytes()),
            &context,
        )
        .map_err(Rejection::Dpop)?;
        if policy.jti_replay {
            let key = proof.replay_key();
            let skew = u64::try_from(policy.window.max_skew).unwrap_or(0);
            self.replay()
                .check_once(OneTimeUse::new(
                    key.as_str(),
                    policy.window.replay_ttl(),
                    proof.iat,
                    skew,
                ))
                .await
                .map_err(|refusal| match refusal {
                    ReplayRefusal::Replayed => Rejection::Dpop(ProofError::Replayed),
                    // The replay cache's memory begins after the proof could be used:
                    // refused as a proof outside its window (check 11).
                    ReplayRefusal::Forgotten { .. } => Rejection::Dpop(ProofError::Time),
                    ReplayRefusal::Unavailable(e) => Rejection::ReplayCacheUnavailable(e),
                })?;
        }
        Ok(Proof {
            key_thumbprint: Some(proof.jkt.into()),
            pending: PendingProof::Complete,
        })
    }

    /// `Authorization: HTTPSig` (§10 step 2 on the head): the token is bound to a
    /// signature key; the signatures verify with it against the coverage the head
    /// claims (its policy made once per configuration, [`signature::Policies`]).
    pub(crate) async fn httpsig<'p>(
        &self,
        presented: &Presented<'p, '_>,
    ) -> Result<Proof<'p>, Rejection> {
        let verified = presented.verified;
        let (Some(key), Some(thumbprint)) = (&verified.key, verified.key_thumbprint()) else {
            return Err(match &verified.claims.cnf {
                None => Rejection::BadAuthorization(
                    "the token is not bound to a key and cannot be presented with HTTPSig",
                ),
                Some(_) => {
                    Rejection::Confirmation(mcp_auth_core::ConfirmationError::NotASignatureKey)
                }
            });
        };
        let claimed = claimed_shape(presented.parts, presented.body);
        let signatures = signature::verify_head(
            presented.parts,
            claimed,
            self.policies(),
            self.target(),
            key,
            presented.now,
        )?;
        Ok(Proof {
            key_thumbprint: Some(thumbprint.clone()),
            pending: PendingProof::Signatures {
                signatures,
                claimed,
            },
        })
    }
}
