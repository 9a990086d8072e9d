//! Typed errors of the engine, grouped by the step that fails.
//!
//! Every failure a peer can cause is a value here, never a panic. Callers match
//! on variants (or use the predicates) and never parse `Display` output; the
//! mapping to HTTP status codes and challenges lives with the callers (the
//! resource layer and the authorization server), in one place each.

use std::fmt;

/// Why a signature base could not be built (RFC 9421 §2.5 and §2.1–§2.4).
///
/// Each variant names the component identifier, serialized as it appears in the
/// covered-components list, so a user can see which line failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseError {
    /// §2.5 step 2.0: the same identifier (with the same parameters) is listed twice.
    #[error("component {0} is listed more than once")]
    DuplicateComponent(String),
    /// The identifier is not a String item, or its name is not a valid component name
    /// (field names must be lowercase tokens; derived names start with `@`).
    #[error("invalid component identifier {0}")]
    InvalidIdentifier(String),
    /// §2.5: a parameter that is not understood.
    #[error("component {component} has an unknown parameter `{parameter}`")]
    UnknownParameter {
        /// The component identifier.
        component: String,
        /// The parameter key.
        parameter: String,
    },
    /// §2.5: parameters that do not apply to this component, or that exclude each
    /// other (`bs` with `sf` or `key`, `name` without `@query-param`, `tr` on a derived
    /// component, ...).
    #[error("component {component} has incompatible parameters: {reason}")]
    IncompatibleParameters {
        /// The component identifier.
        component: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// §2.5: `req` on a component of a signature that targets a request.
    #[error("component {0} uses `req` but the target message is a request")]
    ReqOnRequest(String),
    /// §2.4: `req` on a response whose request is not available to the verifier.
    #[error("component {0} uses `req` but the related request is not available")]
    RelatedRequestUnavailable(String),
    /// §2.5: the derived component name is not known.
    #[error("unknown derived component {0}")]
    UnknownDerivedComponent(String),
    /// A derived component that does not apply to this message (`@status` on a request,
    /// `@method` on a response without `req`).
    #[error("derived component {0} does not apply to this message")]
    NotApplicable(String),
    /// The value of a derived component cannot be determined (e.g. no scheme is known
    /// for a request received in origin form, or no authority).
    #[error("the value of {component} cannot be determined: {reason}")]
    Underivable {
        /// The component identifier.
        component: String,
        /// What is missing.
        reason: &'static str,
    },
    /// §2.5: the field is not present in the message (or in its trailers, with `tr`).
    #[error("field {0} is not present in the message")]
    MissingField(String),
    /// §2.1.1 / §2.1.2: `sf` or `key` on a field whose value does not parse as the
    /// structured type, or whose type is unknown.
    #[error("field {component} is not a valid structured field: {reason}")]
    NotStructured {
        /// The component identifier.
        component: String,
        /// The parser's reason.
        reason: String,
    },
    /// §2.1.2: the dictionary has no member with this key.
    #[error("dictionary field {component} has no member `{key}`")]
    MissingDictionaryKey {
        /// The component identifier.
        component: String,
        /// The key that was asked for.
        key: String,
    },
    /// §2.2.8: the query has no parameter with this name.
    #[error("query parameter `{0}` is not present")]
    MissingQueryParam(String),
    /// §2.2.8: a query parameter that occurs more than once MUST NOT be signed.
    #[error("query parameter `{0}` occurs more than once and cannot be signed")]
    RepeatedQueryParam(String),
    /// §2.5 step 4: a component value contains non-ASCII (or control) characters.
    #[error("the value of {0} contains non-ASCII or control characters")]
    NonAscii(String),
}

