//! The handle the gateway records through, and the writer thread behind it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcp_auth_core::private_file::{self, Others, Owners};
use tokio::sync::{mpsc, watch};

use super::{AuditConfig, AuditError, AuditEvent, AuditOutput, OnFull};

/// How many distinct tool names become values of the `tool` label; later names are
/// counted as `"other"`.
pub const TOOL_LABELS_MAX: usize = 256;

/// Tool names longer than this (bytes) are counted as `"other"`.
pub const TOOL_LABEL_MAX_LEN: usize = 128;

/// At most this many lines are written in one batch.
const BATCH_MAX: usize = 1024;

/// At most one warning per this interval for write errors.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The tool names seen so far, process-wide like the metrics registry they bound.
static TOOL_LABELS: ToolLabels = ToolLabels::new(TOOL_LABELS_MAX);

/// The audit queue is full (or the writer is gone) and `on_full = "refuse"`: answer
/// 503 and do not forward the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit trail cannot take the event")]
pub struct AuditRefused;

/// A place in the audit queue held for one operation ([`AuditSink::reserve`]).
#[derive(Debug)]
pub struct AuditSlot {
    sink: AuditSink,
    /// `None`: the queue was full and the event is already counted as dropped.
    permit: Option<mpsc::OwnedPermit<Msg>>,
}

impl AuditSlot {
    /// Queues `event` in the place held (never waits).
    pub fn record(self, event: AuditEvent) {
        let Some(line) = self.sink.line(&event) else {
            return;
        };
        if let Some(permit) = self.permit {
            permit.send(Msg::Line(line));
        }
    }
}

/// A cheap, clonable handle on the audit writer. See the [module](super) for the design.
#[derive(Debug, Clone)]
pub struct AuditSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Msg>,
    on_full: OnFull,
    /// What events carry of the arguments (`include_arguments`, `redact`).
    config: AuditConfig,
    counters: Arc<Counters>,
    /// Becomes true when the writer thread has written everything and stopped.
    done: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    write_errors: AtomicU64,
}

#[derive(Debug)]
enum Msg {
    /// One serialized event, newline included.
    Line(Vec<u8>),
    /// Stop taking events; write what is queued, then stop.
    Close,
}

