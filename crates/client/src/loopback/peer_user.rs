//! Which user a connection to the loopback listener comes from, on Linux: the owner
//! of the connecting socket, as `/proc/net/tcp` (and `tcp6`, for a socket that
//! reached `127.0.0.1` as `::ffff:127.0.0.1`) lists it. Every user can read those
//! tables; the socket's owner is what the kernel recorded, not anything the peer says.

use std::net::SocketAddr;
use std::sync::Arc;

/// Whose connections the sign-in listener reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BrowserUsers {
    /// This user's and root's (root could read this process anyway; the relays of
    /// WSL and `kubectl port-forward` connect as root), where the kernel's tables say.
    #[default]
    Own,
    /// These users' too (numeric ids): a browser that runs as another user (`sudo`, a
    /// container).
    Also(Arc<[u32]>),
    /// Anyone's, unlisted connections included (a relay from outside this system's
    /// tables, such as WSL's mirrored networking): then only the one-time address
    /// keeps another user's code out.
    Any,
}

/// Whether `allowed` lets through a connection of which the tables say `peer`, this
/// process running as `own`; else the owner they name (`None`: unlisted, as a socket
/// another user closed right after sending is).
pub(super) fn admits(allowed: &BrowserUsers, own: u32, peer: Peer) -> Result<(), Option<u32>> {
    match (allowed, peer) {
        (BrowserUsers::Any, _) | (_, Peer::Unknown) => Ok(()),
        (_, Peer::Unlisted) => Err(None),
        (_, Peer::Owner(owner)) if owner == own || owner == 0 => Ok(()),
        (BrowserUsers::Also(users), Peer::Owner(owner)) if users.contains(&owner) => Ok(()),
        (_, Peer::Owner(owner)) => Err(Some(owner)),
    }
}

/// What the kernel's tables say of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    /// The tables cannot be read (another system, a hardened `/proc`).
    Unknown,
    /// They can, and list no socket that connected from the peer's address: it is
    /// closed already (orphaned: no file holds it), or outside this system.
    Unlisted,
    /// The user owning the socket that connected.
    Owner(u32),
}

/// What the tables say of the connection from `peer` to `local`: the owner of the row
/// whose local address is `peer` and remote address `local`, with a socket still held
/// by a process (a non-zero inode), in whatever state: one that half-closed its side
/// after sending (FIN_WAIT) is still its owner's.
///
/// The tables are read twice before a connection counts as unlisted: they are read
/// in pieces, and a row can be missed while other sockets come and go.
pub(super) fn lookup(local: SocketAddr, peer: SocketAddr) -> Peer {
    let first = lookup_once(local, peer);
    if first == Peer::Unlisted {
        return lookup_once(local, peer);
    }
    first
}

fn lookup_once(local: SocketAddr, peer: SocketAddr) -> Peer {
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            // No such table here, or not ours to read: nothing is known from it.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                continue;
            }
            // Out of descriptors or memory: the table exists but said nothing.
            Err(_) => {
                readable = true;
                continue;
            }
        };
        readable = true;
        if let Some(owner) = owner_in(&text, peer, local) {
            return Peer::Owner(owner);
        }
    }
    if readable {
        Peer::Unlisted
    } else {
        Peer::Unknown
    }
}

/// The `uid` column of the row, held by a socket, whose local address is `from` and
/// remote address `to`.
fn owner_in(table: &str, from: SocketAddr, to: SocketAddr) -> Option<u32> {
    let (from, to) = (address(from)?, address(to)?);
    table.lines().skip(1).find_map(|row| {
        let columns: Vec<&str> = row.split_ascii_whitespace().collect();
        let upper = |i: usize| columns.get(i).map(|c| c.to_ascii_uppercase());
        let listed = upper(1).is_some_and(|c| from.contains(&c))
            && upper(2).is_some_and(|c| to.contains(&c))
            && columns.get(9).is_some_and(|inode| *inode != "0");
        listed.then(|| columns.get(7)?.parse().ok()).flatten()
    })
}

/// How `/proc/net/tcp` and `tcp6` write an IPv4 address and port: each 32-bit word of
/// the address as the kernel stores it, printed as a number in this machine's byte
/// order, in hex; the port in hex. Both forms: IPv4, and IPv4-mapped IPv6.
fn address(addr: SocketAddr) -> Option<[String; 2]> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    let word = u32::from_ne_bytes(v4.ip().octets());
    let mapped = u32::from_ne_bytes([0, 0, 0xff, 0xff]);
    let port = v4.port();
    Some([
        format!("{word:08X}:{port:04X}"),
        format!("0000000000000000{mapped:08X}{word:08X}:{port:04X}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 20 4 30 10 -1
   1: 0100007F:C350 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:D431 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000  4242        0 777 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn this_user_root_and_the_allowed_ones_are_let_through() {
        let also = BrowserUsers::Also(Arc::from([1001]));
        for (allowed, peer, admitted) in [
            (BrowserUsers::Own, Peer::Owner(1000), Ok(())),
            (BrowserUsers::Own, Peer::Owner(0), Ok(())),
            (BrowserUsers::Own, Peer::Unknown, Ok(())),
            (BrowserUsers::Own, Peer::Owner(1001), Err(Some(1001))),
            (BrowserUsers::Own, Peer::Unlisted, Err(None)),
            (also.clone(), Peer::Owner(1001), Ok(())),
            (also.clone(), Peer::Owner(1002), Err(Some(1002))),
            (also.clone(), Peer::Owner(0), Ok(())),
            (also, Peer::Unlisted, Err(None)),
            (BrowserUsers::Any, Peer::Owner(1002), Ok(())),
            (BrowserUsers::Any, Peer::Unlisted, Ok(())),
        ] {
            assert_eq!(
                admits(&allowed, 1000, peer),
                admitted,
                "{allowed:?} {peer:?}"
            );
        }
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A socket no process holds any more (closed: inode 0) names nobody; one that
    /// only half-closed its side after sending still names its owner.
    #[test]
    fn a_held_socket_names_its_owner_in_any_state() {
        let half_closed = TCP.replacen(" 01 ", " 05 ", 1);
        assert_eq!(owner_in(&half_closed, at(0xA1B2), at(50000)), Some(1000));
        let orphaned = TCP.replacen(" 12345 ", " 0 ", 1);
        assert_eq!(owner_in(&orphaned, at(0xA1B2), at(50000)), None);
    }

    #[test]
    fn the_owner_is_the_connecting_sockets() {
        // 127.0.0.1:41394 (0xA1B2) connected to the listener at 127.0.0.1:50000.
        assert_eq!(owner_in(TCP, at(0xA1B2), at(50000)), Some(1000));
        // The accepted side of the same connection: the listener's user.
        assert_eq!(owner_in(TCP, at(50000), at(0xA1B2)), Some(0));
        assert_eq!(owner_in(TCP, at(1), at(50000)), None);
        // An IPv6 socket that reached 127.0.0.1 through a mapped address.
        assert_eq!(owner_in(TCP6, at(0xD431), at(50000)), Some(4242));
    }

    /// On Linux, a connection this test makes is found, as this user's.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_this_users() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        let uid = mcp_auth_core::private_file::own_uid();
        let local = listener.local_addr().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(lookup(local, peer), Peer::Owner(uid));
        assert_eq!(lookup(local, at(1)), Peer::Unlisted);
    }
}