/// Why `Signature-Input`, `Signature` or `Accept-Signature` could not be parsed
/// (RFC 9421 §4 and §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The field is not a valid Dictionary structured field.
    #[error("{field} is not a valid structured field dictionary: {reason}")]
    Syntax {
        /// `Signature-Input`, `Signature` or `Accept-Signature`.
        field: &'static str,
        /// The structured-field parser's message.
        reason: String,
    },
    /// The field value is not visible ASCII.
    #[error("{0} contains bytes that are not visible ASCII")]
    NotAscii(&'static str),
    /// The (combined) field is longer than the configured limit.
    #[error("{field} is {len} bytes long, more than the limit of {limit}")]
    TooLong {
        /// The field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More signatures than the configured limit.
    #[error("{count} signatures in the message, more than the limit of {limit}")]
    TooManySignatures {
        /// How many labels were seen.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More covered components in one signature than the configured limit.
    #[error("signature `{label}` covers {count} components, more than the limit of {limit}")]
    TooManyComponents {
        /// The signature label.
        label: String,
        /// How many components.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A label occurs twice across the field lines (RFC 9421 §4.1: labels MUST be unique).
    #[error("label `{label}` appears more than once in {field}")]
    DuplicateLabel {
        /// The field name.
        field: &'static str,
        /// The label.
        label: String,
    },
    /// A label is in one field but not the other (RFC 9421 §4: an error).
    #[error("label `{label}` is in {present} but not in {absent}")]
    UnpairedLabel {
        /// The label.
        label: String,
        /// The field it is in.
        present: &'static str,
        /// The field it is missing from.
        absent: &'static str,
    },
    /// The member of a label has the wrong structured type (e.g. a Signature member that
    /// is not a Byte Sequence, or a Signature-Input member that is not an Inner List).
    #[error("member `{label}` of {field} must be {expected}")]
    WrongMemberType {
        /// The field name.
        field: &'static str,
        /// The label.
        label: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A covered component is not a String item.
    #[error("signature `{label}`: {reason}")]
    InvalidComponent {
        /// The label.
        label: String,
        /// The reason.
        reason: String,
    },
    /// A signature parameter has the wrong type (e.g. `created` not an Integer).
    #[error("signature `{label}`: parameter `{param}` must be {expected}")]
    InvalidParameter {
        /// The label.
        label: String,
        /// The parameter.
        param: String,
        /// The expected type.
        expected: &'static str,
    },
    /// The requested label is not in the message.
    #[error("no signature labelled `{0}` in the message")]
    LabelNotFound(String),
}

/// Why key material could not be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is not PEM, not a JWK, or not a key format we read.
    #[error("unrecognised key format: {0}")]
    Format(String),
    /// The key type or curve is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key material is malformed or inconsistent.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// The key cannot be used with this algorithm (e.g. HMAC with a public key).
    #[error("algorithm {alg} cannot be used with a {key} key")]
    AlgorithmMismatch {
        /// The algorithm.
        alg: String,
        /// The kind of key.
        key: &'static str,
    },
    /// The algorithm name is not known.
    #[error("unknown algorithm `{0}`")]
    UnknownAlgorithm(String),
    /// The cryptographic library failed to produce a signature.
    #[error("signing failed")]
    SigningFailed,
}

/// Why a digest field could not be created or verified (RFC 9530).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The field is not a valid Dictionary structured field.
    #[error("{field} is not a valid structured field dictionary: {reason}")]
    Syntax {
        /// The field name.
        field: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The field is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// The field has no member with an algorithm we accept (`sha-256`, `sha-512`).
    #[error("{0} has no sha-256 or sha-512 member")]
    NoSupportedAlgorithm(&'static str),
    /// A deprecated algorithm (RFC 9530 §5: md5, sha, unixsum, unixcksum, adler, crc32c)
    /// was asked for when creating a digest.
    #[error("digest algorithm `{0}` is deprecated and refused")]
    Deprecated(String),
    /// A member's value is not a Byte Sequence of the algorithm's length.
    #[error("{field} member `{alg}` is not a byte sequence of the right length")]
    Malformed {
        /// The field name.
        field: &'static str,
        /// The algorithm key.
        alg: String,
    },
    /// The digest does not match the content.
    #[error("{field} {alg} digest does not match the content")]
    Mismatch {
        /// The field name.
        field: &'static str,
        /// The algorithm.
        alg: &'static str,
    },
}

/// Which signature parameter a policy rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParamName {
    /// `created`
    Created,
    /// `expires`
    Expires,
    /// `nonce`
    Nonce,
    /// `alg`
    Alg,
    /// `keyid`
    KeyId,
    /// `tag`
    Tag,
    /// `pub` (draft-richer-oauth-httpsig-03 §4.2)
    Pub,
}

impl ParamName {
    /// The parameter key as it appears in `Signature-Input`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Expires => "expires",
            Self::Nonce => "nonce",
            Self::Alg => "alg",
            Self::KeyId => "keyid",
            Self::Tag => "tag",
            Self::Pub => "pub",
        }
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature did not satisfy the verification policy (RFC 9421 §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A required component is not covered (exact identifier, parameters included).
    #[error("signature `{label}` does not cover required component {component}")]
    MissingComponent {
        /// The label.
        label: String,
        /// The required identifier, serialized.
        component: String,
    },
    /// A required parameter is absent.
    #[error("signature `{label}` lacks required parameter `{param}`")]
    MissingParameter {
        /// The label.
        label: String,
        /// The parameter.
        param: ParamName,
    },
    /// A forbidden parameter is present.
    #[error("signature `{label}` has forbidden parameter `{param}`")]
    ForbiddenParameter {
        /// The label.
        label: String,
        /// The parameter.
        param: ParamName,
    },
    /// The `tag` is not the required one.
    #[error("signature `{label}` has tag {found:?}, expected `{expected}`")]
    WrongTag {
        /// The label.
        label: String,
        /// The tag found, if any.
        found: Option<String>,
        /// The tag required.
        expected: String,
    },
    /// No signature in the message carries the required tag.
    #[error("no signature with tag `{0}`")]
    NoSignatureWithTag(String),
    /// The message has no signature at all.
    #[error("the message is not signed (no Signature-Input / Signature)")]
    Unsigned,
    /// `created` is older than the maximum age.
    #[error("signature `{label}` is stale: created {created}, {age} s ago, max age {max_age} s")]
    Stale {
        /// The label.
        label: String,
        /// The `created` value.
        created: i64,
        /// Its age in seconds at verification.
        age: i64,
        /// The limit.
        max_age: u64,
    },
    /// `created` is further in the future than the allowed skew.
    #[error(
        "signature `{label}` is created {ahead} s in the future, more than the allowed skew of {skew} s"
    )]
    CreatedInFuture {
        /// The label.
        label: String,
        /// Seconds ahead of the verifier's clock.
        ahead: i64,
        /// The allowed skew.
        skew: u64,
    },
    /// `expires` has passed (with skew), or is not after `created`.
    #[error("signature `{label}` expired at {expires}")]
    Expired {
        /// The label.
        label: String,
        /// The `expires` value.
        expires: i64,
    },
    /// `expires` is not after `created`.
    #[error("signature `{label}` has expires {expires} not after created {created}")]
    ExpiresBeforeCreated {
        /// The label.
        label: String,
        /// `created`.
        created: i64,
        /// `expires`.
        expires: i64,
    },
    /// The nonce does not have the required form.
    #[error("signature `{label}` has an invalid nonce: {reason}")]
    InvalidNonce {
        /// The label.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// The nonce hook rejected the nonce (e.g. a replay).
    #[error("signature `{label}`: nonce rejected: {reason}")]
    NonceRejected {
        /// The label.
        label: String,
        /// The hook's reason.
        reason: String,
    },
    /// The algorithm is not in the allow-list, or could not be determined.
    #[error("signature `{label}`: algorithm {alg} is not allowed")]
    AlgorithmNotAllowed {
        /// The label.
        label: String,
        /// The algorithm, or "unknown".
        alg: String,
    },
    /// RFC 9421 §3.2 step 6.4: the algorithm named by `alg` differs from the one the key
    /// or the configuration determines.
    #[error(
        "signature `{label}`: alg `{declared}` does not match the key's algorithm `{expected}`"
    )]
    AlgorithmMismatch {
        /// The label.
        label: String,
        /// The `alg` parameter.
        declared: String,
        /// The algorithm from the key or configuration.
        expected: String,
    },
    /// No algorithm could be determined for verification.
    #[error(
        "signature `{label}`: no algorithm is known (no `alg` parameter and the key does not name one)"
    )]
    AlgorithmUnknown {
        /// The label.
        label: String,
    },
}

