//! Which user a connection to the loopback listener comes from, on Linux: the owner
//! of the connecting socket, as `/proc/net/tcp` (and `tcp6`, for a socket that
//! reached `127.0.0.1` as `::ffff:127.0.0.1`) lists it. Every user can read those
//! tables; the socket's owner is what the kernel recorded, not anything the peer says.

use std::net::SocketAddr;

/// The user whose socket connected from `peer` to `local`: the owner of the row of an
/// established connection (state `01`) with a socket (a non-zero inode) whose local
/// address is `peer` and remote address `local`. `None` when no such row is listed
/// (another system, a hardened `/proc`, a connection relayed from outside this
/// system's tables): then nobody is known to be another user.
pub(super) fn owner(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| owner_in(&text, peer, local))
}

/// The `uid` column of the established row whose local address is `from` and remote
/// address `to`.
fn owner_in(table: &str, from: SocketAddr, to: SocketAddr) -> Option<u32> {
    let (from, to) = (address(from)?, address(to)?);
    table.lines().skip(1).find_map(|row| {
        let columns: Vec<&str> = row.split_ascii_whitespace().collect();
        let upper = |i: usize| columns.get(i).map(|c| c.to_ascii_uppercase());
        let listed = upper(1).is_some_and(|c| from.contains(&c))
            && upper(2).is_some_and(|c| to.contains(&c))
            && columns.get(3) == Some(&"01")
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

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A connection that is closing (a row in another state, or without a socket)
    /// names nobody: its uid column is 0 whoever made it.
    #[test]
    fn only_an_established_connection_names_its_owner() {
        let closing = TCP.replacen(" 01 ", " 06 ", 1);
        assert_eq!(owner_in(&closing, at(0xA1B2), at(50000)), None);
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
        assert_eq!(owner(local, peer), Some(uid));
    }
}
