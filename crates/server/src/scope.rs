//! Which scopes a grant gets (RFC 6749 §3.3): the requested ones, each defined by the
//! resource and allowed to the client; with no request, the resource's configured
//! default scopes that the client may have (none unless the operator set
//! `default_scopes`), never every scope. One rule for the authorization endpoint and
//! the token endpoint, whatever the grant and whether the token is bound to a key.

use crate::config::Resource;

/// A requested scope that the resource does not define or the client may not have
/// (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope `{0}` is not available to this client at this resource")]
pub struct ScopeRefused(pub String);

/// The scopes to grant, or the first requested scope that cannot be granted.
pub fn grant_scopes(
    requested: Option<&str>,
    resource: &Resource,
    allowed: &[String],
) -> Result<Vec<String>, ScopeRefused> {
    let offered = &resource.scopes;
    match requested {
        Some(text) => {
            let mut out: Vec<String> = Vec::new();
            for s in mcp_auth_core::scope::tokens(text) {
                if !offered.iter().any(|o| o == s) || !allowed.iter().any(|a| a == s) {
                    return Err(ScopeRefused(s.to_owned()));
                }
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            Ok(out)
        }
        None => Ok(resource
            .default_scopes
            .iter()
            .filter(|s| allowed.contains(s))
            .cloned()
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    fn resource(scopes: &[&str], defaults: &[&str]) -> Resource {
        Resource {
            uri: "https://mcp.example/mcp".into(),
            scopes: v(scopes),
            default_scopes: v(defaults),
        }
    }

    #[test]
    fn requested_offered_and_allowed() {
        let offered = resource(&["read", "write"], &["read"]);
        let allowed = v(&["read", "admin"]);
        assert_eq!(
            grant_scopes(Some("read read"), &offered, &allowed),
            Ok(v(&["read"]))
        );
        assert_eq!(
            grant_scopes(Some("write"), &offered, &allowed),
            Err(ScopeRefused("write".into()))
        );
        assert_eq!(
            grant_scopes(Some("admin"), &offered, &allowed),
            Err(ScopeRefused("admin".into()))
        );
        assert_eq!(grant_scopes(None, &offered, &allowed), Ok(v(&["read"])));
        assert_eq!(grant_scopes(Some(""), &offered, &allowed), Ok(vec![]));
    }

    #[test]
    fn item_1_no_scope_requested_gets_the_defaults_not_every_scope() {
        let all = v(&["read", "write", "admin"]);
        // No defaults configured: nothing, even for a client allowed everything.
        assert_eq!(
            grant_scopes(None, &resource(&["read", "write", "admin"], &[]), &all),
            Ok(vec![])
        );
        // Defaults, within what the client may have.
        assert_eq!(
            grant_scopes(
                None,
                &resource(&["read", "write", "admin"], &["read", "write"]),
                &v(&["write"])
            ),
            Ok(v(&["write"]))
        );
    }
}
