//! Every example of RFC 9421 (§2 components, §2.3, §2.4, §2.5, §3, §4.3, §5, B.2.1–B.2.6,
//! B.3, B.4), transcribed in `tests/vectors/rfc9421/` (see its README for the
//! errors of the RFC the transcription found and how each is recorded).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use http::HeaderValue;
use mcp_auth_httpsig::http1::Http1Message;
use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestError, Limits, Message, RequestView, Signer, VerificationPolicy,
    Verifier, VerifyError, base, parse_signatures,
};
use serde_json::Value;

/// Where a vector's message goes: its target URI, and the related request (and its
/// target URI) for `req` components.
struct Context {
    scheme: String,
    authority: Option<String>,
    request: Option<Http1Message>,
    request_scheme: String,
    request_authority: Option<String>,
}

impl Context {
    fn of(case: &Value) -> Self {
        let (scheme, authority) = common::scheme_authority(str_field(case, "target_uri"));
        let (request_scheme, request_authority) =
            common::scheme_authority(str_field(case, "request_target_uri"));
        Self {
            scheme,
            authority,
            request: str_field(case, "request").map(common::message),
            request_scheme,
            request_authority,
        }
    }

    fn view<'a>(&'a self, msg: &'a Http1Message) -> Message<'a> {
        let request: Option<RequestView<'a>> = self.request.as_ref().map(|m| {
            let r = m.request_view(&self.request_scheme).unwrap();
            match &self.request_authority {
                Some(a) => r.with_authority(a),
                None => r,
            }
        });
        match msg.view(&self.scheme, request) {
            Message::Request(r) => match &self.authority {
                Some(a) => Message::Request(r.with_authority(a)),
                None => Message::Request(r),
            },
            other => other,
        }
    }
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// §2.1–§2.4 (and §7 lines): each component example builds exactly the RFC's base line,
/// and each error example fails.
#[test]
fn rfc9421_section_2_component_lines() {
    let cases = common::json("rfc9421/components.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 60, "all component examples are transcribed");
    for case in cases {
        let section = str_field(case, "section").unwrap();
        let msg = common::message(str_field(case, "message").unwrap());
        let ctx = Context::of(case);
        let message = ctx.view(&msg);
        let identifier = str_field(case, "identifier").unwrap();
        let result = ComponentId::parse(identifier)
            .map_err(|e| e.to_string())
            .and_then(|id| base::build(&message, &[id], "()").map_err(|e| e.to_string()));
        match str_field(case, "line") {
            Some(line) => {
                let base = result.unwrap_or_else(|e| panic!("§{section} {identifier}: {e}"));
                let first = base.split('\n').next().unwrap();
                assert_eq!(first, line, "§{section} {identifier}");
            }
            None => assert!(
                result.is_err(),
                "§{section} {identifier} must fail ({})",
                str_field(case, "error").unwrap_or("")
            ),
        }
    }
}

/// §2.3, §4.1, §4.2, §4.3, §5.1 field examples parse to the recorded components and
/// parameters, and §2.3's parameter order survives serialization.
#[test]
fn rfc9421_signature_fields_parse() {
    let cases = common::json("rfc9421/fields.json");
    for case in cases.as_array().unwrap() {
        let section = str_field(case, "section").unwrap();
        let field = str_field(case, "field");
        let value = str_field(case, "value").unwrap();
        match field {
            Some("Accept-Signature") => {
                let parsed = mcp_auth_httpsig::parse_accept_signature(value).unwrap();
                assert!(!parsed.is_empty(), "§{section}");
            }
            Some("Signature") => {
                let dict: sfv::Dictionary = sfv::Parser::new(value).parse().unwrap();
                assert!(!dict.is_empty(), "§{section}");
            }
            _ => {
                // A Signature-Input value, or a bare @signature-params value.
                let input = if field.is_some() {
                    value.to_owned()
                } else {
                    format!("x={value}")
                };
                let labels: Vec<String> = sfv::Parser::new(input.as_str())
                    .parse::<sfv::Dictionary>()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().to_owned())
                    .collect();
                let sig = labels
                    .iter()
                    .map(|l| format!("{l}=:AA==:"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let entries =
                    mcp_auth_httpsig::fields::parse_pair(&input, &sig, &Limits::default()).unwrap();
                if let Some(components) = case.get("components").and_then(Value::as_array) {
                    let got: Vec<&str> = entries[0]
                        .params
                        .components
                        .iter()
                        .map(|c| c.as_str())
                        .collect();
                    let want: Vec<&str> = components.iter().map(|c| c.as_str().unwrap()).collect();
                    assert_eq!(got, want, "§{section}");
                    assert_eq!(
                        entries[0].params.serialize().unwrap(),
                        entries[0].params_text,
                        "§{section}: strict serialization round-trips"
                    );
                }
            }
        }
    }
}

fn policy_for(label: &str) -> VerificationPolicy {
    let mut p = VerificationPolicy {
        label: Some(label.to_owned()),
        require_digest_with_body: false,
        ..VerificationPolicy::default()
    };
    p.allowed_algorithms.push(Algorithm::HmacSha256);
    p
}

/// A message with the vector's Signature-Input / Signature values set.
fn signed(case: &Value, name: &str) -> Http1Message {
    let mut msg = common::message(name);
    msg.set_header(
        "Signature-Input",
        HeaderValue::from_str(str_field(case, "signature_input").unwrap()).unwrap(),
    );
    msg.set_header(
        "Signature",
        HeaderValue::from_str(str_field(case, "signature").unwrap()).unwrap(),
    );
    msg
}

/// §2.5, §3.2, §2.4, §4.3, B.2.1–B.2.6, B.3, B.4: the base is the RFC's, the signature
/// verifies (or, for the negative examples, fails) with the RFC key, and deterministic
/// algorithms reproduce the RFC's bytes.
#[test]
fn rfc9421_signature_examples() {
    let cases = common::json("rfc9421/signatures.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut verified = 0;
    for case in cases {
        let section = str_field(case, "section").unwrap();
        let label = str_field(case, "label").unwrap();
        let alg: Algorithm = str_field(case, "alg").unwrap().parse().unwrap();
        let key_name = str_field(case, "key").unwrap();
        let key = common::verifying_key(key_name, alg);
        let name = str_field(case, "corrected_message")
            .or(str_field(case, "message"))
            .unwrap();
        let msg = signed(case, name);
        let ctx = Context::of(case);
        let message = ctx.view(&msg);
        let verifier = Verifier::new(policy_for(label));
        let result = verifier.verify(&message, &msg.body, &key, 1_618_884_480);
        let entry = parse_signatures(&msg.headers, &Limits::default())
            .unwrap()
            .into_iter()
            .find(|e| e.label == label)
            .unwrap();
        let built = base::build(&message, &entry.params.components, &entry.params_text).unwrap();
        if case.get("verifies").and_then(Value::as_bool) == Some(true) {
            assert_eq!(
                built,
                str_field(case, "base").unwrap(),
                "§{section} {label}: base"
            );
            let ok = result.unwrap_or_else(|e| panic!("§{section} {label}: {e}"));
            assert_eq!(ok.signatures[0].base, built);
            verified += 1;
            if case.get("deterministic").and_then(Value::as_bool) == Some(true) {
                let signing = common::signing_key(key_name);
                let sig = signing.sign(alg, built.as_bytes()).unwrap();
                assert_eq!(sig, entry.signature, "§{section} {label}: byte-for-byte");
            }
        } else {
            assert!(
                matches!(result, Err(VerifyError::BadSignature { .. })),
                "§{section} {label} must not verify: {result:?}"
            );
        }
    }
    assert_eq!(verified, 18);
}

/// B.2.4 with the response as printed: its Content-Digest is wrong (the RFC's known
/// erratum) while the signature base the RFC shows, built from the corrected digest, is
/// right. The signature covers the printed header value, so it verifies over the printed
/// base, and the digest check then rejects the body: exactly what must happen.
#[test]
fn rfc9421_b_2_4_printed_response_has_a_wrong_content_digest() {
    let cases = common::json("rfc9421/signatures.json");
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| str_field(c, "section") == Some("B.2.4"))
        .unwrap();
    let msg = signed(case, "test-response");
    let message = msg.view("https", None);
    let entry = parse_signatures(&msg.headers, &Limits::default())
        .unwrap()
        .remove(0);
    let built = base::build(&message, &entry.params.components, &entry.params_text).unwrap();
    assert_eq!(built, str_field(case, "base_from_printed_message").unwrap());
    let key = common::verifying_key("test-key-ecc-p256", Algorithm::EcdsaP256Sha256);
    let result =
        Verifier::new(policy_for("sig-b24")).verify(&message, &msg.body, &key, 1_618_884_480);
    // The RFC's signature is over the corrected digest, so over the printed message it
    // is the signature that fails first.
    assert!(
        matches!(result, Err(VerifyError::BadSignature { .. })),
        "{result:?}"
    );
    // With the corrected header the signature verifies and the digest matches.
    let fixed = signed(case, "test-response-digest-fixed");
    let ok = Verifier::new(policy_for("sig-b24"))
        .verify(&fixed.view("https", None), &fixed.body, &key, 1_618_884_480)
        .unwrap();
    assert_eq!(ok.content_digest.len(), 1);
    // And the printed digest value is indeed not the digest of the printed content.
    assert!(matches!(
        mcp_auth_httpsig::verify_digest(
            mcp_auth_httpsig::DigestField::Content,
            &msg.headers,
            &msg.body
        ),
        Err(DigestError::Mismatch { .. })
    ));
}

/// B.2.5 and B.2.6 through the public signer: the whole `Signature` field value is the
/// RFC's, byte for byte.
#[test]
fn rfc9421_b_2_5_and_b_2_6_sign_byte_for_byte() {
    let cases = common::json("rfc9421/signatures.json");
    for section in ["B.2.5", "B.2.6"] {
        let case = cases
            .as_array()
            .unwrap()
            .iter()
            .find(|c| str_field(c, "section") == Some(section))
            .unwrap();
        let label = str_field(case, "label").unwrap();
        let alg: Algorithm = str_field(case, "alg").unwrap().parse().unwrap();
        let input = str_field(case, "signature_input").unwrap();
        let params_text = input.split_once('=').unwrap().1;
        let signature = format!("{label}=:AA==:");
        let entries =
            mcp_auth_httpsig::fields::parse_pair(input, &signature, &Limits::default()).unwrap();
        let params = &entries[0].params;
        let signer = Signer::new(common::signing_key(str_field(case, "key").unwrap()), alg)
            .unwrap()
            .label(label)
            .components(params.components.clone())
            .keyid(params.keyid().unwrap());
        let msg = common::message("test-request");
        let mcp_auth_httpsig::http1::StartLine::Request { method, uri } = &msg.start else {
            panic!("test-request is a request")
        };
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(format!("https://example.com{uri}"))
            .body(())
            .unwrap();
        *req.headers_mut() = msg.headers.clone();
        let (mut parts, ()) = req.into_parts();
        let written = signer
            .sign_request(
                &mut parts,
                &msg.body,
                Default::default(),
                params.created().unwrap(),
            )
            .unwrap();
        assert_eq!(
            written.serialize().unwrap(),
            params_text,
            "{section}: parameters"
        );
        assert_eq!(
            parts.headers["signature"].to_str().unwrap(),
            str_field(case, "signature").unwrap(),
            "{section}: Signature field byte for byte"
        );
    }
}

/// Appendix B.1: every example key loads from each of its forms (PKCS#1, PKCS#8 with the
/// RSASSA-PSS OID, SEC1, SPKI, JWK), and the forms agree (RFC 7638 thumbprints).
#[test]
fn rfc9421_b_1_keys_load_in_every_form() {
    use mcp_auth_httpsig::{Jwk, SigningKey, VerifyingKey};
    for name in [
        "test-key-rsa",
        "test-key-rsa-pss",
        "test-key-ecc-p256",
        "test-key-ed25519",
    ] {
        let private =
            SigningKey::from_pem(&common::read(&format!("rfc9421/keys/{name}.private.pem")))
                .unwrap();
        let public =
            VerifyingKey::from_pem(&common::read(&format!("rfc9421/keys/{name}.public.pem")))
                .unwrap();
        let jwk = Jwk::from_json(&common::read(&format!("rfc9421/keys/{name}.jwk"))).unwrap();
        let from_jwk = SigningKey::from_jwk(&jwk).unwrap();
        let thumbprint = public.thumbprint();
        assert_eq!(
            private.verifying_key().thumbprint(),
            thumbprint,
            "{name}: private PEM"
        );
        assert_eq!(
            from_jwk.verifying_key().thumbprint(),
            thumbprint,
            "{name}: JWK"
        );
        assert_eq!(
            jwk.thumbprint().unwrap(),
            thumbprint,
            "{name}: JWK thumbprint"
        );
        // A signature by one form verifies under the others.
        let alg = match private.kind() {
            mcp_auth_httpsig::KeyKind::Rsa => Algorithm::RsaPssSha512,
            kind => kind.default_algorithm().unwrap(),
        };
        let sig = from_jwk.sign(alg, b"base").unwrap();
        assert!(public.verify(alg, b"base", &sig).unwrap(), "{name}");
    }
    let secret = common::shared_secret();
    assert_eq!(secret.len(), 64);
}
