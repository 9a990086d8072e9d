//! The usual `Signature-Input` and `Signature` read straight into [`SignatureEntry`]s,
//! in one pass over each field, with no dictionary in between: what a verifier does
//! for every signed request.
//!
//! The usual pair is: in `Signature-Input`, labels each with an Inner List of component
//! identifiers (Strings without escapes and without parameters), followed by the
//! signature parameters of RFC 9421 §2.3 and draft-richer-oauth-httpsig-03 §4.2, each
//! once, each of its type (`created`, `expires` Integers; `nonce`, `alg`, `keyid`,
//! `tag` Strings; `pub` a Byte Sequence); in `Signature`, the same labels each with a
//! Byte Sequence; within the limits. Anything else, valid or not (a component parameter
//! such as `;sf`, a parameter of another name or repeated, a Boolean, a label without
//! its pair, a syntax error), makes it give up (`None`), and [`super::parse_pair`] reads
//! the fields through the general dictionary parser, which reports every error.
//!
//! So, as the one-pass dictionary reader it borrows its pieces from
//! (`borrowed/fast.rs`), it only ever has to be right about what it accepts: the same
//! entries the general path gives. The differential fuzz target `signature_fields`
//! compares [`super::parse_pair`] with the reference parser on every input.

use std::borrow::Cow;

use sfv::BareItemFromInput;

use super::{Limits, SignatureEntry};
use crate::borrowed::fast::Cursor;
use crate::components::ComponentId;
use crate::params::{SigParam, SignatureParams};

/// Reads the usual pair, or gives up. The fields' lengths are checked by the caller.
pub(super) fn parse_pair<'a>(
    signature_input: &'a str,
    signature: &'a str,
    limits: &Limits,
) -> Option<Vec<SignatureEntry<'a>>> {
    let (mut signatures, count) = signatures(signature, limits)?;
    let signatures = &mut signatures[..count];
    let mut entries: Vec<SignatureEntry> = Vec::with_capacity(count);
    let mut c = Cursor::new(signature_input);
    c.skip(|b| b == b' ');
    loop {
        let label = c.key_text()?;
        if entries.len() == limits.max_signatures || entries.iter().any(|e| e.label == label) {
            return None;
        }
        if !c.eat(b'=') {
            return None;
        }
        let start = c.position();
        let components = components(&mut c, limits.max_components)?;
        let params = params(&mut c)?;
        let params_text = c.since(start)?;
        // Labels are unique in both fields, so each signature is taken once.
        let signature = std::mem::take(
            signatures
                .iter_mut()
                .find_map(|(l, bytes)| (*l == label).then_some(bytes))?,
        );
        entries.push(SignatureEntry {
            label: Cow::Borrowed(label),
            params: SignatureParams { components, params },
            params_text: Cow::Borrowed(params_text),
            signature,
        });
        if !c.next_member()? {
            break;
        }
    }
    // A label of `Signature` without its `Signature-Input`: the general path says so.
    (entries.len() == count).then_some(entries)
}

/// The most signatures this reader takes (a request usually carries one): they are
/// kept on the stack until paired. More go through the general path.
const SIGNATURES: usize = 4;

