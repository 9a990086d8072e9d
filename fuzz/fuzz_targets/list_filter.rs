#![no_main]
//! A malicious MCP server's list answers (`tools/list`, `prompts/list`,
//! `resources/list`) through the gateway's policy filter, `ListFilter::filter_message`,
//! with fixed compiled policies.
//!
//! Invariants: it never panics; bytes that are not UTF-8, or not JSON, are never
//! passed on rewritten (`Ok(Some)`); a rewritten message is JSON, differs from the
//! input only in the list, keeps a subsequence of the input's entries, all of which the
//! policy lists, and hides something; filtering it again hides nothing more.
//!
//! Input: one message (a JSON body, or one SSE event's data).
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use mcp_auth_resource::policy::{Effect, ListFilter, ListKind, Policy, PolicyConfig, RuleConfig};
use mcp_auth_resource::{Principal, Profile};
use serde_json::Value;

const VERSION: &str = "2026-07-28";

fn rule(name: &str, when: &str, effect: Option<Effect>, scopes: Option<&[&str]>) -> RuleConfig {
    RuleConfig {
        name: name.into(),
        when: when.into(),
        effect,
        scopes: scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect()),
    }
}

/// Default allow: hides `admin_*` and names containing `hidden`; a scopes rule and an
/// allow rule on the arguments that must not hide.
fn deny_list() -> Policy {
    let config = PolicyConfig {
        default: Effect::Allow,
        rules: vec![
            rule(
                "needs admin",
                r#"request.name.startsWith("delete_")"#,
                None,
                Some(&["files:admin"]),
            ),
            rule(
                "writes under /tmp",
                r#"request.name == "write_file" && request.arguments.path.startsWith("/tmp/")"#,
                Some(Effect::Allow),
                None,
            ),
            rule(
                "no admin",
                r#"request.name.startsWith("admin_")"#,
                Some(Effect::Deny),
                None,
            ),
            rule(
                "nothing hidden",
                r#"request.name.contains("hidden") || request.name == "file:///etc/shadow""#,
                Some(Effect::Deny),
                None,
            ),
        ],
    };
    Policy::compile(&config).unwrap_or_else(|e| panic!("fixed policy: {e}"))
}

/// Default deny: lists `a`, `b`, `read_*` and what the principal's claims name.
fn allow_list() -> Policy {
    let config = PolicyConfig {
        default: Effect::Deny,
        rules: vec![
            rule(
                "few",
                r#"request.name in ["a", "b"] || request.name.startsWith("read_")"#,
                Some(Effect::Allow),
                None,
            ),
            rule(
                "granted",
                r#"request.name in principal.claims.tools"#,
                Some(Effect::Allow),
                None,
            ),
        ],
    };
    Policy::compile(&config).unwrap_or_else(|e| panic!("fixed policy: {e}"))
}

fn principal() -> Principal {
    Principal {
        issuer: "https://as.example".into(),
        subject: "alice".into(),
        client_id: "agent".into(),
        scopes: ["files:read".to_owned()].into(),
        token_id: "t1".into(),
        profile: Profile::HttpSig,
        key_thumbprint: Some("kt".into()),
        claims: Arc::new(serde_json::json!({"sub": "alice", "tools": ["granted_tool"]})),
    }
}

struct Case {
    policy: Policy,
    filter: ListFilter,
    member: &'static str,
    key: &'static str,
    call_method: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |policy: Policy, kind: ListKind, member, key| Case {
        filter: ListFilter::new(policy.clone(), principal(), kind, VERSION),
        policy,
        member,
        key,
        call_method: kind.call_method(),
    };
    vec![
        case(deny_list(), ListKind::Tools, "tools", "name"),
        case(allow_list(), ListKind::Prompts, "prompts", "name"),
        case(deny_list(), ListKind::Resources, "resources", "uri"),
    ]
}

thread_local! {
    static CASES: Vec<Case> = cases();
}

