//! User passwords: argon2id (PHC strings), computed off the async executor with a
//! bound on how many run at once, and a throttle on failed logins.
//!
//! Each argon2id computation holds ~19 MiB (the default m=19456 KiB) on the blocking
//! pool. Without a bound, a flood of logins would hold 19 MiB per request in flight;
//! [`MAX_CONCURRENT_HASHES`] caps the total, and a login that cannot get a slot within
//! [`HASH_QUEUE_WAIT`] is answered "busy" (429) without hashing.
//!
//! Failed logins are throttled per (username, client address) with exponential backoff,
//! not by locking the account: an attacker elsewhere cannot lock a user out, and a
//! guesser at one address slows to one try per [`MAX_BACKOFF`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use tokio::sync::Semaphore;

/// How many argon2id computations run at once in this process (~19 MiB each).
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// How long a login waits for a hashing slot before it is answered "busy".
pub const HASH_QUEUE_WAIT: Duration = Duration::from_secs(5);

static HASH_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_HASHES));

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// [`MAX_CONCURRENT_HASHES`] threads that do nothing but hash. Not tokio's blocking
/// pool: the allocator keeps a freed argon2 state (19 MiB) in the arena of the thread
/// that used it, so hashing on up to 512 pool threads would let memory grow to 19 MiB
/// per thread ever used. A fixed set of threads keeps it at 19 MiB per slot.
static HASH_THREADS: LazyLock<Option<std::sync::mpsc::SyncSender<Job>>> = LazyLock::new(|| {
    let (send, receive) = std::sync::mpsc::sync_channel::<Job>(MAX_CONCURRENT_HASHES);
    let receive = std::sync::Arc::new(Mutex::new(receive));
    for i in 0..MAX_CONCURRENT_HASHES {
        let receive = std::sync::Arc::clone(&receive);
        let spawned = std::thread::Builder::new()
            .name(format!("mcp-auth-argon2-{i}"))
            .spawn(move || {
                loop {
                    let job = match receive.lock() {
                        Ok(r) => r.recv(),
                        Err(p) => p.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if spawned.is_err() {
            return None;
        }
    }
    Some(send)
});

/// Why a password could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Every hashing slot stayed busy for [`HASH_QUEUE_WAIT`], or no hashing thread
    /// could be started.
    #[error("too many sign-ins at once")]
    Busy,
}

/// Why a password could not be hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// No hashing slot or thread.
    #[error(transparent)]
    Busy(#[from] PasswordError),
    /// No salt could be drawn.
    #[error(transparent)]
    Random(#[from] mcp_auth_core::RandomError),
    /// argon2 refused the input or parameters.
    #[error("hashing the password failed: {0}")]
    Argon2(argon2::password_hash::Error),
}

/// Runs `work` on a hashing thread once a slot is free.
async fn with_hash_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let permit = tokio::time::timeout(HASH_QUEUE_WAIT, HASH_SLOTS.acquire())
        .await
        .map_err(|_| PasswordError::Busy)?
        .map_err(|_| PasswordError::Busy)?;
    let threads = HASH_THREADS.as_ref().ok_or(PasswordError::Busy)?;
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    // At most MAX_CONCURRENT_HASHES permits exist, so the channel never blocks long.
    let threads = threads.clone();
    tokio::task::spawn_blocking(move || threads.send(job))
        .await
        .map_err(|_| PasswordError::Busy)?
        .map_err(|_| PasswordError::Busy)?;
    let result = result.await.map_err(|_| PasswordError::Busy);
    drop(permit);
    result
}

/// Hashes a password (argon2id, default parameters, random 16-byte salt).
pub async fn hash_password(password: String) -> Result<String, HashError> {
    with_hash_slot(move || {
        let mut salt = [0u8; 16];
        mcp_auth_core::random::fill(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(HashError::Argon2)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(HashError::Argon2)
    })
    .await?
}

/// Checks a password against a stored hash. With no stored hash (unknown user) a dummy
/// hash is checked, so both failures cost the same time.
pub async fn verify_password(
    password: String,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7ZbPmg+HkQ8Ur5eNnD0yJ5tq1JmQ6iHfqAnvFu4Zk1M";
    with_hash_slot(move || {
        let known = stored.is_some();
        let text = stored.unwrap_or_else(|| DUMMY.to_owned());
        let Ok(hash) = PasswordHash::new(&text) else {
            return false;
        };
        matches_with_reused_memory(password.as_bytes(), &hash) && known
    })
    .await
}

thread_local! {
    /// The argon2 working memory of this hashing thread, kept between checks: four
    /// threads hold at most four states, instead of the allocator keeping every freed
    /// state it ever served (a flood then cost hundreds of MiB).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches the PHC string `hash` (argon2 of any variant and
/// version its parameters name), computed in this thread's reused working memory;
/// the comparison is constant-time (`password_hash::Output`).
fn matches_with_reused_memory(password: &[u8], hash: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(hash),
    ) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let context = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = BLOCKS.with(|cell| {
        let mut memory = cell.borrow_mut();
        memory.resize(blocks, argon2::Block::default());
        context.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
    });
    computed.is_ok()
        && argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// Failures per (username, address) that cost nothing more than the failure itself.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait imposed after a failure.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// A (username, address) whose last failure is this old starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most (username, address) pairs remembered; past it, old entries are dropped.
const MAX_TRACKED: usize = 100_000;

/// The key a failure is counted under: the username and the client's address group
/// ([`crate::peer::address_group`]).
type ThrottleKey = (String, Option<IpAddr>);

/// Failed logins per (username, client address), each failure past
/// [`FREE_FAILURES`] doubling the wait before the next attempt is looked at (1 s,
/// 2 s, 4 s, ... up to [`MAX_BACKOFF`]). Another address is not affected, so a
/// stranger's failures never lock the real user out.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<ThrottleKey, (u32, Instant)>>,
}

/// The wait after `failures` failures.
pub fn backoff(failures: u32) -> Duration {
    let Some(over) = failures.checked_sub(FREE_FAILURES) else {
        return Duration::ZERO;
    };
    Duration::from_secs(1u64.checked_shl(over).unwrap_or(u64::MAX)).min(MAX_BACKOFF)
}

impl LoginThrottle {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, (u32, Instant)>> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn key(username: &str, peer: Option<IpAddr>) -> ThrottleKey {
        (username.to_owned(), peer.map(crate::peer::address_group))
    }

    /// `Ok` when `username` may try again from `peer`, else how long to wait.
    pub fn check(&self, username: &str, peer: Option<IpAddr>) -> Result<(), Duration> {
        let key = Self::key(username, peer);
        let mut map = self.map();
        let Some(&(count, last)) = map.get(&key) else {
            return Ok(());
        };
        let since = last.elapsed();
        if since >= FORGET_AFTER {
            map.remove(&key);
            return Ok(());
        }
        match backoff(count).checked_sub(since) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, peer: Option<IpAddr>) {
        let mut map = self.map();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, last)| last.elapsed() < FORGET_AFTER);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let entry = map
            .entry(Self::key(username, peer))
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    /// Forgets the failures of a user who signed in from `peer`.
    pub fn succeeded(&self, username: &str, peer: Option<IpAddr>) {
        self.map().remove(&Self::key(username, peer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_matches_its_hash_and_nothing_else() {
        let hash = hash_password("correct horse".into()).await.expect("hash");
        assert_eq!(
            verify_password("correct horse".into(), Some(hash.clone())).await,
            Ok(true)
        );
        assert_eq!(
            verify_password("correct horsf".into(), Some(hash)).await,
            Ok(false)
        );
        // An unknown user costs a check too, and never matches.
        assert_eq!(verify_password("x".into(), None).await, Ok(false));
        // Another variant and cost, as a hash made elsewhere might have.
        let salt = SaltString::encode_b64(b"saltsaltsaltsalt").expect("salt");
        let argon2i = Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 3, 1, None).expect("params"),
        )
        .hash_password(b"pw", &salt)
        .expect("hash")
        .to_string();
        assert_eq!(verify_password("pw".into(), Some(argon2i)).await, Ok(true));
    }

    #[test]
    fn backoff_doubles_after_the_free_failures_and_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(backoff(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn item_5_failures_from_one_address_do_not_lock_out_another() {
        let t = LoginThrottle::default();
        let attacker: IpAddr = "203.0.113.9".parse().expect("ip");
        let user: IpAddr = "198.51.100.7".parse().expect("ip");
        for _ in 0..50 {
            t.failed("alice", Some(attacker));
        }
        assert!(t.check("alice", Some(attacker)).is_err());
        assert_eq!(t.check("alice", Some(user)), Ok(()));
    }
}