/// Why verification failed: the one error type [`crate::Verifier`] returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `Signature-Input` / `Signature` could not be parsed.
    #[error(transparent)]
    Fields(#[from] FieldError),
    /// The signature does not satisfy the policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The signature base could not be built.
    #[error("signature `{label}`: {source}")]
    Base {
        /// The label.
        label: String,
        /// The cause.
        source: BaseError,
    },
    /// No key could be found for this signature, or the key cannot verify it.
    #[error("signature `{label}`: {reason}")]
    Key {
        /// The label.
        label: String,
        /// The resolver's reason.
        reason: String,
    },
    /// The cryptographic check failed over the base built by the verifier.
    #[error("signature `{label}` does not verify over the signature base (algorithm {alg})")]
    BadSignature {
        /// The label.
        label: String,
        /// The algorithm used.
        alg: String,
        /// The signature base the verifier built, to compare with the signer's.
        base: String,
    },
    /// `Content-Digest` does not match the body, or is missing when required.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl VerifyError {
    /// True when the message was not signed at all (no `Signature-Input`), as opposed to
    /// signed badly: a caller may answer with an `Accept-Signature` challenge.
    pub fn is_unsigned(&self) -> bool {
        matches!(self, Self::Policy(PolicyError::Unsigned))
    }

    /// True when the failure is about freshness (`created`, `expires`) or replay.
    pub fn is_stale_or_replay(&self) -> bool {
        matches!(
            self,
            Self::Policy(
                PolicyError::Stale { .. }
                    | PolicyError::CreatedInFuture { .. }
                    | PolicyError::Expired { .. }
                    | PolicyError::NonceRejected { .. }
            )
        )
    }

    /// True when the cryptographic signature check itself failed.
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, Self::BadSignature { .. })
    }

    /// True for a content digest failure.
    pub fn is_digest(&self) -> bool {
        matches!(self, Self::Digest(_))
    }

    /// A short, stable label for metrics (a closed set of values).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Fields(_) => "malformed",
            Self::Policy(PolicyError::Unsigned | PolicyError::NoSignatureWithTag(_)) => "unsigned",
            Self::Policy(PolicyError::MissingComponent { .. }) => "coverage",
            Self::Policy(
                PolicyError::Stale { .. }
                | PolicyError::CreatedInFuture { .. }
                | PolicyError::Expired { .. }
                | PolicyError::ExpiresBeforeCreated { .. },
            ) => "stale",
            Self::Policy(PolicyError::NonceRejected { .. }) => "replay",
            Self::Policy(_) => "policy",
            Self::Base { .. } => "base",
            Self::Key { .. } => "key",
            Self::BadSignature { .. } => "bad_signature",
            Self::Digest(_) => "digest",
        }
    }
}

