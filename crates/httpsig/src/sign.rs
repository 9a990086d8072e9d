//! Signing (RFC 9421 §3.1): one call adds `Content-Digest` (when asked),
//! `Signature-Input` and `Signature` to a message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};

use crate::alg::Algorithm;
use crate::base;
use crate::components::ComponentId;
use crate::digest::{DigestAlgorithm, digest_value};
use crate::error::{FieldError, SignError};
use crate::fields::{Limits, parse_signatures};
use crate::key::SigningKey;
use crate::message::{Message, RequestView, ResponseView};
use crate::params::{SigParam, SignatureParams};

/// How the signer sets `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonceMode {
    /// No nonce.
    None,
    /// 128 random bits, base64url (22 characters).
    Random,
    /// This exact value (tests, `Accept-Signature` nonces).
    Fixed(String),
}

/// Produces signatures of one shape: key, algorithm, label, components, parameters.
#[derive(Debug, Clone)]
pub struct Signer {
    key: SigningKey,
    algorithm: Algorithm,
    label: String,
    components: Vec<ComponentId>,
    created: bool,
    expires_in: Option<i64>,
    nonce: NonceMode,
    keyid: Option<String>,
    tag: Option<String>,
    include_alg: bool,
    include_pub: bool,
    content_digest: Option<DigestAlgorithm>,
    extra: Vec<SigParam<'static>>,
}

impl Signer {
    /// A signer with `key` and `alg`, label `sig1`, covering nothing yet, adding
    /// `created` and no other parameter.
    pub fn new(key: SigningKey, algorithm: Algorithm) -> Result<Self, SignError> {
        if !key.kind().supports(algorithm) {
            return Err(crate::error::KeyError::AlgorithmMismatch {
                alg: algorithm.name().to_owned(),
                key: "this",
            }
            .into());
        }
        Ok(Self {
            key,
            algorithm,
            label: "sig1".to_owned(),
            components: Vec::new(),
            created: true,
            expires_in: None,
            nonce: NonceMode::None,
            keyid: None,
            tag: None,
            include_alg: false,
            include_pub: false,
            content_digest: None,
            extra: Vec::new(),
        })
    }

    /// The label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// The covered components, in order.
    pub fn components(mut self, components: Vec<ComponentId>) -> Self {
        self.components = components;
        self
    }
    /// Whether to add `created` (default true).
    pub fn created(mut self, on: bool) -> Self {
        self.created = on;
        self
    }
    /// Adds `expires` this many seconds after `created`.
    pub fn expires_in(mut self, seconds: i64) -> Self {
        self.expires_in = Some(seconds);
        self
    }
    /// How to set `nonce`.
    pub fn nonce(mut self, mode: NonceMode) -> Self {
        self.nonce = mode;
        self
    }
    /// Adds `keyid`.
    pub fn keyid(mut self, keyid: impl Into<String>) -> Self {
        self.keyid = Some(keyid.into());
        self
    }
    /// Adds `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
    /// Adds `alg` (registry algorithms only; never for JWS algorithms, §3.3.7).
    pub fn include_alg(mut self, on: bool) -> Self {
        self.include_alg = on;
        self
    }
    /// Adds `pub` with the raw public key (draft-richer-oauth-httpsig-03 §4.2).
    pub fn include_pub(mut self, on: bool) -> Self {
        self.include_pub = on;
        self
    }
    /// Adds (replacing) `Content-Digest` over the body before signing. The caller lists
    /// `content-digest` among the components.
    pub fn content_digest(mut self, alg: Option<DigestAlgorithm>) -> Self {
        self.content_digest = alg;
        self
    }
    /// Appends any other parameter after the standard ones.
    pub fn param(mut self, param: SigParam<'static>) -> Self {
        self.extra.push(param);
        self
    }

