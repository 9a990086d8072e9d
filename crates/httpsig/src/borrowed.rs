//! A structured-field Dictionary (RFC 9651 §3.2) read without building owned maps:
//! the `Signature-Input` and `Signature` fields, once per verified message.
//!
//! The syntax is sfv's own parser, driven through its visitor API
//! ([`sfv::Parser::parse_dictionary_with_visitor`]), so what is accepted and rejected,
//! and the error reported, are exactly those of parsing into [`sfv::Dictionary`]. Only
//! the result differs: keys, tokens and strings without escapes borrow the input;
//! members, inner-list items and parameters go into small vectors instead of
//! index maps with owned keys. A one-pass reader of the usual subset (`fast.rs`) goes
//! first and hands anything else, errors included, to sfv.
//!
//! Two rules of the owned form are kept where they matter:
//!
//! - Parameters (§3.1.2, "Parsing Parameters"): a key seen again overwrites the
//!   earlier value and keeps the earlier position, as an index map does. The order
//!   is visible: it is the order of a component identifier's serialization in the
//!   signature base, and of a signature's parameters.
//! - Dictionary members (§4.2.2, "Parsing a Dictionary"): every member is kept, in
//!   order, duplicates included. The caller refuses duplicate labels (RFC 9421 §4.1
//!   wants them unique), so the "last one wins" of the owned form is never used.

use std::collections::HashMap;
use std::convert::Infallible;

pub(crate) mod fast;

use sfv::visitor::{
    DictionaryVisitor, EntryVisitor, InnerListVisitor, ItemVisitor, ParameterVisitor,
};
use sfv::{BareItemFromInput, KeyRef, Parser, RefBareItem};

/// Parameters in first-seen order, each with its last value.
#[derive(Debug, Default)]
pub(crate) struct Params<'de>(Unique<'de, BareItemFromInput<'de>>);

/// `(key, value)` pairs with unique keys: a key set again keeps its first position
/// and takes the new value, as inserting into an index map does. Linear search while
/// small (parameters and digest members are a handful); a hash index beyond that, so
/// that a field of thousands of repeated keys costs linear time, not quadratic.
#[derive(Debug)]
struct Unique<'de, V> {
    pairs: Vec<(&'de KeyRef, V)>,
    index: Option<HashMap<&'de str, usize>>,
}

/// Up to this many keys, a linear search.
const LINEAR: usize = 16;

/// The room made for the first key set.
const FIRST_CAPACITY: usize = 8;

impl<V> Default for Unique<'_, V> {
    fn default() -> Self {
        Self {
            pairs: Vec::new(),
            index: None,
        }
    }
}

impl<'de, V> Unique<'de, V> {
    fn set(&mut self, key: &'de KeyRef, value: V) {
        let found = match &self.index {
            Some(index) => index.get(key.as_str()).copied(),
            None => self.pairs.iter().position(|(k, _)| *k == key),
        };
        if let Some(slot) = found.and_then(|i| self.pairs.get_mut(i)) {
            slot.1 = value;
            return;
        }
        if self.pairs.capacity() == 0 {
            // A signature's parameters are usually four to six: one allocation, no
            // growing on the way.
            self.pairs.reserve_exact(FIRST_CAPACITY);
        }
        self.pairs.push((key, value));
        match &mut self.index {
            Some(index) => {
                index.insert(key.as_str(), self.pairs.len() - 1);
            }
            None if self.pairs.len() > LINEAR => {
                self.index = Some(
                    self.pairs
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.as_str(), i))
                        .collect(),
                );
            }
            None => {}
        }
    }
}

impl<'de> Params<'de> {
    /// True without parameters.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.pairs.is_empty()
    }

    /// Number of parameters.
    pub(crate) fn len(&self) -> usize {
        self.0.pairs.len()
    }

    /// The parameters as borrowed items, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'de KeyRef, RefBareItem<'_>)> + Clone + '_ {
        self.0.pairs.iter().map(|(k, v)| (*k, RefBareItem::from(v)))
    }
}

impl<'de> Params<'de> {
    /// Adds a parameter. RFC 9651 §4.2.3.2: a repeated key overwrites; the index map
    /// of the owned form keeps the first position, and so does this.
    fn set(&mut self, key: &'de KeyRef, value: BareItemFromInput<'de>) {
        self.0.set(key, value);
    }
}

