//! The measured comparison of the two proof-of-possession profiles (issue 7,
//! profiles/README.md "Comparing dpop and http-message-signatures"): each attack on
//! a captured MCP request is run for real against a resource server of each
//! profile, and the table in the README is this test's output.
//!
//! `UPDATE_PROFILE_DOCS=1 cargo test -p mcp-auth-resource --test profile_comparison`
//! rewrites the table; without the variable the test fails when the README and the
//! outcomes disagree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_auth_client::{DpopSigner, HttpSigSigner, ProofKey, RequestSigner};
use mcp_auth_core::MemoryReplayCache;
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm};
use mcp_auth_resource::DpopPolicy;
use serde_json::{Value, json};

mod common;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/README.md");
const BEGIN: &str = "<!-- BEGIN GENERATED: profile-comparison (UPDATE_PROFILE_DOCS=1 cargo test -p mcp-auth-resource --test profile_comparison) -->";
const END: &str = "<!-- END GENERATED: profile-comparison -->";

/// The profile under attack.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    HttpSig,
    Dpop,
    DpopStateless,
}

impl Column {
    const ALL: [Self; 3] = [Self::HttpSig, Self::Dpop, Self::DpopStateless];

    fn title(self) -> &'static str {
        match self {
            Self::HttpSig => "http-message-signatures",
            Self::Dpop => "dpop (jti tracked, the default)",
            Self::DpopStateless => "dpop, stateless (SEP-1932: jti not tracked)",
        }
    }

    fn signer(self) -> RequestSigner {
        match self {
            Self::HttpSig => {
                HttpSigSigner::new(ProofKey::generate_runtime(Algorithm::Ed25519).unwrap()).into()
            }
            Self::Dpop | Self::DpopStateless => {
                DpopSigner::generate(JwsAlgorithm::Es256).unwrap().into()
            }
        }
    }
}

/// A request as it went over the wire (and as an attacker on the path saw it).
#[derive(Clone)]
struct Captured {
    url: String,
    headers: http::HeaderMap,
    body: String,
}

fn call_body(tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

/// The legitimate client's request: signed or proved by `signer` for `token`.
fn legitimate(signer: &RequestSigner, token: &str, url: &str, body: &str) -> Captured {
    let (mut parts, ()) = http::Request::post(url)
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .sign_resource_request(
            &mut parts,
            token,
            body.as_bytes(),
            mcp_auth_core::unix_now(),
        )
        .unwrap();
    Captured {
        url: url.to_owned(),
        headers: parts.headers,
        body: body.to_owned(),
    }
}

/// Sends `request`; the outcome as a table cell.
async fn outcome(request: &Captured) -> String {
    let r = reqwest::Client::new()
        .post(&request.url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let error = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let at = c.find("error=\"")? + 7;
            Some(c[at..].split('"').next()?.to_owned())
        });
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match (status, error) {
        (200, _) => format!(
            "**not stopped**: 200, the server ran `{}`",
            body["result"]["name"].as_str().unwrap_or("?")
        ),
        (s, Some(e)) => format!("stopped: {s} `{e}`"),
        (s, None) => format!(
            "stopped: {s} (JSON-RPC {})",
            body["error"]["code"].as_i64().unwrap_or(0)
        ),
    }
}

/// Replaces `Mcp-Name` (an attacker keeps the `Mcp-*` headers consistent with the
/// body it sends, or the SEP-2243 check alone would stop it).
fn with_mcp_name(mut c: Captured, name: &str) -> Captured {
    c.headers
        .insert("mcp-name", http::HeaderValue::from_str(name).unwrap());
    c
}

struct Lab {
    authorization_server: common::As,
    /// One resource per column, and one more server trusting the same AS.
    servers: Vec<common::Rs>,
    other: common::Rs,
}