impl AuditSink {
    /// Validates `config`, opens the output and starts the writer thread; `None` when
    /// `output` is absent. A regular file (or a new one) is opened here, so that a bad
    /// path is an error now; a FIFO or a device is opened by the writer thread, whose
    /// open may wait for a reader. Needs no runtime.
    pub fn start(config: &AuditConfig) -> Result<Option<Self>, AuditError> {
        config.validate()?;
        let Some(output) = &config.output else {
            return Ok(None);
        };
        let output = match output {
            AuditOutput::Stdout => Output::Stdout,
            AuditOutput::File(path) => Output::File(FileOut::prepare(path, config)?),
        };
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(config.queue);
        let (done_tx, done) = watch::channel(false);
        let mut writer = Writer {
            output,
            report: Reporter {
                counters: Arc::clone(&counters),
                last_warn: None,
                suppressed: 0,
            },
        };
        let batch_max = config.queue.min(BATCH_MAX);
        std::thread::Builder::new()
            .name("mcp-auth-audit".to_owned())
            .spawn(move || {
                writer.run(rx, batch_max);
                done_tx.send_replace(true);
            })
            .map_err(AuditError::Spawn)?;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                tx,
                on_full: config.on_full,
                config: config.clone(),
                counters,
                done,
            }),
        }))
    }

    /// Queues the event's line without waiting. Counts it in
    /// `mcp_auth_audit_events_total{tool, decision}`; when the queue is full (or the
    /// writer has stopped) drops it, counts `mcp_auth_audit_dropped_total`, and answers
    /// [`AuditRefused`] with `on_full = "refuse"` (`Ok` with `"drop"`). The line is
    /// serialized here, on the caller's task; the writer only writes bytes.
    pub fn record(&self, event: AuditEvent) -> Result<(), AuditRefused> {
        let Some(line) = self.line(&event) else {
            return Ok(());
        };
        match self.inner.tx.try_send(Msg::Line(line)) {
            Ok(()) => Ok(()),
            Err(_) => self.full(),
        }
    }

    /// The configuration the sink was started with (what events carry of the
    /// arguments: [`AuditEvent::with_arguments`]).
    pub fn config(&self) -> &AuditConfig {
        &self.inner.config
    }

    /// A place in the queue, taken before an operation goes upstream and filled with
    /// its event once the upstream answered ([`AuditSlot::record`]): with
    /// `on_full = "refuse"`, an operation that could not be audited is refused before
    /// it happens ([`AuditRefused`]: the gateway answers 503). With `"drop"` a full
    /// queue gives an empty slot, its event counted as dropped now.
    pub fn reserve(&self) -> Result<AuditSlot, AuditRefused> {
        match self.inner.tx.clone().try_reserve_owned() {
            Ok(permit) => Ok(AuditSlot {
                sink: self.clone(),
                permit: Some(permit),
            }),
            Err(_) => self.full().map(|()| AuditSlot {
                sink: self.clone(),
                permit: None,
            }),
        }
    }

    /// The event's line (counted in `mcp_auth_audit_events_total{tool, decision}`),
    /// `None` when it cannot be serialized.
    fn line(&self, event: &AuditEvent) -> Option<Vec<u8>> {
        metrics::counter!(
            "mcp_auth_audit_events_total",
            "tool" => TOOL_LABELS.label(event.tool.as_deref()),
            "decision" => event.decision
        )
        .increment(1);
        match serde_json::to_vec(event) {
            Ok(mut line) => {
                line.push(b'\n');
                Some(line)
            }
            // Unreachable for these fields (every map key is a string); counted, not
            // refused: there is nothing to write.
            Err(e) => {
                self.inner
                    .counters
                    .write_errors
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("mcp_auth_audit_write_errors_total").increment(1);
                tracing::warn!(error = %e, "audit event not serializable");
                None
            }
        }
    }

    /// The queue is full (or the writer stopped): one event dropped, counted, and
    /// refused with `on_full = "refuse"`.
    fn full(&self) -> Result<(), AuditRefused> {
        self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("mcp_auth_audit_dropped_total").increment(1);
        match self.inner.on_full {
            OnFull::Drop => Ok(()),
            OnFull::Refuse => Err(AuditRefused),
        }
    }

    /// Closes the queue for every handle (later events are dropped, or refused), and
    /// waits until the writer has written everything queued before and stopped. Waits
    /// for as long as the output does (a stalled FIFO): bound it with a timeout.
    pub async fn shutdown(self) {
        // Waits for room in a full queue; fails only when the writer already stopped.
        let _ = self.inner.tx.send(Msg::Close).await;
        let mut done = self.inner.done.clone();
        // An error means the writer thread ended without saying so: stopped too.
        let _ = done.wait_for(|stopped| *stopped).await;
    }

    /// Events dropped so far by this sink (queue full or writer stopped).
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Failed writes (or renames, opens) so far by this sink's writer.
    pub fn write_errors(&self) -> u64 {
        self.inner.counters.write_errors.load(Ordering::Relaxed)
    }
}

/// The bounded set of tool label values.
#[derive(Debug)]
struct ToolLabels {
    seen: Mutex<BTreeSet<String>>,
    max: usize,
}

impl ToolLabels {
    const fn new(max: usize) -> Self {
        Self {
            seen: Mutex::new(BTreeSet::new()),
            max,
        }
    }

