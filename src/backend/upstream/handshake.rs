//! The opening handshake with a WebSocket upstream, as pure functions: the request
//! wsgate writes for an accepted client ([`request`]) and the reading of the
//! upstream's answer ([`answer`]).
//!
//! The request carries the client's method, path (under the prefix), query, key,
//! version, subprotocol offer and extensions, its end-to-end headers (cookies, user
//! agent, ...), `Host` and `Origin` by the options, and `X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded` (RFC 7239) made by wsgate
//! (the client's own are dropped: on a gate they are claims, not facts). It never
//! carries a wsgate credential: not the `token` pair, no `Authorization` (of any
//! scheme), no `wsgate.bearer.*` entry nor the `wsgate` marker, and no query pair,
//! header or subprotocol entry in which [`Secrets`] finds a secret in any form. A
//! request whose path holds one is not forwarded at all. Hop-by-hop headers and those
//! the client's `Connection` names are dropped.

use std::net::{IpAddr, SocketAddr};

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use httparse::Header;

use super::target::{HostRule, OriginRule};
use crate::bearer;
use crate::form;
use crate::redact::Secrets;
use crate::request::Upgrade;
use crate::secret::PARAM;

/// The largest answer head wsgate reads from an upstream.
pub const MAX_ANSWER: usize = 8 * 1024;
/// The most header fields an answer may have.
const MAX_ANSWER_HEADERS: usize = 32;

/// Headers never forwarded as they are: hop-by-hop ones (RFC 7230 §6.1), the ones
/// wsgate writes itself, and credentials.
const NOT_FORWARDED: [&str; 28] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "authorization",
    "host",
    "origin",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    // Other claims of the same kind, which a client could make for itself.
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
];

/// What the request offered, to check the answer against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// The subprotocol entries forwarded.
    pub protocols: Vec<String>,
    /// Whether the client offered the `wsgate` marker (kept from the upstream, and
    /// selected for the client when the upstream selects nothing).
    pub marker: bool,
    /// The names of the extensions offered (`permessage-deflate`), lower-case.
    pub extensions: Vec<String>,
}

/// Why a request is not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotForwarded {
    /// Its path holds a credential.
    PathHoldsSecret,
    /// Its path has a `.` or `..` segment (encoded or not), which could climb out of
    /// the prefix on an upstream that normalises paths.
    DotSegment,
}

/// Whether a path has a `.` or `..` segment, its dots encoded or not.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = form::decode_lossy(segment.as_bytes());
        decoded == b"." || decoded == b".."
    })
}

/// An extension's name: what precedes its parameters, lower-case.
fn extension_name(entry: &[u8]) -> String {
    let name = entry.split(|&b| b == b';').next().unwrap_or_default();
    String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase()
}

/// What the request is made from.
pub struct Forward<'a> {
    /// The accepted upgrade.
    pub upgrade: &'a Upgrade<'a>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Everything that must not reach the upstream.
    pub secrets: &'a Secrets,
    /// The path prefix (`ws://host/PREFIX`), without a trailing `/`.
    pub prefix: &'a str,
    /// The upstream's own authority (for [`HostRule::Upstream`]).
    pub authority: &'a str,
    /// `--upstream-host`.
    pub host: &'a HostRule,
    /// `--upstream-origin`.
    pub origin: &'a OriginRule,
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The entries of every `name` header (see [`bearer::entries`]).
fn list<'h>(headers: &'h [Header<'h>], name: &'static str) -> impl Iterator<Item = &'h [u8]> {
    bearer::entries(
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value),
    )
}

