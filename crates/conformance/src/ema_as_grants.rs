//! What an MCP authorization server must do with ID-JAGs it accepts
//! (profiles/enterprise-managed-authorization.md §5.2, §7.7 to §7.9): its metadata,
//! the positive control, the forms it must accept, the access token it issues,
//! single use, and how it gets the IdP's keys. The refusals are in
//! [`crate::ema_as_probes`].

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::check::{Check, Outcome};
use crate::dpop_proof::ProofKey;
use crate::ema_as::{
    EmaTarget, ID_JAG_PROFILE, JWT_BEARER, Redemption, access_token, body, decode, needs_control,
    no_store, summary,
};
use crate::mint::Unsigned;
use crate::server::Answer;
use mcp_auth_httpsig::JwsAlgorithm;

type Run = for<'a> fn(&'a EmaTarget) -> crate::check::CheckFuture<'a>;

pub(crate) fn check(id: &'static str, requirement: &'static str, run: Run) -> Check<EmaTarget> {
    Check {
        id,
        requirement,
        run: Box::new(run),
    }
}

/// The checks of this module, in requirement order.
pub fn checks() -> Vec<Check<EmaTarget>> {
    vec![
        check(
            "EMA-AS-1",
            "the metadata lists the jwt-bearer grant and the ID-JAG grant profile, and names no trusted issuer",
            |t| Box::pin(metadata(t)),
        ),
        check(
            "EMA-AS-2",
            "typ OAUTH-ID-JAG+JWT (letter case) → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    t.changed(now, |j| typ(j, "OAUTH-ID-JAG+JWT"))
                }))
            },
        ),
        check(
            "EMA-AS-2",
            "typ application/oauth-id-jag+jwt → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    t.changed(now, |j| typ(j, "application/oauth-id-jag+jwt"))
                }))
            },
        ),
        check(
            "EMA-AS-3",
            "a valid ID-JAG redeemed with the configured client's authentication → 200 access token, Cache-Control: no-store",
            |t| Box::pin(control(t)),
        ),
        check(
            "EMA-AS-4",
            "a valid ID-JAG with a DPoP proof → 200, token_type DPoP, the token's cnf.jkt the proof key's",
            |t| Box::pin(dpop_bound(t, false)),
        ),
        check(
            "EMA-AS-5",
            "an unknown header parameter is ignored → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    t.changed(now, |j| {
                        j.header.insert("x-conformance".into(), json!("ignored"));
                    })
                }))
            },
        ),
        check(
            "EMA-AS-6",
            "an untrusted iss, an unknown kid and another key's signature get one and the same error_description",
            |t| Box::pin(one_description(t)),
        ),
        check(
            "EMA-AS-8",
            "aud a one-element array of the AS issuer → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    let aud = json!([t.issuer()]);
                    t.changed(now, |j| set(j, "aud", aud))
                }))
            },
        ),
        check(
            "EMA-AS-9",
            "exp − iat exactly max_assertion_lifetime, iat 10 s ago → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    let iat = now - 10;
                    let exp = iat + t.idp.max_assertion_lifetime;
                    t.changed(now, |j| {
                        set(j, "iat", json!(iat));
                        set(j, "exp", json!(exp));
                    })
                }))
            },
        ),
        check(
            "EMA-AS-9",
            "iat and nbf ahead by half the skew (at most 30 s), within it → 200",
            |t| Box::pin(within_skew(t)),
        ),
        check("EMA-AS-10", "resource a one-element array → 200", |t| {
            Box::pin(accepted(t, |t, now| {
                let r = json!([t.resource]);
                t.changed(now, |j| set(j, "resource", r))
            }))
        }),
        check(
            "EMA-AS-10",
            "sub of 255 printable ASCII characters → 200",
            |t| {
                Box::pin(accepted(t, |t, now| {
                    let sub = format!("user 7f3c@acme.example/{}", "x".repeat(232));
                    t.changed(now, |j| set(j, "sub", json!(sub)))
                }))
            },
        ),
        check("EMA-AS-10", "jti of 256 characters → 200", |t| {
            Box::pin(accepted(t, |t, now| {
                let jti = format!("{}{}", crate::ema_idp::new_jti(), "j".repeat(256));
                let jti: String = jti.chars().take(256).collect();
                t.changed(now, |j| set(j, "jti", json!(jti)))
            }))
        }),
        check(
            "EMA-AS-12",
            "cnf.jkt and a DPoP proof by that key → 200, token_type DPoP, bound to it",
            |t| Box::pin(dpop_bound(t, true)),
        ),
        check(
            "EMA-AS-14",
            "no scope requested → the ID-JAG's scopes",
            |t| Box::pin(scopes(t, Grant::All)),
        ),
        check(
            "EMA-AS-14",
            "no scope requested, the ID-JAG with one the resource does not define → the others only",
            |t| Box::pin(scopes(t, Grant::WithUndefined)),
        ),
        check(
            "EMA-AS-14",
            "no scope requested, the ID-JAG without scope → a token without scope",
            |t| Box::pin(scopes(t, Grant::NoClaim)),
        ),
        check(
            "EMA-AS-14",
            "one of the ID-JAG's scopes requested → that scope",
            |t| Box::pin(scopes(t, Grant::Requested)),
        ),
        check(
            "EMA-AS-16",
            "the token: RFC 9068, sub <entry id>:<sub>, client_id the client, aud the resource, no claim of the ID-JAG's (email, aud_sub, auth_time, acr, amr, name, act)",
            |t| Box::pin(token_claims(t)),
        ),
        check(
            "EMA-AS-17",
            "no refresh_token; exp = iat + the entry's access_token_ttl",
            |t| Box::pin(lifetime(t)),
        ),
    ]
}

