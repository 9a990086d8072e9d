//! The authorization-server requirements HTTPSIG-AS-n
//! (profiles/http-message-signatures.md §5.1, §6 to §8, §11.1, §12.1), checked from
//! outside.
//!
//! The checker signs client credentials token requests itself, by hand
//! ([`crate::httpsig_request::Draft`], as the resource-server checks do), so it can
//! also sign what a correct client never would. It acts as a confidential client
//! whose secret it may sign over ([`SigningClient`]): the secret goes only to
//! [`AsTarget::secret_token_endpoint`] and, for HTTPSIG-AS-13, to an introspection
//! endpoint on the issuer's origin. Each refusal probe ([`crate::httpsig_as_probes`])
//! first needs the valid signed request to get a bound token, then changes one thing.
//! The metadata and registration checks (HTTPSIG-AS-1 to -3, and the form of the
//! advertised `token_endpoint`) are in [`crate::httpsig_as_register`].
//! Evidence never carries a token, a signature or the secret.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, DigestAlgorithm, JwsAlgorithm, SigningKey, digest_value};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::authorization_server::{AsTarget, ConfidentialClient, SecretMethod, header};
use crate::check::{Check, Outcome};
use crate::httpsig_request::{Draft, Sig, byte_sequence, nonce, sha256_digest};
use crate::server::Answer;

/// The tag of a token-request signature (profile §7.2).
pub const TOKEN_REQUEST_TAG: &str = "httpsig-oauth-token-request";

/// The binding method the signing client registered (profile §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// No `httpsig_key_binding_method`: the AS binds a runtime key if one is sent.
    Unregistered,
    /// `runtime`.
    Runtime,
    /// `preregistered`, with [`SigningClient::preregistered`] the registered key.
    Preregistered,
}

/// A key the client registered (profile §7.4) and its private half.
#[derive(Clone)]
pub struct PreregisteredKey {
    /// The private key.
    pub key: SigningKey,
    /// The JWK's fully specified `alg`.
    pub alg: JwsAlgorithm,
    /// The JWK's `kid`, sent as `keyid`.
    pub kid: String,
}

/// The confidential client, allowed the client credentials grant, whose token
/// requests the checks sign, and what it registered. Its `Debug` never shows the
/// secret or the key.
#[derive(Clone)]
pub struct SigningClient {
    /// The client and its secret (with `Basic`, `authorization` is covered).
    pub client: ConfidentialClient,
    /// What the client registered.
    pub binding: Binding,
    /// Its pre-registered key, with [`Binding::Preregistered`].
    pub preregistered: Option<PreregisteredKey>,
}

impl SigningClient {
    /// `client`, which registered `binding`.
    pub fn new(client: ConfidentialClient, binding: Binding) -> Self {
        Self {
            client,
            binding,
            preregistered: None,
        }
    }

    /// The same client with its pre-registered key (and [`Binding::Preregistered`]).
    pub fn with_preregistered_key(mut self, key: PreregisteredKey) -> Self {
        self.binding = Binding::Preregistered;
        self.preregistered = Some(key);
        self
    }
}

impl std::fmt::Debug for SigningClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningClient")
            .field("client", &self.client)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

/// What one run of the checks shares: the client, and whether the valid signed
/// request got a bound token (asked once).
pub(crate) struct Run {
    client: Option<SigningClient>,
    baseline: OnceCell<Result<(), String>>,
}

impl Run {
    /// The signing client: the one given to [`checks_with`], else the target's
    /// confidential client (`--client-id`), taken to have registered no binding
    /// method.
    pub(crate) fn client(&self, t: &AsTarget) -> Option<SigningClient> {
        self.client.clone().or_else(|| {
            t.confidential
                .clone()
                .map(|c| SigningClient::new(c, Binding::Unregistered))
        })
    }
}

/// The key a request is signed with and how it is named (profile §7.3, §7.4).
#[derive(Clone)]
pub(crate) struct Signer {
    pub(crate) key: SigningKey,
    pub(crate) alg: Algorithm,
    /// `Some(kid)`: a pre-registered key named by `keyid`; `None`: a runtime key
    /// carried by `alg` and `pub`.
    pub(crate) kid: Option<String>,
}

