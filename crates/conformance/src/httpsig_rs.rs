//! The resource-server requirements HTTPSIG-RS-n (profiles/http-message-signatures.md),
//! checked from outside.
//!
//! First what needs no token: the metadata fields (HTTPSIG-RS-1) and the challenge
//! to a request without credentials (HTTPSIG-RS-15). Then the signed requests: the
//! valid ones accepted (HTTPSIG-RS-4), the table of one-change probes
//! ([`crate::httpsig_probes::SIGNATURE_PROBES`],
//! [`crate::httpsig_binding_probes::BINDING_PROBES`]), and the checks that need two requests
//! (replay, and that a refused request does not consume its nonce). Every signed
//! check runs only after the unchanged request was accepted, so a refusal can only
//! be for the change. The request builder is [`crate::httpsig_request`]; the
//! answers the profile requires are [`crate::httpsig_answer`].
//!
//! The time-window probes assume the profile's defaults (`max_age` 30 s,
//! `future_skew` 5 s, §4), with margins (60 s) wide enough for clock skew between
//! checker and server. Not checkable from outside: that the replay cache is shared
//! by every instance and that the RS answers 503 when it fails (HTTPSIG-RS-13:
//! the checker sees one URL and cannot break the cache); which proxies the
//! operator trusts for `X-Forwarded-*` (HTTPSIG-RS-11: only that untrusted ones
//! are ignored); and the order of the steps beyond what the answers show
//! (HTTPSIG-RS-16: step 1 before 2, 2 before 5, and 2 and 3 before 4 are).

use serde_json::{Value, json};

use crate::check::{Check, Outcome};
use crate::httpsig_answer::{Expect, httpsig_challenge, judge};
use crate::httpsig_binding_probes::BINDING_PROBES;
use crate::httpsig_probes::{Probe, SIGNATURE_PROBES};
use crate::httpsig_request::{Op, Presenter, nonce, send_via, sha256_digest};
use crate::server::ServerTarget;

/// The `httpsig_required_components` value of profile §5.2.
const REQUIRED_COMPONENTS: [&str; 7] = [
    "@method",
    "@target-uri",
    "authorization",
    "content-digest",
    "mcp-method",
    "mcp-name",
    "mcp-protocol-version",
];

/// Every check of this profile's resource-server requirements, in order.
pub fn checks() -> Vec<Check<ServerTarget>> {
    let mut checks: Vec<Check<ServerTarget>> = vec![
        Check {
            id: "HTTPSIG-RS-1",
            requirement: "the RFC 9728 metadata has httpsig_bound_access_tokens_required, a boolean",
            run: Box::new(|t| Box::pin(metadata_bound_required(t))),
        },
        Check {
            id: "HTTPSIG-RS-1",
            requirement: "the RFC 9728 metadata has httpsig_required_components, exactly the seven components of §5.2",
            run: Box::new(|t| Box::pin(metadata_required_components(t))),
        },
        Check {
            id: "HTTPSIG-RS-15",
            requirement: "a request without Authorization: 401, an HTTPSig challenge with resource_metadata (the well-known URL) and no error",
            run: Box::new(|t| Box::pin(unauthenticated_challenge(t))),
        },
        Check {
            id: "HTTPSIG-RS-4",
            requirement: "a tools/call signed per §9.3 with the key of the token's cnf.htsk is accepted",
            run: Box::new(|t| Box::pin(valid_accepted(t, Op::ToolCall))),
        },
        Check {
            id: "HTTPSIG-RS-4",
            requirement: "the probe request (initialize, or tools/list at 2026-07-28) signed per §9.3 is accepted",
            run: Box::new(|t| Box::pin(valid_accepted(t, Op::Probe))),
        },
    ];
    for probe in SIGNATURE_PROBES.iter().chain(BINDING_PROBES) {
        checks.push(Check {
            id: probe.id,
            requirement: probe.requirement,
            run: Box::new(move |t| Box::pin(run_probe(t, probe))),
        });
    }
    checks.extend([
        Check {
            id: "HTTPSIG-RS-6",
            requirement: "a GET of the SSE stream with the bound token and no signature: 401 invalid_signature",
            run: Box::new(|t| Box::pin(stream_refused(t, StreamProbe::Unsigned))),
        },
        Check {
            id: "HTTPSIG-RS-12",
            requirement: "a signed GET without a body carrying a covered Content-Digest of other content: 401 invalid_signature",
            run: Box::new(|t| Box::pin(stream_refused(t, StreamProbe::DigestOfOtherContent))),
        },
        Check {
            id: "HTTPSIG-RS-11",
            requirement: "an absolute-form request line naming another host, @target-uri signed for it: 401 invalid_signature",
            run: Box::new(|t| Box::pin(absolute_form_refused(t))),
        },
        Check {
            id: "HTTPSIG-RS-13",
            requirement: "the same signed request sent twice: the second gets 401 invalid_signature (replay)",
            run: Box::new(|t| Box::pin(replayed_request(t))),
        },
        Check {
            id: "HTTPSIG-RS-13",
            requirement: "a new signature reusing an accepted signature's nonce with the same key: 401 invalid_signature",
            run: Box::new(|t| Box::pin(reused_nonce(t))),
        },
        Check {
            id: "HTTPSIG-RS-16",
            requirement: "a signature by another key does not consume its nonce: the valid request with that nonce is then accepted",
            run: Box::new(|t| Box::pin(refused_keeps_nonce(t, Refusal::ForgedSignature))),
        },
        Check {
            id: "HTTPSIG-RS-16",
            requirement: "a body not matching Content-Digest does not consume the nonce (step 3 before 4): the valid request with it is then accepted",
            run: Box::new(|t| Box::pin(refused_keeps_nonce(t, Refusal::DigestMismatch))),
        },
        Check {
            id: "HTTPSIG-RS-5",
            requirement: "with httpsig_bound_access_tokens_required true, an unbound token as Bearer: 401 invalid_token",
            run: Box::new(|t| Box::pin(unbound_bearer_refused(t))),
        },
        Check {
            id: "HTTPSIG-RS-15",
            requirement: "a validly signed request whose token lacks the scope: 403, HTTPSig challenge with insufficient_scope and scope",
            run: Box::new(|t| Box::pin(insufficient_scope(t))),
        },
    ]);
    checks
}

