//! Request head bytes → [`Request`] → [`Route`]: the opening handshake as RFC 6455
//! §4.2.1 describes it, parsed with httparse and checked without guessing.
//!
//! ```text
//! 1. An HTTP/1.1 or higher GET request, including a "Request-URI" [RFC 2616]
//! 2. A |Host| header field containing the server's authority.
//! 3. An |Upgrade| header field containing the value "websocket", treated as an
//!    ASCII case-insensitive value.
//! 4. A |Connection| header field that includes the token "Upgrade", treated as an
//!    ASCII case-insensitive value.
//! 5. A |Sec-WebSocket-Key| header field with a base64-encoded value that, when
//!    decoded, is 16 bytes in length.
//! 6. A |Sec-WebSocket-Version| header field, with a value of 13.
//! ```
//!
//! Anything a proxy and wsgate could read two ways is a 400: a repeated Host, key,
//! version or Origin, a bare LF line ending, a body (`Content-Length` other than 0,
//! any `Transfer-Encoding`), a target that is not in origin form.

use std::fmt;

use crate::outcome::Reason;

/// Largest request head accepted, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// Most header fields accepted in one head.
pub const MAX_HEADERS: usize = 64;

/// Prefix of the paths wsgate answers itself.
pub const RESERVED_PREFIX: &str = "/_wsgate/";

/// The health endpoint.
pub const HEALTH_PATH: &str = "/_wsgate/healthz";

/// The credential check endpoint.
pub const CHECK_PATH: &str = "/_wsgate/auth/check";

/// One header field, as it appeared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, as sent (compare it case-insensitively).
    pub name: &'b str,
    /// The field value, without surrounding whitespace.
    pub value: &'b [u8],
}

/// A parsed request head, before any WebSocket rule is applied.
#[derive(PartialEq, Eq)]
pub struct Request<'b> {
    /// The method, case-sensitive.
    pub method: &'b str,
    /// The request target, as sent.
    pub target: &'b str,
    /// The minor HTTP version: `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Every header field in order.
    pub headers: Vec<Header<'b>>,
}

/// The result of reading a buffer that may not hold the whole head yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<'b> {
    /// The head is not complete: read more.
    Partial,
    /// The head is complete and `len` bytes long; bytes after it belong to the
    /// WebSocket.
    Complete {
        /// Length of the head including its final empty line.
        len: usize,
        /// The parsed head.
        request: Request<'b>,
    },
}

// Debug output never shows a credential: targets are redacted like log lines, and
// the values of headers that carry credentials are hidden.

/// Headers whose values are never printed.
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "sec-websocket-protocol",
];

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = SENSITIVE.iter().any(|s| self.name.eq_ignore_ascii_case(s));
        let value = if hidden {
            std::borrow::Cow::Borrowed("<redacted>")
        } else {
            String::from_utf8_lossy(self.value)
        };
        f.debug_struct("Header")
            .field("name", &self.name)
            .field("value", &value)
            .finish()
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &crate::token::redact(self.target))
            .field("minor_version", &self.minor_version)
            .field("headers", &self.headers)
            .finish()
    }
}

impl fmt::Debug for Common<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("target", &crate::token::redact(self.target))
            .field("host", &String::from_utf8_lossy(self.host))
            .field("origin", &self.origin.map(String::from_utf8_lossy))
            .field("headers", &self.headers)
            .finish()
    }
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(Head::Partial)` means more bytes are needed; the caller enforces
/// [`MAX_HEAD`]. Errors are the reason to reject the request with.
pub fn parse(buf: &[u8]) -> Result<Head<'_>, Reason> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Head::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Reason::HeadTooLarge),
        Err(_) => return Err(Reason::MalformedRequest),
    };
    // httparse accepts a bare LF as a line ending; a proxy in front may not.
    if has_bare_lf(&buf[..len]) {
        return Err(Reason::MalformedRequest);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Reason::MalformedRequest);
    };
    let headers = req
        .headers
        .iter()
        .map(|h| Header {
            name: h.name,
            value: h.value,
        })
        .collect();
    Ok(Head::Complete {
        len,
        request: Request {
            method,
            target,
            minor_version,
            headers,
        },
    })
}

/// Whether the last `new` bytes of `buf` may complete a head: they hold the second
/// line break of an empty line (`\n\n` or `\n\r\n`, looking back past them).
pub fn may_end_head(buf: &[u8], new: usize) -> bool {
    let start = buf.len().saturating_sub(new + 2);
    let tail = &buf[start..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// What a well-formed request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'r> {
    /// `GET /_wsgate/healthz`.
    Health(Common<'r>),
    /// `GET /_wsgate/auth/check`: authenticate without upgrading.
    Check(Common<'r>),
    /// A WebSocket upgrade of any other path.
    Upgrade(Upgrade<'r>),
}

/// The fields every routed request has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Common<'r> {
    /// The request target (origin form, visible ASCII, no `#`).
    pub target: &'r str,
    /// The Host header's value.
    pub host: &'r [u8],
    /// The Origin header's value, when present.
    pub origin: Option<&'r [u8]>,
    /// Every header field, for credentials and the backend's environment.
    pub headers: &'r [Header<'r>],
}

