//! Every way a signed request can be rejected, on a real signed MCP request that is
//! then tampered with; each test asserts the exact error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use mcp_auth_httpsig::{
    Algorithm, BaseError, ComponentId, Derived, DigestAlgorithm, DigestError, FieldError,
    KeyResolver, Message, NonceError, NonceHook, NonceMode, NonceRule, ParamName, PolicyError,
    RequestTarget, RequestView, ResolveError, SignatureParams, Signer, SigningKey,
    VerificationPolicy, Verifier, VerifyError, VerifyingKey,
};

const NOW: i64 = 1_780_000_000;
const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;

fn mcp_components() -> Vec<ComponentId> {
    ComponentId::parse_list(
        r#""@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name""#,
    )
    .unwrap()
}

struct Fixture {
    key: SigningKey,
    parts: http::request::Parts,
}

impl Fixture {
    fn signed_by(key: SigningKey, signer: Signer) -> Self {
        let (mut parts, ()) = http::Request::post("https://mcp.example.com/mcp")
            .header("authorization", "HTTPSig abc.def.ghi")
            .header("content-type", "application/json")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .body(())
            .unwrap()
            .into_parts();
        signer
            .sign_request(&mut parts, BODY, RequestTarget::default(), NOW)
            .unwrap();
        Self { key, parts }
    }

    /// A signer with `alg` over the MCP components and the body's digest.
    fn signer_with(key: &SigningKey, alg: Algorithm) -> Signer {
        Signer::new(key.clone(), alg)
            .unwrap()
            .components(mcp_components())
            .content_digest(Some(DigestAlgorithm::Sha256))
    }

    fn signer(key: &SigningKey) -> Signer {
        Self::signer_with(key, Algorithm::Ed25519)
            .nonce(NonceMode::Fixed("n0nce-0123456789abcdef".into()))
            .tag("httpsig-oauth")
    }

    fn standard() -> Self {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let signer = Self::signer(&key);
        Self::signed_by(key, signer)
    }

    fn verify(
        &self,
        policy: VerificationPolicy,
    ) -> Result<mcp_auth_httpsig::Verified<'static>, VerifyError> {
        self.verify_body(policy, BODY)
    }

    fn verify_body(
        &self,
        policy: VerificationPolicy,
        body: &[u8],
    ) -> Result<mcp_auth_httpsig::Verified<'static>, VerifyError> {
        verify_request(
            &Verifier::new(policy),
            &self.parts,
            body,
            &self.key.verifying_key(),
            NOW + 1,
        )
    }

    /// Verifies at the signing time under `policy`, with the keys from `keys` instead
    /// of the signing key.
    fn verify_with(
        &self,
        policy: VerificationPolicy,
        keys: &dyn KeyResolver,
    ) -> Result<mcp_auth_httpsig::Verified<'static>, VerifyError> {
        verify_request(&Verifier::new(policy), &self.parts, BODY, keys, NOW)
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.parts
            .headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }
}

fn mcp_policy() -> VerificationPolicy {
    VerificationPolicy {
        required_components: mcp_components(),
        required_params: vec![ParamName::Created, ParamName::Nonce],
        forbidden_params: vec![ParamName::Alg, ParamName::KeyId, ParamName::Pub],
        required_tag: Some("httpsig-oauth".into()),
        max_age: Some(30),
        nonce: Some(NonceRule::default()),
        ..VerificationPolicy::default()
    }
}

/// Verifies the request `parts` and its `body` with `verifier`, the keys from `keys`,
/// at `now`.
fn verify_request(
    verifier: &Verifier,
    parts: &http::request::Parts,
    body: &[u8],
    keys: &dyn KeyResolver,
    now: i64,
) -> Result<mcp_auth_httpsig::Verified<'static>, VerifyError> {
    verifier
        .verify(
            &Message::Request(RequestView::from_parts(parts)),
            body,
            keys,
            now,
        )
        .map(mcp_auth_httpsig::Verified::into_owned)
}

