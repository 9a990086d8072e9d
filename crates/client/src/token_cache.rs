//! Access tokens kept on disk between runs: one JSON file, keyed by MCP server URL.
//! Tokens bound to a key are not kept: the key would have to be kept with them.
//!
//! The file holds bearer tokens, so no other local user may read it: it is created
//! with mode 0600 (a new temporary file, opened exclusively with that mode, renamed
//! over the old one: no moment where it is readable by others, no symlink
//! followed), in a directory created 0700 when it does not exist. An existing file
//! that others can read or write (any group or other permission bit) is refused,
//! not silently repaired: its tokens may already have been read, and the user must
//! decide (revoke, then `chmod 600` or delete it).
//!
//! The file also keeps, per MCP server and pre-registered client, the issuer the
//! client's credentials were first sent to (the trust-on-first-use pin of
//! [`crate::IssuerPolicy::FirstUse`]), under the key `pinned_issuers`, which no
//! server URL can be.
//!
//! An entry keeps what a later run needs to refresh the token without the user
//! (RFC 6749 §6): the refresh token, the issuer it belongs to (it is never sent to
//! another), and the client a dynamic registration created there (a refresh token
//! is bound to the client it was issued to, RFC 6749 §10.4).
//!
//! Under `idp_sign_ins` (no server URL either), keyed by the identity provider's
//! issuer and the client's id there, are the OpenID Connect sign-ins of `mcp-auth
//! login --idp` ([`KeptSignIn`], profiles/enterprise-managed-authorization.md
//! §7.11 item 2): the ID token and the IdP's refresh token, never the IdP client's
//! secret or key.
//!
//! Every change re-reads the file and writes it with that one change applied, so
//! that two handles on the same file (a command's, and the enterprise grant's that
//! refreshes a sign-in) never write back what the other replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientAuth;

/// Seconds before `exp` at which a cached token is no longer used.
pub const EXPIRY_MARGIN: i64 = 30;

/// One cached token. Its `Debug` shows neither token nor the registered client's
/// secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"..")
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("issuer", &self.issuer)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("registered_client", &self.registered_client)
            .finish()
    }
}

impl CachedToken {
    /// Whether the access token can still be used at `now` (with [`EXPIRY_MARGIN`]).
    pub fn is_fresh(&self, now: i64) -> bool {
        self.expires_at - EXPIRY_MARGIN > now
    }
}

/// A client created by dynamic registration (RFC 7591), kept so a refresh token can
/// be used by the client it was issued to. Pre-registered credentials are never
/// written here: they come from the command line or the environment every run. Its
/// `Debug` does not show the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for a confidential registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: String,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| ".."))
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish()
    }
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

/// Seconds before its `exp` at which a kept ID token is refreshed before it is
/// used (enterprise-managed-authorization §7.11 item 2).
pub const ID_TOKEN_REFRESH_MARGIN: i64 = 60;

/// An OpenID Connect sign-in at an identity provider, kept for the enterprise grant
/// ([`crate::sign_in`]): its ID token, validated when it was obtained, and the
/// IdP's refresh token. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptSignIn {
    /// The ID token.
    pub id_token: String,
    /// Its `exp`.
    pub expires_at: i64,
    /// Its `sub`: a refreshed ID token must name the same user (OIDC Core §12.2).
    pub subject: String,
    /// The IdP's refresh token, when it issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl KeptSignIn {
    /// Whether the ID token can be sent as it is at `now`: more than
    /// [`ID_TOKEN_REFRESH_MARGIN`] seconds before its `exp`.
    pub fn is_fresh(&self, now: i64) -> bool {
        self.expires_at.saturating_sub(ID_TOKEN_REFRESH_MARGIN) > now
    }
}

impl std::fmt::Debug for KeptSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSignIn")
            .field("expires_at", &self.expires_at)
            .field("subject", &self.subject)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// Which kept sign-in the enterprise grant uses, when the caller did not name the
