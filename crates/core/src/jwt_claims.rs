//! The one check of a JWT's registered claims (RFC 7519 §4.1) and the one rule for
//! which signature algorithm a key may verify, shared by every JWT mcp-auth accepts:
//! RFC 9068 access tokens ([`crate::access_token`]), `private_key_jwt` client
//! assertions (RFC 7523 §3) and the assertion grants to come. One place means one
//! leeway, one overflow-free arithmetic and one answer to "is this `alg` right for
//! this key".
//!
//! The signature is verified first, by the caller; [`check_claims`] then judges the
//! verified claims against [`ClaimRules`]. Time is UNIX seconds, passed in as `now`
//! so tests control the clock; every sum saturates, so hostile values such as
//! `exp = i64::MAX` cannot wrap around into "expired long ago" or "valid".

use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use serde::{Deserialize, Serialize};

/// The clock skew tolerated in every time comparison, in both directions: 5 s.
///
/// The hosts that exchange these JWTs (authorization server, resource servers,
/// confidential clients) are servers with synchronised clocks; 5 s absorbs the
/// drift of NTP-disciplined clocks and the time a request is in flight. Larger
/// values only lengthen the life of a stolen token or assertion (RFC 7519 §4.1.4
/// asks for "some small leeway"); a skew beyond this is a fault to fix at the host.
pub const LEEWAY: Duration = Duration::from_secs(5);

/// The JWS algorithms mcp-auth verifies (RFC 8725 §3.1: the verifier, not the token,
/// decides): asymmetric signatures only, so never `none` nor an HMAC keyed with a
/// public key. The same list the authorization server advertises in
/// `token_endpoint_auth_signing_alg_values_supported`.
pub const SIGNATURE_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// `aud` as RFC 7519 §4.1.3 allows it: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Self::One(a) => (Some(a), &[]),
            Self::Many(list) => (None, list),
        };
        one.into_iter().chain(many).map(String::as_str)
    }

    /// True when `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }
}

/// The registered claims of RFC 7519 §4.1, each optional as on the wire; which are
/// required is for [`check_claims`] (and the caller) to decide. Embed it with
/// `#[serde(flatten)]` to read a token's own claims alongside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegisteredClaims {
    /// Issuer (§4.1.1).
    #[serde(default)]
    pub iss: Option<String>,
    /// Subject (§4.1.2).
    #[serde(default)]
    pub sub: Option<String>,
    /// Audience (§4.1.3).
    #[serde(default)]
    pub aud: Option<Audience>,
    /// Expiration time (§4.1.4).
    #[serde(default)]
    pub exp: Option<i64>,
    /// Not before (§4.1.5).
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Issued at (§4.1.6).
    #[serde(default)]
    pub iat: Option<i64>,
    /// JWT ID (§4.1.7).
    #[serde(default)]
    pub jti: Option<String>,
}

/// Which audiences are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceRule<'a> {
    /// `aud` must name at least one of these (an empty list accepts nothing).
    AnyOf(&'a [&'a str]),
    /// `aud` must be exactly this one audience: the string, or an array holding it
    /// alone. For assertion grants, where a second audience is what audience
    /// injection and cross-RP replay need (profiles/workload-identity-federation.md
    /// D1).
    Exactly(&'a str),
    /// `aud` must be present, any value: only for an issuer reading its own tokens
    /// (introspection), which serves every audience.
    Any,
}

/// What a JWT's claims must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRules<'a> {
    /// `iss` must equal this exactly (RFC 7519 §4.1.1; RFC 7523 §3 ¶1).
    pub issuer: &'a str,
    /// The acceptable audiences (RFC 7519 §4.1.3; RFC 7523 §3 ¶3).
    pub audience: AudienceRule<'a>,
    /// The clock skew tolerated; [`LEEWAY`] everywhere in mcp-auth.
    pub leeway: Duration,
    /// How far after `now` `exp` may lie (RFC 7523 §3 ¶4: a JWT whose `exp` is
    /// "unreasonably far in the future" may be refused); it bounds how long a `jti`
    /// must be remembered. `None`: no bound (the issuer's own access tokens).
    pub max_lifetime: Option<Duration>,
    /// `jti` must be present (RFC 7523 §3 ¶7, for replay detection).
    pub require_jti: bool,
    /// The current UNIX time, seconds.
    pub now: i64,
}

