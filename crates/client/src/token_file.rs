//! Reading a JWT the client presents on the user's behalf from where the user (or
//! a platform) keeps it: a workload's platform token (WIF-C-3) or a user's ID token
//! (EMA-C-2). Both are read again for every token request, since the file is
//! rewritten before the token expires, and kept only for that request.

use std::path::Path;

use mcp_auth_core::workload_assertion::MAX_ASSERTION_LEN;

/// The most read from a token file: such a token is a few KiB, and servers refuse
/// more than 16 KiB (WIF §7.2, EMA §7.3 step 5); the cap only keeps a wrong path
/// from being read whole.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why no token was read. The caller says from where, and which token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The file or variable could not be read, or is not text.
    Unreadable(String),
    /// Only whitespace.
    Empty,
    /// Over 16 KiB once trimmed.
    TooLarge,
}

/// The text of the file at `path`, at most 64 KiB of it.
/// It must belong to this user or root (a platform's projected token may be root's)
/// and no other user may change it: a token another user put there would sign this
/// client in as them. A pipe is refused rather than waited on.
pub(crate) async fn read_text(path: &Path) -> Result<String, ReadFailure> {
    use mcp_auth_core::private_file::{Others, Owners, read_to_string};
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        read_to_string(&path, MAX_FILE_BYTES, Owners::Provided, Others::Read)
    })
    .await
    .map_err(|e| ReadFailure::Unreadable(e.to_string()))?
    .map_err(|e| ReadFailure::Unreadable(e.to_string()))
}

/// `raw` without surrounding whitespace (WIF §7.1, EMA §7.11 item 2), neither
/// empty nor over 16 KiB.
pub(crate) fn trimmed(raw: &str) -> Result<String, ReadFailure> {
    let token = raw.trim_ascii();
    if token.is_empty() {
        return Err(ReadFailure::Empty);
    }
    if token.len() > MAX_ASSERTION_LEN {
        return Err(ReadFailure::TooLarge);
    }
    Ok(token.to_owned())
}
