//! The gateway's policy rules (`[policy]`, CEL over the principal and the operation)
//! over real HTTP on 127.0.0.1: a real AS, the gateway, a recording upstream. The
//! worked examples of docs/gateway.md "Policy rules", each allowed and refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The gateway's modules are behind the crate's default `proxy` feature.
#![cfg(feature = "proxy")]

use http::Method;
use mcp_auth_client::{HttpSigSigner, ProofKey};
use mcp_auth_httpsig::Algorithm;
use mcp_auth_resource::gateway::RawGatewayConfig;
use mcp_auth_resource::policy::{Policy, PolicyConfig};
use serde_json::Value;

mod common;

use common::gateway::{recording_upstream, serve_gateway, signed};

/// docs/gateway.md's examples: a scope-based rule, an argument rule, a read-only
/// client.
const POLICY: &str = r#"
[[rules]]
name = "deleting needs files:admin"
when = 'request.method == "tools/call" && request.name.startsWith("delete_")'
scopes = ["files:admin"]

[[rules]]
name = "writes only under /tmp"
when = 'request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")'
effect = "deny"

[[rules]]
name = "a claim of the token itself"
when = 'request.name == "claims_probe" && principal.claims.aud == "https://nowhere.example"'
effect = "allow"

[[rules]]
name = "claims_probe for the agent's own tokens only"
when = 'request.name == "claims_probe" && principal.claims.client_id != "agent"'
effect = "deny"

[[rules]]
name = "the reporting client only reads"
when = 'principal.client_id == "reporting" && request.method == "tools/call"'
effect = "deny"
"#;

fn call(id: u32, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

#[tokio::test]
async fn policy_rules_refuse_what_they_name_with_403_and_forward_the_rest() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let config: PolicyConfig = toml::from_str(POLICY).unwrap();
    let policy = Policy::compile(&config).unwrap();
    serve_gateway(
        listener,
        &resource,
        &[&authorization_server],
        &up,
        move |c| c.policy = policy,
        None,
    )
    .await;
    let signer = HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap());
    // The token has mcp:read, not files:admin.
    let token = authorization_server
        .bound_token(&signer, &resource)
        .await
        .access_token;
    let send = |body: String| {
        let name = serde_json::from_str::<Value>(&body).unwrap()["params"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        signed(
            &signer,
            &token,
            Method::POST,
            &resource,
            &body,
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", &name),
            ],
        )
        .send()
    };

    // The argument rule: a path outside /tmp is refused, with a JSON-RPC error for
    // the request's id and no challenge (no token would change the answer).
    let r = send(call(41, "write_file", r#"{"path":"/etc/passwd"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("www-authenticate").is_none());
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], 41);
    assert_eq!(body["error"]["code"], -32003);
    assert!(
        !body.to_string().contains("/tmp"),
        "the rule is not revealed: {body}"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was forwarded");

    // The same tool under /tmp goes through.
    let r = send(call(42, "write_file", r#"{"path":"/tmp/notes"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // The scope rule: 403 insufficient_scope naming the scope to ask for.
    let r = send(call(43, "delete_file", r#"{"path":"/tmp/notes"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("HTTPSig error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"files:admin\""), "{challenge}");
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing more was forwarded");

    // Rules read the token's own claims: `client_id` is `agent`, `aud` the resource.
    let r = send(call(45, "claims_probe", "{}")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // A tool no rule names is forwarded as before.
    let r = send(call(44, "echo", r#"{"text":"hi"}"#)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_policy_error_in_the_gateway_file_names_the_rule_and_the_position() {
    let file = r#"
upstream = "http://127.0.0.1:9/mcp"
resource = "https://mcp.example.com/mcp"
issuers = ["https://as.example.com"]

[[policy.rules]]
name = "fine"
when = 'request.method == "tools/list"'
effect = "allow"

[[policy.rules]]
name = "typo"
when = 'request.name.startsWith("delete_"'
effect = "deny"
"#;
    let raw: RawGatewayConfig = toml::from_str(file).unwrap();
    let error = raw.validate().unwrap_err().to_string();
    assert!(
        error.starts_with("policy rule 2 (`typo`): not a valid CEL expression"),
        "{error}"
    );
    assert!(error.contains("<input>:1:34"), "the position: {error}");
}

#[tokio::test]
async fn a_body_with_arguments_twice_is_refused_not_read_one_way_here_and_another_upstream() {
    let (listener, resource) = common::bind().await;
    let authorization_server = common::start_as(&resource).await;
    let (up, seen) = recording_upstream().await;
    let config: PolicyConfig = toml::from_str(POLICY).unwrap();
    let policy = Policy::compile(&config).unwrap();
    serve_gateway(
        listener,
        &resource,
        &[&authorization_server],
        &up,
        move |c| {
            c.policy = policy;
            c.bound_tokens_required = false;
        },
        None,
    )
    .await;
    // A Bearer token: our signing client refuses to sign such a body at all.
    let token = authorization_server.bearer_token(&resource).await;
    // The policy would read the first `arguments`; an upstream parser may keep the last.
    let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/tmp/ok"},"arguments":{"path":"/etc/passwd"}}}"#;
    let r = reqwest::Client::new()
        .post(&resource)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "write_file")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32020, "{answer}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was forwarded");
}
