//! The client side of profiles/enterprise-managed-authorization.md through the binary
//! (`mcp-auth token|call --id-token FILE --idp-client-id ID --client-id ID`, the two
//! secrets in MCP_AUTH_IDP_CLIENT_SECRET and MCP_AUTH_CLIENT_SECRET) and the rmcp
//! transport, over real HTTP on loopback: a test identity provider (OpenID
//! configuration, `/token` answering the exchange) and a test MCP server that is its
//! own authorization server, each recording what it receives; and once end to end
//! with `mcp-auth as` redeeming an ID-JAG the test IdP signs (EMA-AS side in the
//! server crate's tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

mod common;

use common::ema::{
    AS_CLIENT, IDP_CLIENT, JWT_BEARER, TOKEN_EXCHANGE, access_token, basic, id_jag_for, mcp_auth,
    mcp_server, metadata, now, refusal, unsigned,
};
use common::{Seen as Request, Server, at, serve};

/// A test IdP whose `/token` answers with `exchange(request, number)` (1 for the
/// first exchange).
async fn idp(exchange: impl Fn(&Request, usize) -> Response + Send + Sync + 'static) -> Server {
    let count = AtomicUsize::new(0);
    serve(move |request, base| match request.path.as_str() {
        "/.well-known/openid-configuration" => axum::Json(metadata(base)).into_response(),
        "/token" => exchange(request, count.fetch_add(1, Ordering::SeqCst) + 1),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

/// A user's directory: the ID token file (an unsigned ID token of `iss` expiring in
/// `exp_in` seconds), and room for token caches.
struct User {
    dir: tempfile::TempDir,
    file: PathBuf,
    id_token: String,
}

impl User {
    fn new(iss: &str, exp_in: i64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("id_token.jwt");
        let id_token = unsigned(
            &json!({"alg": "RS256", "typ": "JWT"}),
            &json!({"iss": iss, "sub": "u-1", "aud": IDP_CLIENT.0, "exp": now() + exp_in}),
        );
        std::fs::write(&file, format!("{id_token}\n")).unwrap();
        Self {
            dir,
            file,
            id_token,
        }
    }

    /// `mcp-auth <args> --id-token FILE --idp-client-id desktop-agent --client-id
    /// acme-agent` with both secrets in the environment; (exit code, stdout,
    /// stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let env = [
            ("MCP_AUTH_IDP_CLIENT_SECRET", IDP_CLIENT.1),
            ("MCP_AUTH_CLIENT_SECRET", AS_CLIENT.1),
        ];
        self.run_with(args, &env).await
    }

    /// [`User::run`] with only the environment `env`.
    async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut args = args.to_vec();
        args.extend([
            "--id-token",
            self.file.to_str().unwrap(),
            "--idp-client-id",
            IDP_CLIENT.0,
            "--client-id",
            AS_CLIENT.0,
        ]);
        mcp_auth(self.dir.path(), &args, env).await
    }
}

/// A test IdP, a test MCP server, and a user holding an ID token of that IdP.
struct Setup {
    idp: Server,
    server: Server,
    user: User,
    /// The MCP endpoint.
    mcp: String,
}

impl Setup {
    /// The IdP answers exchanges with `exchange`, the authorization server token
    /// requests with `token`; the ID token expires in `exp_in` seconds.
    async fn new(
        exchange: impl Fn(&Request, usize) -> Response + Send + Sync + 'static,
        token: impl Fn(&Request, usize) -> Response + Send + Sync + 'static,
        exp_in: i64,
    ) -> Self {
        let idp = idp(exchange).await;
        let server = mcp_server(token).await;
        let user = User::new(&idp.base, exp_in);
        let mcp = format!("{}/mcp", server.base);
        Self {
            idp,
            server,
            user,
            mcp,
        }
    }

    /// ID-JAGs at the IdP, `at-1`, `at-2`, … at the authorization server, an ID
    /// token valid for an hour.
    async fn usual() -> Self {
        Self::new(id_jag_for, access_token, 3600).await
    }
}

