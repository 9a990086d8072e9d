//! Files and directories that hold a credential (a database, a key, a token cache, a
//! platform token), made readable by their owner alone from the moment they exist:
//! never created open and narrowed afterwards, never written through a file or a
//! symbolic link another user placed at the path; and the files this process relies
//! on, read or appended to only after checking who owns them and who else may
//! change them ([`check`], [`read`], [`open_append`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

#[cfg(unix)]
pub(crate) mod owners;
mod trust;

#[cfg(unix)]
pub use owners::{TRUSTED_OWNERS_ENV, own_uid};
pub use trust::{
    Others, Owners, StandardStream, Sticky, Untrusted, UntrustedPath, check, check_before_append,
    check_directories_of, check_directory, check_owner, open_append, read, read_to_string,
    standard_stream,
};

/// Creates `dir` and its missing parents with mode 0700. An existing directory is
/// left as it is (its mode is the caller's to check).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the directory `dir` with mode 0700; its parent must exist, and an existing
/// `dir` is an error (`ErrorKind::AlreadyExists`): for a directory of a name others
/// could have taken first (under `/tmp`), which must be this process's own.
pub fn create_new_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A new file at `path` with permissions `mode` from the moment it exists
/// (`O_CREAT | O_EXCL`: an existing file or symbolic link there is an error, never
/// written through).
pub fn create_new(path: &Path, mode: u32) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Writes `bytes` to a new file at `path` ([`create_new`], mode 0600), flushed to
/// disk. An existing path is refused (`ErrorKind::AlreadyExists`) and left alone; a
/// file this call created and could not fill is removed, since a partial key would
/// stop every later start and a partial token would be read as a whole one.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = create_new(path, 0o600)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Replaces the file at `path` whole with `bytes`, mode 0600: they are written to a
/// new file of a random name in the same directory ([`write_new`]), then renamed over
/// `path`, so that a reader sees the old content or the new, never a part. The new
/// file is removed when any step fails: a failed write leaves nothing behind, and the
/// next one does not find its name taken. The directory must exist.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_beside(path)?;
    // `write_new` removes what it made and could not fill, and leaves alone a path
    // that was there before it: only a failed rename leaves ours to remove.
    write_new(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// `.NAME.tmp-RANDOM` in `path`'s directory: hidden, and never the name of a file
/// another write left or is making. A path that does not end in a file name (`/`,
/// `..`) is refused: the temporary file would land elsewhere.
fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
    let Some(name) = path.file_name() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ));
    };
    let random = crate::random_token::<12>().map_err(std::io::Error::other)?;
    Ok(path.with_file_name(format!(".{}.tmp-{random}", name.to_string_lossy())))
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_replaced_file_is_the_owners_alone_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600, "the new file, not the old one's mode");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    /// A write that fails (here: the target is a directory, so the rename fails)
    /// removes its temporary file, and the next write to a good path succeeds.
    #[test]
    fn a_failed_replace_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("inside"), "x").unwrap();
        assert!(replace(&taken, b"new").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"], "no temporary file left");
        replace(&dir.path().join("free"), b"new").unwrap();
        // A path that names no file is refused before anything is written.
        let parent = dir.path().join("taken/..");
        let refused = replace(&parent, b"new").unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn creating_never_writes_through_an_existing_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "theirs").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for existing in [&target, &link] {
            let refused = create_new(existing, 0o600).unwrap_err();
            assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
            let refused = write_new(existing, b"ours").unwrap_err();
            assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");
        let made = dir.path().join("made");
        drop(create_new(&made, 0o600).unwrap());
        assert_eq!(mode(&made), 0o600);
    }

    #[test]
    fn a_created_directory_is_the_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a/b");
        create_dir(&inner).unwrap();
        assert_eq!(mode(&inner), 0o700);
        create_dir(&inner).unwrap();
    }
}
