//! The DPoP proof changes both sides check: each one change to a valid proof, aimed at
//! one step of the proof check (RFC 9449 §4.3, profiles/dpop.md §5.1), and whether the
//! changed proof must be refused with `invalid_dpop_proof` or accepted.
//!
//! The same proof check runs at a resource server (DPOP-RS-3, 401 in the `DPoP`
//! challenge, `dpop_rs.rs`) and at a token endpoint (DPOP-AS-3, 400 in the body,
//! `dpop_as.rs`): the table is written once here, against [`ProofFixture`], what a
//! change needs from a side's valid request, and each side turns it into its checks
//! with its own id and answer, next to the probes only it has (`ath` and the token's
//! binding at the RS, the nonce answers at the AS).

use std::ops::RangeBounds;

use mcp_auth_core::unix_now as now;
use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use crate::check::Outcome;
use crate::dpop_proof::{self, ProofKey};
use crate::mint::{Unsigned, with_broken_signature};

/// What a probe's answer must be; each side judges it by its own status and where it
/// puts the `error` (the RS: 401 and the `DPoP` challenge, RFC 9449 §7.1; the AS: 400
/// and the JSON body with no token, §5).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Accepted: the RS serves the request, the AS issues a DPoP token.
    Accept,
    /// Refused with this `error` code.
    Refuse(&'static str),
    /// Refused with an `error`, whatever its code (the code is not required).
    Unaccepted,
    /// Asked for a nonce: `use_dpop_nonce` and a `DPoP-Nonce` field (RFC 9449 §8, §9).
    Nonce,
}

/// The refusal of every failing proof check (RFC 9449 §5, §7.1).
pub(crate) const BAD_PROOF: Expect = Expect::Refuse("invalid_dpop_proof");

/// What a change sends instead of the valid request's proof.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sent {
    /// The proofs of the `DPoP` field, in order (none: no field).
    pub(crate) proofs: Vec<String>,
    /// Other header fields (lower-case names).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The access token to present instead of the fixture's: at the RS, one bound to
    /// another proof key, so that only the proof is wrong. Never set at the AS.
    pub(crate) token: Option<String>,
}

impl Sent {
    /// One `DPoP` field with `proof`.
    pub(crate) fn proof(proof: String) -> Self {
        Self {
            proofs: vec![proof],
            ..Self::default()
        }
    }
}

/// What a change needs from a side's request that was just accepted.
pub(crate) trait ProofFixture {
    /// The header and claims of a valid proof for the request, now, with the current
    /// nonce (and `ath` where a token goes with it).
    fn proof(&self) -> Unsigned;

    /// The key of the valid proofs.
    fn key(&self) -> &ProofKey;

    /// The request's target: the `htu` of a valid proof.
    fn url(&self) -> &str;

    /// The proof algorithms the server says it accepts (the RS: its `DPoP`
    /// challenge; the AS: its metadata), or why they are not known.
    fn algs(&self) -> Result<&[String], String>;

    /// A valid request whose proof is by `key` instead, changed by `change`: at the RS
    /// with the token bound to `key`, so that only the change can be refused.
    fn proof_by(&self, key: &ProofKey, change: &mut dyn FnMut(&mut Unsigned)) -> Sent;

    /// The valid proof, signed.
    fn valid_proof(&self) -> String {
        self.key().sign(&self.proof())
    }
}

/// A side's accepted request as a probe needs it: the changed request made and sent,
/// the answer judged by the side's rules.
pub(crate) trait ProbeFixture: ProofFixture + Sync {
    /// What the side sends.
    type Request: Send + Sync;

    /// Why a probe that needs a nonce skips: `None` when the server asked for one.
    fn without_nonce(&self) -> Option<&'static str>;

    /// `sent` as the side's request.
    fn request(&self, sent: Sent) -> Self::Request;

