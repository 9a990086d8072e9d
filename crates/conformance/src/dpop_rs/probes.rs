//! The table of proof probes: each one change to the proof of a request the server
//! accepted, and the answer profiles/dpop.md §9.2 requires for it, in the order of
//! the profile's proof check (§5.1, RFC 9449 §4.3). The token, scheme and nonce
//! probes are in `token_probes.rs`.

use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use super::{Expect, Fixture, Probe, Sent};
use crate::dpop_proof::{self, ProofKey};
use crate::mint::with_broken_signature;

const BAD_PROOF: Expect = Expect::Refuse("invalid_dpop_proof");

/// A probe of DPOP-RS-3 whose request is the valid one with the proof changed.
macro_rules! proof_probe {
    ($requirement:expr, $expect:expr, |$fx:ident| $make:expr) => {
        Probe {
            id: "DPOP-RS-3",
            requirement: $requirement,
            needs_nonce: false,
            make: |$fx| Ok($make),
            expect: $expect,
        }
    };
}

/// The endpoint parsed, for the `htu` variants.
fn endpoint(fx: &Fixture<'_>) -> Result<url::Url, String> {
    url::Url::parse(fx.url()).map_err(|e| format!("the endpoint is not a URL: {e}"))
}

/// The scheme, host and port of the endpoint as written, and its path.
fn parts(fx: &Fixture<'_>) -> Result<(String, String, String, String), String> {
    let u = endpoint(fx)?;
    let host = u.host_str().ok_or("the endpoint has no host")?.to_owned();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok((u.scheme().to_owned(), host, port, u.path().to_owned()))
}

/// The valid claims as JSON text with `member` written once more before the others
/// (so a parser keeping the last one sees the valid value).
fn with_member_first(object: &Value, member: &str) -> String {
    let text = object.to_string();
    format!("{{{member},{}", text.strip_prefix('{').unwrap_or(&text))
}

