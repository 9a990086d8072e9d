//! Lists filtered to what the caller may use: the answers to `tools/list`,
//! `prompts/list` and `resources/list` lose the entries the policy would refuse to
//! every call of, and a call of such an entry gets the answer an unknown one gets.
//!
//! An entry is *hidden* when the policy denies the call it names (`tools/call` of a
//! tool, `prompts/get` of a prompt, `resources/read` of a resource) whatever its
//! arguments. The rules are evaluated with `request.method` the call's method,
//! `request.name` the entry's name (a resource's `uri`) and no `request.arguments`:
//! a rule whose outcome depends on the arguments cannot be evaluated, and counts as
//! "may allow" (an `allow` rule) or "may not apply" (a `deny` rule), so the entry
//! stays listed and each call is decided with its arguments. Rules with `scopes` never
//! hide: the client can ask for the scopes (step-up), so it should see what they
//! open. Everything else in the answer (the cursor, `_meta`, the member order and
//! the entries' bytes) is passed on unchanged.
//!
//! Fail closed: an answer that cannot be filtered safely (a member twice, an entry
//! without its name, a batch) is not passed on.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::Policy;
use crate::presentation::Principal;

/// A list method the gateway filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`; entries are called with `tools/call`.
    Tools,
    /// `prompts/list`; entries are fetched with `prompts/get`.
    Prompts,
    /// `resources/list`; entries are read with `resources/read`.
    Resources,
}

impl ListKind {
    /// The kind a JSON-RPC list method names.
    pub fn of_list_method(method: &str) -> Option<Self> {
        match method {
            "tools/list" => Some(Self::Tools),
            "prompts/list" => Some(Self::Prompts),
            "resources/list" => Some(Self::Resources),
            _ => None,
        }
    }

    /// The kind whose entries a call method uses.
    pub fn of_call_method(method: &str) -> Option<Self> {
        match method {
            "tools/call" => Some(Self::Tools),
            "prompts/get" => Some(Self::Prompts),
            "resources/read" => Some(Self::Resources),
            _ => None,
        }
    }

    /// The member of the list result holding the entries.
    fn member(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
        }
    }

    /// The method that uses one entry.
    pub fn call_method(self) -> &'static str {
        match self {
            Self::Tools => "tools/call",
            Self::Prompts => "prompts/get",
            Self::Resources => "resources/read",
        }
    }

    /// The entry's member that names it (what the call's `params` carry).
    fn key(self) -> &'static str {
        match self {
            Self::Resources => "uri",
            Self::Tools | Self::Prompts => "name",
        }
    }

    /// The label of metrics and logs.
    pub fn as_str(self) -> &'static str {
        self.member()
    }
}

impl Policy {
    /// Whether an entry named `name`, used by `call_method`, is listed for
    /// `principal`: `false` only when the policy denies every call of it, whatever
    /// its arguments (see the module documentation).
    pub fn lists(
        &self,
        principal: &Principal,
        call_method: &str,
        name: &str,
        protocol_version: &str,
    ) -> bool {
        use super::{Action, Effect, When};
        use mcp_auth_core::condition::Input;
        let bindings = self.env.bind(vec![
            ("principal", self.principal_variable(principal)),
            (
                "request",
                Input::Map(vec![
                    ("method", Input::Str(call_method)),
                    ("name", Input::Str(name)),
                    ("protocol_version", Input::Str(protocol_version)),
                ]),
            ),
        ]);
        for rule in self.rules.iter() {
            // Rules that need scopes never hide (the client can ask for them).
            let (Action::Decide(effect), When::Cel(condition)) = (&rule.action, &rule.when) else {
                continue;
            };
            match (*effect, condition.evaluate_in(&bindings)) {
                // Matches, or may match for some arguments.
                (Effect::Allow, Ok(true) | Err(_)) => return true,
                (Effect::Deny, Ok(true)) => return false,
                // Does not match, or may not for some arguments: the later rules
                // decide those calls.
                _ => {}
            }
        }
        self.default == Effect::Allow
    }
}

/// What the gateway needs to filter the answer to one list request: put in the
/// request's extensions when the policy has rules and the request is a list.
#[derive(Debug, Clone)]
pub struct ListFilter {
    policy: Policy,
    principal: Principal,
    /// The lists filtered: the one a list request asks for, or all three on a
    /// stream that may replay any earlier answer (a GET, resumed with
    /// `Last-Event-ID`).
    kinds: &'static [ListKind],
    protocol_version: String,
}

/// Every list the gateway filters.
const ALL_LISTS: [ListKind; 3] = [ListKind::Tools, ListKind::Prompts, ListKind::Resources];

/// Why a list answer cannot be passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListFilterError {
    /// Not UTF-8, a member twice, a batch, an entry without its name.
    #[error("the MCP server's list answer cannot be filtered: {0}")]
    Malformed(&'static str),
}