/// A `Forwarded` value: a token as it is, anything else quoted.
fn forwarded_value(value: &[u8]) -> Vec<u8> {
    let token = !value.is_empty()
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        return value.to_vec();
    }
    let mut out = vec![b'"'];
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// The request head to write to the upstream, and what it offered.
pub fn request(f: &Forward<'_>) -> Result<(Vec<u8>, Offered), NotForwarded> {
    let common = &f.upgrade.common;
    let target = common.target;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    if f.secrets.holds(path.as_bytes()) {
        return Err(NotForwarded::PathHoldsSecret);
    }
    if !f.prefix.is_empty() && has_dot_segment(path) {
        return Err(NotForwarded::DotSegment);
    }
    let headers: usize = common
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 4)
        .sum();
    let mut out = Vec::with_capacity(320 + f.prefix.len() + target.len() + headers);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(f.prefix.as_bytes());
    // `/` under a prefix is the prefix itself (`ws://h/ws` serves `/ws`, not `/ws/`).
    if f.prefix.is_empty() || path != "/" {
        out.extend_from_slice(path.as_bytes());
    }
    if let Some(query) = query {
        let mut kept = String::with_capacity(query.len());
        for pair in form::without(query, PARAM).split('&') {
            if pair.is_empty() || f.secrets.holds(pair.as_bytes()) {
                continue;
            }
            if !kept.is_empty() {
                kept.push('&');
            }
            kept.push_str(pair);
        }
        if !kept.is_empty() {
            out.push(b'?');
            out.extend_from_slice(kept.as_bytes());
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host: &[u8] = match f.host {
        HostRule::Pass if !f.secrets.holds(common.host) => common.host,
        HostRule::Upstream | HostRule::Pass => f.authority.as_bytes(),
        HostRule::Fixed(host) => host.as_bytes(),
    };
    push_header(&mut out, "Host", host);
    out.extend_from_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
    push_header(&mut out, "Sec-WebSocket-Key", f.upgrade.key);
    out.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n");

    let mut offered = Offered::default();
    for entry in list(common.headers, "sec-websocket-protocol") {
        if entry == bearer::MARKER.as_bytes() {
            offered.marker = true;
        } else if !bearer::is_credential_entry(entry) && !f.secrets.holds(entry) {
            // Entries are HTTP tokens (checked by the request parser): ASCII.
            offered
                .protocols
                .push(String::from_utf8_lossy(entry).into_owned());
        }
    }
    if !offered.protocols.is_empty() {
        push_header(
            &mut out,
            "Sec-WebSocket-Protocol",
            offered.protocols.join(", ").as_bytes(),
        );
    }
    let extensions: Vec<&[u8]> = list(common.headers, "sec-websocket-extensions")
        .filter(|e| !f.secrets.holds(e))
        .collect();
    if !extensions.is_empty() {
        offered.extensions = extensions.iter().map(|e| extension_name(e)).collect();
        push_header(
            &mut out,
            "Sec-WebSocket-Extensions",
            &extensions.join(&b", "[..]),
        );
    }
    let origin = match f.origin {
        OriginRule::Pass => common.origin.filter(|o| !f.secrets.holds(o)),
        OriginRule::Strip => None,
        OriginRule::Fixed(origin) => Some(origin.as_bytes()),
    };
    if let Some(origin) = origin {
        push_header(&mut out, "Origin", origin);
    }

    // The headers the client's `Connection` names are hop-by-hop too.
    let named: Vec<&[u8]> = list(common.headers, "connection").collect();
    for h in common.headers {
        let dropped = NOT_FORWARDED.iter().any(|n| h.name.eq_ignore_ascii_case(n))
            || named
                .iter()
                .any(|n| n.eq_ignore_ascii_case(h.name.as_bytes()))
            || f.secrets.holds(h.name.as_bytes())
            || f.secrets.holds(h.value);
        if !dropped {
            push_header(&mut out, h.name, h.value);
        }
    }

    let ip = f.peer.ip();
    let for_ip = ip.to_string();
    push_header(&mut out, "X-Forwarded-For", for_ip.as_bytes());
    out.extend_from_slice(b"X-Forwarded-Proto: http\r\n");
    let client_host = (!f.secrets.holds(common.host)).then_some(common.host);
    if let Some(host) = client_host {
        push_header(&mut out, "X-Forwarded-Host", host);
    }
    let mut forwarded = b"for=".to_vec();
    match ip {
        IpAddr::V4(_) => forwarded.extend_from_slice(for_ip.as_bytes()),
        IpAddr::V6(_) => {
            forwarded.extend_from_slice(b"\"[");
            forwarded.extend_from_slice(for_ip.as_bytes());
            forwarded.extend_from_slice(b"]\"");
        }
    }
    if let Some(host) = client_host {
        forwarded.extend_from_slice(b";host=");
        forwarded.extend_from_slice(&forwarded_value(host));
    }
    forwarded.extend_from_slice(b";proto=http");
    push_header(&mut out, "Forwarded", &forwarded);
    out.extend_from_slice(b"\r\n");
    Ok((out, offered))
}

/// A valid 101 from the upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The head's length: what follows is the upstream's first WebSocket bytes.
    pub len: usize,
    /// The subprotocol it selected (one the request offered).
    pub protocol: Option<String>,
    /// The extensions it agreed on, as it wrote them.
    pub extensions: Option<String>,
    /// Its `Sec-WebSocket-Accept`, checked: the client's 101 carries it too.
    pub accept: String,
}

