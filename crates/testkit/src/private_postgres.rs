//! A PostgreSQL server of the test's own, on a free port of 127.0.0.1, for a test that
//! must stop and start the database (the system PostgreSQL of `MCP_AUTH_TEST_POSTGRES`
//! is shared with other tests and is never stopped).
//!
//! The cluster is made with `initdb` (trust authentication, user `postgres`) in a
//! temporary directory and run with `pg_ctl`; as root, both run as the `postgres` user
//! (`initdb` refuses root). The server is stopped (`-m immediate`) and its directory
//! removed when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A PostgreSQL server this test started; stopped and removed when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    root: tempfile::TempDir,
    port: u16,
    /// Serving TLS with the certificate and key in this directory ([`Self::serve_tls`]).
    tls: Option<PathBuf>,
}

impl PrivatePostgres {
    /// Makes and starts a new cluster, or returns `None`, said loudly on standard
    /// error, when the PostgreSQL server binaries (`initdb`, `pg_ctl` under
    /// `/usr/lib/postgresql/*/bin`, or the directory in `MCP_AUTH_TEST_PG_BIN`) are not
    /// installed. Panics when they are and the server does not start.
    pub fn start(test: &str) -> Option<Self> {
        let Some(bin) = binaries() else {
            eprintln!(
                "!!! {test}: SKIPPED (no PostgreSQL server binaries: set MCP_AUTH_TEST_PG_BIN \
                 or install postgresql)"
            );
            return None;
        };
        let root = tempfile::tempdir().unwrap();
        if is_root() {
            chown_to_postgres(root.path());
        }
        let server = Self {
            bin,
            root,
            port: crate::free_port(),
            tls: None,
        };
        let out = server.run(
            "initdb",
            &[
                "-D".as_ref(),
                server.data().as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        server.start_again();
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, no
    /// checkpoint, recovery at the next start), waiting until it is down.
    pub fn stop_immediately(&self) {
        let out = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// Restarts the server serving TLS (`ssl = on`) with a certificate `ca` issues for
    /// `127.0.0.1` and `localhost`: clients may then ask for `sslmode=verify-full`.
    pub fn serve_tls(&mut self, ca: &crate::TestCa) {
        let dir = self.root.path().join("tls");
        std::fs::create_dir(&dir).unwrap();
        ca.issue_server_certificate(&dir);
        let key = dir.join(crate::redis_server::SERVER_KEY);
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(
            &key,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
        if is_root() {
            for path in [
                dir.clone(),
                key,
                dir.join(crate::redis_server::SERVER_CERTIFICATE),
            ] {
                chown_to_postgres(&path);
            }
        }
        self.tls = Some(dir);
        self.stop_immediately();
        self.start_again();
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.root.path().display()
        );
        if let Some(dir) = &self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join(crate::redis_server::SERVER_CERTIFICATE).display(),
                dir.join(crate::redis_server::SERVER_KEY).display()
            ));
        }
        let log = self.root.path().join("postgres.log");
        let out = self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "30",
            "-o",
            &options,
            "-l",
            log.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data();
        let mut all: Vec<&std::ffi::OsStr> = vec!["-D".as_ref(), data.as_os_str()];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        self.run("pg_ctl", &all)
    }

    /// Runs `program` of the PostgreSQL binaries, as the `postgres` user when we are root.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

/// The directory of `initdb` and `pg_ctl`.
fn binaries() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("MCP_AUTH_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(dir: &Path) {
    let out = Command::new("chown")
        .arg("postgres:")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "chown postgres: {}", text(&out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
