//! The MCP server under test, as the checks see it: its endpoint, how to get tokens
//! for it, and how to send it an MCP request with a given `Authorization`.

use mcp_auth_core::challenge::{self, Challenge};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::authorization_server::AsTarget;
use crate::mint::Minter;

/// The protocol revisions a request may be sent at.
pub const PROTOCOL_VERSIONS: [&str; 2] = ["2025-11-25", "2026-07-28"];

/// An MCP server (or a gateway in front of one) under test.
#[derive(Debug)]
pub struct ServerTarget {
    /// The MCP endpoint.
    pub url: String,
    /// The HTTP client: no redirects, short timeouts.
    pub http: reqwest::Client,
    /// Mints tokens as an issuer the server trusts (`--issuer-key`).
    pub minter: Option<Minter>,
    /// The scope a valid minted token carries (default: every scope the metadata
    /// lists). Given, it is also the operator's word that the probe operation needs a
    /// scope, so that a token without one must be refused (BASE-RS-17).
    pub scope: Option<String>,
    /// The protocol revision of the requests.
    pub protocol_version: String,
    /// Where valid tokens come from when the checker does not mint them: the
    /// server's own authorization server. Only the checks that need an accepted
    /// token as it is, or can break one without a key, use them.
    pub tokens: Option<TokenSource>,
    metadata: OnceCell<Result<Value, String>>,
    issued: OnceCell<Result<String, String>>,
}

/// How the checker obtains a token the server's own authorization server issued.
pub enum TokenSource {
    /// A command (run by `sh -c`) that prints an access token for the endpoint
    /// (`--token-command`): for an AS the checker cannot drive. It gets the endpoint
    /// in `MCP_RESOURCE` and the scope in `MCP_SCOPE`, 30 s, and 16 KiB of output.
    Command(String),
    /// The client credentials grant of a confidential client at the AS, the secret
    /// sent only to a token endpoint on the issuer's origin (`--as-issuer`,
    /// `--client-id`, `--client-secret-env`).
    ClientCredentials(Box<AsTarget>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Command(c) => f.debug_tuple("Command").field(c).finish(),
            Self::ClientCredentials(t) => {
                f.debug_tuple("ClientCredentials").field(&t.issuer).finish()
            }
        }
    }
}

/// How long a token command may run.
const TOKEN_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most a token command may print.
const TOKEN_COMMAND_OUTPUT: usize = 16 * 1024;

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text (at most 64 KiB read).
    pub body: String,
}

impl Answer {
    /// The `WWW-Authenticate` values, joined.
    pub fn challenge(&self) -> String {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every challenge of every `WWW-Authenticate` field (RFC 9110 §11.6.1: several
    /// schemes, in one field or several, in any order), read by the workspace's one
    /// challenge parser.
    pub fn challenges(&self) -> Vec<Challenge> {
        challenge::parse_challenges(&self.headers)
    }

    /// The challenge of `scheme` (any letter case, RFC 9110 §11.1), if offered.
    pub fn challenge_for(&self, scheme: &str) -> Option<Challenge> {
        self.challenges().into_iter().find(|c| c.is(scheme))
    }

    /// One line of evidence: the status and the challenge.
    pub fn summary(&self) -> String {
        let challenge = self.challenge();
        if challenge.is_empty() {
            format!("{}", self.status)
        } else {
            format!("{} WWW-Authenticate: {challenge}", self.status)
        }
    }

    /// Whether the request got through authorization (2xx).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ServerTarget {
    /// A target at `url`.
    pub fn new(url: &str, minter: Option<Minter>) -> Result<Self, reqwest::Error> {
        let http = mcp_auth_core::connection_pool::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            url: url.to_owned(),
            http,
            minter,
            scope: None,
            protocol_version: PROTOCOL_VERSIONS[0].to_owned(),
            tokens: None,
            metadata: OnceCell::new(),
            issued: OnceCell::new(),
        })
    }