/// Why an answer is not a valid 101. What the upstream said is never repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not HTTP/1.1, or too long.
    Malformed,
    /// A status other than 101.
    Status(u16),
    /// No `Upgrade: websocket` or `Connection: upgrade`.
    NotUpgraded,
    /// A missing or wrong `Sec-WebSocket-Accept`.
    WrongAccept,
    /// A subprotocol the request did not offer, or more than one.
    WrongProtocol,
    /// Extensions the request did not offer, or not printable.
    WrongExtensions,
}

impl BadAnswer {
    /// What the log says.
    pub fn describe(self) -> String {
        match self {
            BadAnswer::Malformed => "the upstream's answer is not an HTTP/1.1 response".into(),
            BadAnswer::Status(code) => format!("the upstream answered {code}, not 101"),
            BadAnswer::NotUpgraded => "the upstream's 101 does not upgrade to websocket".into(),
            BadAnswer::WrongAccept => "the upstream's Sec-WebSocket-Accept is wrong".into(),
            BadAnswer::WrongProtocol => {
                "the upstream selected a subprotocol that was not offered".into()
            }
            BadAnswer::WrongExtensions => {
                "the upstream agreed on extensions that were not offered".into()
            }
        }
    }
}

/// Reads the upstream's answer from the bytes so far: `Ok(None)` until its head is
/// whole. `key` is the `Sec-WebSocket-Key` forwarded.
pub fn answer(buf: &[u8], key: &[u8], offered: &Offered) -> Result<Option<Answer>, BadAnswer> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_ANSWER => return Ok(None),
        _ => return Err(BadAnswer::Malformed),
    };
    if response.version != Some(1) {
        return Err(BadAnswer::Malformed);
    }
    match response.code {
        Some(101) => {}
        Some(code) => return Err(BadAnswer::Status(code)),
        None => return Err(BadAnswer::Malformed),
    }
    let headers = response.headers;
    let has = |name: &'static str, token: &[u8]| {
        list(headers, name).any(|v| v.eq_ignore_ascii_case(token))
    };
    if !has("upgrade", b"websocket") || !has("connection", b"upgrade") {
        return Err(BadAnswer::NotUpgraded);
    }
    let expected = derive_accept_key(key);
    let accepts: Vec<&[u8]> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value.trim_ascii())
        .collect();
    if accepts != [expected.as_bytes()] {
        return Err(BadAnswer::WrongAccept);
    }
    let protocols: Vec<&[u8]> = list(headers, "sec-websocket-protocol").collect();
    let protocol = match protocols.as_slice() {
        [] => None,
        [one] => Some(
            offered
                .protocols
                .iter()
                .find(|p| p.as_bytes() == *one)
                .ok_or(BadAnswer::WrongProtocol)?
                .clone(),
        ),
        _ => return Err(BadAnswer::WrongProtocol),
    };
    let agreed: Vec<&[u8]> = list(headers, "sec-websocket-extensions").collect();
    let extensions = match agreed.as_slice() {
        [] => None,
        _ if agreed
            .iter()
            .any(|e| !offered.extensions.contains(&extension_name(e))) =>
        {
            return Err(BadAnswer::WrongExtensions);
        }
        entries => match String::from_utf8(entries.join(&b", "[..])) {
            Ok(s) if super::target::header_safe(&s) => Some(s),
            _ => return Err(BadAnswer::WrongExtensions),
        },
    };
    Ok(Some(Answer {
        len,
        protocol,
        extensions,
        accept: expected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{self, Head, Route};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn head(target: &str, extra: &str) -> String {
        format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:7331\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    /// The request forwarded for a raw client head.
    fn forward(raw: &str, secrets: &Secrets, host: HostRule, origin: OriginRule) -> String {
        let mut storage = request::header_storage();
        let Ok(Head::Complete { request: req, .. }) = request::parse(raw.as_bytes(), &mut storage)
        else {
            panic!("not a head: {raw}");
        };
        let Ok(Route::Upgrade(upgrade)) = request::route(&req) else {
            panic!("not an upgrade: {raw}");
        };
        let f = Forward {
            upgrade: &upgrade,
            peer: "10.0.0.7:5555".parse().unwrap(),
            secrets,
            prefix: "/base",
            authority: "upstream.test:9000",
            host: &host,
            origin: &origin,
        };
        let (bytes, _) = request(&f).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn secrets(token: &str) -> Secrets {
        let mut s = Secrets::new();
        s.add(token.as_bytes());
        s
    }

    #[test]
    fn forwards_the_handshake_without_credentials() {
        let token = "s3cr3t-token-value";
        let raw = head(
            &format!("/x/y?a=1&token={token}&b=2&next=%2F%3Ftoken%3D{token}"),
            &format!(
                "Authorization: Bearer {token}\r\nSec-WebSocket-Protocol: chat, wsgate.bearer.c2VjcmV0, wsgate\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://app.test\r\nCookie: a=b\r\nUser-Agent: ua/1\r\nX-Forwarded-For: 6.6.6.6\r\nKeep-Alive: 5\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\nX-Other: {token}\r\n"
            ),
        );
        let out = forward(&raw, &secrets(token), HostRule::Upstream, OriginRule::Pass);
        assert!(!out.contains(token), "{out}");
        assert!(!out.contains("wsgate"), "{out}");
        assert!(
            out.starts_with("GET /base/x/y?a=1&b=2 HTTP/1.1\r\nHost: upstream.test:9000\r\n"),
            "{out}"
        );
        for line in [
            format!("Sec-WebSocket-Key: {KEY}"),
            "Sec-WebSocket-Version: 13".into(),
            "Sec-WebSocket-Protocol: chat".into(),
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits".into(),
            "Origin: http://app.test".into(),
            "Cookie: a=b".into(),
            "User-Agent: ua/1".into(),
            "X-Forwarded-For: 10.0.0.7".into(),
            "X-Forwarded-Proto: http".into(),
            "X-Forwarded-Host: 127.0.0.1:7331".into(),
            "Forwarded: for=10.0.0.7;host=\"127.0.0.1:7331\";proto=http".into(),
        ] {
            assert!(out.contains(&format!("\r\n{line}\r\n")), "{line}\n{out}");
        }
        for gone in ["6.6.6.6", "Keep-Alive", "X-Hop", "X-Other", "Authorization"] {
            assert!(!out.contains(gone), "{gone}\n{out}");
        }
        assert!(out.ends_with("\r\n\r\n"));
    }

    #[test]
    fn host_and_origin_follow_the_options() {
        let raw = head("/", "Origin: http://app.test\r\n");
        let none = Secrets::new();
        let out = forward(&raw, &none, HostRule::Pass, OriginRule::Strip);
        assert!(
            out.starts_with("GET /base HTTP/1.1\r\nHost: 127.0.0.1:7331\r\n"),
            "{out}"
        );
        assert!(!out.contains("Origin:"), "{out}");
        let out = forward(
            &raw,
            &none,
            HostRule::Fixed("app.internal".into()),
            OriginRule::Fixed("http://localhost:8888".into()),
        );
        assert!(out.contains("\r\nHost: app.internal\r\n"), "{out}");
        assert!(
            out.contains("\r\nOrigin: http://localhost:8888\r\n"),
            "{out}"
        );
        assert!(!out.contains("app.test"), "{out}");
    }

    #[test]
    fn a_path_holding_a_credential_is_not_forwarded() {
        let raw = head("/s3cr3t-token-value/x", "");
        let mut storage = request::header_storage();
        let Ok(Head::Complete { request: req, .. }) = request::parse(raw.as_bytes(), &mut storage)
        else {
            panic!()
        };
        let Ok(Route::Upgrade(upgrade)) = request::route(&req) else {
            panic!()
        };
        let s = secrets("s3cr3t-token-value");
        let f = Forward {
            upgrade: &upgrade,
            peer: "[::1]:1".parse().unwrap(),
            secrets: &s,
            prefix: "",
            authority: "h:1",
            host: &HostRule::Upstream,
            origin: &OriginRule::Pass,
        };
        assert_eq!(request(&f), Err(NotForwarded::PathHoldsSecret));
    }

    #[test]
    fn a_path_that_climbs_out_of_the_prefix_is_not_forwarded() {
        for (target, refused) in [
            ("/../x", true),
            ("/a/%2e%2E/x", true),
            ("/./x", true),
            ("/a/.x", false),
            ("/a..b", false),
        ] {
            let raw = head(target, "");
            let mut storage = request::header_storage();
            let Ok(Head::Complete { request: req, .. }) =
                request::parse(raw.as_bytes(), &mut storage)
            else {
                panic!("{target}")
            };
            let Ok(Route::Upgrade(upgrade)) = request::route(&req) else {
                panic!("{target}")
            };
            let none = Secrets::new();
            let f = Forward {
                upgrade: &upgrade,
                peer: "127.0.0.1:1".parse().unwrap(),
                secrets: &none,
                prefix: "/base",
                authority: "h:1",
                host: &HostRule::Upstream,
                origin: &OriginRule::Pass,
            };
            assert_eq!(
                request(&f) == Err(NotForwarded::DotSegment),
                refused,
                "{target}"
            );
        }
    }

    fn answer_for(extra: &str, offered: &Offered) -> Result<Option<Answer>, BadAnswer> {
        let accept = derive_accept_key(KEY.as_bytes());
        let mut bytes = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
        .into_bytes();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        answer(&bytes, KEY.as_bytes(), offered)
    }

    #[test]
    fn reads_a_valid_answer() {
        let offered = Offered {
            protocols: vec!["chat".into(), "v2".into()],
            marker: false,
            extensions: vec!["permessage-deflate".into()],
        };
        let a = answer_for(
            "Sec-WebSocket-Protocol: v2\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
            &offered,
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.protocol.as_deref(), Some("v2"));
        assert_eq!(a.extensions.as_deref(), Some("permessage-deflate"));
        let accept = derive_accept_key(KEY.as_bytes());
        let head_len = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v2\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        )
        .len();
        assert_eq!(a.len, head_len);
        assert_eq!(
            answer(b"HTTP/1.1 101 Sw", KEY.as_bytes(), &offered),
            Ok(None)
        );
    }

    #[test]
    fn refuses_a_wrong_answer() {
        let offered = Offered {
            protocols: vec!["chat".into()],
            marker: true,
            extensions: Vec::new(),
        };
        assert_eq!(
            answer_for("Sec-WebSocket-Protocol: other\r\n", &offered),
            Err(BadAnswer::WrongProtocol)
        );
        assert_eq!(
            answer_for("Sec-WebSocket-Protocol: wsgate\r\n", &offered),
            Err(BadAnswer::WrongProtocol)
        );
        assert_eq!(
            answer_for("Sec-WebSocket-Extensions: permessage-deflate\r\n", &offered),
            Err(BadAnswer::WrongExtensions)
        );
        let deflate = Offered {
            extensions: vec!["permessage-deflate".into()],
            ..offered.clone()
        };
        assert_eq!(
            answer_for(
                "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n",
                &deflate
            ),
            Err(BadAnswer::WrongExtensions)
        );
        assert!(matches!(
            answer_for(
                "Sec-WebSocket-Extensions: PerMessage-Deflate; server_no_context_takeover\r\n",
                &deflate
            ),
            Ok(Some(_))
        ));
        assert_eq!(
            answer_for("Sec-WebSocket-Accept: AAAA\r\n", &offered),
            Err(BadAnswer::WrongAccept)
        );
        let k = KEY.as_bytes();
        assert_eq!(
            answer(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
                k,
                &offered
            ),
            Err(BadAnswer::Status(403))
        );
        assert_eq!(
            answer(b"SSH-2.0-OpenSSH\r\n\r\n", k, &offered),
            Err(BadAnswer::Malformed)
        );
        let accept = derive_accept_key(k);
        let no_upgrade = format!("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        assert_eq!(
            answer(no_upgrade.as_bytes(), k, &offered),
            Err(BadAnswer::NotUpgraded)
        );
        let endless = vec![b'a'; MAX_ANSWER];
        assert_eq!(answer(&endless, k, &offered), Err(BadAnswer::Malformed));
    }
}
