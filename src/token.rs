//! Credentials: the query-string extractor with its own percent-decoding, the
//! [`Secret`] type that never prints itself, token generation and constant-time
//! comparison.
//!
//! The query is read as `application/x-www-form-urlencoded` (WHATWG URL, §5.1):
//! pairs are separated by `&`, a pair's name and value by its first `=`, `+` decodes to
//! a space and `%XX` (upper or lower case hex) to the byte `XX`. Unlike browsers we do
//! not pass a stray `%` through: it is a malformed request, because a request that
//! could be read two ways is never guessed at.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The name of the query parameter that carries the credential.
pub const PARAM: &[u8] = b"token";

/// Shortest configured token accepted, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;

/// What replaces a credential in anything printed.
pub const REDACTED: &str = "REDACTED";

/// A secret value: the configured token or a presented credential.
///
/// It has no `Display`, and its `Debug` prints `Secret(<redacted>)`, so formatting a
/// value that holds one cannot leak it. The bytes are overwritten when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps bytes that must not be printed.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into().into_boxed_slice())
    }

    /// The secret bytes, for the few places that need them: comparison, the operator's
    /// banner and runtime file.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The SHA-256 digest of the secret.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// A SHA-256 digest, compared in constant time.
///
/// Comparing digests rather than the values hides both content and length: every
/// comparison looks at 32 bytes, whatever was presented.
#[derive(Clone, Copy)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// A digest computed elsewhere (`--auth-token-sha256`, the token store).
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// A digest written as 64 hex digits in `encoding` (lower case only, or either
    /// case); `None` for anything else.
    pub fn from_hex(hex: &str, encoding: &data_encoding::Encoding) -> Option<Digest> {
        let mut bytes = [0u8; 32];
        // `decode_mut` wants exactly the length that decodes to 32 bytes.
        let ok = hex.len() == 64 && encoding.decode_mut(hex.as_bytes(), &mut bytes).is_ok();
        ok.then_some(Digest(bytes))
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether two digests are equal, in time independent of their content.
    pub fn matches(&self, other: &Digest) -> bool {
        let halves = |d: &[u8; 32]| {
            let (a, b) = d.split_at(16);
            let half = |h: &[u8]| u128::from_le_bytes(h.try_into().unwrap_or_default());
            (half(a), half(b))
        };
        let (a, b) = (halves(&self.0), halves(&other.0));
        (a.0.ct_eq(&b.0) & a.1.ct_eq(&b.1)).into()
    }
}

/// Equality in constant time, like [`Digest::matches`].
impl PartialEq for Digest {
    fn eq(&self, other: &Digest) -> bool {
        self.matches(other)
    }
}

impl Eq for Digest {}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest(<redacted>)")
    }
}

/// Generates a token: 32 bytes from the operating system's generator, base64url
/// without padding (43 characters).
pub fn generate() -> Result<Secret, getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)?;
    let token = data_encoding::BASE64URL_NOPAD.encode(&raw);
    raw.fill(0);
    Ok(Secret::new(token))
}

/// Why a supplied token is refused at startup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Shorter than [`MIN_TOKEN_LEN`] bytes.
    TooShort,
    /// Contains a whitespace character.
    Whitespace,
    /// Contains a control character.
    Control,
    /// Longer than [`MAX_HELD_SECRET`] bytes.
    TooLong,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::TooShort => write!(f, "is shorter than {MIN_TOKEN_LEN} bytes"),
            TokenError::Whitespace => f.write_str("contains whitespace"),
            TokenError::Control => f.write_str("contains a control character"),
            TokenError::TooLong => write!(f, "is longer than {MAX_HELD_SECRET} bytes"),
        }
    }
}

/// Checks a token supplied by the operator (never a generated one: those are fine by
/// construction).
pub fn validate(token: &str) -> Result<(), TokenError> {
    for c in token.chars() {
        if c.is_control() {
            return Err(TokenError::Control);
        }
        if c.is_whitespace() {
            return Err(TokenError::Whitespace);
        }
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(TokenError::TooShort);
    }
    if token.len() > MAX_HELD_SECRET {
        return Err(TokenError::TooLong);
    }
    Ok(())
}

