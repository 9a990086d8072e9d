//! Component identifiers (RFC 9421 §2): the names and parameters that say which
//! parts of a message a signature covers.
//!
//! An identifier is a Structured Field String item with parameters, such as
//! `"@method"`, `"content-digest"`, `"example-dict";key="a"` or
//! `"@query-param";name="pet"`. It is parsed once into [`ComponentId`], which keeps
//! its exact serialization for the signature base.

use std::borrow::Cow;
use std::fmt;

use sfv::{Item, KeyRef, RefBareItem, StringRef};

/// `"name"`: a name that needs no escaping as a Structured Field String, serialized.
macro_rules! quoted {
    ($name:literal) => {
        concat!("\"", $name, "\"")
    };
}

use crate::error::BaseError;

/// A derived component (RFC 9421 §2.2): a value taken from the message's control data
/// rather than from a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Derived {
    /// `@method` (§2.2.1)
    Method,
    /// `@target-uri` (§2.2.2)
    TargetUri,
    /// `@authority` (§2.2.3)
    Authority,
    /// `@scheme` (§2.2.4)
    Scheme,
    /// `@request-target` (§2.2.5)
    RequestTarget,
    /// `@path` (§2.2.6)
    Path,
    /// `@query` (§2.2.7)
    Query,
    /// `@query-param` (§2.2.8), with the `name` parameter
    QueryParam,
    /// `@status` (§2.2.9), responses only
    Status,
}

impl Derived {
    /// Looks a derived component up by its name (with the `@`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "@method" => Self::Method,
            "@target-uri" => Self::TargetUri,
            "@authority" => Self::Authority,
            "@scheme" => Self::Scheme,
            "@request-target" => Self::RequestTarget,
            "@path" => Self::Path,
            "@query" => Self::Query,
            "@query-param" => Self::QueryParam,
            "@status" => Self::Status,
            _ => return None,
        })
    }

    /// The component name, with the `@`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Method => "@method",
            Self::TargetUri => "@target-uri",
            Self::Authority => "@authority",
            Self::Scheme => "@scheme",
            Self::RequestTarget => "@request-target",
            Self::Path => "@path",
            Self::Query => "@query",
            Self::QueryParam => "@query-param",
            Self::Status => "@status",
        }
    }

    /// The identifier of this component without parameters, as serialized: the name
    /// as a Structured Field String (`"@method"`).
    fn serialized(self) -> &'static str {
        match self {
            Self::Method => quoted!("@method"),
            Self::TargetUri => quoted!("@target-uri"),
            Self::Authority => quoted!("@authority"),
            Self::Scheme => quoted!("@scheme"),
            Self::RequestTarget => quoted!("@request-target"),
            Self::Path => quoted!("@path"),
            Self::Query => quoted!("@query"),
            Self::QueryParam => quoted!("@query-param"),
            Self::Status => quoted!("@status"),
        }
    }
}

/// A name, its identifier without parameters serialized (the name as a Structured
/// Field String) and its header name. Written once, so the three cannot disagree.
macro_rules! usual {
    ($name:literal) => {
        ($name, quoted!($name), http::HeaderName::from_static($name))
    };
}

/// Fields that signatures usually cover (the MCP profiles' and RFC 9421's examples),
/// each with its identifier serialized: an identifier naming one of them without
/// parameters is made from a parsed `Signature-Input` without allocating, and its
/// lines are looked up without parsing the name ([`usual_header`]), as verifying
/// every request reads several.
static USUAL_FIELDS: [(&str, &str, http::HeaderName); 12] = [
    usual!("authorization"),
    usual!("content-digest"),
    usual!("content-type"),
    usual!("content-length"),
    usual!("mcp-method"),
    usual!("mcp-name"),
    usual!("mcp-protocol-version"),
    usual!("mcp-session-id"),
    usual!("date"),
    usual!("host"),
    usual!("dpop"),
    usual!("signature-key"),
];

/// The entry of [`USUAL_FIELDS`] for `name`, if it is one of them.
fn usual(name: &str) -> Option<&'static (&'static str, &'static str, http::HeaderName)> {
    USUAL_FIELDS.iter().find(|(n, _, _)| *n == name)
}

/// The static name and serialization of `name` when it is one of [`USUAL_FIELDS`].
fn usual_field(name: &str) -> Option<(&'static str, &'static str)> {
    usual(name).map(|(n, serialized, _)| (*n, *serialized))
}

/// The header name of `name` when it is one of [`USUAL_FIELDS`].
pub(crate) fn usual_header(name: &str) -> Option<&'static http::HeaderName> {
    usual(name).map(|(_, _, header)| header)
}

