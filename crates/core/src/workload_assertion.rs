//! The workload assertion of the `jwt-bearer` grant (RFC 7523 §2.1), as
//! profiles/workload-identity-federation.md (WIF) describes it: the pure,
//! synchronous checks of Section 7.3 that need no network and no configuration.
//!
//! The token endpoint calls them in the order of WIF §7.3 (WIF-AS-23):
//!
//! 1. step 2, [`parse`]: at most [`MAX_ASSERTION_LEN`], a compact JWS of three
//!    base64url parts, the header a JSON object with no member repeated, and the
//!    kind by `typ` ([`AssertionKind`]: an ID-JAG goes to the enterprise profile);
//! 2. steps 3 and 4 are the caller's (no client authentication; DPoP or signature);
//! 3. step 5, [`ParsedAssertion::check_header`]: no `crit`, `alg` in WIF §7.2's list;
//! 4. step 6, [`ParsedAssertion::trust_selector`]: the claims decoded without
//!    verification, and the `iss` and SPIFFE trust domain the caller selects its
//!    trust entry by;
//! 5. step 7, key selection, is the caller's (the key set is fetched and cached);
//! 6. [`ParsedAssertion::verify`] repeats steps 5 and 6 against the selected entry,
//!    then checks the entry's algorithms and the key's fit (step 7), the signature
//!    (step 8) and the claims (step 9: `aud`, `exp`, `nbf`, `iat`, the lifetime,
//!    `sub`) through the project's one claim check, [`crate::jwt_claims`].
//!
//! Keys never come from the assertion: `jwk`, `jku`, `x5c`, `x5u` and `x5t` are
//! ignored like every other header parameter but `crit` (WIF D7, WIF-AS-6), and the
//! trust entry is selected by `iss` or the trust domain of `sub`, never by a URL the
//! assertion names (WIF-AS-8). Time is the caller's `now` (docs/architecture.md
//! "Clock").
//!
//! Every [`AssertionError`], including [`AssertionError::IdJagNotSupported`] (which
//! the caller returns), is to be answered 400 `invalid_grant` (RFC 7523 §3.1; WIF D4,
//! §10.1) with its `Display` as the `error_description`, once the AS wires this in.
//! Steps 6 to 8 share one description (WIF-AS-24), and no description carries the
//! assertion or a claim value, only numbers this server computed.

use std::time::Duration;

use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, VerifyingKey};
use serde_json::{Map, Value};

use crate::jws::{CompactJws, split_compact, strict_object};

use crate::jwt_claims::{
    Audience, AudienceRule, ClaimError, ClaimRules, RegisteredClaims, check_claims,
    check_claims_except_issuer, check_key_algorithm, check_lifetime_since_iat,
};

#[cfg(test)]
mod tests;

/// The RFC 7523 §2.1 grant type: a JWT (here, a workload's platform token) as the
/// authorization grant, in `assertion`, with no client authentication (WIF §7.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The largest assertion accepted: 16 KiB (WIF §7.2, D8, WIF-AS-6). Platform tokens
/// are 1 to 4 KiB; the cap bounds the parsing work an unauthenticated caller causes.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;

/// The default maximum of `exp − iat` (or of `exp − now`, plus the skew, without
/// `iat`): 3660 s (WIF §6.1, D8), which admits Kubernetes' 3600 s and 3607 s tokens.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3660);

/// The default clock skew for assertions: 60 s (WIF §6.1, D8). Larger than the
/// project's [`crate::jwt_claims::LEEWAY`] because the platform's clock is not the
/// operator's to fix.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The algorithms of WIF §7.2: asymmetric only, never `none` nor an HMAC (RFC 8725
/// §3.1); the same list as [`crate::jwt_claims::SIGNATURE_ALGORITHMS`], the JWS algorithms mcp-auth
/// verifies (a test keeps the two equal). `EdDSA` with Ed25519 keys only.
pub const ALGORITHMS: [JwsAlgorithm; 7] = [
    JwsAlgorithm::Rs256,
    JwsAlgorithm::Ps256,
    JwsAlgorithm::Ps384,
    JwsAlgorithm::Ps512,
    JwsAlgorithm::Es256,
    JwsAlgorithm::Es384,
    JwsAlgorithm::EdDsa,
];

