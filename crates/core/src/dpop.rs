//! DPoP (RFC 9449): the one proof check used by the token endpoint and the resource
//! layer alike (§4.3, all twelve steps), proof creation for clients, the `ath` hash,
//! and stateless server nonces (§8, §9).
//!
//! [`check_proof`] runs every check except replay: the caller records
//! [`VerifiedProof::replay_key`] in its [`crate::ReplayCache`] (the same cache as the
//! http-message-signatures nonces, DPOP-RS-5) for
//! [`ProofWindow::replay_ttl`], because only the caller knows which cache.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, Jwk, JwsAlgorithm, SigningKey, VerifyingKey};
use serde::Deserialize;

use crate::json_member::JsonMember;
use crate::jws::JwsPart;

/// The `typ` of a DPoP proof (§4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";

/// The JWS algorithms accepted for proofs by default: asymmetric only (§4.2: never
/// `none`, never a MAC). `EdDSA` is accepted because the `jwk` names its curve, so
/// it is not ambiguous here.
pub const DEFAULT_ALGORITHMS: [JwsAlgorithm; 8] = [
    JwsAlgorithm::Es256,
    JwsAlgorithm::Es384,
    JwsAlgorithm::EdDsa,
    JwsAlgorithm::Ed25519,
    JwsAlgorithm::Ps256,
    JwsAlgorithm::Ps384,
    JwsAlgorithm::Ps512,
    JwsAlgorithm::Rs256,
];

