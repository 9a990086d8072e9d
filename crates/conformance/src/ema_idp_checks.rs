//! The identity provider's requirements of
//! profiles/enterprise-managed-authorization.md (`EMA-IDP-n`) that can be checked
//! with no user signing in: the metadata (EMA-IDP-1), and the refusals of the token
//! exchange that come before, or do not need, a valid ID token (EMA-IDP-3, -4, -5,
//! -11, and their order, EMA-IDP-12).
//!
//! The checker has no ID token of the IdP (that takes a sign-in): its subject token
//! is one it forged, an ID token's shape signed by its own key. The refusals of steps
//! 1 to 4 (§7.3) come before the subject token is looked at, so each is exactly one
//! change from a request the IdP would otherwise refuse only at step 5; a forged
//! subject token itself must be refused at step 5 with `invalid_grant`. The checks
//! of a valid exchange (EMA-IDP-2, -6 to -10) need a sign-in and are not here.

use serde_json::{Value, json};

use crate::authorization_server::AsTarget;
use crate::authorization_server::ConfidentialClient;
use crate::check::{Check, Outcome};
use crate::ema_as::{Auth, EmaTarget, Redemption, access_token, body, leaks, summary};
use crate::ema_idp::EnterpriseIdp;

/// The token-exchange grant type (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The ID-JAG token type (ID-JAG §3).
pub const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// The ID token token type (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// An access token's token type (RFC 8693 §3).
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An enterprise IdP under test. The exchange requests are sent with the same
/// machinery as the redemptions (an [`EmaTarget`] whose "authorization server" is
/// the IdP and whose "IdP" is the checker's forger of subject tokens).
#[derive(Debug)]
pub struct IdpTarget {
    /// The IdP as an authorization server, its client (one configured with the
    /// token-exchange grant, `--idp-client-id`) and, optionally, a client without
    /// that grant (`other_client`). `resource` is the exchange's `resource`.
    pub target: EmaTarget,
    /// The `audience` of the exchanges: an MCP AS issuer (`--audience`).
    pub audience: String,
}

impl IdpTarget {
    /// The IdP `identity_provider`, acting as `client`, asking for ID-JAGs for the
    /// MCP AS `audience` and its `resource`. Makes the forger's key (Ed25519).
    pub fn new(
        identity_provider: AsTarget,
        client: ConfidentialClient,
        audience: impl Into<String>,
        resource: impl Into<String>,
    ) -> Result<Self, String> {
        let pem = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519)
            .and_then(|k| k.to_pkcs8_pem())
            .map_err(|e| e.to_string())?;
        let minter = crate::mint::Minter::from_pem(&pem, &identity_provider.issuer)
            .map_err(|e| e.to_string())?;
        let forger = EnterpriseIdp::new(minter, "conformance-user").map_err(|e| e.to_string())?;
        Ok(Self {
            target: EmaTarget::new(identity_provider, forger, client, resource, Vec::new()),
            audience: audience.into(),
        })
    }

    /// An ID token of this IdP's shape for the client, signed by the checker.
    fn forged_id_token(&self, now: i64) -> String {
        let mut t = self.target.idp.valid("", "", "", "", now);
        t.header.insert("typ".into(), json!("JWT"));
        t.claims = serde_json::from_value(json!({
            "iss": self.target.issuer(),
            "sub": "conformance-user",
            "aud": self.target.client.client_id,
            "iat": now,
            "exp": now + 3600,
            "auth_time": now - 10,
        }))
        .unwrap_or_default();
        self.target.idp.sign(&t)
    }

    /// The exchange of §7.2 with a forged subject token, as the client.
    fn exchange(&self) -> Redemption {
        let subject = self.forged_id_token(mcp_auth_core::unix_now());
        Redemption {
            form: vec![
                ("grant_type", TOKEN_EXCHANGE.to_owned()),
                ("requested_token_type", ID_JAG_TYPE.to_owned()),
                ("subject_token", subject),
                ("subject_token_type", ID_TOKEN_TYPE.to_owned()),
                ("audience", self.audience.clone()),
                ("resource", self.target.resource.clone()),
            ],
            auth: Auth::Client,
            headers: Vec::new(),
        }
    }
}

/// Builds a probe's request from the valid-but-forged exchange.
type Make = fn(&IdpTarget, Redemption) -> Result<Redemption, String>;

/// One exchange that must be refused.
#[derive(Clone, Copy)]
struct Probe {
    id: &'static str,
    requirement: &'static str,
    make: Make,
    status: u16,
    error: &'static str,
}

fn p(
    id: &'static str,
    requirement: &'static str,
    status: u16,
    error: &'static str,
    make: Make,
) -> Probe {
    Probe {
        id,
        requirement,
        make,
        status,
        error,
    }
}

