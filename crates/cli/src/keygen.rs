//! `mcp-auth keygen`.
//!
//! With `--out`, the private key file is created with mode 0600 by the call that
//! creates it (never written first and restricted after: no moment where another
//! local user could open it), and no existing file is ever overwritten: both files
//! are created exclusively before either is written, and the command fails,
//! leaving nothing behind, when one exists.

use std::io::Write as _;
use std::path::{Path, PathBuf};

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
            let public_path = public
                .as_ref()
                .map(|_| with_suffix(prefix, &format!("public.{ext}")));
            write_key_files(
                (&private_path, &private),
                public_path.as_deref().zip(public.as_deref()),
            )?;
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

/// Writes the private key (readable by the owner only) and the public key (0644),
/// overwriting neither: both files are created exclusively before either is
/// written, and the private one is removed again when the public one exists.
fn write_key_files(
    (private_path, private): (&Path, &str),
    public: Option<(&Path, &str)>,
) -> anyhow::Result<()> {
    let mut private_file = create_new(private_path, 0o600)?;
    let public_file = match public {
        Some((path, contents)) => match create_new(path, 0o644) {
            Ok(file) => Some((file, path, contents)),
            Err(e) => {
                // Ours, empty, just created: nothing else can have it.
                let _ = std::fs::remove_file(private_path);
                return Err(e);
            }
        },
        None => None,
    };
    let public_path = public_file.as_ref().map(|(_, path, _)| *path);
    let written = private_file
        .write_all(private.as_bytes())
        .and_then(|()| private_file.sync_all())
        .with_context(|| format!("writing {}", private_path.display()))
        .and_then(|()| match public_file {
            Some((mut file, path, contents)) => file
                .write_all(contents.as_bytes())
                .with_context(|| format!("writing {}", path.display())),
            None => Ok(()),
        });
    if written.is_err() {
        // Both ours, just created: a half-written key would be refused at every use,
        // and its name would stop the next keygen.
        for path in std::iter::once(private_path).chain(public_path) {
            let _ = std::fs::remove_file(path);
        }
    }
    written
}

/// A new file at `path` with permissions `mode` from the moment it exists
/// (O_CREAT|O_EXCL: an existing file or symlink is an error, never written through).
fn create_new(path: &Path, mode: u32) -> anyhow::Result<std::fs::File> {
    mcp_auth_core::private_file::create_new(path, mode).with_context(|| {
        format!(
            "creating {} (keygen never overwrites a file: move it away or choose another --out)",
            path.display()
        )
    })
}
