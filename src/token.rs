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

    /// A digest computed elsewhere (`--auth-token-sha256`).
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// Whether two digests are equal, in time independent of their content.
    pub fn matches(&self, other: &Digest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

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
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::TooShort => write!(f, "is shorter than {MIN_TOKEN_LEN} bytes"),
            TokenError::Whitespace => f.write_str("contains whitespace"),
            TokenError::Control => f.write_str("contains a control character"),
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
    Ok(())
}

/// A `%` not followed by two hex digits somewhere in the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedQuery;

/// What a query says about the credential.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// No pair named `token`, or one with an empty value.
    Missing,
    /// Two or more pairs whose decoded name is `token`.
    Duplicate,
    /// Exactly one, with a non-empty decoded value.
    One(Secret),
}

/// The query of a request target: everything after the first `?`, or `""`.
pub fn query_of(target: &str) -> &str {
    target.split_once('?').map_or("", |(_, q)| q)
}

/// The path of a request target: everything before the first `?`.
pub fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

/// Reads the credential from a query string (without the `?`).
///
/// Every pair is checked, so a malformed `%` anywhere is an error even after the
/// credential was found, and names are compared after decoding, so `tok%65n` is
/// `token`.
pub fn from_query(query: &[u8]) -> Result<Presented, MalformedQuery> {
    let mut count = 0usize;
    let mut value: &[u8] = b"";
    for (name, raw_value) in pairs(query) {
        let is_token = decodes_to(name, PARAM)?;
        decode_each(raw_value, |_| ())?;
        if is_token {
            count += 1;
            value = raw_value;
        }
    }
    Ok(match count {
        0 => Presented::Missing,
        1 if value.is_empty() => Presented::Missing,
        1 => Presented::One(Secret::new(decode(value)?)),
        _ => Presented::Duplicate,
    })
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

/// The non-empty `name=value` pairs of a query (`value` is empty without `=`).
fn pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        })
}

/// Whether `raw` decodes to exactly `expected`; decodes (and so checks) all of `raw`.
fn decodes_to(raw: &[u8], expected: &[u8]) -> Result<bool, MalformedQuery> {
    let mut at = 0usize;
    let mut equal = true;
    decode_each(raw, |b| {
        equal &= expected.get(at) == Some(&b);
        at += 1;
    })?;
    Ok(equal && at == expected.len())
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

    fn one(v: &[u8]) -> Result<Presented, MalformedQuery> {
        Ok(Presented::One(Secret::new(v)))
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
    }

    #[test]
    fn encoding_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert_eq!(decode(enc.as_bytes()).unwrap(), all);
        assert_eq!(percent_encode(b"a-b_c.d~e f"), "a-b_c.d~e%20f");
    }
}