    /// The label for `tool`: itself if it is one of the first `max` distinct names,
    /// `"other"` beyond them or when too long, `""` without a tool.
    fn label(&self, tool: Option<&str>) -> String {
        let Some(tool) = tool else {
            return String::new();
        };
        if tool.len() > TOOL_LABEL_MAX_LEN {
            return "other".to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(tool) || (seen.len() < self.max && seen.insert(tool.to_owned())) {
            tool.to_owned()
        } else {
            "other".to_owned()
        }
    }
}

/// Counts and (at most every [`WARN_EVERY`]) logs write errors.
struct Reporter {
    counters: Arc<Counters>,
    last_warn: Option<Instant>,
    suppressed: u64,
}

impl Reporter {
    fn error(&mut self, what: &'static str, target: &Path, error: &io::Error) {
        self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("mcp_auth_audit_write_errors_total").increment(1);
        let now = Instant::now();
        if self
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            tracing::warn!(
                output = %target.display(), %error, suppressed = self.suppressed,
                "audit: {what} failed; audit lines lost"
            );
            self.last_warn = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

enum Output {
    Stdout,
    File(FileOut),
}

struct Writer {
    output: Output,
    report: Reporter,
}

impl Writer {
    /// Until every handle is gone or [`Msg::Close`] has been seen and the queue emptied:
    /// take what is queued (up to `batch_max` lines), write it, flush.
    fn run(&mut self, mut rx: mpsc::Receiver<Msg>, batch_max: usize) {
        let mut lines = Vec::new();
        while let Some(msg) = rx.blocking_recv() {
            let mut next = Some(msg);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Line(line) => lines.push(line),
                    // Later `try_send`s fail; what is queued is still received.
                    Msg::Close => rx.close(),
                }
                if lines.len() < batch_max {
                    next = rx.try_recv().ok();
                }
            }
            if !lines.is_empty() {
                self.write(&lines);
                lines.clear();
            }
        }
    }

    fn write(&mut self, lines: &[Vec<u8>]) {
        match &mut self.output {
            Output::Stdout => {
                let bytes = lines.concat();
                let mut out = io::stdout().lock();
                if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
                    self.report.error("write", Path::new("stdout"), &e);
                }
            }
            Output::File(file) => file.write_lines(lines, &mut self.report),
        }
    }
}