impl Signer {
    /// A fresh runtime key of `alg`.
    pub(crate) fn runtime(alg: Algorithm) -> Result<Self, Outcome> {
        let key = SigningKey::generate(alg)
            .map_err(|e| Outcome::skip(format!("no {alg} key could be generated: {e}")))?;
        Ok(Self {
            key,
            alg,
            kid: None,
        })
    }

    /// The key the client's valid requests use: its pre-registered one, else a
    /// fresh Ed25519 runtime key.
    pub(crate) fn for_client(client: &SigningClient) -> Result<Self, Outcome> {
        match (&client.binding, &client.preregistered) {
            (Binding::Preregistered, Some(p)) => Ok(Self {
                key: p.key.clone(),
                alg: Algorithm::Jws(p.alg),
                kid: Some(p.kid.clone()),
            }),
            (Binding::Preregistered, None) => Err(Outcome::skip(
                "the client registered preregistered keys but the checker has none of them",
            )),
            _ => Self::runtime(Algorithm::Ed25519),
        }
    }

    /// The raw public key octets (the `pub` parameter's content, draft §4).
    pub(crate) fn pub_bytes(&self) -> Vec<u8> {
        self.key.verifying_key().pub_bytes().unwrap_or_default()
    }
}

/// Every check of this profile's authorization-server requirements, in order,
/// with no client to sign as: only the metadata and registration checks run.
pub fn checks() -> Vec<Check<AsTarget>> {
    checks_with(None)
}

/// Every check, signing token requests as `client` when given.
pub fn checks_with(client: Option<SigningClient>) -> Vec<Check<AsTarget>> {
    let run = Arc::new(Run {
        client,
        baseline: OnceCell::new(),
    });
    let mut checks = crate::httpsig_as_register::checks();
    checks.extend(crate::httpsig_as_probes::checks(&run));
    let r = Arc::clone(&run);
    checks.push(Check {
        id: "HTTPSIG-AS-13",
        requirement: "introspection of a bound token returns its cnf and token_type httpsig",
        run: Box::new(move |t| {
            let r = Arc::clone(&r);
            Box::pin(async move { introspection(t, &r).await })
        }),
    });
    checks.push(Check {
        id: "HTTPSIG-AS-14",
        requirement: "a public client's refresh token stays bound: a refresh signed by another key gets invalid_grant",
        run: Box::new(|_| {
            Box::pin(async {
                Outcome::skip("needs a refresh token of a public client, hence an authorization code and a user signing in: the checker does not script a login")
            })
        }),
    });
    checks.sort_by_key(|c| number(c.id));
    checks
}

fn number(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The runtime algorithms of §5.1 (HTTP Signature Algorithms registry names).
pub(crate) const RUNTIME_ALGS: [&str; 3] = ["ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384"];

/// A JSON value for the evidence, or `absent`.
pub(crate) fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_owned(), Value::to_string)
}

/// The valid signed client credentials request of the profile (§7), not yet
/// signed: form body, client authentication, `Content-Digest`, and one signature
/// labelled `sig` over `@method`, `@target-uri` (the metadata's `token_endpoint`,
/// HTTPSIG-AS-15), `content-digest` and, with Basic, `authorization`.
pub(crate) async fn draft(
    t: &AsTarget,
    client: &SigningClient,
    signer: &Signer,
) -> Result<Draft, Outcome> {
    let target_uri = t.endpoint("token_endpoint").await.map_err(Outcome::fail)?;
    let url = t.secret_token_endpoint().await.map_err(Outcome::skip)?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(r) = t.resources.first() {
        form.append_pair("resource", r);
    }
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let mut components = vec!["\"@method\"", "\"@target-uri\"", "\"content-digest\""];
    match client.client.method {
        SecretMethod::Basic => {
            headers.push(("authorization".to_owned(), client.client.basic()));
            components.push("\"authorization\"");
        }
        SecretMethod::Post => {
            form.append_pair("client_id", &client.client.client_id);
            form.append_pair("client_secret", client.client.secret());
        }
    }
    let body = form.finish().into_bytes();
    headers.push(("content-digest".to_owned(), sha256_digest(&body)));
    let mut params = vec![
        ("created".to_owned(), mcp_auth_core::unix_now().to_string()),
        ("nonce".to_owned(), format!("\"{}\"", nonce())),
        ("tag".to_owned(), format!("\"{TOKEN_REQUEST_TAG}\"")),
    ];
    match &signer.kid {
        Some(kid) => params.push(("keyid".to_owned(), format!("\"{kid}\""))),
        None => {
            params.push(("alg".to_owned(), format!("\"{}\"", signer.alg.name())));
            params.push(("pub".to_owned(), byte_sequence(&signer.pub_bytes())));
        }
    }
    Ok(Draft {
        method: "POST".to_owned(),
        url,
        target_uri,
        headers,
        body,
        sigs: vec![Sig {
            label: "sig".to_owned(),
            components: components.into_iter().map(str::to_owned).collect(),
            params,
            key: Some((signer.key.clone(), signer.alg)),
        }],
    })
}