/// A `%` not followed by two hex digits somewhere in the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedQuery;

/// What a request presents as its credential.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No credential (no pair named `token`, or one with an empty value).
    Missing,
    /// Two or more pairs whose decoded name is `token`.
    Duplicate,
    /// Exactly one.
    One(Credential<'a>),
}

/// A presented credential, as it came. Nothing prints it: `Debug` shows
/// `Credential(<redacted>)`.
pub enum Credential<'a> {
    /// A form-urlencoded query value, known to decode.
    Encoded(&'a [u8]),
    /// Bytes as they are (an `Authorization` token).
    Raw(&'a [u8]),
    /// Bytes decoded from another form (a subprotocol entry).
    Decoded(Secret),
}

impl Credential<'_> {
    /// Feeds the credential's bytes to `sink` in pieces, decoding as it goes, without
    /// allocating.
    pub fn feed(&self, mut sink: impl FnMut(&[u8])) {
        match self {
            Credential::Raw(bytes) => sink(bytes),
            Credential::Decoded(secret) => sink(secret.expose()),
            Credential::Encoded(raw) if is_plain(raw) => sink(raw),
            Credential::Encoded(raw) => {
                let mut chunk = [0u8; 64];
                let mut filled = 0;
                // An `Encoded` credential was checked to decode when it was found.
                let _ = decode_each(raw, |b| {
                    chunk[filled] = b;
                    filled += 1;
                    if filled == chunk.len() {
                        sink(&chunk);
                        filled = 0;
                    }
                });
                sink(&chunk[..filled]);
                chunk.fill(0);
            }
        }
    }

    /// The credential's bytes, when they are in one piece already.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Credential::Raw(bytes) => Some(bytes),
            Credential::Decoded(secret) => Some(secret.expose()),
            Credential::Encoded(_) => None,
        }
    }

    /// The decoded credential, copied.
    pub fn to_secret(&self) -> Secret {
        let mut bytes = Vec::new();
        self.feed(|piece| bytes.extend_from_slice(piece));
        Secret::new(bytes)
    }

    /// Its SHA-256 digest.
    pub fn digest(&self) -> Digest {
        let mut hasher = Sha256::new();
        self.feed(|piece| hasher.update(piece));
        Digest(hasher.finalize().into())
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Equal decoded bytes. Not constant-time: for tests; the daemon compares
/// [`HeldSecret`]s and [`Digest`]s.
impl PartialEq for Credential<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.to_secret() == other.to_secret()
    }
}

impl Eq for Credential<'_> {}

/// Longest secret the daemon holds for [`HeldSecret::matches`], in bytes.
pub const MAX_HELD_SECRET: usize = 1024;

/// A secret held for comparison with presented credentials, in time that depends on
/// neither its content nor its length.
///
/// The secret sits at the start of a fixed [`MAX_HELD_SECRET`]-byte buffer. A
/// presented credential of `n` bytes is compared byte by byte with the first `n`
/// bytes of the buffer (wrapping past its end), every difference folded into one
/// accumulator, and the lengths compared separately; there is no early exit, so the
/// time depends only on `n`, which the client chose. A digest would hide the same
/// and cost far more: SHA-256 in software is thousands of instructions per request.
pub struct HeldSecret {
    padded: Box<[u8; MAX_HELD_SECRET]>,
    len: usize,
}

impl HeldSecret {
    /// Holds `secret`, which must be at most [`MAX_HELD_SECRET`] bytes.
    pub fn new(secret: &Secret) -> Option<HeldSecret> {
        let bytes = secret.expose();
        let mut padded = Box::new([0u8; MAX_HELD_SECRET]);
        padded.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(HeldSecret {
            padded,
            len: bytes.len(),
        })
    }

    /// Whether `credential` is the secret.
    pub fn matches(&self, credential: &Credential<'_>) -> bool {
        let mut diff = 0u8;
        let mut at = 0usize;
        credential.feed(|piece| {
            for &b in piece {
                diff |= b ^ self.padded[at % MAX_HELD_SECRET];
                at = at.wrapping_add(1);
            }
        });
        let diff = std::hint::black_box(diff);
        let same_len = (at as u64).ct_eq(&(self.len as u64));
        (diff.ct_eq(&0) & same_len).into()
    }
}

