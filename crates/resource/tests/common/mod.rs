//! A real authorization server and a real protected MCP endpoint on 127.0.0.1.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::routing::post;
use axum::{Extension, Json, Router};
use mcp_auth_client::{HttpSigSigner, ProofKey, TokenResponse};
use mcp_auth_core::{MemoryReplayCache, ReplayCache};
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::{
    AccessTokenCache, McpAuthLayer, Principal, ResourceConfig, ResourceVerifier,
};
use mcp_auth_server::{AsState, AuthorizationServer, ClientRecord, Config, Overrides};
use serde_json::{Value, json};

pub mod gateway;

pub const SECRET: &str = "agent-secret";

/// The running authorization server.
pub struct As {
    pub issuer: String,
    pub state: AsState,
    _dir: tempfile::TempDir,
}

/// Starts an AS that knows `resource`, with a confidential client `agent` that binds
/// runtime keys.
pub async fn start_as(resource: &str) -> As {
    start_as_for(&[resource]).await
}

/// [`start_as`] for several resources.
pub async fn start_as_for(resources: &[&str]) -> As {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}");
    let config = Config::from_sources(
        "",
        &|_| None,
        &Overrides {
            issuer: Some(issuer.clone()),
            listen: Some(addr.to_string()),
            data_dir: Some(dir.path().join("data")),
            resources: resources
                .iter()
                .map(|r| ((*r).to_owned(), vec!["mcp:read".into(), "mcp:write".into()]))
                .collect(),
            ..Overrides::default()
        },
    )
    .unwrap();
    let server = AuthorizationServer::start(config).await.unwrap();
    let state = server.state().clone();
    tokio::spawn(async move {
        server
            .serve(listener, std::future::pending())
            .await
            .unwrap()
    });
    for (id, binding) in [("agent", Some("runtime")), ("bearer-agent", None)] {
        let mut metadata =
            json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read", "mcp:write"]});
        if let Some(b) = binding {
            metadata["httpsig_key_binding_method"] = json!(b);
        }
        state
            .store
            .insert_client(&ClientRecord {
                client_id: id.into(),
                secret_sha256: Some(mcp_auth_server::client_auth::secret_digest(SECRET)),
                metadata,
                created_at: 0,
            })
            .await
            .unwrap();
    }
    As {
        issuer,
        state,
        _dir: dir,
    }
}

impl As {
    /// A bound token for `signer` at `resource`.
    pub async fn bound_token(&self, signer: &HttpSigSigner, resource: &str) -> TokenResponse {
        self.token_for(&signer.clone().into(), resource).await
    }

    /// A token bound to `signer`'s key at `resource`: HTTPSig for `agent` (which
    /// registered runtime keys), DPoP for `bearer-agent` (which registered nothing).
    pub async fn token_for(
        &self,
        signer: &mcp_auth_client::RequestSigner,
        resource: &str,
    ) -> TokenResponse {
        let form = format!(
            "grant_type=client_credentials&scope=mcp%3Aread&resource={}",
            url::form_urlencoded::byte_serialize(resource.as_bytes()).collect::<String>()
        );
        let client = match signer {
            mcp_auth_client::RequestSigner::HttpSig(_) => "agent",
            mcp_auth_client::RequestSigner::Dpop(_) => "bearer-agent",
        };
        mcp_auth_client::request_token(
            &reqwest::Client::new(),
            &format!("{}/token", self.issuer),
            &form,
            Some((client, SECRET)),
            Some(signer),
            mcp_auth_server::now(),
        )
        .await
        .unwrap()
    }

    /// A token bound to `signer`'s DPoP key (RFC 9449 §5), for `bearer-agent`.
    pub async fn dpop_token(
        &self,
        signer: &mcp_auth_core::dpop::ProofSigner,
        resource: &str,
    ) -> String {
        let proof = signer
            .proof(
                "POST",
                &format!("{}/token", self.issuer),
                None,
                None,
                mcp_auth_server::now(),
            )
            .unwrap();
        let r: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth("bearer-agent", Some(SECRET))
            .header("dpop", proof)
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "mcp:read"),
                ("resource", resource),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["token_type"], "DPoP", "{r}");
        r["access_token"].as_str().unwrap().to_owned()
    }

    /// An unbound (Bearer) token with `mcp:read mcp:write` (asked for: the AS grants
    /// no scope that is not requested unless the resource has defaults).
    pub async fn bearer_token(&self, resource: &str) -> String {
        let form = format!(
            "grant_type=client_credentials&scope=mcp%3Aread+mcp%3Awrite&resource={}",
            url::form_urlencoded::byte_serialize(resource.as_bytes()).collect::<String>()
        );
        mcp_auth_client::request_token(
            &reqwest::Client::new(),
            &format!("{}/token", self.issuer),
            &form,
            Some(("bearer-agent", SECRET)),
            None,
            mcp_auth_server::now(),
        )
        .await
        .unwrap()
        .access_token
    }
}

