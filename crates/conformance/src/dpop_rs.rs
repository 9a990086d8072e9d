//! The resource-server requirements DPOP-RS-n (profiles/dpop.md §8.2), checked from
//! outside.
//!
//! Every probe starts from a request the server was just shown to accept: a token the
//! checker mints itself (`--issuer-key`) bound by `cnf.jkt` to a key made for the
//! probe, presented as `Authorization: DPoP` with a fresh proof (RFC 9449 §4.2, §7),
//! retried once with the server's nonce when it answers `use_dpop_nonce` (§9). The
//! probe then sends that request with one thing changed (the proof changes both sides
//! check, `crate::dpop_proof_changes`, and the RS's own tables in `probes.rs` and
//! `token_probes.rs`), so a refusal can only be for the change, and judges the answer by the status, the
//! `DPoP` challenge and its `error` that the profile's §9.2 table requires. Probes
//! that expect acceptance (`htu` with a query, scheme case, ...) are there too: a
//! server refusing what RFC 9449 says to accept breaks its clients.
//!
//! Evidence is the status and the challenge only, never a token or a proof.
//!
//! Where the profile leaves the answer to the deployment, a probe does not fail the
//! server: a replayed proof that is accepted again is SEP-1932's stateless mode
//! (DPOP-RS-5 allows it), so it skips, saying what that lets through; the nonce
//! probes skip against a server that never asks for a nonce (nonces are optional).
//!
//! Not checked from outside: that the key thumbprint is passed on as the caller's key
//! (DPOP-RS-2; only the MCP server behind sees it), the refusal of the `DPoP` scheme
//! by a server that does not accept DPoP (DPOP-RS-7's first half; the target of
//! `--profile dpop` accepts it), an expired nonce (DPOP-RS-8; it takes the nonce's
//! lifetime, 300 s here, to make one), another server's nonce, and the 503 of an
//! unreachable replay cache.

mod probes;
mod token_probes;

use mcp_auth_core::challenge::Challenge;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::check::{Check, Outcome};
use crate::dpop_proof::ProofKey;
use crate::dpop_proof_changes::{
    self as changes, BAD_PROOF, Expect, OwnProbe, ProbeFixture, ProofFixture, Row, Sent,
};
use crate::mint::{Minter, Unsigned};
use crate::server::{Answer, ServerTarget};

use mcp_auth_httpsig::JwsAlgorithm;

/// Every check of this profile's resource-server requirements, in order.
pub fn checks() -> Vec<Check<ServerTarget>> {
    let mut checks: Vec<Check<ServerTarget>> = vec![
        Check {
            id: "DPOP-RS-1",
            requirement: "the metadata publishes dpop_signing_alg_values_supported (a non-empty list) and dpop_bound_access_tokens_required (a boolean)",
            run: Box::new(|t| Box::pin(metadata_fields(t))),
        },
        Check {
            id: "DPOP-RS-1",
            requirement: "a request without credentials gets 401 with a DPoP challenge naming algs, without error",
            run: Box::new(|t| Box::pin(unauthenticated_challenge(t))),
        },
        Check {
            id: "DPOP-RS-1",
            requirement: "a 401 for a bad proof offers the same DPoP algs as the metadata",
            run: Box::new(|t| Box::pin(algs_on_refusal(t))),
        },
        Check {
            id: "DPOP-RS-2",
            requirement: "a DPoP-bound token with a fresh proof (htm, htu, iat, jti, ath; the nonce after a use_dpop_nonce answer) is accepted",
            run: Box::new(|t| Box::pin(valid_request_accepted(t))),
        },
    ];
    let rows = probes::rows().chain(token_probes::TOKEN_PROBES.iter().map(Row::Own));
    checks.extend(rows.map(|row| match row {
        Row::Change(change, requirement) => Check {
            id: "DPOP-RS-3",
            requirement,
            run: Box::new(move |t: &ServerTarget| {
                Box::pin(async move { changes::probe_change(baseline(t).await, change).await })
            }),
        },
        Row::Own(probe) => Check {
            id: probe.id,
            requirement: probe.requirement,
            run: Box::new(move |t: &ServerTarget| {
                Box::pin(async move {
                    changes::probe(
                        baseline(t).await,
                        probe.needs_nonce,
                        probe.make,
                        probe.expect,
                    )
                    .await
                })
            }),
        },
    }));
    checks.extend([
        Check {
            id: "DPOP-RS-5",
            requirement: "an accepted proof sent again gets 401 invalid_dpop_proof (a server in SEP-1932's stateless mode, allowed by the profile, skips)",
            run: Box::new(|t| Box::pin(replayed_proof(t, false))),
        },
        Check {
            id: "DPOP-RS-5",
            requirement: "a new proof reusing an accepted proof's jti gets 401 invalid_dpop_proof (a server in SEP-1932's stateless mode skips)",
            run: Box::new(|t| Box::pin(replayed_proof(t, true))),
        },
        Check {
            id: "DPOP-RS-8",
            requirement: "with nonces required, a successful response carries the next nonce in DPoP-Nonce",
            run: Box::new(|t| Box::pin(next_nonce_on_success(t))),
        },
    ]);
    checks
}