impl Drop for HeldSecret {
    fn drop(&mut self) {
        self.padded.fill(0);
        std::hint::black_box(&self.padded);
    }
}

impl fmt::Debug for HeldSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeldSecret(<redacted>)")
    }
}

/// The query of a request target: everything after the first `?`, or `""`.
pub fn query_of(target: &str) -> &str {
    match memchr::memchr(b'?', target.as_bytes()) {
        Some(i) => &target[i + 1..],
        None => "",
    }
}

/// The path of a request target: everything before the first `?`.
pub fn path_of(target: &str) -> &str {
    match memchr::memchr(b'?', target.as_bytes()) {
        Some(i) => &target[..i],
        None => target,
    }
}

/// Reads the credential from a query string (without the `?`).
///
/// Every pair is checked, so a malformed `%` anywhere is an error even after the
/// credential was found, and names are compared after decoding, so `tok%65n` is
/// `token`.
pub fn from_query(query: &[u8]) -> Result<Presented<'_>, MalformedQuery> {
    let mut scan = Scan::default();
    // One pass: pair boundaries, the first `=` of each pair, and whether its name or
    // value holds an escape at all (most do not, and need no decoding).
    for (i, &b) in query.iter().enumerate() {
        match QUERY_CLASS[usize::from(b)] {
            PLAIN => {}
            AMPERSAND => scan.pair(query, i)?,
            EQUALS if scan.equals.is_none() => scan.equals = Some(i),
            ESCAPE if scan.equals.is_none() => scan.escaped_name = true,
            ESCAPE => scan.escaped_value = true,
            _ => {}
        }
    }
    scan.pair(query, query.len())?;
    Ok(match (scan.count, scan.found) {
        (0, _) | (1, None) => Presented::Missing,
        (1, Some(credential)) => Presented::One(credential),
        _ => Presented::Duplicate,
    })
}

const PLAIN: u8 = 0;
const AMPERSAND: u8 = 1;
const EQUALS: u8 = 2;
const ESCAPE: u8 = 3;

/// What each byte means to [`from_query`].
const QUERY_CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    class[b'&' as usize] = AMPERSAND;
    class[b'=' as usize] = EQUALS;
    class[b'%' as usize] = ESCAPE;
    class[b'+' as usize] = ESCAPE;
    class
};

/// The state of [`from_query`]'s pass over a query.
#[derive(Default)]
struct Scan<'a> {
    start: usize,
    equals: Option<usize>,
    escaped_name: bool,
    escaped_value: bool,
    count: usize,
    found: Option<Credential<'a>>,
}

impl<'a> Scan<'a> {
    /// Ends the pair that runs to `end`.
    fn pair(&mut self, query: &'a [u8], end: usize) -> Result<(), MalformedQuery> {
        if end > self.start {
            let (name, value) = match self.equals {
                Some(e) => (&query[self.start..e], &query[e + 1..end]),
                None => (&query[self.start..end], &b""[..]),
            };
            let is_token = match self.escaped_name {
                false => name == PARAM,
                true => decodes_to(name, PARAM)?,
            };
            if self.escaped_value {
                decode_each(value, |_| ())?;
            }
            if is_token {
                self.count += 1;
                self.found = (!value.is_empty()).then_some(match self.escaped_value {
                    true => Credential::Encoded(value),
                    false => Credential::Raw(value),
                });
            }
        }
        self.start = end + 1;
        self.equals = None;
        self.escaped_name = false;
        self.escaped_value = false;
        Ok(())
    }
}

/// The decoded value of the one pair named `name` in a form-urlencoded text (a query
/// or a form body); `None` if there is none or more than one.
pub fn form_value(form: &[u8], name: &[u8]) -> Result<Option<Vec<u8>>, MalformedQuery> {
    let mut found = None;
    let mut count = 0;
    for pair in form.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let value = decode(v)?;
        if decodes_to(n, name)? {
            count += 1;
            found = Some(value);
        }
    }
    Ok(if count == 1 { found } else { None })
}

