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
    /// This process's user or root: a directory, a link or a pipe on the way to a file.
    MeOrRoot,
    /// This process's user, root, or a user of `MCP_AUTH_TRUSTED_FILE_OWNERS`
    /// ([`super::TRUSTED_OWNERS_ENV`]): a file an administrator, a platform or another
    /// program provides (a configuration under `/etc`, a platform's projected token, a
    /// host's bind mount in a container, a sidecar's token file).
    Provided,
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
    #[error(
        "it belongs to user {owner}, not to user {uid}, whom this process runs as{}: give it to \
         that user (`chown`){}",
        if *.owners != Owners::Me && *.uid != 0 { " (or root)" } else { "" },
        if *.owners == Owners::Provided {
            ", or trust its owner with MCP_AUTH_TRUSTED_FILE_OWNERS"
        } else {
            ""
        }
    )]
    Foreign {
        /// Its owner.
        owner: u32,
        /// This process's effective user.
        uid: u32,
        /// Who would have been accepted.
        owners: Owners,
    },
    /// The directory it is in lets other users add or replace files there.
    #[error(
        "other users can add or replace files in this directory (mode {mode:04o}): keep the \
         file in a directory only this user or root can write to"
    )]
    OpenDirectory {
        /// The directory's permission bits.
        mode: u32,
    },
    /// It has more than one name: another user may have linked a file of ours here.
    #[error("it has {links} names (hard links): give it a file of its own")]
    HardLinked {
        /// How many names it has.
        links: u64,
    },
}

/// Checks who owns `file` (the metadata of an open file) and what others may do with
/// it. For [`Others::Read`], the group's write bit does not count when the group is
/// the user's own private group (one group per user and a umask of 002, as Debian,
/// Ubuntu and Fedora set up); a secret ([`Others::Nothing`]) is refused with any group
/// bit, as OpenSSH refuses a private key. Always passes where Unix ownership and
/// modes do not exist.
pub fn check(file: &Metadata, owners: Owners, others: Others) -> Result<(), Untrusted> {
    check_owner(file, owners)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = file.mode() & 0o7777;
        let (exposed, can, fix) = match others {
            Others::Nothing if file.is_dir() => (mode & 0o077 != 0, "read or write", "700"),
            Others::Nothing => (mode & 0o077 != 0, "read or write", "600"),
            Others::Read => (others_may_write(file), "write", "go-w"),
        };
        if exposed {
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
        let uid = super::own_uid();
        let owner = file.uid();
        let trusted = owner == uid
            || match owners {
                Owners::Me => false,
                Owners::MeOrRoot => owner == 0,
                Owners::Provided => owner == 0 || super::owners::trusted_owners().contains(&owner),
            };
        if !trusted {
            return Err(Untrusted::Foreign { owner, uid, owners });
        }
    }
    #[cfg(not(unix))]
    let _ = (file, owners);
    Ok(())
}

/// Whether a user other than the owner may write to `file`: its group (unless the
/// group is the owner's own private one) or everyone.
#[cfg(unix)]
fn others_may_write(file: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let mut mask = 0o022;
    if super::owners::is_own_private_group(file.gid()) {
        mask &= 0o007;
    }
    file.mode() & mask != 0
}

/// Whether a sticky directory (`/tmp`, where other users cannot replace or remove
/// what is ours) passes [`check_directory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sticky {
    /// It does: for a file this process creates or opens itself.
    Passes,
    /// It does not: for files another program makes there after the check (SQLite's
    /// `-wal`, which another user could make first, as a link to a file of ours).
    Refused,
}

/// Checks a directory files of this process are in: owned by this user or root, and
/// no other user may add or replace files in it (its group may, when the group is the
/// user's own), unless it is sticky and `sticky` lets that pass.
pub fn check_directory(dir: &Metadata, sticky: Sticky) -> Result<(), Untrusted> {
    check_owner(dir, Owners::MeOrRoot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = dir.mode() & 0o7777;
        let sticky_passes = sticky == Sticky::Passes && mode & 0o1000 != 0;
        if others_may_write(dir) && !sticky_passes {
            return Err(Untrusted::OpenDirectory { mode });
        }
    }
    #[cfg(not(unix))]
    let _ = sticky;
    Ok(())
}

