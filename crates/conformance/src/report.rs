//! The results as a terminal table, JSON, or JUnit XML (for CI systems).

use std::fmt::Write as _;

use crate::check::{CheckResult, Outcome};

/// A table: one line per check (identifier, result, requirement, evidence), then
/// the counts.
pub fn table(results: &[CheckResult]) -> String {
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results {
        let _ = writeln!(
            out,
            "{:width$}  {:4}  {}\n{:width$}        {}",
            r.id,
            r.outcome.name().to_uppercase(),
            r.requirement,
            "",
            one_line(r.outcome.evidence()),
        );
    }
    let (pass, fail, skip) = counts(results);
    let _ = writeln!(out, "\n{pass} passed, {fail} failed, {skip} skipped");
    out
}

/// JSON: `{"results": [{"id", "requirement", "result", "evidence"}], "passed",
/// "failed", "skipped"}`.
pub fn json(results: &[CheckResult]) -> String {
    let (pass, fail, skip) = counts(results);
    serde_json::json!({
        "results": results,
        "passed": pass,
        "failed": fail,
        "skipped": skip,
    })
    .to_string()
}

/// JUnit XML: one test case per check, named by its identifier; a failure carries
/// the evidence, a skip its reason.
pub fn junit(suite: &str, results: &[CheckResult]) -> String {
    let (_, fail, skip) = counts(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{fail}\" skipped=\"{skip}\">",
        xml(suite),
        results.len()
    );
    for r in results {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{} {}\">",
            xml(suite),
            xml(r.id),
            xml(r.requirement)
        );
        match &r.outcome {
            Outcome::Pass(e) => {
                let _ = write!(out, "<system-out>{}</system-out>", xml(e));
            }
            Outcome::Fail(e) => {
                let _ = write!(out, "<failure message=\"{}\"/>", xml(e));
            }
            Outcome::Skip(e) => {
                let _ = write!(out, "<skipped message=\"{}\"/>", xml(e));
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

/// (passed, failed, skipped).
pub fn counts(results: &[CheckResult]) -> (usize, usize, usize) {
    let count = |name: &str| results.iter().filter(|r| r.outcome.name() == name).count();
    (count("pass"), count("fail"), count("skip"))
}

/// Evidence on one terminal line: control characters and bidirectional overrides (a
/// hostile server's text could move the cursor or reorder what is shown) replaced, at
/// most 200 characters.
fn one_line(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    match clean.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

/// The explicit bidirectional formatting characters (Unicode UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `text` as XML character data: only characters XML 1.0 allows (§2.2), escaped.
fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n'))
        .filter(|c| !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<CheckResult> {
        vec![
            CheckResult {
                id: "BASE-RS-1",
                requirement: "a <challenge>",
                outcome: Outcome::pass("401 WWW-Authenticate: Bearer"),
            },
            CheckResult {
                id: "BASE-RS-2",
                requirement: "metadata",
                outcome: Outcome::fail("404\u{1b}[31m"),
            },
        ]
    }

    #[test]
    fn the_table_counts_and_keeps_evidence_on_one_clean_line() {
        let t = table(&results());
        assert!(t.contains("BASE-RS-1  PASS  a <challenge>"), "{t}");
        assert!(t.contains("404 [31m") && !t.contains('\u{1b}'), "{t}");
        assert!(t.ends_with("1 passed, 1 failed, 0 skipped\n"), "{t}");
    }

    #[test]
    fn junit_escapes_and_marks_failures() {
        let x = junit("server", &results());
        assert!(
            x.contains("tests=\"2\" failures=\"1\" skipped=\"0\""),
            "{x}"
        );
        assert!(x.contains("name=\"BASE-RS-1 a &lt;challenge&gt;\""), "{x}");
        assert!(x.contains("<failure message=\"404[31m\"/>"), "{x}");
    }

    #[test]
    fn hostile_text_cannot_reorder_the_table_or_break_the_xml() {
        let r = vec![CheckResult {
            id: "BASE-RS-2",
            requirement: "metadata",
            outcome: Outcome::fail("resource \u{202E}lmth.exe\u{FFFF}"),
        }];
        assert!(!table(&r).contains('\u{202E}'));
        assert!(!junit("s", &r).contains('\u{FFFF}'));
    }

    #[test]
    fn json_lists_every_result() {
        let v: serde_json::Value = serde_json::from_str(&json(&results())).unwrap();
        assert_eq!(v["failed"], 1);
        assert_eq!(v["results"][0]["result"], "pass");
        assert_eq!(v["results"][1]["evidence"], "404\u{1b}[31m");
    }
}