/// A valid WebSocket upgrade request: everything the gate and the backend need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upgrade<'r> {
    /// Target, Host and Origin.
    pub common: Common<'r>,
    /// The `Sec-WebSocket-Key`, checked to decode to 16 bytes.
    pub key: &'r [u8],
}

impl Upgrade<'_> {
    /// The request target.
    pub fn target(&self) -> &str {
        self.common.target
    }
}

/// Applies the handshake rules to a parsed head: the method, version, target, the
/// headers that must appear once, and, for anything but a reserved path, RFC 6455's
/// upgrade fields.
pub fn route<'r>(req: &'r Request<'r>) -> Result<Route<'r>, Reason> {
    if req.method != "GET" {
        return Err(Reason::MethodNotAllowed);
    }
    if req.minor_version != 1 || !valid_target(req.target) {
        return Err(Reason::MalformedRequest);
    }
    let host = single(req, "host")?.ok_or(Reason::MalformedRequest)?;
    if host.is_empty() {
        return Err(Reason::MalformedRequest);
    }
    let origin = single(req, "origin")?;
    // A body on an upgrade would be read as WebSocket frames by one side and as a
    // body by the other.
    if has(req, "transfer-encoding") || single(req, "content-length")?.is_some_and(|v| v != b"0") {
        return Err(Reason::MalformedRequest);
    }
    let common = Common {
        target: req.target,
        host,
        origin,
        headers: &req.headers,
    };
    let path = crate::token::path_of(req.target);
    if path.starts_with(RESERVED_PREFIX) {
        return match path {
            HEALTH_PATH => Ok(Route::Health(common)),
            CHECK_PATH => Ok(Route::Check(common)),
            _ => Err(Reason::NotFound),
        };
    }
    if !list_has(req, "upgrade", "websocket") || !list_has(req, "connection", "upgrade") {
        return Err(Reason::NotWebsocket);
    }
    if single(req, "sec-websocket-version")? != Some(b"13") {
        return Err(Reason::UnsupportedVersion);
    }
    let key = single(req, "sec-websocket-key")?.ok_or(Reason::MalformedRequest)?;
    if !valid_key(key) {
        return Err(Reason::MalformedRequest);
    }
    Ok(Route::Upgrade(Upgrade { common, key }))
}

/// Origin form (RFC 9112 §3.2.1): an absolute path and an optional query, in visible
/// ASCII; `#` never belongs in a request target.
fn valid_target(target: &str) -> bool {
    target.starts_with('/')
        && target
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'#')
}

/// A base64 value (with padding) that decodes to exactly 16 bytes.
fn valid_key(key: &[u8]) -> bool {
    // `decode_mut` wants room for the longest decoding of 24 characters (18 bytes).
    let mut out = [0u8; 18];
    key.len() == 24 && data_encoding::BASE64.decode_mut(key, &mut out) == Ok(16)
}

/// The value of a header that may appear at most once; a second one is ambiguous.
fn single<'r>(req: &'r Request<'r>, name: &str) -> Result<Option<&'r [u8]>, Reason> {
    let mut found = None;
    for h in req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
    {
        if found.replace(h.value).is_some() {
            return Err(Reason::MalformedRequest);
        }
    }
    Ok(found)
}

fn has(req: &Request<'_>, name: &str) -> bool {
    req.headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(name))
}

