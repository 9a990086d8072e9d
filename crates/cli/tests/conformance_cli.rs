//! `mcp-auth conformance` as a user runs it: `conformance issuer` serves the
//! checker's issuer, `mcp-auth gateway` trusts it, and `conformance server` checks
//! the gateway, printing the table, the JSON or JUnit XML, with the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

use common::mcp_auth;
use mcp_auth_testkit::{Killed, free_port, wait_for};

struct Setup {
    _dir: tempfile::TempDir,
    key: std::path::PathBuf,
    issuer: String,
    resource: String,
    _processes: Vec<Killed>,
    _upstream: mcp_auth_testkit::McpUpstream,
}

/// A new private key of `alg` written to `dir/name` (PKCS#8 PEM).
fn write_key(
    dir: &std::path::Path,
    name: &str,
    alg: mcp_auth_httpsig::Algorithm,
) -> std::path::PathBuf {
    let path = dir.join(name);
    let pem = mcp_auth_httpsig::SigningKey::generate(alg)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    std::fs::write(&path, pem).unwrap();
    path
}

/// `mcp-auth as` (the real binary) with `config` as its configuration file, its
/// data in `dir/as`, issuing for `resource`: its issuer, and the process.
async fn as_with_config(dir: &std::path::Path, config: &str, resource: &str) -> (String, Killed) {
    let path = dir.join("as.toml");
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let process = common::start_as(
        &dir.join("as"),
        port,
        resource,
        &["--config", path.to_str().unwrap()],
        Some(&dir.join("as.log")),
    )
    .await;
    (format!("http://127.0.0.1:{port}"), process)
}

/// `conformance` with each of `extras` after `base` cannot run: exit 2.
async fn assert_usage_errors(base: &[&str], extras: &[&[&str]]) {
    for extra in extras {
        let mut args = base.to_vec();
        args.extend(*extra);
        let (code, out) = conformance(&args).await;
        assert_eq!(code, 2, "{extra:?}: {out}");
    }
}

/// The checker's key and issuer, and a gateway trusting it with a scope policy.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(
        dir.path(),
        "checker.pem",
        mcp_auth_httpsig::Algorithm::Ed25519,
    );
    let issuer_port = free_port();
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let issuer_process = Killed(
        mcp_auth()
            .args([
                "conformance",
                "issuer",
                "--listen",
                &format!("127.0.0.1:{issuer_port}"),
            ])
            .arg("--issuer-key")
            .arg(&key)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("{issuer}/jwks")).await;
    let upstream = mcp_auth_testkit::mcp_upstream("conformance").await;
    let gateway_port = free_port();
    let resource = format!("http://127.0.0.1:{gateway_port}/mcp");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "scopes_supported = [\"mcp:read\"]\n[scopes]\nrequired = [\"mcp:read\"]\n",
    )
    .unwrap();
    let gateway = Killed(
        mcp_auth()
            .args([
                "gateway",
                "--upstream",
                &upstream.url,
                "--resource",
                &resource,
            ])
            .args(["--issuer", &issuer, "--allow-bearer"])
            .args(["--listen", &format!("127.0.0.1:{gateway_port}")])
            .arg("--config")
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("http://127.0.0.1:{gateway_port}/healthz")).await;
    Setup {
        _dir: dir,
        key,
        issuer,
        resource,
        _processes: vec![issuer_process, gateway],
        _upstream: upstream,
    }
}

/// Runs `mcp-auth conformance ARGS` off the runtime (the upstream is served on it).
async fn conformance(args: &[&str]) -> (i32, String) {
    let (code, stdout, _) = conformance_in(args, &[]).await;
    (code, stdout)
}

/// `mcp-auth conformance ARGS` with `env` added: the exit code, the standard output
/// and the standard error.
async fn conformance_in(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut command = mcp_auth();
        command.arg("conformance").args(&args);
        for (k, v) in &env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn conformance_server_passes_our_gateway_and_writes_json_and_junit() {
    let s = setup().await;
    let key = s.key.to_str().unwrap();
    let junit = s._dir.path().join("results.xml");
    let base = [
        "server",
        "--url",
        &s.resource,
        "--issuer",
        &s.issuer,
        "--issuer-key",
        key,
    ];
    let mut args = base.to_vec();
    args.extend(["--junit", junit.to_str().unwrap()]);
    let (code, table) = conformance(&args).await;
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("BASE-RS-10  PASS"), "{table}");
    assert!(
        table.ends_with("25 passed, 0 failed, 6 skipped\n"),
        "{table}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"31\" failures=\"0\""), "{xml}");
    let mut json_args = base.to_vec();
    json_args.extend(["--json", "--only", "BASE-RS-1,BASE-RS-5"]);
    let (code, json) = conformance(&json_args).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["results"][1]["id"], "BASE-RS-5");
}