/// The largest `DPoP` header accepted: an RSA-4096 `jwk` and the claims fit well
/// within it.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// `algs` for a `WWW-Authenticate: DPoP` challenge (§7.1): the names, space
/// separated.
pub fn algs_param(algorithms: &[JwsAlgorithm]) -> String {
    algorithms
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ath` (§4.2): base64url of the SHA-256 of the access token's ASCII octets.
pub fn access_token_hash(access_token: &str) -> String {
    let ath = AccessTokenDigest::of(access_token).ath();
    ath.map(|ath| String::from_utf8_lossy(&ath).into_owned())
        .unwrap_or_default()
}

/// The SHA-256 of an access token's ASCII octets, of which a proof's `ath` (§4.2) is
/// the base64url. A resource computes it once per token, when the token is first
/// verified, and keeps it with the verified token: a DPoP request whose token is
/// cached hashes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessTokenDigest([u8; 32]);

/// The length of `ath`: 32 bytes in base64url without padding.
const ATH_LEN: usize = 43;

impl AccessTokenDigest {
    /// The digest of `access_token`.
    pub fn of(access_token: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// The `ath` a proof made for this token carries (ASCII), without an allocation;
    /// `None` only if base64 did not fill it exactly, which 32 bytes always do (a check
    /// against it then fails rather than compare with a partly written value).
    fn ath(&self) -> Option<[u8; ATH_LEN]> {
        let mut text = [0u8; ATH_LEN];
        let written = URL_SAFE_NO_PAD.encode_slice(self.0, &mut text).ok()?;
        (written == ATH_LEN).then_some(text)
    }
}

/// How old (or how far in the future) a proof's `iat` may be (§11.1;
/// profiles/dpop.md §5.1 step 11: ±60 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofWindow {
    /// Seconds in the past.
    pub max_age: i64,
    /// Seconds in the future (clock skew).
    pub max_skew: i64,
}

impl Default for ProofWindow {
    fn default() -> Self {
        Self {
            max_age: 60,
            max_skew: 60,
        }
    }
}

impl ProofWindow {
    /// How long a `jti` must be remembered: as long as a proof carrying it could
    /// still be accepted.
    pub fn replay_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::try_from(self.max_age + self.max_skew).unwrap_or(0) + 1)
    }
}

/// What the request a proof came with looks like, and what it must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    /// The HTTP method of the request.
    pub method: &'a str,
    /// The request's target URI as the server builds it from its configured public URL
    /// and the request's path (its query and fragment are ignored). A `htu` equal to it
    /// byte for byte names it without being parsed (check 9): it must be a URI the
    /// server would accept as the request's, never a value the client chose alone.
    pub uri: &'a str,
    /// At a protected resource: the digest of the access token presented with the
    /// proof, which its `ath` must encode (check 12).
    pub access_token: Option<AccessTokenDigest>,
    /// At a protected resource: the `cnf.jkt` of that token.
    pub bound_jkt: Option<&'a str>,
    /// The accepted algorithms.
    pub algorithms: &'a [JwsAlgorithm],
    /// The `iat` window.
    pub window: ProofWindow,
    /// Server nonces, when this server requires them.
    pub nonces: Option<&'a NonceSealer>,
    /// The current time (UNIX seconds).
    pub now: i64,
}

/// A proof that passed every check of §4.3 (except replay, which is the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key: `cnf.jkt` of a token bound to it.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: i64,
    /// The algorithm it was signed with.
    pub alg: JwsAlgorithm,
    /// When it carried one of this server's nonces, the time that nonce was issued.
    pub nonce_issued_at: Option<i64>,
}

impl VerifiedProof {
    /// The key under which its `jti` is recorded: (jkt, jti) (DPOP-RS-5).
    pub fn replay_key(&self) -> crate::ReplayKey {
        crate::ReplayKey::new("dpop", &self.jkt, &self.jti)
    }
}

/// Why a proof is refused: one variant per check of RFC 9449 §4.3 (numbered as
/// there) and per error of §7.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// No `DPoP` header (required with a DPoP token, or for a DPoP token request).
    #[error("the request has no DPoP proof")]
    Missing,
    /// Check 1: more than one `DPoP` header field.
    #[error("more than one DPoP header")]
    MultipleHeaders,
    /// Check 2: not a single well-formed JWS compact JWT.
    #[error("the DPoP proof is not a well-formed JWT: {0}")]
    Malformed(String),
    /// Check 3: a required claim or header parameter is missing or of the wrong type.
    #[error("the DPoP proof lacks a valid `{0}`")]
    MissingClaim(&'static str),
    /// Check 4: `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Type,
    /// Check 5: `alg` is not an accepted asymmetric algorithm.
    #[error("the DPoP proof's alg `{0}` is not accepted")]
    Algorithm(String),
    /// Check 6: the signature does not verify with the `jwk` (or the `jwk` is not a
    /// usable key for `alg`).
    #[error("the DPoP proof's signature does not verify with its jwk")]
    Signature,
    /// Check 7: the `jwk` contains a private key.
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKey,
    /// Check 8: `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request method")]
    Method,
    /// Check 9: `htu` is not the request's URI.
    #[error("the DPoP proof's htu does not match the request URI")]
    Uri,
    /// Check 10: the server requires a nonce and the proof has none, or not a valid
    /// current one (`use_dpop_nonce`, §8, §9).
    #[error("a current DPoP-Nonce is required in the proof")]
    Nonce,
    /// Check 11: `iat` (or the nonce's time) is outside the window.
    #[error("the DPoP proof is too old or from the future")]
    Time,
    /// Check 12: `ath` is missing or is not the hash of the presented token.
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHash,
    /// Check 12: the proof's key is not the key the token is bound to.
    #[error("the DPoP proof's key is not the key the access token is bound to")]
    KeyBinding,
    /// The `jti` was seen before within the window (§11.1).
    #[error("the DPoP proof was already used")]
    Replayed,
}

impl ProofError {
    /// The OAuth error code (§5: `invalid_dpop_proof`, §8/§9: `use_dpop_nonce`; a
    /// key-binding failure is `invalid_token`, as §7.1's example shows).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Nonce => "use_dpop_nonce",
            Self::KeyBinding => "invalid_token",
            _ => "invalid_dpop_proof",
        }
    }
}

/// A JOSE header or claims set: a JSON object (serde would also read a struct from
/// an array), each known member once (a repeated one is an error, not "last wins").
fn object<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, ProofError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ProofError::Malformed(format!(
            "the {what} is not a JSON object"
        )));
    }
    // A JSON text is UTF-8 (RFC 8259 §8.1), and a JOSE header and a claims set must be
    // one (RFC 7515 §5.2 step 3, RFC 7519 §7.2 step 10): checked whole, once, with SIMD.
    // (`from_slice` checks only the strings it reads, not those of members it skips.)
    let text = simdutf8::basic::from_utf8(bytes)
        .map_err(|_| ProofError::Malformed(format!("the {what} is not UTF-8")))?;
    serde_json::from_str(text)
        .map_err(|e| ProofError::Malformed(format!("the {what} is not a valid JSON object: {e}")))
}