/// The protected MCP endpoint: echoes the JSON-RPC method, the tool name and the
/// verified principal.
async fn mcp(Extension(principal): Extension<Principal>, body: axum::body::Bytes) -> Json<Value> {
    let rpc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {
        "method": rpc["method"], "name": rpc["params"]["name"],
        "subject": principal.subject, "client_id": principal.client_id,
        "profile": principal.profile.as_str(), "thumbprint": principal.key_thumbprint,
    }}))
}

/// A running resource server.
pub struct Rs {
    pub base: String,
    pub resource: String,
}

/// Binds a listener first, so the resource URL (its address) is known.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    (listener, resource)
}

/// Serves the protected endpoint at `listener` with `replay` as the nonce cache.
pub async fn start_rs(
    listener: tokio::net::TcpListener,
    resource: &str,
    authorization_server: &As,
    replay: Arc<dyn ReplayCache>,
) -> Rs {
    start_rs_with(listener, resource, authorization_server, replay, |_| {}).await
}

/// [`start_rs`] with the configuration changed by `configure` first.
pub async fn start_rs_with(
    listener: tokio::net::TcpListener,
    resource: &str,
    authorization_server: &As,
    replay: Arc<dyn ReplayCache>,
    configure: impl FnOnce(&mut ResourceConfig),
) -> Rs {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = ResourceConfig::new(resource, authorization_server.issuer.clone());
    config.scopes_supported = vec!["mcp:read".into(), "mcp:write".into()];
    configure(&mut config);
    let jwks = authorization_server.state.keys.current().jwks.clone();
    let tokens = AccessTokenCache::new(&authorization_server.issuer, resource, &jwks);
    let verifier = Arc::new(ResourceVerifier::new(config.clone(), tokens, replay));
    let app = Router::new()
        .route("/mcp", post(mcp).get(mcp))
        .layer(McpAuthLayer::new(verifier))
        .merge(mcp_auth_resource::metadata::router(&config));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Rs {
        base,
        resource: resource.to_owned(),
    }
}

/// AS + RS with an in-memory replay cache, and a client key with a bound token.
pub struct Env {
    pub authorization_server: As,
    pub rs: Rs,
    pub signer: HttpSigSigner,
    pub token: String,
    pub http: reqwest::Client,
}

pub async fn env() -> Env {
    let (listener, resource) = bind().await;
    let authorization_server = start_as(&resource).await;
    let rs = start_rs(
        listener,
        &resource,
        &authorization_server,
        Arc::new(MemoryReplayCache::new()),
    )
    .await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    let token = authorization_server.bound_token(&signer, &resource).await;
    assert_eq!(token.token_type, "httpsig");
    Env {
        authorization_server,
        rs,
        signer,
        token: token.access_token,
        http: reqwest::Client::new(),
    }
}

/// The headers of `body` POSTed to `url`, signed by `signer` for `token` now.
pub fn signed_headers(
    signer: &HttpSigSigner,
    token: &str,
    url: &str,
    body: &str,
) -> http::HeaderMap {
    let (mut parts, ()) = http::Request::post(url).body(()).unwrap().into_parts();
    signer
        .sign_mcp_request(&mut parts, token, body.as_bytes(), mcp_auth_server::now())
        .unwrap();
    parts.headers
}

/// The generated block of a document (profiles/README.md "Generated content"): the
/// text between `begin` and `end` must be `generated`; with the environment
/// variable `update` set, it is rewritten instead. `command` is what to run when it
/// is out of date.
pub fn check_generated_block(
    doc_path: &str,
    begin: &str,
    end: &str,
    generated: &str,
    update: &str,
    command: &str,
) {
    let doc = std::fs::read_to_string(doc_path).unwrap();
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    if std::env::var_os(update).is_some() {
        let updated = format!(
            "{}\n\n{}\n\n{}",
            &doc[..start],
            generated.trim(),
            &doc[stop..]
        );
        std::fs::write(doc_path, updated).unwrap();
        return;
    }
    assert_eq!(
        doc[start..stop].trim(),
        generated.trim(),
        "{doc_path} is out of date: run {command}"
    );
}