/// Without --issuer-key, a token from the server's own AS (here, a command that
/// prints one) serves the checks that need an accepted token as it is; the checks
/// of changed tokens say they need --issuer-key.
#[tokio::test]
async fn conformance_server_takes_a_token_from_a_command() {
    let s = setup().await;
    let pem = std::fs::read_to_string(&s.key).unwrap();
    let minter = mcp_auth_conformance::Minter::from_pem(&pem, &s.issuer).unwrap();
    let token = minter.sign(&minter.valid(&s.resource, "mcp:read", mcp_auth_core::unix_now()));
    let command = format!("printf '%s\\n' {token}");
    let (code, table) =
        conformance(&["server", "--url", &s.resource, "--token-command", &command]).await;
    assert_eq!(code, 0, "{table}");
    for line in [
        "BASE-RS-4   PASS",
        "BASE-RS-9   PASS",
        "BASE-RS-16  PASS",
        "BASE-RS-5   SKIP",
    ] {
        assert!(table.contains(line), "{line}: {table}");
    }
    assert!(!table.contains(&token), "{table}");
    // A command that fails: the token checks skip, saying why; the run still ends.
    let (code, table) =
        conformance(&["server", "--url", &s.resource, "--token-command", "exit 7"]).await;
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("exited with"), "{table}");
}

