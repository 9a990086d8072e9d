//! `mcp-auth as` as a process, attacked as the security review did: what its logs
//! keep of a failed login (item 14), where its metrics are (item 13), what it does
//! with a data directory others can read (item 2), and how long a half-sent request
//! may hold a connection (item 4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::mcp_auth;
use mcp_auth_testkit::{Killed, free_port};

mod common;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// `mcp-auth as` on `port` with `extra` flags, its stderr (the JSON logs) in `log`;
/// returns once its metadata answers.
async fn start_as(data: &Path, port: u16, log: &Path, extra: &[&str]) -> Killed {
    common::start_as(data, port, RESOURCE, extra, Some(log)).await
}

#[tokio::test]
async fn item_14_a_password_typed_as_the_username_never_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("as.log");
    let port = free_port();
    let _as = start_as(&data, port, &log, &[]).await;
    let issuer = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client: serde_json::Value = http
        .post(format!("{issuer}/register"))
        .json(&serde_json::json!({"application_type": "native", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = http
        .get(format!("{issuer}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("redirect_uri", CALLBACK),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let binding = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..].split('"').next().unwrap().to_owned()
    };
    let typed = "Tr0ub4dor&3-my-password";
    let r = http
        .post(format!("{issuer}/login"))
        .header("cookie", &binding)
        .form(&[
            ("request", hidden("request")),
            ("csrf", hidden("csrf")),
            ("username", typed.to_owned()),
            ("password", String::new()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("login failed"),
        "the failure is logged: {logs}"
    );
    assert!(!logs.contains("Tr0ub4dor"), "{logs}");
    assert!(logs.contains("sha256:"), "as a digest: {logs}");
}

#[tokio::test]
async fn item_13_metrics_are_only_on_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let _as = start_as(
        &dir.path().join("data"),
        port,
        &dir.path().join("as.log"),
        &["--metrics-listen", &format!("127.0.0.1:{metrics_port}")],
    )
    .await;
    let public = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("mcp_auth_"));
}

#[cfg(unix)]
#[tokio::test]
async fn item_2_the_as_refuses_a_data_directory_others_can_read_and_admin_commands_create_it_private()
 {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // An admin command on a new directory creates it 0700, the database 0600.
    let data = dir.path().join("data");
    let mut add = mcp_auth()
        .args(["as", "user", "add", "--username", "alice"])
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long passphrase\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("mcp-auth.db")), 0o600);
    // A directory others can read: the server does not start, and says why.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = mcp_auth()
        .args(["as", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&data.display().to_string()) && err.contains("chmod 700"),
        "{err}"
    );
}

/// A configuration file other users can change decides whom the AS trusts: refused
/// before anything starts, naming the file and the fix; the same file, once only its
/// owner can write it, is read. Likewise for the gateway's `--config`.
#[test]
fn a_configuration_other_users_can_change_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("as.toml");
    std::fs::write(&config, "").unwrap();
    for (command, extra) in [
        (
            &["as", "client", "list"][..],
            vec![
                "--data-dir".to_owned(),
                dir.path().join("data").display().to_string(),
            ],
        ),
        (&["gateway"][..], vec![]),
    ] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = mcp_auth()
            .args(command)
            .arg("--config")
            .arg(&config)
            .args(&extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{command:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&config.display().to_string())
                && err.contains("other users can write it (mode 0666): `chmod go-w` it"),
            "{command:?}: {err}"
        );
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = mcp_auth()
        .args(["as", "client", "list", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn item_4_a_half_sent_request_head_is_cut_off_by_the_configured_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("as.toml");
    std::fs::write(&config, "[listener]\nheader_read_timeout = 1\n").unwrap();
    let port = free_port();
    let _as = start_as(
        &dir.path().join("data"),
        port,
        &dir.path().join("as.log"),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /token HTTP/1.1\r\nhost: x\r\n").unwrap();
    // The head never ends: the server closes the connection after its 1 s (the read
    // ends with 0 bytes or a 408), long before the client's 20 s read timeout.
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "the server kept the connection open: {read:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

/// EMA-AS-19: with an `[[id_jag_issuers]]` entry `acme`, `as user add` and
/// `as client add` refuse names that begin with `acme:` (its principals' prefix),
/// and accept others.
#[test]
fn ema_as_19_admin_commands_refuse_names_in_an_entrys_principal_space() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("as.toml");
    std::fs::write(
        &config,
        r#"
issuer = "https://as.example.com"
[[resources]]
uri = "https://mcp.example.com/mcp"
scopes = ["mcp:read"]
[[id_jag_issuers]]
id = "acme"
issuer = "https://idp.acme.example"
discovery = true
resources = ["https://mcp.example.com/mcp"]
"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        common::as_admin(
            args,
            &[
                "--config".as_ref(),
                config.as_os_str(),
                "--data-dir".as_ref(),
                data.as_os_str(),
            ],
        )
    };
    let (ok, err) = run(&["user", "add", "--username", "acme:bob"]);
    assert!(!ok);
    assert!(err.contains("begins with `acme:`"), "{err}");
    let (ok, err) = run(&[
        "client",
        "add",
        "--id",
        "acme:robot",
        "--grant",
        "client_credentials",
    ]);
    assert!(!ok);
    assert!(err.contains("begins with `acme:`"), "{err}");
    let (ok, err) = run(&["user", "add", "--username", "acme-bob"]);
    assert!(ok, "{err}");
}
