//! Temporary data directories.

use std::path::{Path, PathBuf};

/// A fresh temporary directory, removed when dropped, and the data directory a server
/// is given inside it ([`DataDir::data`]). The data directory does not exist yet: the
/// server creates it owner-only (it refuses an existing one that others can read, as
/// a new temporary directory may be).
#[derive(Debug)]
pub struct DataDir {
    root: tempfile::TempDir,
}

impl DataDir {
    /// A new temporary directory.
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
        }
    }

    /// The temporary directory itself (for logs, configuration and other files).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<root>/data`, not created.
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}
