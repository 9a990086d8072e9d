//! The pieces of the enterprise grant that need no server: reading the ID token
//! (EMA-C-2), the checks of the authorization server's metadata (EMA-C-1, EMA-C-6),
//! the exchange's form (EMA-C-4) and the checks of the IdP's answer (EMA-C-5).

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

const AS: &str = "https://as.example.com";
const IDP: &str = "https://idp.acme.example";

/// An unsigned compact JWS of `header` and `claims`.
fn jwt(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.c2ln", part(header), part(claims))
}

/// What reading `contents` as the ID token file gives at time 1000.
async fn read(contents: &str) -> Result<String, EnterpriseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id_token");
    std::fs::write(&path, contents).unwrap();
    let token = IdTokenSource::File(path).read(&idp_client(), 1000).await?;
    Ok(format!("{} {}", token.issuer, token.jwt))
}

/// The IdP client (a file's ID token needs no credentials to be read).
fn idp_client() -> ClientAuth {
    ClientAuth::None {
        client_id: "desktop-agent".into(),
    }
}

fn id_token(claims: &Value) -> String {
    jwt(&json!({"alg": "RS256", "typ": "JWT"}), claims)
}

#[tokio::test]
async fn ema_c_2_the_id_token_is_trimmed_and_its_iss_read() {
    let token = id_token(&json!({"iss": IDP, "aud": "desktop-agent", "exp": 1001}));
    assert_eq!(
        read(&format!("\n {token}\r\n")).await.unwrap(),
        format!("{IDP} {token}")
    );
}

#[tokio::test]
async fn ema_c_2_an_expired_id_token_is_refused() {
    let token = id_token(&json!({"iss": IDP, "exp": 990}));
    assert!(matches!(
        read(&token).await,
        Err(EnterpriseError::IdTokenExpired { ago: 10, .. })
    ));
    let now = id_token(&json!({"iss": IDP, "exp": 1000}));
    assert!(matches!(
        read(&now).await,
        Err(EnterpriseError::IdTokenExpired { ago: 0, .. })
    ));
}

#[tokio::test]
async fn ema_c_2_what_is_not_an_id_token_with_iss_and_exp_is_refused() {
    for (contents, reason) in [
        ("not-a-jwt".to_owned(), "not a JWT"),
        (id_token(&json!({"exp": 2000})), "no iss"),
        (id_token(&json!({"iss": 7, "exp": 2000})), "no iss"),
        (id_token(&json!({"iss": IDP})), "no exp"),
        (id_token(&json!({"iss": IDP, "exp": "2000"})), "no exp"),
    ] {
        match read(&contents).await {
            Err(EnterpriseError::NotIdToken { reason: r, .. }) => {
                assert!(r.contains(reason), "{contents}: {r}");
            }
            other => panic!("{contents}: {:?}", other.map_err(|e| e.to_string())),
        }
    }
    assert!(matches!(
        read(" \n").await,
        Err(EnterpriseError::IdTokenEmpty { .. })
    ));
    assert!(matches!(
        read(&"a".repeat(17 * 1024)).await,
        Err(EnterpriseError::IdTokenTooLarge { .. })
    ));
    let missing = IdTokenSource::File("/nonexistent/id_token".into())
        .read(&idp_client(), 1000)
        .await;
    let Err(err) = missing else {
        panic!("read a missing file")
    };
    assert!(
        err.to_string()
            .starts_with("reading the ID token from /nonexistent/id_token: "),
        "{err}"
    );
}

/// Authorization server metadata with these members besides `issuer` and
/// `token_endpoint`.
fn metadata(members: Value) -> AuthorizationServerMetadata {
    let mut doc = json!({"issuer": AS, "token_endpoint": format!("{AS}/token")});
    for (k, v) in members.as_object().into_iter().flatten() {
        doc[k] = v.clone();
    }
    serde_json::from_value(doc).unwrap()
}

