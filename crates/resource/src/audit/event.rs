//! One audit event: its fields in their JSON order, the hash and the redaction of the
//! arguments, and the time format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytestring::ByteString;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::AuditConfig;
use crate::presentation::{Principal, Profile};

/// The values of [`AuditEvent::decision`].
pub mod decision {
    /// The request was forwarded.
    pub const ALLOW: &str = "allow";
    /// A policy rule denied it.
    pub const DENY: &str = "deny";
    /// The token lacked a scope the operation needs.
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
    /// A rate limit refused it.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The item was filtered out of a listing (or its call answered as unknown).
    pub const HIDDEN: &str = "hidden";
    /// The presentation was refused (no valid token, bad signature, ...).
    pub const REJECTED: &str = "rejected";
}

/// Raw arguments longer than this are hashed but not copied into the event, even with
/// `include_arguments`: a queued event must stay small.
pub const ARGUMENTS_MAX_BYTES: usize = 64 * 1024;

/// What a redacted member's value becomes.
pub const REDACTED: &str = "[redacted]";

/// One operation, serialized as one JSON line with the members in this order.
/// `None` is written as `null`, except `key_thumbprint` and `arguments`, which are then
/// left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// When the event was made, RFC 3339 UTC with milliseconds (`2026-12-05T07:30:00.123Z`).
    pub time: String,
    /// The gateway's request id.
    pub request_id: String,
    /// `iss` of the verified token (`None` when the presentation was rejected).
    pub issuer: Option<ByteString>,
    /// `sub` of the verified token.
    pub subject: Option<ByteString>,
    /// `client_id` of the verified token.
    pub client_id: Option<ByteString>,
    /// `bearer`, `httpsig` or `dpop` (the scheme presented, also for a rejection).
    pub profile: Option<&'static str>,
    /// Thumbprint of the key that signed the request or the DPoP proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_thumbprint: Option<ByteString>,
    /// The JSON-RPC method.
    pub method: String,
    /// `params.name` of `tools/call` and `prompts/get`, `params.uri` of `resources/read`.
    pub tool: Option<String>,
    /// Lowercase hex SHA-256 of the raw bytes of `params.arguments` as received.
    pub arguments_sha256: Option<String>,
    /// The arguments, redacted (only with `include_arguments`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// One of [`decision`].
    pub decision: &'static str,
    /// The policy rule that decided, when one did.
    pub rule: Option<String>,
    /// The upstream's HTTP status, when the request was forwarded.
    pub upstream_status: Option<u16>,
    /// Time from the request's arrival to the decision or the upstream's answer.
    #[serde(serialize_with = "three_decimals")]
    pub latency_ms: f64,
}

impl AuditEvent {
    /// An event stamped now, with no caller, tool, arguments, rule, status or latency.
    pub fn new(
        request_id: impl Into<String>,
        method: impl Into<String>,
        decision: &'static str,
    ) -> Self {
        Self {
            time: rfc3339_millis(SystemTime::now()),
            request_id: request_id.into(),
            issuer: None,
            subject: None,
            client_id: None,
            profile: None,
            key_thumbprint: None,
            method: capped(method.into()),
            tool: None,
            arguments_sha256: None,
            arguments: None,
            decision,
            rule: None,
            upstream_status: None,
            latency_ms: 0.0,
        }
    }

    /// Sets issuer, subject, client id, profile and key thumbprint from the caller.
    #[must_use]
    pub fn with_principal(mut self, principal: &Principal) -> Self {
        self.issuer = Some(principal.issuer.clone());
        self.subject = Some(principal.subject.clone());
        self.client_id = Some(principal.client_id.clone());
        self.profile = Some(principal.profile.as_str());
        self.key_thumbprint.clone_from(&principal.key_thumbprint);
        self
    }

