//! Policy rules: CEL conditions over the verified principal and the MCP operation,
//! evaluated for every JSON-RPC request after the scope policy, in order.
//!
//! ```toml
//! [policy]
//! default = "allow"            # what happens when no deciding rule matches
//!
//! [[policy.rules]]             # needs a scope when it matches: 403 insufficient_scope
//! name = "deleting needs files:admin"
//! when = 'request.method == "tools/call" && request.name.startsWith("delete_")'
//! scopes = ["files:admin"]
//!
//! [[policy.rules]]             # decides: the first matching allow or deny rule wins
//! name = "writes only under /tmp"
//! when = 'request.name == "write_file" && !request.arguments.path.startsWith("/tmp/")'
//! effect = "deny"
//! ```
//!
//! A rule has a `when` and either `scopes` (the operation needs them when the rule
//! matches; evaluation goes on) or an `effect` (`allow` or `deny`: the first such rule
//! that matches decides). When none decides, `default` does (`allow` unless set).
//!
//! What a condition reads:
//! - `principal`: `issuer`, `subject`, `client_id`, `scopes` (a list), `profile`
//!   (`bearer`, `httpsig`, `dpop`), `key_thumbprint` (`""` without a key), `token_id`,
//!   `claims` (every claim of the access token, as signed: `principal.claims.groups`);
//! - `request`: `method`, `name` (`params.name`, or `params.uri` of
//!   `resources/read`; `""` without one), `arguments` (`params.arguments`, `{}`
//!   without), `protocol_version` (the `MCP-Protocol-Version` header, `""` without),
//!   `params` (the `Mcp-Param-*` values of a listed tool's call, checked against its
//!   arguments, decoded, as strings by their `x-mcp-header` name: `request.params.Region`;
//!   `{}` for any other request: unchecked headers are never read).
//!
//! A condition that cannot be evaluated (a missing argument, a type mismatch) fails
//! closed: a `deny` rule and a `scopes` rule count as matching, an `allow` rule as not
//! matching; the failure is logged with the rule's name. Conditions are compiled once,
//! when the configuration is read; a syntax error names the rule and the position.

use std::sync::Arc;

use mcp_auth_core::McpOperation;
use mcp_auth_core::condition::{Condition, ConditionError, Environment, Input};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::presentation::Principal;
use crate::scope_policy::{ScopePolicy, ScopeRule};

/// The variables a policy condition reads, as named in the documentation.
const VARIABLES: [&str; 2] = ["principal", "request"];

/// `[policy]` as written in a configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// What happens when no `allow`/`deny` rule matches (default `allow`).
    #[serde(default)]
    pub default: Effect,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// One `[[policy.rules]]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A name for logs and errors; unique within the policy.
    pub name: String,
    /// The CEL condition.
    pub when: String,
    /// What the rule decides when it matches (exclusive with `scopes`).
    #[serde(default)]
    pub effect: Option<Effect>,
    /// The scopes the operation needs when the rule matches (exclusive with
    /// `effect`).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// An `allow` or `deny` decision.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The operation goes on to the MCP server.
    #[default]
    Allow,
    /// The operation is refused with 403.
    Deny,
}

/// Why a `[policy]` is refused when the configuration is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The condition does not compile, or reads neither `principal` nor `request`.
    #[error("policy rule {index} (`{name}`): {error}")]
    Condition {
        /// 1-based position of the rule.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong with the condition (with its position for a syntax error).
        error: ConditionError,
    },
    /// A rule with both `effect` and `scopes`, or neither.
    #[error("policy rule {index} (`{name}`): give either `effect` or `scopes`")]
    Shape {
        /// 1-based position of the rule.
        index: usize,
        /// Its name.
        name: String,
    },
    /// Two rules with one name, or a rule without a name.
    #[error("policy rule {index}: its name must be unique and not empty")]
    Name {
        /// 1-based position of the rule.
        index: usize,
    },
}

/// A compiled policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Arc<[Rule]>,
    default: Effect,
    env: Environment,
    /// Whether any condition mentions `arguments`: only then is a request's
    /// `params.arguments` parsed (it can be as large as the body cap).
    reads_arguments: bool,
    /// Whether any condition mentions `claims`: only then are the token's claims
    /// made CEL values.
    reads_claims: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    name: Arc<str>,
    when: When,
    action: Action,
}