#[test]
fn untouched_request_verifies_under_the_mcp_policy() {
    let v = Fixture::standard().verify(mcp_policy()).unwrap();
    assert_eq!(v.signatures.len(), 1);
    assert_eq!(
        v.content_digest.iter().collect::<Vec<_>>(),
        [DigestAlgorithm::Sha256]
    );
}

#[test]
fn changed_mcp_name_fails_the_signature() {
    let mut f = Fixture::standard();
    f.set("mcp-name", "delete_everything");
    let err = f.verify(mcp_policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::BadSignature { label, alg, base }
        if label == "sig1" && alg == "ed25519" && base.contains("\"mcp-name\": delete_everything")),
        "{err:?}"
    );
}

#[test]
fn changed_body_fails_the_digest() {
    let f = Fixture::standard();
    let err = f
        .verify_body(
            mcp_policy(),
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm"}}"#,
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Digest(DigestError::Mismatch {
            field: "Content-Digest",
            alg: "sha-256"
        })
    );
}

#[test]
fn a_body_without_covered_digest_is_rejected() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let signer = Signer::new(key.clone(), Algorithm::Ed25519)
        .unwrap()
        .components(ComponentId::parse_list(r#""@method" "@target-uri""#).unwrap());
    let f = Fixture::signed_by(key, signer);
    let err = f.verify(VerificationPolicy::default()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Policy(PolicyError::MissingComponent {
            label: "sig1".into(),
            component: "\"content-digest\"".into()
        })
    );
    // Without a body, nothing to digest.
    assert!(f.verify_body(VerificationPolicy::default(), b"").is_ok());
}

#[test]
fn required_component_must_be_covered_exactly() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let mut components = mcp_components();
    components.retain(|c| !c.is_plain_field("mcp-name"));
    components.push(ComponentId::parse(r#""mcp-name";bs"#).unwrap());
    let signer = Fixture::signer(&key).components(components);
    let f = Fixture::signed_by(key, signer);
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::MissingComponent {
            label: "sig1".into(),
            component: "\"mcp-name\"".into()
        })
    );
}

#[test]
fn forbidden_and_required_parameters() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).include_alg(true));
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::ForbiddenParameter {
            label: "sig1".into(),
            param: ParamName::Alg
        })
    );
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).nonce(NonceMode::None));
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::MissingParameter {
            label: "sig1".into(),
            param: ParamName::Nonce
        })
    );
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).include_pub(true));
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::ForbiddenParameter {
            label: "sig1".into(),
            param: ParamName::Pub
        })
    );
}

#[test]
fn tag_selects_signatures_and_must_exist() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).tag("other-app"));
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::NoSignatureWithTag("httpsig-oauth".into()))
    );
}

#[test]
fn signatures_with_other_tags_are_ignored_but_every_tagged_one_must_pass() {
    let mut f = Fixture::standard();
    // A second, broken signature with another tag: ignored.
    mcp_auth_httpsig::sign::attach(
        &mut f.parts.headers,
        "other",
        r#"("@method");tag="other""#,
        &[0u8; 64],
    )
    .unwrap();
    assert!(f.verify(mcp_policy()).is_ok());
    // A second, broken signature with the required tag: rejected.
    mcp_auth_httpsig::sign::attach(
        &mut f.parts.headers,
        "bad",
        r#"("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name");created=1780000000;nonce="another-nonce-0123456";tag="httpsig-oauth""#,
        &[0u8; 64],
    )
    .unwrap();
    let err = f.verify(mcp_policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::BadSignature { label, .. } if label == "bad"),
        "{err:?}"
    );
}

