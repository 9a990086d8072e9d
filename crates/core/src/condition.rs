//! The `when` of a rule: a CEL expression over named variables. A workload rule
//! (WIF §6.3) reads one, `claims`, the verified claim set of the assertion; a policy
//! rule of the identity provider (EMA §6.1) reads `user` and `client`; a gateway
//! policy rule reads `principal` and `request`. Compiled once at start; evaluated per
//! token request or per MCP operation.
//!
//! CEL (the Common Expression Language) is not Turing-complete and has no side
//! effects, so an operator's condition cannot loop or reach outside the claims. The
//! `cel` crate has no type checker: a condition that yields something other than a
//! `bool`, or reads a claim the assertion lacks, fails at evaluation, and a failed
//! evaluation is "no match" (fail closed, WIF-AS-19).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;

use serde_json::{Map, Value};

/// The variable of a workload rule's condition.
pub const CLAIMS: &str = "claims";

/// A compiled `when`.
#[derive(Clone)]
pub struct Condition {
    source: Arc<str>,
    program: Arc<cel::Program>,
    env: Arc<cel::Env>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

/// Why a condition was refused when the AS starts (WIF §6.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// Not CEL.
    #[error("not a valid CEL expression: {0}")]
    Syntax(String),
    /// It reads none of its variables: a constant, which would match every request
    /// or none.
    #[error("reads none of {0}: a constant condition matches every request or none")]
    Constant(&'static str),
}

/// Why a condition did not yield `true` or `false` for one assertion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// CEL stopped: a missing claim, a type mismatch, an unknown function.
    #[error("evaluation failed: {0}")]
    Failed(String),
    /// It yielded something other than a `bool`.
    #[error("the condition yielded {0}, not a bool")]
    NotBool(String),
}

impl Condition {
    /// Compiles a workload rule's `source` (over `claims`).
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        Self::compile_over(source, &[CLAIMS], "`claims`")
    }

    /// Compiles `source`; refuses a syntax error and a condition that reads none of
    /// `variables` (`described` names them in the error).
    pub fn compile_over(
        source: &str,
        variables: &[&str],
        described: &'static str,
    ) -> Result<Self, ConditionError> {
        Self::compile_in(Arc::new(cel::Env::stdlib()), source, variables, described)
    }

    /// [`Condition::compile_over`] in `env`, shared by conditions evaluated against
    /// one set of [`Bindings`] ([`Environment`]).
    fn compile_in(
        env: Arc<cel::Env>,
        source: &str,
        variables: &[&str],
        described: &'static str,
    ) -> Result<Self, ConditionError> {
        let program = env.compile(source).map_err(|e| {
            // One line: positions stay, the multi-line caret drawing goes.
            ConditionError::Syntax(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        let references = program.references();
        if !variables.iter().any(|v| references.has_variable(v)) {
            return Err(ConditionError::Constant(described));
        }
        Ok(Self {
            source: source.into(),
            program: Arc::new(program),
            env,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates a workload rule's condition over `claims`.
    pub fn evaluate(&self, claims: &Map<String, Value>) -> Result<bool, EvaluationError> {
        self.evaluate_with(&[(CLAIMS, claims)])
    }

    /// Evaluates the condition with these variables.
    pub fn evaluate_with(
        &self,
        variables: &[(&str, &Map<String, Value>)],
    ) -> Result<bool, EvaluationError> {
        let mut context = cel::Context::with_env(Arc::clone(&self.env));
        for (name, value) in variables {
            context
                .add_variable(*name, *value)
                .map_err(|e| EvaluationError::Failed(e.to_string()))?;
        }
        self.run(&context)
    }

    /// Evaluates the condition against `bindings`, made once for several conditions
    /// of one [`Environment`].
    pub fn evaluate_in(&self, bindings: &Bindings<'_>) -> Result<bool, EvaluationError> {
        self.run(&bindings.0)
    }

    fn run(&self, context: &cel::Context<'_, '_>) -> Result<bool, EvaluationError> {
        match self.program.execute(context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(EvaluationError::NotBool(other.type_of().to_string())),
            Err(e) => Err(EvaluationError::Failed(e.to_string())),
        }
    }
}

/// Where several conditions are compiled so that they can be evaluated against one
/// set of variables converted once ([`Bindings`]): a gateway policy's rules, for
/// each request.
#[derive(Clone)]
pub struct Environment(Arc<cel::Env>);

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment")
    }
}

impl Default for Environment {
    fn default() -> Self {
        Self(Arc::new(cel::Env::stdlib()))
    }
}

impl Environment {
    /// Compiles `source` in this environment (see [`Condition::compile_over`]).
    pub fn compile(
        &self,
        source: &str,
        variables: &[&str],
        described: &'static str,
    ) -> Result<Condition, ConditionError> {
        Condition::compile_in(Arc::clone(&self.0), source, variables, described)
    }

    /// Converts `variables` once, for [`Condition::evaluate_in`]. The values are built
    /// directly as CEL values borrowing from the caller's data (no serialization), so
    /// binding costs a few allocations, not a copy of each value.
    pub fn bind<'v>(&self, variables: Vec<(&str, Input<'v>)>) -> Bindings<'v> {
        let mut context = cel::Context::with_env(Arc::clone(&self.0));
        for (name, value) in variables {
            context.add_variable_as_val(name, value.into_val());
        }
        Bindings(context)
    }
}

