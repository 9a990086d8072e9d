use super::*;
use crate::presentation::Profile;

fn principal(scopes: &[&str]) -> Principal {
    Principal {
        issuer: "https://as.example".into(),
        subject: "alice".into(),
        client_id: "agent".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        token_id: "t1".into(),
        profile: Profile::HttpSig,
        key_thumbprint: Some("kt".into()),
        claims: Default::default(),
    }
}

fn policy(toml_text: &str) -> Result<Policy, PolicyError> {
    #[derive(Deserialize)]
    struct File {
        policy: PolicyConfig,
    }
    let file: File = toml::from_str(toml_text).expect("valid TOML");
    Policy::compile(&file.policy)
}

/// Decides for the JSON-RPC `body` of `principal`, scopes checked literally.
fn decide(policy: &Policy, p: &Principal, body: &str) -> Decision {
    let mcp_auth_core::mcp_binding::JsonRpcBody::Operation(op) =
        mcp_auth_core::mcp_binding::read_body(body.as_bytes()).expect("an operation")
    else {
        panic!("not an operation");
    };
    policy.decide(p, Some(&op), "2026-07-28", None, |s| {
        p.scopes.iter().any(|g| g == s)
    })
}

const CALL_DELETE: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}"#;
const CALL_WRITE_TMP: &str = r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/tmp/x"}}}"#;
const CALL_WRITE_ETC: &str = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/etc/x"}}}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

const EXAMPLES: &str = r#"
[[policy.rules]]
name = "deleting needs files:admin"
when = 'request.method == "tools/call" && request.name.startsWith("delete_")'
scopes = ["files:admin"]

[[policy.rules]]
name = "writes only under /tmp"
when = 'request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")'
effect = "deny"
"#;

#[test]
fn a_scopes_rule_asks_for_its_scopes_when_it_matches_and_the_token_lacks_them() {
    let p = policy(EXAMPLES).unwrap();
    assert_eq!(
        decide(&p, &principal(&["files:read"]), CALL_DELETE),
        Decision::NeedScopes {
            rule: "deleting needs files:admin".into(),
            scopes: vec!["files:admin".into()],
        }
    );
    assert_eq!(
        decide(&p, &principal(&["files:admin"]), CALL_DELETE),
        Decision::Allow
    );
    // It does not match other operations.
    assert_eq!(decide(&p, &principal(&[]), LIST), Decision::Allow);
}

#[test]
fn an_argument_rule_denies_what_its_condition_names_and_nothing_else() {
    let p = policy(EXAMPLES).unwrap();
    assert_eq!(
        decide(&p, &principal(&[]), CALL_WRITE_ETC),
        Decision::Deny {
            rule: Some("writes only under /tmp".into())
        }
    );
    assert_eq!(decide(&p, &principal(&[]), CALL_WRITE_TMP), Decision::Allow);
}

#[test]
fn the_first_deciding_rule_wins_and_the_default_decides_the_rest() {
    let p = policy(
        r#"
[policy]
default = "deny"

[[policy.rules]]
name = "read-only clients may list"
when = 'principal.client_id == "agent" && request.method == "tools/list"'
effect = "allow"

[[policy.rules]]
name = "nobody lists"
when = 'request.method == "tools/list"'
effect = "deny"
"#,
    )
    .unwrap();
    assert_eq!(decide(&p, &principal(&[]), LIST), Decision::Allow);
    let mut other = principal(&[]);
    other.client_id = "other".into();
    assert_eq!(
        decide(&p, &other, LIST),
        Decision::Deny {
            rule: Some("nobody lists".into())
        }
    );
    assert_eq!(
        decide(&p, &principal(&[]), CALL_WRITE_TMP),
        Decision::Deny { rule: None }
    );
}