#[tokio::test]
async fn ema_c_4_and_c_6_token_exchanges_at_the_idp_and_redeems_with_each_clients_secret() {
    let t = Setup::usual().await;
    let (code, out, err) = t.user.run(&["token", &t.mcp]).await;
    assert_eq!((code, out.as_str()), (0, "at-1\n"), "{err}");
    // Only the note that nothing pins the AS client's issuer (no --issuer, no cache).
    assert!(
        err.starts_with("mcp-auth: the credentials of client `acme-agent` went to"),
        "{err}"
    );

    let exchange = &at(&t.idp, "/token")[0];
    assert_eq!(exchange.form("grant_type").as_deref(), Some(TOKEN_EXCHANGE));
    assert_eq!(
        exchange.form("subject_token"),
        Some(t.user.id_token.clone())
    );
    assert_eq!(exchange.form("audience"), Some(t.server.base.clone()));
    assert_eq!(exchange.form("resource"), Some(t.mcp.clone()));
    assert_eq!(
        exchange.header("authorization"),
        Some(basic(IDP_CLIENT).as_str())
    );

    let redemption = &at(&t.server, "/token")[0];
    assert_eq!(redemption.form("grant_type").as_deref(), Some(JWT_BEARER));
    assert_eq!(redemption.form("resource"), Some(t.mcp));
    assert!(redemption.form("subject_token").is_none());
    assert_eq!(
        redemption.header("authorization"),
        Some(basic(AS_CLIENT).as_str())
    );
    // The ID token never reached the authorization server.
    assert!(
        !redemption
            .body
            .contains(t.user.id_token.split('.').nth(1).unwrap())
    );
    assert!(!t.user.dir.path().join("default-cache.json").exists());
}

#[tokio::test]
async fn ema_c_7_and_c_9_a_token_cache_serves_the_second_call_and_keeps_no_grant() {
    let t = Setup::usual().await;
    let cache = t.user.dir.path().join("cache.json");
    let args = [
        "call",
        &t.mcp,
        "tools/list",
        "--token-cache",
        cache.to_str().unwrap(),
    ];
    for _ in 0..2 {
        let (code, out, err) = t.user.run(&args).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("whoami"), "{out}");
    }
    assert_eq!(
        at(&t.idp, "/token").len(),
        1,
        "the second run used the kept token"
    );
    assert_eq!(at(&t.server, "/token").len(), 1);
    let kept = std::fs::read_to_string(&cache).unwrap();
    let entry: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(entry[&t.mcp]["access_token"], "at-1");
    assert!(entry[&t.mcp].get("refresh_token").is_none());
    let id_jag = at(&t.server, "/token")[0].form("assertion").unwrap();
    for secret in [&t.user.id_token, &id_jag] {
        assert!(!kept.contains(secret.split('.').nth(1).unwrap()), "{kept}");
    }
}

#[tokio::test]
async fn ema_c_8_the_idps_refusal_is_reported_with_its_code_and_nothing_else_is_sent() {
    let refused =
        |_: &Request, _| refusal("invalid_grant", "the subject token is not a valid ID token");
    let t = Setup::new(refused, access_token, 3600).await;
    let (code, out, err) = t.user.run(&["call", &t.mcp, "tools/list"]).await;
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains(&format!(
            "the identity provider {} refused the token exchange (400): invalid_grant",
            t.idp.base
        )),
        "{err}"
    );
    assert!(
        err.contains("sign in at the identity provider again"),
        "{err}"
    );
    assert!(
        !err.contains(t.user.id_token.split('.').nth(1).unwrap()),
        "{err}"
    );
    assert_eq!(at(&t.idp, "/token").len(), 1, "no retry");
    assert!(at(&t.server, "/token").is_empty(), "no other grant");
}

#[tokio::test]
async fn ema_c_8_the_authorization_servers_refusal_names_it_and_its_code() {
    let refused =
        |_: &Request, _| refusal("invalid_grant", "this ID-JAG has already been redeemed");
    let t = Setup::new(id_jag_for, refused, 3600).await;
    let (code, _, err) = t.user.run(&["token", &t.mcp]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "the authorization server {} refused the ID-JAG (400): invalid_grant: this ID-JAG has already been redeemed",
            t.server.base
        )),
        "{err}"
    );
    assert_eq!(at(&t.idp, "/token").len(), 1);
    assert_eq!(at(&t.server, "/token").len(), 1);
}

#[tokio::test]
async fn ema_c_2_an_expired_id_token_is_sent_nowhere() {
    let t = Setup::new(id_jag_for, access_token, -60).await;
    let (code, _, err) = t.user.run(&["token", &t.mcp]).await;
    assert_eq!(code, 2);
    assert!(err.contains("expired"), "{err}");
    assert!(err.contains(t.user.file.to_str().unwrap()), "{err}");
    assert!(t.idp.seen().is_empty());
    assert!(at(&t.server, "/token").is_empty());
}

