//! Redis servers of the test's own, on free ports of 127.0.0.1, for a test that must
//! kill or restart Redis (the system Redis of `MCP_AUTH_TEST_REDIS` is shared with
//! other tests and is never stopped): one server ([`PrivateRedis`]) or a Redis Cluster
//! of several primaries ([`PrivateRedisCluster`]).
//!
//! Each server runs `redis-server` in a temporary directory without persistence
//! (`--save '' --appendonly no`), as many deployments run a replay cache: a restart
//! empties it. A cluster node keeps its identity and slots across a restart (its
//! `nodes.conf` stays in the directory). Servers are killed and their directories
//! removed when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One `redis-server` this test started; killed and removed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: tempfile::TempDir,
    port: u16,
    cluster_port: Option<u16>,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server on a free port, or returns `None`, said loudly on standard
    /// error, when `redis-server` or `redis-cli` is not installed. Panics when they are
    /// and the server does not answer.
    pub fn start(test: &str) -> Option<Self> {
        if !installed(test) {
            return None;
        }
        Some(Self::spawn(false))
    }

    fn spawn(cluster: bool) -> Self {
        let mut server = Self {
            dir: tempfile::tempdir().unwrap(),
            port: stable_port(),
            cluster_port: cluster.then(stable_port),
            child: None,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server at once (`SIGKILL`: no shutdown, everything in memory lost),
    /// waiting until the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and directory, empty, waiting until
    /// it answers `PING`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis on {} still runs", self.port);
        let mut command = Command::new("redis-server");
        command
            .current_dir(self.dir.path())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &self.dir.path().to_string_lossy()])
            .args(["--logfile", &self.log().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(cluster_port) = self.cluster_port {
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &cluster_port.to_string()])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "1000"])
                // The primaries still up keep serving their slots while one is down.
                .args(["--cluster-require-full-coverage", "no"]);
        }
        self.child = Some(command.spawn().unwrap());
        let deadline = Instant::now() + START_TIMEOUT;
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "redis-server on {} did not answer (exit: {exited:?}); log:\n{}",
                self.port,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli -p <port> <args>`: its standard output, trimmed, or `None` when the
    /// server did not answer.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The directory the server runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of primaries without replicas, each a [`PrivateRedis`] on free
/// ports (`--cluster-require-full-coverage no`, so the others keep serving while
/// one is down; `--cluster-node-timeout 1000`).
#[derive(Debug)]
pub struct PrivateRedisCluster {
    nodes: Vec<PrivateRedis>,
}

impl PrivateRedisCluster {
    /// Starts `primaries` servers, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`; or returns `None`, said
    /// loudly, when Redis is not installed.
    pub fn start(test: &str, primaries: usize) -> Option<Self> {
        if !installed(test) {
            return None;
        }
        let nodes: Vec<PrivateRedis> = (0..primaries).map(|_| PrivateRedis::spawn(true)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        Some(cluster)
    }

    /// `redis-cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...`: every node as a seed.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis-cluster://{}", nodes.join(","))
    }

    /// The nodes, in the order they were started.
    pub fn nodes(&self) -> &[PrivateRedis] {
        &self.nodes
    }

    /// The node `index`, to kill or restart.
    pub fn node_mut(&mut self, index: usize) -> &mut PrivateRedis {
        &mut self.nodes[index]
    }

    /// Waits (up to 30 s) until every running node reports `cluster_state:ok` and
    /// sees every other running node connected.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.nodes.iter().filter(|n| n.is_running()).all(|n| {
                n.cli(&["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
                    && n.cli(&["CLUSTER", "NODES"]).is_some_and(|nodes| {
                        !nodes.contains("fail") && !nodes.contains("disconnected")
                    })
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster never reached cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The cluster slot of `key` (`CLUSTER KEYSLOT`, asked of a running node).
    pub fn slot_of(&self, key: &str) -> u16 {
        let node = self.nodes.iter().find(|n| n.is_running()).unwrap();
        node.cli(&["CLUSTER", "KEYSLOT", key])
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The index of the node that serves `key`'s slot (from `CLUSTER NODES` of a
    /// running node).
    pub fn owner_of(&self, key: &str) -> usize {
        let slot = self.slot_of(key);
        let node = self.nodes.iter().find(|n| n.is_running()).unwrap();
        let table = node.cli(&["CLUSTER", "NODES"]).unwrap();
        for line in table.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(address) = fields.get(1) else {
                continue;
            };
            let port: u16 = address
                .split(['@', ','])
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let serves = fields.iter().skip(8).any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                match (low.parse::<u16>(), high.parse::<u16>()) {
                    (Ok(low), Ok(high)) => (low..=high).contains(&slot),
                    _ => false,
                }
            });
            if serves && let Some(index) = self.nodes.iter().position(|n| n.port == port) {
                return index;
            }
        }
        panic!("no node serves slot {slot}:\n{table}");
    }
}

/// A free port of 127.0.0.1 below Linux's ephemeral range (32768–60999): a server
/// killed and restarted must find its port free again, and a port of the ephemeral
/// range may meanwhile become the source port of some outgoing connection (seen:
/// the restarted node could not bind).
fn stable_port() -> u16 {
    use std::hash::BuildHasher as _;
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0u32..1000 {
        let port = 20_000 + u16::try_from(random.hash_one(attempt) % 12_000).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// Whether `redis-server` and `redis-cli` run; says SKIPPED loudly when not.
fn installed(test: &str) -> bool {
    let runs = |binary: &str| {
        Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs("redis-server") && runs("redis-cli") {
        return true;
    }
    eprintln!("!!! {test}: SKIPPED (redis-server / redis-cli are not installed)");
    false
}
