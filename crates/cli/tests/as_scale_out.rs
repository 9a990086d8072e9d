//! Three `mcp-auth as` processes on one PostgreSQL database and one Redis replay
//! cache, as behind a load balancer (issue 19): what one instance did is what every
//! instance knows.
//!
//! - An authorization code is redeemed once, whichever instances it is sent to at
//!   the same time; a replay revokes what it issued (RFC 6749 §4.1.2).
//! - A refresh token used on several instances at once rotates once, and the reuse
//!   revokes its family, the winner's new refresh token included.
//! - A DPoP proof (`jti`) and a `private_key_jwt` client assertion (`jti`) are
//!   accepted once across instances.
//! - A client added, changed or removed through the admin command is seen by every
//!   instance within `client_cache_seconds`.
//!
//! Each race runs [`ROUNDS`] times, so that an interleaving that breaks it shows up.
//! Needs `MCP_AUTH_TEST_POSTGRES` and `MCP_AUTH_TEST_REDIS`; skipped loudly without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_auth_testkit::{AsCluster, CLUSTER_RESOURCE, postgres_database};

/// How many times each race is run.
const ROUNDS: usize = 50;

/// The longest a test may take.
const TEST_BOUND: Duration = Duration::from_secs(180);

/// Three instances on a fresh database of the system PostgreSQL, with the Redis replay
/// cache; `None` (said loudly) when either is not configured.
async fn cluster(test: &str, toml: &str) -> Option<AsCluster> {
    let Ok(redis) = std::env::var("MCP_AUTH_TEST_REDIS") else {
        eprintln!("!!! {test}: SKIPPED (MCP_AUTH_TEST_REDIS not set)");
        return None;
    };
    let db = postgres_database(test).await?;
    Some(
        AsCluster::start(
            env!("CARGO_BIN_EXE_mcp-auth").as_ref(),
            3,
            &db,
            &redis,
            toml,
        )
        .await,
    )
}

/// Runs `test` under [`TEST_BOUND`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test took longer than its bound");
}

fn assert_invalid_grant(status: u16, body: &serde_json::Value, what: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
}

