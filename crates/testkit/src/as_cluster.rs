//! Several `mcp-auth as` processes sharing one database, as behind a load balancer:
//! one issuer identifier, one configuration, each instance on its own port of
//! 127.0.0.1. For the tests of scale-out and failures (`crates/cli/tests/as_*`), which
//! pass the binary (`env!("CARGO_BIN_EXE_mcp-auth")`, known only to the cli crate).
//!
//! Also the browser side of the authorization code flow against such a cluster: a
//! user signed in once ([`AsCluster::sign_in`]) gets each further code from any
//! instance with one `GET /authorize` ([`AsCluster::code`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Killed;

/// The resource every cluster issues tokens for, with scope `mcp:read`.
pub const CLUSTER_RESOURCE: &str = "http://127.0.0.1:3000/mcp";

/// The redirect URI of the clients of [`AsCluster::add_public_client`].
pub const CLUSTER_CALLBACK: &str = "http://127.0.0.1:9999/callback";

/// The password of every user [`AsCluster::add_user`] makes.
pub const CLUSTER_PASSWORD: &str = "a long passphrase";

/// One running instance.
#[derive(Debug)]
pub struct AsInstance {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its port.
    pub port: u16,
    /// Where its standard error (JSON logs) goes.
    pub log: PathBuf,
    data: PathBuf,
    process: Option<Killed>,
}

impl AsInstance {
    /// Its logs so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Instances of `mcp-auth as` on one database; killed when dropped.
#[derive(Debug)]
pub struct AsCluster {
    bin: PathBuf,
    root: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
    /// The issuer identifier every instance has (the first instance's URL).
    pub issuer: String,
    /// The instances, in start order.
    pub instances: Vec<AsInstance>,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
}

impl AsCluster {
    /// Starts `n` instances of `bin` on `database_url`, one after the other (so the
    /// first creates the schema and the signing key), with `replay_cache` (`memory` or
    /// a Redis URL) and `toml` added to the configuration (which already has the
    /// resource [`CLUSTER_RESOURCE`]). Returns once each answers `/healthz` with 200.
    pub async fn start(
        bin: &Path,
        n: usize,
        database_url: &str,
        replay_cache: &str,
        toml: &str,
    ) -> Self {
        let root = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..n).map(|_| crate::free_port()).collect();
        let issuer = format!("http://127.0.0.1:{}", ports[0]);
        let config = root.path().join("as.toml");
        std::fs::write(
            &config,
            format!(
                "{toml}\n[[resources]]\nuri = \"{CLUSTER_RESOURCE}\"\nscopes = [\"mcp:read\"]\ndefault_scopes = [\"mcp:read\"]\n"
            ),
        )
        .unwrap();
        let env = vec![
            ("MCP_AUTH_DATABASE_URL".to_owned(), database_url.to_owned()),
            ("MCP_AUTH_REPLAY_CACHE".to_owned(), replay_cache.to_owned()),
            ("MCP_AUTH_ISSUER".to_owned(), issuer.clone()),
            ("MCP_AUTH_LOG".to_owned(), "info".to_owned()),
        ];
        let mut cluster = Self {
            bin: bin.to_owned(),
            config,
            env,
            issuer,
            instances: Vec::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            root,
        };
        for (i, port) in ports.into_iter().enumerate() {
            let instance = AsInstance {
                base: format!("http://127.0.0.1:{port}"),
                port,
                log: cluster.root.path().join(format!("as-{i}.log")),
                data: cluster.root.path().join(format!("data-{i}")),
                process: None,
            };
            cluster.instances.push(instance);
            cluster.restart(i).await;
        }
        cluster
    }