async fn metadata_bound_required(t: &ServerTarget) -> Outcome {
    let m = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(format!("no metadata: {e}")),
    };
    let value = &m["httpsig_bound_access_tokens_required"];
    Outcome::from_bool(
        value.is_boolean(),
        format!("httpsig_bound_access_tokens_required: {value}"),
    )
}

async fn metadata_required_components(t: &ServerTarget) -> Outcome {
    let m = match t.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(format!("no metadata: {e}")),
    };
    let value = &m["httpsig_required_components"];
    let mut listed: Vec<&str> = value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let strings = value.as_array().map_or(0, Vec::len) == listed.len();
    listed.sort_unstable();
    let mut expected = REQUIRED_COMPONENTS.to_vec();
    expected.sort_unstable();
    // §5.2 fixes the value; its order is not significant, comparisons are exact.
    Outcome::from_bool(
        strings && listed == expected,
        format!("httpsig_required_components: {value}"),
    )
}

async fn unauthenticated_challenge(t: &ServerTarget) -> Outcome {
    let answer = match t.mcp(None, "").await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let evidence = answer.summary();
    if answer.status != 401 {
        return Outcome::fail(evidence);
    }
    let Some(challenge) = httpsig_challenge(&answer) else {
        return Outcome::fail(format!("no HTTPSig challenge: {evidence}"));
    };
    // RFC 6750 §3.1: no error without credentials; §5.2: the metadata URL is the
    // RFC 9728 §3 well-known location.
    let expected = mcp_auth_core::discovery::protected_resource_metadata_urls(&t.url)
        .ok()
        .and_then(|u| u.into_iter().next());
    let metadata = challenge.param("resource_metadata");
    Outcome::from_bool(
        challenge.param("error").is_none() && metadata.is_some() && metadata == expected.as_deref(),
        format!("{evidence} (expected resource_metadata {expected:?})"),
    )
}

async fn valid_accepted(t: &ServerTarget, op: Op) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    let draft = p.signed(op);
    match p.send(&draft).await {
        Ok(a) => judge(Expect::Accepted, &a, &draft),
        Err(e) => Outcome::fail(e),
    }
}

async fn run_probe(t: &ServerTarget, probe: &Probe) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    if let Err(o) = p.baseline(probe.op).await {
        return o;
    }
    let mut draft = p.draft(probe.op);
    (probe.before)(&mut draft, &p);
    p.sign(&mut draft);
    (probe.after)(&mut draft, &p);
    match p.send(&draft).await {
        Ok(a) => judge(probe.expect, &a, &draft),
        Err(e) => Outcome::fail(e),
    }
}

