//! The `Signature-Input` and `Signature` fields (RFC 9421 §4.1, §4.2).
//!
//! Parsing is bounded (field length, number of signatures, components per
//! signature) and strict: a label that appears twice, or in one field but not the
//! other, is an error rather than a "last one wins".

use http::HeaderMap;
use sfv::{Dictionary, ListEntry, Parser};

use crate::error::FieldError;
use crate::params::SignatureParams;
use crate::structured::raw_members;

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
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureEntry {
    /// The label (dictionary key).
    pub label: String,
    /// The parsed parameters.
    pub params: SignatureParams,
    /// The member value exactly as received, used verbatim in the signature base.
    pub params_text: String,
    /// The signature value.
    pub signature: Vec<u8>,
}

/// Reads every signature of a message (header fields only; trailers are not searched).
///
/// Returns an empty list when the message has neither field.
pub fn parse_signatures(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Vec<SignatureEntry>, FieldError> {
    let input = combined(headers, "signature-input", "Signature-Input", limits)?;
    let sigs = combined(headers, "signature", "Signature", limits)?;
    match (input, sigs) {
        (None, None) => Ok(Vec::new()),
        (input, sigs) => parse_pair(
            input.as_deref().unwrap_or(""),
            sigs.as_deref().unwrap_or(""),
            limits,
        ),
    }
}

/// Parses the values of `Signature-Input` and `Signature` (each already combined from
/// its field lines with `", "`).
pub fn parse_pair(
    signature_input: &str,
    signature: &str,
    limits: &Limits,
) -> Result<Vec<SignatureEntry>, FieldError> {
    const SI: &str = "Signature-Input";
    const SIG: &str = "Signature";
    let inputs = parse_dictionary(signature_input, SI, limits)?;
    let signatures = parse_dictionary(signature, SIG, limits)?;
    let mut entries = Vec::with_capacity(inputs.len());
    for (label, text, entry) in &inputs {
        let ListEntry::InnerList(list) = entry else {
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
        let Some((_, _, sig_entry)) = signatures.iter().find(|(l, _, _)| l == label) else {
            return Err(FieldError::UnpairedLabel {
                label: (*label).to_owned(),
                present: SI,
                absent: SIG,
            });
        };
        let signature = match sig_entry {
            ListEntry::Item(item) if item.params.is_empty() => item.bare_item.as_byte_sequence(),
            _ => None,
        }
        .ok_or_else(|| FieldError::WrongMemberType {
            field: SIG,
            label: (*label).to_owned(),
            expected: "a Byte Sequence",
        })?;
        entries.push(SignatureEntry {
            label: (*label).to_owned(),
            params: SignatureParams::from_inner_list(label, list)?,
            params_text: (*text).to_owned(),
            signature: signature.to_vec(),
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

/// The field lines of `name` joined with `", "` (RFC 9110 §5.3), bounded.
fn combined(
    headers: &HeaderMap,
    name: &str,
    display: &'static str,
    limits: &Limits,
) -> Result<Option<String>, FieldError> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| FieldError::NotAscii(display))?;
        let s = out.get_or_insert_with(String::new);
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(text);
        if s.len() > limits.max_field_len {
            return Err(FieldError::TooLong {
                field: display,
                len: s.len(),
                limit: limits.max_field_len,
            });
        }
    }
    Ok(out)
}

/// Parses a dictionary and pairs each parsed member with its raw text, refusing
/// duplicate keys (which the structured-field algorithm would silently collapse).
fn parse_dictionary<'a>(
    value: &'a str,
    field: &'static str,
    limits: &Limits,
) -> Result<Vec<(&'a str, &'a str, ListEntry)>, FieldError> {
    if value.len() > limits.max_field_len {
        return Err(FieldError::TooLong {
            field,
            len: value.len(),
            limit: limits.max_field_len,
        });
    }
    let dict: Dictionary = Parser::new(value).parse().map_err(|e| FieldError::Syntax {
        field,
        reason: e.to_string(),
    })?;
    let raw = raw_members(value);
    if raw.len() > limits.max_signatures {
        return Err(FieldError::TooManySignatures {
            count: raw.len(),
            limit: limits.max_signatures,
        });
    }
    for (i, member) in raw.iter().enumerate() {
        if raw[..i].iter().any(|m| m.key == member.key) {
            return Err(FieldError::DuplicateLabel {
                field,
                label: member.key.to_owned(),
            });
        }
    }
    // With no duplicate keys, the parser's members are the raw members, in order.
    if raw.len() != dict.len() {
        return Err(FieldError::Syntax {
            field,
            reason: "members could not be delimited".to_owned(),
        });
    }
    raw.into_iter()
        .zip(dict)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
