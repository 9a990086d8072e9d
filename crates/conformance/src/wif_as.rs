//! The authorization-server requirements of the workload-identity-federation
//! profile (profiles/workload-identity-federation.md, `WIF-AS-n`), checked from
//! outside, the checker acting as a workload platform the AS trusts
//! ([`WorkloadPlatform`]).
//!
//! A positive control comes first: a valid assertion for the configured subject,
//! sent with Section 7.1's request and no client authentication, must get an access
//! token. Every other probe changes one thing of that request (two, for the order
//! of Section 7.3) and expects the status and `error` of Section 10.1; when the
//! control is refused, a refusal would prove nothing and the probes are skipped,
//! saying so. The simple probes are a table (`crate::wif_as_probes`); the checks
//! here need more than one request, a decoded token or the issuer's request log.
//! No assertion, token or key is ever part of the evidence.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::authorization_server::AsTarget;
use crate::check::{Check, Outcome};
use crate::dpop_proof::ProofKey;
use crate::mint::{Unsigned, with_broken_signature};
use crate::server::Answer;
pub use crate::wif_as_platform::WorkloadPlatform;
use crate::wif_as_platform::{is_forbidden_fetch, is_key_set_fetch};
use crate::wif_as_probes::{Expect, PROBES, Request};

/// The grant type (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A resource no AS configures.
pub(crate) const UNKNOWN_RESOURCE: &str = "https://conformance.invalid/mcp";
/// A scope no resource defines.
pub(crate) const UNDEFINED_SCOPE: &str = "mcp-auth-conformance:undefined";
/// The claim every assertion carries so that a token copying it shows.
const MARKER_CLAIM: &str = "mcp_auth_conformance_marker";

/// A token request's form.
pub(crate) type Form = Vec<(&'static str, String)>;

/// What the probes of one check are built from.
pub(crate) struct Ctx<'a> {
    pub(crate) platform: &'a WorkloadPlatform,
    pub(crate) as_issuer: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) token_endpoint: String,
    pub(crate) now: i64,
    /// A random value in the marker claim (and in the values a probe must not see
    /// echoed).
    pub(crate) marker: String,
}

