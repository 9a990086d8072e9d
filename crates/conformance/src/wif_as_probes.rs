//! The single-request probes of `conformance as --profile wif`: each one the valid
//! request of the control with one thing changed (two for WIF-AS-23, the order of
//! Section 7.3), and the answer Section 10.1 gives for it. The expectations come
//! from profiles/workload-identity-federation.md, not from any implementation.

use serde_json::{Value, json};

use crate::mint::Unsigned;
use crate::wif_as::{Ctx, Form, UNDEFINED_SCOPE, UNKNOWN_RESOURCE};

/// What a probe must get.
pub(crate) enum Expect {
    /// 200 with an access token and no refresh token.
    Token,
    /// One of `statuses`, one of `errors` (any code when empty), no token.
    Refused {
        statuses: &'static [u16],
        errors: &'static [&'static str],
    },
}

/// A token request: the form and extra headers.
pub(crate) struct Request {
    pub(crate) form: Form,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Request {
    /// `form` with no extra header.
    pub(crate) fn plain(form: Form) -> Self {
        Self {
            form,
            headers: Vec::new(),
        }
    }
}

/// One probe.
pub(crate) struct Probe {
    pub(crate) id: &'static str,
    pub(crate) requirement: &'static str,
    /// What it sends, for the evidence.
    pub(crate) what: &'static str,
    pub(crate) request: fn(&Ctx<'_>) -> Request,
    pub(crate) expect: Expect,
}

const fn refused(error: &'static [&'static str]) -> Expect {
    Expect::Refused {
        statuses: &[400],
        errors: error,
    }
}

const INVALID_REQUEST: Expect = refused(&["invalid_request"]);
const INVALID_GRANT: Expect = refused(&["invalid_grant"]);
const INVALID_TARGET: Expect = refused(&["invalid_target"]);

/// The valid request with its assertion changed by `change`.
fn grant(c: &Ctx<'_>, change: impl FnOnce(&mut Unsigned)) -> Request {
    Request::plain(c.form(c.assertion(change)))
}

/// The valid request, its form changed by `change`.
fn form(c: &Ctx<'_>, change: impl FnOnce(&Ctx<'_>, &mut Form)) -> Request {
    let mut f = c.form(c.assertion(|_| ()));
    change(c, &mut f);
    Request::plain(f)
}

fn set(u: &mut Unsigned, name: &str, value: Value) {
    u.claims.insert(name.to_owned(), value);
}

fn set_header(u: &mut Unsigned, name: &str, value: Value) {
    u.header.insert(name.to_owned(), value);
}

/// A subject no rule accepts, without the claims the rule reads.
fn no_rule(c: &Ctx<'_>, u: &mut Unsigned) {
    for name in c.platform.claims.keys() {
        u.claims.remove(name);
    }
    set(
        u,
        "sub",
        json!(format!("mcp-auth-conformance-no-rule-{}", c.marker)),
    );
}

/// Expired: `exp` a minute beyond the skew in the past.
fn expired(c: &Ctx<'_>, u: &mut Unsigned) {
    let exp = c.now - c.platform.clock_skew - 60;
    set(u, "exp", json!(exp));
    set(u, "iat", json!(exp - 300));
    set(u, "nbf", json!(exp - 300));
}

fn with_resource(f: &mut Form, resource: &str) {
    f.retain(|(n, _)| *n != "resource");
    f.push(("resource", resource.to_owned()));
}

