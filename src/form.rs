//! The query codec: request targets split into path and query, and queries read as
//! `application/x-www-form-urlencoded` (WHATWG URL, §5.1): pairs are separated by `&`,
//! a pair's name and value by its first `=`, `+` decodes to a space and `%XX` (upper
//! or lower case hex) to the byte `XX`. Unlike browsers we do not pass a stray `%`
//! through: it is a malformed request, because a request that could be read two ways
//! is never guessed at.
//!
//! Nothing here knows which parameter is a credential; [`crate::secret`] and
//! [`crate::redact`] do.

/// A `%` not followed by two hex digits somewhere in the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedQuery;

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

/// What a query holds under one name; see [`find`].
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// No pair of that name, or exactly one with an empty value.
    Missing,
    /// Two or more pairs of that name.
    Duplicate,
    /// Exactly one, with a non-empty value.
    One {
        /// The value as it came.
        raw: &'a [u8],
        /// Whether it holds `%` or `+`, so that it must be decoded to be read.
        escaped: bool,
    },
}

/// Finds the pairs whose decoded name is `name`, in one pass over the query.
///
/// Every pair is checked, so a malformed `%` anywhere is an error even after the
/// pair was found, and names are compared after decoding, so `tok%65n` is `token`.
pub fn find<'a>(query: &'a [u8], name: &[u8]) -> Result<Found<'a>, MalformedQuery> {
    let mut scan = Scan {
        name,
        start: 0,
        equals: None,
        escaped_name: false,
        escaped_value: false,
        count: 0,
        found: None,
    };
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
        (0, _) | (1, None) => Found::Missing,
        (1, Some((raw, escaped))) => Found::One { raw, escaped },
        _ => Found::Duplicate,
    })
}

const PLAIN: u8 = 0;
const AMPERSAND: u8 = 1;
const EQUALS: u8 = 2;
const ESCAPE: u8 = 3;

/// What each byte means to [`find`].
const QUERY_CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    class[b'&' as usize] = AMPERSAND;
    class[b'=' as usize] = EQUALS;
    class[b'%' as usize] = ESCAPE;
    class[b'+' as usize] = ESCAPE;
    class
};

/// The state of [`find`]'s pass over a query.
struct Scan<'a, 'n> {
    name: &'n [u8],
    start: usize,
    equals: Option<usize>,
    escaped_name: bool,
    escaped_value: bool,
    count: usize,
    /// The last value of the name, when not empty, and whether it is escaped.
    found: Option<(&'a [u8], bool)>,
}

impl<'a> Scan<'a, '_> {
    /// Ends the pair that runs to `end`.
    fn pair(&mut self, query: &'a [u8], end: usize) -> Result<(), MalformedQuery> {
        if end > self.start {
            let (name, value) = match self.equals {
                Some(e) => (&query[self.start..e], &query[e + 1..end]),
                None => (&query[self.start..end], &b""[..]),
            };
            let named = match self.escaped_name {
                false => name == self.name,
                true => decodes_to(name, self.name)?,
            };
            if self.escaped_value {
                decode_each(value, |_| ())?;
            }
            if named {
                self.count += 1;
                self.found = (!value.is_empty()).then_some((value, self.escaped_value));
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
        let (n, v) = split_pair(pair);
        let value = decode(v)?;
        if decodes_to(n, name)? {
            count += 1;
            found = Some(value);
        }
    }
    Ok(if count == 1 { found } else { None })
}

/// A pair's name and value: split at its first `=`; without one, all name.
pub fn split_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'=', pair) {
        Some(i) => (&pair[..i], &pair[i + 1..]),
        None => (pair, &b""[..]),
    }
}

/// The query without the pairs whose decoded name is `name`, nor the pairs whose name
/// does not decode (either might be one of them); every other pair as it was.
pub fn without(query: &str, name: &[u8]) -> String {
    let mut out = String::with_capacity(query.len());
    for pair in query.split('&') {
        let (n, _) = split_pair(pair.as_bytes());
        if pair.is_empty() || decodes_to(n, name) != Ok(false) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(pair);
    }
    out
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
        match (raw[i], escape_at(raw, i)) {
            (_, Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    out
}

/// The byte that `%XX` at `i` stands for, when `raw[i..]` starts with one.
pub fn escape_at(raw: &[u8], i: usize) -> Option<u8> {
    match raw.get(i..i + 3) {
        Some([b'%', hi, lo]) => Some(hex(*hi)? << 4 | hex(*lo)?),
        _ => None,
    }
}

/// Percent-encodes a value for a URL's query: every byte but RFC 3986's unreserved
/// characters becomes `%XX`.
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Whether [`percent_encode`] changes `bytes`: whether they hold anything but RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`), so that a query carries them in
/// another form than they are (a `+`, for one, reads as a space).
pub fn needs_encoding(bytes: &[u8]) -> bool {
    !bytes.iter().all(|&b| is_unreserved(b))
}

/// RFC 3986 §2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether `raw` decodes to exactly `expected`; decodes (and so checks) all of `raw`.
pub fn decodes_to(raw: &[u8], expected: &[u8]) -> Result<bool, MalformedQuery> {
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
pub fn is_plain(raw: &[u8]) -> bool {
    !raw.iter().any(|&b| b == b'%' || b == b'+')
}

/// Calls `emit` with each decoded byte of a form-urlencoded component.
pub fn decode_each(raw: &[u8], mut emit: impl FnMut(u8)) -> Result<(), MalformedQuery> {
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => emit(b' '),
            b'%' => {
                emit(escape_at(raw, i).ok_or(MalformedQuery)?);
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
    fn lossy_decoding() {
        assert_eq!(decode_lossy(b"a%2Db+c%zz%4"), b"a-b c%zz%4");
        assert_eq!(decode_lossy(b"%"), b"%");
    }

    #[test]
    fn stripping() {
        let strip_credential = |q| without(q, b"token");
        assert_eq!(strip_credential("token=s&a=1&b=%20"), "a=1&b=%20");
        assert_eq!(strip_credential("a=1&tok%65n=s"), "a=1");
        assert_eq!(strip_credential("token=s"), "");
        assert_eq!(strip_credential(""), "");
        // Found by fuzzing: stripping keeps other pairs as they are, even malformed ones.
        assert_eq!(strip_credential("en=ba%"), "en=ba%");
    }

    #[test]
    fn encoding_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert_eq!(decode(enc.as_bytes()).unwrap(), all);
        assert_eq!(percent_encode(b"a-b_c.d~e f"), "a-b_c.d~e%20f");
        // Exactly when the encoding differs from the bytes.
        for bytes in [
            &b"aZ09-_.~"[..],
            b"",
            b"a+b",
            b"a/b",
            b"a=b",
            "é".as_bytes(),
        ] {
            assert_eq!(
                needs_encoding(bytes),
                percent_encode(bytes).as_bytes() != bytes
            );
        }
        assert!(needs_encoding(b"k8+Yz/Qw=") && !needs_encoding(b"Kj8vN2Qw-_"));
    }
}
