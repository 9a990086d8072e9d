//! The authorization endpoint checks of an authorization server (profiles/base.md
//! BASE-AS-8, -9, -10, -19, -20), as a public client, without a user: each sends the
//! valid request of the client (S256 challenge, its registered redirect URI, `state`,
//! the first `--resource`) changed in one way, after a control: the unchanged request
//! must not be refused, so that a refusal can only be for the change.
//!
//! Without a scripted login, an AS that asks the user to sign in before it judges
//! the request (a 200 login page, a redirect to one) cannot be judged: the check is
//! skipped, saying so. Codes are never shown in the evidence.

use base64::Engine as _;
use serde_json::Value;

use crate::authorization_server::{AsTarget, PublicClient};
use crate::check::{Check, Outcome};
use crate::server::Answer;

/// The query of an authorization request.
type Params = Vec<(&'static str, String)>;

/// One change to the valid request, refused with `invalid_request`.
struct AuthorizeProbe {
    id: &'static str,
    requirement: &'static str,
    change: fn(&mut Params),
}

/// BASE-AS-8 and -9: OAuth 2.1 §4.1.2.1 names `invalid_request` for both.
static AUTHORIZE_PROBES: [AuthorizeProbe; 2] = [
    AuthorizeProbe {
        id: "BASE-AS-8",
        requirement: "an authorization request of a public client without code_challenge is refused (invalid_request), no code",
        change: |p| p.retain(|(k, _)| !k.starts_with("code_challenge")),
    },
    AuthorizeProbe {
        id: "BASE-AS-9",
        requirement: "an unsupported code_challenge_method is answered with invalid_request, no code",
        change: unknown_method,
    },
];

fn unknown_method(p: &mut Params) {
    set(p, "code_challenge_method", "X-unknown");
}

/// BASE-AS-8, -9 and -10, in order.
pub fn checks_8_to_10() -> Vec<Check<AsTarget>> {
    let mut checks: Vec<Check<AsTarget>> = AUTHORIZE_PROBES
        .iter()
        .map(|probe| Check {
            id: probe.id,
            requirement: probe.requirement,
            run: Box::new(move |t: &AsTarget| Box::pin(refused_probe(t, probe))),
        })
        .collect();
    checks.push(Check {
        id: "BASE-AS-10",
        requirement: "no redirect to a redirect_uri that differs from the registered one (exact string comparison)",
        run: Box::new(|t| Box::pin(exact_redirect_uri(t))),
    });
    checks
}

/// BASE-AS-19 and -20, in order.
pub fn checks_19_and_20() -> Vec<Check<AsTarget>> {
    vec![
        Check {
            id: "BASE-AS-19",
            requirement: "an AS that puts iss in its authorization responses publishes authorization_response_iss_parameter_supported: true",
            run: Box::new(|t| Box::pin(iss_published(t))),
        },
        Check {
            id: "BASE-AS-20",
            requirement: "an AS publishing authorization_response_iss_parameter_supported: true puts iss, equal to its issuer, in error redirects",
            run: Box::new(|t| Box::pin(iss_in_error_redirect(t))),
        },
    ]
}

/// What an authorization request was answered with.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A redirect to the client's redirect URI, with its parameters (query and
    /// fragment).
    ToClient(Vec<(String, String)>),
    /// A redirect elsewhere (a login page): the status and where, without query.
    Elsewhere(u16, String),
    /// A page (or a 3xx without a usable `Location`): its status.
    Page(u16),
}

impl Reply {
    fn of(answer: &Answer, redirect_uri: &str) -> Self {
        let location = answer
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .filter(|_| (300..400).contains(&answer.status));
        let Some(location) = location else {
            return Self::Page(answer.status);
        };
        if !redirects_to(location, redirect_uri) {
            let shown = location.split(['?', '#']).next().unwrap_or("");
            return Self::Elsewhere(answer.status, shown.to_owned());
        }
        let mut params = Vec::new();
        if let Ok(url) = url::Url::parse(location) {
            params.extend(url.query_pairs().into_owned());
            if let Some(fragment) = url.fragment() {
                params.extend(url::form_urlencoded::parse(fragment.as_bytes()).into_owned());
            }
        }
        Self::ToClient(params)
    }

