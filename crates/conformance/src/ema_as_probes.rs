//! The redemptions an MCP authorization server must refuse
//! (profiles/enterprise-managed-authorization.md §7.7, §10.2): one table, each row
//! the valid redemption with one change (or, for EMA-AS-21, two changes failing two
//! steps, the earlier step's answer required), the status and `error` the profile
//! names, and no token. Every refusal is also held to EMA-AS-21's rule that no
//! `error_description` carries the ID-JAG or a claim value: probes put the marker
//! `conformance-marker` in the claims they change that the request does not repeat
//! (`sub`, `client_id`, `jti`, `tenant`, `act`, ...), and it must not come back. A
//! requested scope or resource may be named: the client sent it.

use serde_json::{Value, json};

use crate::check::{Check, Outcome};
use crate::dpop_proof::ProofKey;
use crate::ema_as::{
    Auth, EmaTarget, Redemption, access_token, body, leaks, needs_control, no_store, summary,
};
use crate::ema_idp::{ATTACKER_JWKS_PATH, is_forbidden_fetch};
use crate::mint::{Unsigned, with_broken_signature};
use mcp_auth_httpsig::JwsAlgorithm;

/// What a probe is built with.
pub(crate) struct Ctx {
    /// Now, on the checker's clock.
    pub now: i64,
    /// The token endpoint (DPoP's `htu`).
    pub htu: String,
}

/// Builds a probe's request, or says why it cannot run here.
type Make = fn(&EmaTarget, &Ctx) -> Result<Redemption, String>;

/// One redemption that must be refused.
#[derive(Clone, Copy)]
struct Probe {
    id: &'static str,
    requirement: &'static str,
    make: Make,
    /// The statuses that may answer it.
    statuses: &'static [u16],
    /// The `error` codes that may answer it; empty: any.
    errors: &'static [&'static str],
    /// A `WWW-Authenticate: Basic` challenge is required (§7.7 step 3).
    basic_challenge: bool,
}

/// The marker probes put in claim values that must never come back in a
/// description.
pub(crate) const MARKER: &str = "conformance-marker";

const G: &[&str] = &["invalid_grant"];
const B: &[u16] = &[400];

fn probe(id: &'static str, requirement: &'static str, make: Make) -> Probe {
    Probe {
        id,
        requirement,
        make,
        statuses: B,
        errors: G,
        basic_challenge: false,
    }
}