pub(crate) fn set(jag: &mut Unsigned, claim: &str, value: Value) {
    jag.claims.insert(claim.to_owned(), value);
}

fn typ(jag: &mut Unsigned, value: &str) {
    jag.header.insert("typ".into(), json!(value));
}

pub(crate) fn now() -> i64 {
    mcp_auth_core::unix_now()
}

/// Sends `r`; the answer, or the outcome of the transport failure.
pub(crate) async fn send(t: &EmaTarget, r: &Redemption) -> Result<Answer, Outcome> {
    t.send(r).await.map_err(Outcome::fail)
}

/// The claims of the issued token, when it is a JWT.
fn token_claims_of(answer: &Answer) -> Option<(Map<String, Value>, Map<String, Value>)> {
    decode(&access_token(answer)?)
}

pub(crate) fn issued(answer: &Answer) -> bool {
    answer.status == 200 && access_token(answer).is_some()
}

async fn metadata(t: &EmaTarget) -> Outcome {
    let m = match t.authorization_server.metadata().await {
        Ok(m) => m,
        Err(e) => return Outcome::fail(e),
    };
    let has = |member: &str, value: &str| {
        m.get(member)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    let grant = has("grant_types_supported", JWT_BEARER);
    let profile = has("authorization_grant_profiles_supported", ID_JAG_PROFILE);
    let issuer = t.idp.issuer().trim_end_matches('/');
    let named: Vec<String> = t
        .authorization_server
        .documents()
        .await
        .iter()
        .filter(|d| {
            d.metadata().is_some_and(|m| {
                let text = Value::Object(m.clone()).to_string();
                text.contains(issuer) || t.idp.tenant.as_deref().is_some_and(|x| text.contains(x))
            })
        })
        .map(|d| d.url.clone())
        .collect();
    let line = format!(
        "jwt-bearer in grant_types_supported: {grant}; {ID_JAG_PROFILE} in authorization_grant_profiles_supported: {profile} ({}); documents naming the IdP: {named:?}",
        m.get("authorization_grant_profiles_supported")
            .map_or("absent".to_owned(), Value::to_string)
    );
    Outcome::from_bool(grant && profile && named.is_empty(), line)
}

async fn control(t: &EmaTarget) -> Outcome {
    match t.control().await {
        Ok(line) => Outcome::pass(line.to_owned()),
        Err(e) => Outcome::fail(e),
    }
}

/// A redemption the AS must accept: 200 with a token.
async fn accepted(t: &EmaTarget, make: fn(&EmaTarget, i64) -> Redemption) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = make(t, now());
    match send(t, &r).await {
        Ok(a) => Outcome::from_bool(issued(&a), summary(&a, r.assertion())),
        Err(o) => o,
    }
}

