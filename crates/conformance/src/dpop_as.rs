//! The authorization-server requirements DPOP-AS-n (profiles/dpop.md), checked from outside.
//!
//! Every token request is a client credentials grant of the confidential client the user
//! gave, with the checker's own DPoP proofs ([`crate::dpop_proof`]): a key made per check,
//! so no state is shared between checks. The client secret goes only where
//! [`AsTarget::secret_token_endpoint`] allows: each request is sent through a copy of the
//! target whose `token_endpoint` is that vetted endpoint and whose HTTP client adds the
//! `DPoP` fields (no redirects, 10 s, as the target's own client), so the secret is
//! presented by [`AsTarget::confidential_token_request`] alone and never read here.
//!
//! Each probe of a broken proof first gets the valid request accepted (following one
//! `use_dpop_nonce` answer), then changes one thing; the refusal must be 400 with the
//! `error` profiles/dpop.md §9.1 names, and no `access_token`. The probes are the proof
//! changes both sides check (`crate::dpop_proof_changes`) and the token endpoint's own,
//! in `dpop_as_probes.rs`. What needs a user to sign in (a code, a refresh token) is
//! skipped, saying so. Evidence shows statuses, `error` codes, lengths and thumbprints,
//! never a token, proof, nonce or secret.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::unix_now;
use mcp_auth_httpsig::JwsAlgorithm;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::authorization_server::{AsTarget, REGISTERED_REDIRECT_URI, header};
use crate::check::{Check, Outcome};
use crate::dpop_as_probes::rows;
use crate::dpop_proof::ProofKey;
use crate::dpop_proof_changes::{self as changes, Expect, ProbeFixture, ProofFixture, Row, Sent};
use crate::mint::Unsigned;
use crate::server::Answer;

/// The algorithms the checker can sign proofs with, in the order it prefers them.
const SIGNABLE: [JwsAlgorithm; 3] = [
    JwsAlgorithm::Es256,
    JwsAlgorithm::EdDsa,
    JwsAlgorithm::Ed25519,
];