/// Why a [`crate::KeyResolver`] has no key for a signature. The `Display` text is
/// the reason [`VerifyError::Key`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The signature lacks the parameter its key is found by (`keyid`, `pub`).
    #[error("no `{0}` parameter")]
    MissingParameter(ParamName),
    /// A `pub` key without the `alg` parameter it is read with
    /// (draft-richer-oauth-httpsig-03 §4.2).
    #[error("no `alg` parameter to read the `pub` key with")]
    NoPubAlgorithm,
    /// The `alg` parameter names no known algorithm.
    #[error("unknown `alg` {0:?}")]
    UnknownAlgorithm(String),
    /// No key is known for the signature, for the resolver's reason (e.g. no key is
    /// registered under its `keyid`).
    #[error("{0}")]
    NoKey(String),
    /// The key cannot be read, or cannot be used for the signature.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Why a [`crate::NonceHook`] rejected a nonce. The `Display` text is the reason
/// [`PolicyError::NonceRejected`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// The nonce was already used with this key.
    #[error("nonce replayed")]
    Replayed,
    /// The hook could not check the nonce (e.g. its store is unreachable); the
    /// signature is refused rather than risk a replay.
    #[error("{0}")]
    Unavailable(String),
}

/// Why signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key cannot sign with the algorithm, or the primitive failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signature base could not be built (a covered component is missing, ...).
    #[error(transparent)]
    Base(#[from] BaseError),
    /// The parameters cannot be serialized, or the message's existing signature
    /// fields are malformed.
    #[error(transparent)]
    Fields(#[from] FieldError),
    /// The message already has a signature with this label.
    #[error("the message already has a signature labelled `{0}`")]
    LabelInUse(String),
    /// The system random generator failed, so no nonce could be made.
    #[error("the system random generator failed")]
    Random,
}
