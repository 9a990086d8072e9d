//! What every refusal of a resource server must look like, whatever it refuses:
//! challenges that follow RFC 6750 §3 (BASE-RS-18) and no data returned
//! (BASE-RS-25). Both checks send the same set of refused requests.

use serde_json::Value;

use crate::base_rs::{now, valid};
use crate::challenge_syntax::field_violation;
use crate::check::{Check, Outcome};
use crate::server::{Answer, ServerTarget};

/// BASE-RS-18 and BASE-RS-25.
pub(crate) fn checks() -> Vec<Check<ServerTarget>> {
    vec![
        Check {
            id: "BASE-RS-18",
            requirement: "every Bearer challenge follows RFC 6750 §3 (auth-params, each at most once, values within their character sets)",
            run: Box::new(|t| Box::pin(challenges_follow_rfc_6750(t))),
        },
        Check {
            id: "BASE-RS-25",
            requirement: "a refused request gets no data: no JSON-RPC result in a 400, 401 or 403 answer",
            run: Box::new(|t| Box::pin(refusals_carry_no_result(t))),
        },
    ]
}

/// The refused requests both checks look at: what was sent, and the answer (only
/// the refusals among them: an answer that accepted is the business of the check of
/// that request).
async fn refusals(t: &ServerTarget) -> Result<Vec<(&'static str, Answer)>, Outcome> {
    let mut sent: Vec<(&'static str, Option<String>)> = vec![
        ("no token", None),
        (
            "a random bearer value",
            Some(format!(
                "Bearer {}",
                mcp_auth_core::random_token::<32>().unwrap_or_default()
            )),
        ),
        ("a malformed Authorization", Some("Bearer a,b@c".into())),
    ];
    if let Ok((m, token)) = valid(t).await {
        let mut expired = token.clone();
        expired.claims.insert("exp".into(), (now() - 600).into());
        expired.claims.insert("iat".into(), (now() - 900).into());
        sent.push((
            "an expired token",
            Some(format!("Bearer {}", m.sign(&expired))),
        ));
        let unscoped = m.valid(t.resource(), "", now());
        sent.push((
            "a token without scope",
            Some(format!("Bearer {}", m.sign(&unscoped))),
        ));
    }
    let mut answers = Vec::new();
    for (what, authorization) in sent {
        let a = t
            .mcp(authorization.as_deref(), "")
            .await
            .map_err(|e| Outcome::fail(format!("{what}: {e}")))?;
        if matches!(a.status, 400 | 401 | 403) {
            answers.push((what, a));
        }
    }
    if answers.is_empty() {
        return Err(Outcome::fail(
            "no request was refused, not even one without a token",
        ));
    }
    Ok(answers)
}

async fn challenges_follow_rfc_6750(t: &ServerTarget) -> Outcome {
    let answers = match refusals(t).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let mut fields = 0;
    for (what, a) in &answers {
        for value in a.headers.get_all("www-authenticate") {
            fields += 1;
            let Ok(text) = value.to_str() else {
                return Outcome::fail(format!(
                    "{what}: a WWW-Authenticate field that is not visible ASCII"
                ));
            };
            if let Some(v) = field_violation(text) {
                return Outcome::fail(format!("{what}: {v}: {text}"));
            }
        }
    }
    Outcome::pass(format!(
        "{fields} WWW-Authenticate fields of {} refusals ({})",
        answers.len(),
        answers
            .iter()
            .map(|(w, a)| format!("{w}: {}", a.status))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

async fn refusals_carry_no_result(t: &ServerTarget) -> Outcome {
    let answers = match refusals(t).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    for (what, a) in &answers {
        if carries_result(&a.body) {
            return Outcome::fail(format!(
                "{what}: {} with a JSON-RPC result in the body",
                a.status
            ));
        }
    }
    Outcome::pass(format!(
        "no result in {} refusals ({})",
        answers.len(),
        answers
            .iter()
            .map(|(w, a)| format!("{w}: {}", a.status))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Whether `body` holds a JSON-RPC `result`: as a JSON message or batch, or in the
/// `data` of an SSE event.
fn carries_result(body: &str) -> bool {
    let has = |v: &Value| match v {
        Value::Object(o) => o.contains_key("result"),
        Value::Array(a) => a.iter().any(|m| m.get("result").is_some()),
        _ => false,
    };
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return has(&v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .any(|v| has(&v))
}

#[cfg(test)]
mod tests {
    use super::carries_result;

    #[test]
    fn base_rs_25_a_result_is_found_in_json_and_in_sse() {
        assert!(carries_result(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
        assert!(carries_result(r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#));
        assert!(carries_result(
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
        ));
        assert!(!carries_result(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"x"}}"#
        ));
        assert!(!carries_result(r#"{"error":"invalid_token"}"#));
        assert!(!carries_result(""));
    }
}