/// When a rule matches.
#[derive(Debug, Clone)]
enum When {
    /// A CEL condition (`[[policy.rules]]`): evaluated for operations only.
    Cel(Condition),
    /// Every request (`[scopes] required`), an operation or not.
    Always,
    /// The operations of a `[[scopes.rules]]`: a method and a name pattern.
    Operation(ScopeRule),
}

#[derive(Debug, Clone)]
enum Action {
    Decide(Effect),
    NeedScopes(Vec<String>),
}

/// What the policy decided for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The operation may go on.
    Allow,
    /// Refused by the rule named (or by the default, `None`).
    Deny {
        /// The rule that decided; `None` for the default.
        rule: Option<Arc<str>>,
    },
    /// The token lacks scopes the matching rules ask for: all those scopes.
    NeedScopes {
        /// The first rule whose scopes are missing.
        rule: Arc<str>,
        /// Every scope the matching rules ask for.
        scopes: Vec<String>,
    },
}

impl Policy {
    /// Compiles `config`.
    pub fn compile(config: &PolicyConfig) -> Result<Self, PolicyError> {
        let env = Environment::default();
        let mut rules: Vec<Rule> = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let index = i + 1;
            if rule.name.trim().is_empty() || rules.iter().any(|r| *r.name == *rule.name) {
                return Err(PolicyError::Name { index });
            }
            let action = match (&rule.effect, &rule.scopes) {
                (Some(effect), None) => Action::Decide(*effect),
                (None, Some(scopes)) if !scopes.is_empty() => Action::NeedScopes(scopes.clone()),
                _ => {
                    return Err(PolicyError::Shape {
                        index,
                        name: rule.name.clone(),
                    });
                }
            };
            let condition = env
                .compile(&rule.when, &VARIABLES, "`principal` and `request`")
                .map_err(|error| PolicyError::Condition {
                    index,
                    name: rule.name.clone(),
                    error,
                })?;
            rules.push(Rule {
                name: rule.name.as_str().into(),
                when: When::Cel(condition),
                action,
            });
        }
        Ok(Self {
            rules: rules.into(),
            default: config.default,
            env,
            reads_arguments: config.rules.iter().any(|r| r.when.contains("arguments")),
            reads_claims: config.rules.iter().any(|r| r.when.contains("claims")),
        })
    }

    /// The same policy with the scope policy's rules first (the one engine: a
    /// `[scopes]` table is rules that need scopes): `required` for every request
    /// (`[scopes] required`), then each `[[scopes.rules]]` for the operations it
    /// names. Their scopes and those of matching `scopes` rules are asked for
    /// together, in one challenge.
    pub fn with_scopes(&self, scopes: &ScopePolicy) -> Self {
        let required = (!scopes.required.is_empty()).then(|| Rule {
            name: "[scopes] required".into(),
            when: When::Always,
            action: Action::NeedScopes(scopes.required.clone()),
        });
        let by_operation = scopes.rules.iter().enumerate().map(|(i, rule)| Rule {
            name: format!("[[scopes.rules]] {}", i + 1).into(),
            when: When::Operation(rule.clone()),
            action: Action::NeedScopes(rule.scopes.clone()),
        });
        let rules: Vec<Rule> = required
            .into_iter()
            .chain(by_operation)
            .chain(self.rules.iter().cloned())
            .collect();
        Self {
            rules: rules.into(),
            ..self.clone()
        }
    }

    /// Whether the policy has anything to decide (no rules and the default `allow`:
    /// nothing is evaluated).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.default == Effect::Allow
    }

    /// Decides for a request of `principal` naming `operation` (`None`: a GET, a
    /// DELETE, a response the client posts; only `[scopes] required` applies to
    /// those). `has_scope` says whether the token grants a scope, hierarchy applied.
    /// Callers skip a policy that [`Policy::is_empty`].
    pub fn decide(
        &self,
        principal: &Principal,
        operation: Option<&McpOperation<'_>>,
        protocol_version: &str,
        params: Option<&Value>,
        has_scope: impl Fn(&str) -> bool,
    ) -> Decision {
        let no_params = Value::Object(Map::new());
        let params = params.unwrap_or(&no_params);
        let arguments = operation
            .and_then(|op| op.arguments)
            .filter(|_| self.reads_arguments)
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        // Made at the first CEL rule: scope rules alone read no variable.
        let mut bindings = None;
        // Borrowed from the rules: owned only in the decision that names them.
        let mut needed: Vec<&str> = Vec::new();
        let mut first_missing: Option<Arc<str>> = None;
        for rule in self.rules.iter() {
            let matched = match (&rule.when, operation) {
                (When::Always, _) => true,
                (When::Operation(scope_rule), Some(op)) => {
                    scope_rule.matches(&op.method, op.name.as_deref())
                }
                (When::Cel(condition), Some(op)) => {
                    let bindings = bindings.get_or_insert_with(|| {
                        self.env.bind(vec![
                            ("principal", self.principal_variable(principal)),
                            (
                                "request",
                                request_variable(op, &arguments, protocol_version, params),
                            ),
                        ])
                    });
                    match condition.evaluate_in(bindings) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(rule = %rule.name, error = %e, "policy condition could not be evaluated; failing closed");
                            !matches!(rule.action, Action::Decide(Effect::Allow))
                        }
                    }
                }
                (When::Operation(_) | When::Cel(_), None) => false,
            };
            if !matched {
                continue;
            }
            match &rule.action {
                Action::NeedScopes(scopes) => {
                    if first_missing.is_none() && !scopes.iter().all(|s| has_scope(s)) {
                        first_missing = Some(Arc::clone(&rule.name));
                    }
                    for s in scopes {
                        if !needed.contains(&s.as_str()) {
                            needed.push(s);
                        }
                    }
                }
                Action::Decide(effect) => {
                    return finish(first_missing, needed, *effect, Some(&rule.name));
                }
            }
        }
        // The default decides operations; a request naming none is decided by its
        // scopes alone.
        let default = if operation.is_some() {
            self.default
        } else {
            Effect::Allow
        };
        finish(first_missing, needed, default, None)
    }
}