/// The members of `Signature` and their number: unique labels, each with a Byte
/// Sequence without parameters, at most `limits.max_signatures` and [`SIGNATURES`].
#[allow(clippy::type_complexity)]
fn signatures<'a>(
    value: &'a str,
    limits: &Limits,
) -> Option<([(&'a str, Vec<u8>); SIGNATURES], usize)> {
    let mut out: [(&str, Vec<u8>); SIGNATURES] = Default::default();
    let mut count = 0;
    let mut c = Cursor::new(value);
    c.skip(|b| b == b' ');
    loop {
        let label = c.key_text()?;
        if count == limits.max_signatures.min(SIGNATURES)
            || out[..count].iter().any(|(l, _)| *l == label)
        {
            return None;
        }
        if !c.eat(b'=') || c.peek() != Some(b':') {
            return None;
        }
        let BareItemFromInput::ByteSequence(bytes) = c.bare_item()? else {
            return None;
        };
        if c.peek() == Some(b';') {
            return None;
        }
        out[count] = (label, bytes);
        count += 1;
        if !c.next_member()? {
            return Some((out, count));
        }
    }
}

/// The Inner List of component identifiers (§4.2.1.2): Strings without parameters,
/// separated by spaces, at most `max`.
fn components(c: &mut Cursor<'_>, max: usize) -> Option<Vec<ComponentId>> {
    if !c.eat(b'(') {
        return None;
    }
    let mut out = Vec::with_capacity(8);
    loop {
        c.skip(|b| b == b' ');
        if c.eat(b')') {
            return Some(out);
        }
        if out.len() == max {
            return None;
        }
        let name = c.plain_string()?;
        // A parameter (`;sf`, `;key="a"`) is left to the general path, and so is
        // anything but a space or the list's end after an item.
        if !matches!(c.peek(), Some(b' ' | b')')) {
            return None;
        }
        out.push(ComponentId::from_plain_name(name)?);
    }
}

/// The signature parameters after the Inner List (§4.2.3.2), each a known name with a
/// value of its type, none twice.
fn params<'a>(c: &mut Cursor<'a>) -> Option<Vec<SigParam<'a>>> {
    let mut out: Vec<SigParam<'a>> = Vec::with_capacity(6);
    while c.eat(b';') {
        c.skip(|b| b == b' ');
        let key = c.key_text()?;
        if !c.eat(b'=') {
            return None;
        }
        // The String parameters as text (no `StringRef` made and read back); any other
        // value of theirs, an escaped String included, is left to the general path.
        let text = |c: &mut Cursor<'a>| c.plain_string().map(Cow::Borrowed);
        let param = match key {
            "nonce" => SigParam::Nonce(text(c)?),
            "alg" => SigParam::Alg(text(c)?),
            "keyid" => SigParam::KeyId(text(c)?),
            "tag" => SigParam::Tag(text(c)?),
            _ => match (key, c.bare_item()?) {
                ("created", BareItemFromInput::Integer(n)) => SigParam::Created(n.into()),
                ("expires", BareItemFromInput::Integer(n)) => SigParam::Expires(n.into()),
                ("pub", BareItemFromInput::ByteSequence(bytes)) => SigParam::Pub(bytes),
                _ => return None,
            },
        };
        if out.iter().any(|p| p.name() == param.name()) {
            return None;
        }
        out.push(param);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a signer of this crate writes for an MCP request: the direct reader takes
    /// it (so the fast path is the one every signed request runs), and it gives what
    /// the general path gives.
    #[test]
    fn the_usual_pair_is_read_directly_and_as_the_general_path_reads_it() {
        let input = r#"sig1=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name");created=1700000000;expires=1700000060;nonce="bm9uY2U";keyid="k1";alg="ed25519";tag="mcp-httpsig", sig2=("@authority");pub=:iuem/w==:;tag="x""#;
        let sig = "sig2=:AAEC:,\tsig1=:YWJj:";
        let limits = Limits::default();
        let direct = parse_pair(input, sig, &limits).expect("read directly");
        assert_eq!(
            Ok(direct),
            super::super::parse_pair_general(input, sig, &limits)
        );
    }

    /// Limits small enough to reach with short fields.
    const SMALL: Limits = Limits {
        max_field_len: 1024,
        max_signatures: 2,
        max_components: 2,
    };

    /// The usual pair at the edges of what the reader takes: each is read directly (a
    /// reader that gave up on it would still be right, but slow), and as the general
    /// path reads it.
    #[test]
    fn the_usual_at_its_edges_is_read_directly() {
        let limits = SMALL;
        for (input, sig) in [
            (r#"a=("x" "y")"#, "a=:AA==:"),
            (r#"a=("x"), b=("y")"#, "b=:AA==:, a=:AA==:"),
            (r#"a=()"#, "a=::"),
            (r#"  a=("x")"#, "  a=:AA==:"),
            ("a=(\"x\") \t", "a=:AA==:\t "),
            (r#"a=(  "x"  "y" )"#, "a=:AA==:"),
            (r#"a=("x"); created=1;  nonce="n""#, "a=:AA==:"),
            // Every character a String may hold but `"` and `\`, in a nonce.
            (
                r#"a=("x");nonce=" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~""#,
                "a=:AA==:",
            ),
            ("a=(),\tb=()", "a=:AA==:\t,\tb=:AA==:"),
            (
                r#"a=();created=-999999999999999;expires=999999999999999"#,
                "a=:AA==:",
            ),
        ] {
            let direct = parse_pair(input, sig, &limits);
            assert!(
                direct.is_some(),
                "{input:?} / {sig:?} was not read directly"
            );
            assert_eq!(
                direct.ok_or(()),
                super::super::parse_pair_general(input, sig, &limits).map_err(|_| ()),
                "{input:?} / {sig:?}"
            );
        }
    }

    /// Pieces of the two fields, the usual first: what the structured pairs below are
    /// made of, so that the direct reader's accepting paths are taken often (random
    /// bytes rarely make a valid pair with matching labels).
    const LABELS: &[&str] = &["sig1", "sig2", "a", "sig1"];
    const COMPONENTS: &[&str] = &[
        "\"@method\"",
        "\"@target-uri\"",
        "\"content-digest\"",
        "\"x-custom\"",
        "\"X\"",
        "\"@nope\"",
        "\"a\";sf",
        "\"@query-param\";name=\"q\"",
        "\"a\\\"b\"",
        "\"\"",
        "tok",
        "1",
    ];
    const PARAMS: &[&str] = &[
        ";created=1700000000",
        ";expires=-5",
        ";nonce=\"n\"",
        ";alg=\"ed25519\"",
        ";keyid=\"k\"",
        ";tag=\"t\"",
        ";pub=:iuem/w==:",
        ";created=1.5",
        ";x=1",
        ";tag=?1",
        ";flag",
        "; created=2",
        ";nonce=\"a\\\\b\"",
        ";pub=\"s\"",
        ";created=1234567890123456",
    ];
    const SIGNATURES: &[&str] = &[
        ":YWJj:", ":AA==:", "::", ":YWJj:;p", "\"s\"", "?1", ":Y!Jj:",
    ];
    const SEPARATORS: &[&str] = &[", ", ",", ",\t", " , ", ",,", " ", "\t,"];
    /// Before a field, inside an Inner List's parentheses, after a field.
    const PADDING: &[&str] = &["", " ", "  ", "\t", " \t"];

    fn piece(pieces: &[&'static str], i: usize, usual: usize) -> &'static str {
        // Half the draws from the usual pieces (the first `usual`), half from all.
        if i.is_multiple_of(2) {
            pieces[(i / 2) % usual]
        } else {
            pieces[(i / 2) % pieces.len()]
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// Structured pairs, mostly usual, some not: the direct reader and the general
        /// path against the reference parser (`crate::fuzzing::signature_fields`).
        #[test]
        fn structured_pairs_parse_as_the_reference_does(
            members in proptest::collection::vec(
                (
                    0..LABELS.len(),
                    proptest::collection::vec(0usize..64, 0..5),
                    proptest::collection::vec(0usize..64, 0..7),
                    0usize..64,
                    0usize..64,
                ),
                1..4,
            ),
            reversed in proptest::bool::ANY,
            padding in proptest::collection::vec(0usize..64, 7),
            extra in proptest::option::weighted(0.1, 0..LABELS.len()),
        ) {
            let pad = |i: usize| piece(PADDING, padding[i], 1);
            let mut input = pad(0).to_owned();
            let mut labels = Vec::new();
            for (i, (label, components, params, _, separator)) in members.iter().enumerate() {
                if i > 0 {
                    input.push_str(piece(SEPARATORS, *separator, 1));
                }
                labels.push(LABELS[*label]);
                input.push_str(LABELS[*label]);
                input.push_str("=(");
                input.push_str(pad(1));
                let components: Vec<_> =
                    components.iter().map(|c| piece(COMPONENTS, *c, 4)).collect();
                // Items are separated by one or more spaces (a tab would end the list).
                let gap = if padding[2] % 2 == 0 { " " } else { "  " };
                input.push_str(&components.join(gap));
                input.push_str(pad(3));
                input.push(')');
                for p in params {
                    input.push_str(piece(PARAMS, *p, 7));
                }
            }
            let mut sig_members: Vec<String> = members
                .iter()
                .zip(&labels)
                .map(|((.., signature, _), label)| {
                    format!("{label}={}", piece(SIGNATURES, *signature, 2))
                })
                .collect();
            if reversed {
                sig_members.reverse();
            }
            if let Some(extra) = extra {
                sig_members.push(format!("{}=:AA==:", LABELS[extra]));
            }
            input.push_str(pad(4));
            let sig = format!("{}{}", pad(5), sig_members.join(piece(SEPARATORS, padding[6], 1)));
            crate::fuzzing::signature_fields(format!("{input}\n{sig}").as_bytes());
        }
    }

    /// Up to four signatures are read directly; a fifth, within the limits, sends the
    /// pair to the general path, which reads it the same way.
    #[test]
    fn more_than_four_signatures_go_through_the_general_path() {
        let labels = ["a", "b", "c", "d", "e"];
        let pair = |n: usize| {
            let input: Vec<_> = labels[..n].iter().map(|l| format!("{l}=()")).collect();
            let sig: Vec<_> = labels[..n].iter().map(|l| format!("{l}=:AA==:")).collect();
            (input.join(", "), sig.join(", "))
        };
        let limits = Limits::default();
        let (input, sig) = pair(4);
        assert_eq!(parse_pair(&input, &sig, &limits).map(|e| e.len()), Some(4));
        let (input, sig) = pair(5);
        assert!(parse_pair(&input, &sig, &limits).is_none());
        let general = super::super::parse_pair(&input, &sig, &limits).expect("five signatures");
        assert_eq!(general.len(), 5);
        crate::fuzzing::signature_fields(format!("{input}\n{sig}").as_bytes());
    }

    /// Each of these is valid or fails in the general path; none is read directly.
    #[test]
    fn the_unusual_is_left_to_the_general_path() {
        let limits = SMALL;
        for (input, sig) in [
            (r#"a=("x";sf)"#, "a=:AA==:"),
            (r#"a=("@query-param";name="q")"#, "a=:AA==:"),
            (r#"a=("x");created=1;created=2"#, "a=:AA==:"),
            (r#"a=("x");created=1.5"#, "a=:AA==:"),
            (r#"a=("x");nonce=tok"#, "a=:AA==:"),
            (r#"a=("x");other=1"#, "a=:AA==:"),
            (r#"a=("x");flag"#, "a=:AA==:"),
            (r#"a=("x" "y" "z")"#, "a=:AA==:"),
            (r#"a=("X")"#, "a=:AA==:"),
            (
                r#"a=("x"), b=("y"), c=("z")"#,
                "a=:AA==:, b=:AA==:, c=:AA==:",
            ),
            (r#"a=("x"), a=("y")"#, "a=:AA==:"),
            (r#"a=("x")"#, "a=:AA==:, a=:AA==:"),
            (r#"a=("x")"#, "a=:AA==:, b=:AA==:"),
            (r#"a=("x")"#, "b=:AA==:"),
            (r#"a=("x")"#, "a=:AA==:;p"),
            (r#"a=("x")"#, "a=\"s\""),
            (r#"a=("x"),"#, "a=:AA==:"),
            (r#"a=("x\"y")"#, "a=:AA==:"),
            // Characters a String cannot hold (%x20-7E only), in a name and in a
            // parameter: read as text here, checked as `StringRef` would check them.
            ("a=(\"x\ty\")", "a=:AA==:"),
            ("a=(\"x\u{7f}\")", "a=:AA==:"),
            ("a=(\"\u{e9}\")", "a=:AA==:"),
            ("a=(\"x\");nonce=\"n\tn\"", "a=:AA==:"),
            ("a=(\"x\");keyid=\"\u{1}\"", "a=:AA==:"),
            (r#"a=("x");alg=ed25519"#, "a=:AA==:"),
            (r#"a=("x")"#, ""),
            ("", "a=:AA==:"),
        ] {
            assert!(
                parse_pair(input, sig, &limits).is_none(),
                "{input:?} / {sig:?} was read directly"
            );
            crate::fuzzing::signature_fields(format!("{input}\n{sig}").as_bytes());
        }
    }
}