/// Every single-request probe, grouped by requirement.
pub(crate) static PROBES: &[Probe] = &[
    // WIF-AS-2: the form (Section 7.3 step 1).
    Probe {
        id: "WIF-AS-2",
        requirement: "a request without assertion is refused with 400 invalid_request",
        what: "no assertion",
        request: |c| form(c, |_, f| f.retain(|(n, _)| *n != "assertion")),
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-2",
        requirement: "a request with assertion twice is refused with 400 invalid_request",
        what: "assertion twice",
        request: |c| {
            form(c, |c, f| {
                f.push(("assertion", c.assertion(|_| ())));
            })
        },
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-2",
        requirement: "a request without resource is refused with 400 invalid_request",
        what: "no resource",
        request: |c| form(c, |_, f| f.retain(|(n, _)| *n != "resource")),
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-2",
        requirement: "a request with resource twice is refused with 400 invalid_target",
        what: "the resource twice",
        request: |c| form(c, |c, f| f.push(("resource", c.resource.to_owned()))),
        expect: INVALID_TARGET,
    },
    // WIF-AS-3: the kind, by typ.
    Probe {
        id: "WIF-AS-3",
        requirement: "an assertion with typ at+jwt (an access token) is refused with 400 invalid_grant",
        what: "typ at+jwt",
        request: |c| grant(c, |u| set_header(u, "typ", json!("at+jwt"))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-3",
        requirement: "an assertion with typ oauth-id-jag+jwt is not processed as a workload assertion: no token without client authentication",
        what: "typ oauth-id-jag+jwt, no client authentication",
        request: |c| grant(c, |u| set_header(u, "typ", json!("oauth-id-jag+jwt"))),
        expect: Expect::Refused {
            statuses: &[400, 401],
            errors: &[],
        },
    },
    Probe {
        id: "WIF-AS-3",
        requirement: "an assertion without typ is accepted",
        what: "no typ",
        request: |c| grant(c, |u| drop(u.header.remove("typ"))),
        expect: Expect::Token,
    },
    Probe {
        id: "WIF-AS-3",
        requirement: "typ is compared without letter case and with an optional application/ prefix: application/jwt is accepted",
        what: "typ application/jwt",
        request: |c| grant(c, |u| set_header(u, "typ", json!("application/jwt"))),
        expect: Expect::Token,
    },
    Probe {
        id: "WIF-AS-3",
        requirement: "an assertion with typ JOSE is accepted",
        what: "typ JOSE",
        request: |c| grant(c, |u| set_header(u, "typ", json!("JOSE"))),
        expect: Expect::Token,
    },
    // WIF-AS-4: no client authentication (step 3).
    Probe {
        id: "WIF-AS-4",
        requirement: "a workload assertion with an Authorization header is refused with 400 invalid_request",
        what: "Authorization: Basic of a random client",
        request: |c| {
            let mut r = Request::plain(c.form(c.assertion(|_| ())));
            let basic = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("conformance-{}:{}", c.marker, c.marker),
            );
            r.headers.push(("authorization", format!("Basic {basic}")));
            r
        },
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-4",
        requirement: "a workload assertion with client_id is refused with 400 invalid_request",
        what: "a client_id",
        request: |c| {
            form(c, |_, f| {
                f.push(("client_id", "mcp-auth-conformance".to_owned()))
            })
        },
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-4",
        requirement: "a workload assertion with client_secret is refused with 400 invalid_request",
        what: "a client_secret",
        request: |c| form(c, |c, f| f.push(("client_secret", c.marker.clone()))),
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-4",
        requirement: "a workload assertion with client_assertion and client_assertion_type is refused with 400 invalid_request",
        what: "a client_assertion",
        request: |c| {
            form(c, |c, f| {
                f.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                f.push(("client_assertion", c.assertion(|_| ())));
            })
        },
        expect: INVALID_REQUEST,
    },
    // WIF-AS-6: the JWS and its header.
    Probe {
        id: "WIF-AS-6",
        requirement: "an assertion that is not a compact JWS is refused with 400 invalid_grant",
        what: "two parts, not a compact JWS",
        request: |c| {
            let a = c.assertion(|_| ());
            let two = a.rsplit_once('.').map(|(input, _)| input.to_owned());
            Request::plain(c.form(two.unwrap_or_default()))
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "an assertion over 16 KiB is refused with 400 invalid_grant",
        what: "a signed assertion of 17 KiB",
        request: |c| grant(c, |u| set(u, "padding", json!("x".repeat(13 * 1024)))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "an assertion whose header repeats a member is refused with 400 invalid_grant",
        what: "kid twice in the header",
        request: |c| {
            let valid = c.valid();
            let mut header = Value::Object(valid.header).to_string();
            header.insert_str(1, "\"kid\":\"mcp-auth-conformance\",");
            let claims = Value::Object(valid.claims).to_string();
            let input = crate::dpop_proof::encoded_input(&header, &claims);
            Request::plain(c.form(c.platform.minter.sign_input(&input)))
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "an assertion whose claims repeat a member is refused with 400 invalid_grant",
        what: "sub twice in the claims",
        request: |c| {
            let valid = c.valid();
            let header = Value::Object(valid.header).to_string();
            let mut claims = Value::Object(valid.claims).to_string();
            claims.insert_str(1, "\"sub\":\"mcp-auth-conformance-other\",");
            let input = crate::dpop_proof::encoded_input(&header, &claims);
            Request::plain(c.form(c.platform.minter.sign_input(&input)))
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "an assertion whose header has crit is refused with 400 invalid_grant",
        what: "crit in the header",
        request: |c| {
            grant(c, |u| {
                set_header(u, "crit", json!(["mcp-auth-conformance"]));
                set_header(u, "mcp-auth-conformance", json!(true));
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "a key in the jwk header is never used: an assertion signed by that key is refused with 400 invalid_grant",
        what: "signed by another key, which the jwk header carries",
        request: |c| {
            let attacker = c.platform.attacker();
            let mut u = c.valid();
            set_header(&mut u, "kid", json!(attacker.kid()));
            set_header(&mut u, "jwk", attacker.public_jwk().clone());
            Request::plain(c.form(attacker.sign(&u)))
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-6",
        requirement: "header parameters the AS does not use are ignored: an extra x5t does not prevent acceptance",
        what: "an x5t header",
        request: |c| {
            grant(c, |u| {
                set_header(u, "x5t", json!("bWNwLWF1dGgtY29uZm9ybWFuY2U"))
            })
        },
        expect: Expect::Token,
    },
    // WIF-AS-7: algorithms.
    Probe {
        id: "WIF-AS-7",
        requirement: "an assertion with alg none is refused with 400 invalid_grant",
        what: "alg none",
        request: |c| Request::plain(c.form(c.platform.minter.unsecured(&c.valid()))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-7",
        requirement: "an assertion with alg HS256, keyed with the platform's public key, is refused with 400 invalid_grant",
        what: "HS256 keyed with the public JWK",
        request: |c| Request::plain(c.form(c.platform.minter.hmac_with_public_key(&c.valid()))),
        expect: INVALID_GRANT,
    },
    // WIF-AS-12: the key.
    Probe {
        id: "WIF-AS-12",
        requirement: "an assertion whose kid no key of the issuer has is refused with 400 invalid_grant",
        what: "an unknown kid",
        request: |c| {
            grant(c, |u| {
                set_header(u, "kid", json!(format!("unknown-{}", c.marker)))
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-12",
        requirement: "an assertion with the platform key's kid but signed by another key is refused with 400 invalid_grant",
        what: "the platform's kid, another key's signature",
        request: |c| Request::plain(c.form(c.platform.attacker().sign(&c.valid()))),
        expect: INVALID_GRANT,
    },
    // WIF-AS-14: the audience.
    Probe {
        id: "WIF-AS-14",
        requirement: "an assertion whose aud is the AS issuer with a trailing slash is refused with 400 invalid_grant",
        what: "aud the issuer with a trailing slash",
        request: |c| grant(c, |u| set(u, "aud", json!(format!("{}/", c.as_issuer)))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-14",
        requirement: "an assertion whose aud is the token endpoint is refused with 400 invalid_grant",
        what: "aud the token endpoint",
        request: |c| grant(c, |u| set(u, "aud", json!(c.token_endpoint))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-14",
        requirement: "an assertion with a second audience is refused with 400 invalid_grant",
        what: "aud [the issuer, another]",
        request: |c| {
            grant(c, |u| {
                set(
                    u,
                    "aud",
                    json!([c.as_issuer, "https://conformance.invalid"]),
                );
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-14",
        requirement: "an assertion whose aud is a one-element array of the AS issuer is accepted",
        what: "aud [the issuer]",
        request: |c| grant(c, |u| set(u, "aud", json!([c.as_issuer]))),
        expect: Expect::Token,
    },
    // WIF-AS-15: times, around the entry's skew and maximum lifetime.
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion without exp is refused with 400 invalid_grant",
        what: "no exp",
        request: |c| grant(c, |u| drop(u.claims.remove("exp"))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion whose exp is more than the skew in the past is refused with 400 invalid_grant",
        what: "exp a minute beyond the skew in the past",
        request: |c| grant(c, |u| expired(c, u)),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion whose nbf is more than the skew in the future is refused with 400 invalid_grant",
        what: "nbf a minute beyond the skew in the future",
        request: |c| {
            grant(c, |u| {
                set(u, "nbf", json!(c.now + c.platform.clock_skew + 60));
                set(u, "exp", json!(c.now + c.platform.clock_skew + 360));
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion whose iat is more than the skew in the future is refused with 400 invalid_grant",
        what: "iat a minute beyond the skew in the future",
        request: |c| {
            grant(c, |u| {
                let iat = c.now + c.platform.clock_skew + 60;
                u.claims.remove("nbf");
                set(u, "iat", json!(iat));
                set(u, "exp", json!(iat + 300));
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion whose exp - iat is above max_assertion_lifetime is refused with 400 invalid_grant",
        what: "exp - iat a minute above the maximum lifetime",
        request: |c| {
            grant(c, |u| {
                set(
                    u,
                    "exp",
                    json!(c.now + c.platform.max_assertion_lifetime + 60),
                );
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion without iat whose exp - now is above max_assertion_lifetime plus the skew is refused with 400 invalid_grant",
        what: "no iat, exp a minute beyond the maximum lifetime plus the skew",
        request: |c| {
            grant(c, |u| {
                u.claims.remove("iat");
                u.claims.remove("nbf");
                let p = c.platform;
                set(
                    u,
                    "exp",
                    json!(c.now + p.max_assertion_lifetime + p.clock_skew + 60),
                );
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-15",
        requirement: "an assertion valid for exactly max_assertion_lifetime is accepted",
        what: "exp - iat the maximum lifetime",
        request: |c| {
            grant(c, |u| {
                set(u, "exp", json!(c.now + c.platform.max_assertion_lifetime));
            })
        },
        expect: Expect::Token,
    },
    // WIF-AS-16: sub.
    Probe {
        id: "WIF-AS-16",
        requirement: "an assertion without sub is refused with 400 invalid_grant",
        what: "no sub",
        request: |c| grant(c, |u| drop(u.claims.remove("sub"))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-16",
        requirement: "an assertion whose sub is the empty string is refused with 400 invalid_grant",
        what: "sub empty",
        request: |c| grant(c, |u| set(u, "sub", json!(""))),
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-16",
        requirement: "an assertion whose sub is not a string is refused with 400 invalid_grant",
        what: "sub a number",
        request: |c| grant(c, |u| set(u, "sub", json!(42))),
        expect: INVALID_GRANT,
    },
    // WIF-AS-19: the rules.
    Probe {
        id: "WIF-AS-19",
        requirement: "an assertion no workload rule accepts is refused with 400 unauthorized_client",
        what: "a subject no rule accepts",
        request: |c| grant(c, |u| no_rule(c, u)),
        expect: refused(&["unauthorized_client"]),
    },
    // WIF-AS-20: resource and scope.
    Probe {
        id: "WIF-AS-20",
        requirement: "a resource the AS does not know (so not the rule's) is refused with 400 invalid_target",
        what: "an unknown resource",
        request: |c| form(c, |_, f| with_resource(f, UNKNOWN_RESOURCE)),
        expect: INVALID_TARGET,
    },
    Probe {
        id: "WIF-AS-20",
        requirement: "a scope the resource does not define (so not the rule's) is refused with 400 invalid_scope",
        what: "a scope no resource defines",
        request: |c| form(c, |_, f| f.push(("scope", UNDEFINED_SCOPE.to_owned()))),
        expect: refused(&["invalid_scope"]),
    },
    // WIF-AS-23: two failures at once, the first of Section 7.3 reported.
    Probe {
        id: "WIF-AS-23",
        requirement: "resource repeated (step 1) and a client_id (step 3): 400 invalid_target",
        what: "resource twice and a client_id",
        request: |c| {
            form(c, |c, f| {
                f.push(("resource", c.resource.to_owned()));
                f.push(("client_id", "mcp-auth-conformance".to_owned()));
            })
        },
        expect: INVALID_TARGET,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "typ at+jwt (step 2) and a client_id (step 3): 400 invalid_grant",
        what: "typ at+jwt and a client_id",
        request: |c| {
            let mut r = grant(c, |u| set_header(u, "typ", json!("at+jwt")));
            r.form
                .push(("client_id", "mcp-auth-conformance".to_owned()));
            r
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "a client_id (step 3) and an expired assertion (step 9): 400 invalid_request",
        what: "a client_id and an expired assertion",
        request: |c| {
            let mut r = grant(c, |u| expired(c, u));
            r.form
                .push(("client_id", "mcp-auth-conformance".to_owned()));
            r
        },
        expect: INVALID_REQUEST,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "crit (step 5) and a subject no rule accepts (step 10): 400 invalid_grant",
        what: "crit and a subject no rule accepts",
        request: |c| {
            grant(c, |u| {
                set_header(u, "crit", json!(["mcp-auth-conformance"]));
                set_header(u, "mcp-auth-conformance", json!(true));
                no_rule(c, u);
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "an issuer no entry trusts (step 6) and an unknown resource (step 11): 400 invalid_grant",
        what: "an untrusted issuer and an unknown resource",
        request: |c| {
            let mut r = grant(c, |u| set(u, "iss", json!(c.platform.untrusted_issuer())));
            with_resource(&mut r.form, UNKNOWN_RESOURCE);
            r
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "an expired assertion (step 9) of a subject no rule accepts (step 10): 400 invalid_grant",
        what: "expired and a subject no rule accepts",
        request: |c| {
            grant(c, |u| {
                expired(c, u);
                no_rule(c, u);
            })
        },
        expect: INVALID_GRANT,
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "a subject no rule accepts (step 10) and an unknown resource (step 11): 400 unauthorized_client",
        what: "a subject no rule accepts and an unknown resource",
        request: |c| {
            let mut r = grant(c, |u| no_rule(c, u));
            with_resource(&mut r.form, UNKNOWN_RESOURCE);
            r
        },
        expect: refused(&["unauthorized_client"]),
    },
    Probe {
        id: "WIF-AS-23",
        requirement: "an unknown resource (step 11) and an undefined scope (step 12): 400 invalid_target",
        what: "an unknown resource and an undefined scope",
        request: |c| {
            form(c, |_, f| {
                with_resource(f, UNKNOWN_RESOURCE);
                f.push(("scope", UNDEFINED_SCOPE.to_owned()));
            })
        },
        expect: INVALID_TARGET,
    },
];
