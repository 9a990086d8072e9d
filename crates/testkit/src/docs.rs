//! Generated blocks of the documentation.

/// The generated block of a document (profiles/README.md "Generated content"): the
/// text between `begin` and `end` must be `generated`; with the environment
/// variable `update` set, it is rewritten instead. `command` is what to run when it
/// is out of date.
pub fn check_generated_block(
    doc_path: &str,
    begin: &str,
    end: &str,
    generated: &str,
    update: &str,
    command: &str,
) {
    let doc = std::fs::read_to_string(doc_path).unwrap();
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    if std::env::var_os(update).is_some() {
        let updated = format!(
            "{}\n\n{}\n\n{}",
            &doc[..start],
            generated.trim(),
            &doc[stop..]
        );
        std::fs::write(doc_path, updated).unwrap();
        return;
    }
    assert_eq!(
        doc[start..stop].trim(),
        generated.trim(),
        "{doc_path} is out of date: run {command}"
    );
}
