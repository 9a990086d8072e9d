//! Signed MCP requests as the http-message-signatures checks send them, built by
//! hand rather than with the library's signer: a check must be able to sign what a
//! correct signer never would (a component left out, a wrong tag, a stale `created`,
//! a `keyid`), and to change the request after signing (another body, another
//! header value), so the signature base is written here, as RFC 9421 §2.5 and
//! profiles/http-message-signatures.md §9.5 describe it.
//!
//! A [`Presenter`] holds what every check needs: the minter, a fresh client key, and
//! a token bound to it (`cnf.htsk`, profile §8.2). [`Presenter::draft`] makes the
//! valid request of the profile (§9.2, §9.3); a check changes one thing in it,
//! signs it with [`Presenter::sign`], may change one thing on the wire, and sends it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_httpsig::{Algorithm, DigestAlgorithm, SigningKey, digest_value};
use serde_json::{Value, json};

use crate::check::Outcome;
use crate::mint::{Minter, Unsigned};
use crate::server::{Answer, ServerTarget};

/// The tag of a presentation signature (profile §9.3).
pub const TAG: &str = "httpsig-oauth";

/// The tool a signed `tools/call` names. The server need not have it: an unknown
/// tool is a JSON-RPC error inside a 200, past authorization.
pub const TOOL: &str = "mcp_auth_conformance_probe";

/// Which JSON-RPC operation a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `tools/call` of [`TOOL`]: the full coverage, `mcp-name` included.
    ToolCall,
    /// The target's probe request (`initialize`, or `tools/list` at 2026-07-28).
    Probe,
}

/// One signature of a [`Draft`], before it is serialized.
#[derive(Debug, Clone)]
pub struct Sig {
    /// The label in `Signature-Input` and `Signature`.
    pub label: String,
    /// The covered component identifiers, serialized (`"@method"`,
    /// `"content-digest";sf`).
    pub components: Vec<String>,
    /// The signature parameters, each value serialized (`1767225605`, `"nonce"`).
    pub params: Vec<(String, String)>,
    /// The key and algorithm; `None` is the key the token is bound to.
    pub key: Option<(SigningKey, Algorithm)>,
}

impl Sig {
    /// The `Signature-Input` member value, also the `@signature-params` value.
    pub fn input(&self) -> String {
        let mut out = format!("({})", self.components.join(" "));
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        out
    }

    /// Sets (or adds) a parameter, `value` serialized.
    pub fn set_param(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }

    /// Removes a parameter.
    pub fn remove_param(&mut self, name: &str) {
        self.params.retain(|(n, _)| n != name);
    }

    /// Stops covering the plain component `name`.
    pub fn uncover(&mut self, name: &str) {
        let quoted = format!("\"{name}\"");
        self.components.retain(|c| *c != quoted);
    }

    /// Covers the plain component `name` as well.
    pub fn cover(&mut self, name: &str) {
        self.components.push(format!("\"{name}\""));
    }
}

/// An MCP POST being built: its headers in sending order (lowercase names, a name
/// repeated for several field lines), its body, and its signatures. After
/// [`Presenter::sign`] the headers include `Signature-Input` and `Signature`.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The request method (`POST`, or `GET` for the server's SSE stream).
    pub method: String,
    /// Where the request is sent.
    pub url: String,
    /// The `@target-uri` value signed (the URL, unless a check signs another).
    pub target_uri: String,
    /// The header field lines.
    pub headers: Vec<(String, String)>,
    /// The body octets.
    pub body: Vec<u8>,
    /// The signatures to make.
    pub sigs: Vec<Sig>,
}

impl Draft {
    /// The field value of `name`: every line, trimmed, joined with `, `
    /// (RFC 9421 §2.1); `None` when absent.
    pub fn field(&self, name: &str) -> Option<String> {
        let lines: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    }

