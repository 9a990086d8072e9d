//! The `WIF-AS` checks that take more than one request, read the issued token, or
//! read what the AS fetched from the checker's issuer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::authorization_server::AsTarget;
use crate::check::{Check, Outcome};
use crate::server::Answer;
use crate::wif_as::{
    Ctx, body, broken, dpop_bound, forbidden_fetches, gated, judge, jwt_claims, key_set_fetches,
    settle,
};
use crate::wif_as_platform::{ATTACKER_JWKS_PATH, UNTRUSTED_PATH};
use crate::wif_as_probes::{Expect, Request};

const INVALID_GRANT: Expect = Expect::Refused {
    statuses: &[400],
    errors: &["invalid_grant"],
};

/// Claims an RFC 9068 access token has of its own (RFC 9068 §2.2, RFC 7519 §4.1).
const TOKEN_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "auth_time",
    "acr",
];

/// The checks of this module.
pub(crate) fn checks() -> Vec<Check<AsTarget>> {
    vec![
        Check {
            id: "WIF-AS-5",
            requirement: "a DPoP proof on this grant binds the token: token_type DPoP, cnf.jkt the proof key's thumbprint",
            run: Box::new(|t| Box::pin(dpop_bound(t, false))),
        },
        Check {
            id: "WIF-AS-5",
            requirement: "a DPoP proof that fails on this grant is refused with 400 invalid_dpop_proof",
            run: Box::new(|t| Box::pin(dpop_bound(t, true))),
        },
        Check {
            id: "WIF-AS-6",
            requirement: "a jku header is never followed: an assertion signed by the key it names is refused with 400 invalid_grant, and the URL is not fetched",
            run: Box::new(|t| Box::pin(jku_not_followed(t))),
        },
        Check {
            id: "WIF-AS-8",
            requirement: "an assertion naming an issuer no entry trusts is refused with 400 invalid_grant, and nothing is fetched from that issuer",
            run: Box::new(|t| Box::pin(untrusted_issuer(t))),
        },
        Check {
            id: "WIF-AS-12",
            requirement: "without kid, the only usable key of the issuer's set for alg verifies the assertion",
            run: Box::new(|t| Box::pin(no_kid(t))),
        },
        Check {
            id: "WIF-AS-13",
            requirement: "unknown kids are refused and make the AS fetch the issuer's key set at most once per 60 s",
            run: Box::new(|t| Box::pin(refetch_limit(t))),
        },
        Check {
            id: "WIF-AS-17",
            requirement: "the same assertion gets a token for each of three requests, and never a refresh_token",
            run: Box::new(|t| Box::pin(reuse(t))),
        },
        Check {
            id: "WIF-AS-18",
            requirement: "the access token's exp is no later than the assertion's exp plus the skew",
            run: Box::new(|t| Box::pin(bounded_exp(t))),
        },
        Check {
            id: "WIF-AS-21",
            requirement: "the access token is a JWT with sub and client_id the rule's principal, aud the resource, iss the AS, no act and no claim copied from the assertion",
            run: Box::new(|t| Box::pin(token_claims(t))),
        },
        Check {
            id: "WIF-AS-24",
            requirement: "an untrusted issuer, an unknown kid and a bad signature (steps 6, 7, 8) get one and the same error_description",
            run: Box::new(|t| Box::pin(one_description(t))),
        },
        Check {
            id: "WIF-AS-24",
            requirement: "no error_description carries the assertion, a claim value or a fetched URL",
            run: Box::new(|t| Box::pin(nothing_revealed(t))),
        },
    ]
}

/// Posts `assertion` with the valid form.
async fn send(t: &AsTarget, c: &Ctx<'_>, assertion: String) -> Result<Answer, String> {
    c.post(t, &Request::plain(c.form(assertion))).await
}

/// `outcome`, failed instead when the AS fetched a path of the checker's issuer
/// containing `path` (one it must never fetch).
fn and_nothing_fetched(c: &Ctx<'_>, outcome: Outcome, what: &str, path: &str) -> Outcome {
    let fetched = forbidden_fetches(c.platform).map(|f| {
        f.into_iter()
            .filter(|p| p.contains(path))
            .collect::<Vec<_>>()
    });
    match fetched {
        None => match outcome {
            Outcome::Pass(e) => Outcome::pass(format!(
                "{e} (whether {what} was fetched is not seen: the checker does not serve the issuer)"
            )),
            other => other,
        },
        Some(f) if f.is_empty() => match outcome {
            Outcome::Pass(e) => Outcome::pass(format!("{e}; {what} was not fetched")),
            other => other,
        },
        Some(f) => Outcome::fail(format!(
            "{}; the AS fetched {}",
            outcome.evidence(),
            f.join(", ")
        )),
    }
}