/// The algorithms a SPIFFE trust-domain entry may accept: [`ALGORITHMS`] without
/// `EdDSA`, since JWT-SVID §2.1 admits only the RSA, ECDSA and RSA-PSS algorithms of
/// RFC 7518 §3.3 to §3.5 (WIF §7.2, WIF-AS-7). `EdDSA` is the last of [`ALGORITHMS`],
/// checked when this compiles.
pub const TRUST_DOMAIN_ALGORITHMS: &[JwsAlgorithm] = match ALGORITHMS.split_last() {
    Some((JwsAlgorithm::EdDsa, rest)) => rest,
    _ => panic!("EdDSA must be the last of ALGORITHMS"),
};

/// The description shared by every failure of WIF §7.3 steps 6, 7 and 8
/// (WIF §10.2, WIF-AS-24): a caller who makes its own tokens cannot tell which
/// issuers or trust domains are configured, nor which algorithms an entry allows.
pub const UNTRUSTED: &str = "the assertion is not signed by an issuer this server trusts";

/// Why an assertion is refused: one variant per check of WIF §7.3 steps 2 and 5 to
/// 9. All are `invalid_grant` (RFC 7523 §3.1; WIF D4, §10.1); `Display` is the
/// `error_description`, never echoing the assertion or a claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Step 2: over [`MAX_ASSERTION_LEN`] (WIF-AS-6).
    #[error("the assertion is larger than 16 KiB")]
    TooLarge,
    /// Step 2: not three base64url parts separated by dots (WIF-AS-6).
    #[error("the assertion is not a compact JWS of three base64url parts")]
    NotCompactJws,
    /// Step 2: the JOSE header is not a JSON object, or repeats a member (WIF-AS-6).
    #[error("the assertion's JOSE header is not a JSON object without repeated members")]
    MalformedHeader,
    /// Step 2: `typ` is neither absent, `JWT`, `JOSE` nor `oauth-id-jag+jwt`
    /// (WIF-AS-3): an access token, a DPoP proof, a WIMSE token...
    #[error("the assertion's typ is not JWT or JOSE: it is not a workload assertion")]
    WrongType,
    /// Step 2: an ID-JAG (`typ` `oauth-id-jag+jwt`) at an AS that does not implement
    /// the enterprise profile (WIF-AS-3, §10.1). Returned by the caller, never by
    /// this module, which reports [`AssertionKind::IdJag`] instead.
    #[error("ID-JAG assertions are not accepted by this server")]
    IdJagNotSupported,
    /// Step 5: the header has `crit` (RFC 7515 §4.1.11; WIF-AS-6).
    #[error("the assertion's header has crit, and this server understands no JWS extension")]
    CriticalHeader,
    /// Step 5: `alg` is missing, `none`, an HMAC, or outside WIF §7.2's list
    /// (WIF-AS-7).
    #[error("the assertion's alg is not an accepted signature algorithm")]
    AlgorithmNotAccepted,
    /// Step 6: the claims are not a JSON object, or repeat a member (WIF-AS-6).
    #[error("{UNTRUSTED}")]
    MalformedClaims,
    /// Step 6: the assertion does not select the trust entry it is verified for: its
    /// `iss` is not the entry's issuer, or its `sub` not in the entry's trust domain
    /// (WIF-AS-8).
    #[error("{UNTRUSTED}")]
    NoTrustEntry,
    /// Step 7: `alg` is not among the entry's algorithms, or is `EdDSA` for a
    /// trust-domain entry (WIF-AS-7).
    #[error("{UNTRUSTED}")]
    AlgorithmNotAllowed,
    /// Step 7: the key cannot verify `alg` (its type, curve or declared `alg`;
    /// WIF-AS-12).
    #[error("{UNTRUSTED}")]
    KeyNotForAlgorithm,
    /// Step 8: the signature does not verify.
    #[error("{UNTRUSTED}")]
    BadSignature,
    /// Step 9: no `aud` (WIF-AS-14).
    #[error("the assertion has no aud; it must be exactly this authorization server's issuer")]
    MissingAudience,
    /// Step 9: `aud` is not exactly the AS issuer, as a string or a one-element
    /// array (WIF D1, WIF-AS-14).
    #[error("the assertion's aud must be exactly this authorization server's issuer")]
    WrongAudience,
    /// Step 9: no `exp`, or not a number (WIF-AS-15).
    #[error("the assertion has no exp as a NumericDate")]
    MissingExpiry,
    /// No `iat` where the rules require one (ID-JAGs).
    #[error("the assertion has no iat as a NumericDate")]
    MissingIssuedAt,
    /// Step 9: `exp` is more than the skew in the past (WIF-AS-15).
    #[error("the assertion expired {seconds_ago} s ago, more than the allowed skew")]
    Expired {
        /// `now − exp`.
        seconds_ago: i64,
    },
    /// Step 9: `nbf` is more than the skew in the future (WIF-AS-15).
    #[error("the assertion is not valid yet (nbf), beyond the allowed skew")]
    NotYetValid,
    /// Step 9: `iat` is more than the skew in the future (WIF-AS-15).
    #[error("the assertion was issued in the future (iat), beyond the allowed skew")]
    IssuedInFuture,
    /// Step 9: `nbf` or `iat` is present but not a number (WIF-AS-15).
    #[error("the assertion's {0} is not a NumericDate")]
    MalformedTime(&'static str),
    /// Step 9: `exp − iat`, or without `iat` `exp − now`, is above the maximum
    /// (WIF-AS-15).
    #[error("the assertion is valid for {seconds} s, more than the allowed {allowed} s")]
    LifetimeTooLong {
        /// `exp − iat`, or `exp − now` without `iat`.
        seconds: i64,
        /// The maximum lifetime (plus the skew without `iat`).
        allowed: i64,
    },
    /// Step 9: `sub` is missing, not a string, or empty (RFC 7523 §3 item 2,
    /// WIF-AS-16).
    #[error("the assertion has no sub as a non-empty string")]
    MissingSubject,
    /// Step 9: for a trust-domain entry, `sub` is not a valid SPIFFE ID (SPIFFE-ID
    /// §2, §3) of that trust domain (JWT-SVID §3.1, WIF-AS-16).
    #[error("the assertion's sub is not a valid SPIFFE ID of its trust domain")]
    NotSpiffeId,
}

