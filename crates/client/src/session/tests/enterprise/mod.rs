//! The enterprise grant (profiles/enterprise-managed-authorization.md EMA-C-1 to
//! EMA-C-9) through [`McpClient`]: two loopback servers, one the identity provider
//! (its OpenID configuration and `/token`, the exchange), the other the MCP server
//! and its authorization server (`/token`, the redemption). The ID token and the
//! ID-JAGs are unsigned: the client verifies neither, it only reads where they may
//! go. Here: the fixture, and EMA-C-1, EMA-C-2, EMA-C-4 and the redemption's form
//! (EMA-C-6); `answers`: what the client does with what each server publishes and
//! answers.

mod answers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use http::StatusCode;
use mcp_auth_testkit::Recording;
use serde_json::{Value, json};

use super::{Seen, at, echo, issuing, recording, requiring, start_with};
use crate::enterprise::{
    EnterpriseError, EnterpriseGrant, ID_JAG_PROFILE, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE,
    IdTokenSource, TOKEN_EXCHANGE_GRANT,
};
use crate::workload::JWT_BEARER_GRANT;
use crate::{CallError, ClientAuth, DpopSigner, Grant, McpClient, RequestSigner};

/// The client's id at the identity provider (the ID token's `aud`).
const IDP_CLIENT: &str = "desktop-agent";
/// The client's id at the authorization server (the ID-JAG's `client_id`).
const AS_CLIENT: &str = "acme-agent";

/// An unsigned compact JWS of `header` and `claims`.
fn jwt(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.c2lnbmF0dXJl", part(header), part(claims))
}

/// An ID token of the IdP `iss` for the user `sub`, expiring in `exp_in` seconds.
fn id_token(iss: &str, sub: &str, exp_in: i64) -> String {
    let now = mcp_auth_core::unix_now();
    jwt(
        &json!({"alg": "RS256", "kid": "idp-rsa-1", "typ": "JWT"}),
        &json!({"iss": iss, "sub": sub, "aud": IDP_CLIENT, "iat": now, "exp": now + exp_in}),
    )
}

/// An ID-JAG with this `typ` and `aud`, numbered `jti`.
fn id_jag(typ: &str, aud: Value, jti: usize) -> String {
    let now = mcp_auth_core::unix_now();
    jwt(
        &json!({"alg": "RS256", "kid": "idp-rsa-1", "typ": typ}),
        &json!({"iss": "https://idp.example", "sub": "u1", "aud": aud, "client_id": AS_CLIENT,
                "jti": format!("jag-{jti}"), "iat": now, "exp": now + 300,
                "resource": "https://mcp.example/mcp"}),
    )
}

/// The answer of an exchange with `id_jag`, as the official scenario's IdP gives
/// it: no `expires_in`, no `scope`.
fn exchanged(id_jag: String) -> Response {
    axum::Json(
        json!({"access_token": id_jag, "issued_token_type": ID_JAG_TOKEN_TYPE,
                      "token_type": "N_A"}),
    )
    .into_response()
}

/// An IdP token endpoint that issues ID-JAGs `jag-1`, `jag-2`, … for the
/// exchange's `audience`.
fn issuing_id_jags() -> impl Fn(&Seen) -> Response + Send + Sync + 'static {
    let issued = AtomicUsize::new(0);
    move |seen| {
        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
        exchanged(id_jag(
            "oauth-id-jag+jwt",
            json!(seen.form("audience").unwrap_or_default()),
            n,
        ))
    }
}

/// An OAuth error answer.
fn refusing(error: &'static str, description: &'static str) -> impl Fn(&Seen) -> Response {
    move |_| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    }
}