impl<'a> Ctx<'a> {
    /// The context, or why the checks cannot run (a skip).
    async fn new(t: &'a AsTarget) -> Result<Ctx<'a>, Outcome> {
        let Some(platform) = &t.workload else {
            return Err(Outcome::skip(
                "needs a workload platform the AS trusts (--workload-key, --workload-issuer, --workload-subject)",
            ));
        };
        let Some(resource) = t.resources.first() else {
            return Err(Outcome::skip(
                "needs --resource: a resource the AS's workload rule allows",
            ));
        };
        let token_endpoint = t
            .endpoint("token_endpoint")
            .await
            .map_err(|e| Outcome::skip(format!("no token endpoint to send the grant to: {e}")))?;
        Ok(Ctx {
            platform,
            as_issuer: &t.issuer,
            resource,
            token_endpoint,
            now: mcp_auth_core::unix_now(),
            marker: mcp_auth_core::random_token::<12>().unwrap_or_default(),
        })
    }

    /// The header and claims of a valid assertion: `typ` `JWT`, the platform's
    /// `kid`, `aud` the AS issuer, valid from now for five minutes.
    pub(crate) fn valid(&self) -> Unsigned {
        let p = self.platform;
        let header = json!({"alg": p.minter.alg().name(), "kid": p.minter.kid(), "typ": "JWT"});
        let mut claims = json!({
            "iss": p.issuer(),
            "sub": p.subject,
            "aud": self.as_issuer,
            "iat": self.now,
            "nbf": self.now,
            "exp": self.now + 300,
            "jti": format!("conformance-{}", self.marker),
            MARKER_CLAIM: self.marker,
        });
        for (name, value) in &p.claims {
            claims[name] = value.clone();
        }
        Unsigned {
            header: object(header),
            claims: object(claims),
        }
    }

    /// A valid assertion changed by `change`, signed with the platform's key.
    pub(crate) fn assertion(&self, change: impl FnOnce(&mut Unsigned)) -> String {
        let mut token = self.valid();
        change(&mut token);
        self.platform.minter.sign(&token)
    }

    /// Section 7.1's form for `assertion` at the resource.
    pub(crate) fn form(&self, assertion: String) -> Form {
        vec![
            ("grant_type", JWT_BEARER.to_owned()),
            ("assertion", assertion),
            ("resource", self.resource.to_owned()),
        ]
    }

    /// `POST` the request to the token endpoint.
    pub(crate) async fn post(&self, t: &AsTarget, request: &Request) -> Result<Answer, String> {
        let mut builder = t.http.post(&self.token_endpoint).form(&request.form);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        crate::server::send_capped(builder)
            .await
            .map_err(|e| format!("POST {}: {e}", self.token_endpoint))
    }
}

/// The answer's body as a JSON object (empty when it is not one).
pub(crate) fn body(a: &Answer) -> Map<String, Value> {
    match serde_json::from_str(&a.body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The `error` of an answer, or what stands in its place.
fn error_code(b: &Map<String, Value>) -> &str {
    b.get("error").and_then(Value::as_str).unwrap_or("no error")
}

/// Judges `answer` to the probe `what` against `expect`. The evidence names the
/// status and the codes, never a token or a description.
pub(crate) fn judge(what: &str, expect: &Expect, a: &Answer) -> Outcome {
    let b = body(a);
    let token = b.get("access_token").is_some();
    match expect {
        Expect::Token => {
            let holds = a.status == 200
                && b.get("access_token").and_then(Value::as_str).is_some()
                && b.get("refresh_token").is_none();
            let refresh = if b.get("refresh_token").is_some() {
                ", with a refresh_token"
            } else {
                ", no refresh_token"
            };
            let got = if token {
                format!("{} access token{refresh}", a.status)
            } else {
                format!("{} {}", a.status, error_code(&b))
            };
            Outcome::from_bool(holds, format!("{what}: {got}"))
        }
        Expect::Refused { statuses, errors } => {
            let code = error_code(&b);
            let holds = statuses.contains(&a.status)
                && (errors.is_empty() || errors.contains(&code))
                && !token;
            let got = if token {
                format!("{} with an access token", a.status)
            } else {
                format!("{} {code}", a.status)
            };
            if holds {
                Outcome::pass(format!("{what}: {got}"))
            } else {
                let want = if errors.is_empty() {
                    "no token".to_owned()
                } else {
                    errors.join(" or ")
                };
                Outcome::fail(format!(
                    "{what}: expected {} {want}, got {got}",
                    statuses
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join("/")
                ))
            }
        }
    }
}

/// The claims of a JWT (its second part), when it is one.
pub(crate) fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The positive control, sent once per run: `Ok` with its evidence when the AS
/// issued a token for the valid assertion, `Err` with what it answered.
async fn control<'c>(t: &AsTarget, c: &'c Ctx<'_>) -> &'c Result<String, String> {
    c.platform
        .control
        .get_or_init(|| async {
            let request = Request::plain(c.form(c.assertion(|_| ())));
            let what = "a valid assertion, no client authentication";
            match c.post(t, &request).await {
                Ok(a) => match judge(what, &Expect::Token, &a) {
                    Outcome::Pass(e) => Ok(e),
                    other => Err(other.evidence().to_owned()),
                },
                Err(e) => Err(e),
            }
        })
        .await
}

/// The context of a probe that needs the control to have passed, or the skip.
pub(crate) async fn gated(t: &AsTarget) -> Result<Ctx<'_>, Outcome> {
    let c = Ctx::new(t).await?;
    if let Err(e) = control(t, &c).await {
        return Err(Outcome::skip(format!(
            "the valid assertion was not accepted ({e}): a refusal would prove nothing"
        )));
    }
    Ok(c)
}

/// Every black-box `WIF-AS` check, in the order of the requirements.
pub fn checks() -> Vec<Check<AsTarget>> {
    let mut checks: Vec<Check<AsTarget>> = vec![
        Check {
            id: "WIF-AS-1",
            requirement: "grant_types_supported lists urn:ietf:params:oauth:grant-type:jwt-bearer",
            run: Box::new(|t| Box::pin(grant_listed(t))),
        },
        Check {
            id: "WIF-AS-1",
            requirement: "a valid workload assertion with grant_type, assertion and resource, no client authentication, gets an access token (the control)",
            run: Box::new(|t| Box::pin(control_check(t))),
        },
    ];
    checks.extend(PROBES.iter().map(|probe| Check {
        id: probe.id,
        requirement: probe.requirement,
        run: Box::new(move |t: &AsTarget| {
            Box::pin(async move {
                let c = match gated(t).await {
                    Ok(c) => c,
                    Err(skip) => return skip,
                };
                let request = (probe.request)(&c);
                match c.post(t, &request).await {
                    Ok(a) => judge(probe.what, &probe.expect, &a),
                    Err(e) => Outcome::fail(e),
                }
            })
        }),
    }));
    checks.extend(crate::wif_as_flows::checks());
    checks.sort_by_key(|c| number(c.id));
    checks
}

/// The number of a requirement identifier, for ordering.
fn number(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn grant_listed(t: &AsTarget) -> Outcome {
    let metadata = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(e),
    };
    let listed = metadata
        .get("grant_types_supported")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|g| g.as_str() == Some(JWT_BEARER)));
    Outcome::from_bool(
        listed,
        if listed {
            "grant_types_supported lists the jwt-bearer grant"
        } else {
            "grant_types_supported does not list urn:ietf:params:oauth:grant-type:jwt-bearer"
        },
    )
}

