//! The MCP authorization server's requirements of
//! profiles/enterprise-managed-authorization.md (`EMA-AS-n`), checked from outside.
//!
//! The checker plays the enterprise IdP the AS trusts ([`EnterpriseIdp`]): it mints
//! ID-JAGs for the AS's issuer and the configured client, valid and broken, and
//! redeems them with the `jwt-bearer` grant as that client (profile §7.6). The
//! positive control is a valid ID-JAG redeemed once: when the AS refuses it, every
//! check of a broken ID-JAG is skipped, since a refusal would prove nothing. Each
//! broken request is the valid one with one change and a fresh `jti`, so a refusal
//! can only be for that change; it must get the status and `error` of the profile's
//! §10.2 and no token.
//!
//! - [`crate::ema_idp`]: the IdP, its keys and what it serves;
//! - [`crate::ema_as_probes`]: the table of refusals;
//! - [`crate::ema_as_grants`]: the metadata and what a redemption must yield;
//! - [`crate::ema_as_state`]: single use, the IdP's keys, registered clients.
//!
//! The client secret goes only to [`AsTarget::secret_token_endpoint`]. No ID-JAG,
//! token, proof or secret is ever part of the evidence.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::authorization_server::{AsTarget, ConfidentialClient, header};
use crate::check::{Check, Outcome};
use crate::ema_idp::EnterpriseIdp;
use crate::mint::Unsigned;
use crate::server::Answer;

/// The `jwt-bearer` grant type (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The ID-JAG profile URN of `authorization_grant_profiles_supported` (ID-JAG §7.2).
pub const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

/// An MCP authorization server under test, and the IdP it trusts.
#[derive(Debug)]
pub struct EmaTarget {
    /// The AS: its issuer (the ID-JAGs' `aud`), metadata and HTTP client.
    pub authorization_server: AsTarget,
    /// The enterprise IdP the checker plays.
    pub idp: EnterpriseIdp,
    /// The client configured at the AS with the `jwt-bearer` grant (`--client-id`).
    pub client: ConfidentialClient,
    /// A confidential client of the AS without the `jwt-bearer` grant
    /// (`--other-client-id`), for `unauthorized_client`.
    pub other_client: Option<ConfidentialClient>,
    /// The resource the ID-JAGs name: configured at the AS and in the trust entry's
    /// `resources` (`--resource`).
    pub resource: String,
    /// Scopes the resource defines and the client may have (`--scope`); two or more
    /// let the checker grant one and ask for another.
    pub scopes: Vec<String>,
    /// A resource configured at the AS but not in the trust entry's `resources`
    /// (`--other-resource`).
    pub other_resource: Option<String>,
    /// The trust entry's `id`, the prefix of the principal (`--entry-id`).
    pub entry_id: Option<String>,
    /// The entry's `access_token_ttl` (`--access-token-ttl`).
    pub access_token_ttl: Option<i64>,
    control: OnceCell<Result<String, String>>,
}