/// identity provider: the only one of the IdP client, or none.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInChoiceError {
    /// No sign-in of this IdP client (at this IdP, when one was named) is kept.
    #[error(
        "no sign-in {at}as `{client_id}` is kept in {}: run `mcp-auth login --idp {idp} --idp-client-id {client_id}` first, or give --id-token FILE",
        .cache.display(),
        at = .issuer.as_ref().map(|i| format!("at {i} ")).unwrap_or_default(),
        idp = .issuer.as_deref().unwrap_or("URL")
    )]
    NotSignedIn {
        /// The cache file.
        cache: PathBuf,
        /// The IdP named, if any.
        issuer: Option<String>,
        /// The IdP client id.
        client_id: String,
    },
    /// Sign-ins at several IdPs are kept for this IdP client id.
    #[error(
        "sign-ins at several identity providers are kept as `{client_id}` in {} ({}): choose one with --idp URL",
        .cache.display(), .issuers.join(", ")
    )]
    Ambiguous {
        /// The cache file.
        cache: PathBuf,
        /// The IdP client id.
        client_id: String,
        /// Their issuers.
        issuers: Vec<String>,
    },
}

/// Why the token cache cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenCacheError {
    /// Reading or writing it failed.
    #[error("token cache {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// It is not a token cache; it is left as it is.
    #[error("token cache {}: not a token cache (invalid JSON); refusing to replace it", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
    },
    /// Another user owns it: its tokens and issuer pins may be theirs.
    #[error("token cache {}: {problem}; refusing to use it", .path.display())]
    Untrusted {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: mcp_auth_core::private_file::Untrusted,
    },
    /// Other local users can read or write it.
    #[error(
        "token cache {}: other users can read or write it (mode {mode:03o}); refusing to use it. Its tokens may have been read: revoke them if others could reach the file, then `chmod 600 {}` or delete it",
        .path.display(), .path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The file's content: tokens keyed by server URL, the issuer pins and the
/// identity provider sign-ins.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    /// Server URL → pre-registered client id → the issuer its credentials go to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pinned_issuers: BTreeMap<String, BTreeMap<String, String>>,
    /// IdP issuer → IdP client id → its sign-in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    idp_sign_ins: BTreeMap<String, BTreeMap<String, KeptSignIn>>,
    /// Server URL → token.
    #[serde(flatten)]
    tokens: BTreeMap<String, CachedToken>,
}

/// The cache file.
#[derive(Debug)]
pub struct TokenCache {
    path: PathBuf,
    file: CacheFile,
}

impl TokenCache {
    /// Opens `path` (an absent or empty file is an empty cache; an unreadable one is
    /// an error, never silently replaced; one other users can read or write is
    /// refused with [`TokenCacheError::Exposed`]).
    pub fn open(path: &Path) -> Result<Self, TokenCacheError> {
        Ok(Self {
            path: path.to_owned(),
            file: read_file(path)?,
        })
    }

    /// The file this cache reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The issuer pinned for `client_id` at `server`, if any.
    pub fn pinned_issuer(&self, server: &str, client_id: &str) -> Option<&str> {
        self.file
            .pinned_issuers
            .get(server)
            .and_then(|clients| clients.get(client_id))
            .map(String::as_str)
    }

    /// Pins `issuer` for `client_id` at `server` (replacing an earlier pin) and
    /// writes the file.
    pub fn pin_issuer(
        &mut self,
        server: &str,
        client_id: &str,
        issuer: &str,
    ) -> Result<(), TokenCacheError> {
        self.update(|file| {
            file.pinned_issuers
                .entry(server.to_owned())
                .or_default()
                .insert(client_id.to_owned(), issuer.to_owned());
        })
    }

    /// The token for `server`, if it is still valid at `now` (with the margin).
    pub fn get(&self, server: &str, now: i64) -> Option<&CachedToken> {
        self.file.tokens.get(server).filter(|t| t.is_fresh(now))
    }

