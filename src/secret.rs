//! Secrets: the [`Secret`] type that never prints itself, digests, generation and
//! validation of tokens, and the credential a request presents ([`Credential`]), with
//! its comparison against what the daemon holds in time that hides content and length.
//!
//! Whether some text *holds* a secret is not decided here but in [`crate::redact`].

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::form::{self, Found, MalformedQuery};

/// The name of the query parameter that carries the credential.
pub const PARAM: &[u8] = b"token";

/// Shortest configured token accepted, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;

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
            Credential::Encoded(raw) if form::is_plain(raw) => sink(raw),
            Credential::Encoded(raw) => {
                let mut chunk = [0u8; 64];
                let mut filled = 0;
                // An `Encoded` credential was checked to decode when it was found.
                let _ = form::decode_each(raw, |b| {
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

/// Reads the credential from a query string (without the `?`): every pair whose decoded
/// name is [`PARAM`] counts, and a malformed `%` anywhere is an error (see
/// `form::find`).
pub fn from_query(query: &[u8]) -> Result<Presented<'_>, MalformedQuery> {
    Ok(match form::find(query, PARAM)? {
        Found::Missing => Presented::Missing,
        Found::Duplicate => Presented::Duplicate,
        Found::One { raw, escaped: true } => Presented::One(Credential::Encoded(raw)),
        Found::One {
            raw,
            escaped: false,
        } => Presented::One(Credential::Raw(raw)),
    })
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
}
