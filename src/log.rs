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

/// Defines [`Event`] from one table: each event with its doc and its name.
/// [`Event::ALL`] and [`Event::as_str`] are generated from it; the code logs only
/// these, and a test checks that the README's table of events names each of them.
macro_rules! events {
    ($($(#[doc = $doc:literal])* $name:ident = $word:literal;)*) => {
        /// Every kind of line the log has.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Event {
            $($(#[doc = $doc])* $name,)*
        }

        impl Event {
            /// Every event, in the table's order.
            #[cfg(test)]
            pub const ALL: &'static [Event] = &[$(Event::$name,)*];

            /// The event's name in the log (`event=`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Event::$name => $word,)*
                }
            }
        }
    };
}

events! {
    /// The listener is bound.
    Listening = "listening";
    /// Where the operator finds the connect URL, every secret hidden.
    Ready = "ready";
    /// A configuration worth a second look; the message never holds a secret.
    Warning = "warning";
    /// A WebSocket session began.
    Accept = "accept";
    /// A request was answered with an error.
    Reject = "reject";
    /// `/_wsgate/healthz` was served.
    Health = "health";
    /// `/_wsgate/auth/check` was answered.
    Check = "check";
    /// The console page was served.
    Console = "console";
    /// A session ended.
    Close = "close";
    /// The backend could not start a session (a `reject` line follows).
    BackendError = "backend-error";
    /// A program ended.
    ChildExit = "child-exit";
    /// A line a program wrote to stderr.
    ChildStderr = "child-stderr";
    /// A browser paired and got a token.
    Pair = "pair";
    /// A new pairing code is in the runtime file (never the code itself).
    PairingCode = "pairing-code";
    /// Pairing failed on the daemon's side.
    PairingError = "pairing-error";
    /// The token store changed and was read again.
    StoreReloaded = "store-reloaded";
    /// The token store could not be read; the last good copy stays in force.
    StoreError = "store-error";
    /// The runtime file could not be written.
    RuntimeError = "runtime-error";
    /// Accepting a connection failed.
    AcceptError = "accept-error";
    /// A connection's task panicked (where is on stderr, never why).
    Panic = "panic";
    /// SIGINT or SIGTERM: the daemon stops accepting.
    Shutdown = "shutdown";
    /// The daemon is about to exit.
    Exit = "exit";
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
    pub fn event(&self, event: Event, fields: &[(&str, Value<'_>)]) {
        let mut line = self.line(now(), event.as_str(), fields);
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

    /// The README's table of events (under Logs and runtime files) names every event
    /// the code can log, each once, and no other.
    #[test]
    fn readme_lists_every_event() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Logs and runtime files\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Logs and runtime files section");
        let mut listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`'))
            .map(|(name, _)| name)
            .collect();
        let count = listed.len();
        listed.sort_unstable();
        listed.dedup();
        assert_eq!(count, listed.len(), "an event listed twice: {listed:?}");
        let mut emitted: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        emitted.sort_unstable();
        assert_eq!(listed, emitted, "README's events vs log::Event");
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
