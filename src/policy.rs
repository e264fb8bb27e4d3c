//! Host and Origin rules: which names a listener answers to and which web pages may
//! open a connection. Pure.
//!
//! On a loopback listener the Host must name loopback in one of a few canonical
//! spellings: `localhost`, a `*.localhost` name (RFC 6761 §6.3), a dotted-decimal
//! `127.x.y.z` without leading zeros, or `[::1]`, with any port. Octal, hex and
//! shortened IPv4 forms (`0177.0.0.1`, `0x7f.1`, `127.1`) are refused: a name that
//! only some resolvers read as loopback is how DNS-rebinding guards elsewhere were
//! bypassed. Anything else needs `--allow-host`.
//!
//! A present Origin (RFC 6454) must be an `http` or `https` origin on such a loopback
//! host, an exact `--allow-origin` entry, or anything when `*` is allowed. `null` is
//! not loopback.

use std::fmt;

use crate::outcome::Reason;

/// The Host and Origin rules of one listener.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Extra Host names (lowercase, without port) accepted besides loopback ones.
    pub hosts: Vec<String>,
    /// Whether any Host is accepted (a non-loopback wildcard listener without
    /// `--allow-host`).
    pub any_host: bool,
    /// Origins accepted besides loopback ones (lowercase, no trailing slash).
    pub origins: Vec<String>,
    /// Whether `--allow-origin '*'` was given.
    pub any_origin: bool,
}

/// A `--allow-origin` or `--allow-host` value that cannot match anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEntry(&'static str);

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Policy {
    /// Adds a `--allow-host` entry: a host name or IP literal, without port.
    pub fn allow_host(&mut self, host: &str) -> Result<(), BadEntry> {
        let host = host.to_ascii_lowercase();
        if host.is_empty() || split_port(host.as_bytes()).is_none_or(|(_, port)| port.is_some()) {
            return Err(BadEntry(
                "expected a host name or IP literal without a port",
            ));
        }
        if !host.bytes().all(is_host_byte) {
            return Err(BadEntry(
                "contains a character that cannot appear in a Host",
            ));
        }
        self.hosts.push(host);
        Ok(())
    }

    /// Adds a `--allow-origin` entry: `*`, `null`, or `scheme://host[:port]`.
    pub fn allow_origin(&mut self, origin: &str) -> Result<(), BadEntry> {
        if origin == "*" {
            self.any_origin = true;
            return Ok(());
        }
        let origin = origin
            .strip_suffix('/')
            .unwrap_or(origin)
            .to_ascii_lowercase();
        if origin != "null" {
            let Some((scheme, rest)) = origin.split_once("://") else {
                return Err(BadEntry("expected scheme://host[:port], 'null' or '*'"));
            };
            let valid_scheme = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
            if !valid_scheme
                || rest.is_empty()
                || rest.contains('/')
                || !rest.bytes().all(is_host_byte)
            {
                return Err(BadEntry("expected scheme://host[:port] with no path"));
            }
        }
        self.origins.push(origin);
        Ok(())
    }

    /// Whether `origin` (`scheme://host[:port]`, lowercase) is one of the
    /// `--allow-origin` entries itself: not `null`, not merely allowed by `*` or by
    /// being a loopback origin. Only such an origin is trusted to receive a secret.
    pub fn lists_origin(&self, origin: &str) -> bool {
        origin != "null" && self.origins.iter().any(|o| o == origin)
    }

    /// Checks a request's Host and Origin headers.
    pub fn check(&self, host: &[u8], origin: Option<&[u8]>) -> Result<(), Reason> {
        if !self.host_allowed(host) {
            return Err(Reason::HostDenied);
        }
        match origin {
            Some(origin) if !self.origin_allowed(origin) => Err(Reason::OriginDenied),
            _ => Ok(()),
        }
    }

    fn host_allowed(&self, host: &[u8]) -> bool {
        if self.any_host {
            return true;
        }
        let Some((name, _)) = split_port(host) else {
            return false;
        };
        is_loopback_name(name)
            || self
                .hosts
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    }

    fn origin_allowed(&self, origin: &[u8]) -> bool {
        if self.any_origin {
            return true;
        }
        is_loopback_origin(origin)
            || self
                .origins
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
    }
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:[]".contains(&b)
}

