//! The EMA-AS checks (profiles/enterprise-managed-authorization.md) against our own
//! AS, in process on loopback, trusting the checker as its enterprise IdP (the
//! checker serves the IdP's discovery document and JWK Set, and the AS's
//! `[[id_jag_issuers]]` entry finds them by discovery): every applicable check
//! passes, each skip says why. And the proof that the checks can fail: a fake token
//! endpoint that issues a token for any ID-JAG fails exactly the refusal checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::Form;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_conformance::authorization_server::{AsTarget, ConfidentialClient, SecretMethod};
use mcp_auth_conformance::ema_as::{EmaTarget, checks};
use mcp_auth_conformance::ema_idp::EnterpriseIdp;
use mcp_auth_conformance::ema_idp_checks::{IdpTarget, TOKEN_EXCHANGE, checks as idp_checks};
use mcp_auth_conformance::{CheckResult, Minter, Outcome, report, run};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::{Value, json};

const R1: &str = "http://127.0.0.1:3000/mcp";
const R2: &str = "http://127.0.0.1:3001/mcp";
const CLIENT: &str = "acme-agent";
const SECRET: &str = "ema-secret-never-shown";
const SUBJECT: &str = "7f3c9a2e-5b1d-4e8f";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How many checks the list has.
const CHECKS: usize = 125;

/// The checker's IdP, served on a new loopback port, with an RSA key (RS256).
async fn idp() -> EnterpriseIdp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let pem = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Rs256))
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    let minter = Minter::from_pem(&pem, &issuer).unwrap();
    let mut idp = EnterpriseIdp::new(minter, SUBJECT).unwrap();
    let app = idp.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    idp
}

/// The target: the AS at `issuer`, the IdP, the client with the grant and one
/// without, R1 in the entry, R2 configured but not in it.
fn target(issuer: &str, idp: EnterpriseIdp) -> EmaTarget {
    let mut target = EmaTarget::new(
        AsTarget::new(issuer).unwrap(),
        idp,
        ConfidentialClient::new(CLIENT, SECRET, SecretMethod::Basic),
        R1,
        vec!["mcp:read".to_owned(), "mcp:write".to_owned()],
    );
    target.other_client = Some(ConfidentialClient::new(
        "cc-client",
        SECRET,
        SecretMethod::Basic,
    ));
    target.other_resource = Some(R2.to_owned());
    target.entry_id = Some("acme".to_owned());
    target.access_token_ttl = Some(300);
    target
}

/// The clients of our AS: `acme-agent` with the `jwt-bearer` grant, `cc-client`
/// without it (both with [`SECRET`]), and the loopback switch.
fn clients_toml() -> String {
    let digest = STANDARD.encode(mcp_auth_server::client_auth::secret_digest(SECRET));
    format!(
        r#"
[danger]
allow_http_loopback_fetches = true

[[clients]]
client_id = "{CLIENT}"
client_secret_sha256 = "{digest}"
grant_types = ["{JWT_BEARER}"]
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "cc-client"
client_secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["mcp:read"]
"#
    )
}

/// Our AS trusting the checker's IdP for R1 by discovery (the profile's defaults
/// otherwise), R2 configured but not in the entry.
async fn our_as() -> (mcp_auth_testkit::TestAs, EmaTarget) {
    let idp = idp().await;
    let toml = format!(
        r#"{}
[[id_jag_issuers]]
id = "acme"
issuer = "{issuer}"
discovery = true
resources = ["{R1}"]
"#,
        clients_toml(),
        issuer = idp.issuer()
    );
    let server = mcp_auth_testkit::start_as(&toml, |a| format!("http://{a}"), &[R1, R2]).await;
    let target = target(&server.issuer, idp);
    (server, target)
}

