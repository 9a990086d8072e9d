//! Text that may carry a secret, made fit for a message or a log line.

use std::borrow::Cow;

/// `text` with the password of the URL it is (or was meant to be) replaced by `***`;
/// the user stays, to tell accounts apart. Read as text, not parsed, so that a URL
/// the parser refuses (a typo in a configuration) is masked too: the user
/// information is what comes before the last `@` ahead of any `?` or `#`, after the
/// scheme's `://` when there is one, and its password what follows its first `:`.
/// Masking a path that happens to hold `@` is the price of never showing a
/// password; text with no password comes back unchanged.
pub fn url_password(text: &str) -> Cow<'_, str> {
    let after_scheme = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[after_scheme..];
    let before_query = rest.find(['?', '#']).map_or(rest, |end| &rest[..end]);
    let Some(at) = before_query.rfind('@') else {
        return Cow::Borrowed(text);
    };
    let Some(colon) = before_query[..at].find(':') else {
        return Cow::Borrowed(text);
    };
    let (user_end, password_end) = (after_scheme + colon + 1, after_scheme + at);
    Cow::Owned(format!("{}***{}", &text[..user_end], &text[password_end..]))
}

#[cfg(test)]
mod tests {
    use super::url_password;

    #[test]
    fn a_password_is_masked_and_the_rest_kept() {
        for (text, shown) in [
            (
                "postgres://app:s3cret@db:5432/mcp",
                "postgres://app:***@db:5432/mcp",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "rediss://u:p@ss@[::1]:6380?ca=/ca.pem",
                "rediss://u:***@[::1]:6380?ca=/ca.pem",
            ),
            ("redis://u:pa/ss@host", "redis://u:***@host"),
            // Without `://` the first `:` may be the scheme's: more is masked.
            ("redis:/u:typo@host", "redis:***@host"),
            ("u:pw@host:1", "u:***@host:1"),
        ] {
            assert_eq!(url_password(text), shown, "{text}");
        }
    }

    #[test]
    fn text_without_a_password_is_unchanged() {
        for text in [
            "memory",
            "postgres://app@db/mcp",
            "redis://127.0.0.1:6379",
            "redis://[::1]:6379/0?ca=a@b",
            "sqlite:///var/lib/mcp-auth/as.db",
            "",
        ] {
            assert!(
                matches!(url_password(text), std::borrow::Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }
}