/// A value a condition reads, borrowed from the caller ([`Environment::bind`]).
#[derive(Debug)]
pub enum Input<'v> {
    /// A string.
    Str(&'v str),
    /// A list of strings.
    Strs(&'v [String]),
    /// Any JSON: integers read as CEL `int` (`uint` above `i64::MAX`), other
    /// numbers as `double`.
    Json(&'v Value),
    /// A map with these members.
    Map(Vec<(&'static str, Input<'v>)>),
}

impl<'v> Input<'v> {
    fn into_val(self) -> Box<dyn Val + 'v> {
        match self {
            Self::Str(s) => Box::new(CelString::from(s)),
            Self::Strs(list) => Box::new(CelList::from(
                list.iter()
                    .map(|s| Box::new(CelString::from(s.as_str())) as Box<dyn Val + 'v>)
                    .collect::<Vec<_>>(),
            )),
            Self::Json(value) => json_val(value),
            Self::Map(members) => Box::new(CelMap::from(
                members
                    .into_iter()
                    .map(|(k, v)| (CelMapKey::from(k), v.into_val()))
                    .collect::<HashMap<_, _>>(),
            )),
        }
    }
}

/// JSON as CEL values, borrowing its strings.
fn json_val(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(CelList::from(
            items.iter().map(json_val).collect::<Vec<_>>(),
        )),
        Value::Object(members) => Box::new(CelMap::from(
            members
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), json_val(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// Variables converted for the conditions of one [`Environment`].
pub struct Bindings<'v>(cel::Context<'v, 'v>);

impl fmt::Debug for Bindings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bindings")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn k8s() -> Map<String, Value> {
        claims(json!({
            "iss": "https://oidc.cluster.example.com",
            "sub": "system:serviceaccount:mcp-agents:planner",
            "kubernetes.io": {
                "namespace": "mcp-agents",
                "serviceaccount": {"name": "planner", "uid": "3c1f"}
            },
            "exp": 1_767_229_200_i64,
            "repository_id": "89012345"
        }))
    }

    #[test]
    fn the_presets_conditions_evaluate_over_the_claims() {
        let c = Condition::compile(
            r#"claims.sub == "system:serviceaccount:mcp-agents:planner"
                && claims["kubernetes.io"].namespace == "mcp-agents"
                && claims["kubernetes.io"].serviceaccount.uid == "3c1f""#,
        )
        .unwrap();
        assert_eq!(c.evaluate(&k8s()), Ok(true));
        let other = Condition::compile(r#"claims.sub == "system:serviceaccount:x:y""#).unwrap();
        assert_eq!(other.evaluate(&k8s()), Ok(false));
        let number = Condition::compile("claims.exp > 1767229199").unwrap();
        assert_eq!(number.evaluate(&k8s()), Ok(true));
    }

    #[test]
    fn wif_as_22_a_syntax_error_or_a_constant_is_refused() {
        assert!(matches!(
            Condition::compile("claims.sub == "),
            Err(ConditionError::Syntax(_))
        ));
        assert_eq!(
            Condition::compile("true").unwrap_err(),
            ConditionError::Constant("`claims`")
        );
        assert_eq!(
            Condition::compile("1 == 1 || other.x").unwrap_err(),
            ConditionError::Constant("`claims`")
        );
    }

    #[test]
    fn wif_as_19_a_missing_claim_or_a_non_bool_is_an_evaluation_error() {
        let missing = Condition::compile(r#"claims.environment == "production""#).unwrap();
        assert!(matches!(
            missing.evaluate(&k8s()),
            Err(EvaluationError::Failed(_))
        ));
        let not_bool = Condition::compile("claims.sub").unwrap();
        assert!(matches!(
            not_bool.evaluate(&k8s()),
            Err(EvaluationError::NotBool(_))
        ));
        // `has()` lets an operator test for an optional claim without failing.
        let guarded =
            Condition::compile(r#"has(claims.environment) && claims.environment == "x""#).unwrap();
        assert_eq!(guarded.evaluate(&k8s()), Ok(false));
    }
}