#[tokio::test]
async fn ema_c_3_with_idp_an_id_token_of_another_issuer_is_sent_nowhere() {
    let t = Setup::usual().await;
    let (code, _, err) = t
        .user
        .run(&["token", &t.mcp, "--idp", "https://idp.acme.example"])
        .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("not by https://idp.acme.example (--idp)"),
        "{err}"
    );
    assert!(t.idp.seen().is_empty());
}

#[tokio::test]
async fn a_public_idp_registration_needs_no_secret_and_sends_its_client_id() {
    let t = Setup::usual().await;
    let as_secret_only = [("MCP_AUTH_CLIENT_SECRET", AS_CLIENT.1)];
    let (code, out, err) = t
        .user
        .run_with(
            &["token", &t.mcp, "--idp-client-auth", "none"],
            &as_secret_only,
        )
        .await;
    assert_eq!((code, out.as_str()), (0, "at-1\n"), "{err}");
    let exchange = &at(&t.idp, "/token")[0];
    assert_eq!(exchange.form("client_id").as_deref(), Some(IDP_CLIENT.0));
    assert_eq!(exchange.header("authorization"), None);
}

#[tokio::test]
async fn the_idp_secret_comes_from_its_own_variable_or_nothing_is_sent() {
    let t = Setup::usual().await;
    // The AS's secret is not the IdP's.
    let as_secret_only = [("MCP_AUTH_CLIENT_SECRET", AS_CLIENT.1)];
    let (code, _, err) = t.user.run_with(&["token", &t.mcp], &as_secret_only).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("--idp-client-id needs MCP_AUTH_IDP_CLIENT_SECRET"),
        "{err}"
    );
    assert!(t.idp.seen().is_empty() && t.server.seen().is_empty());
}

#[tokio::test]
async fn the_id_token_options_require_each_other_and_exclude_the_other_grants() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["token", "http://127.0.0.1:9/mcp"];
    for (extra, says) in [
        (
            &["--id-token", "t", "--client-id", "a"][..],
            "--idp-client-id <ID>",
        ),
        (
            &["--id-token", "t", "--idp-client-id", "d"],
            "--client-id <ID>",
        ),
        // Without --id-token, --idp-client-id uses a kept sign-in (ema_sign_in).
        (&["--idp-client-id", "d"], "--client-id <ID>"),
        (&["--idp", "https://idp.example"], "--idp-client-id <ID>"),
        (&["--idp-client-auth", "none"], "--idp-client-id <ID>"),
        (
            &[
                "--id-token",
                "t",
                "--idp-client-id",
                "d",
                "--client-id",
                "a",
                "--workload-token",
                "w",
            ],
            "cannot be used with",
        ),
        (
            &[
                "--id-token",
                "t",
                "--idp-client-id",
                "d",
                "--client-id",
                "a",
                "--grant",
                "authorization_code",
            ],
            "cannot be used with",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let (code, _, err) = mcp_auth(dir.path(), &args, &[]).await;
        assert_eq!(code, 2, "{extra:?}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}

#[tokio::test]
async fn the_rmcp_transport_authorizes_with_the_enterprise_grant() {
    use rmcp::ServiceExt as _;

    let t = Setup::usual().await;
    let secret = |(id, secret): (&str, &str)| mcp_auth_client::ClientAuth::SecretBasic {
        client_id: id.into(),
        secret: secret.into(),
    };
    let client = mcp_auth_client::McpClient::new(
        format!("{}/mcp", t.server.base),
        Some(mcp_auth_client::Grant::Enterprise(
            mcp_auth_client::EnterpriseGrant {
                id_token: mcp_auth_client::IdTokenSource::File(t.user.file.clone()),
                idp_client: secret(IDP_CLIENT),
                idp_issuer: Some(t.idp.base.clone()),
                client: secret(AS_CLIENT),
            },
        )),
        None,
    );
    let service = ().serve(mcp_auth_client::rmcp_transport::transport(client)).await.unwrap();
    let tools = service.list_all_tools().await.unwrap();
    assert_eq!(tools[0].name, "whoami");
    assert_eq!(
        at(&t.idp, "/token").len(),
        1,
        "one token serves the session"
    );
    assert_eq!(at(&t.server, "/token").len(), 1);
    service.cancel().await.unwrap();
}