impl EmaTarget {
    /// A target for the AS `authorization_server`, trusting `idp`, with `client`
    /// redeeming for `resource` with `scopes`.
    pub fn new(
        authorization_server: AsTarget,
        idp: EnterpriseIdp,
        client: ConfidentialClient,
        resource: impl Into<String>,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            authorization_server,
            idp,
            client,
            other_client: None,
            resource: resource.into(),
            scopes,
            other_resource: None,
            entry_id: None,
            access_token_ttl: None,
            control: OnceCell::new(),
        }
    }

    /// The AS issuer, exactly as given: the `aud` of every valid ID-JAG.
    pub fn issuer(&self) -> &str {
        &self.authorization_server.issuer
    }

    /// The scopes of a valid ID-JAG, space-separated.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// A valid ID-JAG's header and claims at `now`.
    pub fn jag(&self, now: i64) -> Unsigned {
        self.idp.valid(
            self.issuer(),
            &self.client.client_id,
            &self.resource,
            &self.scope(),
            now,
        )
    }

    /// The valid redemption of a fresh, valid ID-JAG, as the client.
    pub fn valid(&self, now: i64) -> Redemption {
        self.redemption(self.idp.sign(&self.jag(now)))
    }

    /// The redemption of a valid ID-JAG changed by `change`, signed by the IdP.
    pub fn changed(&self, now: i64, change: impl FnOnce(&mut Unsigned)) -> Redemption {
        let mut jag = self.jag(now);
        change(&mut jag);
        self.redemption(self.idp.sign(&jag))
    }

    /// The redemption of `assertion` for the resource, as the client, without scope.
    pub fn redemption(&self, assertion: String) -> Redemption {
        Redemption {
            form: vec![
                ("grant_type", JWT_BEARER.to_owned()),
                ("assertion", assertion),
                ("resource", self.resource.clone()),
            ],
            auth: Auth::Client,
            headers: Vec::new(),
        }
    }

    /// The token endpoint redemptions are sent to (and DPoP's `htu`).
    pub async fn token_endpoint(&self) -> Result<String, String> {
        self.authorization_server.secret_token_endpoint().await
    }

    /// Sends `redemption` to the token endpoint.
    pub async fn send(&self, redemption: &Redemption) -> Result<Answer, String> {
        self.send_as(redemption, None).await
    }

    /// Sends `redemption`, with `registered` as the client of [`Auth::Registered`].
    pub async fn send_as(
        &self,
        redemption: &Redemption,
        registered: Option<&ConfidentialClient>,
    ) -> Result<Answer, String> {
        let endpoint = self.token_endpoint().await?;
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut form = redemption.form.clone();
        let mut request = self.authorization_server.http.post(&endpoint);
        let mut secret = None;
        match &redemption.auth {
            Auth::None => {}
            Auth::ClientIdOnly => form.push(("client_id", self.client.client_id.clone())),
            Auth::WrongSecret => {
                let random = mcp_auth_core::random_token::<16>().unwrap_or_default();
                let basic = format!("{}:{}", encode(&self.client.client_id), encode(&random));
                request =
                    request.header("authorization", format!("Basic {}", STANDARD.encode(basic)));
            }
            Auth::Client | Auth::Other | Auth::Registered => {
                let client = match &redemption.auth {
                    Auth::Other => self
                        .other_client
                        .as_ref()
                        .ok_or("needs a client without the jwt-bearer grant (--other-client-id)")?,
                    Auth::Registered => registered.ok_or("no registered client")?,
                    _ => &self.client,
                };
                secret = Some(client.secret().to_owned());
                request = client.present(request, &mut form);
            }
        }
        for (name, value) in &redemption.headers {
            request = request.header(*name, value);
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let hide = |e: String| match &secret {
            Some(s) => e.replace(s.as_str(), "<secret>"),
            None => e,
        };
        crate::server::send_capped(request)
            .await
            .map_err(|e| format!("POST {endpoint}: {}", hide(e)))
    }

    /// The positive control, once: a valid ID-JAG redeemed as the client must get
    /// an access token; the answer in one line, or why not.
    pub async fn control(&self) -> Result<&str, String> {
        self.control
            .get_or_init(|| async {
                let now = mcp_auth_core::unix_now();
                let answer = self.send(&self.valid(now)).await?;
                let line = summary(&answer, None);
                if answer.status == 200 && access_token(&answer).is_some() {
                    Ok(line)
                } else {
                    Err(format!("a valid ID-JAG is refused: {line}"))
                }
            })
            .await
            .as_ref()
            .map(String::as_str)
            .map_err(Clone::clone)
    }
}

/// How a redemption authenticates the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// As [`EmaTarget::client`].
    Client,
    /// As [`EmaTarget::other_client`].
    Other,
    /// No client authentication at all.
    None,
    /// The client's `client_id` in the form, no secret (`none`).
    ClientIdOnly,
    /// HTTP Basic with the client's id and a random secret.
    WrongSecret,
    /// As the client the checker registered (RFC 7591), given to
    /// [`EmaTarget::send_as`].
    Registered,
}

