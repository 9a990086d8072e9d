//! What an MCP authorization server must remember
//! (profiles/enterprise-managed-authorization.md): the ID-JAGs it redeemed (single
//! use, EMA-AS-15, and its place in the order of the checks, EMA-AS-21), the IdP's
//! key set (cached, refetched at most once a minute, kept when the IdP is down,
//! EMA-AS-7), and which clients may redeem (none registered dynamically, EMA-AS-3).
//! Each check sends several requests and judges them together.

use serde_json::{Value, json};

use crate::authorization_server::ConfidentialClient;
use crate::authorization_server::SecretMethod;
use crate::check::{Check, Outcome};
use crate::ema_as::{Auth, EmaTarget, JWT_BEARER, access_token, body, needs_control, summary};
use crate::ema_as_grants::{check, issued, now, send, set};
use crate::ema_idp::is_key_set_fetch;

/// The checks of this module, in requirement order.
pub fn checks() -> Vec<Check<EmaTarget>> {
    vec![
        check(
            "EMA-AS-3",
            "a client registered dynamically (RFC 7591) asking for the jwt-bearer grant: refused at registration, or its redemption → 400 unauthorized_client or 401 invalid_client",
            |t| Box::pin(registered(t)),
        ),
        check(
            "EMA-AS-7",
            "the IdP's key set is cached: redemptions fetch it no more",
            |t| Box::pin(cached(t)),
        ),
        check(
            "EMA-AS-7",
            "two unknown kids within 60 s cause at most one refetch of the key set",
            |t| Box::pin(refetch_once(t)),
        ),
        check(
            "EMA-AS-7",
            "with the key set unreachable, the last one fetched still verifies → 200",
            |t| Box::pin(stale_keys(t)),
        ),
        check(
            "EMA-AS-15",
            "the same ID-JAG twice → 200, then 400 invalid_grant",
            |t| Box::pin(replay(t)),
        ),
        check(
            "EMA-AS-15",
            "an ID-JAG refused for its scope, then without it → 200 (a refusal does not consume it)",
            |t| Box::pin(not_consumed(t, false)),
        ),
        check(
            "EMA-AS-15",
            "an ID-JAG refused without client authentication, then with it → 200",
            |t| Box::pin(not_consumed(t, true)),
        ),
        check(
            "EMA-AS-15",
            "the same ID-JAG twice at once → exactly one token",
            |t| Box::pin(concurrent(t)),
        ),
        check(
            "EMA-AS-15",
            "a new ID-JAG with the jti of a redeemed one → 400 invalid_grant",
            |t| Box::pin(same_jti(t)),
        ),
        check(
            "EMA-AS-21",
            "steps 13 and 14: a redeemed ID-JAG again with a scope it does not grant → 400 invalid_scope",
            |t| Box::pin(replay_scope(t)),
        ),
    ]
}

/// The key-set fetches so far, or why the check cannot count them.
fn key_fetches(t: &EmaTarget) -> Result<usize, Outcome> {
    t.idp
        .fetches()
        .map(|f| f.iter().filter(|(p, _)| is_key_set_fetch(p)).count())
        .ok_or_else(|| {
            Outcome::skip("the checker does not serve the IdP's key set (--idp-listen), so it cannot count its fetches")
        })
}

async fn cached(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let before = match key_fetches(t) {
        Ok(n) => n,
        Err(o) => return o,
    };
    for _ in 0..2 {
        match send(t, &t.valid(now())).await {
            Ok(a) if issued(&a) => {}
            Ok(a) => return Outcome::fail(summary(&a, None)),
            Err(o) => return o,
        }
    }
    let after = key_fetches(t).unwrap_or(before);
    Outcome::from_bool(
        after == before,
        format!(
            "two redemptions: {} key-set fetches (before them {before} in all)",
            after - before
        ),
    )
}

async fn refetch_once(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let before = match key_fetches(t) {
        Ok(n) => n,
        Err(o) => return o,
    };
    for i in 0..2 {
        let r = t.changed(now(), |j| {
            j.header
                .insert("kid".into(), json!(format!("conformance-rotated-{i}")));
        });
        match send(t, &r).await {
            Ok(a) if issued(&a) => return Outcome::fail(summary(&a, r.assertion())),
            Ok(_) => {}
            Err(o) => return o,
        }
    }
    let after = key_fetches(t).unwrap_or(before);
    Outcome::from_bool(
        after - before <= 1,
        format!("two unknown kids: {} key-set fetches", after - before),
    )
}

async fn stale_keys(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    if let Err(o) = key_fetches(t) {
        return o;
    }
    t.idp.set_down(true);
    let r = t.valid(now());
    let answer = send(t, &r).await;
    t.idp.set_down(false);
    match answer {
        Ok(a) => Outcome::from_bool(
            issued(&a),
            format!("the key set answering 503: {}", summary(&a, r.assertion())),
        ),
        Err(o) => o,
    }
}

