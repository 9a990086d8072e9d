//! Text that may carry a secret, made fit for a message or a log line.

use std::borrow::Cow;

/// What the masked parts are shown as.
const MASK: &str = "***";

/// Query parameters that carry a password (sqlx's PostgreSQL options read
/// `password`).
const PASSWORD_PARAMETERS: [&str; 2] = ["password", "pass"];

/// `text` with the password of the URL it is (or was meant to be) replaced by `***`:
/// the one in its user information (the user stays, to tell accounts apart) and any
/// `password=` query parameter.
///
/// Read as text, not parsed, so that a URL the parser refuses (a typo in a
/// configuration, a password with an unencoded `?` or `#`) is masked too. The user
/// information ends at the last `@` before the first `/`, or before the first `?` or
/// `#` if that `@` comes later (a password may hold `/`, or `?` and `#`, not both);
/// it starts after the scheme's `://`, when the text begins with a scheme; its
/// password is what follows its first `:`. Masking more than the password (a path or
/// query holding `@`) is the price of never showing one; text with no password comes
/// back unchanged.
pub fn url_password(text: &str) -> Cow<'_, str> {
    let after_scheme = scheme_end(text);
    let rest = &text[after_scheme..];
    let up_to = |stops: &[char]| &rest[..rest.find(stops).unwrap_or(rest.len())];
    let at = up_to(&['?', '#']).rfind('@').max(up_to(&['/']).rfind('@'));
    let userinfo = at.and_then(|at| rest[..at].find(':').map(|colon| (colon, at)));
    let masked: Cow<'_, str> = match userinfo {
        Some((colon, at)) => Cow::Owned(format!(
            "{}{MASK}{}",
            &text[..after_scheme + colon + 1],
            &text[after_scheme + at..]
        )),
        None => Cow::Borrowed(text),
    };
    match masked_query(&masked) {
        Some(query_masked) => Cow::Owned(query_masked),
        None => masked,
    }
}

/// Where the scheme's `://` ends, if the text begins with a scheme (RFC 3986 §3.1:
/// a letter, then letters, digits, `+`, `-`, `.`); else 0.
fn scheme_end(text: &str) -> usize {
    let Some(i) = text.find("://") else {
        return 0;
    };
    let scheme = &text[..i];
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid { i + 3 } else { 0 }
}

/// `text` with the values of its password query parameters masked, if it has any.
fn masked_query(text: &str) -> Option<String> {
    let start = text.find('?')? + 1;
    let end = text[start..].find('#').map_or(text.len(), |i| start + i);
    let mut changed = false;
    let parameters: Vec<Cow<'_, str>> = text[start..end]
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((key, _))
                if PASSWORD_PARAMETERS
                    .iter()
                    .any(|p| key.eq_ignore_ascii_case(p)) =>
            {
                changed = true;
                Cow::Owned(format!("{key}={MASK}"))
            }
            _ => Cow::Borrowed(parameter),
        })
        .collect();
    changed.then(|| format!("{}{}{}", &text[..start], parameters.join("&"), &text[end..]))
}

/// A value that must not reach a log line or an error: key material in a
/// configuration. Its `Debug` shows `Secret(***)` whatever it holds, so a struct that
/// derives `Debug` around it prints no secret; [`Secret::expose`] is the one way to
/// read it, and names the place that does. Read from a configuration file as the
/// value itself (`#[serde(transparent)]`).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the code that uses it (a key derivation, a length check).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The secret made into another form of itself (text into bytes), still masked.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Secret<U> {
        Secret(f(self.0))
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

/// A configuration file's parse error, told without the file's text: where the
/// parser stopped (line and column, counted from 1) and its message.
///
/// The toml crate's own `Display` quotes the offending line under the message, and
/// that line may hold a password or a secret: a misspelled `database_url` key beside
/// its URL, an unclosed quote in a nonce secret. A start-up error goes to stderr and
/// from there to the service's logs. `span` is the byte range the parser reported
/// (`toml::de::Error::span`), `message` its message alone (`message()`), which names
/// keys and expected types but not the values read.
pub fn config_error(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let Some(before) = span.and_then(|s| text.get(..s.start)) else {
        return message.to_owned();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::{Secret, config_error, url_password};

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
            ("redis://u:pa#ss@host", "redis://u:***@host"),
            ("postgres://u:pa?ss@h/db", "postgres://u:***@h/db"),
            ("redis://u:1234?x@h", "redis://u:***@h"),
            ("u:pw@host:1", "u:***@host:1"),
            // Without `://` the first `:` may be the scheme's: more is masked.
            ("redis:/u:typo@host", "redis:***@host"),
            // A `://` in the query is not the scheme's.
            ("db:/u:pw@h?x=a://b", "db:***@h?x=a://b"),
            (
                "postgres://app@db/mcp?sslmode=require&password=s3cret",
                "postgres://app@db/mcp?sslmode=require&password=***",
            ),
            (
                "postgres://db/mcp?PASSWORD=s3cret#x",
                "postgres://db/mcp?PASSWORD=***#x",
            ),
            (
                "postgres://app:a@db/mcp?password=b",
                "postgres://app:***@db/mcp?password=***",
            ),
        ] {
            assert_eq!(url_password(text), shown, "{text}");
        }
    }

    #[test]
    fn text_without_a_password_is_unchanged() {
        for text in [
            "memory",
            "postgres://app@db/mcp",
            "postgres://app@db/mcp?sslmode=require&passwordless=1",
            "redis://127.0.0.1:6379",
            "redis://[::1]:6379/0?ca=a@b",
            "rediss://h:6380?ca=/x@y.pem",
            "sqlite:///var/lib/mcp-auth/as.db",
            "sqlite://./as.db?mode=rwc",
            "",
        ] {
            assert!(
                matches!(url_password(text), std::borrow::Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    /// The position and the message, never the line they are on: the value beside a
    /// misspelled key, or the text after an unclosed quote, may be a secret.
    #[test]
    fn a_config_error_names_its_place_but_quotes_no_text() {
        let text = "issuer = \"https://as.example\"\ndatabse_url = \"postgres://u:S3cret@db/x\"\n";
        let at = text.find("databse_url").expect("key");
        let told = config_error(text, Some(at..at + 11), "unknown field `databse_url`");
        assert_eq!(told, "line 2, column 1: unknown field `databse_url`");
        let at = text.find("S3cret").expect("secret");
        let told = config_error(text, Some(at..at + 1), "invalid string");
        assert_eq!(told, "line 2, column 29: invalid string");
        assert_eq!(config_error(text, None, "no span"), "no span");
        // A span past the text, or inside a character, is left out rather than trusted.
        assert_eq!(config_error(text, Some(999..1000), "m"), "m");
        assert_eq!(config_error("é", Some(1..2), "m"), "m");
        assert_eq!(config_error("ab", Some(2..2), "m"), "line 1, column 3: m");
    }

    /// A struct that derives `Debug` around a secret prints the mask, not the value;
    /// the value is still there to use, and is read from a file as itself.
    #[test]
    fn a_secret_is_masked_in_debug_and_kept_for_use() {
        #[derive(Debug, serde::Deserialize)]
        struct Settings {
            nonce_secret: Option<Secret<String>>,
        }
        let s: Settings =
            serde_json::from_str(r#"{"nonce_secret": "S3cret-S3cret"}"#).expect("json");
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(shown.contains("Secret(***)"), "{shown}");
        assert_eq!(
            s.nonce_secret.as_ref().map(|v| v.expose().as_str()),
            Some("S3cret-S3cret")
        );
    }
}