/// `sha-512=:<base64>:` over `body` (RFC 9530 §2).
pub(crate) fn sha512_digest(body: &[u8]) -> String {
    let value = digest_value(body, &[DigestAlgorithm::Sha512]);
    value.to_str().unwrap_or_default().to_owned()
}

/// Signs every signature of `draft` with its own key and appends `Signature-Input`
/// and `Signature` (RFC 9421 §4).
pub(crate) fn sign(draft: &mut Draft) {
    let mut inputs = Vec::new();
    let mut signatures = Vec::new();
    for sig in &draft.sigs {
        let base = draft.base(sig);
        let octets = sig
            .key
            .as_ref()
            .and_then(|(k, a)| k.sign(*a, base.as_bytes()).ok())
            .unwrap_or_default();
        inputs.push(format!("{}={}", sig.label, sig.input()));
        signatures.push(format!("{}={}", sig.label, byte_sequence(&octets)));
    }
    if !inputs.is_empty() {
        draft.append_header("signature-input", inputs.join(", "));
        draft.append_header("signature", signatures.join(", "));
    }
}

/// Sends `draft` exactly (header lines in order, body) and reads at most 64 KiB.
pub(crate) async fn send(
    t: &AsTarget,
    client: &SigningClient,
    draft: &Draft,
) -> Result<Answer, String> {
    let mut request = t.http.post(&draft.url);
    for (name, value) in &draft.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let sent = request.body(draft.body.clone()).send().await;
    let response = sent.map_err(|e| {
        client
            .client
            .scrub(&format!("POST {}: {}", draft.url, e.without_url()))
    })?;
    crate::server::read(response).await
}

/// One line about a token response: status, `error` and description (shortened,
/// the secret scrubbed), or `token_type` and the token's length. Never the token.
pub(crate) fn describe(client: &SigningClient, answer: &Answer) -> String {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let mut line = format!("{}", answer.status);
    if let Some(token) = body["access_token"].as_str() {
        line.push_str(&format!(
            " token_type {}, access_token of {} characters",
            body["token_type"],
            token.len()
        ));
    }
    if let Some(error) = body["error"].as_str() {
        let description: String = body["error_description"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect();
        line.push_str(&format!(
            " error={error} error_description={:?}",
            client.client.scrub(&description)
        ));
    } else if body["access_token"].is_null() {
        line.push_str(" no error, no access_token");
    }
    line
}

/// Whether `answer` is the OAuth error the profile requires (§11.1: 400, a JSON
/// object with `error`, RFC 6749 §5.2) and issued nothing.
pub(crate) fn judge_refusal(client: &SigningClient, answer: &Answer, error: &str) -> Outcome {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let json = header(&answer.headers, "content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    let line = describe(client, answer);
    let holds = answer.status == 400
        && json
        && body["error"].as_str() == Some(error)
        && body.get("access_token").is_none();
    Outcome::from_bool(
        holds,
        if holds {
            line
        } else {
            format!("expected 400 error={error}: {line}")
        },
    )
}

/// What a token response issued: the access token and, when it is a JWT, its
/// claims.
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) token_type: String,
    pub(crate) claims: Option<Map<String, Value>>,
}