/// Checks the `DPoP` header values of a request (`values`: every `DPoP` field) as
/// RFC 9449 §4.3 says, against `context`.
pub fn check_proof<'v>(
    values: impl IntoIterator<Item = &'v [u8]>,
    context: &ProofContext<'_>,
) -> Result<VerifiedProof, ProofError> {
    // 1. Exactly one DPoP header field.
    let mut values = values.into_iter();
    let value = values.next().ok_or(ProofError::Missing)?;
    if values.next().is_some() {
        return Err(ProofError::MultipleHeaders);
    }
    // 2. A single well-formed JWT (compact JWS, three base64url parts).
    if value.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed("too long".into()));
    }
    // Only SP and HTAB surround a field value (RFC 9110 §5.5): no other whitespace is
    // taken off.
    let text =
        simdutf8::basic::from_utf8(value).map_err(|_| ProofError::Malformed("not UTF-8".into()))?;
    let jwt = mcp_auth_httpsig::trim_ows_str(text);
    let malformed = |e: crate::jws::CompactJwsError| ProofError::Malformed(e.to_string());
    let jws = crate::jws::split_segments(jwt).map_err(malformed)?;
    // A header seen before in a proof that verified ([`checked_headers`]) passed the
    // header's own checks then and yields the same key now: those steps are skipped
    // (its segment is not even decoded), the order of the others is the same.
    let header_segment = jws.header();
    let known = checked_headers::get(header_segment);
    let header_bytes = match known {
        Some(_) => None,
        None => Some(jws.decode(JwsPart::Header).map_err(malformed)?),
    };
    let payload = jws.decode(JwsPart::Payload).map_err(malformed)?;
    let signature = jws.decode(JwsPart::Signature).map_err(malformed)?;
    let header: Option<Header> = header_bytes
        .as_deref()
        .map(|h| object(h, "header"))
        .transpose()?;
    let claims: Claims = object(&payload, "payload")?;

    // 3. Required header parameters and claims, with their types.
    let header = header
        .map(|h| -> Result<_, ProofError> {
            Ok((
                members::text(h.typ, "typ")?,
                members::text(h.alg, "alg")?,
                h.jwk.ok_or(ProofError::MissingClaim("jwk"))?,
                h.crit,
            ))
        })
        .transpose()?;
    let jti = members::text(claims.jti, "jti")?;
    let htm = members::text(claims.htm, "htm")?;
    let htu = members::text(claims.htu, "htu")?;
    let iat = members::seconds(claims.iat, "iat")?;
    let (checked, cached) = match (known, header) {
        (Some(known), _) => {
            // 5. alg: accepted here (the caller's list may differ from the one that
            // accepted it before).
            if !context.algorithms.contains(&known.alg) {
                return Err(ProofError::Algorithm(known.alg_name.clone()));
            }
            (known, true)
        }
        (None, header) => {
            let (typ, alg_name, jwk_value, crit) =
                header.ok_or_else(|| ProofError::Malformed("the header is missing".into()))?;
            (
                check_header(&typ, &alg_name, jwk_value, crit, context)?,
                false,
            )
        }
    };
    let alg = checked.alg;
    // 6. The signature verifies with the jwk.
    let signing_input = jws.signing_input();
    if !checked
        .key
        .verify(Algorithm::Jws(alg), signing_input.as_bytes(), &signature)
        .unwrap_or(false)
    {
        return Err(ProofError::Signature);
    }
    if !cached {
        checked_headers::put(header_segment, Arc::clone(&checked));
    }
    let jkt = checked.jkt.clone();
    // 8. htm.
    if htm != context.method {
        return Err(ProofError::Method);
    }
    // 9. htu: the request's URI byte for byte, or the same after RFC 3986 §6.2.2 and
    // §6.2.3 normalization, query and fragment ignored.
    if !names_request_uri(&htu, context.uri) {
        return Err(ProofError::Uri);
    }
    // 10. The server's nonce, when it requires one.
    let nonce_issued_at = match context.nonces {
        None => None,
        Some(sealer) => {
            let Some(nonce) = claims.nonce.and_then(JsonMember::into_text) else {
                return Err(ProofError::Nonce);
            };
            Some(sealer.open(&nonce, context.now).ok_or(ProofError::Nonce)?)
        }
    };
    // 11. iat within the window.
    if iat < context.now - context.window.max_age || iat > context.now + context.window.max_skew {
        return Err(ProofError::Time);
    }
    // 12. With an access token: ath, and the key the token is bound to.
    if let Some(token) = context.access_token {
        let ath = members::text(claims.ath, "ath").map_err(|_| ProofError::AccessTokenHash)?;
        let expected = token.ath().ok_or(ProofError::AccessTokenHash)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(ath.as_bytes(), &expected).is_err() {
            return Err(ProofError::AccessTokenHash);
        }
    }
    if let Some(bound) = context.bound_jkt {
        if bound != jkt {
            return Err(ProofError::KeyBinding);
        }
        // The key an access token is bound to, with a proof that passed checks 1 to 12
        // (its `jti` is the caller's to record): its later proofs may be verified with a
        // table. Not a key any caller brings to the token endpoint, where there is no
        // bound token.
        checked.key.allow_table();
    }
    Ok(VerifiedProof {
        jkt,
        jti: jti.into_owned(),
        iat,
        alg,
        nonce_issued_at,
    })
}

