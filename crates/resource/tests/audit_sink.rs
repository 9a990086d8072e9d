//! The audit sink against real files, a real FIFO whose reader stalls, and `/dev/full`:
//! what each line holds and in which order, rotation, appending, configuration errors,
//! and that `record` never waits for a stalled writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mcp_auth_resource::audit::{
    AuditConfig, AuditError, AuditEvent, AuditOutput, AuditRefused, AuditSink, OnFull,
    arguments_of, decision,
};
use mcp_auth_resource::{Principal, Profile};
use serde_json::Value;

/// Guard against a hang (never an assertion about speed).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// `O_NONBLOCK` on Linux (x86-64, AArch64, RISC-V); the crate has no libc binding.
const O_NONBLOCK: i32 = 0o4000;

const BODY: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments": {"query": "rust", "password":"hunter2","opts":{"api_key":"k-1","depth":2,"list":[{"Token":"t","n":1}]}} }}"#;

/// The `arguments` member of [`BODY`], cut out by hand.
const RAW_ARGS: &str = r#"{"query": "rust", "password":"hunter2","opts":{"api_key":"k-1","depth":2,"list":[{"Token":"t","n":1}]}}"#;

fn file_config(path: &Path) -> AuditConfig {
    AuditConfig {
        output: Some(AuditOutput::File(path.to_owned())),
        ..AuditConfig::default()
    }
}

fn principal() -> Principal {
    Principal {
        issuer: "https://as.example".into(),
        subject: "alice".into(),
        client_id: "cli-1".into(),
        scopes: ["mcp".to_owned()].into(),
        token_id: "jti-1".into(),
        profile: Profile::HttpSig,
        key_thumbprint: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        claims: Default::default(),
    }
}

/// An event whose request id is `id`.
fn event(id: &str) -> AuditEvent {
    AuditEvent::new(id, "tools/call", decision::ALLOW)
        .with_principal(&principal())
        .with_tool(Some("search"))
}

async fn shutdown(sink: AuditSink) {
    tokio::time::timeout(HANG_GUARD, sink.shutdown())
        .await
        .expect("the writer never finished");
}

fn lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{}: last line cut",
        path.display()
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Every member, in order, with the values given; the hash of the exact raw bytes; no
/// arguments by default; file 0600. Fails if a member is missing, renamed, reordered,
/// if the hash is over re-serialized JSON, or if arguments leak without the option.
#[tokio::test]
async fn events_are_json_lines_with_every_field_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let config = file_config(&path);
    let sink = AuditSink::start(&config).unwrap().unwrap();
    let mut full = event("req-1")
        .with_arguments(arguments_of(BODY.as_bytes()), &config)
        .with_rule(Some("allow-search"))
        .with_latency(Duration::from_micros(12_345_678));
    full.upstream_status = Some(200);
    sink.record(full).unwrap();
    let rejected = AuditEvent::new("req-2", "tools/list", decision::REJECTED)
        .with_profile(Some(Profile::Bearer));
    sink.record(rejected).unwrap();
    shutdown(sink).await;

    let text = fs::read_to_string(&path).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    assert_eq!(raw.len(), 2);
    let order = [
        "time",
        "request_id",
        "issuer",
        "subject",
        "client_id",
        "profile",
        "key_thumbprint",
        "method",
        "tool",
        "arguments_sha256",
        "decision",
        "rule",
        "upstream_status",
        "latency_ms",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| raw[0].find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "members out of order: {}",
        raw[0]
    );

    let v: Value = serde_json::from_str(raw[0]).unwrap();
    assert_eq!(v.as_object().unwrap().len(), order.len(), "{v}");
    let time = v["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-12-05T07:30:00.123Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T' && time.as_bytes()[19] == b'.');
    assert_eq!(v["request_id"], "req-1");
    assert_eq!(v["issuer"], "https://as.example");
    assert_eq!(v["subject"], "alice");
    assert_eq!(v["client_id"], "cli-1");
    assert_eq!(v["profile"], "httpsig");
    assert_eq!(
        v["key_thumbprint"],
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(v["method"], "tools/call");
    assert_eq!(v["tool"], "search");
    assert_eq!(v["arguments_sha256"], sha256_hex(RAW_ARGS.as_bytes()));
    assert_ne!(
        v["arguments_sha256"],
        sha256_hex(serde_json::to_string(&v).unwrap().as_bytes())
    );
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["rule"], "allow-search");
    assert_eq!(v["upstream_status"], 200);
    assert_eq!(v["latency_ms"], 12345.678);
    assert!(!raw[0].contains("hunter2") && v.get("arguments").is_none());

    let v: Value = serde_json::from_str(raw[1]).unwrap();
    assert_eq!(v["decision"], "rejected");
    assert_eq!(v["profile"], "bearer");
    assert!(v["issuer"].is_null() && v["tool"].is_null() && v["arguments_sha256"].is_null());
    assert!(v.get("key_thumbprint").is_none());
    assert_eq!(mode(&path), 0o600);
}

