//! RFC 6750 §3: what a `Bearer` challenge may contain (BASE-RS-18). The field syntax
//! itself (RFC 9110 §11.6.1) is read by `mcp_auth_core::challenge`, strictly.

use mcp_auth_core::challenge::{self, Challenge};

/// The parameters RFC 6750 §3 allows at most once in a Bearer challenge.
const AT_MOST_ONCE: [&str; 5] = ["realm", "scope", "error", "error_description", "error_uri"];

/// What is wrong with one `WWW-Authenticate` field value, for the Bearer challenges
/// in it (other schemes are only required to parse), or `None`.
pub fn field_violation(value: &str) -> Option<String> {
    match challenge::parse_field_strictly(value) {
        Err(at) => Some(format!(
            "not challenge syntax (RFC 9110 §11.6.1) from byte {at}"
        )),
        Ok(challenges) => challenges
            .iter()
            .filter(|c| c.is("Bearer"))
            .find_map(bearer_violation),
    }
}

/// What RFC 6750 §3 forbids in `c`, a Bearer challenge, or `None`.
pub fn bearer_violation(c: &Challenge) -> Option<String> {
    // `"Bearer" 1*SP 1#auth-param`: at least one parameter, and no token68.
    if c.params.is_empty() {
        return Some("a Bearer challenge without any auth-param".into());
    }
    if c.params.iter().any(|(name, _)| name.is_empty()) {
        return Some("a Bearer challenge with a token68 instead of auth-params".into());
    }
    for name in AT_MOST_ONCE {
        if c.params.iter().filter(|(n, _)| n == name).count() > 1 {
            return Some(format!("{name} more than once"));
        }
    }
    for (name, value) in &c.params {
        let fits = match name.as_str() {
            "scope" => is_scope(value),
            "error" | "error_description" => value.bytes().all(is_nqschar),
            "error_uri" => url::Url::parse(value).is_ok() && value.bytes().all(is_nqschar),
            _ => true,
        };
        if !fits {
            return Some(format!(
                "{name} {value:?} is outside its RFC 6750 §3 syntax"
            ));
        }
    }
    None
}

/// `%x20-21 / %x23-5B / %x5D-7E`: visible ASCII and space, no `"` or `\`.
fn is_nqschar(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// `scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
/// (RFC 6749 §3.3, which RFC 6750 §3 refers to).
fn is_scope(value: &str) -> bool {
    value
        .split(' ')
        .all(|token| !token.is_empty() && token.bytes().all(|b| b != b' ' && is_nqschar(b)))
}

#[cfg(test)]
mod tests {
    use super::field_violation;

    #[test]
    fn base_rs_18_valid_bearer_challenges_pass() {
        for ok in [
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
            r#"Bearer error="invalid_token", error_description="the token expired""#,
            r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write", HTTPSig scope="x""#,
            r#"Bearer realm="mcp", error_uri="https://example.com/e""#,
            "DPoP algs=\"ES256 EdDSA\", Bearer realm=x",
        ] {
            assert_eq!(field_violation(ok), None, "{ok}");
        }
    }

    #[test]
    fn base_rs_18_each_violation_is_named() {
        for (bad, says) in [
            ("Bearer", "without any auth-param"),
            ("Bearer abc==", "token68"),
            (r#"Bearer error="a", error="b""#, "error more than once"),
            (r#"Bearer scope="a  b""#, "scope"),
            (r#"Bearer scope="""#, "scope"),
            (
                r#"Bearer error_description="say \"no\"""#,
                "error_description",
            ),
            (r#"Bearer error_uri="not a uri""#, "error_uri"),
            (r#"Bearer realm="x", @@"#, "challenge syntax"),
            (r#"Bearer realm="unterminated"#, "challenge syntax"),
        ] {
            let v = field_violation(bad).unwrap_or_default();
            assert!(v.contains(says), "{bad}: {v}");
        }
    }
}