/// Every check of this profile's authorization-server requirements, in order.
pub fn checks() -> Vec<Check<AsTarget>> {
    let mut checks: Vec<Check<AsTarget>> = vec![
        Check {
            id: "DPOP-AS-1",
            requirement: "client_credentials with a valid proof: 200, token_type DPoP (any case, RFC 9449 §5); one use_dpop_nonce answer followed",
            run: Box::new(|t| Box::pin(bound_token(t))),
        },
        Check {
            id: "DPOP-AS-1",
            requirement: "the token, when a JWT, has cnf.jkt the RFC 7638 SHA-256 thumbprint of the proof's key (RFC 9449 §6.1)",
            run: Box::new(|t| Box::pin(cnf_jkt(t))),
        },
        Check {
            id: "DPOP-AS-1",
            requirement: "introspection of a bound token says token_type DPoP and cnf.jkt (RFC 9449 §6.2)",
            run: Box::new(|_| {
                Box::pin(async {
                    Outcome::skip(
                        "introspection needs the client secret at the introspection endpoint: the checker sends the secret to the token endpoint only",
                    )
                })
            }),
        },
        Check {
            id: "DPOP-AS-1",
            requirement: "authorization_code and refresh_token grants with a proof get bound tokens",
            run: Box::new(|_| Box::pin(async { Outcome::skip(LOGIN) })),
        },
    ];
    checks.extend(
        SIGNABLE
            .into_iter()
            .zip([
                "a proof signed with ES256, when the metadata lists it: accepted",
                "a proof signed with EdDSA (Ed25519 key), when the metadata lists it: accepted",
                "a proof signed with Ed25519 (RFC 9864 name), when the metadata lists it: accepted",
            ])
            .map(|(alg, requirement)| Check {
                id: "DPOP-AS-1",
                requirement,
                run: Box::new(move |t: &AsTarget| Box::pin(listed_alg_accepted(t, alg))),
            }),
    );
    checks.push(Check {
        id: "DPOP-AS-2",
        requirement: "client_credentials without a proof: 200, token_type Bearer (unless the client registered dpop_bound_access_tokens)",
        run: Box::new(|t| Box::pin(without_proof(t))),
    });
    checks.push(Check {
        id: "DPOP-AS-3",
        requirement: "the same valid proof sent twice: the second gets 400 invalid_dpop_proof (RFC 9449 §5, §11.1)",
        run: Box::new(|t| Box::pin(replay(t))),
    });
    checks.extend(rows().map(|row| match row {
        Row::Change(change, requirement) => Check {
            id: "DPOP-AS-3",
            requirement,
            run: Box::new(move |t: &AsTarget| {
                Box::pin(
                    async move { changes::probe_change(Fixture::accepted(t).await, change).await },
                )
            }),
        },
        Row::Own(probe) => Check {
            id: probe.id,
            requirement: probe.requirement,
            run: Box::new(move |t: &AsTarget| {
                Box::pin(async move {
                    let fx = Fixture::accepted(t).await;
                    changes::probe(fx, probe.needs_nonce, probe.make, probe.expect).await
                })
            }),
        },
    }));
    checks.push(Check {
        id: "DPOP-AS-4",
        requirement: "nonces required: every successful token response carries the next nonce in DPoP-Nonce (profile decision: RFC 9449 §8.2 leaves when to the AS)",
        run: Box::new(|t| Box::pin(nonce_on_success(t))),
    });
    checks.extend([
        Check {
            id: "DPOP-AS-5",
            requirement: "RFC 7591 registration with dpop_bound_access_tokens true: 201, the value registered",
            run: Box::new(|t: &AsTarget| Box::pin(register(t, json!(true)))),
        },
        Check {
            id: "DPOP-AS-5",
            requirement: "RFC 7591 registration with dpop_bound_access_tokens \"true\" (a string): 400 invalid_client_metadata",
            run: Box::new(|t: &AsTarget| Box::pin(register(t, json!("true")))),
        },
        Check {
            id: "DPOP-AS-6",
            requirement: "a code requested with dpop_jkt is redeemed only with a proof by that key (RFC 9449 §10)",
            run: Box::new(|_| Box::pin(async { Outcome::skip(LOGIN) })),
        },
        Check {
            id: "DPOP-AS-6",
            requirement: "a public client's refresh token proved by another key is refused with invalid_grant (RFC 9449 §5)",
            run: Box::new(|_| Box::pin(async { Outcome::skip(LOGIN) })),
        },
        Check {
            id: "DPOP-AS-7",
            requirement: "the metadata publishes dpop_signing_alg_values_supported: asymmetric JWS algorithms, never none or a MAC (RFC 9449 §5.1)",
            run: Box::new(|t| Box::pin(metadata(t))),
        },
        Check {
            id: "DPOP-AS-8",
            requirement: "a token request with both an HTTP message signature and a DPoP proof: 400 invalid_request",
            run: Box::new(|_| {
                Box::pin(async {
                    Outcome::skip("the token request's signature covers the client's Authorization field or its form body, which hold the secret the checker never reads")
                })
            }),
        },
    ]);
    checks
}

const LOGIN: &str =
    "needs an authorization code, hence a user signing in: the checker does not script a login";

/// The valid request's context: the vetted token endpoint, the metadata's algorithms,
/// a fresh key, and the nonce the AS gave, if any.
pub(crate) struct Fixture<'t> {
    target: &'t AsTarget,
    /// The token endpoint the secret may go to (the proofs' `htu`).
    pub(crate) endpoint: String,
    /// `dpop_signing_alg_values_supported`, when published.
    pub(crate) algs: Option<Vec<String>>,
    /// The key of the valid proofs.
    pub(crate) key: ProofKey,
    /// The latest nonce the AS gave.
    pub(crate) nonce: Option<String>,
    /// Whether the AS answered a proof without nonce with `use_dpop_nonce`.
    pub(crate) asked_nonce: bool,
}