#[test]
fn time_window() {
    let f = Fixture::standard();
    let verify_at = |now: i64, policy: VerificationPolicy| {
        verify_request(
            &Verifier::new(policy),
            &f.parts,
            BODY,
            &f.key.verifying_key(),
            now,
        )
    };
    assert!(verify_at(NOW + 30, mcp_policy()).is_ok());
    assert_eq!(
        verify_at(NOW + 31, mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::Stale {
            label: "sig1".into(),
            created: NOW,
            age: 31,
            max_age: 30
        })
    );
    assert!(verify_at(NOW - 5, mcp_policy()).is_ok());
    assert_eq!(
        verify_at(NOW - 6, mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::CreatedInFuture {
            label: "sig1".into(),
            ahead: 6,
            skew: 5
        })
    );
}

#[test]
fn expires_must_be_after_created_and_not_passed() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).expires_in(10));
    let at = |now: i64| {
        verify_request(
            &Verifier::new(mcp_policy()),
            &f.parts,
            BODY,
            &key.verifying_key(),
            now,
        )
    };
    assert!(at(NOW + 15).is_ok());
    assert_eq!(
        at(NOW + 16).unwrap_err(),
        VerifyError::Policy(PolicyError::Expired {
            label: "sig1".into(),
            expires: NOW + 10
        })
    );
    let f = Fixture::signed_by(key.clone(), Fixture::signer(&key).expires_in(0));
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::ExpiresBeforeCreated {
            label: "sig1".into(),
            created: NOW,
            expires: NOW
        })
    );
}

#[test]
fn nonce_form() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    for (nonce, reason) in [
        ("short", "5 characters, at least 16 required"),
        (
            "has spaces in it, too many",
            "only base64url characters (A-Z a-z 0-9 - _) are allowed",
        ),
    ] {
        let f = Fixture::signed_by(
            key.clone(),
            Fixture::signer(&key).nonce(NonceMode::Fixed(nonce.into())),
        );
        assert_eq!(
            f.verify(mcp_policy()).unwrap_err(),
            VerifyError::Policy(PolicyError::InvalidNonce {
                label: "sig1".into(),
                reason: reason.into()
            })
        );
    }
    let long = "a".repeat(129);
    let f = Fixture::signed_by(
        key.clone(),
        Fixture::signer(&key).nonce(NonceMode::Fixed(long)),
    );
    assert!(matches!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::InvalidNonce { .. })
    ));
}

#[derive(Default)]
struct SeenNonces(Mutex<HashSet<(String, String)>>);

impl NonceHook for SeenNonces {
    fn check(
        &self,
        nonce: &str,
        key: &VerifyingKey,
        _: &SignatureParams,
    ) -> Result<(), NonceError> {
        let fresh = self
            .0
            .lock()
            .unwrap()
            .insert((key.thumbprint(), nonce.to_owned()));
        if fresh {
            Ok(())
        } else {
            Err(NonceError::Replayed)
        }
    }
}

#[test]
fn replayed_nonce_is_rejected_and_forgeries_do_not_burn_nonces() {
    let hook = Arc::new(SeenNonces::default());
    let verifier = Verifier::new(mcp_policy()).with_nonce_hook(hook.clone());
    let f = Fixture::standard();
    let view = |f: &Fixture| f.parts.clone();
    // A forged copy (tampered) first: it fails before the hook and records nothing.
    let mut forged = view(&f);
    forged
        .headers
        .insert("mcp-name", HeaderValue::from_static("other"));
    assert!(verify_request(&verifier, &forged, BODY, &f.key.verifying_key(), NOW).is_err());
    assert!(hook.0.lock().unwrap().is_empty());
    // The genuine request passes once, then is a replay.
    let genuine = view(&f);
    assert!(verify_request(&verifier, &genuine, BODY, &f.key.verifying_key(), NOW).is_ok());
    assert_eq!(
        verify_request(&verifier, &genuine, BODY, &f.key.verifying_key(), NOW).unwrap_err(),
        VerifyError::Policy(PolicyError::NonceRejected {
            label: "sig1".into(),
            reason: "nonce replayed".into()
        })
    );
}

