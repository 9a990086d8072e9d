//! `Accept-Signature` (RFC 9421 §5.1): a request for signatures, sent by a verifier
//! (e.g. in a 401 response) to tell the signer exactly what to sign.

use sfv::{BareItem, Dictionary, ListEntry, Parser};

use crate::components::ComponentId;
use crate::error::FieldError;

/// One requested signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRequest {
    /// The label the signer must use.
    pub label: String,
    /// The exact components to cover.
    pub components: Vec<ComponentId>,
    /// `created` requested (no value in a request).
    pub created: bool,
    /// `expires` requested (no value in a request).
    pub expires: bool,
    /// `nonce` to include, when the requester chose it.
    pub nonce: Option<String>,
    /// `alg` to use.
    pub alg: Option<String>,
    /// `keyid` of the key to use.
    pub keyid: Option<String>,
    /// `tag` to include.
    pub tag: Option<String>,
}

impl SignatureRequest {
    /// A request for a signature with `label` over `components`.
    pub fn new(label: impl Into<String>, components: Vec<ComponentId>) -> Self {
        Self {
            label: label.into(),
            components,
            created: false,
            expires: false,
            nonce: None,
            alg: None,
            keyid: None,
            tag: None,
        }
    }

    fn serialize_into(&self, out: &mut String) {
        out.push_str(&self.label);
        out.push('=');
        crate::components::push_component_list(out, &self.components);
        if self.created {
            out.push_str(";created");
        }
        if self.expires {
            out.push_str(";expires");
        }
        for (key, value) in [
            ("nonce", &self.nonce),
            ("alg", &self.alg),
            ("keyid", &self.keyid),
            ("tag", &self.tag),
        ] {
            if let Some(v) = value {
                out.push(';');
                out.push_str(key);
                out.push('=');
                crate::components::push_sf_string(out, v);
            }
        }
    }
}

/// Serializes an `Accept-Signature` value.
pub fn build_accept_signature(requests: &[SignatureRequest]) -> String {
    let mut out = String::new();
    for (i, r) in requests.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        r.serialize_into(&mut out);
    }
    out
}

/// Parses an `Accept-Signature` value.
pub fn parse_accept_signature(value: &str) -> Result<Vec<SignatureRequest>, FieldError> {
    const F: &str = "Accept-Signature";
    let dict: Dictionary = Parser::new(value).parse().map_err(|e| FieldError::Syntax {
        field: F,
        reason: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(dict.len());
    for (label, entry) in &dict {
        let label = label.as_str();
        let ListEntry::InnerList(list) = entry else {
            return Err(FieldError::WrongMemberType {
                field: F,
                label: label.to_owned(),
                expected: "an Inner List of component identifiers",
            });
        };
        let components = crate::components::components_of(
            label,
            list.items.iter().map(crate::components::owned_parts),
        )?;
        let mut req = SignatureRequest::new(label, components);
        for (key, v) in &list.params {
            let string = |v: &BareItem| {
                v.as_string().map(|s| s.as_str().to_owned()).ok_or_else(|| {
                    FieldError::InvalidParameter {
                        label: label.to_owned(),
                        param: key.as_str().to_owned(),
                        expected: "a String",
                    }
                })
            };
            match key.as_str() {
                "created" => req.created = v.as_boolean() == Some(true),
                "expires" => req.expires = v.as_boolean() == Some(true),
                "nonce" => req.nonce = Some(string(v)?),
                "alg" => req.alg = Some(string(v)?),
                "keyid" => req.keyid = Some(string(v)?),
                "tag" => req.tag = Some(string(v)?),
                _ => {}
            }
        }
        out.push(req);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9421 §5.1 example.
    #[test]
    fn rfc9421_5_1_round_trip() {
        let v = r#"sig1=("@method" "@target-uri" "@authority" "content-digest" "cache-control");keyid="test-key-rsa-pss";created;tag="app-123""#;
        let parsed = parse_accept_signature(v).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].components.len(), 5);
        assert!(parsed[0].created);
        assert_eq!(parsed[0].keyid.as_deref(), Some("test-key-rsa-pss"));
        assert_eq!(parsed[0].tag.as_deref(), Some("app-123"));
        // Our serializer uses a fixed parameter order; parsing it back is lossless.
        let again = parse_accept_signature(&build_accept_signature(&parsed)).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn malformed_accept_signature_is_an_error() {
        assert!(parse_accept_signature(r#"sig1="x""#).is_err());
        assert!(parse_accept_signature(r#"sig1=(x)"#).is_err());
        assert!(parse_accept_signature(r#"sig1=();tag=1"#).is_err());
    }
}
