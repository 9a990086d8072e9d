//! The token endpoint checks of an authorization server (profiles/base.md BASE-AS-11
//! to -18) and of the RFC 9068 tokens it issues (BASE-AS-24, -25).
//!
//! The refusals are one table (`REFUSALS`): each request must get the status and
//! `error` code the requirement names, as a JSON object (OAuth 2.1 §3.2.4), and no
//! `access_token`. The checks that need a code (BASE-AS-11, -12, -17, -18) need a user
//! to sign in, which the checker does not script: they are skipped, saying so.
//! Tokens are never shown: their length and claims are.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::authorization_server::{AsTarget, header};
use crate::check::{Check, Outcome};
use crate::server::Answer;

/// What a refusal request is built from.
struct Context {
    client_id: String,
    redirect_uri: String,
    resource: Option<String>,
}

/// A token request's form.
type Form = Vec<(&'static str, String)>;

/// One token request that must be refused.
struct RefusalRequest {
    /// What it is, for the evidence.
    what: &'static str,
    form: fn(&Context) -> Form,
    /// Sent with `Authorization: Basic` of a random client ID and secret.
    random_basic: bool,
    statuses: &'static [u16],
    /// The `error` codes that may answer it; empty: any code (the requirement is the
    /// refusal, another check judges the code).
    errors: &'static [&'static str],
    /// A `WWW-Authenticate: Basic` challenge is required (OAuth 2.1 §3.2.4).
    basic_challenge: bool,
}

/// A refusal check: its requests, acting as the public client when `public`.
struct Refusal {
    id: &'static str,
    requirement: &'static str,
    public: bool,
    requests: &'static [RefusalRequest],
}

/// BASE-AS-13, -14 and -16.
static REFUSALS: [Refusal; 3] = [
    Refusal {
        id: "BASE-AS-13",
        requirement: "a failed token request gets an error response with the code for the failure: unsupported_grant_type, invalid_grant, invalid_client or unauthorized_client",
        public: true,
        requests: &[
            RefusalRequest {
                what: "an unknown grant_type",
                form: |c| {
                    vec![
                        ("grant_type", "urn:example:unknown".to_owned()),
                        ("client_id", c.client_id.clone()),
                    ]
                },
                random_basic: false,
                statuses: &[400],
                errors: &["unsupported_grant_type"],
                basic_challenge: false,
            },
            RefusalRequest {
                what: "a random code",
                form: |c| {
                    let mut form = vec![
                        ("grant_type", "authorization_code".to_owned()),
                        ("code", random()),
                        ("redirect_uri", c.redirect_uri.clone()),
                        ("code_verifier", random()),
                        ("client_id", c.client_id.clone()),
                    ];
                    with_resource(&mut form, c);
                    form
                },
                random_basic: false,
                statuses: &[400],
                errors: &["invalid_grant"],
                basic_challenge: false,
            },
            RefusalRequest {
                // OAuth 2.1 §3.2.4: the client may not use this grant
                // (`unauthorized_client`), or is no client that can authenticate
                // (`invalid_client`); BASE-AS-16 is only that no token is issued.
                what: "client_credentials as the public client",
                form: public_client_credentials,
                random_basic: false,
                statuses: &[400, 401],
                errors: &["invalid_client", "unauthorized_client"],
                basic_challenge: false,
            },
        ],
    },
    Refusal {
        id: "BASE-AS-14",
        requirement: "failed client authentication in Authorization gets 401 invalid_client with a WWW-Authenticate challenge for the scheme",
        public: false,
        requests: &[RefusalRequest {
            what: "Basic with a random client",
            form: |c| {
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                with_resource(&mut form, c);
                form
            },
            random_basic: true,
            statuses: &[401],
            errors: &["invalid_client"],
            basic_challenge: true,
        }],
    },
    Refusal {
        id: "BASE-AS-16",
        requirement: "the client credentials grant is refused to a client that does not authenticate: no token",
        public: true,
        requests: &[RefusalRequest {
            what: "client_credentials as the public client",
            form: public_client_credentials,
            random_basic: false,
            statuses: &[400, 401],
            errors: &[],
            basic_challenge: false,
        }],
    },
];

