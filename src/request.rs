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
use std::mem::MaybeUninit;

use crate::form;
use crate::outcome::Reason;
use crate::redact::{self, Secrets};

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

/// The pairing endpoint: a page (GET), the code exchange (POST), its CORS preflight
/// (OPTIONS).
pub const PAIR_PATH: &str = "/_wsgate/pair";

/// The console: a page that connects to the backend from wsgate's own origin (GET).
pub const CONSOLE_PATH: &str = "/_wsgate/console";

/// Largest pairing request body, in bytes.
pub const MAX_PAIR_BODY: usize = 1024;

/// What a request to [`PAIR_PATH`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairRequest {
    /// `GET`: the pairing page.
    Page,
    /// `POST`: exchange the code in a body of `length` bytes for a token.
    Exchange {
        /// The body's `Content-Length`.
        length: usize,
    },
    /// `OPTIONS`: a browser's CORS preflight.
    Preflight,
}

/// One header field, as it appeared: its name (compare it case-insensitively) and its
/// value without surrounding whitespace. httparse's own type, so parsing copies
/// nothing.
pub type Header<'b> = httparse::Header<'b>;

/// Room for the header fields of one head, filled by [`parse`].
pub type HeaderStorage<'b> = [MaybeUninit<Header<'b>>; MAX_HEADERS];

/// Empty room for the header fields of one head.
pub fn header_storage<'b>() -> HeaderStorage<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
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
    pub headers: &'b [Header<'b>],
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

// Debug output never shows a credential: a request's target (and the page URL in
// `Referer`) is redacted like a log line and header values are shown as a backend
// would see them, hiding every credential the request itself presents, wherever else
// it appears (see `redact::presented`). The daemon's own secrets are not known here.

/// Header fields, printed as [`redact::header_value`] shows them, hiding `secrets`.
struct Headers<'a>(&'a [Header<'a>], &'a Secrets);

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for h in self.0 {
            let value = redact::header_value(h.name, h.value, self.1);
            let value = match &value {
                Some(v) => String::from_utf8_lossy(v),
                None => std::borrow::Cow::Borrowed("<redacted>"),
            };
            list.entry(&format_args!("{}: {value:?}", h.name));
        }
        list.finish()
    }
}

/// A target as `Debug` shows it.
fn shown(target: &str, secrets: &Secrets) -> String {
    redact::target(target, secrets).unwrap_or_else(|| "<not printable>".to_owned())
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let presented = redact::presented(self.target, self.headers);
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &shown(self.target, &presented))
            .field("minor_version", &self.minor_version)
            .field("headers", &Headers(self.headers, &presented))
            .finish()
    }
}

impl fmt::Debug for Common<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let presented = redact::presented(self.target, self.headers);
        f.debug_struct("Common")
            .field("target", &shown(self.target, &presented))
            .field("host", &String::from_utf8_lossy(self.host))
            .field("origin", &self.origin.map(String::from_utf8_lossy))
            .field("headers", &Headers(self.headers, &presented))
            .finish()
    }
}

/// Parses a request head from the start of `buf`, keeping its header fields in
/// `storage`.
///
/// `Ok(Head::Partial)` means more bytes are needed; the caller enforces
/// `MAX_HEAD`. Errors are the reason to reject the request with.
pub fn parse<'b>(
    buf: &'b [u8],
    storage: &'b mut [MaybeUninit<Header<'b>>],
) -> Result<Head<'b>, Reason> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Head::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Reason::HeadTooLarge),
        Err(_) => return Err(Reason::MalformedRequest),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Reason::MalformedRequest);
    };
    let headers: &'b mut [Header<'b>] = std::mem::take(&mut req.headers);
    let headers: &'b [Header<'b>] = headers;
    // httparse accepts a bare LF as a line ending, and skips empty lines before the
    // request line; a proxy in front may do neither.
    if !crlf_lines(&buf[..len], method, headers) {
        return Err(Reason::MalformedRequest);
    }
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