/// Asserts every result: the ones named by (id, a fragment of the requirement) in
/// `skips` and `failures` have that outcome and a reason containing the fragment
/// given; every other one passes.
fn assert_outcomes(
    results: &[CheckResult],
    skips: &[(&str, &str, &str)],
    failures: &[(&str, &str)],
) {
    let text = report::table(results);
    let named =
        |r: &CheckResult, (id, what): (&str, &str)| r.id == id && r.requirement.contains(what);
    for (id, what, why) in skips {
        let matching: Vec<&CheckResult> = results.iter().filter(|r| named(r, (id, what))).collect();
        assert_eq!(matching.len(), 1, "{id} {what}:\n{text}");
        match &matching[0].outcome {
            Outcome::Skip(reason) => assert!(reason.contains(why), "{id} {what}: {reason}"),
            other => panic!("{id} {what}: {other:?}\n{text}"),
        }
    }
    for (id, what) in failures {
        let matching: Vec<&CheckResult> = results.iter().filter(|r| named(r, (id, what))).collect();
        assert_eq!(matching.len(), 1, "{id} {what}:\n{text}");
        assert!(
            matches!(matching[0].outcome, Outcome::Fail(_)),
            "{id} {what}: {:?}\n{text}",
            matching[0].outcome
        );
    }
    for r in results {
        let listed = skips.iter().any(|(id, what, _)| named(r, (id, what)))
            || failures.iter().any(|(id, what)| named(r, (id, what)));
        if !listed {
            assert!(
                matches!(r.outcome, Outcome::Pass(_)),
                "{} {}: {:?}\n{text}",
                r.id,
                r.requirement,
                r.outcome
            );
        }
    }
}

/// Neither a token, an ID-JAG nor the secret is in the evidence (a JWT starts `eyJ`).
fn assert_no_secrets(results: &[CheckResult]) {
    let json = report::json(results);
    assert!(!json.contains(SECRET) && !json.contains("eyJ"), "{json}");
}

#[tokio::test]
async fn every_applicable_ema_check_passes_against_our_as() {
    let (_server, target) = our_as().await;
    let results = run(&checks(), &target, None).await;
    println!("{}", report::table(&results));
    assert_outcomes(&results, &[], &[]);
    assert_eq!(results.len(), CHECKS, "{}", report::table(&results));
    assert_no_secrets(&results);
    // The AS fetched the IdP's discovery document and key set, and nothing the
    // ID-JAGs named.
    let fetched = target.idp.fetches().unwrap();
    assert!(fetched.iter().any(|(p, _)| p == "/jwks"), "{fetched:?}");
}

/// An IdP the AS does not trust: the positive control fails, and every check of a
/// redemption is skipped rather than passed on refusals that prove nothing.
#[tokio::test]
async fn an_untrusted_idp_fails_the_control_and_skips_the_rest() {
    let (server, _) = our_as().await;
    // A served IdP the AS does not trust: the control fails, every other check of a
    // redemption is skipped.
    let target = target(&server.issuer, idp().await);
    let results = run(&checks(), &target, None).await;
    let control = results
        .iter()
        .find(|r| r.requirement.starts_with("a valid ID-JAG redeemed"))
        .unwrap();
    assert!(
        matches!(&control.outcome, Outcome::Fail(e) if e.contains("a valid ID-JAG is refused: 400 error=\"invalid_grant\"")),
        "{control:?}"
    );
    for r in &results {
        if r.id == "EMA-AS-1" || std::ptr::eq(r, control) {
            continue;
        }
        assert!(
            matches!(&r.outcome, Outcome::Skip(why) if why.contains("a valid ID-JAG is refused")),
            "{} {}: {:?}",
            r.id,
            r.requirement,
            r.outcome
        );
    }
}

