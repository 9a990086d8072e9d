//! OAuth `scope` strings (RFC 6749 §3.3): a list of space-delimited, case-sensitive
//! tokens. The one place that splits them, for the authorization server, the
//! resource side and the client alike.

/// The tokens of a `scope` string in order, empty ones (from doubled, leading or
/// trailing spaces) skipped. Borrows: nothing is allocated.
pub fn tokens(scope: &str) -> impl Iterator<Item = &str> {
    scope.split(' ').filter(|s| !s.is_empty())
}

/// The tokens of `scope`, owned, each once, in the order of their first appearance.
pub fn parse(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tokens(scope) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_skip_empty_ones_and_parse_removes_repeats() {
        assert_eq!(tokens(" a  b ").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(parse("b a b"), ["b", "a"]);
        assert!(parse("").is_empty());
        assert_eq!(parse("A a"), ["A", "a"], "case-sensitive");
    }
}