    /// Sets the profile alone (a rejected presentation has no principal).
    #[must_use]
    pub fn with_profile(mut self, profile: Option<Profile>) -> Self {
        self.profile = profile.map(Profile::as_str);
        self
    }

    /// Sets the tool (prompt, resource) name.
    #[must_use]
    pub fn with_tool(mut self, tool: Option<impl Into<String>>) -> Self {
        self.tool = tool.map(|t| capped(t.into()));
        self
    }

    /// Sets `arguments_sha256` from the raw `params.arguments` (see [`arguments_of`])
    /// and, with `include_arguments`, `arguments`: parsed, with the members named in
    /// `redact` replaced at any depth. Arguments that do not parse or are longer than
    /// [`ARGUMENTS_MAX_BYTES`] keep only their hash. `None` clears both.
    #[must_use]
    pub fn with_arguments(mut self, raw: Option<&RawValue>, config: &AuditConfig) -> Self {
        self.arguments_sha256 = None;
        self.arguments = None;
        let Some(raw) = raw else { return self };
        let text = raw.get();
        self.arguments_sha256 = Some(sha256_hex(text.as_bytes()));
        if config.include_arguments
            && text.len() <= ARGUMENTS_MAX_BYTES
            && let Ok(mut value) = serde_json::from_str::<Value>(text)
        {
            redact(&mut value, &config.redact);
            self.arguments = Some(value);
        }
        self
    }

    /// Sets the decision's rule.
    #[must_use]
    pub fn with_rule(mut self, rule: Option<impl Into<String>>) -> Self {
        self.rule = rule.map(|r| capped(r.into()));
        self
    }

    /// Sets the latency from the time elapsed.
    #[must_use]
    pub fn with_latency(mut self, elapsed: Duration) -> Self {
        self.latency_ms = elapsed.as_secs_f64() * 1000.0;
        self
    }
}

/// `params.arguments` of a JSON-RPC request body, as the exact bytes received (what
/// [`AuditEvent::with_arguments`] hashes). `None` for a body that is not one JSON
/// object, without `params.arguments`, or with `"arguments": null`.
pub fn arguments_of(body: &[u8]) -> Option<&RawValue> {
    #[derive(Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Request<'_>>(body)
        .ok()?
        .params?
        .arguments
}

/// Replaces the value of every object member whose name is in `names` (ASCII
/// case-insensitive), at any depth, inside arrays too, by [`REDACTED`].
pub(super) fn redact(value: &mut Value, names: &[String]) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if names.iter().any(|n| n.eq_ignore_ascii_case(key)) {
                    *member = Value::String(REDACTED.to_owned());
                } else {
                    redact(member, names);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, names)),
        _ => {}
    }
}

/// Lowercase hex SHA-256.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::lower(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn three_decimals<S: Serializer>(ms: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((ms * 1000.0).round() / 1000.0)
}

/// `t` as RFC 3339 UTC with milliseconds, `YYYY-MM-DDTHH:MM:SS.mmmZ`. A time before
/// 1970 (a clock set wrong) is written as the epoch.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01: the
/// days are shifted to an era starting on 0000-03-01, so that the leap day ends each
/// 400-year era's years and the month lengths from March repeat in a 153-day pattern.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // 719_468 days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March year, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The longest method, tool name or URI an event keeps, in bytes: a client chooses
/// them, up to the body cap, and one queued event must not hold megabytes.
pub const FIELD_MAX_BYTES: usize = 512;

