//! The replay cache: remembers each (key thumbprint, nonce) pair — or (jkt, jti) for
//! DPoP — for as long as a signature carrying it could still be accepted, so the same
//! signed request is accepted once.
//!
//! One trait, two stores: [`MemoryReplayCache`] (the default; one process) and
//! [`RedisReplayCache`] (one Redis or a Redis Cluster, shared by every instance behind
//! a load balancer). A store that cannot answer returns [`ReplayError::Unavailable`],
//! and callers fail closed (HTTP 503): a request is never accepted unchecked
//! (HTTPSIG-RS-13, HTTPSIG-RS-16).
//!
//! A store can also lose its memory while it keeps answering: a Redis without
//! persistence that restarts, a cluster node that restarts empty. Every nonce recorded
//! before is gone, and a proof accepted before could be accepted again within its
//! window. The Redis store detects the loss and knows when its memory begins; a proof
//! that could have been used before that moment is refused as
//! [`Freshness::Forgotten`] (see [`OneTimeUse::usable_from`] and docs/security.md,
//! "Replay cache memory loss").

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod memory;
#[cfg(feature = "redis")]
mod redis_store;

pub use memory::MemoryReplayCache;
#[cfg(feature = "redis")]
pub use redis_store::{REDIS_BUCKETS, RedisReplayCache};

/// A store's answer: ready at once (the in-process store, which has nothing to wait
/// for and so allocates nothing per check) or a boxed future (a store across the
/// network), so the trait can be used as `dyn ReplayCache`.
#[must_use = "the answer says whether the value was fresh"]
pub struct ReplayFuture<'a>(Answer<'a>);

type Boxed<'a> = Pin<Box<dyn Future<Output = Result<Freshness, ReplayError>> + Send + 'a>>;

enum Answer<'a> {
    /// The answer, until the first poll takes it.
    Ready(Option<Result<Freshness, ReplayError>>),
    /// An answer still to come.
    Pending(Boxed<'a>),
}

impl<'a> ReplayFuture<'a> {
    /// An answer known now.
    pub fn ready(answer: Result<Freshness, ReplayError>) -> Self {
        Self(Answer::Ready(Some(answer)))
    }

    /// The answer `future` will give.
    pub fn pending(
        future: impl Future<Output = Result<Freshness, ReplayError>> + Send + 'a,
    ) -> Self {
        Self(Answer::Pending(Box::pin(future)))
    }
}

impl Future for ReplayFuture<'_> {
    type Output = Result<Freshness, ReplayError>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Both variants are `Unpin` (an `Option` of plain data; a `Pin<Box<_>>`).
        match &mut self.get_mut().0 {
            Answer::Ready(answer) => std::task::Poll::Ready(take_once(answer)),
            Answer::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// The ready answer, which a future gives once: polling a future again after it
/// completed is the caller's bug, and panics here as `std::future::Ready` does.
#[expect(
    clippy::expect_used,
    reason = "a second poll after completion breaks the Future contract"
)]
fn take_once(
    answer: &mut Option<Result<Freshness, ReplayError>>,
) -> Result<Freshness, ReplayError> {
    answer
        .take()
        .expect("a ReplayFuture polled after it completed")
}

impl std::fmt::Debug for ReplayFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Answer::Ready(answer) => f.debug_tuple("Ready").field(answer).finish(),
            Answer::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// What the cache answered about a one-time value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// First use: the key is now recorded.
    Fresh,
    /// The key was recorded earlier and has not expired: a replay.
    Replayed,
    /// The store's memory begins at `memory_since` (Unix seconds), and the proof
    /// could have been used before then: whether it was is unknowable, so it is
    /// refused (not recorded). A proof made later is accepted once, as usual.
    Forgotten {
        /// When the store's memory begins (Unix seconds).
        memory_since: i64,
    },
}

/// The cache cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The shared store is unreachable or timed out.
    #[error("the replay cache is unavailable: {0}")]
    Unavailable(String),
}

