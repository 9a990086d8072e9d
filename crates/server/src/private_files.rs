//! The data directory and the SQLite files hold the signing keys, client secrets'
//! digests, refresh tokens and sessions: no other local user may read them.
//!
//! Before the store opens: the process umask becomes `077` (so every file SQLite or
//! anything else in this process creates, WAL and SHM included, is private), a new data
//! directory is created `0700` and a new database file `0600`. An existing directory
//! or database file (or its `-wal` / `-shm`) that grants anything to group or others
//! stops the start with an error naming the path, unless the operator chose
//! `allow_insecure_permissions`.

use std::path::{Path, PathBuf};

use mcp_auth_core::private_file;

/// A file or directory other local users can reach.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} can be read by other local users (mode {mode:04o}); it holds the signing keys. \
     Fix it with `chmod {fix} {path}`, or start with --allow-insecure-permissions"
)]
pub struct InsecurePermissions {
    /// The path.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// The mode to set (`700` for a directory, `600` for a file).
    pub fix: &'static str,
}

/// Why the private storage could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateFilesError {
    /// Permissions too wide.
    #[error(transparent)]
    Insecure(#[from] InsecurePermissions),
    /// A file system call failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The SQLite database file of a `sqlite:` URL (`sqlite://path?mode=...`), if any.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Makes everything this process creates from now on private to its user (umask 077).
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Prepares the data directory and the database file for the store: creates them
/// private when missing, checks them when present. Returns whether the directory was
/// created.
pub fn prepare(
    data_dir: &Path,
    db: &Path,
    allow_insecure: bool,
) -> Result<bool, PrivateFilesError> {
    private_umask();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| PrivateFilesError::Io { path, source }
    };
    let mut created_dir = false;
    let db_in_data_dir = db.parent().is_some_and(|p| p == data_dir);
    if db_in_data_dir {
        if data_dir.exists() {
            check(data_dir, "700", allow_insecure)?;
        } else {
            private_file::create_dir(data_dir).map_err(io(data_dir))?;
            created_dir = true;
        }
    }
    for file in [db.to_path_buf(), suffixed(db, "-wal"), suffixed(db, "-shm")] {
        if file.exists() {
            check(&file, "600", allow_insecure)?;
        }
    }
    if !db.exists() {
        private_file::create_new(db, 0o600).map_err(io(db))?;
    }
    Ok(created_dir)
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Refuses a path that grants anything to group or others.
fn check(path: &Path, fix: &'static str, allow_insecure: bool) -> Result<(), PrivateFilesError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|source| PrivateFilesError::Io {
                path: path.display().to_string(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o077 != 0 {
            let problem = InsecurePermissions {
                path: path.display().to_string(),
                mode,
                fix,
            };
            if !allow_insecure {
                return Err(problem.into());
            }
            tracing::warn!(%problem, "starting anyway: allow_insecure_permissions is on");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, fix, allow_insecure);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/mcp-auth.db?mode=rwc"),
            Some(PathBuf::from("data/mcp-auth.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///abs/x.db"),
            Some(PathBuf::from("/abs/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }
}