/// Every proof probe, in order.
pub(super) static PROOF_PROBES: &[Probe] = &[
    // Step 1: exactly one DPoP field.
    Probe {
        id: "DPOP-RS-3",
        requirement: "DPoP token without a DPoP proof field: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let mut s = fx.with_proof(String::new());
            s.proofs.clear();
            Ok(s)
        },
        expect: BAD_PROOF,
    },
    proof_probe!(
        "two DPoP fields, each a valid proof: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| {
            let mut s = fx.with_proof(fx.valid_proof());
            s.proofs.push(fx.valid_proof());
            s
        }
    ),
    // Step 2: one well-formed JWT (at most 8 KiB, no member repeated: profile §5.1).
    proof_probe!(
        "an empty DPoP field: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof(String::new())
    ),
    proof_probe!(
        "a DPoP field that is not a JWT: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof("bm90LWEtand0".into())
    ),
    proof_probe!(
        "a proof of two parts (header.claims, no signature): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof(dpop_proof::signing_input(&fx.proof()))
    ),
    proof_probe!(
        "a valid proof padded past 8 KiB with an extra claim: 401 invalid_dpop_proof (profile §5.1 step 2)",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert("pad".into(), json!("x".repeat(9 * 1024)));
        })
    ),
    proof_probe!(
        "claims with htm twice (GET, then the valid POST): 401 invalid_dpop_proof (profile §5.1 step 2)",
        BAD_PROOF,
        |fx| {
            let p = fx.proof();
            let header = Value::Object(p.header.clone()).to_string();
            let claims = with_member_first(&Value::Object(p.claims), r#""htm":"GET""#);
            fx.with_proof(
                fx.key
                    .sign_input(&dpop_proof::encoded_input(&header, &claims)),
            )
        }
    ),
    proof_probe!(
        "a header with typ twice (JWT, then the valid dpop+jwt): 401 invalid_dpop_proof (profile §5.1 step 2)",
        BAD_PROOF,
        |fx| {
            let p = fx.proof();
            let header = with_member_first(&Value::Object(p.header), r#""typ":"JWT""#);
            let claims = Value::Object(p.claims).to_string();
            fx.with_proof(
                fx.key
                    .sign_input(&dpop_proof::encoded_input(&header, &claims)),
            )
        }
    ),
    // Steps 3 and 4: the required members, with their types; typ.
    proof_probe!(
        "a proof without typ: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.header.remove("typ");
        })
    ),
    proof_probe!(
        "a proof with typ JWT: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.header.insert("typ".into(), json!("JWT"));
        })
    ),
    // Step 5: alg asymmetric, not none, accepted.
    proof_probe!(
        "an unsecured proof (alg none, empty signature): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof(dpop_proof::unsecured(&fx.proof()))
    ),
    proof_probe!(
        "a proof MACed with HS256 under an oct key in its jwk: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof(dpop_proof::hmac_with_jwk_secret(&fx.proof()))
    ),
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose alg is an asymmetric one the DPoP challenge does not offer (ES512, RS512, ...): 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let alg = ["ES512", "RS512", "PS512", "ES384", "RS384"]
                .into_iter()
                .find(|a| !fx.offers(a))
                .ok_or("the server offers every asymmetric alg the checker tries")?;
            Ok(fx.changed(|p| {
                p.header.insert("alg".into(), json!(alg));
            }))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof signed by an Ed25519 key with alg ES256 (the key type chosen by the jwk, not alg): 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let ed = ProofKey::generate(JwsAlgorithm::EdDsa).ok_or("no Ed25519 key")?;
            let token = fx.token_with_cnf(Some(json!({"jkt": ed.jkt()})));
            let mut p = ed.claims(
                "POST",
                fx.url(),
                Some(&token),
                fx.nonce.as_deref(),
                super::now(),
            );
            p.header.insert("alg".into(), json!("ES256"));
            let mut s = fx.with_proof(ed.sign(&p));
            s.authorization = Some(format!("DPoP {token}"));
            Ok(s)
        },
        expect: BAD_PROOF,
    },
    // Steps 6 and 7: the jwk, public only, verifying the signature.
    proof_probe!(
        "a proof without jwk: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.header.remove("jwk");
        })
    ),
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose jwk carries the private key (d): 401 invalid_dpop_proof",
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
        expect: BAD_PROOF,
    },
    proof_probe!(
        "a proof whose signature does not verify (one character changed): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.with_proof(with_broken_signature(&fx.valid_proof()))
    ),
    Probe {
        id: "DPOP-RS-3",
        requirement: "an ES256 proof whose signature is DER-encoded, not R || S (RFC 7518 §3.4): 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let der = dpop_proof::with_der_signature(&fx.valid_proof())
                .ok_or("the ES256 signature is not 64 bytes")?;
            Ok(fx.with_proof(der))
        },
        expect: BAD_PROOF,
    },
    proof_probe!(
        "a proof whose jwk is a string, not a JSON object (profile §5.1 step 3): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            let text = fx.key.public_jwk().to_string();
            p.header.insert("jwk".into(), json!(text));
        })
    ),
    proof_probe!(
        "a proof whose header marks an unknown extension critical (crit, RFC 7515 §4.1.11: the JWS is invalid): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.header
                .insert("crit".into(), json!(["conformance-unknown"]));
            p.header.insert("conformance-unknown".into(), json!(true));
        })
    ),
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose jwk is another key than the one that signed: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let other = ProofKey::generate(JwsAlgorithm::Es256).ok_or("no ES256 key")?;
            Ok(fx.changed(|p| {
                p.header.insert("jwk".into(), other.public_jwk().clone());
            }))
        },
        expect: BAD_PROOF,
    },
    // Step 8: htm.
    proof_probe!(
        "a proof with htm GET on a POST: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert("htm".into(), json!("GET"));
        })
    ),
    proof_probe!(
        "a proof with htm post (methods are case-sensitive, RFC 9110 §9.1): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert("htm".into(), json!("post"));
        })
    ),
    proof_probe!(
        "a proof without htm: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.remove("htm");
        })
    ),
    // Step 9: htu, after normalization, query and fragment ignored.
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu has another path: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, _) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://{host}{port}/another-path")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu adds a trailing slash to the path: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let path = match path.strip_suffix('/') {
                Some(p) if !p.is_empty() => p.to_owned(),
                _ => format!("{path}/"),
            };
            Ok(fx.htu(format!("{scheme}://{host}{port}{path}")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu names another host: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, _, port, path) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://another-host.example{port}{path}")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu has the other scheme (http/https): 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let other = if scheme == "https" { "http" } else { "https" };
            Ok(fx.htu(format!("{other}://{host}{port}{path}")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu names another port: 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let u = endpoint(fx)?;
            let port = u
                .port_or_known_default()
                .ok_or("the endpoint has no port")?;
            let (scheme, host, _, path) = parts(fx)?;
            let other = if port == 1 { 2 } else { port - 1 };
            Ok(fx.htu(format!("{scheme}://{host}:{other}{path}")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu has the path in upper case (paths are case-sensitive, RFC 3986 §6.2.2.1): 401 invalid_dpop_proof",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let upper = path.to_ascii_uppercase();
            if upper == path {
                return Err("the endpoint's path has no lower-case letter".into());
            }
            Ok(fx.htu(format!("{scheme}://{host}{port}{upper}")))
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "Host: another-host.example and a proof for that host: 401 invalid_dpop_proof (profile §5.1 step 9: htu is checked against the configured URL, never Host)",
        needs_nonce: false,
        make: |fx| {
            let (scheme, _, port, path) = parts(fx)?;
            let host = format!("another-host.example{port}");
            let mut s = fx.htu(format!("{scheme}://{host}{path}"));
            s.headers.push(("host", host));
            Ok(s)
        },
        expect: BAD_PROOF,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "X-Forwarded-Host/-Proto naming another origin and a proof for it: 401 invalid_dpop_proof (profile §5.1 step 9: never X-Forwarded-*)",
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
        expect: BAD_PROOF,
    },
    proof_probe!(
        "a proof without htu: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.remove("htu");
        })
    ),
    proof_probe!(
        "a proof whose htu adds a query (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| fx.htu(format!("{}?conformance=1", fx.url()))
    ),
    proof_probe!(
        "a proof whose htu adds a fragment (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| fx.htu(format!("{}#conformance", fx.url()))
    ),
    proof_probe!(
        "a request with a query, its proof's htu without (ignored, RFC 9449 §4.3 step 9): accepted",
        Expect::Accept,
        |fx| {
            let mut s = fx.with_proof(fx.valid_proof());
            s.url = format!("{}?conformance=1", fx.url());
            s
        }
    ),
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu has the scheme and host in upper case (RFC 3986 §6.2.2.1, required by profile §5.1 step 9): accepted",
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
        id: "DPOP-RS-3",
        requirement: "a proof whose htu has a dot segment (/a/../path, RFC 3986 §6.2.2.3, required by profile §5.1 step 9): accepted",
        needs_nonce: false,
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(fx.htu(format!("{scheme}://{host}{port}/a/..{path}")))
        },
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu percent-encodes an unreserved path character, upper-case hex (RFC 3986 §6.2.2.2, required by profile §5.1 step 9): accepted",
        needs_nonce: false,
        make: |fx| percent_encoded(fx, false),
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof whose htu percent-encodes an unreserved path character, lower-case hex (RFC 3986 §6.2.2.1-2, required by profile §5.1 step 9): accepted",
        needs_nonce: false,
        make: |fx| percent_encoded(fx, true),
        expect: Expect::Accept,
    },
    // Step 11: iat within the window (the profile's default is 60 s; an hour is out
    // of any window a server should keep, RFC 9449 §11.1).
    proof_probe!(
        "a proof made an hour ago (iat): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert("iat".into(), json!(super::now() - 3600));
        })
    ),
    proof_probe!(
        "a proof dated an hour ahead (iat): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert("iat".into(), json!(super::now() + 3600));
        })
    ),
    proof_probe!(
        "a proof without iat: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.remove("iat");
        })
    ),
    proof_probe!(
        "a proof whose iat is a string, not a number: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims
                .insert("iat".into(), json!(super::now().to_string()));
        })
    ),
    proof_probe!(
        "a proof without jti: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.remove("jti");
        })
    ),
    // Step 12: ath.
    proof_probe!(
        "a proof without ath: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.remove("ath");
        })
    ),
    proof_probe!(
        "a proof whose ath is the hash of another token: 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims
                .insert("ath".into(), json!(dpop_proof::ath("another-access-token")));
        })
    ),
    proof_probe!(
        "a proof whose ath is the right hash with base64 padding (=, not base64url as RFC 7515 §2 defines it): 401 invalid_dpop_proof",
        BAD_PROOF,
        |fx| fx.changed(|p| {
            p.claims.insert(
                "ath".into(),
                json!(format!("{}=", dpop_proof::ath(&fx.signed))),
            );
        })
    ),
    proof_probe!(
        "a proof whose jwk also has kid, alg and use (outside the RFC 7638 thumbprint): accepted",
        Expect::Accept,
        |fx| fx.changed(|p| {
            let mut jwk = fx.key.public_jwk().clone();
            jwk["kid"] = json!("conformance");
            jwk["alg"] = json!(fx.key.alg());
            jwk["use"] = json!("sig");
            p.header.insert("jwk".into(), jwk);
        })
    ),
    // Other proof algorithms the server offers, each accepted.
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof signed with EdDSA (Ed25519 key), when the challenge offers it: accepted",
        needs_nonce: false,
        make: |fx| other_alg(fx, JwsAlgorithm::EdDsa),
        expect: Expect::Accept,
    },
    Probe {
        id: "DPOP-RS-3",
        requirement: "a proof signed with Ed25519 (RFC 9864 name), when the challenge offers it: accepted",
        needs_nonce: false,
        make: |fx| other_alg(fx, JwsAlgorithm::Ed25519),
        expect: Expect::Accept,
    },
];