/// A client credentials grant as the public client, which cannot authenticate.
fn public_client_credentials(c: &Context) -> Form {
    let mut form = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", c.client_id.clone()),
    ];
    with_resource(&mut form, c);
    form
}

/// The checks that need an authorization code, hence a user who signs in.
static NEED_LOGIN: [(&str, &str); 4] = [
    (
        "BASE-AS-11",
        "a code issued with a code_challenge is redeemed only with the matching code_verifier",
    ),
    (
        "BASE-AS-12",
        "a code is redeemed once: a second redemption gets 400 invalid_grant",
    ),
    (
        "BASE-AS-17",
        "refresh tokens of public clients rotate: the one presented is invalidated",
    ),
    (
        "BASE-AS-18",
        "a refresh token presented by another client is refused with invalid_grant",
    ),
];

/// BASE-AS-11 to BASE-AS-18, in order.
pub fn checks() -> Vec<Check<AsTarget>> {
    let mut checks: Vec<Check<AsTarget>> = REFUSALS
        .iter()
        .map(|refusal| Check {
            id: refusal.id,
            requirement: refusal.requirement,
            run: Box::new(move |t: &AsTarget| Box::pin(refused(t, refusal))),
        })
        .collect();
    checks.extend(NEED_LOGIN.iter().map(|(id, requirement)| Check {
        id,
        requirement,
        run: Box::new(|_: &AsTarget| {
            Box::pin(async {
                Outcome::skip(
                    "needs an authorization code, hence a user signing in: the checker does not script a login",
                )
            })
        }),
    }));
    checks.push(Check {
        id: "BASE-AS-15",
        requirement: "a successful token response is 200 JSON with access_token and token_type, Cache-Control: no-store",
        run: Box::new(|t| Box::pin(successful_response(t))),
    });
    checks.sort_by_key(|c| number(c.id));
    checks
}

/// BASE-AS-24 and -25, in order.
pub fn jwt_checks() -> Vec<Check<AsTarget>> {
    vec![
        Check {
            id: "BASE-AS-24",
            requirement: "an RFC 9068 access token is signed (not alg none) and carries iss, exp, aud, sub, client_id, iat, jti",
            run: Box::new(|t| Box::pin(jwt_claims(t))),
        },
        Check {
            id: "BASE-AS-25",
            requirement: "access tokens for distinct resources have distinct aud values",
            run: Box::new(|t| Box::pin(distinct_audiences(t))),
        },
    ]
}

fn number(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// 43 random base64url characters (a valid-syntax code verifier, RFC 7636 §4.1).
fn random() -> String {
    mcp_auth_core::random_token::<32>().unwrap_or_else(|_| "r".repeat(43))
}

fn with_resource(form: &mut Form, c: &Context) {
    if let Some(r) = &c.resource {
        form.push(("resource", r.clone()));
    }
}

/// The `error` of a JSON error response.
fn error_code(answer: &Answer) -> Option<String> {
    serde_json::from_str::<Value>(&answer.body)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_owned)
}

