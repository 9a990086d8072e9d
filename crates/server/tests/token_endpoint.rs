//! The token endpoint over real HTTP on 127.0.0.1 with a real SQLite file: the
//! client_credentials flow, client authentication, the grant, resource and scope
//! rules, default scopes, and metrics. One test per rule, each negative test
//! asserting status and `error`. Client assertions (private_key_jwt) are in
//! `private_key_jwt.rs`; introspection, revocation, key rotation and metadata in
//! `token_lifecycle.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture as _;

use mcp_auth_core::TokenVerifier;
use serde_json::Value;

use common::RESOURCE;
use token_env::{assert_error, start};

mod common;
mod token_env;

#[tokio::test]
async fn client_credentials_issues_a_verifiable_rfc9068_token() {
    let env = start().await;
    let (status, headers, body) = env
        .token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "mcp:read")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "mcp:read");
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let verifier = TokenVerifier::new(env.issuer.clone(), Some(RESOURCE.into()), &env.jwks().await);
    let claims = verifier.verify(token, mcp_auth_core::unix_now()).unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.client_id.as_str(),
            claims.aud.as_str(),
            claims.scope.as_str()
        ),
        ("bot", "bot", RESOURCE, "mcp:read")
    );
    assert_eq!(claims.exp - claims.iat, 300);
}

