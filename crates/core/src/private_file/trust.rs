//! Files this process relies on but did not just create: checked as opened (the
//! metadata of the open file, not of the path, so that what was checked is what is
//! read or written) for who owns them and what other users may do with them.
//!
//! A file another user owns, or can change, is one that user can substitute: their
//! key, their configuration, their token, or a symbolic link to a file of ours that
//! we would then append to. A secret others can read is no longer a secret.

use std::fs::{File, Metadata};
use std::io::{Error, ErrorKind, Read as _};
use std::path::Path;

/// Who may own a file this process relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// This process's user alone: a file it made or that was made for it (a key, a
    /// token cache, an audit log).
    Me,
    /// This process's user or root: a file an administrator or a platform provides (a
    /// configuration under `/etc`, a platform's projected token).
    MeOrRoot,
}

/// What other users (the file's group and everyone else) may do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Nothing: it holds a secret.
    Nothing,
    /// Read it, not change it: what it says decides what this process trusts or does
    /// (a configuration, a trust anchor), or it is a record (an audit log).
    Read,
}

/// Why a file is not relied on. Its message says what to do; the caller names the
/// file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Untrusted {
    /// Other users may read or change it.
    #[error("other users can {can} it (mode {mode:04o}): `chmod {fix}` it")]
    Exposed {
        /// Its permission bits.
        mode: u32,
        /// What they can do.
        can: &'static str,
        /// The `chmod` argument that fixes it.
        fix: &'static str,
    },
    /// Another user owns it.
    #[error("it belongs to user {owner}, not to user {uid}, whom this process runs as{}", if *.root_allowed { " (or root)" } else { "" })]
    Foreign {
        /// Its owner.
        owner: u32,
        /// This process's effective user.
        uid: u32,
        /// Whether root would have been accepted.
        root_allowed: bool,
    },
}

/// This process's effective user id.
#[cfg(unix)]
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks who owns `file` (the metadata of an open file) and what others may do with
/// it. Always passes where Unix ownership and modes do not exist.
pub fn check(file: &Metadata, owners: Owners, others: Others) -> Result<(), Untrusted> {
    check_owner(file, owners)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = file.mode() & 0o7777;
        let (mask, can, fix) = match others {
            Others::Nothing if file.is_dir() => (0o077, "read or write", "700"),
            Others::Nothing => (0o077, "read or write", "600"),
            Others::Read => (0o022, "write", "go-w"),
        };
        if mode & mask != 0 {
            return Err(Untrusted::Exposed { mode, can, fix });
        }
    }
    #[cfg(not(unix))]
    let _ = others;
    Ok(())
}