#[test]
fn a_condition_that_cannot_be_evaluated_fails_closed() {
    // `arguments.mode` is absent: evaluation fails.
    let deny = policy(
        r#"
[[policy.rules]]
name = "no dangerous mode"
when = 'request.arguments.mode == "dangerous"'
effect = "deny"
"#,
    )
    .unwrap();
    assert_eq!(
        decide(&deny, &principal(&[]), CALL_WRITE_TMP),
        Decision::Deny {
            rule: Some("no dangerous mode".into())
        }
    );
    let allow = policy(
        r#"
[policy]
default = "deny"

[[policy.rules]]
name = "safe mode only"
when = 'request.arguments.mode == "safe"'
effect = "allow"
"#,
    )
    .unwrap();
    assert_eq!(
        decide(&allow, &principal(&[]), CALL_WRITE_TMP),
        Decision::Deny { rule: None }
    );
    // `has()` tests for an optional argument without failing.
    let guarded = policy(
        r#"
[[policy.rules]]
name = "no dangerous mode"
when = 'has(request.arguments.mode) && request.arguments.mode == "dangerous"'
effect = "deny"
"#,
    )
    .unwrap();
    assert_eq!(
        decide(&guarded, &principal(&[]), CALL_WRITE_TMP),
        Decision::Allow
    );
}

#[test]
fn every_variable_documented_is_readable() {
    let p = policy(
        r#"
[policy]
default = "deny"

[[policy.rules]]
name = "all of them"
when = '''
principal.issuer == "https://as.example" && principal.subject == "alice"
&& principal.client_id == "agent" && "files:read" in principal.scopes
&& principal.profile == "httpsig" && principal.key_thumbprint == "kt"
&& principal.token_id == "t1" && request.method == "tools/call"
&& request.name == "write_file" && request.arguments.path == "/tmp/x"
&& request.protocol_version == "2026-07-28"
'''
effect = "allow"
"#,
    )
    .unwrap();
    assert_eq!(
        decide(&p, &principal(&["files:read"]), CALL_WRITE_TMP),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &principal(&[]), CALL_WRITE_TMP),
        Decision::Deny { rule: None }
    );
}

#[test]
fn configuration_errors_name_the_rule_and_the_position() {
    let syntax = policy(
        r#"
[[policy.rules]]
name = "fine"
when = 'request.method == "tools/list"'
effect = "allow"

[[policy.rules]]
name = "broken"
when = 'request.method == '
effect = "deny"
"#,
    )
    .unwrap_err();
    let text = syntax.to_string();
    assert!(
        text.starts_with("policy rule 2 (`broken`): not a valid CEL expression"),
        "{text}"
    );
    assert!(
        text.contains("line 1") || text.contains(":1:"),
        "position: {text}"
    );

    let constant =
        policy("[[policy.rules]]\nname = \"c\"\nwhen = 'true'\neffect = \"deny\"\n").unwrap_err();
    assert!(matches!(
        constant,
        PolicyError::Condition {
            index: 1,
            error: ConditionError::Constant(_),
            ..
        }
    ));

    let both = policy(
        "[[policy.rules]]\nname = \"b\"\nwhen = 'request.name == \"x\"'\neffect = \"deny\"\nscopes = [\"s\"]\n",
    )
    .unwrap_err();
    assert_eq!(
        both,
        PolicyError::Shape {
            index: 1,
            name: "b".into()
        }
    );
    let neither =
        policy("[[policy.rules]]\nname = \"n\"\nwhen = 'request.name == \"x\"'\n").unwrap_err();
    assert!(matches!(neither, PolicyError::Shape { .. }));

    let twice = policy(
        "[[policy.rules]]\nname = \"d\"\nwhen = 'request.name == \"x\"'\neffect = \"deny\"\n\
         [[policy.rules]]\nname = \"d\"\nwhen = 'request.name == \"y\"'\neffect = \"deny\"\n",
    )
    .unwrap_err();
    assert_eq!(twice, PolicyError::Name { index: 2 });
}

#[test]
fn an_empty_policy_decides_nothing() {
    let p = Policy::default();
    assert!(p.is_empty());
    assert_eq!(decide(&p, &principal(&[]), CALL_DELETE), Decision::Allow);
}