/// The identity provider: its OpenID configuration at `/.well-known/openid-configuration`
/// naming itself (with the members of `extra`, which may replace them), and `token`
/// answering `/token`.
async fn start_idp(
    extra: Value,
    token: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> Recording<Seen> {
    recording(move |request, base| match request.path.as_str() {
        "/.well-known/openid-configuration" => {
            let mut metadata = json!({"issuer": base, "token_endpoint": format!("{base}/token")});
            for (k, v) in extra.as_object().into_iter().flatten() {
                metadata[k] = v.clone();
            }
            axum::Json(metadata).into_response()
        }
        "/token" => token(request),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// An identity provider, an MCP server with its authorization server, and the
/// user's ID token of that IdP in a file.
struct Enterprise {
    idp: Recording<Seen>,
    server: Recording<Seen>,
    _dir: tempfile::TempDir,
    path: PathBuf,
    id_token: String,
}

impl Enterprise {
    /// The IdP's token endpoint answers with `idp_token`; the authorization server
    /// lists `jwt-bearer` (and the members of `as_extra`, which may replace it) and
    /// answers with `as_token`; the MCP endpoint with `mcp`.
    async fn start(
        as_extra: Value,
        mcp: impl Fn(&Seen) -> Response + Send + Sync + 'static,
        as_token: impl Fn(&Seen) -> Response + Send + Sync + 'static,
        idp_token: impl Fn(&Seen) -> Response + Send + Sync + 'static,
    ) -> Self {
        let idp = start_idp(json!({}), idp_token).await;
        let mut metadata = json!({"grant_types_supported": [JWT_BEARER_GRANT]});
        for (k, v) in as_extra.as_object().into_iter().flatten() {
            metadata[k] = v.clone();
        }
        let server = start_with(metadata, mcp, as_token).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id_token.jwt");
        let id_token = id_token(&idp.base, "u1", 3600);
        std::fs::write(&path, format!("{id_token}\n")).unwrap();
        Self {
            idp,
            server,
            _dir: dir,
            path,
            id_token,
        }
    }

    /// The usual setup: the MCP endpoint wants `Bearer at-1`, the AS issues
    /// `at-1`, `at-2`, …, the IdP issues ID-JAGs.
    async fn usual() -> Self {
        Self::with_idp(issuing_id_jags()).await
    }

    /// The usual setup with these members in the AS's metadata.
    async fn with_as(as_extra: Value) -> Self {
        let as_token = issuing("Bearer", false);
        Self::start(
            as_extra,
            requiring("Bearer at-1"),
            as_token,
            issuing_id_jags(),
        )
        .await
    }

    /// The usual setup with this AS token endpoint.
    async fn with_as_token(as_token: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Self {
        Self::start(
            json!({}),
            requiring("Bearer at-1"),
            as_token,
            issuing_id_jags(),
        )
        .await
    }

    /// The usual setup with this IdP token endpoint.
    async fn with_idp(idp_token: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Self {
        let as_token = issuing("Bearer", false);
        Self::start(json!({}), requiring("Bearer at-1"), as_token, idp_token).await
    }

    /// An AS that advertises DPoP with ES256 and answers with `as_token`, and an
    /// MCP endpoint that wants `DPoP at-1`.
    async fn dpop(as_token: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Self {
        let dpop = json!({"dpop_signing_alg_values_supported": ["ES256"]});
        Self::start(dpop, requiring("DPoP at-1"), as_token, issuing_id_jags()).await
    }

    /// Asserts that neither server got a token request, nor the IdP anything.
    fn assert_nothing_sent(&self) {
        assert!(self.idp.seen().is_empty(), "the IdP was asked");
        assert!(
            self.redemptions().is_empty(),
            "the AS was asked for a token"
        );
    }

    /// The grant: the ID token file, `desktop-agent` at the IdP and `acme-agent`
    /// at the authorization server, both with `client_secret_basic`.
    fn grant(&self) -> EnterpriseGrant {
        EnterpriseGrant {
            id_token: IdTokenSource::File(self.path.clone()),
            idp_client: ClientAuth::SecretBasic {
                client_id: IDP_CLIENT.into(),
                secret: "idp-secret".into(),
            },
            idp_issuer: None,
            client: ClientAuth::SecretBasic {
                client_id: AS_CLIENT.into(),
                secret: "as-secret".into(),
            },
        }
    }

    /// A client of the MCP endpoint with `grant` and `signer`.
    fn client_with(&self, grant: EnterpriseGrant, signer: Option<RequestSigner>) -> McpClient {
        McpClient::new(
            format!("{}/mcp", self.server.base),
            Some(Grant::Enterprise(grant)),
            signer,
        )
    }

    fn client(&self) -> McpClient {
        self.client_with(self.grant(), None)
    }

    /// A client with the grant and a new ES256 DPoP key.
    fn dpop_client(&self) -> McpClient {
        let signer = DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
        self.client_with(self.grant(), Some(signer.into()))
    }

    /// The exchanges the IdP received.
    fn exchanges(&self) -> Vec<Seen> {
        at(&self.idp, "/token")
    }

    /// The redemptions the authorization server received.
    fn redemptions(&self) -> Vec<Seen> {
        at(&self.server, "/token")
    }

    /// The error of a `tools/list` call with `client`, which must fail.
    async fn failure(&self, mut client: McpClient) -> CallError {
        client.call("tools/list", json!({})).await.unwrap_err()
    }
}

/// `Basic base64(id:secret)`.
fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The names of a form's parameters, sorted.
fn names(seen: &Seen) -> Vec<String> {
    let mut names: Vec<String> = url::form_urlencoded::parse(seen.body.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn ema_c_4_and_c_6_one_exchange_at_the_idp_then_one_redemption_at_the_as() {
    let ema = Enterprise::usual().await;
    echo(&mut ema.client()).await;

    let exchanges = ema.exchanges();
    assert_eq!(exchanges.len(), 1);
    let exchange = &exchanges[0];
    assert_eq!(
        names(exchange),
        [
            "audience",
            "grant_type",
            "requested_token_type",
            "resource",
            "scope",
            "subject_token",
            "subject_token_type"
        ]
    );
    let form = |name| exchange.form(name).unwrap();
    assert_eq!(form("grant_type"), TOKEN_EXCHANGE_GRANT);
    assert_eq!(form("requested_token_type"), ID_JAG_TOKEN_TYPE);
    assert_eq!(form("subject_token"), ema.id_token, "trimmed");
    assert_eq!(form("subject_token_type"), ID_TOKEN_TYPE);
    // Exactly the AS issuer, exactly the resource metadata's resource.
    assert_eq!(form("audience"), ema.server.base);
    assert_eq!(form("resource"), format!("{}/mcp", ema.server.base));
    assert_eq!(form("scope"), "tools:read");
    assert_eq!(
        exchange.header("authorization"),
        Some(basic(IDP_CLIENT, "idp-secret").as_str())
    );
    assert_eq!(exchange.header("dpop"), None);

    let redemptions = ema.redemptions();
    assert_eq!(redemptions.len(), 1);
    let redemption = &redemptions[0];
    assert_eq!(
        names(redemption),
        ["assertion", "grant_type", "resource", "scope"]
    );
    let form = |name| redemption.form(name).unwrap();
    assert_eq!(form("grant_type"), JWT_BEARER_GRANT);
    assert_eq!(
        form("assertion"),
        id_jag("oauth-id-jag+jwt", json!(ema.server.base), 1)
    );
    assert_eq!(form("resource"), format!("{}/mcp", ema.server.base));
    // The IdP named no scope: the scopes asked for.
    assert_eq!(form("scope"), "tools:read");
    assert_eq!(
        redemption.header("authorization"),
        Some(basic(AS_CLIENT, "as-secret").as_str())
    );
    assert_eq!(
        at(&ema.server, "/mcp")[1].header("authorization"),
        Some("Bearer at-1")
    );
}

#[tokio::test]
async fn ema_c_4_a_public_idp_registration_sends_its_client_id_alone() {
    let ema = Enterprise::usual().await;
    let grant = EnterpriseGrant {
        idp_client: ClientAuth::None {
            client_id: IDP_CLIENT.into(),
        },
        ..ema.grant()
    };
    echo(&mut ema.client_with(grant, None)).await;
    let exchange = &ema.exchanges()[0];
    assert_eq!(exchange.form("client_id").as_deref(), Some(IDP_CLIENT));
    assert_eq!(exchange.form("client_secret"), None);
    assert_eq!(exchange.header("authorization"), None);
    // The AS still gets its own client's authentication.
    assert_eq!(
        ema.redemptions()[0].header("authorization"),
        Some(basic(AS_CLIENT, "as-secret").as_str())
    );
}

#[tokio::test]
async fn ema_c_6_the_redemption_asks_for_the_scope_the_idp_granted() {
    let ema = Enterprise::with_idp(|seen: &Seen| {
        let jag = id_jag("oauth-id-jag+jwt", json!(seen.form("audience").unwrap()), 1);
        axum::Json(
            json!({"access_token": jag, "issued_token_type": ID_JAG_TOKEN_TYPE,
                              "token_type": "n_a", "expires_in": 300, "scope": "tools:read mcp:x"}),
        )
        .into_response()
    })
    .await;
    echo(&mut ema.client()).await;
    assert_eq!(
        ema.redemptions()[0].form("scope").as_deref(),
        Some("tools:read mcp:x")
    );
}

#[tokio::test]
async fn ema_c_1_no_exchange_and_no_redemption_when_the_as_does_not_list_jwt_bearer() {
    let ema = Enterprise::with_as(json!({"grant_types_supported": ["client_credentials"]})).await;
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::GrantNotSupported { issuer })
            if *issuer == ema.server.base),
        "{err}"
    );
    ema.assert_nothing_sent();
}

#[tokio::test]
async fn ema_c_1_an_as_listing_other_grant_profiles_only_gets_nothing() {
    let other = json!({"authorization_grant_profiles_supported": ["urn:example:other-profile"]});
    let ema = Enterprise::with_as(other).await;
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(
            &err,
            CallError::Enterprise(EnterpriseError::ProfileNotSupported { .. })
        ),
        "{err}"
    );
    ema.assert_nothing_sent();
}

#[tokio::test]
async fn ema_c_1_an_as_listing_the_id_jag_profile_gets_a_redemption() {
    let ema =
        Enterprise::with_as(json!({"authorization_grant_profiles_supported": [ID_JAG_PROFILE]}))
            .await;
    echo(&mut ema.client()).await;
    assert_eq!(ema.redemptions().len(), 1);
}

#[tokio::test]
async fn ema_c_2_the_file_is_read_again_for_every_exchange() {
    let ema = Enterprise::usual().await;
    let mut client = ema.client();
    client.obtain_token().await.unwrap();
    // The sign-in program writes a new ID token.
    let second = id_token(&ema.idp.base, "u1-again", 3600);
    std::fs::write(&ema.path, &second).unwrap();
    client.obtain_token().await.unwrap();
    let subjects: Vec<_> = ema
        .exchanges()
        .iter()
        .map(|s| s.form("subject_token").unwrap())
        .collect();
    assert_eq!(subjects, [ema.id_token.clone(), second]);
}

#[tokio::test]
async fn ema_c_2_an_expired_id_token_is_sent_nowhere() {
    let ema = Enterprise::usual().await;
    let expired = id_token(&ema.idp.base, "u1", -5);
    std::fs::write(&ema.path, &expired).unwrap();
    let err = ema.failure(ema.client()).await;
    assert!(
        matches!(&err, CallError::Enterprise(EnterpriseError::IdTokenExpired { ago, .. })
            if *ago >= 5),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("Sign in at the identity provider again")
    );
    ema.assert_nothing_sent();
}

#[tokio::test]
async fn ema_c_2_and_c_7_neither_the_id_token_nor_the_id_jag_is_in_any_output() {
    // The AS refuses, so the error is the last thing the client says.
    let ema = Enterprise::with_as_token(refusing(
        "invalid_grant",
        "this ID-JAG has already been redeemed",
    ))
    .await;
    let mut client = ema.client();
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    let shown = format!("{err} {err:?} {client:?} {:?}", client.obtained_token());
    let jag = ema.redemptions()[0].form("assertion").unwrap();
    for secret in [&ema.id_token, &jag] {
        let payload = secret.split('.').nth(1).unwrap();
        assert!(!shown.contains(payload), "{shown}");
    }
}
