//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1): every field, every challenge in
//! it, schemes and parameter names compared case-insensitively. A server may send
//! several (`Bearer` and `HTTPSig`, in any order); a client reads them all.

use http::HeaderMap;

/// One challenge: a scheme and its auth-params (a token68 form is kept as the
/// parameter `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme as sent (compare with [`Challenge::is`]).
    pub scheme: String,
    /// The parameters, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether this challenge is for `scheme` (case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every challenge of every `WWW-Authenticate` field of `headers`, in order. Fields
/// that are not visible ASCII, and unparseable tails, are skipped.
pub fn parse_challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_field)
        .collect()
}

/// The first value of `param` in any challenge, preferring those of `schemes` in
/// their order (e.g. `resource_metadata` from `Bearer`, else `HTTPSig`, else any).
pub fn find_param<'a>(
    challenges: &'a [Challenge],
    schemes: &[&str],
    param: &str,
) -> Option<&'a str> {
    schemes
        .iter()
        .find_map(|s| {
            challenges
                .iter()
                .filter(|c| c.is(s))
                .find_map(|c| c.param(param))
        })
        .or_else(|| challenges.iter().find_map(|c| c.param(param)))
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

/// Parses one field value, strictly: every challenge, or the byte offset where the
/// value stops following `#challenge` (RFC 9110 §11.6.1). Used where a malformed
/// field is itself the finding (a conformance check of a server's challenges).
pub fn parse_field_strictly(value: &str) -> Result<Vec<Challenge>, usize> {
    match parse(value) {
        (challenges, None) => Ok(challenges),
        (_, Some(at)) => Err(at),
    }
}

/// Parses one field value leniently: the challenges before anything unparseable.
pub fn parse_field(value: &str) -> Vec<Challenge> {
    parse(value).0
}

/// Parses one field value: `#challenge`, where a challenge's params are also
/// comma-separated, so a new challenge starts at a token followed by a space and not
/// by `=`. Returns the challenges read and, when parsing stopped early, where.
fn parse(value: &str) -> (Vec<Challenge>, Option<usize>) {
    let b = value.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    // An empty unquoted parameter value is not a token: read on, but not strictly.
    let mut empty_value_at = None;
    let skip = |i: &mut usize, set: &[u8]| {
        while *i < b.len() && set.contains(&b[*i]) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, b" \t,");
        if i >= b.len() {
            return (out, empty_value_at);
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            return (out, Some(i)); // not a token: stop at what cannot be parsed
        }
        let token = &value[start..i];
        let after_token = i;
        skip(&mut i, b" \t");
        if i < b.len() && b[i] == b'=' && !out.is_empty() && !starts_token68_tail(b, i) {
            // An auth-param of the current challenge.
            i += 1;
            skip(&mut i, b" \t");
            let quoted = b.get(i) == Some(&b'"');
            let Some((v, next)) = param_value(value, i) else {
                return (out, Some(i));
            };
            if v.is_empty() && !quoted {
                empty_value_at.get_or_insert(i);
            }
            i = next;
            if let Some(c) = out.last_mut() {
                c.params.push((token.to_ascii_lowercase(), v));
            }
        } else {
            // A new challenge; a token68 may follow.
            let mut challenge = Challenge {
                scheme: token.to_owned(),
                params: Vec::new(),
            };
            if i > after_token && i < b.len() && is_token68_char(b[i]) {
                let t = i;
                while i < b.len() && is_token68_char(b[i]) {
                    i += 1;
                }
                let mut j = i;
                while j < b.len() && b[j] == b'=' {
                    j += 1;
                }
                let mut k = j;
                skip(&mut k, b" \t");
                if k >= b.len() || b[k] == b',' {
                    // `scheme token68`
                    challenge
                        .params
                        .push((String::new(), value[t..j].to_owned()));
                    i = j;
                } else {
                    // `scheme param=value`: rewind to parse it as a parameter.
                    i = t;
                }
            }
            out.push(challenge);
        }
    }
}

/// True when the `=` at `at` is the padding of a token68 (`==` or `=` then end/comma),
/// not an auth-param's `=`.
fn starts_token68_tail(b: &[u8], at: usize) -> bool {
    let mut j = at;
    while j < b.len() && b[j] == b'=' {
        j += 1;
    }
    j - at > 1
}

