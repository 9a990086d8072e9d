//! Entry points for the fuzz targets in `fuzz/`, one per target; each takes arbitrary
//! bytes. They must never panic, except the differential ones on a disagreement.

use crate::fields::{Limits, parse_pair};

pub(crate) mod reference;

/// `Signature-Input` + `Signature` parsing, differential: the parser of
/// [`crate::fields`] (the direct reader of the usual pair, then sfv's parser through a
/// visitor into borrowed values) against
/// the reference, sfv's owned `Dictionary` and the conversion this crate used before
/// (`fuzzing/reference.rs`). They must agree on every input: the same entries, or the
/// same error with the same message; and each field alone must parse to the same
/// dictionary (members, parameters and their order), or fail with the same message.
/// Panics on a disagreement, which is what the fuzzer reports.
pub fn signature_fields(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (input, sig) = text.split_once('\n').unwrap_or((&text, ""));
    for limits in [
        Limits::default(),
        Limits {
            max_field_len: 64,
            max_signatures: 2,
            max_components: 2,
        },
    ] {
        let new = parse_pair(input, sig, &limits);
        let old = reference::parse_pair(input, sig, &limits);
        assert_eq!(new, old, "parse_pair disagrees on {input:?} / {sig:?}");
    }
    for field in [input, sig] {
        reference::assert_same_dictionary(field);
    }
}

/// Signature base construction over a message given as text, with the covered
/// components taken from its `Signature-Input`.
pub fn signature_base(data: &[u8]) {
    let Ok(msg) = crate::http1::Http1Message::parse(data) else {
        return;
    };
    let Ok(entries) = crate::fields::parse_signatures(&msg.headers, &Limits::default()) else {
        return;
    };
    let request = msg.request_view("https");
    let view = msg.view("https", request);
    for e in entries {
        let _ = crate::base::build(&view, &e.params.components, &e.params_text);
    }
}

/// `Content-Digest` and `Want-Content-Digest` parsing and verification.
pub fn digest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (value, body) = text.split_once('\n').unwrap_or((&text, ""));
    let field = crate::DigestField::Content;
    // The one-pass reader of the usual value accepts only what the general path does.
    // Random bytes rarely hold the body's digest, so the fuzzed text is also read after
    // and before a member that matches: the reader gets past it to the fuzzed part.
    let of = |algs: &[crate::DigestAlgorithm]| {
        let value = crate::digest::digest_value(body.as_bytes(), algs);
        value.to_str().unwrap_or_default().to_owned()
    };
    let sha256 = of(&[crate::DigestAlgorithm::Sha256]);
    let sha512 = of(&[crate::DigestAlgorithm::Sha512]);
    for value in [
        value.to_owned(),
        format!("{sha256}, {value}"),
        format!("{sha512}, {value}"),
        format!("{sha256}, {sha512}{value}"),
        format!("{value}, {sha256}"),
        format!("{sha256}{value}"),
    ] {
        let verified = crate::digest::verify_digest_value(field, &value, body.as_bytes());
        let general = crate::digest::verify_general(field, &value, body.as_bytes());
        assert_eq!(
            verified, general,
            "verify_digest_value disagrees on {value:?}"
        );
    }
    let _ = crate::digest::WantDigest::parse(value);
}

/// `Accept-Signature` parsing (and re-building), and covered-component lists.
pub fn accept_signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(requests) = crate::accept::parse_accept_signature(&text) {
        let _ = crate::accept::parse_accept_signature(&crate::build_accept_signature(&requests));
    }
    let _ = crate::components::ComponentId::parse_list(&text);
}

/// Ed25519 verification (`key/ed25519.rs`), differential: it must give the answer
/// ed25519-dalek's `verify_strict` gives, on any key, signature and message, and so must
/// the check with the key's table. Input: one mode byte, 32 bytes, 64 bytes, then the
/// message. Mode's low bit 0: the 32 bytes are the key and the 64 the signature, as
/// given. Low bit 1: the 32 bytes are a signing key's seed, and the 64 are XORed into its
/// signature of the message (all zero: it must verify), so that the fuzzer reaches
/// signatures that nearly verify. Mode's second bit: the table is built and checked too
/// (about 0.1 ms, four checks, so only then).
pub fn ed25519_verify(data: &[u8]) {
    static TABLES: crate::key::ed25519::TableBudget =
        crate::key::ed25519::TableBudget::new(usize::MAX);
    use ed25519_dalek::Signer;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((first, rest)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let Some((second, message)) = rest.split_first_chunk::<64>() else {
        return;
    };
    let (key, signature) = if mode & 1 == 0 {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(first) else {
            return;
        };
        (key, *second)
    } else {
        let signer = ed25519_dalek::SigningKey::from_bytes(first);
        let mut signature = signer.sign(message).to_bytes();
        for (byte, mask) in signature.iter_mut().zip(second) {
            *byte ^= mask;
        }
        (signer.verifying_key(), signature)
    };
    let ours = crate::key::ed25519::verify_strict(&key, message, &signature);
    let theirs = key
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
        .is_ok();
    assert_eq!(ours, theirs, "key {first:02x?} signature {signature:02x?}");
    if mode & 2 != 0 {
        let prepared = crate::key::ed25519::Ed25519Public::prepared_now(key, &TABLES);
        assert_eq!(prepared.is_prepared(), !key.to_edwards().is_small_order());
        assert_eq!(
            prepared.verify(message, &signature),
            theirs,
            "with a table: key {first:02x?} signature {signature:02x?}"
        );
    }
    if mode & 1 == 1 && second.iter().all(|b| *b == 0) {
        assert!(ours, "an honest signature must verify");
    }
}
