#![no_main]
//! A malicious MCP server's SSE answer to `tools/list` through the gateway's list filter
//! (`proxy/list_answer.rs`: event by event as it streams), cut into chunks where the
//! input says, then read as a client reads it (`mcp_auth_client::sse::SseParser`, HTML
//! Standard §9.2.6). Fail closed: whatever the framing (CR, LF or CRLF line ends, a
//! byte order mark, `data` with or without its colon or space, comments, other fields,
//! a line or a CRLF split across chunks, an event the stream does not finish), no event
//! the client dispatches from what the gateway passed on, before or without a cut,
//! carries a list result that serde_json reads with a tool the policy hides. Never
//! panics.
//!
//! Input: `<cut byte><stream>`: each byte of the stream whose position is a multiple
//! of `cut byte` (when not 0; else every byte) starts a chunk.
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mcp_auth_client::sse::SseParser;
use mcp_auth_resource::policy::{ListFilter, ListKind, Policy, PolicyConfig};
use mcp_auth_resource::{Principal, Profile};
use serde_json::Value;

const VERSION: &str = "2026-07-28";

/// Default allow; hides `admin_*` and any name containing `hidden`.
static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    let config: PolicyConfig = toml::from_str(
        r#"
        [[rules]]
        name = "no admin"
        when = 'request.name.startsWith("admin_") || request.name.contains("hidden")'
        effect = "deny"
        "#,
    )
    .expect("the fixed policy");
    Policy::compile(&config).expect("the fixed policy compiles")
});

fn principal() -> Principal {
    Principal {
        issuer: "https://as.example".into(),
        subject: "alice".into(),
        client_id: "agent".into(),
        scopes: Arc::default(),
        token_id: "t1".into(),
        profile: Profile::Bearer,
        key_thumbprint: None,
        claims: Arc::default(),
    }
}

/// The first tool of `data`'s list result that the policy hides.
fn hidden_tool(data: &str) -> Option<String> {
    let message: Value = serde_json::from_str(data).ok()?;
    let tools = message.pointer("/result/tools")?.as_array()?;
    tools
        .iter()
        .filter_map(|tool| tool.get("name")?.as_str())
        .find(|name| !POLICY.lists(&principal(), "tools/call", name, VERSION))
        .map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let chunks = stream
        .chunks(usize::from(cut).max(1))
        .map(Bytes::copy_from_slice)
        .collect();
    let filter = ListFilter::new(POLICY.clone(), principal(), ListKind::Tools, VERSION);
    let (received, cut_off) = mcp_auth_resource::fuzzing::filter_event_stream(filter, chunks);
    let mut client = SseParser::new(usize::MAX);
    let events = client
        .push(&received)
        .expect("no cap on the client's side");
    for event in events {
        if let Some(tool) = event.data.as_deref().and_then(hidden_tool) {
            panic!("the client read the hidden tool {tool:?} (stream cut: {cut_off})");
        }
    }
});