    /// Sends `request` and judges the answer against `expect`.
    fn outcome(
        &self,
        request: &Self::Request,
        expect: Expect,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Runs one probe on `fixture` (the side's accepted request, or why there is none):
/// sends what `make` makes of it, unless it needs a nonce the server never asked for.
pub(crate) async fn probe<F: ProbeFixture>(
    fixture: Result<F, Outcome>,
    needs_nonce: bool,
    make: impl FnOnce(&F) -> Result<F::Request, String>,
    expect: Expect,
) -> Outcome {
    let fx = match fixture {
        Ok(fx) => fx,
        Err(o) => return o,
    };
    if let Some(why) = fx.without_nonce().filter(|_| needs_nonce) {
        return Outcome::skip(why);
    }
    match make(&fx) {
        Ok(request) => fx.outcome(&request, expect).await,
        Err(why) => Outcome::skip(why),
    }
}

/// Runs `change` on `fixture`, as [`probe`].
pub(crate) async fn probe_change<F: ProbeFixture>(
    fixture: Result<F, Outcome>,
    change: &Change,
) -> Outcome {
    let make = |fx: &F| (change.make)(fx).map(|sent| fx.request(sent));
    probe(fixture, false, make, change.expect).await
}

/// The valid proof changed by `change`, signed by the fixture's key.
pub(crate) fn changed(fx: &dyn ProofFixture, change: impl FnOnce(&mut Unsigned)) -> Sent {
    let mut proof = fx.proof();
    change(&mut proof);
    Sent::proof(fx.key().sign(&proof))
}

/// The valid proof with `htu` instead.
pub(crate) fn with_htu(fx: &dyn ProofFixture, htu: String) -> Sent {
    changed(fx, |p| {
        p.claims.insert("htu".into(), json!(htu));
    })
}

/// The target's scheme, host, `:port` (as written, or empty) and path, for the `htu`
/// variants.
pub(crate) fn parts(fx: &dyn ProofFixture) -> Result<(String, String, String, String), String> {
    let u = url::Url::parse(fx.url()).map_err(|e| format!("the target is not a URL: {e}"))?;
    let host = u.host_str().ok_or("the target has no host")?.to_owned();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok((u.scheme().to_owned(), host, port, u.path().to_owned()))
}

/// `object` as JSON text with `member` written once more first (a parser keeping the
/// last one sees the valid value).
pub(crate) fn with_member_first(object: &Value, member: &str) -> String {
    let text = object.to_string();
    format!("{{{member},{}", text.strip_prefix('{').unwrap_or(&text))
}

/// The valid proof with its header and claims written as `header` and `claims` turn
/// them into JSON text, signed by the fixture's key.
fn rewritten(
    fx: &dyn ProofFixture,
    header: impl FnOnce(&Value) -> String,
    claims: impl FnOnce(&Value) -> String,
) -> Sent {
    let p = fx.proof();
    let header = header(&Value::Object(p.header));
    let claims = claims(&Value::Object(p.claims));
    Sent::proof(
        fx.key()
            .sign_input(&dpop_proof::encoded_input(&header, &claims)),
    )
}

/// One change to the valid request's proof.
pub(crate) struct Change {
    /// The step of the proof check (RFC 9449 §4.3, profile §5.1) the change is filed
    /// under: a side puts its own probes between the steps.
    pub(crate) step: u8,
    /// What is sent, in one line, without the side's answer.
    pub(crate) what: &'static str,
    /// The request, made from the accepted one; `Err` is why it does not apply.
    pub(crate) make: fn(&dyn ProofFixture) -> Result<Sent, String>,
    /// [`BAD_PROOF`] or [`Expect::Accept`].
    pub(crate) expect: Expect,
}

impl Change {
    /// The requirement line, with `status` the side's status of a refusal.
    fn line(&self, status: u16) -> String {
        match self.expect {
            Expect::Refuse(code) => format!("{}: {status} {code}", self.what),
            _ => format!("{}: accepted", self.what),
        }
    }
}

/// Each change's requirement line with `status` the side's status of a refusal, in
/// the table's order: a side keeps them in a static, as checks name `&'static str`s.
pub(crate) fn lines(status: u16) -> Vec<String> {
    CHANGES.iter().map(|c| c.line(status)).collect()
}

/// The changes filed under `steps`, in order, each with its line of `lines` (made
/// by [`lines`]).
pub(crate) fn select(
    lines: &'static [String],
    steps: impl RangeBounds<u8>,
) -> impl Iterator<Item = (&'static Change, &'static str)> {
    CHANGES
        .iter()
        .zip(lines.iter().map(String::as_str))
        .filter(move |(c, _)| steps.contains(&c.step))
}

/// A probe of one side alone, `M` its function making the request from the side's
/// fixture (`Err`: why it does not apply).
pub(crate) struct OwnProbe<M> {
    /// The requirement's identifier.
    pub(crate) id: &'static str,
    /// What it sends and must get, in one line.
    pub(crate) requirement: &'static str,
    /// Applies only when the server asked for a nonce (nonces are optional, RFC 9449
    /// §8, §9).
    pub(crate) needs_nonce: bool,
    /// The request, made from the accepted one.
    pub(crate) make: M,
    /// The answer it must get.
    pub(crate) expect: Expect,
}

/// A row of a side's table: a change of [`CHANGES`] with the side's requirement line,
/// or one of the side's own probes.
pub(crate) enum Row<P: 'static> {
    /// A shared change and its line.
    Change(&'static Change, &'static str),
    /// A probe of one side alone.
    Own(&'static P),
}

/// A refused change that always applies.
macro_rules! refused {
    ($step:expr, $what:expr, |$fx:ident| $make:expr) => {
        Change {
            step: $step,
            what: $what,
            make: |$fx| Ok($make),
            expect: BAD_PROOF,
        }
    };
}

/// A change to `htu` that must be accepted: RFC 9449 §4.3 step 9 compares it after
/// RFC 3986 §6.2.2 and §6.2.3 normalization, without query and fragment.
macro_rules! accepted_htu {
    ($what:expr, |$fx:ident| $make:expr) => {
        Change {
            step: 9,
            what: $what,
            make: |$fx| $make,
            expect: Expect::Accept,
        }
    };
}

/// Asymmetric algorithms a server may well not accept, for the unlisted-alg change.
const UNUSUAL_ALGS: [&str; 5] = ["ES512", "RS512", "PS512", "ES384", "RS384"];

/// Every change, in the order of the proof check.
pub(crate) static CHANGES: &[Change] = &[
    // Step 1: exactly one DPoP field (two field lines, or one comma-separated, are
    // the same field: RFC 9110 §5.3).
    refused!(1, "two valid proofs in the DPoP field", |fx| Sent {
        proofs: vec![fx.valid_proof(), fx.valid_proof()],
        ..Sent::default()
    }),
    // Step 2: one well-formed JWT, no member repeated (profile §5.1).
    refused!(2, "an empty DPoP field", |_fx| Sent::proof(String::new())),
    refused!(2, "a DPoP field that is not a JWT", |_fx| Sent::proof(
        "bm90LWEtand0".into()
    )),
    refused!(
        2,
        "a proof of two parts (header.claims, no signature)",
        |fx| Sent::proof(dpop_proof::signing_input(&fx.proof()))
    ),
    refused!(
        2,
        "claims with htm twice (GET, then the valid POST; profile §5.1 step 2, a decision: RFC 7519 §4 also lets a parser keep the last member)",
        |fx| rewritten(fx, Value::to_string, |c| with_member_first(
            c,
            r#""htm":"GET""#
        ))
    ),
    refused!(
        2,
        "a header with typ twice (JWT, then the valid dpop+jwt; profile §5.1 step 2, a decision: RFC 7515 §4 also lets a parser keep the last member)",
        |fx| rewritten(
            fx,
            |h| with_member_first(h, r#""typ":"JWT""#),
            Value::to_string
        )
    ),
    // Steps 3 and 4: the required members, with their types; typ.
    refused!(3, "a proof without typ", |fx| changed(fx, |p| {
        p.header.remove("typ");
    })),
    refused!(4, "a proof with typ JWT", |fx| changed(fx, |p| {
        p.header.insert("typ".into(), json!("JWT"));
    })),
    // Step 5: alg asymmetric, not none, accepted.
    refused!(5, "an unsecured proof (alg none, empty signature)", |fx| {
        Sent::proof(dpop_proof::unsecured(&fx.proof()))
    }),
    refused!(
        5,
        "a proof MACed with HS256 under an oct key in its jwk",
        |fx| Sent::proof(dpop_proof::hmac_with_jwk_secret(&fx.proof()))
    ),
    Change {
        step: 5,
        what: "a proof whose alg is an asymmetric one the server does not offer (ES512, RS512, ...)",
        make: |fx| {
            let offered = fx.algs()?;
            let alg = UNUSUAL_ALGS
                .into_iter()
                .find(|a| !offered.iter().any(|o| o == a))
                .ok_or("the server offers every asymmetric alg the checker tries")?;
            Ok(changed(fx, |p| {
                p.header.insert("alg".into(), json!(alg));
            }))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 5,
        what: "a proof signed by an Ed25519 key with alg ES256 (the key type chosen by the jwk, not alg)",
        make: |fx| {
            let ed = ProofKey::generate(JwsAlgorithm::EdDsa).ok_or("no Ed25519 key")?;
            Ok(fx.proof_by(&ed, &mut |p| {
                p.header.insert("alg".into(), json!("ES256"));
            }))
        },
        expect: BAD_PROOF,
    },
    // Steps 6 and 7: the jwk, public only, verifying the signature.
    refused!(6, "a proof without jwk", |fx| changed(fx, |p| {
        p.header.remove("jwk");
    })),
    Change {
        step: 7,
        what: "a proof whose jwk carries the private key (d)",
        make: |fx| {
            let private = fx
                .key()
                .private_jwk()
                .ok_or("the private JWK cannot be written")?;
            Ok(changed(fx, |p| {
                p.header.insert("jwk".into(), private);
            }))
        },
        expect: BAD_PROOF,
    },
    refused!(
        6,
        "a proof whose signature does not verify (one character changed)",
        |fx| Sent::proof(with_broken_signature(&fx.valid_proof()))
    ),
    Change {
        step: 6,
        what: "an ES256 proof whose signature is DER-encoded, not R || S (RFC 7518 §3.4)",
        make: |fx| {
            dpop_proof::with_der_signature(&fx.valid_proof())
                .map(Sent::proof)
                .ok_or_else(|| "the proof is not ES256 (its signature is not 64 bytes)".into())
        },
        expect: BAD_PROOF,
    },
    refused!(
        6,
        "a proof whose jwk is a string, not a JSON object (profile §5.1 step 3)",
        |fx| changed(fx, |p| {
            p.header
                .insert("jwk".into(), json!(fx.key().public_jwk().to_string()));
        })
    ),
    refused!(
        6,
        "a proof whose header marks an unknown extension critical (crit, RFC 7515 §4.1.11: the JWS is invalid)",
        |fx| changed(fx, |p| {
            p.header
                .insert("crit".into(), json!(["conformance-unknown"]));
            p.header.insert("conformance-unknown".into(), json!(true));
        })
    ),
    Change {
        step: 6,
        what: "a proof whose jwk is another key than the one that signed",
        make: |fx| {
            let other = ProofKey::generate(JwsAlgorithm::Es256).ok_or("no ES256 key")?;
            Ok(changed(fx, |p| {
                p.header.insert("jwk".into(), other.public_jwk().clone());
            }))
        },
        expect: BAD_PROOF,
    },
    // Step 8: htm (both sides send a POST).
    refused!(8, "a proof with htm GET on a POST", |fx| changed(fx, |p| {
        p.claims.insert("htm".into(), json!("GET"));
    })),
    refused!(
        8,
        "a proof with htm post (methods are case-sensitive, RFC 9110 §9.1)",
        |fx| changed(fx, |p| {
            p.claims.insert("htm".into(), json!("post"));
        })
    ),
    refused!(8, "a proof without htm", |fx| changed(fx, |p| {
        p.claims.remove("htm");
    })),
    // Step 9: htu is the configured target, after normalization, query and fragment
    // ignored.
    Change {
        step: 9,
        what: "a proof whose htu has another path",
        make: |fx| {
            let (scheme, host, port, _) = parts(fx)?;
            Ok(with_htu(
                fx,
                format!("{scheme}://{host}{port}/another-path"),
            ))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 9,
        what: "a proof whose htu adds a trailing slash to the path (or drops it)",
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            let path = match path.strip_suffix('/') {
                Some(p) if !p.is_empty() => p.to_owned(),
                _ => format!("{path}/"),
            };
            Ok(with_htu(fx, format!("{scheme}://{host}{port}{path}")))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 9,
        what: "a proof whose htu names another host",
        make: |fx| {
            let (scheme, _, port, path) = parts(fx)?;
            Ok(with_htu(
                fx,
                format!("{scheme}://another-host.example{port}{path}"),
            ))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 9,
        what: "a proof whose htu has the other scheme (http/https)",
        make: |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(with_htu(
                fx,
                format!("{}://{host}{port}{path}", other_scheme(&scheme)),
            ))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 9,
        what: "a proof whose htu names another port",
        make: |fx| {
            let port = url::Url::parse(fx.url())
                .ok()
                .and_then(|u| u.port_or_known_default())
                .ok_or("the target has no port")?;
            let (scheme, host, _, path) = parts(fx)?;
            let other = if port == 1 { 2 } else { port - 1 };
            Ok(with_htu(fx, format!("{scheme}://{host}:{other}{path}")))
        },
        expect: BAD_PROOF,
    },
    Change {
        step: 9,
        what: "X-Forwarded-Host/-Proto naming another origin and a proof for it (profile §5.1 step 9: never X-Forwarded-*)",
        make: |fx| {
            let (scheme, _, _, path) = parts(fx)?;
            let other = other_scheme(&scheme);
            let mut s = with_htu(fx, format!("{other}://another-host.example{path}"));
            s.headers
                .push(("x-forwarded-host", "another-host.example".into()));
            s.headers.push(("x-forwarded-proto", other.into()));
            Ok(s)
        },
        expect: BAD_PROOF,
    },
    refused!(9, "a proof without htu", |fx| changed(fx, |p| {
        p.claims.remove("htu");
    })),
    accepted_htu!(
        "a proof whose htu adds a query (ignored, RFC 9449 §4.3 step 9)",
        |fx| Ok(with_htu(fx, format!("{}?conformance=1", fx.url())))
    ),
    accepted_htu!(
        "a proof whose htu adds a fragment (ignored, RFC 9449 §4.3 step 9)",
        |fx| Ok(with_htu(fx, format!("{}#conformance", fx.url())))
    ),
    accepted_htu!(
        "a proof whose htu has the scheme and host in upper case (RFC 3986 §6.2.2.1, required by profile §5.1 step 9)",
        |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(with_htu(
                fx,
                format!(
                    "{}://{}{port}{path}",
                    scheme.to_ascii_uppercase(),
                    host.to_ascii_uppercase()
                ),
            ))
        }
    ),
    accepted_htu!(
        "a proof whose htu has a dot segment (/a/../path, RFC 3986 §6.2.2.3, required by profile §5.1 step 9)",
        |fx| {
            let (scheme, host, port, path) = parts(fx)?;
            Ok(with_htu(fx, format!("{scheme}://{host}{port}/a/..{path}")))
        }
    ),
    // Step 11: iat within the window (the profile's default is 60 s; an hour is out
    // of any window a server should keep, RFC 9449 §11.1), and jti, which bounds
    // replay with it.
    refused!(
        11,
        "a proof made an hour ago (iat; profile §5.1 step 11, where RFC 9449 §4.3 step 11 lets a server judge the time by its nonce instead)",
        |fx| changed(fx, |p| {
            p.claims.insert("iat".into(), json!(now() - 3600));
        })
    ),
    refused!(
        11,
        "a proof dated an hour ahead (iat; profile §5.1 step 11, where RFC 9449 §4.3 step 11 lets a server judge the time by its nonce instead)",
        |fx| changed(fx, |p| {
            p.claims.insert("iat".into(), json!(now() + 3600));
        })
    ),
    refused!(11, "a proof without iat", |fx| changed(fx, |p| {
        p.claims.remove("iat");
    })),
    refused!(11, "a proof whose iat is a string, not a number", |fx| {
        changed(fx, |p| {
            p.claims.insert("iat".into(), json!(now().to_string()));
        })
    }),
    refused!(11, "a proof without jti", |fx| changed(fx, |p| {
        p.claims.remove("jti");
    })),
];

/// `https` for `http`, `http` for anything else.
fn other_scheme(scheme: &str) -> &'static str {
    if scheme == "https" { "http" } else { "https" }
}