/// The token of a 200 response, or the line saying why there is none.
pub(crate) fn issued(client: &SigningClient, answer: &Answer) -> Result<Issued, String> {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(token) if answer.status == 200 => Ok(Issued {
            token: token.to_owned(),
            token_type: body["token_type"].as_str().unwrap_or("").to_owned(),
            claims: jwt_claims(token),
        }),
        _ => Err(describe(client, answer)),
    }
}

/// The claims of a JWT, when `token` is one.
fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let claims = token.split('.').nth(1)?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Whether `issued` is bound to `signer` as §8 says: `token_type` `httpsig` (RFC
/// 6749 §5.1: compared case-insensitively) and, in a JWT, a `cnf` with exactly one
/// member, `htsk` {`alg`, `pub`} for a runtime key or `jwk` for a pre-registered one.
pub(crate) fn judge_bound(issued: &Issued, signer: &Signer) -> Outcome {
    let head = format!(
        "200 token_type {:?}, access_token of {} characters",
        issued.token_type,
        issued.token.len()
    );
    if !issued.token_type.eq_ignore_ascii_case("httpsig") {
        return Outcome::fail(format!("expected token_type httpsig: {head}"));
    }
    let Some(claims) = &issued.claims else {
        return Outcome::skip(format!(
            "{head}; the access token is not a JWT, so its cnf cannot be read"
        ));
    };
    let cnf = claims.get("cnf").and_then(Value::as_object);
    let Some(cnf) = cnf.filter(|c| c.len() == 1) else {
        return Outcome::fail(format!(
            "{head}; cnf must have exactly one member: {}",
            claims.get("cnf").map_or("no cnf".to_owned(), |c| {
                format!(
                    "members {:?}",
                    c.as_object().map(|o| o.keys().collect::<Vec<_>>())
                )
            })
        ));
    };
    let thumbprint = signer.key.verifying_key().thumbprint();
    let (holds, what) = match &signer.kid {
        None => {
            let htsk = cnf.get("htsk").and_then(Value::as_object);
            let expected_pub = URL_SAFE_NO_PAD.encode(signer.pub_bytes());
            let holds = htsk.is_some_and(|h| {
                h.len() == 2
                    && h.get("alg").and_then(Value::as_str) == Some(signer.alg.name())
                    && h.get("pub").and_then(Value::as_str) == Some(expected_pub.as_str())
            });
            let members = htsk.map(|h| h.keys().cloned().collect::<Vec<_>>());
            (
                holds,
                format!(
                    "cnf.htsk members {members:?} alg {}",
                    htsk.map_or("absent".into(), |h| shown(h.get("alg")))
                ),
            )
        }
        Some(_) => {
            let jwk = cnf.get("jwk").and_then(Value::as_object);
            let same_key = jwk
                .and_then(|j| {
                    mcp_auth_httpsig::Jwk::from_json(&Value::Object(j.clone()).to_string()).ok()
                })
                .and_then(|j| j.thumbprint().ok())
                .is_some_and(|t| t == thumbprint);
            let forbidden = jwk.map(|j| {
                ["kid", "use", "d", "p", "q", "dp", "dq", "qi", "k"]
                    .into_iter()
                    .filter(|m| j.contains_key(*m))
                    .collect::<Vec<_>>()
            });
            let holds = same_key
                && forbidden.as_ref().is_some_and(Vec::is_empty)
                && jwk.and_then(|j| j.get("alg")).and_then(Value::as_str)
                    == Some(signer.alg.name());
            (
                holds,
                format!(
                    "cnf.jwk {} alg {}, same key {same_key}, members not allowed {forbidden:?}",
                    if jwk.is_some() { "present" } else { "absent" },
                    jwk.map_or("absent".into(), |j| shown(j.get("alg")))
                ),
            )
        }
    };
    let line = format!("{head}; {what}, key thumbprint {thumbprint}");
    Outcome::from_bool(holds, line)
}

/// Whether the valid signed request gets a bound token, asked once per run: the
/// refusal probes mean nothing otherwise.
pub(crate) async fn baseline(t: &AsTarget, run: &Run) -> Result<(), Outcome> {
    let Some(client) = &run.client(t) else {
        return Err(no_client());
    };
    let result = run
        .baseline
        .get_or_init(|| async {
            let signer = Signer::for_client(client).map_err(|o| o.evidence().to_owned())?;
            let mut d = draft(t, client, &signer)
                .await
                .map_err(|o| o.evidence().to_owned())?;
            sign(&mut d);
            let answer = send(t, client, &d).await?;
            let issued = issued(client, &answer)?;
            // An opaque token is enough here: token_type says it is bound; its cnf is
            // judged by the HTTPSIG-AS-12 checks.
            match judge_bound(&issued, &signer) {
                Outcome::Fail(e) => Err(e),
                _ => Ok(()),
            }
        })
        .await;
    result.clone().map_err(|e| {
        Outcome::skip(format!(
            "the valid signed token request gets no bound token ({e}), so a refusal would prove nothing"
        ))
    })
}

/// Why the signed checks cannot run without a [`SigningClient`].
pub(crate) fn no_client() -> Outcome {
    Outcome::skip(
        "needs a confidential client allowed the client_credentials grant whose secret the checker signs over (a signing client); none was given",
    )
}

/// Sends the valid request signed by `signer`, changed by `change` before signing,
/// and judges the token it gets against §8.
pub(crate) async fn valid(
    t: &AsTarget,
    client: &SigningClient,
    signer: &Signer,
    change: impl FnOnce(&mut Draft),
) -> Outcome {
    let mut draft = match draft(t, client, signer).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    change(&mut draft);
    sign(&mut draft);
    let answer = match send(t, client, &draft).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    match issued(client, &answer) {
        Ok(i) => judge_bound(&i, signer),
        Err(line) => Outcome::fail(format!("expected 200 with a bound token: {line}")),
    }
}

/// HTTPSIG-AS-13: a bound token introspected by the signing client.
async fn introspection(t: &AsTarget, run: &Run) -> Outcome {
    let Some(client) = &run.client(t) else {
        return no_client();
    };
    let Ok(endpoint) = t.endpoint("introspection_endpoint").await else {
        return Outcome::skip("the metadata has no introspection_endpoint");
    };
    let same_origin = match (url::Url::parse(&endpoint), url::Url::parse(&t.issuer)) {
        (Ok(e), Ok(i)) => e.origin() == i.origin(),
        _ => false,
    };
    if !same_origin {
        return Outcome::skip(format!(
            "the introspection_endpoint {endpoint} is not on the issuer's origin: the client secret is not sent there"
        ));
    }
    let signer = match Signer::for_client(client) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut d = match draft(t, client, &signer).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    sign(&mut d);
    let token = match send(t, client, &d).await.map(|a| issued(client, &a)) {
        Ok(Ok(i)) => i,
        Ok(Err(line)) | Err(line) => {
            return Outcome::skip(format!("no bound token to introspect: {line}"));
        }
    };
    let mut form = vec![("token", token.token.clone())];
    let request = t.http.post(&endpoint);
    let request = client.client.present(request, &mut form);
    let answer = match crate::server::send_capped(request.form(&form)).await {
        Ok(a) => (a.status, a.body),
        Err(e) => {
            return Outcome::fail(client.client.scrub(&format!("POST {endpoint}: {e}")));
        }
    };
    let body: Value = serde_json::from_str(&answer.1).unwrap_or(Value::Null);
    if answer.0 != 200 || body["active"] != Value::Bool(true) {
        return Outcome::skip(format!(
            "the signing client may not introspect: {} active {}",
            answer.0, body["active"]
        ));
    }
    let cnf = &body["cnf"];
    let members: Vec<&String> = cnf
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let same = token
        .claims
        .as_ref()
        .is_none_or(|c| c.get("cnf") == Some(cnf));
    let line = format!(
        "200 active true, token_type {}, cnf members {members:?}, same cnf as the token {same}",
        body["token_type"]
    );
    let holds = body["token_type"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("httpsig"))
        && members.len() == 1
        && (cnf.get("htsk").is_some() || cnf.get("jwk").is_some())
        && same;
    Outcome::from_bool(holds, line)
}