impl<'de> ParameterVisitor<'de> for &mut Params<'de> {
    type Out = ();
    type Error = Infallible;

    fn parameter(
        &mut self,
        key: &'de KeyRef,
        value: BareItemFromInput<'de>,
    ) -> Result<(), Infallible> {
        self.set(key, value);
        Ok(())
    }

    fn finish(self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// An Item: a bare item and its parameters.
#[derive(Debug)]
pub(crate) struct Item<'de> {
    /// The bare item (a byte sequence is decoded; it can be taken out).
    pub(crate) bare: BareItemFromInput<'de>,
    /// Its parameters.
    pub(crate) params: Params<'de>,
}

impl Item<'_> {
    /// The bare item, borrowed.
    pub(crate) fn bare(&self) -> RefBareItem<'_> {
        RefBareItem::from(&self.bare)
    }
}

/// An Inner List: items and the list's own parameters.
#[derive(Debug, Default)]
pub(crate) struct InnerList<'de> {
    /// The items, in order.
    pub(crate) items: Vec<Item<'de>>,
    /// The parameters of the list.
    pub(crate) params: Params<'de>,
}

/// A dictionary member's value.
#[derive(Debug)]
pub(crate) enum Member<'de> {
    /// An Item (a key without `=` is the Boolean true, with parameters).
    Item(Item<'de>),
    /// An Inner List.
    InnerList(InnerList<'de>),
}

/// Every member of a Dictionary, in order, duplicates included.
#[derive(Debug, Default)]
pub(crate) struct Dictionary<'de> {
    /// `(key, value)` as parsed.
    pub(crate) members: Vec<(&'de KeyRef, Member<'de>)>,
}

impl<'de> Dictionary<'de> {
    /// Parses `value` as a Dictionary: exactly the syntax, and the error, of
    /// `sfv::Parser::new(value).parse::<sfv::Dictionary>()`.
    pub(crate) fn parse(value: &'de str) -> Result<Self, sfv::Error> {
        match fast::parse(value) {
            Some(dict) => Ok(dict),
            None => Self::parse_with_sfv(value),
        }
    }

    /// The same, always with sfv's parser (the fast path's reference).
    pub(crate) fn parse_with_sfv(value: &'de str) -> Result<Self, sfv::Error> {
        Parser::new(value).parse_dictionary_with_visitor(Dictionary::default())
    }

    /// The members as RFC 9651 §4.2.2 defines the dictionary: each key once, at its
    /// first position, with its last value (what `sfv::Dictionary` holds).
    pub(crate) fn into_entries(self) -> Vec<(&'de KeyRef, Member<'de>)> {
        let members = &self.members;
        let repeats = members.len() > LINEAR
            || (1..members.len()).any(|i| members[..i].iter().any(|(k, _)| *k == members[i].0));
        if !repeats {
            // The usual field: nothing to merge, nothing to move.
            return self.members;
        }
        let mut unique = Unique::default();
        for (key, member) in self.members {
            unique.set(key, member);
        }
        unique.pairs
    }
}

impl<'de> DictionaryVisitor<'de> for Dictionary<'de> {
    type Out = Self;
    type Error = Infallible;

    fn entry(&mut self, key: &'de KeyRef) -> Result<impl EntryVisitor<'de>, Infallible> {
        Ok(NewMember {
            members: &mut self.members,
            key,
        })
    }

    fn finish(self) -> Result<Self, Infallible> {
        Ok(self)
    }
}

/// The member being parsed: pushed once its kind is known.
struct NewMember<'a, 'de> {
    members: &'a mut Vec<(&'de KeyRef, Member<'de>)>,
    key: &'de KeyRef,
}

impl<'a, 'de> NewMember<'a, 'de> {
    fn push(self, member: Member<'de>) -> &'a mut Member<'de> {
        self.members.push((self.key, member));
        let last = self.members.len() - 1;
        &mut self.members[last].1
    }
}

impl<'de> EntryVisitor<'de> for NewMember<'_, 'de> {
    type Error = MemberKind;

    fn item(self) -> Result<impl ItemVisitor<'de>, MemberKind> {
        Ok(self)
    }

    fn inner_list(self) -> Result<impl InnerListVisitor<'de>, MemberKind> {
        match self.push(Member::InnerList(InnerList::default())) {
            Member::InnerList(list) => Ok(list),
            Member::Item(_) => Err(MemberKind),
        }
    }
}

impl<'de> ItemVisitor<'de> for NewMember<'_, 'de> {
    type Out = ();
    type Error = MemberKind;