impl<'t> Fixture<'t> {
    /// Sets up and sends the valid request: its answer, followed once through
    /// `use_dpop_nonce`. An error when there is nothing to send with.
    async fn new(target: &'t AsTarget) -> Result<(Self, Answer), Outcome> {
        let endpoint = target
            .secret_token_endpoint()
            .await
            .map_err(Outcome::skip)?;
        if target.confidential.is_none() {
            return Err(Outcome::skip(
                "needs a confidential client allowed the client_credentials grant (--client-id with --client-secret-env)",
            ));
        }
        let algs = target.metadata().await.ok().and_then(|m| {
            m.get("dpop_signing_alg_values_supported")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
        });
        let alg = SIGNABLE
            .into_iter()
            .find(|a| algs.as_ref().is_none_or(|l| l.iter().any(|x| x == a.name())))
            .ok_or_else(|| {
                Outcome::skip(
                    "the metadata lists none of the algorithms the checker signs with (ES256, EdDSA, Ed25519)",
                )
            })?;
        let key = ProofKey::generate(alg).ok_or_else(|| Outcome::skip("no key could be made"))?;
        let mut fx = Self {
            target,
            endpoint,
            algs,
            key,
            nonce: None,
            asked_nonce: false,
        };
        let answer = fx.valid().await.map_err(Outcome::skip)?;
        Ok((fx, answer))
    }

    /// The fixture of a probe: the valid request accepted, or the skip saying why not.
    pub(crate) async fn accepted(target: &'t AsTarget) -> Result<Self, Outcome> {
        let (fx, answer) = Self::new(target).await?;
        if answer.status != 200 || token(&answer).is_none() {
            return Err(Outcome::skip(format!(
                "the valid request was refused ({}): a refusal of a broken one would prove nothing",
                summary(&answer)
            )));
        }
        Ok(fx)
    }

    /// Sends a valid proof (with the nonce it has), and once more with the nonce of a
    /// `use_dpop_nonce` answer (RFC 9449 §8). Keeps the latest nonce.
    async fn valid(&mut self) -> Result<Answer, String> {
        let mut answer = self.send(&Sent::proof(self.valid_proof())).await?;
        if answer.status == 400 && error(&answer).as_deref() == Some("use_dpop_nonce") {
            self.asked_nonce = true;
            if let Some(n) = header(&answer.headers, "dpop-nonce") {
                self.nonce = Some(n);
                answer = self.send(&Sent::proof(self.valid_proof())).await?;
            }
        }
        if let Some(n) = header(&answer.headers, "dpop-nonce") {
            self.nonce = Some(n);
        }
        Ok(answer)
    }

    /// The header and claims of a valid proof by `key` for a POST to the endpoint, now,
    /// with the current nonce.
    fn claims_by(&self, key: &ProofKey) -> Unsigned {
        key.claims(
            "POST",
            &self.endpoint,
            None,
            self.nonce.as_deref(),
            unix_now(),
        )
    }

    /// Sends the client credentials grant as the confidential client with `sent`'s
    /// `DPoP` fields and headers, to the vetted endpoint only.
    pub(crate) async fn send(&self, sent: &Sent) -> Result<Answer, String> {
        let mut headers = HeaderMap::new();
        // Several proofs go as one field line, comma-separated: the same field to the
        // recipient (RFC 9110 §5.3), and the only way through a client's default
        // headers, which keep one line per name.
        if !sent.proofs.is_empty() {
            let proofs = sent.proofs.join(", ");
            headers.insert(
                "dpop",
                HeaderValue::from_str(&proofs).map_err(|e| format!("the DPoP field: {e}"))?,
            );
        }
        for (name, value) in &sent.headers {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).map_err(|e| format!("{name}: {e}"))?,
            );
        }
        let http = mcp_auth_core::connection_pool::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()
            .map_err(|e| e.to_string())?;
        let mut copy = AsTarget::new(&self.target.issuer).map_err(|e| e.to_string())?;
        copy.http = http;
        copy.confidential.clone_from(&self.target.confidential);
        // Already vetted: the copy sends the secret nowhere else, and fetches nothing.
        copy.token_endpoint = Some(self.endpoint.clone());
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(r) = self.target.resources.first() {
            form.push(("resource", r.clone()));
        }
        copy.confidential_token_request(&form).await
    }
}

