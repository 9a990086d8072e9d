//! What a check is, what it found, and the runner.
//!
//! A check is named by the requirement it checks (`BASE-RS-4`, `DPOP-RS-3`, ...), so
//! a failure names the sentence of profiles/*.md it breaks. The checks of a target
//! are one declarative list ([`crate::base_rs::checks`] and the like); the runner
//! runs them in order and never stops at a failure.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A check's future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What runs a check: a function of the target (it may capture the check's data,
/// such as one row of a table of probes).
pub type Runner<T> = Box<dyn for<'a> Fn(&'a T) -> CheckFuture<'a> + Send + Sync>;

/// One requirement, checked from outside.
pub struct Check<T: ?Sized + 'static> {
    /// The requirement's identifier, as in profiles/*.md.
    pub id: &'static str,
    /// What the requirement asks, in one line.
    pub requirement: &'static str,
    /// Runs the check against the target.
    pub run: Runner<T>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "evidence", rename_all = "lowercase")]
pub enum Outcome {
    /// The requirement holds; what was seen.
    Pass(String),
    /// The requirement is broken; what was seen instead.
    Fail(String),
    /// Not applicable or not checkable here; why.
    Skip(String),
}

impl Outcome {
    /// A pass with this evidence.
    pub fn pass(evidence: impl Into<String>) -> Self {
        Self::Pass(evidence.into())
    }

    /// A failure with this evidence.
    pub fn fail(evidence: impl Into<String>) -> Self {
        Self::Fail(evidence.into())
    }

    /// Not applicable, and why.
    pub fn skip(why: impl Into<String>) -> Self {
        Self::Skip(why.into())
    }

    /// `pass` when `holds`, else `fail`, with the same evidence.
    pub fn from_bool(holds: bool, evidence: impl Into<String>) -> Self {
        if holds {
            Self::pass(evidence)
        } else {
            Self::fail(evidence)
        }
    }

    /// The result's name: `pass`, `fail` or `skip`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pass(_) => "pass",
            Self::Fail(_) => "fail",
            Self::Skip(_) => "skip",
        }
    }

    /// The evidence or the reason.
    pub fn evidence(&self) -> &str {
        match self {
            Self::Pass(e) | Self::Fail(e) | Self::Skip(e) => e,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The requirement's identifier.
    pub id: &'static str,
    /// What it asks.
    pub requirement: &'static str,
    /// What the check found.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Runs `checks` against `target` in order (those `only` names, when given).
pub async fn run<T: ?Sized + Sync>(
    checks: &[Check<T>],
    target: &T,
    only: Option<&[String]>,
) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(checks.len());
    for check in checks {
        if only.is_some_and(|ids| !ids.iter().any(|id| id == check.id)) {
            continue;
        }
        let outcome = (check.run)(target).await;
        results.push(CheckResult {
            id: check.id,
            requirement: check.requirement,
            outcome,
        });
    }
    results
}

/// Whether every applicable check passed (skips do not count against it).
pub fn all_pass(results: &[CheckResult]) -> bool {
    !results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Fail(_)))
}