/// What a probe sends: the request URL, `Authorization` and the `DPoP` fields.
pub(crate) struct Request {
    url: String,
    authorization: Option<String>,
    proofs: Vec<String>,
    /// Other header fields (`Host`, `X-Forwarded-Host`, ...).
    headers: Vec<(&'static str, String)>,
}

/// A request the server was just shown to accept, and what a probe needs to change
/// it: the token (unsigned, to mint variants), the proof key, the server's nonce.
pub(crate) struct Fixture<'a> {
    t: &'a ServerTarget,
    minter: &'a Minter,
    key: ProofKey,
    token: Unsigned,
    signed: String,
    /// The nonce to put in proofs: the latest `DPoP-Nonce` the server sent.
    nonce: Option<String>,
    /// Whether the server asked for a nonce (401 `use_dpop_nonce`).
    asked_nonce: bool,
    /// The `algs` of the server's `DPoP` challenge.
    algs: Vec<String>,
}

/// The resource server's valid request: the bound token presented as `DPoP` to the
/// endpoint, its proofs with `ath` (RFC 9449 §4.2, §7).
impl ProofFixture for Fixture<'_> {
    fn proof(&self) -> Unsigned {
        self.key.claims(
            "POST",
            &self.t.url,
            Some(&self.signed),
            self.nonce.as_deref(),
            now(),
        )
    }

    fn key(&self) -> &ProofKey {
        &self.key
    }

    fn url(&self) -> &str {
        &self.t.url
    }

    fn algs(&self) -> Result<&[String], String> {
        Ok(&self.algs)
    }

    fn proof_by(&self, key: &ProofKey, change: &mut dyn FnMut(&mut Unsigned)) -> Sent {
        let token = self.token_with_cnf(Some(json!({"jkt": key.jkt()})));
        let mut proof = key.claims(
            "POST",
            &self.t.url,
            Some(&token),
            self.nonce.as_deref(),
            now(),
        );
        change(&mut proof);
        Sent {
            token: Some(token),
            ..Sent::proof(key.sign(&proof))
        }
    }
}

/// A probe at the RS sends its request with the token as `DPoP`, judged by the RS's
/// rules.
impl ProbeFixture for Fixture<'_> {
    type Request = Request;

    fn without_nonce(&self) -> Option<&'static str> {
        (!self.asked_nonce).then_some("the server never asked for a nonce (nonces are optional)")
    }

    /// `sent` as a request to the endpoint, with its token (the fixture's unless
    /// another) presented as `DPoP`.
    fn request(&self, sent: Sent) -> Request {
        let token = sent.token.as_deref().unwrap_or(&self.signed);
        Request {
            url: self.t.url.clone(),
            authorization: Some(format!("DPoP {token}")),
            proofs: sent.proofs,
            headers: sent.headers,
        }
    }

    async fn outcome(&self, request: &Request, expect: Expect) -> Outcome {
        match self.send(request).await {
            Ok(a) => judge(&a, expect),
            Err(e) => Outcome::fail(e),
        }
    }
}

