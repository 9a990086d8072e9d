//! The authorization server under test, as the checks see it: its issuer, its
//! metadata (fetched once, at every well-known location an MCP client tries), the
//! clients the checks act as, and how requests reach it.
//!
//! The AS may be hostile, so the checker protects itself and its user: no redirect
//! is followed, every request times out after 10 s, at most 64 KiB of a body is
//! read, and the client secret the user gives is sent only to a token endpoint on
//! the issuer's origin or one the user named ([`AsTarget::secret_token_endpoint`]):
//! a metadata document naming a third party's token endpoint does not get it there.
//! No secret or token is ever part of the evidence.

use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::check::Check;
use crate::server::{Answer, send_capped};

/// The redirect URI of the public client the checker registers (RFC 7591): a
/// loopback URI nothing listens on, since the checker never follows a redirect.
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// Which requirements `conformance as` checks (`--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsProfile {
    /// The base requirements (profiles/base.md, `BASE-AS-n`).
    Base,
    /// http-message-signatures (`HTTPSIG-AS-n`).
    Httpsig,
    /// dpop (`DPOP-AS-n`).
    Dpop,
    /// workload-identity-federation (`WIF-AS-n`): needs [`AsTarget::workload`].
    Wif,
}

/// The checks of `profile`, in order.
pub fn checks(profile: AsProfile) -> Vec<Check<AsTarget>> {
    match profile {
        AsProfile::Base => crate::base_as::checks(),
        AsProfile::Httpsig => crate::httpsig_as::checks(),
        AsProfile::Dpop => crate::dpop_as::checks(),
        AsProfile::Wif => crate::wif_as::checks(),
    }
}

/// How the confidential client authenticates at the token endpoint (RFC 6749
/// §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMethod {
    /// `client_secret_basic`: HTTP Basic in `Authorization`.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
}

/// A confidential client the user gave. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ConfidentialClient {
    /// The client identifier.
    pub client_id: String,
    /// How the secret is presented.
    pub method: SecretMethod,
    secret: String,
}

impl ConfidentialClient {
    /// A client `client_id` with `secret`, presented by `method`.
    pub fn new(
        client_id: impl Into<String>,
        secret: impl Into<String>,
        method: SecretMethod,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            method,
            secret: secret.into(),
        }
    }
}

impl ConfidentialClient {
    /// The secret (for the token requests the checks build themselves; never for
    /// evidence: see [`Self::scrub`]).
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1: both parts
    /// form-urlencoded, then joined and base64-encoded).
    pub(crate) fn basic(&self) -> String {
        let pair = format!(
            "{}:{}",
            form_encode(&self.client_id),
            form_encode(&self.secret)
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// The client's authentication on `request`, by its method: the `Basic` header,
    /// or `client_id` and `client_secret` added to `form`.
    pub(crate) fn present(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&str, String)>,
    ) -> reqwest::RequestBuilder {
        match self.method {
            SecretMethod::Basic => request.header("authorization", self.basic()),
            SecretMethod::Post => {
                form.push(("client_id", self.client_id.clone()));
                form.push(("client_secret", self.secret.clone()));
                request
            }
        }
    }

    /// `text` with the secret and the Basic credentials replaced, for evidence.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.secret.is_empty() {
            return text.to_owned();
        }
        let basic = self.basic();
        let credentials = basic.trim_start_matches("Basic ");
        text.replace(&self.secret, "<secret>")
            .replace(credentials, "<credentials>")
    }
}

/// `s` form-urlencoded (RFC 6749 §2.3.1, Appendix B).
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl std::fmt::Debug for ConfidentialClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidentialClient")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A public client (`token_endpoint_auth_method` `none`) and one of its registered
/// redirect URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicClient {
    /// The client identifier.
    pub client_id: String,
    /// A redirect URI registered for it, exactly as registered.
    pub redirect_uri: String,
}

/// One metadata location the checker tried, and what it found.
#[derive(Debug, Clone)]
pub struct MetadataDocument {
    /// The URL.
    pub url: String,
    /// Whether the URL is an OpenID Connect Discovery location (else RFC 8414).
    pub openid: bool,
    /// The status, or why there was no answer.
    pub status: Result<u16, String>,
    /// The `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The body as a JSON object, or why it is not one.
    pub object: Result<Map<String, Value>, String>,
}

impl MetadataDocument {
    /// Whether this location serves metadata: 200 with a JSON object.
    pub fn served(&self) -> bool {
        self.status == Ok(200) && self.object.is_ok()
    }

    /// The JSON object when [`Self::served`].
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.served().then(|| self.object.as_ref().ok()).flatten()
    }

    /// One line: the URL and what it answered.
    pub fn summary(&self) -> String {
        match (&self.status, &self.object) {
            (Err(e), _) => format!("{}: {e}", self.url),
            (Ok(s), Ok(_)) => format!("{}: {s} JSON object", self.url),
            (Ok(s), Err(e)) => format!("{}: {s} {e}", self.url),
        }
    }
}

