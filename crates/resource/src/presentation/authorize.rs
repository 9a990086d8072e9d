//! Step 6 of the check, and what goes with it: the request's authorization by the
//! one policy engine (`crate::policy`: the scope table's rules, then the policy's),
//! the SEP-2243 `Mcp-Param-*` headers of a listed tool checked against its arguments,
//! and the audit event of an authenticated request refused by either.

use http::HeaderMap;
use http::request::Parts;
use mcp_auth_core::mcp_binding::{self, McpOperation};
use mcp_auth_core::mcp_param;

use super::{Principal, ResourceVerifier};
use crate::audit;
use crate::policy::{Decision, ListFilter, ListKind};
use crate::rejection::Rejection;

impl ResourceVerifier {
    /// §10 step 6, the authorization of the request (`op`: the operation its body
    /// names, if any) by the one engine of `crate::policy`, the scope policy's rules
    /// first: 403 `insufficient_scope` naming every scope the matching rules ask for
    /// when the token lacks one (MCP "Scope Challenge Handling": all at once), 403
    /// with a JSON-RPC error when a rule (or the default) denies it, and the answer to
    /// an unknown tool (prompt, resource) when the entry is hidden from its list
    /// (`crate::policy::ListKind`). An allowed list request gets the filter of its
    /// answer.
    pub(super) fn authorize(
        &self,
        principal: &Principal,
        op: Option<&McpOperation<'_>>,
        parts: &Parts,
        granted: &str,
        params: Option<&serde_json::Value>,
    ) -> Result<Option<ListFilter>, Rejection> {
        let policy = &self.authorization;
        if policy.is_empty() {
            return Ok(None);
        }
        let version = parts
            .headers
            .get(mcp_binding::MCP_PROTOCOL_VERSION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let scopes = &self.config.scopes;
        let has_scope = |s: &str| scopes.grants(granted, s);
        let id = || op.and_then(|op| op.id).map(|i| i.get().to_owned());
        match policy.decide(principal, op, version, params, has_scope) {
            Decision::Allow if self.config.policy.is_empty() => Ok(None),
            Decision::Allow => Ok(match op {
                Some(op) => ListKind::of_list_method(&op.method)
                    .map(|kind| ListFilter::new(policy.clone(), principal.clone(), kind, version)),
                // The standalone stream: a server may replay earlier answers on it
                // (a client resuming with `Last-Event-ID`), lists among them.
                None if parts.method == http::Method::GET => Some(ListFilter::any_list(
                    policy.clone(),
                    principal.clone(),
                    version,
                )),
                None => None,
            }),
            Decision::Deny { rule } => {
                let rule = rule.map_or_else(|| "the default".to_owned(), |r| format!("rule `{r}`"));
                // An entry hidden from its list is unknown to this caller.
                if let Some(op) = op
                    && let (Some(kind), Some(name)) =
                        (ListKind::of_call_method(&op.method), &op.name)
                    && !policy.lists(principal, &op.method, name, version)
                {
                    return Err(Rejection::Hidden {
                        kind,
                        name: name.to_string(),
                        rule,
                        id: id(),
                    });
                }
                Err(Rejection::PolicyDenied { rule, id: id() })
            }
            Decision::NeedScopes { rule, scopes } => {
                tracing::debug!(rule = %rule, "policy rule asks for scopes the token lacks");
                Err(Rejection::InsufficientScope { required: scopes })
            }
        }
    }

    /// Step 5 for SEP-2243's custom headers: a `tools/call` of a tool listed with
    /// `x-mcp-header` annotations must carry each annotated argument in its
    /// `Mcp-Param-*` header, equal once decoded (MCP 2026-07-28 Streamable HTTP
    /// §Server Behavior for Custom Headers): else 400, -32020. Other tools' headers
    /// are not recognized, and pass (`Ok(None)`).
    ///
    /// Checked, the values are the policy's `request.params`: the *arguments'*
    /// values as text by `x-mcp-header` name (`100` for a header `1e2` the check
    /// found equal), from the one lookup the check made, so a list learned meanwhile
    /// cannot make an unchecked header readable.
    pub(super) fn check_param_headers(
        &self,
        op: &McpOperation<'_>,
        headers: &HeaderMap,
    ) -> Result<Option<serde_json::Value>, Rejection> {
        let (Some(registry), "tools/call", Some(name)) =
            (&self.tool_headers, op.method.as_ref(), &op.name)
        else {
            return Ok(None);
        };
        let Some(params) = registry.get(name) else {
            return Ok(None);
        };
        let arguments = op
            .arguments
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok());
        mcp_param::check_call_headers(&params, headers, arguments.as_ref()).map_err(
            |mismatch| Rejection::ParamHeaderMismatch {
                mismatch,
                id: op.id.map(|i| i.get().to_owned()),
            },
        )?;
        let mut values = serde_json::Map::new();
        for param in params.iter() {
            let text = match param.value_in(arguments.as_ref()) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                // Absent, null, or (refused above) not a primitive.
                _ => continue,
            };
            values.insert(param.name.clone(), serde_json::Value::String(text));
        }
        Ok(Some(serde_json::Value::Object(values)))
    }

    /// The audit event of an authenticated request refused by an authorization
    /// decision (`op`: the operation, once the body was read).
    pub(super) fn audit_refusal(
        &self,
        parts: &Parts,
        principal: &Principal,
        op: Option<&McpOperation<'_>>,
        refused: &Rejection,
    ) {
        let Some(sink) = &self.audit else {
            return;
        };
        let (decision, rule) = match refused {
            Rejection::InsufficientScope { .. } => (audit::decision::INSUFFICIENT_SCOPE, None),
            Rejection::PolicyDenied { rule, .. } => (audit::decision::DENY, Some(rule.as_str())),
            Rejection::Hidden { rule, .. } => (audit::decision::HIDDEN, Some(rule.as_str())),
            Rejection::RateLimited { .. } => (audit::decision::RATE_LIMITED, None),
            _ => (audit::decision::REJECTED, None),
        };
        let request_id = audit::request_id(&parts.headers);
        let event =
            audit::operation_event(sink, &request_id, principal, op, decision).with_rule(rule);
        // Refused either way: a full queue only counts the drop.
        let _ = sink.record(event);
    }
}
