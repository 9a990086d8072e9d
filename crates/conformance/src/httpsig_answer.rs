//! What the http-message-signatures profile requires of an answer (profile §11.2,
//! §11.3), and the reading of the answer's challenges.
//!
//! A server may send several challenges (`Bearer`, `DPoP`, `HTTPSig`), in one
//! `WWW-Authenticate` line or several, in any order (RFC 9110 §11.6.1), so the
//! challenges are parsed and the `HTTPSig` one is looked up by its scheme.

use mcp_auth_core::challenge::Challenge;
use mcp_auth_httpsig::parse_accept_signature;
use serde_json::Value;

use crate::check::Outcome;
use crate::httpsig_request::{Draft, TAG};
use crate::server::Answer;

/// The answer a probe must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Served: 2xx.
    Accepted,
    /// Step 1: 401 `invalid_token`, with an `HTTPSig` challenge.
    InvalidToken,
    /// Step 2 to 4: 401 `invalid_signature` in the `HTTPSig` challenge, and
    /// `Accept-Signature` asking for the request's coverage.
    InvalidSignature,
    /// Step 2, a label twice: 400 `invalid_request` in the `HTTPSig` challenge, and
    /// `Accept-Signature`.
    InvalidRequest,
    /// Step 5: 400 with JSON-RPC error `-32020` (SEP-2243 `HeaderMismatch`).
    HeaderMismatch,
}

/// The `HTTPSig` challenge (scheme in any letter case, RFC 9110 §11.1).
pub fn httpsig_challenge(answer: &Answer) -> Option<Challenge> {
    answer.challenge_for("HTTPSig")
}

/// Judges `answer` to `sent` against `expect`; the evidence is the status, the
/// challenges and what was wrong, never a token or a signature.
pub fn judge(expect: Expect, answer: &Answer, sent: &Draft) -> Outcome {
    let evidence = answer.summary();
    let problem = match expect {
        Expect::Accepted => (!answer.accepted()).then(|| "not accepted".to_owned()),
        Expect::InvalidToken => refusal(answer, 401, "invalid_token", sent),
        Expect::InvalidSignature => refusal(answer, 401, "invalid_signature", sent)
            .or_else(|| accept_signature_problem(answer, sent)),
        Expect::InvalidRequest => refusal(answer, 400, "invalid_request", sent)
            .or_else(|| accept_signature_problem(answer, sent)),
        Expect::HeaderMismatch => header_mismatch_problem(answer, sent),
    };
    let evidence = if expect == Expect::HeaderMismatch {
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        format!("{evidence}, JSON-RPC error {}", body["error"]["code"])
    } else {
        evidence
    };
    match problem {
        None => Outcome::pass(evidence),
        Some(p) => Outcome::fail(format!("{p}: {evidence}")),
    }
}

/// What is wrong with a refusal that must be `status` with `error` (profile
/// §11.2) and an `HTTPSig` challenge carrying `resource_metadata` (§11.3,
/// HTTPSIG-RS-15). A client that presented another scheme (`Bearer`, `DPoP`) may
/// find the error in that scheme's challenge instead (§11.3: the `Bearer`
/// challenge "carries the error when the client presented a Bearer token"; the
/// profile leaves the other schemes' challenges open, so the same is allowed).
fn refusal(answer: &Answer, status: u16, error: &str, sent: &Draft) -> Option<String> {
    if answer.status != status {
        return Some(format!("expected {status} {error}"));
    }
    let Some(httpsig) = httpsig_challenge(answer) else {
        return Some("no HTTPSig challenge".to_owned());
    };
    if httpsig.param("resource_metadata").is_none() {
        return Some("the HTTPSig challenge has no resource_metadata".to_owned());
    }
    let presented = sent
        .field("authorization")
        .and_then(|a| a.split(' ').next().map(str::to_owned))
        .unwrap_or_default();
    let carried = httpsig.param("error") == Some(error)
        || (!presented.eq_ignore_ascii_case("httpsig")
            && answer
                .challenges()
                .iter()
                .any(|c| c.is(&presented) && c.param("error") == Some(error)));
    (!carried).then(|| format!("expected error={error}"))
}

/// What is wrong with `Accept-Signature` (profile §11.3, HTTPSIG-RS-15): one
/// member, label `sig`, exactly the components this request must cover (§9.3),
/// `created` and `tag="httpsig-oauth"`, and no other parameter (no `nonce`: the
/// RS chooses none).
fn accept_signature_problem(answer: &Answer, sent: &Draft) -> Option<String> {
    let values: Vec<&str> = answer
        .headers
        .get_all("accept-signature")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Some("no Accept-Signature".to_owned());
    }
    let value = values.join(", ");
    let requests = match parse_accept_signature(&value) {
        Ok(r) => r,
        Err(e) => return Some(format!("Accept-Signature does not parse ({e}): {value}")),
    };
    let [request] = requests.as_slice() else {
        return Some(format!("Accept-Signature must have one member: {value}"));
    };
    let mut asked: Vec<String> = request
        .components
        .iter()
        .map(|c| {
            if c.params().is_empty() {
                c.name_str().to_owned()
            } else {
                format!("{} (with parameters)", c.name_str())
            }
        })
        .collect();
    asked.sort();
    let mut required: Vec<String> = sent.required_components();
    required.sort();
    let well_formed = request.label == "sig"
        && request.created
        && request.tag.as_deref() == Some(TAG)
        && !request.expires
        && request.nonce.is_none()
        && request.alg.is_none()
        && request.keyid.is_none();
    if !well_formed || asked != required {
        return Some(format!(
            "Accept-Signature {value} (expected sig=({});created;tag=\"{TAG}\")",
            required.join(" ")
        ));
    }
    None
}

/// What is wrong with a step-5 refusal: 400 and a JSON-RPC error `-32020` whose
/// `id` is the request's (`null` when the body is not a JSON-RPC object).
fn header_mismatch_problem(answer: &Answer, sent: &Draft) -> Option<String> {
    if answer.status != 400 {
        return Some("expected 400 with JSON-RPC error -32020".to_owned());
    }
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_i64();
    if code != Some(-32020) {
        return Some(format!("expected JSON-RPC error -32020, got {code:?}"));
    }
    let rpc = sent.json();
    let expected_id = if rpc.is_object() {
        rpc.get("id").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (body.get("id") != Some(&expected_id)).then(|| {
        format!(
            "the JSON-RPC error has id {}, expected {expected_id}",
            body.get("id").unwrap_or(&Value::Null)
        )
    })
}
