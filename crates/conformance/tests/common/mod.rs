//! Our gateway as the checks' target: the checker's issuer served on loopback, an
//! MCP upstream, and the gateway trusting that issuer, configured as each test needs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use mcp_auth_conformance::{Minter, ServerTarget};
use mcp_auth_core::weakening::Weakenings;
use mcp_auth_httpsig::{Algorithm, SigningKey};
use mcp_auth_resource::gateway::RawGatewayConfig;
use serde_json::{Value, json};

/// How the gateway under test is made.
pub(crate) struct Gateway {
    /// The key the checker signs tokens with.
    pub(crate) alg: Algorithm,
    /// Configuration members added to (or replacing) the Bearer-only base.
    pub(crate) config: Value,
    /// Checks switched off (the mutation proof).
    pub(crate) weakenings: Weakenings,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            alg: Algorithm::Ed25519,
            config: json!({}),
            weakenings: Weakenings::NONE,
        }
    }
}

impl Gateway {
    /// Starts the issuer, the upstream and the gateway; the target the checks see.
    pub(crate) async fn start(self) -> ServerTarget {
        let pem = SigningKey::generate(self.alg)
            .unwrap()
            .to_pkcs8_pem()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let minter = Minter::from_pem(&pem, &issuer).unwrap();
        let router = mcp_auth_conformance::issuer::router(&minter);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let upstream = mcp_auth_testkit::mcp_upstream("conformance").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
        let mut config = json!({
            "upstream": upstream.url,
            "resource": resource,
            "issuers": [issuer],
            "allow_bearer": true,
            "scopes_supported": ["mcp:read"],
            "scopes": {"required": ["mcp:read"]},
        });
        if let (Some(base), Some(extra)) = (config.as_object_mut(), self.config.as_object()) {
            base.extend(extra.clone());
        }
        let raw: RawGatewayConfig = serde_json::from_value(config).unwrap();
        let mut validated = raw.validate().unwrap();
        validated.resource.weakenings = self.weakenings;
        let app = validated.router().await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ServerTarget::new(&resource, Some(minter)).unwrap()
    }
}
