//! The claim checks of WIF §7.3 step 9 (audience, times, lifetime, `sub`), reuse,
//! and the order and wording of refusals (WIF-AS-14 to WIF-AS-24).

use super::*;

#[test]
fn wif_as_14_an_audience_other_than_the_issuer_is_refused() {
    for aud in [
        json!(format!("{AS}/")),
        json!(format!("{AS}/token")),
        json!("https://AS.example.com"),
        json!([AS, "https://mcp.example.com/mcp"]),
        json!([AS, AS]),
        json!([]),
        json!(7),
        json!([7]),
    ] {
        let claims = set(k8s_claims(), "aud", Some(aud.clone()));
        let result = verify_claims(claims, &issuer_rules());
        assert_eq!(result, Err(AssertionError::WrongAudience), "{aud}");
    }
    let missing = verify_claims(set(k8s_claims(), "aud", None), &issuer_rules());
    assert_eq!(missing, Err(AssertionError::MissingAudience));
    for aud in [json!(AS), json!([AS])] {
        let claims = set(k8s_claims(), "aud", Some(aud.clone()));
        assert!(verify_claims(claims, &issuer_rules()).is_ok(), "{aud}");
    }
}

#[test]
fn wif_as_15_an_assertion_without_exp_is_refused() {
    for exp in [None, Some(json!("1767229200")), Some(json!(null))] {
        let claims = set(k8s_claims(), "exp", exp);
        assert_eq!(
            verify_claims(claims, &issuer_rules()),
            Err(AssertionError::MissingExpiry)
        );
    }
}

fn times(exp: i64, nbf: Option<i64>, iat: Option<i64>) -> Value {
    with(k8s_claims(), |c| {
        c.insert("exp".into(), json!(exp));
        c.remove("nbf");
        c.remove("iat");
        nbf.map(|n| c.insert("nbf".into(), json!(n)));
        iat.map(|n| c.insert("iat".into(), json!(n)));
    })
}

#[test]
fn wif_as_15_an_assertion_expired_more_than_the_skew_ago_is_refused() {
    let iat = Some(NOW - 600);
    assert!(verify_claims(times(NOW - 59, None, iat), &issuer_rules()).is_ok());
    let result = verify_claims(times(NOW - 60, None, iat), &issuer_rules());
    assert_eq!(result, Err(AssertionError::Expired { seconds_ago: 60 }));
    assert_eq!(
        AssertionError::Expired { seconds_ago: 12 }.to_string(),
        "the assertion expired 12 s ago, more than the allowed skew"
    );
}

#[test]
fn wif_as_15_an_nbf_or_iat_more_than_the_skew_in_the_future_is_refused() {
    let rules = issuer_rules();
    assert!(verify_claims(times(NOW + 600, Some(NOW + 60), Some(NOW + 60)), &rules).is_ok());
    let nbf = verify_claims(times(NOW + 600, Some(NOW + 61), None), &rules);
    assert_eq!(nbf, Err(AssertionError::NotYetValid));
    let iat = verify_claims(times(NOW + 600, None, Some(NOW + 61)), &rules);
    assert_eq!(iat, Err(AssertionError::IssuedInFuture));
}

#[test]
fn wif_as_15_a_lifetime_above_the_maximum_is_refused() {
    let rules = issuer_rules();
    assert!(verify_claims(times(NOW + 3660, None, Some(NOW)), &rules).is_ok());
    let long = |seconds, allowed| Err(AssertionError::LifetimeTooLong { seconds, allowed });
    assert_eq!(
        verify_claims(times(NOW + 3661, None, Some(NOW)), &rules),
        long(3661, 3660)
    );
    // Issued long ago, expiring soon: exp − iat counts, not exp − now.
    assert_eq!(
        verify_claims(times(NOW + 60, None, Some(NOW - 3601)), &rules),
        long(3661, 3660)
    );
    // Without iat: exp − now at most the maximum plus the skew.
    assert!(verify_claims(times(NOW + 3720, None, None), &rules).is_ok());
    assert_eq!(
        verify_claims(times(NOW + 3721, None, None), &rules),
        long(3721, 3720)
    );
    assert_eq!(
        verify_claims(times(i64::MAX, None, Some(i64::MIN)), &rules),
        long(i64::MAX, 3660)
    );
    let shorter = AssertionRules {
        max_lifetime: Duration::from_secs(600),
        ..rules
    };
    assert_eq!(
        verify_claims(times(NOW + 601, None, Some(NOW)), &shorter),
        long(601, 600)
    );
    assert_eq!(
        AssertionError::LifetimeTooLong {
            seconds: 31_536_000,
            allowed: 3660
        }
        .to_string(),
        "the assertion is valid for 31536000 s, more than the allowed 3660 s"
    );
}

#[test]
fn wif_as_15_fractional_times_are_floored_and_non_numeric_ones_refused() {
    let fractional = set(k8s_claims(), "exp", Some(json!(NOW as f64 + 600.5)));
    assert_eq!(
        verify_claims(fractional, &issuer_rules()).map(|v| v.exp),
        Ok(NOW + 600)
    );
    for name in ["nbf", "iat"] {
        let claims = set(k8s_claims(), name, Some(json!("now")));
        let result = verify_claims(claims, &issuer_rules());
        assert!(matches!(result, Err(AssertionError::MalformedTime(n)) if n == name));
    }
}