impl Fixture<'_> {
    /// The bound token presented as `DPoP` with `proof`.
    fn with_proof(&self, proof: String) -> Request {
        self.request(Sent::proof(proof))
    }

    /// The fixture's token with `cnf` replaced by `cnf` (removed when `None`), signed.
    fn token_with_cnf(&self, cnf: Option<Value>) -> String {
        let mut token = self.token.clone();
        match cnf {
            Some(cnf) => token.claims.insert("cnf".into(), cnf),
            None => token.claims.remove("cnf"),
        };
        self.minter.sign(&token)
    }

    /// Whether the server's challenge offers `alg`.
    fn offers(&self, alg: &str) -> bool {
        self.algs.iter().any(|a| a == alg)
    }

    /// Sends `sent` as the probe request.
    async fn send(&self, sent: &Request) -> Result<Answer, String> {
        let (method, body) = self.t.probe_request();
        let mut req = self
            .t
            .post(&sent.url, method, body.to_string().into_bytes());
        if let Some(a) = &sent.authorization {
            req = req.header("authorization", a);
        }
        // reqwest appends: two proofs make two `DPoP` field lines.
        for proof in &sent.proofs {
            req = req.header("dpop", proof);
        }
        for (name, value) in &sent.headers {
            req = req.header(*name, value);
        }
        // A transport error names the URL, which may carry the token (the query
        // probe): evidence never does.
        self.t
            .send(req)
            .await
            .map_err(|e| e.replace(&self.signed, "<token>"))
    }

    /// Takes the server's next nonce from `answer`, when it sends one (RFC 9449 §8.2).
    fn follow_nonce(&mut self, answer: &Answer) {
        if let Some(n) = dpop_nonce(&answer.headers) {
            self.nonce = Some(n);
        }
    }
}

