//! The MCP authorization base requirements of an authorization server
//! (profiles/base.md, `BASE-AS-n`), checked from outside.
//!
//! The metadata rules (BASE-AS-2 to -7) are one table, `DOCUMENT_RULES`, judged on
//! every document BASE-AS-1 found; the authorization endpoint checks are in
//! [`crate::as_authorize`], the token endpoint checks in [`crate::as_token`], the
//! Client ID Metadata Document checks in [`crate::as_cimd`].
//! BASE-AS-23 and BASE-AS-26 are not black-box (profiles/base.md §7) and have no
//! check here.

use serde_json::{Map, Value};

use crate::as_authorize;
use crate::as_token;
use crate::authorization_server::{AsTarget, MetadataDocument, is_loopback_http};
use crate::check::{Check, Outcome};

/// A rule every metadata document must hold.
struct DocumentRule {
    id: &'static str,
    requirement: &'static str,
    judge: fn(&AsTarget, &MetadataDocument, &Map<String, Value>) -> Outcome,
}

/// BASE-AS-2 to BASE-AS-7, each judged on every document BASE-AS-1 found.
static DOCUMENT_RULES: [DocumentRule; 6] = [
    DocumentRule {
        id: "BASE-AS-2",
        requirement: "the metadata's issuer is identical to the issuer its URL was built from",
        judge: issuer_identical,
    },
    DocumentRule {
        id: "BASE-AS-3",
        requirement: "the issuer is an https URL with no query and no fragment",
        judge: issuer_https,
    },
    DocumentRule {
        id: "BASE-AS-4",
        requirement: "the metadata has the members its format requires and none with zero elements",
        judge: required_members,
    },
    DocumentRule {
        id: "BASE-AS-5",
        requirement: "every endpoint of the metadata (and jwks_uri) is served over https",
        judge: endpoints_https,
    },
    DocumentRule {
        id: "BASE-AS-6",
        requirement: "code_challenge_methods_supported lists S256",
        judge: |_, _, m| list_contains(m, "code_challenge_methods_supported", "S256"),
    },
    DocumentRule {
        id: "BASE-AS-7",
        requirement: "response_types_supported contains code",
        judge: |_, _, m| list_contains(m, "response_types_supported", "code"),
    },
];

/// Every black-box base check of an authorization server, in order.
pub fn checks() -> Vec<Check<AsTarget>> {
    let mut checks: Vec<Check<AsTarget>> = vec![Check {
        id: "BASE-AS-1",
        requirement: "metadata is published (RFC 8414 or OIDC Discovery) at a well-known URL: 200, a JSON object, application/json",
        run: Box::new(|t| Box::pin(metadata_published(t))),
    }];
    for rule in &DOCUMENT_RULES {
        checks.push(Check {
            id: rule.id,
            requirement: rule.requirement,
            run: Box::new(move |t| Box::pin(every_document(t, rule))),
        });
    }
    checks.extend(as_authorize::checks_8_to_10());
    checks.extend(as_token::checks());
    checks.extend(as_authorize::checks_19_and_20());
    checks.extend(crate::as_cimd::checks());
    checks.extend(as_token::jwt_checks());
    checks
}

/// The media type of a `Content-Type` value, lower-cased, without parameters.
fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The path of a metadata URL, to tell the documents apart in one line.
fn location(document: &MetadataDocument) -> String {
    url::Url::parse(&document.url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| document.url.clone())
}

async fn metadata_published(t: &AsTarget) -> Outcome {
    let documents = t.documents().await;
    let served: Vec<&MetadataDocument> = documents.iter().filter(|d| d.served()).collect();
    if served.is_empty() {
        let tried: Vec<String> = documents.iter().map(MetadataDocument::summary).collect();
        return Outcome::fail(format!("no metadata: {}", tried.join("; ")));
    }
    // RFC 8414 §3.2, OIDC Discovery §4.2: the answer is `application/json`.
    let mut seen = Vec::new();
    for d in &served {
        let media = media_type(d.content_type.as_deref());
        if media != "application/json" {
            return Outcome::fail(format!(
                "{}: 200 JSON object as {:?}",
                location(d),
                d.content_type.as_deref().unwrap_or("no Content-Type")
            ));
        }
        seen.push(format!("{}: 200 application/json", location(d)));
    }
    Outcome::pass(seen.join("; "))
}