/// What a component identifier names: a derived component or an HTTP field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ComponentName {
    /// A derived component (`@...`).
    Derived(Derived),
    /// A derived component name this implementation does not know; building a base
    /// with it fails (§2.5), but it can still be parsed and reported.
    UnknownDerived(String),
    /// An HTTP field, by its lowercase name.
    // Borrowed for the usual fields (`USUAL_FIELDS`), which a verifier reads with
    // every request.
    Field(Cow<'static, str>),
}

/// A component parameter (RFC 9421 §2.1, §2.2.8, §2.4 and the IANA registry §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ComponentParam {
    /// `sf`: strict structured-field serialization (§2.1.1).
    Sf,
    /// `key="..."`: one member of a Dictionary field (§2.1.2).
    Key(String),
    /// `bs`: each field line wrapped as a Byte Sequence (§2.1.3).
    Bs,
    /// `req`: taken from the request that triggered the response (§2.4).
    Req,
    /// `tr`: taken from the trailers (§2.1.4).
    Tr,
    /// `name="..."`: the query parameter of `@query-param` (§2.2.8).
    Name(String),
    /// A parameter this implementation does not understand; building a base fails.
    Unknown(String),
}

impl ComponentParam {
    fn key(&self) -> &str {
        match self {
            Self::Sf => "sf",
            Self::Key(_) => "key",
            Self::Bs => "bs",
            Self::Req => "req",
            Self::Tr => "tr",
            Self::Name(_) => "name",
            Self::Unknown(k) => k,
        }
    }
}

/// A component identifier: name plus ordered parameters, with its serialization.
///
/// Two identifiers are the same component when their names and sets of parameters are
/// equal (parameter order does not change what is covered); [`ComponentId::same_as`]
/// implements that comparison.
#[derive(Debug, Clone)]
pub struct ComponentId {
    name: ComponentName,
    params: Vec<ComponentParam>,
    /// Borrowed for the usual identifiers ([`Derived::serialized`], [`USUAL_FIELDS`]).
    serialized: Cow<'static, str>,
}

impl PartialEq for ComponentId {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}
impl Eq for ComponentId {}

impl ComponentId {
    /// A derived component without parameters, e.g. `ComponentId::derived(Derived::Method)`.
    pub fn derived(derived: Derived) -> Self {
        Self::build(ComponentName::Derived(derived), Vec::new())
    }

    /// An HTTP field without parameters. The name is lowercased (§2.1).
    pub fn field(name: &str) -> Self {
        let lowercase = name.to_ascii_lowercase();
        let name = match usual_field(&lowercase) {
            Some((usual, _)) => Cow::Borrowed(usual),
            None => Cow::Owned(lowercase),
        };
        Self::build(ComponentName::Field(name), Vec::new())
    }

    /// `@query-param;name="..."` (§2.2.8). `name` is given already encoded.
    pub fn query_param(name: &str) -> Self {
        Self::build(
            ComponentName::Derived(Derived::QueryParam),
            vec![ComponentParam::Name(name.to_owned())],
        )
    }

    /// Adds a parameter (builder style): `ComponentId::field("x").with(ComponentParam::Sf)`.
    pub fn with(self, param: ComponentParam) -> Self {
        let mut params = self.params;
        params.push(param);
        Self::build(self.name, params)
    }

    /// Parses one identifier from its serialized form, e.g. `"@query-param";name="a"`.
    pub fn parse(text: &str) -> Result<Self, BaseError> {
        let item: Item = sfv::Parser::new(text)
            .parse()
            .map_err(|_| BaseError::InvalidIdentifier(text.to_owned()))?;
        Self::from_owned_item(&item).map_err(|_| BaseError::InvalidIdentifier(text.to_owned()))
    }

