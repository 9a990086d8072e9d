//! The enterprise grant end to end with this project's authorization server:
//! `mcp-auth token --id-token FILE` exchanges the ID token at a test identity
//! provider (loopback axum, signing ES256 ID-JAGs with a key the AS trusts through
//! `jwks_file`) and redeems the ID-JAG at `mcp-auth as` configured with that IdP in
//! `[[id_jag_issuers]]` (profiles/enterprise-managed-authorization.md Appendix A.2),
//! for a resource whose RFC 9728 metadata a second test server serves. The client's
//! requests are what our AS accepts: the access token's principal is
//! `<entry id>:<sub>` (D12), bound with `--dpop` where the AS advertises DPoP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use axum::response::IntoResponse as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, SigningKey};
use mcp_auth_testkit::{Killed, free_port, try_wait_for};
use serde_json::{Value, json};

mod common;

/// The IdP's signing key's id.
const KID: &str = "idp-es256";

/// A test IdP at its own base URL, signing with `key`: its OpenID configuration,
/// and `/token` answering every exchange with an ID-JAG for the user `u-1` and the
/// exchange's `audience`, `resource` and `scope`, for the AS client `acme-agent`.
async fn idp(key: SigningKey) -> String {
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                let base = base_of(&headers);
                axum::Json(json!({"issuer": base, "token_endpoint": format!("{base}/token")}))
            }),
        )
        .route(
            "/token",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: String| async move {
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(body.as_bytes())
                            .into_owned()
                            .collect();
                    let now = now();
                    let claims = json!({
                        "iss": base_of(&headers), "sub": "u-1", "aud": form["audience"],
                        "client_id": "acme-agent", "jti": mcp_auth_core::random_token::<16>().unwrap(),
                        "iat": now, "exp": now + 300, "resource": form["resource"],
                        "scope": form.get("scope"),
                    });
                    axum::Json(json!({
                        "access_token": sign(&key, &claims),
                        "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                        "token_type": "N_A", "expires_in": 300, "scope": form.get("scope"),
                    }))
                    .into_response()
                },
            ),
        );
    mcp_auth_testkit::serve(app).await
}

/// `http://` and the request's `Host`.
fn base_of(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok());
    format!("http://{}", host.unwrap_or_default())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An ES256 JWS typed `oauth-id-jag+jwt` of `claims`.
fn sign(key: &SigningKey, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!(
        "{}.{}",
        part(&json!({"alg": "ES256", "kid": KID, "typ": "oauth-id-jag+jwt"})),
        part(claims)
    );
    let signature = key
        .sign(Algorithm::EcdsaP256Sha256, input.as_bytes())
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The MCP server's RFC 9728 metadata at its base URL, naming `issuer`; its
/// resource is `<base>/mcp`, with scope `mcp:read`.
async fn resource_metadata(issuer: String) -> String {
    let app = axum::Router::new().route(
        "/.well-known/oauth-protected-resource/mcp",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let issuer = issuer.clone();
            async move {
                axum::Json(json!({
                    "resource": format!("{}/mcp", base_of(&headers)),
                    "authorization_servers": [issuer],
                    "scopes_supported": ["mcp:read"],
                }))
            }
        }),
    );
    mcp_auth_testkit::serve(app).await
}

/// `mcp-auth as` at `issuer` (on `port`) with the client `acme-agent` (secret
/// `acme-secret`, the jwt-bearer grant) and the IdP `idp` as the trust entry
/// `acme`, whose keys are `jwks` in a file, for `resource`.
async fn start_as(
    dir: &std::path::Path,
    port: u16,
    idp: &str,
    jwks: &Value,
    resource: &str,
) -> Killed {
    let jwks_file = dir.join("idp-jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let config = dir.join("as.toml");
    std::fs::write(
        &config,
        format!(
            r#"
issuer = "http://127.0.0.1:{port}"

[[resources]]
uri = "{resource}"
scopes = ["mcp:read", "mcp:write"]

[[clients]]
client_id = "acme-agent"
client_secret_sha256 = "MHxgn4faQ8PVY0KKT379+YV/SHH9EEZXMsSrEamFoIw="
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["mcp:read", "mcp:write"]

[[id_jag_issuers]]
id = "acme"
issuer = "{idp}"
jwks_file = "{}"
algorithms = ["ES256"]
resources = ["{resource}"]
"#,
            jwks_file.display()
        ),
    )
    .unwrap();
    let log = dir.join("as.log");
    let child = Killed(
        common::mcp_auth()
            .args(["as", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server");
    if try_wait_for(&url).await.is_none() {
        panic!(
            "the AS never answered; its log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    child
}

/// The claims of a JWT, decoded without verification.
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn our_as_redeems_the_id_jag_the_client_obtained_and_issues_the_users_token() {
    let key = SigningKey::generate(Algorithm::EcdsaP256Sha256)
        .unwrap()
        .with_kid(KID);
    let mut jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap();
    jwk["kid"] = json!(KID);
    jwk["alg"] = json!("ES256");
    let idp = idp(key).await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mcp_base = resource_metadata(issuer.clone()).await;
    let resource = format!("{mcp_base}/mcp");
    let dir = tempfile::tempdir().unwrap();
    let _as = start_as(dir.path(), port, &idp, &json!({"keys": [jwk]}), &resource).await;

    let id_token_file = dir.path().join("id_token.jwt");
    let id_token_claims = json!({"iss": idp, "sub": "u-1", "aud": "desktop-agent",
                                 "exp": now() + 3600});
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    std::fs::write(
        &id_token_file,
        format!(
            "{}.{}.c2ln",
            part(&json!({"alg": "RS256", "typ": "JWT"})),
            part(&id_token_claims)
        ),
    )
    .unwrap();
    let token = |extra: &'static [&'static str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
        command
            .args(["token", &resource, "--json", "--issuer", &issuer])
            .arg("--id-token")
            .arg(&id_token_file)
            .args([
                "--idp-client-id",
                "desktop-agent",
                "--client-id",
                "acme-agent",
            ])
            .args(extra)
            .env(
                "MCP_AUTH_TOKEN_CACHE",
                dir.path().join("default-cache.json"),
            )
            .env("MCP_AUTH_IDP_CLIENT_SECRET", "idp-secret")
            .env("MCP_AUTH_CLIENT_SECRET", "acme-secret");
        async move {
            let out = command.output().await.unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{stderr}");
            let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
            claims_of(printed["access_token"].as_str().unwrap())
        }
    };

    let bearer = token(&[]).await;
    assert_eq!(bearer["sub"], "acme:u-1", "D12: <entry id>:<sub>");
    assert_eq!(bearer["client_id"], "acme-agent");
    assert_eq!(bearer["aud"], json!(resource));
    assert_eq!(bearer["scope"], "mcp:read");
    assert!(bearer.get("cnf").is_none());

    // A second token: a new exchange and a new ID-JAG (the AS redeems each once),
    // this time bound to a DPoP key.
    let bound = token(&["--dpop"]).await;
    assert_eq!(bound["sub"], "acme:u-1");
    assert!(bound["cnf"]["jkt"].is_string(), "{bound}");
}
