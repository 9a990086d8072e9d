//! The signed token requests of HTTPSIG-AS-4 to -12 and -15
//! (profiles/http-message-signatures.md §7, §8, §11.1): the valid ones, which must
//! get a bound token, and one table of requests changed in exactly one way, each of
//! which must get HTTP 400 with the `error` §7.7 names (`invalid_signature`, or
//! `invalid_request` for a client that registered a method and sent no
//! token-request signature) and no token.
//!
//! §7.7 does not order the signature checks against the OAuth checks of the grant,
//! so every probe uses the client credentials grant of a client that is allowed it:
//! the one thing changed is the only thing wrong.

use std::sync::Arc;

use mcp_auth_httpsig::Algorithm;

use crate::authorization_server::{AsTarget, SecretMethod};
use crate::check::{Check, Outcome};
use crate::httpsig_as::{
    Binding, RUNTIME_ALGS, Run, Signer, baseline, describe, draft, judge_refusal, no_client, send,
    sha512_digest, sign, valid,
};
use crate::httpsig_request::{Draft, byte_sequence, nonce, sha256_digest};

/// Which signing clients a probe applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    /// Every client.
    Any,
    /// A client presenting its secret in `Authorization` (client_secret_basic).
    Basic,
    /// A client whose requests carry runtime keys (registered `runtime`, or none).
    Runtime,
    /// A client that registered `preregistered`.
    Preregistered,
    /// A client that registered no method or `preregistered`: `keyid` is its way
    /// to name a key (§7.7 step 2).
    KeyidAllowed,
    /// A client that registered a method (HTTPSIG-AS-11).
    Registered,
}

impl Applies {
    /// Why the probe does not apply to a client with `binding` and `method`.
    fn skip(self, binding: Binding, method: SecretMethod) -> Option<&'static str> {
        match self {
            Self::Any => None,
            Self::Basic => (method != SecretMethod::Basic).then_some(
                "the signing client uses client_secret_post: the request has no Authorization header to cover",
            ),
            Self::Runtime => (binding == Binding::Preregistered)
                .then_some("the signing client registered preregistered keys: no runtime key"),
            Self::Preregistered => (binding != Binding::Preregistered)
                .then_some("needs a signing client that registered preregistered keys"),
            Self::KeyidAllowed => (binding == Binding::Runtime).then_some(
                "the signing client registered runtime: keyid is checked by the HTTPSIG-AS-9 probe",
            ),
            Self::Registered => (binding == Binding::Unregistered).then_some(
                "the signing client registered no httpsig_key_binding_method: an unsigned request may get an unbound token",
            ),
        }
    }
}

/// One token request changed in one way, and the refusal it must get.
struct Probe {
    id: &'static str,
    /// What the probe sends (the check's requirement line).
    what: &'static str,
    applies: Applies,
    /// The `error` code required (HTTP 400).
    error: &'static str,
    /// The change made before signing.
    before: fn(&mut Draft),
    /// The change made to the signed request on the wire.
    after: fn(&mut Draft),
    /// Sent twice, unchanged: the second must be refused (HTTPSIG-AS-8).
    replay: bool,
}

const SIG: &str = "invalid_signature";

fn none(_: &mut Draft) {}

fn param(d: &mut Draft, name: &str, value: String) {
    d.sig().set_param(name, value);
}

fn shift_created(d: &mut Draft, by: i64) {
    param(d, "created", (mcp_auth_core::unix_now() + by).to_string());
}

