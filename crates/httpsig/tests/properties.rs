//! Property tests: parsers are total, parameters round-trip, sign → verify holds over
//! arbitrary messages, and any change to a covered component or a parameter breaks the
//! signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderName, HeaderValue};
use mcp_auth_httpsig::http1::Http1Message;
use mcp_auth_httpsig::{
    Algorithm, ComponentId, Derived, DigestAlgorithm, Limits, Message, RequestTarget, RequestView,
    Signer, SigningKey, VerificationPolicy, Verifier, VerifyError, fields::parse_pair,
};
use proptest::prelude::*;
use std::sync::OnceLock;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Ed25519).unwrap())
}

fn header_name() -> impl Strategy<Value = String> {
    "x-[a-z0-9]{1,12}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Visible ASCII and inner spaces; no leading/trailing whitespace (HTTP trims it).
    "[!-~]([ -~]{0,30}[!-~])?"
}

#[derive(Debug, Clone)]
struct Case {
    headers: Vec<(String, String)>,
    covered: Vec<bool>,
    body: Vec<u8>,
    path: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((header_name(), header_value()), 1..8),
        prop::collection::vec(any::<bool>(), 8),
        prop::collection::vec(any::<u8>(), 0..256),
        "/[a-z0-9/]{0,20}",
    )
        .prop_map(|(headers, covered, body, path)| Case {
            headers,
            covered,
            body,
            path,
        })
}

fn build(case: &Case) -> (http::request::Parts, Vec<ComponentId>) {
    let mut b = http::Request::post(format!("https://mcp.example.com{}", case.path));
    for (n, v) in &case.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let mut components = vec![
        ComponentId::derived(Derived::Method),
        ComponentId::derived(Derived::TargetUri),
        ComponentId::field("content-digest"),
    ];
    let mut seen = std::collections::HashSet::new();
    for ((n, _), cover) in case.headers.iter().zip(&case.covered) {
        if *cover && seen.insert(n.clone()) {
            components.push(ComponentId::field(n));
        }
    }
    (parts, components)
}

fn sign(case: &Case) -> (http::request::Parts, Vec<ComponentId>) {
    let (mut parts, components) = build(case);
    Signer::new(key().clone(), Algorithm::Ed25519)
        .unwrap()
        .components(components.clone())
        .content_digest(Some(DigestAlgorithm::Sha512))
        .nonce(mcp_auth_httpsig::NonceMode::Random)
        .sign_request(&mut parts, &case.body, RequestTarget::default(), 1_000)
        .unwrap();
    (parts, components)
}

fn verify<'p>(
    parts: &'p http::request::Parts,
    body: &[u8],
) -> Result<mcp_auth_httpsig::Verified<'p>, VerifyError> {
    Verifier::new(VerificationPolicy::default()).verify(
        &Message::Request(RequestView::from_parts(parts)),
        body,
        &key().verifying_key(),
        1_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_then_verify_round_trips(case in case()) {
        let (parts, _) = sign(&case);
        prop_assert!(verify(&parts, &case.body).is_ok());
    }

    #[test]
    fn changing_a_covered_field_breaks_the_signature(case in case(), pick in any::<prop::sample::Index>(), junk in "[a-z]{1,5}") {
        let (mut parts, components) = sign(&case);
        let fields: Vec<&ComponentId> = components.iter().filter(|c| c.name_str().starts_with("x-")).collect();
        prop_assume!(!fields.is_empty());
        let target = fields[pick.index(fields.len())].name_str().to_owned();
        let name = HeaderName::from_bytes(target.as_bytes()).unwrap();
        let old = parts.headers.get(&name).unwrap().to_str().unwrap().to_owned();
        parts.headers.insert(name, HeaderValue::from_str(&format!("{old}{junk}")).unwrap());
        let r = verify(&parts, &case.body);
        prop_assert!(matches!(r, Err(VerifyError::BadSignature { .. })), "changed {}: {:?}", target, r.err());
    }

    #[test]
    fn changing_a_parameter_breaks_the_signature(case in case(), delta in 1i64..1000) {
        let (mut parts, _) = sign(&case);
        let input = parts.headers["signature-input"].to_str().unwrap().to_owned();
        let changed = input.replace(";created=1000", &format!(";created={}", 1000 - delta));
        prop_assert_ne!(&changed, &input);
        parts.headers.insert("signature-input", HeaderValue::from_str(&changed).unwrap());
        let r = verify(&parts, &case.body);
        prop_assert!(matches!(r, Err(VerifyError::BadSignature { .. })), "{:?}", r.err());
    }

    #[test]
    fn changing_the_body_breaks_the_digest(case in case(), extra in any::<u8>()) {
        let (parts, _) = sign(&case);
        let mut body = case.body.clone();
        body.push(extra);
        let r = verify(&parts, &body);
        prop_assert!(matches!(r, Err(VerifyError::Digest(_))), "{:?}", r.err());
    }

    #[test]
    fn signature_field_parsing_is_total_and_round_trips(input in ".{0,300}", sig in ".{0,100}") {
        if let Ok(entries) = parse_pair(&input, &sig, &Limits::default()) {
            for e in entries {
                let text = e.params.serialize().unwrap();
                let (input, sig) = (format!("{}={text}", e.label), format!("{}=:AA==:", e.label));
                let again = parse_pair(&input, &sig, &Limits::default()).unwrap();
                prop_assert_eq!(&again[0].params, &e.params);
            }
        }
    }

    #[test]
    fn structured_looking_inputs_parse_totally(
        members in prop::collection::vec(("[a-z][a-z0-9]{0,4}", prop::collection::vec("\"[@a-z-]{1,8}\"(;[a-z]{1,3}(=\"[a-z]{0,3}\")?)?", 0..4), "(;[a-z]{1,6}=([0-9]{1,5}|\"[ -~&&[^\"\\\\]]{0,8}\"|:[A-Za-z0-9+/]{0,8}=*:))*"), 0..4)
    ) {
        let input = members.iter().map(|(l, c, p)| format!("{l}=({}){p}", c.join(" "))).collect::<Vec<_>>().join(", ");
        let sig = members.iter().map(|(l, _, _)| format!("{l}=:AA==:")).collect::<Vec<_>>().join(", ");
        let _ = parse_pair(&input, &sig, &Limits::default());
    }

    #[test]
    fn http1_parsing_is_total(input in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Http1Message::parse(&input) {
            let request = m.request_view("https");
            let view = m.view("https", request);
            let _ = mcp_auth_httpsig::parse_signatures(view.headers(), &Limits::default());
        }
    }
}