/// What a successful check established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// `exp`, verified present and not passed.
    pub exp: i64,
    /// The first instant at which the JWT is no longer accepted (`exp` + leeway,
    /// saturating): how long a replay cache must remember its `jti`.
    pub accepted_until: i64,
}

/// Why claims were refused. Each maps to one rule of RFC 7519 §4.1 / RFC 7523 §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// A required claim is absent (`iss`, `aud`, `exp`, or `jti` when required).
    #[error("the `{0}` claim is required")]
    Missing(&'static str),
    /// `iss` is not the expected issuer.
    #[error("`iss` is not the expected issuer")]
    WrongIssuer,
    /// `aud` names none of the acceptable audiences.
    #[error("`aud` names none of the acceptable audiences")]
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `exp` lies further in the future than the maximum lifetime allows.
    #[error("`exp` is too far in the future")]
    LifetimeTooLong,
    /// `nbf` has not been reached (beyond the leeway).
    #[error("not valid yet (`nbf`)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("issued in the future (`iat`)")]
    IssuedInFuture,
}

/// Whole seconds of `d` as an `i64`, saturating.
fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Checks `claims` against `rules`, in this order: `iss`, `aud`, `exp` (required; not
/// passed; not beyond the maximum lifetime), `nbf` and `iat` (when present, not in
/// the future), `jti` (when required). Every time comparison allows `rules.leeway`
/// and saturates instead of overflowing.
pub fn check_claims(
    claims: &RegisteredClaims,
    rules: &ClaimRules<'_>,
) -> Result<Accepted, ClaimError> {
    let iss = claims.iss.as_deref().ok_or(ClaimError::Missing("iss"))?;
    if iss != rules.issuer {
        return Err(ClaimError::WrongIssuer);
    }
    check_claims_except_issuer(claims, rules)
}

/// [`check_claims`] without its first step: `iss` is neither required nor compared,
/// and `rules.issuer` is not read. Only for a JWT whose issuer the caller has
/// already established another way: a JWT-SVID, which has no `iss` (JWT-SVID §3)
/// and is trusted through the SPIFFE trust domain of its `sub`
/// (profiles/workload-identity-federation.md §7.2, D2).
pub fn check_claims_except_issuer(
    claims: &RegisteredClaims,
    rules: &ClaimRules<'_>,
) -> Result<Accepted, ClaimError> {
    let aud = claims.aud.as_ref().ok_or(ClaimError::Missing("aud"))?;
    let aud_accepted = match rules.audience {
        AudienceRule::AnyOf(accepted) => accepted.iter().any(|a| aud.contains(a)),
        AudienceRule::Exactly(one) => {
            let mut named = aud.iter();
            named.next() == Some(one) && named.next().is_none()
        }
        AudienceRule::Any => true,
    };
    if !aud_accepted {
        return Err(ClaimError::WrongAudience);
    }
    let leeway = seconds(rules.leeway);
    let now = rules.now;
    let exp = claims.exp.ok_or(ClaimError::Missing("exp"))?;
    // RFC 7519 §4.1.4: not accepted "on or after" `exp`.
    let accepted_until = exp.saturating_add(leeway);
    if now >= accepted_until {
        return Err(ClaimError::Expired);
    }
    if let Some(max) = rules.max_lifetime
        && exp > now.saturating_add(seconds(max)).saturating_add(leeway)
    {
        return Err(ClaimError::LifetimeTooLong);
    }
    let latest = now.saturating_add(leeway);
    // RFC 7519 §4.1.5: not accepted before `nbf`.
    if claims.nbf.is_some_and(|nbf| nbf > latest) {
        return Err(ClaimError::NotYetValid);
    }
    if claims.iat.is_some_and(|iat| iat > latest) {
        return Err(ClaimError::IssuedInFuture);
    }
    if rules.require_jti && claims.jti.is_none() {
        return Err(ClaimError::Missing("jti"));
    }
    Ok(Accepted {
        exp,
        accepted_until,
    })
}

/// RFC 7523 §3 item 6 as assertion grants bound it (profiles/
/// workload-identity-federation.md §7.2): when `iat` is present, `exp − iat` must
/// not exceed `max_lifetime` (saturating). Without `iat` (or `exp`) this passes:
/// [`ClaimRules::max_lifetime`] already bounds `exp` from `now`. Called after
/// [`check_claims`], which has checked that `iat` is not in the future.
pub fn check_lifetime_since_iat(
    claims: &RegisteredClaims,
    max_lifetime: Duration,
) -> Result<(), ClaimError> {
    match (claims.exp, claims.iat) {
        (Some(exp), Some(iat)) if exp.saturating_sub(iat) > seconds(max_lifetime) => {
            Err(ClaimError::LifetimeTooLong)
        }
        _ => Ok(()),
    }
}

/// Why a key may not verify a JWS with some algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyAlgorithmError {
    /// The algorithm is not one of [`SIGNATURE_ALGORITHMS`] (HMAC, or an RSA variant
    /// mcp-auth does not use).
    #[error("the algorithm is not an accepted signature algorithm")]
    Unsupported,
    /// The key's type or curve, or the `alg` the key declares, is for another
    /// algorithm.
    #[error("the algorithm is not the key's")]
    Mismatch,
}

