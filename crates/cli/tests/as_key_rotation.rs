//! `mcp-auth as rotate-keys` while three instances on one PostgreSQL database issue
//! tokens (issue 19): verified the way the gateway does it (keys fetched from the
//! issuer's JWKS, fetched again when a token names an unknown `kid`, from whichever
//! instance answers, as behind a load balancer), no token fails, every instance signs
//! with the new key within the stated bound, and the retired key stays published.
//!
//! The new key is published by every instance (each reloads its keys every
//! `keys::RELOAD_INTERVAL` seconds) before any signs with it
//! (`keys::PUBLISH_BEFORE_SIGNING`); all sign with it within
//! `keys::SIGNING_SWITCH_BOUND`. Needs `MCP_AUTH_TEST_POSTGRES` (skipped loudly
//! without).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_auth_core::{Jwks, TokenVerifier};
use mcp_auth_server::keys::{PUBLISH_BEFORE_SIGNING, RELOAD_INTERVAL, SIGNING_SWITCH_BOUND};
use mcp_auth_testkit::jwt_kid as kid;
use mcp_auth_testkit::{AsCluster, CLUSTER_RESOURCE, postgres_database};

/// Time for a process to answer and for a reload tick to land, beyond the bounds.
const SLACK: Duration = Duration::from_secs(2);

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap())
}

/// A token verifier as the gateway keeps one: the issuer's keys, fetched again (from
/// the next instance, as a load balancer would send the fetch) on an unknown `kid`.
struct Verifier {
    issuer: String,
    bases: Vec<String>,
    next: usize,
    jwks: Jwks,
    fetches: usize,
}

impl Verifier {
    async fn fetch(&mut self) {
        let base = &self.bases[self.next % self.bases.len()];
        self.next += 1;
        self.fetches += 1;
        self.jwks = reqwest::get(format!("{base}/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }

    fn check(&self, token: &str) -> Result<(), mcp_auth_core::AccessTokenError> {
        TokenVerifier::new(
            self.issuer.clone(),
            Some(CLUSTER_RESOURCE.into()),
            &self.jwks,
        )
        .verify(token, mcp_auth_core::unix_now())
        .map(|_| ())
    }

    /// Verifies `token`, fetching the keys again once when its `kid` is unknown.
    async fn verify(&mut self, token: &str) -> Result<(), String> {
        match self.check(token) {
            Err(mcp_auth_core::AccessTokenError::UnknownKey) => {
                self.fetch().await;
                self.check(token).map_err(|e| format!("{e}"))
            }
            other => other.map_err(|e| format!("{e}")),
        }
    }
}

async fn published(base: &str, kid: &str) -> bool {
    let jwks: Jwks = reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_keys_under_load_fails_no_token_and_every_instance_switches_within_its_bound() {
    let Some(db) = postgres_database("scale_key_rotation").await else {
        return;
    };
    let bound = secs(SIGNING_SWITCH_BOUND) + SLACK + Duration::from_secs(60);
    tokio::time::timeout(bound, async {
        let c = AsCluster::start(env!("CARGO_BIN_EXE_mcp-auth").as_ref(), 3, &db, "memory", "")
            .await;
        let secret = c.add_confidential_client("bot");
        // Three loaders, one per instance, issuing tokens until told to stop.
        let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut loaders = Vec::new();
        for (i, instance) in c.instances.iter().enumerate() {
            let (http, base, secret, sent, stop) = (
                c.http.clone(),
                instance.base.clone(),
                secret.clone(),
                sent.clone(),
                stop.clone(),
            );
            loaders.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = http
                        .post(format!("{base}/token"))
                        .basic_auth("bot", Some(&secret))
                        .form(&[
                            ("grant_type", "client_credentials"),
                            ("resource", CLUSTER_RESOURCE),
                        ])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let body: serde_json::Value = r.json().await.unwrap();
                    let token = body["access_token"].as_str().unwrap().to_owned();
                    if sent.send((i, Instant::now(), token)).is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        drop(sent);
        let mut verifier = Verifier {
            issuer: c.issuer.clone(),
            bases: c.instances.iter().map(|i| i.base.clone()).collect(),
            next: 0,
            jwks: Jwks::default(),
            fetches: 0,
        };
        verifier.fetch().await;
        // Some load before the rotation.
        let mut old_tokens = Vec::new();
        let mut verified = 0;
        let warm_up = Instant::now() + Duration::from_secs(1);
        while Instant::now() < warm_up {
            let (_, _, token) = received.recv().await.unwrap();
            verifier.verify(&token).await.unwrap();
            verified += 1;
            old_tokens.push(token);
        }
        let old_kid = kid(old_tokens.last().unwrap());
        let (ok, out, err) = tokio::task::block_in_place(|| c.admin(&["rotate-keys"]));
        let rotated = Instant::now();
        assert!(ok, "{err}");
        let new_kid = out
            .split("new signing key ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .to_owned();
        assert_ne!(new_kid, old_kid);
        // Until every instance has signed with the new key: each token verifies, and
        // none is signed with it before it was to start signing.
        let mut switched: Vec<Option<Duration>> = vec![None; 3];
        let mut failures = Vec::new();
        let mut checked_publication = false;
        while switched.iter().any(Option::is_none) {
            let (i, at, token) = received.recv().await.unwrap();
            if let Err(e) = verifier.verify(&token).await {
                failures.push(format!("instance {i}, kid {}: {e}", kid(&token)));
            }
            verified += 1;
            let signed_by = kid(&token);
            if signed_by == new_kid {
                let after = at.duration_since(rotated);
                assert!(
                    after + Duration::from_secs(1) >= secs(PUBLISH_BEFORE_SIGNING),
                    "instance {i} signed with the new key {after:?} after the rotation, \
                     before every instance could publish it"
                );
                switched[i].get_or_insert(after);
            } else {
                assert_eq!(signed_by, old_kid);
                old_tokens.push(token);
            }
            // Once every instance has reloaded, every instance publishes the new key,
            // before any signs with it.
            if !checked_publication && rotated.elapsed() > secs(RELOAD_INTERVAL) + SLACK {
                checked_publication = true;
                for instance in &c.instances {
                    assert!(
                        published(&instance.base, &new_kid).await,
                        "{} does not publish the new key {:?} after the rotation",
                        instance.base,
                        rotated.elapsed()
                    );
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(received);
        for l in loaders {
            l.await.unwrap();
        }
        assert!(failures.is_empty(), "tokens that failed verification: {failures:#?}");
        for (i, after) in switched.iter().enumerate() {
            let after = after.unwrap();
            assert!(
                after <= secs(SIGNING_SWITCH_BOUND) + SLACK,
                "instance {i} switched {after:?} after the rotation, beyond {SIGNING_SWITCH_BOUND} s"
            );
        }
        // The retired key stays published while what it signed has not expired, and
        // those tokens still verify against every instance's keys.
        for (i, instance) in c.instances.iter().enumerate() {
            assert!(published(&instance.base, &old_kid).await, "instance {i}");
            verifier.next = i;
            verifier.fetch().await;
            for token in &old_tokens {
                verifier.check(token).unwrap();
            }
        }
        eprintln!(
            "{verified} tokens verified with {} JWKS fetches; switched after {switched:?}",
            verifier.fetches
        );
    })
    .await
    .expect("the test took longer than its bound");
}