impl AssertionError {
    /// The OAuth error code: `invalid_grant` for every variant (RFC 7523 §3.1,
    /// WIF D4).
    pub fn code(&self) -> &'static str {
        "invalid_grant"
    }
}

/// What `typ` says the assertion is (WIF §7.3 step 2, D6, WIF-AS-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionKind {
    /// `typ` `oauth-id-jag+jwt`: an ID-JAG, for the `enterprise-managed-authorization`
    /// profile (the same checks of form, header and signature, its own claims);
    /// never processed as a workload assertion.
    IdJag(ParsedAssertion),
    /// `typ` absent, `JWT` or `JOSE`: a workload assertion, checked here.
    Workload(ParsedAssertion),
}

/// What selects the trust entry (WIF §7.3 step 6, D2): the caller looks up a
/// trust-domain entry by `spiffe_trust_domain` first, then an issuer entry by
/// `issuer`, and refuses the assertion ([`AssertionError::NoTrustEntry`]) when
/// neither matches. Neither value is ever fetched or echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustSelector<'a> {
    /// When `sub` is a string beginning with `spiffe://`: its authority, up to the
    /// next `/` (not yet validated; [`ParsedAssertion::verify`] does that).
    pub spiffe_trust_domain: Option<&'a str>,
    /// `iss`, when it is a string.
    pub issuer: Option<&'a str>,
}

