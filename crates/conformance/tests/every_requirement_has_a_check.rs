//! The checker and profiles/*.md, cross-checked: every requirement identifier a
//! profile defines has a check of the same identifier, a "Check: not black-box"
//! reason in its document, or a reason in `coverage::UNCHECKED`; every check names an
//! identifier some document defines; and no reason is kept for a requirement that has
//! a check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use mcp_auth_conformance::coverage::{UNCHECKED, checked_ids, unchecked_because};

/// Every `**ID**` definition in profiles/*.md, with whether its entry says
/// "Check: not black-box".
fn documented() -> BTreeMap<String, bool> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let mut ids = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A requirement is a list item starting with its bold identifier; its entry
        // runs to the next list item or heading.
        let mut current: Option<String> = None;
        // The entry's text so far, its lines joined by single spaces.
        let mut entry = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("- **") {
                current = rest
                    .split_once("**")
                    .map(|(id, _)| id.to_owned())
                    .filter(|id| {
                        id.split('-').count() == 3
                            && id
                                .split('-')
                                .next_back()
                                .is_some_and(|n| n.parse::<u32>().is_ok())
                    });
                entry.clear();
                if let Some(id) = &current {
                    ids.entry(id.clone()).or_insert(false);
                }
            } else if line.starts_with('#') || line.starts_with("- ") || line.is_empty() {
                current = None;
            }
            if let Some(id) = &current {
                entry.push(' ');
                entry.push_str(line.trim());
                if entry.contains("Check: not black-box")
                    || entry.contains("Check: implementation test")
                {
                    ids.insert(id.clone(), true);
                }
            }
        }
    }
    ids
}

#[test]
fn every_documented_requirement_has_a_check_or_a_reason() {
    let documented = documented();
    assert!(
        documented.len() >= 199,
        "{} identifiers read",
        documented.len()
    );
    let checked: BTreeSet<&str> = checked_ids().into_iter().collect();
    let mut missing = Vec::new();
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, not_black_box) in &documented {
        let state = if checked.contains(id.as_str()) {
            "checked"
        } else if *not_black_box {
            "not black-box or an implementation test (its document says why)"
        } else if unchecked_because(id).is_some() {
            "unchecked (coverage::UNCHECKED says why)"
        } else {
            missing.push(id.clone());
            "missing"
        };
        *by_state.entry(state).or_default() += 1;
    }
    println!("{by_state:#?}");
    assert!(missing.is_empty(), "no check and no reason: {missing:?}");
}

#[test]
fn every_check_names_a_documented_requirement_and_no_reason_is_stale() {
    let documented = documented();
    for id in checked_ids() {
        assert!(
            documented.contains_key(id),
            "check {id} names no requirement of profiles/*.md"
        );
        assert!(
            unchecked_because(id).is_none(),
            "{id} has a check and still a reason in coverage::UNCHECKED"
        );
        assert!(
            !documented[id],
            "{id} has a check but its document says it is not black-box"
        );
    }
    for (prefix, _) in UNCHECKED {
        assert!(
            documented.keys().any(|id| id.starts_with(prefix)),
            "coverage::UNCHECKED names {prefix}, which no document defines"
        );
    }
}