/// Steps 4, 5 and 7 of §4.3 on a header not seen before, then its key and the key's
/// thumbprint.
fn check_header(
    typ: &str,
    alg_name: &str,
    jwk_value: serde_json::Value,
    crit: Option<serde_json::Value>,
    context: &ProofContext<'_>,
) -> Result<Arc<CheckedHeader>, ProofError> {
    // 4. typ.
    if typ != PROOF_TYPE {
        return Err(ProofError::Type);
    }
    // RFC 7515 §4.1.11: a JWS whose `crit` names an extension the recipient does not
    // understand is invalid, and no extension is understood here.
    if crit.is_some() {
        return Err(ProofError::Malformed(
            "the header has crit, and no JWS extension is understood here".into(),
        ));
    }
    // 5. alg: registered, asymmetric, accepted here.
    let alg = JwsAlgorithm::from_name(alg_name)
        .filter(|a| context.algorithms.contains(a))
        .ok_or_else(|| ProofError::Algorithm(alg_name.to_owned()))?;
    // 7. No private key in the jwk (checked before the key is used).
    let jwk: Jwk =
        serde_json::from_value(jwk_value).map_err(|_| ProofError::MissingClaim("jwk"))?;
    if jwk.is_private() {
        return Err(ProofError::PrivateKey);
    }
    let mut public = jwk.public();
    public.alg = None;
    let key = VerifyingKey::from_jwk(&public).map_err(|_| ProofError::Signature)?;
    let jkt = public.thumbprint().map_err(|_| ProofError::Signature)?;
    Ok(Arc::new(CheckedHeader {
        alg,
        alg_name: alg_name.to_owned(),
        key,
        jkt,
    }))
}

/// Check 9: whether `htu` names `request_uri`, the request's URI as the server built it
/// ([`ProofContext::uri`]).
///
/// A client sends the URI as the server spells it, and the same bytes are the same URI:
/// that case is answered without parsing either, since the server's URI comes from its
/// configuration (checked when the server started) and the request path, which the
/// WHATWG parser does not refuse when it begins with `/` after an http(s) authority
/// (its path state reports no failure). Parsing it on every proof was about 3 k
/// instructions, 1% of a DPoP check (issue 18). Any other `htu` is compared after
/// normalization ([`same_target`]). (An asterisk-form request, `OPTIONS *`, would make
/// the resource's URI end in `*` without a `/`; the resource refuses `OPTIONS` before
/// any proof is read.)
fn names_request_uri(htu: &str, request_uri: &str) -> bool {
    htu == request_uri || same_target(htu, request_uri)
}

