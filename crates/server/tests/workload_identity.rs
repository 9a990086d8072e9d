//! The `jwt-bearer` grant with workload assertions
//! (profiles/workload-identity-federation.md), over real HTTP on 127.0.0.1: a
//! Kubernetes-shaped issuer found by discovery, a GitHub-shaped one with a
//! configured `jwks_uri`, a SPIFFE bundle endpoint, and assertions minted by the
//! `jsonwebtoken` crate. One test per WIF-AS requirement that can be seen on the
//! wire; every refusal asserts status, `error` and `Cache-Control`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, Header};
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_core::dpop::ProofSigner;
use mcp_auth_httpsig::JwsAlgorithm;
use serde_json::{Value, json};

use workload_env::{Federation, GITHUB_SUB, IssuerKey, K8S_SUB, R1, R2, SPIFFE_SUB, TRUST_DOMAIN};

mod workload_env;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// WIF §10.2: the one description of steps 6 to 8.
const UNTRUSTED: &str = "the assertion is not signed by an issuer this server trusts";

#[tokio::test]
async fn wif_as_1_the_grant_is_listed_and_a_kubernetes_token_gets_an_access_token() {
    let f = Federation::start("").await;
    let meta = f.metadata().await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT)),
        "{meta}"
    );
    // WIF §5.1: no trusted issuer is published.
    assert!(!meta.to_string().contains(&f.k8s.base));
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    let claims = a.claims();
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.headers["cache-control"], "no-store");
    // WIF-AS-21: the rule's principal, the resource, nothing from the assertion.
    assert_eq!(claims["sub"], "k8s:mcp-agents/planner");
    assert_eq!(claims["client_id"], "k8s:mcp-agents/planner");
    assert_eq!(claims["aud"], R1);
    assert_eq!(claims["iss"], f.issuer);
    assert_eq!(claims["scope"], "mcp:read", "the resource's default scope");
    let names: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for n in &names {
        assert!(
            [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "jti",
                "client_id",
                "scope"
            ]
            .contains(n),
            "unexpected claim {n}"
        );
    }
    // The issuer was asked for its discovery document and its keys.
    assert!(f.k8s.key_requests() >= 1);
}

#[tokio::test]
async fn wif_as_1_github_and_spiffe_issuers_get_access_tokens_too() {
    let f = Federation::start("").await;
    let gh = f.github.key.sign(&f.github_claims());
    let a = f.grant(&gh, R1, &[("scope", "mcp:read")]).await;
    assert_eq!(a.claims()["sub"], "github:acme/tools@main");
    // A JWT-SVID: no iss, no jti, ES256, keys from the bundle.
    let svid = f.spiffe.key.sign(&f.spiffe_claims());
    let a = f.grant(&svid, R1, &[]).await;
    assert_eq!(a.claims()["sub"], SPIFFE_SUB);
}