async fn lab() -> Lab {
    let mut listeners = Vec::new();
    for _ in 0..4 {
        listeners.push(common::bind().await);
    }
    let resources: Vec<String> = listeners.iter().map(|(_, r)| r.clone()).collect();
    let refs: Vec<&str> = resources.iter().map(String::as_str).collect();
    let authorization_server = common::start_as_for(&refs).await;
    let mut servers = Vec::new();
    for (i, (listener, resource)) in listeners.into_iter().enumerate() {
        let jti_replay = i != 2;
        let rs = common::start_rs_with(
            listener,
            &resource,
            &authorization_server,
            Arc::new(MemoryReplayCache::new()),
            |c| {
                c.dpop = Some(DpopPolicy {
                    jti_replay,
                    ..DpopPolicy::default()
                });
            },
        )
        .await;
        servers.push(rs);
    }
    let other = servers.pop().unwrap();
    Lab {
        authorization_server,
        servers,
        other,
    }
}

/// One attack: its row title and how it turns a fresh legitimate request (already
/// captured, and in some rows already served) into what the attacker sends.
struct Attack {
    title: &'static str,
    /// Whether the legitimate request reached the server before the attack.
    original_served: bool,
    run: fn(&Captured, &AttackContext) -> Captured,
}

struct AttackContext {
    token: String,
    other_url: String,
    column: Column,
}

fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            title: "the captured request replayed as it is, to the same tool, within the window",
            original_served: true,
            run: |c, _| c.clone(),
        },
        Attack {
            title: "the captured request's credentials with another tool call in the body (the original withheld)",
            original_served: false,
            run: |c, _| {
                let mut m = with_mcp_name(c.clone(), "delete_files");
                m.body = call_body("delete_files", json!({"path": "/"}));
                m
            },
        },
        Attack {
            title: "the same tool with other arguments (the original withheld)",
            original_served: false,
            run: |c, _| {
                let mut m = c.clone();
                m.body = call_body("echo", json!({"text": "transfer everything"}));
                m
            },
        },
        Attack {
            title: "the token without the key: a request proved with the attacker's own key",
            original_served: false,
            run: |c, ctx| {
                let thief = ctx.column.signer();
                legitimate(&thief, &ctx.token, &c.url, &c.body)
            },
        },
        Attack {
            title: "the token without the key: presented as `Bearer`",
            original_served: false,
            run: |c, ctx| {
                let mut m = c.clone();
                m.headers.insert(
                    "authorization",
                    http::HeaderValue::from_str(&format!("Bearer {}", ctx.token)).unwrap(),
                );
                m
            },
        },
        Attack {
            title: "re-routed by an intermediary to another MCP server that trusts the same AS (the original withheld)",
            original_served: false,
            run: |c, ctx| {
                let mut m = c.clone();
                m.url = ctx.other_url.clone();
                m
            },
        },
    ]
}

async fn generate() -> String {
    let lab = lab().await;
    let mut rows = Vec::new();
    for attack in attacks() {
        let mut cells = Vec::new();
        for (column, rs) in Column::ALL.into_iter().zip(&lab.servers) {
            let signer = column.signer();
            let token = lab
                .authorization_server
                .token_for(&signer, &rs.resource)
                .await
                .access_token;
            let request = legitimate(
                &signer,
                &token,
                &rs.resource,
                &call_body("echo", json!({"text": "hello"})),
            );
            if attack.original_served {
                let served = outcome(&request).await;
                assert!(served.starts_with("**not stopped**"), "{served}");
            }
            let forged = (attack.run)(
                &request,
                &AttackContext {
                    token,
                    other_url: lab.other.resource.clone(),
                    column,
                },
            );
            cells.push(outcome(&forged).await);
        }
        rows.push((attack.title, cells));
    }
    let mut out = String::new();
    out.push_str("| attack on a captured `tools/call` | ");
    out.push_str(
        &Column::ALL
            .iter()
            .map(|c| c.title())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|---|---|---|\n");
    for (title, cells) in rows {
        out.push_str(&format!("| {title} | {} |\n", cells.join(" | ")));
    }
    out
}

#[tokio::test]
async fn the_comparison_table_is_what_the_attacks_do() {
    let generated = generate().await;
    // The outcomes are facts, not timings: the same on every run.
    assert_eq!(generated, generate().await);
    common::check_generated_block(
        DOC,
        BEGIN,
        END,
        &generated,
        "UPDATE_PROFILE_DOCS",
        "UPDATE_PROFILE_DOCS=1 cargo test -p mcp-auth-resource --test profile_comparison",
    );
}
