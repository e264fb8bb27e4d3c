//! The one place that decides whether bytes hold a secret. The log, a program's
//! environment, its stderr lines and every `Debug` of a request ask here, and nowhere
//! else decides.
//!
//! The secrets in force are the daemon's own ([`Held`]: the configured token or JWT key,
//! and the pairing code of the moment) and, for one connection, every credential its
//! request presented ([`presented`]), valid or not. Text holds a secret when a secret
//! appears in it in any form a client or a tool produces:
//!
//! - as it is, or as the base64 (standard or url-safe, without padding) that a
//!   subprotocol entry carries it in;
//! - percent-decoded, with upper- or lower-case hex, and form-decoded (`+` as a space):
//!   spaces and pluses are one byte to this module, so both readings are one;
//! - decoded again and again, as long as decoding changes the text: a URL passed as a
//!   parameter of another URL, which is passed again, and so on. At most
//!   [`MAX_DECODINGS`] times: text that still decodes further is nested deeper than any
//!   tool nests, and is taken to hold a secret (so it cannot be made slow, nor used to
//!   hide one).
//!
//! Each decoding is no longer than the text before it, and each is searched once per
//! secret form in linear time, so the cost per byte of text is bounded by a constant.
//! Finding a secret where there is none only hides a harmless string; the answer leans
//! that way (a secret containing a space also matches the same text with a `+`).

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use crate::bearer;
use crate::form;
use crate::secret::{PARAM, Secret};
use httparse::Header;

/// What replaces a secret in anything printed.
pub const REDACTED: &str = "REDACTED";

/// Header fields that carry credentials (cookies may): their values are never printed
/// and never passed on to a backend.
pub const SENSITIVE_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// How many times text is decoded while looking for a secret in it.
pub const MAX_DECODINGS: usize = 8;

/// A set of secrets, each kept in every form it is looked for.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Canonical forms (spaces as `+`), none empty.
    forms: Vec<Secret>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} forms, <redacted>)", self.forms.len())
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// These secrets.
    pub fn of<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Secrets {
        let mut set = Secrets::new();
        for secret in secrets {
            set.add(secret.expose());
        }
        set
    }

    /// Adds a secret (an empty one is nothing to hide).
    pub fn add(&mut self, secret: &[u8]) {
        if secret.is_empty() {
            return;
        }
        let encodings = [data_encoding::BASE64URL_NOPAD, data_encoding::BASE64_NOPAD];
        let forms = std::iter::once(secret.to_vec())
            .chain(encodings.iter().map(|e| e.encode(secret).into_bytes()));
        for form in forms {
            let form = Secret::new(canonical(&form).into_owned());
            if !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for form in &other.forms {
            if !self.forms.contains(form) {
                self.forms.push(form.clone());
            }
        }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Whether `bytes` hold one of these secrets, in any form (see the module docs).
    pub fn holds(&self, bytes: &[u8]) -> bool {
        !self.is_empty() && look(bytes, |level| self.found_in(level), &mut 0)
    }

    /// How many bytes [`Secrets::holds`] examines for `bytes`: at most
    /// `(MAX_DECODINGS + 1) × bytes.len()`, whatever the bytes (for tests and fuzzing).
    pub fn work(&self, bytes: &[u8]) -> usize {
        let mut work = 0;
        look(bytes, |level| self.found_in(level), &mut work);
        work
    }

    fn found_in(&self, level: &[u8]) -> bool {
        self.forms
            .iter()
            .any(|form| memchr::memmem::find(level, form.expose()).is_some())
    }
}

/// Whether `found` is true of `bytes` (canonical) or of one of its decodings, adding
/// the length of each to `work`.
fn look(bytes: &[u8], mut found: impl FnMut(&[u8]) -> bool, work: &mut usize) -> bool {
    let mut level = canonical(bytes);
    for decoded in 0.. {
        *work += level.len();
        if found(&level) {
            return true;
        }
        let Some(next) = decode_once(&level) else {
            return false;
        };
        if decoded == MAX_DECODINGS {
            // Nested deeper than any tool nests: fail closed.
            return true;
        }
        level = Cow::Owned(canonical(&next).into_owned());
    }
    true
}

/// Spaces as `+`: the two readings of a form-encoded `+` made one.
fn canonical(bytes: &[u8]) -> Cow<'_, [u8]> {
    match memchr::memchr(b' ', bytes) {
        None => Cow::Borrowed(bytes),
        Some(_) => Cow::Owned(
            bytes
                .iter()
                .map(|&b| if b == b' ' { b'+' } else { b })
                .collect(),
        ),
    }
}

