//! Digest Fields (RFC 9530): `Content-Digest` and `Repr-Digest` creation and
//! verification, and the `Want-*-Digest` preference fields.
//!
//! Only the two "Active" algorithms are used: `sha-256` and `sha-512`. Deprecated
//! ones (§5: md5, sha, unixsum, unixcksum, adler, crc32c) MUST NOT be used where the
//! field is signed, so they are never created and never count as a match.

use aws_lc_rs::{constant_time, digest};
use http::HeaderValue;
use sfv::{BareItemFromInput, Dictionary, ListEntry, Parser};

use crate::borrowed::{self, Member};
use crate::error::DigestError;
use crate::message::visible_ascii;

/// An active digest algorithm of the "Hash Algorithms for HTTP Digest Fields" registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `sha-256`
    Sha256,
    /// `sha-512`
    Sha512,
}

/// A set of [`DigestAlgorithm`]s: those whose members of a digest field matched
/// ([`verify_digest`]). A value, not a list, so that a verification allocates nothing
/// for it; it iterates in the registry's order (`sha-256`, then `sha-512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct DigestAlgorithms(u8);

impl DigestAlgorithms {
    /// Every algorithm, in the order the set iterates. (A new variant goes here too:
    /// `bit`'s match is exhaustive, this list is not.)
    const ORDER: [DigestAlgorithm; 2] = [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512];

    fn bit(alg: DigestAlgorithm) -> u8 {
        match alg {
            DigestAlgorithm::Sha256 => 1,
            DigestAlgorithm::Sha512 => 2,
        }
    }

    /// Adds `alg`.
    pub fn insert(&mut self, alg: DigestAlgorithm) {
        self.0 |= Self::bit(alg);
    }

    /// True when `alg` is in the set.
    pub fn contains(self, alg: DigestAlgorithm) -> bool {
        self.0 & Self::bit(alg) != 0
    }

    /// True for the empty set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many algorithms the set holds.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The algorithms, in the registry's order.
    pub fn iter(self) -> impl Iterator<Item = DigestAlgorithm> {
        Self::ORDER.into_iter().filter(move |a| self.contains(*a))
    }
}

impl From<DigestAlgorithm> for DigestAlgorithms {
    fn from(alg: DigestAlgorithm) -> Self {
        Self(Self::bit(alg))
    }
}

impl FromIterator<DigestAlgorithm> for DigestAlgorithms {
    fn from_iter<I: IntoIterator<Item = DigestAlgorithm>>(algs: I) -> Self {
        let mut set = Self::default();
        for alg in algs {
            set.insert(alg);
        }
        set
    }
}

const DEPRECATED: [&str; 6] = ["md5", "sha", "unixsum", "unixcksum", "adler", "crc32c"];

impl DigestAlgorithm {
    /// The registry key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha512 => "sha-512",
        }
    }

    /// Looks up a registry key; deprecated algorithms are an error, unknown ones `None`.
    pub fn from_key(key: &str) -> Result<Option<Self>, DigestError> {
        match key {
            "sha-256" => Ok(Some(Self::Sha256)),
            "sha-512" => Ok(Some(Self::Sha512)),
            k if DEPRECATED.contains(&k) => Err(DigestError::Deprecated(k.to_owned())),
            _ => Ok(None),
        }
    }

    fn lc(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.lc(), data).as_ref().to_vec()
    }
}

/// Which digest field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestField {
    /// `Content-Digest` (§2): over the message content as sent.
    Content,
    /// `Repr-Digest` (§3): over the selected representation data.
    Repr,
}

impl DigestField {
    /// The field name as written in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Content => "Content-Digest",
            Self::Repr => "Repr-Digest",
        }
    }

    fn lowercase(self) -> &'static str {
        match self {
            Self::Content => "content-digest",
            Self::Repr => "repr-digest",
        }
    }
}

/// The field value for `data` with each algorithm, e.g. `sha-256=:...:`.
pub fn digest_value(data: &[u8], algorithms: &[DigestAlgorithm]) -> HeaderValue {
    let mut out = String::new();
    for (i, alg) in algorithms.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(alg.key());
        out.push('=');
        let ser = sfv::ItemSerializer::with_buffer(&mut out);
        let _ = ser
            .bare_item(sfv::RefBareItem::ByteSequence(&alg.digest(data)))
            .finish();
    }
    // INVARIANT: the value is a token, `=`, `:` and base64 characters only.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Verifies a digest field against `data`.
