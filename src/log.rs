//! Audit lines on stderr: one line per event, `key=value` or JSON.
//!
//! Callers pass only values that may be printed: request targets go through
//! [`crate::redact::target`] first, and no [`crate::secret::Secret`] can be passed at
//! all (there is no [`Value`] for it). As a last line of defence, a value that holds
//! one of the daemon's own secrets in any form ([`crate::redact`]) is replaced by
//! `REDACTED` whatever field it came in. Every value is escaped, so nothing a client
//! sends can forge a line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::redact::{REDACTED, Secrets};

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `ts=… event=… key=value …`
    Text,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 2] = [Format::Text, Format::Json];

    /// The format's name in `--log-format`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// A field's value.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// Text, escaped as needed.
    Str(&'a str),
    /// A number.
    Num(u64),
    /// A boolean.
    Bool(bool),
}

/// A field's value that outlives what it was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// Text.
    Str(String),
    /// A number.
    Num(u64),
}

impl Owned {
    /// The value to log.
    pub fn value(&self) -> Value<'_> {
        match self {
            Owned::Str(s) => Value::Str(s),
            Owned::Num(n) => Value::Num(*n),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Value<'a> {
        Value::Str(s)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Value<'a> {
        Value::Str(s)
    }
}

impl From<u64> for Value<'_> {
    fn from(n: u64) -> Self {
        Value::Num(n)
    }
}

impl From<u16> for Value<'_> {
    fn from(n: u16) -> Self {
        Value::Num(n.into())
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Writes audit lines to stderr.
#[derive(Clone, Debug)]
pub struct Log {
    format: Format,
    hidden: Arc<Secrets>,
}

impl Log {
    /// A log in the given format.
    pub fn new(format: Format) -> Log {
        Log {
            format,
            hidden: Arc::default(),
        }
    }

    /// This log, replacing every value that holds one of `hidden` with `REDACTED`.
    pub fn hiding(self, hidden: Arc<Secrets>) -> Log {
        Log {
            format: self.format,
            hidden,
        }
    }

    /// Writes one event line to stderr. A failed write is ignored: there is nowhere
    /// left to report it.
    pub fn event(&self, event: &str, fields: &[(&str, Value<'_>)]) {
        let mut line = self.line(now(), event, fields);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    /// The line for an event at `ts`, without its newline.
    pub fn line(&self, ts: SystemTime, event: &str, fields: &[(&str, Value<'_>)]) -> String {
        let ts = rfc3339(ts);
        let mut out = String::with_capacity(128);
        let json = self.format == Format::Json;
        let string = if json { json_string } else { text_value };
        if json {
            let _ = write!(out, "{{\"ts\":\"{ts}\",\"event\":");
        } else {
            let _ = write!(out, "ts={ts} event=");
        }
        string(&mut out, event);
        for (key, value) in fields {
            if json {
                out.push(',');
                json_string(&mut out, key);
                out.push(':');
            } else {
                out.push(' ');
                out.push_str(key);
                out.push('=');
            }
            match value {
                Value::Str(s) if self.hidden.holds(s.as_bytes()) => string(&mut out, REDACTED),
                Value::Str(s) => string(&mut out, s),
                Value::Num(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Bool(b) => {
                    let _ = write!(out, "{b}");
                }
            }
        }
        if json {
            out.push('}');
        }
        out
    }
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// A bare word when it is one, else a quoted string with `"`, `\` and every
/// control character escaped.
fn text_value(out: &mut String, s: &str) {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '=');
    if bare {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string (RFC 8259 §7).
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn rfc3339(ts: SystemTime) -> String {
    let since = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    crate::date::format_millis(since.as_secs(), since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_795_391_999, 999)), "2026-11-22T23:59:59.999Z");
    }

    #[test]
    fn text_lines() {
        let log = Log::new(Format::Text);
        let line = log.line(
            at(0, 0),
            "reject",
            &[
                ("conn", 7u64.into()),
                ("reason", "host-denied".into()),
                ("target", "/a b?x=\"y\"\n".into()),
                ("ok", false.into()),
                ("empty", "".into()),
            ],
        );
        assert_eq!(
            line,
            "ts=1970-01-01T00:00:00.000Z event=reject conn=7 reason=host-denied \
             target=\"/a b?x=\\\"y\\\"\\n\" ok=false empty=\"\""
        );
    }

    #[test]
    fn json_lines() {
        let log = Log::new(Format::Json);
        let line = log.line(
            at(0, 0),
            "close",
            &[("conn", 1u64.into()), ("line", "a\"\\\u{1}b".into())],
        );
        assert_eq!(
            line,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"event\":\"close\",\"conn\":1,\"line\":\"a\\\"\\\\\\u0001b\"}"
        );
    }

    #[test]
    fn no_forged_lines() {
        for format in [Format::Text, Format::Json] {
            let line =
                Log::new(format).line(at(0, 0), "x", &[("v", "a\nevent=accept\r\u{85}".into())]);
            assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\u{85}'));
        }
    }
}
