//! The `Signature-Input` and `Signature` fields (RFC 9421 §4.1, §4.2).
//!
//! Parsing is bounded (field length, number of signatures, components per
//! signature) and strict: a label that appears twice, or in one field but not the
//! other, is an error rather than a "last one wins".

use std::borrow::Cow;

use http::{HeaderMap, HeaderName};
use sfv::BareItemFromInput;

use crate::borrowed::{Dictionary, Member};
use crate::error::FieldError;
use crate::params::SignatureParams;
use crate::structured::raw_members;

mod direct;

/// Limits on what a peer can make the parser do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length in bytes of each combined field (`Signature-Input`, `Signature`).
    pub max_field_len: usize,
    /// Maximum number of signatures (labels) in a message.
    pub max_signatures: usize,
    /// Maximum number of covered components in one signature.
    pub max_components: usize,
}

impl Default for Limits {
    /// 16 KiB per field, 8 signatures, 32 components (the profile's HTTPSIG-RS-6 limits).
    fn default() -> Self {
        Self {
            max_field_len: 16 * 1024,
            max_signatures: 8,
            max_components: 32,
        }
    }
}

/// One signature found in a message: its label, parameters, the exact received text of
/// its parameters (the `@signature-params` value), and the signature bytes.
///
/// The strings borrow the fields they were read from (`'a`) where they can: for the
/// usual pair, one field line each, the label, the parameters' text and its strings
/// are not copied (a verifier reads one with every request).
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureEntry<'a> {
    /// The label (dictionary key).
    pub label: Cow<'a, str>,
    /// The parsed parameters.
    pub params: SignatureParams<'a>,
    /// The member value exactly as received, used verbatim in the signature base.
    pub params_text: Cow<'a, str>,
    /// The signature value.
    pub signature: Vec<u8>,
}

impl SignatureEntry<'_> {
    /// The same entry, owning its strings.
    pub fn into_owned(self) -> SignatureEntry<'static> {
        SignatureEntry {
            label: Cow::Owned(self.label.into_owned()),
            params: self.params.into_owned(),
            params_text: Cow::Owned(self.params_text.into_owned()),
            signature: self.signature,
        }
    }
}

/// Reads every signature of a message (header fields only; trailers are not searched).
///
/// Returns an empty list when the message has neither field.
pub fn parse_signatures<'h>(
    headers: &'h HeaderMap,
    limits: &Limits,
) -> Result<Vec<SignatureEntry<'h>>, FieldError> {
    const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
    const SIGNATURE: HeaderName = HeaderName::from_static("signature");
    let input = combined(headers, &SIGNATURE_INPUT, "Signature-Input", limits)?;
    let sigs = combined(headers, &SIGNATURE, "Signature", limits)?;
    match (input, sigs) {
        (None, None) => Ok(Vec::new()),
        // One field line each (the usual): the entries borrow the header values.
        (Some(Cow::Borrowed(input)), Some(Cow::Borrowed(sigs))) => parse_pair(input, sigs, limits),
        // Lines combined here, or a field missing: the entries own their strings.
        (input, sigs) => Ok(parse_pair(
            input.as_deref().unwrap_or(""),
            sigs.as_deref().unwrap_or(""),
            limits,
        )?
        .into_iter()
        .map(SignatureEntry::into_owned)
        .collect()),
    }
}

/// Parses the values of `Signature-Input` and `Signature` (each already combined from
/// its field lines with `", "`).
pub fn parse_pair<'a>(
    signature_input: &'a str,
    signature: &'a str,
    limits: &Limits,
) -> Result<Vec<SignatureEntry<'a>>, FieldError> {
    // The usual pair in one pass (`fields/direct.rs`); anything else, and every error,
    // through the general dictionaries below.
    if signature_input.len() <= limits.max_field_len
        && signature.len() <= limits.max_field_len
        && let Some(entries) = direct::parse_pair(signature_input, signature, limits)
    {
        return Ok(entries);
    }
    parse_pair_general(signature_input, signature, limits)
}

