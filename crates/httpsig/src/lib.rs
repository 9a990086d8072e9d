//! HTTP Message Signatures ([RFC 9421]) and Digest Fields ([RFC 9530]), independent
//! of OAuth and MCP.
//!
//! A signature covers an ordered list of *components* of an HTTP message (fields
//! such as `content-digest`, derived values such as `@method` and `@target-uri`) plus
//! its own parameters. Signer and verifier each build the same *signature base* from
//! the message ([`base::build`]); the signer signs it, the verifier checks it. Because
//! a signature covers only what it lists, a verifier must also say what it requires:
//! that is the [`VerificationPolicy`]. And because a body is covered only through its
//! digest, [`Verifier::verify`] checks `Content-Digest` against the bytes received in
//! the same call, so no caller can forget it.
//!
//! ```
//! use mcp_auth_httpsig::{Algorithm, ComponentId, Derived, Message, RequestTarget,
//!     RequestView, Signer, SigningKey, VerificationPolicy, Verifier, DigestAlgorithm};
//!
//! let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
//! let signer = Signer::new(key.clone(), Algorithm::Ed25519).unwrap()
//!     .components(vec![
//!         ComponentId::derived(Derived::Method),
//!         ComponentId::derived(Derived::TargetUri),
//!         ComponentId::field("content-digest"),
//!     ])
//!     .content_digest(Some(DigestAlgorithm::Sha256));
//! let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
//! let (mut parts, ()) = http::Request::post("https://mcp.example.com/mcp")
//!     .body(()).unwrap().into_parts();
//! signer.sign_request(&mut parts, body, RequestTarget::default(), 1_700_000_000).unwrap();
//!
//! let verifier = Verifier::new(VerificationPolicy {
//!     required_components: vec![ComponentId::derived(Derived::Method)],
//!     max_age: Some(30),
//!     ..VerificationPolicy::default()
//! });
//! let message = Message::Request(RequestView::from_parts(&parts));
//! let verified = verifier
//!     .verify(&message, body, &key.verifying_key(), 1_700_000_010)
//!     .unwrap();
//! assert_eq!(verified.signatures[0].label, "sig1");
//! ```
//!
//! [RFC 9421]: https://www.rfc-editor.org/rfc/rfc9421
//! [RFC 9530]: https://www.rfc-editor.org/rfc/rfc9530

#![forbid(unsafe_code)]

pub mod accept;
pub mod alg;
pub mod base;
mod borrowed;
pub mod components;
pub mod digest;
pub mod error;
pub mod fields;
pub mod http1;
pub mod jwk;
pub mod key;
pub mod message;
pub mod params;
pub mod policy;
mod query;
pub mod sign;
mod structured;
pub mod verify;

pub use accept::{SignatureRequest, build_accept_signature, parse_accept_signature};
pub use alg::{Algorithm, JwsAlgorithm};
pub use components::{ComponentId, ComponentName, ComponentParam, Derived};
pub use digest::{
    DigestAlgorithm, DigestAlgorithms, DigestField, WantDigest, digest_value, verify_digest,
};
pub use error::{
    BaseError, DigestError, FieldError, KeyError, NonceError, ParamName, PolicyError, ResolveError,
    SignError, VerifyError,
};
pub use fields::{Limits, SignatureEntry, parse_signatures};
pub use jwk::Jwk;
pub use key::{KeyKind, SigningKey, VerifyingKey};
pub use message::{Message, RequestView, ResponseView, trim_ows_str, visible_ascii};
pub use params::{SigParam, SignatureParams};
pub use policy::{NonceRule, VerificationPolicy};
pub use sign::{NonceMode, RequestTarget, Signer};
pub use verify::{EmbeddedKey, KeyResolver, NonceHook, Verified, VerifiedSignature, Verifier};

/// Entry points for the fuzz targets in `fuzz/`: each takes arbitrary bytes and must
/// never panic (the differential ones panic only on a disagreement).
#[doc(hidden)]
pub mod fuzzing;