/// A fake authorization server whose token endpoint issues a token for any
/// `jwt-bearer` request: an RFC 9068-shaped token for the ID-JAG's user, client,
/// resource and scope, bound to the DPoP proof's key when there is one. It verifies
/// nothing.
async fn accepting_everything() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let metadata = json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "grant_types_supported": [JWT_BEARER],
        "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let m = metadata.clone();
                async move { axum::Json(m) }
            }),
        )
        .route("/token", post(fake_token));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn fake_token(
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> impl IntoResponse {
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let part = |token: &str, i: usize| -> Value {
        token
            .split('.')
            .nth(i)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let jag = part(&param("assertion").unwrap_or_default(), 1);
    let now = mcp_auth_core::unix_now();
    let mut claims = json!({
        "iss": "fake",
        "sub": format!("acme:{}", jag["sub"].as_str().unwrap_or_default()),
        "client_id": jag["client_id"],
        "aud": param("resource"),
        "iat": now,
        "exp": now + 300,
        "jti": mcp_auth_core::random_token::<8>().unwrap(),
    });
    let scope = param("scope").or_else(|| jag["scope"].as_str().map(str::to_owned));
    if let Some(s) = &scope {
        claims["scope"] = json!(s);
    }
    let dpop = headers.get("dpop").and_then(|v| v.to_str().ok());
    let jkt = dpop.and_then(|p| mcp_auth_conformance::dpop_proof::thumbprint(&part(p, 0)["jwk"]));
    if let Some(jkt) = &jkt {
        claims["cnf"] = json!({"jkt": jkt});
    }
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.c2ln",
        encode(&json!({"alg": "EdDSA", "typ": "at+jwt"})),
        encode(&claims)
    );
    let mut response = json!({
        "access_token": token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": 300,
    });
    if let Some(s) = scope {
        response["scope"] = json!(s);
    }
    ([("cache-control", "no-store")], axum::Json(response))
}

#[tokio::test]
async fn a_token_endpoint_that_accepts_any_id_jag_fails_exactly_the_refusal_checks() {
    let base = accepting_everything().await;
    let target = target(&base, idp().await);
    let all = checks();
    let results = run(&all, &target, None).await;
    println!("{}", report::table(&results));
    // The refusal checks: every row of the probe table, and the checks of the
    // grants module that need a refusal.
    let refusals = mcp_auth_conformance::ema_as_probes::checks();
    let mut failures: Vec<(&str, &str)> = refusals.iter().map(|c| (c.id, c.requirement)).collect();
    failures.extend([
        ("EMA-AS-6", "one and the same error_description"),
        ("EMA-AS-7", "two unknown kids"),
        (
            "EMA-AS-14",
            "the ID-JAG with one the resource does not define",
        ),
        ("EMA-AS-15", "the same ID-JAG twice →"),
        ("EMA-AS-15", "the same ID-JAG twice at once"),
        ("EMA-AS-15", "with the jti of a redeemed one"),
        ("EMA-AS-21", "steps 13 and 14"),
    ]);
    // The refusal that never comes cannot show that a refusal does not consume.
    let skips = [
        (
            "EMA-AS-15",
            "refused for its scope",
            "the first request is not refused",
        ),
        (
            "EMA-AS-15",
            "refused without client authentication",
            "the first request is not refused",
        ),
        (
            "EMA-AS-3",
            "registered dynamically",
            "the AS offers no registration_endpoint",
        ),
    ];
    assert_outcomes(&results, &skips, &failures);
    assert_no_secrets(&results);
}

/// The least a user must give: an Ed25519 IdP whose JWK Set the AS reads from a file
/// (the checker serves nothing), one scope, `client_secret_post`, no second client or
/// resource, no entry id or token lifetime. The checks that need more skip, saying
/// what to give; every other one passes.
#[tokio::test]
async fn with_the_least_inputs_the_checks_that_need_more_skip_saying_why() {
    let listener_free_issuer = "https://idp.conformance.example";
    let pem = SigningKey::generate(Algorithm::Ed25519)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    let minter = Minter::from_pem(&pem, listener_free_issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("idp.jwks.json");
    std::fs::write(&jwks, minter.jwks().to_string()).unwrap();
    let toml = format!(
        r#"{}
[[id_jag_issuers]]
id = "corp"
issuer = "{listener_free_issuer}"
jwks_file = "{}"
resources = ["{R1}"]
"#,
        clients_toml(),
        jwks.display()
    );
    let server = mcp_auth_testkit::start_as(&toml, |a| format!("http://{a}"), &[R1, R2]).await;
    let target = EmaTarget::new(
        AsTarget::new(&server.issuer).unwrap(),
        EnterpriseIdp::new(minter, SUBJECT).unwrap(),
        ConfidentialClient::new(CLIENT, SECRET, SecretMethod::Post),
        R1,
        vec!["mcp:read".to_owned()],
    );
    let results = run(&checks(), &target, None).await;
    println!("{}", report::table(&results));
    let other_client = "needs a client without the jwt-bearer grant (--other-client-id)";
    let other_resource = "needs a resource configured at the AS but not in the trust entry";
    let keys = "the checker does not serve the IdP's key set";
    let two_scopes = "needs two scopes";
    assert_outcomes(
        &results,
        &[
            (
                "EMA-AS-3",
                "a client without the jwt-bearer grant",
                other_client,
            ),
            ("EMA-AS-7", "cached", keys),
            ("EMA-AS-7", "two unknown kids", keys),
            ("EMA-AS-7", "unreachable", keys),
            (
                "EMA-AS-13",
                "configured at the AS, not in the entry",
                other_resource,
            ),
            ("EMA-AS-13", "another configured one", other_resource),
            ("EMA-AS-14", "(it grants another)", two_scopes),
            ("EMA-AS-14", "never narrowed", two_scopes),
            ("EMA-AS-21", "steps 3 and 10", other_client),
        ],
        &[],
    );
    assert_eq!(results.len(), CHECKS);
    assert_no_secrets(&results);
    let principal = results
        .iter()
        .find(|r| r.id == "EMA-AS-16")
        .unwrap()
        .outcome
        .evidence();
    assert!(
        principal.contains("sub \"corp:7f3c9a2e-5b1d-4e8f\" (entry id not given"),
        "{principal}"
    );
}

/// Our AS as an enterprise IdP: `desktop-agent` may exchange ID tokens for ID-JAGs
/// for the target `https://as.example.com`, `web-only` may not.
async fn our_idp() -> (mcp_auth_testkit::TestAs, IdpTarget) {
    let digest = STANDARD.encode(mcp_auth_server::client_auth::secret_digest(SECRET));
    let toml = format!(
        r#"
[[clients]]
client_id = "desktop-agent"
client_secret_sha256 = "{digest}"
grant_types = ["authorization_code", "refresh_token", "{TOKEN_EXCHANGE}"]
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid"]

[[clients]]
client_id = "web-only"
client_secret_sha256 = "{digest}"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid"]

[[id_jag_targets]]
id = "mcp-example"
audience = "{TARGET_AS}"
client_ids = {{ "desktop-agent" = "acme-agent" }}

[[id_jag_targets.rules]]
when = 'client.id == "desktop-agent"'
resources = ["{TARGET_RESOURCE}"]
scopes = ["mcp:read"]
default_scopes = ["mcp:read"]
"#
    );
    let server = mcp_auth_testkit::start_as(&toml, |a| format!("http://{a}"), &[R1]).await;
    let idp = idp_target(&server.issuer);
    (server, idp)
}

const TARGET_AS: &str = "https://as.example.com";
const TARGET_RESOURCE: &str = "https://mcp.example.com/mcp";

fn idp_target(issuer: &str) -> IdpTarget {
    let mut idp = IdpTarget::new(
        AsTarget::new(issuer).unwrap(),
        ConfidentialClient::new("desktop-agent", SECRET, SecretMethod::Basic),
        TARGET_AS,
        TARGET_RESOURCE,
    )
    .unwrap();
    idp.target.other_client = Some(ConfidentialClient::new(
        "web-only",
        SECRET,
        SecretMethod::Basic,
    ));
    idp
}

/// How many EMA-IDP checks run without a sign-in.
const IDP_CHECKS: usize = 29;

#[tokio::test]
async fn every_ema_idp_check_without_a_sign_in_passes_against_our_idp() {
    let (_server, idp) = our_idp().await;
    let results = run(&idp_checks(), &idp, None).await;
    println!("{}", report::table(&results));
    assert_outcomes(&results, &[], &[]);
    assert_eq!(results.len(), IDP_CHECKS);
    assert_no_secrets(&results);
}

/// The same checks against the token endpoint that issues a token for anything,
/// with no IdP metadata: every one fails; without the second client, its check
/// skips.
#[tokio::test]
async fn a_token_endpoint_that_issues_anything_fails_every_ema_idp_check() {
    let base = accepting_everything().await;
    let mut idp = idp_target(&base);
    idp.target.other_client = None;
    let results = run(&idp_checks(), &idp, None).await;
    println!("{}", report::table(&results));
    let failures: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| !r.requirement.contains("without the token-exchange grant"))
        .map(|r| (r.id, r.requirement))
        .collect();
    let skips = [(
        "EMA-IDP-3",
        "without the token-exchange grant",
        "needs a client of the IdP without the token-exchange grant",
    )];
    assert_outcomes(&results, &skips, &failures);
    assert_eq!(failures.len(), IDP_CHECKS - 1);
}
