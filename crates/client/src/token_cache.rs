//! Access tokens kept on disk between runs: one JSON file, mode 0600, written
//! atomically (a temporary file renamed over it), keyed by MCP server URL. Tokens
//! bound to a key are not kept: the key would have to be kept with them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Seconds before `exp` at which a cached token is no longer used.
pub const EXPIRY_MARGIN: i64 = 30;

/// One cached token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    /// The access token.
    pub access_token: String,
    /// Granted (or requested) scopes.
    pub scopes: Vec<String>,
    /// UNIX seconds at which it expires.
    pub expires_at: i64,
    /// The issuer that issued it.
    pub issuer: String,
}

/// The cache file.
#[derive(Debug)]
pub struct TokenCache {
    path: PathBuf,
    entries: BTreeMap<String, CachedToken>,
}

impl TokenCache {
    /// Opens `path` (an absent or empty file is an empty cache; an unreadable one is
    /// an error, never silently replaced).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let entries = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => BTreeMap::new(),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path: path.to_owned(),
            entries,
        })
    }

    /// The token for `server`, if it is still valid at `now` (with the margin).
    pub fn get(&self, server: &str, now: i64) -> Option<&CachedToken> {
        self.entries
            .get(server)
            .filter(|t| t.expires_at - EXPIRY_MARGIN > now)
    }

    /// Stores the token for `server` and writes the file (0600).
    pub fn put(&mut self, server: &str, token: CachedToken) -> std::io::Result<()> {
        self.entries.insert(server.to_owned(), token);
        let json = serde_json::to_vec_pretty(&self.entries)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_privately_and_expire_with_a_margin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let mut cache = TokenCache::open(&path).unwrap();
        assert!(cache.get("https://mcp.example/mcp", 0).is_none());
        let token = CachedToken {
            access_token: "at".into(),
            scopes: vec!["mcp:read".into()],
            expires_at: 1000,
            issuer: "https://as.example".into(),
        };
        cache.put("https://mcp.example/mcp", token.clone()).unwrap();
        let again = TokenCache::open(&path).unwrap();
        assert_eq!(again.get("https://mcp.example/mcp", 900), Some(&token));
        assert_eq!(again.get("https://mcp.example/mcp", 971), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not json").unwrap();
        assert!(TokenCache::open(&path).is_err());
    }
}
