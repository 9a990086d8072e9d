//! The table of signed-request probes of the http-message-signatures profile: each
//! makes the valid signed request of [`Presenter::draft`], changes one thing before
//! signing (`before`) or on the wire after it (`after`), and names the answer the
//! profile requires (§10, §11.2). [`crate::httpsig_rs`] runs each one after the
//! unchanged request was accepted, so a refusal can only be for the change.

use mcp_auth_httpsig::{Algorithm, SigningKey};
use serde_json::json;

use crate::httpsig_answer::Expect;
use crate::httpsig_request::{Draft, Op, Presenter, Sig, byte_sequence, fresh_sig, nonce};

/// A change to a draft (before signing) or to the signed request (after).
pub type Change = fn(&mut Draft, &Presenter<'_>);

/// One probe: a valid signed request, one change, the answer required.
pub struct Probe {
    /// The requirement it checks (`HTTPSIG-RS-n`).
    pub id: &'static str,
    /// What it sends and what it expects, in one line.
    pub requirement: &'static str,
    /// The operation of the request.
    pub op: Op,
    /// The change before signing.
    pub before: Change,
    /// The change after signing.
    pub after: Change,
    /// The answer the profile requires.
    pub expect: Expect,
}

pub(crate) const fn probe(
    id: &'static str,
    requirement: &'static str,
    before: Change,
    after: Change,
    expect: Expect,
) -> Probe {
    Probe {
        id,
        requirement,
        op: Op::ToolCall,
        before,
        after,
        expect,
    }
}

/// No change.
pub(crate) fn keep(_: &mut Draft, _: &Presenter<'_>) {}

pub(crate) fn now() -> i64 {
    mcp_auth_core::unix_now()
}

pub(crate) fn stranger() -> Option<(SigningKey, Algorithm)> {
    SigningKey::generate(Algorithm::Ed25519)
        .ok()
        .map(|k| (k, Algorithm::Ed25519))
}

/// A valid signature by another key, with `tag`.
pub(crate) fn other_sig(label: &str, d: &Draft, tag: &str) -> Sig {
    let mut sig = fresh_sig(label, d.sigs[0].components.clone());
    sig.set_param("tag", format!("\"{tag}\""));
    sig.key = stranger();
    sig
}

/// The value of the first `name` line.
pub(crate) fn first(d: &Draft, name: &str) -> String {
    d.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The body of a `tools/call` of `name`, with `id` 1.
pub(crate) fn tool_call(name: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}})
        .to_string()
        .into_bytes()
}