/// A token bound to a new key of `alg`, with a valid proof by it; not applicable
/// when the challenge does not offer `alg`.
fn other_alg(fx: &Fixture<'_>, alg: JwsAlgorithm) -> Result<Sent, String> {
    if !fx.offers(alg.name()) {
        return Err(format!(
            "the DPoP challenge does not offer {} (algs: {})",
            alg.name(),
            fx.algs.join(" ")
        ));
    }
    let key = ProofKey::generate(alg).ok_or("no key could be generated")?;
    Ok(fx.bound_to(&key))
}

/// The valid proof with the first unreserved character of the `htu` path
/// percent-encoded, in upper- or lower-case hex: the same URI after RFC 3986
/// §6.2.2.1 and §6.2.2.2 normalization.
fn percent_encoded(fx: &Fixture<'_>, lower_hex: bool) -> Result<Sent, String> {
    let (scheme, host, port, path) = parts(fx)?;
    let at = path
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .ok_or("the endpoint's path has no unreserved character to encode")?;
    let (head, tail) = path.split_at(at);
    let mut chars = tail.chars();
    let c = chars.next().map(u32::from).unwrap_or_default();
    let encoded = if lower_hex {
        format!("%{c:02x}")
    } else {
        format!("%{c:02X}")
    };
    Ok(fx.htu(format!(
        "{scheme}://{host}{port}{head}{encoded}{}",
        chars.as_str()
    )))
}