async fn jku_not_followed(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let attacker = c.platform.attacker();
    let mut u = c.valid();
    let jku = format!(
        "{}{ATTACKER_JWKS_PATH}",
        c.platform.issuer().trim_end_matches('/')
    );
    u.header.insert("kid".into(), json!(attacker.kid()));
    u.header.insert("jku".into(), json!(jku));
    u.header.insert("x5u".into(), json!(jku));
    let outcome = match send(t, &c, attacker.sign(&u)).await {
        Ok(a) => judge(
            "signed by another key, whose JWK Set jku and x5u name",
            &INVALID_GRANT,
            &a,
        ),
        Err(e) => return Outcome::fail(e),
    };
    settle().await;
    and_nothing_fetched(&c, outcome, "that URL", ATTACKER_JWKS_PATH)
}

async fn untrusted_issuer(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let iss = c.platform.untrusted_issuer();
    let assertion = c.assertion(|u| {
        u.claims.insert("iss".into(), json!(iss));
    });
    let outcome = match send(t, &c, assertion).await {
        Ok(a) => judge(
            "iss an issuer no entry names (its discovery document served, the same key)",
            &INVALID_GRANT,
            &a,
        ),
        Err(e) => return Outcome::fail(e),
    };
    settle().await;
    and_nothing_fetched(
        &c,
        outcome,
        "anything of that issuer",
        &format!("{UNTRUSTED_PATH}/"),
    )
}

async fn no_kid(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    if !c.platform.served() {
        return Outcome::skip(
            "needs the checker to serve the issuer (--workload-listen): only then is the set known to hold one key",
        );
    }
    let assertion = c.assertion(|u| drop(u.header.remove("kid")));
    match send(t, &c, assertion).await {
        Ok(a) => judge("no kid, the set's one key", &Expect::Token, &a),
        Err(e) => Outcome::fail(e),
    }
}

async fn refetch_limit(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    if !c.platform.served() {
        return Outcome::skip(
            "needs the checker to serve the issuer (--workload-listen) to count the AS's key-set fetches",
        );
    }
    for n in 0..5 {
        let assertion = c.assertion(|u| {
            u.header
                .insert("kid".into(), json!(format!("unknown-{n}-{}", c.marker)));
        });
        match send(t, &c, assertion).await {
            Ok(a) => {
                let outcome = judge("an unknown kid", &INVALID_GRANT, &a);
                if !matches!(outcome, Outcome::Pass(_)) {
                    return outcome;
                }
            }
            Err(e) => return Outcome::fail(e),
        }
    }
    settle().await;
    let mut fetches = key_set_fetches(c.platform).unwrap_or_default();
    fetches.sort();
    let closest = fetches.windows(2).map(|w| w[1] - w[0]).min();
    let evidence = format!(
        "5 assertions with unknown kids refused; {} key-set fetches in the whole run{}",
        fetches.len(),
        closest.map_or(String::new(), |d| format!(
            ", the closest two {} ms apart",
            d.as_millis()
        ))
    );
    Outcome::from_bool(
        closest.is_none_or(|d| d >= Duration::from_secs(60)),
        evidence,
    )
}

async fn reuse(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let assertion = c.assertion(|_| ());
    for n in 1..=3 {
        match send(t, &c, assertion.clone()).await {
            Ok(a) => {
                let what = format!("the same assertion, request {n} of 3");
                let outcome = judge(&what, &Expect::Token, &a);
                if !matches!(outcome, Outcome::Pass(_)) {
                    return outcome;
                }
            }
            Err(e) => return Outcome::fail(e),
        }
    }
    Outcome::pass(
        "one assertion (with a jti), three requests: three access tokens, no refresh_token",
    )
}

/// The claims of the access token a valid request with `assertion` gets, or the
/// outcome saying why there are none.
async fn issued(
    t: &AsTarget,
    c: &Ctx<'_>,
    assertion: String,
) -> Result<serde_json::Map<String, Value>, Outcome> {
    let a = send(t, c, assertion).await.map_err(Outcome::fail)?;
    let b = body(&a);
    let Some(token) = b.get("access_token").and_then(Value::as_str) else {
        return Err(Outcome::fail(format!(
            "a valid assertion got {} and no access token",
            a.status
        )));
    };
    jwt_claims(token).ok_or_else(|| {
        Outcome::fail("the access token is not a JWT whose claims are a JSON object (RFC 9068)")
    })
}

async fn bounded_exp(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let exp = c.now + 30;
    let assertion = c.assertion(|u| {
        u.claims.insert("exp".into(), json!(exp));
    });
    let claims = match issued(t, &c, assertion).await {
        Ok(claims) => claims,
        Err(outcome) => return outcome,
    };
    let Some(token_exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Outcome::fail("the access token has no exp");
    };
    let bound = exp + c.platform.clock_skew;
    Outcome::from_bool(
        token_exp <= bound,
        format!(
            "an assertion expiring in 30 s: the token expires {} s after the assertion's exp (at most the skew, {} s, allowed)",
            token_exp - exp,
            c.platform.clock_skew
        ),
    )
}