/// The refusal probes, in requirement order.
static PROBES: &[Probe] = &[
    Probe {
        id: "HTTPSIG-AS-4",
        what: "two signatures tagged httpsig-oauth-token-request (sig and sig2, both valid)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            let mut second = d.sig().clone();
            second.label = "sig2".into();
            second.set_param("nonce", format!("\"{}\"", nonce()));
            d.sigs.push(second);
        },
    },
    Probe {
        id: "HTTPSIG-AS-5",
        what: "a signature not covering @method",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().uncover("@method"),
    },
    Probe {
        id: "HTTPSIG-AS-5",
        what: "a signature not covering @target-uri",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().uncover("@target-uri"),
    },
    Probe {
        id: "HTTPSIG-AS-5",
        what: "a signature not covering content-digest",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().uncover("content-digest"),
    },
    Probe {
        id: "HTTPSIG-AS-5",
        what: "a client_secret_basic request whose signature does not cover authorization",
        applies: Applies::Basic,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().uncover("authorization"),
    },
    Probe {
        id: "HTTPSIG-AS-5",
        what: "content-digest covered as \"content-digest\";sf, not a plain identifier",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            d.sig().uncover("content-digest");
            d.sig().components.push("\"content-digest\";sf".into());
        },
    },
    Probe {
        id: "HTTPSIG-AS-6",
        what: "Content-Digest removed after signing",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        before: none,
        after: |d| d.remove_header("content-digest"),
    },
    Probe {
        id: "HTTPSIG-AS-6",
        what: "the body changed after signing (Content-Digest and signature of the original body)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        before: none,
        after: |d| d.body.extend_from_slice(b"&scope=mcp-auth-conformance"),
    },
    Probe {
        id: "HTTPSIG-AS-6",
        what: "Content-Digest with no sha-256 or sha-512 member (crc32c only), signed",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.set_header("content-digest", "crc32c=:AAAAAA==:"),
    },
    Probe {
        id: "HTTPSIG-AS-6",
        what: "Content-Digest with a matching sha-256 and a sha-512 of another body, signed",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            let value = format!(
                "{}, {}",
                sha256_digest(&d.body),
                sha512_digest(b"another body")
            );
            d.set_header("content-digest", value);
        },
    },
    Probe {
        id: "HTTPSIG-AS-7",
        what: "no created parameter",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().remove_param("created"),
    },
    Probe {
        id: "HTTPSIG-AS-7",
        what: "created 60 s in the past (max_age 30 s)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| shift_created(d, -60),
    },
    Probe {
        id: "HTTPSIG-AS-7",
        what: "created 60 s in the future (future_skew 5 s)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| shift_created(d, 60),
    },
    Probe {
        id: "HTTPSIG-AS-7",
        what: "expires 1 s before created",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "expires", (mcp_auth_core::unix_now() - 1).to_string()),
    },
    Probe {
        id: "HTTPSIG-AS-7",
        what: "created 20 s ago and expires 15 s ago (after created, more than future_skew past)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            shift_created(d, -20);
            param(d, "expires", (mcp_auth_core::unix_now() - 15).to_string());
        },
    },
    Probe {
        id: "HTTPSIG-AS-8",
        what: "no nonce parameter",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().remove_param("nonce"),
    },
    Probe {
        id: "HTTPSIG-AS-8",
        what: "a nonce of 15 base64url characters",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "nonce", format!("\"{}\"", &nonce()[..15])),
    },
    Probe {
        id: "HTTPSIG-AS-8",
        what: "a nonce of 129 base64url characters",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "nonce", format!("\"{}\"", "n".repeat(129))),
    },
    Probe {
        id: "HTTPSIG-AS-8",
        what: "a nonce of 22 characters with . and + (not base64url)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "nonce", format!("\"{}.+\"", &nonce()[..20])),
    },
    Probe {
        id: "HTTPSIG-AS-8",
        what: "the valid signed request sent twice: the second reuses (thumbprint, nonce)",
        applies: Applies::Any,
        error: SIG,
        replay: true,
        before: none,
        after: none,
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "a runtime key with a keyid parameter as well",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "keyid", "\"mcp-auth-conformance\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "a runtime key without alg",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().remove_param("alg"),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "a runtime key without pub",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| d.sig().remove_param("pub"),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "alg hmac-sha256 (not a runtime algorithm)",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "alg", "\"hmac-sha256\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "alg rsa-pss-sha512 (a registry algorithm without a pub encoding, §7.5)",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "alg", "\"rsa-pss-sha512\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "pub as a String, not a Byte Sequence",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "pub", "\"mcp-auth-conformance\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-9",
        what: "alg ecdsa-p256-sha256 with the 32-octet Ed25519 pub (not a P-256 point)",
        applies: Applies::Runtime,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "alg", "\"ecdsa-p256-sha256\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-10",
        what: "keyid naming no key of the client, without alg and pub",
        applies: Applies::KeyidAllowed,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            d.sig().remove_param("alg");
            d.sig().remove_param("pub");
            param(d, "keyid", "\"mcp-auth-conformance-no-such-key\"".into());
        },
    },
    Probe {
        id: "HTTPSIG-AS-10",
        what: "a pre-registered key's keyid with alg as well",
        applies: Applies::Preregistered,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "alg", "\"ed25519\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-10",
        what: "a pre-registered key's keyid with pub as well",
        applies: Applies::Preregistered,
        error: SIG,
        replay: false,
        after: none,
        before: |d| param(d, "pub", byte_sequence(&[7u8; 32])),
    },
    Probe {
        id: "HTTPSIG-AS-11",
        what: "no token-request signature from a client that registered a method",
        applies: Applies::Registered,
        error: "invalid_request",
        replay: false,
        before: none,
        after: |d| {
            d.remove_header("signature-input");
            d.remove_header("signature");
        },
    },
    Probe {
        id: "HTTPSIG-AS-11",
        what: "the signature tagged httpsig-oauth (a presentation's tag) from a client that registered a method",
        applies: Applies::Registered,
        error: "invalid_request",
        replay: false,
        after: none,
        before: |d| param(d, "tag", "\"httpsig-oauth\"".into()),
    },
    Probe {
        id: "HTTPSIG-AS-11",
        what: "a signature whose octets do not verify (64 zero octets)",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        before: none,
        after: |d| d.set_header("signature", format!("sig={}", byte_sequence(&[0u8; 64]))),
    },
    Probe {
        id: "HTTPSIG-AS-15",
        what: "@target-uri signed as the token endpoint's path on another origin",
        applies: Applies::Any,
        error: SIG,
        replay: false,
        after: none,
        before: |d| {
            let path = url::Url::parse(&d.target_uri)
                .map(|u| u.path().to_owned())
                .unwrap_or_default();
            d.target_uri = format!("https://other.example{path}");
        },
    },
];