/// Judges `rule` on every served document: a failure in any fails; otherwise a
/// skip in any skips (what it could not check); otherwise a pass.
async fn every_document(t: &AsTarget, rule: &DocumentRule) -> Outcome {
    let documents = t.documents().await;
    let mut outcomes = Vec::new();
    for d in documents {
        if let Some(m) = d.metadata() {
            let outcome = (rule.judge)(t, d, m);
            outcomes.push((location(d), outcome));
        }
    }
    if outcomes.is_empty() {
        return Outcome::skip("no metadata document to check (BASE-AS-1)");
    }
    for wanted in ["fail", "skip"] {
        if let Some((at, o)) = outcomes.iter().find(|(_, o)| o.name() == wanted) {
            let evidence = format!("{at}: {}", o.evidence());
            return if wanted == "fail" {
                Outcome::fail(evidence)
            } else {
                Outcome::skip(evidence)
            };
        }
    }
    let evidence: Vec<String> = outcomes
        .iter()
        .map(|(at, o)| format!("{at}: {}", o.evidence()))
        .collect();
    Outcome::pass(evidence.join("; "))
}

fn issuer_identical(t: &AsTarget, _: &MetadataDocument, m: &Map<String, Value>) -> Outcome {
    // RFC 8414 §3.3: identical, no normalization (trailing slash, case).
    let issuer = m.get("issuer");
    Outcome::from_bool(
        issuer.and_then(Value::as_str) == Some(t.issuer.as_str()),
        format!("issuer {}", issuer.unwrap_or(&Value::Null)),
    )
}

fn issuer_https(_: &AsTarget, _: &MetadataDocument, m: &Map<String, Value>) -> Outcome {
    let Some(issuer) = m.get("issuer").and_then(Value::as_str) else {
        return Outcome::fail("no issuer");
    };
    let url = match url::Url::parse(issuer) {
        Ok(u) => u,
        Err(e) => return Outcome::fail(format!("issuer {issuer:?} is not a URL: {e}")),
    };
    // RFC 8414 §2: no query or fragment components.
    if url.query().is_some() || url.fragment().is_some() || issuer.contains(['?', '#']) {
        return Outcome::fail(format!("issuer {issuer} has a query or a fragment"));
    }
    if url.scheme() == "https" {
        return Outcome::pass(format!("issuer {issuer}"));
    }
    if is_loopback_http(&url) {
        return Outcome::skip(format!(
            "issuer {issuer}: http on loopback, a local deployment; https is not checkable here"
        ));
    }
    Outcome::fail(format!("issuer {issuer} is not https"))
}

/// RFC 8414 §2 requires these; OIDC Discovery §3 adds [`OPENID_REQUIRED`].
const OAUTH_REQUIRED: [&str; 4] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "response_types_supported",
];
const OPENID_REQUIRED: [&str; 3] = [
    "jwks_uri",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];

fn required_members(_: &AsTarget, d: &MetadataDocument, m: &Map<String, Value>) -> Outcome {
    let extra: &[&str] = if d.openid { &OPENID_REQUIRED } else { &[] };
    let missing: Vec<&str> = OAUTH_REQUIRED
        .iter()
        .chain(extra)
        .copied()
        .filter(|name| m.get(*name).is_none_or(Value::is_null))
        .collect();
    // RFC 8414 §3.2: "Claims with zero elements MUST be omitted from the response."
    let empty: Vec<&str> = m
        .iter()
        .filter(|(_, v)| v.as_array().is_some_and(Vec::is_empty))
        .map(|(k, _)| k.as_str())
        .collect();
    let format = if d.openid {
        "OIDC Discovery"
    } else {
        "RFC 8414"
    };
    if missing.is_empty() && empty.is_empty() {
        return Outcome::pass(format!("{format}: required members present"));
    }
    Outcome::fail(format!(
        "{format}: missing {missing:?}, with zero elements {empty:?}"
    ))
}

fn endpoints_https(_: &AsTarget, _: &MetadataDocument, m: &Map<String, Value>) -> Outcome {
    let mut loopback = Vec::new();
    let mut https = 0;
    for (name, value) in m {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        let Some(url) = value.as_str() else {
            return Outcome::fail(format!("{name} is not a string"));
        };
        match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" => https += 1,
            Ok(u) if is_loopback_http(&u) => loopback.push(name.as_str()),
            _ => return Outcome::fail(format!("{name} {url} is not https")),
        }
    }
    if loopback.is_empty() {
        Outcome::pass(format!("{https} endpoints, all https"))
    } else {
        Outcome::skip(format!(
            "{} on http loopback (a local deployment; https is not checkable here), {https} https",
            loopback.join(", ")
        ))
    }
}

fn list_contains(m: &Map<String, Value>, member: &str, wanted: &str) -> Outcome {
    let Some(value) = m.get(member) else {
        return Outcome::fail(format!("no {member}"));
    };
    let holds = value
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(wanted)));
    Outcome::from_bool(holds, format!("{member} {value}"))
}