#[test]
fn ema_c_1_the_as_must_list_jwt_bearer() {
    assert!(matches!(
        redeemable_at(&metadata(json!({})), None),
        Err(EnterpriseError::GrantNotSupported { .. })
    ));
    assert!(
        redeemable_at(
            &metadata(json!({"grant_types_supported": [JWT_BEARER_GRANT]})),
            None
        )
        .is_ok()
    );
}

#[test]
fn ema_c_1_grant_profiles_when_published_must_list_the_id_jag_profile() {
    let with = |profiles: Value| {
        redeemable_at(
            &metadata(json!({"grant_types_supported": [JWT_BEARER_GRANT],
                             "authorization_grant_profiles_supported": profiles})),
            None,
        )
    };
    assert!(with(json!([ID_JAG_PROFILE, "urn:example:other"])).is_ok());
    assert!(matches!(
        with(json!(["urn:example:other"])),
        Err(EnterpriseError::ProfileNotSupported { .. })
    ));
    assert!(matches!(
        with(json!([])),
        Err(EnterpriseError::ProfileNotSupported { .. })
    ));
}

#[test]
fn ema_c_6_a_proof_is_sent_only_where_advertised_and_a_preregistered_key_is_allowed() {
    let dpop: RequestSigner = crate::DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)
        .unwrap()
        .into();
    let listed = json!({"grant_types_supported": [JWT_BEARER_GRANT]});
    assert!(matches!(
        redeemable_at(&metadata(listed.clone()), Some(&dpop)),
        Err(EnterpriseError::BindingNotAdvertised {
            profile: "DPoP",
            ..
        })
    ));
    let signing =
        mcp_auth_httpsig::SigningKey::generate(mcp_auth_httpsig::Algorithm::Ed25519).unwrap();
    let key =
        crate::ProofKey::preregistered(signing, mcp_auth_httpsig::JwsAlgorithm::Ed25519, "k1")
            .unwrap();
    let httpsig: RequestSigner = crate::HttpSigSigner::new(key).into();
    let advertised = metadata(json!({"grant_types_supported": [JWT_BEARER_GRANT],
                                      "httpsig_key_binding_methods_supported": ["preregistered"]}));
    assert!(redeemable_at(&advertised, Some(&httpsig)).is_ok());
}

#[test]
fn ema_c_4_the_exchange_form_has_the_parameters_of_section_7_2_and_no_others() {
    let exchange = Exchange {
        audience: AS,
        resource: "https://mcp.example.com/mcp",
        scope: None,
    };
    let public = ClientAuth::None {
        client_id: "desktop-agent".into(),
    };
    let form = exchange.form(&public, IDP, "ey.J.w", 0).unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let expected = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("requested_token_type", ID_JAG_TOKEN_TYPE),
        ("subject_token", "ey.J.w"),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("audience", AS),
        ("resource", "https://mcp.example.com/mcp"),
        ("client_id", "desktop-agent"),
    ];
    assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
}

#[test]
fn ema_c_4_a_private_key_jwt_at_the_idp_is_an_assertion_for_the_idp() {
    let key = mcp_auth_core::AsSigningKey::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
    let client = ClientAuth::PrivateKeyJwt {
        client_id: "desktop-agent".into(),
        key_pem: key.to_pkcs8_pem().unwrap(),
        alg: "ES256".into(),
    };
    let exchange = Exchange {
        audience: AS,
        resource: "https://mcp.example.com/mcp",
        scope: Some("mcp:read"),
    };
    let form = exchange.form(&client, IDP, "ey.J.w", 0).unwrap();
    let assertion = url::form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "client_assertion")
        .unwrap()
        .1;
    let claims = crate::unverified::claims(&assertion).unwrap();
    assert_eq!(claims["aud"], IDP);
    assert!(form.contains("scope=mcp%3Aread"), "{form}");
}

/// The IdP's answer: `members` over a valid one (an ID-JAG for [`AS`], typed
/// `oauth-id-jag+jwt`, `N_A`, no `expires_in` or `scope`).
fn answer(members: Value) -> TokenResponse {
    let mut doc = json!({
        "access_token": id_jag("oauth-id-jag+jwt", json!(AS)),
        "issued_token_type": ID_JAG_TOKEN_TYPE,
        "token_type": "N_A",
    });
    for (k, v) in members.as_object().into_iter().flatten() {
        doc[k] = v.clone();
    }
    serde_json::from_value(doc).unwrap()
}

