//! The members of a DPoP proof's header and claims set (RFC 9449 §4.2) that the checks
//! of §4.3 read, each with the JSON type it came in ([`JsonMember`]), its strings
//! borrowed from the decoded segment rather than copied (issue 18: as
//! `serde_json::Value`s, every string claim was an allocation).

use std::borrow::Cow;

use serde::Deserialize;

use super::ProofError;
use crate::json_member::JsonMember;

/// The header's members (§4.2), those of a header not seen before. Any other is
/// skipped; one given twice is an error (serde's derive refuses a repeated field).
#[derive(Deserialize)]
pub(super) struct Header<'a> {
    #[serde(borrow)]
    pub(super) typ: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) alg: Option<JsonMember<'a>>,
    pub(super) jwk: Option<serde_json::Value>,
    /// Present with any value, `null` too (RFC 7515 §4.1.11; [`crate::jws::present`]).
    #[serde(default, deserialize_with = "crate::jws::present")]
    pub(super) crit: Option<serde_json::Value>,
}

/// The claims (§4.2) the checks read; as for [`Header`], others skipped, none twice.
#[derive(Deserialize)]
pub(super) struct Claims<'a> {
    #[serde(borrow)]
    pub(super) jti: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) htm: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) htu: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) iat: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) ath: Option<JsonMember<'a>>,
    #[serde(borrow)]
    pub(super) nonce: Option<JsonMember<'a>>,
}

/// The non-empty string `member` is, or the member `name` missing (§4.3 step 3: absent
/// and of the wrong type alike).
pub(super) fn text<'a>(
    member: Option<JsonMember<'a>>,
    name: &'static str,
) -> Result<Cow<'a, str>, ProofError> {
    member
        .and_then(JsonMember::into_text)
        .filter(|s| !s.is_empty())
        .ok_or(ProofError::MissingClaim(name))
}

/// The number `member` is, as whole seconds, or the member `name` missing.
pub(super) fn seconds(
    member: Option<JsonMember<'_>>,
    name: &'static str,
) -> Result<i64, ProofError> {
    member
        .as_ref()
        .and_then(JsonMember::seconds)
        .ok_or(ProofError::MissingClaim(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Result<Claims<'_>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_member_of_another_type_is_the_member_missing() {
        for value in [
            r#""""#,
            "true",
            "null",
            "[1,[2]]",
            r#"{"a":{"b":1}}"#,
            "\"1\"",
        ] {
            let json = format!(r#"{{"iat":{value},"jti":{value}}}"#);
            let c = claims(&json).unwrap();
            assert_eq!(
                seconds(c.iat, "iat"),
                Err(ProofError::MissingClaim("iat")),
                "{value}"
            );
            if value != "\"1\"" {
                assert_eq!(
                    text(c.jti, "jti").map(|_| ()),
                    Err(ProofError::MissingClaim("jti")),
                    "{value}"
                );
            }
        }
        let c = claims(r#"{"iat":1.5,"htm":"POST"}"#).unwrap();
        assert_eq!(seconds(c.iat, "iat"), Ok(1));
        assert_eq!(text(c.htm, "htm").as_deref(), Ok("POST"));
        let c = claims("{}").unwrap();
        assert_eq!(
            text(c.htm, "htm").map(|_| ()),
            Err(ProofError::MissingClaim("htm"))
        );
    }

    #[test]
    fn a_member_given_twice_is_an_error_and_others_are_skipped() {
        assert!(claims(r#"{"jti":"a","jti":"b"}"#).is_err());
        assert!(claims(r#"{"jti":"a","x":[1,{"y":"z"}],"y":null}"#).is_ok());
        let header: Result<Header<'_>, _> =
            serde_json::from_str(r#"{"typ":"dpop+jwt","typ":"dpop+jwt"}"#);
        assert!(header.is_err());
    }
}