/// What the checker's own registration (RFC 7591) got.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The client it registered.
    pub client: PublicClient,
    /// The `Cache-Control` of the registration response.
    pub cache_control: Option<String>,
    /// Whether the response carried a `client_secret` (OAuth 2.1 §3.2.3 then asks
    /// for `no-store`).
    pub had_secret: bool,
}

/// An authorization server under test.
#[derive(Debug)]
pub struct AsTarget {
    /// The issuer identifier, exactly as the user gave it.
    pub issuer: String,
    /// The HTTP client: no redirects, 10 s timeout.
    pub http: reqwest::Client,
    /// A confidential client allowed the client credentials grant
    /// (`--client-id`, `--client-secret`).
    pub confidential: Option<ConfidentialClient>,
    /// A registered public client (`--public-client-id`, `--redirect-uri`); when
    /// `None`, the checker registers one if the AS offers registration and
    /// [`Self::register`] allows it.
    pub public: Option<PublicClient>,
    /// Whether the checker may register a public client (RFC 7591).
    pub register: bool,
    /// A token endpoint the user named: the secret may be sent there even when it is
    /// on another origin than the issuer.
    pub token_endpoint: Option<String>,
    /// Resources (RFC 8707) the AS issues tokens for, operator-given: the first is
    /// sent with every authorization and token request.
    pub resources: Vec<String>,
    /// Where the AS can fetch the checker's Client ID Metadata Documents
    /// ([`crate::as_cimd::router`] served there), no trailing slash.
    pub client_documents: Option<String>,
    /// The MCP revision the checks apply (BASE-AS-19 is 2026-07-28 only).
    pub protocol_version: String,
    /// The workload platform the AS trusts, for `--profile wif` (the checker mints
    /// its assertions).
    pub workload: Option<crate::wif_as::WorkloadPlatform>,
    documents: OnceCell<Vec<MetadataDocument>>,
    registration: OnceCell<Result<Registration, String>>,
}