    /// The entry for `server` when it is still of use at `now`: a fresh access token,
    /// or an expired one with a refresh token.
    pub fn usable(&self, server: &str, now: i64) -> Option<&CachedToken> {
        self.file
            .tokens
            .get(server)
            .filter(|t| t.is_fresh(now) || t.refresh_token.is_some())
    }

    /// Stores the token for `server` and writes the file.
    pub fn put(&mut self, server: &str, token: CachedToken) -> Result<(), TokenCacheError> {
        self.update(|file| {
            file.tokens.insert(server.to_owned(), token);
        })
    }

    /// The sign-in kept for the IdP client `client_id` at the identity provider
    /// `issuer`, fresh or not.
    pub fn sign_in(&self, issuer: &str, client_id: &str) -> Option<&KeptSignIn> {
        self.file.idp_sign_ins.get(issuer)?.get(client_id)
    }

    /// The identity provider whose kept sign-in the enterprise grant uses for the
    /// IdP client `client_id`: `issuer` when given and a sign-in is kept there,
    /// else the only IdP where one is kept for that client.
    pub fn sign_in_issuer(
        &self,
        issuer: Option<&str>,
        client_id: &str,
    ) -> Result<String, SignInChoiceError> {
        let mut issuers: Vec<String> = self
            .file
            .idp_sign_ins
            .iter()
            .filter(|(iss, clients)| {
                clients.contains_key(client_id) && issuer.is_none_or(|i| i == *iss)
            })
            .map(|(iss, _)| iss.clone())
            .collect();
        match issuers.len() {
            1 => Ok(issuers.remove(0)),
            0 => Err(SignInChoiceError::NotSignedIn {
                cache: self.path.clone(),
                issuer: issuer.map(str::to_owned),
                client_id: client_id.to_owned(),
            }),
            _ => Err(SignInChoiceError::Ambiguous {
                cache: self.path.clone(),
                client_id: client_id.to_owned(),
                issuers,
            }),
        }
    }

    /// Keeps `sign_in` for the IdP client `client_id` at `issuer` (replacing the
    /// one kept before) and writes the file.
    pub fn put_sign_in(
        &mut self,
        issuer: &str,
        client_id: &str,
        sign_in: KeptSignIn,
    ) -> Result<(), TokenCacheError> {
        self.update(|file| {
            file.idp_sign_ins
                .entry(issuer.to_owned())
                .or_default()
                .insert(client_id.to_owned(), sign_in);
        })
    }

    /// Applies `change` to the file as it is now on disk (not as this handle read
    /// it), writes the result and keeps it.
    fn update(&mut self, change: impl FnOnce(&mut CacheFile)) -> Result<(), TokenCacheError> {
        let mut file = read_file(&self.path)?;
        change(&mut file);
        self.file = file;
        self.write()
    }