/// Reads the regular file at `path`, at most `max` bytes, after [`check`]ing it as
/// opened; a symbolic link at the path must be this user's or root's (another user's
/// could point at any file root owns). The errors are `std::io::Error`s that say what
/// is wrong (the caller names the file): `PermissionDenied` carrying an [`Untrusted`],
/// `InvalidInput` for what is not a regular file (a pipe or a device is refused
/// without waiting on it), `InvalidData` for a file over `max`.
pub fn read(path: &Path, max: u64, owners: Owners, others: Others) -> std::io::Result<Vec<u8>> {
    let link = std::fs::symlink_metadata(path)?;
    if link.file_type().is_symlink() {
        let link_owners = match owners {
            Owners::Provided => Owners::Provided,
            Owners::Me | Owners::MeOrRoot => Owners::MeOrRoot,
        };
        check_owner(&link, link_owners).map_err(untrusted)?;
    }
    let file = open_regular(path)?;
    check(&file.metadata()?, owners, others).map_err(untrusted)?;
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

/// An [`Untrusted`] as the I/O error the readers and openers return.
fn untrusted(problem: Untrusted) -> Error {
    Error::new(ErrorKind::PermissionDenied, problem)
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
/// waited on (reading a regular file never blocks either way), and without making a
/// terminal the controlling one.
fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(flags(
            rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY,
        ));
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

/// `flags` as `OpenOptionsExt::custom_flags` takes them (they are small constants).
#[cfg(unix)]
fn flags(flags: rustix::fs::OFlags) -> i32 {
    flags.bits().cast_signed()
}

/// One of this process's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardStream {
    /// Standard output (descriptor 1).
    Out,
    /// Standard error (descriptor 2).
    Err,
}

/// The standard stream `path` names, exactly (`/dev/stdout`, `/dev/stderr`,
/// `/dev/fd/1`, `/dev/fd/2`, `/proc/self/fd/1`, `/proc/self/fd/2`): what it reaches (a
/// pipe `sudo … | tee` made, a terminal, the journal's socket) is what the process was
/// started with, whoever owns it, and is written through the descriptor itself, never
/// reopened by name.
pub fn standard_stream(path: &Path) -> Option<StandardStream> {
    let text = path.to_str()?;
    match text {
        "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => Some(StandardStream::Out),
        "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => Some(StandardStream::Err),
        _ => None,
    }
}

/// A new descriptor of `stream` (close-on-exec), as a file to write to.
#[cfg(unix)]
fn duplicate(stream: StandardStream) -> std::io::Result<File> {
    use std::os::fd::AsFd as _;
    let fd = match stream {
        StandardStream::Out => std::io::stdout().as_fd().try_clone_to_owned()?,
        StandardStream::Err => std::io::stderr().as_fd().try_clone_to_owned()?,
    };
    Ok(File::from(fd))
}

/// Opens the file at `path` to append to it (`O_APPEND`, so that every write goes to
/// its end, whatever else truncated or wrote it).
///
/// - A missing file is created exclusively (`O_EXCL`), mode 0600.
/// - Its directory must be this user's or root's, and no other user may add or
///   replace files in it (unless it is sticky, as `/tmp` is): else a link or a file
///   could be swapped in between the checks below and the open.
/// - An existing regular file is opened without following a symbolic link
///   (`O_NOFOLLOW`), [`check`]ed as opened, and must have one name (another user's
///   hard link to a file of ours would pass the owner check).
/// - Every symbolic link the path's last part leads through must be this user's or
///   root's, not a user's who could point it at a file of ours (`~/.bashrc`), and lead
///   into a directory no other user may add files to; what the last one leads to is
///   opened by its own name. (Directories on the way are checked where they lead, not
///   as links: the path is the operator's.)
/// - What is not a regular file (a pipe, a terminal) is opened as it is, blocking as a
///   pipe does until it has a reader; it must be this user's or root's, checked before
///   and again after opening, and a pipe must be writable by no one else (who could
///   add lines to what its reader takes for ours).
/// - A standard stream ([`standard_stream`]) is the process's own descriptor,
///   duplicated, whatever it reaches.
///
/// The errors are as [`read`]'s.
pub fn open_append(path: &Path, owners: Owners, others: Others) -> std::io::Result<File> {
    #[cfg(unix)]
    if let Some(stream) = standard_stream(path) {
        return duplicate(stream);
    }
    refuse_other_descriptors(path)?;
    check_directory_of(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut created = options.clone();
        created.create_new(true).mode(0o600);
        match created.open(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    // What the path leads to, every link on the way checked, opened by its own name
    // without following a link: one swapped in meanwhile is refused (`ELOOP`).
    let resolved = resolve_links(path)?;
    let target = std::fs::symlink_metadata(&resolved)?;
    let regular = target.is_file();
    if !regular {
        check_not_regular(&target).map_err(untrusted)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut open_flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NOCTTY;
        if regular {
            // (A pipe swapped in meanwhile must not block the open.)
            open_flags |= rustix::fs::OFlags::NONBLOCK;
        }
        options.custom_flags(flags(open_flags));
    }
    let file = options.open(&resolved)?;
    let opened = file.metadata()?;
    if opened.is_file() != regular || opened.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it was replaced while opened",
        ));
    }
    if !regular {
        check_not_regular(&opened).map_err(untrusted)?;
        return Ok(file);
    }
    check(&opened, owners, others).map_err(untrusted)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if opened.nlink() > 1 {
            return Err(untrusted(Untrusted::HardLinked {
                links: opened.nlink(),
            }));
        }
    }
    Ok(file)
}