/// Whether two URIs are the same target after RFC 3986 §6.2.2 (case,
/// percent-encoding, dot segments) and §6.2.3 (default port, empty path)
/// normalization, ignoring query and fragment (RFC 9449 §4.3 check 9).
pub fn same_target(a: &str, b: &str) -> bool {
    // The usual case, a client that sends the URI as the server spells it, needs one
    // parse, not two: equal strings normalize equally (when they are URIs at all).
    if a == b {
        return parsed_target(a).is_some();
    }
    match (normalized_target(a), normalized_target(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `uri` parsed, when it is an absolute http(s) URI with a host.
fn parsed_target(uri: &str) -> Option<url::Url> {
    // The WHATWG parser lowercases scheme and host, drops the default port, removes
    // dot segments and gives an empty path as `/`.
    let url = url::Url::parse(uri).ok()?;
    let target = matches!(url.scheme(), "http" | "https")
        && !url.cannot_be_a_base()
        && url.host_str().is_some();
    target.then_some(url)
}

/// `scheme://host[:port]/path`, normalized; `None` for what is not an absolute
/// http(s) URI.
fn normalized_target(uri: &str) -> Option<String> {
    let url = parsed_target(uri)?;
    let host = url.host_str()?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!(
        "{}://{host}{port}{}",
        url.scheme(),
        normalize_percent_encoding(url.path())
    ))
}

/// Percent-encoding normalization (RFC 3986 §6.2.2.2, §6.2.2.1): an encoded
/// unreserved character is decoded, every other escape gets uppercase hex.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let c = hi * 16 + lo;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(c));
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
            i += 3;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Server nonces without server state (SEP-1932 "Stateless DPoP Proof Replay
/// Protection"; RFC 9449 §8, §9): a nonce is the issue time sealed with
/// AES-256-GCM under a key every instance shares, so any instance accepts any
/// other's nonce until it is `lifetime` old, and none can be forged or altered.
///
/// The server's identity (the AS issuer, the resource URL) is bound in both the key
/// derivation and the associated data: RFC 9449 §9 says a nonce is accepted only by
/// the server that issued it, and an operator who gives the AS and a gateway the
/// same secret must not make their nonces interchangeable.
pub struct NonceSealer {
    key: aws_lc_rs::aead::LessSafeKey,
    aad: Vec<u8>,
    lifetime: i64,
}

impl std::fmt::Debug for NonceSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSealer")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// What binds a sealed nonce to its purpose (AEAD associated data).
const NONCE_AAD: &[u8] = b"mcp-auth dpop nonce v1";

impl NonceSealer {
    /// A sealer for the server `server` (its issuer or resource URL) whose key is
    /// derived from `secret` (at least 32 bytes; the same secret on every instance
    /// of that server, which then accept each other's nonces) and whose nonces are
    /// accepted for `lifetime` seconds.
    pub fn new(secret: &[u8], server: &str, lifetime: i64) -> Result<Self, NonceSecretError> {
        if secret.len() < 32 {
            return Err(NonceSecretError);
        }
        let mut aad = NONCE_AAD.to_vec();
        aad.push(0);
        aad.extend_from_slice(server.as_bytes());
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"mcp-auth dpop");
        let prk = salt.extract(secret);
        let info = [aad.as_slice()];
        let okm = prk
            .expand(&info, &aws_lc_rs::aead::AES_256_GCM)
            .map_err(|_| NonceSecretError)?;
        let key = aws_lc_rs::aead::UnboundKey::from(okm);
        Ok(Self {
            key: aws_lc_rs::aead::LessSafeKey::new(key),
            aad,
            lifetime,
        })
    }

    /// A sealer with a random key: nonces are accepted by this process only.
    pub fn random(server: &str, lifetime: i64) -> Result<Self, NonceSecretError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| NonceSecretError)?;
        Self::new(&secret, server, lifetime)
    }

    /// How long a nonce is accepted.
    pub fn lifetime(&self) -> i64 {
        self.lifetime
    }

    /// A new nonce, issued at `now`: base64url of 12 random bytes, the sealed time
    /// and the tag (48 characters, NQCHAR only, §8.1). `None` when the system random
    /// generator fails: a repeated AES-GCM IV would let tags be forged, so no nonce
    /// is better than a predictable one (the server then answers without one).
    pub fn issue(&self, now: i64) -> Option<String> {
        let mut iv = [0u8; 12];
        aws_lc_rs::rand::fill(&mut iv).ok()?;
        let mut sealed = now.to_be_bytes().to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(iv),
                aws_lc_rs::aead::Aad::from(self.aad.as_slice()),
                &mut sealed,
            )
            .ok()?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        out.extend_from_slice(tag.as_ref());
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The time `nonce` was issued, if it is one of ours and not older than the
    /// lifetime (nor from the future) at `now`.
    pub fn open(&self, nonce: &str, now: i64) -> Option<i64> {
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != 12 + 8 + 16 {
            return None;
        }
        let iv: [u8; 12] = raw[..12].try_into().ok()?;
        let mut sealed = raw[12..].to_vec();
        let plain = self
            .key
            .open_in_place(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(iv),
                aws_lc_rs::aead::Aad::from(self.aad.as_slice()),
                &mut sealed,
            )
            .ok()?;
        let issued = i64::from_be_bytes(plain.try_into().ok()?);
        (issued <= now + 5 && now - issued <= self.lifetime).then_some(issued)
    }

    /// Whether a nonce issued at `issued_at` should be replaced in the response
    /// (past half its lifetime), so a busy client never meets an expired one.
    pub fn should_rotate(&self, issued_at: i64, now: i64) -> bool {
        now - issued_at > self.lifetime / 2
    }
}

