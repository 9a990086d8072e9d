//! `application/x-www-form-urlencoded` request bodies, strictly: RFC 6749 §3.2 says
//! parameters MUST NOT be repeated, so a repeated one is an error, not "last wins".
//!
//! Parsing is linear in the body (a set of the names seen, not a scan per parameter)
//! and stops at [`MAX_PARAMETERS`]: no OAuth request has more than a few dozen, and a
//! 64 KiB body of tiny parameters must not cost more than reading it.

use std::collections::HashSet;

use crate::error::FormError;

/// A parsed form with no repeated parameters, except those allowed to repeat. Its
/// `Debug` shows the parameters' names only: the values of the forms it parses are
/// passwords, client secrets, codes and their verifiers, refresh tokens, assertions.
#[derive(Clone, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field(
                "names",
                &self.pairs.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The most parameters one form may have.
pub const MAX_PARAMETERS: usize = 100;

impl Form {
    /// Parses a body; parameters named in `repeatable` may appear more than once.
    pub fn parse(body: &[u8], repeatable: &[&str]) -> Result<Self, FormError> {
        // Decoded in place first (a name or value is copied only if it held an escape),
        // checked for repeats against names borrowed from that list, then owned. A
        // repeat among the first parameters is named even when there are too many, as
        // when each was checked as it was read.
        let mut decoded = Vec::new();
        let mut too_many = false;
        for pair in url::form_urlencoded::parse(body) {
            if decoded.len() == MAX_PARAMETERS {
                too_many = true;
                break;
            }
            decoded.push(pair);
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(decoded.len());
        for (k, _) in &decoded {
            if !repeatable.contains(&k.as_ref()) && !seen.insert(k) {
                return Err(FormError::Repeated(k.clone().into_owned()));
            }
        }
        if too_many {
            return Err(FormError::TooManyParameters);
        }
        drop(seen);
        let pairs = decoded
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Self { pairs })
    }

    /// The value of a parameter (the first, for repeatable ones); empty values count as
    /// absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required parameter.
    pub fn require(&self, name: &'static str) -> Result<&str, FormError> {
        self.get(name).ok_or(FormError::Missing(name))
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse as _;

    use super::*;

    #[test]
    fn a_forms_debug_names_its_parameters_without_their_values() {
        let f = Form::parse(b"username=alice&password=hunter2&client_secret=s3cret", &[])
            .expect("form");
        let shown = format!("{f:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(
            shown.contains("\"password\"") && shown.contains("\"client_secret\""),
            "{shown}"
        );
    }

    #[test]
    fn repeated_parameters_are_refused_unless_repeatable() {
        assert!(Form::parse(b"a=1&a=2", &[]).is_err());
        let f = Form::parse(b"resource=x&resource=y&b=", &["resource"]).expect("form");
        assert_eq!(f.all("resource"), ["x", "y"]);
        assert_eq!(f.get("b"), None, "empty counts as absent");
    }

    #[tokio::test]
    async fn item_10_a_body_of_many_tiny_parameters_is_refused_at_the_cap() {
        // 64 KiB of distinct one-character-value parameters: before, each was compared
        // with every earlier one (O(n²), ~0.35 s of CPU per request).
        let body: String = (0..10_000).map(|i| format!("p{i}=&")).collect();
        let Err(e) = Form::parse(body.as_bytes(), &[]) else {
            panic!("accepted");
        };
        assert_eq!(e, FormError::TooManyParameters);
        let response = crate::error::AsError::from(e).into_response();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("more than 100 parameters"))
        );
        let ok: String = (0..MAX_PARAMETERS).map(|i| format!("p{i}=v&")).collect();
        assert!(Form::parse(ok.as_bytes(), &[]).is_ok());
    }

    /// A repeat among the first 100 parameters is named, however many follow; past
    /// the cap, the cap is the error.
    #[test]
    fn a_repeat_before_the_cap_is_named_first() {
        let early: String = std::iter::once("a=1&a=2&".to_owned())
            .chain((0..200).map(|i| format!("p{i}=&")))
            .collect();
        assert_eq!(
            Form::parse(early.as_bytes(), &[]).unwrap_err(),
            FormError::Repeated("a".into())
        );
        let late: String = (0..MAX_PARAMETERS)
            .map(|i| format!("p{i}=&"))
            .chain(std::iter::once("p0=again".to_owned()))
            .collect();
        assert_eq!(
            Form::parse(late.as_bytes(), &[]).unwrap_err(),
            FormError::TooManyParameters
        );
    }
}
