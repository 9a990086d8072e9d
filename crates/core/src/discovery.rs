//! Where metadata documents live: the well-known URLs a client (or a gateway
//! trusting an issuer) tries, in the order the MCP authorization spec gives
//! ("Authorization Server Discovery", RFC 8414 §3.1, RFC 9728 §3.1, OpenID Connect
//! Discovery §4).

use url::Url;

/// The authorization server metadata URLs for `issuer`, in the order to try them:
/// for an issuer with a path (`https://auth.example.com/tenant1`), RFC 8414 with the
/// path inserted, OpenID Connect with the path inserted, OpenID Connect with the path
/// appended; for one without, RFC 8414 then OpenID Connect. The document found must
/// name exactly `issuer` (RFC 8414 §3.3).
pub fn authorization_server_metadata_urls(issuer: &str) -> Result<Vec<String>, url::ParseError> {
    let url = Url::parse(issuer)?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// The protected resource metadata URLs for the MCP endpoint `resource`, in the order
/// to try them when the 401 names none: the path-inserted form
/// (`/.well-known/oauth-protected-resource/mcp`), then the root.
pub fn protected_resource_metadata_urls(resource: &str) -> Result<Vec<String>, url::ParseError> {
    let url = Url::parse(resource)?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let root = format!("{origin}/.well-known/oauth-protected-resource");
    Ok(if path.is_empty() {
        vec![root]
    } else {
        vec![format!("{root}{path}"), root]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls_follow_the_spec_order() {
        assert_eq!(
            authorization_server_metadata_urls("https://auth.example.com/tenant1").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            authorization_server_metadata_urls("https://auth.example.com").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            authorization_server_metadata_urls("http://127.0.0.1:8080/").unwrap()[0],
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn resource_urls_try_the_path_then_the_root() {
        assert_eq!(
            protected_resource_metadata_urls("https://example.com/public/mcp").unwrap(),
            [
                "https://example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://example.com/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            protected_resource_metadata_urls("https://example.com").unwrap(),
            ["https://example.com/.well-known/oauth-protected-resource"]
        );
    }
}