impl Probe {
    fn expect(mut self, statuses: &'static [u16], errors: &'static [&'static str]) -> Self {
        self.statuses = statuses;
        self.errors = errors;
        self
    }

    fn basic(mut self) -> Self {
        self.basic_challenge = true;
        self
    }
}

fn set(jag: &mut Unsigned, claim: &str, value: Value) {
    jag.claims.insert(claim.to_owned(), value);
}

fn unset(jag: &mut Unsigned, claim: &str) {
    jag.claims.remove(claim);
}

fn typ(t: &EmaTarget, c: &Ctx, typ: Option<&str>) -> Redemption {
    t.changed(c.now, |j| match typ {
        Some(v) => {
            j.header.insert("typ".into(), json!(v));
        }
        None => {
            j.header.remove("typ");
        }
    })
}

/// A DPoP proof for the token request by a new key (its thumbprint, the proof).
fn proof(c: &Ctx) -> Result<(String, String), String> {
    let key = ProofKey::generate(JwsAlgorithm::Es256).ok_or("cannot make a DPoP key")?;
    let p = key.sign(&key.claims("POST", &c.htu, None, None, c.now));
    Ok((key.jkt().to_owned(), p))
}

/// An ID-JAG bound to a new key (`cnf.jkt`), with `cnf` changed by `cnf`, and a
/// valid proof by that key when `with_proof`.
fn bound(t: &EmaTarget, c: &Ctx, cnf: fn(&str) -> Value, with_proof: bool) -> Redemption {
    let key = ProofKey::generate(JwsAlgorithm::Es256);
    let jkt = key
        .as_ref()
        .map_or_else(String::new, |k| k.jkt().to_owned());
    let r = t.changed(c.now, |j| set(j, "cnf", cnf(&jkt)));
    match key {
        Some(k) if with_proof => {
            r.header("dpop", k.sign(&k.claims("POST", &c.htu, None, None, c.now)))
        }
        _ => r,
    }
}

fn other_scope(t: &EmaTarget) -> Result<(String, String), String> {
    match t.scopes.as_slice() {
        [first, second, ..] => Ok((first.clone(), second.clone())),
        _ => Err(
            "needs two scopes the resource defines and the client may have (--scope twice)"
                .to_owned(),
        ),
    }
}

fn other_resource(t: &EmaTarget) -> Result<String, String> {
    t.other_resource.clone().ok_or_else(|| {
        "needs a resource configured at the AS but not in the trust entry (--other-resource)"
            .to_owned()
    })
}

fn unknown_resource(t: &EmaTarget) -> String {
    format!("{}/conformance-unknown", t.resource.trim_end_matches('/'))
}

fn expired(t: &EmaTarget, c: &Ctx, j: &mut Unsigned) {
    let exp = c.now - t.idp.clock_skew - 60;
    set(j, "exp", json!(exp));
    set(j, "iat", json!(exp - 120));
}

#[allow(clippy::too_many_lines)]
fn probes() -> Vec<Probe> {
    vec![
        // §7.7 step 2: `typ` decides the kind (D6).
        probe("EMA-AS-2", "typ at+jwt (an access token's) → 400 invalid_grant", |t, c| {
            Ok(typ(t, c, Some("at+jwt")))
        }),
        probe("EMA-AS-2", "typ dpop+jwt → 400 invalid_grant", |t, c| {
            Ok(typ(t, c, Some("dpop+jwt")))
        }),
        probe("EMA-AS-2", "typ JWT (a workload assertion's), with client authentication → never redeemed as an ID-JAG", |t, c| {
            Ok(typ(t, c, Some("JWT")))
        })
        .expect(&[400, 401], &[]),
        probe("EMA-AS-2", "no typ, with client authentication → never redeemed as an ID-JAG", |t, c| {
            Ok(typ(t, c, None))
        })
        .expect(&[400, 401], &[]),
        // §7.7 step 3 (D10).
        probe("EMA-AS-3", "a valid ID-JAG without client authentication → 401 invalid_client", |t, c| {
            Ok(t.valid(c.now).auth(Auth::None))
        })
        .expect(&[401], &["invalid_client"]),
        probe("EMA-AS-3", "a valid ID-JAG with the client_id alone (none) → 401 invalid_client", |t, c| {
            Ok(t.valid(c.now).auth(Auth::ClientIdOnly))
        })
        .expect(&[401], &["invalid_client"]),
        probe("EMA-AS-3", "a valid ID-JAG with a wrong secret in Basic → 401 invalid_client with a Basic challenge", |t, c| {
            Ok(t.valid(c.now).auth(Auth::WrongSecret))
        })
        .expect(&[401], &["invalid_client"])
        .basic(),
        probe("EMA-AS-3", "an ID-JAG for a client without the jwt-bearer grant, as that client → 400 unauthorized_client", |t, c| {
            let other = t.other_client.as_ref().ok_or("needs a client without the jwt-bearer grant (--other-client-id)")?;
            let id = other.client_id.clone();
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(id))).auth(Auth::Other))
        })
        .expect(B, &["unauthorized_client"]),
        // §7.7 step 4.
        probe("EMA-AS-4", "a DPoP header that is not a JWT → 400 invalid_dpop_proof", |t, c| {
            Ok(t.valid(c.now).header("dpop", "not-a-jwt".to_owned()))
        })
        .expect(B, &["invalid_dpop_proof"]),
        probe("EMA-AS-4", "a DPoP proof whose htu is another URL → 400 invalid_dpop_proof", |t, c| {
            let key = ProofKey::generate(JwsAlgorithm::Es256).ok_or("cannot make a DPoP key")?;
            let other = format!("{}/elsewhere", c.htu.trim_end_matches('/'));
            let p = key.sign(&key.claims("POST", &other, None, None, c.now));
            Ok(t.valid(c.now).header("dpop", p))
        })
        .expect(B, &["invalid_dpop_proof"]),
        // §7.7 steps 2 and 5 (D7).
        probe("EMA-AS-5", "an assertion of two parts, not a compact JWS → 400 invalid_grant", |t, c| {
            let a = t.idp.sign(&t.jag(c.now));
            let two = a.rsplit_once('.').map_or(a.clone(), |(input, _)| input.to_owned());
            Ok(t.redemption(two))
        }),
        probe("EMA-AS-5", "an ID-JAG over 16 KiB (a 17 000-character claim) → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "padding", json!("p".repeat(17_000)))))
        }),
        probe("EMA-AS-5", "a header with typ twice → 400 invalid_grant", |t, c| {
            let jag = t.jag(c.now);
            let header = format!(
                r#"{{"alg":"{}","kid":{},"typ":"oauth-id-jag+jwt","typ":"oauth-id-jag+jwt"}}"#,
                t.idp.minter.alg().name(),
                json!(t.idp.minter.kid())
            );
            let input = crate::dpop_proof::encoded_input(&header, &Value::Object(jag.claims).to_string());
            Ok(t.redemption(t.idp.minter.sign_input(&input)))
        }),
        probe("EMA-AS-5", "claims with sub twice (the second another user's) → 400 invalid_grant", |t, c| {
            let jag = t.jag(c.now);
            let claims = Value::Object(jag.claims).to_string();
            let claims = format!(r#"{},"sub":"{MARKER}-admin"}}"#, claims.trim_end_matches('}'));
            let header = Value::Object(jag.header).to_string();
            let input = crate::dpop_proof::encoded_input(&header, &claims);
            Ok(t.redemption(t.idp.minter.sign_input(&input)))
        }),
        probe("EMA-AS-5", "claims a JSON array, not an object → 400 invalid_grant", |t, c| {
            let jag = t.jag(c.now);
            let claims = json!([Value::Object(jag.claims)]).to_string();
            let header = Value::Object(jag.header).to_string();
            let input = crate::dpop_proof::encoded_input(&header, &claims);
            Ok(t.redemption(t.idp.minter.sign_input(&input)))
        }),
        probe("EMA-AS-5", "crit in the header → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| {
                j.header.insert("crit".into(), json!(["exp"]));
            }))
        }),
        probe("EMA-AS-5", "alg none, no signature → 400 invalid_grant", |t, c| {
            Ok(t.redemption(t.idp.minter.unsecured(&t.jag(c.now))))
        }),
        probe("EMA-AS-5", "alg HS256 keyed with the IdP's public JWK → 400 invalid_grant", |t, c| {
            Ok(t.redemption(t.idp.minter.hmac_with_public_key(&t.jag(c.now))))
        }),
        probe("EMA-AS-5", "alg another of the list than the key's (signature unchanged) → 400 invalid_grant", |t, c| {
            let other = match t.idp.minter.alg() {
                JwsAlgorithm::Rs256 => "PS256",
                JwsAlgorithm::Es256 => "ES384",
                _ => "ES256",
            };
            Ok(t.changed(c.now, |j| {
                j.header.insert("alg".into(), json!(other));
            }))
        }),
        probe("EMA-AS-5", "signed by another key offered in the jwk header, with the IdP's kid → 400 invalid_grant", |t, c| {
            let mut jag = t.jag(c.now);
            jag.header.insert("jwk".into(), t.idp.attacker().public_jwk().clone());
            Ok(t.redemption(t.idp.attacker().sign(&jag)))
        }),
        probe("EMA-AS-5", "signed by another key whose JWK Set jku names (the checker's), with the IdP's kid → 400 invalid_grant, jku never fetched", |t, c| {
            let mut jag = t.jag(c.now);
            let jku = format!("{}{ATTACKER_JWKS_PATH}", t.idp.issuer().trim_end_matches('/'));
            jag.header.insert("jku".into(), json!(jku));
            Ok(t.redemption(t.idp.attacker().sign(&jag)))
        }),
        // §7.7 steps 6 to 8 (D2, D13).
        probe("EMA-AS-6", "iss an issuer no entry names (its discovery document on the checker) → 400 invalid_grant, never fetched", |t, c| {
            let iss = t.idp.untrusted_issuer();
            Ok(t.changed(c.now, |j| set(j, "iss", json!(iss))))
        }),
        probe("EMA-AS-6", "iss the IdP's issuer with a trailing slash → 400 invalid_grant", |t, c| {
            let iss = format!("{}/", t.idp.issuer());
            Ok(t.changed(c.now, |j| set(j, "iss", json!(iss))))
        }),
        probe("EMA-AS-6", "iss the IdP's issuer in upper case → 400 invalid_grant", |t, c| {
            let iss = t.idp.issuer().to_ascii_uppercase();
            if iss == t.idp.issuer() {
                return Err("the IdP's issuer has no lower-case letter".to_owned());
            }
            Ok(t.changed(c.now, |j| set(j, "iss", json!(iss))))
        }),
        probe("EMA-AS-6", "iss the AS's own issuer → 400 invalid_grant", |t, c| {
            let iss = t.issuer().to_owned();
            Ok(t.changed(c.now, |j| set(j, "iss", json!(iss))))
        }),
        probe("EMA-AS-6", "a tenant the entry is not pinned to → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "tenant", json!(format!("{MARKER}-tenant")))))
        }),
        probe("EMA-AS-6", "a kid the IdP's key set does not have → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| {
                j.header.insert("kid".into(), json!("conformance-unknown-kid"));
            }))
        }),
        probe("EMA-AS-6", "signed by another key with the IdP's kid → 400 invalid_grant", |t, c| {
            Ok(t.redemption(t.idp.attacker().sign(&t.jag(c.now))))
        }),
        probe("EMA-AS-6", "the IdP's signature changed in one character → 400 invalid_grant", |t, c| {
            Ok(t.redemption(with_broken_signature(&t.idp.sign(&t.jag(c.now)))))
        }),
        // §7.7 step 9: aud (D1).
        probe("EMA-AS-8", "aud the AS issuer with a trailing slash → 400 invalid_grant", |t, c| {
            let aud = format!("{}/", t.issuer());
            Ok(t.changed(c.now, |j| set(j, "aud", json!(aud))))
        }),
        probe("EMA-AS-8", "aud the AS's token endpoint → 400 invalid_grant", |t, c| {
            let aud = c.htu.clone();
            Ok(t.changed(c.now, |j| set(j, "aud", json!(aud))))
        }),
        probe("EMA-AS-8", "aud the AS issuer and a second audience → 400 invalid_grant", |t, c| {
            let aud = json!([t.issuer(), "https://other-as.example"]);
            Ok(t.changed(c.now, |j| set(j, "aud", aud)))
        }),
        probe("EMA-AS-8", "no aud → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| unset(j, "aud")))
        }),
        probe("EMA-AS-8", "aud an empty array → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "aud", json!([]))))
        }),
        // §7.7 step 9: times (D8), 60 s beyond the entry's skew and lifetime.
        probe("EMA-AS-9", "no exp → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "exp")))),
        probe("EMA-AS-9", "no iat → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "iat")))),
        probe("EMA-AS-9", "exp a string → 400 invalid_grant", |t, c| {
            let exp = (c.now + 300).to_string();
            Ok(t.changed(c.now, |j| set(j, "exp", json!(exp))))
        }),
        probe("EMA-AS-9", "exp 60 s beyond the skew in the past → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| expired(t, c, j)))
        }),
        probe("EMA-AS-9", "iat 60 s beyond the skew in the future → 400 invalid_grant", |t, c| {
            let iat = c.now + t.idp.clock_skew + 60;
            Ok(t.changed(c.now, |j| {
                set(j, "iat", json!(iat));
                set(j, "exp", json!(iat + 120));
            }))
        }),
        probe("EMA-AS-9", "nbf 60 s beyond the skew in the future → 400 invalid_grant", |t, c| {
            let nbf = c.now + t.idp.clock_skew + 60;
            Ok(t.changed(c.now, |j| set(j, "nbf", json!(nbf))))
        }),
        probe("EMA-AS-9", "exp − iat 60 s above max_assertion_lifetime → 400 invalid_grant", |t, c| {
            let exp = c.now + t.idp.max_assertion_lifetime + 60;
            Ok(t.changed(c.now, |j| set(j, "exp", json!(exp))))
        }),
        // §7.7 step 9: claim forms (D5, D8, D9).
        probe("EMA-AS-10", "no sub → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "sub")))),
        probe("EMA-AS-10", "sub empty → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| set(j, "sub", json!(""))))),
        probe("EMA-AS-10", "sub of 256 characters → 400 invalid_grant", |t, c| {
            let sub = format!("{MARKER}-{}", "s".repeat(256 - MARKER.len() - 1));
            Ok(t.changed(c.now, |j| set(j, "sub", json!(sub))))
        }),
        probe("EMA-AS-10", "sub with a control character (tab) → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "sub", json!(format!("{MARKER}\tuser")))))
        }),
        probe("EMA-AS-10", "sub with DEL (U+007F) → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "sub", json!(format!("{MARKER}\u{7f}user")))))
        }),
        probe("EMA-AS-10", "sub not ASCII → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "sub", json!(format!("{MARKER}-élise")))))
        }),
        probe("EMA-AS-10", "sub a number → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| set(j, "sub", json!(42))))),
        probe("EMA-AS-10", "no jti → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "jti")))),
        probe("EMA-AS-10", "jti empty → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| set(j, "jti", json!(""))))),
        probe("EMA-AS-10", "jti of 257 characters → 400 invalid_grant", |t, c| {
            let jti = format!("{MARKER}-{}", crate::ema_idp::new_jti()) + &"j".repeat(257);
            let jti: String = jti.chars().take(257).collect();
            Ok(t.changed(c.now, |j| set(j, "jti", json!(jti))))
        }),
        probe("EMA-AS-10", "jti a number → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "jti", json!(c.now))))
        }),
        probe("EMA-AS-10", "no client_id → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "client_id")))),
        probe("EMA-AS-10", "client_id empty → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(""))))
        }),
        probe("EMA-AS-10", "no resource → 400 invalid_grant", |t, c| Ok(t.changed(c.now, |j| unset(j, "resource")))),
        probe("EMA-AS-10", "resource an array of two → 400 invalid_grant", |t, c| {
            let two = json!([t.resource, unknown_resource(t)]);
            Ok(t.changed(c.now, |j| set(j, "resource", two)))
        }),
        probe("EMA-AS-10", "resource a number → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "resource", json!(7))))
        }),
        probe("EMA-AS-10", "scope an array → 400 invalid_grant", |t, c| {
            let scopes = json!(t.scopes);
            Ok(t.changed(c.now, |j| set(j, "scope", scopes)))
        }),
        probe("EMA-AS-10", "an act claim → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "act", json!({"sub": format!("{MARKER}-actor")}))))
        }),
        probe("EMA-AS-10", "an authorization_details claim → 400 invalid_grant", |t, c| {
            Ok(t.changed(c.now, |j| set(j, "authorization_details", json!([{"type": MARKER}]))))
        }),
        // §7.7 step 10.
        probe("EMA-AS-11", "client_id another client's → 400 invalid_grant", |t, c| {
            let other = format!("{MARKER}-{}", t.client.client_id);
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(other))))
        }),
        probe("EMA-AS-11", "client_id the client's in another letter case → 400 invalid_grant", |t, c| {
            let id = &t.client.client_id;
            let swapped: String = id.chars().map(|ch| if ch.is_ascii_lowercase() { ch.to_ascii_uppercase() } else { ch.to_ascii_lowercase() }).collect();
            if &swapped == id {
                return Err("the client id has no letters".to_owned());
            }
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(swapped))))
        }),
        probe("EMA-AS-11", "client_id a prefix of the client's → 400 invalid_grant", |t, c| {
            let id = &t.client.client_id;
            let prefix: String = id.chars().take(id.chars().count().saturating_sub(1)).collect();
            if prefix.is_empty() {
                return Err("the client id has one character".to_owned());
            }
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(prefix))))
        }),
        // §7.7 step 11 (D16).
        probe("EMA-AS-12", "cnf.jkt, no DPoP proof → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |jkt| json!({"jkt": jkt}), false))
        }),
        probe("EMA-AS-12", "cnf.jkt, a valid DPoP proof by another key → 400 invalid_grant", |t, c| {
            let (_, p) = proof(c)?;
            Ok(bound(t, c, |jkt| json!({"jkt": jkt}), false).header("dpop", p))
        }),
        probe("EMA-AS-12", "cnf with jkt and another member, the proof by that key → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |jkt| json!({"jkt": jkt, "kid": MARKER}), true))
        }),
        probe("EMA-AS-12", "cnf an empty object → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |_| json!({}), false))
        }),
        probe("EMA-AS-12", "cnf with x5t#S256 only → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |jkt| json!({"x5t#S256": jkt}), false))
        }),
        probe("EMA-AS-12", "cnf a string, the proof by that key → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |jkt| json!(jkt), true))
        }),
        // §7.7 step 12 (D4, D5).
        probe("EMA-AS-13", "the request's resource unknown, the ID-JAG's the resource → 400 invalid_target", |t, c| {
            Ok(t.valid(c.now).set("resource", unknown_resource(t)))
        })
        .expect(B, &["invalid_target"]),
        probe("EMA-AS-13", "the request's and the ID-JAG's resource unknown at the AS → 400 invalid_target", |t, c| {
            let r = unknown_resource(t);
            Ok(t.changed(c.now, |j| set(j, "resource", json!(r))).set("resource", r))
        })
        .expect(B, &["invalid_target"]),
        probe("EMA-AS-13", "the request's and the ID-JAG's resource with a trailing slash → 400 invalid_target", |t, c| {
            let r = format!("{}/", t.resource);
            Ok(t.changed(c.now, |j| set(j, "resource", json!(r))).set("resource", r))
        })
        .expect(B, &["invalid_target"]),
        probe("EMA-AS-13", "the request's and the ID-JAG's resource configured at the AS, not in the entry → 400 invalid_target", |t, c| {
            let r = other_resource(t)?;
            Ok(t.changed(c.now, |j| set(j, "resource", json!(r))).set("resource", r))
        })
        .expect(B, &["invalid_target"]),
        probe("EMA-AS-13", "the ID-JAG's resource another configured one, the request's the resource → 400 invalid_target", |t, c| {
            let r = other_resource(t)?;
            Ok(t.changed(c.now, |j| set(j, "resource", json!(r))))
        })
        .expect(B, &["invalid_target"]),
        // §7.7 step 13 (D15).
        probe("EMA-AS-14", "scope one the ID-JAG does not grant (it grants another) → 400 invalid_scope", |t, c| {
            let (first, second) = other_scope(t)?;
            Ok(t.changed(c.now, |j| set(j, "scope", json!(first))).set("scope", second))
        })
        .expect(B, &["invalid_scope"]),
        probe("EMA-AS-14", "scope one the ID-JAG grants and the resource does not define → 400 invalid_scope", |t, c| {
            let undefined = "conformance:undefined".to_owned();
            let scope = format!("{} {undefined}", t.scope());
            Ok(t.changed(c.now, |j| set(j, "scope", json!(scope))).set("scope", undefined))
        })
        .expect(B, &["invalid_scope"]),
        probe("EMA-AS-14", "scope one of the client's, the ID-JAG without scope → 400 invalid_scope", |t, c| {
            let first = t.scopes.first().cloned().ok_or("needs a scope (--scope)")?;
            Ok(t.changed(c.now, |j| unset(j, "scope")).set("scope", first))
        })
        .expect(B, &["invalid_scope"]),
        probe("EMA-AS-14", "scope the ID-JAG's and one more it does not grant → 400 invalid_scope, never narrowed", |t, c| {
            let (first, second) = other_scope(t)?;
            let scope = format!("{first} {second}");
            Ok(t.changed(c.now, |j| set(j, "scope", json!(first))).set("scope", scope))
        })
        .expect(B, &["invalid_scope"]),
        // §7.7 step 1 and the order of the steps.
        probe("EMA-AS-21", "grant_type urn:ietf:params:oauth:grant-type:jwt-dpop → 400 unsupported_grant_type", |t, c| {
            Ok(t.valid(c.now).set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-dpop"))
        })
        .expect(B, &["unsupported_grant_type"]),
        probe("EMA-AS-21", "no assertion → 400 invalid_request", |t, c| Ok(t.valid(c.now).without("assertion")))
            .expect(B, &["invalid_request"]),
        probe("EMA-AS-21", "assertion twice (two valid ID-JAGs) → 400 invalid_request", |t, c| {
            let second = t.idp.sign(&t.jag(c.now));
            Ok(t.valid(c.now).add("assertion", second))
        })
        .expect(B, &["invalid_request"]),
        probe("EMA-AS-21", "no resource → 400 invalid_request", |t, c| Ok(t.valid(c.now).without("resource")))
            .expect(B, &["invalid_request"]),
        probe("EMA-AS-21", "resource twice → 400 invalid_target", |t, c| {
            let r = t.resource.clone();
            Ok(t.valid(c.now).add("resource", r))
        })
        .expect(B, &["invalid_target"]),
        probe("EMA-AS-21", "scope twice → 400 invalid_request", |t, c| {
            let first = t.scopes.first().cloned().ok_or("needs a scope (--scope)")?;
            Ok(t.valid(c.now).add("scope", first.clone()).add("scope", first))
        })
        .expect(B, &["invalid_request"]),
        probe("EMA-AS-21", "steps 1 and 2: no resource and an assertion of two parts → 400 invalid_request", |t, c| {
            let a = t.idp.sign(&t.jag(c.now));
            let two = a.rsplit_once('.').map_or(a.clone(), |(input, _)| input.to_owned());
            Ok(t.redemption(two).without("resource"))
        })
        .expect(B, &["invalid_request"]),
        probe("EMA-AS-21", "steps 2 and 3: typ at+jwt without client authentication → 400 invalid_grant", |t, c| {
            Ok(typ(t, c, Some("at+jwt")).auth(Auth::None))
        }),
        probe("EMA-AS-21", "steps 3 and 5: a wrong secret and alg none → 401 invalid_client", |t, c| {
            Ok(t.redemption(t.idp.minter.unsecured(&t.jag(c.now))).auth(Auth::WrongSecret))
        })
        .expect(&[401], &["invalid_client"]),
        probe("EMA-AS-21", "steps 3 and 9: no client authentication and an expired ID-JAG → 401 invalid_client", |t, c| {
            Ok(t.changed(c.now, |j| expired(t, c, j)).auth(Auth::None))
        })
        .expect(&[401], &["invalid_client"]),
        probe("EMA-AS-21", "steps 3 and 10: a client without the grant and the ID-JAG of the client → 400 unauthorized_client", |t, c| {
            t.other_client.as_ref().ok_or("needs a client without the jwt-bearer grant (--other-client-id)")?;
            Ok(t.valid(c.now).auth(Auth::Other))
        })
        .expect(B, &["unauthorized_client"]),
        probe("EMA-AS-21", "steps 4 and 9: a DPoP header that is not a JWT and an expired ID-JAG → 400 invalid_dpop_proof", |t, c| {
            Ok(t.changed(c.now, |j| expired(t, c, j)).header("dpop", "not-a-jwt".to_owned()))
        })
        .expect(B, &["invalid_dpop_proof"]),
        probe("EMA-AS-21", "steps 6 and 12: an untrusted issuer and an unknown resource → 400 invalid_grant", |t, c| {
            let iss = t.idp.untrusted_issuer();
            let r = unknown_resource(t);
            Ok(t.changed(c.now, |j| set(j, "iss", json!(iss))).set("resource", r))
        }),
        probe("EMA-AS-21", "steps 9 and 12: an expired ID-JAG and an unknown resource → 400 invalid_grant", |t, c| {
            let r = unknown_resource(t);
            Ok(t.changed(c.now, |j| expired(t, c, j)).set("resource", r))
        }),
        probe("EMA-AS-21", "steps 10 and 12: another client's ID-JAG and an unknown resource → 400 invalid_grant", |t, c| {
            let (other, r) = (format!("{MARKER}-client"), unknown_resource(t));
            Ok(t.changed(c.now, |j| set(j, "client_id", json!(other))).set("resource", r))
        }),
        probe("EMA-AS-21", "steps 11 and 12: cnf.jkt without a proof and an unknown resource → 400 invalid_grant", |t, c| {
            Ok(bound(t, c, |jkt| json!({"jkt": jkt}), false).set("resource", unknown_resource(t)))
        }),
        probe("EMA-AS-21", "steps 12 and 13: an unknown resource and a scope the ID-JAG does not grant → 400 invalid_target", |t, c| {
            Ok(t.valid(c.now).set("resource", unknown_resource(t)).set("scope", "conformance:undefined"))
        })
        .expect(B, &["invalid_target"]),
    ]
}