    fn param(&self, name: &str) -> Option<&str> {
        match self {
            Self::ToClient(params) => params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    /// Whether it is a redirect to the redirect URI (an error or a code).
    pub(crate) fn to_client(&self) -> bool {
        matches!(self, Self::ToClient(_))
    }

    /// One line, with no code value.
    pub(crate) fn summary(&self) -> String {
        match self {
            Self::ToClient(_) => {
                let mut parts = vec!["redirect to the redirect URI".to_owned()];
                if self.param("code").is_some() {
                    parts.push("with a code".to_owned());
                }
                if let Some(error) = self.param("error") {
                    parts.push(format!("error={error}"));
                }
                match self.param("iss") {
                    Some(iss) => parts.push(format!("iss={iss}")),
                    None => parts.push("no iss".to_owned()),
                }
                parts.join(", ")
            }
            Self::Elsewhere(status, to) => format!("{status} to {to}"),
            Self::Page(status) => format!("{status} page"),
        }
    }

    /// Whether the answer is a refusal of the request as a whole: an error
    /// redirect, or a 4xx page.
    pub(crate) fn refused(&self) -> bool {
        match self {
            Self::ToClient(_) => self.param("error").is_some(),
            Self::Elsewhere(..) => false,
            Self::Page(status) => (400..500).contains(status),
        }
    }
}

/// Whether `location` is `redirect_uri` with only a query or fragment added.
fn redirects_to(location: &str, redirect_uri: &str) -> bool {
    location
        .strip_prefix(redirect_uri)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#', '&']))
}

fn set(p: &mut Params, name: &'static str, value: &str) {
    p.retain(|(k, _)| *k != name);
    p.push((name, value.to_owned()));
}

/// The PKCE S256 challenge of a fresh verifier (RFC 7636 §4.1, §4.2).
fn challenge() -> String {
    let verifier = mcp_auth_core::random_token::<32>().unwrap_or_else(|_| "v".repeat(43));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The valid authorization request of `client`.
fn valid_request(t: &AsTarget, client: &PublicClient) -> Params {
    let mut p: Params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.client_id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        (
            "state",
            mcp_auth_core::random_token::<16>().unwrap_or_else(|_| "state".to_owned()),
        ),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    if let Some(resource) = t.resources.first() {
        p.push(("resource", resource.clone()));
    }
    p
}

/// The valid request of `client`, with `redirect_uri` in place of its own, and
/// its answer as seen from that redirect URI.
pub(crate) async fn reply(
    t: &AsTarget,
    client: &PublicClient,
    redirect_uri: &str,
) -> Result<Reply, Outcome> {
    let mut params = valid_request(t, client);
    set(&mut params, "redirect_uri", redirect_uri);
    let answer = t.authorize(&params).await.map_err(Outcome::fail)?;
    Ok(Reply::of(&answer, redirect_uri))
}

/// The public client and the control: the valid request is not refused. `Err` is
/// the outcome of the check when it cannot run.
async fn control(t: &AsTarget) -> Result<PublicClient, Outcome> {
    let client = t.public_client().await.map_err(Outcome::skip)?;
    let answer = t
        .authorize(&valid_request(t, &client))
        .await
        .map_err(Outcome::fail)?;
    let reply = Reply::of(&answer, &client.redirect_uri);
    if reply.refused() {
        return Err(Outcome::skip(format!(
            "the valid request of client {} is refused ({}), so a refusal would prove nothing: check the client, its redirect URI and --resource",
            client.client_id,
            reply.summary()
        )));
    }
    Ok(client)
}

/// The valid request changed by `change`, after the control.
async fn probe(t: &AsTarget, change: fn(&mut Params)) -> Result<Reply, Outcome> {
    let client = control(t).await?;
    let mut params = valid_request(t, &client);
    change(&mut params);
    let answer = t.authorize(&params).await.map_err(Outcome::fail)?;
    Ok(Reply::of(&answer, &client.redirect_uri))
}

async fn refused_probe(t: &AsTarget, probe: &AuthorizeProbe) -> Outcome {
    let reply = match self::probe(t, probe.change).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    let summary = reply.summary();
    match &reply {
        Reply::ToClient(_) if reply.param("code").is_some() => Outcome::fail(summary),
        Reply::ToClient(_) => {
            Outcome::from_bool(reply.param("error") == Some("invalid_request"), summary)
        }
        Reply::Page(status) if (400..500).contains(status) => {
            Outcome::pass(format!("{summary} (an error page, no redirect)"))
        }
        Reply::Page(status) if (200..300).contains(status) => login_first(&summary),
        Reply::Elsewhere(..) => login_first(&summary),
        Reply::Page(_) => Outcome::fail(summary),
    }
}

fn login_first(summary: &str) -> Outcome {
    Outcome::skip(format!(
        "the AS asks for a login first ({summary}): whether it refuses after the login needs a scripted login"
    ))
}

/// The registered redirect URI changed in each way of profiles/base.md BASE-AS-10;
/// ports of a loopback URI are left alone (section 5.2).
fn changed_redirect_uris(registered: &str) -> Vec<(&'static str, String)> {
    let Ok(url) = url::Url::parse(registered) else {
        return Vec::new();
    };
    let mut changed = Vec::new();
    let mut host = url.clone();
    if host.set_host(Some("attacker.example")).is_ok() {
        changed.push(("another host", host.to_string()));
    }
    let mut path = url.clone();
    path.set_path("/mcp-auth-conformance/other");
    changed.push(("another path", path.to_string()));
    let mut segment = url.clone();
    segment.set_path(&format!("{}/extra", url.path().trim_end_matches('/')));
    changed.push(("an added path segment", segment.to_string()));
    let mut slash = url.clone();
    match url.path().strip_suffix('/') {
        Some(without) => slash.set_path(without),
        None => slash.set_path(&format!("{}/", url.path())),
    }
    changed.push(("a trailing slash", slash.to_string()));
    let mut query = url.clone();
    query.query_pairs_mut().append_pair("conformance", "1");
    changed.push(("an added query parameter", query.to_string()));
    if url.scheme() == "https" {
        let mut http = url.clone();
        if http.set_scheme("http").is_ok() {
            changed.push(("http for https", http.to_string()));
        }
    }
    changed.retain(|(_, uri)| uri != registered);
    changed
}

async fn exact_redirect_uri(t: &AsTarget) -> Outcome {
    let client = match control(t).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let changed = changed_redirect_uris(&client.redirect_uri);
    if changed.is_empty() {
        return Outcome::skip(format!(
            "the redirect URI {} cannot be changed as the check needs",
            client.redirect_uri
        ));
    }
    let mut seen = Vec::new();
    for (how, uri) in &changed {
        let mut params = valid_request(t, &client);
        set(&mut params, "redirect_uri", uri);
        let answer = match t.authorize(&params).await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(e),
        };
        let location = answer
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if (300..400).contains(&answer.status) && location.starts_with(uri.as_str()) {
            return Outcome::fail(format!("{how} ({uri}): {} redirect to it", answer.status));
        }
        seen.push(answer.status.to_string());
    }
    Outcome::pass(format!(
        "{} changed redirect URIs, none redirected to: {}",
        changed.len(),
        seen.join(", ")
    ))
}

/// The error redirect of BASE-AS-9's request, or the outcome when there is none.
async fn error_redirect(t: &AsTarget) -> Result<Reply, Outcome> {
    let reply = probe(t, unknown_method).await?;
    match reply {
        Reply::ToClient(_) if reply.param("error").is_some() => Ok(reply),
        other => Err(Outcome::skip(format!(
            "BASE-AS-9's request got no error redirect ({}); a successful redirect needs a scripted login",
            other.summary()
        ))),
    }
}

async fn iss_published(t: &AsTarget) -> Outcome {
    // profiles/base.md §4: MCP 2026-07-28 adds RFC 9207; 2025-11-25 does not cite it.
    if t.protocol_version != "2026-07-28" {
        return Outcome::skip(format!(
            "applies from MCP 2026-07-28 (checking {}; --protocol-version)",
            t.protocol_version
        ));
    }
    let reply = match error_redirect(t).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    if reply.param("iss").is_none() {
        return Outcome::skip(format!(
            "{}; a successful redirect needs a scripted login",
            reply.summary()
        ));
    }
    let member = iss_member(t).await;
    Outcome::from_bool(
        member == Value::Bool(true),
        format!(
            "{}; authorization_response_iss_parameter_supported {member}",
            reply.summary()
        ),
    )
}

async fn iss_member(t: &AsTarget) -> Value {
    t.metadata()
        .await
        .ok()
        .and_then(|m| m.get("authorization_response_iss_parameter_supported"))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn iss_in_error_redirect(t: &AsTarget) -> Outcome {
    let member = iss_member(t).await;
    if member != Value::Bool(true) {
        return Outcome::skip(format!(
            "authorization_response_iss_parameter_supported is {member}, not true"
        ));
    }
    let issuer = match t.metadata().await {
        Ok(m) => m.get("issuer").and_then(Value::as_str).unwrap_or_default(),
        Err(e) => return Outcome::fail(e),
    };
    let reply = match error_redirect(t).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    // RFC 9207 §2.4: compared by simple string comparison, after form-decoding.
    Outcome::from_bool(
        reply.param("iss") == Some(issuer),
        format!(
            "{} (metadata issuer {issuer}); the success redirect needs a scripted login",
            reply.summary()
        ),
    )
}