impl AsTarget {
    /// A target for the AS whose issuer identifier is `issuer`.
    pub fn new(issuer: &str) -> Result<Self, reqwest::Error> {
        let http = mcp_auth_core::connection_pool::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            issuer: issuer.to_owned(),
            http,
            confidential: None,
            public: None,
            register: true,
            token_endpoint: None,
            resources: Vec::new(),
            client_documents: None,
            protocol_version: crate::server::PROTOCOL_VERSIONS[0].to_owned(),
            workload: None,
            documents: OnceCell::new(),
            registration: OnceCell::new(),
        })
    }

    /// Every well-known location for the issuer (RFC 8414 §3.1 path insertion,
    /// OIDC Discovery §4), fetched once, in the order MCP clients try them.
    pub async fn documents(&self) -> &[MetadataDocument] {
        self.documents
            .get_or_init(|| async {
                let Ok(urls) =
                    mcp_auth_core::discovery::authorization_server_metadata_urls(&self.issuer)
                else {
                    return Vec::new();
                };
                let mut documents = Vec::with_capacity(urls.len());
                for url in urls {
                    let openid = url.contains("/.well-known/openid-configuration");
                    let fetched = self.get(&url).await;
                    let (status, content_type, object) = match fetched {
                        Ok(a) => (
                            Ok(a.status),
                            header(&a.headers, "content-type"),
                            match serde_json::from_str::<Value>(&a.body) {
                                Ok(Value::Object(m)) => Ok(m),
                                Ok(_) => Err("not a JSON object".to_owned()),
                                Err(_) => Err("not JSON".to_owned()),
                            },
                        ),
                        Err(e) => (Err(e), None, Err("no answer".to_owned())),
                    };
                    documents.push(MetadataDocument {
                        url,
                        openid,
                        status,
                        content_type,
                        object,
                    });
                }
                documents
            })
            .await
    }

    /// The metadata a client would use: the first location that serves it.
    pub async fn metadata(&self) -> Result<&Map<String, Value>, String> {
        let documents = self.documents().await;
        documents
            .iter()
            .find_map(MetadataDocument::metadata)
            .ok_or_else(|| {
                format!(
                    "no metadata: {}",
                    documents
                        .iter()
                        .map(MetadataDocument::summary)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
    }

    /// The metadata member `name` as a string (an endpoint URL), or why not.
    pub async fn endpoint(&self, name: &str) -> Result<String, String> {
        let metadata = self.metadata().await?;
        metadata
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the metadata has no {name}"))
    }

    /// The token endpoint the client secret may be sent to: the one the user named,
    /// else the metadata's when it is on the issuer's origin. A hostile metadata
    /// document must not make the checker post the user's secret to a third party.
    pub async fn secret_token_endpoint(&self) -> Result<String, String> {
        if let Some(explicit) = &self.token_endpoint {
            return Ok(explicit.clone());
        }
        let published = self.endpoint("token_endpoint").await?;
        let same_origin = match (url::Url::parse(&published), url::Url::parse(&self.issuer)) {
            (Ok(t), Ok(i)) => t.origin() == i.origin(),
            _ => false,
        };
        if same_origin {
            Ok(published)
        } else {
            Err(format!(
                "the metadata's token_endpoint {published} is not on the issuer's origin: the client secret is not sent there unless --token-endpoint names it"
            ))
        }
    }

    /// The public client the checks act as: the one the user gave, else one the
    /// checker registered (RFC 7591), or why there is none.
    pub async fn public_client(&self) -> Result<PublicClient, String> {
        if let Some(p) = &self.public {
            return Ok(p.clone());
        }
        self.registration().await.map(|r| r.client.clone())
    }

    /// The checker's own registration of a public client, done once; an error when
    /// the user gave a client, forbade registering, or the AS offers none.
    pub async fn registration(&self) -> Result<&Registration, String> {
        self.registration
            .get_or_init(|| self.register_public_client())
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn register_public_client(&self) -> Result<Registration, String> {
        if self.public.is_some() {
            return Err("a public client was given: the checker registers none".to_owned());
        }
        if !self.register {
            return Err("needs a public client (--public-client-id and --redirect-uri); registration is turned off".to_owned());
        }
        let Ok(endpoint) = self.endpoint("registration_endpoint").await else {
            return Err("needs a public client (--public-client-id and --redirect-uri): the AS offers no registration_endpoint".to_owned());
        };
        // RFC 7591 §2: a public client of the authorization code grant.
        let request = json!({
            "client_name": "mcp-auth conformance",
            "redirect_uris": [REGISTERED_REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        let answer = self
            .send(self.http.post(&endpoint).json(&request))
            .await
            .map_err(|e| format!("registering a public client: {e}"))?;
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        // RFC 7591 §3.2.1: 201 with the client's information.
        let Some(client_id) = body["client_id"].as_str().filter(|_| answer.status == 201) else {
            return Err(format!(
                "registering a public client at {endpoint}: {} {}",
                answer.status,
                body["error"].as_str().unwrap_or("no client_id")
            ));
        };
        Ok(Registration {
            client: PublicClient {
                client_id: client_id.to_owned(),
                redirect_uri: REGISTERED_REDIRECT_URI.to_owned(),
            },
            cache_control: header(&answer.headers, "cache-control"),
            had_secret: body.get("client_secret").is_some(),
        })
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        self.send(self.http.get(url))
            .await
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// `GET` the authorization endpoint with `params` as its query.
    pub async fn authorize(&self, params: &[(&str, String)]) -> Result<Answer, String> {
        let endpoint = self.endpoint("authorization_endpoint").await?;
        self.send(self.http.get(&endpoint).query(params))
            .await
            .map_err(|e| format!("GET {endpoint}: {e}"))
    }

    /// `POST` `form` to the metadata's token endpoint, with no client secret (the
    /// probes of public clients and random credentials).
    pub async fn token_request(
        &self,
        form: &[(&str, String)],
        authorization: Option<&str>,
    ) -> Result<Answer, String> {
        let endpoint = self.endpoint("token_endpoint").await?;
        let mut request = self.http.post(&endpoint).form(form);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        self.send(request)
            .await
            .map_err(|e| format!("POST {endpoint}: {e}"))
    }

    /// `POST` `form` as the confidential client, to [`Self::secret_token_endpoint`]
    /// only; an error when no client was given or the endpoint is not trusted.
    pub async fn confidential_token_request(
        &self,
        form: &[(&str, String)],
    ) -> Result<Answer, String> {
        let Some(client) = &self.confidential else {
            return Err("needs a confidential client allowed the client_credentials grant (--client-id with --client-secret or --client-secret-env)".to_owned());
        };
        let endpoint = self.secret_token_endpoint().await?;
        let mut form = form.to_vec();
        let request = client.present(self.http.post(&endpoint), &mut form);
        // The error names the endpoint only: reqwest's errors never carry the body.
        self.send(request.form(&form))
            .await
            .map_err(|e| format!("POST {endpoint}: {}", client.scrub(&e)))
    }

    /// Sends `request` and reads the answer (at most [`crate::server::BODY_CAP`] of its body).
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        send_capped(request).await
    }
}

/// The value of header `name`, when it is text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether `url` is `http` on a loopback host (`127.0.0.0/8`, `[::1]`,
/// `localhost`): a local test deployment, where https cannot be checked.
pub fn is_loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}
