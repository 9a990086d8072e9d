//! User passwords: argon2id (PHC strings), computed off the async executor, and a
//! throttle on failed logins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

/// Hashes a password (argon2id, default parameters, random 16-byte salt).
pub async fn hash_password(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no randomness".to_owned())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Checks a password against a stored hash. With no stored hash (unknown user) a dummy
/// hash is checked, so both failures cost the same time.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7ZbPmg+HkQ8Ur5eNnD0yJ5tq1JmQ6iHfqAnvFu4Zk1M";
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let text = stored.unwrap_or_else(|| DUMMY.to_owned());
        let Ok(hash) = PasswordHash::new(&text) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

/// Failed logins allowed per username in [`LOGIN_WINDOW`] before further attempts are
/// refused without checking the password.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// The window of [`MAX_FAILED_LOGINS`].
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts failed logins per username (in this process), so passwords cannot be guessed
/// at the speed of the server.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// True when `username` may try again.
    pub fn allowed(&self, username: &str) -> bool {
        let mut map = self.map();
        match map.get(username) {
            Some((_, since)) if since.elapsed() >= LOGIN_WINDOW => {
                map.remove(username);
                true
            }
            Some((count, _)) => *count < MAX_FAILED_LOGINS,
            None => true,
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str) {
        let mut map = self.map();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < LOGIN_WINDOW);
        }
        let entry = map
            .entry(username.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    /// Forgets the failures of a user who signed in.
    pub fn succeeded(&self, username: &str) {
        self.map().remove(username);
    }
}
