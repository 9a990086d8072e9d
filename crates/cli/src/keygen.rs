//! `mcp-auth keygen`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use mcp_auth_httpsig::{Algorithm, KeyKind, SigningKey};
use serde_json::json;

use crate::cli::{KeyFormat, KeygenArgs};
use crate::output::{json_line, print};

pub(crate) fn run(args: &KeygenArgs) -> anyhow::Result<std::process::ExitCode> {
    let alg: Algorithm = args.alg.parse()?;
    let key = SigningKey::generate(alg)?;
    let thumbprint = key.verifying_key().thumbprint();
    let kid = args.kid.clone().unwrap_or_else(|| thumbprint.clone());
    let key = key.with_kid(kid.clone());
    let format = match (key.kind(), args.format) {
        (KeyKind::Hmac, _) => KeyFormat::Jwk,
        (KeyKind::Rsa, _) => KeyFormat::Pem,
        (_, f) => f,
    };
    let (private, public, ext) = match format {
        KeyFormat::Jwk => {
            let mut private = key.to_private_jwk()?;
            private.use_ = Some("sig".into());
            let public = if key.kind() == KeyKind::Hmac {
                None
            } else {
                Some(private.public())
            };
            (
                pretty(&private)?,
                public.map(|p| pretty(&p)).transpose()?,
                "jwk",
            )
        }
        KeyFormat::Pem => (key.to_pkcs8_pem()?, Some(key.to_public_pem()?), "pem"),
    };
    match &args.out {
        None => {
            if args.json {
                json_line(&json!({
                    "type": "key", "alg": alg.name(), "kid": kid, "thumbprint": thumbprint,
                    "private": private, "public": public,
                }))?;
            } else {
                print(&private)?;
                if let Some(p) = &public {
                    print(p)?;
                }
            }
        }
        Some(prefix) => {
            let private_path = with_suffix(prefix, &format!("private.{ext}"));
            write_private(&private_path, &private)?;
            let public_path = match &public {
                Some(p) => {
                    let path = with_suffix(prefix, &format!("public.{ext}"));
                    std::fs::write(&path, p)
                        .with_context(|| format!("writing {}", path.display()))?;
                    Some(path)
                }
                None => None,
            };
            if args.json {
                json_line(&json!({
                    "type": "key", "alg": alg.name(), "kid": kid, "thumbprint": thumbprint,
                    "private_path": private_path, "public_path": public_path,
                }))?;
            } else {
                let mut text = format!("private key: {}\n", private_path.display());
                if let Some(p) = &public_path {
                    text.push_str(&format!("public key:  {}\n", p.display()));
                }
                text.push_str(&format!(
                    "algorithm:   {}\nthumbprint:  {thumbprint}\n",
                    alg.name()
                ));
                print(&text)?;
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn pretty(jwk: &mcp_auth_httpsig::Jwk) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(jwk)? + "\n")
}

fn with_suffix(prefix: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes a private key readable by the owner only, refusing to overwrite.
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