/// The audit file, its size as written, and its rotation.
struct FileOut {
    path: PathBuf,
    /// `None` until a FIFO or device is opened, or after a failed (re)open.
    file: Option<File>,
    /// A regular file: created when absent, rotated, cut back after a failed write.
    regular: bool,
    /// Bytes in the current file (from its length when opened).
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl FileOut {
    /// Checks the path and opens a regular (or new) file now.
    fn prepare(path: &Path, config: &AuditConfig) -> Result<Self, AuditError> {
        let mut out = Self {
            path: path.to_owned(),
            file: None,
            regular: true,
            size: 0,
            max_bytes: config.max_file_bytes,
            keep: config.keep_files,
        };
        if private_file::standard_stream(path).is_some() {
            // The process's own standard output or error, written through its
            // descriptor: never rotated, never cut back.
            out.regular = false;
            return Ok(out);
        }
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(AuditError::IsDirectory {
                    path: path.to_owned(),
                });
            }
            Ok(m) if !m.is_file() => {
                // A pipe or a device, opened by the writer (a pipe blocks until it has a
                // reader): checked now as `open_append` will check it then (another
                // user's pipe would receive the trail).
                private_file::check_before_append(path).map_err(|source| AuditError::Open {
                    path: path.to_owned(),
                    source,
                })?;
                out.regular = false;
                return Ok(out);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                if !dir.is_dir() {
                    return Err(AuditError::NoDirectory {
                        path: path.to_owned(),
                        dir: dir.to_owned(),
                    });
                }
            }
            Err(source) => {
                return Err(AuditError::Open {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        out.open().map_err(|source| AuditError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(out)
    }

    /// Opens the path for appending: a regular file created 0600 when absent; an
    /// existing one only if this user owns it and no other can write to it, never
    /// through another user's symbolic link (`private_file::open_append`). A file
    /// another user placed at the path, or a link to one of ours (`~/.bashrc`), would
    /// otherwise receive lines whose fields a client chose.
    fn open(&mut self) -> io::Result<&mut File> {
        if !self.regular
            && private_file::standard_stream(&self.path).is_none()
            && fs::symlink_metadata(&self.path).is_err()
        {
            // A pipe or device that went away: not replaced by a regular file, which
            // would never be rotated.
            return Err(io::ErrorKind::NotFound.into());
        }
        let file = private_file::open_append(&self.path, Owners::Me, Others::Read)?;
        self.size = if self.regular {
            file.metadata()?.len()
        } else {
            0
        };
        Ok(self.file.insert(file))
    }

    /// Writes the lines, rotating before a line that would take the file past the cap
    /// (never before the first line of a file).
    fn write_lines(&mut self, lines: &[Vec<u8>], report: &mut Reporter) {
        let mut buf = Vec::with_capacity(lines.iter().map(Vec::len).sum());
        for line in lines {
            let pending = self.size + buf.len() as u64;
            if self.regular && pending > 0 && pending + line.len() as u64 > self.max_bytes {
                self.write_buf(&mut buf, report);
                if let Err(e) = self.rotate() {
                    report.error("rotation", &self.path, &e);
                    // Try again after another `max_bytes`, not before every line.
                    self.size = 0;
                }
            }
            buf.extend_from_slice(line);
        }
        self.write_buf(&mut buf, report);
    }

    /// One `write_all` of `buf` and a flush; on failure the bytes are lost and a partial
    /// line is cut off again.
    fn write_buf(&mut self, buf: &mut Vec<u8>, report: &mut Reporter) {
        if buf.is_empty() {
            return;
        }
        let before = self.size;
        let result = match self.file.as_mut() {
            Some(file) => Ok(file),
            None => self.open(),
        }
        .and_then(|file| file.write_all(buf).and_then(|()| file.flush()));
        match result {
            Ok(()) => self.size += buf.len() as u64,
            Err(e) => {
                report.error("write", &self.path, &e);
                if self.regular
                    && let Some(file) = &self.file
                {
                    // Best effort: the disk that failed the write may fail this too.
                    let _ = file.set_len(before);
                }
            }
        }
        buf.clear();
    }

    /// `path.{k-1}` → `path.{k}` … `path` → `path.1` (or removes `path` when keeping
    /// none), then a fresh `path`.
    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.keep).rev() {
                match fs::rename(self.numbered(i), self.numbered(i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, self.numbered(1))?;
        }
        self.file = None;
        self.size = 0;
        self.open().map(drop)
    }

    fn numbered(&self, i: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{i}"));
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails if the 257th distinct name gets its own label, if a name seen before is
    /// turned into "other" once the set is full, or if an over-long name is admitted.
    #[test]
    fn tool_labels_are_bounded() {
        let labels = ToolLabels::new(TOOL_LABELS_MAX);
        for i in 0..TOOL_LABELS_MAX {
            assert_eq!(
                labels.label(Some(&format!("tool_{i}"))),
                format!("tool_{i}")
            );
        }
        assert_eq!(labels.label(Some("tool_256")), "other");
        assert_eq!(labels.label(Some("another")), "other");
        assert_eq!(labels.label(Some("tool_0")), "tool_0");
        assert_eq!(labels.label(Some("tool_255")), "tool_255");
        assert_eq!(labels.label(None), "");
        let fresh = ToolLabels::new(TOOL_LABELS_MAX);
        assert_eq!(
            fresh.label(Some(&"x".repeat(TOOL_LABEL_MAX_LEN + 1))),
            "other"
        );
        assert_eq!(
            fresh.label(Some(&"x".repeat(TOOL_LABEL_MAX_LEN))),
            "x".repeat(TOOL_LABEL_MAX_LEN)
        );
    }
}