#[test]
fn algorithm_rules() {
    // HMAC is not allowed unless the policy says so.
    let secret = SigningKey::hmac(b"0123456789abcdef0123456789abcdef");
    let signer = Fixture::signer_with(&secret, Algorithm::HmacSha256);
    let f = Fixture::signed_by(secret.clone(), signer);
    assert_eq!(
        f.verify(VerificationPolicy::default()).unwrap_err(),
        VerifyError::Policy(PolicyError::AlgorithmNotAllowed {
            label: "sig1".into(),
            alg: "hmac-sha256".into()
        })
    );
    // `alg` must agree with the key's configured algorithm (RFC 9421 §3.2 step 6.4).
    let key = SigningKey::generate(Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Fixture::signer_with(&key, Algorithm::EcdsaP256Sha256).include_alg(true);
    let f = Fixture::signed_by(key.clone(), signer);
    let es256 = key
        .verifying_key()
        .with_algorithm(Algorithm::Jws(mcp_auth_httpsig::JwsAlgorithm::Es256))
        .unwrap();
    let err = f
        .verify_with(VerificationPolicy::default(), &es256)
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Policy(PolicyError::AlgorithmMismatch {
            label: "sig1".into(),
            declared: "ecdsa-p256-sha256".into(),
            expected: "ES256".into()
        })
    );
    // An RSA key with no `alg` anywhere: the algorithm is unknown.
    let rsa = SigningKey::generate(Algorithm::RsaPssSha512).unwrap();
    let signer = Fixture::signer_with(&rsa, Algorithm::RsaPssSha512);
    let f = Fixture::signed_by(rsa.clone(), signer);
    let public = VerifyingKey::from_pem(&rsa.to_public_pem().unwrap()).unwrap();
    let err = f
        .verify_with(VerificationPolicy::default(), &public)
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Policy(PolicyError::AlgorithmUnknown {
            label: "sig1".into()
        })
    );
}

#[test]
fn unknown_alg_parameter_is_not_allowed() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let signer = Fixture::signer(&key).param(mcp_auth_httpsig::SigParam::Alg("none".into()));
    let f = Fixture::signed_by(key, signer);
    assert_eq!(
        f.verify(VerificationPolicy::default()).unwrap_err(),
        VerifyError::Policy(PolicyError::AlgorithmNotAllowed {
            label: "sig1".into(),
            alg: "none".into()
        })
    );
}

#[test]
fn wrong_key_fails_the_signature() {
    let f = Fixture::standard();
    let other = SigningKey::generate(Algorithm::Ed25519)
        .unwrap()
        .verifying_key();
    let err = f.verify_with(mcp_policy(), &other).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature { .. }));
}

#[test]
fn key_resolver_failures_are_reported() {
    let f = Fixture::standard();
    let none = |_: &mcp_auth_httpsig::SignatureEntry| -> Result<VerifyingKey, ResolveError> {
        Err(ResolveError::NoKey("unknown keyid".into()))
    };
    let err = f
        .verify_with(mcp_policy(), &none as &dyn KeyResolver)
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Key {
            label: "sig1".into(),
            reason: "unknown keyid".into()
        }
    );
}

#[test]
fn malformed_fields_and_unsigned_messages() {
    let mut f = Fixture::standard();
    let original = f.parts.headers.clone();
    f.parts.headers.remove("signature-input");
    f.parts.headers.remove("signature");
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Policy(PolicyError::Unsigned)
    );
    f.parts.headers = original.clone();
    f.parts.headers.append(
        "signature-input",
        HeaderValue::from_static(r#"sig1=("@method")"#),
    );
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Fields(FieldError::DuplicateLabel {
            field: "Signature-Input",
            label: "sig1".into()
        })
    );
    f.parts.headers = original;
    f.set("signature", "sig1=:not base64!:");
    assert!(matches!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Fields(FieldError::Syntax {
            field: "Signature",
            ..
        })
    ));
}