/// The kind of trust entry the assertion is verified for (WIF §6.1); the rest of the
/// entry (keys, rules) is the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustEntry<'a> {
    /// An issuer entry: `iss` must equal this exactly (RFC 7523 §3 item 1).
    Issuer(&'a str),
    /// A SPIFFE trust-domain entry: `sub` must be a SPIFFE ID of this trust domain;
    /// `iss` is ignored (JWT-SVID §3; WIF D2); `EdDSA` is never accepted.
    SpiffeTrustDomain(&'a str),
}

/// What a workload assertion must satisfy, from its trust entry (WIF §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssertionRules<'a> {
    /// The selected trust entry.
    pub entry: TrustEntry<'a>,
    /// The AS issuer: the only accepted `aud`, compared exactly (WIF D1).
    pub audience: &'a str,
    /// The entry's `algorithms`, a subset of [`ALGORITHMS`].
    pub algorithms: &'a [JwsAlgorithm],
    /// The entry's `max_assertion_lifetime`.
    pub max_lifetime: Duration,
    /// The entry's `clock_skew`, in both directions.
    pub clock_skew: Duration,
    /// Refuse an assertion without `iat` (ID-JAGs: EMA §7.7 step 9; workload
    /// assertions may omit it, WIF §7.2).
    pub require_iat: bool,
}

impl<'a> AssertionRules<'a> {
    /// The defaults of WIF §6.1: every algorithm of Section 7.2 ([`ALGORITHMS`], or
    /// [`TRUST_DOMAIN_ALGORITHMS`] for a trust-domain entry), 3660 s, 60 s.
    pub fn new(entry: TrustEntry<'a>, audience: &'a str) -> Self {
        let algorithms: &'static [JwsAlgorithm] = match entry {
            TrustEntry::Issuer(_) => &ALGORITHMS,
            TrustEntry::SpiffeTrustDomain(_) => TRUST_DOMAIN_ALGORITHMS,
        };
        Self {
            entry,
            audience,
            algorithms,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            clock_skew: DEFAULT_CLOCK_SKEW,
            require_iat: false,
        }
    }
}

/// A workload assertion whose form (WIF §7.3 step 2) was checked; nothing about it is
/// trusted yet. Its `Debug` shows the header and the claims, never the signed text
/// and the signature, which together are the bearer assertion itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedAssertion {
    header: Map<String, Value>,
    /// The claims, or `None` when they are not a JSON object without repeated
    /// members: decoded with the header, reported only at step 6.
    claims: Option<Map<String, Value>>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A verified workload assertion: what the workload rules, the access token and the
/// log need (WIF §6.3, §7.4, WIF-AS-18, WIF-AS-25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The algorithm it was signed with.
    pub alg: JwsAlgorithm,
    /// The header's `kid`, when a string.
    pub kid: Option<String>,
    /// `sub`: a non-empty string (a SPIFFE ID for a trust-domain entry).
    pub sub: String,
    /// `jti`, when a string (logged, not tracked: WIF D3).
    pub jti: Option<String>,
    /// `exp`.
    pub exp: i64,
    /// `exp` plus the skew (saturating): no access token outlives it (WIF-AS-18).
    pub accepted_until: i64,
    /// Every claim, for the workload rules (WIF §6.3).
    pub claims: Map<String, Value>,
}