/// One percent-decoding (`%XX` in either case; a `%` that starts no escape stays), or
/// `None` when it would change nothing.
fn decode_once(bytes: &[u8]) -> Option<Vec<u8>> {
    let first = memchr::memchr_iter(b'%', bytes).find(|&i| form::escape_at(bytes, i).is_some())?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        match form::escape_at(bytes, i) {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The daemon's own secrets: those fixed at startup (the configured token, a JWT key)
/// and those of the moment (the pairing code), which whoever changes them replaces.
#[derive(Debug, Default)]
pub struct Held {
    fixed: Secrets,
    current: RwLock<Secrets>,
}

impl Held {
    /// Holds `fixed` for the daemon's life.
    pub fn new(fixed: Secrets) -> Held {
        Held {
            fixed,
            current: RwLock::default(),
        }
    }

    /// Replaces the secrets of the moment.
    pub fn replace_current(&self, secrets: Secrets) {
        match self.current.write() {
            Ok(mut current) => *current = secrets,
            Err(poisoned) => *poisoned.into_inner() = secrets,
        }
    }

    /// Whether `bytes` hold one of the daemon's secrets.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        if self.fixed.is_empty() && current.is_empty() {
            return false;
        }
        let found = |level: &[u8]| self.fixed.found_in(level) || current.found_in(level);
        look(bytes, found, &mut 0)
    }

    /// The daemon's secrets now, and `more`: what one connection must hide.
    pub fn with(&self, more: &Secrets) -> Secrets {
        let mut all = self.fixed.clone();
        all.extend(&self.current.read().unwrap_or_else(|p| p.into_inner()));
        all.extend(more);
        all
    }
}

/// Every credential a request presents, in its query or its headers, valid or not
/// (several, malformed, in a mode that does not read that place): what its own log
/// lines and its backend must not see.
pub fn presented(target: &str, headers: &[Header<'_>]) -> Secrets {
    let mut secrets = Secrets::new();
    for value in credential_values(form::query_of(target)) {
        secrets.add(&value);
    }
    for token in bearer::presented(headers) {
        secrets.add(&token);
    }
    secrets
}

/// The decoded values of every non-empty pair whose decoded name is `token`.
fn credential_values(query: &str) -> Vec<Vec<u8>> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && form::decode_lossy(name.as_bytes()) == PARAM)
        .map(|(_, value)| form::decode_lossy(value.as_bytes()))
        .filter(|value| !value.is_empty())
        .collect()
}

/// A request target (or a URL) as it may be printed: every credential value replaced
/// by [`REDACTED`] (a pair whose name cannot be decoded is replaced whole: it might be
/// a credential under a malformed name), and the whole target replaced when one of
/// `secrets` still hides in it (another parameter, the path, encoded). `None` for a
/// target that is not visible ASCII: it is not printed at all.
pub fn target(target: &str, secrets: &Secrets) -> Option<String> {
    if !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let redacted = pairs(target);
    if secrets.holds(redacted.as_bytes()) {
        return Some(REDACTED.to_owned());
    }
    Some(redacted)
}

/// The target with every credential pair's value replaced by [`REDACTED`].
pub fn pairs(target: &str) -> String {
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
        match form::decodes_to(name.as_bytes(), PARAM) {
            Ok(false) => out.push_str(pair),
            Ok(true) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            Err(form::MalformedQuery) => out.push_str(REDACTED),
        }
    }
    out
}

/// Whether a header field's values are never shown (see [`SENSITIVE_HEADERS`]).
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
}

