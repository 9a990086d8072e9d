//! Signature parameters (RFC 9421 §2.3): the covered components and the metadata
//! (`created`, `expires`, `nonce`, `alg`, `keyid`, `tag`, and `pub` from
//! draft-richer-oauth-httpsig-03 §4.2), in the order the signer chose.
//!
//! The string parameters the one-pass reader of the usual fields reads
//! (`fields/direct.rs`) borrow the field they were read from (`'a`) when they have no
//! escapes, so that verifying a usual signature copies none of them; those of the
//! general parser are owned, and so are the ones a signer builds (`'static`).

use std::borrow::Cow;

use sfv::{BareItem, KeyRef, StringRef};

use crate::components::ComponentId;
use crate::error::{FieldError, ParamName};

/// One signature parameter, in serialization order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SigParam<'a> {
    /// `created`: Integer UNIX time.
    Created(i64),
    /// `expires`: Integer UNIX time.
    Expires(i64),
    /// `nonce`: String.
    Nonce(Cow<'a, str>),
    /// `alg`: String, a name from the HTTP Signature Algorithms registry.
    Alg(Cow<'a, str>),
    /// `keyid`: String.
    KeyId(Cow<'a, str>),
    /// `tag`: String.
    Tag(Cow<'a, str>),
    /// `pub`: Byte Sequence, the raw public key (draft-richer-oauth-httpsig-03 §4.2).
    Pub(Vec<u8>),
    /// Any other parameter, kept so the serialization round-trips.
    Other(String, BareItem),
}

impl SigParam<'_> {
    /// Which well-known parameter this is, if any.
    pub fn name(&self) -> Option<ParamName> {
        Some(match self {
            Self::Created(_) => ParamName::Created,
            Self::Expires(_) => ParamName::Expires,
            Self::Nonce(_) => ParamName::Nonce,
            Self::Alg(_) => ParamName::Alg,
            Self::KeyId(_) => ParamName::KeyId,
            Self::Tag(_) => ParamName::Tag,
            Self::Pub(_) => ParamName::Pub,
            Self::Other(..) => return None,
        })
    }

    /// The same parameter, owning its strings.
    pub fn into_owned(self) -> SigParam<'static> {
        match self {
            Self::Created(t) => SigParam::Created(t),
            Self::Expires(t) => SigParam::Expires(t),
            Self::Nonce(s) => SigParam::Nonce(Cow::Owned(s.into_owned())),
            Self::Alg(s) => SigParam::Alg(Cow::Owned(s.into_owned())),
            Self::KeyId(s) => SigParam::KeyId(Cow::Owned(s.into_owned())),
            Self::Tag(s) => SigParam::Tag(Cow::Owned(s.into_owned())),
            Self::Pub(b) => SigParam::Pub(b),
            Self::Other(k, v) => SigParam::Other(k, v),
        }
    }
}

/// The parsed value of one `Signature-Input` member, or the parameters a signer will
/// write. Build with the `with_*` methods, which append in call order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SignatureParams<'a> {
    /// The covered components, in order.
    pub components: Vec<ComponentId>,
    /// The parameters, in order.
    pub params: Vec<SigParam<'a>>,
}

macro_rules! getter {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty, $conv:expr) => {
        $(#[$doc])*
        pub fn $fn(&self) -> Option<$ty> {
            self.params.iter().find_map(|p| match p {
                SigParam::$variant(v) => Some($conv(v)),
                _ => None,
            })
        }
    };
}

impl<'a> SignatureParams<'a> {
    /// Parameters covering `components`, with no metadata yet.
    pub fn new(components: Vec<ComponentId>) -> Self {
        Self {
            components,
            params: Vec::new(),
        }
    }

    /// Appends a parameter.
    pub fn with(mut self, param: SigParam<'a>) -> Self {
        self.params
            .retain(|p| p.name().is_none() || p.name() != param.name());
        self.params.push(param);
        self
    }

    /// Appends `created`.
    pub fn with_created(self, t: i64) -> Self {
        self.with(SigParam::Created(t))
    }
    /// Appends `expires`.
    pub fn with_expires(self, t: i64) -> Self {
        self.with(SigParam::Expires(t))
    }
    /// Appends `nonce`.
    pub fn with_nonce(self, n: impl Into<Cow<'a, str>>) -> Self {
        self.with(SigParam::Nonce(n.into()))
    }
    /// Appends `alg`.
    pub fn with_alg(self, a: impl Into<Cow<'a, str>>) -> Self {
        self.with(SigParam::Alg(a.into()))
    }
    /// Appends `keyid`.
    pub fn with_keyid(self, k: impl Into<Cow<'a, str>>) -> Self {
        self.with(SigParam::KeyId(k.into()))
    }
    /// Appends `tag`.
    pub fn with_tag(self, t: impl Into<Cow<'a, str>>) -> Self {
        self.with(SigParam::Tag(t.into()))
    }
    /// Appends `pub`.
    pub fn with_pub(self, key: Vec<u8>) -> Self {
        self.with(SigParam::Pub(key))
    }

    getter!(/// `created`, if present.
        created, Created, i64, |v: &i64| *v);
    getter!(/// `expires`, if present.
        expires, Expires, i64, |v: &i64| *v);
    getter!(/// `nonce`, if present.
        nonce, Nonce, &str, cow_str);
    getter!(/// `alg`, if present.
        alg, Alg, &str, cow_str);
    getter!(/// `keyid`, if present.
        keyid, KeyId, &str, cow_str);
    getter!(/// `tag`, if present.
        tag, Tag, &str, cow_str);
    getter!(/// `pub`, if present.
        public_key, Pub, &[u8], Vec::as_slice);