/// A probe at the token endpoint sends `Sent` as it is, judged by the AS's rules.
impl ProbeFixture for Fixture<'_> {
    type Request = Sent;

    fn without_nonce(&self) -> Option<&'static str> {
        (!self.asked_nonce)
            .then_some("the AS did not ask for a nonce: nonces are optional (RFC 9449 §8)")
    }

    fn request(&self, sent: Sent) -> Sent {
        sent
    }

    async fn outcome(&self, request: &Sent, expect: Expect) -> Outcome {
        match self.send(request).await {
            Ok(answer) => judge(&answer, expect),
            Err(e) => Outcome::fail(format!("no answer: {e}")),
        }
    }
}

/// The token endpoint's valid request: proofs by the fixture's key for a POST to the
/// vetted endpoint, without `ath` (no access token goes with them, RFC 9449 §4.2).
impl ProofFixture for Fixture<'_> {
    fn proof(&self) -> Unsigned {
        self.claims_by(&self.key)
    }

    fn key(&self) -> &ProofKey {
        &self.key
    }

    fn url(&self) -> &str {
        &self.endpoint
    }

    fn algs(&self) -> Result<&[String], String> {
        self.algs
            .as_deref()
            .ok_or_else(|| "the metadata has no dpop_signing_alg_values_supported".into())
    }

    fn proof_by(&self, key: &ProofKey, change: &mut dyn FnMut(&mut Unsigned)) -> Sent {
        let mut p = self.claims_by(key);
        change(&mut p);
        Sent::proof(key.sign(&p))
    }
}

/// The `access_token` of a JSON answer.
pub(crate) fn token(answer: &Answer) -> Option<String> {
    let body: Value = serde_json::from_str(&answer.body).ok()?;
    body["access_token"].as_str().map(str::to_owned)
}

/// The `error` of a JSON answer.
pub(crate) fn error(answer: &Answer) -> Option<String> {
    let body: Value = serde_json::from_str(&answer.body).ok()?;
    body["error"].as_str().map(str::to_owned)
}

/// One line about an answer: status, `error` or `token_type`, whether a token came,
/// how many `DPoP-Nonce` fields. Never the token or the nonce.
pub(crate) fn summary(answer: &Answer) -> String {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let mut line = answer.status.to_string();
    // What the AS wrote, at most 64 characters of it.
    let short = |v: &str| v.chars().take(64).collect::<String>();
    if let Some(e) = body["error"].as_str() {
        line.push_str(&format!(" error={}", short(e)));
    }
    if let Some(tt) = body["token_type"].as_str() {
        line.push_str(&format!(" token_type={}", short(tt)));
    }
    if let Some(at) = body["access_token"].as_str() {
        line.push_str(&format!(", an access_token of {} characters", at.len()));
    }
    let nonces = answer.headers.get_all("dpop-nonce").iter().count();
    if nonces > 0 {
        line.push_str(&format!(", {nonces} DPoP-Nonce field(s)"));
    }
    line
}

/// Judges `answer` against `expect`.
pub(crate) fn judge(answer: &Answer, expect: Expect) -> Outcome {
    let line = summary(answer);
    match expect {
        Expect::Refuse(code) => Outcome::from_bool(
            answer.status == 400
                && error(answer).as_deref() == Some(code)
                && token(answer).is_none(),
            line,
        ),
        Expect::Nonce => Outcome::from_bool(
            answer.status == 400
                && error(answer).as_deref() == Some("use_dpop_nonce")
                && token(answer).is_none()
                && answer.headers.get_all("dpop-nonce").iter().count() == 1,
            line,
        ),
        Expect::Unaccepted => Outcome::from_bool(
            answer.status == 400 && error(answer).is_some() && token(answer).is_none(),
            line,
        ),
        Expect::Accept => Outcome::from_bool(answer.status == 200 && is_dpop(answer), line),
    }
}

