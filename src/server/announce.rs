//! What only the operator may see: the connect URL with its token, a generated bearer
//! token, the pairing code. They go to the terminal banner (when stderr is a terminal)
//! and the runtime file (mode 0600); the log only says where they are.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::console;
use crate::form;
use crate::log::{Event, Log, Value};
use crate::outcome::Mode;
use crate::pairing::desk::{Desk, Shown};
use crate::runtime::RuntimeFile;
use crate::secret::Secret;

/// The host a client on this machine reaches the listener by: loopback for a
/// wildcard address, brackets around IPv6.
pub fn client_host(local: SocketAddr) -> String {
    match local {
        SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_owned(),
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_owned(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// `http://HOST:PORT`: the origin of the pages wsgate serves, as a browser on this
/// machine reaches them.
pub fn origin(local: SocketAddr) -> String {
    format!("http://{}:{}", client_host(local), local.port())
}

/// The link that opens the console: with the token in its fragment when the operator
/// is shown the token (the query token, a generated bearer token), else without it
/// (the page asks for one).
pub fn console_url(local: SocketAddr, shown: Option<&Secret>) -> String {
    console::link(&origin(local), shown.map(Secret::expose))
}

/// The URL a client connects to: with the token in query-token mode, without it in
/// the header modes.
pub fn connect_url(local: SocketAddr, mode: Mode, secret: Option<&Secret>) -> String {
    let host = client_host(local);
    match (mode, secret) {
        (Mode::QueryToken, Some(secret)) => format!(
            "ws://{host}:{}/?token={}",
            local.port(),
            form::percent_encode(secret.expose())
        ),
        _ => format!("ws://{host}:{}/", local.port()),
    }
}

/// What the operator is shown at startup.
pub struct Announcement<'a> {
    /// The listener's mode.
    pub mode: Mode,
    /// The connect URL (with the token in query-token mode).
    pub url: &'a str,
    /// The console link, when the console is on (with the token in its fragment when
    /// the operator is shown the token).
    pub console: Option<&'a str>,
    /// The token the operator is shown, if any.
    pub shown: Option<&'a Secret>,
    /// Where the runtime file is.
    pub runtime_file: &'a std::path::Path,
    /// The bound address.
    pub local: SocketAddr,
}

/// Shows the operator how to connect. On a terminal: the URL, the console link, and in
/// the header modes the header to send (with a generated token, its only showing
/// besides the runtime file) and the line a browser page connects with. Always, a log
/// line with every secret hidden that says where the runtime file is.
pub fn announce(log: &Log, terminal: bool, what: &Announcement<'_>) {
    let Announcement {
        mode,
        url,
        console,
        shown,
        runtime_file,
        local,
    } = *what;
    let token = shown.map(|s| String::from_utf8_lossy(s.expose()).into_owned());
    let header = match (mode, &token) {
        (Mode::QueryToken, _) => None,
        (Mode::Bearer, Some(token)) => Some(format!("Authorization: Bearer {token}")),
        (Mode::Bearer, None) => Some("Authorization: Bearer <your token>".to_owned()),
        (Mode::Jwt, _) => Some("Authorization: Bearer <an HS256 JWT from your issuer>".to_owned()),
        (Mode::Store, _) => Some(
            "Authorization: Bearer <a token from `wsgate token create`> (or ?token=)".to_owned(),
        ),
    };
    if terminal {
        let mut banner = format!(
            "\n  wsgate {} is gating ws://{local} (auth: {mode})\n\n  connect: {url}\n",
            crate::VERSION
        );
        if let Some(console) = console {
            banner.push_str(&format!("  console: {console}\n"));
        }
        if let Some(header) = &header {
            banner.push_str(&format!("  send:    {header}\n"));
        }
        if let (Mode::Bearer, Some(shown)) = (mode, shown) {
            banner.push_str(&format!("  browser: {}\n", browser_line(url, shown)));
        }
        banner.push_str(&format!(
            "\n  (also in {}; keep it secret)\n",
            runtime_file.display()
        ));
        eprintln!("{banner}");
    }
    let hidden = match url.split_once("?token=") {
        Some((base, _)) => format!("{base}?token=<hidden>"),
        None => url.to_owned(),
    };
    let header = header.map(|h| match &token {
        Some(token) => h.replace(token.as_str(), "<hidden>"),
        None => h,
    });
    let file = runtime_file.display().to_string();
    let console = console.map(console::hidden);
    let mut fields = vec![("url", Value::Str(&hidden))];
    if let Some(console) = &console {
        fields.push(("console", Value::Str(console)));
    }
    if let Some(header) = &header {
        fields.push(("send", Value::Str(header)));
    }
    fields.push(("runtime_file", Value::Str(&file)));
    log.event(Event::Ready, &fields);
}

/// The line a browser page connects with in bearer mode, as the README documents it:
/// the credential as a subprotocol entry, offered with the marker `wsgate`, which the
/// `101` selects (a browser fails a connection whose `101` selects none of its offer).
fn browser_line(url: &str, shown: &Secret) -> String {
    format!(
        "new WebSocket(\"{url}\", [\"{}\", \"{}\"])",
        crate::bearer::MARKER,
        crate::bearer::subprotocol_for(shown.expose())
    )
}

/// Shows the operator what only they may see: the terminal banner (when stderr is a
/// terminal) and the runtime file. The log only says that something changed.
pub struct Announcer {
    /// The runtime file.
    pub runtime: RuntimeFile,
    /// What the runtime file always says.
    pub fields: Vec<(String, String)>,
    /// Whether stderr is a terminal.
    pub terminal: bool,
    /// One announcement at a time, so the file always ends with the newest code;
    /// `true` once the file is removed, after which nothing writes it again.
    pub writing: Mutex<bool>,
}

impl Announcer {
    /// Shows the desk's current code: reads it and writes it under one lock, so two
    /// announcements racing each other cannot leave an older code in the file.
    pub fn code(&self, desk: &Desk, log: &Log) {
        let removed = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if !*removed {
            self.pairing(&desk.current(), log);
        }
    }

    /// Removes the runtime file for good: an announcement still on its way cannot
    /// write it again (with a pairing code in it) after the daemon is gone.
    pub fn remove(&self) {
        let mut removed = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        *removed = true;
        self.runtime.remove();
    }

    /// Writes the runtime file with this pairing code and shows the code.
    fn pairing(&self, shown: &Shown, log: &Log) {
        let mut fields: Vec<(&str, &str)> = (self.fields.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push(("pair_code", shown.code.reveal()));
        fields.push(("pair_url", &shown.link));
        if let Err(message) = self.runtime.rewrite(&fields) {
            log.event(Event::RuntimeError, &[("message", Value::Str(&message))]);
        }
        self.show(shown, log);
    }

    /// Shows the code on the terminal; elsewhere, logs that a new one is in the
    /// runtime file (never the code itself).
    pub fn show(&self, shown: &Shown, log: &Log) {
        if self.terminal {
            eprintln!(
                "  pairing code: {}   {}   (valid for {} s, once)",
                shown.code.reveal(),
                shown.link,
                shown.expires_in.as_secs()
            );
        } else {
            let file = self.runtime.path().display().to_string();
            log.event(
                Event::PairingCode,
                &[
                    ("generation", shown.generation.into()),
                    ("runtime_file", Value::Str(&file)),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Secret::new("a b+c");
        let url = |addr: &str, mode| connect_url(addr.parse().unwrap(), mode, Some(&s));
        assert_eq!(
            url("127.0.0.1:7331", Mode::QueryToken),
            "ws://127.0.0.1:7331/?token=a%20b%2Bc"
        );
        assert_eq!(
            url("[::1]:1", Mode::QueryToken),
            "ws://[::1]:1/?token=a%20b%2Bc"
        );
        assert_eq!(
            url("0.0.0.0:2", Mode::QueryToken),
            "ws://127.0.0.1:2/?token=a%20b%2Bc"
        );
        assert_eq!(url("127.0.0.1:7331", Mode::Bearer), "ws://127.0.0.1:7331/");
        assert_eq!(url("[::]:3", Mode::Jwt), "ws://[::1]:3/");
        let console = |addr: &str, shown| console_url(addr.parse().unwrap(), shown);
        assert_eq!(
            console("0.0.0.0:2", Some(&s)),
            "http://127.0.0.1:2/_wsgate/console#token=a%20b%2Bc"
        );
        assert_eq!(console("[::1]:1", None), "http://[::1]:1/_wsgate/console");
    }

    /// The browser line offers the marker with the credential, as the README's
    /// JavaScript does: a browser fails a `101` that selects nothing it offered.
    #[test]
    fn browser_line() {
        let line = super::browser_line("ws://127.0.0.1:7331/", &Secret::new("token"));
        assert_eq!(
            line,
            "new WebSocket(\"ws://127.0.0.1:7331/\", [\"wsgate\", \"wsgate.bearer.dG9rZW4\"])"
        );
    }
}