    /// The parameters this signer writes at time `now`. The order is fixed:
    /// `created`, `expires`, `nonce`, `alg`, `keyid`, `tag`, `pub`, then extras.
    pub fn params_at(&self, now: i64) -> Result<SignatureParams<'static>, SignError> {
        let mut p = SignatureParams::new(self.components.clone());
        if self.created {
            p = p.with_created(now);
        }
        if let Some(e) = self.expires_in {
            p = p.with_expires(now.saturating_add(e));
        }
        match &self.nonce {
            NonceMode::None => {}
            NonceMode::Random => p = p.with_nonce(random_nonce()?),
            NonceMode::Fixed(n) => p = p.with_nonce(n.clone()),
        }
        if self.include_alg && !matches!(self.algorithm, Algorithm::Jws(_)) {
            p = p.with_alg(self.algorithm.name());
        }
        if let Some(k) = &self.keyid {
            p = p.with_keyid(k.clone());
        }
        if let Some(t) = &self.tag {
            p = p.with_tag(t.clone());
        }
        if self.include_pub
            && let Some(raw) = self.key.verifying_key().pub_bytes()
        {
            p = p.with_pub(raw);
        }
        for extra in &self.extra {
            p = p.with(extra.clone());
        }
        Ok(p)
    }

    /// Signs `params` over `message`: returns the `@signature-params` text and the
    /// signature bytes, without touching the message.
    pub fn sign_params(
        &self,
        message: &Message<'_>,
        params: &SignatureParams<'_>,
    ) -> Result<(String, Vec<u8>), SignError> {
        let text = params.serialize()?;
        let base = base::build(message, &params.components, &text)?;
        let signature = self.key.sign(self.algorithm, base.as_bytes())?;
        Ok((text, signature))
    }

    /// Signs a request in place: adds `Content-Digest` (if configured) over `body`, then
    /// `Signature-Input` and `Signature`. The URI must be absolute, or `scheme` (and a
    /// `Host` header or `authority`) given.
    pub fn sign_request(
        &self,
        parts: &mut http::request::Parts,
        body: &[u8],
        target: RequestTarget<'_>,
        now: i64,
    ) -> Result<SignatureParams<'static>, SignError> {
        self.prepare(&mut parts.headers, body)?;
        let params = self.params_at(now)?;
        let (text, sig) = {
            let mut view = RequestView::from_parts(parts);
            if let Some(s) = target.scheme {
                view = view.with_scheme(s);
            }
            if let Some(a) = target.authority {
                view = view.with_authority(a);
            }
            self.sign_params(&Message::Request(view), &params)?
        };
        attach(&mut parts.headers, &self.label, &text, &sig)?;
        Ok(params)
    }

    /// Signs a response in place; `request` is needed for components with `req`.
    pub fn sign_response(
        &self,
        parts: &mut http::response::Parts,
        body: &[u8],
        request: Option<RequestView<'_>>,
        now: i64,
    ) -> Result<SignatureParams<'static>, SignError> {
        self.prepare(&mut parts.headers, body)?;
        let params = self.params_at(now)?;
        let (text, sig) = self.sign_params(
            &Message::Response {
                response: ResponseView::from_parts(parts),
                request,
            },
            &params,
        )?;
        attach(&mut parts.headers, &self.label, &text, &sig)?;
        Ok(params)
    }

    fn prepare(&self, headers: &mut HeaderMap, body: &[u8]) -> Result<(), SignError> {
        let existing = parse_signatures(headers, &Limits::default())?;
        if existing.iter().any(|e| e.label == self.label) {
            return Err(SignError::LabelInUse(self.label.clone()));
        }
        if let Some(alg) = self.content_digest {
            headers.insert("content-digest", digest_value(body, &[alg]));
        }
        Ok(())
    }
}

/// Where a request is going when its URI is in origin form.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTarget<'a> {
    /// The scheme (`https`).
    pub scheme: Option<&'a str>,
    /// The authority, instead of the `Host` header.
    pub authority: Option<&'a str>,
}

/// Appends `label=params` to `Signature-Input` and `label=:sig:` to `Signature`, as
/// new field lines so existing signatures stay untouched.
pub fn attach(
    headers: &mut HeaderMap,
    label: &str,
    params_text: &str,
    signature: &[u8],
) -> Result<(), SignError> {
    let key = sfv::KeyRef::from_str(label).map_err(|_| {
        SignError::Fields(FieldError::InvalidParameter {
            label: label.to_owned(),
            param: "label".to_owned(),
            expected: "a structured-field key (lowercase letters, digits, _-.*)",
        })
    })?;
    let input = format!("{}={}", key.as_str(), params_text);
    let mut sig = String::with_capacity(label.len() + 2 + signature.len() * 4 / 3 + 4);
    sig.push_str(key.as_str());
    sig.push('=');
    let ser = sfv::ItemSerializer::with_buffer(&mut sig);
    let _ = ser
        .bare_item(sfv::RefBareItem::ByteSequence(signature))
        .finish();
    let invalid = |_| SignError::Fields(FieldError::NotAscii("Signature-Input"));
    headers.append(
        "signature-input",
        HeaderValue::from_str(&input).map_err(invalid)?,
    );
    headers.append("signature", HeaderValue::from_str(&sig).map_err(invalid)?);
    Ok(())
}

/// 128 random bits as base64url: a nonce of 22 characters; an error when the system
/// generator fails (a predictable nonce is never sent).
pub fn random_nonce() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SignError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
