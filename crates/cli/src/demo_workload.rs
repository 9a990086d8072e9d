//! A demo workload platform for `mcp-auth up`: a platform issuer whose key lives in
//! the data directory, trusted by the demo authorization server through a
//! `jwks_file` (profiles/workload-identity-federation.md §6.2), and
//! `mcp-auth demo-workload-token`, which mints the token a Kubernetes pod would find
//! in its projected volume. With them the workload grant can be tried on one
//! machine: no client registration, no secret, one file.
//!
//! The issuer is not reachable over the network (`.invalid`, RFC 6761): the AS reads
//! its keys from the file, never from a URL, which is also how an issuer the AS
//! cannot reach is configured in production.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm, SigningKey};
use serde_json::json;

use crate::cli::DemoWorkloadTokenArgs;
use crate::output::print;

/// The demo platform's issuer (`iss` of its tokens).
pub(crate) const ISSUER: &str = "https://demo-platform.mcp-auth.invalid";
/// The service account the demo rule trusts.
pub(crate) const SUBJECT: &str = "system:serviceaccount:demo:agent";
/// The principal the demo rule gives it.
pub(crate) const PRINCIPAL: &str = "demo-platform:demo/agent";
/// The demo platform's signing key (PKCS#8, 0600), in the data directory.
const KEY_FILE: &str = "demo-workload-issuer.key.pem";
/// Its JWK Set, rewritten at every start from the key.
const JWKS_FILE: &str = "demo-workload-issuer.jwks.json";
/// Its key id.
const KID: &str = "demo-platform-1";
/// The longest token it mints: the AS accepts at most 3660 s (WIF D8).
const MAX_LIFETIME: u64 = 3600;

/// The `[[workload_issuers]]` entry of the demo AS: the demo platform's key (created
/// in `data_dir` on first use), published to the AS as a `jwks_file`, and one rule
/// giving [`SUBJECT`] read access to `resource`.
pub(crate) fn trust_toml(data_dir: &Path, resource: &str, scope: &str) -> anyhow::Result<String> {
    let key = load_or_create_key(data_dir)?;
    let mut jwk = key.verifying_key().to_jwk();
    jwk.kid = Some(KID.into());
    jwk.alg = Some(JwsAlgorithm::Es256.name().into());
    let jwks_path = data_dir.join(JWKS_FILE);
    mcp_auth_core::private_file::replace(&jwks_path, json!({"keys": [jwk]}).to_string().as_bytes())
        .with_context(|| format!("writing {}", jwks_path.display()))?;
    // TOML basic strings: the path is JSON-escaped, which TOML reads the same.
    let jwks = serde_json::to_string(&jwks_path.display().to_string())?;
    Ok(format!(
        r#"
[[workload_issuers]]
id = "demo-platform"
issuer = "{ISSUER}"
jwks_file = {jwks}
algorithms = ["ES256"]

[[workload_issuers.rules]]
when = 'claims.sub == "{SUBJECT}" && claims["kubernetes.io"].namespace == "demo"'
principal = "{PRINCIPAL}"
resources = ["{resource}"]
scopes = ["{scope}"]
"#
    ))
}

/// The demo platform's key: read from `data_dir`, or created there (0600, never
/// overwriting a file) the first time.
fn load_or_create_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(KEY_FILE);
    if path.exists() {
        return read_key(&path);
    }
    mcp_auth_core::private_file::create_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = SigningKey::generate(Algorithm::Jws(JwsAlgorithm::Es256))?;
    mcp_auth_core::private_file::write_new(&path, key.to_pkcs8_pem()?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = mcp_auth_core::private_file::read_to_string(
        path,
        crate::output::MAX_INPUT_FILE,
        mcp_auth_core::private_file::Owners::Me,
        mcp_auth_core::private_file::Others::Nothing,
    )
    .with_context(|| {
        format!(
            "reading {} (start `mcp-auth up` once with this --data-dir: it creates the demo platform's key)",
            path.display()
        )
    })?;
    SigningKey::from_pem(&pem).with_context(|| format!("reading {}", path.display()))
}

/// `mcp-auth demo-workload-token`: prints a token of the demo platform, shaped like
/// a Kubernetes projected service-account token, for `audience`.
pub(crate) fn run(args: &DemoWorkloadTokenArgs) -> anyhow::Result<ExitCode> {
    if !(60..=MAX_LIFETIME).contains(&args.lifetime) {
        anyhow::bail!("--lifetime must be 60 to {MAX_LIFETIME} seconds");
    }
    let key = read_key(&args.data_dir.join(KEY_FILE))?;
    let now = mcp_auth_core::unix_now();
    let lifetime = i64::try_from(args.lifetime)?;
    let claims = json!({
        "iss": ISSUER,
        "sub": args.subject,
        "aud": [args.audience],
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": mcp_auth_core::random_token::<16>()?,
        "kubernetes.io": {
            "namespace": namespace_of(&args.subject),
            "serviceaccount": {"name": args.subject.rsplit(':').next().unwrap_or_default()}
        }
    });
    let header = json!({"alg": "ES256", "kid": KID, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(Algorithm::Jws(JwsAlgorithm::Es256), input.as_bytes())?;
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    match &args.out {
        Some(path) => {
            // A platform token is a credential: the file is the workload's alone, and
            // it is replaced whole (a reader never sees half a token), as platforms
            // rotate theirs.
            mcp_auth_core::private_file::replace(path, format!("{token}\n").as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => print(&token)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The namespace of `system:serviceaccount:<namespace>:<name>`.
fn namespace_of(subject: &str) -> &str {
    subject
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_default()
}