    /// Parses a whitespace-separated list of identifiers, as written inside the
    /// parentheses of `Signature-Input`: `"@method" "@path" "content-digest"`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, BaseError> {
        let wrapped = format!("({})", text.trim());
        let list: sfv::List = sfv::Parser::new(&wrapped)
            .parse()
            .map_err(|_| BaseError::InvalidIdentifier(text.to_owned()))?;
        match list.as_slice() {
            [sfv::ListEntry::InnerList(inner)] if inner.params.is_empty() => inner
                .items
                .iter()
                .map(|item| {
                    Self::from_owned_item(item).map_err(|e| BaseError::InvalidIdentifier(e.0))
                })
                .collect(),
            _ => Err(BaseError::InvalidIdentifier(text.to_owned())),
        }
    }

    /// [`ComponentId::from_item`] for an item of sfv's owned types.
    pub(crate) fn from_owned_item(item: &Item) -> Result<Self, InvalidItem> {
        let (bare, params) = owned_parts(item);
        Self::from_item(bare, params)
    }

    /// Builds an identifier from a parsed String item (`bare` with `params`). Unknown
    /// parameters are kept (and refused when a base is built, as §2.5 asks); a
    /// non-String item, or a field name that is not lowercase, is an error here.
    pub(crate) fn from_item<'p>(
        bare: RefBareItem<'p>,
        params: impl Iterator<Item = (&'p KeyRef, RefBareItem<'p>)> + Clone,
    ) -> Result<Self, InvalidItem> {
        let invalid = || InvalidItem(serialize_item(bare, params.clone()));
        let RefBareItem::String(name) = bare else {
            return Err(invalid());
        };
        let name = name.as_str();
        if params.clone().next().is_none() {
            return Self::from_plain_name(name).ok_or_else(invalid);
        }
        let Some((component_name, _)) = Self::named(name) else {
            return Err(invalid());
        };
        let mut parsed = Vec::new();
        for (key, value) in params.clone() {
            let param = match (key.as_str(), value) {
                ("sf", RefBareItem::Boolean(true)) => ComponentParam::Sf,
                ("bs", RefBareItem::Boolean(true)) => ComponentParam::Bs,
                ("req", RefBareItem::Boolean(true)) => ComponentParam::Req,
                ("tr", RefBareItem::Boolean(true)) => ComponentParam::Tr,
                ("key", RefBareItem::String(s)) => ComponentParam::Key(s.as_str().to_owned()),
                ("name", RefBareItem::String(s)) => ComponentParam::Name(s.as_str().to_owned()),
                (other, _) => ComponentParam::Unknown(other.to_owned()),
            };
            parsed.push(param);
        }
        // Keep the serialization exactly as a strict serializer writes it: this is
        // what goes into the signature base for this line (§2.5 step 2.1).
        Ok(Self {
            name: component_name,
            params: parsed,
            serialized: Cow::Owned(serialize_item(bare, params)),
        })
    }

    /// An identifier without parameters named `name` (a String's characters): what
    /// [`Self::from_item`] makes of a String item without parameters, and the direct
    /// reader of `Signature-Input` of each of its names; `None` where that is an error.
    /// The usual identifiers (a derived component or a usual field) take no allocation.
    pub(crate) fn from_plain_name(name: &str) -> Option<Self> {
        let (component_name, usual) = Self::named(name)?;
        let serialized = match usual {
            Some(serialized) => Cow::Borrowed(serialized),
            None => {
                let mut s = String::with_capacity(name.len() + 2);
                push_sf_string(&mut s, name);
                Cow::Owned(s)
            }
        };
        Some(Self {
            name: component_name,
            params: Vec::new(),
            serialized,
        })
    }

    /// What `name` names, and for a derived component or a usual field its
    /// serialization without parameters; `None` for a field name not in lowercase.
    fn named(name: &str) -> Option<(ComponentName, Option<&'static str>)> {
        if name.starts_with('@') {
            Some(match Derived::from_name(name) {
                Some(d) => (ComponentName::Derived(d), Some(d.serialized())),
                None => (ComponentName::UnknownDerived(name.to_owned()), None),
            })
        } else if let Some((field, serialized)) = usual_field(name) {
            Some((ComponentName::Field(Cow::Borrowed(field)), Some(serialized)))
        } else if is_lowercase_field_name(name) {
            Some((ComponentName::Field(Cow::Owned(name.to_owned())), None))
        } else {
            None
        }
    }

    fn build(name: ComponentName, params: Vec<ComponentParam>) -> Self {
        if params.is_empty() {
            let usual = match &name {
                ComponentName::Derived(d) => Some(d.serialized()),
                ComponentName::Field(f) => usual_field(f).map(|(_, serialized)| serialized),
                ComponentName::UnknownDerived(_) => None,
            };
            if let Some(serialized) = usual {
                return Self {
                    name,
                    params,
                    serialized: Cow::Borrowed(serialized),
                };
            }
        }
        let mut serialized = String::new();
        let name_str = match &name {
            ComponentName::Derived(d) => d.name(),
            ComponentName::UnknownDerived(s) => s.as_str(),
            ComponentName::Field(s) => s,
        };
        push_sf_string(&mut serialized, name_str);
        for p in &params {
            serialized.push(';');
            serialized.push_str(p.key());
            match p {
                ComponentParam::Key(v) | ComponentParam::Name(v) => {
                    serialized.push('=');
                    push_sf_string(&mut serialized, v);
                }
                _ => {}
            }
        }
        Self {
            name,
            params,
            serialized: Cow::Owned(serialized),
        }
    }

    /// What the identifier names.
    pub fn name(&self) -> &ComponentName {
        &self.name
    }

    /// The name as text (`@method`, `content-digest`).
    pub fn name_str(&self) -> &str {
        match &self.name {
            ComponentName::Derived(d) => d.name(),
            ComponentName::UnknownDerived(s) => s,
            ComponentName::Field(s) => s,
        }
    }

    /// The parameters, in their serialized order.
    pub fn params(&self) -> &[ComponentParam] {
        &self.params
    }

    /// The strict serialization, as it appears in a signature base line and in
    /// `Signature-Input`.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// True when the identifier has a parameter with this key.
    pub fn has_param(&self, key: &str) -> bool {
        self.params.iter().any(|p| p.key() == key)
    }

    /// Same name and same set of parameters (order-insensitive). Used for §2.5's
    /// duplicate detection and for policy coverage checks, where
    /// `"content-digest";sf` is a different component from `"content-digest"`.
    pub fn same_as(&self, other: &Self) -> bool {
        self.name == other.name
            && self.params.len() == other.params.len()
            && self.params.iter().all(|p| other.params.contains(p))
    }

    /// True for a plain field identifier of this name, with no parameters: the form
    /// a policy means when it requires a field to be covered.
    pub fn is_plain_field(&self, name: &str) -> bool {
        self.params.is_empty() && matches!(&self.name, ComponentName::Field(f) if f == name)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

/// The covered components of an Inner List (a `Signature-Input` or
/// `Accept-Signature` member labelled `label`), given as its items.
pub(crate) fn components_of<'p, P>(
    label: &str,
    items: impl ExactSizeIterator<Item = (RefBareItem<'p>, P)>,
) -> Result<Vec<ComponentId>, crate::error::FieldError>
where
    P: Iterator<Item = (&'p KeyRef, RefBareItem<'p>)> + Clone,
{
    let mut out = Vec::with_capacity(items.len());
    for (bare, params) in items {
        let id = ComponentId::from_item(bare, params).map_err(|e| {
            crate::error::FieldError::InvalidComponent {
                label: label.to_owned(),
                reason: format!("{} is not a valid component identifier", e.0),
            }
        })?;
        out.push(id);
    }
    Ok(out)
}

/// Appends `(c1 c2 ...)`, the Inner List of component identifiers.
pub(crate) fn push_component_list(out: &mut String, components: &[ComponentId]) {
    out.push('(');
    for (i, c) in components.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(c.as_str());
    }
    out.push(')');
}

