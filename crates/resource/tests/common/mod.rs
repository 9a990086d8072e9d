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
use mcp_auth_server::AsState;
/// The test kit's, where the profile documents' generated blocks are checked.
#[allow(unused_imports)]
pub use mcp_auth_testkit::check_generated_block;
use mcp_auth_testkit::{TestAs, client_credentials, register_client};
use serde_json::{Value, json};

/// The gateway's test harness, behind the crate's default `proxy` feature as the gateway is.
#[cfg(feature = "proxy")]
pub mod gateway;

pub const SECRET: &str = "agent-secret";

/// The running authorization server.
pub struct As {
    pub issuer: String,
    pub state: AsState,
    _running: TestAs,
}

/// Starts an AS that knows `resource`, with a confidential client `agent` that binds
/// runtime keys.
pub async fn start_as(resource: &str) -> As {
    start_as_for(&[resource]).await
}

/// [`start_as`] for several resources.
pub async fn start_as_for(resources: &[&str]) -> As {
    let running = mcp_auth_testkit::start_as("", |addr| format!("http://{addr}"), resources).await;
    for (id, binding) in [("agent", Some("runtime")), ("bearer-agent", None)] {
        let mut metadata =
            json!({"grant_types": ["client_credentials"], "scopes": ["mcp:read", "mcp:write"]});
        if let Some(b) = binding {
            metadata["httpsig_key_binding_method"] = json!(b);
        }
        register_client(&running.state, id, Some(SECRET), metadata).await;
    }
    As {
        issuer: running.issuer.clone(),
        state: running.state.clone(),
        _running: running,
    }
}

impl As {
    /// Rotates the AS's signing key (EdDSA) and loads it: new tokens name the returned
    /// `kid`, which a resource has not seen yet; the old key stays published.
    pub async fn rotate_key(&self) -> String {
        let now = mcp_auth_core::unix_now();
        let kid = mcp_auth_server::rotate(
            &self.state.store,
            mcp_auth_httpsig::JwsAlgorithm::EdDsa,
            now,
        )
        .await
        .unwrap();
        self.state
            .keys
            .reload(&self.state.store, self.state.config.access_token_ttl, now)
            .await
            .unwrap();
        kid
    }

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
            mcp_auth_core::unix_now(),
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
                mcp_auth_core::unix_now(),
            )
            .unwrap();
        let request =
            client_credentials(&self.issuer, ("bearer-agent", SECRET), "mcp:read", resource);
        let r = mcp_auth_testkit::json(request.header("dpop", proof)).await;
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
            mcp_auth_core::unix_now(),
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
    let mut config = ResourceConfig::new(resource, authorization_server.issuer.clone()).unwrap();
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

/// The request `head` with `body`, signed by `signer` for `token` now.
pub fn sign(
    signer: &HttpSigSigner,
    token: &str,
    head: http::request::Builder,
    body: &str,
) -> http::request::Parts {
    let (mut parts, ()) = head.body(()).unwrap().into_parts();
    signer
        .sign_mcp_request(
            &mut parts,
            token,
            body.as_bytes(),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    parts
}

/// The headers of `body` POSTed to `url`, signed by `signer` for `token` now.
pub fn signed_headers(
    signer: &HttpSigSigner,
    token: &str,
    url: &str,
    body: &str,
) -> http::HeaderMap {
    sign(signer, token, http::Request::post(url), body).headers
}