fn is_json(answer: &Answer) -> bool {
    header(&answer.headers, "content-type").is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

async fn refused(t: &AsTarget, refusal: &Refusal) -> Outcome {
    let context = if refusal.public {
        match t.public_client().await {
            Ok(c) => Context {
                client_id: c.client_id,
                redirect_uri: c.redirect_uri,
                resource: t.resources.first().cloned(),
            },
            Err(e) => return Outcome::skip(e),
        }
    } else {
        Context {
            client_id: String::new(),
            redirect_uri: String::new(),
            resource: t.resources.first().cloned(),
        }
    };
    let mut seen = Vec::new();
    for request in refusal.requests {
        let basic = request.random_basic.then(|| {
            let credentials = format!("conformance-{}:{}", random(), random());
            format!("Basic {}", STANDARD.encode(credentials))
        });
        let answer = match t
            .token_request(&(request.form)(&context), basic.as_deref())
            .await
        {
            Ok(a) => a,
            Err(e) => return Outcome::fail(e),
        };
        let error = error_code(&answer);
        let challenge = header(&answer.headers, "www-authenticate").unwrap_or_default();
        let mut line = format!(
            "{}: {} {} error={}",
            request.what,
            answer.status,
            header(&answer.headers, "content-type").unwrap_or_else(|| "no Content-Type".into()),
            error.as_deref().unwrap_or("none")
        );
        if request.basic_challenge {
            line.push_str(&format!(" WWW-Authenticate: {challenge:?}"));
        }
        let holds = request.statuses.contains(&answer.status)
            && error
                .as_deref()
                .is_some_and(|e| request.errors.is_empty() || request.errors.contains(&e))
            && is_json(&answer)
            && !answer.body.contains("\"access_token\"")
            && (!request.basic_challenge
                || challenge
                    .trim_start()
                    .get(..5)
                    .is_some_and(|s| s.eq_ignore_ascii_case("basic")));
        if !holds {
            return Outcome::fail(line);
        }
        seen.push(line);
    }
    Outcome::pass(seen.join("; "))
}

/// Whether a `Cache-Control` value has the `no-store` directive.
fn no_store(cache_control: Option<&str>) -> bool {
    cache_control.is_some_and(|v| {
        v.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    })
}

/// A client credentials grant as the confidential client, for `resource`.
async fn client_credentials(t: &AsTarget, resource: Option<&String>) -> Result<Answer, String> {
    let mut form: Form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(r) = resource {
        form.push(("resource", r.clone()));
    }
    t.confidential_token_request(&form).await
}

/// An access token for `resource`, or the outcome when there is none.
async fn issued_token(t: &AsTarget, resource: Option<&String>) -> Result<String, Outcome> {
    let answer = client_credentials(t, resource)
        .await
        .map_err(Outcome::skip)?;
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(token) if answer.status == 200 => Ok(token.to_owned()),
        _ => Err(Outcome::skip(format!(
            "no token from the client credentials grant: {} error={}",
            answer.status,
            body["error"].as_str().unwrap_or("none")
        ))),
    }
}

async fn successful_response(t: &AsTarget) -> Outcome {
    // OAuth 2.1 §3.2.3: a registration response carrying a secret is a response
    // carrying credentials, so `no-store` too.
    let mut evidence = Vec::new();
    if let Ok(registration) = t.registration().await
        && registration.had_secret
    {
        let line = format!(
            "registration with client_secret: Cache-Control {:?}",
            registration.cache_control
        );
        if !no_store(registration.cache_control.as_deref()) {
            return Outcome::fail(line);
        }
        evidence.push(line);
    }
    let answer = match client_credentials(t, t.resources.first()).await {
        Ok(a) => a,
        Err(e) => {
            return Outcome::skip(format!("{e}; a code redemption needs a scripted login"));
        }
    };
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let cache_control = header(&answer.headers, "cache-control");
    let line = format!(
        "{} {}, token_type {}, access_token {}, Cache-Control {:?}",
        answer.status,
        header(&answer.headers, "content-type").unwrap_or_else(|| "no Content-Type".into()),
        body["token_type"],
        body["access_token"]
            .as_str()
            .map_or("absent".to_owned(), |a| format!(
                "of {} characters",
                a.len()
            )),
        cache_control.as_deref().unwrap_or("absent"),
    );
    let holds = answer.status == 200
        && is_json(&answer)
        && body["access_token"].is_string()
        && body["token_type"].is_string()
        && no_store(cache_control.as_deref());
    evidence.push(line);
    Outcome::from_bool(holds, evidence.join("; "))
}