/// The owner half of [`check`], for what has no meaningful mode to check (a terminal
/// others may write to, a symbolic link).
pub fn check_owner(file: &Metadata, owners: Owners) -> Result<(), Untrusted> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let uid = own_uid();
        let owner = file.uid();
        let root_allowed = owners == Owners::MeOrRoot;
        if owner != uid && !(root_allowed && owner == 0) {
            return Err(Untrusted::Foreign {
                owner,
                uid,
                root_allowed,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (file, owners);
    Ok(())
}

/// Reads the regular file at `path`, at most `max` bytes, after [`check`]ing it as
/// opened. The errors are `std::io::Error`s that say what is wrong (the caller names
/// the file): `PermissionDenied` carrying an [`Untrusted`], `InvalidInput` for what is
/// not a regular file (a pipe or a device is refused without waiting on it),
/// `InvalidData` for a file over `max`.
pub fn read(path: &Path, max: u64, owners: Owners, others: Others) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    check(&file.metadata()?, owners, others)
        .map_err(|e| Error::new(ErrorKind::PermissionDenied, e))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("it is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read`] as text.
pub fn read_to_string(
    path: &Path,
    max: u64,
    owners: Owners,
    others: Others,
) -> std::io::Result<String> {
    String::from_utf8(read(path, max, owners, others)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Opens `path` for reading, refusing what is not a regular file. On Unix it is
/// opened non-blocking, so that a pipe placed at the path is refused rather than
/// waited on (reading a regular file never blocks either way).
fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(nonblocking());
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(file)
}

/// `O_NONBLOCK`, as `OpenOptionsExt::custom_flags` takes it.
#[cfg(unix)]
fn nonblocking() -> i32 {
    i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0)
}

/// Opens the file at `path` to append to it. A missing file is created
/// ([`super::create_new`], mode 0600). An existing regular file is opened without
/// following a symbolic link (`O_NOFOLLOW`) and [`check`]ed as opened. A symbolic link
/// must belong to this process's user or root (`/dev/stderr` does), not to a user who
/// could point it at a file of ours. What is not a regular file (a pipe, a terminal)
/// is opened as it is, blocking as a pipe does until it has a reader, but only if it
/// belongs to this process's user or root, checked before and again after opening:
/// a pipe another user placed at the path must not receive what is written. The
/// errors are as [`read`]'s.
pub fn open_append(path: &Path, owners: Owners, others: Others) -> std::io::Result<File> {
    match super::create_new(path, 0o600) {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let untrusted = |e: Untrusted| Error::new(ErrorKind::PermissionDenied, e);
    let link = std::fs::symlink_metadata(path)?;
    let is_link = link.file_type().is_symlink();
    if is_link {
        check_owner(&link, Owners::MeOrRoot).map_err(untrusted)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.append(true);
    if std::fs::metadata(path)?.is_file() {
        #[cfg(unix)]
        if !is_link {
            use std::os::unix::fs::OpenOptionsExt as _;
            let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
            options.custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
        }
        let file = options.open(path)?;
        let opened = file.metadata()?;
        if !opened.is_file() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it was replaced while opened",
            ));
        }
        check(&opened, owners, others).map_err(untrusted)?;
        return Ok(file);
    }
    check_owner(&std::fs::metadata(path)?, Owners::MeOrRoot).map_err(untrusted)?;
    let file = options.open(path)?;
    check_owner(&file.metadata()?, Owners::MeOrRoot).map_err(untrusted)?;
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    use super::*;

    /// A file of `mode` in `dir`.
    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "content").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A file this process's user does not own: one given to another user where this
    /// process may (root), else one of root's.
    fn foreign(dir: &Path) -> PathBuf {
        if own_uid() == 0 {
            let path = file(dir, "foreign", 0o600);
            std::os::unix::fs::lchown(&path, Some(4242), None).unwrap();
            path
        } else {
            PathBuf::from("/etc/passwd")
        }
    }

    fn kind(e: &Error) -> Option<Untrusted> {
        e.get_ref()?.downcast_ref::<Untrusted>().cloned()
    }

    #[test]
    fn a_secret_is_refused_when_others_can_read_it_and_a_configuration_when_they_can_write_it() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, secret, configuration) in [
            (0o600, true, true),
            (0o640, false, true),
            (0o644, false, true),
            (0o660, false, false),
            (0o602, false, false),
        ] {
            let path = file(dir.path(), &format!("f{mode:o}"), mode);
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(
                check(&meta, Owners::Me, Others::Nothing).is_ok(),
                secret,
                "{mode:o}"
            );
            assert_eq!(
                check(&meta, Owners::Me, Others::Read).is_ok(),
                configuration,
                "{mode:o}"
            );
        }
        let open = file(dir.path(), "open", 0o644);
        let refused = check(
            &std::fs::metadata(&open).unwrap(),
            Owners::Me,
            Others::Nothing,
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "other users can read or write it (mode 0644): `chmod 600` it"
        );
    }

    #[test]
    fn a_file_of_another_user_is_refused_and_roots_only_where_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = foreign(dir.path());
        let meta = std::fs::metadata(&path).unwrap();
        let refused = check(&meta, Owners::Me, Others::Read).unwrap_err();
        assert!(matches!(refused, Untrusted::Foreign { .. }), "{refused}");
        assert!(
            refused.to_string().contains("whom this process runs as"),
            "{refused}"
        );
        let roots = std::fs::metadata("/etc/passwd").unwrap();
        assert!(check(&roots, Owners::MeOrRoot, Others::Read).is_ok());
        if own_uid() != 0 {
            assert!(check(&roots, Owners::Me, Others::Read).is_err());
        }
    }

    #[test]
    fn read_takes_a_checked_regular_file_up_to_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let own = file(dir.path(), "own", 0o600);
        assert_eq!(
            read(&own, 7, Owners::Me, Others::Nothing).unwrap(),
            b"content"
        );
        let over = read(&own, 6, Owners::Me, Others::Nothing).unwrap_err();
        assert_eq!(over.kind(), ErrorKind::InvalidData);
        let exposed = file(dir.path(), "exposed", 0o644);
        let refused = read(&exposed, 100, Owners::Me, Others::Nothing).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::PermissionDenied);
        assert!(matches!(kind(&refused), Some(Untrusted::Exposed { .. })));
        let refused = read(&foreign(dir.path()), 4096, Owners::Me, Others::Read).unwrap_err();
        assert!(matches!(kind(&refused), Some(Untrusted::Foreign { .. })));
    }

    /// A pipe at the path is refused at once: a reader that waited on it would hang
    /// until another user wrote to it.
    #[test]
    fn read_refuses_a_pipe_without_waiting_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let refused = read(&fifo, 100, Owners::Me, Others::Nothing).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
        let refused = read(dir.path(), 100, Owners::Me, Others::Nothing).unwrap_err();
        assert!(
            matches!(
                refused.kind(),
                ErrorKind::InvalidInput | ErrorKind::IsADirectory
            ),
            "{refused}"
        );
    }

    #[test]
    fn open_append_creates_a_private_file_and_checks_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.log");
        drop(open_append(&new, Owners::Me, Others::Read).unwrap());
        assert_eq!(
            std::fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o600
        );
        drop(open_append(&new, Owners::Me, Others::Read).unwrap());
        let writable = file(dir.path(), "writable.log", 0o666);
        let refused = open_append(&writable, Owners::Me, Others::Read).unwrap_err();
        assert!(
            matches!(kind(&refused), Some(Untrusted::Exposed { .. })),
            "{refused}"
        );
        let refused = open_append(&foreign(dir.path()), Owners::Me, Others::Read).unwrap_err();
        assert!(
            matches!(kind(&refused), Some(Untrusted::Foreign { .. })),
            "{refused}"
        );
        // A device of root's (`/dev/null`, as `/dev/stderr` may be) is written to.
        drop(open_append(Path::new("/dev/null"), Owners::Me, Others::Read).unwrap());
    }

    /// A symbolic link another user placed at the path (pointing at a file of ours,
    /// which the owner check of the target would pass) is refused; one of ours is
    /// followed.
    #[test]
    fn open_append_refuses_a_symbolic_link_of_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let ours = file(dir.path(), "ours", 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&ours, &link).unwrap();
        drop(open_append(&link, Owners::Me, Others::Read).unwrap());
        if own_uid() != 0 {
            return; // only root can give a link to another user
        }
        std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
        let refused = open_append(&link, Owners::Me, Others::Read).unwrap_err();
        assert!(
            matches!(kind(&refused), Some(Untrusted::Foreign { .. })),
            "{refused}"
        );
    }
}