/// Security review item 1: without `scope`, the resource's default scopes (none
/// here), never every scope the client may have.
#[tokio::test]
async fn item_1_without_scope_and_without_resource_defaults_no_scope_is_granted() {
    let env = start().await;
    let (status, _, body) = env
        .token("bot", "bot-secret", &[("resource", RESOURCE)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none(), "{body}");
}

#[tokio::test]
async fn client_secret_post_authenticates_a_token_request() {
    let env = start().await;
    let (status, _, body) = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "reader"),
                ("client_secret", "reader-secret"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_wrong_basic_secret_is_invalid_client_with_a_basic_challenge() {
    let env = start().await;
    let wrong = env.token("bot", "nope", &[("resource", RESOURCE)]).await;
    assert_error(&wrong, 401, "invalid_client");
    assert_eq!(wrong.1["www-authenticate"], "Basic realm=\"mcp-auth\"");
}

#[tokio::test]
async fn an_unknown_client_is_invalid_client() {
    let env = start().await;
    assert_error(
        &env.token("ghost", "bot-secret", &[("resource", RESOURCE)])
            .await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn a_wrong_client_secret_post_is_invalid_client_without_a_basic_challenge() {
    let env = start().await;
    let post = env
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_secret", "nope"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&post, 401, "invalid_client");
    assert!(post.1.get("www-authenticate").is_none());
}

#[tokio::test]
async fn a_token_request_without_client_authentication_is_invalid_client() {
    let env = start().await;
    assert_error(
        &env.post(
            "/token",
            None,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn two_client_authentication_methods_in_one_request_are_an_invalid_request() {
    let env = start().await;
    let both = env
        .post(
            "/token",
            Some(("bot", "bot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_secret", "bot-secret"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_error(&both, 400, "invalid_request");
}

#[tokio::test]
async fn a_bearer_authorization_header_does_not_authenticate_a_client() {
    let env = start().await;
    let bearer = env
        .http
        .post(format!("{}/token", env.issuer))
        .header("authorization", "Bearer x")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized_client() {
    let env = start().await;
    assert_error(
        &env.token("nogrant", "nogrant-secret", &[("resource", RESOURCE)])
            .await,
        400,
        "unauthorized_client",
    );
}

#[tokio::test]
async fn a_token_request_without_resource_is_an_invalid_request() {
    let env = start().await;
    assert_error(
        &env.token("bot", "bot-secret", &[]).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn an_unknown_resource_is_invalid_target() {
    let env = start().await;
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", "http://127.0.0.1:9/unknown")],
        )
        .await,
        400,
        "invalid_target",
    );
}

#[tokio::test]
async fn two_resources_in_one_token_request_are_invalid_target() {
    let env = start().await;
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[
                ("resource", RESOURCE),
                ("resource", "http://127.0.0.1:4000/other"),
            ],
        )
        .await,
        400,
        "invalid_target",
    );
}

/// A resource that differs only by a trailing slash is a different resource.
#[tokio::test]
async fn a_resource_differing_only_by_a_trailing_slash_is_invalid_target() {
    let env = start().await;
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", "http://127.0.0.1:3000/mcp/")],
        )
        .await,
        400,
        "invalid_target",
    );
}

#[tokio::test]
async fn a_scope_the_resource_does_not_offer_is_invalid_scope() {
    let env = start().await;
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "admin")],
        )
        .await,
        400,
        "invalid_scope",
    );
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_is_invalid_scope() {
    let env = start().await;
    assert_error(
        &env.token(
            "reader",
            "reader-secret",
            &[("resource", RESOURCE), ("scope", "mcp:write")],
        )
        .await,
        400,
        "invalid_scope",
    );
}

#[tokio::test]
async fn a_scope_of_another_resource_is_invalid_scope() {
    let env = start().await;
    assert_error(
        &env.token(
            "bot",
            "bot-secret",
            &[("resource", RESOURCE), ("scope", "other:read")],
        )
        .await,
        400,
        "invalid_scope",
    );
}

#[tokio::test]
async fn an_unsupported_grant_type_is_refused() {
    let env = start().await;
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[("grant_type", "password"), ("resource", RESOURCE)],
        )
        .await,
        400,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn a_token_request_without_grant_type_is_an_invalid_request() {
    let env = start().await;
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[("resource", RESOURCE)],
        )
        .await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn a_repeated_token_request_parameter_is_an_invalid_request() {
    let env = start().await;
    assert_error(
        &env.post(
            "/token",
            Some(("bot", "bot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "a"),
                ("scope", "b"),
                ("resource", RESOURCE),
            ],
        )
        .await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn a_token_request_body_over_the_size_limit_is_refused_with_413() {
    let env = start().await;
    let big = "x".repeat(70 * 1024);
    let resp = env
        .http
        .post(format!("{}/token", env.issuer))
        .basic_auth("bot", Some("bot-secret"))
        .form(&[("grant_type", "client_credentials"), ("pad", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

/// Without `Content-Length`, the 64 KiB limit is met while the token handler reads the
/// body: the same 413.
#[tokio::test]
async fn a_chunked_token_request_body_over_the_size_limit_is_refused_with_413() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let env = start().await;
    let url = url::Url::parse(&format!("{}/token", env.issuer)).unwrap();
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic Ym90OmJvdC1zZWNyZXQ=\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
        url.path(),
        url.host_str().unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // 65 chunks of 1 KiB: the 65th crosses the limit, and the server has read nearly
    // all it was sent when it answers (unread bytes at its close would reset the
    // connection). No last chunk: the body never ends on its own.
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..65 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = [0u8; 512];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if answer.is_empty() => panic!("no answer: {e}"),
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
}

/// Security review item 1: a token request that names no scope gets the resource's
/// `default_scopes` (within what the client may have), never every scope.
#[tokio::test]
async fn item_1_a_request_without_scope_gets_the_resource_defaults() {
    let running = common::spawn(
        "[[resources]]\nuri = \"http://127.0.0.1:4000/docs\"\nscopes = [\"docs:read\", \"docs:write\"]\ndefault_scopes = [\"docs:read\"]\n\n[[clients]]\nclient_id = \"ci\"\nclient_secret_sha256 = \"K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"docs:read\", \"docs:write\"]\n",
        "",
    )
    .await;
    let r = running
        .http
        .post(format!("{}/token", running.issuer))
        .basic_auth("ci", Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "http://127.0.0.1:4000/docs"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "docs:read");
}

/// Security review item 1: a default outside the resource's scopes is a
/// configuration error.
#[test]
fn item_1_a_default_scope_outside_the_resources_scopes_is_a_configuration_error() {
    let bad = mcp_auth_server::Config::from_toml(
        "[[resources]]\nuri = \"http://x/mcp\"\nscopes = [\"a\"]\ndefault_scopes = [\"b\"]\n",
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(bad.key, "resources[0].default_scopes");
}

/// Security review item 13: metrics are not on the AS's own listener.
#[tokio::test]
async fn item_13_metrics_are_not_served_on_the_as_listener() {
    let env = start().await;
    let public = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
}

/// Every answer carries `X-Request-Id`: a new UUID, or the client's own, echoed; a
/// 404 and a 405 too.
#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_clients_own_is_echoed() {
    let env = start().await;
    let answer = async |url: String, sent: Option<&str>| {
        let mut request = env.http.get(url);
        if let Some(id) = sent {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        (response.status().as_u16(), id.to_owned())
    };
    let urls = [
        (200, format!("{}/healthz", env.base)),
        (404, format!("{}/no-such-path", env.base)),
        (405, format!("{}/token", env.issuer)),
    ];
    for (status, url) in urls {
        let (got, id) = answer(url.clone(), None).await;
        assert_eq!(got, status, "{url}");
        assert_eq!(id.len(), 36, "{url}: {id}");
        assert_eq!(id.matches('-').count(), 4, "{url}: {id}");
        assert_ne!(answer(url.clone(), None).await.1, id, "{url}");
        let echoed = answer(url.clone(), Some("trace-7")).await.1;
        assert_eq!(echoed, "trace-7", "{url}");
    }
    let token = env
        .http
        .post(format!("{}/token", env.issuer))
        .basic_auth("bot", Some("wrong"))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 401);
    assert_eq!(token.headers()["x-request-id"].len(), 36);
}

/// One token issued and one refused, then the metrics text from a listener of
/// their own (security review item 13).
async fn metrics_after_a_success_and_a_failure() -> String {
    let env = start().await;
    assert_eq!(
        env.token("bot", "bot-secret", &[("resource", RESOURCE)])
            .await
            .0,
        200
    );
    let _ = env.token("bot", "wrong", &[("resource", RESOURCE)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(
        mcp_auth_core::listener::serve(listener, mcp_auth_server::metrics_router()).into_future(),
    );
    env.http
        .get(metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_tokens_by_grant() {
    let text = metrics_after_a_success_and_a_failure().await;
    assert!(
        text.contains("mcp_auth_tokens_issued_total{grant=\"client_credentials\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_requests_total{route=\"/token\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_requests_total{route=\"/token\",status=\"401\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_auth_http_request_duration_seconds_bucket{route=\"/token\""),
        "{text}"
    );
}

#[tokio::test]
async fn secrets_and_tokens_never_appear_in_metrics() {
    let text = metrics_after_a_success_and_a_failure().await;
    assert!(!text.contains("bot-secret"), "{text}");
}
