//! The gateway's audit trail: one structured event per MCP operation, written as
//! JSON lines to a file or to stdout, without ever slowing the request path.
//!
//! # What an event holds
//!
//! [`AuditEvent`] names the time (RFC 3339 UTC, milliseconds), the request id, who
//! called (issuer, subject, client id, profile, key thumbprint), what was called (the
//! JSON-RPC method and the tool, prompt or resource name), a SHA-256 of the raw bytes
//! of `params.arguments` exactly as received, the decision and the policy rule that
//! made it, the upstream status and the latency. The arguments themselves are in the
//! event only with `include_arguments = true`, and then every object member whose name
//! is in `redact` (at any depth, ASCII case-insensitively) has its value replaced by
//! `"[redacted]"`: an audit file is read by more people than the tool's arguments were
//! meant for. Arguments over [`ARGUMENTS_MAX_BYTES`] are hashed but never copied, so
//! one queued event cannot hold megabytes.
//!
//! # Why the queue is bounded and `record` only tries
//!
//! [`AuditSink::record`] serializes the event to its line on the caller's task, then
//! hands the bytes to a bounded channel with `try_send`: it never awaits and never
//! blocks. A disk that stalls, a full pipe or a stdout nobody reads therefore cannot
//! hold a request, and the memory the audit trail can take is bounded by
//! `queue` lines. When the queue is full the event is dropped and
//! `mcp_auth_audit_dropped_total` is incremented; with `on_full = "refuse"`
//! (fail-closed) `record` also answers [`AuditRefused`], and the gateway refuses the
//! request with 503 rather than let an operation happen unaudited.
//!
//! The writer is a dedicated OS thread, not a tokio task: its writes are blocking
//! system calls that may wait forever (a FIFO whose reader stalls), and a blocked
//! runtime worker would starve the gateway (a current-thread runtime would stop
//! entirely). The thread drains whatever is queued (at most `queue` lines, at most
//! 1024) and writes it with one `write_all` per file, then flushes. Write errors (disk
//! full, EIO) are counted in `mcp_auth_audit_write_errors_total` and logged at most once
//! per 10 s; the lines of that write are lost, a partial line is cut off again (regular
//! files), and the writer goes on. [`AuditSink::shutdown`] closes the queue and waits
//! until everything queued has been written.
//!
//! # Metrics and label cardinality
//!
//! `mcp_auth_audit_events_total{tool, decision}` counts every operation recorded, also
//! those whose line was dropped. The tool name comes from the request, so any client
//! could mint a new label value per call and grow the metrics registry (and every
//! scrape) without bound: only the first [`TOOL_LABELS_MAX`] distinct names of at most
//! [`TOOL_LABEL_MAX_LEN`] bytes become label values, every other name is counted as
//! `"other"`, and an operation without a tool (e.g. `tools/list`) has the label `""`.
//! The event itself always has the real name.
//!
//! # Files: modes, appending, rotation
//!
//! The file is opened in append mode and never truncated at start: a restart adds to
//! the trail. A new file is created with mode 0600 (audit lines name users and may hold
//! arguments); the mode of an existing file is left as the operator set it. Its
//! directory must exist ([`AuditError::NoDirectory`] names it). Rotation is by size and
//! only for regular files: when the next line would take the file past
//! `max_file_bytes`, the writer renames `audit.jsonl.{k-1}` to `audit.jsonl.{k}` … `.1`
//! to `.2`, `audit.jsonl` to `.1` (the oldest of the `keep_files` is replaced, so it is
//! dropped), and opens a fresh `audit.jsonl`. Lines are never split across files; a
//! single line longer than the cap gets a file of its own. A rename that fails is
//! counted as a write error and retried only after another `max_file_bytes`.
//! Rotation by rename means a shipper tailing the file by name sees each file whole.
//!
//! A FIFO or a character device (`/dev/stderr`) can be the output too: it is never
//! created, rotated or truncated, and it is opened by the writer thread, so that a FIFO
//! without a reader (whose open blocks) cannot hang [`AuditSink::start`].

