//! EMA-C-3, EMA-C-5, EMA-C-6 and EMA-C-8, EMA-C-9 through [`McpClient`]: what the
//! client does with what the identity provider and the authorization server
//! publish and answer (their metadata, the exchange's answer, refusals, access
//! tokens to keep or renew).

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::IntoResponse as _;
use http::StatusCode;
use serde_json::json;

use super::super::{Seen, at, challenge, echo, issuing, recording, requiring, result};
use super::{
    Enterprise, EnterpriseGrant, exchanged, id_jag, id_token, issuing_id_jags, refusing, start_idp,
};
use crate::enterprise::EnterpriseError;
use crate::{CallError, IssuerPolicy};

#[tokio::test]
async fn ema_c_3_the_idp_is_found_at_the_rfc_8414_location_when_openid_configuration_is_404() {
    let ema = Enterprise::usual().await;
    let idp = recording(|request, base| match request.path.as_str() {
        "/.well-known/oauth-authorization-server" => {
            axum::Json(json!({"issuer": base, "token_endpoint": format!("{base}/token")}))
                .into_response()
        }
        "/token" => issuing_id_jags()(request),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await;
    std::fs::write(&ema.path, id_token(&idp.base, "u1", 3600)).unwrap();
    echo(&mut ema.client()).await;
    let paths: Vec<_> = idp.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/token"
        ]
    );
}

#[tokio::test]
async fn ema_c_3_metadata_naming_another_issuer_gets_no_exchange() {
    let ema = Enterprise::usual().await;
    let idp = start_idp(
        json!({"issuer": "https://idp.elsewhere.example"}),
        issuing_id_jags(),
    )
    .await;
    std::fs::write(&ema.path, id_token(&idp.base, "u1", 3600)).unwrap();
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(
            &err,
            CallError::Enterprise(EnterpriseError::IdpDiscovery { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("https://idp.elsewhere.example"),
        "{err}"
    );
    assert!(at(&idp, "/token").is_empty());
    assert!(ema.redemptions().is_empty());
}

#[tokio::test]
async fn ema_c_3_a_redirect_from_the_idps_token_endpoint_is_not_followed() {
    let elsewhere = recording(|_, _| StatusCode::OK.into_response()).await;
    let target = format!("{}/token", elsewhere.base);
    let ema = Enterprise::with_idp(move |_: &Seen| {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [(http::header::LOCATION, target.clone())],
        )
            .into_response()
    })
    .await;
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(
            &err,
            CallError::Enterprise(EnterpriseError::ExchangeRefused { status: 307, .. })
        ),
        "{err}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "the ID token went nowhere else"
    );
    assert!(ema.redemptions().is_empty());
}

#[tokio::test]
async fn ema_c_3_an_id_token_of_another_idp_than_the_one_named_is_sent_nowhere() {
    let ema = Enterprise::usual().await;
    let grant = EnterpriseGrant {
        idp_issuer: Some("https://idp.acme.example".into()),
        ..ema.grant()
    };
    let err = ema.failure(ema.client_with(grant, None)).await;
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::UnexpectedIdp { iss, .. })
            if *iss == ema.idp.base),
        "{err}"
    );
    assert!(ema.idp.seen().is_empty());
}

#[tokio::test]
async fn ema_c_5_an_id_jag_for_another_audience_is_not_redeemed() {
    for aud in [json!("https://as.elsewhere.example"), json!(null)] {
        let ema = Enterprise::with_idp(move |seen: &Seen| {
            // The AS issuer and a second audience, or the issuer with a slash.
            let base = seen.form("audience").unwrap();
            let aud = if aud.is_null() {
                json!([base, "https://other.example"])
            } else {
                json!(format!("{base}/"))
            };
            exchanged(id_jag("oauth-id-jag+jwt", aud, 1))
        })
        .await;
        let err = ema.failure(ema.client()).await;
        assert!(
            matches!(
                &err,
                CallError::Enterprise(EnterpriseError::IdJagWrongAudience { .. })
            ),
            "{err}"
        );
        assert!(ema.redemptions().is_empty());
    }
}

#[tokio::test]
async fn ema_c_5_a_token_typed_jwt_is_not_redeemed() {
    let ema = Enterprise::with_idp(|seen: &Seen| {
        exchanged(id_jag("JWT", json!(seen.form("audience").unwrap()), 1))
    })
    .await;
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::NotIdJag { reason, .. })
            if reason.contains("typ")),
        "{err}"
    );
    assert!(ema.redemptions().is_empty());
}

#[tokio::test]
async fn ema_c_6_no_dpop_proof_to_an_as_that_does_not_advertise_dpop_and_no_exchange() {
    let ema = Enterprise::usual().await;
    let err = ema.failure(ema.dpop_client()).await;
    assert!(
        matches!(
            &err,
            CallError::Enterprise(EnterpriseError::BindingNotAdvertised {
                profile: "DPoP",
                ..
            })
        ),
        "{err}"
    );
    ema.assert_nothing_sent();
}

#[tokio::test]
async fn ema_c_6_a_dpop_proof_binds_the_redemption_and_the_exchange_carries_none() {
    let ema = Enterprise::dpop(issuing("DPoP", false)).await;
    echo(&mut ema.dpop_client()).await;
    assert_eq!(ema.exchanges()[0].header("dpop"), None);
    assert!(ema.redemptions()[0].header("dpop").is_some());
}

#[tokio::test]
async fn ema_c_6_the_as_credentials_go_to_the_configured_issuer_only() {
    let ema = Enterprise::usual().await;
    let client = ema
        .client()
        .with_issuer_policy(IssuerPolicy::Configured("https://as.acme.example".into()));
    let err = ema.failure(client).await;
    assert!(matches!(&err, CallError::UntrustedIssuer(_)), "{err}");
    assert!(
        ema.idp.seen().is_empty(),
        "no ID-JAG for a server it cannot redeem at"
    );
    assert!(ema.redemptions().is_empty());
}