async fn within_skew(t: &EmaTarget) -> Outcome {
    let half = t.idp.clock_skew / 2;
    if half < 5 {
        return Outcome::skip("the entry's clock skew is under 10 s (--clock-skew)");
    }
    accepted_with(t, |j, now| {
        set(j, "iat", json!(now + 30.min(t.idp.clock_skew / 2)));
        set(j, "nbf", json!(now + 30.min(t.idp.clock_skew / 2)));
    })
    .await
}

async fn accepted_with(t: &EmaTarget, change: impl FnOnce(&mut Unsigned, i64)) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let n = now();
    let r = t.changed(n, |j| change(j, n));
    match send(t, &r).await {
        Ok(a) => Outcome::from_bool(issued(&a), summary(&a, r.assertion())),
        Err(o) => o,
    }
}

async fn dpop_bound(t: &EmaTarget, cnf: bool) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let htu = match t.token_endpoint().await {
        Ok(u) => u,
        Err(e) => return Outcome::skip(e),
    };
    let Some(key) = ProofKey::generate(JwsAlgorithm::Es256) else {
        return Outcome::skip("cannot make a DPoP key");
    };
    let n = now();
    let jkt = key.jkt().to_owned();
    let r = if cnf {
        t.changed(n, |j| set(j, "cnf", json!({"jkt": jkt})))
    } else {
        t.valid(n)
    };
    let r = r.header("dpop", key.sign(&key.claims("POST", &htu, None, None, n)));
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let token_type = body(&a)
        .get("token_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let bound = token_claims_of(&a).and_then(|(_, c)| c.get("cnf").cloned());
    let line = format!(
        "{}; the token's cnf {}",
        summary(&a, r.assertion()),
        bound
            .as_ref()
            .map_or("absent or the token is no JWT".to_owned(), |c| {
                if c["jkt"] == json!(jkt) {
                    "names the proof key".to_owned()
                } else {
                    format!("is {c}")
                }
            })
    );
    let holds = issued(&a)
        && token_type.eq_ignore_ascii_case("DPoP")
        && bound.is_none_or(|c| c["jkt"] == json!(jkt));
    Outcome::from_bool(holds, line)
}

async fn one_description(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let n = now();
    let iss = t.idp.untrusted_issuer();
    let tries = [
        ("untrusted iss", t.changed(n, |j| set(j, "iss", json!(iss)))),
        (
            "unknown kid",
            t.changed(n, |j| {
                j.header
                    .insert("kid".into(), json!("conformance-unknown-kid"));
            }),
        ),
        (
            "another key",
            t.redemption(t.idp.attacker().sign(&t.jag(n))),
        ),
    ];
    let mut seen = Vec::new();
    for (what, r) in &tries {
        let a = match send(t, r).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        let b = body(&a);
        let d = b.get("error_description").cloned().unwrap_or(Value::Null);
        if issued(&a) {
            return Outcome::fail(format!("{what}: {}", summary(&a, r.assertion())));
        }
        seen.push((
            what,
            a.status,
            b.get("error").cloned(),
            d,
            summary(&a, r.assertion()),
        ));
    }
    let same = seen
        .windows(2)
        .all(|w| (w[0].1, &w[0].2, &w[0].3) == (w[1].1, &w[1].2, &w[1].3));
    let line = seen
        .iter()
        .map(|s| format!("{}: {}", s.0, s.4))
        .collect::<Vec<_>>()
        .join("; ");
    Outcome::from_bool(same, line)
}

#[derive(Clone, Copy)]
enum Grant {
    All,
    WithUndefined,
    NoClaim,
    Requested,
}