/// One check per row of `probes`.
pub fn checks() -> Vec<Check<EmaTarget>> {
    probes()
        .into_iter()
        .map(|p| {
            let (id, requirement) = (p.id, p.requirement);
            Check {
                id,
                requirement,
                run: Box::new(move |t: &EmaTarget| Box::pin(refused(t, p))),
            }
        })
        .collect()
}

/// A request that must be refused: the status and code, no token, no leak, no
/// forbidden fetch.
async fn refused(t: &EmaTarget, p: Probe) -> Outcome {
    if let Some(skip) = needs_control(t).await {
        return skip;
    }
    let htu = match t.token_endpoint().await {
        Ok(u) => u,
        Err(e) => return Outcome::skip(e),
    };
    let context = Ctx {
        now: mcp_auth_core::unix_now(),
        htu,
    };
    let redemption = match (p.make)(t, &context) {
        Ok(r) => r,
        Err(why) => return Outcome::skip(why),
    };
    let answer = match t.send(&redemption).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    judge(t, &p, &answer, redemption.assertion())
}

fn judge(
    t: &EmaTarget,
    p: &Probe,
    answer: &crate::server::Answer,
    assertion: Option<&str>,
) -> Outcome {
    let b = body(answer);
    let error = b.get("error").and_then(Value::as_str).unwrap_or("");
    let description = b
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut line = summary(answer, assertion);
    line.push_str(if no_store(answer) {
        ", Cache-Control: no-store"
    } else {
        ", no Cache-Control: no-store"
    });
    if access_token(answer).is_some() {
        return Outcome::fail(format!("a token was issued: {line}"));
    }
    if !p.statuses.contains(&answer.status)
        || (!p.errors.is_empty() && !p.errors.contains(&error))
        || (p.errors.is_empty() && error.is_empty())
    {
        return Outcome::fail(line);
    }
    if leaks(description, assertion) || description.contains(MARKER) {
        return Outcome::fail(format!(
            "the error_description carries the ID-JAG or a claim value (EMA-AS-21): {line}"
        ));
    }
    if p.basic_challenge {
        let challenge = answer.challenge();
        let basic = challenge
            .trim_start()
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("basic"));
        if !basic {
            return Outcome::fail(format!("{line}, no Basic challenge"));
        }
        line.push_str(", a Basic challenge");
    }
    if let Some(fetched) = t.idp.fetches() {
        let forbidden: Vec<&String> = fetched
            .iter()
            .map(|(p, _)| p)
            .filter(|p| is_forbidden_fetch(p))
            .collect();
        if !forbidden.is_empty() {
            return Outcome::fail(format!(
                "the AS fetched a URL taken from an ID-JAG ({forbidden:?}): {line}"
            ));
        }
        line.push_str(", no URL from the ID-JAG fetched");
    }
    Outcome::pass(line)
}
