//! `mcp-auth sig` and `mcp-auth keygen` as a user runs them: real files, real process,
//! exit codes and output checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
}

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../httpsig/tests/vectors/rfc9421")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const REQUEST: &str = "POST /mcp HTTP/1.1\r\nHost: mcp.example.com\r\nContent-Type: application/json\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\nContent-Length: 58\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}";

fn keygen(dir: &Path, alg: &str) -> (String, String) {
    let prefix = dir.join(alg);
    let o = run(&["keygen", "--alg", alg, "--out", prefix.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let private = format!("{}.private.jwk", prefix.display());
    let public = format!("{}.public.jwk", prefix.display());
    (private, public)
}

#[test]
fn sign_then_verify_with_generated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("request.http");
    std::fs::write(&msg, REQUEST).unwrap();
    for alg in [
        "ed25519",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "hmac-sha256",
    ] {
        let (private, public) = keygen(dir.path(), alg);
        let o = run(&[
            "sig",
            "sign",
            "--key",
            &private,
            "--components",
            r#""@method" "@target-uri" "content-digest" "mcp-method" "mcp-name""#,
            "--content-digest",
            "sha-256",
            "--nonce",
            "random",
            "--tag",
            "httpsig-oauth",
            msg.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{alg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let signed = dir.path().join(format!("{alg}.signed.http"));
        std::fs::write(&signed, &o.stdout).unwrap();
        let key = if alg == "hmac-sha256" {
            &private
        } else {
            &public
        };
        let o = run(&[
            "sig",
            "verify",
            "--key",
            key,
            "--require",
            r#""mcp-name""#,
            "--max-age",
            "60",
            "--require-digest",
            signed.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{alg}: {}", stdout(&o));
        assert!(
            stdout(&o).contains(
                "valid: 1 signature(s) verified; Content-Digest (sha-256) matches the body"
            ),
            "{}",
            stdout(&o)
        );

        // Tamper with the operation: exit 1, and the report names the step.
        let tampered = String::from_utf8(std::fs::read(&signed).unwrap())
            .unwrap()
            .replace("Mcp-Name: echo", "Mcp-Name: rm");
        std::fs::write(&signed, tampered).unwrap();
        let o = run(&["sig", "verify", "--key", key, signed.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        let out = stdout(&o);
        assert!(out.contains("FAILED at the signature check"), "{out}");
        assert!(out.contains("\"mcp-name\": rm"), "{out}");
    }
}

#[test]
fn rsa_needs_an_explicit_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("rsa");
    assert!(
        run(&[
            "keygen",
            "--alg",
            "rsa-pss-sha512",
            "--out",
            prefix.to_str().unwrap()
        ])
        .status
        .success()
    );
    let msg = dir.path().join("m.http");
    std::fs::write(&msg, REQUEST).unwrap();
    let private = format!("{}.private.pem", prefix.display());
    let o = run(&[
        "sig",
        "sign",
        "--key",
        &private,
        "--components",
        r#""@method""#,
        msg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("give --alg rsa-pss-sha512 or --alg rsa-v1_5-sha256")
    );
    let o = run(&[
        "sig",
        "sign",
        "--key",
        &private,
        "--alg",
        "rsa-pss-sha512",
        "--components",
        r#""@method" "content-digest""#,
        "--content-digest",
        "sha-512",
        msg.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let signed = dir.path().join("s.http");
    std::fs::write(&signed, &o.stdout).unwrap();
    let public = format!("{}.public.pem", prefix.display());
    let o = run(&["sig", "verify", "--key", &public, signed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("give --alg"), "{}", stdout(&o));
    let o = run(&[
        "sig",
        "verify",
        "--key",
        &public,
        "--alg",
        "rsa-pss-sha512",
        signed.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn base_prints_the_rfc_b_4_base_and_target_uri_overrides_the_authority() {
    let o = run(&[
        "sig",
        "base",
        vectors()
            .join("messages/b4-original.http")
            .to_str()
            .unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "# transform\n\"@method\": GET\n\"@path\": /demo\n\"@authority\": example.org\n\"accept\": application/json, */*\n\"@signature-params\": (\"@method\" \"@path\" \"@authority\" \"accept\");created=1618884473;keyid=\"test-key-ed25519\"\n"
    );
    let o = run(&[
        "sig",
        "base",
        "--target-uri",
        "https://example.com/",
        vectors()
            .join("messages/b4-original.http")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        stdout(&o).contains("\"@authority\": example.com\n"),
        "{}",
        stdout(&o)
    );
    // With --components: the base a signer would build, parameters as given.
    let o = run(&[
        "sig",
        "base",
        "--components",
        r#""@method" "@path""#,
        "--created",
        "1618884473",
        "--keyid",
        "k",
        vectors()
            .join("messages/test-request.http")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        stdout(&o),
        "\"@method\": POST\n\"@path\": /foo\n\"@signature-params\": (\"@method\" \"@path\");created=1618884473;keyid=\"k\"\n"
    );
}

#[test]
fn verify_json_lines_and_signer_base_diff() {
    let dir = tempfile::tempdir().unwrap();
    let key = vectors().join("keys/test-key-ed25519.public.pem");
    let o = run(&[
        "sig",
        "verify",
        "--json",
        "--key",
        key.to_str().unwrap(),
        vectors()
            .join("messages/b4-accept-swapped.http")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "signature");
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["error"]["kind"], "bad_signature");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["valid"], false);
    // The signer's base (from the original message) shows the differing line.
    let theirs = run(&[
        "sig",
        "base",
        "--json",
        vectors()
            .join("messages/b4-original.http")
            .to_str()
            .unwrap(),
    ]);
    let theirs: serde_json::Value =
        serde_json::from_str(stdout(&theirs).lines().next().unwrap()).unwrap();
    let base_file = dir.path().join("signer.base");
    std::fs::write(&base_file, theirs["base"].as_str().unwrap()).unwrap();
    let o = run(&[
        "sig",
        "verify",
        "--key",
        key.to_str().unwrap(),
        "--signer-base",
        base_file.to_str().unwrap(),
        vectors()
            .join("messages/b4-accept-swapped.http")
            .to_str()
            .unwrap(),
    ]);
    let out = stdout(&o);
    assert!(out.contains("first difference, line 4:\n    verifier: \"accept\": */*, application/json\n    signer:   \"accept\": application/json, */*"), "{out}");
}

#[test]
fn stdin_and_usage_errors() {
    use std::io::Write as _;
    let key = vectors().join("keys/test-key-ed25519.public.pem");
    let mut child = bin()
        .args(["sig", "verify", "--key", key.to_str().unwrap(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(vectors().join("messages/b4-original.http")).unwrap())
        .unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    // A missing key file, a message that is not HTTP, an unsigned message: exit 2.
    let o = run(&["sig", "verify", "--key", "/nonexistent", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reading /nonexistent"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "hello").unwrap();
    let o = run(&["sig", "base", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an HTTP/1.1 request line"));
    let o = run(&[
        "sig",
        "base",
        vectors()
            .join("messages/test-request.http")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Signature-Input"));
    let o = run(&[
        "sig",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--components",
        r#""@method""#,
        vectors()
            .join("messages/test-request.http")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("this is a public key"));
}

#[test]
fn keygen_writes_private_keys_owner_only_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keygen(dir.path(), "ed25519");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = run(&[
        "keygen",
        "--alg",
        "ed25519",
        "--out",
        dir.path().join("ed25519").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["keygen", "--alg", "none"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown algorithm `none`"));
    let o = run(&["keygen", "--alg", "ES256", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["alg"], "ES256");
    assert_eq!(v["kid"], v["thumbprint"]);
}

#[test]
fn help_exists_for_every_subcommand() {
    for args in [
        &["--help"][..],
        &["sig", "--help"],
        &["sig", "base", "--help"],
        &["sig", "sign", "--help"],
        &["sig", "verify", "--help"],
        &["keygen", "--help"],
        &["gateway", "--help"],
        &["as", "--help"],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn embedded_key_verifies_a_runtime_key_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keygen(dir.path(), "ecdsa-p256-sha256");
    let msg = dir.path().join("m.http");
    std::fs::write(&msg, REQUEST).unwrap();
    let o = run(&[
        "sig",
        "sign",
        "--key",
        &private,
        "--include-alg",
        "--include-pub",
        "--components",
        r#""@method" "@target-uri" "content-digest""#,
        "--content-digest",
        "sha-256",
        msg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let signed = dir.path().join("s.http");
    std::fs::write(&signed, &o.stdout).unwrap();
    let o = run(&["sig", "verify", "--embedded-key", signed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Without `pub` there is nothing to verify with.
    let o = run(&[
        "sig",
        "sign",
        "--key",
        &private,
        "--components",
        r#""@method""#,
        msg.to_str().unwrap(),
    ]);
    std::fs::write(&signed, &o.stdout).unwrap();
    let o = run(&["sig", "verify", "--embedded-key", signed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("no `alg` parameter to read the `pub` key with"),
        "{}",
        stdout(&o)
    );
    // --key and --embedded-key exclude each other; one of them is required.
    assert_eq!(
        run(&["sig", "verify", signed.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}
