//! Random values that protect something (authorization codes, sessions, refresh
//! tokens, client secrets, CSRF values, nonces, `jti`s): one generator call, whose
//! failure is an error the caller must handle. A value that silently stayed all
//! zeros because the system generator failed would be guessable by everyone.

use base64::Engine as _;

/// The system random generator failed; nothing random was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// Fills `bytes` from the system generator (aws-lc-rs), or fails.
pub fn fill(bytes: &mut [u8]) -> Result<(), RandomError> {
    aws_lc_rs::rand::fill(bytes).map_err(|_| RandomError)
}

/// `N` random bytes, base64url without padding: `random_token::<32>()` gives the 43
/// characters of a 256-bit secret, `random_token::<16>()` the 22 of a 128-bit id.
pub fn random_token<const N: usize>() -> Result<String, RandomError> {
    let mut bytes = [0u8; N];
    fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_of_their_bytes_and_differ() {
        let a = random_token::<32>().expect("rng");
        let b = random_token::<32>().expect("rng");
        assert_eq!(a.len(), 43);
        assert_eq!(random_token::<16>().expect("rng").len(), 22);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