///
/// The digest rule of the http-message-signatures profile (HTTPSIG-RS-12): every active member present must match; unknown members are
/// ignored; deprecated members never count; a field with no active member is an error.
/// Comparison is constant-time. Returns the algorithms that matched.
pub fn verify_digest(
    field: DigestField,
    headers: &http::HeaderMap,
    data: &[u8],
) -> Result<DigestAlgorithms, DigestError> {
    let not_ascii = || DigestError::Syntax {
        field: field.name(),
        reason: "not ASCII".into(),
    };
    let mut lines = headers.get_all(field.lowercase()).iter();
    let first = lines.next().ok_or(DigestError::Missing(field.name()))?;
    let first = visible_ascii(first.as_bytes()).ok_or_else(not_ascii)?;
    let mut rest = lines.peekable();
    if rest.peek().is_none() {
        return verify_digest_value(field, first, data);
    }
    let mut combined = first.to_owned();
    for v in rest {
        combined.push_str(", ");
        combined.push_str(visible_ascii(v.as_bytes()).ok_or_else(not_ascii)?);
    }
    verify_digest_value(field, &combined, data)
}

/// Verifies one digest field value (see [`verify_digest`]).
pub fn verify_digest_value(
    field: DigestField,
    value: &str,
    data: &[u8],
) -> Result<DigestAlgorithms, DigestError> {
    // The usual value in one pass; anything else, and every error, through the
    // dictionary.
    match verify_usual(value, data) {
        Some(matched) => Ok(matched),
        None => verify_general(field, value, data),
    }
}

/// The longest digest the one-pass reader decodes: sha-512's 64 bytes, with room to
/// spare (a longer one is left to the general path, which calls it malformed).
const USUAL_DIGEST: usize = 96;

/// The usual value (a verifier reads one with every signed request with a body),
/// read in one pass without a dictionary or a heap buffer: members of the active
/// algorithms, each once, each a Byte Sequence without parameters, each matching
/// `data`. Anything else (an unknown or deprecated member, one repeated, parameters,
/// another type, a syntax error, a digest that differs) makes it give up (`None`),
/// and [`verify_general`] decides and names the error. So it only has to be right
/// about what it accepts: what the general path accepts, with the same algorithms;
/// the `digest` fuzz target compares the two on every input. (When it gives up after
/// hashing, the general path hashes again: a body that does not match its digest, or
/// a value with something unusual after a matching member, costs up to two more
/// hashes of the body, and only after its signature verified.)
fn verify_usual(value: &str, data: &[u8]) -> Option<DigestAlgorithms> {
    let mut c = borrowed::fast::Cursor::new(value);
    c.skip(|b| b == b' ');
    let mut matched = DigestAlgorithms::default();
    loop {
        let alg = DigestAlgorithm::from_key(c.key()?.as_str()).ok()??;
        // A repeated member (the dictionary keeps its last value, RFC 9651 §4.2.2):
        // left to the general path rather than reasoned about here.
        if matched.contains(alg) || !c.eat(b'=') {
            return None;
        }
        let mut expected = [0u8; USUAL_DIGEST];
        let len = c.byte_sequence_into(&mut expected)?;
        if c.peek() == Some(b';') {
            return None;
        }
        let actual = digest::digest(alg.lc(), data);
        constant_time::verify_slices_are_equal(expected.get(..len)?, actual.as_ref()).ok()?;
        matched.insert(alg);
        if !c.next_member()? {
            return Some(matched);
        }
    }
}

/// [`verify_digest_value`] through the general dictionary parser (`crate::borrowed`):
/// every value, every error.
pub(crate) fn verify_general(
    field: DigestField,
    value: &str,
    data: &[u8],
) -> Result<DigestAlgorithms, DigestError> {
    let dict = borrowed::Dictionary::parse(value).map_err(|e| DigestError::Syntax {
        field: field.name(),
        reason: e.to_string(),
    })?;
    let mut matched = DigestAlgorithms::default();
    for (key, entry) in dict.into_entries() {
        let alg = match DigestAlgorithm::from_key(key.as_str()) {
            Ok(Some(alg)) => alg,
            // Unknown and deprecated members are ignored when verifying.
            Ok(None) | Err(_) => continue,
        };
        let expected = match entry {
            Member::Item(item) => match item.bare {
                BareItemFromInput::ByteSequence(b) => b,
                _ => {
                    return Err(DigestError::Malformed {
                        field: field.name(),
                        alg: key.as_str().to_owned(),
                    });
                }
            },
            Member::InnerList(_) => {
                return Err(DigestError::Malformed {
                    field: field.name(),
                    alg: key.as_str().to_owned(),
                });
            }
        };
        let actual = digest::digest(alg.lc(), data);
        let actual = actual.as_ref();
        if expected.len() != actual.len() {
            return Err(DigestError::Malformed {
                field: field.name(),
                alg: key.as_str().to_owned(),
            });
        }
        if constant_time::verify_slices_are_equal(&expected, actual).is_err() {
            return Err(DigestError::Mismatch {
                field: field.name(),
                alg: alg.key(),
            });
        }
        matched.insert(alg);
    }
    if matched.is_empty() {
        return Err(DigestError::NoSupportedAlgorithm(field.name()));
    }
    Ok(matched)
}