    fn bare_item(
        self,
        bare: BareItemFromInput<'de>,
    ) -> Result<impl ParameterVisitor<'de, Out = ()>, MemberKind> {
        let item = Item {
            bare,
            params: Params::default(),
        };
        match self.push(Member::Item(item)) {
            Member::Item(item) => Ok(&mut item.params),
            Member::InnerList(_) => Err(MemberKind),
        }
    }
}

/// The branch of matching the member just pushed that cannot be taken (it was pushed
/// as the kind matched). An error rather than a panic: were it ever reached, sfv
/// would report it as a parse error.
#[derive(Debug, thiserror::Error)]
#[error("a dictionary member changed kind while parsed")]
struct MemberKind;

impl<'de> InnerListVisitor<'de> for &mut InnerList<'de> {
    type Error = Infallible;

    fn item(&mut self) -> Result<impl ItemVisitor<'de>, Infallible> {
        Ok(NewItem(&mut self.items))
    }

    fn finish(self) -> Result<impl ParameterVisitor<'de>, Infallible> {
        Ok(&mut self.params)
    }
}

/// The next item of an inner list.
struct NewItem<'a, 'de>(&'a mut Vec<Item<'de>>);

impl<'de> ItemVisitor<'de> for NewItem<'_, 'de> {
    type Out = ();
    type Error = Infallible;