/// The probes of the signature itself: coverage, target URI, tag and key
/// parameters, the signature fields, the signing key, the time window and the
/// nonce, in the order of the requirements.
pub static SIGNATURE_PROBES: &[Probe] = &[
    // HTTPSIG-RS-7 (profile §9.3): each required component, left out in turn.
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"@method\": 401 invalid_signature",
        |d, _| d.sig().uncover("@method"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"@target-uri\": 401 invalid_signature",
        |d, _| d.sig().uncover("@target-uri"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"authorization\": 401 invalid_signature",
        |d, _| d.sig().uncover("authorization"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"content-digest\" (header sent): 401 invalid_signature",
        |d, _| d.sig().uncover("content-digest"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"mcp-method\" (header sent): 401 invalid_signature",
        |d, _| d.sig().uncover("mcp-method"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a tools/call signature not covering \"mcp-name\" (header sent): 401 invalid_signature",
        |d, _| d.sig().uncover("mcp-name"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature not covering \"mcp-protocol-version\" (header sent): 401 invalid_signature",
        |d, _| d.sig().uncover("mcp-protocol-version"),
        keep,
        Expect::InvalidSignature,
    ),
    // Plain identifiers only: `;sf` of a canonical Dictionary signs the same value.
    probe(
        "HTTPSIG-RS-7",
        "\"content-digest\" covered as \"content-digest\";sf, not plainly: 401 invalid_signature",
        |d, _| {
            d.sig().uncover("content-digest");
            d.sig().components.push("\"content-digest\";sf".to_owned());
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a tools/call without Mcp-Name, its signature not covering it: 401 invalid_signature",
        |d, _| {
            d.sig().uncover("mcp-name");
            d.remove_header("mcp-name");
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a signature covering an extra component (content-type): accepted (extra components allowed)",
        |d, _| d.sig().cover("content-type"),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-7",
        "the signature labelled client-sig instead of sig: accepted (any label)",
        |d, _| d.sig().label = "client-sig".to_owned(),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-7",
        "the required components in reverse order: accepted (any order)",
        |d, _| d.sig().components.reverse(),
        keep,
        Expect::Accepted,
    ),
    Probe {
        id: "HTTPSIG-RS-7",
        requirement: "the probe request (no Mcp-Name) not covering \"mcp-method\": 401 invalid_signature, Accept-Signature without mcp-name",
        op: Op::Probe,
        before: |d, _| d.sig().uncover("mcp-method"),
        after: keep,
        expect: Expect::InvalidSignature,
    },
    // HTTPSIG-RS-11 (profile §14.6): @target-uri from configuration, with the query received.
    probe(
        "HTTPSIG-RS-11",
        "@target-uri signed for another host, sent with that Host and X-Forwarded-Host: 401 invalid_signature",
        |d, _| {
            let other = url::Url::parse(&d.url).map(|mut u| {
                let _ = u.set_host(Some("other-resource.example"));
                u.to_string()
            });
            d.target_uri = other.unwrap_or_default();
            d.append_header("host", "other-resource.example");
            d.append_header("x-forwarded-host", "other-resource.example");
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-11",
        "sent with ?conformance=1, @target-uri signed without the query: 401 invalid_signature",
        |d, _| d.url.push_str("?conformance=1"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-11",
        "sent with ?conformance=1, @target-uri signed with it: accepted",
        |d, _| {
            d.url.push_str("?conformance=1");
            d.target_uri = d.url.clone();
        },
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-10 (profile §9.3): the tag, and no key parameters.
    probe(
        "HTTPSIG-RS-10",
        "a signature without tag (no signature tagged httpsig-oauth): 401 invalid_signature",
        |d, _| d.sig().remove_param("tag"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-10",
        "a signature tagged httpsig-oauth-token-request: 401 invalid_signature",
        |d, _| d.sig().set_param("tag", "\"httpsig-oauth-token-request\""),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-10",
        "a signature tagged HTTPSIG-OAUTH (tags compare exactly): 401 invalid_signature",
        |d, _| d.sig().set_param("tag", "\"HTTPSIG-OAUTH\""),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-10",
        "a signature with alg=\"ed25519\": 401 invalid_signature",
        |d, _| d.sig().set_param("alg", "\"ed25519\""),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-10",
        "a signature with a keyid: 401 invalid_signature",
        |d, _| d.sig().set_param("keyid", "\"conformance-key\""),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-10",
        "a signature with pub (the bound key's own): 401 invalid_signature",
        |d, p| {
            let public = p.key.verifying_key().pub_bytes().unwrap_or_default();
            d.sig().set_param("pub", byte_sequence(&public));
        },
        keep,
        Expect::InvalidSignature,
    ),
    // HTTPSIG-RS-6 (profile §10 step 2): the signature fields.
    probe(
        "HTTPSIG-RS-6",
        "the bound token with HTTPSig and no Signature-Input nor Signature: 401 invalid_signature",
        keep,
        |d, _| {
            d.remove_header("signature-input");
            d.remove_header("signature");
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "Signature-Input without Signature: 401 invalid_signature",
        keep,
        |d, _| d.remove_header("signature"),
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "Signature without Signature-Input: 401 invalid_signature",
        keep,
        |d, _| d.remove_header("signature-input"),
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "Signature labelled other than Signature-Input (sig2 vs sig): 401 invalid_signature",
        keep,
        |d, _| {
            let value = first(d, "signature").replacen("sig=", "sig2=", 1);
            d.set_header("signature", value);
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "label sig twice in Signature-Input (two field lines): 400 invalid_request",
        keep,
        |d, _| {
            let value = first(d, "signature-input");
            d.append_header("signature-input", value);
        },
        Expect::InvalidRequest,
    ),
    probe(
        "HTTPSIG-RS-6",
        "label sig twice in Signature (two field lines): 400 invalid_request",
        keep,
        |d, _| {
            let value = first(d, "signature");
            d.append_header("signature", value);
        },
        Expect::InvalidRequest,
    ),
    probe(
        "HTTPSIG-RS-6",
        "an extra signature tagged otherwise, by another key: accepted (ignored)",
        |d, _| {
            let other = other_sig("other", d, "conformance-other");
            d.sigs.push(other);
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-6",
        "two valid httpsig-oauth signatures (sig, sig2): accepted (each satisfies §9.3)",
        |d, _| {
            let mut second = fresh_sig("sig2", d.sigs[0].components.clone());
            second.key = None;
            d.sigs.push(second);
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-6",
        "a second httpsig-oauth signature by another key beside a valid one: 401 invalid_signature",
        |d, _| {
            let other = other_sig("sig2", d, "httpsig-oauth");
            d.sigs.push(other);
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "9 signatures in one request (the valid one and 8 tagged otherwise): 401 invalid_signature",
        |d, _| {
            for i in 1..=8 {
                let mut extra = fresh_sig(&format!("s{i}"), d.sigs[0].components.clone());
                extra.set_param("tag", "\"conformance-other\"");
                d.sigs.push(extra);
            }
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "a signature covering 33 components: 401 invalid_signature",
        |d, _| {
            for i in 1..=26 {
                let name = format!("x-conformance-{i}");
                d.append_header(&name, "1");
                d.sig().cover(&name);
            }
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-6",
        "Signature-Input that does not parse: 401 invalid_signature",
        keep,
        |d, _| d.set_header("signature-input", "sig=(\"@method\";created=x"),
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a signature whose octets are changed: 401 invalid_signature",
        keep,
        |d, _| {
            let value = first(d, "signature");
            // Change a character away from the end, whose low bits base64 may ignore.
            let mut chars: Vec<char> = value.chars().collect();
            if let Some(c) = chars.get_mut(10) {
                *c = if *c == 'A' { 'B' } else { 'A' };
            }
            d.set_header("signature", chars.into_iter().collect::<String>());
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-4",
        "MCP-Protocol-Version changed after signing: 401 invalid_signature",
        keep,
        |d, _| {
            let other = if first(d, "mcp-protocol-version") == "2025-06-18" {
                "2025-11-25"
            } else {
                "2025-06-18"
            };
            d.set_header("mcp-protocol-version", other);
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-4",
        "Authorization replaced after signing by another token bound to the same key: 401 invalid_signature",
        keep,
        |d, p| {
            let other = p.token_with(|_| {});
            d.set_header("authorization", format!("HTTPSig {other}"));
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a request signed by a key other than the token's cnf: 401 invalid_signature",
        |d, _| d.sig().key = stranger(),
        keep,
        Expect::InvalidSignature,
    ),
    // HTTPSIG-RS-8 (profile §10 step 2, defaults max_age 30 s, future_skew 5 s).
    probe(
        "HTTPSIG-RS-8",
        "created 60 s ago (default max_age 30 s): 401 invalid_signature",
        |d, _| d.sig().set_param("created", (now() - 60).to_string()),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "created 60 s ahead (default future_skew 5 s): 401 invalid_signature",
        |d, _| d.sig().set_param("created", (now() + 60).to_string()),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "no created: 401 invalid_signature",
        |d, _| d.sig().remove_param("created"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "created a String, not an Integer: 401 invalid_signature",
        |d, _| {
            let created = now().to_string();
            d.sig().set_param("created", format!("\"{created}\""));
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "expires 15 s past (created 20 s ago): 401 invalid_signature",
        |d, _| {
            d.sig().set_param("created", (now() - 20).to_string());
            d.sig().set_param("expires", (now() - 15).to_string());
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "expires equal to created: 401 invalid_signature",
        |d, _| {
            let created = now();
            d.sig().set_param("created", created.to_string());
            d.sig().set_param("expires", created.to_string());
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-8",
        "expires 20 s ahead: accepted (expires is OPTIONAL)",
        |d, _| d.sig().set_param("expires", (now() + 20).to_string()),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-8",
        "created 10 s ago: accepted (within max_age)",
        |d, _| d.sig().set_param("created", (now() - 10).to_string()),
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-9 (profile §7.2, §9.3): 16 to 128 base64url characters.
    probe(
        "HTTPSIG-RS-9",
        "no nonce: 401 invalid_signature",
        |d, _| d.sig().remove_param("nonce"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-9",
        "a nonce of 15 characters: 401 invalid_signature",
        |d, _| {
            d.sig()
                .set_param("nonce", format!("\"{}\"", &nonce()[..15]))
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-9",
        "a nonce of 129 characters: 401 invalid_signature",
        |d, _| {
            d.sig()
                .set_param("nonce", format!("\"{}\"", long_nonce(129)))
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-9",
        "a nonce with characters outside base64url (+ / .): 401 invalid_signature",
        |d, _| {
            d.sig()
                .set_param("nonce", format!("\"{}+/.\"", &nonce()[..20]))
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-9",
        "a nonce of 16 and one of 128 characters: accepted (the bounds)",
        |d, _| {
            d.sig()
                .set_param("nonce", format!("\"{}\"", &nonce()[..16]));
            let mut second = fresh_sig("sig2", d.sigs[0].components.clone());
            second.set_param("nonce", format!("\"{}\"", long_nonce(128)));
            d.sigs.push(second);
        },
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-13 (profile §10 step 4): every signature's (thumbprint, nonce)
    // is inserted; the second insert of the same pair finds the first.
    probe(
        "HTTPSIG-RS-13",
        "two valid httpsig-oauth signatures with the same nonce in one request: 401 invalid_signature (replay)",
        |d, _| {
            let mut second = fresh_sig("sig2", d.sigs[0].components.clone());
            let shared = d.sigs[0]
                .params
                .iter()
                .find(|(n, _)| n == "nonce")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            second.set_param("nonce", shared);
            d.sigs.push(second);
        },
        keep,
        Expect::InvalidSignature,
    ),
];

/// A nonce of `len` base64url characters.
pub(crate) fn long_nonce(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.push_str(&nonce());
    }
    out.truncate(len);
    out
}
