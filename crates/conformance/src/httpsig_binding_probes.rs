//! The probes of what a signature binds, in the same table form as
//! [`crate::httpsig_probes`]: the body (`Content-Digest`, HTTPSIG-RS-12), the
//! JSON-RPC operation (`Mcp-Method`, `Mcp-Name`, HTTPSIG-RS-14), and the token and
//! its key (HTTPSIG-RS-2 to -5), then the order of the steps (HTTPSIG-RS-16).

use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::json;

use crate::httpsig_answer::Expect;
use crate::httpsig_probes::{Probe, keep, now, probe, stranger, tool_call};
use crate::httpsig_request::{Draft, Op, Presenter, TOOL, byte_sequence, htsk, sha256_digest};
use crate::mint::with_broken_signature;

/// The URI a `resources/read` names.
const RESOURCE: &str = "file:///mcp-auth-conformance/probe.txt";

/// A URI that SEP-2243 sends base64-encoded (profile §9.2).
const UNICODE_RESOURCE: &str = "file:///docs/résumé.md";
/// An `Mcp-Param-*` field no tool declares (HTTPSIG-RS-17's probes).
const PARAM_HEADER: &str = "mcp-param-mcp-auth-conformance";

/// Makes `d` the JSON-RPC request `method` with `params` (`id` 1), with its
/// `Content-Digest`, `Mcp-Method` and `Mcp-Name: name` (the signature already
/// covers `mcp-name`: a tools/call draft).
fn operation(d: &mut Draft, method: &str, params: serde_json::Value, name: &str) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    d.set_body(body.to_string(), true);
    d.set_header("mcp-method", method);
    d.set_header("mcp-name", name);
}

/// Binds the request to a new key of `alg`: a token whose `cnf` is `htsk` (or,
/// with `jws`, a `jwk` with that `alg`, profile §8.2), signed with that key. If no
/// key can be made, the request carries no usable token, so the probe fails
/// visibly instead of passing for the wrong reason.
fn rebind(d: &mut Draft, p: &Presenter<'_>, alg: Algorithm, jws: Option<JwsAlgorithm>) {
    let Ok(key) = SigningKey::generate(alg) else {
        d.set_header("authorization", "HTTPSig no-key-could-be-generated");
        return;
    };
    let cnf = match jws {
        None => htsk(&key, alg),
        Some(jws) => {
            let mut jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap_or_default();
            jwk["alg"] = json!(jws.name());
            if let Some(o) = jwk.as_object_mut() {
                o.remove("kid");
                o.remove("use");
            }
            json!({"jwk": jwk})
        }
    };
    let token = p.token_with(|t| {
        t.claims.insert("cnf".into(), cnf);
    });
    d.set_header("authorization", format!("HTTPSig {token}"));
    d.sig().key = Some((key, jws.map_or(alg, Algorithm::Jws)));
}