/// A `Want-Content-Digest` / `Want-Repr-Digest` value (§4): algorithm preferences,
/// 0 (not acceptable) to 10 (most preferred).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WantDigest {
    /// `(algorithm key, weight)` in field order.
    pub preferences: Vec<(String, u8)>,
}

impl WantDigest {
    /// Parses a preference field. Weights outside 0..=10 or non-Integer values are an
    /// error.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let syntax = |reason: String| DigestError::Syntax {
            field: "Want-Content-Digest",
            reason,
        };
        let dict: Dictionary = Parser::new(value)
            .parse()
            .map_err(|e| syntax(e.to_string()))?;
        let mut preferences = Vec::with_capacity(dict.len());
        for (key, entry) in &dict {
            let weight = match entry {
                ListEntry::Item(item) => item.bare_item.as_integer().map(i64::from),
                ListEntry::InnerList(_) => None,
            }
            .and_then(|w| u8::try_from(w).ok())
            .filter(|w| *w <= 10)
            .ok_or_else(|| {
                syntax(format!(
                    "`{}` must be an Integer from 0 to 10",
                    key.as_str()
                ))
            })?;
            preferences.push((key.as_str().to_owned(), weight));
        }
        Ok(Self { preferences })
    }

    /// The most preferred active algorithm with a non-zero weight, if any.
    pub fn preferred(&self) -> Option<DigestAlgorithm> {
        self.preferences
            .iter()
            .filter(|(_, w)| *w > 0)
            .filter_map(|(k, w)| DigestAlgorithm::from_key(k).ok().flatten().map(|a| (a, *w)))
            .max_by_key(|(_, w)| *w)
            .map(|(a, _)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9530_2_example_values() {
        let body = br#"{"hello": "world"}"#;
        assert_eq!(
            digest_value(body, &[DigestAlgorithm::Sha256]),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        let v = digest_value(body, &[DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]);
        assert!(verify_digest_value(DigestField::Content, v.to_str().unwrap(), body).is_ok());
    }

    /// The usual values are read in one pass (a reader that gave up on them would
    /// still be right, but slow), to what the general path reads; anything else is
    /// left to the general path, which decides.
    #[test]
    fn the_usual_digest_is_read_in_one_pass_as_the_general_path_reads_it() {
        let body = br#"{"jsonrpc":"2.0"}"#;
        let value = |alg| digest_value(body, &[alg]).to_str().unwrap().to_owned();
        let (s256, s512) = (
            value(DigestAlgorithm::Sha256),
            value(DigestAlgorithm::Sha512),
        );
        let field = DigestField::Content;
        for usual in [
            s256.clone(),
            s512.clone(),
            format!("{s256}, {s512}"),
            format!("  {s512},\t{s256}"),
        ] {
            let direct = verify_usual(&usual, body);
            assert!(direct.is_some(), "{usual}");
            assert_eq!(
                Ok(direct.unwrap()),
                verify_general(field, &usual, body),
                "{usual}"
            );
        }
        for unusual in [
            format!("{s256};a=1"),
            format!("{s256}, {s256}"),
            format!("md5=:AAAA:, {s256}"),
            format!("unknown=:AAAA:, {s256}"),
            format!("{s256},"),
            format!("{s256} x"),
            "sha-256=:AAAA:".to_owned(),
            "sha-256=:*:".to_owned(),
            "sha-256=1".to_owned(),
            "sha-256=(:AA==:)".to_owned(),
            "sha-256".to_owned(),
            String::new(),
        ] {
            assert_eq!(verify_usual(&unusual, body), None, "{unusual}");
            assert_eq!(
                verify_digest_value(field, &unusual, body),
                verify_general(field, &unusual, body),
                "{unusual}"
            );
        }
        // What the whole function answers, whichever path decides.
        let s256_of_other = digest_value(b"other", &[DigestAlgorithm::Sha256]);
        let s256_of_other = s256_of_other.to_str().unwrap();
        let malformed = |alg: &str| {
            Err(DigestError::Malformed {
                field: "Content-Digest",
                alg: alg.to_owned(),
            })
        };
        let only_256 = || Ok(DigestAlgorithms::from(DigestAlgorithm::Sha256));
        for (value, expected) in [
            // A repeated member: its last value counts.
            (format!("{s256_of_other}, {s256}"), only_256()),
            (format!("{s256}, sha-256=:AAAA:"), malformed("sha-256")),
            // Something wrong after a matching member.
            (format!("{s256}, sha-512=:AAAA:"), malformed("sha-512")),
            (format!("{s256}, sha-512=1"), malformed("sha-512")),
            // 64 bytes under sha-256; 99 bytes, past the one-pass buffer.
            (
                format!("sha-256=:{}:", "A".repeat(88)),
                malformed("sha-256"),
            ),
            (
                format!("sha-256=:{}:", "A".repeat(132)),
                malformed("sha-256"),
            ),
            // Accepted forms: unpadded, trailing OWS.
            (
                s256.trim_end_matches([':', '=']).to_owned() + ":",
                only_256(),
            ),
            (format!("{s256} \t"), only_256()),
        ] {
            assert_eq!(
                verify_digest_value(field, &value, body),
                expected,
                "{value}"
            );
            assert_eq!(verify_general(field, &value, body), expected, "{value}");
        }
        // A digest of other bytes: the general path names the mismatch.
        assert_eq!(verify_usual(&s256, b"other"), None);
        assert_eq!(
            verify_digest_value(field, &s256, b"other"),
            Err(DigestError::Mismatch {
                field: "Content-Digest",
                alg: "sha-256"
            })
        );
    }

    /// Both active members matching: both reported, in the registry's order
    /// whatever the field's.
    #[test]
    fn every_matching_algorithm_is_reported_in_registry_order() {
        let body = b"abc";
        let value = format!(
            "{}, {}",
            digest_value(body, &[DigestAlgorithm::Sha512])
                .to_str()
                .unwrap(),
            digest_value(body, &[DigestAlgorithm::Sha256])
                .to_str()
                .unwrap()
        );
        let matched = verify_digest_value(DigestField::Content, &value, body).unwrap();
        assert_eq!(matched.len(), 2);
        assert_eq!(
            matched.iter().collect::<Vec<_>>(),
            [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]
        );
        let one = verify_digest_value(
            DigestField::Content,
            digest_value(body, &[DigestAlgorithm::Sha256])
                .to_str()
                .unwrap(),
            body,
        )
        .unwrap();
        assert_eq!(one, DigestAlgorithms::from(DigestAlgorithm::Sha256));
        assert!(!one.contains(DigestAlgorithm::Sha512));
        assert!(DigestAlgorithms::default().is_empty());
    }

    #[test]
    fn any_active_member_that_differs_fails() {
        let body = b"abc";
        let good = digest_value(body, &[DigestAlgorithm::Sha256]);
        let bad_512 = digest_value(b"abd", &[DigestAlgorithm::Sha512]);
        let both = format!("{}, {}", good.to_str().unwrap(), bad_512.to_str().unwrap());
        assert_eq!(
            verify_digest_value(DigestField::Content, &both, body),
            Err(DigestError::Mismatch {
                field: "Content-Digest",
                alg: "sha-512"
            })
        );
    }

    #[test]
    fn unknown_and_deprecated_members_do_not_count() {
        assert_eq!(
            verify_digest_value(DigestField::Content, "md5=:AAAA:, foo=:AAAA:", b""),
            Err(DigestError::NoSupportedAlgorithm("Content-Digest"))
        );
        assert_eq!(
            DigestAlgorithm::from_key("md5"),
            Err(DigestError::Deprecated("md5".into()))
        );
    }

    #[test]
    fn malformed_values_are_errors() {
        assert!(matches!(
            verify_digest_value(DigestField::Content, "sha-256=:AAAA:", b""),
            Err(DigestError::Malformed { .. })
        ));
        assert!(matches!(
            verify_digest_value(DigestField::Content, "sha-256=1", b""),
            Err(DigestError::Malformed { .. })
        ));
        assert!(matches!(
            verify_digest_value(DigestField::Content, "sha-256=:", b""),
            Err(DigestError::Syntax { .. })
        ));
    }

    #[test]
    fn want_digest_preferences() {
        let w = WantDigest::parse("sha-512=3, sha-256=10, unixsum=0").unwrap();
        assert_eq!(w.preferences.len(), 3);
        assert_eq!(w.preferred(), Some(DigestAlgorithm::Sha256));
        assert!(WantDigest::parse("sha-256=11").is_err());
        assert_eq!(WantDigest::parse("unixsum=5").unwrap().preferred(), None);
    }
}