mod event;
mod sink;

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

pub use event::{
    ARGUMENTS_MAX_BYTES, AuditEvent, FIELD_MAX_BYTES, REDACTED, arguments_of, decision,
    rfc3339_millis,
};
pub use sink::{AuditRefused, AuditSink, AuditSlot, TOOL_LABEL_MAX_LEN, TOOL_LABELS_MAX};

/// The request id of an event: the client's `X-Request-Id` when it is 1 to 128
/// visible ASCII characters, else a new random one (also sent upstream, so the
/// upstream's logs can be joined with the audit trail).
pub fn request_id(headers: &http::HeaderMap) -> String {
    if let Some(id) = headers
        .get(REQUEST_ID)
        .and_then(|v| mcp_auth_httpsig::visible_ascii(v.as_bytes()))
        .filter(|v| (1..=128).contains(&v.len()))
    {
        return id.to_owned();
    }
    mcp_auth_core::random::random_token::<16>().unwrap_or_default()
}

/// `X-Request-Id`.
pub const REQUEST_ID: &str = "x-request-id";

/// The event of one operation of `principal` (its method, tool or resource, and
/// arguments as the sink's configuration says), decided `decision`.
pub fn operation_event(
    sink: &AuditSink,
    request_id: &str,
    principal: &crate::Principal,
    op: Option<&mcp_auth_core::McpOperation<'_>>,
    decision: &'static str,
) -> AuditEvent {
    AuditEvent::new(request_id, op.map_or("", |o| o.method.as_ref()), decision)
        .with_principal(principal)
        .with_tool(op.and_then(|o| o.name.as_deref()))
        .with_arguments(op.and_then(|o| o.arguments), sink.config())
}

/// Member names redacted by default when arguments are included. A configured `redact`
/// list replaces this one (it does not add to it).
pub const DEFAULT_REDACT: &[&str] = &["password", "token", "secret", "api_key", "authorization"];

/// Default bound of the queue, in events.
pub const DEFAULT_QUEUE: usize = 10_000;

/// Default size of an audit file before it is rotated: 100 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// Default number of rotated files kept (`audit.jsonl.1` … `.5`).
pub const DEFAULT_KEEP_FILES: u32 = 5;

/// `[audit]` of the gateway's file. Absent `output`: no audit trail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `"stdout"` or the path of the audit file; absent = audit off.
    pub output: Option<AuditOutput>,
    /// Put the (redacted) arguments themselves in the event, not only their hash.
    pub include_arguments: bool,
    /// Object member names whose values are replaced by `"[redacted]"` at any depth
    /// (ASCII case-insensitive) [default: [`DEFAULT_REDACT`]].
    pub redact: Vec<String>,
    /// How many events may wait for the writer (at least 1) [default: 10000].
    #[serde(deserialize_with = "at_least_one_usize")]
    pub queue: usize,
    /// What a full queue does to the request [default: drop].
    pub on_full: OnFull,
    /// Size at which the file is rotated (at least 1) [default: 100 MiB].
    #[serde(deserialize_with = "at_least_one_u64")]
    pub max_file_bytes: u64,
    /// Rotated files kept; 0 deletes the full file instead [default: 5].
    pub keep_files: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            output: None,
            include_arguments: false,
            redact: DEFAULT_REDACT.iter().map(|s| (*s).to_owned()).collect(),
            queue: DEFAULT_QUEUE,
            on_full: OnFull::Drop,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            keep_files: DEFAULT_KEEP_FILES,
        }
    }
}

impl AuditConfig {
    /// Whether an audit trail is configured.
    pub fn enabled(&self) -> bool {
        self.output.is_some()
    }

