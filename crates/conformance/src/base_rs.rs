//! The MCP authorization base requirements of a resource server (profiles/base.md,
//! `BASE-RS-n`), checked from outside: the challenge and the metadata, then the
//! tokens. The token checks are one table (`TOKEN_PROBES`): each makes a valid
//! token, changes one thing, and expects 401 `invalid_token`; they run only after
//! `valid_token_accepted` shows the unchanged token is accepted, so a refusal can
//! only be for the change.

use serde_json::{Value, json};

use crate::check::{Check, Outcome};
use crate::mint::{Minter, Unsigned, unsecured_copy, with_broken_signature};
use crate::server::{Answer, ServerTarget, challenge_param, offers_bearer};

/// One broken token: how it is made from a valid one.
struct TokenProbe {
    id: &'static str,
    requirement: &'static str,
    make: fn(&Minter, Unsigned) -> String,
    /// The refusal it must get: [`invalid_token`], or [`refused`] where the code is
    /// not required.
    refusal: fn(&Answer) -> Outcome,
    /// The same change made to a token the server's AS issued, for the changes that
    /// need no key (`None`: only a minted token can be changed so).
    from_issued: Option<fn(&str) -> Option<String>>,
}

/// The token changes, each refused with 401 (`invalid_token` unless said).
static TOKEN_PROBES: [TokenProbe; 10] = [
    TokenProbe {
        id: "BASE-RS-5",
        requirement: "a token issued for another resource (aud) is refused",
        make: |m, mut t| {
            t.claims
                .insert("aud".into(), json!("https://another-resource.example/mcp"));
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-6",
        requirement: "an expired token is refused",
        make: |m, mut t| {
            let iat = t.claims["iat"].as_i64().unwrap_or(0);
            t.claims.insert("iat".into(), json!(iat - 900));
            t.claims.insert("exp".into(), json!(iat - 600));
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-7",
        // RFC 9068 §4 does not name nbf: the refusal is required, its code is not.
        requirement: "a token not yet valid (nbf in the future) is refused with 401",
        make: |m, mut t| {
            let iat = t.claims["iat"].as_i64().unwrap_or(0);
            t.claims.insert("nbf".into(), json!(iat + 600));
            t.claims.insert("exp".into(), json!(iat + 900));
            m.sign(&t)
        },
        refusal: refused,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-8",
        requirement: "a token of another issuer (iss) is refused",
        make: |m, mut t| {
            t.claims
                .insert("iss".into(), json!("https://another-issuer.example"));
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-9",
        requirement: "a token whose signature does not verify is refused",
        make: |m, t| with_broken_signature(&m.sign(&t)),
        refusal: invalid_token,
        from_issued: Some(|t| Some(with_broken_signature(t))),
    },
    TokenProbe {
        id: "BASE-RS-10",
        requirement: "an unsecured token (alg: none) is refused",
        make: |m, t| m.unsecured(&t),
        refusal: invalid_token,
        from_issued: Some(unsecured_copy),
    },
    TokenProbe {
        id: "BASE-RS-11",
        requirement: "a token MACed with HS256 keyed by the issuer's public key is refused",
        make: |m, t| m.hmac_with_public_key(&t),
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-12",
        requirement: "a token whose kid names no key of the issuer is refused",
        make: |m, mut t| {
            t.header.insert("kid".into(), json!("no-such-key"));
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-13",
        requirement: "a JWT that is not an access token (typ other than at+jwt) is refused",
        make: |m, mut t| {
            t.header.insert("typ".into(), json!("JWT"));
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
    TokenProbe {
        id: "BASE-RS-14",
        requirement: "a token without exp is refused",
        make: |m, mut t| {
            t.claims.remove("exp");
            m.sign(&t)
        },
        refusal: invalid_token,
        from_issued: None,
    },
];

/// Every base check of a resource server, in order.
pub fn checks() -> Vec<Check<ServerTarget>> {
    let mut checks: Vec<Check<ServerTarget>> = vec![
        Check {
            id: "BASE-RS-1",
            requirement: "a request without a token gets 401 with a Bearer challenge, with resource_metadata unless metadata is at a well-known location",
            run: Box::new(|t| Box::pin(unauthenticated_challenge(t))),
        },
        Check {
            id: "BASE-RS-2",
            requirement: "metadata at the path-inserted RFC 9728 location, when served, names the endpoint as its resource",
            run: Box::new(|t| Box::pin(metadata_document(t))),
        },
        Check {
            id: "BASE-RS-3",
            requirement: "the challenge's resource_metadata URL serves metadata naming the endpoint as its resource",
            run: Box::new(|t| Box::pin(challenge_metadata_matches(t))),
        },
        Check {
            id: "BASE-RS-4",
            requirement: "a valid token for the resource is accepted",
            run: Box::new(|t| Box::pin(valid_token_accepted(t))),
        },
    ];
    for probe in &TOKEN_PROBES {
        checks.push(Check {
            id: probe.id,
            requirement: probe.requirement,
            run: Box::new(move |t| Box::pin(token_probe(t, probe))),
        });
    }
    checks.extend([
        Check {
            id: "BASE-RS-15",
            requirement: "a token in the URI query string is ignored: 401 with a Bearer challenge",
            run: Box::new(|t| Box::pin(query_token_refused(t))),
        },
        Check {
            id: "BASE-RS-16",
            requirement: "the Bearer scheme name is matched without regard to letter case",
            run: Box::new(|t| Box::pin(scheme_case_insensitive(t))),
        },
        Check {
            id: "BASE-RS-19",
            requirement: "a bearer value that is not a token of the AS gets 401 with a Bearer challenge",
            run: Box::new(|t| Box::pin(random_bearer_refused(t))),
        },
        Check {
            id: "BASE-RS-20",
            requirement: "an Authorization field that breaks the Bearer syntax is not accepted: 400 or 401 with a Bearer challenge",
            run: Box::new(|t| Box::pin(malformed_authorization_refused(t))),
        },
        Check {
            id: "BASE-RS-21",
            requirement: "a token signed by a key it carries itself (jwk header) is refused with 401 invalid_token",
            run: Box::new(|t| Box::pin(embedded_key_refused(t))),
        },
        Check {
            id: "BASE-RS-23",
            requirement: "both typ forms of an access token are accepted in any letter case (application/at+jwt, at+JWT)",
            run: Box::new(|t| Box::pin(typ_forms_accepted(t))),
        },
        Check {
            id: "BASE-RS-24",
            requirement: "one or more spaces between the Bearer scheme and the token are accepted",
            run: Box::new(|t| Box::pin(several_spaces_accepted(t))),
        },
        Check {
            id: "BASE-RS-17",
            requirement: "a valid token whose scope does not cover the operation gets 403 with a Bearer challenge",
            run: Box::new(|t| Box::pin(insufficient_scope(t))),
        },
        Check {
            id: "BASE-RS-22",
            requirement: "a token signed RS256 by the issuer is accepted",
            run: Box::new(|t| Box::pin(rs256_accepted(t))),
        },
    ]);
    checks.extend(crate::base_rs_refusals::checks());
    checks.extend(crate::base_rs_transport::checks());
    checks
}

pub(crate) fn now() -> i64 {
    mcp_auth_core::unix_now()
}

/// The refusal RFC 6750 §3.1 asks for a bad token: 401 with a Bearer challenge
/// whose `error` is `invalid_token`.
pub(crate) fn invalid_token(answer: &Answer) -> Outcome {
    let challenge = answer.challenge();
    let error = challenge_param(&challenge, "error");
    Outcome::from_bool(
        answer.status == 401
            && offers_bearer(&challenge)
            && error.as_deref() == Some("invalid_token"),
        answer.summary(),
    )
}

async fn unauthenticated_challenge(t: &ServerTarget) -> Outcome {
    let answer = match t.mcp(None, "").await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let challenge = answer.challenge();
    if answer.status != 401 || !offers_bearer(&challenge) {
        return Outcome::fail(answer.summary());
    }
    if challenge_param(&challenge, "resource_metadata").is_some() {
        return Outcome::pass(answer.summary());
    }
    // Without the parameter, the metadata must be at a well-known location (MCP: at
    // least one of the two discovery mechanisms).
    let discoverable = t.metadata().await.is_ok() || t.root_metadata().await.is_some();
    Outcome::from_bool(
        discoverable,
        format!(
            "{} (no resource_metadata; metadata at a well-known location: {discoverable})",
            answer.summary()
        ),
    )
}

async fn metadata_document(t: &ServerTarget) -> Outcome {
    let m = match t.metadata().await {
        Ok(m) => m,
        Err(e) => {
            return Outcome::skip(format!(
                "nothing at the path-inserted location ({e}); BASE-RS-1 judges discovery"
            ));
        }
    };
    Outcome::from_bool(
        m["resource"] == json!(t.url),
        format!("resource {}", m["resource"]),
    )
}

async fn challenge_metadata_matches(t: &ServerTarget) -> Outcome {
    let answer = match t.mcp(None, "").await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let Some(url) = challenge_param(&answer.challenge(), "resource_metadata") else {
        return Outcome::fail(format!("no resource_metadata: {}", answer.summary()));
    };
    let doc = match t.get(&url).await {
        Ok(r) if r.status == 200 => serde_json::from_str::<Value>(&r.body).ok(),
        Ok(r) => return Outcome::fail(format!("GET {url}: {}", r.status)),
        Err(e) => return Outcome::fail(e),
    };
    match doc {
        Some(d) => Outcome::from_bool(
            d["resource"] == json!(t.url),
            format!("GET {url}: resource {}", d["resource"]),
        ),
        None => Outcome::fail(format!("GET {url}: not JSON")),
    }
}

/// A valid minted token, or why there is none.
pub(crate) async fn valid(t: &ServerTarget) -> Result<(&Minter, Unsigned), Outcome> {
    let Some(m) = &t.minter else {
        return Err(Outcome::skip(
            "needs --issuer-key: the checker mints its own tokens",
        ));
    };
    let token = m.valid(t.resource(), &t.valid_scope().await, now());
    Ok((m, token))
}

async fn valid_token_accepted(t: &ServerTarget) -> Outcome {
    let token = if t.minter.is_none() && t.tokens.is_some() {
        match t.issued_token().await {
            Ok(token) => token.to_owned(),
            Err(e) => return Outcome::skip(format!("no token from the token source: {e}")),
        }
    } else {
        match valid(t).await {
            Ok((m, token)) => m.sign(&token),
            Err(skip) => return skip,
        }
    };
    match t.with_bearer(&token).await {
        Ok(a) => Outcome::from_bool(a.accepted(), a.summary()),
        Err(e) => Outcome::fail(e),
    }
}

/// A token the server accepts, shown accepted: minted (`--issuer-key`), else the
/// token source's (the checks that only need a valid token as it is).
pub(crate) async fn accepted_token(t: &ServerTarget) -> Result<String, Outcome> {
    if t.minter.is_some() || t.tokens.is_none() {
        let (m, token) = baseline(t).await?;
        return Ok(m.sign(&token));
    }
    let token = t
        .issued_token()
        .await
        .map_err(|e| Outcome::skip(format!("no token from the token source: {e}")))?;
    match t.with_bearer(token).await {
        Ok(a) if a.accepted() => Ok(token.to_owned()),
        Ok(a) => Err(Outcome::skip(format!(
            "the token source's token is refused ({}), so a refusal would prove nothing (BASE-RS-4)",
            a.summary()
        ))),
        Err(e) => Err(Outcome::fail(e)),
    }
}

/// Whether a valid token gets through: the token checks mean nothing otherwise.
pub(crate) async fn baseline(t: &ServerTarget) -> Result<(&Minter, Unsigned), Outcome> {
    let (m, token) = valid(t).await?;
    match t.with_bearer(&m.sign(&token)).await {
        Ok(a) if a.accepted() => Ok((m, token)),
        Ok(a) => Err(Outcome::skip(format!(
            "a valid token is refused ({}), so a refusal would prove nothing (BASE-RS-4)",
            a.summary()
        ))),
        Err(e) => Err(Outcome::fail(e)),
    }
}

async fn token_probe(t: &ServerTarget, probe: &TokenProbe) -> Outcome {
    let broken = match (&t.minter, probe.from_issued) {
        (None, Some(change)) if t.tokens.is_some() => {
            let token = match accepted_token(t).await {
                Ok(v) => v,
                Err(o) => return o,
            };
            match change(&token) {
                Some(broken) => broken,
                None => {
                    return Outcome::skip(
                        "the issued token is not a JWT: the change cannot be made",
                    );
                }
            }
        }
        (None, None) if t.tokens.is_some() => {
            return Outcome::skip(
                "needs --issuer-key: only a token the checker mints itself can be changed so",
            );
        }
        _ => match baseline(t).await {
            Ok((m, token)) => (probe.make)(m, token),
            Err(o) => return o,
        },
    };
    match t.with_bearer(&broken).await {
        // A failure says what was sent: the requirement names the change.
        Ok(a) => match (probe.refusal)(&a) {
            Outcome::Fail(seen) => Outcome::fail(format!("the changed token got {seen}")),
            other => other,
        },
        Err(e) => Outcome::fail(e),
    }
}

/// 401 with a Bearer challenge, whatever its `error` (in the evidence).
pub(crate) fn refused(answer: &Answer) -> Outcome {
    Outcome::from_bool(
        answer.status == 401 && offers_bearer(&answer.challenge()),
        answer.summary(),
    )
}

async fn query_token_refused(t: &ServerTarget) -> Outcome {
    let signed = match accepted_token(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let query = format!("access_token={}", signed);
    match t.mcp(None, &query).await {
        Ok(a) => refused(&a),
        Err(e) => Outcome::fail(e),
    }
}

async fn scheme_case_insensitive(t: &ServerTarget) -> Outcome {
    let signed = match accepted_token(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut seen = Vec::new();
    for scheme in ["bearer", "BEARER"] {
        match t.mcp(Some(&format!("{scheme} {signed}")), "").await {
            Ok(a) if a.accepted() => seen.push(format!("{scheme}: {}", a.status)),
            Ok(a) => return Outcome::fail(format!("{scheme}: {}", a.summary())),
            Err(e) => return Outcome::fail(e),
        }
    }
    Outcome::pass(seen.join(", "))
}

async fn insufficient_scope(t: &ServerTarget) -> Outcome {
    let (m, _) = match baseline(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let token = m.valid(t.resource(), "", now());
    let answer = match t.with_bearer(&m.sign(&token)).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    if answer.accepted() {
        return match &t.scope {
            Some(needed) => Outcome::fail(format!(
                "a token without scope is accepted, though the operation needs {needed:?} (--scope): {}",
                answer.status
            )),
            None => Outcome::skip(
                "a token without scope is accepted: the operation needs no scope, or the server ignores scope (give --scope to say it needs one)",
            ),
        };
    }
    // `error="insufficient_scope"` and `scope` are SHOULDs (profiles/base.md §5.1):
    // in the evidence, not required.
    Outcome::from_bool(
        answer.status == 403 && offers_bearer(&answer.challenge()),
        answer.summary(),
    )
}

async fn random_bearer_refused(t: &ServerTarget) -> Outcome {
    let random = mcp_auth_core::random_token::<32>().unwrap_or_default();
    match t.with_bearer(&random).await {
        Ok(a) => refused(&a),
        Err(e) => Outcome::fail(e),
    }
}

async fn malformed_authorization_refused(t: &ServerTarget) -> Outcome {
    let valid = match accepted_token(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut seen = Vec::new();
    for value in [
        "Bearer".to_owned(),
        format!("Bearer {valid} extra"),
        "Bearer a,b@c".to_owned(),
    ] {
        let a = match t.mcp(Some(&value), "").await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(e),
        };
        let shown = value.replace(&valid, "<valid token>");
        if !matches!(a.status, 400 | 401) || !offers_bearer(&a.challenge()) {
            return Outcome::fail(format!("{shown:?}: {}", a.summary()));
        }
        seen.push(format!("{shown:?}: {}", a.status));
    }
    Outcome::pass(seen.join(", "))
}

async fn embedded_key_refused(t: &ServerTarget) -> Outcome {
    let (m, token) = match baseline(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    // A key of the checker's own, not the issuer's, named in the token itself.
    let Ok(stranger) = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
        .and_then(|k| k.to_pkcs8_pem())
    else {
        return Outcome::skip("no key could be generated");
    };
    let Ok(other) = Minter::from_pem(&stranger, m.issuer()) else {
        return Outcome::skip("no key could be generated");
    };
    let mut forged = token;
    forged.header.insert("alg".into(), json!("EdDSA"));
    forged
        .header
        .insert("jwk".into(), other.public_jwk().clone());
    forged.header.remove("kid");
    match t.with_bearer(&other.sign(&forged)).await {
        Ok(a) => invalid_token(&a),
        Err(e) => Outcome::fail(e),
    }
}

async fn typ_forms_accepted(t: &ServerTarget) -> Outcome {
    let (m, token) = match baseline(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut seen = Vec::new();
    for typ in ["application/at+jwt", "at+JWT"] {
        let mut variant = token.clone();
        variant.header.insert("typ".into(), json!(typ));
        match t.with_bearer(&m.sign(&variant)).await {
            Ok(a) if a.accepted() => seen.push(format!("{typ}: {}", a.status)),
            Ok(a) => return Outcome::fail(format!("{typ}: {}", a.summary())),
            Err(e) => return Outcome::fail(e),
        }
    }
    Outcome::pass(seen.join(", "))
}

async fn several_spaces_accepted(t: &ServerTarget) -> Outcome {
    let signed = match accepted_token(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    match t.mcp(Some(&format!("Bearer   {}", signed)), "").await {
        Ok(a) => Outcome::from_bool(a.accepted(), a.summary()),
        Err(e) => Outcome::fail(e),
    }
}

async fn rs256_accepted(t: &ServerTarget) -> Outcome {
    let (m, token) = match valid(t).await {
        Ok(v) => v,
        Err(o) => return o,
    };
    if m.alg() != mcp_auth_httpsig::JwsAlgorithm::Rs256 {
        return Outcome::skip(format!(
            "the checker's key signs {}: give an RSA --issuer-key to check RS256",
            m.alg().name()
        ));
    }
    match t.with_bearer(&m.sign(&token)).await {
        Ok(a) => Outcome::from_bool(a.accepted(), format!("RS256: {}", a.summary())),
        Err(e) => Outcome::fail(e),
    }
}