    /// Replaces every line of `name` with one line.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.headers.iter().position(|(n, _)| n == name) {
            Some(at) => {
                self.headers[at].1 = value;
                let mut seen = 0;
                self.headers.retain(|(n, _)| {
                    if n == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.headers.push((name.to_owned(), value)),
        }
    }

    /// Adds one more line of `name`.
    pub fn append_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    /// Removes every line of `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// The first signature (the one every check changes).
    pub fn sig(&mut self) -> &mut Sig {
        // INVARIANT: Presenter::draft makes one signature, and no check removes it
        // from the list (a check that wants none removes the signature fields).
        &mut self.sigs[0]
    }

    /// Replaces the body and, when `digest`, its `Content-Digest`.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>, digest: bool) {
        self.body = body.into();
        if digest {
            self.set_header("content-digest", sha256_digest(&self.body));
        }
    }

    /// The JSON-RPC body, when it is JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The signature base of `sig` (RFC 9421 §2.5): one line per covered
    /// component, then `@signature-params`, no final newline.
    pub fn base(&self, sig: &Sig) -> String {
        let mut out = String::new();
        for id in &sig.components {
            let name = id.trim_start_matches('"').split('"').next().unwrap_or("");
            let value = match name {
                "@method" => self.method.clone(),
                "@target-uri" => self.target_uri.clone(),
                // `;sf` re-serializes the field (RFC 9421 §2.1.1); the checks use it
                // only on values already in canonical form, so the value is the same.
                field => self.field(field).unwrap_or_default(),
            };
            out.push_str(id);
            out.push_str(": ");
            out.push_str(&value);
            out.push('\n');
        }
        out.push_str("\"@signature-params\": ");
        out.push_str(&sig.input());
        out
    }

    /// The components a request must cover (profile §9.3), from what it carries:
    /// `content-digest` with a body, `mcp-method` for a JSON-RPC request or
    /// notification, `mcp-name` for the three methods with a name,
    /// `mcp-protocol-version` with that header.
    pub fn required_components(&self) -> Vec<String> {
        let mut out = vec!["@method", "@target-uri", "authorization"];
        if !self.body.is_empty() {
            out.push("content-digest");
        }
        let rpc = self.json();
        if rpc.get("method").is_some() {
            out.push("mcp-method");
        }
        if matches!(
            rpc["method"].as_str(),
            Some("tools/call" | "prompts/get" | "resources/read")
        ) {
            out.push("mcp-name");
        }
        if self.field("mcp-protocol-version").is_some() {
            out.push("mcp-protocol-version");
        }
        let mut out: Vec<String> = out.into_iter().map(str::to_owned).collect();
        // HTTPSIG-RS-17: each `Mcp-Param-*` field sent, once.
        for (name, _) in &self.headers {
            if name.starts_with("mcp-param-") && !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }
}

/// `sha-256=:<base64>:` over `body` (RFC 9530 §2).
pub fn sha256_digest(body: &[u8]) -> String {
    let value = digest_value(body, &[DigestAlgorithm::Sha256]);
    value.to_str().unwrap_or_default().to_owned()
}

/// A Byte Sequence (RFC 9651 §3.3.5): standard base64 with padding, in colons.
pub fn byte_sequence(bytes: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(bytes))
}

/// A fresh nonce of the RECOMMENDED form: 16 random octets, base64url (22
/// characters, profile §7.2).
pub fn nonce() -> String {
    mcp_auth_core::random_token::<16>().unwrap_or_default()
}

/// What every signed-request check works with: the target, the minter, a client
/// key and a token bound to it.
pub struct Presenter<'t> {
    /// The server under test.
    pub target: &'t ServerTarget,
    /// The checker's issuer.
    pub minter: &'t Minter,
    /// The scope of a valid token.
    pub scope: String,
    /// The client's key (Ed25519), the one the token's `cnf.htsk` names.
    pub key: SigningKey,
    /// The valid bound token.
    pub token: String,
}

