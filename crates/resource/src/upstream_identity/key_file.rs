//! The gateway's upstream-identity signing key on disk: one PKCS#8 PEM file, private
//! to the user the gateway runs as.
//!
//! - Missing: a key is generated and written with mode 0600 by an exclusive create
//!   (`O_CREAT|O_EXCL`), which also refuses a symbolic link planted at the path, even
//!   a dangling one. A process that wins the race to create it is not overwritten: its
//!   file is then read like any existing one.
//! - Present: it must be a regular file (not a symbolic link, not a directory), grant
//!   nothing to group or others, and belong to the user the gateway runs as; it is
//!   checked on the opened file (`fstat`), which must be the very file that was
//!   looked up (same device and inode), so it cannot be swapped in between.
//!
//! Whoever can read the key can mint identities every upstream trusts; whoever can
//! write it can replace it: both are refused rather than warned about.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read as _};
use std::path::Path;

use mcp_auth_core::access_token::AsSigningKey;
use mcp_auth_httpsig::JwsAlgorithm;

use super::UpstreamIdentityError;

/// The largest key file read, bytes: a PKCS#8 PEM of an Ed25519 or P-256 key is a few
/// hundred bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// The key at `path` for `alg`, generated and written when the file does not exist.
/// The second value says whether it was generated now.
pub(super) fn load_or_create(
    path: &Path,
    alg: JwsAlgorithm,
) -> Result<(AsSigningKey, bool), UpstreamIdentityError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => read_existing(path, alg).map(|key| (key, false)),
        Err(e) if e.kind() == ErrorKind::NotFound => match create(path, alg)? {
            Some(key) => Ok((key, true)),
            // Another process created it between the lookup and the create (or a link
            // was planted there): read what is there now, with every check.
            None => read_existing(path, alg).map(|key| (key, false)),
        },
        Err(e) => Err(io_error(path, "cannot be looked up", e)),
    }
}

/// Generates a key and writes it to `path` with mode 0600; `None` when something is
/// at `path` already (the exclusive create refused).
fn create(path: &Path, alg: JwsAlgorithm) -> Result<Option<AsSigningKey>, UpstreamIdentityError> {
    let key = AsSigningKey::generate(alg).map_err(|e| UpstreamIdentityError::Key {
        path: path.display().to_string(),
        source: e,
    })?;
    let pem = key.to_pkcs8_pem().map_err(|e| UpstreamIdentityError::Key {
        path: path.display().to_string(),
        source: e,
    })?;
    // A partial key file would stop every later start: `write_new` leaves none.
    match mcp_auth_core::private_file::write_new(path, pem.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(io_error(path, "cannot be created or written", e)),
    }
    tracing::info!(
        path = %path.display(),
        kid = key.kid(),
        alg = alg.name(),
        "generated the upstream identity signing key"
    );
    Ok(Some(key))
}

/// Reads the key at `path` after checking the file (see the module documentation).
fn read_existing(path: &Path, alg: JwsAlgorithm) -> Result<AsSigningKey, UpstreamIdentityError> {
    let looked_up =
        std::fs::symlink_metadata(path).map_err(|e| io_error(path, "cannot be looked up", e))?;
    let kind = looked_up.file_type();
    if kind.is_symlink() {
        return Err(not_regular(path, "a symbolic link"));
    }
    if kind.is_dir() {
        return Err(not_regular(path, "a directory"));
    }
    if !kind.is_file() {
        return Err(not_regular(path, "not a regular file"));
    }
    let mut file = File::open(path).map_err(|e| io_error(path, "cannot be opened", e))?;
    let opened = file
        .metadata()
        .map_err(|e| io_error(path, "cannot be examined", e))?;
    if !same_file(&looked_up, &opened) || !opened.is_file() {
        return Err(not_regular(path, "replaced while it was opened"));
    }
    check_private(path, &opened)?;
    let mut pem = String::new();
    (&mut file)
        .take(MAX_KEY_FILE + 1)
        .read_to_string(&mut pem)
        .map_err(|e| io_error(path, "cannot be read as text", e))?;
    if pem.len() as u64 > MAX_KEY_FILE {
        return Err(UpstreamIdentityError::KeyFile {
            path: path.display().to_string(),
            problem: format!("is larger than {MAX_KEY_FILE} bytes: it is not a key file"),
        });
    }
    AsSigningKey::from_pkcs8_pem(alg, &pem, None).map_err(|e| UpstreamIdentityError::Key {
        path: path.display().to_string(),
        source: e,
    })
}

/// Whether two metadata describe the same file (device and inode).
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Refuses a key file that grants anything to group or others, or that belongs to
/// another user than the one the gateway runs as (`private_file::check`).
fn check_private(path: &Path, file: &Metadata) -> Result<(), UpstreamIdentityError> {
    use mcp_auth_core::private_file::{Others, Owners, Untrusted, check};
    let path = path.display().to_string();
    check(file, Owners::Me, Others::Nothing).map_err(|problem| match problem {
        Untrusted::Exposed { mode, .. } => UpstreamIdentityError::InsecureKeyFile { path, mode },
        Untrusted::Foreign { owner, uid, .. } => {
            UpstreamIdentityError::ForeignKeyFile { path, owner, uid }
        }
        problem => UpstreamIdentityError::KeyFile {
            path,
            problem: problem.to_string(),
        },
    })
}

fn not_regular(path: &Path, what: &'static str) -> UpstreamIdentityError {
    UpstreamIdentityError::NotRegularFile {
        path: path.display().to_string(),
        what,
    }
}

fn io_error(path: &Path, what: &'static str, source: std::io::Error) -> UpstreamIdentityError {
    UpstreamIdentityError::KeyFile {
        path: path.display().to_string(),
        problem: format!("{what}: {source}"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// Fails if the file is created with the umask's mode (0644 usually) or is not
    /// reused by the second load.
    #[test]
    fn a_missing_key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream.pem");
        let (first, created) = load_or_create(&path, JwsAlgorithm::EdDsa).unwrap();
        assert!(created);
        assert_eq!(mode(&path), 0o600);
        let (second, created) = load_or_create(&path, JwsAlgorithm::EdDsa).unwrap();
        assert!(!created);
        assert_eq!(first.kid(), second.kid());
        // No probe file is left behind by the owner check.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("upstream.pem")]);
    }

    /// Fails if group/world-readable files are accepted, or the error does not name
    /// the path and the fix.
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream.pem");
        load_or_create(&path, JwsAlgorithm::EdDsa).unwrap();
        for wide in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wide)).unwrap();
            let error = load_or_create(&path, JwsAlgorithm::EdDsa)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains("chmod 600"), "{error}");
        }
    }

    /// Fails if a key of the other algorithm is read as this one.
    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream.pem");
        load_or_create(&path, JwsAlgorithm::EdDsa).unwrap();
        let error = load_or_create(&path, JwsAlgorithm::Es256).unwrap_err();
        assert!(
            matches!(error, UpstreamIdentityError::Key { .. }),
            "{error}"
        );
    }

    /// Fails if the size cap is not applied before parsing.
    #[test]
    fn an_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream.pem");
        mcp_auth_core::private_file::write_new(&path, &[b'A'; 20_000]).unwrap();
        let error = load_or_create(&path, JwsAlgorithm::EdDsa)
            .unwrap_err()
            .to_string();
        assert!(error.contains("larger than"), "{error}");
    }
}
