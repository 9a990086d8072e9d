//! Which scopes an MCP operation needs: a base set for every request, and rules by
//! JSON-RPC method and (for `tools/call`, `prompts/get`, `resources/read`) by name.
//! The table is a special case of the policy engine: `crate::policy::Policy::with_scopes`
//! makes it the first rules of the gateway's policy, each one asking for scopes.
//!
//! A request whose token lacks any of them is refused with 403 `insufficient_scope`
//! naming *all* the scopes the operation needs, in one challenge (MCP authorization
//! "Scope Challenge Handling": servers SHOULD emit the required scopes together, not
//! one per round trip). Broader scopes imply narrower ones through
//! [`ScopePolicy::implies`] ("Servers MUST account for scope hierarchies").
//!
//! ```toml
//! [scopes]
//! required = ["mcp"]
//! implies = { "files:admin" = ["files:write", "files:read"] }
//!
//! [[scopes.rules]]
//! method = "tools/call"
//! name = "delete_*"
//! scopes = ["files:write"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// The scope policy of one resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopePolicy {
    /// Scopes every request needs; also named in the `scope` of 401 challenges.
    #[serde(default)]
    pub required: Vec<String>,
    /// Per-operation rules; every matching rule adds its scopes.
    #[serde(default)]
    pub rules: Vec<ScopeRule>,
    /// Scope hierarchy: a granted key scope counts as each of its listed scopes.
    #[serde(default)]
    pub implies: BTreeMap<String, Vec<String>>,
}

/// Scopes needed by the operations that match `method` and, when given, `name`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopeRule {
    /// The JSON-RPC method, exactly (e.g. `tools/call`), or `*` for any.
    pub method: String,
    /// A pattern for the operation's name (`params.name`, or `params.uri` for
    /// resources): `*` matches any run of characters. Absent: any name, or none.
    #[serde(default)]
    pub name: Option<String>,
    /// The scopes the operation needs.
    pub scopes: Vec<String>,
}

impl ScopeRule {
    /// Whether the operation `method` on `name` is one this rule names.
    pub fn matches(&self, method: &str, name: Option<&str>) -> bool {
        if self.method != "*" && self.method != method {
            return false;
        }
        match (&self.name, name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(pattern), Some(name)) => glob_matches(pattern, name),
        }
    }
}

impl ScopePolicy {
    /// Whether the policy asks for anything at all.
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.rules.is_empty()
    }

    /// The scopes of `required` that `granted` (a token's space-separated `scope`)
    /// does not cover, directly or through [`ScopePolicy::implies`].
    pub fn missing<'a>(&self, required: &[&'a str], granted: &str) -> Vec<&'a str> {
        required
            .iter()
            .copied()
            .filter(|need| !self.grants(granted, need))
            .collect()
    }

    /// Whether `granted` (a token's space-separated `scope`) covers `need`, directly
    /// or through [`ScopePolicy::implies`].
    pub fn grants(&self, granted: &str, need: &str) -> bool {
        mcp_auth_core::scope::tokens(granted).any(|g| {
            g == need
                || self
                    .implies
                    .get(g)
                    .is_some_and(|implied| implied.iter().any(|i| i == need))
        })
    }
}

/// `*` matches any run of characters (including none); everything else literally.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some((first, after)) = pattern.split_once('*') else {
        // No `*`: the whole text must equal the pattern.
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    // The parts between the first `*` and the last, found in order; then the last.
    let (middle, last) = after.rsplit_once('*').unwrap_or(("", after));
    for part in middle.split('*') {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ScopePolicy {
        toml::from_str(
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
            [[rules]]
            method = "resources/read"
            scopes = ["files:read"]
            "#,
        )
        .expect("policy parses")
    }

    #[test]
    fn glob() {
        for (p, t, m) in [
            ("delete_*", "delete_file", true),
            ("delete_*", "delete_", true),
            ("delete_*", "undelete_file", false),
            ("*_file", "delete_file", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("**", "x", true),
            ("a**b", "ab", true),
            ("a*b*", "axbyz", true),
            ("*a*", "bab", true),
            ("*a*", "bbb", false),
            ("a*a", "a", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob_matches(p, t), m, "{p} vs {t}");
        }
    }

    #[test]
    fn a_rule_names_its_method_and_name_pattern() {
        let p = policy();
        let [delete, exact, read] = [&p.rules[0], &p.rules[1], &p.rules[2]];
        assert!(delete.matches("tools/call", Some("delete_file")));
        assert!(!delete.matches("tools/call", Some("echo")));
        assert!(!delete.matches("prompts/get", Some("delete_file")));
        assert!(
            !delete.matches("tools/call", None),
            "a pattern needs a name"
        );
        assert!(exact.matches("tools/call", Some("delete_all")));
        assert!(read.matches("resources/read", Some("file:///x")));
        assert!(
            read.matches("resources/read", None),
            "no pattern: any name, or none"
        );
    }

    #[test]
    fn a_broader_scope_covers_the_scopes_it_implies() {
        let p = policy();
        let need = ["mcp", "files:write", "files:admin"];
        let granted = |s: &[&str]| s.join(" ");
        assert_eq!(
            p.missing(&need, &granted(&["mcp", "files:admin"])),
            Vec::<&str>::new()
        );
        assert_eq!(
            p.missing(&need, &granted(&["mcp", "files:write"])),
            ["files:admin"]
        );
        assert_eq!(
            p.missing(&need, &granted(&[])),
            ["mcp", "files:write", "files:admin"]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ScopePolicy>("requried = [\"x\"]").is_err());
    }
}