/// [`parse_pair`] through the general dictionary parser (`crate::borrowed`).
fn parse_pair_general<'a>(
    signature_input: &'a str,
    signature: &'a str,
    limits: &Limits,
) -> Result<Vec<SignatureEntry<'a>>, FieldError> {
    const SI: &str = "Signature-Input";
    const SIG: &str = "Signature";
    let inputs = parse_dictionary(signature_input, SI, limits)?;
    let mut signatures = parse_dictionary(signature, SIG, limits)?;
    let mut entries = Vec::with_capacity(inputs.len());
    for (label, text, entry) in &inputs {
        let Member::InnerList(list) = entry else {
            return Err(FieldError::WrongMemberType {
                field: SI,
                label: (*label).to_owned(),
                expected: "an Inner List of component identifiers",
            });
        };
        if list.items.len() > limits.max_components {
            return Err(FieldError::TooManyComponents {
                label: (*label).to_owned(),
                count: list.items.len(),
                limit: limits.max_components,
            });
        }
        let Some((_, _, sig_entry)) = signatures.iter_mut().find(|(l, _, _)| l == label) else {
            return Err(FieldError::UnpairedLabel {
                label: (*label).to_owned(),
                present: SI,
                absent: SIG,
            });
        };
        // Labels are unique in both fields (checked above), so each signature is
        // taken at most once.
        let signature = match sig_entry {
            Member::Item(item) if item.params.is_empty() => match &mut item.bare {
                BareItemFromInput::ByteSequence(bytes) => Some(std::mem::take(bytes)),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| FieldError::WrongMemberType {
            field: SIG,
            label: (*label).to_owned(),
            expected: "a Byte Sequence",
        })?;
        entries.push(SignatureEntry {
            label: Cow::Borrowed(label),
            params: SignatureParams::from_inner_list(label, list)?,
            params_text: Cow::Borrowed(text),
            signature,
        });
    }
    if let Some((label, _, _)) = signatures
        .iter()
        .find(|(l, _, _)| !inputs.iter().any(|(i, _, _)| i == l))
    {
        return Err(FieldError::UnpairedLabel {
            label: (*label).to_owned(),
            present: SIG,
            absent: SI,
        });
    }
    Ok(entries)
}

/// The field lines of `name` joined with `", "` (RFC 9110 §5.3), bounded; borrowed
/// when there is one line.
fn combined<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    display: &'static str,
    limits: &Limits,
) -> Result<Option<Cow<'h, str>>, FieldError> {
    let mut out: Option<Cow<'h, str>> = None;
    for value in headers.get_all(name) {
        let text =
            crate::message::visible_ascii(value.as_bytes()).ok_or(FieldError::NotAscii(display))?;
        let len = match &mut out {
            None => out.insert(Cow::Borrowed(text)).len(),
            Some(s) => {
                let s = s.to_mut();
                s.push_str(", ");
                s.push_str(text);
                s.len()
            }
        };
        if len > limits.max_field_len {
            return Err(FieldError::TooLong {
                field: display,
                len,
                limit: limits.max_field_len,
            });
        }
    }
    Ok(out)
}

/// Parses a dictionary and pairs each member with its raw text, refusing duplicate
/// keys (which the structured-field algorithm would silently collapse, RFC 9651
/// §4.2.2) and more members than `limits` allow.
fn parse_dictionary<'a>(
    value: &'a str,
    field: &'static str,
    limits: &Limits,
) -> Result<Vec<(&'a str, &'a str, Member<'a>)>, FieldError> {
    if value.len() > limits.max_field_len {
        return Err(FieldError::TooLong {
            field,
            len: value.len(),
            limit: limits.max_field_len,
        });
    }
    let dict = Dictionary::parse(value).map_err(|e| FieldError::Syntax {
        field,
        reason: e.to_string(),
    })?;
    // The text of each member as received, found by a scan of the (now validated)
    // value. (The usual pair, read by `direct.rs`, never gets here.)
    let raw = raw_members(value);
    check_labels(raw.iter().map(|m| m.key), field, limits)?;
    // With no duplicate keys, the dictionary's members are the raw members, in order.
    // (The scan may split a value the parser did not, e.g. at a `\"` ending a Display
    // String: then the counts or the keys differ, and the field is refused.)
    let entries = dict.into_entries();
    if raw.len() != entries.len() {
        return Err(FieldError::Syntax {
            field,
            reason: "members could not be delimited".to_owned(),
        });
    }
    raw.into_iter()
        .zip(entries)
        .map(|(member, (key, entry))| {
            if key.as_str() == member.key {
                Ok((member.key, member.value, entry))
            } else {
                Err(FieldError::Syntax {
                    field,
                    reason: format!("member `{}` could not be read", member.key),
                })
            }
        })
        .collect()
}