fn id_jag(typ: &str, aud: Value) -> String {
    jwt(
        &json!({"alg": "RS256", "kid": "k", "typ": typ}),
        &json!({"iss": IDP, "sub": "u1", "aud": aud, "client_id": "acme-agent", "jti": "j"}),
    )
}

/// What [`id_jag`] (the function under test) says of `answer`: `Ok(scope)` or the
/// error's text.
fn check(answer: TokenResponse) -> Result<Option<String>, String> {
    super::id_jag(answer, IDP, AS)
        .map(|(_, scope)| scope)
        .map_err(|e| e.to_string())
}

#[test]
fn ema_c_5_the_scenarios_answer_without_expires_in_or_scope_is_accepted() {
    assert_eq!(check(answer(json!({}))), Ok(None));
    assert_eq!(
        check(answer(json!({"scope": "mcp:read", "expires_in": 300}))),
        Ok(Some("mcp:read".into()))
    );
}

#[test]
fn ema_c_5_token_type_n_a_in_any_case_and_typ_as_rfc_7515_compares_it() {
    assert!(check(answer(json!({"token_type": "n_a"}))).is_ok());
    for typ in ["OAUTH-ID-JAG+JWT", "application/oauth-id-jag+jwt"] {
        assert!(
            check(answer(json!({"access_token": id_jag(typ, json!(AS))}))).is_ok(),
            "{typ}"
        );
    }
}

#[test]
fn ema_c_5_aud_the_issuer_alone_in_an_array_is_accepted() {
    assert!(
        check(answer(
            json!({"access_token": id_jag("oauth-id-jag+jwt", json!([AS]))})
        ))
        .is_ok()
    );
}

#[test]
fn ema_c_5_an_answer_that_is_not_an_id_jag_for_this_as_is_refused() {
    for (members, says) in [
        (json!({"issued_token_type": null}), "no issued_token_type"),
        (
            json!({"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}),
            "issued_token_type urn:ietf:params:oauth:token-type:access_token",
        ),
        (
            json!({"token_type": "Bearer"}),
            "token_type Bearer, not N_A",
        ),
        (
            json!({"access_token": id_jag("JWT", json!(AS))}),
            "typ is not oauth-id-jag+jwt",
        ),
        (
            json!({"access_token": id_jag("at+jwt", json!(AS))}),
            "typ is not oauth-id-jag+jwt",
        ),
        (json!({"access_token": "opaque"}), "not a compact JWS"),
        (
            json!({"access_token": id_jag("oauth-id-jag+jwt", json!(format!("{AS}/")))}),
            "aud \"https://as.example.com/\", not exactly https://as.example.com",
        ),
        (
            json!({"access_token": id_jag("oauth-id-jag+jwt", json!([AS, "https://other.example"]))}),
            "not exactly",
        ),
        (
            json!({"access_token": id_jag("oauth-id-jag+jwt", json!(null))}),
            "not exactly",
        ),
    ] {
        let err = check(answer(members.clone())).unwrap_err();
        assert!(err.contains(says), "{members}: {err}");
        assert!(err.contains(IDP), "the IdP is named: {err}");
    }
}

#[test]
fn ema_c_8_the_idps_invalid_grant_says_to_sign_in_again_and_other_codes_do_not() {
    let refused = |error: &str| EnterpriseError::ExchangeRefused {
        idp: IDP.into(),
        status: 400,
        error: error.into(),
        description: "d".into(),
    };
    assert_eq!(
        refused("invalid_target").to_string(),
        format!("the identity provider {IDP} refused the token exchange (400): invalid_target: d")
    );
    assert!(
        refused("invalid_grant")
            .to_string()
            .ends_with("sign in at the identity provider again and save the new ID token")
    );
}