/// One use of a one-time value, as [`ReplayCache::check_and_record`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimeUse<'a> {
    /// The value's key ([`replay_key`], or a [`ReplayKey`] where it is built per
    /// request).
    pub key: &'a str,
    /// How long to remember it: as long as a proof carrying it could be accepted.
    pub ttl: Duration,
    /// The earliest moment (Unix seconds) the proof carrying it could have been
    /// accepted by any verifier: its creation time (`created`, `iat`) minus the
    /// future skew the verifier allows. A store whose memory begins later than this
    /// cannot tell whether the value was used, and answers [`Freshness::Forgotten`].
    pub usable_from: i64,
}

impl<'a> OneTimeUse<'a> {
    /// The use of `key` by a proof created at `created` (Unix seconds) and accepted
    /// up to `future_skew` seconds before that, remembered for `ttl`.
    pub fn new(key: &'a str, ttl: Duration, created: i64, future_skew: u64) -> Self {
        Self {
            key,
            ttl,
            usable_from: created.saturating_sub(i64::try_from(future_skew).unwrap_or(i64::MAX)),
        }
    }
}

/// Records one-time values for a time window.
pub trait ReplayCache: Send + Sync + std::fmt::Debug {
    /// Records `one_time.key` for `one_time.ttl` if it is not recorded yet,
    /// atomically — unless the store's memory begins after `one_time.usable_from`
    /// ([`Freshness::Forgotten`]).
    fn check_and_record<'a>(&'a self, one_time: OneTimeUse<'a>) -> ReplayFuture<'a>;

    /// A short name for logs and metrics (`memory`, `redis`, `redis-cluster`).
    fn kind(&self) -> &'static str;

    /// Whether the cache can answer now (readiness checks). In-process caches always
    /// can.
    fn check_ready(&self) -> ReadyFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// Why [`ReplayCache::check_once`] refused a one-time value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefusal {
    /// The value was recorded earlier and has not expired: a replay.
    #[error("the one-time value was already used")]
    Replayed,
    /// The store lost its memory; the proof could have been used before it began.
    /// Callers refuse it as a proof outside its window (too old).
    #[error("the replay cache's memory begins at {memory_since}, after the proof could be used")]
    Forgotten {
        /// When the store's memory begins (Unix seconds).
        memory_since: i64,
    },
    /// The cache could not answer; the caller fails closed (503).
    #[error(transparent)]
    Unavailable(#[from] ReplayError),
}

impl dyn ReplayCache {
    /// The one replay check every profile uses: `Ok` when the value is recorded now
    /// for the first time, [`ReplayRefusal::Replayed`] when it was already,
    /// [`ReplayRefusal::Forgotten`] when the store cannot know,
    /// [`ReplayRefusal::Unavailable`] when the cache cannot answer (never "accept
    /// unchecked").
    pub async fn check_once(&self, one_time: OneTimeUse<'_>) -> Result<(), ReplayRefusal> {
        match self.check_and_record(one_time).await? {
            Freshness::Fresh => Ok(()),
            Freshness::Replayed => Err(ReplayRefusal::Replayed),
            Freshness::Forgotten { memory_since } => {
                tracing::warn!(
                    memory_since,
                    usable_from = one_time.usable_from,
                    "replay cache lost its memory; a proof that could predate it is refused"
                );
                Err(ReplayRefusal::Forgotten { memory_since })
            }
        }
    }
}

/// The future of [`ReplayCache::check_ready`].
pub type ReadyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ReplayError>> + Send + 'a>>;

/// The key a presentation's nonce is recorded under: the profile, the RFC 7638
/// thumbprint of the key that signed, and the nonce. Two clients choosing the same
/// nonce do not collide; the same key reusing one does.
pub fn replay_key(profile: &str, thumbprint: &str, nonce: &str) -> String {
    ReplayKey::new(profile, thumbprint, nonce).into_string()
}

/// A [`replay_key`] built where it is used, without an allocation when it fits in
/// [`ReplayKey::INLINE`] bytes: every HTTPSig key of a conforming client does (a
/// profile name, a 43-character thumbprint and a nonce of at most 128 characters,
/// HTTPSIG-RS-9), and a DPoP key whose `jti` has up to 143 (RFC 9449 bounds none; a
/// UUID has 36). A longer one is built on the heap.
#[derive(Clone)]
pub struct ReplayKey(KeyBytes);

#[derive(Clone)]
enum KeyBytes {
    Inline {
        bytes: [u8; ReplayKey::INLINE],
        len: usize,
    },
    Heap(String),
}

impl ReplayKey {
    /// The longest key kept inline.
    pub const INLINE: usize = 192;