/// The valid requests that must get a bound token.
struct Valid {
    id: &'static str,
    what: &'static str,
    /// A runtime algorithm to sign with, else the client's own key.
    alg: Option<Algorithm>,
    /// Signed with the client's pre-registered key.
    preregistered: bool,
    change: fn(&mut Draft),
}

static VALID: &[Valid] = &[
    Valid {
        id: "HTTPSIG-AS-4",
        what: "a valid token-request signature beside one tagged otherwise (ignored): a bound token, not Bearer",
        alg: None,
        preregistered: false,
        change: |d| {
            let mut other = d.sig().clone();
            other.label = "other".into();
            other.set_param("tag", "\"mcp-auth-conformance-other\"".to_owned());
            other.set_param("nonce", format!("\"{}\"", nonce()));
            d.sigs.push(other);
        },
    },
    Valid {
        id: "HTTPSIG-AS-5",
        what: "a signature covering content-type as well (extra components allowed)",
        alg: None,
        preregistered: false,
        change: |d| d.sig().cover("content-type"),
    },
    Valid {
        id: "HTTPSIG-AS-6",
        what: "Content-Digest with a sha-512 member only",
        alg: None,
        preregistered: false,
        change: |d| {
            let v = sha512_digest(&d.body);
            d.set_header("content-digest", v);
        },
    },
    Valid {
        id: "HTTPSIG-AS-12",
        what: "a runtime ed25519 key: 200, token_type httpsig, cnf.htsk {alg, pub}",
        alg: Some(Algorithm::Ed25519),
        preregistered: false,
        change: |_| {},
    },
    Valid {
        id: "HTTPSIG-AS-12",
        what: "a runtime ecdsa-p256-sha256 key: 200, token_type httpsig, cnf.htsk {alg, pub}",
        alg: Some(Algorithm::EcdsaP256Sha256),
        preregistered: false,
        change: |_| {},
    },
    Valid {
        id: "HTTPSIG-AS-12",
        what: "a runtime ecdsa-p384-sha384 key: 200, token_type httpsig, cnf.htsk {alg, pub}",
        alg: Some(Algorithm::EcdsaP384Sha384),
        preregistered: false,
        change: |_| {},
    },
    Valid {
        id: "HTTPSIG-AS-12",
        what: "the pre-registered key by keyid: 200, token_type httpsig, cnf.jwk without kid",
        alg: None,
        preregistered: true,
        change: |_| {},
    },
];