    /// The same parameters, owning their strings.
    pub fn into_owned(self) -> SignatureParams<'static> {
        SignatureParams {
            components: self.components,
            params: self.params.into_iter().map(SigParam::into_owned).collect(),
        }
    }

    /// True when the parameter is present.
    pub fn has(&self, name: ParamName) -> bool {
        self.params.iter().any(|p| p.name() == Some(name))
    }

    /// The strict serialization as an Inner List with parameters: the value of
    /// `@signature-params` and of the `Signature-Input` member.
    ///
    /// Fails only if a string parameter holds characters a Structured Field String
    /// cannot carry (outside printable ASCII).
    pub fn serialize(&self) -> Result<String, FieldError> {
        let mut out = String::with_capacity(32 * (self.components.len() + 1));
        crate::components::push_component_list(&mut out, &self.components);
        let bad = |param: &str| FieldError::InvalidParameter {
            label: String::new(),
            param: param.to_owned(),
            expected: "printable ASCII",
        };
        for p in &self.params {
            let (key, value): (&str, sfv::RefBareItem<'_>) = match p {
                SigParam::Created(t) => {
                    ("created", integer(*t).ok_or_else(|| bad("created"))?.into())
                }
                SigParam::Expires(t) => {
                    ("expires", integer(*t).ok_or_else(|| bad("expires"))?.into())
                }
                SigParam::Nonce(s) => ("nonce", sf_string(s).ok_or_else(|| bad("nonce"))?.into()),
                SigParam::Alg(s) => ("alg", sf_string(s).ok_or_else(|| bad("alg"))?.into()),
                SigParam::KeyId(s) => ("keyid", sf_string(s).ok_or_else(|| bad("keyid"))?.into()),
                SigParam::Tag(s) => ("tag", sf_string(s).ok_or_else(|| bad("tag"))?.into()),
                SigParam::Pub(b) => ("pub", sfv::RefBareItem::ByteSequence(b)),
                SigParam::Other(k, v) => (k.as_str(), v.into()),
            };
            let key = KeyRef::from_str(key).map_err(|_| bad(key))?;
            // Serialize `;key=value` through sfv, so booleans and escapes are exact.
            let item = sfv::ItemSerializer::new()
                .bare_item(1)
                .parameter(key, value)
                .finish();
            out.push_str(&item[1..]);
        }
        Ok(out)
    }

    /// Builds parameters from a parsed `Signature-Input` member labelled `label`: the
    /// items of its Inner List and the list's parameters.
    /// (The general path, for what the one-pass reader of `fields/direct.rs` leaves:
    /// its strings are owned.)
    pub(crate) fn from_inner_list(
        label: &str,
        list: &crate::borrowed::InnerList<'_>,
    ) -> Result<SignatureParams<'static>, FieldError> {
        let components = crate::components::components_of(
            label,
            list.items
                .iter()
                .map(|item| (item.bare(), item.params.iter())),
        )?;
        let invalid = |param: &str, expected| FieldError::InvalidParameter {
            label: label.to_owned(),
            param: param.to_owned(),
            expected,
        };
        let mut params = Vec::with_capacity(list.params.len());
        for (key, value) in list.params.iter() {
            let key = key.as_str();
            let p = match key {
                "created" | "expires" => {
                    let t = value
                        .as_integer()
                        .map(i64::from)
                        .ok_or_else(|| invalid(key, "an Integer"))?;
                    if key == "created" {
                        SigParam::Created(t)
                    } else {
                        SigParam::Expires(t)
                    }
                }
                "nonce" | "alg" | "keyid" | "tag" => {
                    let s = value
                        .as_string()
                        .map(|s| Cow::Owned(s.as_str().to_owned()))
                        .ok_or_else(|| invalid(key, "a String"))?;
                    match key {
                        "nonce" => SigParam::Nonce(s),
                        "alg" => SigParam::Alg(s),
                        "keyid" => SigParam::KeyId(s),
                        _ => SigParam::Tag(s),
                    }
                }
                "pub" => SigParam::Pub(
                    value
                        .as_byte_sequence()
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| invalid(key, "a Byte Sequence"))?,
                ),
                _ => SigParam::Other(key.to_owned(), value.into()),
            };
            params.push(p);
        }
        Ok(SignatureParams { components, params })
    }
}

/// A string parameter's value (for `getter!`; a `&Cow<str>` derefs to it).
fn cow_str(value: &str) -> &str {
    value
}

fn integer(t: i64) -> Option<sfv::Integer> {
    sfv::Integer::try_from(t).ok()
}

fn sf_string(s: &str) -> Option<&StringRef> {
    StringRef::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Derived;

    #[test]
    fn serializes_in_the_order_given() {
        let p = SignatureParams::new(vec![
            ComponentId::derived(Derived::TargetUri),
            ComponentId::derived(Derived::Authority),
            ComponentId::field("date"),
            ComponentId::field("cache-control"),
        ])
        .with_keyid("test-key-rsa-pss")
        .with_alg("rsa-pss-sha512")
        .with_created(1618884475)
        .with_expires(1618884775);
        // RFC 9421 §2.3 example
        assert_eq!(
            p.serialize().unwrap(),
            r#"("@target-uri" "@authority" "date" "cache-control");keyid="test-key-rsa-pss";alg="rsa-pss-sha512";created=1618884475;expires=1618884775"#
        );
    }

    #[test]
    fn pub_is_a_byte_sequence() {
        let p = SignatureParams::new(vec![ComponentId::derived(Derived::Method)])
            .with_pub(vec![0x8a, 0xe7, 0xa6]);
        assert_eq!(p.serialize().unwrap(), r#"("@method");pub=:iuem:"#);
    }

    #[test]
    fn non_ascii_strings_cannot_be_serialized() {
        let p = SignatureParams::new(vec![]).with_nonce("é");
        assert!(p.serialize().is_err());
    }
}
