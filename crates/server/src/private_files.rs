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

use mcp_auth_core::private_file::{self, Others, Owners, Untrusted};

use crate::store::postgres_url::PostgresSettings;

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
    /// Another user owns it, or can change what is in it: they could replace the
    /// database, and its signing keys with theirs.
    #[error(
        "{path}: {problem}; the database holds the signing keys. Fix it, or start with \
         --allow-insecure-permissions"
    )]
    Untrusted {
        /// The path.
        path: String,
        /// What is wrong.
        problem: Untrusted,
    },
    /// A file sqlx reads for the PostgreSQL connection's TLS is missing, not a
    /// regular file, or one another user owns or could change
    /// ([`check_postgres_tls_files`]).
    #[error("{path} (the PostgreSQL connection's {parameter}): {source}")]
    PostgresTlsFile {
        /// The path.
        path: String,
        /// Where it was named (`sslrootcert`, or `PGSSLROOTCERT` when the URL names none).
        parameter: &'static str,
        /// What is wrong.
        source: std::io::Error,
    },
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
            check_private(data_dir, allow_insecure)?;
        } else {
            private_file::create_dir(data_dir).map_err(io(data_dir))?;
            created_dir = true;
        }
    } else if let Some(dir) = db
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .filter(|d| d.exists())
    {
        // A database kept elsewhere: its directory may be shared (`/var/lib`), but no
        // other user may add files to it (a `-wal` linked to a file of ours) or
        // replace the database.
        check_directory_of_database(dir, allow_insecure)?;
    }
    for file in [db.to_path_buf(), suffixed(db, "-wal"), suffixed(db, "-shm")] {
        if file.exists() {
            check_private(&file, allow_insecure)?;
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

/// Refuses a path that grants anything to group or others, or that another user owns
/// (`private_file::check`), unless `allow_insecure` (then it is logged). For a data
/// directory that other programs write to before the store opens (`mcp-auth up`).
pub fn check_private(path: &Path, allow_insecure: bool) -> Result<(), PrivateFilesError> {
    let found = std::fs::metadata(path).map_err(|source| PrivateFilesError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let problem = match private_file::check(&found, Owners::Me, Others::Nothing) {
        Ok(()) => return Ok(()),
        Err(Untrusted::Exposed { mode, fix, .. }) => InsecurePermissions {
            path: path.display().to_string(),
            mode,
            fix,
        }
        .into(),
        Err(problem) => PrivateFilesError::Untrusted {
            path: path.display().to_string(),
            problem,
        },
    };
    refuse_unless_allowed(problem, allow_insecure)
}

/// Refuses the directory of a database kept outside the data directory if another
/// user than this one or root owns it or can write to it.
fn check_directory_of_database(dir: &Path, allow_insecure: bool) -> Result<(), PrivateFilesError> {
    let found = std::fs::metadata(dir).map_err(|source| PrivateFilesError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    // Sticky or not: another user could make the database's `-wal` before SQLite
    // does, as a link to a file of ours.
    let Err(problem) = private_file::check_directory(&found, private_file::Sticky::Refused) else {
        return Ok(());
    };
    refuse_unless_allowed(
        PrivateFilesError::Untrusted {
            path: dir.display().to_string(),
            problem,
        },
        allow_insecure,
    )
}

/// The files sqlx reads for a PostgreSQL connection's TLS, with where each was named:
/// `sslrootcert` (also `ssl-root-cert`, `ssl-ca`), `sslcert` (`ssl-cert`) and `sslkey`
/// (`ssl-key`) in the URL's query, the last one given winning; for one the URL does
/// not name, `PGSSLROOTCERT`, `PGSSLCERT` or `PGSSLKEY` from `env`. As sqlx-postgres
/// reads them (`PgConnectOptions::new`, then the URL): a URL's value is always a path,
/// an environment variable's names no file when it is PEM text itself. The CA file is
/// read only under `verify-ca` and `verify-full`, the client certificate and key under
/// any mode that starts TLS (not `disable`, nor `allow`, which sqlx 0.9 takes for
/// `disable`). Empty for a URL that is not PostgreSQL's.
pub fn postgres_tls_files(
    database_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(&'static str, PathBuf)> {
    const FILES: [(&[&str], &str); 3] = [
        (&["sslrootcert", "ssl-root-cert", "ssl-ca"], "PGSSLROOTCERT"),
        (&["sslcert", "ssl-cert"], "PGSSLCERT"),
        (&["sslkey", "ssl-key"], "PGSSLKEY"),
    ];
    let Some(settings) = PostgresSettings::read(database_url, env) else {
        return Vec::new();
    };
    if !settings.may_use_tls() {
        return Vec::new();
    }
    let verifies = matches!(settings.ssl_mode().as_str(), "verify-ca" | "verify-full");
    let mut files = Vec::new();
    for (names, variable) in FILES {
        if variable == "PGSSLROOTCERT" && !verifies {
            continue;
        }
        if let Some(path) = settings.in_url(names) {
            files.push((names[0], PathBuf::from(path)));
        } else if let Some(value) = settings.in_env(variable) {
            let text = value.trim();
            if !(text.starts_with("-----BEGIN") && text.ends_with("-----")) {
                files.push((variable, PathBuf::from(value)));
            }
        }
    }
    files
}

/// Refuses the PostgreSQL connection's TLS files ([`postgres_tls_files`]) unless each is
/// a regular file of this user, root or a trusted owner that no other user can change,
/// reached through links only they own (`private_file::read`'s checks, as for the
/// Redis `ca=` file), and that no other user can swap later in the directory it is
/// named in or in those its links lead into: each this user's or root's and closed to
/// other users' new files, sticky passing, each link this user's or root's
/// (`private_file::check_directories_of`; links of `MCP_AUTH_TRUSTED_FILE_OWNERS` users
/// are refused here). sqlx reads the files again for every
/// connection it opens: a trust anchor another user could replace, then or later, would
/// let them answer as the database, which holds the signing keys. A client key readable
/// by others is let through, as other keys given to mcp-auth are (a secret volume's
/// `0644`).
pub fn check_postgres_tls_files(
    database_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), PrivateFilesError> {
    for (parameter, path) in postgres_tls_files(database_url, env) {
        let refused = |source| PrivateFilesError::PostgresTlsFile {
            path: path.display().to_string(),
            parameter,
            source,
        };
        private_file::read(&path, 1024 * 1024, Owners::Provided, Others::Read).map_err(refused)?;
        private_file::check_directories_of(&path).map_err(refused)?;
    }
    Ok(())
}

fn refuse_unless_allowed(
    problem: PrivateFilesError,
    allow_insecure: bool,
) -> Result<(), PrivateFilesError> {
    if !allow_insecure {
        return Err(problem);
    }
    tracing::warn!(%problem, "starting anyway: allow_insecure_permissions is on");
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

    #[test]
    fn the_tls_files_of_a_postgres_url_are_found_as_sqlx_reads_them() {
        let none = |_: &str| None;
        let url = "postgres://u:pw@db.internal/mcp?sslmode=verify-full&ssl-ca=/a.pem\
                   &sslrootcert=/etc/pg/ca.pem&sslcert=/c.pem&ssl-key=/k.pem";
        assert_eq!(
            postgres_tls_files(url, &none),
            [
                ("sslrootcert", PathBuf::from("/etc/pg/ca.pem")),
                ("sslcert", PathBuf::from("/c.pem")),
                ("sslkey", PathBuf::from("/k.pem")),
            ]
        );
        // The environment names what the URL does not; PEM text is no file.
        let env = |name: &str| match name {
            "PGSSLROOTCERT" => Some("/env/ca.pem".to_owned()),
            "PGSSLKEY" => Some("/env/k.pem".to_owned()),
            _ => None,
        };
        let url = "postgresql://db/mcp?sslmode=verify-ca&sslkey=/url/k.pem\
                   &sslcert=%2D%2D%2D%2D%2DBEGIN%20X%2D%2D%2D%2D%2D";
        assert_eq!(
            postgres_tls_files(url, &env),
            [
                ("PGSSLROOTCERT", PathBuf::from("/env/ca.pem")),
                // In the URL, sqlx takes even PEM-looking text for a path.
                ("sslcert", PathBuf::from("-----BEGIN X-----")),
                ("sslkey", PathBuf::from("/url/k.pem")),
            ]
        );
        let pem = |name: &str| (name == "PGSSLROOTCERT").then(|| "-----BEGIN X-----\n".to_owned());
        assert!(postgres_tls_files("postgres://db/mcp?sslmode=verify-full", &pem).is_empty());
        // The CA file only where sqlx verifies; nothing without TLS.
        assert_eq!(
            postgres_tls_files("postgres://db/mcp?sslmode=require&sslkey=/k.pem", &env),
            [("sslkey", PathBuf::from("/k.pem"))]
        );
        for mode in ["disable", "allow"] {
            let url = format!("postgres://db/mcp?sslmode={mode}&sslkey=/k.pem");
            assert!(postgres_tls_files(&url, &env).is_empty(), "{mode}");
        }
        assert!(postgres_tls_files("sqlite://x.db?sslkey=/k.pem", &env).is_empty());
        assert!(postgres_tls_files("postgres://db/mcp", &none).is_empty());
    }

    /// A TLS file others could change, or that is missing, stops the start with its
    /// path and where it was named; one others may only read is used.
    #[cfg(unix)]
    #[test]
    fn a_postgres_tls_file_others_could_change_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let url = format!(
            "postgres://db/mcp?sslmode=verify-full&sslrootcert={}",
            ca.display()
        );
        let none = |_: &str| None;
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
        check_postgres_tls_files(&url, &none).unwrap();
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = check_postgres_tls_files(&url, &none).unwrap_err();
        assert!(matches!(
            e,
            PrivateFilesError::PostgresTlsFile {
                parameter: "sslrootcert",
                ..
            }
        ));
        let text = e.to_string();
        assert!(text.contains(&ca.display().to_string()), "{text}");
        assert!(text.contains("go-w"), "{text}");
        // Its directory others can add files to (not sticky): refused too.
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_postgres_tls_files(&url, &none)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other users can add or replace files in this directory"),
            "{e}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        check_postgres_tls_files(&url, &none).unwrap();
        // A link to a file in such a directory: the target could be replaced later.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::copy(&ca, open.join("ca.pem")).unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(open.join("ca.pem"), &link).unwrap();
        let url = format!(
            "postgres://db/mcp?sslmode=verify-full&sslrootcert={}",
            link.display()
        );
        let e = check_postgres_tls_files(&url, &none)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&open.display().to_string())
                && e.contains("other users can add or replace files in this directory"),
            "{e}"
        );
        let missing = |name: &str| (name == "PGSSLKEY").then(|| "/nonexistent/k.pem".to_owned());
        let e = check_postgres_tls_files("postgres://db/mcp", &missing).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/k.pem (the PostgreSQL connection's PGSSLKEY)"),
            "{e}"
        );
    }

    /// A database kept in a directory any user may add files to (not sticky or
    /// sticky alike: another user could make its `-wal` first) is refused, saying so.
    #[cfg(unix)]
    #[test]
    fn a_database_in_a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let top = tempfile::tempdir().unwrap();
        let shared = top.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        for mode in [0o777, 0o1777] {
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = prepare(&top.path().join("data"), &shared.join("x.db"), false).unwrap_err();
            assert!(
                e.to_string()
                    .contains("other users can add or replace files in this directory"),
                "{mode:o}: {e}"
            );
        }
    }

    /// Another user's data directory, database or database directory is refused
    /// (they could replace the signing keys), unless the operator allows it.
    #[cfg(unix)]
    #[test]
    fn a_data_directory_or_database_of_another_user_is_refused() {
        if private_file::own_uid() != 0 {
            eprintln!("SKIPPED: files of another user need root to be made");
            return;
        }
        let another = |path: &Path| std::os::unix::fs::chown(path, Some(4242), None).unwrap();
        let top = tempfile::tempdir().unwrap();
        let data = top.path().join("data");
        private_file::create_dir(&data).unwrap();
        another(&data);
        let e = prepare(&data, &data.join("x.db"), false).unwrap_err();
        assert!(matches!(e, PrivateFilesError::Untrusted { .. }), "{e}");
        assert!(e.to_string().contains("belongs to user 4242"), "{e}");
        assert!(
            prepare(&data, &data.join("x.db"), true).is_ok(),
            "allowed when asked"
        );

        let elsewhere = top.path().join("db-dir");
        private_file::create_dir(&elsewhere).unwrap();
        another(&elsewhere);
        let e = prepare(&top.path().join("unused"), &elsewhere.join("x.db"), false).unwrap_err();
        assert!(e.to_string().contains("db-dir"), "{e}");

        let own = top.path().join("own");
        private_file::create_dir(&own).unwrap();
        let db = own.join("x.db");
        std::fs::write(&db, "").unwrap();
        std::fs::set_permissions(
            &db,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
        another(&db);
        let e = prepare(&own, &db, false).unwrap_err();
        assert!(e.to_string().contains("belongs to user 4242"), "{e}");
    }
}