#[tokio::test]
async fn wif_as_1_without_trusted_issuers_the_grant_is_not_offered() {
    let server = mcp_auth_testkit::start_as("", |a| format!("http://{a}"), &[R1]).await;
    let meta: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
    let r = server
        .http
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", GRANT),
            ("assertion", "a.b.c"),
            ("resource", R1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn wif_as_2_assertion_and_resource_are_required_once() {
    let f = Federation::start("").await;
    let t = f.k8s_token();
    f.post(&[("grant_type", GRANT), ("resource", R1)], &[])
        .await
        .assert_error(400, "invalid_request");
    f.post(&[("grant_type", GRANT), ("assertion", &t)], &[])
        .await
        .assert_error(400, "invalid_request");
    f.post(
        &[
            ("grant_type", GRANT),
            ("assertion", &t),
            ("assertion", &t),
            ("resource", R1),
        ],
        &[],
    )
    .await
    .assert_error(400, "invalid_request");
    f.post(
        &[
            ("grant_type", GRANT),
            ("assertion", &t),
            ("resource", R1),
            ("resource", R2),
        ],
        &[],
    )
    .await
    .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn wif_as_3_the_kind_is_decided_by_typ() {
    let f = Federation::start("").await;
    let claims = f.k8s_claims();
    let typed = |typ: Option<&str>| {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(f.k8s.key.kid.clone());
        h.typ = typ.map(str::to_owned);
        f.k8s.key.sign_with(h, &claims)
    };
    for accepted in [None, Some("JWT"), Some("jose"), Some("application/jwt")] {
        let a = f.grant(&typed(accepted), R1, &[]).await;
        assert_eq!(a.status, 200, "typ {accepted:?}: {}", a.body);
    }
    // An ID-JAG signed by a trusted issuer is not a workload assertion, and this AS
    // does not implement the enterprise profile.
    for refused in [
        Some("oauth-id-jag+jwt"),
        Some("at+jwt"),
        Some("dpop+jwt"),
        Some("wit+jwt"),
    ] {
        f.grant(&typed(refused), R1, &[])
            .await
            .assert_error(400, "invalid_grant");
    }
}

#[tokio::test]
async fn wif_as_4_client_authentication_is_refused() {
    let f = Federation::start("").await;
    let t = f.k8s_token();
    let a = f
        .post(
            &[("grant_type", GRANT), ("assertion", &t), ("resource", R1)],
            &[("authorization", "Basic Y2ktYm90OnNlY3JldA==")],
        )
        .await;
    a.assert_error(400, "invalid_request");
    for p in [
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    ] {
        f.grant(&t, R1, &[(p, "x")])
            .await
            .assert_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn wif_as_5_a_dpop_proof_binds_the_token() {
    let f = Federation::start("").await;
    let signer = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = signer
        .proof("POST", &format!("{}/token", f.issuer), None, None, f.now())
        .unwrap();
    let t = f.k8s_token();
    let form = [
        ("grant_type", GRANT),
        ("assertion", t.as_str()),
        ("resource", R1),
    ];
    let a = f.post(&form, &[("dpop", &proof)]).await;
    assert_eq!(a.claims()["cnf"], json!({"jkt": signer.jkt()}));
    assert_eq!(a.body["token_type"], "DPoP");
    // A bad proof: the dpop profile's error.
    let a = f.post(&form, &[("dpop", "not-a-proof")]).await;
    a.assert_error(400, "invalid_dpop_proof");
}

/// A header map as the (name, value) pairs `post_raw` sends.
fn header_pairs(headers: &http::HeaderMap) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn wif_as_5_a_runtime_key_signature_binds_the_token_and_a_keyid_is_refused() {
    let f = Federation::start("").await;
    let t = f.k8s_token();
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", GRANT),
            ("assertion", t.as_str()),
            ("resource", R1),
        ])
        .finish();
    let signed = |signer: &HttpSigSigner| {
        let (mut parts, ()) = http::Request::post(format!("{}/token", f.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap()
            .into_parts();
        signer
            .sign_token_request(&mut parts, body.as_bytes(), f.now())
            .unwrap();
        parts.headers
    };
    let runtime = HttpSigSigner::new(
        ProofKey::generate_runtime(mcp_auth_httpsig::Algorithm::Ed25519).unwrap(),
    );
    let headers = signed(&runtime);
    let pairs = header_pairs(&headers);
    let a = f.post_raw(body.clone(), &pairs).await;
    assert_eq!(a.body["token_type"], "httpsig", "{}", a.body);
    assert!(a.claims()["cnf"].is_object());
    // A pre-registered key id names a client's keys; there is no client.
    let key = mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let prereg = HttpSigSigner::new(
        ProofKey::preregistered(key, JwsAlgorithm::Ed25519, "workload-key").unwrap(),
    );
    let headers = signed(&prereg);
    let pairs = header_pairs(&headers);
    f.post_raw(body.clone(), &pairs)
        .await
        .assert_error(400, "invalid_signature");
    // Both a signature and a DPoP proof.
    let headers = signed(&runtime);
    let mut pairs = header_pairs(&headers);
    let dpop = ProofSigner::generate(JwsAlgorithm::Es256).unwrap();
    let proof = dpop
        .proof("POST", &format!("{}/token", f.issuer), None, None, f.now())
        .unwrap();
    pairs.push(("dpop", &proof));
    f.post_raw(body.clone(), &pairs)
        .await
        .assert_error(400, "invalid_request");
    // Both, the signature broken: still `invalid_request`, decided before either is
    // verified (WIF-AS-23; found by the independent client of interop/wif-profile).
    let mut headers = signed(&runtime);
    headers.insert("signature", "sig=:AAAA:".parse().unwrap());
    let mut pairs = header_pairs(&headers);
    pairs.push(("dpop", &proof));
    f.post_raw(body, &pairs)
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn wif_as_6_header_keys_are_never_followed_and_crit_is_refused() {
    let f = Federation::start("").await;
    let claims = f.k8s_claims();
    // The attacker's key, offered in jku (served by an issuer the AS does not
    // trust) and as an embedded jwk: neither is used.
    let attacker =
        workload_env::Issuer::start(IssuerKey::generate(Algorithm::RS256, "k8s-1"), false).await;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k8s-1".into());
    h.jku = Some(format!("{}/jwks", attacker.base));
    let forged = attacker.key.sign_with(h, &claims);
    let a = f.grant(&forged, R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
    assert_eq!(attacker.requests(), 0, "the AS never fetched the jku");
    // An extra x5t (GitHub and Entra ID tokens carry one) does not prevent acceptance.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(f.k8s.key.kid.clone());
    h.x5t = Some("bm90LWEtdGh1bWJwcmludA".into());
    assert_eq!(
        f.grant(&f.k8s.key.sign_with(h, &claims), R1, &[])
            .await
            .status,
        200
    );
    // crit: refused before any key is looked at.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(f.k8s.key.kid.clone());
    h.crit = Some(vec!["exp".into()]);
    f.grant(&f.k8s.key.sign_with(h, &claims), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    // Not a compact JWS; over 16 KiB.
    f.grant("not.a.jws.at.all", R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    let mut big = f.k8s_claims();
    big["padding"] = json!("x".repeat(17 * 1024));
    f.grant(&f.k8s.key.sign(&big), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn wif_as_7_none_hmac_and_eddsa_for_spiffe_are_refused() {
    let f = Federation::start("").await;
    let claims = f.k8s_claims();
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k8s-1"})),
        b64(&claims)
    );
    f.grant(&none, R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    // HS256 keyed with the issuer's public key bytes (the classic confusion).
    let public = f.k8s.key.jwk.to_string();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k8s-1".into());
    let hs = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    f.grant(&hs, R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    // An EdDSA JWT-SVID, its key even published in the bundle: never for SPIFFE.
    let ed = IssuerKey::generate(Algorithm::EdDSA, "spire-ed");
    let mut jwk = ed.jwk.clone();
    jwk["use"] = json!("jwt-svid");
    f.spiffe.publish(&IssuerKey { jwk, ..ed.clone() });
    let a = f.grant(&ed.sign(&f.spiffe_claims()), R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
}

#[tokio::test]
async fn wif_as_8_an_unconfigured_issuer_is_refused_and_never_contacted() {
    let f = Federation::start("").await;
    let stranger =
        workload_env::Issuer::start(IssuerKey::generate(Algorithm::RS256, "s-1"), false).await;
    let mut claims = f.k8s_claims();
    claims["iss"] = json!(stranger.base);
    let a = f.grant(&stranger.key.sign(&claims), R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
    assert_eq!(stranger.requests(), 0);
    // A SPIFFE ID of a configured trust domain is verified with that trust domain's
    // bundle, whatever `iss` says: the Kubernetes issuer cannot vouch for it.
    let mut claims = f.k8s_claims();
    claims["sub"] = json!(SPIFFE_SUB);
    let a = f.grant(&f.k8s.key.sign(&claims), R1, &[]).await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.description(), UNTRUSTED);
}

#[tokio::test]
async fn wif_as_14_the_audience_is_exactly_the_issuer() {
    let f = Federation::start("").await;
    for aud in [
        json!(format!("{}/", f.issuer)),
        json!(format!("{}/token", f.issuer)),
        json!([f.issuer, "https://other.example"]),
        json!("https://kubernetes.default.svc"),
    ] {
        let mut claims = f.k8s_claims();
        claims["aud"] = aud.clone();
        let a = f.grant(&f.k8s.key.sign(&claims), R1, &[]).await;
        a.assert_error(400, "invalid_grant");
        assert!(a.description().contains("aud"), "{aud}: {}", a.body);
    }
}

#[tokio::test]
async fn wif_as_15_times_and_lifetime_are_checked_with_the_skew() {
    let f = Federation::start("").await;
    let now = f.now();
    let cases = [
        json!({"exp": now - 61}),
        json!({"nbf": now + 61}),
        json!({"iat": now + 61}),
        json!({"iat": now, "exp": now + 3661}),
    ];
    for patch in cases {
        let mut claims = f.k8s_claims();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        f.grant(&f.k8s.key.sign(&claims), R1, &[])
            .await
            .assert_error(400, "invalid_grant");
    }
    // Within the skew: accepted.
    let mut claims = f.k8s_claims();
    claims["exp"] = json!(now - 30);
    claims["iat"] = json!(now - 3600);
    claims["nbf"] = json!(now - 3600);
    assert_eq!(f.grant(&f.k8s.key.sign(&claims), R1, &[]).await.status, 200);
    // No exp.
    let mut claims = f.k8s_claims();
    claims.as_object_mut().unwrap().remove("exp");
    f.grant(&f.k8s.key.sign(&claims), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn wif_as_16_sub_is_required_and_a_spiffe_id_of_the_trust_domain() {
    let f = Federation::start("").await;
    let mut claims = f.k8s_claims();
    claims.as_object_mut().unwrap().remove("sub");
    f.grant(&f.k8s.key.sign(&claims), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    let mut svid = f.spiffe_claims();
    svid["sub"] = json!(format!("spiffe://{TRUST_DOMAIN}/bad//path"));
    f.grant(&f.spiffe.key.sign(&svid), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn wif_as_17_one_assertion_serves_several_requests_without_refresh_tokens() {
    let f = Federation::start("").await;
    let t = f.k8s_token();
    let mut jtis = Vec::new();
    for resource in [R1, R2, R1] {
        let a = f.grant(&t, resource, &[("scope", "mcp:read")]).await;
        let claims = a.claims();
        assert_eq!(claims["aud"], resource);
        assert!(a.body.get("refresh_token").is_none());
        jtis.push(claims["jti"].clone());
    }
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "three distinct access tokens");
}

#[tokio::test]
async fn wif_as_18_no_access_token_outlives_its_assertion() {
    let f = Federation::start("").await;
    // The rule's lifetime (600 s) when the assertion lives longer.
    let a = f.grant(&f.k8s_token(), R1, &[]).await;
    let c = a.claims();
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert_eq!(a.body["expires_in"], 600);
    // The assertion's exp plus the skew when that comes first.
    let mut claims = f.k8s_claims();
    claims["exp"] = json!(f.now() + 100);
    let a = f.grant(&f.k8s.key.sign(&claims), R1, &[]).await;
    let c = a.claims();
    assert_eq!(c["exp"].as_i64().unwrap(), f.now() + 100 + 60);
    assert_eq!(a.body["expires_in"], 160);
}

#[tokio::test]
async fn wif_as_19_rules_decide_in_order_and_none_matching_is_unauthorized_client() {
    let f = Federation::start("").await;
    // Rule 0 reads a claim Kubernetes tokens lack: an evaluation error, no match;
    // rule 1 matches the planner.
    assert_eq!(
        f.grant(&f.k8s_token(), R1, &[]).await.claims()["sub"],
        "k8s:mcp-agents/planner"
    );
    // Another service account of the namespace: rule 2.
    let mut claims = f.k8s_claims();
    claims["sub"] = json!("system:serviceaccount:mcp-agents:indexer");
    let a = f.grant(&f.k8s.key.sign(&claims), R2, &[]).await;
    assert_eq!(a.claims()["sub"], "k8s:mcp-agents/other");
    // First match decides: rule 2 does not allow R1, and no later rule is asked.
    f.grant(&f.k8s.key.sign(&claims), R1, &[])
        .await
        .assert_error(400, "invalid_target");
    // No rule: another namespace.
    let mut claims = f.k8s_claims();
    claims["sub"] = json!("system:serviceaccount:default:default");
    let a = f.grant(&f.k8s.key.sign(&claims), R1, &[]).await;
    a.assert_error(400, "unauthorized_client");
    assert_eq!(
        a.description(),
        "no workload rule of this issuer matches the assertion"
    );
    // GitHub: the numeric repository id is pinned; another repository with the same
    // name after a rename does not match.
    let mut gh = f.github_claims();
    gh["repository_id"] = json!("99999999");
    f.grant(&f.github.key.sign(&gh), R1, &[])
        .await
        .assert_error(400, "unauthorized_client");
    assert_eq!(GITHUB_SUB, gh["sub"]);
}

#[tokio::test]
async fn wif_as_20_resource_and_scopes_stay_within_the_rule() {
    let f = Federation::start("").await;
    let t = f.k8s_token();
    f.grant(&t, "http://127.0.0.1:9/unknown", &[])
        .await
        .assert_error(400, "invalid_target");
    // GitHub's rule allows R1 only, and mcp:read only.
    let gh = f.github.key.sign(&f.github_claims());
    f.grant(&gh, R2, &[])
        .await
        .assert_error(400, "invalid_target");
    f.grant(&gh, R1, &[("scope", "mcp:read mcp:write")])
        .await
        .assert_error(400, "invalid_scope");
    f.grant(&gh, R1, &[("scope", "mcp:admin")])
        .await
        .assert_error(400, "invalid_scope");
    // No scope: R1's default scope, within the rule.
    assert_eq!(f.grant(&gh, R1, &[]).await.claims()["scope"], "mcp:read");
    // R2 has no default scope: a token without scope.
    let a = f.grant(&t, R2, &[]).await;
    assert!(a.claims().get("scope").is_none(), "{}", a.body);
    assert!(a.body.get("scope").is_none());
}

#[tokio::test]
async fn wif_as_23_the_first_failing_check_is_reported() {
    let f = Federation::start("").await;
    // Client authentication (step 3) and an expired assertion (step 9).
    let mut claims = f.k8s_claims();
    claims["exp"] = json!(f.now() - 1000);
    let expired = f.k8s.key.sign(&claims);
    f.grant(&expired, R1, &[("client_id", "x")])
        .await
        .assert_error(400, "invalid_request");
    // Wrong typ (step 2) and client authentication (step 3).
    let mut h = Header::new(Algorithm::RS256);
    h.typ = Some("at+jwt".into());
    f.grant(&f.k8s.key.sign_with(h, &claims), R1, &[("client_id", "x")])
        .await
        .assert_error(400, "invalid_grant");
    // Untrusted signature (step 8) and a wrong audience (step 9): step 8's text.
    let stranger = IssuerKey::generate(Algorithm::RS256, "k8s-1");
    let mut claims = f.k8s_claims();
    claims["aud"] = json!("https://elsewhere.example");
    let a = f.grant(&stranger.sign(&claims), R1, &[]).await;
    assert_eq!(a.description(), UNTRUSTED);
    // Expired (step 9) and no rule (step 10): step 9.
    let mut claims = f.k8s_claims();
    claims["exp"] = json!(f.now() - 1000);
    claims["sub"] = json!("system:serviceaccount:default:default");
    f.grant(&f.k8s.key.sign(&claims), R1, &[])
        .await
        .assert_error(400, "invalid_grant");
    // No rule (step 10) and an unknown resource (step 11): step 10.
    let mut claims = f.k8s_claims();
    claims["sub"] = json!("system:serviceaccount:default:default");
    f.grant(&f.k8s.key.sign(&claims), "http://127.0.0.1:9/x", &[])
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn wif_as_24_untrusted_issuer_unknown_key_and_bad_signature_read_the_same() {
    let f = Federation::start("").await;
    let claims = f.k8s_claims();
    let mut stranger_claims = claims.clone();
    stranger_claims["iss"] = json!("https://stranger.example");
    let unknown_key = IssuerKey::generate(Algorithm::RS256, "k8s-unknown");
    let same_kid_other_key = IssuerKey::generate(Algorithm::RS256, "k8s-1");
    let wrong_alg = IssuerKey::generate(Algorithm::ES256, "k8s-1");
    let answers = [
        f.grant(&f.k8s.key.sign(&stranger_claims), R1, &[]).await,
        f.grant(&unknown_key.sign(&claims), R1, &[]).await,
        f.grant(&same_kid_other_key.sign(&claims), R1, &[]).await,
        f.grant(&wrong_alg.sign(&claims), R1, &[]).await,
    ];
    for a in &answers {
        a.assert_error(400, "invalid_grant");
        assert_eq!(a.description(), UNTRUSTED);
    }
    // No description carries a claim value, the issuer's URL or the key id.
    for a in &answers {
        for secret in [K8S_SUB, f.k8s.base.as_str(), "k8s-1", "mcp-agents"] {
            assert!(!a.body.to_string().contains(secret), "{}", a.body);
        }
    }
}

#[tokio::test]
async fn wif_as_21_the_access_token_names_the_principal_and_copies_no_claim() {
    let f = Federation::start("").await;
    let gh = f.github.key.sign(&f.github_claims());
    let claims = f.grant(&gh, R1, &[]).await.claims();
    let expected = json!({
        "iss": f.issuer,
        "sub": "github:acme/tools@main",
        "client_id": "github:acme/tools@main",
        "aud": R1,
        "scope": "mcp:read",
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&claims[k], v, "{k}");
    }
    // Nothing of the assertion: not its sub, not the repository, not the person who
    // triggered the run, no act.
    let text = claims.to_string();
    for leaked in [GITHUB_SUB, "acme/tools\"", "octocat", "89012345", "\"act\""] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
    assert_eq!(claims.as_object().unwrap().len(), 8, "{text}");
}