/// A probe of the RS alone: a request made from the accepted one.
pub(crate) type Probe = OwnProbe<fn(&Fixture<'_>) -> Result<Request, String>>;

fn now() -> i64 {
    mcp_auth_core::unix_now()
}

/// The `DPoP-Nonce` field of an answer.
fn dpop_nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `DPoP` challenge (scheme in any letter case), if offered.
fn dpop_challenge(answer: &Answer) -> Option<Challenge> {
    answer.challenge_for("DPoP")
}

/// The `algs` of the `DPoP` challenge, split.
fn challenge_algs(answer: &Answer) -> Option<Vec<String>> {
    let challenge = dpop_challenge(answer)?;
    let algs = challenge.param("algs")?;
    Some(algs.split_whitespace().map(str::to_owned).collect())
}

/// Whether `answer` is the nonce challenge of RFC 9449 §9.
fn is_nonce_challenge(answer: &Answer) -> bool {
    answer.status == 401
        && dpop_nonce(&answer.headers).is_some()
        && dpop_challenge(answer).is_some_and(|c| c.param("error") == Some("use_dpop_nonce"))
}

/// Judges `answer` against `expect`.
fn judge(answer: &Answer, expect: Expect) -> Outcome {
    let evidence = answer.summary();
    let challenge = dpop_challenge(answer);
    let error = challenge.as_ref().map(|c| c.param("error"));
    let holds = match expect {
        Expect::Accept => answer.accepted(),
        Expect::Refuse(code) => {
            answer.status == 401 && error.as_ref().is_some_and(|e| e.as_deref() == Some(code))
        }
        Expect::Unaccepted => answer.status == 401 && error.is_some(),
        Expect::Nonce => is_nonce_challenge(answer),
    };
    match (holds, expect) {
        (true, Expect::Nonce) => Outcome::pass(format!("{evidence}; DPoP-Nonce sent")),
        (true, _) => Outcome::pass(evidence),
        (false, Expect::Refuse(code)) => Outcome::fail(format!(
            "expected 401 with error=\"{code}\" in a DPoP challenge, got {evidence}"
        )),
        (false, Expect::Accept) => Outcome::fail(format!("expected acceptance, got {evidence}")),
        (false, Expect::Unaccepted) => Outcome::fail(format!(
            "expected 401 with a DPoP challenge, got {evidence}"
        )),
        (false, Expect::Nonce) => Outcome::fail(format!(
            "expected 401 use_dpop_nonce in a DPoP challenge with a DPoP-Nonce field, got {evidence}"
        )),
    }
}

/// Why the first valid request was not accepted.
enum NotEstablished {
    /// Not applicable (no minter, no key): the reason.
    Skip(Outcome),
    /// The valid request was refused (or could not be sent): the evidence.
    Refused(String),
}

/// Sends a valid DPoP request, retrying once with the nonce of a `use_dpop_nonce`
/// answer (RFC 9449 §9), and keeps what the probes need from it.
async fn establish(t: &ServerTarget) -> Result<(Fixture<'_>, String), NotEstablished> {
    let Some(minter) = &t.minter else {
        return Err(NotEstablished::Skip(Outcome::skip(
            "needs --issuer-key: the checker mints its own DPoP-bound tokens",
        )));
    };
    let Some(key) = ProofKey::generate(JwsAlgorithm::Es256) else {
        return Err(NotEstablished::Skip(Outcome::skip(
            "no ES256 proof key could be generated",
        )));
    };
    let mut token = minter.valid(t.resource(), &t.valid_scope().await, now());
    token.claims.insert("cnf".into(), json!({"jkt": key.jkt()}));
    let signed = minter.sign(&token);
    let unauthenticated = t.mcp(None, "").await.map_err(NotEstablished::Refused)?;
    let algs = challenge_algs(&unauthenticated).unwrap_or_default();
    let mut fx = Fixture {
        t,
        minter,
        key,
        token,
        signed,
        nonce: None,
        asked_nonce: false,
        algs,
    };
    let mut answer = fx
        .send(&fx.with_proof(fx.valid_proof()))
        .await
        .map_err(NotEstablished::Refused)?;
    if is_nonce_challenge(&answer) {
        fx.asked_nonce = true;
        fx.follow_nonce(&answer);
        answer = fx
            .send(&fx.with_proof(fx.valid_proof()))
            .await
            .map_err(NotEstablished::Refused)?;
    }
    if !answer.accepted() {
        return Err(NotEstablished::Refused(answer.summary()));
    }
    fx.follow_nonce(&answer);
    let evidence = if fx.asked_nonce {
        format!(
            "{} (after 401 use_dpop_nonce and a retry with the nonce)",
            answer.status
        )
    } else {
        format!("{} (no nonce asked)", answer.status)
    };
    Ok((fx, evidence))
}

/// [`establish`] for a probe: a refused valid request makes the probe meaningless.
async fn baseline(t: &ServerTarget) -> Result<Fixture<'_>, Outcome> {
    match establish(t).await {
        Ok((fx, _)) => Ok(fx),
        Err(NotEstablished::Skip(o)) => Err(o),
        Err(NotEstablished::Refused(e)) => Err(Outcome::skip(format!(
            "a valid DPoP request is refused ({e}), so a refusal would prove nothing (DPOP-RS-2)"
        ))),
    }
}

async fn valid_request_accepted(t: &ServerTarget) -> Outcome {
    match establish(t).await {
        Ok((_, evidence)) => Outcome::pass(evidence),
        Err(NotEstablished::Skip(o)) => o,
        Err(NotEstablished::Refused(e)) => Outcome::fail(e),
    }
}