/// Whether `token_type` is `DPoP`, compared case-insensitively (RFC 9449 §5: the
/// token type is case-insensitive, RFC 6749 §5.1).
fn is_dpop(answer: &Answer) -> bool {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    token(answer).is_some()
        && body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
}

/// DPOP-AS-1: the valid request gets a DPoP token.
async fn bound_token(t: &AsTarget) -> Outcome {
    let (fx, answer) = match Fixture::new(t).await {
        Ok(x) => x,
        Err(o) => return o,
    };
    let nonce = if fx.asked_nonce {
        "after one use_dpop_nonce answer: "
    } else {
        ""
    };
    Outcome::from_bool(
        answer.status == 200 && is_dpop(&answer),
        format!("{} proof: {nonce}{}", fx.key.alg(), summary(&answer)),
    )
}

/// DPOP-AS-1: `cnf.jkt` of a JWT access token.
async fn cnf_jkt(t: &AsTarget) -> Outcome {
    let (fx, answer) = match Fixture::new(t).await {
        Ok(x) => x,
        Err(o) => return o,
    };
    let Some(at) = token(&answer).filter(|_| answer.status == 200) else {
        return Outcome::skip(format!("no token: {}", summary(&answer)));
    };
    let claims = at
        .split('.')
        .nth(1)
        .filter(|_| at.split('.').count() == 3)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object);
    let Some(claims) = claims else {
        return Outcome::skip(format!(
            "the access token ({} characters) is not a JWT: its cnf is not visible from outside (introspection needs the secret elsewhere)",
            at.len()
        ));
    };
    let jkt = &claims["cnf"]["jkt"];
    Outcome::from_bool(
        jkt.as_str() == Some(fx.key.jkt()),
        format!(
            "cnf {}; the proof key's thumbprint {}",
            if claims["cnf"].is_null() {
                "absent".to_owned()
            } else {
                claims["cnf"].to_string()
            },
            fx.key.jkt()
        ),
    )
}

/// DPOP-AS-1: a proof by `alg`, when the metadata lists it, is accepted.
async fn listed_alg_accepted(t: &AsTarget, alg: JwsAlgorithm) -> Outcome {
    let fx = match Fixture::accepted(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    let Some(algs) = &fx.algs else {
        return Outcome::skip("the metadata has no dpop_signing_alg_values_supported");
    };
    if !algs.iter().any(|a| a == alg.name()) {
        return Outcome::skip(format!(
            "the metadata does not list {} ({})",
            alg.name(),
            algs.join(" ")
        ));
    }
    let Some(key) = ProofKey::generate(alg) else {
        return Outcome::skip("no key could be made");
    };
    match fx.send(&fx.proof_by(&key, &mut |_| {})).await {
        Ok(answer) => judge(&answer, Expect::Accept),
        Err(e) => Outcome::fail(format!("no answer: {e}")),
    }
}

/// DPOP-AS-2: no proof, a Bearer token.
async fn without_proof(t: &AsTarget) -> Outcome {
    let fx = match Fixture::accepted(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    let answer = match fx.send(&Sent::default()).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(format!("no answer: {e}")),
    };
    let line = summary(&answer);
    if answer.status == 400 && error(&answer).as_deref() == Some("invalid_request") {
        return Outcome::skip(format!(
            "{line}: what the AS must answer a client that registered dpop_bound_access_tokens true (RFC 9449 §5.2), which the checker cannot tell from outside"
        ));
    }
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    Outcome::from_bool(
        answer.status == 200
            && token(&answer).is_some()
            && body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        line,
    )
}

/// DPOP-AS-3: a replayed proof is refused.
async fn replay(t: &AsTarget) -> Outcome {
    let fx = match Fixture::accepted(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    let sent = Sent::proof(fx.valid_proof());
    let first = match fx.send(&sent).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(format!("no answer: {e}")),
    };
    if first.status != 200 {
        return Outcome::skip(format!(
            "the proof's first use was refused ({}): its replay proves nothing",
            summary(&first)
        ));
    }
    let second = match fx.send(&sent).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(format!("no answer: {e}")),
    };
    if error(&second).as_deref() == Some("use_dpop_nonce") {
        return Outcome::skip(format!(
            "the replay was refused for its nonce ({}): the replay check was not reached",
            summary(&second)
        ));
    }
    let outcome = judge(&second, Expect::Refuse("invalid_dpop_proof"));
    let evidence = format!("first use 200; the replay: {}", outcome.evidence());
    match outcome {
        Outcome::Pass(_) => Outcome::pass(evidence),
        _ => Outcome::fail(evidence),
    }
}