/// A JWT's header and claims.
type Decoded = (Map<String, Value>, Map<String, Value>);

/// The header and claims of a JWT, when it is one.
fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let object = |part: &str| match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    Some((object(header)?, object(claims)?))
}

/// The claims of an RFC 9068 token (`typ` `at+jwt` or `application/at+jwt`), or
/// why the JWT checks do not apply.
fn rfc9068(token: &str) -> Result<Decoded, Outcome> {
    let Some((header, claims)) = decode(token) else {
        return Err(Outcome::skip(format!(
            "the access token ({} characters) is not a JWT",
            token.len()
        )));
    };
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !["at+jwt", "application/at+jwt"].contains(&typ.to_ascii_lowercase().as_str()) {
        return Err(Outcome::skip(format!(
            "the access token is a JWT but not RFC 9068 (typ {typ:?})"
        )));
    }
    Ok((header, claims))
}

const REQUIRED_CLAIMS: [&str; 7] = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"];

async fn jwt_claims(t: &AsTarget) -> Outcome {
    let token = match issued_token(t, t.resources.first()).await {
        Ok(token) => token,
        Err(o) => return o,
    };
    let (header, claims) = match rfc9068(&token) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let missing: Vec<&str> = REQUIRED_CLAIMS
        .into_iter()
        .filter(|c| claims.get(*c).is_none_or(Value::is_null))
        .collect();
    let line = format!("alg {alg:?}, missing claims {missing:?}");
    if alg.is_empty() || alg.eq_ignore_ascii_case("none") || !missing.is_empty() {
        return Outcome::fail(line);
    }
    match signature(t, &token, &header, &claims).await {
        Ok(verified) => Outcome::pass(format!("{line}, {verified}")),
        Err(e) => Outcome::fail(format!("{line}, {e}")),
    }
}

/// Whether the signature verifies with a key of the metadata's `jwks_uri`, as one
/// line; `Err` when it does not. No `jwks_uri` is not a failure (RFC 9068 §4 only
/// recommends publishing one).
async fn signature(
    t: &AsTarget,
    token: &str,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    use mcp_auth_core::access_token::{AccessTokenError, Jwks, TokenVerifier};
    let Ok(jwks_uri) = t.endpoint("jwks_uri").await else {
        return Ok("no jwks_uri: signature not checked".to_owned());
    };
    let answer = t.get(&jwks_uri).await?;
    let jwks: Jwks = serde_json::from_str(&answer.body)
        .map_err(|_| format!("jwks_uri: {} not a JWKS", answer.status))?;
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
    // The token's own `iss`: whether it equals the issuer is a SHOULD (§5.1).
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let verifier = TokenVerifier::new(iss, None, &jwks);
    match verifier.verify(token, mcp_auth_core::unix_now()) {
        Ok(_) | Err(AccessTokenError::Expired | AccessTokenError::NotYetValid) => {
            Ok(format!("signature verified with kid {kid:?} of jwks_uri"))
        }
        Err(AccessTokenError::UnknownKey)
            if jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) =>
        {
            Ok(format!(
                "kid {kid:?} is in jwks_uri, its algorithm not verifiable by the checker"
            ))
        }
        Err(e) => Err(format!("signature: {e}")),
    }
}

async fn distinct_audiences(t: &AsTarget) -> Outcome {
    let [first, second, ..] = t.resources.as_slice() else {
        return Outcome::skip("needs two resources the AS serves (--resource twice)");
    };
    let mut audiences = Vec::new();
    for resource in [first, second] {
        let token = match issued_token(t, Some(resource)).await {
            Ok(token) => token,
            Err(o) => return o,
        };
        match rfc9068(&token) {
            Ok((_, claims)) => audiences.push(claims.get("aud").cloned().unwrap_or(Value::Null)),
            Err(o) => return o,
        }
    }
    Outcome::from_bool(
        audiences[0] != audiences[1],
        format!("aud {} and aud {}", audiences[0], audiences[1]),
    )
}
