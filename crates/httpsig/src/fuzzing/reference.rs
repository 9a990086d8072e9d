//! The reference for the differential `signature_fields` target: `Signature-Input` and
//! `Signature` parsed as this crate did before its borrowed parser, into sfv's owned
//! `Dictionary` (an index map with owned keys per field, per request). Kept only to be
//! compared with [`crate::fields::parse_pair`]; nothing else calls it.

use sfv::{Dictionary, FieldType as _, InnerList, ListEntry, Parser};

use crate::borrowed::{self, Member};
use crate::error::FieldError;
use crate::fields::{Limits, SignatureEntry};
use crate::params::{SigParam, SignatureParams};
use crate::structured::raw_members;

/// The reference `parse_pair`.
pub(super) fn parse_pair(
    signature_input: &str,
    signature: &str,
    limits: &Limits,
) -> Result<Vec<SignatureEntry<'static>>, FieldError> {
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
            label: (*label).to_owned().into(),
            params: from_inner_list(label, list)?,
            params_text: (*text).to_owned().into(),
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

fn from_inner_list(label: &str, list: &InnerList) -> Result<SignatureParams<'static>, FieldError> {
    let components = crate::components::components_of(
        label,
        list.items.iter().map(crate::components::owned_parts),
    )?;
    let invalid = |param: &str, expected| FieldError::InvalidParameter {
        label: label.to_owned(),
        param: param.to_owned(),
        expected,
    };
    let mut params = Vec::with_capacity(list.params.len());
    for (key, value) in &list.params {
        let key = key.as_str();
        let p = match key {
            "created" | "expires" => {
                let t = value
                    .as_integer()
                    .map(i64::from)
                    .ok_or_else(|| invalid(key, "an Integer"))?;
                if key == "created" {
                    SigParam::Created(t)
                } else {
                    SigParam::Expires(t)
                }
            }
            "nonce" | "alg" | "keyid" | "tag" => {
                let s = value
                    .as_string()
                    .map(|s| s.as_str().to_owned())
                    .ok_or_else(|| invalid(key, "a String"))?;
                match key {
                    "nonce" => SigParam::Nonce(s.into()),
                    "alg" => SigParam::Alg(s.into()),
                    "keyid" => SigParam::KeyId(s.into()),
                    _ => SigParam::Tag(s.into()),
                }
            }
            "pub" => SigParam::Pub(
                value
                    .as_byte_sequence()
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| invalid(key, "a Byte Sequence"))?,
            ),
            _ => SigParam::Other(key.to_owned(), value.clone()),
        };
        params.push(p);
    }
    Ok(SignatureParams { components, params })
}

/// Panics unless `value` parses to the same dictionary both ways (every member, value
/// and parameter, in the same order, the last of duplicate keys winning in the first
/// one's place) or fails both ways with the same message.
pub(crate) fn assert_same_dictionary(value: &str) {
    // The fast path reads what it accepts as sfv does, every member in order,
    // duplicates included.
    if let Some(fast) = borrowed::fast::parse(value) {
        match borrowed::Dictionary::parse_with_sfv(value) {
            Ok(slow) => assert_eq!(
                members(&fast),
                members(&slow),
                "the fast path reads {value:?} differently"
            ),
            Err(e) => panic!("the fast path accepts {value:?}, sfv does not: {e}"),
        }
    }
    let borrowed = borrowed::Dictionary::parse(value);
    let owned = Parser::new(value).parse::<Dictionary>();
    match (borrowed, owned) {
        (Ok(b), Ok(o)) => {
            let b = to_owned(&b);
            let pairs = |d: &Dictionary| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let (bp, op): (Vec<_>, Vec<_>) = (pairs(&b), pairs(&o));
            assert_eq!(bp, op, "members differ for {value:?}");
            // Equality of index maps ignores order; the serializations do not.
            assert_eq!(b.serialize(), o.serialize(), "order differs for {value:?}");
        }
        (Err(b), Err(o)) => assert_eq!(b.to_string(), o.to_string(), "errors differ for {value:?}"),
        (b, o) => panic!("{value:?}: borrowed {b:?}, owned {o:?}"),
    }
}

/// Every member, in order, duplicates included, in sfv's owned types; parameters as
/// `(key, value)` lists so that their order counts.
fn members(dict: &borrowed::Dictionary<'_>) -> Vec<(sfv::Key, String)> {
    dict.members
        .iter()
        .map(|(k, m)| ((*k).to_owned(), format!("{:?}", owned_entry(m))))
        .collect()
}

/// The borrowed dictionary as sfv's owned one, inserting members in order as sfv's
/// own visitor does.
fn to_owned(dict: &borrowed::Dictionary<'_>) -> Dictionary {
    let mut out = Dictionary::new();
    for (key, member) in &dict.members {
        out.insert((*key).to_owned(), owned_entry(member));
    }
    out
}

fn owned_entry(member: &Member<'_>) -> ListEntry {
    let params = |p: &borrowed::Params<'_>| -> sfv::Parameters {
        p.iter().map(|(k, v)| (k.to_owned(), v.into())).collect()
    };
    let item = |i: &borrowed::Item<'_>| sfv::Item {
        bare_item: i.bare().into(),
        params: params(&i.params),
    };
    match member {
        Member::Item(i) => ListEntry::Item(item(i)),
        Member::InnerList(l) => ListEntry::InnerList(InnerList {
            items: l.items.iter().map(item).collect(),
            params: params(&l.params),
        }),
    }
}
