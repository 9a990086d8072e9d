//! Reading inputs and writing results: files or stdin in, text or JSON Lines out.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

/// Reads a file, or standard input for `-`.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Reads a text file (keys).
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    use mcp_auth_core::private_file::{Others, Owners, read_to_string};
    read_to_string(path, MAX_INPUT_FILE, Owners::Provided, Others::Read)
        .with_context(|| format!("reading {}", path.display()))
}

/// The most read from a file given on the command line (a key, a configuration, a
/// request): far more than any of them needs; the cap only keeps a wrong path from
/// being read whole.
pub(crate) const MAX_INPUT_FILE: u64 = 1024 * 1024;

/// Writes one JSON object as a line on stdout.
pub(crate) fn json_line(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes text to stdout.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes bytes to stdout.
pub(crate) fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Indents every line of `text` by `n` spaces.
pub(crate) fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}