/// DPOP-AS-4: a successful token response carries the next nonce.
async fn nonce_on_success(t: &AsTarget) -> Outcome {
    let (fx, answer) = match Fixture::new(t).await {
        Ok(x) => x,
        Err(o) => return o,
    };
    if !fx.asked_nonce {
        return Outcome::skip("the AS did not ask for a nonce: nonces are optional (RFC 9449 §8)");
    }
    if answer.status != 200 {
        return Outcome::skip(format!(
            "the request with the AS's nonce was refused ({})",
            summary(&answer)
        ));
    }
    Outcome::from_bool(
        answer.headers.get_all("dpop-nonce").iter().count() == 1,
        summary(&answer),
    )
}

/// DPOP-AS-5: registration (RFC 7591) with `dpop_bound_access_tokens` set to `value`.
async fn register(t: &AsTarget, value: Value) -> Outcome {
    let Ok(endpoint) = t.endpoint("registration_endpoint").await else {
        return Outcome::skip(
            "the AS offers no registration_endpoint; configuration and Client ID Metadata Documents are not checked here",
        );
    };
    if !t.register {
        return Outcome::skip("registration is turned off");
    }
    let request = json!({
        "client_name": "mcp-auth conformance (dpop)",
        "redirect_uris": [REGISTERED_REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": value,
    });
    let (status, body) = match capped(t.http.post(&endpoint).json(&request)).await {
        Ok(x) => x,
        Err(e) => return Outcome::fail(format!("POST {endpoint}: {e}")),
    };
    let line = format!(
        "{status}{}, dpop_bound_access_tokens {}",
        body["error"]
            .as_str()
            .map(|e| format!(" error={e}"))
            .unwrap_or_default(),
        if body.get("dpop_bound_access_tokens").is_some() {
            body["dpop_bound_access_tokens"].to_string()
        } else {
            "absent".to_owned()
        }
    );
    if value.is_boolean() {
        // RFC 7591 §3.2.1: the response contains all registered metadata.
        Outcome::from_bool(
            status == 201 && body["dpop_bound_access_tokens"] == value,
            line,
        )
    } else {
        // RFC 7591 §3.2.2: an invalid metadata value.
        Outcome::from_bool(
            status == 400 && body["error"] == "invalid_client_metadata",
            line,
        )
    }
}

/// Sends `request`: the status and the body as JSON (`null` when not), at most
/// 64 KiB of it read.
async fn capped(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let answer = crate::server::send_capped(request).await?;
    Ok((
        answer.status,
        serde_json::from_str(&answer.body).unwrap_or(Value::Null),
    ))
}

/// DPOP-AS-7: the metadata member.
async fn metadata(t: &AsTarget) -> Outcome {
    let m = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(e),
    };
    let Some(list) = m.get("dpop_signing_alg_values_supported") else {
        return Outcome::fail("no dpop_signing_alg_values_supported in the metadata");
    };
    let algs: Option<Vec<&str>> = list
        .as_array()
        .map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .unwrap_or(None);
    let Some(algs) = algs.filter(|a| !a.is_empty()) else {
        return Outcome::fail(format!(
            "dpop_signing_alg_values_supported is not a non-empty array of strings: {list}"
        ));
    };
    let symmetric = |a: &&str| a.eq_ignore_ascii_case("none") || a.starts_with("HS");
    Outcome::from_bool(
        !algs.iter().any(symmetric),
        format!("dpop_signing_alg_values_supported: {}", algs.join(" ")),
    )
}
