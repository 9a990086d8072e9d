//! The authorization server when what it stands on fails (issue 19):
//!
//! - Its PostgreSQL is stopped (`pg_ctl stop -m immediate`) under load: requests
//!   that need the database are refused with 503 `temporarily_unavailable` and
//!   `Retry-After`, never 500 and never after a long wait; `/healthz` says 503. Once
//!   PostgreSQL is back, the AS recovers by itself, and every code, access token and
//!   refresh token handed out before the failure works as it should. One exception,
//!   counted and printed: a rotation whose commit PostgreSQL wrote but never
//!   acknowledged (stopped in between) was answered 503 and yet happened, so the
//!   client's token is consumed and its retry is a reuse (refused, family revoked);
//!   strict rotation cannot tell that retry from a replay.
//! - An instance is killed with SIGKILL while refresh tokens rotate on it: on another
//!   instance, every refresh token it returned is usable.
//!
//! The first test runs a PostgreSQL of its own ([`PrivatePostgres`]); the second uses
//! `MCP_AUTH_TEST_POSTGRES`. Each is skipped loudly when what it needs is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_auth_testkit::{AsCluster, PrivatePostgres, postgres_database};

/// The longest answer accepted while the database is down: the server's wait for a
/// connection (`store::ACQUIRE_TIMEOUT`) and time to answer.
const ANSWER_BOUND: Duration = Duration::from_secs(6);

/// The longest the AS may take to serve again once PostgreSQL accepts connections.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

/// One answer of the load, while the database was down or not.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    error: Option<String>,
    retry_after: Option<String>,
    took: Duration,
    /// The chain's previous answer was a 503.
    after_503: bool,
}

/// Refresh chains rotated in a loop on instance 0 of `c`: each answer is recorded;
/// a chain moves to the new refresh token it was given. Stops when `stop` is set.
///
/// A chain whose token is refused as reused right after a 503 is put in `lost` and
/// stops: PostgreSQL stopped between writing that request's commit and answering it
/// (an in-doubt commit), so the rotation happened but its answer never reached the
/// client, and strict rotation takes the old token's next use for a reuse.
fn spawn_refresh_load(
    c: &AsCluster,
    chains: Arc<Mutex<Vec<String>>>,
    answers: Arc<Mutex<Vec<Answer>>>,
    lost: Arc<Mutex<Vec<usize>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = chains.lock().unwrap().len();
    (0..n)
        .map(|chain| {
            let (http, base) = (c.http.clone(), c.instances[0].base.clone());
            let (chains, answers, stop) = (chains.clone(), answers.clone(), stop.clone());
            let lost = lost.clone();
            tokio::spawn(async move {
                let mut after_503 = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let token = chains.lock().unwrap()[chain].clone();
                    let started = Instant::now();
                    let r = http
                        .post(format!("{base}/token"))
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("client_id", "app"),
                            ("refresh_token", &token),
                        ])
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body: serde_json::Value = r.json().await.unwrap();
                    if status == 200 {
                        chains.lock().unwrap()[chain] =
                            body["refresh_token"].as_str().unwrap().to_owned();
                    }
                    let answer = Answer {
                        status,
                        error: body["error"].as_str().map(str::to_owned),
                        retry_after,
                        took: started.elapsed(),
                        after_503,
                    };
                    let in_doubt_lost = after_503
                        && status == 400
                        && answer.error.as_deref() == Some("invalid_grant");
                    answers.lock().unwrap().push(answer);
                    if in_doubt_lost {
                        lost.lock().unwrap().push(chain);
                        return;
                    }
                    after_503 = status == 503;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            })
        })
        .collect()
}