impl ListFilter {
    /// The filter of a `kind` list request by `principal`.
    pub fn new(
        policy: Policy,
        principal: Principal,
        kind: ListKind,
        protocol_version: &str,
    ) -> Self {
        let kinds: &'static [ListKind] = match kind {
            ListKind::Tools => &ALL_LISTS[0..1],
            ListKind::Prompts => &ALL_LISTS[1..2],
            ListKind::Resources => &ALL_LISTS[2..3],
        };
        Self {
            policy,
            principal,
            kinds,
            protocol_version: protocol_version.to_owned(),
        }
    }

    /// The filter of a stream that is no answer to a list request but may carry
    /// one (the standalone GET stream, which a client resumes with `Last-Event-ID`
    /// and a server may replay earlier answers on): every list result in it.
    pub fn any_list(policy: Policy, principal: Principal, protocol_version: &str) -> Self {
        Self {
            policy,
            principal,
            kinds: &ALL_LISTS,
            protocol_version: protocol_version.to_owned(),
        }
    }

    /// Filters one JSON-RPC message from the answer (a JSON body, or the data of one
    /// SSE event): `Ok(None)` to pass it on unchanged (not a list result, or nothing
    /// hidden), `Ok(Some(bytes))` the message without the hidden entries.
    ///
    /// Every result holding the list's member is filtered, whatever its `id`: a
    /// client may match ids loosely (`1.0` for `1`), and the only result in the
    /// answer to a list request is the list.
    pub fn filter_message(&self, message: &[u8]) -> Result<Option<Vec<u8>>, ListFilterError> {
        let text = std::str::from_utf8(message)
            .map_err(|_| ListFilterError::Malformed("the message is not UTF-8"))?;
        // RFC 8259 §8.1: no byte order mark in JSON; clients that drop one would read
        // what the parser here does not.
        if text.starts_with('\u{feff}') {
            return Err(ListFilterError::Malformed(
                "the message starts with a byte order mark",
            ));
        }
        if text.trim_start().starts_with('[') {
            return Err(ListFilterError::Malformed("a batch carries a list"));
        }
        let top = match serde_json::from_str::<Object<'_>>(text) {
            Ok(Object(top)) => top,
            // An object the gateway cannot read (nested past the parser's depth, cut
            // short, bad escapes) may still be one a client reads: refused.
            Err(_) if text.trim_start().starts_with('{') => {
                return Err(ListFilterError::Malformed(
                    "the message is not JSON the gateway reads",
                ));
            }
            // Not an object at all (an SSE event's empty data, a keep-alive): the
            // client cannot take a list from it either.
            Err(_) => return Ok(None),
        };
        let Some(result) = only(&top, "result")? else {
            return Ok(None);
        };
        let members = match serde_json::from_str::<Object<'_>>(result.get()) {
            Ok(Object(members)) => members,
            Err(_) if result.get().starts_with('{') => {
                return Err(ListFilterError::Malformed(
                    "the result is not JSON the gateway reads",
                ));
            }
            // A result that is no object holds no list.
            Err(_) => return Ok(None),
        };
        let mut replaced: Vec<(&str, String)> = Vec::new();
        for kind in self.kinds {
            if let Some(entries) = only(&members, kind.member())?
                && let Some(list) = self.filter_entries(*kind, entries)?
            {
                replaced.push((kind.member(), list));
            }
        }
        if replaced.is_empty() {
            return Ok(None);
        }
        let result = write_object(&members, &replaced);
        Ok(Some(write_object(&top, &[("result", result)]).into_bytes()))
    }

    /// The entries of one list the policy lists, as a JSON array; `None` when none
    /// is hidden.
    fn filter_entries(
        &self,
        kind: ListKind,
        entries: &RawValue,
    ) -> Result<Option<String>, ListFilterError> {
        let entries: Vec<&RawValue> = serde_json::from_str(entries.get())
            .map_err(|_| ListFilterError::Malformed("the list is not an array"))?;
        let mut kept: Vec<&RawValue> = Vec::with_capacity(entries.len());
        for entry in &entries {
            let Object(fields) = serde_json::from_str::<Object<'_>>(entry.get())
                .map_err(|_| ListFilterError::Malformed("an entry is not an object"))?;
            let name = only(&fields, kind.key())?
                .and_then(|n| serde_json::from_str::<Cow<'_, str>>(n.get()).ok())
                .ok_or(ListFilterError::Malformed("an entry has no name"))?;
            if self.policy.lists(
                &self.principal,
                kind.call_method(),
                &name,
                &self.protocol_version,
            ) {
                kept.push(entry);
            }
        }
        let hidden = entries.len() - kept.len();
        if hidden == 0 {
            return Ok(None);
        }
        metrics::counter!("mcp_auth_policy_hidden_total", "list" => kind.as_str())
            .increment(hidden as u64);
        tracing::debug!(
            list = kind.as_str(),
            hidden,
            "list entries hidden by the policy"
        );
        Ok(Some(write_array(&kept)))
    }
}

/// A JSON object's members in order, values raw (nothing re-encoded).
struct Object<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Object(members))
            }
        }
        deserializer
            .deserialize_map(Members)
            .map_err(de::Error::custom)
    }
}

/// The value of the member `name`: `None` when absent, refused when repeated (a
/// reader taking the last would see entries the filter never saw).
fn only<'a>(
    members: &[(Cow<'a, str>, &'a RawValue)],
    name: &str,
) -> Result<Option<&'a RawValue>, ListFilterError> {
    let mut found = members.iter().filter(|(k, _)| k == name).map(|(_, v)| *v);
    let first = found.next();
    if found.next().is_some() {
        return Err(ListFilterError::Malformed("a member appears twice"));
    }
    Ok(first)
}

/// `[a,b,…]` of raw values.
fn write_array(values: &[&RawValue]) -> String {
    let mut out =
        String::with_capacity(values.iter().map(|v| v.get().len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(v.get());
    }
    out.push(']');
    out
}

/// The object `members` with the values of the `replaced` members swapped for the
/// raw JSON given, every other member as it was.
fn write_object(members: &[(Cow<'_, str>, &RawValue)], replaced: &[(&str, String)]) -> String {
    let mut out = String::new();
    out.push('{');
    for (i, (key, raw)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A string always serializes.
        out.push_str(&serde_json::to_string(key.as_ref()).unwrap_or_default());
        out.push(':');
        let value = replaced
            .iter()
            .find(|(name, _)| key == name)
            .map_or(raw.get(), |(_, value)| value.as_str());
        out.push_str(value);
    }
    out.push('}');
    out
}