#[tokio::test]
async fn a_code_sent_to_three_instances_at_once_is_redeemed_once_and_the_replay_revokes_its_tokens()
{
    bounded(async {
        let Some(c) = cluster("scale_code_race", "").await else {
            return;
        };
        c.add_user("alice");
        c.add_public_client("app");
        let rs_secret = c.add_confidential_client("rs");
        let session = c.sign_in(0, "app", "alice").await;
        let (mut won, mut refused_in_flight) = (0, 0);
        for round in 0..ROUNDS {
            let (code, verifier) = c.code(round % 3, "app", &session).await;
            let answers = futures_join3(
                c.redeem(0, "app", &code, &verifier),
                c.redeem(1, "app", &code, &verifier),
                c.redeem(2, "app", &code, &verifier),
            )
            .await;
            let winners: Vec<_> = answers.iter().filter(|a| a.0 == 200).collect();
            // One conditional UPDATE decides: never two. The one that redeemed it is
            // refused too when a replay arrived while it was issuing (its tokens are
            // revoked before they are handed out).
            assert!(winners.len() <= 1, "round {round}: {answers:?}");
            for (status, _, body) in answers.iter().filter(|a| a.0 != 200) {
                assert_invalid_grant(*status, body, &format!("round {round}"));
            }
            let Some((_, _, tokens)) = winners.first() else {
                refused_in_flight += 1;
                continue;
            };
            won += 1;
            // RFC 6749 §4.1.2: the replay revoked what the code produced, on every
            // instance.
            let access = tokens["access_token"].as_str().unwrap();
            let refresh = tokens["refresh_token"].as_str().unwrap();
            for i in 0..3 {
                assert!(
                    !c.active(i, access, ("rs", &rs_secret)).await,
                    "round {round}: the access token of a replayed code is still active on {i}"
                );
            }
            let (status, _, body) = c.refresh(round % 3, "app", refresh).await;
            assert_invalid_grant(status, &body, "the refresh token of a replayed code");
        }
        eprintln!(
            "{ROUNDS} rounds: {won} answered once with tokens (then revoked by the replay), \
             {refused_in_flight} refused everywhere (replayed while being redeemed)"
        );
        // A code redeemed without any replay keeps its tokens.
        let (code, verifier) = c.code(1, "app", &session).await;
        let (status, _, tokens) = c.redeem(2, "app", &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        assert!(
            c.active(
                0,
                tokens["access_token"].as_str().unwrap(),
                ("rs", &rs_secret)
            )
            .await
        );
    })
    .await;
}

#[tokio::test]
async fn a_refresh_token_sent_to_three_instances_at_once_rotates_once_and_the_reuse_revokes_the_family()
 {
    bounded(async {
        let Some(c) = cluster("scale_refresh_race", "").await else {
            return;
        };
        c.add_user("alice");
        c.add_public_client("app");
        let session = c.sign_in(0, "app", "alice").await;
        // Without a race, rotation follows the token across instances.
        let (code, verifier) = c.code(0, "app", &session).await;
        let (status, _, tokens) = c.redeem(1, "app", &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        for i in 0..6 {
            let (status, _, body) = c.refresh(i % 3, "app", &refresh).await;
            assert_eq!(status, 200, "rotation {i}: {body}");
            refresh = body["refresh_token"].as_str().unwrap().to_owned();
        }
        for round in 0..ROUNDS {
            let (code, verifier) = c.code(round % 3, "app", &session).await;
            let (status, _, tokens) = c.redeem(round % 3, "app", &code, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
            let token = tokens["refresh_token"].as_str().unwrap();
            let answers = futures_join3(
                c.refresh(0, "app", token),
                c.refresh(1, "app", token),
                c.refresh(2, "app", token),
            )
            .await;
            let winners: Vec<_> = answers.iter().filter(|a| a.0 == 200).collect();
            assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
            for (status, _, body) in answers.iter().filter(|a| a.0 != 200) {
                assert_invalid_grant(*status, body, &format!("round {round}"));
            }
            // The reuse revoked the family: the winner's new refresh token too, even
            // though it was stored while the reuse was being detected.
            let successor = winners[0].2["refresh_token"].as_str().unwrap();
            let (status, _, body) = c.refresh((round + 1) % 3, "app", successor).await;
            assert_invalid_grant(
                status,
                &body,
                &format!("round {round}: the winner's new refresh token after the reuse"),
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_dpop_proof_and_a_client_assertion_are_accepted_once_across_instances() {
    bounded(async {
        let Some(c) = cluster("scale_jti", "").await else {
            return;
        };
        let key =
            mcp_auth_core::AsSigningKey::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
        let jwks = std::env::temp_dir().join(format!("scale-jti-{}.json", std::process::id()));
        std::fs::write(
            &jwks,
            serde_json::json!({"keys": [key.public_jwk()]}).to_string(),
        )
        .unwrap();
        let (ok, _, err) = c.admin(&[
            "client",
            "add",
            "--id",
            "signer",
            "--scope",
            "mcp:read",
            "--jwks",
            jwks.to_str().unwrap(),
        ]);
        std::fs::remove_file(&jwks).unwrap();
        assert!(ok, "{err}");
        let secret = c.add_confidential_client("bot");
        for round in 0..ROUNDS {
            // One client assertion (`jti` kept in the database) to two instances.
            let now = mcp_auth_core::unix_now();
            let assertion = key
                .sign_typed(
                    "JWT",
                    &serde_json::json!({"iss": "signer", "sub": "signer", "aud": c.issuer,
                        "iat": now, "exp": now + 60, "jti": format!("a-{round}-{now}")}),
                )
                .unwrap();
            let form = |assertion: &str| {
                c.http
                    .post(format!("{}/token", c.instances[0].base))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("resource", CLUSTER_RESOURCE),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion),
                    ])
                    .build()
                    .unwrap()
            };
            let answers = two_instances(&c, form(&assertion)).await;
            assert_eq!(
                answers.iter().filter(|a| a.0 == 200).count(),
                1,
                "round {round}: {answers:?}"
            );
            let refused = answers.iter().find(|a| a.0 != 200).unwrap();
            assert_eq!(refused.0, 401, "{answers:?}");
            assert_eq!(refused.1["error"], "invalid_client", "{answers:?}");

            // One DPoP proof (`jti` kept in the Redis replay cache) to two instances.
            let signer =
                mcp_auth_client::DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)
                    .unwrap();
            let (mut parts, ()) = http::Request::post(format!("{}/token", c.issuer))
                .body(())
                .unwrap()
                .into_parts();
            signer
                .add_proof(&mut parts, None, mcp_auth_core::unix_now())
                .unwrap();
            let proof = parts.headers["dpop"].to_str().unwrap().to_owned();
            let request = c
                .http
                .post(format!("{}/token", c.instances[0].base))
                .basic_auth("bot", Some(&secret))
                .header("dpop", &proof)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("resource", CLUSTER_RESOURCE),
                ])
                .build()
                .unwrap();
            let answers = two_instances(&c, request).await;
            assert_eq!(
                answers.iter().filter(|a| a.0 == 200).count(),
                1,
                "round {round}: {answers:?}"
            );
            let refused = answers.iter().find(|a| a.0 != 200).unwrap();
            assert_eq!(refused.0, 400, "{answers:?}");
            assert_eq!(refused.1["error"], "invalid_dpop_proof", "{answers:?}");
        }
    })
    .await;
}

/// With `replay_cache = "memory"` each instance remembers only the proofs it saw: a
/// DPoP proof is accepted once per instance. This is why the AS documentation says a
/// deployment of several instances needs the shared (Redis) replay cache.
#[tokio::test]
async fn with_the_memory_replay_cache_a_dpop_proof_is_accepted_once_per_instance() {
    bounded(async {
        let Some(db) = postgres_database("scale_memory_replay").await else {
            return;
        };
        let c = AsCluster::start(
            env!("CARGO_BIN_EXE_mcp-auth").as_ref(),
            2,
            &db,
            "memory",
            "",
        )
        .await;
        let secret = c.add_confidential_client("bot");
        let signer =
            mcp_auth_client::DpopSigner::generate(mcp_auth_httpsig::JwsAlgorithm::Es256).unwrap();
        let (mut parts, ()) = http::Request::post(format!("{}/token", c.issuer))
            .body(())
            .unwrap()
            .into_parts();
        signer
            .add_proof(&mut parts, None, mcp_auth_core::unix_now())
            .unwrap();
        let proof = parts.headers["dpop"].to_str().unwrap().to_owned();
        let send = |i: usize| {
            c.http
                .post(format!("{}/token", c.instances[i].base))
                .basic_auth("bot", Some(&secret))
                .header("dpop", &proof)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("resource", CLUSTER_RESOURCE),
                ])
                .send()
        };
        assert_eq!(send(0).await.unwrap().status(), 200);
        let again = send(0).await.unwrap();
        assert_eq!(again.status(), 400, "replayed on the same instance");
        let body: serde_json::Value = again.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof");
        // The other instance never saw it: accepted again.
        assert_eq!(send(1).await.unwrap().status(), 200);
    })
    .await;
}