#[tokio::test]
async fn a_server_trusting_another_issuer_fails_the_acceptance_check_and_exits_1() {
    let s = setup().await;
    // Another key under the same issuer name: its tokens do not verify.
    let other = write_key(
        s._dir.path(),
        "other.pem",
        mcp_auth_httpsig::Algorithm::Ed25519,
    );
    let (code, table) = conformance(&[
        "server",
        "--url",
        &s.resource,
        "--issuer",
        &s.issuer,
        "--issuer-key",
        other.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("BASE-RS-4   FAIL"), "{table}");
    // The broken-token checks prove nothing then: skipped, saying why.
    assert!(table.contains("BASE-RS-5   SKIP"), "{table}");
    let (code, _) = conformance(&["server", "--url", &s.resource, "--only", "BASE-RS-99"]).await;
    assert_eq!(code, 2);
}

/// `conformance as` against `mcp-auth as` (the real binary, allowed to fetch client
/// metadata documents from loopback): the checker registers its own public client
/// and serves its own metadata documents; the checks that need a confidential
/// client or a login are skipped, the others pass (BASE-AS-4 once found our AS's
/// OpenID Connect document lacking the members OIDC Discovery §3 requires), and
/// usage errors exit 2.
#[tokio::test]
async fn conformance_as_checks_our_authorization_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("as.toml");
    std::fs::write(&config, "[danger]\nallow_http_loopback_fetches = true\n").unwrap();
    let port = free_port();
    let resource = "http://127.0.0.1:3000/mcp";
    // A confidential client, its secret printed once.
    let added = mcp_auth()
        .args([
            "as", "client", "add", "--id", "checker", "--scope", "mcp:read",
        ])
        .args(["--resource", &format!("{resource} mcp:read"), "--json"])
        .arg("--data-dir")
        .arg(dir.path().join("as"))
        .output()
        .unwrap();
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    let _as = common::start_as(
        &dir.path().join("as"),
        port,
        resource,
        &["--config", config.to_str().unwrap()],
        Some(&dir.path().join("as.log")),
    )
    .await;
    let issuer = format!("http://127.0.0.1:{port}");
    let documents = format!("127.0.0.1:{}", free_port());
    let documents_url = format!("http://{documents}");
    let base = ["as", "--issuer", &issuer, "--resource", resource];
    let mut all = base.to_vec();
    all.extend(["--client-documents-listen", &documents]);
    all.extend(["--client-documents-url", &documents_url]);
    let (code, table) = conformance(&all).await;
    assert_eq!(code, 0, "{table}");
    for line in [
        "BASE-AS-1   PASS",
        "BASE-AS-4   PASS",
        "BASE-AS-8   PASS",
        "BASE-AS-10  PASS",
        "BASE-AS-13  PASS",
        "BASE-AS-16  PASS",
        "BASE-AS-21  PASS",
        "BASE-AS-22  PASS",
        "BASE-AS-15  SKIP",
        "BASE-AS-24  SKIP",
    ] {
        assert!(table.contains(line), "{line}: {table}");
    }
    assert!(
        table.ends_with("14 passed, 0 failed, 10 skipped\n"),
        "{table}"
    );
    let mut only = base.to_vec();
    let junit = dir.path().join("as.xml");
    only.extend(["--only", "BASE-AS-1,BASE-AS-9,BASE-AS-14", "--json"]);
    only.extend(["--junit", junit.to_str().unwrap()]);
    let (code, json) = conformance(&only).await;
    assert_eq!(code, 0, "{json}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"mcp-auth conformance as\" tests=\"3\" failures=\"0\""),
        "{xml}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(3), Some(0)),
        "{v}"
    );
    // The confidential client, its secret from the environment: a token is issued
    // and checked, and neither it nor the secret is printed.
    let mut confidential: Vec<String> = base.iter().map(|a| (*a).to_owned()).collect();
    confidential.extend(
        [
            "--client-id",
            "checker",
            "--client-secret-env",
            "CHECKER_SECRET",
            "--only",
            "BASE-AS-15,BASE-AS-24",
        ]
        .map(str::to_owned),
    );
    let out = tokio::task::spawn_blocking(move || {
        mcp_auth()
            .arg("conformance")
            .args(&confidential)
            .env("CHECKER_SECRET", &secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("BASE-AS-15  PASS"), "{table}");
    assert!(table.contains("BASE-AS-24  PASS"), "{table}");
    let secret = added["client_secret"].as_str().unwrap();
    assert!(!table.contains(secret) && !table.contains("eyJ"), "{table}");
    // Could not run: a client without a secret, a secret variable not set, an
    // enterprise profile without what it needs (an IdP key; an audience).
    assert_usage_errors(
        &base,
        &[
            &["--client-id", "x"][..],
            &[
                "--client-id",
                "x",
                "--client-secret-env",
                "MCP_AUTH_TEST_UNSET_SECRET",
            ],
            &["--profile", "ema"],
            &["--profile", "ema-idp"],
        ],
    )
    .await;
}

/// `conformance as --profile wif` against `mcp-auth as` (the real binary) trusting
/// the checker's workload issuer, which the checker serves on `--workload-listen`
/// (an RS256 key; discovery on loopback under the AS's test switch): every check
/// passes. Without a platform the checks skip, saying what they need; usage errors
/// exit 2.
#[tokio::test]
async fn conformance_as_wif_checks_our_authorization_server_as_a_trusted_platform() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(
        dir.path(),
        "platform.pem",
        mcp_auth_httpsig::Algorithm::Jws(mcp_auth_httpsig::JwsAlgorithm::Rs256),
    );
    let platform = format!("127.0.0.1:{}", free_port());
    let resource = "http://127.0.0.1:3000/mcp";
    let config = format!(
        r#"[danger]
allow_http_loopback_fetches = true

[[workload_issuers]]
id = "conformance"
issuer = "http://{platform}"
discovery = true

[[workload_issuers.rules]]
when = 'claims.sub == "conformance-workload" && claims.team == "checkers"'
principal = "conformance"
resources = ["{resource}"]
scopes = ["mcp:read"]
"#
    );
    let (issuer, _as) = as_with_config(dir.path(), &config, resource).await;
    let base = [
        "as",
        "--profile",
        "wif",
        "--issuer",
        &issuer,
        "--resource",
        resource,
    ];
    let mut args = base.to_vec();
    args.extend(["--workload-key", key.to_str().unwrap()]);
    args.extend(["--workload-listen", &platform]);
    args.extend(["--workload-subject", "conformance-workload"]);
    args.extend(["--workload-claims", r#"{"team":"checkers"}"#]);
    let (code, table) = conformance(&args).await;
    assert_eq!(code, 0, "{table}");
    for line in [
        "WIF-AS-1   PASS",
        "WIF-AS-5   PASS",
        "WIF-AS-13  PASS",
        "WIF-AS-21  PASS",
        "WIF-AS-24  PASS",
    ] {
        assert!(table.contains(line), "{line}: {table}");
    }
    assert!(
        table.ends_with("62 passed, 0 failed, 0 skipped\n"),
        "{table}"
    );
    assert!(!table.contains("eyJ"), "{table}");
    // Another subject: the control is refused (unauthorized_client), exit 1, and
    // the probes are skipped rather than passed for the wrong reason.
    let mut stranger = args.clone();
    let at = stranger
        .iter()
        .position(|a| *a == "conformance-workload")
        .unwrap();
    stranger[at] = "someone-else";
    let (code, table) = conformance(&stranger).await;
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("WIF-AS-1   FAIL"), "{table}");
    assert!(
        table.ends_with("1 passed, 1 failed, 60 skipped\n"),
        "{table}"
    );
    // No platform: only the metadata is checked.
    let (code, table) = conformance(&base).await;
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("--workload-key"), "{table}");
    assert!(
        table.ends_with("1 passed, 0 failed, 61 skipped\n"),
        "{table}"
    );
    // Could not run: a key without a subject, claims that are not an object.
    let key_arg = key.to_str().unwrap();
    assert_usage_errors(
        &base,
        &[
            &[
                "--workload-key",
                key_arg,
                "--workload-listen",
                "127.0.0.1:0",
            ][..],
            &[
                "--workload-key",
                key_arg,
                "--workload-subject",
                "s",
                "--workload-issuer",
                "http://127.0.0.1:1",
                "--workload-claims",
                "[1]",
            ],
        ],
    )
    .await;
}