/// A redemption request: its form, client authentication and extra headers.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The form, in order (parameters may repeat).
    pub form: Vec<(&'static str, String)>,
    /// The client authentication.
    pub auth: Auth,
    /// Extra header fields (`DPoP`).
    pub headers: Vec<(&'static str, String)>,
}

impl Redemption {
    /// Sets `name` to `value` (replacing every occurrence), or adds it.
    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.form.retain(|(k, _)| *k != name);
        self.form.push((name, value.into()));
        self
    }

    /// Adds `name` once more.
    pub fn add(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.form.push((name, value.into()));
        self
    }

    /// Removes every `name`.
    pub fn without(mut self, name: &'static str) -> Self {
        self.form.retain(|(k, _)| *k != name);
        self
    }

    /// With client authentication `auth`.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// With header `name: value`.
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The `assertion` sent, for the evidence checks.
    pub fn assertion(&self) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| *k == "assertion")
            .map(|(_, v)| v.as_str())
    }
}

/// Every EMA-AS check, in requirement order.
pub fn checks() -> Vec<Check<EmaTarget>> {
    let mut checks = crate::ema_as_grants::checks();
    checks.extend(crate::ema_as_probes::checks());
    checks.extend(crate::ema_as_state::checks());
    checks.sort_by_key(|c| number(c.id));
    checks
}

fn number(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The answer's body as a JSON object (empty when it is not one).
pub fn body(answer: &Answer) -> Map<String, Value> {
    match serde_json::from_str(&answer.body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The `access_token` of a response, when it has one.
pub fn access_token(answer: &Answer) -> Option<String> {
    body(answer)
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether `Cache-Control` has `no-store`.
pub fn no_store(answer: &Answer) -> bool {
    header(&answer.headers, "cache-control").is_some_and(|v| {
        v.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    })
}

/// One line about an answer: status, `error`, its description when it is safe to
/// show (short, printable, carrying no part of `assertion` nor anything like a JWT),
/// `token_type`, the token's length. Never a token.
pub fn summary(answer: &Answer, assertion: Option<&str>) -> String {
    let b = body(answer);
    let mut line = format!("{}", answer.status);
    if let Some(e) = b.get("error") {
        line.push_str(&format!(" error={e}"));
    }
    if let Some(d) = b.get("error_description").and_then(Value::as_str) {
        if leaks(d, assertion) {
            line.push_str(" (its error_description carries the ID-JAG or a JWT: not shown)");
        } else {
            let shown: String = d
                .chars()
                .filter(|c| !c.is_control() && !is_bidi(*c))
                .take(160)
                .collect();
            line.push_str(&format!(" {shown:?}"));
        }
    }
    if let Some(t) = b.get("token_type") {
        line.push_str(&format!(" token_type={t}"));
    }
    if let Some(t) = b.get("access_token").and_then(Value::as_str) {
        line.push_str(&format!(" access_token of {} characters", t.len()));
    }
    line
}

/// Whether `description` carries a part of `assertion` or anything JWT-like.
pub fn leaks(description: &str, assertion: Option<&str>) -> bool {
    description.contains("eyJ")
        || assertion.is_some_and(|a| {
            a.split('.')
                .filter(|p| p.len() >= 16)
                .any(|p| description.contains(p))
        })
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// The header and claims of a compact JWS, when it is one.
pub fn decode(token: &str) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let object = |part: &str| match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    Some((object(h)?, object(c)?))
}

/// The outcome of a check that needs the positive control: `Some(skip)` when the
/// valid redemption is refused.
pub async fn needs_control(t: &EmaTarget) -> Option<Outcome> {
    match t.control().await {
        Ok(_) => None,
        Err(e) => Some(Outcome::skip(e)),
    }
}
