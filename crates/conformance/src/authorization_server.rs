//! The authorization server under test, as the checks see it.

/// An authorization server under test.
#[derive(Debug)]
pub struct AsTarget {}