/// The probes of the body, the operation and the token, in the order of the
/// requirements.
pub static BINDING_PROBES: &[Probe] = &[
    // HTTPSIG-RS-12 (profile §10 step 3, RFC 9530).
    probe(
        "HTTPSIG-RS-12",
        "the body changed after signing, Content-Digest kept: 401 invalid_signature",
        keep,
        |d, _| {
            d.body = tool_call(&format!("{TOOL}_other"));
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-12",
        "Content-Digest with only sha-384 (correct, covered): 401 invalid_signature",
        |d, _| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &d.body);
            d.set_header(
                "content-digest",
                format!("sha-384={}", byte_sequence(digest.as_ref())),
            );
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-12",
        "Content-Digest with a correct sha-256 and a wrong sha-512: 401 invalid_signature",
        |d, _| {
            let value = format!(
                "{}, sha-512={}",
                sha256_digest(&d.body),
                byte_sequence(&[0u8; 64])
            );
            d.set_header("content-digest", value);
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-12",
        "Content-Digest that does not parse (covered): 401 invalid_signature",
        |d, _| d.set_header("content-digest", "sha-256=not-bytes"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-12",
        "no Content-Digest, not covered: 401 invalid_signature",
        |d, _| {
            d.sig().uncover("content-digest");
            d.remove_header("content-digest");
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-12",
        "Content-Digest with only a correct sha-512: accepted",
        |d, _| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &d.body);
            d.set_header(
                "content-digest",
                format!("sha-512={}", byte_sequence(digest.as_ref())),
            );
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-12",
        "Content-Digest with an unknown member beside a correct sha-256: accepted (ignored)",
        |d, _| {
            let value = format!(
                "sha-384={}, {}",
                byte_sequence(&[0u8; 48]),
                sha256_digest(&d.body)
            );
            d.set_header("content-digest", value);
        },
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-7 for the other two methods with a name (profile §9.3).
    probe(
        "HTTPSIG-RS-7",
        "a prompts/get whose signature does not cover \"mcp-name\" (header sent): 401 invalid_signature",
        |d, _| {
            operation(d, "prompts/get", json!({"name": TOOL}), TOOL);
            d.sig().uncover("mcp-name");
        },
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-7",
        "a resources/read whose signature does not cover \"mcp-name\" (header sent): 401 invalid_signature",
        |d, _| {
            operation(d, "resources/read", json!({"uri": RESOURCE}), RESOURCE);
            d.sig().uncover("mcp-name");
        },
        keep,
        Expect::InvalidSignature,
    ),
    // HTTPSIG-RS-17 (profile §9.3): the SEP-2243 custom headers are covered. The
    // probe's header is one no tool declares, so the server does not compare it with
    // the body (an intermediary forwards what it does not recognize).
    probe(
        "HTTPSIG-RS-17",
        "a tools/call with an Mcp-Param-* header the signature covers: accepted",
        |d, _| {
            d.set_header(PARAM_HEADER, "probe");
            d.sig().cover(PARAM_HEADER);
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-17",
        "a tools/call with an Mcp-Param-* header the signature does not cover: 401 invalid_signature",
        |d, _| d.set_header(PARAM_HEADER, "probe"),
        keep,
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-17",
        "an Mcp-Param-* header added after signing (a captured request, rerouted): 401 invalid_signature",
        keep,
        |d, _| d.set_header(PARAM_HEADER, "eu-north1"),
        Expect::InvalidSignature,
    ),
    // HTTPSIG-RS-14 (profile §10 step 5, SEP-2243).
    probe(
        "HTTPSIG-RS-14",
        "a captured tools/call replayed as another tool (body, Mcp-Name and digest changed): 401 invalid_signature",
        keep,
        |d, _| {
            let other = format!("{TOOL}_other");
            d.set_body(tool_call(&other), true);
            d.set_header("mcp-name", other);
        },
        Expect::InvalidSignature,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Name naming another tool than the body, signed: 400 -32020",
        |d, _| d.set_header("mcp-name", format!("{TOOL}_other")),
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Method tools/list on a tools/call body, signed: 400 -32020",
        |d, _| d.set_header("mcp-method", "tools/list"),
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Method in another letter case (Tools/Call), signed: 400 -32020",
        |d, _| d.set_header("mcp-method", "Tools/Call"),
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Name twice (two field lines), signed: 400 -32020",
        |d, _| d.append_header("mcp-name", TOOL),
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Name =?base64?...?= that does not decode, signed: 400 -32020",
        |d, _| d.set_header("mcp-name", "=?base64?!!not-base64!!?="),
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Name =?base64?...?= of the tool's name without its = padding, signed: 400 -32020",
        |d, _| {
            use base64::Engine as _;
            // 26 octets: standard base64 ends with one `=`, which is left out.
            let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(TOOL);
            d.set_header("mcp-name", format!("=?base64?{unpadded}?="));
        },
        keep,
        Expect::HeaderMismatch,
    ),
    probe(
        "HTTPSIG-RS-14",
        "a resources/read of a non-ASCII URI, Mcp-Name =?base64?...?= of its UTF-8: accepted",
        |d, _| {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(UNICODE_RESOURCE);
            let header = format!("=?base64?{encoded}?=");
            operation(
                d,
                "resources/read",
                json!({"uri": UNICODE_RESOURCE}),
                &header,
            );
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-14",
        "Mcp-Name as =?base64?...?= of the tool's name, signed: accepted (decoded before comparing)",
        |d, _| {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(TOOL);
            d.set_header("mcp-name", format!("=?base64?{encoded}?="));
        },
        keep,
        Expect::Accepted,
    ),
    Probe {
        id: "HTTPSIG-RS-14",
        requirement: "Mcp-Name on a method without a name (the probe request), signed: 400 -32020",
        op: Op::Probe,
        before: |d, _| {
            d.append_header("mcp-name", TOOL);
            d.sig().cover("mcp-name");
        },
        after: keep,
        expect: Expect::HeaderMismatch,
    },
    probe(
        "HTTPSIG-RS-14",
        "a JSON-RPC batch (an array of one tools/call), signed: 400 -32020",
        |d, _| {
            let batch = format!("[{}]", String::from_utf8_lossy(&tool_call(TOOL)));
            d.set_body(batch, true);
        },
        keep,
        Expect::HeaderMismatch,
    ),
    // HTTPSIG-RS-5 (profile §10 step 1): no downgrade of a bound token.
    probe(
        "HTTPSIG-RS-5",
        "the bound token as Bearer, the signature covering it: 401 invalid_token",
        |d, p| d.set_header("authorization", format!("Bearer {}", p.token)),
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-5",
        "the bound token as Bearer, no signature: 401 invalid_token",
        |d, p| d.set_header("authorization", format!("Bearer {}", p.token)),
        |d, _| {
            d.remove_header("signature-input");
            d.remove_header("signature");
        },
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-5",
        "the bound token under the DPoP scheme, signed: 401 invalid_token",
        |d, p| d.set_header("authorization", format!("DPoP {}", p.token)),
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-3",
        "Authorization twice (two HTTPSig field lines, both covered): 401 invalid_token",
        |d, p| d.append_header("authorization", format!("HTTPSig {}", p.token)),
        keep,
        Expect::InvalidToken,
    ),
    // HTTPSIG-RS-4 (profile §8.2, §10 step 1): the key and algorithm come from cnf.
    probe(
        "HTTPSIG-RS-4",
        "a token without cnf under HTTPSig, signed: 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                t.claims.remove("cnf");
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token whose cnf has both htsk and jwk: 401 invalid_token",
        |d, p| {
            let jwk = serde_json::to_value(p.key.verifying_key().to_jwk()).unwrap_or_default();
            let token = p.token_with(|t| {
                t.claims["cnf"]["jwk"] = jwk;
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.htsk with alg hmac-sha256: 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                t.claims["cnf"]["htsk"]["alg"] = json!("hmac-sha256");
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.htsk with a pub of 31 octets: 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                use base64::Engine as _;
                let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 31]);
                t.claims["cnf"]["htsk"]["pub"] = json!(short);
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.jwk with alg EdDSA (not fully specified): 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                let mut jwk =
                    serde_json::to_value(p.key.verifying_key().to_jwk()).unwrap_or_default();
                jwk["alg"] = json!("EdDSA");
                t.claims.insert("cnf".into(), json!({"jwk": jwk}));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.jwk (Ed25519, alg Ed25519), signed with that key: accepted",
        |d, p| {
            let token = p.token_with(|t| {
                let mut jwk =
                    serde_json::to_value(p.key.verifying_key().to_jwk()).unwrap_or_default();
                jwk["alg"] = json!("Ed25519");
                if let Some(o) = jwk.as_object_mut() {
                    o.remove("kid");
                    o.remove("use");
                }
                t.claims.insert("cnf".into(), json!({"jwk": jwk}));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.htsk ecdsa-p256-sha256, signed with that P-256 key: accepted",
        |d, p| rebind(d, p, Algorithm::EcdsaP256Sha256, None),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.htsk ecdsa-p384-sha384, signed with that P-384 key: accepted",
        |d, p| rebind(d, p, Algorithm::EcdsaP384Sha384, None),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-4",
        "a token bound by cnf.jwk (EC P-256, alg ES256), signed with ES256 (r||s): accepted",
        |d, p| rebind(d, p, Algorithm::EcdsaP256Sha256, Some(JwsAlgorithm::Es256)),
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-3 (RFC 9068 §4): the token itself.
    probe(
        "HTTPSIG-RS-3",
        "an expired bound token, validly signed: 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                t.claims.insert("iat".into(), json!(now() - 900));
                t.claims.insert("exp".into(), json!(now() - 600));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-3",
        "a bound token for another resource (aud), validly signed: 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                t.claims
                    .insert("aud".into(), json!("https://another-resource.example/mcp"));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-3",
        "a bound token whose JWT signature does not verify: 401 invalid_token",
        |d, p| {
            d.set_header(
                "authorization",
                format!("HTTPSig {}", with_broken_signature(&p.token)),
            )
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-3",
        "a bound token with typ JWT (not an access token): 401 invalid_token",
        |d, p| {
            let token = p.token_with(|t| {
                t.header.insert("typ".into(), json!("JWT"));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
        },
        keep,
        Expect::InvalidToken,
    ),
    // HTTPSIG-RS-2 (draft §7): the scheme in any letter case, signed as sent.
    probe(
        "HTTPSIG-RS-2",
        "the scheme written httpsig, signed as sent: accepted",
        |d, p| d.set_header("authorization", format!("httpsig {}", p.token)),
        keep,
        Expect::Accepted,
    ),
    probe(
        "HTTPSIG-RS-2",
        "the scheme written HTTPSIG, signed as sent: accepted",
        |d, p| d.set_header("authorization", format!("HTTPSIG {}", p.token)),
        keep,
        Expect::Accepted,
    ),
    // HTTPSIG-RS-16 (profile §10): the first failure in the order of the steps.
    probe(
        "HTTPSIG-RS-16",
        "an expired token and a signature by another key: 401 invalid_token (step 1 before 2)",
        |d, p| {
            let token = p.token_with(|t| {
                t.claims.insert("iat".into(), json!(now() - 900));
                t.claims.insert("exp".into(), json!(now() - 600));
            });
            d.set_header("authorization", format!("HTTPSig {token}"));
            d.sig().key = stranger();
        },
        keep,
        Expect::InvalidToken,
    ),
    probe(
        "HTTPSIG-RS-16",
        "Mcp-Name naming another tool and a signature by another key: 401 invalid_signature (step 2 before 5)",
        |d, _| {
            d.set_header("mcp-name", format!("{TOOL}_other"));
            d.sig().key = stranger();
        },
        keep,
        Expect::InvalidSignature,
    ),
];
