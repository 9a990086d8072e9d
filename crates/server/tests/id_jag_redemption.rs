//! The MCP authorization server's side of profiles/enterprise-managed-authorization.md:
//! a configured client redeems an ID-JAG its enterprise IdP issued (the `jwt-bearer`
//! grant, `typ` `oauth-id-jag+jwt`), over real HTTP on 127.0.0.1, with the IdP's keys
//! found by discovery on a loopback issuer and the ID-JAGs minted by `jsonwebtoken`.
//! One test per EMA-AS requirement that can be seen on the wire; every refusal
//! asserts status, `error` and `Cache-Control`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, Header};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use workload_env::{Answer, Federation, IssuerKey, R1, R2};

mod workload_env;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLIENT: &str = "acme-agent";
const SECRET: &str = "acme-secret";
/// WIF §10.2 (EMA-AS-6): the one description of steps 6 to 8.
const UNTRUSTED: &str = "the assertion is not signed by an issuer this server trusts";

/// A federation whose GitHub-shaped issuer is also the enterprise IdP `acme`, and a
/// confidential client `acme-agent` (secret `acme-secret`) that may redeem ID-JAGs.
async fn start() -> Federation {
    Federation::start_with(|idp| {
        format!(
            r#"
[[clients]]
client_id = "{CLIENT}"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["{GRANT}"]
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "other-agent"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["client_credentials"]
scopes = ["mcp:read"]

[[id_jag_issuers]]
id = "acme"
issuer = "{idp}"
discovery = true
algorithms = ["RS256"]
resources = ["{R1}"]
"#,
            idp = idp.base
        )
    })
    .await
}

/// The claims of an ID-JAG of `acme` for `acme-agent` at R1.
fn claims(f: &Federation) -> Value {
    let now = f.now();
    json!({
        "iss": f.github.base,
        "sub": "7f3c9a2e-5b1d-4e8f",
        "aud": f.issuer,
        "client_id": CLIENT,
        "resource": R1,
        "scope": "mcp:read mcp:write",
        "jti": format!("jag-{}", rand_suffix()),
        "iat": now,
        "exp": now + 300,
        "auth_time": now - 60,
    })
}

/// `claims` with the members of `patch` set, or removed where `patch` has `null`.
fn patched(mut claims: Value, patch: &Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn rand_suffix() -> String {
    mcp_auth_core::random_token::<8>().unwrap()
}

/// An ID-JAG: `claims` signed by the IdP with `typ` `oauth-id-jag+jwt`.
fn id_jag(f: &Federation, claims: &Value) -> String {
    id_jag_by(&f.github.key, claims)
}

fn id_jag_by(key: &IssuerKey, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(key.kid.clone());
    h.typ = Some("oauth-id-jag+jwt".into());
    key.sign_with(h, claims)
}

/// The redemption with client_secret_basic of `client` and `extra` parameters.
async fn redeem(f: &Federation, client: &str, assertion: &str, extra: &[(&str, &str)]) -> Answer {
    redeem_with(f, client, assertion, extra, &[]).await
}

async fn redeem_with(
    f: &Federation,
    client: &str,
    assertion: &str,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    redeem_at(f, &f.as_base, client, assertion, extra, headers).await
}

async fn redeem_at(
    f: &Federation,
    base: &str,
    client: &str,
    assertion: &str,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"))
    );
    let mut form = vec![
        ("grant_type", GRANT),
        ("assertion", assertion),
        ("resource", R1),
    ];
    form.extend_from_slice(extra);
    let mut all = vec![("authorization", basic.as_str())];
    all.extend_from_slice(headers);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    f.post_raw_to(base, body, &all).await
}

