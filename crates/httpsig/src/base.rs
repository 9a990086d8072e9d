//! The signature base (RFC 9421 §2.5): one line per covered component, then the
//! `@signature-params` line.
//!
//! The same function serves signer and verifier. The verifier passes the
//! `@signature-params` value exactly as received in `Signature-Input` (RFC 9421
//! §3.2 step 7), so a signer's parameter order or spacing can never make the two
//! sides build different bases.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue};

use crate::components::{ComponentId, ComponentName, ComponentParam, Derived, usual_header};
use crate::error::BaseError;
use crate::message::{
    Message, RequestView, is_visible_ascii, trim_ows, trim_ows_str, visible_ascii,
};
use crate::structured;

/// Builds the signature base for `components` of `message`, ending with the
/// `@signature-params` line whose value is `signature_params` (the Inner List
/// serialization, without label).
///
/// Errors follow §2.5: a component listed twice, a missing field or dictionary key, an
/// unknown or incompatible parameter, `req` on a request, a non-ASCII value.
pub fn build(
    message: &Message<'_>,
    components: &[ComponentId],
    signature_params: &str,
) -> Result<String, BaseError> {
    // One allocation for the usual base: its lines are short but for `authorization`,
    // which carries an access token (a JWT of about 1 KiB).
    let mut out =
        String::with_capacity(64 * (components.len() + 1) + signature_params.len() + 1024);
    for (i, id) in components.iter().enumerate() {
        // §2.5 step 2.0: a repeated identifier is an error, not a no-op; removing
        // duplicates would let signer and verifier build different bases.
        if components[..i].iter().any(|earlier| earlier.same_as(id)) {
            return Err(BaseError::DuplicateComponent(id.as_str().to_owned()));
        }
        out.push_str(id.as_str());
        out.push_str(": ");
        let start = out.len();
        push_component_value(message, id, &mut out)?;
        // §2.5 step 4: the base is ASCII. Fields were read as visible ASCII already;
        // this also catches control characters from any other source.
        if !is_visible_ascii(&out.as_bytes()[start..]) {
            return Err(BaseError::NonAscii(id.as_str().to_owned()));
        }
        out.push('\n');
    }
    // Every line before is visible ASCII: the base is ASCII if this value is.
    if !signature_params.is_ascii() {
        return Err(BaseError::NonAscii("\"@signature-params\"".to_owned()));
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(signature_params);
    Ok(out)
}

/// Appends the component value of `id` (§2.1–§2.4) to `out`.
fn push_component_value(
    message: &Message<'_>,
    id: &ComponentId,
    out: &mut String,
) -> Result<(), BaseError> {
    let params = Params::check(id)?;

    // §2.4: `req` selects the related request of a response.
    let (target, is_request_context): (Context<'_>, bool) = match (message, params.req) {
        (Message::Request(_), true) => return Err(BaseError::ReqOnRequest(id.as_str().to_owned())),
        (Message::Request(r), false) => (Context::Request(r), true),
        (Message::Response { request, .. }, true) => match request {
            Some(r) => (Context::Request(r), true),
            None => {
                return Err(BaseError::RelatedRequestUnavailable(id.as_str().to_owned()));
            }
        },
        (Message::Response { response, .. }, false) => (
            Context::Response {
                status: response.status,
                headers: response.headers,
                trailers: response.trailers,
            },
            false,
        ),
    };

    match id.name() {
        ComponentName::UnknownDerived(name) => {
            Err(BaseError::UnknownDerivedComponent(name.clone()))
        }
        ComponentName::Derived(derived) => if let Context::Request(request) = target {
            push_derived_request(request, *derived, &params, id, out)
        } else {
            match (derived, &target) {
                (Derived::Status, Context::Response { status, .. }) => {
                    out.push_str(status.as_str());
                    Ok(())
                }
                _ => Err(BaseError::NotApplicable(id.as_str().to_owned())),
            }
        }
        .and_then(|()| {
            if *derived == Derived::Status && is_request_context {
                Err(BaseError::NotApplicable(id.as_str().to_owned()))
            } else {
                Ok(())
            }
        }),
        ComponentName::Field(name) => {
            let (headers, trailers) = target.fields();
            let source = if params.tr {
                trailers.ok_or_else(|| BaseError::MissingField(id.as_str().to_owned()))?
            } else {
                headers
            };
            push_field_value(source, name, &params, id, out)
        }
    }
}

enum Context<'a> {
    Request(&'a RequestView<'a>),
    Response {
        status: http::StatusCode,
        headers: &'a HeaderMap,
        trailers: Option<&'a HeaderMap>,
    },
}

