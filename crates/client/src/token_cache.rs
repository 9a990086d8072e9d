//! Access tokens kept on disk between runs: one JSON file, mode 0600, written
//! atomically (a temporary file renamed over it), keyed by MCP server URL. Tokens
//! bound to a key are not kept: the key would have to be kept with them.
//!
//! An entry keeps what a later run needs to refresh the token without the user
//! (RFC 6749 §6): the refresh token, the issuer it belongs to (it is never sent to
//! another), and the client a dynamic registration created there (a refresh token
//! is bound to the client it was issued to, RFC 6749 §10.4).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientAuth;

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
    /// The refresh token, when the AS issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The client dynamically registered at `issuer` that the tokens were issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_client: Option<RegisteredClient>,
}

impl CachedToken {
    /// Whether the access token can still be used at `now` (with [`EXPIRY_MARGIN`]).
    pub fn is_fresh(&self, now: i64) -> bool {
        self.expires_at - EXPIRY_MARGIN > now
    }
}

/// A client created by dynamic registration (RFC 7591), kept so a refresh token can
/// be used by the client it was issued to. Pre-registered credentials are never
/// written here: they come from the command line or the environment every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for a confidential registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: String,
}

impl RegisteredClient {
    /// The credentials to keep for `auth` (none for `private_key_jwt`: its key is
    /// not ours to store).
    pub fn from_auth(auth: &ClientAuth) -> Option<Self> {
        let (client_id, client_secret) = match auth {
            ClientAuth::SecretBasic { client_id, secret }
            | ClientAuth::SecretPost { client_id, secret } => (client_id, Some(secret.clone())),
            ClientAuth::None { client_id } => (client_id, None),
            ClientAuth::PrivateKeyJwt { .. } => return None,
        };
        Some(Self {
            client_id: client_id.clone(),
            client_secret,
            token_endpoint_auth_method: auth.method().to_owned(),
        })
    }

    /// The credentials to authenticate with.
    pub fn to_auth(&self) -> ClientAuth {
        let client_id = self.client_id.clone();
        match (
            &self.client_secret,
            self.token_endpoint_auth_method.as_str(),
        ) {
            (Some(secret), "client_secret_post") => ClientAuth::SecretPost {
                client_id,
                secret: secret.clone(),
            },
            (Some(secret), _) => ClientAuth::SecretBasic {
                client_id,
                secret: secret.clone(),
            },
            (None, _) => ClientAuth::None { client_id },
        }
    }
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
        self.entries.get(server).filter(|t| t.is_fresh(now))
    }

    /// The entry for `server` when it is still of use at `now`: a fresh access token,
    /// or an expired one with a refresh token.
    pub fn usable(&self, server: &str, now: i64) -> Option<&CachedToken> {
        self.entries
            .get(server)
            .filter(|t| t.is_fresh(now) || t.refresh_token.is_some())
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
            refresh_token: None,
            registered_client: None,
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
        assert_eq!(again.usable("https://mcp.example/mcp", 971), None);
        let refreshable = CachedToken {
            refresh_token: Some("rt".into()),
            registered_client: RegisteredClient::from_auth(&ClientAuth::SecretPost {
                client_id: "dyn".into(),
                secret: "s".into(),
            }),
            ..token
        };
        cache
            .put("https://mcp.example/mcp", refreshable.clone())
            .unwrap();
        let again = TokenCache::open(&path).unwrap();
        let kept = again.usable("https://mcp.example/mcp", 5000).unwrap();
        assert_eq!(kept, &refreshable);
        let auth = kept.registered_client.as_ref().unwrap().to_auth();
        assert_eq!(auth.method(), "client_secret_post");
        assert_eq!(auth.client_id(), "dyn");
        std::fs::write(&path, "not json").unwrap();
        assert!(TokenCache::open(&path).is_err());
    }
}
