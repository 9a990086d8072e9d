//! The checks of `private_file::trust` against real files, pipes, links and
//! directories (some given to another user where this process is root).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use super::*;
use crate::private_file::own_uid;

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
    let inner = e.get_ref()?;
    inner.downcast_ref::<Untrusted>().cloned().or_else(|| {
        inner
            .downcast_ref::<UntrustedPath>()
            .map(|p| p.problem.clone())
    })
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
        let group_bits = mode & 0o070 != 0;
        if own_uid() == 0 {
            // A group of others, not root's own: its bits count.
            std::os::unix::fs::lchown(&path, None, Some(4243)).unwrap();
        } else if group_bits {
            eprintln!("SKIPPED: {mode:o}: a group of others needs root to be given");
            continue;
        }
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
    // The user's own private group (one group per user, umask 002): its bits do
    // not count (root's group 0 is never one).
    let shared = file(dir.path(), "own-group", 0o660);
    let meta = std::fs::metadata(&shared).unwrap();
    if crate::private_file::owners::is_own_private_group(std::os::unix::fs::MetadataExt::gid(&meta))
    {
        assert!(check(&meta, Owners::Me, Others::Read).is_ok());
        assert!(
            check(&meta, Owners::Me, Others::Nothing).is_err(),
            "a secret: never"
        );
    } else {
        eprintln!("SKIPPED: this user's files are not in a private group of theirs");
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
    // A device of root's (`/dev/null`) is written to.
    drop(open_append(Path::new("/dev/null"), Owners::Me, Others::Read).unwrap());
    if own_uid() != 0 {
        eprintln!("SKIPPED: another user's file needs root to be made");
    } else {
        // (Without root, opening another user's file fails before any check.)
        let refused = open_append(&foreign(dir.path()), Owners::Me, Others::Read).unwrap_err();
        assert!(
            matches!(kind(&refused), Some(Untrusted::Foreign { .. })),
            "{refused}"
        );
    }
}

/// Every write goes to the end, also in a file it created: after the file is cut
/// back (as the audit sink does after a failed write, or a `copytruncate`), the
/// next line starts at the new end, not after a run of zero bytes.
#[test]
fn open_append_appends_to_a_file_it_created() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut file = open_append(&path, Owners::Me, Others::Read).unwrap();
    file.write_all(b"first\n").unwrap();
    file.set_len(0).unwrap();
    file.write_all(b"second\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
}

/// A directory others may add files to (not sticky), and a file with a second
/// name, are refused; a sticky directory (`/tmp`) is not.
#[test]
fn open_append_refuses_an_open_directory_and_a_hard_link() {
    let top = tempfile::tempdir().unwrap();
    let open = top.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = open_append(&open.join("a.log"), Owners::Me, Others::Read).unwrap_err();
    assert!(
        matches!(
            kind(&refused),
            Some(Untrusted::OpenDirectory { mode: 0o777 })
        ),
        "{refused}"
    );
    assert!(!open.join("a.log").exists(), "nothing created there");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    drop(open_append(&open.join("a.log"), Owners::Me, Others::Read).unwrap());

    let ours = file(top.path(), "ours", 0o600);
    std::fs::hard_link(&ours, top.path().join("second-name")).unwrap();
    let refused =
        open_append(&top.path().join("second-name"), Owners::Me, Others::Read).unwrap_err();
    assert!(
        matches!(kind(&refused), Some(Untrusted::HardLinked { links: 2 })),
        "{refused}"
    );
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
        eprintln!("SKIPPED: only root can give a link to another user");
        return;
    }
    std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
    let refused = open_append(&link, Owners::Me, Others::Read).unwrap_err();
    assert!(
        matches!(kind(&refused), Some(Untrusted::Foreign { .. })),
        "{refused}"
    );
}

/// A pipe of this user's that others may write to is refused for appending (they
/// could add lines its reader takes for ours); one only this user writes is not.
#[test]
fn a_pipe_others_can_write_to_is_refused() {
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
    check_before_append(&fifo).unwrap();
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622)).unwrap();
    let refused = check_before_append(&fifo).unwrap_err();
    assert!(
        matches!(kind(&refused), Some(Untrusted::Exposed { .. })),
        "{refused}"
    );
}

/// The standard streams are named exactly; nothing that only starts like one.
#[test]
fn only_the_standard_streams_names_are_theirs() {
    for (path, stream) in [
        ("/dev/stdout", Some(StandardStream::Out)),
        ("/proc/self/fd/1", Some(StandardStream::Out)),
        ("/dev/fd/2", Some(StandardStream::Err)),
        ("/dev/stderr", Some(StandardStream::Err)),
        ("/proc/self/fd/../../../tmp/x.log", None),
        ("/proc/self/fd/3", None),
        ("/dev/fd/63", None),
        ("stderr", None),
    ] {
        assert_eq!(standard_stream(Path::new(path)), stream, "{path}");
    }
    // Another descriptor by path is refused, saying so, rather than followed.
    let refused = open_append(Path::new("/dev/fd/63"), Owners::Me, Others::Read).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
    assert!(refused.to_string().contains("descriptor"), "{refused}");
}

/// Links of ours are followed one at a time: to a file of ours in a directory any
/// user may add files to (where the file could be swapped for a link to another
/// of ours), the append is refused, naming that directory; through two links into
/// a private directory, it is not.
#[test]
fn every_link_on_the_way_leads_into_a_checked_directory() {
    let top = tempfile::tempdir().unwrap();
    let open = top.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let exposed = file(&open, "a.log", 0o600);
    let link = top.path().join("link.log");
    std::os::unix::fs::symlink(&exposed, &link).unwrap();
    let refused = open_append(&link, Owners::Me, Others::Read).unwrap_err();
    assert!(
        matches!(kind(&refused), Some(Untrusted::OpenDirectory { .. })),
        "{refused}"
    );
    assert!(
        refused.to_string().contains(&*open.to_string_lossy()),
        "{refused}"
    );

    let private = top.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = file(&private, "b.log", 0o600);
    let first = top.path().join("first.log");
    let second = private.join("second.log");
    // A relative target (read against the link's own directory), then an absolute one.
    std::os::unix::fs::symlink("b.log", &second).unwrap();
    std::os::unix::fs::symlink(&second, &first).unwrap();
    use std::io::Write as _;
    let mut appended = open_append(&first, Owners::Me, Others::Read).unwrap();
    appended.write_all(b"!").unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "content!");
}