    /// Checks what deserialization cannot (for a config built in code): a queue and a
    /// file size of at least 1, a non-empty path. [`AuditSink::start`] calls it.
    pub fn validate(&self) -> Result<(), AuditError> {
        if self.queue == 0 {
            return Err(AuditError::Config("queue must be at least 1"));
        }
        if self.max_file_bytes == 0 {
            return Err(AuditError::Config("max_file_bytes must be at least 1"));
        }
        if matches!(&self.output, Some(AuditOutput::File(p)) if p.as_os_str().is_empty()) {
            return Err(AuditError::Config(
                "output must be \"stdout\" or a file path",
            ));
        }
        Ok(())
    }
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum AuditOutput {
    /// The process's standard output (`output = "stdout"`).
    Stdout,
    /// A file (or a FIFO, a character device), relative to the working directory.
    File(PathBuf),
}

impl From<String> for AuditOutput {
    fn from(s: String) -> Self {
        if s == "stdout" {
            Self::Stdout
        } else {
            Self::File(PathBuf::from(s))
        }
    }
}

/// What [`AuditSink::record`] does when the queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// Drop the event, count it, let the request go on (fail-open).
    #[default]
    Drop,
    /// Drop the event, count it, and answer [`AuditRefused`]: the gateway refuses the
    /// request with 503 (fail-closed).
    Refuse,
}

/// Why the audit trail cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A value of `[audit]` is out of range.
    #[error("[audit]: {0}")]
    Config(&'static str),
    /// The directory of the audit file does not exist.
    #[error("audit output {}: the directory {} does not exist", path.display(), dir.display())]
    NoDirectory {
        /// The configured output.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The output is a directory.
    #[error("audit output {}: is a directory", path.display())]
    IsDirectory {
        /// The configured output.
        path: PathBuf,
    },
    /// The audit file cannot be created or opened.
    #[error("audit output {}: {source}", path.display())]
    Open {
        /// The configured output.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The writer thread cannot be started.
    #[error("audit writer thread: {0}")]
    Spawn(std::io::Error),
}

fn at_least_one_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

fn at_least_one_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AuditConfig, toml::de::Error> {
        toml::from_str(s)
    }

    /// Fails if a default changes or the empty table does not mean "off".
    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, AuditConfig::default());
        assert!(!c.enabled());
        assert!(!c.include_arguments);
        assert_eq!(
            c.redact,
            ["password", "token", "secret", "api_key", "authorization"]
        );
        assert_eq!(c.queue, 10_000);
        assert_eq!(c.on_full, OnFull::Drop);
        assert_eq!(c.max_file_bytes, 100 * 1024 * 1024);
        assert_eq!(c.keep_files, 5);
        assert!(c.validate().is_ok());
    }

    /// Fails if `stdout` is taken for a file, a configured list is merged with the
    /// default, or `on_full` is misread.
    #[test]
    fn values() {
        let c = parse(
            r#"output = "stdout"
redact = ["pin"]
on_full = "refuse"
queue = 3
"#,
        )
        .unwrap();
        assert_eq!(c.output, Some(AuditOutput::Stdout));
        assert!(c.enabled());
        assert_eq!(c.redact, ["pin"]);
        assert_eq!(c.on_full, OnFull::Refuse);
        assert_eq!(c.queue, 3);
        let c = parse(r#"output = "/var/log/mcp/audit.jsonl""#).unwrap();
        assert_eq!(
            c.output,
            Some(AuditOutput::File("/var/log/mcp/audit.jsonl".into()))
        );
    }

    /// Fails if a misspelt key, an unknown `on_full`, a zero queue or size is accepted.
    #[test]
    fn refusals() {
        assert!(parse("outptu = \"stdout\"").is_err());
        assert!(parse("on_full = \"block\"").is_err());
        let e = parse("queue = 0").unwrap_err().to_string();
        assert!(e.contains("at least 1"), "{e}");
        assert!(parse("max_file_bytes = 0").is_err());
        let c = AuditConfig {
            queue: 0,
            ..AuditConfig::default()
        };
        assert!(matches!(c.validate(), Err(AuditError::Config(m)) if m.contains("queue")));
        let c = AuditConfig {
            max_file_bytes: 0,
            ..AuditConfig::default()
        };
        assert!(c.validate().is_err());
        let c = AuditConfig {
            output: Some(AuditOutput::File("".into())),
            ..AuditConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