/// A token or a quoted-string (with `\` escapes) starting at `i`; the value and where
/// parsing continues.
fn param_value(value: &str, mut i: usize) -> Option<(String, usize)> {
    let b = value.as_bytes();
    if i < b.len() && b[i] == b'"' {
        i += 1;
        let mut out = String::new();
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    out.push(char::from(b[i + 1]));
                    i += 2;
                }
                b'"' => return Some((out, i + 1)),
                c => {
                    out.push(char::from(c));
                    i += 1;
                }
            }
        }
        None
    } else {
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        Some((value[start..i].to_owned(), i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn two_fields_and_two_challenges_in_one_field() {
        let md = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
        for h in [
            headers(&[
                &format!(
                    r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="{md}""#
                ),
                &format!(r#"HTTPSig scope="a b", resource_metadata="{md}""#),
            ]),
            headers(&[&format!(
                r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="{md}", HTTPSig scope="a b", resource_metadata="{md}""#
            )]),
        ] {
            let c = parse_challenges(&h);
            assert_eq!(c.len(), 2, "{c:?}");
            assert!(c[0].is("bearer"));
            assert_eq!(c[0].param("error"), Some("insufficient_scope"));
            assert_eq!(c[0].param("SCOPE"), Some("a b"));
            assert!(c[1].is("HTTPSig"));
            assert_eq!(c[1].param("error"), None);
            assert_eq!(find_param(&c, &["HTTPSig"], "resource_metadata"), Some(md));
        }
    }

    #[test]
    fn tokens_quotes_escapes_and_token68() {
        let c = parse_challenges(&headers(&[
            r#"Basic realm="a \"q\" b", charset=UTF-8, Negotiate abc123==, Bearer"#,
        ]));
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c[0].param("realm"), Some(r#"a "q" b"#));
        assert_eq!(c[0].param("charset"), Some("UTF-8"));
        assert!(c[1].is("negotiate"));
        assert_eq!(c[1].param(""), Some("abc123=="));
        assert!(c[2].is("bearer"));
        assert!(c[2].params.is_empty());
    }

    #[test]
    fn strict_parsing_says_where_a_field_stops_following_the_grammar() {
        assert_eq!(
            parse_field_strictly(r#"Bearer realm="x", error="invalid_token""#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(parse_field_strictly(r#"Bearer realm="x", @@@"#), Err(18));
        assert_eq!(
            parse_field_strictly(r#"Bearer scope="unterminated"#),
            Err(13)
        );
        assert_eq!(
            parse_field_strictly("Bearer realm=x, scope=, error=y"),
            Err(22)
        );
        assert_eq!(
            parse_field_strictly(r#"Bearer scope="""#).unwrap()[0].param("scope"),
            Some("")
        );
    }

    #[test]
    fn garbage_yields_what_parsed_before_it() {
        let c = parse_challenges(&headers(&[r#"Bearer realm="x", @@@"#, r#"Bearer scope="#]));
        assert_eq!(c[0].param("realm"), Some("x"));
        assert!(
            parse_challenges(&headers(&[r#"Bearer scope="unterminated"#]))[0]
                .params
                .is_empty()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_printable_value_parses_without_panic(value in "[ -~]{0,200}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = value.parse() {
                h.append(http::header::WWW_AUTHENTICATE, v);
            }
            let _ = parse_challenges(&h);
        }

        #[test]
        fn what_is_written_is_read_back(
            challenges in proptest::collection::vec(
                ("[A-Za-z][A-Za-z0-9]{0,8}",
                 proptest::collection::vec(("[a-z_]{1,10}", "[ -~]{0,20}"), 1..4)),
                1..4,
            )
        ) {
            let text = challenges
                .iter()
                .map(|(scheme, params)| {
                    let ps = params
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("{scheme} {ps}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let parsed = parse_challenges(&headers(&[&text]));
            proptest::prop_assert_eq!(parsed.len(), challenges.len(), "{}", text);
            for (p, (scheme, params)) in parsed.iter().zip(&challenges) {
                proptest::prop_assert_eq!(&p.scheme, scheme);
                let expected: Vec<(String, String)> =
                    params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                proptest::prop_assert_eq!(&p.params, &expected);
            }
        }
    }
}