#[tokio::test]
async fn ema_c_8_the_idps_refusal_ends_the_operation_and_says_to_sign_in_again() {
    let ema = Enterprise::with_idp(refusing(
        "invalid_grant",
        "the subject token is not a valid ID token",
    ))
    .await;
    let err = ema.failure(ema.client()).await;
    let message = err.to_string();
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::ExchangeRefused { error, idp, .. })
            if error == "invalid_grant" && *idp == ema.idp.base),
        "{err}"
    );
    assert!(message.contains("the identity provider"), "{message}");
    assert!(
        message.contains("sign in at the identity provider again"),
        "{message}"
    );
    assert_eq!(ema.exchanges().len(), 1, "no retry");
    assert!(ema.redemptions().is_empty(), "no other grant");
    assert_eq!(at(&ema.server, "/mcp").len(), 1);
}

#[tokio::test]
async fn ema_c_8_the_as_refusal_ends_the_operation_and_names_the_as() {
    let ema =
        Enterprise::with_as_token(refusing("invalid_target", "this resource is not available"))
            .await;
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::RedemptionRefused { issuer, error, .. })
            if error == "invalid_target" && *issuer == ema.server.base),
        "{err}"
    );
    assert!(err.to_string().contains("refused the ID-JAG"), "{err}");
    assert_eq!(ema.exchanges().len(), 1);
    assert_eq!(ema.redemptions().len(), 1);
    assert_eq!(at(&ema.server, "/mcp").len(), 1);
}

#[tokio::test]
async fn ema_c_8_the_dpop_nonce_retry_presents_the_same_id_jag_once_more_and_nothing_else() {
    let asked = AtomicUsize::new(0);
    let ema = Enterprise::dpop(move |_: &Seen| {
        if asked.fetch_add(1, Ordering::SeqCst) == 0 {
            (
                StatusCode::BAD_REQUEST,
                [("dpop-nonce", "n-1")],
                axum::Json(json!({"error": "use_dpop_nonce"})),
            )
                .into_response()
        } else {
            axum::Json(json!({"access_token": "at-1", "token_type": "DPoP", "expires_in": 600}))
                .into_response()
        }
    })
    .await;
    echo(&mut ema.dpop_client()).await;
    let assertions: Vec<_> = ema
        .redemptions()
        .iter()
        .map(|s| s.form("assertion").unwrap())
        .collect();
    assert_eq!(assertions.len(), 2);
    assert_eq!(assertions[0], assertions[1]);
    assert_eq!(ema.exchanges().len(), 1);
}

#[tokio::test]
async fn ema_c_9_the_access_token_serves_every_call_and_no_refresh_token_is_kept() {
    let ema = Enterprise::start(
        json!({}),
        requiring("Bearer at-1"),
        issuing("Bearer", true),
        issuing_id_jags(),
    )
    .await;
    let mut client = ema.client();
    echo(&mut client).await;
    echo(&mut client).await;
    assert_eq!(ema.exchanges().len(), 1);
    assert_eq!(ema.redemptions().len(), 1);
    let kept = client.obtained_token().unwrap();
    assert_eq!(kept.access_token, "at-1");
    assert_eq!(kept.refresh_token, None, "D11: the ID token is the refresh");
}

#[tokio::test]
async fn ema_c_7_and_c_9_a_401_and_a_step_up_each_get_a_new_id_jag() {
    // at-1 is refused as invalid; at-2 lacks a scope; at-3 serves.
    let ema = Enterprise::start(
        json!({}),
        |seen: &Seen| match seen.header("authorization") {
            Some("Bearer at-3") => result(seen),
            Some("Bearer at-2") => challenge(
                StatusCode::FORBIDDEN,
                r#"Bearer error="insufficient_scope", scope="tools:write""#,
            ),
            _ => challenge(
                StatusCode::UNAUTHORIZED,
                r#"Bearer error="invalid_token", scope="tools:read""#,
            ),
        },
        issuing("Bearer", false),
        issuing_id_jags(),
    )
    .await;
    let mut client = ema.client();
    client.obtain_token().await.unwrap();
    echo(&mut client).await;

    let exchanges = ema.exchanges();
    let scopes: Vec<_> = exchanges
        .iter()
        .map(|s| s.form("scope").unwrap_or_default())
        .collect();
    // obtain_token; the 401 on at-1; the step-up for the union of the scopes.
    assert_eq!(
        scopes,
        ["tools", "tools tools:read", "tools tools:read tools:write"]
    );
    let jtis: Vec<_> = ema
        .redemptions()
        .iter()
        .map(|s| s.form("assertion").unwrap())
        .collect();
    assert_eq!(jtis.len(), 3);
    assert!(jtis[0] != jtis[1] && jtis[1] != jtis[2], "each ID-JAG once");
}

#[tokio::test]
async fn ema_c_9_a_kept_token_from_a_cache_is_used_without_an_exchange() {
    let ema = Enterprise::usual().await;
    let kept = crate::CachedToken {
        access_token: "at-1".into(),
        scopes: vec!["tools:read".into()],
        expires_at: mcp_auth_core::unix_now() + 600,
        issuer: ema.server.base.clone(),
        refresh_token: Some("rt-from-another-run".into()),
        registered_client: None,
    };
    let mut client = ema.client().with_cached(&kept);
    echo(&mut client).await;
    ema.assert_nothing_sent();
    assert_eq!(client.obtained_token(), None, "nothing new to keep");
}