/// Parses an assertion (WIF §7.3 step 2): surrounding whitespace removed, at most
/// [`MAX_ASSERTION_LEN`], a compact JWS (RFC 7515 §7.1) of three base64url parts, the
/// header a JSON object with no member repeated; then its kind by `typ`, compared
/// without letter case after an optional `application/` prefix (RFC 7515 §4.1.9;
/// WIF D6, WIF-AS-3, WIF-AS-6).
pub fn parse(assertion: &str) -> Result<AssertionKind, AssertionError> {
    let jws = assertion.trim_ascii();
    if jws.len() > MAX_ASSERTION_LEN {
        return Err(AssertionError::TooLarge);
    }
    let CompactJws {
        header,
        payload,
        signature,
        signing_input,
    } = split_compact(jws).map_err(|_| AssertionError::NotCompactJws)?;
    if header.is_empty() || payload.is_empty() {
        return Err(AssertionError::NotCompactJws);
    }
    let header = strict_object(&header).ok_or(AssertionError::MalformedHeader)?;
    let kind = match header.get("typ") {
        None => Kind::Workload,
        Some(Value::String(typ)) => kind_of(typ)?,
        Some(_) => return Err(AssertionError::WrongType),
    };
    let parsed = ParsedAssertion {
        header,
        claims: strict_object(&payload),
        signing_input: signing_input.to_owned(),
        signature,
    };
    Ok(match kind {
        Kind::IdJag => AssertionKind::IdJag(parsed),
        Kind::Workload => AssertionKind::Workload(parsed),
    })
}

#[derive(PartialEq, Eq)]
enum Kind {
    IdJag,
    Workload,
}

/// `typ` (RFC 7515 §4.1.9: a media type, `application/` optional, compared without
/// letter case as RFC 2045 says).
fn kind_of(typ: &str) -> Result<Kind, AssertionError> {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/").unwrap_or(&lower) {
        "jwt" | "jose" => Ok(Kind::Workload),
        "oauth-id-jag+jwt" => Ok(Kind::IdJag),
        _ => Err(AssertionError::WrongType),
    }
}

impl std::fmt::Debug for ParsedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedAssertion")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl ParsedAssertion {
    /// The JOSE header, unverified. Only `alg`, `kid`, `typ` and `crit` mean
    /// anything here (WIF D7).
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The header's `kid`, when a string: selects the key (WIF §7.3 step 7).
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The JWS signing input, `header.payload` (RFC 7515 §5.2).
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// WIF §7.3 step 5: no `crit` (RFC 7515 §4.1.11, WIF-AS-6) and `alg` one of
    /// [`ALGORITHMS`], never `none` nor an HMAC (RFC 8725 §3.1, WIF-AS-7). Every
    /// other header parameter is ignored (WIF D7).
    pub fn check_header(&self) -> Result<JwsAlgorithm, AssertionError> {
        if self.header.contains_key("crit") {
            return Err(AssertionError::CriticalHeader);
        }
        let name = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AssertionError::AlgorithmNotAccepted)?;
        ALGORITHMS
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or(AssertionError::AlgorithmNotAccepted)
    }

    /// The claims, unverified: a JSON object with no member repeated (WIF §7.3 step
    /// 6, WIF-AS-6).
    pub fn claims(&self) -> Result<&Map<String, Value>, AssertionError> {
        self.claims.as_ref().ok_or(AssertionError::MalformedClaims)
    }

    /// WIF §7.3 step 6: the claims decoded without verification, and what selects
    /// the trust entry (WIF D2, WIF-AS-8).
    pub fn trust_selector(&self) -> Result<TrustSelector<'_>, AssertionError> {
        let claims = self.claims()?;
        let spiffe_trust_domain = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| sub.strip_prefix(SPIFFE_SCHEME))
            .map(|rest| rest.split('/').next().unwrap_or(rest));
        Ok(TrustSelector {
            spiffe_trust_domain,
            issuer: claims.get("iss").and_then(Value::as_str),
        })
    }

    /// WIF §7.3 steps 5 to 9 for the trust entry the caller selected and the key it
    /// found (step 7): the header again; the entry is the one the assertion selects;
    /// `alg` is among `rules.algorithms` (never `EdDSA` for a trust-domain entry);
    /// the key fits `alg` ([`check_key_algorithm`]); the signature; then the claims
    /// ([`check_claims`] with [`AudienceRule::Exactly`], and
    /// [`check_lifetime_since_iat`]) and `sub`.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        rules: &AssertionRules<'_>,
        now: i64,
    ) -> Result<VerifiedAssertion, AssertionError> {
        let alg = self.check_header()?;
        let selector = self.trust_selector()?;
        let claims = self.claims()?;
        let selected = match rules.entry {
            TrustEntry::Issuer(issuer) => selector.issuer == Some(issuer),
            TrustEntry::SpiffeTrustDomain(domain) => selector.spiffe_trust_domain == Some(domain),
        };
        if !selected {
            return Err(AssertionError::NoTrustEntry);
        }
        let trust_domain = matches!(rules.entry, TrustEntry::SpiffeTrustDomain(_));
        if !rules.algorithms.contains(&alg) || (trust_domain && alg == JwsAlgorithm::EdDsa) {
            return Err(AssertionError::AlgorithmNotAllowed);
        }
        key_fits(key, alg)?;
        match key.verify(
            Algorithm::Jws(alg),
            self.signing_input.as_bytes(),
            &self.signature,
        ) {
            Ok(true) => {}
            Ok(false) => return Err(AssertionError::BadSignature),
            Err(_) => return Err(AssertionError::KeyNotForAlgorithm),
        }
        let accepted = check_time_and_audience(claims, rules, now)?;
        let sub = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AssertionError::MissingSubject),
        };
        if let TrustEntry::SpiffeTrustDomain(domain) = rules.entry
            && !is_spiffe_id_of(sub, domain)
        {
            return Err(AssertionError::NotSpiffeId);
        }
        Ok(VerifiedAssertion {
            alg,
            kid: self.kid().map(str::to_owned),
            sub: sub.clone(),
            jti: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            exp: accepted.exp,
            accepted_until: accepted.accepted_until,
            claims: claims.clone(),
        })
    }
}