/// With `include_arguments`, the default names are redacted at depth 1, nested and in
/// arrays (any case); other members are intact. Fails if redaction misses a depth or
/// removes what it should keep.
#[tokio::test]
async fn included_arguments_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let config = AuditConfig {
        include_arguments: true,
        ..file_config(&path)
    };
    let sink = AuditSink::start(&config).unwrap().unwrap();
    sink.record(event("r").with_arguments(arguments_of(BODY.as_bytes()), &config))
        .unwrap();
    shutdown(sink).await;
    let v = lines(&path).remove(0);
    assert_eq!(
        v["arguments"],
        serde_json::json!({"query":"rust","password":"[redacted]","opts":{"api_key":"[redacted]","depth":2,"list":[{"Token":"[redacted]","n":1}]}})
    );
    assert_eq!(v["arguments_sha256"], sha256_hex(RAW_ARGS.as_bytes()));
    assert!(!fs::read_to_string(&path).unwrap().contains("hunter2"));
}

/// Many events through a 2 KiB cap keeping 2 files: exactly three files, each within
/// the cap, each of whole lines, 0600, holding a run of consecutive events that ends
/// with the last. Fails on an off-by-one in the shift, a split or lost line, a file
/// over the cap, an extra `.3`, or a rotated file that lost its mode.
#[tokio::test]
async fn rotation_keeps_whole_lines_within_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let config = AuditConfig {
        max_file_bytes: 2048,
        keep_files: 2,
        ..file_config(&path)
    };
    let sink = AuditSink::start(&config).unwrap().unwrap();
    let n = 300;
    for i in 0..n {
        sink.record(event(&format!("seq-{i}"))).unwrap();
    }
    shutdown(sink).await;

    let names: BTreeSet<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "audit.jsonl".into(),
            "audit.jsonl.1".into(),
            "audit.jsonl.2".into()
        ])
    );
    let mut ids = Vec::new();
    for name in ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"] {
        let p = dir.path().join(name);
        assert!(
            fs::metadata(&p).unwrap().len() <= 2048,
            "{name} over the cap"
        );
        assert_eq!(mode(&p), 0o600, "{name}");
        let file_lines = lines(&p);
        assert!(!file_lines.is_empty(), "{name} empty");
        for v in file_lines {
            let id = v["request_id"].as_str().unwrap();
            ids.push(id.strip_prefix("seq-").unwrap().parse::<usize>().unwrap());
        }
    }
    assert_eq!(*ids.last().unwrap(), n - 1);
    assert!(ids[0] > 0, "nothing was rotated away");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "a line is missing: {ids:?}"
    );
}

/// A line longer than the cap goes alone into a fresh file. Fails if it is refused,
/// split, or shares a file.
#[tokio::test]
async fn an_over_long_line_gets_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let config = AuditConfig {
        max_file_bytes: 100,
        keep_files: 3,
        ..file_config(&path)
    };
    let sink = AuditSink::start(&config).unwrap().unwrap();
    for i in 0..3 {
        sink.record(event(&format!("long-{i}"))).unwrap();
    }
    shutdown(sink).await;
    let names: BTreeSet<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for (name, id) in [
        ("audit.jsonl.2", "long-0"),
        ("audit.jsonl.1", "long-1"),
        ("audit.jsonl", "long-2"),
    ] {
        let v = lines(&dir.path().join(name));
        assert_eq!(v.len(), 1, "{name}");
        assert_eq!(v[0]["request_id"], id);
    }
}

