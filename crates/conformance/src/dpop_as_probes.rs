//! The table of DPoP proof probes at the token endpoint (DPOP-AS-3, -4; profiles/dpop.md
//! §5.1 steps 1 to 11 and §9.1, RFC 9449 §4.3): each one change to the proof of a
//! client credentials request the AS accepted, and the answer the profile requires.
//! There is no `ath` at the token endpoint (RFC 9449 §4.2: only with an access token).

use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use crate::dpop_as::{Fixture, now};
use crate::dpop_proof::{self, ProofKey};
use crate::mint::with_broken_signature;

/// What a probe must get.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// 400 with this `error` and no token (profiles/dpop.md §9.1).
    Refuse(&'static str),
    /// 400 `use_dpop_nonce` with exactly one `DPoP-Nonce` field, no token (RFC 9449 §8).
    Nonce,
    /// 200 with a DPoP token.
    Accept,
}

/// What a probe sends: the proofs of the `DPoP` field, in order (several are joined
/// with commas in one field line, RFC 9110 §5.3), and other header fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sent {
    /// Each proof of the `DPoP` field.
    pub(crate) proofs: Vec<String>,
    /// Other fields (lower-case names).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Sent {
    /// One `DPoP` field with `proof`.
    pub(crate) fn proof(proof: String) -> Self {
        Self {
            proofs: vec![proof],
            headers: Vec::new(),
        }
    }
}

/// One probe: the requirement, what it sends, what it must get.
pub(crate) struct Probe {
    /// The requirement's identifier.
    pub(crate) id: &'static str,
    /// What it sends and must get, in one line.
    pub(crate) requirement: &'static str,
    /// Applies only when the AS asks for nonces.
    pub(crate) needs_nonce: bool,
    /// The request, or why it cannot be made.
    pub(crate) make: for<'f, 't> fn(&'f Fixture<'t>) -> Result<Sent, String>,
    /// The answer it must get.
    pub(crate) expect: Expect,
}

const BAD: Expect = Expect::Refuse("invalid_dpop_proof");

/// A DPOP-AS-3 probe, the valid proof changed by `$make`.
macro_rules! probe {
    ($requirement:expr, $expect:expr, |$fx:ident| $make:expr) => {
        Probe {
            id: "DPOP-AS-3",
            requirement: $requirement,
            needs_nonce: false,
            make: |$fx| Ok($make),
            expect: $expect,
        }
    };
}

/// The endpoint's scheme, host, `:port` (as written, or empty) and path.
fn parts(fx: &Fixture<'_>) -> Result<(String, String, String, String), String> {
    let u = url::Url::parse(&fx.endpoint).map_err(|e| format!("the token endpoint: {e}"))?;
    let host = u
        .host_str()
        .ok_or("the token endpoint has no host")?
        .to_owned();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok((u.scheme().to_owned(), host, port, u.path().to_owned()))
}

/// `object` as JSON text with `member` written once more first (a parser keeping the
/// last one sees the valid value).
fn with_member_first(object: &Value, member: &str) -> String {
    let text = object.to_string();
    format!("{{{member},{}", text.strip_prefix('{').unwrap_or(&text))
}