    /// A token from [`Self::tokens`], obtained once per run; why there is none.
    pub async fn issued_token(&self) -> Result<&str, String> {
        let Some(source) = &self.tokens else {
            return Err("no token source (--token-command, or --as-issuer with a client)".into());
        };
        self.issued
            .get_or_init(|| async {
                let scope = self.valid_scope().await;
                match source {
                    TokenSource::Command(command) => {
                        run_token_command(command, &self.url, &scope).await
                    }
                    TokenSource::ClientCredentials(at) => {
                        let mut form = vec![
                            ("grant_type", "client_credentials".to_owned()),
                            ("resource", self.url.clone()),
                        ];
                        if !scope.is_empty() {
                            form.push(("scope", scope));
                        }
                        let answer = at.confidential_token_request(&form).await?;
                        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                        match body["access_token"].as_str() {
                            Some(token) if answer.status == 200 => Ok(token.to_owned()),
                            _ => Err(format!(
                                "no token from the client credentials grant: {} error={}",
                                answer.status,
                                body["error"].as_str().unwrap_or("none")
                            )),
                        }
                    }
                }
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The RFC 9728 metadata at the path-inserted location, fetched once.
    pub async fn metadata(&self) -> Result<&Value, String> {
        self.metadata
            .get_or_init(|| async {
                let urls = mcp_auth_core::discovery::protected_resource_metadata_urls(&self.url)
                    .map_err(|e| format!("no metadata location for {}: {e}", self.url))?;
                let first = urls.first().ok_or("no metadata location")?;
                let r = self.get(first).await?;
                if r.status != 200 {
                    return Err(format!("GET {first}: {}", r.status));
                }
                serde_json::from_str(&r.body).map_err(|e| format!("GET {first}: not JSON: {e}"))
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The metadata at the root well-known location, when it is a JSON object.
    pub async fn root_metadata(&self) -> Option<Value> {
        let url = url::Url::parse(&self.url).ok()?;
        let root = format!(
            "{}/.well-known/oauth-protected-resource",
            url.origin().ascii_serialization()
        );
        let r = self.get(&root).await.ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (r.status == 200 && v.is_object()).then_some(v)
    }

    /// The audience of a valid minted token: the endpoint as given (`--url`), never
    /// what the server publishes, so that a hostile server cannot make the checker
    /// sign a token for another server that trusts the same key (BASE-RS-2 and -3
    /// check that the metadata names this endpoint).
    pub fn resource(&self) -> &str {
        &self.url
    }

    /// The scope of a valid token: `--scope`, else the metadata's `scopes_supported`.
    pub async fn valid_scope(&self) -> String {
        if let Some(s) = &self.scope {
            return s.clone();
        }
        match self.metadata().await {
            Ok(m) => m["scopes_supported"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        send_capped(self.http.get(url))
            .await
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// The JSON-RPC request a check sends when the operation does not matter, and
    /// its method: `initialize` at 2025-11-25, a stateless `tools/list` at
    /// 2026-07-28.
    pub fn probe_request(&self) -> (&'static str, Value) {
        if self.protocol_version == PROTOCOL_VERSIONS[1] {
            let meta = json!({"io.modelcontextprotocol/protocolVersion": self.protocol_version,
                              "io.modelcontextprotocol/clientCapabilities": {}});
            (
                "tools/list",
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}),
            )
        } else {
            (
                "initialize",
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": self.protocol_version, "capabilities": {},
                "clientInfo": {"name": "mcp-auth-conformance", "version": env!("CARGO_PKG_VERSION")}}}),
            )
        }
    }

    /// A POST of `body` to `url` with the headers of an MCP request: `Content-Type`,
    /// `Accept`, `MCP-Protocol-Version` and `Mcp-Method: method`. The check adds its
    /// own (`Authorization`, `DPoP`, `Signature`, ...) and sends it with [`Self::send`].
    pub fn post(&self, url: &str, method: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol_version)
            .header("mcp-method", method)
            .body(body)
    }

    /// Sends `request` and reads the answer (at most [`BODY_CAP`] of its body). An
    /// error never shows the URL: a probe may carry a token in its query.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        send_capped(request).await.map_err(|e| format!("POST: {e}"))
    }

    /// The probe request ([`Self::probe_request`]) with `authorization` (none when
    /// `None`), to the endpoint with `query` appended.
    pub async fn mcp(&self, authorization: Option<&str>, query: &str) -> Result<Answer, String> {
        let (method, body) = self.probe_request();
        let url = if query.is_empty() {
            self.url.clone()
        } else {
            format!("{}?{query}", self.url)
        };
        let mut req = self.post(&url, method, body.to_string().into_bytes());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.send(req).await
    }

    /// An MCP request with `Authorization: Bearer <token>`.
    pub async fn with_bearer(&self, token: &str) -> Result<Answer, String> {
        self.mcp(Some(&format!("Bearer {token}")), "").await
    }
}

/// The most of a body the checker reads from a target: every target may be hostile.
pub const BODY_CAP: usize = 64 * 1024;

/// Sends `request` and reads the answer: at most [`BODY_CAP`] of its body; the
/// error without the URL (which may carry a token in a query).
pub async fn send_capped(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    read(response).await
}

/// Reads `r`: its status, headers and at most [`BODY_CAP`] of its body.
pub async fn read(mut r: reqwest::Response) -> Result<Answer, String> {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.without_url().to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > BODY_CAP {
            body.truncate(BODY_CAP);
            break;
        }
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The value of `param` in `challenge` (the `WWW-Authenticate` values joined, as
/// [`Answer::challenge`] gives them), from a `Bearer` challenge first, else from any.
pub fn challenge_param(challenge: &str, param: &str) -> Option<String> {
    let challenges = challenge::parse_field(challenge);
    challenge::find_param(&challenges, &["Bearer"], param).map(str::to_owned)
}

/// Whether `challenge` offers the `Bearer` scheme (in any letter case).
pub fn offers_bearer(challenge: &str) -> bool {
    challenge::parse_field(challenge)
        .iter()
        .any(|c| c.is("Bearer"))
}

/// Runs `command` with `sh -c`, the endpoint and scope in its environment, and
/// reads the token it prints: trimmed, non-empty, the characters of a `b64token`
/// (RFC 6750 §2.1), within [`TOKEN_COMMAND_OUTPUT`] and [`TOKEN_COMMAND_TIMEOUT`].
async fn run_token_command(command: &str, resource: &str, scope: &str) -> Result<String, String> {
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("MCP_RESOURCE", resource)
        .env("MCP_SCOPE", scope)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| {
            format!(
                "--token-command ran past {} s",
                TOKEN_COMMAND_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("--token-command: {e}"))?;
    if !output.status.success() {
        return Err(format!("--token-command exited with {}", output.status));
    }
    if output.stdout.len() > TOKEN_COMMAND_OUTPUT {
        return Err(format!(
            "--token-command printed more than {TOKEN_COMMAND_OUTPUT} bytes"
        ));
    }
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(b64token) {
        return Err("--token-command printed no token (one line of b64token characters)".into());
    }
    Ok(token)
}
