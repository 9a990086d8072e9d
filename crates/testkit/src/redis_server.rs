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
//!
//! [`PrivateRedis::start_tls`] starts one that speaks only TLS (`--port 0
//! --tls-port`), its certificate (for `127.0.0.1` and `localhost`) signed by a
//! [`TestCa`] made at test time with the `openssl` command;
//! [`PrivateRedisCluster::start_tls`] a cluster whose nodes speak only TLS, to clients
//! and to each other (`--tls-cluster yes`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One `redis-server` this test started; killed and removed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: tempfile::TempDir,
    port: u16,
    cluster_port: Option<u16>,
    /// TLS only: the CA that signed the server's certificate.
    tls: Option<Arc<TestCa>>,
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
        Some(Self::spawn(false, None))
    }

    /// Starts a server that accepts only TLS connections (no client certificate
    /// asked), with a certificate for `127.0.0.1` and `localhost` signed by a new
    /// [`TestCa`]; `None`, said loudly, when `redis-server`, `redis-cli` or `openssl`
    /// is not installed.
    pub fn start_tls(test: &str) -> Option<Self> {
        if !installed(test) {
            return None;
        }
        let ca = TestCa::new(test, "mcp-auth test Redis CA")?;
        Some(Self::spawn(false, Some(Arc::new(ca))))
    }

    /// A server on new ports; with `tls`, TLS only, its certificate signed by it.
    fn spawn(cluster: bool, tls: Option<Arc<TestCa>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if let Some(ca) = &tls {
            ca.issue_server_certificate(dir.path());
        }
        let mut server = Self {
            dir,
            port: stable_port(),
            cluster_port: cluster.then(stable_port),
            tls,
            child: None,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:<port>/`; for a TLS server
    /// `rediss://127.0.0.1:<port>/?ca=<its CA's certificate>`.
    pub fn url(&self) -> String {
        match &self.tls {
            Some(ca) => self.tls_url(Some(&ca.certificate())),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// `rediss://127.0.0.1:<port>/`, trusting the CA certificates of `ca` (`None`: the
    /// system's roots).
    pub fn tls_url(&self, ca: Option<&Path>) -> String {
        match ca {
            Some(ca) => format!("rediss://127.0.0.1:{}/?ca={}", self.port, ca.display()),
            None => format!("rediss://127.0.0.1:{}/", self.port),
        }
    }

    /// The CA that signed a TLS server's certificate (`None` without TLS).
    pub fn ca(&self) -> Option<&TestCa> {
        self.tls.as_deref()
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
        command.current_dir(self.dir.path());
        match &self.tls {
            Some(ca) => {
                let file = |name: &str| self.dir.path().join(name).to_string_lossy().into_owned();
                command
                    .args(["--port", "0"])
                    .args(["--tls-port", &self.port.to_string()])
                    .args(["--tls-cert-file", &file(SERVER_CERTIFICATE)])
                    .args(["--tls-key-file", &file(SERVER_KEY)])
                    .args(["--tls-ca-cert-file", &ca.certificate().to_string_lossy()])
                    .args(["--tls-auth-clients", "no"])
            }
            None => command.args(["--port", &self.port.to_string()]),
        };
        command
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
            if self.tls.is_some() {
                command.args(["--tls-cluster", "yes"]);
            }
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
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(ca) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(ca.certificate());
        }
        let out = command.args(args).stdin(Stdio::null()).output().ok()?;
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

/// The server certificate and key of a TLS [`PrivateRedis`], in its directory.
pub(crate) const SERVER_CERTIFICATE: &str = "server.pem";
pub(crate) const SERVER_KEY: &str = "server.key";

/// A certificate authority of the test's own, made with the `openssl` command in a
/// temporary directory (removed when dropped): a P-256 key and a self-signed CA
/// certificate valid for two days; it signs server certificates for `127.0.0.1` and
/// `localhost`.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// A new CA whose subject is `CN=<name>`; `None`, said loudly, when `openssl`
    /// is not installed.
    pub fn new(test: &str, name: &str) -> Option<Self> {
        let runs = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !runs {
            eprintln!("!!! {test}: SKIPPED (openssl is not installed: no test CA)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n\
             [dn]\nCN = {name}\n\
             [ca]\nbasicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
        );
        std::fs::write(dir.path().join("ca.cnf"), config).unwrap();
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-config",
                "ca.cnf",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
            ],
        );
        Some(Self { dir })
    }

    /// The CA's certificate (PEM): what a client names to trust it.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Writes a new key (`server.key`) and a certificate it signs (`server.pem`) for
    /// `127.0.0.1` and `localhost` into `dir`: for TLS server authentication, and
    /// client authentication too (a cluster node presents it on the cluster bus).
    pub fn issue_server_certificate(&self, dir: &Path) {
        let extensions = "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth, clientAuth\n\
             subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
        std::fs::write(dir.join("server.ext"), extensions).unwrap();
        let key = dir.join(SERVER_KEY);
        let csr = dir.join("server.csr");
        let certificate = dir.join(SERVER_CERTIFICATE);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &path(&key),
                "-out",
                &path(&csr),
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &path(&csr),
                "-CA",
                &path(&self.certificate()),
                "-CAkey",
                &path(&self.dir.path().join("ca.key")),
                "-CAcreateserial",
                "-CAserial",
                &path(&self.dir.path().join("ca.srl")),
                "-out",
                &path(&certificate),
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
    }
}

/// Runs `openssl args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Redis Cluster of primaries without replicas, each a [`PrivateRedis`] on free
/// ports (`--cluster-require-full-coverage no`, so the others keep serving while
/// one is down; `--cluster-node-timeout 1000`).
#[derive(Debug)]
pub struct PrivateRedisCluster {
    nodes: Vec<PrivateRedis>,
    /// TLS only: the CA of every node's certificate.
    tls: Option<Arc<TestCa>>,
}

impl PrivateRedisCluster {
    /// Starts `primaries` servers, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`; or returns `None`, said
    /// loudly, when Redis is not installed.
    pub fn start(test: &str, primaries: usize) -> Option<Self> {
        if !installed(test) {
            return None;
        }
        Some(Self::create(primaries, None))
    }

    /// [`PrivateRedisCluster::start`] with nodes that speak only TLS, to clients and
    /// on the cluster bus, their certificates signed by one new [`TestCa`]; `None`,
    /// said loudly, when Redis or `openssl` is not installed.
    pub fn start_tls(test: &str, primaries: usize) -> Option<Self> {
        if !installed(test) {
            return None;
        }
        let ca = TestCa::new(test, "mcp-auth test Redis Cluster CA")?;
        Some(Self::create(primaries, Some(Arc::new(ca))))
    }

    fn create(primaries: usize, tls: Option<Arc<TestCa>>) -> Self {
        let nodes: Vec<PrivateRedis> = (0..primaries)
            .map(|_| PrivateRedis::spawn(true, tls.clone()))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut command = Command::new("redis-cli");
        command
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Some(ca) = &tls {
            command.arg("--tls").arg("--cacert").arg(ca.certificate());
        }
        let out = command.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes, tls };
        cluster.wait_until_ok();
        cluster
    }

    /// `redis-cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...`: every node as a seed; for a
    /// TLS cluster `rediss-cluster://…?ca=<its CA's certificate>`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        match &self.tls {
            Some(ca) => format!(
                "rediss-cluster://{}?ca={}",
                nodes.join(","),
                ca.certificate().display()
            ),
            None => format!("redis-cluster://{}", nodes.join(",")),
        }
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