    /// Writes the file: its directory created 0700 when missing, a new temporary
    /// file created exclusively with mode 0600, renamed over the old one.
    fn write(&self) -> Result<(), TokenCacheError> {
        let io = |source| TokenCacheError::Io {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(&self.file).map_err(|e| io(e.into()))?;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        mcp_auth_core::private_file::create_dir(dir).map_err(io)?;
        mcp_auth_core::private_file::replace(&self.path, &json).map_err(io)
    }
}

/// The most read from a cache file: thousands of tokens; the cap only keeps a wrong
/// path from being read whole.
const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The content of the cache file at `path` (an absent or empty file is an empty
/// cache; an unreadable one is an error, never silently replaced). One other users
/// can read or write is refused with [`TokenCacheError::Exposed`], one another user
/// owns (who could have put their own tokens and issuer pins in it) with
/// [`TokenCacheError::Untrusted`]; a pipe is refused, not waited on
/// (`private_file::read`).
fn read_file(path: &Path) -> Result<CacheFile, TokenCacheError> {
    use mcp_auth_core::private_file::{Others, Owners, Untrusted, read};
    let bytes = match read(path, MAX_CACHE_BYTES, Owners::Me, Others::Nothing) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            let path = path.to_owned();
            return Err(
                match e.get_ref().and_then(|e| e.downcast_ref::<Untrusted>()) {
                    Some(Untrusted::Exposed { mode, .. }) => TokenCacheError::Exposed {
                        path,
                        mode: mode & 0o777,
                    },
                    Some(problem) => TokenCacheError::Untrusted {
                        path,
                        problem: problem.clone(),
                    },
                    None => TokenCacheError::Io { path, source: e },
                },
            );
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(CacheFile::default());
    }
    serde_json::from_slice(&bytes).map_err(|_| TokenCacheError::Invalid {
        path: path.to_owned(),
    })
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(
            TokenCache::open(&path),
            Err(TokenCacheError::Invalid { .. })
        ));
    }

    fn token() -> CachedToken {
        CachedToken {
            access_token: "at".into(),
            scopes: Vec::new(),
            expires_at: 1000,
            issuer: "https://as.example".into(),
            refresh_token: None,
            registered_client: None,
        }
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn item_2_a_the_token_cache_is_created_0600_in_a_directory_created_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("mcp-auth").join("tokens.json");
        let mut cache = TokenCache::open(&path).unwrap();
        cache.put("https://mcp.example/mcp", token()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        // Rewriting keeps it so, and leaves no temporary file behind.
        cache
            .pin_issuer("https://mcp.example/mcp", "demo", "https://as.example")
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["tokens.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn item_2_b_a_token_cache_other_users_can_read_is_refused_naming_the_path() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        TokenCache::open(&path)
            .unwrap()
            .put("https://mcp.example/mcp", token())
            .unwrap();
        for wide in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wide)).unwrap();
            let err = TokenCache::open(&path).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "token cache {p}: other users can read or write it (mode {wide:03o}); refusing to use it. Its tokens may have been read: revoke them if others could reach the file, then `chmod 600 {p}` or delete it",
                    p = path.display()
                )
            );
        }
        // Left as it was: the user decides.
        assert_eq!(mode(&path), 0o602);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(TokenCache::open(&path).is_ok());
    }

    /// A cache another user owns is refused, whatever its mode: its tokens and issuer
    /// pins could be theirs.
    #[cfg(unix)]
    #[test]
    fn a_token_cache_of_another_user_is_refused() {
        if mcp_auth_core::private_file::own_uid() != 0 {
            eprintln!("SKIPPED: files of another user need root to be made");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        TokenCache::open(&path)
            .unwrap()
            .put("https://mcp.example/mcp", token())
            .unwrap();
        std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
        let err = TokenCache::open(&path).unwrap_err();
        assert!(matches!(err, TokenCacheError::Untrusted { .. }), "{err:?}");
        assert!(err.to_string().contains("belongs to user 4242"), "{err}");
    }

    #[test]
    fn issuer_pins_are_kept_per_server_and_client_next_to_the_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        // A file written before pins existed (server URL → token) still opens.
        let mut cache = TokenCache::open(&path).unwrap();
        cache.put("https://mcp.example/mcp", token()).unwrap();
        let old: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(old["https://mcp.example/mcp"]["access_token"], "at");
        let mut cache = TokenCache::open(&path).unwrap();
        assert_eq!(cache.pinned_issuer("https://mcp.example/mcp", "demo"), None);
        cache
            .pin_issuer("https://mcp.example/mcp", "demo", "https://as.example")
            .unwrap();
        let again = TokenCache::open(&path).unwrap();
        assert_eq!(
            again.pinned_issuer("https://mcp.example/mcp", "demo"),
            Some("https://as.example")
        );
        assert_eq!(
            again.pinned_issuer("https://mcp.example/mcp", "other"),
            None
        );
        assert_eq!(
            again.pinned_issuer("https://other.example/mcp", "demo"),
            None
        );
        assert_eq!(again.get("https://mcp.example/mcp", 0), Some(&token()));
    }
}