async fn control_check(t: &AsTarget) -> Outcome {
    let c = match Ctx::new(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    match control(t, &c).await {
        Ok(e) => Outcome::pass(e.clone()),
        Err(e) => Outcome::fail(e.clone()),
    }
}

/// WIF-AS-5: a DPoP proof on this grant binds the token (`cnf.jkt`, `token_type`
/// DPoP); a proof that is not a JWT is refused.
pub(crate) async fn dpop_bound(t: &AsTarget, broken: bool) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let advertised = t.metadata().await.ok().is_some_and(|m| {
        m.get("dpop_signing_alg_values_supported")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|a| a.as_str() == Some("ES256")))
    });
    if !advertised {
        return Outcome::skip(
            "the metadata does not list ES256 in dpop_signing_alg_values_supported: the AS does not offer DPoP here",
        );
    }
    let Some(key) = ProofKey::generate(mcp_auth_httpsig::JwsAlgorithm::Es256) else {
        return Outcome::skip("could not make a P-256 key");
    };
    let assertion = c.assertion(|_| ());
    if broken {
        let request = Request {
            form: c.form(assertion),
            headers: vec![("dpop", "not-a-jwt".to_owned())],
        };
        return match c.post(t, &request).await {
            Ok(a) => judge(
                "a DPoP header that is not a JWT",
                &Expect::Refused {
                    statuses: &[400],
                    errors: &["invalid_dpop_proof"],
                },
                &a,
            ),
            Err(e) => Outcome::fail(e),
        };
    }
    let mut nonce: Option<String> = None;
    let mut answer = None;
    // One retry with the AS's nonce (RFC 9449 §8), as a client does.
    for _ in 0..2 {
        let proof = key.sign(&key.claims(
            "POST",
            &c.token_endpoint,
            None,
            nonce.as_deref(),
            mcp_auth_core::unix_now(),
        ));
        let request = Request {
            form: c.form(assertion.clone()),
            headers: vec![("dpop", proof)],
        };
        let a = match c.post(t, &request).await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(e),
        };
        let retry = error_code(&body(&a)) == "use_dpop_nonce" && nonce.is_none();
        nonce = crate::authorization_server::header(&a.headers, "dpop-nonce");
        answer = Some(a);
        if !retry || nonce.is_none() {
            break;
        }
    }
    let Some(a) = answer else {
        return Outcome::fail("no answer");
    };
    let b = body(&a);
    let token_type = b.get("token_type").and_then(Value::as_str).unwrap_or("");
    let jkt = b
        .get("access_token")
        .and_then(Value::as_str)
        .and_then(jwt_claims)
        .and_then(|claims| claims.get("cnf")?.get("jkt")?.as_str().map(str::to_owned));
    let bound = jkt.as_deref() == Some(key.jkt());
    let holds = a.status == 200 && token_type.eq_ignore_ascii_case("DPoP") && bound;
    Outcome::from_bool(
        holds,
        format!(
            "a valid assertion with a DPoP proof: {} token_type {token_type:?}, cnf.jkt {}",
            a.status,
            match jkt {
                None => "absent",
                Some(_) if bound => "the proof key's thumbprint",
                Some(_) => "another thumbprint",
            }
        ),
    )
}

/// Waits for the AS's fetches to land in the issuer's log.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The paths the AS must never have fetched that it did, when the checker serves
/// the issuer.
pub(crate) fn forbidden_fetches(p: &WorkloadPlatform) -> Option<Vec<String>> {
    p.fetches().map(|f| {
        f.into_iter()
            .filter(|(path, _)| is_forbidden_fetch(path))
            .map(|(path, _)| path)
            .collect()
    })
}

/// The times of the AS's fetches of the trusted key set, when served.
pub(crate) fn key_set_fetches(p: &WorkloadPlatform) -> Option<Vec<std::time::Instant>> {
    p.fetches().map(|f| {
        f.into_iter()
            .filter(|(path, _)| is_key_set_fetch(path))
            .map(|(_, at)| at)
            .collect()
    })
}

/// `assertion` with a broken signature (WIF-AS-24's step 8).
pub(crate) fn broken(assertion: &str) -> String {
    with_broken_signature(assertion)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
