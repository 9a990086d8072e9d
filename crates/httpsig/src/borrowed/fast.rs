//! The fast path of [`super::Dictionary::parse`]: one pass over the bytes for the
//! dictionaries signatures are made of (RFC 9651 §4.2.2): keys; Inner Lists and
//! Items; Strings without escapes, Byte Sequences, Integers, Booleans and Tokens;
//! parameters. Anything else (an escape, a Decimal, a Date, a Display String) and
//! anything malformed makes it give up (`None`), and the caller parses the value with
//! sfv's parser, which reads all of RFC 9651 and reports errors.
//!
//! So this parser only ever has to be right about what it accepts: it accepts a
//! subset of what sfv accepts and reads it to the same values. The differential fuzz
//! target `signature_fields` holds it to that.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sfv::{BareItemFromInput, Integer, KeyRef, StringRef, TokenRef};

use super::{Dictionary, InnerList, Item, Member, Params};

/// sfv's Byte Sequence decoding (RFC 9651 §4.2.7): the standard alphabet, padding
/// optional, non-zero trailing bits allowed.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// True when every byte is %x20-7E, the characters of a String (§4.2.5). A plain loop
/// without an early exit, which runs on whole vectors when optimized, and without a call
/// per byte unoptimized (the instruction guard counts the debug build, where a fold with
/// a closure cost 80 instructions a byte).
#[allow(
    clippy::manual_range_contains,
    reason = "`contains` would be a call per byte in the debug build"
)]
fn is_string_text(bytes: &[u8]) -> bool {
    let mut outside = false;
    for &b in bytes {
        outside |= (b < 0x20) | (b > 0x7e);
    }
    !outside
}

/// Parses `value`, or gives up.
pub(crate) fn parse(value: &str) -> Option<Dictionary<'_>> {
    let mut p = Cursor::new(value);
    p.skip(|b| b == b' ');
    let mut dict = Dictionary {
        members: Vec::with_capacity(2),
    };
    // §4.2.2; an empty field is left to sfv (an empty dictionary, cheap to read).
    while !p.at_end() {
        let key = p.key()?;
        let has_value = p.eat(b'=');
        let member = if has_value {
            if p.peek() == Some(b'(') {
                Member::InnerList(p.inner_list()?)
            } else {
                Member::Item(p.item()?)
            }
        } else {
            Member::Item(Item {
                bare: BareItemFromInput::Boolean(true),
                params: p.params()?,
            })
        };
        dict.members.push((key, member));
        if !p.next_member()? {
            return Some(dict);
        }
    }
    None
}