impl<'a> Context<'a> {
    fn fields(&self) -> (&'a HeaderMap, Option<&'a HeaderMap>) {
        match self {
            Self::Request(r) => (r.headers, r.trailers),
            Self::Response {
                headers, trailers, ..
            } => (headers, *trailers),
        }
    }
}

/// The parameters of one identifier, checked for applicability (§2.5 step 2.4).
struct Params<'i> {
    sf: bool,
    key: Option<&'i str>,
    bs: bool,
    req: bool,
    tr: bool,
    name: Option<&'i str>,
}

impl<'i> Params<'i> {
    fn check(id: &'i ComponentId) -> Result<Self, BaseError> {
        let mut p = Params {
            sf: false,
            key: None,
            bs: false,
            req: false,
            tr: false,
            name: None,
        };
        let incompatible = |reason| BaseError::IncompatibleParameters {
            component: id.as_str().to_owned(),
            reason,
        };
        for param in id.params() {
            match param {
                ComponentParam::Sf => p.sf = true,
                ComponentParam::Key(k) => p.key = Some(k),
                ComponentParam::Bs => p.bs = true,
                ComponentParam::Req => p.req = true,
                ComponentParam::Tr => p.tr = true,
                ComponentParam::Name(n) => p.name = Some(n),
                ComponentParam::Unknown(k) => {
                    return Err(BaseError::UnknownParameter {
                        component: id.as_str().to_owned(),
                        parameter: k.clone(),
                    });
                }
            }
        }
        let is_field = matches!(id.name(), ComponentName::Field(_));
        let is_query_param = matches!(id.name(), ComponentName::Derived(Derived::QueryParam));
        if p.bs && (p.sf || p.key.is_some()) {
            return Err(incompatible("`bs` cannot be combined with `sf` or `key`"));
        }
        if !is_field && (p.sf || p.bs || p.key.is_some() || p.tr) {
            return Err(incompatible(
                "`sf`, `key`, `bs` and `tr` apply only to HTTP fields",
            ));
        }
        if is_query_param != p.name.is_some() {
            return Err(incompatible(
                "`name` is required by `@query-param` and applies to nothing else",
            ));
        }
        Ok(p)
    }
}

fn push_derived_request(
    request: &RequestView<'_>,
    derived: Derived,
    params: &Params<'_>,
    id: &ComponentId,
    out: &mut String,
) -> Result<(), BaseError> {
    let underivable = |reason| BaseError::Underivable {
        component: id.as_str().to_owned(),
        reason,
    };
    let uri = request.uri;
    match derived {
        Derived::Method => out.push_str(request.method.as_str()),
        Derived::TargetUri => {
            let scheme = request
                .effective_scheme()
                .ok_or_else(|| underivable("the request's scheme is not known"))?;
            let authority = request
                .effective_authority()
                .ok_or_else(|| underivable("the request has no authority or Host"))?;
            push_lowercase(out, scheme);
            out.push_str("://");
            out.push_str(authority);
            out.push_str(path_or_slash(uri.path()));
            if let Some(q) = uri.query() {
                out.push('?');
                out.push_str(q);
            }
        }
        Derived::Authority => {
            let authority = request
                .effective_authority()
                .ok_or_else(|| underivable("the request has no authority or Host"))?;
            push_normalized_authority(out, authority, request.effective_scheme());
        }
        Derived::Scheme => {
            let scheme = request
                .effective_scheme()
                .ok_or_else(|| underivable("the request's scheme is not known"))?;
            push_lowercase(out, scheme);
        }
        Derived::RequestTarget => {
            // §2.2.5: the request target as sent in HTTP/1.1: absolute form for a
            // proxy request, authority form for CONNECT, `*`, else origin form.
            if uri.scheme().is_some() && request.method != http::Method::CONNECT {
                out.push_str(&uri.to_string());
            } else if request.method == http::Method::CONNECT {
                let authority = uri
                    .authority()
                    .ok_or_else(|| underivable("CONNECT without an authority"))?;
                out.push_str(authority.as_str());
            } else {
                let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
                out.push_str(pq);
            }
        }
        Derived::Path => out.push_str(path_or_slash(uri.path())),
        Derived::Query => {
            out.push('?');
            if let Some(q) = uri.query() {
                out.push_str(q);
            }
        }
        Derived::QueryParam => {
            let name = params
                .name
                .ok_or_else(|| underivable("`@query-param` without `name`"))?;
            let value = crate::query::single_param(uri.query().unwrap_or(""), name)?;
            out.push_str(&value);
        }
        Derived::Status => return Err(BaseError::NotApplicable(id.as_str().to_owned())),
    }
    Ok(())
}