    /// `{profile}:{thumbprint}:{nonce}`.
    pub fn new(profile: &str, thumbprint: &str, nonce: &str) -> Self {
        let parts = [profile, ":", thumbprint, ":", nonce];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > Self::INLINE {
            return Self(KeyBytes::Heap(parts.concat()));
        }
        let mut bytes = [0u8; Self::INLINE];
        let mut at = 0;
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        Self(KeyBytes::Inline { bytes, len })
    }

    /// The key.
    #[expect(
        clippy::expect_used,
        reason = "bytes joined from whole strs are UTF-8; only the check is repeated"
    )]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Whole `str`s, one after the other: UTF-8 (checked again, at the cost
            // of a scan of the key, since this crate has no `unsafe`).
            KeyBytes::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..*len]).expect("joined from whole strs")
            }
            KeyBytes::Heap(key) => key,
        }
    }

    /// The key as a `String`.
    pub fn into_string(self) -> String {
        match self.0 {
            KeyBytes::Heap(key) => key,
            KeyBytes::Inline { .. } => self.as_str().to_owned(),
        }
    }
}

impl std::fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_once_accepts_once_then_refuses_as_replayed() {
        let cache: std::sync::Arc<dyn ReplayCache> = std::sync::Arc::new(MemoryReplayCache::new());
        let once = OneTimeUse::new("k:once", Duration::from_secs(35), 1_000, 5);
        assert_eq!(once.usable_from, 995);
        assert_eq!(cache.check_once(once).await, Ok(()));
        assert_eq!(cache.check_once(once).await, Err(ReplayRefusal::Replayed));
    }

    #[test]
    fn replay_keys_separate_profiles_keys_and_nonces() {
        assert_eq!(replay_key("httpsig", "tp", "n1"), "httpsig:tp:n1");
        assert_ne!(
            replay_key("httpsig", "tp", "n1"),
            replay_key("dpop", "tp", "n1")
        );
    }

    /// A store's answer, ready or to come, awaited like any future.
    #[tokio::test]
    async fn a_replay_answer_is_ready_or_pending() {
        let ready = ReplayFuture::ready(Ok(Freshness::Replayed));
        assert_eq!(ready.await, Ok(Freshness::Replayed));
        let pending = ReplayFuture::pending(async {
            tokio::task::yield_now().await;
            Err(ReplayError::Unavailable("down".into()))
        });
        assert_eq!(pending.await, Err(ReplayError::Unavailable("down".into())));
    }

    /// Inline up to `INLINE` bytes, on the heap past it: the same key either way.
    #[test]
    fn a_replay_key_is_the_same_inline_and_on_the_heap() {
        let thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let room = ReplayKey::INLINE - "httpsig::".len() - thumbprint.len();
        for len in [0, 1, room - 1, room, room + 1, 4 * ReplayKey::INLINE] {
            let nonce = "n".repeat(len);
            let key = ReplayKey::new("httpsig", thumbprint, &nonce);
            assert_eq!(
                key.as_str(),
                format!("httpsig:{thumbprint}:{nonce}"),
                "{len}"
            );
            assert_eq!(
                replay_key("httpsig", thumbprint, &nonce),
                key.clone().into_string()
            );
            assert_eq!(
                matches!(key.0, KeyBytes::Inline { .. }),
                key.as_str().len() <= ReplayKey::INLINE,
                "{len}"
            );
        }
        // Whole characters of any width.
        let key = ReplayKey::new("dpop", "é", "日本");
        assert_eq!(key.as_str(), "dpop:é:日本");
    }
}