/// `conformance as --profile ema` against `mcp-auth as` (the real binary) trusting
/// the checker as an enterprise IdP, which the checker serves on `--idp-listen`
/// (discovery on loopback under the AS's test switch), with a client holding the
/// jwt-bearer grant: no check fails. Without an IdP key the run cannot start.
#[tokio::test]
async fn conformance_as_ema_checks_our_authorization_server_as_a_trusted_idp() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(
        dir.path(),
        "idp.pem",
        mcp_auth_httpsig::Algorithm::Jws(mcp_auth_httpsig::JwsAlgorithm::Es256),
    );
    let idp = format!("127.0.0.1:{}", free_port());
    let resource = "http://127.0.0.1:3000/mcp";
    let secret = "conformance-ema-secret";
    let digest = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mcp_auth_server::client_auth::secret_digest(secret),
    );
    let config = format!(
        r#"[danger]
allow_http_loopback_fetches = true

[[clients]]
client_id = "conformance-agent"
client_secret_sha256 = "{digest}"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["mcp:read"]

[[id_jag_issuers]]
id = "conformance"
issuer = "http://{idp}"
discovery = true
resources = ["{resource}"]
"#
    );
    let (issuer, _as) = as_with_config(dir.path(), &config, resource).await;
    let base = [
        "as",
        "--profile",
        "ema",
        "--issuer",
        &issuer,
        "--resource",
        resource,
        "--client-id",
        "conformance-agent",
        "--client-secret-env",
        "MCP_AUTH_TEST_EMA_SECRET",
    ];
    let mut args = base.to_vec();
    args.extend(["--idp-key", key.to_str().unwrap(), "--idp-listen", &idp]);
    args.extend(["--scope", "mcp:read", "--entry-id", "conformance"]);
    let env = [("MCP_AUTH_TEST_EMA_SECRET", secret)];
    let (code, table, _) = conformance_in(&args, &env).await;
    assert_eq!(code, 0, "{table}");
    for line in ["EMA-AS-1   PASS", "EMA-AS-3   PASS", "EMA-AS-15  PASS"] {
        assert!(table.contains(line), "{line}: {table}");
    }
    // The skips need a second client or resource, or two scopes, not given here.
    assert!(
        table.ends_with("119 passed, 0 failed, 6 skipped\n"),
        "{table}"
    );
    assert!(!table.contains("eyJ") && !table.contains(secret), "{table}");
    // No IdP key: the run cannot start.
    let (code, _, err) = conformance_in(&base, &env).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--idp-key"), "{err}");
}