#[test]
fn json_arguments_read_as_cel_values_numbers_as_int() {
    let p = policy(
        r#"
[policy]
default = "deny"

[[policy.rules]]
name = "typed arguments"
when = '''
request.arguments.count == 5 && request.arguments.count > 2 && request.arguments.ratio < 1.0
&& request.arguments.flag && request.arguments.tags[1] == "b" && request.arguments.nested.k == "v"
&& request.arguments.nothing == null && size(request.arguments.tags) == 2
'''
effect = "allow"
"#,
    )
    .unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"count":5,"ratio":0.5,"flag":true,"tags":["a","b"],"nested":{"k":"v"},"nothing":null}}}"#;
    assert_eq!(decide(&p, &principal(&[]), body), Decision::Allow);
    let other = body.replace("\"count\":5", "\"count\":6");
    assert_eq!(
        decide(&p, &principal(&[]), &other),
        Decision::Deny { rule: None }
    );
}

/// `lists`: hidden only when every call is denied, whatever the arguments.
#[test]
fn an_entry_is_hidden_only_when_the_policy_denies_every_call_of_it() {
    let p = policy(
        r#"
[policy]
default = "deny"

[[policy.rules]]
name = "no admin"
when = 'request.name.startsWith("admin_")'
effect = "deny"

[[policy.rules]]
name = "deleting needs files:admin"
when = 'request.name.startsWith("delete_")'
scopes = ["files:admin"]

[[policy.rules]]
name = "empty calls refused"
when = 'size(request.arguments) == 0'
effect = "deny"

[[policy.rules]]
name = "tmp writes"
when = 'request.name == "write_file" && request.arguments.path.startsWith("/tmp/")'
effect = "allow"

[[policy.rules]]
name = "the reader"
when = 'request.name in ["read_file", "delete_all"]'
effect = "allow"
"#,
    )
    .unwrap();
    let alice = principal(&[]);
    let lists = |name: &str| p.lists(&alice, "tools/call", name, "2026-07-28");
    assert!(!lists("admin_users"), "a deny rule that matches hides");
    // `size(request.arguments)` cannot be known without arguments: the deny rule
    // "may not apply", so the later rules decide.
    assert!(lists("read_file"), "an allow rule that matches lists");
    assert!(
        lists("write_file"),
        "an allow rule on the arguments may allow: listed"
    );
    assert!(lists("delete_all"), "a scopes rule does not hide");
    assert!(!lists("other"), "the default denies: hidden");
    // The list request itself is decided as any request (here: its empty
    // arguments).
    assert_eq!(
        decide(&p, &alice, LIST),
        Decision::Deny {
            rule: Some("empty calls refused".into())
        }
    );
}

#[test]
fn a_list_result_loses_its_hidden_entries_and_keeps_every_other_byte() {
    let p = policy(
        r#"
[[policy.rules]]
name = "no admin"
when = 'request.name.startsWith("admin_")'
effect = "deny"
"#,
    )
    .unwrap();
    let filter = ListFilter::new(p, principal(&[]), ListKind::Tools, "2026-07-28");
    let answer =
        br#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"a","x":1.50},{"name":"admin_x"},
{"name":"b"}],"nextCursor":"c","_meta":{"k":[1,2]}}}"#;
    let filtered = filter.filter_message(answer).unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&filtered).unwrap(),
        r#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"a","x":1.50},{"name":"b"}],"nextCursor":"c","_meta":{"k":[1,2]}}}"#
    );
    // Nothing hidden, an error, a notification, another list: passed on as they are.
    for unchanged in [
        &br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}"#[..],
        br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}"#,
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"admin_x"}]}}"#,
        b"",
    ] {
        assert_eq!(filter.filter_message(unchanged), Ok(None));
    }
    // What cannot be filtered safely is refused.
    for refused in [
        &br#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}]}}]"#[..],
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"admin_x"}]}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"admin_x"}]}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"admin_x"}]}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","name":"admin_x"}]}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"admin_x"}}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}]}"#,
        // Found by the list_filter fuzz target: read by JSON.parse and Python's json,
        // not by serde_json (a BOM, lone surrogates in member names).
        "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"admin_x\"}]}}".as_bytes(),
        br#"{"jsonrpc":"2.0","id":1,"x\ud800":0,"result":{"tools":[{"name":"admin_x"},{"name":"a"}]}}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"\udc00":1,"tools":[{"name":"admin_x"},{"name":"a"}]}}"#,
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"\xff\"}]}}",
    ] {
        assert!(
            filter.filter_message(refused).is_err(),
            "{}",
            String::from_utf8_lossy(refused)
        );
    }
    // A tool whose schema nests deeper than a JSON parser recurses: entries are
    // kept raw, never parsed into values, so it is still filtered.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"admin_x","inputSchema":{}1{}}},{{"name":"a"}}]}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let filtered = filter.filter_message(deep.as_bytes()).unwrap().unwrap();
    assert_eq!(
        filtered,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}"#
    );
}

