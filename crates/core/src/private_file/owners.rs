//! Who this process is, for [`super::check`]: its user, the owners an operator added
//! ([`TRUSTED_OWNERS_ENV`]), and whether a group is the user's own private group.

use std::sync::OnceLock;

/// The environment variable naming more users (numeric ids, comma-separated) whose
/// files are trusted where root's are: configurations, key sets, CA files, keys and
/// token files, not the secrets this process keeps itself. For a container that
/// runs as one user and is given files of another (a bind mount keeps the host's
/// owner; a sidecar writes a token file as its own user).
pub const TRUSTED_OWNERS_ENV: &str = "MCP_AUTH_TRUSTED_FILE_OWNERS";

/// This process's effective user id.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The users of [`TRUSTED_OWNERS_ENV`], read once. An entry that is not a number is
/// left out, and said so once.
pub(super) fn trusted_owners() -> &'static [u32] {
    static OWNERS: OnceLock<Vec<u32>> = OnceLock::new();
    OWNERS.get_or_init(|| {
        let Ok(text) = std::env::var(TRUSTED_OWNERS_ENV) else {
            return Vec::new();
        };
        let mut owners = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.parse() {
                Ok(uid) => owners.push(uid),
                Err(_) => tracing::warn!(
                    entry,
                    "{TRUSTED_OWNERS_ENV}: not a numeric user id; left out"
                ),
            }
        }
        owners
    })
}

/// Whether `gid` is this user's own private group: the process's effective group,
/// named as the user is, with no other member, and no other user's primary group
/// (`/etc/passwd`, `/etc/group`). Debian, Ubuntu and Fedora give each user such a
/// group and a umask of 002, so a user's files are group-writable by no one else.
/// Users and groups from elsewhere (LDAP) are not looked up: then `false`.
pub(super) fn is_own_private_group(gid: u32) -> bool {
    static OWN: OnceLock<Option<u32>> = OnceLock::new();
    *OWN.get_or_init(|| {
        own_private_group(
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            &std::fs::read_to_string("/etc/group").unwrap_or_default(),
            own_uid(),
            rustix::process::getegid().as_raw(),
        )
    }) == Some(gid)
}

/// The private group of `uid` whose effective group is `egid`, from the text of
/// `/etc/passwd` and `/etc/group`.
fn own_private_group(passwd: &str, group: &str, uid: u32, egid: u32) -> Option<u32> {
    let fields = |line: &str| line.split(':').map(str::to_owned).collect::<Vec<_>>();
    let users: Vec<Vec<String>> = passwd
        .lines()
        .map(fields)
        .filter(|f| f.len() >= 4)
        .collect();
    let name = users.iter().find(|f| f[2].parse() == Ok(uid))?[0].clone();
    let others_primary = users
        .iter()
        .any(|f| f[3].parse() == Ok(egid) && f[0] != name);
    let entries: Vec<Vec<String>> = group
        .lines()
        .map(fields)
        .filter(|f| f.len() >= 4 && f[2].parse() == Ok(egid))
        .collect();
    let private = !entries.is_empty()
        && entries.iter().all(|entry| {
            entry[0] == name
                && entry[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .all(|m| m == name)
        });
    // Group 0 is never one user's: images made for arbitrary users (OpenShift) give
    // them group 0 and make their files group-writable.
    (egid != 0 && private && !others_primary).then_some(egid)
}

#[cfg(test)]
mod tests {
    use super::own_private_group;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        alice:x:1000:1000::/home/alice:/bin/bash\n\
        bob:x:1001:100::/home/bob:/bin/bash\n\
        carol:x:1002:100::/home/carol:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nusers:x:100:\nshared:x:2000:alice,bob\n";

    #[test]
    fn only_a_group_of_the_user_alone_is_their_private_group() {
        assert_eq!(own_private_group(PASSWD, GROUP, 1000, 1000), Some(1000));
        // A group others have as their primary one, or as members, or of another name.
        assert_eq!(own_private_group(PASSWD, GROUP, 1001, 100), None);
        assert_eq!(own_private_group(PASSWD, GROUP, 1000, 2000), None);
        let renamed = GROUP.replace("alice:x:1000:", "staff:x:1000:");
        assert_eq!(own_private_group(PASSWD, &renamed, 1000, 1000), None);
        let joined = GROUP.replace("alice:x:1000:", "alice:x:1000:bob");
        assert_eq!(own_private_group(PASSWD, &joined, 1000, 1000), None);
        // Unknown users or groups: not private.
        assert_eq!(own_private_group(PASSWD, GROUP, 4242, 1000), None);
        // A second entry of the same group with members; root's group.
        let twice = format!("{GROUP}alice2:x:1000:bob\n");
        assert_eq!(own_private_group(PASSWD, &twice, 1000, 1000), None);
        assert_eq!(own_private_group(PASSWD, GROUP, 0, 0), None);
        assert_eq!(own_private_group("", "", 1000, 1000), None);
    }
}