/// The nonce secret is too short (or the system RNG failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a DPoP nonce secret must have at least 32 bytes")]
pub struct NonceSecretError;

/// Makes DPoP proofs with one key (the client side, §4).
#[derive(Debug)]
pub struct ProofSigner {
    key: SigningKey,
    alg: JwsAlgorithm,
    jwk: serde_json::Value,
    jkt: String,
}

/// The key cannot make proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key cannot sign DPoP proofs: {0}")]
pub struct ProofSignerError(String);

impl ProofSigner {
    /// A signer for `key` with `alg` (one of [`DEFAULT_ALGORITHMS`]).
    pub fn new(key: SigningKey, alg: JwsAlgorithm) -> Result<Self, ProofSignerError> {
        if !DEFAULT_ALGORITHMS.contains(&alg) {
            return Err(ProofSignerError(format!(
                "{} is not a DPoP algorithm",
                alg.name()
            )));
        }
        let mut public = key.verifying_key().to_jwk();
        public.alg = None;
        public.kid = None;
        public.use_ = None;
        let jkt = public
            .thumbprint()
            .map_err(|e| ProofSignerError(e.to_string()))?;
        let jwk = serde_json::to_value(&public).map_err(|e| ProofSignerError(e.to_string()))?;
        Ok(Self { key, alg, jwk, jkt })
    }

    /// A new key for `alg`.
    pub fn generate(alg: JwsAlgorithm) -> Result<Self, ProofSignerError> {
        let key = SigningKey::generate(Algorithm::Jws(alg))
            .map_err(|e| ProofSignerError(e.to_string()))?;
        Self::new(key, alg)
    }

    /// The RFC 7638 thumbprint of the key (`cnf.jkt`, `dpop_jkt`).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The algorithm.
    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// A proof for `method` and `uri` (query and fragment dropped), with `ath` for
    /// `access_token` and the server's `nonce` when given, issued at `now`.
    pub fn proof(
        &self,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, ProofSignerError> {
        let mut htu =
            url::Url::parse(uri).map_err(|_| ProofSignerError(format!("{uri} is not a URL")))?;
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| ProofSignerError("no randomness".into()))?;
        let header =
            serde_json::json!({"typ": PROOF_TYPE, "alg": self.alg.name(), "jwk": self.jwk});
        let mut claims = serde_json::json!({
            "jti": URL_SAFE_NO_PAD.encode(jti), "htm": method, "htu": htu.as_str(), "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] = access_token_hash(token).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(Algorithm::Jws(self.alg), input.as_bytes())
            .map_err(|e| ProofSignerError(e.to_string()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

mod checked_headers;
mod members;

use checked_headers::CheckedHeader;
use members::{Claims, Header};

#[cfg(test)]
mod tests;