#[tokio::test]
async fn a_client_added_changed_or_removed_through_the_admin_command_is_seen_by_every_instance_within_its_bound()
 {
    bounded(async {
        // The bound under test: `client_cache_seconds`.
        let Some(c) = cluster("scale_clients", "client_cache_seconds = 1").await else {
            return;
        };
        let bound = Duration::from_secs(1);
        let token = |i: usize, secret: String| {
            let c = &c;
            async move {
                let r = c
                    .http
                    .post(format!("{}/token", c.instances[i].base))
                    .basic_auth("bot", Some(secret))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("resource", CLUSTER_RESOURCE),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body: serde_json::Value = r.json().await.unwrap();
                (status, challenge, body)
            }
        };
        let refused = |answer: &(u16, Option<String>, serde_json::Value)| {
            answer.0 == 401
                && answer.2["error"] == "invalid_client"
                && answer.1.as_deref().is_some_and(|c| c.starts_with("Basic"))
        };
        // Added: every instance accepts it at once (an unknown id is never cached).
        let first = c.add_confidential_client("bot");
        for i in 0..3 {
            let answer = token(i, first.clone()).await;
            assert_eq!(answer.0, 200, "instance {i}: {answer:?}");
        }
        // Changed (removed and added again with a new secret): the new secret works
        // everywhere at once (a failed check reads the database again); the old one is
        // refused within the bound.
        let (ok, _, err) = c.admin(&["client", "remove", "--id", "bot"]);
        assert!(ok, "{err}");
        let second = c.add_confidential_client("bot");
        let changed = Instant::now();
        for i in 0..3 {
            let answer = token(i, second.clone()).await;
            assert_eq!(answer.0, 200, "new secret on instance {i}: {answer:?}");
        }
        for i in 0..3 {
            poll_until(changed, bound, || {
                let answer = token(i, first.clone());
                async move {
                    let answer = answer.await;
                    assert!(answer.0 == 200 || refused(&answer), "{answer:?}");
                    refused(&answer)
                }
            })
            .await;
        }
        // Removed: refused by every instance within the bound.
        for i in 0..3 {
            assert_eq!(token(i, second.clone()).await.0, 200);
        }
        let (ok, _, err) = c.admin(&["client", "remove", "--id", "bot"]);
        assert!(ok, "{err}");
        let removed = Instant::now();
        for i in 0..3 {
            poll_until(removed, bound, || {
                let answer = token(i, second.clone());
                async move {
                    let answer = answer.await;
                    assert!(answer.0 == 200 || refused(&answer), "{answer:?}");
                    refused(&answer)
                }
            })
            .await;
        }
    })
    .await;
}

/// Polls `check` every 50 ms until it holds; fails when that took longer than `bound`
/// after `since` (plus 500 ms for the request and the poll interval).
async fn poll_until<F, Fut>(since: Instant, bound: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if check().await {
            let took = since.elapsed();
            assert!(
                took <= bound + Duration::from_millis(500),
                "seen after {took:?}, beyond the bound of {bound:?}"
            );
            return;
        }
        assert!(
            since.elapsed() < bound * 10,
            "still not seen {:?} later",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `request` (built for instance 0) sent to instances 0 and 1 at the same time:
/// their (status, JSON body).
async fn two_instances(c: &AsCluster, request: reqwest::Request) -> Vec<(u16, serde_json::Value)> {
    let mut other = request.try_clone().unwrap();
    let url = other
        .url()
        .as_str()
        .replacen(&c.instances[0].base, &c.instances[1].base, 1);
    *other.url_mut() = url.parse().unwrap();
    let read = |r: reqwest::Request| async {
        let answer = c.http.execute(r).await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    };
    let (a, b) = tokio::join!(read(request), read(other));
    vec![a, b]
}

/// Three futures run at the same time; their outputs in order.
async fn futures_join3<T>(
    a: impl std::future::Future<Output = T>,
    b: impl std::future::Future<Output = T>,
    c: impl std::future::Future<Output = T>,
) -> Vec<T> {
    let (a, b, c) = tokio::join!(a, b, c);
    vec![a, b, c]
}