async fn token_claims(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let claims = match issued(t, &c, c.assertion(|_| ())).await {
        Ok(claims) => claims,
        Err(outcome) => return outcome,
    };
    let mut wrong = Vec::new();
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if sub.is_empty() {
        wrong.push("no sub".to_owned());
    }
    if claims.get("client_id").and_then(Value::as_str) != Some(sub) {
        wrong.push("client_id is not the sub (the rule's principal)".to_owned());
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == c.resource,
        Some(Value::Array(l)) => l.len() == 1 && l[0].as_str() == Some(c.resource),
        _ => false,
    };
    if !aud_ok {
        wrong.push(format!("aud is not the resource {}", c.resource));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(c.as_issuer) {
        wrong.push("iss is not the AS issuer".to_owned());
    }
    if claims.contains_key("act") {
        wrong.push("an act claim".to_owned());
    }
    let copied: Vec<&String> = claims
        .iter()
        .filter(|(name, value)| {
            !TOKEN_CLAIMS.contains(&name.as_str())
                && (c.platform.claims.contains_key(*name)
                    || name.as_str() == "mcp_auth_conformance_marker"
                    || value.to_string().contains(&c.marker))
        })
        .map(|(name, _)| name)
        .collect();
    if !copied.is_empty() {
        wrong.push(format!("claims copied from the assertion: {copied:?}"));
    }
    let names: Vec<&String> = claims.keys().collect();
    if wrong.is_empty() {
        Outcome::pass(format!(
            "claims {names:?}: sub = client_id, aud the resource, iss the AS, nothing of the assertion"
        ))
    } else {
        Outcome::fail(format!("{} (claims {names:?})", wrong.join("; ")))
    }
}

/// The description of a refusal, when it is one with the expected code.
async fn description(
    t: &AsTarget,
    c: &Ctx<'_>,
    what: &str,
    assertion: String,
) -> Result<Option<String>, Outcome> {
    let a = send(t, c, assertion).await.map_err(Outcome::fail)?;
    let b = body(&a);
    let outcome = judge(what, &INVALID_GRANT, &a);
    if !matches!(outcome, Outcome::Pass(_)) {
        return Err(outcome);
    }
    Ok(b.get("error_description")
        .and_then(Value::as_str)
        .map(str::to_owned))
}

async fn one_description(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let untrusted = c.assertion(|u| {
        u.claims
            .insert("iss".into(), json!(c.platform.untrusted_issuer()));
    });
    let unknown_kid = c.assertion(|u| {
        u.header
            .insert("kid".into(), json!(format!("unknown-{}", c.marker)));
    });
    let bad_signature = broken(&c.assertion(|_| ()));
    let mut descriptions = Vec::new();
    for (what, assertion) in [
        ("an untrusted issuer", untrusted),
        ("an unknown kid", unknown_kid),
        ("a bad signature", bad_signature),
    ] {
        match description(t, &c, what, assertion).await {
            Ok(d) => descriptions.push(d),
            Err(outcome) => return outcome,
        }
    }
    let same = descriptions.windows(2).all(|w| w[0] == w[1]);
    Outcome::from_bool(
        same,
        if same {
            "an untrusted issuer, an unknown kid, a bad signature: 400 invalid_grant, one and the same description"
        } else {
            "an untrusted issuer, an unknown kid, a bad signature: 400 invalid_grant, but the descriptions differ (they tell the three apart)"
        },
    )
}

async fn nothing_revealed(t: &AsTarget) -> Outcome {
    let c = match gated(t).await {
        Ok(c) => c,
        Err(skip) => return skip,
    };
    let other_aud = format!("https://conformance.invalid/aud-{}", c.marker);
    let no_rule_sub = format!("mcp-auth-conformance-sub-{}", c.marker);
    let probes = [
        (
            "an untrusted issuer",
            c.assertion(|u| {
                u.claims
                    .insert("iss".into(), json!(c.platform.untrusted_issuer()));
            }),
            &INVALID_GRANT,
        ),
        (
            "another audience",
            c.assertion(|u| {
                u.claims.insert("aud".into(), json!(other_aud));
            }),
            &INVALID_GRANT,
        ),
        (
            "a subject no rule accepts",
            c.assertion(|u| {
                for name in c.platform.claims.keys() {
                    u.claims.remove(name);
                }
                u.claims.insert("sub".into(), json!(no_rule_sub));
            }),
            &Expect::Refused {
                statuses: &[400],
                errors: &["unauthorized_client"],
            },
        ),
    ];
    let mut secrets = vec![
        c.platform.issuer().to_owned(),
        c.platform.untrusted_issuer(),
        c.marker.clone(),
    ];
    // A subject short enough to occur in any sentence is not looked for.
    if c.platform.subject.len() >= 8 {
        secrets.push(c.platform.subject.clone());
    }
    let mut seen = Vec::new();
    for (what, assertion, expect) in probes {
        let a = match send(t, &c, assertion.clone()).await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(e),
        };
        let outcome = judge(what, expect, &a);
        if !matches!(outcome, Outcome::Pass(_)) {
            return outcome;
        }
        let d = body(&a)
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let leaks = d.contains(&assertion) || secrets.iter().any(|s| d.contains(s.as_str()));
        if leaks {
            return Outcome::fail(format!(
                "{what}: the error_description carries the assertion, a claim value or the issuer's URL"
            ));
        }
        seen.push(what);
    }
    Outcome::pass(format!(
        "{}: no description carries the assertion, iss, sub, aud or the issuer's URL",
        seen.join(", ")
    ))
}