/// Splits `host[:port]` (RFC 3986 authority without userinfo). The port, when present,
/// is 1 to 5 digits up to 65535; an IPv6 literal must be bracketed.
pub fn split_port(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let (name, port) = if authority.first() == Some(&b'[') {
        let end = authority.iter().position(|&b| b == b']')?;
        match authority.split_at(end + 1) {
            (name, []) => (name, None),
            (name, [b':', port @ ..]) => (name, Some(port)),
            _ => return None,
        }
    } else {
        match authority.iter().position(|&b| b == b':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        }
    };
    if name.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) => Some(decimal(digits, 5).filter(|&p| p <= 65_535)? as u16),
    };
    Some((name, port))
}

/// A decimal number of 1 to `max_digits` ASCII digits.
pub(crate) fn decimal(digits: &[u8], max_digits: usize) -> Option<u32> {
    if digits.is_empty() || digits.len() > max_digits {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

/// Whether a host name (without port) is one of the canonical loopback spellings.
pub fn is_loopback_name(name: &[u8]) -> bool {
    const SUFFIX: &[u8] = b".localhost";
    if name == b"127.0.0.1" || name.eq_ignore_ascii_case(b"localhost") || name == b"[::1]" {
        return true;
    }
    if name.len() > SUFFIX.len() && name[name.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX) {
        let sub = &name[..name.len() - SUFFIX.len()];
        return sub.len() <= 253 - SUFFIX.len() && sub.split(|&b| b == b'.').all(is_dns_label);
    }
    is_canonical_127(name)
}

fn is_dns_label(label: &[u8]) -> bool {
    (1..=63).contains(&label.len())
        && label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && label.first() != Some(&b'-')
        && label.last() != Some(&b'-')
}

/// `127.x.y.z` in canonical dotted decimal: four octets, each 0–255, no leading zero.
fn is_canonical_127(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"127.") else {
        return false;
    };
    let mut octets = 0;
    for part in rest.split(|&b| b == b'.') {
        let canonical = (part == b"0" || part.first() != Some(&b'0'))
            && decimal(part, 3).is_some_and(|n| n <= 255);
        if !canonical {
            return false;
        }
        octets += 1;
    }
    octets == 3
}

/// Whether an Origin is `http://` or `https://` on a loopback host, with an optional
/// port and nothing else.
pub fn is_loopback_origin(origin: &[u8]) -> bool {
    let rest = strip_prefix_ignore_case(origin, b"http://")
        .or_else(|| strip_prefix_ignore_case(origin, b"https://"));
    rest.and_then(split_port)
        .is_some_and(|(name, _)| is_loopback_name(name))
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Result<(), Reason> {
        Policy::default().check(h.as_bytes(), None)
    }

    fn origin(o: &str) -> Result<(), Reason> {
        Policy::default().check(b"localhost", Some(o.as_bytes()))
    }

    macro_rules! table {
        ($f:ident, $want:expr, [$($case:expr),* $(,)?]) => {
            for case in [$($case),*] {
                assert_eq!($f(case), $want, "{case:?}");
            }
        };
    }

    #[test]
    fn loopback_hosts() {
        table!(
            host,
            Ok(()),
            [
                "localhost",
                "LOCALHOST",
                "localhost:7331",
                "app.localhost",
                "a.b-c.localhost:1",
                "127.0.0.1",
                "127.0.0.1:80",
                "127.255.255.255",
                "127.1.2.3:65535",
                "[::1]",
                "[::1]:7331",
                "App.LocalHost:9",
            ]
        );
    }

    #[test]
    fn other_hosts() {
        table!(
            host,
            Err(Reason::HostDenied),
            [
                "",
                "example.com",
                "localhost.example.com",
                "localhost.",
                ".localhost",
                "a..localhost",
                "-a.localhost",
                "evil_name.localhost",
                "127.1",
                "127.0.1",
                "0177.0.0.1",
                "0x7f.0.0.1",
                "0x7f000001",
                "2130706433",
                "127.000.000.001",
                "127.0.0.01",
                "127.0.0.256",
                "127.0.0.1.",
                "127.0.0.1:",
                "127.0.0.1:0x50",
                "127.0.0.1:65536",
                "127.0.0.1:123456",
                "[::1]x",
                "[0:0:0:0:0:0:0:1]",
                "::1",
                "[::ffff:127.0.0.1]",
                "0.0.0.0",
                "128.0.0.1",
                "localhost:80:80",
                "user@localhost",
                "localhost/x",
                "localhost ",
                "ｌocalhost",
            ]
        );
    }

    #[test]
    fn allowed_hosts() {
        let mut p = Policy::default();
        p.allow_host("Dev.Example").unwrap();
        assert_eq!(p.check(b"dev.example:8080", None), Ok(()));
        assert_eq!(p.check(b"DEV.EXAMPLE", None), Ok(()));
        assert_eq!(p.check(b"dev.example.evil", None), Err(Reason::HostDenied));
        assert_eq!(p.check(b"localhost", None), Ok(()));
        assert!(p.allow_host("dev.example:80").is_err());
        assert!(p.allow_host("").is_err());
        assert!(p.allow_host("a b").is_err());
        let any = Policy {
            any_host: true,
            ..Policy::default()
        };
        assert_eq!(any.check(b"anything", None), Ok(()));
    }

    #[test]
    fn loopback_origins() {
        table!(
            origin,
            Ok(()),
            [
                "http://localhost",
                "http://localhost:3000",
                "https://127.0.0.1:8443",
                "HTTP://LOCALHOST",
                "http://app.localhost:5173",
                "http://[::1]:8080",
            ]
        );
    }

    #[test]
    fn other_origins() {
        table!(
            origin,
            Err(Reason::OriginDenied),
            [
                "null",
                "",
                "http://",
                "http://localhost/",
                "http://localhost:3000/x",
                "http://example.com",
                "https://localhost.evil.com",
                "ws://localhost",
                "file://",
                "chrome-extension://abc",
                "http://127.1",
                "http://0x7f.0.0.1",
                "http://user@localhost",
                "localhost",
                "http://localhost:99999",
            ]
        );
    }

    #[test]
    fn allowed_origins() {
        let mut p = Policy::default();
        p.allow_origin("https://App.Example/").unwrap();
        assert_eq!(p.check(b"localhost", Some(b"https://app.example")), Ok(()));
        assert_eq!(
            p.check(b"localhost", Some(b"https://app.example:443")),
            Err(Reason::OriginDenied)
        );
        assert_eq!(
            p.check(b"localhost", Some(b"http://app.example")),
            Err(Reason::OriginDenied)
        );
        assert_eq!(
            p.check(b"localhost", Some(b"null")),
            Err(Reason::OriginDenied)
        );
        p.allow_origin("null").unwrap();
        assert_eq!(p.check(b"localhost", Some(b"null")), Ok(()));
        assert!(p.allow_origin("app.example").is_err());
        assert!(p.allow_origin("https://app.example/path").is_err());
        assert!(p.allow_origin("https://").is_err());
        p.allow_origin("*").unwrap();
        assert_eq!(
            p.check(b"localhost", Some(b"https://anything.example")),
            Ok(())
        );
    }

    #[test]
    fn host_checked_before_origin() {
        assert_eq!(
            Policy::default().check(b"evil.example", Some(b"http://evil.example")),
            Err(Reason::HostDenied)
        );
    }
}