#[test]
fn base_errors_name_the_component() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    // A GET request whose `sig1` has the parameters `input` (and a signature that is
    // never checked, as the base fails first).
    let base_error = |input: &str| {
        let (mut parts, ()) = http::Request::get("https://mcp.example.com/mcp")
            .body(())
            .unwrap()
            .into_parts();
        mcp_auth_httpsig::sign::attach(&mut parts.headers, "sig1", input, &[0u8; 64]).unwrap();
        verify_request(
            &Verifier::new(VerificationPolicy::default()),
            &parts,
            b"",
            &key.verifying_key(),
            NOW,
        )
        .unwrap_err()
    };
    assert_eq!(
        base_error(r#"("@method" "x-absent");created=1780000000"#),
        VerifyError::Base {
            label: "sig1".into(),
            source: BaseError::MissingField("\"x-absent\"".into())
        }
    );
    assert_eq!(
        base_error(r#"("@method" "@method");created=1780000000"#),
        VerifyError::Base {
            label: "sig1".into(),
            source: BaseError::DuplicateComponent("\"@method\"".into())
        }
    );
}

#[test]
fn label_selection() {
    let f = Fixture::standard();
    let policy = VerificationPolicy {
        label: Some("nope".into()),
        ..mcp_policy()
    };
    assert_eq!(
        f.verify(policy).unwrap_err(),
        VerifyError::Fields(FieldError::LabelNotFound("nope".into()))
    );
}

#[test]
fn signing_refuses_a_label_in_use_and_a_key_algorithm_mismatch() {
    let mut f = Fixture::standard();
    let err = Fixture::signer(&f.key)
        .sign_request(&mut f.parts, BODY, RequestTarget::default(), NOW)
        .unwrap_err();
    assert_eq!(err, mcp_auth_httpsig::SignError::LabelInUse("sig1".into()));
    assert!(Signer::new(f.key.clone(), Algorithm::HmacSha256).is_err());
}

#[test]
fn response_req_components_need_the_request() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let signer = Signer::new(key.clone(), Algorithm::Ed25519)
        .unwrap()
        .components(vec![
            ComponentId::derived(Derived::Status),
            ComponentId::derived(Derived::Method).with(mcp_auth_httpsig::ComponentParam::Req),
        ]);
    let (req_parts, ()) = http::Request::post("https://mcp.example.com/mcp")
        .body(())
        .unwrap()
        .into_parts();
    let (mut resp, ()) = http::Response::builder()
        .status(200)
        .body(())
        .unwrap()
        .into_parts();
    signer
        .sign_response(
            &mut resp,
            b"",
            Some(RequestView::from_parts(&req_parts)),
            NOW,
        )
        .unwrap();
    let verifier = Verifier::new(VerificationPolicy::default());
    let with_request = Message::Response {
        response: mcp_auth_httpsig::ResponseView::from_parts(&resp),
        request: Some(RequestView::from_parts(&req_parts)),
    };
    assert!(
        verifier
            .verify(&with_request, b"", &key.verifying_key(), NOW)
            .is_ok()
    );
    let without = Message::Response {
        response: mcp_auth_httpsig::ResponseView::from_parts(&resp),
        request: None,
    };
    assert_eq!(
        verifier
            .verify(&without, b"", &key.verifying_key(), NOW)
            .unwrap_err(),
        VerifyError::Base {
            label: "sig1".into(),
            source: BaseError::RelatedRequestUnavailable("\"@method\";req".into())
        }
    );
}

#[test]
fn too_many_signatures_are_refused_before_any_work() {
    let mut f = Fixture::standard();
    for i in 0..8 {
        mcp_auth_httpsig::sign::attach(
            &mut f.parts.headers,
            &format!("s{i}"),
            r#"("@method")"#,
            &[0u8; 64],
        )
        .unwrap();
    }
    assert_eq!(
        f.verify(mcp_policy()).unwrap_err(),
        VerifyError::Fields(FieldError::TooManySignatures { count: 9, limit: 8 })
    );
}