/// What a stream probe changes in the valid signed GET.
#[derive(Debug, Clone, Copy)]
enum StreamProbe {
    /// No signature at all.
    Unsigned,
    /// A covered `Content-Digest` of other content than the (empty) body: §10
    /// step 3 applies when the request "carries Content-Digest".
    DigestOfOtherContent,
}

async fn stream_refused(t: &ServerTarget, probe: StreamProbe) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    // Streamable HTTP lets a server answer GET with 405; then a refusal of an
    // unsigned GET would prove nothing, and the profile asks nothing more.
    let mut signed = p.stream_draft();
    p.sign(&mut signed);
    match p.send(&signed).await {
        Ok(a) if a.accepted() => {}
        Ok(a) => {
            return Outcome::skip(format!(
                "the signed GET is not served ({}): no stream to protect here",
                a.summary()
            ));
        }
        Err(e) => return Outcome::fail(e),
    }
    let mut changed = p.stream_draft();
    if let StreamProbe::DigestOfOtherContent = probe {
        changed.set_header("content-digest", sha256_digest(b"other content"));
        changed.sig().cover("content-digest");
        p.sign(&mut changed);
    }
    match p.send(&changed).await {
        Ok(a) => judge(Expect::InvalidSignature, &a, &changed),
        Err(e) => Outcome::fail(e),
    }
}

/// The host an absolute-form request line names instead of the target's.
const OTHER_HOST: &str = "other-resource.example";

async fn absolute_form_refused(t: &ServerTarget) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    let Ok(endpoint) = url::Url::parse(&t.url) else {
        return Outcome::fail(format!("{} is not a URL", t.url));
    };
    // Over plain HTTP a client sends the absolute form to a proxy (RFC 9112
    // §3.2.2): the target, as the proxy, gets `POST http://other/mcp HTTP/1.1`.
    // Over TLS the client would tunnel with CONNECT instead.
    if endpoint.scheme() != "http" {
        return Outcome::skip(
            "the endpoint is https: an absolute-form request line needs a raw TLS connection, which this check does not open",
        );
    }
    let origin = endpoint.origin().ascii_serialization();
    let proxied = reqwest::Proxy::http(&origin).and_then(|proxy| {
        mcp_auth_core::connection_pool::client_builder()
            .proxy(proxy)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
    });
    let http = match proxied {
        Ok(h) => h,
        Err(e) => return Outcome::skip(format!("no client for the absolute form: {e}")),
    };
    if let Err(o) = p.baseline(Op::ToolCall).await {
        return o;
    }
    let mut other = endpoint.clone();
    if other.set_host(Some(OTHER_HOST)).is_err() {
        return Outcome::fail("no URL with another host");
    }
    let _ = other.set_port(None);
    let mut draft = p.draft(Op::ToolCall);
    draft.url = other.to_string();
    draft.target_uri = draft.url.clone();
    p.sign(&mut draft);
    match send_via(t, &http, &draft).await {
        Ok(a) => judge(Expect::InvalidSignature, &a, &draft),
        Err(e) => Outcome::fail(e),
    }
}

async fn replayed_request(t: &ServerTarget) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    let draft = p.signed(Op::ToolCall);
    match p.send(&draft).await {
        Ok(a) if a.accepted() => {}
        Ok(a) => {
            return Outcome::skip(format!(
                "the valid signed request is refused ({}) (HTTPSIG-RS-4)",
                a.summary()
            ));
        }
        Err(e) => return Outcome::fail(e),
    }
    match p.send(&draft).await {
        Ok(a) => judge(Expect::InvalidSignature, &a, &draft),
        Err(e) => Outcome::fail(e),
    }
}