#[tokio::test]
async fn ema_as_1_metadata_lists_the_grant_and_the_id_jag_profile_without_issuers() {
    let f = start().await;
    let meta = f.metadata().await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
    assert_eq!(
        meta["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
    assert!(!meta.to_string().contains(&f.github.base));
}

#[tokio::test]
async fn ema_as_16_an_id_jag_gets_a_token_for_the_principal_and_the_client() {
    let f = start().await;
    let a = redeem(&f, CLIENT, &id_jag(&f, &claims(&f)), &[]).await;
    let c = a.claims();
    assert_eq!(c["sub"], "acme:7f3c9a2e-5b1d-4e8f");
    assert_eq!(c["client_id"], CLIENT);
    assert_eq!(c["aud"], R1);
    assert_eq!(
        c["scope"], "mcp:read mcp:write",
        "the ID-JAG's scopes, none requested"
    );
    // EMA-AS-17: the entry's lifetime (the AS default, 300 s), no refresh token.
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert!(a.body.get("refresh_token").is_none());
    assert_eq!(a.body["token_type"], "Bearer");
    let names: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 8, "nothing else from the ID-JAG: {names:?}");
}

#[tokio::test]
async fn ema_as_2_the_typ_decides_and_an_id_jag_is_never_a_workload_assertion() {
    let f = start().await;
    let c = claims(&f);
    for typ in ["OAUTH-ID-JAG+JWT", "application/oauth-id-jag+jwt"] {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(f.github.key.kid.clone());
        h.typ = Some(typ.into());
        let mut c = c.clone();
        c["jti"] = json!(rand_suffix());
        let a = redeem(&f, CLIENT, &f.github.key.sign_with(h, &c), &[]).await;
        assert_eq!(a.status, 200, "{typ}: {}", a.body);
    }
    // Without client authentication it is still an ID-JAG: 401, never the workload
    // path (where the same issuer is trusted for workloads).
    let a = f.grant(&id_jag(&f, &claims(&f)), R1, &[]).await;
    a.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn ema_as_3_the_client_authenticates_and_may_use_the_grant() {
    let f = start().await;
    let t = id_jag(&f, &claims(&f));
    // Wrong secret.
    let a = f
        .post(
            &[("grant_type", GRANT), ("assertion", &t), ("resource", R1)],
            &[("authorization", "Basic YWNtZS1hZ2VudDp3cm9uZw==")],
        )
        .await;
    a.assert_error(401, "invalid_client");
    // A client without the grant.
    redeem(&f, "other-agent", &t, &[])
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn ema_as_4_a_dpop_proof_binds_the_token() {
    let f = start().await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = signer
        .proof("POST", &format!("{}/token", f.issuer), None, None, f.now())
        .unwrap();
    let a = redeem_with(
        &f,
        CLIENT,
        &id_jag(&f, &claims(&f)),
        &[],
        &[("dpop", &proof)],
    )
    .await;
    assert_eq!(a.claims()["cnf"], json!({"jkt": signer.jkt()}));
    assert_eq!(a.body["token_type"], "DPoP");
}

#[tokio::test]
async fn ema_as_6_untrusted_issuer_tenant_key_and_signature_read_the_same() {
    let f = start().await;
    let mut stranger = claims(&f);
    stranger["iss"] = json!("https://stranger.example");
    let mut tenant = claims(&f);
    tenant["tenant"] = json!("another-tenant");
    let other_key = IssuerKey::generate(Algorithm::RS256, "gh-1");
    for t in [
        id_jag(&f, &stranger),
        id_jag(&f, &tenant),
        id_jag_by(&other_key, &claims(&f)),
    ] {
        let a = redeem(&f, CLIENT, &t, &[]).await;
        a.assert_error(400, "invalid_grant");
        assert_eq!(a.description(), UNTRUSTED);
    }
}

#[tokio::test]
async fn ema_as_8_and_9_audience_and_times() {
    let f = start().await;
    let now = f.now();
    for patch in [
        json!({"aud": format!("{}/token", f.issuer)}),
        json!({"aud": [f.issuer, "https://other.example"]}),
        json!({"exp": now - 61}),
        json!({"iat": null}),
        json!({"iat": now + 61}),
        json!({"iat": now - 400, "exp": now + 10}),
    ] {
        let c = patched(claims(&f), &patch);
        redeem(&f, CLIENT, &id_jag(&f, &c), &[])
            .await
            .assert_error(400, "invalid_grant");
    }
    // Issued 61 s ahead for the full 300 s: too long from now, but the fault is `iat`,
    // and that is what the description says.
    let c = patched(claims(&f), &json!({"iat": now + 61, "exp": now + 361}));
    let answer = redeem(&f, CLIENT, &id_jag(&f, &c), &[]).await;
    answer.assert_error(400, "invalid_grant");
    assert!(
        answer.body["error_description"]
            .as_str()
            .unwrap()
            .contains("issued in the future"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn ema_as_10_and_11_claim_forms_and_the_client_continuity() {
    let f = start().await;
    for patch in [
        json!({"jti": null}),
        json!({"client_id": null}),
        json!({"resource": [R1, R2]}),
        json!({"scope": ["mcp:read"]}),
        json!({"act": {"sub": "agent"}}),
        json!({"client_id": "someone-else"}),
    ] {
        let c = patched(claims(&f), &patch);
        redeem(&f, CLIENT, &id_jag(&f, &c), &[])
            .await
            .assert_error(400, "invalid_grant");
    }
}

#[tokio::test]
async fn ema_as_12_a_cnf_needs_a_proof_with_that_key() {
    let f = start().await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let mut c = claims(&f);
    c["cnf"] = json!({"jkt": signer.jkt()});
    let t = id_jag(&f, &c);
    redeem(&f, CLIENT, &t, &[])
        .await
        .assert_error(400, "invalid_grant");
    let other = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = |s: &ProofSigner| {
        s.proof("POST", &format!("{}/token", f.issuer), None, None, f.now())
            .unwrap()
    };
    redeem_with(&f, CLIENT, &t, &[], &[("dpop", &proof(&other))])
        .await
        .assert_error(400, "invalid_grant");
    let a = redeem_with(&f, CLIENT, &t, &[], &[("dpop", &proof(&signer))]).await;
    assert_eq!(a.claims()["cnf"], json!({"jkt": signer.jkt()}));
}

#[tokio::test]
async fn ema_as_13_and_14_resource_and_scopes_stay_within_the_grant() {
    let f = start().await;
    // The request's resource must be the ID-JAG's.
    let mut other = claims(&f);
    other["resource"] = json!(R2);
    redeem(&f, CLIENT, &id_jag(&f, &other), &[])
        .await
        .assert_error(400, "invalid_target");
    // Scopes: within the ID-JAG's, never narrowed.
    let mut read = claims(&f);
    read["scope"] = json!("mcp:read");
    redeem(&f, CLIENT, &id_jag(&f, &read), &[("scope", "mcp:write")])
        .await
        .assert_error(400, "invalid_scope");
    // No scope claim: no scope.
    let mut none = claims(&f);
    none.as_object_mut().unwrap().remove("scope");
    let a = redeem(&f, CLIENT, &id_jag(&f, &none), &[]).await;
    assert!(a.claims().get("scope").is_none(), "{}", a.body);
}

#[tokio::test]
async fn ema_as_15_an_id_jag_is_redeemed_once_and_a_refused_one_is_not_consumed() {
    let f = start().await;
    let t = id_jag(&f, &claims(&f));
    // Refused for its scope first: not consumed.
    redeem(&f, CLIENT, &t, &[("scope", "mcp:admin")])
        .await
        .assert_error(400, "invalid_scope");
    assert_eq!(redeem(&f, CLIENT, &t, &[]).await.status, 200);
    let a = redeem(&f, CLIENT, &t, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), "this ID-JAG has already been redeemed");
    // Two at once: exactly one token.
    let t = id_jag(&f, &claims(&f));
    let (x, y) = tokio::join!(redeem(&f, CLIENT, &t, &[]), redeem(&f, CLIENT, &t, &[]));
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn ema_as_15_the_record_is_in_the_database_another_instance_or_a_restart_refuses_it() {
    let f = start().await;
    let t = id_jag(&f, &claims(&f));
    assert_eq!(redeem(&f, CLIENT, &t, &[]).await.status, 200);
    // Another instance on the same database (or this one restarted): its memory is
    // empty, the database is not (§12.4).
    let other = f.another_instance().await;
    let a = redeem_at(&f, &other, CLIENT, &t, &[], &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), "this ID-JAG has already been redeemed");
    // And the other way round: redeemed there first, refused here.
    let t = id_jag(&f, &claims(&f));
    assert_eq!(
        redeem_at(&f, &other, CLIENT, &t, &[], &[]).await.status,
        200
    );
    redeem(&f, CLIENT, &t, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn ema_as_10_a_sub_that_is_not_ascii_is_refused() {
    let f = start().await;
    for sub in ["test:élise-ü", "tab\there", "x".repeat(256).as_str()] {
        let mut c = claims(&f);
        c["sub"] = json!(sub);
        redeem(&f, CLIENT, &id_jag(&f, &c), &[])
            .await
            .assert_error(400, "invalid_grant");
    }
    let mut c = claims(&f);
    c["sub"] = json!("user 7f3c@acme.example");
    assert_eq!(redeem(&f, CLIENT, &id_jag(&f, &c), &[]).await.status, 200);
}

#[tokio::test]
async fn ema_as_2_without_id_jag_issuers_an_id_jag_is_refused() {
    let f = Federation::start("").await;
    let mut c = claims(&f);
    c["iss"] = json!(f.k8s.base);
    let a = f.grant(&id_jag_by(&f.k8s.key, &c), R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(
        a.description(),
        "ID-JAG assertions are not accepted by this server"
    );
}

#[tokio::test]
async fn ema_as_5_crit_and_header_keys_are_refused_or_ignored() {
    let f = start().await;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(f.github.key.kid.clone());
    h.typ = Some("oauth-id-jag+jwt".into());
    h.crit = Some(vec!["exp".into()]);
    redeem(&f, CLIENT, &f.github.key.sign_with(h, &claims(&f)), &[])
        .await
        .assert_error(400, "invalid_grant");
    // A key offered in jku is never used.
    let attacker = IssuerKey::generate(Algorithm::RS256, "gh-1");
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("gh-1".into());
    h.typ = Some("oauth-id-jag+jwt".into());
    h.jku = Some("https://attacker.example/jwks".into());
    let a = redeem(&f, CLIENT, &attacker.sign_with(h, &claims(&f)), &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
}

#[tokio::test]
async fn ema_as_18_an_id_jag_naming_this_as_as_its_issuer_is_refused() {
    let f = start().await;
    // Signed with the AS's own access-token key, as only the AS could.
    let mut c = claims(&f);
    c["iss"] = json!(f.issuer);
    let stored = f.state.store.signing_keys().await.unwrap();
    let active = stored.iter().find(|k| k.retired_at.is_none()).unwrap();
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(active.kid.clone());
    h.typ = Some("oauth-id-jag+jwt".into());
    let key = jsonwebtoken::EncodingKey::from_ed_pem(active.private_pem.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&h, &c, &key).unwrap();
    let a = redeem(&f, CLIENT, &token, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
}

#[tokio::test]
async fn ema_as_21_the_first_failing_check_is_reported() {
    let f = start().await;
    // A wrong client secret (step 3) and an expired ID-JAG (step 9): step 3.
    let mut expired = claims(&f);
    expired["exp"] = json!(f.now() - 1000);
    let t = id_jag(&f, &expired);
    let a = f
        .post(
            &[("grant_type", GRANT), ("assertion", &t), ("resource", R1)],
            &[("authorization", "Basic YWNtZS1hZ2VudDp3cm9uZw==")],
        )
        .await;
    a.assert_error(401, "invalid_client");
    // Expired (step 9) and another client's (step 10): step 9.
    let mut both = expired.clone();
    both["client_id"] = json!("someone-else");
    let a = redeem(&f, CLIENT, &id_jag(&f, &both), &[]).await;
    a.assert_error(400, "invalid_grant");
    assert!(a.description().contains("expired"), "{}", a.body);
    // Another client's (step 10) and a wrong resource (step 12): step 10.
    let mut c = claims(&f);
    c["client_id"] = json!("someone-else");
    c["resource"] = json!(R2);
    let a = redeem(&f, CLIENT, &id_jag(&f, &c), &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), "the ID-JAG was issued for another client");
}

/// EMA-AS-22. The only test of this binary that installs a subscriber: the global
/// one (the other tests' lines land in it too; this test reads its own by `jti`).
#[tokio::test]
async fn ema_as_22_redemptions_and_refusals_are_logged_without_the_id_jag() {
    let captured = mcp_auth_testkit::Captured::install();
    let f = start().await;
    let c = claims(&f);
    let jti = c["jti"].as_str().unwrap().to_owned();
    let t = id_jag(&f, &c);
    assert_eq!(redeem(&f, CLIENT, &t, &[]).await.status, 200);
    let mut other = claims(&f);
    other["client_id"] = json!("someone-else");
    let other_jti = other["jti"].as_str().unwrap().to_owned();
    let refused = id_jag(&f, &other);
    redeem(&f, CLIENT, &refused, &[])
        .await
        .assert_error(400, "invalid_grant");
    let log = captured.text();
    let line = |needle: &str, jti: &str| {
        log.lines()
            .find(|l| l.contains(needle) && l.contains(jti))
            .unwrap_or_else(|| panic!("no `{needle}` line for {jti} in:\n{log}"))
            .to_owned()
    };
    let redeemed = line("ID-JAG redeemed", &jti);
    for part in [
        "entry=acme",
        "id_jag_sub=7f3c9a2e-5b1d-4e8f",
        "client_id=acme-agent",
        "principal=acme:7f3c9a2e-5b1d-4e8f",
    ] {
        assert!(redeemed.contains(part), "{part} in {redeemed}");
    }
    let refusal = line("ID-JAG refused", &other_jti);
    assert!(
        refusal.contains("id_jag_client_id=\"someone-else\""),
        "{refusal}"
    );
    for token in [&t, &refused] {
        assert!(
            !log.contains(token.rsplit('.').next().unwrap()),
            "an ID-JAG was logged"
        );
    }
}