/// The checks [`open_append`] makes of what is at `path` before opening it, for a
/// pipe or a device that will be opened later (opening a pipe waits for a reader):
/// its directory, every symbolic link on the way, and its own owner (and a pipe's
/// mode).
pub fn check_before_append(path: &Path) -> std::io::Result<()> {
    if standard_stream(path).is_some() {
        return Ok(());
    }
    refuse_other_descriptors(path)?;
    check_directory_of(path)?;
    let target = std::fs::symlink_metadata(resolve_links(path)?)?;
    if !target.is_file() {
        check_not_regular(&target).map_err(untrusted)?;
    }
    Ok(())
}

/// Refuses a descriptor other than the standard streams named by path (`/dev/fd/3`,
/// `/proc/self/fd/63` of a process substitution): what it leads to is not a path to
/// check, and this process did not open it for this.
fn refuse_other_descriptors(path: &Path) -> std::io::Result<()> {
    let descriptor = ["/dev/fd", "/proc/self/fd", "/proc/thread-self/fd"]
        .iter()
        .any(|dir| path.parent() == Some(Path::new(dir)));
    if descriptor {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a descriptor other than standard output or error: give a file or a pipe by its path",
        ));
    }
    Ok(())
}

/// The most symbolic links followed from one path.
const MAX_LINKS: usize = 8;

/// Follows the symbolic links at `path` one at a time, each one this user's or root's
/// (not a user's who could point it at a file of ours) and each one's target in a
/// directory [`check_directory`] passes (where no other user could swap it), to what
/// the last one leads to. `path`'s own directory is the caller's to check.
fn resolve_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let found = std::fs::symlink_metadata(&current)?;
        if !found.file_type().is_symlink() {
            return Ok(current);
        }
        check_owner(&found, Owners::MeOrRoot).map_err(|problem| in_path(&current, problem))?;
        let target = std::fs::read_link(&current)?;
        current = match current.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
        check_directory_of(&current)?;
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symbolic links lead from it"),
    ))
}

/// [`check_directory`] of the directory `path` is in.
fn check_directory_of(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    check_directory(&std::fs::metadata(dir)?, Sticky::Passes)
        .map_err(|problem| in_path(dir, problem))
}

/// For a file another program reads again after this process checked it (sqlx's
/// PostgreSQL TLS files, read for each connection): [`check_directory`] of the
/// directory it is named in, and of the directory each symbolic link on the way leads
/// into, each link this user's or root's ([`resolve_links`]), so that no other user can
/// swap the file there later. The directories above those are not walked (a directory
/// others can write higher up would let them rename a whole branch). A read-only mount
/// is no exception: `statvfs` says how this process sees a directory (systemd's
/// `ProtectSystem=strict` makes most of them read-only), not whether others can write
/// it. The file itself is the caller's to check ([`read`]).
pub fn check_directories_of(path: &Path) -> std::io::Result<()> {
    check_directory_of(path)?;
    resolve_links(path).map(drop)
}

/// An [`Untrusted`] of another path than the one the caller names (a directory on the
/// way, a link): said with that path.
fn in_path(path: &Path, problem: Untrusted) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        UntrustedPath {
            path: path.to_path_buf(),
            problem,
        },
    )
}

/// An [`Untrusted`] of a directory or a link on the way to the file the caller named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", .path.display())]
pub struct UntrustedPath {
    /// The directory or link.
    pub path: std::path::PathBuf,
    /// What is wrong with it.
    pub problem: Untrusted,
}

/// A pipe or a device: this user's or root's, and a pipe writable by no one else.
fn check_not_regular(found: &Metadata) -> Result<(), Untrusted> {
    #[cfg(unix)]
    let fifo = std::os::unix::fs::FileTypeExt::is_fifo(&found.file_type());
    #[cfg(not(unix))]
    let fifo = false;
    if fifo {
        check(found, Owners::MeOrRoot, Others::Read)
    } else {
        check_owner(found, Owners::MeOrRoot)
    }
}

#[cfg(all(test, unix))]
mod tests;