fn check(case: &Case, data: &[u8]) {
    let outcome = case.filter.filter_message(data);
    let Ok(Some(out)) = outcome else {
        if std::str::from_utf8(data).is_err() {
            assert!(outcome.is_err(), "non-UTF-8 passed on: {outcome:?}");
        }
        // Fail closed: a list result that serde_json reads, with an entry the policy
        // hides, is never passed on unchanged.
        if outcome == Ok(None)
            && let Some(hidden) = hidden_entry(case, data)
        {
            panic!("passed on unchanged with the hidden entry {hidden:?}");
        }
        return;
    };
    assert!(
        std::str::from_utf8(data).is_ok(),
        "non-UTF-8 input rewritten"
    );
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok(),
        "input that is not JSON rewritten"
    );
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok(),
        "the rewritten message is not JSON: {}",
        String::from_utf8_lossy(&out)
    );
    // Filtering again hides nothing more.
    assert_eq!(
        case.filter.filter_message(&out),
        Ok(None),
        "a second pass hid more"
    );
    // Within serde_json's nesting limit (the filter reads entries raw, without one):
    // everything but the list is unchanged; the entries kept are listed, in order.
    let Ok(before) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let after = serde_json::from_slice::<Value>(&out)
        .unwrap_or_else(|e| panic!("serde_json reads the input, not the rewrite: {e}"));
    let pointer = format!("/result/{}", case.member);
    let (Some(Value::Array(listed)), Some(Value::Array(kept))) =
        (before.pointer(&pointer), after.pointer(&pointer))
    else {
        panic!("rewritten without a list: {before} -> {after}");
    };
    assert!(
        kept.len() < listed.len(),
        "rewritten without hiding anything"
    );
    let mut rest = listed.iter();
    for entry in kept {
        assert!(
            rest.any(|e| e == entry),
            "not an input entry in order: {entry}"
        );
        let name = entry.get(case.key).and_then(Value::as_str);
        let Some(name) = name else {
            panic!("an entry kept without its name: {entry}");
        };
        assert!(
            case.policy
                .lists(&principal(), case.call_method, name, VERSION),
            "kept an entry the policy hides: {name:?}"
        );
    }
    let mut restored = after.clone();
    if let Some(list) = restored.pointer_mut(&pointer) {
        *list = Value::Array(listed.clone());
    }
    assert_eq!(restored, before, "more than the list changed");
}

/// The name of an entry of the list in `data` (a JSON object read by serde_json, the
/// last of repeated members winning) that the policy hides. With
/// `LIST_FILTER_LENIENT=1` in the environment, `data` is read as the more lenient
/// readers of clients read it too (see [`lenient`]).
fn hidden_entry(case: &Case, data: &[u8]) -> Option<String> {
    let message = if *LENIENT {
        lenient(data)?
    } else {
        serde_json::from_slice::<Value>(data).ok()?
    };
    let entries = message.get("result")?.get(case.member)?.as_array()?;
    entries
        .iter()
        .filter_map(|e| e.get(case.key)?.as_str())
        .find(|name| {
            !case
                .policy
                .lists(&principal(), case.call_method, name, VERSION)
        })
        .map(str::to_owned)
}

static LENIENT: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("LIST_FILTER_LENIENT").is_some_and(|v| v == "1"));

/// `data` read as a client may read it: a leading UTF-8 BOM dropped (WHATWG "UTF-8
/// decode", as `fetch`'s `json()` and `TextDecoder` do) and lone UTF-16 surrogate
/// escapes read as U+FFFD (JavaScript's `JSON.parse` and Python's `json` accept
/// them; serde_json does not). Sound for the fixed policies: they only look at ASCII
/// prefixes, substrings and whole ASCII names.
fn lenient(data: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(data).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = chars.as_str();
        let surrogate = rest
            .strip_prefix('u')
            .and_then(|r| r.get(..4))
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .is_some_and(|n| (0xd800..=0xdfff).contains(&n));
        if surrogate {
            out.push_str("\\ufffd");
            chars = rest[5..].chars();
        } else {
            out.push(c);
            if let Some(next) = chars.next() {
                out.push(next);
            }
        }
    }
    serde_json::from_str(&out).ok()
}

fuzz_target!(|data: &[u8]| {
    CASES.with(|cases| {
        for case in cases {
            check(case, data);
        }
    });
});