    /// Starts instance `i` (again) and waits until its `/healthz` answers 200.
    pub async fn restart(&mut self, i: usize) {
        let instance = &self.instances[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&instance.log)
            .unwrap();
        let child = Command::new(&self.bin)
            .args(["as", "--listen", &format!("127.0.0.1:{}", instance.port)])
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&instance.data)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.instances[i].process = Some(Killed(child));
        let health = format!("{}/healthz", self.instances[i].base);
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(&health).await
                && r.status() == 200
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "instance {i} never became healthy; its log:\n{}",
                self.instances[i].logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills instance `i` with SIGKILL (nothing is finished or flushed) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut process) = self.instances[i].process.take() {
            process.0.kill().unwrap();
            process.0.wait().unwrap();
        }
    }

    /// Runs `mcp-auth as ARGS` on the cluster's database and configuration, with
    /// [`CLUSTER_PASSWORD`] on standard input: (success, stdout, stderr).
    pub fn admin(&self, args: &[&str]) -> (bool, String, String) {
        use std::io::Write as _;
        let mut child = Command::new(&self.bin)
            .arg("as")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.root.path().join("data-admin"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that does not read a password closes its stdin: no error.
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{CLUSTER_PASSWORD}\n").as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Adds user `name` with [`CLUSTER_PASSWORD`].
    pub fn add_user(&self, name: &str) {
        let (ok, _, err) = self.admin(&["user", "add", "--username", name]);
        assert!(ok, "user add: {err}");
    }

    /// Adds public client `id` (authorization code with PKCE, refresh tokens rotated
    /// at each use) redirecting to [`CLUSTER_CALLBACK`].
    pub fn add_public_client(&self, id: &str) {
        let (ok, _, err) = self.admin(&[
            "client",
            "add",
            "--id",
            id,
            "--public",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            CLUSTER_CALLBACK,
            "--scope",
            "mcp:read",
        ]);
        assert!(ok, "client add: {err}");
    }

    /// Adds confidential client `id` (client credentials; it may also introspect) and
    /// returns its secret.
    pub fn add_confidential_client(&self, id: &str) -> String {
        let (ok, out, err) =
            self.admin(&["client", "add", "--id", id, "--scope", "mcp:read", "--json"]);
        assert!(ok, "client add: {err}");
        let added: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        added["client_secret"].as_str().unwrap().to_owned()
    }

    /// Signs `user` in on instance `i` for `client` (authorize, login, consent) and
    /// returns the session cookie (`name=value`), good on every instance.
    pub async fn sign_in(&self, i: usize, client: &str, user: &str) -> String {
        let base = &self.instances[i].base;
        let (_, challenge) = pkce_pair();
        let page = self
            .http
            .get(format!("{base}/authorize"))
            .query(&authorize_query(client, &challenge))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let binding = cookie(page.headers(), "mcp_auth_browser");
        let html = page.text().await.unwrap();
        let consent = self
            .http
            .post(format!("{base}/login"))
            .header("cookie", &binding)
            .form(&[
                ("request", crate::hidden(&html, "request")),
                ("csrf", crate::hidden(&html, "csrf")),
                ("username", user.to_owned()),
                ("password", CLUSTER_PASSWORD.to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), 200);
        let session = cookie(consent.headers(), "mcp_auth_session");
        let html = consent.text().await.unwrap();
        let done = self
            .http
            .post(format!("{base}/consent"))
            .header("cookie", format!("{binding}; {session}"))
            .form(&[
                ("request", crate::hidden(&html, "request")),
                ("csrf", crate::hidden(&html, "csrf")),
                ("decision", "allow".to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
        session
    }

    /// A new authorization code for `client` from instance `i`, for the user of
    /// `session` (who consented before): (code, its PKCE verifier).
    pub async fn code(&self, i: usize, client: &str, session: &str) -> (String, String) {
        let (verifier, challenge) = pkce_pair();
        let r = self
            .http
            .get(format!("{}/authorize", self.instances[i].base))
            .query(&authorize_query(client, &challenge))
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let url = reqwest::Url::parse(&location).unwrap();
        let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
        (query["code"].clone(), verifier)
    }

    /// `POST /token` on instance `i` with `form`: (status, `Retry-After`, JSON body).
    pub async fn token(
        &self,
        i: usize,
        form: &[(&str, &str)],
    ) -> (u16, Option<String>, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/token", self.instances[i].base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, r.json().await.unwrap_or_default())
    }

    /// Redeems `code` on instance `i` for public `client`.
    pub async fn redeem(
        &self,
        i: usize,
        client: &str,
        code: &str,
        verifier: &str,
    ) -> (u16, Option<String>, serde_json::Value) {
        self.token(
            i,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", CLUSTER_CALLBACK),
            ],
        )
        .await
    }

    /// Uses `refresh_token` on instance `i` for public `client`.
    pub async fn refresh(
        &self,
        i: usize,
        client: &str,
        refresh_token: &str,
    ) -> (u16, Option<String>, serde_json::Value) {
        self.token(
            i,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", client),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// Whether instance `i` says `token` is active (RFC 7662), asked as confidential
    /// client `(id, secret)`.
    pub async fn active(&self, i: usize, token: &str, client: (&str, &str)) -> bool {
        let r = self
            .http
            .post(format!("{}/introspect", self.instances[i].base))
            .basic_auth(client.0, Some(client.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        body["active"].as_bool().unwrap()
    }
}

fn authorize_query<'a>(client: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CLUSTER_CALLBACK),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", CLUSTER_RESOURCE),
        ("scope", "mcp:read"),
        ("state", "s"),
    ]
}

/// A new PKCE pair: (verifier, S256 challenge).
fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let challenge = crate::pkce_challenge(&verifier);
    (verifier, challenge)
}

/// The `name=value` of the cookie `name` that `headers` set.
fn cookie(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}