/// At most `limits.max_signatures` members, and no label twice.
fn check_labels<'a>(
    labels: impl ExactSizeIterator<Item = &'a str> + Clone,
    field: &'static str,
    limits: &Limits,
) -> Result<(), FieldError> {
    if labels.len() > limits.max_signatures {
        return Err(FieldError::TooManySignatures {
            count: labels.len(),
            limit: limits.max_signatures,
        });
    }
    for (i, label) in labels.clone().enumerate() {
        if labels.clone().take(i).any(|earlier| earlier == label) {
            return Err(FieldError::DuplicateLabel {
                field,
                label: label.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::SigParam;

    /// One field line each (the usual): the label, the parameters' text and the
    /// nonce borrow the header values. Lines combined here: the same entries, owned.
    #[test]
    fn entries_borrow_single_field_lines_and_own_combined_ones() {
        let input = r#"sig1=("@method");created=1;nonce="bm9uY2U""#;
        let mut headers = HeaderMap::new();
        headers.insert("signature-input", input.parse().unwrap());
        headers.insert("signature", "sig1=:YWJj:".parse().unwrap());
        let entries = parse_signatures(&headers, &Limits::default()).unwrap();
        let e = &entries[0];
        assert!(matches!(e.label, Cow::Borrowed("sig1")));
        assert!(matches!(e.params_text, Cow::Borrowed(t) if t == &input[5..]));
        assert!(matches!(
            e.params.params.as_slice(),
            [
                SigParam::Created(1),
                SigParam::Nonce(Cow::Borrowed("bm9uY2U"))
            ]
        ));

        headers.append("signature-input", r#"sig2=("@path")"#.parse().unwrap());
        headers.append("signature", "sig2=:AA==:".parse().unwrap());
        let combined = parse_signatures(&headers, &Limits::default()).unwrap();
        let both = format!(r#"{input}, sig2=("@path")"#);
        let joined = parse_pair(&both, "sig1=:YWJj:, sig2=:AA==:", &Limits::default()).unwrap();
        assert_eq!(combined, joined);
        assert!(combined.iter().all(|e| matches!(e.label, Cow::Owned(_))
            && matches!(e.params_text, Cow::Owned(_))));
    }

    #[test]
    fn pairs_labels_and_keeps_raw_params() {
        let e = parse_pair(
            r#"sig1=("@method"   "@path");created=1;keyid="k", sig2=("@status")"#,
            "sig2=:AAAA:, sig1=:YWJj:",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].label, "sig1");
        assert_eq!(
            e[0].params_text,
            r#"("@method"   "@path");created=1;keyid="k""#
        );
        assert_eq!(e[0].signature, b"abc");
        assert_eq!(e[0].params.keyid(), Some("k"));
    }

    #[test]
    fn duplicate_and_unpaired_labels_are_errors() {
        let l = Limits::default();
        assert_eq!(
            parse_pair(r#"a=("x"), a=("y")"#, "a=:AA==:", &l),
            Err(FieldError::DuplicateLabel {
                field: "Signature-Input",
                label: "a".into()
            })
        );
        assert_eq!(
            parse_pair(r#"a=("x")"#, "a=:AA==:, a=:AA==:", &l),
            Err(FieldError::DuplicateLabel {
                field: "Signature",
                label: "a".into()
            })
        );
        assert_eq!(
            parse_pair(r#"a=("x")"#, "b=:AA==:", &l),
            Err(FieldError::UnpairedLabel {
                label: "a".into(),
                present: "Signature-Input",
                absent: "Signature"
            })
        );
        assert_eq!(
            parse_pair(r#"a=("x")"#, "a=:AA==:, b=:AA==:", &l),
            Err(FieldError::UnpairedLabel {
                label: "b".into(),
                present: "Signature",
                absent: "Signature-Input"
            })
        );
    }

    #[test]
    fn wrong_types_and_limits_are_errors() {
        let l = Limits {
            max_field_len: 64,
            max_signatures: 2,
            max_components: 2,
        };
        assert!(matches!(
            parse_pair(r#"a="x""#, "a=:AA==:", &l),
            Err(FieldError::WrongMemberType { .. })
        ));
        assert!(matches!(
            parse_pair(r#"a=("x")"#, "a=1", &l),
            Err(FieldError::WrongMemberType { .. })
        ));
        assert!(matches!(
            parse_pair(r#"a=("x" "y" "z")"#, "a=:AA==:", &l),
            Err(FieldError::TooManyComponents { .. })
        ));
        assert!(matches!(
            parse_pair(r#"a=(), b=(), c=()"#, "a=:AA==:", &l),
            Err(FieldError::TooManySignatures { .. })
        ));
        assert!(matches!(
            parse_pair(&"a=()".repeat(40), "", &l),
            Err(FieldError::TooLong { .. })
        ));
        assert!(matches!(
            parse_pair(r#"a=(x)"#, "a=:AA==:", &l),
            Err(FieldError::InvalidComponent { .. })
        ));
        assert!(matches!(
            parse_pair(r#"a=();created="x""#, "a=:AA==:", &l),
            Err(FieldError::InvalidParameter { .. })
        ));
        assert!(matches!(
            parse_pair("a=(", "", &l),
            Err(FieldError::Syntax { .. })
        ));
    }

    #[test]
    fn syntax_errors_carry_the_structured_field_parsers_message() {
        let l = Limits::default();
        let syntax = |input: &str, sig: &str| match parse_pair(input, sig, &l) {
            Err(FieldError::Syntax { field, reason }) => format!("{field}: {reason}"),
            other => format!("{other:?}"),
        };
        assert_eq!(
            syntax("\tsig1=()", ""),
            "Signature-Input: expected start of key ('a'-'z' or '*') at index 0"
        );
        assert_eq!(
            syntax("sig1=(\"@method\"\t\"@path\")", ""),
            "Signature-Input: expected inner list delimiter (' ' or ')') at index 15"
        );
        assert_eq!(
            syntax("sig1=(), ", ""),
            "Signature-Input: trailing comma at index 7"
        );
        assert_eq!(
            syntax("sig1=()", "sig1=:YW=I:"),
            "Signature: invalid byte sequence at index 8"
        );
        assert_eq!(
            syntax("sig1=(\"a\\b\")", ""),
            "Signature-Input: invalid escape sequence at index 9"
        );
        assert_eq!(
            syntax("Sig1=()", ""),
            "Signature-Input: expected start of key ('a'-'z' or '*') at index 0"
        );
    }

    #[test]
    fn whitespace_empty_fields_and_escapes() {
        let l = Limits::default();
        // OWS around commas may be tabs; leading and trailing spaces are allowed.
        let e = parse_pair(
            "  sig1=(\"@method\");created=1,\tsig2=(\"@path\")  ",
            "sig2=:AA==:,\t sig1=:YWJj:",
            &l,
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].params_text, "(\"@method\");created=1");
        assert_eq!(e[1].signature, [0]);
        // Two empty fields are no signatures; one empty field leaves labels unpaired.
        assert_eq!(parse_pair("", "", &l), Ok(Vec::new()));
        assert!(matches!(
            parse_pair("", "sig1=:AA==:", &l),
            Err(FieldError::UnpairedLabel { .. })
        ));
        // An escaped string is read (by the full parser) like any other.
        let e = parse_pair(r#"sig1=();nonce="a\"b""#, "sig1=:AA==:", &l).unwrap();
        assert_eq!(e[0].params.nonce(), Some("a\"b"));
    }

    #[test]
    fn repeated_parameters_keep_their_first_place_and_last_value() {
        let e = parse_pair(
            r#"sig1=("x";sf;key="a";sf=?0);created=1;nonce="n";created=2"#,
            "sig1=:AA==:",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(e[0].params.created(), Some(2));
        assert_eq!(
            e[0].params.params,
            [SigParam::Created(2), SigParam::Nonce("n".into())]
        );
        assert_eq!(e[0].params.components[0].as_str(), r#""x";sf=?0;key="a""#);
    }

    #[test]
    fn a_display_string_ending_in_a_backslash_is_refused_as_before() {
        // RFC 9651 §4.2.10: in a Display String `\` is a plain character, so `%"t\"`
        // ends at its second `"`; the scan for member texts reads `\"` as a String
        // escape (§4.2.5) and splits the field elsewhere. The field is refused, with
        // the reason it always had (found by the `signature_fields` fuzz target).
        let input = r#"a=1, b=();k=%"t\";x, b=();n="a,b""#;
        assert_eq!(
            parse_pair(input, "", &Limits::default()),
            Err(FieldError::Syntax {
                field: "Signature-Input",
                reason: "members could not be delimited".into()
            })
        );
        crate::fuzzing::signature_fields(format!("{input}\n").as_bytes());
        crate::fuzzing::signature_fields(
            br#"sil44yd=1;key, sig2=("@status";req "example-dict";key;bs);noncevvvvvvvvvvvvvvvvvvvvvv84473;keyid=%"test-shaett\";keyd=1;key, sig2=("@status";req "example-dict";key;bs);nonce6vvvvvvvvvvvvvvvvvvvvvvv="a,b";pub=:iuem:
id=%""#,
        );
    }
}