fn path_or_slash(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn push_lowercase(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
}

/// §2.2.3: host lowercased, default port (80 for http, 443 for https) omitted.
fn push_normalized_authority(out: &mut String, authority: &str, scheme: Option<&str>) {
    // Strip userinfo, which HTTP forbids in the authority of a target URI anyway.
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match hostport.rfind(':') {
        // An IPv6 literal has colons inside brackets: only a colon after `]` is a port.
        Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
        _ => (hostport, None),
    };
    push_lowercase(out, host);
    let default = match scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("https") => Some("443"),
        Some("http") => Some("80"),
        _ => None,
    };
    if let Some(port) = port
        && !port.is_empty()
        && Some(port) != default
    {
        out.push(':');
        out.push_str(port);
    }
}

/// §2.1: the field value, or its `sf` / `key` / `bs` form.
fn push_field_value(
    fields: &HeaderMap,
    name: &str,
    params: &Params<'_>,
    id: &ComponentId,
    out: &mut String,
) -> Result<(), BaseError> {
    let mut values = field_lines(fields, name).iter().peekable();
    if values.peek().is_none() {
        return Err(BaseError::MissingField(id.as_str().to_owned()));
    }
    if params.bs {
        // §2.1.3: each field line, trimmed, as a Byte Sequence; a List of them.
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push(':');
            out.push_str(&STANDARD.encode(trim_ows(v.as_bytes())));
            out.push(':');
        }
        return Ok(());
    }
    // §2.1: lines trimmed and joined with ", ". Values must be visible ASCII (and
    // SP/HTAB); obs-text cannot be put into a base (§2.5 step 4).
    let non_ascii = || BaseError::NonAscii(id.as_str().to_owned());
    if params.key.is_none() && !params.sf {
        // The common case: write the value straight into the base.
        for (i, v) in values.enumerate() {
            let text = visible_ascii(trim_ows(v.as_bytes())).ok_or_else(non_ascii)?;
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(text);
        }
        return Ok(());
    }
    let mut combined = String::new();
    for (i, v) in values.enumerate() {
        let text = v.to_str().map_err(|_| non_ascii())?;
        if i > 0 {
            combined.push_str(", ");
        }
        combined.push_str(trim_ows_str(text));
    }
    let serialized = structured::reserialize(name, &combined, params.key).map_err(|e| match e {
        structured::ReserializeError::NotStructured(reason) => BaseError::NotStructured {
            component: id.as_str().to_owned(),
            reason,
        },
        structured::ReserializeError::MissingKey(key) => BaseError::MissingDictionaryKey {
            component: id.as_str().to_owned(),
            key,
        },
    })?;
    out.push_str(&serialized);
    Ok(())
}

/// The lines of field `name` (lowercase): a usual field by its static header name,
/// which spares parsing the name on every lookup; any other by `name`.
fn field_lines<'h>(fields: &'h HeaderMap, name: &str) -> http::header::GetAll<'h, HeaderValue> {
    match usual_header(name) {
        Some(header) => fields.get_all(header),
        None => fields.get_all(name),
    }
}