/// WIF §7.3 step 7, "a type that fits `alg`": the one rule of the project
/// ([`check_key_algorithm`]: type, curve and declared `alg`), on the key's JWK.
pub fn key_fits(key: &VerifyingKey, alg: JwsAlgorithm) -> Result<(), AssertionError> {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::to_value(key.to_jwk())
        .and_then(serde_json::from_value)
        .map_err(|_| AssertionError::KeyNotForAlgorithm)?;
    let jwt_alg = alg
        .name()
        .parse::<jsonwebtoken::Algorithm>()
        .map_err(|_| AssertionError::KeyNotForAlgorithm)?;
    check_key_algorithm(&jwk, jwt_alg).map_err(|_| AssertionError::KeyNotForAlgorithm)
}

/// WIF §7.3 step 9 for `aud`, `exp`, `nbf`, `iat` and the lifetime, in that order,
/// through [`check_claims`] (issuer entries, which also compares `iss`) or
/// [`check_claims_except_issuer`] (trust-domain entries: `iss` ignored, WIF D2).
fn check_time_and_audience(
    claims: &Map<String, Value>,
    rules: &AssertionRules<'_>,
    now: i64,
) -> Result<crate::jwt_claims::Accepted, AssertionError> {
    let time = |name| claims.get(name).map(numeric_date);
    let registered = RegisteredClaims {
        iss: claims.get("iss").and_then(Value::as_str).map(str::to_owned),
        sub: None,
        aud: claims.get("aud").map(audience),
        exp: time("exp").and_then(Result::ok),
        nbf: time("nbf").and_then(Result::ok),
        iat: time("iat").and_then(Result::ok),
        jti: None,
    };
    let claim_rules = ClaimRules {
        issuer: match rules.entry {
            TrustEntry::Issuer(issuer) => issuer,
            TrustEntry::SpiffeTrustDomain(_) => "",
        },
        audience: AudienceRule::Exactly(rules.audience),
        leeway: rules.clock_skew,
        max_lifetime: Some(rules.max_lifetime),
        require_jti: false,
        now,
    };
    let skew = seconds(rules.clock_skew);
    let max = seconds(rules.max_lifetime);
    let exp = registered.exp.unwrap_or(0);
    let map = |e: ClaimError| match e {
        ClaimError::Missing("aud") => AssertionError::MissingAudience,
        ClaimError::Missing("exp") => AssertionError::MissingExpiry,
        ClaimError::Missing(_) | ClaimError::WrongIssuer => AssertionError::NoTrustEntry,
        ClaimError::WrongAudience => AssertionError::WrongAudience,
        ClaimError::Expired => AssertionError::Expired {
            seconds_ago: now.saturating_sub(exp),
        },
        ClaimError::NotYetValid => AssertionError::NotYetValid,
        ClaimError::IssuedInFuture => AssertionError::IssuedInFuture,
        ClaimError::LifetimeTooLong => match registered.iat {
            // Valid for longer than allowed from now, but not from `iat`: `iat` is in
            // the future beyond the skew, which is what to report.
            Some(iat) if exp.saturating_sub(iat) <= max => AssertionError::IssuedInFuture,
            Some(iat) => AssertionError::LifetimeTooLong {
                seconds: exp.saturating_sub(iat),
                allowed: max,
            },
            None => AssertionError::LifetimeTooLong {
                seconds: exp.saturating_sub(now),
                allowed: max.saturating_add(skew),
            },
        },
    };
    let accepted = match rules.entry {
        TrustEntry::Issuer(_) => check_claims(&registered, &claim_rules),
        TrustEntry::SpiffeTrustDomain(_) => check_claims_except_issuer(&registered, &claim_rules),
    }
    .map_err(map)?;
    // `nbf` and `iat` of the wrong type were left out above; refused here.
    for name in ["nbf", "iat"] {
        if let Some(Err(())) = time(name) {
            return Err(AssertionError::MalformedTime(name));
        }
    }
    if rules.require_iat && registered.iat.is_none() {
        return Err(AssertionError::MissingIssuedAt);
    }
    check_lifetime_since_iat(&registered, rules.max_lifetime).map_err(map)?;
    Ok(accepted)
}