/// The checks of both tables, sharing `run`.
pub(crate) fn checks(run: &Arc<Run>) -> Vec<Check<AsTarget>> {
    let mut checks = Vec::new();
    for v in VALID {
        let run = Arc::clone(run);
        checks.push(Check {
            id: v.id,
            requirement: v.what,
            run: Box::new(move |t| {
                let run = Arc::clone(&run);
                Box::pin(async move { valid_check(t, &run, v).await })
            }),
        });
    }
    for probe in PROBES {
        let run = Arc::clone(run);
        checks.push(Check {
            id: probe.id,
            requirement: probe.what,
            run: Box::new(move |t| {
                let run = Arc::clone(&run);
                Box::pin(async move { refused(t, &run, probe).await })
            }),
        });
    }
    checks
}

async fn valid_check(t: &AsTarget, run: &Run, v: &Valid) -> Outcome {
    let Some(client) = &run.client(t) else {
        return no_client();
    };
    let signer = match (v.alg, v.preregistered) {
        (_, true) if client.binding != Binding::Preregistered => {
            return Outcome::skip("needs a signing client that registered preregistered keys");
        }
        (Some(_), _) if client.binding == Binding::Preregistered => {
            return Outcome::skip(
                "the signing client registered preregistered keys: no runtime key",
            );
        }
        (Some(alg), _) => {
            // §5.1: the runtime algorithms the AS accepts are the ones it lists.
            let listed = t.metadata().await.ok().and_then(|m| {
                m.get("httpsig_signing_alg_values_supported")?
                    .as_array()
                    .map(|a| a.iter().any(|v| v.as_str() == Some(alg.name())))
            });
            if listed == Some(false) && RUNTIME_ALGS.contains(&alg.name()) {
                return Outcome::skip(format!(
                    "httpsig_signing_alg_values_supported does not list {alg}"
                ));
            }
            Signer::runtime(alg)
        }
        (None, _) => Signer::for_client(client),
    };
    match signer {
        Ok(s) => valid(t, client, &s, v.change).await,
        Err(o) => o,
    }
}

async fn refused(t: &AsTarget, run: &Run, probe: &Probe) -> Outcome {
    let Some(client) = &run.client(t) else {
        return no_client();
    };
    if let Some(why) = probe.applies.skip(client.binding, client.client.method) {
        return Outcome::skip(why);
    }
    if let Err(o) = baseline(t, run).await {
        return o;
    }
    let signer = match Signer::for_client(client) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut d = match draft(t, client, &signer).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    (probe.before)(&mut d);
    sign(&mut d);
    (probe.after)(&mut d);
    let mut first = String::new();
    if probe.replay {
        match send(t, client, &d).await {
            Ok(a) if a.status == 200 => {
                first = format!("first: {}; second: ", describe(client, &a))
            }
            Ok(a) => {
                return Outcome::skip(format!(
                    "the first sending is refused ({}), so the replay cannot be told apart",
                    describe(client, &a)
                ));
            }
            Err(e) => return Outcome::fail(e),
        }
    }
    match send(t, client, &d).await {
        Ok(a) => match judge_refusal(client, &a, probe.error) {
            Outcome::Pass(e) => Outcome::pass(format!("{first}{e}")),
            Outcome::Fail(e) => Outcome::fail(format!("{first}{e}")),
            skip => skip,
        },
        Err(e) => Outcome::fail(e),
    }
}