async fn replay(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.valid(now());
    let mut lines = Vec::new();
    for round in 0..2 {
        let a = match send(t, &r).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        let error = body(&a).get("error").cloned().unwrap_or(Value::Null);
        lines.push(summary(&a, r.assertion()));
        let holds = if round == 0 {
            issued(&a)
        } else {
            a.status == 400 && error == "invalid_grant" && access_token(&a).is_none()
        };
        if !holds {
            return Outcome::fail(lines.join("; then "));
        }
    }
    Outcome::pass(lines.join("; then "))
}

async fn not_consumed(t: &EmaTarget, by_client: bool) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.valid(now());
    let first = if by_client {
        r.clone().auth(Auth::None)
    } else {
        r.clone().set("scope", "conformance:undefined")
    };
    let a = match send(t, &first).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let line = summary(&a, r.assertion());
    if issued(&a) || !(400..500).contains(&a.status) {
        return Outcome::skip(format!("the first request is not refused: {line}"));
    }
    match send(t, &r).await {
        Ok(b) => Outcome::from_bool(
            issued(&b),
            format!("{line}; then {}", summary(&b, r.assertion())),
        ),
        Err(o) => o,
    }
}

async fn concurrent(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.valid(now());
    let (x, y) = tokio::join!(t.send(&r), t.send(&r));
    match (x, y) {
        (Ok(x), Ok(y)) => {
            let tokens = usize::from(issued(&x)) + usize::from(issued(&y));
            Outcome::from_bool(
                tokens == 1,
                format!(
                    "{tokens} tokens: {}; {}",
                    summary(&x, r.assertion()),
                    summary(&y, r.assertion())
                ),
            )
        }
        (Err(e), _) | (_, Err(e)) => Outcome::fail(e),
    }
}

async fn replay_scope(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let r = t.valid(now());
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    if !issued(&a) {
        return Outcome::skip(format!(
            "the first redemption is refused: {}",
            summary(&a, r.assertion())
        ));
    }
    let again = r.clone().set("scope", "conformance:undefined");
    let b = match send(t, &again).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let error = body(&b).get("error").cloned().unwrap_or(Value::Null);
    Outcome::from_bool(
        b.status == 400 && error == "invalid_scope" && access_token(&b).is_none(),
        format!("redeemed; then {}", summary(&b, r.assertion())),
    )
}

async fn same_jti(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let n = now();
    let first = t.jag(n);
    let jti = first.claims.get("jti").cloned().unwrap_or(Value::Null);
    let r = t.redemption(t.idp.sign(&first));
    let a = match send(t, &r).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    if !issued(&a) {
        return Outcome::skip(format!(
            "the first redemption is refused: {}",
            summary(&a, r.assertion())
        ));
    }
    // Another ID-JAG (another iat and exp) with the same jti.
    let again = t.changed(n, |j| {
        set(j, "jti", jti);
        set(j, "iat", json!(n - 1));
        set(j, "exp", json!(n + 200));
    });
    let b = match send(t, &again).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let error = body(&b).get("error").cloned().unwrap_or(Value::Null);
    Outcome::from_bool(
        b.status == 400 && error == "invalid_grant" && access_token(&b).is_none(),
        format!("redeemed; then {}", summary(&b, again.assertion())),
    )
}

/// EMA-AS-3: a dynamically registered client never redeems an ID-JAG.
async fn registered(t: &EmaTarget) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let server = &t.authorization_server;
    let Ok(endpoint) = server.endpoint("registration_endpoint").await else {
        return Outcome::skip("the AS offers no registration_endpoint");
    };
    let request = json!({
        "client_name": "mcp-auth conformance (EMA-AS-3)",
        "grant_types": [JWT_BEARER],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let answer = match crate::server::send_capped(server.http.post(&endpoint).json(&request)).await
    {
        Ok(a) => a,
        Err(e) => return Outcome::fail(format!("POST {endpoint}: {e}")),
    };
    let (status, registration) = (
        answer.status,
        serde_json::from_str::<Value>(&answer.body).unwrap_or(Value::Null),
    );
    let Some(client_id) = registration["client_id"].as_str().filter(|_| status == 201) else {
        return Outcome::from_bool(
            (400..500).contains(&status),
            format!(
                "registration refused: {status} error={}",
                registration["error"]
            ),
        );
    };
    let (auth, client) = match registration["client_secret"].as_str() {
        Some(secret) => (
            Auth::Registered,
            Some(ConfidentialClient::new(
                client_id,
                secret,
                SecretMethod::Basic,
            )),
        ),
        None => (Auth::None, None),
    };
    let id = client_id.to_owned();
    let r = t.changed(now(), |j| set(j, "client_id", json!(id)));
    let r = match &client {
        Some(_) => r.auth(auth),
        None => r.set("client_id", client_id.to_owned()).auth(Auth::None),
    };
    let a = match t.send_as(&r, client.as_ref()).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let error = body(&a).get("error").cloned().unwrap_or(Value::Null);
    let holds = (a.status == 400 && error == "unauthorized_client")
        || (a.status == 401 && error == "invalid_client");
    Outcome::from_bool(
        holds && access_token(&a).is_none(),
        format!(
            "registered {} (with a secret: {}); its redemption: {}",
            status,
            client.is_some(),
            summary(&a, r.assertion())
        ),
    )
}