/// `text` cut to [`FIELD_MAX_BYTES`] (on a character boundary), marked `…` when cut.
fn capped(mut text: String) -> String {
    if text.len() > FIELD_MAX_BYTES {
        let mut end = FIELD_MAX_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> String {
        rfc3339_millis(UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
    }

    /// Instants checked with `date -u -d @N`. Fails if the day arithmetic is off (leap
    /// years, the 2100 non-leap century), the time of day or the milliseconds.
    #[test]
    fn time_format_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(68_256, 7), "1970-01-01T18:57:36.007Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_709_164_799, 999), "2024-02-28T23:59:59.999Z");
        assert_eq!(at(1_796_462_400, 123), "2026-12-05T09:20:00.123Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    /// Walks every day from 1970 to 2400 against a calendar counted the naive way
    /// (month lengths, the leap rule): fails on any day the formula gets wrong.
    #[test]
    fn civil_from_days_walks_the_calendar() {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..(430 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    /// FIPS 180-2 vectors: fails if the hash or the hex encoding is wrong.
    #[test]
    fn sha256_hex_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Fails if a redacted name survives at some depth or inside an array, if the match
    /// is case-sensitive, or if an unnamed member is touched.
    #[test]
    fn redaction_at_any_depth() {
        let names = vec!["password".to_owned(), "token".to_owned()];
        let mut v: Value = serde_json::from_str(
            r#"{"user":"ann","Password":"p1","nested":{"token":{"deep":1},"keep":[{"password":"p2","x":2}]}}"#,
        )
        .unwrap();
        redact(&mut v, &names);
        assert_eq!(
            v,
            serde_json::json!({"user":"ann","Password":"[redacted]","nested":{"token":"[redacted]","keep":[{"password":"[redacted]","x":2}]}})
        );
    }

    /// Fails if the raw bytes are not kept exactly (whitespace, key order, escapes), or
    /// a body without arguments yields some.
    #[test]
    fn raw_arguments_are_exact() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments": {"b" : 1,"a":"\u00e9"} }}"#;
        assert_eq!(
            arguments_of(body).map(RawValue::get),
            Some(r#"{"b" : 1,"a":"\u00e9"}"#)
        );
        assert!(arguments_of(br#"{"method":"tools/list","params":{}}"#).is_none());
        assert!(arguments_of(br#"{"method":"tools/list"}"#).is_none());
        assert!(arguments_of(br#"[{"params":{"arguments":{}}}]"#).is_none());
        assert!(arguments_of(b"not json").is_none());
    }

    /// Fails if arguments appear without `include_arguments`, or the size cap or the
    /// hash is skipped.
    #[test]
    fn arguments_only_when_configured() {
        let raw = RawValue::from_string(r#"{"token":"t","q":"x"}"#.to_owned()).unwrap();
        let off = AuditConfig::default();
        let e =
            AuditEvent::new("r", "tools/call", decision::ALLOW).with_arguments(Some(&raw), &off);
        assert_eq!(
            e.arguments_sha256.as_deref(),
            Some(sha256_hex(raw.get().as_bytes()).as_str())
        );
        assert!(e.arguments.is_none());
        let on = AuditConfig {
            include_arguments: true,
            ..AuditConfig::default()
        };
        let e = AuditEvent::new("r", "tools/call", decision::ALLOW).with_arguments(Some(&raw), &on);
        assert_eq!(
            e.arguments,
            Some(serde_json::json!({"token":"[redacted]","q":"x"}))
        );
        let big =
            RawValue::from_string(format!("\"{}\"", "a".repeat(ARGUMENTS_MAX_BYTES))).unwrap();
        let e = AuditEvent::new("r", "tools/call", decision::ALLOW).with_arguments(Some(&big), &on);
        assert!(e.arguments.is_none());
        assert!(e.arguments_sha256.is_some());
    }

    #[test]
    fn client_chosen_fields_are_cut_to_a_bound_on_a_character_boundary() {
        let long = "é".repeat(FIELD_MAX_BYTES);
        let event = AuditEvent::new("r", long.clone(), decision::DENY).with_tool(Some(long));
        for field in [&event.method, event.tool.as_ref().unwrap()] {
            assert!(
                field.len() <= FIELD_MAX_BYTES + '…'.len_utf8(),
                "{}",
                field.len()
            );
            assert!(field.ends_with('…'));
        }
        assert_eq!(capped("short".into()), "short");
    }
}