async fn reused_nonce(t: &ServerTarget) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    let shared = format!("\"{}\"", nonce());
    let mut first = p.draft(Op::ToolCall);
    first.sig().set_param("nonce", shared.clone());
    p.sign(&mut first);
    match p.send(&first).await {
        Ok(a) if a.accepted() => {}
        Ok(a) => {
            return Outcome::skip(format!(
                "the valid signed request is refused ({}) (HTTPSIG-RS-4)",
                a.summary()
            ));
        }
        Err(e) => return Outcome::fail(e),
    }
    // Another request (the probe operation, a later created) with the same nonce:
    // the replay key is (thumbprint, nonce), not the whole signature (§10 step 4).
    let mut second = p.draft(Op::Probe);
    second.sig().set_param("nonce", shared);
    second
        .sig()
        .set_param("created", (mcp_auth_core::unix_now() + 1).to_string());
    p.sign(&mut second);
    match p.send(&second).await {
        Ok(a) => judge(Expect::InvalidSignature, &a, &second),
        Err(e) => Outcome::fail(e),
    }
}

/// How the first request of [`refused_keeps_nonce`] fails.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Signed by a key other than the token's (step 2).
    ForgedSignature,
    /// Validly signed, its body changed afterwards (step 3).
    DigestMismatch,
}

async fn refused_keeps_nonce(t: &ServerTarget, refusal: Refusal) -> Outcome {
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    if let Err(o) = p.baseline(Op::ToolCall).await {
        return o;
    }
    let shared = format!("\"{}\"", nonce());
    let mut refused = p.draft(Op::ToolCall);
    refused.sig().set_param("nonce", shared.clone());
    if matches!(refusal, Refusal::ForgedSignature) {
        refused.sig().key =
            mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
                .ok()
                .map(|k| (k, mcp_auth_httpsig::Algorithm::Ed25519));
    }
    p.sign(&mut refused);
    if matches!(refusal, Refusal::DigestMismatch) {
        refused.body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "another_tool", "arguments": {}}})
        .to_string()
        .into_bytes();
    }
    let first = match p.send(&refused).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    // The order is shown only by a request refused at the step before the nonce; one
    // that is not refused so is the failure of that step's own check.
    if let Outcome::Fail(why) = judge(Expect::InvalidSignature, &first, &refused) {
        return Outcome::skip(format!(
            "the request to be refused was not refused with invalid_signature ({why}); its own check fails, the order cannot be shown"
        ));
    }
    let mut valid = p.draft(Op::ToolCall);
    valid.sig().set_param("nonce", shared);
    p.sign(&mut valid);
    match p.send(&valid).await {
        Ok(a) => Outcome::from_bool(
            a.accepted(),
            format!(
                "refused {}; then the valid request with its nonce: {}",
                first.status,
                a.summary()
            ),
        ),
        Err(e) => Outcome::fail(e),
    }
}

async fn unbound_bearer_refused(t: &ServerTarget) -> Outcome {
    let required = match t.metadata().await {
        Ok(m) => m["httpsig_bound_access_tokens_required"] == json!(true),
        Err(e) => return Outcome::skip(format!("no metadata ({e}), so no stated policy")),
    };
    if !required {
        return Outcome::skip(
            "httpsig_bound_access_tokens_required is not true: the server may accept Bearer tokens (§5.2)",
        );
    }
    let p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    if let Err(o) = p.baseline(Op::ToolCall).await {
        return o;
    }
    let token = p.token_with(|t| {
        t.claims.remove("cnf");
    });
    let mut draft = p.draft(Op::ToolCall);
    draft.set_header("authorization", format!("Bearer {token}"));
    draft.sigs.clear();
    match p.send(&draft).await {
        Ok(a) => judge(Expect::InvalidToken, &a, &draft),
        Err(e) => Outcome::fail(e),
    }
}

async fn insufficient_scope(t: &ServerTarget) -> Outcome {
    let mut p = match Presenter::new(t).await {
        Ok(p) => p,
        Err(skip) => return skip,
    };
    if let Err(o) = p.baseline(Op::ToolCall).await {
        return o;
    }
    p.scope = String::new();
    p.token = p.token_with(|_| {});
    let draft = p.signed(Op::ToolCall);
    let answer = match p.send(&draft).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    if answer.accepted() {
        return Outcome::skip("the request needs no scope: there is no scope to lack");
    }
    let evidence = answer.summary();
    let Some(challenge) = httpsig_challenge(&answer) else {
        return Outcome::fail(format!("no HTTPSig challenge: {evidence}"));
    };
    // §11.2 step 6 and §11.3: 403 insufficient_scope, the 403 adds `scope`.
    Outcome::from_bool(
        answer.status == 403
            && challenge.param("error") == Some("insufficient_scope")
            && challenge.param("scope").is_some()
            && challenge.param("resource_metadata").is_some(),
        evidence,
    )
}