/// Decodes one form-urlencoded component.
pub fn decode(raw: &[u8]) -> Result<Vec<u8>, MalformedQuery> {
    let mut out = Vec::with_capacity(raw.len());
    decode_each(raw, |b| out.push(b))?;
    Ok(out)
}

/// Decodes a component the way a lenient reader would: a `%` that does not start an
/// escape stays as it is. For checking what a string could mean, never for
/// credentials.
pub fn decode_lossy(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escape = match raw[i] {
            b'%' => raw
                .get(i + 1)
                .and_then(|&h| hex(h))
                .zip(raw.get(i + 2).and_then(|&l| hex(l))),
            _ => None,
        };
        match (raw[i], escape) {
            (_, Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    out
}

/// Whether `haystack` contains `needle` (an empty needle is never found).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The target with every credential value replaced by [`REDACTED`], for logs.
///
/// A pair whose name cannot be decoded is replaced whole: it might be a credential
/// under a malformed name, and a log line is not the place to find out.
pub fn redact(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let mut out = String::with_capacity(target.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
        match decodes_to(name.as_bytes(), PARAM) {
            Ok(false) => out.push_str(pair),
            Ok(true) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            Err(MalformedQuery) => out.push_str(REDACTED),
        }
    }
    out
}

/// The decoded values of every non-empty pair whose decoded name is `token`: what a
/// request presents in its query, valid or not, to be kept out of logs and programs.
pub fn credential_values(query: &str) -> Vec<Vec<u8>> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && decode_lossy(name.as_bytes()) == PARAM)
        .map(|(_, value)| decode_lossy(value.as_bytes()))
        .filter(|value| !value.is_empty())
        .collect()
}

/// The query without its credential pairs (and without undecodable ones), for what a
/// backend is told about the request.
pub fn strip_credential(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for pair in query.split('&') {
        let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
        if pair.is_empty() || decodes_to(name.as_bytes(), PARAM) != Ok(false) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(pair);
    }
    out
}

/// Percent-encodes a value for a URL's query: every byte but RFC 3986's unreserved
/// characters becomes `%XX`.
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Whether `raw` decodes to exactly `expected`; decodes (and so checks) all of `raw`.
fn decodes_to(raw: &[u8], expected: &[u8]) -> Result<bool, MalformedQuery> {
    if is_plain(raw) {
        return Ok(raw == expected);
    }
    let mut at = 0usize;
    let mut equal = true;
    decode_each(raw, |b| {
        equal &= expected.get(at) == Some(&b);
        at += 1;
    })?;
    Ok(equal && at == expected.len())
}

/// Whether a component decodes to itself: no `%` and no `+`. The common case, and
/// much cheaper to see than to decode.
fn is_plain(raw: &[u8]) -> bool {
    !raw.iter().any(|&b| b == b'%' || b == b'+')
}

