//! The `http-message-signatures` profile's fixed vocabulary and policies
//! (profiles/http-message-signatures.md, draft-richer-oauth-httpsig-03 with the MCP
//! binding): what a token request and an MCP request must cover, which parameters
//! they carry, and the `Accept-Signature` a verifier sends back. Shared by the AS,
//! the resource side, the client and the conformance checks, so the three cannot
//! disagree on what "covered" means.

use std::time::Duration;

use mcp_auth_httpsig::{
    Algorithm, ComponentId, Derived, ParamName, SignatureRequest, VerificationPolicy,
    build_accept_signature,
};

use crate::cnf::{PREREGISTERED_ALGORITHMS, RUNTIME_ALGORITHMS};

/// The `tag` of a token request signature (draft §2.3).
pub const TOKEN_REQUEST_TAG: &str = "httpsig-oauth-token-request";
/// The `tag` of a presentation signature (draft §7).
pub const PRESENTATION_TAG: &str = "httpsig-oauth";
/// The authorization scheme (draft §7), matched case-insensitively.
pub const SCHEME: &str = "HTTPSig";
/// The `token_type` of a bound token (draft §6).
pub const TOKEN_TYPE: &str = "httpsig";
/// The error code for a presentation or token-request signature that fails
/// (HTTPSIG-RS-15; the draft defines none).
pub const INVALID_SIGNATURE: &str = "invalid_signature";
/// The label our signers use and our `Accept-Signature` asks for.
pub const LABEL: &str = "sig";
/// Client metadata naming the key binding method (draft §2).
pub const KEY_BINDING_METADATA: &str = "httpsig_key_binding_method";

/// How a client's key reaches the AS (draft §2.1, §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBinding {
    /// `alg` + `pub` in the token request signature.
    Runtime,
    /// `keyid` naming a key of the client's `jwks` / `jwks_uri`.
    Preregistered,
}

impl KeyBinding {
    /// The metadata value (`runtime`, `preregistered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runtime => "runtime",
            Self::Preregistered => "preregistered",
        }
    }

    /// Reads a metadata value.
    pub fn from_metadata(value: &str) -> Option<Self> {
        match value {
            "runtime" => Some(Self::Runtime),
            "preregistered" => Some(Self::Preregistered),
            _ => None,
        }
    }
}

/// The acceptance window (HTTPSIG-RS-8, HTTPSIG-AS-7): `created` at most `max_age` seconds
/// old and at most `future_skew` seconds ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Maximum age of `created`, seconds (default 30).
    pub max_age: u64,
    /// Tolerated clock skew into the future, seconds (default 5).
    pub future_skew: u64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            max_age: 30,
            future_skew: 5,
        }
    }
}

impl Window {
    /// How long a nonce is remembered (HTTPSIG-RS-9, HTTPSIG-RS-13): every signature that
    /// could still be accepted is covered.
    pub fn replay_ttl(&self) -> Duration {
        Duration::from_secs(self.max_age + self.future_skew)
    }
}

/// What a request looks like, as far as coverage is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestShape {
    /// The request is a POST carrying a JSON-RPC request or notification (or a body
    /// that is no JSON-RPC at all, refused later): `mcp-method` must be covered. A POST
    /// carrying a JSON-RPC response names no operation and has no `Mcp-*` headers.
    pub has_operation: bool,
    /// The request has a non-empty body.
    pub has_body: bool,
    /// The JSON-RPC method has a name (`tools/call`, `resources/read`, `prompts/get`).
    pub has_mcp_name: bool,
    /// `MCP-Protocol-Version` is present.
    pub has_protocol_version: bool,
}

/// The components an MCP request must cover (HTTPSIG-RS-7): `@method`,
/// `@target-uri`, `authorization`; `content-digest` with a body; `mcp-method` on
/// every POST of a request or notification; `mcp-name` when the operation has one; `mcp-protocol-version` when
/// sent.
pub fn presentation_components(shape: RequestShape) -> Vec<ComponentId> {
    let mut c = Vec::with_capacity(7);
    c.push(ComponentId::derived(Derived::Method));
    c.push(ComponentId::derived(Derived::TargetUri));
    c.push(ComponentId::field("authorization"));
    if shape.has_body {
        c.push(ComponentId::field("content-digest"));
    }
    if shape.has_operation {
        c.push(ComponentId::field("mcp-method"));
        if shape.has_mcp_name {
            c.push(ComponentId::field("mcp-name"));
        }
    }
    if shape.has_protocol_version {
        c.push(ComponentId::field("mcp-protocol-version"));
    }
    c
}

/// The `Mcp-Param-*` fields of a request (SEP-2243: a tool's arguments mirrored into
/// headers), each of which a presentation signature must cover when it is present
/// (HTTPSIG-RS-17, HTTPSIG-C-8): what intermediaries route or filter on is then as
/// authentic as the body it mirrors. In the order the fields first appear, once
/// each; none for most requests.
pub fn param_header_components(headers: &http::HeaderMap) -> Vec<ComponentId> {
    headers
        .keys()
        .filter(|name| name.as_str().starts_with(PARAM_HEADER_PREFIX))
        .map(|name| ComponentId::field(name.as_str()))
        .collect()
}

/// The prefix of the SEP-2243 custom headers, as `http` spells field names.
const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// Every component a presentation may be required to cover, for the resource
/// metadata `httpsig_required_components` (HTTPSIG-RS-1).
pub const ALL_PRESENTATION_COMPONENTS: [&str; 7] = [
    "@method",
    "@target-uri",
    "authorization",
    "content-digest",
    "mcp-method",
    "mcp-name",
    "mcp-protocol-version",
];