/// Whether a comma-separated list header (possibly repeated) contains `token`,
/// compared case-insensitively.
fn list_has(req: &Request<'_>, name: &str, token: &str) -> bool {
    req.headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn head(lines: &[&str]) -> Vec<u8> {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    fn upgrade_with(first: &str, extra: &[&str], skip: &[&str]) -> Vec<u8> {
        let key = format!("Sec-WebSocket-Key: {KEY}");
        let mut lines = vec![first];
        for l in [
            "Host: 127.0.0.1:7331",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            key.as_str(),
        ] {
            if !skip.iter().any(|s| l.starts_with(s)) {
                lines.push(l);
            }
        }
        lines.extend_from_slice(extra);
        head(&lines)
    }

    fn outcome(bytes: &[u8]) -> Result<&'static str, Reason> {
        match parse(bytes)? {
            Head::Partial => Ok("partial"),
            Head::Complete { request, .. } => match route(&request)? {
                Route::Health(_) => Ok("health"),
                Route::Check(_) => Ok("check"),
                Route::Upgrade(_) => Ok("upgrade"),
            },
        }
    }

    macro_rules! routes {
        ($($name:ident: $bytes:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(outcome(&$bytes[..]), $want);
            }
        )*};
    }

    routes! {
        upgrade: upgrade_with("GET /ws?token=x HTTP/1.1", &[], &[]) => Ok("upgrade");
        upgrade_lowercase_values: head(&[
            "GET / HTTP/1.1", "host: localhost", "upgrade: WebSocket",
            "connection: keep-alive, upgrade", "sec-websocket-version: 13",
            &format!("sec-websocket-key: {KEY}"),
        ]) => Ok("upgrade");
        upgrade_repeated_list_headers: upgrade_with("GET / HTTP/1.1",
            &["Connection: keep-alive", "Upgrade: h2c"], &["Connection", "Upgrade"]) => Err(Reason::NotWebsocket);
        upgrade_in_second_list_header: upgrade_with("GET / HTTP/1.1",
            &["Connection: keep-alive", "Connection: upgrade"], &["Connection"]) => Ok("upgrade");
        partial: b"GET / HTTP/1.1\r\nHost: x\r\n" => Ok("partial");
        empty: b"" => Ok("partial");
        post: upgrade_with("POST / HTTP/1.1", &[], &[]) => Err(Reason::MethodNotAllowed);
        lowercase_get: upgrade_with("get / HTTP/1.1", &[], &[]) => Err(Reason::MethodNotAllowed);
        http10: upgrade_with("GET / HTTP/1.0", &[], &[]) => Err(Reason::MalformedRequest);
        http2_line: upgrade_with("GET / HTTP/2.0", &[], &[]) => Err(Reason::MalformedRequest);
        garbage: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n" => Err(Reason::MalformedRequest);
        no_host: upgrade_with("GET / HTTP/1.1", &[], &["Host"]) => Err(Reason::MalformedRequest);
        empty_host: upgrade_with("GET / HTTP/1.1", &["Host:"], &["Host"]) => Err(Reason::MalformedRequest);
        two_hosts: upgrade_with("GET / HTTP/1.1", &["Host: evil.example"], &[]) => Err(Reason::MalformedRequest);
        two_origins: upgrade_with("GET / HTTP/1.1",
            &["Origin: http://localhost", "Origin: http://evil"], &[]) => Err(Reason::MalformedRequest);
        two_keys: upgrade_with("GET / HTTP/1.1", &[&format!("Sec-WebSocket-Key: {KEY}")], &[]) => Err(Reason::MalformedRequest);
        two_versions: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Version: 13"], &[]) => Err(Reason::MalformedRequest);
        body_length: upgrade_with("GET / HTTP/1.1", &["Content-Length: 5"], &[]) => Err(Reason::MalformedRequest);
        zero_length_ok: upgrade_with("GET / HTTP/1.1", &["Content-Length: 0"], &[]) => Ok("upgrade");
        chunked: upgrade_with("GET / HTTP/1.1", &["Transfer-Encoding: chunked"], &[]) => Err(Reason::MalformedRequest);
        bare_lf: b"GET / HTTP/1.1\nHost: localhost\n\n" => Err(Reason::MalformedRequest);
        mixed_lf: b"GET / HTTP/1.1\r\nHost: localhost\n\r\n" => Err(Reason::MalformedRequest);
        obs_fold: b"GET / HTTP/1.1\r\nHost: localhost\r\n folded\r\n\r\n" => Err(Reason::MalformedRequest);
        space_before_colon: b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n" => Err(Reason::MalformedRequest);
        fragment: upgrade_with("GET /ws#frag HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        absolute_form: upgrade_with("GET http://localhost/ HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        asterisk_form: upgrade_with("GET * HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        control_in_target: upgrade_with("GET /a\x01b HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        del_in_target: upgrade_with("GET /a\x7fb HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        non_ascii_target: upgrade_with("GET /ä HTTP/1.1", &[], &[]) => Err(Reason::MalformedRequest);
        plain_get: head(&["GET / HTTP/1.1", "Host: localhost"]) => Err(Reason::NotWebsocket);
        no_connection: upgrade_with("GET / HTTP/1.1", &[], &["Connection"]) => Err(Reason::NotWebsocket);
        wrong_upgrade: upgrade_with("GET / HTTP/1.1", &["Upgrade: websocketx"], &["Upgrade"]) => Err(Reason::NotWebsocket);
        no_version: upgrade_with("GET / HTTP/1.1", &[], &["Sec-WebSocket-Version"]) => Err(Reason::UnsupportedVersion);
        version_8: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Version: 8"], &["Sec-WebSocket-Version"]) => Err(Reason::UnsupportedVersion);
        version_list: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Version: 13, 8"], &["Sec-WebSocket-Version"]) => Err(Reason::UnsupportedVersion);
        no_key: upgrade_with("GET / HTTP/1.1", &[], &["Sec-WebSocket-Key"]) => Err(Reason::MalformedRequest);
        short_key: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="], &["Sec-WebSocket-Key"]) => Err(Reason::MalformedRequest);
        unpadded_key: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"], &["Sec-WebSocket-Key"]) => Err(Reason::MalformedRequest);
        non_canonical_key: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="], &["Sec-WebSocket-Key"]) => Err(Reason::MalformedRequest);
        long_key: upgrade_with("GET / HTTP/1.1", &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZXh4eA=="], &["Sec-WebSocket-Key"]) => Err(Reason::MalformedRequest);
        health: head(&["GET /_wsgate/healthz HTTP/1.1", "Host: localhost"]) => Ok("health");
        health_with_query: head(&["GET /_wsgate/healthz?x=1 HTTP/1.1", "Host: localhost"]) => Ok("health");
        health_post: head(&["POST /_wsgate/healthz HTTP/1.1", "Host: localhost"]) => Err(Reason::MethodNotAllowed);
        check: head(&["GET /_wsgate/auth/check HTTP/1.1", "Host: localhost"]) => Ok("check");
        check_post: head(&["POST /_wsgate/auth/check HTTP/1.1", "Host: localhost"]) => Err(Reason::MethodNotAllowed);
        reserved_unknown: upgrade_with("GET /_wsgate/other HTTP/1.1", &[], &[]) => Err(Reason::NotFound);
        reserved_prefix_only_under: upgrade_with("GET /_wsgate HTTP/1.1", &[], &[]) => Ok("upgrade");
    }

    #[test]
    fn end_of_head_detection() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(may_end_head(head, 1));
        assert!(may_end_head(head, head.len()));
        assert!(!may_end_head(&head[..head.len() - 1], 1));
        assert!(may_end_head(b"GET / HTTP/1.1\nHost: x\n\n", 1));
        assert!(!may_end_head(b"GET / HTTP/1.1\r\nHost: x\r\n", 3));
        // Every split of a head into reads finds its end in the read that completes it.
        for cut in 1..head.len() {
            assert!(may_end_head(head, head.len() - cut), "{cut}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let bytes = upgrade_with(
            "GET /a?token=s3cr3t-value&x=1 HTTP/1.1",
            &[
                "Authorization: Bearer s3cr3t-value",
                "Sec-WebSocket-Protocol: wsgate.bearer.czNjcjN0",
                "Cookie: s3cr3t-value",
            ],
            &[],
        );
        let Ok(head) = parse(&bytes) else { panic!() };
        let printed = format!("{head:?}");
        assert!(
            !printed.contains("s3cr3t") && !printed.contains("czNjcjN0"),
            "{printed}"
        );
        assert!(
            printed.contains("token=REDACTED") && printed.contains("127.0.0.1:7331"),
            "{printed}"
        );
        let Head::Complete { request, .. } = head else {
            panic!()
        };
        let printed = format!("{:?}", route(&request));
        assert!(
            !printed.contains("s3cr3t") && !printed.contains("czNjcjN0"),
            "{printed}"
        );
    }

    #[test]
    fn too_many_headers() {
        let mut lines = vec!["GET / HTTP/1.1".to_string()];
        for i in 0..=MAX_HEADERS {
            lines.push(format!("X-{i}: y"));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(outcome(&head(&lines)), Err(Reason::HeadTooLarge));
    }

    #[test]
    fn head_length_excludes_what_follows() {
        let mut bytes = upgrade_with("GET / HTTP/1.1", &[], &[]);
        let len = bytes.len();
        bytes.extend_from_slice(b"\x81\x85frame");
        match parse(&bytes) {
            Ok(Head::Complete { len: got, request }) => {
                assert_eq!(got, len);
                assert_eq!(request.target, "/");
                assert_eq!(request.headers.len(), 5);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn upgrade_fields() {
        let bytes = upgrade_with("GET /a?b HTTP/1.1", &["Origin: http://localhost:3000"], &[]);
        let Ok(Head::Complete { request, .. }) = parse(&bytes) else {
            panic!("not complete")
        };
        let Ok(Route::Upgrade(up)) = route(&request) else {
            panic!("not an upgrade")
        };
        assert_eq!(up.target(), "/a?b");
        assert_eq!(up.common.host, b"127.0.0.1:7331");
        assert_eq!(up.common.origin, Some(&b"http://localhost:3000"[..]));
        assert_eq!(up.key, KEY.as_bytes());
    }
}
