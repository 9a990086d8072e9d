//! The HTTPSIG-AS checks against our own AS, in process on loopback, as three
//! signing clients (runtime with client_secret_basic, no method with
//! client_secret_post, preregistered): every applicable check passes and each skip
//! says why (exact outcomes, so a change in either shows). And that the checks can
//! fail: a fake token endpoint that ignores signatures fails exactly the refusal
//! probes, and one issuing a JWT without `cnf` fails exactly the bound-token checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Json;
use axum::routing::{get, post};
use mcp_auth_conformance::authorization_server::{
    AsProfile, AsTarget, ConfidentialClient, SecretMethod, checks,
};
use mcp_auth_conformance::httpsig_as::{Binding, PreregisteredKey, SigningClient, checks_with};
use mcp_auth_conformance::{CheckResult, report, run};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Value, json};

const R1: &str = "http://127.0.0.1:3000/mcp";
const SECRET: &str = "hs-secret-never-shown";

/// Our AS knowing R1, with three confidential clients of the client credentials
/// grant, and the pre-registered key of the third.
async fn our_as() -> (mcp_auth_testkit::TestAs, AsTarget, PreregisteredKey) {
    let server = mcp_auth_testkit::start_as("", |a| format!("http://{a}"), &[R1]).await;
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let mut jwk = key.verifying_key().to_jwk();
    jwk.kid = Some("hs-k1".into());
    jwk.alg = Some("Ed25519".into());
    for (id, extra) in [
        (
            "hs-runtime",
            json!({"token_endpoint_auth_method": "client_secret_basic", "httpsig_key_binding_method": "runtime"}),
        ),
        (
            "hs-none",
            json!({"token_endpoint_auth_method": "client_secret_post"}),
        ),
        (
            "hs-prereg",
            json!({"token_endpoint_auth_method": "client_secret_basic", "httpsig_key_binding_method": "preregistered", "jwks": {"keys": [jwk]}}),
        ),
    ] {
        let mut metadata = json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read"]});
        metadata
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        mcp_auth_testkit::register_client(&server.state, id, Some(SECRET), metadata).await;
    }
    let mut target = AsTarget::new(&server.issuer).unwrap();
    target.resources = vec![R1.to_owned()];
    let prereg = PreregisteredKey {
        key,
        alg: JwsAlgorithm::Ed25519,
        kid: "hs-k1".into(),
    };
    (server, target, prereg)
}

/// Asserts the results in order: `(id, result name, fragment of the evidence)`.
#[track_caller]
fn assert_outcomes(results: &[CheckResult], expected: &[(&str, &str, &str)]) {
    let text = report::table(results);
    let seen: Vec<(&str, &str)> = results.iter().map(|r| (r.id, r.outcome.name())).collect();
    let wanted: Vec<(&str, &str)> = expected.iter().map(|(i, o, _)| (*i, *o)).collect();
    assert_eq!(seen, wanted, "{text}");
    for (r, (_, _, fragment)) in results.iter().zip(expected) {
        assert!(
            r.outcome.evidence().contains(fragment),
            "{} {}: `{}` lacks `{fragment}`",
            r.id,
            r.requirement,
            r.outcome.evidence()
        );
    }
    // Tokens, signatures and the secret never appear in the evidence.
    let json = report::json(results);
    assert!(
        !json.contains(SECRET) && !json.contains("eyJ") && !json.contains("sig=:"),
        "{json}"
    );
}

const P: &str = "pass";
const S: &str = "skip";
const F: &str = "fail";
const REFUSED: &str = "400 error=invalid_signature";
const NO_CLIENT: &str = "none was given";