async fn metadata_fields(t: &ServerTarget) -> Outcome {
    let m = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(e),
    };
    let algs = &m["dpop_signing_alg_values_supported"];
    let required = &m["dpop_bound_access_tokens_required"];
    let listed = algs
        .as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
    Outcome::from_bool(
        listed && required.is_boolean(),
        format!(
            "dpop_signing_alg_values_supported {algs}, dpop_bound_access_tokens_required {required}"
        ),
    )
}

async fn unauthenticated_challenge(t: &ServerTarget) -> Outcome {
    let answer = match t.mcp(None, "").await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let Some(challenge) = dpop_challenge(&answer) else {
        return Outcome::fail(format!("no DPoP challenge: {}", answer.summary()));
    };
    // RFC 9449 §7.2 and RFC 6750 §3.1: no error when no credentials were sent.
    let algs = challenge
        .param("algs")
        .is_some_and(|a| !a.trim().is_empty());
    let error = challenge.param("error");
    Outcome::from_bool(
        answer.status == 401 && algs && error.is_none(),
        answer.summary(),
    )
}

async fn algs_on_refusal(t: &ServerTarget) -> Outcome {
    let fx = match baseline(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    let published: Vec<String> = match t.metadata().await {
        Ok(m) => m["dpop_signing_alg_values_supported"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => return Outcome::fail(e),
    };
    let answer = match fx.send(&fx.with_proof("not-a-jwt".into())).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let mut offered = challenge_algs(&answer).unwrap_or_default();
    let mut listed = published.clone();
    offered.sort();
    listed.sort();
    Outcome::from_bool(
        answer.status == 401 && !offered.is_empty() && offered == listed,
        format!("{}; metadata lists {published:?}", answer.summary()),
    )
}

/// RFC 9449 §11.1: a proof (or its `jti`, for the same key) used once is refused
/// after; the profile allows the operator to turn that off (SEP-1932), so an
/// acceptance skips, saying what it lets through.
async fn replayed_proof(t: &ServerTarget, new_proof_same_jti: bool) -> Outcome {
    let mut fx = match baseline(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    let first = fx.proof();
    let first_signed = fx.key.sign(&first);
    let answer = match fx.send(&fx.with_proof(first_signed.clone())).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    if !answer.accepted() {
        return Outcome::fail(format!(
            "a fresh valid proof was refused: {}",
            answer.summary()
        ));
    }
    fx.follow_nonce(&answer);
    let again = if new_proof_same_jti {
        let mut second = fx.proof();
        second
            .claims
            .insert("jti".into(), first.claims["jti"].clone());
        fx.key.sign(&second)
    } else {
        first_signed
    };
    match fx.send(&fx.with_proof(again)).await {
        Ok(a) if a.accepted() => Outcome::skip(format!(
            "accepted again ({}): jti tracking is off (SEP-1932 stateless mode, allowed by DPOP-RS-5); a captured proof works until its iat leaves the window",
            a.status
        )),
        Ok(a) => judge(&a, BAD_PROOF),
        Err(e) => Outcome::fail(e),
    }
}

async fn next_nonce_on_success(t: &ServerTarget) -> Outcome {
    let fx = match baseline(t).await {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    if !fx.asked_nonce {
        return Outcome::skip("the server never asked for a nonce (nonces are optional)");
    }
    match fx.send(&fx.with_proof(fx.valid_proof())).await {
        Ok(a) => Outcome::from_bool(
            a.accepted() && dpop_nonce(&a.headers).is_some(),
            format!(
                "{}; DPoP-Nonce {}",
                a.status,
                if dpop_nonce(&a.headers).is_some() {
                    "sent"
                } else {
                    "absent"
                }
            ),
        ),
        Err(e) => Outcome::fail(e),
    }
}