/// The lines of the instances' logs at `ERROR` or `WARN`, for a failure's message.
fn errors_logged(c: &AsCluster) -> String {
    c.instances
        .iter()
        .flat_map(|i| i.logs().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A refused answer while the database is down: 503, `temporarily_unavailable`,
/// `Retry-After`, within [`ANSWER_BOUND`].
fn assert_unavailable(a: &Answer, what: &str) {
    assert_eq!(a.status, 503, "{what}: {a:?}");
    assert_eq!(
        a.error.as_deref(),
        Some("temporarily_unavailable"),
        "{what}: {a:?}"
    );
    assert!(
        a.retry_after
            .as_deref()
            .is_some_and(|v| v.parse::<u32>().is_ok_and(|s| s > 0)),
        "{what}: {a:?}"
    );
    assert!(a.took <= ANSWER_BOUND, "{what}: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_gives_503_with_retry_after_then_the_as_recovers_and_keeps_its_grants()
 {
    let Some(pg) = PrivatePostgres::start("postgres_restarted_under_load") else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(150), async {
        let c = AsCluster::start(
            env!("CARGO_BIN_EXE_mcp-auth").as_ref(),
            1,
            &pg.url(),
            "memory",
            "",
        )
        .await;
        c.add_user("alice");
        c.add_public_client("app");
        let rs_secret = c.add_confidential_client("rs");
        let session = c.sign_in(0, "app", "alice").await;
        // Handed out before the failure: an unused code, an access token, a refresh
        // token kept aside, and refresh chains that rotate under load.
        let (kept_code, kept_verifier) = c.code(0, "app", &session).await;
        let (code, verifier) = c.code(0, "app", &session).await;
        let (status, _, tokens) = c.redeem(0, "app", &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let kept_access = tokens["access_token"].as_str().unwrap().to_owned();
        let kept_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let mut chains = Vec::new();
        for _ in 0..4 {
            let (code, verifier) = c.code(0, "app", &session).await;
            let (status, _, tokens) = c.redeem(0, "app", &code, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
            chains.push(tokens["refresh_token"].as_str().unwrap().to_owned());
        }
        let chains = Arc::new(Mutex::new(chains));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = spawn_refresh_load(
            &c,
            chains.clone(),
            answers.clone(),
            lost.clone(),
            stop.clone(),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;

        tokio::task::block_in_place(|| pg.stop_immediately());
        let stopped_at = answers.lock().unwrap().len();
        // While it is down: the load's refreshes, a code, and the readiness probe.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let (status, retry_after, body) = c.redeem(0, "app", &kept_code, &kept_verifier).await;
        assert_unavailable(
            &Answer {
                status,
                error: body["error"].as_str().map(str::to_owned),
                retry_after,
                took: started.elapsed(),
                after_503: false,
            },
            "a code redeemed while the database is down",
        );
        let started = Instant::now();
        let health = reqwest::get(format!("{}/healthz", c.instances[0].base))
            .await
            .unwrap();
        assert_eq!(health.status(), 503, "readiness while the database is down");
        assert!(started.elapsed() <= ANSWER_BOUND);
        tokio::time::sleep(Duration::from_secs(4)).await;
        let down: Vec<Answer> = answers.lock().unwrap()[stopped_at..].to_vec();

        tokio::task::block_in_place(|| pg.start_again());
        let back = Instant::now();
        // Recovers by itself: ready again, then the load succeeds again.
        loop {
            let r = reqwest::get(format!("{}/healthz", c.instances[0].base))
                .await
                .unwrap();
            if r.status() == 200 {
                break;
            }
            assert!(back.elapsed() < RECOVERY_BOUND, "never ready again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen = answers.lock().unwrap().len();
        loop {
            let recovered = answers.lock().unwrap()[seen..]
                .iter()
                .filter(|a| a.status == 200)
                .count();
            if recovered >= 4 {
                break;
            }
            assert!(
                back.elapsed() < RECOVERY_BOUND,
                "the load never succeeded again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for l in load {
            l.await.unwrap();
        }

        let all = answers.lock().unwrap().clone();
        let longest = all.iter().map(|a| a.took).max().unwrap();
        eprintln!(
            "{} answers, {} while down ({} refused with 503); the longest took {longest:?}",
            all.len(),
            down.len(),
            down.iter().filter(|a| a.status == 503).count()
        );
        assert!(
            down.iter().any(|a| a.status == 503),
            "no request met the outage"
        );
        for a in &all {
            let in_doubt =
                a.after_503 && a.status == 400 && a.error.as_deref() == Some("invalid_grant");
            assert!(
                a.status == 200 || a.status == 503 || in_doubt,
                "only successes, 503, and a reuse right after a 503 under load: {a:?}; \
                 the AS logged:\n{}",
                errors_logged(&c)
            );
            if a.status == 503 {
                assert_unavailable(a, "a refresh while the database is down");
            }
        }
        assert!(longest <= ANSWER_BOUND, "an answer took {longest:?}");

        // What was handed out before the failure behaves as before it.
        let (status, _, body) = c.redeem(0, "app", &kept_code, &kept_verifier).await;
        assert_eq!(status, 200, "the code kept aside: {body}");
        assert!(c.active(0, &kept_access, ("rs", &rs_secret)).await);
        let (status, _, body) = c.refresh(0, "app", &kept_refresh).await;
        assert_eq!(status, 200, "the refresh token kept aside: {body}");
        let last: Vec<String> = chains.lock().unwrap().clone();
        let lost = lost.lock().unwrap().clone();
        eprintln!("chains lost to an in-doubt commit: {lost:?}");
        for (i, token) in last.iter().enumerate().filter(|(i, _)| !lost.contains(i)) {
            let (status, _, body) = c.refresh(0, "app", token).await;
            assert_eq!(status, 200, "chain {i}'s last refresh token: {body}");
        }
    })
    .await
    .expect("the test took longer than its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_rotation_leaves_every_refresh_token_it_returned_usable_on_another()
{
    let Some(db) = postgres_database("faults_sigkill").await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut c = AsCluster::start(
            env!("CARGO_BIN_EXE_mcp-auth").as_ref(),
            2,
            &db,
            "memory",
            "",
        )
        .await;
        c.add_user("alice");
        c.add_public_client("app");
        let session = c.sign_in(1, "app", "alice").await;
        let mut chains = Vec::new();
        for _ in 0..16 {
            let (code, verifier) = c.code(1, "app", &session).await;
            let (status, _, tokens) = c.redeem(1, "app", &code, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
            chains.push(tokens["refresh_token"].as_str().unwrap().to_owned());
        }
        // Chains the doomed instance rotated and that then rest: their tokens were
        // returned by it and must work on the other. (Busy chains below may all be in
        // flight at the kill on a loaded machine; these never are.)
        let mut rested = Vec::new();
        for _ in 0..4 {
            let (code, verifier) = c.code(1, "app", &session).await;
            let (status, _, tokens) = c.redeem(1, "app", &code, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
            let first = tokens["refresh_token"].as_str().unwrap();
            let (status, _, rotated) = c.refresh(0, "app", first).await;
            assert_eq!(status, 200, "{rotated}");
            rested.push(rotated["refresh_token"].as_str().unwrap().to_owned());
        }
        // Each chain: the last refresh token returned to it, and whether a request
        // with it was in flight (sent, no answer yet) when the instance died.
        let returned = Arc::new(Mutex::new(
            chains.into_iter().map(|t| (t, false)).collect::<Vec<_>>(),
        ));
        let base = c.instances[0].base.clone();
        let mut load = Vec::new();
        for chain in 0..16 {
            let (http, base, returned) = (c.http.clone(), base.clone(), returned.clone());
            load.push(tokio::spawn(async move {
                loop {
                    let token = {
                        let mut r = returned.lock().unwrap();
                        r[chain].1 = true;
                        r[chain].0.clone()
                    };
                    let answer = match http
                        .post(format!("{base}/token"))
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("client_id", "app"),
                            ("refresh_token", &token),
                        ])
                        .send()
                        .await
                    {
                        Ok(answer) => answer,
                        // Sent after the kill: it never reached the server.
                        Err(e) if e.is_connect() => {
                            returned.lock().unwrap()[chain].1 = false;
                            return;
                        }
                        // Killed while this request was in flight: no answer.
                        Err(_) => return,
                    };
                    assert_eq!(answer.status(), 200);
                    let Ok(body) = answer.json::<serde_json::Value>().await else {
                        return;
                    };
                    {
                        let mut r = returned.lock().unwrap();
                        r[chain] = (body["refresh_token"].as_str().unwrap().to_owned(), false);
                    }
                    // Idle for a moment, like a client between calls.
                    tokio::time::sleep(Duration::from_millis(5 + (chain as u64 % 4) * 10)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.kill(0);
        for l in load {
            l.await.unwrap();
        }
        let returned = returned.lock().unwrap().clone();
        let (mut idle, mut in_flight_kept, mut in_flight_lost) = (0, 0, 0);
        for token in &rested {
            let (status, _, body) = c.refresh(1, "app", token).await;
            assert_eq!(
                status, 200,
                "a refresh token the killed instance returned, then left unused: {body}"
            );
            idle += 1;
        }
        for (chain, (token, in_flight)) in returned.iter().enumerate() {
            let (status, _, body) = c.refresh(1, "app", token).await;
            if *in_flight {
                // Sent when the instance died: the rotation may have committed with its
                // answer lost. Then the token is consumed and its use is a reuse
                // (refused, family revoked), as strict rotation requires; never 500.
                match status {
                    200 => in_flight_kept += 1,
                    400 => {
                        assert_eq!(body["error"], "invalid_grant", "chain {chain}: {body}");
                        in_flight_lost += 1;
                    }
                    _ => panic!("chain {chain}: {status} {body}"),
                }
            } else {
                assert_eq!(
                    status, 200,
                    "chain {chain}: a refresh token the killed instance returned: {body}"
                );
                idle += 1;
            }
        }
        eprintln!(
            "after SIGKILL: {idle} returned tokens usable on the other instance; of requests in \
             flight, {in_flight_kept} tokens still usable, {in_flight_lost} consumed with the \
             answer lost"
        );
        assert!(
            idle > 0,
            "no chain was between requests when the instance died"
        );
    })
    .await
    .expect("the test took longer than its bound");
}