/// The scopes a response grants: its `scope`, else the token's `scope` claim.
fn granted(a: &Answer) -> BTreeSet<String> {
    let from = |v: Option<&Value>| {
        v.and_then(Value::as_str).map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    from(body(a).get("scope"))
        .or_else(|| token_claims_of(a).and_then(|(_, c)| from(c.get("scope"))))
        .unwrap_or_default()
}

async fn scopes(t: &EmaTarget, grant: Grant) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let all: BTreeSet<String> = t.scopes.iter().cloned().collect();
    let Some(first) = t.scopes.first().cloned() else {
        return Outcome::skip(
            "needs a scope the resource defines and the client may have (--scope)",
        );
    };
    let n = now();
    let (r, want) = match grant {
        Grant::All => (t.valid(n), all),
        Grant::WithUndefined => {
            let scope = format!("{} conformance:undefined", t.scope());
            (t.changed(n, |j| set(j, "scope", json!(scope))), all)
        }
        Grant::NoClaim => (
            t.changed(n, |j| {
                j.claims.remove("scope");
            }),
            BTreeSet::new(),
        ),
        Grant::Requested => (
            t.valid(n).set("scope", first.clone()),
            BTreeSet::from([first]),
        ),
    };
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let got = granted(&a);
    let line = format!("{}; granted {got:?}", summary(&a, r.assertion()));
    Outcome::from_bool(issued(&a) && got == want, line)
}

/// Claims an ID-JAG may carry that the token must not copy (D12, D18).
const NOT_COPIED: [&str; 7] = ["email", "aud_sub", "auth_time", "acr", "amr", "name", "act"];

async fn token_claims(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.changed(now(), |j| {
        set(j, "email", json!("admin@conformance.example"));
        set(j, "aud_sub", json!("conformance-local-admin"));
        set(j, "auth_time", json!(now() - 60));
        set(j, "acr", json!("urn:conformance:acr"));
        set(j, "amr", json!(["pwd"]));
        set(j, "name", json!("Conformance Admin"));
    });
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    if !issued(&a) {
        return Outcome::fail(summary(&a, r.assertion()));
    }
    let Some((header, claims)) = token_claims_of(&a) else {
        return Outcome::fail("the access token is not a JWT (RFC 9068)");
    };
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let principal_ok = match &t.entry_id {
        Some(entry) => sub == format!("{entry}:{}", t.idp.subject),
        None => sub.ends_with(&format!(":{}", t.idp.subject)) && !sub.starts_with(':'),
    };
    let aud_ok = claims.get("aud") == Some(&json!(t.resource))
        || claims.get("aud") == Some(&json!([t.resource]));
    let client_ok = claims.get("client_id") == Some(&json!(t.client.client_id));
    let copied: Vec<&str> = NOT_COPIED
        .into_iter()
        .filter(|c| claims.contains_key(*c))
        .collect();
    let line = format!(
        "typ {typ:?}, sub {sub:?}{}, client_id {}, aud {}, copied claims {copied:?}",
        if t.entry_id.is_none() {
            " (entry id not given: only the :<sub> suffix checked)"
        } else {
            ""
        },
        claims.get("client_id").unwrap_or(&Value::Null),
        claims.get("aud").unwrap_or(&Value::Null),
    );
    let typ_ok = ["at+jwt", "application/at+jwt"].contains(&typ.to_ascii_lowercase().as_str());
    Outcome::from_bool(
        typ_ok && principal_ok && aud_ok && client_ok && copied.is_empty(),
        line,
    )
}

async fn lifetime(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.valid(now());
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    if !issued(&a) {
        return Outcome::fail(summary(&a, r.assertion()));
    }
    let b = body(&a);
    let refresh = b.contains_key("refresh_token");
    let life = token_claims_of(&a)
        .and_then(|(_, c)| Some(c.get("exp")?.as_i64()? - c.get("iat")?.as_i64()?));
    let line = format!(
        "refresh_token {}, exp − iat {}, expires_in {}, Cache-Control no-store {}",
        if refresh { "present" } else { "absent" },
        life.map_or("unknown (no JWT)".to_owned(), |l| l.to_string()),
        b.get("expires_in").unwrap_or(&Value::Null),
        no_store(&a)
    );
    let ttl_ok = match t.access_token_ttl {
        Some(ttl) => life == Some(ttl),
        None => true,
    };
    let suffix = if t.access_token_ttl.is_none() {
        " (the entry's access_token_ttl not given: not compared)"
    } else {
        ""
    };
    Outcome::from_bool(!refresh && ttl_ok, format!("{line}{suffix}"))
}
