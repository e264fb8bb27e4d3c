//! What `--upstream` and its options name: a parsed URL and the rules for the headers
//! wsgate writes for the upstream.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What the upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A WebSocket server (`ws://`, `ws+unix:`): the client's handshake is forwarded
    /// and bytes are relayed after the upstream's 101.
    WebSocket,
    /// A byte stream (`tcp://`, `unix:`): binary messages to it, its bytes back as
    /// binary messages.
    Stream,
}

/// Where the upstream listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A host (a name, resolved at each connection, or an IP address) and a port.
    Tcp {
        /// The host as written (an IPv6 address without its brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// A Unix socket's path.
    Unix(PathBuf),
}

/// A parsed `--upstream` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What it speaks.
    pub kind: Kind,
    /// Where it listens.
    pub address: Address,
    /// For `ws://`: the path every request's path is joined under, without a
    /// trailing `/` (empty for none).
    pub prefix: String,
}

/// `--upstream-origin`: the `Origin` the upstream sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginRule {
    /// The client's, when it sent one.
    Pass,
    /// None.
    Strip,
    /// This one, always.
    Fixed(String),
}

/// `--upstream-host`: the `Host` the upstream sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRule {
    /// The upstream's own authority (`localhost` for a Unix socket), as nginx does.
    Upstream,
    /// The client's.
    Pass,
    /// This one.
    Fixed(String),
}

/// How the upstream is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Connect plus the upstream's answer.
    pub timeout: Duration,
    /// The `Origin` it sees.
    pub origin: OriginRule,
    /// The `Host` it sees.
    pub host: HostRule,
}

/// `--upstream-timeout`'s default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: DEFAULT_TIMEOUT,
            origin: OriginRule::Pass,
            host: HostRule::Upstream,
        }
    }
}

const SCHEMES: &str = "ws://HOST:PORT[/PREFIX], ws+unix:PATH, tcp://HOST:PORT or unix:PATH";

impl Target {
    /// Parses `--upstream`'s value. Errors say what is wrong, in one line.
    pub fn parse(url: &str) -> Result<Target, String> {
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(format!("{url:?} is not a URL: use {SCHEMES}"));
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "ws" | "tcp" => {
                let Some(rest) = rest.strip_prefix("//") else {
                    return Err(format!("{url:?}: expected {scheme}://HOST:PORT"));
                };
                let (authority, path) = match rest.find('/') {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                let (host, port) = authority_of(authority, url)?;
                let kind = if scheme == "ws" {
                    Kind::WebSocket
                } else {
                    Kind::Stream
                };
                let prefix = path.trim_end_matches('/');
                if kind == Kind::Stream && !prefix.is_empty() {
                    return Err(format!("{url:?}: a tcp:// upstream has no path"));
                }
                if !prefix.bytes().all(|b| (0x21..0x7f).contains(&b)) || prefix.contains(['?', '#'])
                {
                    return Err(format!(
                        "{url:?}: the path prefix must be visible ASCII, without a query or a fragment"
                    ));
                }
                Ok(Target {
                    kind,
                    address: Address::Tcp { host, port },
                    prefix: prefix.to_owned(),
                })
            }
            "ws+unix" | "unix" => {
                let path = rest;
                if path.is_empty() {
                    return Err(format!("{url:?}: expected {scheme}:PATH"));
                }
                let kind = if scheme == "ws+unix" {
                    Kind::WebSocket
                } else {
                    Kind::Stream
                };
                Ok(Target {
                    kind,
                    address: Address::Unix(PathBuf::from(path)),
                    prefix: String::new(),
                })
            }
            "wss" | "https" | "tls" | "wss+unix" => Err(format!(
                "{scheme}: TLS to an upstream is not supported: use {SCHEMES}"
            )),
            _ => Err(format!(
                "{scheme}: is not an upstream scheme: use {SCHEMES}"
            )),
        }
    }

    /// The `Host` an upstream expects: its authority as written, `localhost` for a
    /// Unix socket.
    pub fn authority(&self) -> String {
        match &self.address {
            Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Address::Tcp { host, port } => format!("{host}:{port}"),
            Address::Unix(_) => "localhost".to_owned(),
        }
    }
}