impl<'t> Presenter<'t> {
    /// A presenter for `target`, or a skip when the checker cannot mint tokens.
    pub async fn new(target: &'t ServerTarget) -> Result<Self, Outcome> {
        let Some(minter) = &target.minter else {
            return Err(Outcome::skip(
                "needs --issuer-key: the checker mints its own bound tokens",
            ));
        };
        let key = SigningKey::generate(Algorithm::Ed25519)
            .map_err(|e| Outcome::skip(format!("no client key could be generated: {e}")))?;
        let scope = target.valid_scope().await;
        let mut presenter = Self {
            target,
            minter,
            scope,
            key,
            token: String::new(),
        };
        presenter.token = presenter.token_with(|_| {});
        Ok(presenter)
    }

    /// The claims of a valid token bound to [`Self::key`] by `cnf.htsk`
    /// (profile §8.2: `alg` the registry name, `pub` base64url without padding).
    pub fn unsigned(&self) -> Unsigned {
        let mut token = self.minter.valid(
            self.target.resource(),
            &self.scope,
            mcp_auth_core::unix_now(),
        );
        token
            .claims
            .insert("cnf".into(), htsk(&self.key, Algorithm::Ed25519));
        token
    }

    /// A valid bound token changed by `change`, signed by the issuer.
    pub fn token_with(&self, change: impl FnOnce(&mut Unsigned)) -> String {
        let mut token = self.unsigned();
        change(&mut token);
        self.minter.sign(&token)
    }

    /// The valid request of the profile for `op`, not yet signed: `Authorization:
    /// HTTPSig`, `Content-Digest`, `Mcp-Method`, `Mcp-Name` (tools/call),
    /// `MCP-Protocol-Version`, and one signature labelled `sig` covering what §9.3
    /// requires, with `created` now, a fresh `nonce` and the tag.
    pub fn draft(&self, op: Op) -> Draft {
        let version = self.target.protocol_version.clone();
        let (method, body) = match op {
            Op::ToolCall => {
                let mut params = json!({"name": TOOL, "arguments": {}});
                if version == crate::server::PROTOCOL_VERSIONS[1] {
                    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": version});
                }
                (
                    "tools/call",
                    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}),
                )
            }
            Op::Probe => self.target.probe_request(),
        };
        let body = body.to_string().into_bytes();
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            ("mcp-protocol-version".to_owned(), version),
            (
                "authorization".to_owned(),
                format!("HTTPSig {}", self.token),
            ),
            ("mcp-method".to_owned(), method.to_owned()),
        ];
        if op == Op::ToolCall {
            headers.push(("mcp-name".to_owned(), TOOL.to_owned()));
        }
        headers.push(("content-digest".to_owned(), sha256_digest(&body)));
        let mut draft = Draft {
            method: "POST".to_owned(),
            url: self.target.url.clone(),
            target_uri: self.target.url.clone(),
            headers,
            body,
            sigs: Vec::new(),
        };
        let components = draft
            .required_components()
            .into_iter()
            .map(|c| format!("\"{c}\""))
            .collect();
        draft.sigs.push(fresh_sig("sig", components));
        draft
    }

    /// The valid GET of the server's SSE stream (Streamable HTTP), not yet signed:
    /// no body, so no `Content-Digest` and no `Mcp-*` headers; its signature
    /// covers `@method`, `@target-uri`, `authorization` and `mcp-protocol-version`
    /// (profile §9.3).
    pub fn stream_draft(&self) -> Draft {
        let mut draft = Draft {
            method: "GET".to_owned(),
            url: self.target.url.clone(),
            target_uri: self.target.url.clone(),
            headers: vec![
                ("accept".to_owned(), "text/event-stream".to_owned()),
                (
                    "mcp-protocol-version".to_owned(),
                    self.target.protocol_version.clone(),
                ),
                (
                    "authorization".to_owned(),
                    format!("HTTPSig {}", self.token),
                ),
            ],
            body: Vec::new(),
            sigs: Vec::new(),
        };
        let components = draft
            .required_components()
            .into_iter()
            .map(|c| format!("\"{c}\""))
            .collect();
        draft.sigs.push(fresh_sig("sig", components));
        draft
    }

    /// Signs every signature of `draft` over its current content and appends
    /// `Signature-Input` and `Signature` (one line each, members in order).
    pub fn sign(&self, draft: &mut Draft) {
        let mut inputs = Vec::new();
        let mut signatures = Vec::new();
        for sig in &draft.sigs {
            let base = draft.base(sig);
            let (key, alg) = match &sig.key {
                Some((k, a)) => (k, *a),
                None => (&self.key, Algorithm::Ed25519),
            };
            let octets = key.sign(alg, base.as_bytes()).unwrap_or_default();
            inputs.push(format!("{}={}", sig.label, sig.input()));
            signatures.push(format!("{}={}", sig.label, byte_sequence(&octets)));
        }
        if !inputs.is_empty() {
            draft.append_header("signature-input", inputs.join(", "));
            draft.append_header("signature", signatures.join(", "));
        }
    }

    /// The valid request for `op`, signed.
    pub fn signed(&self, op: Op) -> Draft {
        let mut draft = self.draft(op);
        self.sign(&mut draft);
        draft
    }

    /// Sends `draft` as it stands.
    pub async fn send(&self, draft: &Draft) -> Result<Answer, String> {
        send(self.target, draft).await
    }

    /// Whether the unchanged signed request for `op` is accepted: a refusal of a
    /// changed one means nothing otherwise.
    pub async fn baseline(&self, op: Op) -> Result<(), Outcome> {
        match self.send(&self.signed(op)).await {
            Ok(a) if a.accepted() => Ok(()),
            Ok(a) => Err(Outcome::skip(format!(
                "the valid signed request is refused ({}), so a refusal would prove nothing (HTTPSIG-RS-4)",
                a.summary()
            ))),
            Err(e) => Err(Outcome::fail(e)),
        }
    }
}