/// Whole seconds of `d` as an `i64`, saturating.
fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A NumericDate (RFC 7519 §2): a JSON number, fractions floored (saturating).
fn numeric_date(value: &Value) -> Result<i64, ()> {
    let n = value.as_number().ok_or(())?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        })
        .ok_or(())
}

/// `aud` (RFC 7519 §4.1.3): a string or an array of strings; anything else names no
/// audience, so is refused as the wrong one.
fn audience(value: &Value) -> Audience {
    match value {
        Value::String(one) => Audience::One(one.clone()),
        Value::Array(list) => Audience::Many(
            list.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .unwrap_or_default(),
        ),
        _ => Audience::Many(Vec::new()),
    }
}

const SPIFFE_SCHEME: &str = "spiffe://";

/// True when `id` is a valid SPIFFE ID (SPIFFE-ID §2, §3) of `trust_domain`: the
/// `spiffe` scheme; a trust domain of lowercase letters, digits, `.`, `-` and `_`,
/// at most 255 bytes; a path, possibly empty, of non-empty segments of letters,
/// digits, `.`, `-` and `_`, none `.` or `..`, with no trailing `/`; no port, user
/// info, query or fragment (their characters are outside both sets); at most 2048
/// bytes.
fn is_spiffe_id_of(id: &str, trust_domain: &str) -> bool {
    let Some(rest) = id.strip_prefix(SPIFFE_SCHEME) else {
        return false;
    };
    let (domain, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 255
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    let path_ok = path.is_empty()
        || path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    id.len() <= 2048 && domain_ok && path_ok && domain == trust_domain
}