/// The policy for presentations (HTTPSIG-RS-6..10): the components above; `created`,
/// `nonce` (16–128 base64url characters) and `tag="httpsig-oauth"` required; `alg`,
/// `keyid`, `pub` forbidden; only `algorithm`, the one the token's `cnf` names.
pub fn presentation_policy(
    components: Vec<ComponentId>,
    window: Window,
    algorithm: Algorithm,
) -> VerificationPolicy {
    VerificationPolicy {
        required_components: components,
        allowed_algorithms: vec![algorithm],
        required_params: vec![ParamName::Created, ParamName::Nonce, ParamName::Tag],
        forbidden_params: vec![ParamName::Alg, ParamName::KeyId, ParamName::Pub],
        required_tag: Some(PRESENTATION_TAG.to_owned()),
        max_age: Some(window.max_age),
        future_skew: window.future_skew,
        nonce: Some(Default::default()),
        ..VerificationPolicy::default()
    }
}

/// The components a token request must cover (draft §2.3, HTTPSIG-AS-5): `@method`,
/// `@target-uri`, `content-digest`, and `authorization` when the client
/// authenticates with it.
pub fn token_request_components(has_authorization: bool) -> Vec<ComponentId> {
    let mut c = vec![
        ComponentId::derived(Derived::Method),
        ComponentId::derived(Derived::TargetUri),
        ComponentId::field("content-digest"),
    ];
    if has_authorization {
        c.push(ComponentId::field("authorization"));
    }
    c
}

/// The policy for token requests (draft §2.3 and §6, HTTPSIG-AS-4..10): runtime keys
/// carry `alg` + `pub` and no `keyid`; pre-registered keys carry `keyid` and neither
/// `alg` nor `pub`.
pub fn token_request_policy(
    components: Vec<ComponentId>,
    window: Window,
    binding: KeyBinding,
) -> VerificationPolicy {
    let (required_key, forbidden, allowed) = match binding {
        KeyBinding::Runtime => (
            vec![ParamName::Alg, ParamName::Pub],
            vec![ParamName::KeyId],
            RUNTIME_ALGORITHMS.to_vec(),
        ),
        KeyBinding::Preregistered => (
            vec![ParamName::KeyId],
            vec![ParamName::Alg, ParamName::Pub],
            PREREGISTERED_ALGORITHMS.map(Algorithm::Jws).to_vec(),
        ),
    };
    let mut required_params = vec![ParamName::Created, ParamName::Nonce, ParamName::Tag];
    required_params.extend(required_key);
    VerificationPolicy {
        required_components: components,
        allowed_algorithms: allowed,
        required_params,
        forbidden_params: forbidden,
        required_tag: Some(TOKEN_REQUEST_TAG.to_owned()),
        max_age: Some(window.max_age),
        future_skew: window.future_skew,
        nonce: Some(Default::default()),
        ..VerificationPolicy::default()
    }
}

/// The `Accept-Signature` value asking for exactly `components` with `created`,
/// `nonce` and `tag` (RFC 9421 §5.1, HTTPSIG-RS-15).
pub fn accept_signature(components: Vec<ComponentId>, tag: &str) -> String {
    let mut request = SignatureRequest::new(LABEL, components);
    request.created = true;
    request.tag = Some(tag.to_owned());
    build_accept_signature(&[request])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mcp_param_field_is_to_be_covered_once_in_order() {
        let mut headers = http::HeaderMap::new();
        headers.insert("mcp-method", "tools/call".parse().unwrap());
        headers.append("Mcp-Param-Region", "us-west1".parse().unwrap());
        headers.append("mcp-param-tenant", "acme".parse().unwrap());
        headers.append("mcp-param-region", "eu".parse().unwrap());
        headers.insert("x-mcp-param-not", "x".parse().unwrap());
        let names: Vec<String> = param_header_components(&headers)
            .iter()
            .map(|c| c.name_str().to_owned())
            .collect();
        assert_eq!(names, ["mcp-param-region", "mcp-param-tenant"]);
        assert!(param_header_components(&http::HeaderMap::new()).is_empty());
    }

    fn names(c: &[ComponentId]) -> Vec<&str> {
        c.iter().map(ComponentId::as_str).collect()
    }

    #[test]
    fn tools_call_with_protocol_version_covers_everything() {
        let c = presentation_components(RequestShape {
            has_operation: true,
            has_body: true,
            has_mcp_name: true,
            has_protocol_version: true,
        });
        assert_eq!(
            names(&c),
            [
                r#""@method""#,
                r#""@target-uri""#,
                r#""authorization""#,
                r#""content-digest""#,
                r#""mcp-method""#,
                r#""mcp-name""#,
                r#""mcp-protocol-version""#
            ]
        );
    }

    #[test]
    fn a_get_stream_covers_method_uri_and_token() {
        let c = presentation_components(RequestShape::default());
        assert_eq!(
            names(&c),
            [r#""@method""#, r#""@target-uri""#, r#""authorization""#]
        );
    }

    #[test]
    fn accept_signature_names_components_and_parameters() {
        let value = accept_signature(
            presentation_components(RequestShape {
                has_operation: true,
                has_body: true,
                ..Default::default()
            }),
            PRESENTATION_TAG,
        );
        assert_eq!(
            value,
            r#"sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method");created;tag="httpsig-oauth""#
        );
    }
}