    fn bare_item(
        self,
        bare: BareItemFromInput<'de>,
    ) -> Result<impl ParameterVisitor<'de, Out = ()>, Infallible> {
        self.0.push(Item {
            bare,
            params: Params::default(),
        });
        let last = self.0.len() - 1;
        Ok(&mut self.0[last].params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::signature_fields;

    /// Edge cases of RFC 9651 §4.2 for the two signature fields: each must parse the
    /// same way with the fast path, sfv through the visitor, and sfv's owned
    /// `Dictionary` (the differential of the `signature_fields` fuzz target).
    const CASES: &[&str] = &[
        "",
        " ",
        "\t",
        ",",
        "sig1",
        "sig1=",
        "sig1=()",
        "sig1=( )",
        "sig1=(\"@method\")",
        "  sig1=(\"@method\" \"@path\")  ",
        "sig1=(\"@method\"  \"@path\");created=1;nonce=\"n\";tag=\"t\"",
        "sig1=(\"@method\"\t\"@path\")",
        "sig1=(\"@method\"\"@path\")",
        "sig1=(\"@method\");created=1,\tsig2=(\"@path\")",
        "\tsig1=()",
        "sig1=(), ",
        "sig1=(),,sig2=()",
        "sig1=() sig2=()",
        "sig1=();created=1;created=2;nonce=\"a\";created=3",
        "sig1=(\"x\";sf;key=\"a\";sf=?0)",
        "sig1=(), sig1=(\"@path\")",
        "a=1, b=2, a=3",
        "sig1=:YWJj:",
        "sig1=:YWJj",
        "sig1=:YWJ:",
        "sig1=:YWI=:",
        "sig1=:YWI:",
        "sig1=:YW=I:",
        "sig1=:Y!Jj:",
        "sig1=::",
        "sig1=:YWJj:;x",
        "sig1=\"a\\\"b\"",
        "sig1=\"a\\\\b\"",
        "sig1=\"a\\b\"",
        "sig1=\"a\\",
        "sig1=\"\u{7f}\"",
        "sig1=\"é\"",
        "sig1=%\"caf%c3%a9\"",
        "sig1=@1700000000",
        "sig1=1.5",
        "sig1=1.",
        "sig1=123456789012345",
        "sig1=1234567890123456",
        "sig1=-0",
        "sig1=-",
        "sig1=?1;a;b=?0",
        "sig1=?2",
        "sig1=tok/en:x*",
        "sig1=*",
        "Sig1=()",
        "*sig=()",
        "s_i-g.1*=()",
        "sig1=();created=-1;expires=999999999999999",
        "sig1=(\"@query-param\";name=\"a b\")",
        "sig1=();pub=:iuem/cj+=:;tag=\"t\"",
        "sig1=();a=:=:",
        "sig1=(\"a\" (\"b\"))",
        "sig1=(\"a\";)",
        "sig1=(\"a\"; b)",
        "sig1=();;",
        "sig1=() ;a",
    ];

    #[test]
    fn each_case_parses_as_sfv_does() {
        for case in CASES {
            crate::fuzzing::reference::assert_same_dictionary(case);
        }
    }

    #[test]
    fn pairs_of_cases_give_the_entries_or_errors_of_the_reference() {
        for input in CASES {
            for sig in [
                "",
                "sig1=:YWJj:",
                "sig1=:YWJj:, sig2=:AA==:",
                "sig1=(), sig1=:AA:",
            ] {
                signature_fields(format!("{input}\n{sig}").as_bytes());
                signature_fields(format!("{sig}\n{input}").as_bytes());
            }
        }
    }

    #[test]
    fn the_fuzz_corpus_agrees() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/signature_fields"
        );
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if let Ok(data) = std::fs::read(entry.path()) {
                signature_fields(&data);
                seen += 1;
            }
        }
        assert!(seen > 0, "no corpus in {dir}");
    }

    /// Pieces of the two fields, valid and not, joined at random: structure the fuzzer
    /// finds slowly from bytes (an escape in a parameter, a duplicate after a tab).
    const FRAGMENTS: &[&str] = &[
        "sig1",
        "sig2",
        "a",
        "*",
        "=",
        "(",
        ")",
        " ",
        "  ",
        "\t",
        ",",
        ";",
        "\"@method\"",
        "\"content-digest\"",
        "\"x\"",
        "\"\"",
        "\"a\\\"b\"",
        "\"\\",
        ":YWJj:",
        ":AA==:",
        ":",
        "created",
        "nonce",
        "tag",
        "pub",
        "=1",
        "=-5",
        "=?1",
        "?0",
        "=1.5",
        "=@1",
        "%\"a\"",
        "tok/en",
        "sf",
        "key",
        "\"",
        "\u{7f}",
        "é",
        "1234567890123456",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn random_fields_parse_as_sfv_does(
            input in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24),
            sig in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..12),
        ) {
            let (input, sig) = (input.concat(), sig.concat());
            crate::fuzzing::reference::assert_same_dictionary(&input);
            signature_fields(format!("{input}\n{sig}").as_bytes());
        }
    }

    #[test]
    fn parameters_keep_the_first_position_and_the_last_value() {
        let dict = Dictionary::parse("a=();x=1;y=2;x=3").unwrap();
        let Member::InnerList(list) = &dict.members[0].1 else {
            panic!("not an inner list")
        };
        let params: Vec<_> = list
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_integer().map(i64::from)))
            .collect();
        assert_eq!(params, [("x", Some(3)), ("y", Some(2))]);
    }

    #[test]
    fn duplicate_members_are_all_kept_in_order() {
        let dict = Dictionary::parse("a=1, b=2, a=3").unwrap();
        let keys: Vec<_> = dict.members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "a"]);
        // The dictionary RFC 9651 defines: `a` once, first, with its last value.
        let entries: Vec<_> = dict
            .into_entries()
            .into_iter()
            .map(|(k, m)| match m {
                Member::Item(i) => (k.as_str(), i.bare.as_integer().map(i64::from)),
                Member::InnerList(_) => (k.as_str(), None),
            })
            .collect();
        assert_eq!(entries, [("a", Some(3)), ("b", Some(2))]);
    }

    #[test]
    fn repeated_keys_cost_linear_time() {
        let params = format!("a=(){}", ";x=1".repeat(50_000));
        let dict = Dictionary::parse(&params).unwrap();
        let Member::InnerList(list) = &dict.members[0].1 else {
            panic!("not an inner list")
        };
        assert_eq!(list.params.len(), 1);
        let members = "a=:AA==:, ".repeat(50_000);
        let dict = Dictionary::parse(members.trim_end_matches([',', ' '])).unwrap();
        assert_eq!(dict.into_entries().len(), 1);
        let distinct: String = (0..20_000).map(|i| format!("k{i}=1, ")).collect();
        let dict = Dictionary::parse(distinct.trim_end_matches([',', ' '])).unwrap();
        assert_eq!(dict.into_entries().len(), 20_000);
        crate::fuzzing::reference::assert_same_dictionary(&params);
    }

    #[test]
    fn huge_inputs_parse_without_trouble() {
        let many = "sig=(\"@method\"), ".repeat(10_000);
        crate::fuzzing::reference::assert_same_dictionary(&many);
        let long = format!("sig=:{}:", "A".repeat(100_000));
        crate::fuzzing::reference::assert_same_dictionary(&long);
        let deep = format!("sig=({})", "\"x\" ".repeat(10_000));
        crate::fuzzing::reference::assert_same_dictionary(&deep);
        let unterminated = format!("sig=\"{}", "x".repeat(100_000));
        crate::fuzzing::reference::assert_same_dictionary(&unterminated);
    }
}