/// Every probe, in the order of the profile's check (§5.1).
pub(crate) static PROBES: &[Probe] = &[
    // Step 1: exactly one DPoP field.
    probe!(
        "two valid proofs in the DPoP field, comma-separated (two DPoP field lines to the AS, RFC 9110 §5.3): 400 invalid_dpop_proof (RFC 9449 §4.3 step 1)",
        BAD,
        |fx| Sent {
            proofs: vec![fx.valid_proof(), fx.valid_proof()],
            headers: Vec::new()
        }
    ),
    // Step 2: one well-formed JWT.
    probe!(
        "an empty DPoP field: 400 invalid_dpop_proof (RFC 9449 §4.3 step 2: the field value is one well-formed JWT)",
        BAD,
        |_fx| Sent::proof(String::new())
    ),
    probe!(
        "a DPoP field that is not a JWT: 400 invalid_dpop_proof",
        BAD,
        |_fx| Sent::proof("bm90LWEtand0".into())
    ),
    probe!(
        "a proof of two parts (header.claims, no signature): 400 invalid_dpop_proof",
        BAD,
        |fx| Sent::proof(dpop_proof::signing_input(&fx.proof()))
    ),
    probe!(
        "claims with htm twice (GET, then the valid POST): 400 invalid_dpop_proof (profile §5.1 step 2, a decision: RFC 7519 §4 also lets a parser keep the last member)",
        BAD,
        |fx| {
            let p = fx.proof();
            let header = Value::Object(p.header.clone()).to_string();
            let claims = with_member_first(&Value::Object(p.claims), r#""htm":"GET""#);
            Sent::proof(
                fx.key
                    .sign_input(&dpop_proof::encoded_input(&header, &claims)),
            )
        }
    ),
    probe!(
        "a header with typ twice (JWT, then the valid dpop+jwt): 400 invalid_dpop_proof (profile §5.1 step 2, a decision: RFC 7515 §4 also lets a parser keep the last member)",
        BAD,
        |fx| {
            let p = fx.proof();
            let header = with_member_first(&Value::Object(p.header), r#""typ":"JWT""#);
            let claims = Value::Object(p.claims).to_string();
            Sent::proof(
                fx.key
                    .sign_input(&dpop_proof::encoded_input(&header, &claims)),
            )
        }
    ),
    // Steps 3 and 4: the required members; typ.
    probe!("a proof without typ: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.header.remove("typ");
        })),
    probe!("a proof with typ JWT: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.header.insert("typ".into(), json!("JWT"));
        })),
    // Step 5: alg asymmetric, not none, accepted.
    probe!(
        "an unsecured proof (alg none, empty signature): 400 invalid_dpop_proof",
        BAD,
        |fx| Sent::proof(dpop_proof::unsecured(&fx.proof()))
    ),
    probe!(
        "a proof MACed with HS256 under an oct key in its jwk: 400 invalid_dpop_proof",
        BAD,
        |fx| Sent::proof(dpop_proof::hmac_with_jwk_secret(&fx.proof()))
    ),
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose alg is an asymmetric one the metadata does not list (ES512, RS512, ...): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let listed = fx
                .algs
                .as_ref()
                .ok_or("the metadata has no dpop_signing_alg_values_supported")?;
            let alg = ["ES512", "RS512", "PS512", "ES384", "RS384"]
                .into_iter()
                .find(|a| !listed.iter().any(|l| l == a))
                .ok_or("the metadata lists every asymmetric alg the checker tries")?;
            Ok(fx.changed(|p| {
                p.header.insert("alg".into(), json!(alg));
            }))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof signed by an Ed25519 key with alg ES256 (the key type chosen by the jwk, not alg): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let ed = ProofKey::generate(JwsAlgorithm::EdDsa).ok_or("no Ed25519 key")?;
            let mut p = ed.claims("POST", &fx.endpoint, None, fx.nonce.as_deref(), now());
            p.header.insert("alg".into(), json!("ES256"));
            Ok(Sent::proof(ed.sign(&p)))
        },
        expect: BAD,
    },
    // Steps 6 and 7: the jwk, public only, verifying the signature.
    probe!("a proof without jwk: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.header.remove("jwk");
        })),
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose jwk carries the private key (d): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let private = fx
                .key
                .private_jwk()
                .ok_or("the private JWK cannot be written")?;
            Ok(fx.changed(|p| {
                p.header.insert("jwk".into(), private);
            }))
        },
        expect: BAD,
    },
    probe!(
        "a proof whose signature does not verify (one character changed): 400 invalid_dpop_proof",
        BAD,
        |fx| Sent::proof(with_broken_signature(&fx.valid_proof()))
    ),
    Probe {
        id: "DPOP-AS-3",
        requirement: "an ES256 proof whose signature is DER-encoded, not R || S (RFC 7518 §3.4): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let der = dpop_proof::with_der_signature(&fx.valid_proof())
                .ok_or("the proof is not ES256 (the metadata does not list it)")?;
            Ok(Sent::proof(der))
        },
        expect: BAD,
    },
    probe!(
        "a proof whose jwk is a string, not a JSON object (profile §5.1 step 3): 400 invalid_dpop_proof",
        BAD,
        |fx| fx.changed(|p| {
            let text = fx.key.public_jwk().to_string();
            p.header.insert("jwk".into(), json!(text));
        })
    ),
    probe!(
        "a proof whose header marks an unknown extension critical (crit, RFC 7515 §4.1.11: the JWS is invalid): 400 invalid_dpop_proof",
        BAD,
        |fx| fx.changed(|p| {
            p.header
                .insert("crit".into(), json!(["conformance-unknown"]));
            p.header.insert("conformance-unknown".into(), json!(true));
        })
    ),
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose jwk is another key than the one that signed: 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let other = ProofKey::generate(JwsAlgorithm::Es256).ok_or("no ES256 key")?;
            Ok(fx.changed(|p| {
                p.header.insert("jwk".into(), other.public_jwk().clone());
            }))
        },
        expect: BAD,
    },
    // Step 8: htm.
    probe!(
        "a proof with htm GET on the POST: 400 invalid_dpop_proof",
        BAD,
        |fx| fx.changed(|p| {
            p.claims.insert("htm".into(), json!("GET"));
        })
    ),
    probe!(
        "a proof with htm post (methods are case-sensitive, RFC 9110 §9.1): 400 invalid_dpop_proof",
        BAD,
        |fx| fx.changed(|p| {
            p.claims.insert("htm".into(), json!("post"));
        })
    ),
    probe!("a proof without htm: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.claims.remove("htm");
        })),
    // Step 9: htu is the token endpoint as advertised.
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu has another path on the AS: 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, _) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://{host}{port}/another-path")))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu names another host: 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, _, port, path) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://another-host.example{port}{path}")))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu adds a trailing slash to the path (or drops it): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let path = match path.strip_suffix('/') {
                Some(p) if !p.is_empty() => p.to_owned(),
                _ => format!("{path}/"),
            };
            Ok(fx.htu(format!("{scheme}://{host}{port}{path}")))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu has the other scheme (http/https): 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let other = if scheme == "https" { "http" } else { "https" };
            Ok(fx.htu(format!("{other}://{host}{port}{path}")))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu names another port: 400 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let port = url::Url::parse(&fx.endpoint)
                .ok()
                .and_then(|u| u.port_or_known_default())
                .ok_or("the token endpoint has no port")?;
            let (scheme, host, _, path) = parts(fx)?;
            let other = if port == 1 { 2 } else { port - 1 };
            Ok(fx.htu(format!("{scheme}://{host}:{other}{path}")))
        },
        expect: BAD,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "X-Forwarded-Host/-Proto naming another origin and a proof for it: 400 invalid_dpop_proof (profile §5.1 step 9: never X-Forwarded-*)",
        needs_nonce: false,
        make: |fx| {
            let (scheme, _, _, path) = parts(fx)?;
            let other = if scheme == "https" { "http" } else { "https" };
            let mut s = fx.htu(format!("{other}://another-host.example{path}"));
            s.headers
                .push(("x-forwarded-host", "another-host.example".into()));
            s.headers.push(("x-forwarded-proto", other.into()));
            Ok(s)
        },
        expect: BAD,
    },
    probe!("a proof without htu: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.claims.remove("htu");
        })),
    probe!(
        "a proof whose htu adds a query (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| fx.htu(format!("{}?conformance=1", fx.endpoint))
    ),
    probe!(
        "a proof whose htu adds a fragment (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| fx.htu(format!("{}#conformance", fx.endpoint))
    ),
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu has the scheme and host in upper case (RFC 3986 §6.2.2.1, profile §5.1 step 9): accepted",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(fx.htu(format!(
                "{}://{}{port}{path}",
                scheme.to_ascii_uppercase(),
                host.to_ascii_uppercase()
            )))
        },
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-AS-3",
        requirement: "a proof whose htu has a dot segment (/a/../path, RFC 3986 §6.2.2.3, profile §5.1 step 9): accepted",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://{host}{port}/a/..{path}")))
        },
        expect: Expect::Accept,
    },
    // Step 10: nonces, when the AS requires them (DPOP-AS-4).
    Probe {
        id: "DPOP-AS-4",
        requirement: "nonces required: a proof without nonce gets 400 use_dpop_nonce and one DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(fx.changed(|p| {
                p.claims.remove("nonce");
            }))
        },
        expect: Expect::Nonce,
    },
    Probe {
        id: "DPOP-AS-4",
        requirement: "nonces required: a proof with a nonce the AS never issued gets 400 use_dpop_nonce and one DPoP-Nonce field",
        needs_nonce: true,
        make: |fx| {
            Ok(fx.changed(|p| {
                p.claims
                    .insert("nonce".into(), json!("conformance-not-a-nonce-of-yours"));
            }))
        },
        expect: Expect::Nonce,
    },
    // Step 11: iat within the window.
    probe!(
        "a proof made an hour ago (iat): 400 invalid_dpop_proof (profile §5.1 step 11; RFC 9449 §4.3 step 11 lets a server judge the time by its nonce instead)",
        BAD,
        |fx| fx.changed(|p| {
            p.claims.insert("iat".into(), json!(now() - 3600));
        })
    ),
    probe!(
        "a proof dated an hour ahead (iat): 400 invalid_dpop_proof (profile §5.1 step 11; RFC 9449 §4.3 step 11 lets a server judge the time by its nonce instead)",
        BAD,
        |fx| fx.changed(|p| {
            p.claims.insert("iat".into(), json!(now() + 3600));
        })
    ),
    probe!("a proof without iat: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.claims.remove("iat");
        })),
    probe!(
        "a proof whose iat is a string, not a number: 400 invalid_dpop_proof",
        BAD,
        |fx| fx.changed(|p| {
            p.claims.insert("iat".into(), json!(now().to_string()));
        })
    ),
    probe!("a proof without jti: 400 invalid_dpop_proof", BAD, |fx| fx
        .changed(|p| {
            p.claims.remove("jti");
        })),
];