/// A covered-component item that is not a valid identifier; holds its serialization.
#[derive(Debug)]
pub(crate) struct InvalidItem(pub(crate) String);

/// An item of sfv's owned types as the parts [`ComponentId::from_item`] and
/// [`components_of`] take.
pub(crate) fn owned_parts(
    item: &Item,
) -> (
    RefBareItem<'_>,
    impl Iterator<Item = (&KeyRef, RefBareItem<'_>)> + Clone,
) {
    (
        (&item.bare_item).into(),
        item.params.iter().map(|(k, v)| (k.as_ref(), v.into())),
    )
}

/// The strict serialization of an item given as its parts.
pub(crate) fn serialize_item<'p>(
    bare: RefBareItem<'p>,
    params: impl Iterator<Item = (&'p KeyRef, RefBareItem<'p>)>,
) -> String {
    sfv::ItemSerializer::new()
        .bare_item(bare)
        .parameters(params)
        .finish()
}

/// The strict serialization of an item of sfv's owned types.
pub(crate) fn serialize_owned_item(item: &Item) -> String {
    sfv::ItemSerializer::new()
        .bare_item(&item.bare_item)
        .parameters(&item.params)
        .finish()
}

/// Appends `value` as an sf-string (quoted, with `"` and `\` escaped). Values that
/// cannot be sf-strings never reach here: they were parsed from sf-strings or checked.
pub(crate) fn push_sf_string(out: &mut String, value: &str) {
    // Fast path for the usual identifier: printable ASCII with nothing to escape.
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.reserve(value.len() + 2);
        out.push('"');
        out.push_str(value);
        out.push('"');
        return;
    }
    match StringRef::from_str(value) {
        Ok(s) => {
            let ser = sfv::ItemSerializer::with_buffer(out);
            let _ = ser.bare_item(s).finish();
        }
        Err(_) => {
            // Not representable: escape what we can so the error shows up as a
            // failed verification, never as a panic.
            out.push('"');
            for c in value.chars().filter(|c| (' '..='~').contains(c)) {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
}

/// Field names are tokens (RFC 9110 §5.1); as component names they MUST be lowercase.
fn is_lowercase_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_keeps_strict_serialization() {
        let id = ComponentId::parse(r#""@query-param";name="pet""#).unwrap();
        assert_eq!(id.name(), &ComponentName::Derived(Derived::QueryParam));
        assert_eq!(id.params(), &[ComponentParam::Name("pet".into())]);
        assert_eq!(id.as_str(), r#""@query-param";name="pet""#);
    }

    #[test]
    fn the_usual_identifiers_are_serialized_as_any_other() {
        let derived = [
            Derived::Method,
            Derived::TargetUri,
            Derived::Authority,
            Derived::Scheme,
            Derived::RequestTarget,
            Derived::Path,
            Derived::Query,
            Derived::QueryParam,
            Derived::Status,
        ];
        let names = derived
            .iter()
            .map(|d| d.name())
            .chain(USUAL_FIELDS.iter().map(|(name, _, _)| *name));
        for name in names {
            let mut strict = String::new();
            push_sf_string(&mut strict, name);
            let parsed = ComponentId::parse(&strict).unwrap();
            assert!(matches!(parsed.serialized, Cow::Borrowed(_)), "{name}");
            assert_eq!(parsed.as_str(), strict, "{name}");
            assert_eq!(parsed.name_str(), name);
            let built = match Derived::from_name(name) {
                Some(d) => ComponentId::derived(d),
                None => ComponentId::field(&name.to_ascii_uppercase()),
            };
            assert_eq!(built.as_str(), strict, "{name}");
            assert!(built.same_as(&parsed), "{name}");
        }
        // With a parameter, the serialization is made as for any identifier.
        let sf = ComponentId::parse(r#""content-digest";sf"#).unwrap();
        assert_eq!(sf.as_str(), r#""content-digest";sf"#);
        assert!(!sf.same_as(&ComponentId::field("content-digest")));
        assert_eq!(
            ComponentId::field("content-digest")
                .with(ComponentParam::Sf)
                .as_str(),
            r#""content-digest";sf"#
        );
    }

    #[test]
    fn builder_matches_parser() {
        let built = ComponentId::field("Example-Dict").with(ComponentParam::Key("a".into()));
        let parsed = ComponentId::parse(r#""example-dict";key="a""#).unwrap();
        assert_eq!(built.as_str(), parsed.as_str());
        assert!(built.same_as(&parsed));
    }

    #[test]
    fn same_component_ignores_parameter_order_but_not_parameters() {
        let a = ComponentId::parse(r#""x";sf;req"#).unwrap();
        let b = ComponentId::parse(r#""x";req;sf"#).unwrap();
        let c = ComponentId::parse(r#""x";req"#).unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&c));
        let plain = |s: &str| ComponentId::parse(s).unwrap();
        assert!(plain(r#""x""#).same_as(&plain(r#""x""#)));
        assert!(!plain(r#""x""#).same_as(&plain(r#""y""#)));
        assert!(!plain(r#""@method""#).same_as(&plain(r#""@path""#)));
        assert!(!plain(r#""x";key="a""#).same_as(&plain(r#""x";key="b""#)));
        assert!(!plain(r#""x";key="a""#).same_as(&plain(r#""x""#)));
        assert!(
            !ComponentId::parse(r#""content-digest";sf"#)
                .unwrap()
                .is_plain_field("content-digest")
        );
    }

    #[test]
    fn uppercase_field_names_and_non_strings_are_invalid() {
        assert!(matches!(
            ComponentId::parse(r#""Content-Type""#),
            Err(BaseError::InvalidIdentifier(_))
        ));
        assert!(ComponentId::parse("method").is_err());
        assert!(ComponentId::parse("").is_err());
    }

    #[test]
    fn unknown_parameters_and_derived_names_are_kept_for_a_precise_error() {
        let id = ComponentId::parse(r#""@nope";foo=1"#).unwrap();
        assert_eq!(id.name(), &ComponentName::UnknownDerived("@nope".into()));
        assert_eq!(id.params(), &[ComponentParam::Unknown("foo".into())]);
    }

    #[test]
    fn parse_list_reads_a_covered_components_list() {
        let ids = ComponentId::parse_list(r#""@method" "@path"  "content-digest""#).unwrap();
        let names: Vec<_> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        assert_eq!(names, [r#""@method""#, r#""@path""#, r#""content-digest""#]);
    }
}
