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
/// value itself (`#[serde(transparent)]`). Its `PartialEq` is not constant-time: it
/// compares configurations, never a secret with what a client sent.
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

/// A configured URL that may carry a password (a database, a Redis, the gateway's
/// upstream): used as the URL it is (it dereferences to it), and shown by `Debug`
/// with its password masked ([`url_password`]), so that the configuration types
/// holding one can derive `Debug`. Read from a file as the text itself. What it
/// dereferences to is the URL whole: to show one, go through [`url_password`].
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct MaskedUrl<T = String>(T);

impl<T> MaskedUrl<T> {
    /// Wraps `url`.
    pub fn new(url: T) -> Self {
        Self(url)
    }

    /// The URL, unwrapped.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for MaskedUrl<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for MaskedUrl<T> {
    fn from(url: T) -> Self {
        Self(url)
    }
}

impl From<&str> for MaskedUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl<T: AsRef<str>> std::fmt::Debug for MaskedUrl<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&url_password(self.0.as_ref()), f)
    }
}

/// A configuration file's parse error, told without the file's text: where the
/// parser stopped (line and column, counted from 1) and its message.
///
/// The toml crate's own `Display` quotes the offending line under the message, and
/// that line may hold a password or a secret: a misspelled `database_url` key beside
/// its URL, an unclosed quote in a nonce secret. A start-up error goes to stderr and
/// from there to the service's logs. `span` is the byte range the parser reported
/// (`toml::de::Error::span`), `message` its message alone (`message()`). That message
/// names keys and expected types, and also quotes a value of the wrong type or an
/// unknown variant in serde's words (`invalid type: string "…", expected a boolean`
/// for a secret written under `nonce`): those values are left out too
/// ([`without_values`]).
pub fn config_error(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let message = without_values(message);
    let Some(before) = span.and_then(|s| text.get(..s.start)) else {
        return message;
    };
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// `message` without the values serde's error messages quote
/// (`serde::de::Unexpected` and `Error::unknown_variant`): `string "…"` (escaped as
/// `Debug` escapes it) becomes `a string`, `` character `c` `` becomes `a character`,
/// and `` unknown variant `…`, `` becomes `unknown variant, `. Numbers and booleans
/// stay: they say what was wrong, and no secret is one.
fn without_values(message: &str) -> String {
    const FORMS: [(&str, &str); 3] = [
        ("string \"", "a string"),
        ("character `", "a character"),
        ("unknown variant `", "unknown variant"),
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let Some((at, opening, shown)) = FORMS
            .iter()
            .filter_map(|(opening, shown)| rest.find(opening).map(|at| (at, *opening, *shown)))
            .min_by_key(|(at, _, _)| *at)
        else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let value = &rest[at + opening.len()..];
        let Some(end) = value_end(opening, value) else {
            // Not the form serde writes (a key named `character `x`, say): kept as it
            // is, and the search goes on after it.
            out.push_str(opening);
            rest = value;
            continue;
        };
        out.push_str(shown);
        // `None` from an unterminated string or variant: nothing after the opening is shown.
        rest = end.map_or("", |end| &value[end..]);
    }
}

/// Where the value after `opening` ends in `value` (the byte after its closing
/// quote): `Some(None)` for a string or variant that never ends, `None` when the
/// text is not in the form serde writes.
fn value_end(opening: &str, value: &str) -> Option<Option<usize>> {
    match opening {
        // A `Debug` string: it ends at the first quote not escaped.
        "string \"" => {
            let mut escaped = false;
            Some(value.char_indices().find_map(|(i, c)| match (escaped, c) {
                (false, '\\') => {
                    escaped = true;
                    None
                }
                (false, '"') => Some(i + 1),
                _ => {
                    escaped = false;
                    None
                }
            }))
        }
        // One character, then its closing backquote.
        "character `" => {
            let width = value.chars().next()?.len_utf8();
            value[width..].starts_with('`').then_some(Some(width + 1))
        }
        // A variant is written as it was, backquotes included: it ends where serde's
        // own text resumes, and without that text nothing after it is shown.
        _ => ["`, expected ", "`, there are no variants"]
            .iter()
            .filter_map(|tail| value.rfind(tail).map(|i| Some(i + 1)))
            .max()
            .or(Some(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::{MaskedUrl, Secret, config_error, url_password};

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
        // Columns count characters, not bytes; a CRLF line ends where LF does.
        assert_eq!(
            config_error("a = \"é\" x", Some(9..10), "m"),
            "line 1, column 9: m"
        );
        assert_eq!(
            config_error("a = 1\r\nb", Some(7..8), "m"),
            "line 2, column 1: m"
        );
    }

    /// serde's messages quote a value of the wrong type, a character or an unknown
    /// variant: a secret written under the wrong key (`nonce = "…"` for
    /// `nonce_secret`) would be printed. None of them is; keys and types still are.
    #[test]
    fn a_config_error_quotes_no_value_serde_quoted() {
        for (message, told) in [
            (
                "invalid type: string \"S3cret\", expected a boolean",
                "invalid type: a string, expected a boolean",
            ),
            (
                "invalid type: string \"S3\\\"cret\\\\\", expected a sequence",
                "invalid type: a string, expected a sequence",
            ),
            (
                "invalid value: string \"S3cret\", expected a URL",
                "invalid value: a string, expected a URL",
            ),
            (
                "unknown variant `S3`cret`, expected `subject` or `client`",
                "unknown variant, expected `subject` or `client`",
            ),
            (
                "unknown variant `S3cret`, there are no variants",
                "unknown variant, there are no variants",
            ),
            (
                "invalid type: character `S`, expected a string",
                "invalid type: a character, expected a string",
            ),
            ("invalid type: string \"S3cret", "invalid type: a string"),
            ("unknown variant `S3cret", "unknown variant"),
            (
                "unknown field `databse_url`, expected one of `issuer`",
                "unknown field `databse_url`, expected one of `issuer`",
            ),
            (
                "invalid type: integer `5`, expected a string",
                "invalid type: integer `5`, expected a string",
            ),
            (
                "invalid type: character `é`, expected a string",
                "invalid type: a character, expected a string",
            ),
            // A key written like serde's own words is not a value: kept, and no panic
            // on the character after it.
            (
                "unknown field `character `aé`, expected one of `x`",
                "unknown field `character `aé`, expected one of `x`",
            ),
        ] {
            assert_eq!(config_error("", None, message), told);
            assert!(!config_error("x", Some(0..1), message).contains("S3"));
        }
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

    /// A URL's password is masked in `Debug`, and the URL is used as it is.
    #[test]
    fn a_masked_url_shows_no_password_and_is_used_whole() {
        let text = "postgres://mcp:S3cret@db.example/mcp";
        let shown: MaskedUrl = serde_json::from_str(&format!("\"{text}\"")).expect("json");
        assert_eq!(
            format!("{shown:?}"),
            "\"postgres://mcp:***@db.example/mcp\""
        );
        assert_eq!(shown.as_str(), text);
        let parsed = MaskedUrl::new(url::Url::parse(text).expect("url"));
        assert!(!format!("{parsed:?} {parsed:#?}").contains("S3cret"));
        assert_eq!(parsed.password(), Some("S3cret"));
    }
}