#[test]
fn principal_claims_are_every_claim_of_the_token() {
    let p = policy(
        r#"
[[policy.rules]]
name = "admins only for deletes"
when = 'request.name.startsWith("delete_") && !("admins" in principal.claims.groups)'
effect = "deny"
"#,
    )
    .unwrap();
    let mut admin = principal(&[]);
    admin.claims = std::sync::Arc::new(serde_json::json!({"sub": "alice", "groups": ["admins"]}));
    let mut other = principal(&[]);
    other.claims = std::sync::Arc::new(serde_json::json!({"sub": "bob", "groups": ["staff"]}));
    assert_eq!(decide(&p, &admin, CALL_DELETE), Decision::Allow);
    assert_eq!(
        decide(&p, &other, CALL_DELETE),
        Decision::Deny {
            rule: Some("admins only for deletes".into())
        }
    );
    // A token without the claim: the condition cannot be evaluated, the deny rule
    // fails closed.
    let mut without = principal(&[]);
    without.claims = std::sync::Arc::new(serde_json::json!({"sub": "carol"}));
    assert!(matches!(
        decide(&p, &without, CALL_DELETE),
        Decision::Deny { .. }
    ));
    assert!(!p.lists(&other, "tools/call", "delete_file", ""));
    assert!(p.lists(&admin, "tools/call", "delete_file", ""));
}

/// `[scopes]` in the engine: `required` for every request, each `[[scopes.rules]]`
/// for its operations, then the policy's own `scopes` rules; all asked for at once.
#[test]
fn the_scope_table_is_rules_that_need_scopes_asked_for_together() {
    let scopes: crate::ScopePolicy = toml::from_str(
        r#"
        required = ["mcp"]
        implies = { "files:admin" = ["files:write"] }
        [[rules]]
        method = "tools/call"
        name = "delete_*"
        scopes = ["files:write"]
        [[rules]]
        method = "tools/call"
        name = "delete_all"
        scopes = ["files:admin"]
        "#,
    )
    .unwrap();
    let p = policy(
        r#"
[[policy.rules]]
name = "audit log deletes"
when = 'request.name == "delete_all"'
scopes = ["audit"]
"#,
    )
    .unwrap()
    .with_scopes(&scopes);
    let need = |granted: &[&str], body: Option<&str>| {
        let principal = principal(granted);
        let granted = granted.join(" ");
        let has = |s: &str| scopes.grants(&granted, s);
        let op = body.map(
            |b| match mcp_auth_core::mcp_binding::read_body(b.as_bytes()).unwrap() {
                mcp_auth_core::mcp_binding::JsonRpcBody::Operation(op) => op,
                _ => panic!("not an operation"),
            },
        );
        match p.decide(&principal, op.as_ref(), "", None, has) {
            Decision::NeedScopes { scopes, .. } => scopes,
            other => {
                assert_eq!(other, Decision::Allow);
                vec![]
            }
        }
    };
    let delete_all =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_all"}}"#;
    let delete_file =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}"#;
    // A GET or a response: `required` alone.
    assert_eq!(need(&[], None), ["mcp"]);
    assert!(need(&["mcp"], None).is_empty());
    assert_eq!(need(&[], Some(LIST)), ["mcp"]);
    assert_eq!(need(&["mcp"], Some(delete_file)), ["mcp", "files:write"]);
    assert_eq!(
        need(&["mcp"], Some(delete_all)),
        ["mcp", "files:write", "files:admin", "audit"]
    );
    // The hierarchy: files:admin covers files:write.
    assert_eq!(
        need(&["mcp", "files:admin"], Some(delete_file)),
        Vec::<String>::new()
    );
    assert!(need(&["mcp", "files:admin", "audit"], Some(delete_all)).is_empty());
    // Scope rules never hide an entry.
    assert!(p.lists(&principal(&[]), "tools/call", "delete_all", ""));
}
