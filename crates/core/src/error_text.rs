//! An error as one line of text for logs: its own message, then each cause.

/// `error`'s message and those of its sources, joined by `: `. HTTP clients say
/// little at the top ("client error (Connect)", "error sending request for url
/// (…)"); the causes say what happened ("Connection refused", "invalid peer
/// certificate: UnknownIssuer").
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_the_message() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(with_causes(&error), "outer: inner");
        assert_eq!(with_causes(&std::io::Error::other("alone")), "alone");
    }
}