/// A signature labelled `label` over `components`, with `created` now, a fresh
/// nonce and the presentation tag, by the bound key.
pub fn fresh_sig(label: &str, components: Vec<String>) -> Sig {
    Sig {
        label: label.to_owned(),
        components,
        params: vec![
            ("created".to_owned(), mcp_auth_core::unix_now().to_string()),
            ("nonce".to_owned(), format!("\"{}\"", nonce())),
            ("tag".to_owned(), format!("\"{TAG}\"")),
        ],
        key: None,
    }
}

/// A `cnf` naming `key` by `htsk` with the registry algorithm `alg`.
pub fn htsk(key: &SigningKey, alg: Algorithm) -> Value {
    let public = key.verifying_key().pub_bytes().unwrap_or_default();
    json!({"htsk": {"alg": alg.name(), "pub": URL_SAFE_NO_PAD.encode(public)}})
}

/// Sends `draft` to `target` exactly: its method, its header lines in order (a
/// repeated name as several lines) and its body. `ServerTarget::post` adds the MCP headers itself,
/// which a check must be able to leave out, so the request is built here.
pub async fn send(target: &ServerTarget, draft: &Draft) -> Result<Answer, String> {
    send_via(target, &target.http, draft).await
}

/// [`send`] through `http`, a client of the check's own (e.g. one that sends the
/// absolute form of the request line through a proxy).
pub async fn send_via(
    target: &ServerTarget,
    http: &reqwest::Client,
    draft: &Draft,
) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(draft.method.as_bytes())
        .map_err(|e| format!("method {}: {e}", draft.method))?;
    let mut request = http.request(method, &draft.url);
    for (name, value) in &draft.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if !draft.body.is_empty() {
        request = request.body(draft.body.clone());
    }
    if draft.method == "POST" {
        return target.send(request).await;
    }
    // A GET may open an SSE stream that never ends: only its head is read.
    let response = request
        .send()
        .await
        .map_err(|e| format!("{}: {e}", draft.method))?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: String::new(),
    })
}