/// The metadata and registration checks, the same for every client.
fn head(outcomes: &mut Vec<(&'static str, &'static str, &'static str)>) {
    outcomes.push(("HTTPSIG-AS-1", P, "[\"runtime\", \"preregistered\"]"));
    for _ in 0..2 {
        outcomes.push(("HTTPSIG-AS-2", P, "201"));
    }
    for _ in 0..2 {
        outcomes.push(("HTTPSIG-AS-2", P, "400 error=invalid_client_metadata"));
    }
    for _ in 0..7 {
        outcomes.push(("HTTPSIG-AS-3", P, "400 error=invalid_client_metadata"));
    }
}

/// HTTPSIG-AS-4 to -12 for a client whose valid requests pass, in check order:
/// for each requirement the valid requests, then the refusals, some of which do not
/// apply to every client.
fn signed(
    outcomes: &mut Vec<(&'static str, &'static str, &'static str)>,
    as12: [(&'static str, &'static str); 4],
    client: (bool, bool, bool, bool),
) {
    let (basic, runtime, keyid_allowed, registered) = client;
    let bound = "token_type \"httpsig\"";
    outcomes.extend([("HTTPSIG-AS-4", P, bound), ("HTTPSIG-AS-4", P, REFUSED)]);
    outcomes.push(("HTTPSIG-AS-5", P, bound));
    for i in 0..5 {
        if i == 3 && !basic {
            outcomes.push(("HTTPSIG-AS-5", S, "client_secret_post"));
        } else {
            outcomes.push(("HTTPSIG-AS-5", P, REFUSED));
        }
    }
    outcomes.push(("HTTPSIG-AS-6", P, bound));
    outcomes.extend(std::iter::repeat_n(("HTTPSIG-AS-6", P, REFUSED), 4));
    outcomes.extend(std::iter::repeat_n(("HTTPSIG-AS-7", P, REFUSED), 5));
    outcomes.extend(std::iter::repeat_n(("HTTPSIG-AS-8", P, REFUSED), 4));
    outcomes.push(("HTTPSIG-AS-8", P, "first: 200"));
    outcomes.extend(std::iter::repeat_n(
        if runtime {
            ("HTTPSIG-AS-9", P, REFUSED)
        } else {
            ("HTTPSIG-AS-9", S, "no runtime key")
        },
        7,
    ));
    outcomes.push(if keyid_allowed {
        ("HTTPSIG-AS-10", P, REFUSED)
    } else {
        ("HTTPSIG-AS-10", S, "checked by the HTTPSIG-AS-9 probe")
    });
    outcomes.extend(std::iter::repeat_n(
        if runtime {
            ("HTTPSIG-AS-10", S, "registered preregistered")
        } else {
            ("HTTPSIG-AS-10", P, REFUSED)
        },
        2,
    ));
    outcomes.extend(std::iter::repeat_n(
        if registered {
            ("HTTPSIG-AS-11", P, "400 error=invalid_request")
        } else {
            (
                "HTTPSIG-AS-11",
                S,
                "registered no httpsig_key_binding_method",
            )
        },
        2,
    ));
    outcomes.push(("HTTPSIG-AS-11", P, REFUSED));
    for (o, e) in as12 {
        outcomes.push(("HTTPSIG-AS-12", o, e));
    }
}

const RUNTIME_AS12: [(&str, &str); 4] = [
    (
        P,
        "cnf.htsk members Some([\"alg\", \"pub\"]) alg \"ed25519\"",
    ),
    (P, "alg \"ecdsa-p256-sha256\""),
    (P, "alg \"ecdsa-p384-sha384\""),
    (
        S,
        "needs a signing client that registered preregistered keys",
    ),
];

fn tail(outcomes: &mut Vec<(&'static str, &'static str, &'static str)>, as13: &'static str) {
    outcomes.extend([
        ("HTTPSIG-AS-13", P, as13),
        ("HTTPSIG-AS-14", S, "the checker does not script a login"),
        ("HTTPSIG-AS-15", P, "normal origin http://127.0.0.1:"),
        ("HTTPSIG-AS-15", P, REFUSED),
    ]);
}

#[tokio::test]
async fn every_check_passes_for_a_runtime_client_with_client_secret_basic() {
    let (_server, target, _) = our_as().await;
    let client = SigningClient::new(
        ConfidentialClient::new("hs-runtime", SECRET, SecretMethod::Basic),
        Binding::Runtime,
    );
    let results = run(&checks_with(Some(client)), &target, None).await;
    println!("{}", report::table(&results));
    let mut expected = Vec::new();
    head(&mut expected);
    signed(&mut expected, RUNTIME_AS12, (true, true, false, true));
    tail(
        &mut expected,
        "token_type \"httpsig\", cnf members [\"htsk\"], same cnf as the token true",
    );
    assert_outcomes(&results, &expected);
}

#[tokio::test]
async fn a_client_without_a_method_using_client_secret_post() {
    let (_server, target, _) = our_as().await;
    let client = SigningClient::new(
        ConfidentialClient::new("hs-none", SECRET, SecretMethod::Post),
        Binding::Unregistered,
    );
    let results = run(&checks_with(Some(client)), &target, None).await;
    println!("{}", report::table(&results));
    let mut expected = Vec::new();
    head(&mut expected);
    signed(&mut expected, RUNTIME_AS12, (false, true, true, false));
    tail(&mut expected, "cnf members [\"htsk\"]");
    assert_outcomes(&results, &expected);
}

#[tokio::test]
async fn a_client_with_a_preregistered_key() {
    let (_server, target, key) = our_as().await;
    let client = SigningClient::new(
        ConfidentialClient::new("hs-prereg", SECRET, SecretMethod::Basic),
        Binding::Preregistered,
    )
    .with_preregistered_key(key);
    let results = run(&checks_with(Some(client)), &target, None).await;
    println!("{}", report::table(&results));
    let no_runtime = "no runtime key";
    let mut expected = Vec::new();
    head(&mut expected);
    signed(
        &mut expected,
        [
            (S, no_runtime),
            (S, no_runtime),
            (S, no_runtime),
            (
                P,
                "cnf.jwk present alg \"Ed25519\", same key true, members not allowed Some([])",
            ),
        ],
        (true, false, true, true),
    );
    tail(&mut expected, "cnf members [\"jwk\"]");
    assert_outcomes(&results, &expected);
}

/// Without a signing client (the CLI today), the metadata and registration checks
/// run and every signed check says what it needs.
#[tokio::test]
async fn without_a_signing_client_only_metadata_and_registration_run() {
    let (_server, target, _) = our_as().await;
    let results = run(&checks(AsProfile::Httpsig), &target, None).await;
    let mut expected = Vec::new();
    head(&mut expected);
    for r in &results[expected.len()..] {
        expected.push(match r.id {
            "HTTPSIG-AS-14" => (r.id, S, "login"),
            _ if r.requirement.contains("normal form") => (r.id, P, "normal origin"),
            _ => (r.id, S, NO_CLIENT),
        });
    }
    assert_outcomes(&results, &expected);
    assert_eq!(results.len(), 56, "{}", report::table(&results));
}

/// A token endpoint answering every request with `body`, and metadata naming it.
async fn fake_as(body: Value) -> AsTarget {
    fake_as_at(body, |issuer| format!("{issuer}/token")).await
}

/// [`fake_as`] advertising the token endpoint `token_endpoint(issuer)`.
async fn fake_as_at(body: Value, token_endpoint: fn(&str) -> String) -> AsTarget {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let metadata = json!({
        "issuer": issuer,
        "token_endpoint": token_endpoint(&issuer),
        "httpsig_key_binding_methods_supported": ["runtime", "preregistered"],
        "httpsig_signing_alg_values_supported": ["ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384"],
    });
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { Json(metadata) }),
        )
        .route("/token", post(move || async move { Json(body) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    AsTarget::new(&issuer).unwrap()
}

fn fake_client() -> SigningClient {
    SigningClient::new(
        ConfidentialClient::new("fake", SECRET, SecretMethod::Basic),
        Binding::Runtime,
    )
}

/// An AS that issues a token to every request, signature or not: every refusal
/// probe fails, showing the 200 it got; the valid requests cannot be judged on
/// an opaque token and say so.
#[tokio::test]
async fn a_token_endpoint_ignoring_signatures_fails_every_refusal_probe() {
    let target =
        fake_as(json!({"access_token": "opaque-token-value", "token_type": "httpsig"})).await;
    let results = run(&checks_with(Some(fake_client())), &target, None).await;
    println!("{}", report::table(&results));
    let opaque = "not a JWT, so its cnf cannot be read";
    let mut expected = vec![("HTTPSIG-AS-1", P, "")];
    expected.extend(std::iter::repeat_n(
        ("HTTPSIG-AS-2", S, "no registration_endpoint"),
        4,
    ));
    expected.extend(std::iter::repeat_n(
        ("HTTPSIG-AS-3", S, "no registration_endpoint"),
        7,
    ));
    for r in &results[expected.len()..] {
        expected.push(match r.id {
            "HTTPSIG-AS-13" => (r.id, S, "no introspection_endpoint"),
            "HTTPSIG-AS-14" => (r.id, S, "login"),
            _ if r.requirement.contains("normal form") => (r.id, P, "normal origin"),
            _ if r.requirement.contains("sent twice") => {
                (r.id, F, "first: 200 token_type \"httpsig\"")
            }
            _ if r.requirement.contains("preregistered")
                || r.requirement.contains("pre-registered") =>
            {
                (r.id, S, "preregistered")
            }
            "HTTPSIG-AS-10" => (r.id, S, "checked by the HTTPSIG-AS-9 probe"),
            "HTTPSIG-AS-11" if r.requirement.contains("registered a method") => (
                r.id,
                F,
                "expected 400 error=invalid_request: 200 token_type",
            ),
            _ if r.outcome.evidence().contains(opaque) => (r.id, S, opaque),
            _ => (
                r.id,
                F,
                "expected 400 error=invalid_signature: 200 token_type",
            ),
        });
    }
    assert_outcomes(&results, &expected);
    let failures = results.iter().filter(|r| r.outcome.name() == F).count();
    // Every refusal probe that applies to a runtime client with Basic.
    assert_eq!(failures, 31, "{}", report::table(&results));
}

/// An AS whose tokens are JWTs without `cnf` and with `token_type` Bearer: the
/// bound-token checks fail, and the refusal probes skip, since the valid request
/// itself gets no bound token.
#[tokio::test]
async fn a_token_endpoint_issuing_unbound_tokens_fails_the_bound_token_checks() {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.c2ln",
        b64(json!({"typ": "at+jwt", "alg": "EdDSA"})),
        b64(json!({"iss": "x", "sub": "fake", "aud": R1}))
    );
    for (token_type, failure) in [
        ("Bearer", "expected token_type httpsig"),
        ("httpsig", "cnf must have exactly one member: no cnf"),
    ] {
        let target = fake_as(json!({"access_token": jwt, "token_type": token_type})).await;
        let results = run(&checks_with(Some(fake_client())), &target, None).await;
        for r in &results {
            let e = r.outcome.evidence();
            let bound_check = (r.requirement.contains("token_type httpsig")
                && r.id != "HTTPSIG-AS-13")
                || r.requirement.contains("extra components allowed")
                || r.requirement.contains("sha-512 member only")
                || r.requirement.contains("(ignored)");
            if bound_check && !r.requirement.contains("pre-registered") {
                assert_eq!(r.outcome.name(), F, "{}: {e}", r.requirement);
                assert!(e.contains(failure), "{e}");
            } else {
                assert_ne!(r.outcome.name(), F, "{}: {e}", r.requirement);
            }
            assert!(!e.contains("eyJ") && !e.contains(SECRET), "{e}");
        }
        let skipped = results
            .iter()
            .filter(|r| r.outcome.evidence().contains("gets no bound token"))
            .count();
        assert_eq!(skipped, 31, "{}", report::table(&results));
    }
}

/// A token endpoint advertised with an uppercase scheme is not the normal form a
/// client signs as `@target-uri` (§7.2).
#[tokio::test]
async fn a_token_endpoint_not_in_normal_form_fails() {
    let target = fake_as_at(json!({}), |issuer| {
        format!("HTTP{}/token", issuer.trim_start_matches("http"))
    })
    .await;
    let results = run(&checks(AsProfile::Httpsig), &target, None).await;
    let normal = results
        .iter()
        .find(|r| r.requirement.contains("normal form"))
        .unwrap();
    assert_eq!(normal.outcome.name(), F, "{:?}", normal.outcome);
    assert!(
        normal
            .outcome
            .evidence()
            .contains("normal origin http://127.0.0.1:"),
        "{:?}",
        normal.outcome
    );
}