/// A header field's value as it may be printed or passed on to a backend: `None` for
/// a [sensitive](SENSITIVE_HEADERS) field, or a value that holds one of `secrets`;
/// `Sec-WebSocket-Protocol` without wsgate's credential entries (`None` when nothing
/// else was offered); `Referer` with its credential pairs redacted like a target
/// (`None` when it is not visible ASCII).
pub fn header_value<'v>(name: &str, value: &'v [u8], secrets: &Secrets) -> Option<Cow<'v, [u8]>> {
    if is_sensitive(name) {
        return None;
    }
    let value = if name.eq_ignore_ascii_case("sec-websocket-protocol") {
        Cow::Owned(bearer::without_credential(value))
    } else if name.eq_ignore_ascii_case("referer") {
        let text = std::str::from_utf8(value).ok()?;
        Cow::Owned(target(text, &Secrets::new())?.into_bytes())
    } else {
        Cow::Borrowed(value)
    };
    if value.is_empty() || secrets.holds(&value) {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "s3cr3t+t0ken%2f/value";

    fn secrets(list: &[&str]) -> Secrets {
        let mut s = Secrets::new();
        for secret in list {
            s.add(secret.as_bytes());
        }
        s
    }

    /// Percent-encodes every byte that is not unreserved, in upper or lower case hex.
    fn encode(bytes: &[u8], lower: bool) -> String {
        let upper = form::percent_encode(bytes);
        if lower { lower_hex(&upper) } else { upper }
    }

    fn lower_hex(text: &str) -> String {
        let mut out = String::new();
        let mut hex_left = 0;
        for c in text.chars() {
            if c == '%' {
                hex_left = 2;
                out.push(c);
            } else if hex_left > 0 {
                hex_left -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Form-encodes: like `encode`, with spaces as `+`.
    fn form_encode(bytes: &[u8]) -> String {
        form::percent_encode(bytes).replace("%20", "+")
    }

    macro_rules! holds {
        ($($name:ident: $secrets:expr, $text:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let text: String = $text;
                assert_eq!(secrets($secrets).holds(text.as_bytes()), $want, "{text}");
            }
        )*};
    }

    holds! {
        raw: &[S], format!("/x?a={S}") => true;
        in_the_path: &[S], format!("/{S}/x") => true;
        form_decoded_plus_as_space: &[S], format!("/x?a={}", S.replace('+', " ")) => true;
        plus_for_a_space: &["a secret with spaces"], "/?a=a+secret+with+spaces".into() => true;
        percent_encoded_upper: &[S], format!("/x?a={}", encode(S.as_bytes(), false)) => true;
        percent_encoded_lower: &[S], format!("/x?a={}", encode(S.as_bytes(), true)) => true;
        form_encoded: &["a secret with spaces"], format!("/?n={}", form_encode(b"a secret with spaces")) => true;
        twice: &[S], format!("/?next={}", encode(encode(S.as_bytes(), false).as_bytes(), false)) => true;
        thrice_mixed_case: &[S], format!("/?r={}", encode(encode(encode(S.as_bytes(), true).as_bytes(), false).as_bytes(), true)) => true;
        inside_an_encoded_url: &[S], format!("/?next={}", encode(format!("ws://h/?token={}", encode(S.as_bytes(), false)).as_bytes(), false)) => true;
        base64url: &["s3cr3t-t0ken-value?"], format!("/?p=wsgate.bearer.{}", data_encoding::BASE64URL_NOPAD.encode(b"s3cr3t-t0ken-value?")) => true;
        base64: &["s3cr3t-t0ken-value?"], format!("x {}", data_encoding::BASE64.encode(b"s3cr3t-t0ken-value?")) => true;
        a_percent_in_the_secret: &["abc%41def-0123456789"], "/?x=abc%41def-0123456789".into() => true;
        a_percent_in_the_secret_encoded: &["abc%41def-0123456789"], "/?x=abc%2541def-0123456789".into() => true;
        another_secret: &["other-secret-value", S], format!("{S}") => true;
        not_there: &[S], "/x?a=s3cr3t+t0ken".into() => false;
        decodes_to_something_else: &[S], "/x?a=%73%33cr3t".into() => false;
        stray_percent_signs: &[S], "/x?a=100%&b=%zz%4".into() => false;
        nothing_to_hide: &[], format!("/{S}") => false;
        // `%` then `25` k times then `41` decodes k + 1 times.
        too_deep: &[S], format!("/?x=%{}41", "25".repeat(MAX_DECODINGS)) => true;
        deep_but_not_too_deep: &[S], format!("/?x=%{}41", "25".repeat(MAX_DECODINGS - 1)) => false;
    }

    #[test]
    fn empty_secrets_are_ignored() {
        let mut s = Secrets::new();
        s.add(b"");
        assert!(s.is_empty() && !s.holds(b"anything"));
    }

    #[test]
    fn every_nesting_of_every_encoding_is_found() {
        type Encoder = fn(&[u8]) -> String;
        let encoders: [Encoder; 4] = [
            |b| String::from_utf8_lossy(b).into_owned(),
            |b| encode(b, false),
            |b| encode(b, true),
            form_encode,
        ];
        for secret in [S, "plain-secret-0123456789", "with space+plus%25"] {
            let s = secrets(&[secret]);
            for a in encoders {
                for b in encoders {
                    for c in encoders {
                        let text = format!(
                            "/p?x=1&next={}&y=2",
                            c(b(a(secret.as_bytes()).as_bytes()).as_bytes())
                        );
                        assert!(s.holds(text.as_bytes()), "{secret:?} in {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn work_grows_linearly() {
        let s = secrets(&[S]);
        for unit in ["%25", "a", "%2541", "+%", "%%%"] {
            for n in [10, 100, 1000, 10_000] {
                let text = unit.repeat(n);
                let work = s.work(text.as_bytes());
                assert!(
                    work <= (MAX_DECODINGS + 1) * text.len(),
                    "{unit} × {n}: {work}"
                );
            }
        }
    }

    #[test]
    fn held_secrets_of_the_moment() {
        let held = Held::new(secrets(&["fixed-secret-value"]));
        assert!(held.holds(b"x fixed-secret-value"));
        assert!(!held.holds(b"123456"));
        held.replace_current(secrets(&["123456"]));
        assert!(held.holds(b"code=123456"));
        held.replace_current(secrets(&["654321"]));
        assert!(!held.holds(b"code=123456"));
        let connection = held.with(&secrets(&["presented-value"]));
        for text in ["fixed-secret-value", "654321", "presented-value"] {
            assert!(connection.holds(text.as_bytes()), "{text}");
        }
        assert!(!Held::default().holds(b"anything"));
        let printed = format!("{held:?} {connection:?}");
        assert!(
            !printed.contains("secret") && !printed.contains("654321"),
            "{printed}"
        );
    }

    #[test]
    fn redaction() {
        let redact = pairs;
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
    fn log_targets() {
        let s = Secrets::of(&[Secret::new("sekrit-sekrit")]);
        let t = |t| target(t, &s);
        assert_eq!(t("/?token=abc").as_deref(), Some("/?token=REDACTED"));
        assert_eq!(
            t("/?token=sekrit-sekrit").as_deref(),
            Some("/?token=REDACTED")
        );
        assert_eq!(t("/?x=sekrit%2Dsekrit").as_deref(), Some("REDACTED"));
        assert_eq!(t("/sekrit-sekrit").as_deref(), Some("REDACTED"));
        assert_eq!(t("/\u{1}?token=abc"), None);
    }

    #[test]
    fn everything_presented_is_hidden() {
        let headers = [
            Header {
                name: "Authorization",
                value: b"Bearer bearer+token%2Fvalue",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"chat, wsgate.bearer.c3VicHJvdG9jb2wtdG9rZW4",
            },
        ];
        let s = presented("/?token=query%2Btoken&tok%65n=second", &headers);
        for text in [
            "query+token",
            "query%2Btoken",
            "second",
            "bearer+token%2Fvalue",
            "bearer%2Btoken%252Fvalue",
            "subprotocol-token",
            "c3VicHJvdG9jb2wtdG9rZW4",
        ] {
            assert!(s.holds(text.as_bytes()), "{text}");
        }
        assert!(!s.holds(b"chat"));
    }

    #[test]
    fn header_values() {
        let s = secrets(&[S]);
        let shown = |name, value: &str| {
            header_value(name, value.as_bytes(), &s)
                .map(|v| String::from_utf8(v.into_owned()).unwrap())
        };
        assert_eq!(shown("Authorization", "Bearer x"), None);
        assert_eq!(shown("cookie", "a=b"), None);
        assert_eq!(shown("Proxy-Authorization", "Basic eA=="), None);
        assert_eq!(shown("User-Agent", "test/1").as_deref(), Some("test/1"));
        assert_eq!(shown("X-Copy", &format!("prefix {S}")), None);
        assert_eq!(
            shown("Sec-WebSocket-Protocol", "chat, wsgate.bearer.dG9r, v2").as_deref(),
            Some("chat, v2")
        );
        assert_eq!(shown("Sec-WebSocket-Protocol", "wsgate.bearer.dG9r"), None);
        assert_eq!(
            shown("Referer", "http://localhost/page?token=abc&x=1").as_deref(),
            Some("http://localhost/page?token=REDACTED&x=1")
        );
        let twice = encode(encode(S.as_bytes(), false).as_bytes(), false);
        assert_eq!(
            shown("Referer", &format!("http://localhost/?next={twice}")),
            None
        );
        assert_eq!(shown("X-Empty", ""), None);
    }
}
