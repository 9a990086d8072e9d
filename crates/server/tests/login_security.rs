//! The login and consent pages under attack, over real HTTP (security review items 3,
//! 5 and 10): cross-site login and consent, password guessing, and what an anonymous
//! authorization request may make the server store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use common::RESOURCE;
use common::browser::{CALLBACK, Env, Resp, hidden, pkce, start};

mod common;

/// An authorization request of the public client `app` for `mcp:read`.
fn request_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", "app".into()),
        ("redirect_uri", CALLBACK.into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
        ("resource", RESOURCE.into()),
        ("scope", "mcp:read".into()),
    ]
}

async fn login_page(env: &Env) -> Resp {
    let (_, challenge) = pkce();
    let params = request_params(&challenge);
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = env.get_authorize(&refs, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// Signs `env`'s browser in as alice; returns the consent page and the session cookie.
async fn signed_in(env: &Env) -> (Resp, String) {
    let login = login_page(env).await;
    let consent = login_post(env, &login, "alice", "correct horse", None).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let cookie = consent.cookie.clone().expect("a session cookie");
    (consent, cookie)
}

async fn login_post(
    env: &Env,
    page: &Resp,
    username: &str,
    password: &str,
    cookie: Option<&str>,
) -> Resp {
    env.post_form(
        "/login",
        &[
            ("request", &hidden(&page.body, "request")),
            ("csrf", &hidden(&page.body, "csrf")),
            ("username", username),
            ("password", password),
        ],
        cookie,
    )
    .await
}

#[tokio::test]
async fn item_3_login_csrf_an_attackers_sign_in_request_is_refused_in_the_victims_browser() {
    let env = start().await;
    let hash = mcp_auth_server::password::hash_password("mallory's password".into())
        .await
        .unwrap();
    env.state
        .store
        .insert_user("mallory", &hash, 0)
        .await
        .unwrap();
    // The attacker starts a sign-in in their own browser and puts its form, with their
    // own credentials, on a page the victim opens.
    let attacker = env.another_browser(None);
    let attackers_page = login_page(&attacker).await;
    let victim = env.another_browser(None);
    // Even with no Origin or Sec-Fetch-Site (an old browser), the victim's browser
    // does not hold the binding of the attacker's request.
    let r = login_post(
        &victim,
        &attackers_page,
        "mallory",
        "mallory's password",
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("started in another browser"), "{}", r.body);
    assert!(r.cookie.is_none(), "no session for the victim's browser");
    // The same form in the browser that started it signs in.
    let ok = login_post(
        &attacker,
        &attackers_page,
        "mallory",
        "mallory's password",
        None,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn item_3_consent_csrf_an_attackers_request_cannot_be_consented_with_the_victims_session() {
    let env = start().await;
    let victim = env.another_browser(None);
    let (_, victims_session) = signed_in(&victim).await;
    // The attacker starts an authorization request (their client, their redirect) and
    // makes the victim's browser post "allow" for it.
    let attacker = env.another_browser(None);
    let attackers_page = login_page(&attacker).await;
    let r = victim
        .post_form(
            "/consent",
            &[
                ("request", &hidden(&attackers_page.body, "request")),
                ("csrf", &hidden(&attackers_page.body, "csrf")),
                ("decision", "allow"),
            ],
            Some(&victims_session),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.location.is_none(), "no code is issued");
    assert!(r.body.contains("started in another browser"), "{}", r.body);
}

#[tokio::test]
async fn item_3_cross_site_posts_are_refused_by_origin_and_fetch_metadata() {
    let env = start().await;
    let page = login_page(&env).await;
    let form = [
        ("request", hidden(&page.body, "request")),
        ("csrf", hidden(&page.body, "csrf")),
        ("username", "alice".into()),
        ("password", "correct horse".into()),
    ];
    let binding = env.cookies(None).expect("the binding cookie");
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let r = env
            .http
            .post(format!("{}/login", env.issuer))
            .header("cookie", &binding)
            .header(header, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        assert!(r.headers().get("set-cookie").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("sent from another site"), "{body}");
    }
    // The AS's own origin, same-origin fetch metadata: accepted.
    let r = env
        .http
        .post(format!("{}/login", env.issuer))
        .header("cookie", &binding)
        .header("origin", &env.issuer)
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn item_5_failed_logins_back_off_per_address_and_never_lock_the_user_out() {
    let env = start().await;
    // The attacker guesses alice's password from 127.0.0.2.
    let attacker = env.another_browser(Some(IpAddr::from([127, 0, 0, 2])));
    let page = login_page(&attacker).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(login_post(&attacker, &page, "alice", "guess", None).await);
    }
    // Three free failures, then a 1 s back-off for this (user, address).
    assert!(statuses[..3].iter().all(|r| r.status == 401));
    let throttled = &statuses[3];
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("Too many failed attempts"));
    // The real user, from another address, signs in at once.
    let user = env.another_browser(Some(IpAddr::from([127, 0, 0, 1])));
    let (consent, _) = signed_in(&user).await;
    assert!(consent.body.contains("<h1>Allow access?</h1>"));
}

#[tokio::test]
async fn item_5_one_pending_request_allows_five_guesses() {
    let env = start().await;
    let page = login_page(&env).await;
    // Each guess from its own address, so the per-address back-off does not apply.
    let mut last = None;
    for i in 0..5u8 {
        let from = env.another_browser(Some(IpAddr::from([127, 0, 1, i + 1])));
        *from.browser.lock().unwrap() = env.browser.lock().unwrap().clone();
        last = Some(login_post(&from, &page, "alice", "guess", None).await);
    }
    let last = last.unwrap();
    assert_eq!(last.status, 429, "{}", last.body);
    assert!(
        last.body
            .contains("Too many wrong passwords for this sign-in")
    );
    // The request is gone: even the right password does not continue it.
    let after = login_post(&env, &page, "alice", "correct horse", None).await;
    assert_eq!(after.status, 400);
    assert!(after.body.contains("expired"), "{}", after.body);
}

#[tokio::test]
async fn item_10_an_authorization_request_with_a_huge_state_is_refused() {
    let env = start().await;
    let (_, challenge) = pkce();
    let mut params = request_params(&challenge);
    params.push(("state", "s".repeat(1025)));
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = env.get_authorize(&refs, None).await;
    assert_eq!(r.status, 302);
    let location = r.location.unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(!location.contains("sss"), "the state is not echoed");
    // A query past 8 KiB is refused before anything is looked up.
    let mut long = request_params(&challenge);
    long.push(("x", "y".repeat(9000)));
    let refs: Vec<(&str, &str)> = long.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(env.get_authorize(&refs, None).await.status, 414);
}

/// The resident memory of this process, KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Security review item 5: 200 password checks at once (a login flood) hold at most
/// [`MAX_CONCURRENT_HASHES`] argon2id states (~19 MiB each), not 200 (~3.8 GiB). The
/// peak growth of this process's resident memory is sampled while they run.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_5_a_flood_of_200_password_checks_holds_bounded_memory() {
    use mcp_auth_server::password::{MAX_CONCURRENT_HASHES, PasswordError, verify_password};
    let hash = mcp_auth_server::password::hash_password("pw".into())
        .await
        .unwrap();
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let checks: Vec<_> = (0..200)
        .map(|_| tokio::spawn(verify_password("wrong".into(), Some(hash.clone()))))
        .collect();
    let mut busy = 0;
    for c in checks {
        match c.await.unwrap() {
            Ok(ok) => assert!(!ok),
            Err(PasswordError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let grown_mib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before)
        / 1024;
    eprintln!(
        "200 concurrent argon2id checks: peak RSS growth {grown_mib} MiB, {busy} answered busy, at most {MAX_CONCURRENT_HASHES} at once"
    );
    // Four hashing threads, each reusing one 19 MiB working memory: ~77 MiB measured.
    // One blocking-pool thread per check, as before, held up to 200 x 19 MiB = 3.8 GiB
    // (and with only the concurrency bound, the allocator still kept ~420-650 MiB of
    // states freed on many pool threads).
    assert!(grown_mib < 120, "peak RSS grew by {grown_mib} MiB");
}