/// A restart appends to the file it finds and leaves its mode alone. Fails if the file
/// is truncated or replaced.
#[tokio::test]
async fn an_existing_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    fs::write(&path, "{\"request_id\":\"before\"}\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    for id in ["first", "second"] {
        let sink = AuditSink::start(&file_config(&path)).unwrap().unwrap();
        sink.record(event(id)).unwrap();
        shutdown(sink).await;
    }
    let ids: Vec<Value> = lines(&path)
        .into_iter()
        .map(|v| v["request_id"].clone())
        .collect();
    assert_eq!(ids, ["before", "first", "second"]);
    assert_eq!(mode(&path), 0o640);
}

/// What another user could place at the audit path is refused at start, before a
/// line is written: a file others can write, a file another user owns, another
/// user's symbolic link (here to a file of ours, as `~/.bashrc` would be: the lines
/// hold fields a client chose) and another user's pipe (which would receive the
/// trail). Fails if any of them is opened, or the file the link points at changes.
#[tokio::test]
async fn a_path_other_users_control_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |path: &Path, why: &str| {
        let e = AuditSink::start(&file_config(path)).unwrap_err();
        assert!(matches!(e, AuditError::Open { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&*path.to_string_lossy()) && msg.contains(why),
            "{msg}"
        );
    };
    let writable = dir.path().join("writable.jsonl");
    fs::write(&writable, "").unwrap();
    fs::set_permissions(&writable, fs::Permissions::from_mode(0o666)).unwrap();
    refused(&writable, "other users can write it (mode 0666)");

    if mcp_auth_core::private_file::own_uid() != 0 {
        eprintln!("SKIPPED: files of another user need root to be made");
        return;
    }
    let another = |path: &Path| std::os::unix::fs::lchown(path, Some(4242), None).unwrap();
    let theirs = dir.path().join("theirs.jsonl");
    fs::write(&theirs, "").unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o644)).unwrap();
    another(&theirs);
    refused(&theirs, "belongs to user 4242");

    let ours = dir.path().join("bashrc");
    fs::write(&ours, "# ours\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&ours, &link).unwrap();
    another(&link);
    refused(&link, "belongs to user 4242");
    assert_eq!(fs::read_to_string(&ours).unwrap(), "# ours\n");

    let (fifo, _reader) = stalled_fifo(dir.path());
    another(&fifo);
    refused(&fifo, "belongs to user 4242");
}