fn other(t: &IdpTarget, r: Redemption) -> Result<Redemption, String> {
    t.target.other_client.as_ref().ok_or(
        "needs a client of the IdP without the token-exchange grant (--idp-other-client-id)",
    )?;
    Ok(r.auth(Auth::Other))
}

#[allow(clippy::too_many_lines)]
fn probes() -> Vec<Probe> {
    const R: &str = "invalid_request";
    const T: &str = "invalid_target";
    const G: &str = "invalid_grant";
    vec![
        p(
            "EMA-IDP-3",
            "the exchange without client authentication → 401 invalid_client",
            401,
            "invalid_client",
            |_, r| Ok(r.auth(Auth::None)),
        ),
        p(
            "EMA-IDP-3",
            "the exchange with the client_id alone (none) → 401 invalid_client",
            401,
            "invalid_client",
            |_, r| Ok(r.auth(Auth::ClientIdOnly)),
        ),
        p(
            "EMA-IDP-3",
            "the exchange with a wrong secret in Basic → 401 invalid_client",
            401,
            "invalid_client",
            |_, r| Ok(r.auth(Auth::WrongSecret)),
        ),
        p(
            "EMA-IDP-3",
            "the exchange by a client without the token-exchange grant → 400 unauthorized_client",
            400,
            "unauthorized_client",
            other,
        ),
        p(
            "EMA-IDP-4",
            "grant_type saml2-bearer → 400 unsupported_grant_type",
            400,
            "unsupported_grant_type",
            |_, r| {
                Ok(r.set(
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:saml2-bearer",
                ))
            },
        ),
        p(
            "EMA-IDP-4",
            "no requested_token_type → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("requested_token_type")),
        ),
        p(
            "EMA-IDP-4",
            "no subject_token → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("subject_token")),
        ),
        p(
            "EMA-IDP-4",
            "no subject_token_type → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("subject_token_type")),
        ),
        p(
            "EMA-IDP-4",
            "no audience → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("audience")),
        ),
        p(
            "EMA-IDP-4",
            "no resource → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("resource")),
        ),
        p(
            "EMA-IDP-4",
            "subject_token twice → 400 invalid_request",
            400,
            R,
            |t, r| {
                Ok(r.add(
                    "subject_token",
                    t.forged_id_token(mcp_auth_core::unix_now()),
                ))
            },
        ),
        p(
            "EMA-IDP-4",
            "scope twice → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.add("scope", "mcp:read").add("scope", "mcp:read")),
        ),
        p(
            "EMA-IDP-4",
            "an actor_token → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.add("actor_token", "conformance-actor")),
        ),
        p(
            "EMA-IDP-4",
            "an actor_token_type → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.add("actor_token_type", ACCESS_TOKEN_TYPE)),
        ),
        p(
            "EMA-IDP-4",
            "authorization_details → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.add("authorization_details", r#"[{"type":"conformance"}]"#)),
        ),
        p(
            "EMA-IDP-4",
            "audience twice → 400 invalid_target",
            400,
            T,
            |t, r| Ok(r.add("audience", t.audience.clone())),
        ),
        p(
            "EMA-IDP-4",
            "resource twice → 400 invalid_target",
            400,
            T,
            |t, r| Ok(r.add("resource", t.target.resource.clone())),
        ),
        p(
            "EMA-IDP-4",
            "requested_token_type an access token's → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.set("requested_token_type", ACCESS_TOKEN_TYPE)),
        ),
        p(
            "EMA-IDP-4",
            "subject_token_type an access token's → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.set("subject_token_type", ACCESS_TOKEN_TYPE)),
        ),
        p(
            "EMA-IDP-5",
            "an ID token of this IdP's shape signed by another key → 400 invalid_grant",
            400,
            G,
            |_, r| Ok(r),
        ),
        p(
            "EMA-IDP-5",
            "a subject_token that is not a JWT → 400 invalid_grant",
            400,
            G,
            |_, r| Ok(r.set("subject_token", "conformance-not-a-jwt")),
        ),
        p(
            "EMA-IDP-5",
            "the forged ID token as alg none → 400 invalid_grant",
            400,
            G,
            |t, r| {
                let token = t.forged_id_token(mcp_auth_core::unix_now());
                let none =
                    crate::mint::unsecured_copy(&token).ok_or("cannot re-encode the token")?;
                Ok(r.set("subject_token", none))
            },
        ),
        p(
            "EMA-IDP-11",
            "a DPoP proof whose htu is not the token endpoint → 400 invalid_dpop_proof",
            400,
            "invalid_dpop_proof",
            |t, r| {
                let key =
                    crate::dpop_proof::ProofKey::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)
                        .ok_or("cannot make a DPoP key")?;
                let htu = format!(
                    "{}/conformance-elsewhere",
                    t.target.issuer().trim_end_matches('/')
                );
                let now = mcp_auth_core::unix_now();
                Ok(r.header("dpop", key.sign(&key.claims("POST", &htu, None, None, now))))
            },
        ),
        p(
            "EMA-IDP-12",
            "steps 1 and 2: no requested_token_type, no client authentication → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.without("requested_token_type").auth(Auth::None)),
        ),
        p(
            "EMA-IDP-12",
            "steps 2 and 4: a wrong secret, requested_token_type an access token's → 401 invalid_client",
            401,
            "invalid_client",
            |_, r| {
                Ok(r.set("requested_token_type", ACCESS_TOKEN_TYPE)
                    .auth(Auth::WrongSecret))
            },
        ),
        p(
            "EMA-IDP-12",
            "steps 3 and 5: a DPoP header that is not a JWT, a forged subject token → 400 invalid_dpop_proof",
            400,
            "invalid_dpop_proof",
            |_, r| Ok(r.header("dpop", "not-a-jwt".to_owned())),
        ),
        p(
            "EMA-IDP-12",
            "steps 4 and 5: subject_token_type an access token's, a forged subject token → 400 invalid_request",
            400,
            R,
            |_, r| Ok(r.set("subject_token_type", ACCESS_TOKEN_TYPE)),
        ),
        p(
            "EMA-IDP-12",
            "steps 5 and 6: a forged subject token, an unknown audience → 400 invalid_grant",
            400,
            G,
            |_, r| Ok(r.set("audience", "https://unknown-as.conformance.example")),
        ),
    ]
}