/// The decision once a deciding rule (or the default) is reached: missing scopes
/// first (a step-up can cure them), then the effect.
fn finish(
    first_missing: Option<Arc<str>>,
    needed: Vec<&str>,
    effect: Effect,
    rule: Option<&Arc<str>>,
) -> Decision {
    if effect == Effect::Deny {
        return Decision::Deny {
            rule: rule.map(Arc::clone),
        };
    }
    match first_missing {
        Some(rule) => Decision::NeedScopes {
            rule,
            scopes: needed.into_iter().map(str::to_owned).collect(),
        },
        None => Decision::Allow,
    }
}

impl Policy {
    /// `principal`, as the conditions read it (`claims` only when a condition
    /// mentions them).
    fn principal_variable<'p>(&self, p: &'p Principal) -> Input<'p> {
        let mut fields = principal_fields(p);
        if self.reads_claims {
            fields.push(("claims", Input::Json(&p.claims)));
        }
        Input::Map(fields)
    }
}

/// The fields of `principal` but its claims.
fn principal_fields(p: &Principal) -> Vec<(&'static str, Input<'_>)> {
    vec![
        ("issuer", Input::Str(&p.issuer)),
        ("subject", Input::Str(&p.subject)),
        ("client_id", Input::Str(&p.client_id)),
        ("scopes", Input::Strs(&p.scopes)),
        ("profile", Input::Str(p.profile.as_str())),
        (
            "key_thumbprint",
            Input::Str(p.key_thumbprint.as_deref().unwrap_or_default()),
        ),
        ("token_id", Input::Str(&p.token_id)),
    ]
}

/// `request`, as the conditions read it; `arguments` is `params.arguments` when it is a
/// JSON object, else `{}`.
fn request_variable<'v>(
    op: &'v McpOperation<'_>,
    arguments: &'v Value,
    protocol_version: &'v str,
    params: &'v Value,
) -> Input<'v> {
    Input::Map(vec![
        ("method", Input::Str(&op.method)),
        ("name", Input::Str(op.name.as_deref().unwrap_or_default())),
        ("arguments", Input::Json(arguments)),
        ("protocol_version", Input::Str(protocol_version)),
        ("params", Input::Json(params)),
    ])
}

mod listing;
#[cfg(test)]
mod tests;

pub use listing::{ListFilter, ListFilterError, ListKind};