/// No output: no sink. A missing directory and a directory as output are errors that
/// name the path. Fails if start succeeds or the message does not say where.
#[tokio::test]
async fn start_errors_name_the_path() {
    assert!(AuditSink::start(&AuditConfig::default()).unwrap().is_none());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("audit.jsonl");
    let e = AuditSink::start(&file_config(&missing)).unwrap_err();
    assert!(matches!(e, AuditError::NoDirectory { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&*dir.path().join("no-such-dir").to_string_lossy()),
        "{msg}"
    );
    let e =
        AuditSink::start(&file_config(Path::new("no-such-relative-dir/audit.jsonl"))).unwrap_err();
    assert!(e.to_string().contains("no-such-relative-dir"), "{e}");
    let e = AuditSink::start(&file_config(dir.path())).unwrap_err();
    assert!(matches!(e, AuditError::IsDirectory { .. }), "{e:?}");
    let e = AuditSink::start(&AuditConfig {
        queue: 0,
        ..file_config(&dir.path().join("a"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("queue"), "{e}");
}

/// `/dev/full` fails every write with ENOSPC: the errors are counted, nothing panics,
/// and the writer keeps taking events. Fails if an error stops the writer (shutdown
/// would hang or later batches go uncounted) or goes uncounted.
#[tokio::test]
async fn write_errors_are_counted_and_survived() {
    let sink = AuditSink::start(&file_config(Path::new("/dev/full")))
        .unwrap()
        .unwrap();
    sink.record(event("full-1")).unwrap();
    let probe = sink.clone();
    shutdown(sink).await;
    let first = probe.write_errors();
    assert!(first >= 1, "no write error counted");
    let sink = AuditSink::start(&file_config(Path::new("/dev/full")))
        .unwrap()
        .unwrap();
    for i in 0..3 {
        sink.record(event(&format!("full-{i}"))).unwrap();
    }
    let probe = sink.clone();
    shutdown(sink).await;
    assert!(
        (1..=3).contains(&probe.write_errors()),
        "{}",
        probe.write_errors()
    );
}

/// After shutdown a clone's `record` is dropped (or refused), never queued for nobody.
/// Fails if the closed queue still takes events silently.
#[tokio::test]
async fn record_after_shutdown_is_dropped_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuditConfig {
        on_full: OnFull::Refuse,
        ..file_config(&dir.path().join("a.jsonl"))
    };
    let sink = AuditSink::start(&config).unwrap().unwrap();
    let other = sink.clone();
    shutdown(sink).await;
    assert_eq!(other.record(event("late")), Err(AuditRefused));
    assert_eq!(other.dropped(), 1);
}

/// A FIFO, a reader end held by the test, and the pipe filled to the brim: the writer
/// blocks on its first write.
fn stalled_fifo(dir: &Path) -> (PathBuf, File) {
    let path = dir.join("audit.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    // Read and write: the open does not wait for a peer, and the FIFO keeps a reader.
    let end = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(&path)
        .unwrap();
    for chunk in [&[b'\n'; 4096][..], b"\n"] {
        loop {
            match (&end).write(chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("filling the FIFO: {e}"),
            }
        }
    }
    (path, end)
}

/// Reads the FIFO on a thread until `finished` is set and the pipe is empty.
fn drain(end: &File, finished: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u8>> {
    let mut end = end.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let started = Instant::now();
        loop {
            match end.read(&mut buf) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if finished.load(Ordering::SeqCst) || started.elapsed() > HANG_GUARD {
                        return out;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("reading the FIFO: {e}"),
            }
        }
    })
}

/// The stall and the recovery, in either `on_full` mode. Returns nothing; asserts:
/// - all `4 × queue` calls of `record` returned, on this task, while the writer was
///   blocked (no timing: had one waited, the test would hang, not pass);
/// - at least the queue and at most queue + one batch (2 × queue) were taken, the rest
///   dropped and counted (and refused with `refuse`);
/// - once the FIFO is read, the writer resumes: exactly the events taken arrive, in
///   order, then an event recorded after the stall.
async fn stall_and_recover(on_full: OnFull) {
    let dir = tempfile::tempdir().unwrap();
    let (path, end) = stalled_fifo(dir.path());
    let queue = 8;
    let config = AuditConfig {
        queue,
        on_full,
        ..file_config(&path)
    };
    let sink = AuditSink::start(&config).unwrap().unwrap();

    let calls = 4 * queue;
    let mut returned = 0;
    let mut taken = Vec::new();
    let mut refused = 0;
    for i in 0..calls {
        let before = sink.dropped();
        let result = sink.record(event(&format!("stalled-{i}")));
        returned += 1;
        let dropped = sink.dropped() > before;
        match (on_full, result) {
            (OnFull::Refuse, Err(AuditRefused)) => {
                assert!(dropped);
                refused += 1;
            }
            (_, Err(AuditRefused)) => panic!("refused with on_full = drop"),
            (_, Ok(())) if dropped => {
                assert_eq!(on_full, OnFull::Drop, "dropped but Ok with refuse")
            }
            (_, Ok(())) => taken.push(format!("stalled-{i}")),
        }
    }
    assert_eq!(returned, calls);
    assert!(
        taken.len() >= queue && taken.len() <= 2 * queue,
        "taken {}",
        taken.len()
    );
    assert_eq!(sink.dropped() as usize, calls - taken.len());
    if on_full == OnFull::Refuse {
        assert_eq!(refused, calls - taken.len());
    }

    let finished = Arc::new(AtomicBool::new(false));
    let reader = drain(&end, Arc::clone(&finished));
    let started = Instant::now();
    loop {
        let before = sink.dropped();
        if sink.record(event("after-the-stall")).is_ok() && sink.dropped() == before {
            break;
        }
        assert!(started.elapsed() < HANG_GUARD, "the writer never resumed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown(sink).await;
    finished.store(true, Ordering::SeqCst);
    let bytes = reader.join().unwrap();

    let text = String::from_utf8(bytes).unwrap();
    let ids: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    taken.push("after-the-stall".into());
    assert_eq!(ids, taken);
}

/// `on_full = "drop"`: the caller is never refused, the drops are counted.
#[tokio::test]
async fn a_stalled_writer_never_blocks_record_drop() {
    stall_and_recover(OnFull::Drop).await;
}

/// `on_full = "refuse"`: the calls beyond the queue are refused.
#[tokio::test]
async fn a_stalled_writer_never_blocks_record_refuse() {
    stall_and_recover(OnFull::Refuse).await;
}