/// Calls `emit` with each decoded byte of a form-urlencoded component.
fn decode_each(raw: &[u8], mut emit: impl FnMut(u8)) -> Result<(), MalformedQuery> {
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => emit(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|&b| hex(b));
                let lo = raw.get(i + 2).and_then(|&b| hex(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => emit(hi << 4 | lo),
                    _ => return Err(MalformedQuery),
                }
                i += 2;
            }
            b => emit(b),
        }
        i += 1;
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &[u8]) -> Result<Presented<'_>, MalformedQuery> {
        Ok(Presented::One(Credential::Raw(v)))
    }

    macro_rules! extract {
        ($($name:ident: $query:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(from_query($query), $want);
            }
        )*};
    }

    extract! {
        plain: b"token=abc" => one(b"abc");
        among_others: b"a=1&token=abc&b=2" => one(b"abc");
        empty_query: b"" => Ok(Presented::Missing);
        other_names: b"tokens=abc&tok=abc&Token=abc" => Ok(Presented::Missing);
        empty_value: b"token=" => Ok(Presented::Missing);
        no_equals: b"token" => Ok(Presented::Missing);
        empty_pairs_skipped: b"&&token=abc&&" => one(b"abc");
        plus_is_space: b"token=a+b" => one(b"a b");
        encoded_plus_upper: b"token=a%2Bb" => one(b"a+b");
        encoded_plus_lower: b"token=a%2bb" => one(b"a+b");
        encoded_name: b"tok%65n=abc" => one(b"abc");
        encoded_name_upper_hex: b"%74%6F%6B%65%6E=abc" => one(b"abc");
        value_keeps_equals: b"token=a=b" => one(b"a=b");
        non_utf8_value: b"token=%ff%fe" => one(&[0xff, 0xfe]);
        raw_non_utf8: b"token=\xff" => one(&[0xff]);
        duplicate: b"token=a&token=b" => Ok(Presented::Duplicate);
        duplicate_same: b"token=a&token=a" => Ok(Presented::Duplicate);
        duplicate_by_decoded_name: b"token=a&tok%65n=b" => Ok(Presented::Duplicate);
        duplicate_with_empty: b"token=a&token" => Ok(Presented::Duplicate);
        bad_hex: b"token=%zz" => Err(MalformedQuery);
        truncated: b"token=%4" => Err(MalformedQuery);
        bare_percent: b"token=%" => Err(MalformedQuery);
        bad_in_other_pair: b"token=abc&x=%g0" => Err(MalformedQuery);
        bad_in_name: b"to%kken=abc" => Err(MalformedQuery);
        bad_before_duplicate: b"token=a&token=b&%" => Err(MalformedQuery);
        encoded_ampersand: b"token=a%26token%3Db" => one(b"a&token=b");
    }

    #[test]
    fn form_values() {
        assert_eq!(
            form_value(b"code=123&x=1", b"code"),
            Ok(Some(b"123".to_vec()))
        );
        assert_eq!(
            form_value(b"c%6Fde=1+2", b"code"),
            Ok(Some(b"1 2".to_vec()))
        );
        assert_eq!(form_value(b"x=1", b"code"), Ok(None));
        assert_eq!(form_value(b"code=1&code=2", b"code"), Ok(None));
        assert_eq!(form_value(b"code=%z", b"code"), Err(MalformedQuery));
    }

    #[test]
    fn query_and_path() {
        assert_eq!(query_of("/ws?token=a?b"), "token=a?b");
        assert_eq!(query_of("/ws"), "");
        assert_eq!(path_of("/ws?x"), "/ws");
        assert_eq!(path_of("/ws"), "/ws");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("/"), "/");
        assert_eq!(redact("/a?token=secretsecret&b=1"), "/a?token=REDACTED&b=1");
        assert_eq!(redact("/a?tok%65n=secret"), "/a?tok%65n=REDACTED");
        assert_eq!(redact("/a?tok%zzen=secret&b=1"), "/a?REDACTED&b=1");
        assert_eq!(
            redact("/a?token=x&token=y"),
            "/a?token=REDACTED&token=REDACTED"
        );
        assert_eq!(redact("/a?b=%zz"), "/a?b=%zz");
    }

    #[test]
    fn lossy_decoding() {
        assert_eq!(decode_lossy(b"a%2Db+c%zz%4"), b"a-b c%zz%4");
        assert_eq!(decode_lossy(b"%"), b"%");
        assert!(contains(b"abc", b"bc") && !contains(b"abc", b"") && !contains(b"a", b"ab"));
    }

    #[test]
    fn stripping() {
        assert_eq!(strip_credential("token=s&a=1&b=%20"), "a=1&b=%20");
        assert_eq!(strip_credential("a=1&tok%65n=s"), "a=1");
        assert_eq!(strip_credential("token=s"), "");
        assert_eq!(strip_credential(""), "");
        // Found by fuzzing: stripping keeps other pairs as they are, even malformed ones.
        assert_eq!(strip_credential("en=ba%"), "en=ba%");
    }

    #[test]
    fn credentials_feed_decoded_bytes() {
        let long = "%41".repeat(100);
        let cases: [(&[u8], Vec<u8>); 3] = [
            (b"a%2Bb+c", b"a+b c".to_vec()),
            (long.as_bytes(), vec![b'A'; 100]),
            (b"", Vec::new()),
        ];
        for (raw, want) in cases {
            let credential = Credential::Encoded(raw);
            assert_eq!(credential.to_secret().expose(), want.as_slice());
            assert!(credential.digest().matches(&Digest::of(&want)));
        }
        assert_eq!(
            format!("{:?}", Credential::Raw(b"hunter2")),
            "Credential(<redacted>)"
        );
    }

    #[test]
    fn held_secrets() {
        let held = HeldSecret::new(&Secret::new("s3cret-s3cret-s3cret")).unwrap();
        assert!(held.matches(&Credential::Raw(b"s3cret-s3cret-s3cret")));
        assert!(held.matches(&Credential::Encoded(b"s3cret%2Ds3cret-s3cret")));
        assert!(!held.matches(&Credential::Raw(b"s3cret-s3cret-s3crex")));
        assert!(!held.matches(&Credential::Raw(b"x3cret-s3cret-s3cret")));
        assert!(!held.matches(&Credential::Raw(b"s3cret-s3cret-s3cre")));
        assert!(!held.matches(&Credential::Raw(b"s3cret-s3cret-s3cret ")));
        assert!(!held.matches(&Credential::Raw(b"s3cret-s3cret-s3cret\0")));
        assert!(!held.matches(&Credential::Raw(b"")));
        // Longer than the buffer: it wraps, and the lengths differ.
        let mut long = b"s3cret-s3cret-s3cret".to_vec();
        long.resize(MAX_HELD_SECRET + 20, 0);
        long[MAX_HELD_SECRET..].copy_from_slice(b"s3cret-s3cret-s3cret");
        assert!(!held.matches(&Credential::Raw(&long)));
        assert!(!format!("{held:?}").contains("s3cret"));
        let max = Secret::new(vec![b'a'; MAX_HELD_SECRET]);
        assert!(
            HeldSecret::new(&max)
                .unwrap()
                .matches(&Credential::Raw(&[b'a'; MAX_HELD_SECRET]))
        );
        assert!(HeldSecret::new(&Secret::new(vec![b'a'; MAX_HELD_SECRET + 1])).is_none());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2hunter2hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", s.digest()).contains("hunter"));
    }

    #[test]
    fn digests_compare() {
        let a = Secret::new("0123456789abcdef");
        assert!(a.digest().matches(&Digest::of(b"0123456789abcdef")));
        assert!(!a.digest().matches(&Digest::of(b"0123456789abcdeF")));
        assert!(!a.digest().matches(&Digest::of(b"0123456789abcdef0")));
        assert!(!a.digest().matches(&Digest::of(b"")));
    }

    #[test]
    fn generated_tokens() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        assert!(
            a.expose()
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(validate(std::str::from_utf8(a.expose()).unwrap()), Ok(()));
    }

    #[test]
    fn supplied_tokens() {
        assert_eq!(validate("0123456789abcdef"), Ok(()));
        assert_eq!(validate("0123456789abcde"), Err(TokenError::TooShort));
        assert_eq!(validate(""), Err(TokenError::TooShort));
        assert_eq!(validate("0123456789 abcdef"), Err(TokenError::Whitespace));
        assert_eq!(
            validate("0123456789abcdef\u{a0}"),
            Err(TokenError::Whitespace)
        );
        assert_eq!(validate("0123456789abcdef\t"), Err(TokenError::Control));
        assert_eq!(validate("0123456789abcdef\x7f"), Err(TokenError::Control));
        assert_eq!(validate("ünïcödé-tökén-ok"), Ok(()));
        assert_eq!(validate(&"a".repeat(MAX_HELD_SECRET)), Ok(()));
        assert_eq!(
            validate(&"a".repeat(MAX_HELD_SECRET + 1)),
            Err(TokenError::TooLong)
        );
    }

    #[test]
    fn encoding_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert_eq!(decode(enc.as_bytes()).unwrap(), all);
        assert_eq!(percent_encode(b"a-b_c.d~e f"), "a-b_c.d~e%20f");
    }
}