/// Whether every line of a parsed head ends with CRLF and the request line starts it.
///
/// httparse has found the lines already: each header line starts right after the line
/// before it ends, so looking at the two bytes before each header name, and at the
/// end of the head, sees every line ending without scanning the whole head again.
fn crlf_lines(head: &[u8], method: &str, headers: &[Header<'_>]) -> bool {
    let base = head.as_ptr() as usize;
    if method.as_ptr() as usize != base || !head.ends_with(b"\r\n\r\n") {
        return false;
    }
    headers.iter().all(|h| {
        let start = (h.name.as_ptr() as usize).wrapping_sub(base);
        start >= 2 && head.get(start - 2..start) == Some(b"\r\n")
    })
}

/// What a well-formed request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'r> {
    /// `GET /_wsgate/healthz`.
    Health(Common<'r>),
    /// `GET /_wsgate/auth/check`: authenticate without upgrading.
    Check(Common<'r>),
    /// `/_wsgate/pair`.
    Pair(Common<'r>, PairRequest),
    /// `GET /_wsgate/console`: the console page.
    Console(Common<'r>),
    /// A WebSocket upgrade of any other path.
    Upgrade(Upgrade<'r>),
}

/// The fields every routed request has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Common<'r> {
    /// The request target (origin form, visible ASCII, no `#`).
    pub target: &'r str,
    /// The target's query: what follows its first `?` (empty without one).
    pub query: &'r str,
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
pub fn route<'r>(req: &Request<'r>) -> Result<Route<'r>, Reason> {
    let (path, query) = (form::path_of(req.target), form::query_of(req.target));
    let pairing = path == PAIR_PATH;
    let allowed = match req.method {
        "GET" => true,
        "POST" | "OPTIONS" => pairing,
        _ => false,
    };
    if !allowed {
        return Err(Reason::MethodNotAllowed);
    }
    if req.minor_version != 1 || !valid_target(req.target) {
        return Err(Reason::MalformedRequest);
    }
    let fields = Fields::of(req.headers);
    let host = fields.host.get()?.ok_or(Reason::MalformedRequest)?;
    if host.is_empty() {
        return Err(Reason::MalformedRequest);
    }
    let origin = fields.origin.get()?;
    // A body on an upgrade would be read as WebSocket frames by one side and as a
    // body by the other. Only the pairing exchange has one, of a stated length.
    let length = fields.content_length.get()?;
    if fields.transfer_encoding {
        return Err(Reason::MalformedRequest);
    }
    let mut body_length = 0;
    if pairing && req.method == "POST" {
        let length = length.ok_or(Reason::LengthRequired)?;
        body_length = decimal(length).ok_or(Reason::MalformedRequest)?;
        if body_length > MAX_PAIR_BODY {
            return Err(Reason::BodyTooLarge);
        }
    } else if length.is_some_and(|v| v != b"0") {
        return Err(Reason::MalformedRequest);
    }
    let common = Common {
        target: req.target,
        query,
        host,
        origin,
        headers: req.headers,
    };
    if path.starts_with(RESERVED_PREFIX) {
        return match (path, req.method) {
            (HEALTH_PATH, _) => Ok(Route::Health(common)),
            (CHECK_PATH, _) => Ok(Route::Check(common)),
            (CONSOLE_PATH, _) => Ok(Route::Console(common)),
            (PAIR_PATH, "GET") => Ok(Route::Pair(common, PairRequest::Page)),
            (PAIR_PATH, "OPTIONS") => Ok(Route::Pair(common, PairRequest::Preflight)),
            (PAIR_PATH, _) => Ok(Route::Pair(
                common,
                PairRequest::Exchange {
                    length: body_length,
                },
            )),
            _ => Err(Reason::NotFound),
        };
    }
    if !fields.upgrade_websocket || !fields.connection_upgrade {
        return Err(Reason::NotWebsocket);
    }
    if fields.version.get()? != Some(b"13") {
        return Err(Reason::UnsupportedVersion);
    }
    let key = fields.key.get()?.ok_or(Reason::MalformedRequest)?;
    if !valid_key(key) {
        return Err(Reason::MalformedRequest);
    }
    Ok(Route::Upgrade(Upgrade { common, key }))
}

/// A `Content-Length` value: 1 to 6 ASCII digits (anything larger is refused anyway).
fn decimal(value: &[u8]) -> Option<usize> {
    crate::policy::decimal(value, 6).map(|n| n as usize)
}

/// A header that may appear at most once.
#[derive(Clone, Copy, Default)]
enum Once<'r> {
    #[default]
    Absent,
    Present(&'r [u8]),
    /// Seen twice: ambiguous.
    Repeated,
}

impl<'r> Once<'r> {
    fn add(&mut self, value: &'r [u8]) {
        *self = match self {
            Once::Absent => Once::Present(value),
            _ => Once::Repeated,
        };
    }

    fn get(self) -> Result<Option<&'r [u8]>, Reason> {
        match self {
            Once::Absent => Ok(None),
            Once::Present(value) => Ok(Some(value)),
            Once::Repeated => Err(Reason::MalformedRequest),
        }
    }
}

/// The header fields the handshake rules look at, found in one pass.
#[derive(Default)]
struct Fields<'r> {
    host: Once<'r>,
    origin: Once<'r>,
    content_length: Once<'r>,
    transfer_encoding: bool,
    upgrade_websocket: bool,
    connection_upgrade: bool,
    version: Once<'r>,
    key: Once<'r>,
}

impl<'r> Fields<'r> {
    fn of(headers: &[Header<'r>]) -> Fields<'r> {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name.as_bytes();
            let is = |want: &str| eq_lowercase(name, want.as_bytes());
            // Length and first letter pick the candidate before any comparison is made.
            let first = name.first().map_or(0, u8::to_ascii_lowercase);
            match (name.len(), first) {
                (4, b'h') if is("host") => f.host.add(h.value),
                (6, b'o') if is("origin") => f.origin.add(h.value),
                (7, b'u') if is("upgrade") => {
                    f.upgrade_websocket |= list_has(h.value, b"websocket");
                }
                (10, b'c') if is("connection") => {
                    f.connection_upgrade |= list_has(h.value, b"upgrade");
                }
                (14, b'c') if is("content-length") => f.content_length.add(h.value),
                (17, b't') if is("transfer-encoding") => f.transfer_encoding = true,
                (17, b's') if is("sec-websocket-key") => f.key.add(h.value),
                (21, b's') if is("sec-websocket-version") => f.version.add(h.value),
                _ => {}
            }
        }
        f
    }
}

/// Whether a comma-separated list value contains `token`, compared
/// case-insensitively. Repeated list headers are read as one list.
fn list_has(value: &[u8], token: &[u8]) -> bool {
    // Most values are the one token.
    eq_lowercase(value, token)
        || value
            .split(|&b| b == b',')
            .any(|item| eq_lowercase(item.trim_ascii(), token))
}

/// Whether `bytes` equals `lower` (all lowercase) ignoring ASCII case. Cheaper than
/// the general comparison for the short names and tokens it is used on.
fn eq_lowercase(bytes: &[u8], lower: &[u8]) -> bool {
    bytes.len() == lower.len()
        && bytes
            .iter()
            .zip(lower)
            .all(|(b, l)| b.to_ascii_lowercase() == *l)
}

/// Origin form (RFC 9112 §3.2.1): an absolute path and an optional query, in visible
/// ASCII; `#` never belongs in a request target. (httparse has already refused
/// control bytes, spaces and DEL; it lets UTF-8 through, which we do not.)
fn valid_target(target: &str) -> bool {
    target.starts_with('/')
        && target.is_ascii()
        && memchr::memchr(b'#', target.as_bytes()).is_none()
}

/// A canonical base64 value (RFC 4648 §4, with padding) that decodes to exactly 16
/// bytes: 22 characters of the alphabet, the last of which carries only two bits
/// (its low four are zero), then `==`.
///
/// A table of its own rather than a call to `data-encoding` (which the test below
/// checks it against, for every character in every position): the general decoder
/// costs about 420 instructions per upgrade here, this check about 150.
pub fn valid_key(key: &[u8]) -> bool {
    let [body @ .., b'=', b'='] = key else {
        return false;
    };
    body.len() == 22
        && body.iter().all(|&b| BASE64[usize::from(b)] != NOT_BASE64)
        && BASE64[usize::from(body[21])] & 0x0f == 0
}

const NOT_BASE64: u8 = 0xff;

/// The value of each base64 character; [`NOT_BASE64`] for the other bytes.
const BASE64: [u8; 256] = {
    let mut table = [NOT_BASE64; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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
        let mut storage = header_storage();
        match parse(bytes, &mut storage)? {
            Head::Partial => Ok("partial"),
            Head::Complete { request, .. } => match route(&request)? {
                Route::Health(_) => Ok("health"),
                Route::Check(_) => Ok("check"),
                Route::Pair(_, PairRequest::Page) => Ok("pair-page"),
                Route::Pair(_, PairRequest::Preflight) => Ok("pair-preflight"),
                Route::Pair(_, PairRequest::Exchange { .. }) => Ok("pair-exchange"),
                Route::Console(_) => Ok("console"),
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
        lf_after_request_line: b"GET / HTTP/1.1\nHost: localhost\r\n\r\n" => Err(Reason::MalformedRequest);
        lf_between_headers: b"GET / HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n" => Err(Reason::MalformedRequest);
        lf_after_empty_value: b"GET / HTTP/1.1\r\nX-A:\nHost: localhost\r\n\r\n" => Err(Reason::MalformedRequest);
        leading_empty_line: b"\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n" => Err(Reason::MalformedRequest);
        leading_bare_lf: b"\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n" => Err(Reason::MalformedRequest);
        no_headers_lf: b"GET / HTTP/1.1\n\r\n" => Err(Reason::MalformedRequest);
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
        pair_page: head(&["GET /_wsgate/pair HTTP/1.1", "Host: localhost"]) => Ok("pair-page");
        pair_preflight: head(&["OPTIONS /_wsgate/pair HTTP/1.1", "Host: localhost"]) => Ok("pair-preflight");
        pair_exchange: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost", "Content-Length: 17"]) => Ok("pair-exchange");
        pair_without_length: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost"]) => Err(Reason::LengthRequired);
        pair_too_long: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost", "Content-Length: 1025"]) => Err(Reason::BodyTooLarge);
        pair_huge_length: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost", "Content-Length: 99999999999"]) => Err(Reason::MalformedRequest);
        pair_bad_length: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost", "Content-Length: 1e3"]) => Err(Reason::MalformedRequest);
        pair_chunked: head(&["POST /_wsgate/pair HTTP/1.1", "Host: localhost", "Transfer-Encoding: chunked"]) => Err(Reason::MalformedRequest);
        pair_put: head(&["PUT /_wsgate/pair HTTP/1.1", "Host: localhost"]) => Err(Reason::MethodNotAllowed);
        post_elsewhere: head(&["POST /_wsgate/pairx HTTP/1.1", "Host: localhost", "Content-Length: 1"]) => Err(Reason::MethodNotAllowed);
        console: head(&["GET /_wsgate/console HTTP/1.1", "Host: localhost"]) => Ok("console");
        console_with_query: head(&["GET /_wsgate/console?x=1 HTTP/1.1", "Host: localhost"]) => Ok("console");
        console_as_upgrade: upgrade_with("GET /_wsgate/console HTTP/1.1", &[], &[]) => Ok("console");
        console_post: head(&["POST /_wsgate/console HTTP/1.1", "Host: localhost", "Content-Length: 1"]) => Err(Reason::MethodNotAllowed);
        console_head: head(&["HEAD /_wsgate/console HTTP/1.1", "Host: localhost"]) => Err(Reason::MethodNotAllowed);
        console_options: head(&["OPTIONS /_wsgate/console HTTP/1.1", "Host: localhost"]) => Err(Reason::MethodNotAllowed);
        console_with_body: head(&["GET /_wsgate/console HTTP/1.1", "Host: localhost", "Content-Length: 3"]) => Err(Reason::MalformedRequest);
        console_subpath: head(&["GET /_wsgate/console/x HTTP/1.1", "Host: localhost"]) => Err(Reason::NotFound);
        reserved_unknown: upgrade_with("GET /_wsgate/other HTTP/1.1", &[], &[]) => Err(Reason::NotFound);
        reserved_prefix_only_under: upgrade_with("GET /_wsgate HTTP/1.1", &[], &[]) => Ok("upgrade");
    }

    #[test]
    fn keys_agree_with_a_base64_decoder() {
        let decodes_to_16 = |key: &[u8]| {
            let mut out = [0u8; 18];
            key.len() == 24 && data_encoding::BASE64.decode_mut(key, &mut out) == Ok(16)
        };
        let mut keys: Vec<Vec<u8>> = vec![
            b"dGhlIHNhbXBsZSBub25jZQ==".to_vec(),
            b"dGhlIHNhbXBsZSBub25jZR==".to_vec(),
            b"dGhlIHNhbXBsZSBub25jZQ=".to_vec(),
            b"dGhlIHNhbXBsZSBub25jZQ===".to_vec(),
            b"dGhlIHNhbXBsZSBub25j-Q==".to_vec(),
            b"AAAAAAAAAAAAAAAAAAAAAA==".to_vec(),
            b"////////////////////w==".to_vec(),
            b"////////////////////x==".to_vec(),
        ];
        // Every character in every position of a valid key.
        for at in 0..24 {
            for c in 0..=255u8 {
                let mut key = b"dGhlIHNhbXBsZSBub25jZQ==".to_vec();
                key[at] = c;
                keys.push(key);
            }
        }
        for key in keys {
            assert_eq!(
                valid_key(&key),
                decodes_to_16(&key),
                "{:?}",
                String::from_utf8_lossy(&key)
            );
        }
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
    fn debug_hides_a_token_in_the_referer() {
        let bytes = upgrade_with(
            "GET / HTTP/1.1",
            &["Referer: http://localhost:3000/app?token=s3cr3t-value&x=1"],
            &[],
        );
        let mut storage = header_storage();
        let printed = format!("{:?}", parse(&bytes, &mut storage));
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("app?token=REDACTED&x=1"), "{printed}");
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
        let mut storage = header_storage();
        let Ok(head) = parse(&bytes, &mut storage) else {
            panic!()
        };
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
    fn debug_hides_a_presented_credential_wherever_it_is_copied() {
        let bytes = upgrade_with(
            "GET /app/s3cr3t-value/x?next=%2F%3Ftoken%3Ds3cr3t-value HTTP/1.1",
            &[
                "Authorization: Bearer s3cr3t-value",
                "Referer: http://localhost/?return_to=%2F%253Ftoken%253Ds3cr3t-value",
                "X-Copy: s3cr3t-value",
            ],
            &[],
        );
        let mut storage = header_storage();
        let printed = format!("{:?}", parse(&bytes, &mut storage));
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("127.0.0.1:7331"), "{printed}");
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
        let mut storage = header_storage();
        match parse(&bytes, &mut storage) {
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
        let mut storage = header_storage();
        let Ok(Head::Complete { request, .. }) = parse(&bytes, &mut storage) else {
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