/// Every EMA-IDP check the checker runs without a sign-in, in requirement order.
pub fn checks() -> Vec<Check<IdpTarget>> {
    let mut checks = vec![Check {
        id: "EMA-IDP-1",
        requirement: "the metadata at the OpenID Connect and RFC 8414 locations: subject_types_supported [\"public\"], RS256, openid, the token-exchange grant, the ID-JAG token type; no target named",
        run: Box::new(|t: &IdpTarget| Box::pin(metadata(t))),
    }];
    checks.extend(probes().into_iter().map(|probe| Check {
        id: probe.id,
        requirement: probe.requirement,
        run: Box::new(move |t: &IdpTarget| Box::pin(refused(t, probe))),
    }));
    checks
}

async fn metadata(t: &IdpTarget) -> Outcome {
    let documents = t.target.authorization_server.documents().await;
    let mut lines = Vec::new();
    let mut holds = true;
    for openid in [true, false] {
        let Some(doc) = documents.iter().find(|d| d.openid == openid && d.served()) else {
            holds = false;
            lines.push(format!(
                "no {} document",
                if openid { "OpenID Connect" } else { "RFC 8414" }
            ));
            continue;
        };
        let m = doc.metadata().cloned().unwrap_or_default();
        let has = |member: &str, value: &str| {
            m.get(member)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == value))
        };
        let missing: Vec<&str> = [
            ("subject_types_supported", "public"),
            ("id_token_signing_alg_values_supported", "RS256"),
            ("scopes_supported", "openid"),
            ("grant_types_supported", TOKEN_EXCHANGE),
            (
                "identity_chaining_requested_token_types_supported",
                ID_JAG_TYPE,
            ),
        ]
        .into_iter()
        .filter(|(member, value)| !has(member, value))
        .map(|(member, _)| member)
        .collect();
        let public_only = m.get("subject_types_supported") == Some(&json!(["public"]));
        let issuer_ok = m.get("issuer") == Some(&json!(t.target.issuer()));
        let names_target = Value::Object(m).to_string().contains(&t.audience);
        holds &= missing.is_empty() && public_only && issuer_ok && !names_target;
        lines.push(format!(
            "{}: issuer exact {issuer_ok}, subject_types_supported [\"public\"] {public_only}, missing {missing:?}, names the audience {names_target}",
            doc.url
        ));
    }
    Outcome::from_bool(holds, lines.join("; "))
}

async fn refused(t: &IdpTarget, probe: Probe) -> Outcome {
    let request = match (probe.make)(t, t.exchange()) {
        Ok(r) => r,
        Err(why) => return Outcome::skip(why),
    };
    let answer = match t.target.send(&request).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let b = body(&answer);
    let subject = request
        .form
        .iter()
        .find(|(k, _)| *k == "subject_token")
        .map(|(_, v)| v.as_str());
    let line = summary(&answer, subject);
    if access_token(&answer).is_some() {
        return Outcome::fail(format!("an ID-JAG was issued: {line}"));
    }
    let description = b
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if leaks(description, subject) {
        return Outcome::fail(format!(
            "the error_description carries the subject token (EMA-IDP-12): {line}"
        ));
    }
    Outcome::from_bool(
        answer.status == probe.status
            && b.get("error").and_then(Value::as_str) == Some(probe.error),
        line,
    )
}