#[test]
fn wif_as_16_an_assertion_without_a_non_empty_string_sub_is_refused() {
    for sub in [None, Some(json!("")), Some(json!(42)), Some(json!(["a"]))] {
        let result = verify_claims(set(k8s_claims(), "sub", sub.clone()), &issuer_rules());
        assert_eq!(result, Err(AssertionError::MissingSubject), "{sub:?}");
    }
}

#[test]
fn wif_as_16_a_trust_domain_sub_must_be_a_valid_spiffe_id() {
    for sub in [
        "spiffe://prod.example/",
        "spiffe://prod.example/a//b",
        "spiffe://prod.example/a/./b",
        "spiffe://prod.example/a/../b",
        "spiffe://prod.example/a%20b",
        "spiffe://prod.example/a?x=1",
        "spiffe://prod.example/a#f",
        "spiffe://prod.example/é",
    ] {
        let claims = set(svid_claims(), "sub", Some(json!(sub)));
        assert_eq!(
            verify_claims(claims, &td_rules()),
            Err(AssertionError::NotSpiffeId),
            "{sub}"
        );
    }
    let long = format!("spiffe://prod.example/{}", "a".repeat(2048));
    let claims = set(svid_claims(), "sub", Some(json!(long)));
    assert_eq!(
        verify_claims(claims, &td_rules()),
        Err(AssertionError::NotSpiffeId)
    );
    for sub in [
        "spiffe://prod.example",
        "spiffe://prod.example/ns/A_b.c-1/x",
    ] {
        let claims = set(svid_claims(), "sub", Some(json!(sub)));
        assert!(verify_claims(claims, &td_rules()).is_ok(), "{sub}");
    }
    assert!(!is_spiffe_id_of("spiffe://Prod.example/a", "Prod.example"));
    assert!(!is_spiffe_id_of(
        "spiffe://user@prod.example/a",
        "user@prod.example"
    ));
    assert!(!is_spiffe_id_of("spiffe:///a", ""));
}

#[test]
fn wif_as_17_the_same_assertion_verifies_again_with_or_without_jti() {
    let k = key(JwsAlgorithm::Es256);
    let jws = mint(
        &k,
        JwsAlgorithm::Es256,
        json!({"alg": "ES256"}),
        set(k8s_claims(), "jti", None),
    );
    let parsed = workload(&jws);
    for _ in 0..3 {
        assert!(
            parsed
                .verify(&k.verifying_key(), &issuer_rules(), NOW)
                .is_ok()
        );
    }
}

#[test]
fn wif_as_23_the_first_failing_step_is_reported() {
    // Step 5 before step 6: crit with malformed claims.
    let parsed = workload(&unsigned(r#"{"alg":"ES256","crit":["x"]}"#, "[1]"));
    let k = key(JwsAlgorithm::Es256).verifying_key();
    assert_eq!(
        parsed.verify(&k, &issuer_rules(), NOW),
        Err(AssertionError::CriticalHeader)
    );
    // Step 8 before step 9: a bad signature over an expired, wrong-audience assertion.
    let claims = set(times(NOW - 3600, None, None), "aud", Some(json!("x")));
    let parsed = workload(&unsigned(r#"{"alg":"ES256"}"#, &claims.to_string()));
    assert_eq!(
        parsed.verify(&k, &issuer_rules(), NOW),
        Err(AssertionError::BadSignature)
    );
    // Within step 9, aud before exp.
    assert_eq!(
        verify_claims(claims, &issuer_rules()),
        Err(AssertionError::WrongAudience)
    );
}

#[test]
fn wif_as_24_steps_6_to_8_share_one_description_and_no_description_echoes_the_assertion() {
    for e in [
        AssertionError::MalformedClaims,
        AssertionError::NoTrustEntry,
        AssertionError::AlgorithmNotAllowed,
        AssertionError::KeyNotForAlgorithm,
        AssertionError::BadSignature,
    ] {
        assert_eq!(e.to_string(), UNTRUSTED, "{e:?}");
    }
    let marker = "MARKER-1234";
    let claims = with(k8s_claims(), |c| {
        c.insert("aud".into(), json!(marker));
        c.insert("sub".into(), json!(marker));
    });
    let errors = [
        parse(&unsigned(
            &json!({"alg": "ES256", "typ": marker}).to_string(),
            "{}",
        ))
        .map(|_| ()),
        parse(&unsigned(&json!({ "alg": marker }).to_string(), "{}")).and_then(|k| match k {
            AssertionKind::Workload(p) => p.check_header().map(|_| ()),
            AssertionKind::IdJag(_) => Ok(()),
        }),
        verify_claims(claims, &issuer_rules()).map(|_| ()),
    ];
    for e in errors {
        let e = e.unwrap_err();
        assert!(!e.to_string().contains(marker), "{e}");
        assert_eq!(e.code(), "invalid_grant");
    }
}