/// The JWS algorithm a JWK's `alg` names, if it is a signature algorithm.
fn declared(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        // HMAC, encryption algorithms, unknown names: never a signature key here.
        _ => return None,
    })
}

/// Whether `jwk` may verify a JWS whose header says `alg` (RFC 8725 §3.1, RFC 7518
/// §3): `alg` must be one of [`SIGNATURE_ALGORITHMS`]; the key's type and curve must
/// be the ones that algorithm is defined for (EC P-256 for ES256, P-384 for ES384,
/// OKP Ed25519 for EdDSA, RSA for RS256/PS*); and when the key declares an `alg`
/// (RFC 7517 §4.4) it must be that one. A key without `alg` may be used with every
/// accepted algorithm of its type.
pub fn check_key_algorithm(jwk: &Jwk, alg: Algorithm) -> Result<(), KeyAlgorithmError> {
    if !SIGNATURE_ALGORITHMS.contains(&alg) {
        return Err(KeyAlgorithmError::Unsupported);
    }
    let fits_key = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512,
        ) => true,
        // Symmetric (`oct`) keys and every cross-type pairing.
        _ => false,
    };
    let fits_declared = jwk
        .common
        .key_algorithm
        .is_none_or(|declared_alg| declared(declared_alg) == Some(alg));
    if fits_key && fits_declared {
        Ok(())
    } else {
        Err(KeyAlgorithmError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://as.example";
    const AUD: &str = "https://mcp.example/mcp";
    const NOW: i64 = 1_000_000;

    fn rules() -> ClaimRules<'static> {
        ClaimRules {
            issuer: ISS,
            audience: AudienceRule::AnyOf(&[AUD]),
            leeway: LEEWAY,
            max_lifetime: None,
            require_jti: false,
            now: NOW,
        }
    }

    fn claims() -> RegisteredClaims {
        RegisteredClaims {
            iss: Some(ISS.into()),
            sub: Some("client-1".into()),
            aud: Some(Audience::One(AUD.into())),
            exp: Some(NOW + 300),
            nbf: None,
            iat: Some(NOW),
            jti: Some("j1".into()),
        }
    }

    fn with(f: impl FnOnce(&mut RegisteredClaims)) -> RegisteredClaims {
        let mut c = claims();
        f(&mut c);
        c
    }

    #[test]
    fn valid_claims_are_accepted_with_the_replay_window() {
        assert_eq!(
            check_claims(&claims(), &rules()),
            Ok(Accepted {
                exp: NOW + 300,
                accepted_until: NOW + 305
            })
        );
    }

    #[test]
    fn iss_is_required() {
        assert_eq!(
            check_claims(&with(|c| c.iss = None), &rules()),
            Err(ClaimError::Missing("iss"))
        );
    }

    #[test]
    fn iss_must_match_exactly() {
        for other in ["https://as.example/", "https://AS.example", "https://evil"] {
            assert_eq!(
                check_claims(&with(|c| c.iss = Some(other.into())), &rules()),
                Err(ClaimError::WrongIssuer),
                "{other}"
            );
        }
    }

    fn many(list: &[&str]) -> Option<Audience> {
        Some(Audience::Many(list.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn aud_is_required() {
        assert_eq!(
            check_claims(&with(|c| c.aud = None), &rules()),
            Err(ClaimError::Missing("aud"))
        );
    }

    #[test]
    fn an_aud_array_naming_an_accepted_audience_is_accepted() {
        assert!(check_claims(&with(|c| c.aud = many(&["https://x", AUD])), &rules()).is_ok());
    }

    #[test]
    fn an_aud_string_or_array_naming_no_accepted_audience_is_refused() {
        for bad in [
            Some(Audience::One("https://other".into())),
            many(&["https://x", "https://y"]),
            many(&[]),
        ] {
            assert_eq!(
                check_claims(&with(|c| c.aud = bad.clone()), &rules()),
                Err(ClaimError::WrongAudience),
                "{bad:?}"
            );
        }
    }

    /// Any of several accepted audiences (the issuer or the token endpoint).
    #[test]
    fn any_of_several_accepted_audiences_is_accepted() {
        let two = ClaimRules {
            audience: AudienceRule::AnyOf(&["https://as.example", AUD]),
            ..rules()
        };
        assert!(check_claims(&claims(), &two).is_ok());
    }

    #[test]
    fn an_empty_list_of_accepted_audiences_accepts_nothing() {
        let none = ClaimRules {
            audience: AudienceRule::AnyOf(&[]),
            ..rules()
        };
        assert_eq!(
            check_claims(&claims(), &none),
            Err(ClaimError::WrongAudience)
        );
    }

    #[test]
    fn the_any_audience_rule_accepts_any_present_aud() {
        let any = ClaimRules {
            audience: AudienceRule::Any,
            ..rules()
        };
        assert!(check_claims(&with(|c| c.aud = many(&["https://z"])), &any).is_ok());
    }

    #[test]
    fn the_any_audience_rule_still_requires_aud() {
        let any = ClaimRules {
            audience: AudienceRule::Any,
            ..rules()
        };
        assert_eq!(
            check_claims(&with(|c| c.aud = None), &any),
            Err(ClaimError::Missing("aud"))
        );
    }

    #[test]
    fn the_exactly_rule_accepts_one_audience_as_a_string_or_a_one_element_array() {
        let exact = ClaimRules {
            audience: AudienceRule::Exactly(AUD),
            ..rules()
        };
        assert!(check_claims(&claims(), &exact).is_ok());
        assert!(check_claims(&with(|c| c.aud = many(&[AUD])), &exact).is_ok());
        for bad in [many(&[AUD, "https://x"]), many(&[]), many(&["https://x"])] {
            assert_eq!(
                check_claims(&with(|c| c.aud = bad.clone()), &exact),
                Err(ClaimError::WrongAudience),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn check_claims_except_issuer_neither_requires_nor_compares_iss() {
        let other = ClaimRules {
            issuer: "https://unused",
            ..rules()
        };
        assert!(check_claims_except_issuer(&with(|c| c.iss = None), &other).is_ok());
        assert_eq!(
            check_claims_except_issuer(&with(|c| c.exp = None), &other),
            Err(ClaimError::Missing("exp"))
        );
    }

    #[test]
    fn the_lifetime_since_iat_is_bounded_when_iat_is_present() {
        let max = Duration::from_secs(600);
        let at = |iat, exp| with(|c| (c.iat, c.exp) = (iat, Some(exp)));
        assert!(check_lifetime_since_iat(&at(Some(NOW), NOW + 600), max).is_ok());
        for (iat, exp) in [(NOW, NOW + 601), (i64::MIN, i64::MAX)] {
            let too_long = check_lifetime_since_iat(&at(Some(iat), exp), max);
            assert_eq!(too_long, Err(ClaimError::LifetimeTooLong), "{iat} {exp}");
        }
        assert!(check_lifetime_since_iat(&at(None, NOW + 10_000), max).is_ok());
    }

    #[test]
    fn exp_is_required() {
        assert_eq!(
            check_claims(&with(|c| c.exp = None), &rules()),
            Err(ClaimError::Missing("exp"))
        );
    }

    #[test]
    fn exp_within_the_leeway_is_accepted() {
        assert!(check_claims(&with(|c| c.exp = Some(NOW - 4)), &rules()).is_ok());
    }

    #[test]
    fn exp_is_refused_on_or_after_exp_plus_leeway() {
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(NOW - 5)), &rules()),
            Err(ClaimError::Expired),
            "at exp + leeway"
        );
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(NOW - 3600)), &rules()),
            Err(ClaimError::Expired),
            "an hour after exp"
        );
    }

    #[test]
    fn the_maximum_lifetime_bounds_exp_from_now() {
        let bounded = ClaimRules {
            max_lifetime: Some(Duration::from_secs(600)),
            ..rules()
        };
        assert!(check_claims(&with(|c| c.exp = Some(NOW + 605)), &bounded).is_ok());
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(NOW + 606)), &bounded),
            Err(ClaimError::LifetimeTooLong)
        );
    }

    #[test]
    fn without_a_maximum_lifetime_a_far_exp_is_accepted() {
        assert!(check_claims(&with(|c| c.exp = Some(NOW + 86_400 * 365)), &rules()).is_ok());
    }

    #[test]
    fn nbf_in_the_future_beyond_the_leeway_is_refused() {
        assert!(check_claims(&with(|c| c.nbf = Some(NOW + 5)), &rules()).is_ok());
        assert!(check_claims(&with(|c| c.nbf = Some(NOW - 100)), &rules()).is_ok());
        assert_eq!(
            check_claims(&with(|c| c.nbf = Some(NOW + 6)), &rules()),
            Err(ClaimError::NotYetValid)
        );
    }

    #[test]
    fn iat_in_the_future_beyond_the_leeway_is_refused() {
        assert!(check_claims(&with(|c| c.iat = Some(NOW + 5)), &rules()).is_ok());
        assert_eq!(
            check_claims(&with(|c| c.iat = Some(NOW + 6)), &rules()),
            Err(ClaimError::IssuedInFuture)
        );
    }

    #[test]
    fn iat_is_optional() {
        assert!(check_claims(&with(|c| c.iat = None), &rules()).is_ok());
    }

    #[test]
    fn jti_is_required_only_when_the_rules_say_so() {
        let strict = ClaimRules {
            require_jti: true,
            ..rules()
        };
        assert!(check_claims(&claims(), &strict).is_ok());
        assert_eq!(
            check_claims(&with(|c| c.jti = None), &strict),
            Err(ClaimError::Missing("jti"))
        );
        assert!(check_claims(&with(|c| c.jti = None), &rules()).is_ok());
    }

    // Item 17: `exp + leeway` used to be an unchecked add (a panic in debug builds,
    // a wrap to "expired long ago" in release). Every extreme now saturates.

    /// Item 17: exp = i64::MAX is valid (no bound), its replay window saturated,
    /// not wrapped.
    #[test]
    fn item_17_exp_i64_max_saturates_the_replay_window() {
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(i64::MAX)), &rules()),
            Ok(Accepted {
                exp: i64::MAX,
                accepted_until: i64::MAX
            })
        );
    }

    #[test]
    fn item_17_exp_i64_max_is_too_far_under_a_maximum_lifetime() {
        let bounded = ClaimRules {
            max_lifetime: Some(Duration::from_secs(600)),
            ..rules()
        };
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(i64::MAX)), &bounded),
            Err(ClaimError::LifetimeTooLong)
        );
    }

    /// Item 17: now = i64::MAX with the largest leeway and lifetime: the sums
    /// saturate and the token is expired.
    #[test]
    fn item_17_now_i64_max_with_the_largest_leeway_is_expired() {
        let late = ClaimRules {
            now: i64::MAX,
            max_lifetime: Some(Duration::MAX),
            leeway: Duration::MAX,
            ..rules()
        };
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(i64::MAX)), &late),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn item_17_exp_i64_min_is_expired() {
        assert_eq!(
            check_claims(&with(|c| c.exp = Some(i64::MIN)), &rules()),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn item_17_iat_i64_max_at_now_i64_min_is_issued_in_the_future() {
        let early = ClaimRules {
            now: i64::MIN,
            ..rules()
        };
        assert_eq!(
            check_claims(
                &with(|c| {
                    c.exp = Some(i64::MAX);
                    c.iat = Some(i64::MAX);
                }),
                &early
            ),
            Err(ClaimError::IssuedInFuture)
        );
    }

    #[test]
    fn claims_read_from_json_with_aud_as_string_or_array() {
        let one: RegisteredClaims =
            serde_json::from_value(serde_json::json!({"iss": ISS, "aud": AUD, "exp": 1})).unwrap();
        assert_eq!(one.aud, Some(Audience::One(AUD.into())));
        let many: RegisteredClaims =
            serde_json::from_value(serde_json::json!({"aud": [AUD, "x"]})).unwrap();
        assert!(many.aud.is_some_and(|a| a.contains("x") && a.contains(AUD)));
    }

    fn jwk(json: serde_json::Value) -> Jwk {
        serde_json::from_value(json).unwrap()
    }

    fn ec(crv: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": crv, "x": "AA", "y": "AA"})
    }

    fn okp() -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"})
    }

    fn rsa() -> serde_json::Value {
        serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})
    }

    fn with_alg(mut v: serde_json::Value, alg: &str) -> serde_json::Value {
        v["alg"] = alg.into();
        v
    }

    #[test]
    fn each_key_type_verifies_only_its_own_algorithms() {
        use Algorithm as A;
        let cases = [
            (ec("P-256"), vec![A::ES256]),
            (ec("P-384"), vec![A::ES384]),
            (okp(), vec![A::EdDSA]),
            (rsa(), vec![A::RS256, A::PS256, A::PS384, A::PS512]),
        ];
        for (json, good) in cases {
            let key = jwk(json.clone());
            for alg in SIGNATURE_ALGORITHMS {
                let expected = if good.contains(&alg) {
                    Ok(())
                } else {
                    Err(KeyAlgorithmError::Mismatch)
                };
                assert_eq!(check_key_algorithm(&key, alg), expected, "{json} {alg:?}");
            }
        }
    }

    #[test]
    fn a_declared_alg_must_be_the_header_alg() {
        use Algorithm as A;
        let key = jwk(with_alg(rsa(), "PS256"));
        assert_eq!(check_key_algorithm(&key, A::PS256), Ok(()));
        assert_eq!(
            check_key_algorithm(&key, A::RS256),
            Err(KeyAlgorithmError::Mismatch)
        );
    }

    #[test]
    fn a_declared_alg_of_another_key_type_does_not_widen_what_the_key_can_do() {
        use Algorithm as A;
        let key = jwk(with_alg(ec("P-256"), "RS256"));
        assert_eq!(
            check_key_algorithm(&key, A::RS256),
            Err(KeyAlgorithmError::Mismatch),
            "the declared RS256"
        );
        assert_eq!(
            check_key_algorithm(&key, A::ES256),
            Err(KeyAlgorithmError::Mismatch),
            "the key type's ES256"
        );
    }

    #[test]
    fn an_unknown_or_encryption_alg_makes_the_key_unusable_for_signatures() {
        use Algorithm as A;
        for alg in ["RSA-OAEP", "Ed25519-unknown"] {
            let key = jwk(with_alg(rsa(), alg));
            assert_eq!(
                check_key_algorithm(&key, A::RS256),
                Err(KeyAlgorithmError::Mismatch),
                "{alg}"
            );
        }
    }

    fn oct_secret() -> Jwk {
        jwk(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}))
    }

    #[test]
    fn hmac_algorithms_are_never_accepted() {
        use Algorithm as A;
        for alg in [A::HS256, A::HS384, A::HS512] {
            assert_eq!(
                check_key_algorithm(&oct_secret(), alg),
                Err(KeyAlgorithmError::Unsupported),
                "oct key, {alg:?}"
            );
            assert_eq!(
                check_key_algorithm(&jwk(rsa()), alg),
                Err(KeyAlgorithmError::Unsupported),
                "RSA key, {alg:?}"
            );
        }
    }

    #[test]
    fn a_symmetric_key_verifies_no_signature_algorithm() {
        for alg in SIGNATURE_ALGORITHMS {
            assert_eq!(
                check_key_algorithm(&oct_secret(), alg),
                Err(KeyAlgorithmError::Mismatch),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn the_unused_rsa_variants_rs384_and_rs512_are_never_accepted() {
        use Algorithm as A;
        for alg in [A::RS384, A::RS512] {
            assert_eq!(
                check_key_algorithm(&jwk(with_alg(rsa(), "RS384")), alg),
                Err(KeyAlgorithmError::Unsupported),
                "{alg:?}"
            );
        }
    }
}