impl fmt::Display for Target {
    /// The URL again, as the logs name the upstream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.address) {
            (Kind::WebSocket, Address::Tcp { .. }) => {
                write!(f, "ws://{}{}", self.authority(), self.prefix)
            }
            (Kind::Stream, Address::Tcp { .. }) => write!(f, "tcp://{}", self.authority()),
            (Kind::WebSocket, Address::Unix(path)) => write!(f, "ws+unix:{}", path.display()),
            (Kind::Stream, Address::Unix(path)) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `HOST:PORT`, `[V6]:PORT`, or `HOST` alone for `ws://` (port 80).
fn authority_of(authority: &str, url: &str) -> Result<(String, u16), String> {
    if authority.contains('@') {
        return Err(format!(
            "{url:?}: credentials in an upstream URL are not supported (they would show in the process list)"
        ));
    }
    let bracketed = authority.starts_with('[');
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("{url:?}: an IPv6 address needs its closing ']'"));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{url:?}: {v6:?} is not an IPv6 address"));
        }
        (v6, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && (bracketed
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    if !valid_name {
        return Err(format!("{url:?}: {host:?} is not a host name or address"));
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("{url:?}: {p:?} is not a port")),
        },
        None if url.to_ascii_lowercase().starts_with("ws:") => 80,
        None => return Err(format!("{url:?}: a port is required")),
    };
    Ok((host.to_owned(), port))
}

/// Parses `--upstream-timeout`: `500ms`, `5s`, `1m`; more than zero, at most an hour.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let (digits, unit) = if let Some(d) = text.strip_suffix("ms") {
        (d, Duration::from_millis(1))
    } else if let Some(d) = text.strip_suffix('s') {
        (d, Duration::from_secs(1))
    } else if let Some(d) = text.strip_suffix('m') {
        (d, Duration::from_secs(60))
    } else {
        ("", Duration::ZERO)
    };
    let n = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u32>().ok())
        .flatten();
    match n.and_then(|n| unit.checked_mul(n)) {
        Some(d) if !d.is_zero() && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(format!(
            "{text:?} is not a timeout: a whole number with ms, s or m (such as 500ms or 5s), at most 1h"
        )),
    }
}

/// Whether a value may be written in a header line: visible ASCII and spaces, not
/// empty.
pub fn header_safe(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_each_kind() {
        let t = Target::parse("ws://127.0.0.1:9222").unwrap();
        assert_eq!(
            (t.kind, t.address.clone(), t.prefix.as_str()),
            (Kind::WebSocket, tcp("127.0.0.1", 9222), "")
        );
        assert_eq!(t.authority(), "127.0.0.1:9222");
        let t = Target::parse("ws://localhost:8888/api/kernels/").unwrap();
        assert_eq!(t.prefix, "/api/kernels");
        assert_eq!(t.to_string(), "ws://localhost:8888/api/kernels");
        let t = Target::parse("WS://[::1]:80/").unwrap();
        assert_eq!(
            (t.address.clone(), t.authority()),
            (tcp("::1", 80), "[::1]:80".into())
        );
        assert_eq!(
            Target::parse("ws://example.test").unwrap().authority(),
            "example.test:80"
        );
        let t = Target::parse("ws+unix:/run/app.sock").unwrap();
        assert_eq!(
            (t.kind, t.address.clone(), t.authority()),
            (
                Kind::WebSocket,
                Address::Unix("/run/app.sock".into()),
                "localhost".into()
            )
        );
        assert_eq!(t.to_string(), "ws+unix:/run/app.sock");
        let t = Target::parse("tcp://127.0.0.1:5900").unwrap();
        assert_eq!(
            (t.kind, t.to_string()),
            (Kind::Stream, "tcp://127.0.0.1:5900".into())
        );
        let t = Target::parse("unix:rel/sock").unwrap();
        assert_eq!(t.address, Address::Unix("rel/sock".into()));
    }

    #[test]
    fn refuses_what_it_cannot_reach_and_says_why() {
        for (url, says) in [
            ("wss://127.0.0.1:1", "TLS"),
            ("https://x:1", "TLS"),
            ("ftp://x:1", "not an upstream scheme"),
            ("127.0.0.1:9000", "not an upstream scheme"),
            ("localhost", "not a URL"),
            ("ws:127.0.0.1:1", "expected ws://"),
            ("tcp://127.0.0.1", "port is required"),
            ("tcp://127.0.0.1:1/x", "no path"),
            ("ws://u:p@127.0.0.1:1", "credentials"),
            ("ws://127.0.0.1:0", "not a port"),
            ("ws://127.0.0.1:70000", "not a port"),
            ("ws://127.0.0.1:+1", "not a port"),
            ("ws://:1", "not a host"),
            ("ws://a b:1", "not a host"),
            ("ws://[::1:1", "closing"),
            ("ws://[nope]:1", "IPv6"),
            ("tcp://l127\"x\":.1:5900", "not a host"),
            ("ws://h:1/p?q", "query"),
            ("ws+unix:", "PATH"),
            ("unix:", "PATH"),
        ] {
            let err = Target::parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "0s",
            "5",
            "-1s",
            "1h",
            "61m",
            "1.5s",
            "s",
            "99999999999ms",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