/// A position in a field value, and the readers of the pieces of RFC 9651 this path
/// knows; each gives up (`None`) on anything else. Also used by the direct reader of
/// the two signature fields (`fields/direct.rs`).
pub(crate) struct Cursor<'de> {
    input: &'de str,
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Cursor<'de> {
    /// At the start of `input`.
    pub(crate) fn new(input: &'de str) -> Self {
        Self {
            input,
            bytes: input.as_bytes(),
            at: 0,
        }
    }

    /// The offset of the next byte.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// True when every byte has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// After a dictionary member (§4.2.2): OWS, then the end (`false`) or a comma, OWS
    /// and another member (`true`); gives up on anything else, a trailing comma (an
    /// error, which sfv reports) included.
    pub(crate) fn next_member(&mut self) -> Option<bool> {
        let ows = |b| b == b' ' || b == b'\t';
        self.skip(ows);
        if self.at_end() {
            return Some(false);
        }
        if !self.eat(b',') {
            return None;
        }
        self.skip(ows);
        (!self.at_end()).then_some(true)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    pub(crate) fn skip(&mut self, class: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&class) {
            self.at += 1;
        }
    }

    /// The text from `start` to here (ASCII boundaries: every byte consumed is ASCII).
    pub(crate) fn since(&self, start: usize) -> Option<&'de str> {
        self.input.get(start..self.at)
    }

    /// §4.2.3.3: `lcalpha / "*"`, then `lcalpha / DIGIT / "_" / "-" / "." / "*"`.
    pub(crate) fn key(&mut self) -> Option<&'de KeyRef> {
        KeyRef::from_str(self.key_text()?).ok()
    }

    /// [`Self::key`] as text, for a reader that compares keys as text: the scan checks
    /// the grammar `KeyRef` checks, so none is made.
    pub(crate) fn key_text(&mut self) -> Option<&'de str> {
        let start = self.at;
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
        {
            return None;
        }
        self.skip(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        });
        self.since(start)
    }

    /// §4.2.1.2: `(` items separated by SP `)` and parameters.
    fn inner_list(&mut self) -> Option<InnerList<'de>> {
        self.at += 1; // `(`
        let mut list = InnerList {
            items: Vec::with_capacity(8),
            params: Params::default(),
        };
        loop {
            self.skip(|b| b == b' ');
            if self.eat(b')') {
                list.params = self.params()?;
                return Some(list);
            }
            list.items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
    }

    /// §4.2.3: a bare item and its parameters.
    fn item(&mut self) -> Option<Item<'de>> {
        let bare = self.bare_item()?;
        Some(Item {
            bare,
            params: self.params()?,
        })
    }

    /// §4.2.3.2: `;` SP* key, then `=` bare item or nothing (true); a repeated key
    /// overwrites the value in its first position, as in [`Params`].
    fn params(&mut self) -> Option<Params<'de>> {
        let mut params = Params::default();
        while self.eat(b';') {
            self.skip(|b| b == b' ');
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItemFromInput::Boolean(true)
            };
            params.set(key, value);
        }
        Some(params)
    }

    /// §4.2.3.1, the subset this path reads.
    pub(crate) fn bare_item(&mut self) -> Option<BareItemFromInput<'de>> {
        match self.peek()? {
            b'"' => self.string(),
            b':' => self.byte_sequence(),
            b'?' => {
                let value = match self.bytes.get(self.at + 1)? {
                    b'0' => false,
                    b'1' => true,
                    _ => return None,
                };
                self.at += 2;
                Some(BareItemFromInput::Boolean(value))
            }
            b'-' | b'0'..=b'9' => self.integer(),
            b if b.is_ascii_alphabetic() || b == b'*' => self.token(),
            _ => None,
        }
    }

    /// §4.2.5, without escapes: printable ASCII up to the closing `"`.
    fn string(&mut self) -> Option<BareItemFromInput<'de>> {
        let (text, end) = self.string_text()?;
        // Rejects anything outside %x20-7E.
        let s = StringRef::from_str(text).ok()?;
        self.at = end;
        Some(BareItemFromInput::String(Cow::Borrowed(s)))
    }

    /// [`Self::string`] as text, for a reader that takes Strings as text: the
    /// characters checked as `StringRef` checks them (%x20-7E), but in one pass
    /// without an early exit, which runs on whole vectors (a nonce or a key id is tens
    /// of bytes, read with every request).
    pub(crate) fn plain_string(&mut self) -> Option<&'de str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let (text, end) = self.string_text()?;
        if !is_string_text(text.as_bytes()) {
            return None;
        }
        self.at = end;
        Some(text)
    }

    /// The characters of the String whose opening `"` is the next byte, unchecked, and
    /// the offset just past its closing `"`; `None` at an escape. Nothing consumed.
    fn string_text(&self) -> Option<(&'de str, usize)> {
        let start = self.at + 1;
        // memchr: vectorized, where a byte loop costs instructions per byte.
        let len = memchr::memchr2(b'"', b'\\', self.bytes.get(start..)?)?;
        // A `\` starts an escape (or is an error): left to sfv. `StringRef` itself
        // would take it as a plain character, so it must not get here.
        if self.bytes.get(start + len) != Some(&b'"') {
            return None;
        }
        Some((self.input.get(start..start + len)?, start + len + 1))
    }

    /// §4.2.7: base64 between colons.
    fn byte_sequence(&mut self) -> Option<BareItemFromInput<'de>> {
        let (text, end) = self.byte_sequence_text()?;
        let decoded = BASE64.decode(text).ok()?;
        self.at = end;
        Some(BareItemFromInput::ByteSequence(decoded))
    }

    /// [`Self::byte_sequence`] decoded into `out` instead of a new vector: the decoded
    /// length, or `None` (nothing consumed) when the bytes are not base64 or `out` is
    /// shorter than their decoded length.
    pub(crate) fn byte_sequence_into(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.peek() != Some(b':') {
            return None;
        }
        let (text, end) = self.byte_sequence_text()?;
        let decoded = BASE64.decode_slice(text, out).ok()?;
        self.at = end;
        Some(decoded)
    }

    /// The base64 text of the Byte Sequence whose opening `:` is the next byte, and the
    /// offset just past its closing `:`; nothing consumed.
    fn byte_sequence_text(&self) -> Option<(&'de [u8], usize)> {
        let start = self.at + 1;
        let len = memchr::memchr(b':', self.bytes.get(start..)?)?;
        Some((self.bytes.get(start..start + len)?, start + len + 1))
    }

    /// §4.2.4, Integers only: `-`? 1 to 15 digits, not followed by `.`.
    fn integer(&mut self) -> Option<BareItemFromInput<'de>> {
        let start = self.at;
        self.eat(b'-');
        let digits = self.at;
        self.skip(|b| b.is_ascii_digit());
        if !(1..=15).contains(&(self.at - digits)) || self.peek() == Some(b'.') {
            return None;
        }
        let n: i64 = self.since(start)?.parse().ok()?;
        Some(BareItemFromInput::Integer(Integer::try_from(n).ok()?))
    }

    /// §4.2.6: `ALPHA / "*"`, then `tchar / ":" / "/"`.
    fn token(&mut self) -> Option<BareItemFromInput<'de>> {
        let start = self.at;
        self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
        Some(BareItemFromInput::Token(
            TokenRef::from_str(self.since(start)?).ok()?,
        ))
    }
}
