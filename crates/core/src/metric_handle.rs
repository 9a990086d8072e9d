//! Metric handles made once and kept, where that is safe.
//!
//! `metrics::counter!` and `histogram!` register their key with the recorder on every
//! call: even a key of literal labels is looked up in the recorder's registry, and the
//! Prometheus recorder wraps the handle it finds in a new `Arc` each time (metrics-util's
//! `From<Generational<T>> for Counter`): one allocation and about 400 instructions a
//! call, on every request (issue 18, BENCHMARKS.md "the proxy's header names typed").
//!
//! A handle may be kept only once the recorder it came from is the one that will be
//! used for good. The `metrics` crate has no way to ask that: a handle made before a
//! global recorder is installed is the no-op handle of none, and a handle made under a
//! thread-local recorder (`metrics::with_local_recorder`) belongs to that recorder
//! alone. So the process says so: whoever installs the global recorder, once and for
//! good, calls [`recorder_installed`] (mcp-auth's own processes do, through
//! `mcp_auth_server::observability::install`). Until then every [`Kept`] handle is made
//! afresh by its macro on each use, which is what a library embedding mcp-auth under
//! its own recorder gets unless it says the same.
//!
//! One more thing would break a kept handle: an `idle_timeout` on the recorder, which
//! drops a series from its registry while the kept handle goes on counting into the
//! dropped one. mcp-auth's recorder has none; a process that sets one must not call
//! [`recorder_installed`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether [`recorder_installed`] was called.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Says that the global metrics recorder is installed for good: from now on
/// [`Kept`] handles are made once and reused. Call it after `metrics::set_global_recorder`
/// (or an exporter's `install_recorder`) succeeded, never when that failed.
pub fn recorder_installed() {
    INSTALLED.store(true, Ordering::Release);
}

/// Whether handles may be kept: [`recorder_installed`] was called.
pub fn handles_may_be_kept() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// A metric handle of a key fixed at compile time (its name and literal labels), made by
/// `make` (a `metrics::counter!` or `histogram!` call) and kept once
/// [`handles_may_be_kept`].
///
/// ```ignore
/// use mcp_auth_core::metric_handle::Kept;
///
/// static ISSUED: Kept<metrics::Counter> =
///     Kept::new(|| metrics::counter!("tokens_issued_total", "grant" => "client_credentials"));
/// ISSUED.with(|c| c.increment(1));
/// ```
pub struct Kept<T> {
    handle: OnceLock<T>,
    make: fn() -> T,
}

impl<T> Kept<T> {
    /// A handle that `make` will make when first used.
    pub const fn new(make: fn() -> T) -> Self {
        Self {
            handle: OnceLock::new(),
            make,
        }
    }

    /// Runs `f` on the handle: the kept one when handles may be kept, else one made now
    /// under whatever recorder is in force (the global one, a thread-local one, or none).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        if handles_may_be_kept() {
            f(self.handle.get_or_init(self.make))
        } else {
            f(&(self.make)())
        }
    }
}

impl<T> std::fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("made", &self.handle.get().is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static MADE: AtomicUsize = AtomicUsize::new(0);

    fn make() -> usize {
        MADE.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Before the recorder is said to be installed, each use makes its handle afresh
    /// (it could be a no-op handle, or a thread-local recorder's); after, the first use
    /// makes it and every later use finds the same one. One test, since the flag is
    /// the process's.
    #[test]
    fn a_handle_is_kept_only_once_the_recorder_is_installed() {
        static HANDLE: Kept<usize> = Kept::new(make);
        assert!(!handles_may_be_kept());
        assert_eq!(HANDLE.with(|h| *h), 1);
        assert_eq!(HANDLE.with(|h| *h), 2);
        assert_eq!(format!("{HANDLE:?}"), "Kept { made: false, .. }");
        recorder_installed();
        assert!(handles_may_be_kept());
        assert_eq!(HANDLE.with(|h| *h), 3);
        assert_eq!(HANDLE.with(|h| *h), 3);
        assert_eq!(MADE.load(Ordering::SeqCst), 3);
        assert_eq!(format!("{HANDLE:?}"), "Kept { made: true, .. }");
    }
}
