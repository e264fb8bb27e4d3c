//! The one place that decides whether bytes hold a secret. The log, a program's
//! environment, its stderr lines and every `Debug` of a request ask here, and nowhere
//! else decides.
//!
//! The secrets in force are the daemon's own (the configured token or JWT key) and, for
//! one connection, every credential its request presented ([`presented`]), valid or
//! not. The pairing code is not among them: it is never written anywhere but for the
//! operator, and a 6-digit code must not be looked for in text a client sends, because
//! whether it was found shows in the time the answer takes, and a million codes can be
//! bisected with that in a few hundred requests (pairing's rate limit counts only
//! attempts).
//!
//! Text holds a secret when a secret appears in it in any form a client or a tool
//! produces:
//!
//! - as it is; as it reads once its own escapes are decoded (a secret holding `%25` is
//!   decoded along with the text around it); or as base64, standard or url-safe, at
//!   any alignment inside longer encoded data (a subprotocol entry, `Basic
//!   base64(user:token)`), see [`Secrets::add`];
//! - percent-decoded, with upper- or lower-case hex, and form-decoded (`+` as a space):
//!   spaces and pluses are one byte to this module, so both readings are one; and with
//!   the escapes of a JSON string undone (`\/`, `\\`, `\"`, `\u00XX`), as a program
//!   logging JSON on its stderr writes them;
//! - decoded again and again, as long as decoding changes the text: a URL passed as a
//!   parameter of another URL, which is passed again, and so on. At most
//!   [`MAX_DECODINGS`] times: text that still decodes further is nested deeper than any
//!   tool nests, and is taken to hold a secret (so it cannot be made slow, nor used to
//!   hide one).
//!
//! Each decoding is no longer than the text before it, and each is searched in one
//! pass per length of form, so the cost per byte of text is bounded; a request that
//! presents more than [`MAX_PRESENTED`] credentials holds a secret in every text, so
//! the number of lengths is bounded too. The search takes the same time whatever the
//! secrets are: a client that sends text to be searched (a request target, a header)
//! and times the answer learns nothing of them (see [`Form`]). Finding a secret where
//! there is none only hides a harmless string; the answer leans that way (a secret
//! containing a space also matches the same text with a `+`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

use subtle::ConstantTimeEq;

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
pub const MAX_DECODINGS: usize = 4;

/// The most credentials one request may present and still be searched for: a request
/// with more holds a secret in every text (see [`presented`]), so that the cost of
/// searching stays bounded whatever a client sends.
pub const MAX_PRESENTED: usize = 8;

/// The fewest base64 characters of a secret looked for (see [`Secrets::add`]).
pub const MIN_BASE64: usize = 8;

/// A set of secrets, each kept in every form it is looked for.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Sorted by length, which is all that is ever compared of them.
    forms: Vec<Form>,
    /// More secrets than are searched for: every text holds one.
    everywhere: bool,
    /// The forms of each length.
    groups: Vec<Group>,
}

/// The forms of one length: `forms[range]`, and what a byte leaving a window of that
/// length weighs in its hash (`base^len`).
#[derive(Clone)]
struct Group {
    len: usize,
    top: u64,
    range: std::ops::Range<usize>,
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

    /// Adds a secret (an empty one is nothing to hide), as it is and in base64.
    ///
    /// In base64 (standard or url-safe) a secret may sit at any of three alignments
    /// inside longer encoded data (`Basic base64(user:token)`, say): at each, only the
    /// characters its own bits decide are looked for, the ones before and after it
    /// depending on its neighbours. So a secret too short to leave [`MIN_BASE64`] such
    /// characters is looked for only as it is.
    pub fn add(&mut self, secret: &[u8]) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![canonical(secret).into_owned()];
        // A secret holding escapes itself (`%25`, `\"`) is decoded with its wrapping
        // when text is decoded: its own decodings are forms of it too. A wrapping of
        // one kind (JSON's `\\`) shields the secret's escapes of that kind from the
        // decoding that undoes it, but not those of the other kind (`%41`): so each
        // decoding is taken whole and of each kind alone, up to MAX_DECODINGS deep.
        let mut frontier = vec![forms[0].clone()];
        for _ in 0..MAX_DECODINGS {
            let mut next = Vec::new();
            for form in &frontier {
                for kind in [Kind::Both, Kind::Percent, Kind::Json] {
                    let Some(decoded) = decode_kind(form, kind) else {
                        continue;
                    };
                    let decoded = canonical(&decoded).into_owned();
                    if !decoded.is_empty() && !forms.contains(&decoded) {
                        forms.push(decoded.clone());
                        next.push(decoded);
                    }
                }
            }
            frontier = next;
        }
        // Characters `ceil(8·before / 6)` to `floor(8·(before + len) / 6)` of the
        // encoding hold bits of the secret only; all three alignments are cut to the
        // length of the shortest, so they share one pass over the text.
        let base64_len = (0..3usize)
            .map(|before| 8 * (before + secret.len()) / 6 - (8 * before).div_ceil(6))
            .min()
            .unwrap_or(0);
        let encodings = [data_encoding::BASE64URL_NOPAD, data_encoding::BASE64_NOPAD];
        for encoding in encodings.iter().filter(|_| base64_len >= MIN_BASE64) {
            for before in 0..3usize {
                let first = (8 * before).div_ceil(6);
                let mut padded = vec![0u8; before];
                padded.extend_from_slice(secret);
                let text = encoding.encode(&padded).into_bytes();
                let form = text[first..first + base64_len].to_vec();
                // The secret's own forms only are compared with each other.
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
        }
        self.forms.extend(forms.into_iter().map(Form::new));
        self.regroup();
    }

    /// Sorts the forms by length and finds the groups of each length.
    fn regroup(&mut self) {
        self.forms.sort_by_key(Form::len);
        self.groups.clear();
        let mut start = 0;
        for same in self.forms.chunk_by(|a, b| a.len() == b.len()) {
            let len = same[0].len();
            let top = hash_base().wrapping_pow(len as u32);
            self.groups.push(Group {
                len,
                top,
                range: start..start + same.len(),
            });
            start += same.len();
        }
    }

    /// These secrets and `other`'s. Nothing is compared: comparing a presented
    /// credential with a held secret is for [`crate::secret`] to do, in constant time.
    pub fn with(&self, other: &Secrets) -> Secrets {
        let mut all = Secrets {
            forms: self.forms.clone(),
            everywhere: self.everywhere || other.everywhere,
            groups: Vec::new(),
        };
        all.forms.extend(other.forms.iter().cloned());
        all.regroup();
        all
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty() && !self.everywhere
    }

    /// Whether `bytes` hold one of these secrets, in any form (see the module docs).
    pub fn holds(&self, bytes: &[u8]) -> bool {
        if self.everywhere {
            return true;
        }
        !self.is_empty() && look(bytes, self.shortest(), |level| self.found_in(level), &mut 0)
    }

    /// How many bytes [`Secrets::holds`] examines for `bytes`: at most
    /// `(MAX_DECODINGS + 1) × bytes.len()`, whatever the bytes (for tests and fuzzing).
    pub fn work(&self, bytes: &[u8]) -> usize {
        let mut work = 0;
        look(
            bytes,
            self.shortest(),
            |level| self.found_in(level),
            &mut work,
        );
        work
    }

    /// The length of the shortest form looked for.
    fn shortest(&self) -> usize {
        self.forms.first().map_or(0, Form::len)
    }

    /// The length of the longest form looked for.
    fn longest(&self) -> usize {
        self.forms.last().map_or(0, Form::len)
    }

    /// Whether one of the forms is in `text`: one pass over it for each length of
    /// form, keeping a rolling hash of the window of that length. Every form is looked
    /// for, found or not; only a window whose hash is a form's is compared with it, in
    /// constant time.
    fn found_in(&self, text: &[u8]) -> bool {
        let base = hash_base();
        let mut found = subtle::Choice::from(0);
        for group in &self.groups {
            let len = group.len;
            if text.len() < len {
                continue;
            }
            let forms = &self.forms[group.range.clone()];
            let mut hash = 0u64;
            for &b in &text[..len] {
                hash = hash.wrapping_mul(base).wrapping_add(u64::from(b));
            }
            let mut start = 0;
            loop {
                if forms.iter().any(|form| form.hash == hash) {
                    let window = &text[start..start + len];
                    for form in forms {
                        found |= window.ct_eq(form.bytes.expose());
                    }
                }
                let Some(&new) = text.get(start + len) else {
                    break;
                };
                let gone = u64::from(text[start]);
                hash = hash
                    .wrapping_mul(base)
                    .wrapping_add(u64::from(new))
                    .wrapping_sub(gone.wrapping_mul(group.top));
                start += 1;
            }
        }
        found.into()
    }
}

/// One form of a secret. Text is searched for it in time that depends on the text's
/// length and the forms' lengths, never on their bytes (see [`Secrets::found_in`]): a
/// rolling polynomial hash (multiplications and additions, no branches on the bytes)
/// under a base drawn at random when the process starts, so a client cannot make its
/// windows collide with an unknown form's hash. A general substring search would skip
/// or stop early depending on where the text agrees with the form: a client repeating
/// a guessed prefix of the token through an 8 KiB target could time that.
#[derive(Clone)]
struct Form {
    bytes: Secret,
    /// The form's hash.
    hash: u64,
}

impl Form {
    fn new(bytes: Vec<u8>) -> Form {
        let base = hash_base();
        let hash = bytes.iter().fold(0u64, |h, &b| {
            h.wrapping_mul(base).wrapping_add(u64::from(b))
        });
        Form {
            bytes: Secret::new(bytes),
            hash,
        }
    }

    fn len(&self) -> usize {
        self.bytes.expose().len()
    }
}

/// The base of the rolling hash: odd, drawn once per process.
fn hash_base() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    *BASE.get_or_init(|| {
        // Without the generator the search is still branch-free; only its hashes can
        // then be predicted.
        getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15) | 1
    })
}

/// Whether `found` is true of `bytes` (canonical) or of one of its decodings, adding
/// the length of each to `work`. A decoding shorter than `shortest` cannot hold a form,
/// nor can the ones after it (each is shorter still).
fn look(
    bytes: &[u8],
    shortest: usize,
    mut found: impl FnMut(&[u8]) -> bool,
    work: &mut usize,
) -> bool {
    let mut level = canonical(bytes);
    for decoded in 0.. {
        if level.len() < shortest {
            return false;
        }
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

/// One decoding: every `%XX` (either case) and every JSON string escape of a byte
/// (`\/`, `\\`, `\"`, `\u00XX`) undone, anything else kept; `None` when that would
/// change nothing.
fn decode_once(bytes: &[u8]) -> Option<Vec<u8>> {
    decode_kind(bytes, Kind::Both)
}

/// Which escapes a decoding undoes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Both kinds: what a decoding of text does.
    Both,
    /// `%XX` only.
    Percent,
    /// JSON's only.
    Json,
}

/// [`decode_once`], undoing only the escapes of `kind`.
fn decode_kind(bytes: &[u8], kind: Kind) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    // Bytes before `copied` are in `out` (or were an escape).
    let mut copied = 0;
    for at in memchr::memchr2_iter(b'%', b'\\', bytes) {
        if at < copied {
            // Inside the escape just decoded (`\\\\`).
            continue;
        }
        let Some((b, len)) = escape(bytes, at) else {
            continue;
        };
        let percent = bytes[at] == b'%';
        if (kind == Kind::Percent && !percent) || (kind == Kind::Json && percent) {
            continue;
        }
        if out.capacity() == 0 {
            out.reserve(bytes.len());
        }
        out.extend_from_slice(&bytes[copied..at]);
        out.push(b);
        copied = at + len;
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&bytes[copied..]);
    Some(out)
}

/// The byte an escape at `i` stands for, and the escape's length.
fn escape(bytes: &[u8], i: usize) -> Option<(u8, usize)> {
    match bytes.get(i..)? {
        [b'%', ..] => form::escape_at(bytes, i).map(|b| (b, 3)),
        [b'\\', b @ (b'/' | b'\\' | b'"'), ..] => Some((*b, 2)),
        [b'\\', b'u', b'0', b'0', hi, lo, ..] => {
            form::escape_at(&[b'%', *hi, *lo], 0).map(|b| (b, 6))
        }
        _ => None,
    }
}

/// The longest span of a line a [`Screen`] looks across for a secret's encoded forms:
/// the longest form encoded three times (each at most triples it), up to this many
/// bytes, and never less than the longest form itself.
pub const MAX_REACH: usize = 64 * 1024;

/// Screens a stream that is printed in pieces (a program's stderr: line by line, a long
/// line in pieces) so that no piece shows part of a secret whose rest is in another.
///
/// A piece is let through only once nothing that follows can complete a secret with
/// it: when its line has ended, or when `reach` more bytes of the line have followed
/// it, where `reach` is three encodings of the longest form looked for (at most
/// [`MAX_REACH`], never less than the form itself). Until then the held pieces and
/// each new one are looked at together; from the moment a secret is found in them,
/// every piece of that line is replaced by [`REDACTED`]. It holds at most `reach`
/// bytes and a piece.
pub struct Screen {
    secrets: Secrets,
    reach: usize,
    held: VecDeque<Vec<u8>>,
    held_len: usize,
    /// A secret was found in the current line.
    found: bool,
}

impl fmt::Debug for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The held pieces are held because they may be part of a secret.
        f.debug_struct("Screen")
            .field("held", &self.held_len)
            .finish_non_exhaustive()
    }
}

impl Screen {
    /// A screen for `secrets`.
    pub fn new(secrets: Secrets) -> Screen {
        let longest = secrets.longest();
        let reach = longest.saturating_mul(27).min(MAX_REACH).max(longest);
        Screen {
            secrets,
            reach,
            held: VecDeque::new(),
            held_len: 0,
            found: false,
        }
    }

    /// Takes the next piece of the current line (`ends`: it is the line's last) and
    /// returns the pieces that may be printed now, in order, each as it came or as
    /// [`REDACTED`].
    pub fn push(&mut self, piece: Vec<u8>, ends: bool) -> Vec<Vec<u8>> {
        if self.secrets.is_empty() {
            return vec![piece];
        }
        self.held_len += piece.len();
        self.held.push_back(piece);
        if !self.found {
            let window: Vec<u8> = self.held.iter().flatten().copied().collect();
            self.found = self.secrets.holds(&window);
        }
        let mut out = Vec::new();
        if ends {
            out.extend(std::iter::from_fn(|| self.release()));
            self.found = false;
        } else {
            // The front piece goes once `reach` bytes have followed it.
            while self.held.len() > 1
                && self.held_len - self.held.front().map_or(0, Vec::len) >= self.reach
            {
                out.extend(self.release());
            }
        }
        out
    }

    /// Whatever is still held, at the end of the stream.
    pub fn finish(&mut self) -> Vec<Vec<u8>> {
        let out = std::iter::from_fn(|| self.release()).collect();
        self.found = false;
        out
    }

    fn release(&mut self) -> Option<Vec<u8>> {
        let piece = self.held.pop_front()?;
        self.held_len -= piece.len();
        Some(match self.found {
            true => REDACTED.as_bytes().to_vec(),
            false => piece,
        })
    }
}

/// Every credential a request presents, in its query or its headers, valid or not
/// (several, malformed, in a mode that does not read that place, or under another
/// scheme than `Bearer`, meant for someone else): what its own log lines and its
/// backend must not see. A request that presents more than [`MAX_PRESENTED`] holds a
/// secret in every text: its target is not logged, its backend is told nothing of it.
pub fn presented(target: &str, headers: &[Header<'_>]) -> Secrets {
    let mut found: Vec<Vec<u8>> = credential_values(form::query_of(target));
    found.extend(bearer::presented(headers));
    // `Basic dXNlcjpwYXNz`, `Token abc`, …: whatever follows another scheme (`Bearer`
    // is `bearer::presented`'s), and a `Basic` credential's password.
    for h in headers.iter().filter(|h| {
        ["authorization", "proxy-authorization"]
            .iter()
            .any(|n| h.name.eq_ignore_ascii_case(n))
    }) {
        let mut words = h
            .value
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let scheme = words.next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case(b"bearer") && h.name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        for word in words {
            found.push(word.to_vec());
            let basic = scheme.eq_ignore_ascii_case(b"basic");
            if let Some(decoded) = basic
                .then(|| data_encoding::BASE64.decode(word).ok())
                .flatten()
            {
                let password = decoded.splitn(2, |&b| b == b':').nth(1).unwrap_or_default();
                found.push(password.to_vec());
            }
        }
    }
    found.retain(|f| !f.is_empty());
    let mut secrets = Secrets::new();
    if found.len() > MAX_PRESENTED {
        // Bounded work for any request: one presenting more holds a secret everywhere.
        secrets.everywhere = true;
        return secrets;
    }
    for credential in found {
        secrets.add(&credential);
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

/// The most of a header value a log line shows, in bytes.
pub const SHOWN_MAX: usize = 200;

/// A header value a client sent (a refused `Host` or `Origin`) as a log line may show
/// it: [`REDACTED`] when it holds one of `secrets` (looked for in the whole value),
/// else its first [`SHOWN_MAX`] bytes as text (a byte that is not UTF-8 as U+FFFD) and
/// `…` when there were more. The log escapes control characters.
pub fn shown(value: &[u8], secrets: &Secrets) -> String {
    if secrets.holds(value) {
        return REDACTED.to_owned();
    }
    let mut text = String::from_utf8_lossy(&value[..value.len().min(SHOWN_MAX)]).into_owned();
    if value.len() > SHOWN_MAX {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values() {
        let hidden = secrets(&[S]);
        assert_eq!(
            shown(b"https://app.example", &hidden),
            "https://app.example"
        );
        assert_eq!(shown(format!("http://{S}").as_bytes(), &hidden), REDACTED);
        let encoded = format!("http://x/{}", form::percent_encode(S.as_bytes()));
        assert_eq!(shown(encoded.as_bytes(), &hidden), REDACTED);
        let long = [b'a'; 300];
        let cut = shown(&long, &hidden);
        assert_eq!(cut, format!("{}…", "a".repeat(SHOWN_MAX)));
        // Cut in the middle of a character: the piece is shown as U+FFFD, not dropped.
        let mut wide = vec![b'a'; SHOWN_MAX - 1];
        wide.extend_from_slice("é".as_bytes());
        assert!(shown(&wide, &hidden).ends_with("a\u{fffd}…"));
        assert_eq!(shown(b"a\xffb", &hidden), "a\u{fffd}b");
    }

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
        base64_after_a_prefix: &["s3cr3t-t0ken-value?"], format!("Basic {}", data_encoding::BASE64.encode(b"x:s3cr3t-t0ken-value?")) => true;
        base64_after_a_longer_prefix: &["s3cr3t-t0ken-value?"], format!("{}", data_encoding::BASE64URL.encode(b"Bearer s3cr3t-t0ken-value?!")) => true;
        base64_of_a_short_secret_is_not_looked_for: &["abcde"], data_encoding::BASE64.encode(b"abcde") => false;
        json_escaped_slashes: &["tok/en+with/slashes"], r#"{"url":"ws:\/\/h\/?token=tok\/en+with\/slashes"}"#.into() => true;
        json_unicode_escapes: &["s3cr3t-value-01"], r#"{"t":"s3cr3t\u002dvalue\u002D01"}"#.into() => true;
        cut_escapes_at_the_end: &[S], "x\\u00".into() => false;
        a_cut_escape_at_the_end: &[S], "x\\u004".into() => false;
        // Found by fuzzing: one decoding undoes the JSON escape and the secret's own `%25`.
        json_escaped_secret_holding_an_escape: &["e+plu?%25\"=-0123"], r#"{"x":"e+plu?%25\"=-0123"}"#.into() => true;
        json_escapes_of_an_encoded_secret: &[S], format!("{{\"next\":\"{}\"}}", encode(S.as_bytes(), false).replace('/', "\\/")) => true;
        a_percent_in_the_secret_encoded: &["abc%41def-0123456789"], "/?x=abc%2541def-0123456789".into() => true;
        another_secret: &["other-secret-value", S], format!("{S}") => true;
        not_there: &[S], "/x?a=s3cr3t+t0ken".into() => false;
        decodes_to_something_else: &[S], "/x?a=%73%33cr3t".into() => false;
        stray_percent_signs: &[S], "/x?a=100%&b=%zz%4".into() => false;
        nothing_to_hide: &[], format!("/{S}") => false;
        // `%` then `25` k times then `41` decodes k + 1 times.
        // (Padded so that every decoding stays longer than the secret.)
        too_deep: &[S], format!("/?x=%{}41&{}", "25".repeat(MAX_DECODINGS), "z".repeat(40)) => true;
        deep_but_not_too_deep: &[S], format!("/?x=%{}41&{}", "25".repeat(MAX_DECODINGS - 1), "z".repeat(40)) => false;
        shorter_than_any_secret: &[S], format!("/?x=%{}41", "25".repeat(MAX_DECODINGS)) => false;
    }

    #[test]
    fn a_secret_with_both_kinds_of_escape_is_found_under_one_kind_of_wrapping() {
        // JSON's escaping shields the secret's `\\` from the decoding that undoes it,
        // not its `%65`: one decoding of the text leaves the secret half decoded, and
        // none of the decodings that follow is one of the secret's own whole ones.
        // (The `redact` fuzz target found this secret.)
        let secret: &[u8] = b"lp\xff\xff\x0330P%65\xb2/d+\x5c\x5c!_\x5cu0[::1]ppl\x5c\x5c\x5c\x5c\x5c\x5c\x5c1\x5c\x5c\x5c\x5c\x5c\x5c127.0.0.1.aA\x5c\x5c_\x5cu00eBearer %ke\x95pt-3Kec-alive, Upg\x5cu008%651.aSec-WebSocket\x5c\x5c\x5c\x5c127.0.0.1.aA\x5c\x5c\x5cu008%650\x9d";
        let mut s = Secrets::new();
        s.add(secret);
        let json = |t: &[u8]| {
            let mut out = Vec::new();
            for &b in t {
                if matches!(b, b'"' | b'\\' | b'/') {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out
        };
        let text = json(&[&b"&t="[..], secret, b"&"].concat());
        assert!(s.holds(&text), "{}", String::from_utf8_lossy(&text));
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
        let other = [
            Header {
                name: "authorization",
                value: b"Basic dXNlcjpwYXNzd29yZA==",
            },
            Header {
                name: "Proxy-Authorization",
                value: b"Token  proxy-token-value",
            },
        ];
        let others = presented("/", &other);
        for text in [
            "/?x=dXNlcjpwYXNzd29yZA%3D%3D",
            "/proxy-token-value",
            "/?p=password",
        ] {
            assert!(others.holds(text.as_bytes()), "{text}");
        }
        assert!(!others.holds(b"Basic") && !others.holds(b"Token") && !others.holds(b"user"));
        // A Bearer token is added once, by `bearer::presented`, in each of its forms.
        let bearer = [Header {
            name: "Authorization",
            value: b"Bearer bearer-token-value",
        }];
        let mut once = Secrets::new();
        once.add(b"bearer-token-value");
        assert_eq!(presented("/", &bearer).forms.len(), once.forms.len());
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

    /// Feeds `text` to a screen in pieces of `size`, one line, and returns what it
    /// lets through, piece by piece.
    fn screened(secrets: &Secrets, text: &[u8], size: usize) -> Vec<Vec<u8>> {
        let mut screen = Screen::new(secrets.clone());
        let pieces: Vec<&[u8]> = text.chunks(size).collect();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            out.extend(screen.push(piece.to_vec(), i + 1 == pieces.len()));
        }
        out.extend(screen.finish());
        out
    }

    #[test]
    fn a_secret_across_pieces_is_never_let_through() {
        let s = secrets(&[S]);
        let once = encode(S.as_bytes(), false);
        let twice = encode(once.as_bytes(), true);
        for form in [S.to_owned(), once, twice] {
            for at in 0..40 {
                let text = format!("{}{form}{}", "x".repeat(at), "y".repeat(50));
                for size in [1, 3, 7, 16] {
                    let out = screened(&s, text.as_bytes(), size);
                    let printed: Vec<u8> = out.concat();
                    assert!(!s.holds(&printed), "{form} at {at} in pieces of {size}");
                    assert!(out.iter().all(|p| p == REDACTED.as_bytes()), "{out:?}");
                }
            }
        }
    }

    #[test]
    fn a_screen_lets_the_rest_through() {
        let s = secrets(&[S]);
        let text = "z".repeat(100_000);
        let out = screened(&s, text.as_bytes(), 4096);
        assert_eq!(out.concat(), text.as_bytes());
        // Pieces of a long line go once enough has followed them: it never holds more
        // than its reach and a piece.
        let mut screen = Screen::new(s.clone());
        let reach = screen.reach;
        let mut released = 0;
        for _ in 0..100 {
            released += screen.push(vec![b'z'; 512], false).len();
            assert!(screen.held_len <= reach + 512, "{} held", screen.held_len);
        }
        assert!(released > 0);
        // A secret longer than the reach's cap is still seen whole before any of it goes.
        let long: Vec<u8> = (0..MAX_REACH + 5000)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let mut huge = Secrets::new();
        huge.add(&long);
        let text = [b"x".repeat(3000), long.clone(), b"y".repeat(3000)].concat();
        let out = screened(&huge, &text, 4096);
        assert!(
            out.iter().all(|p| p == REDACTED.as_bytes()),
            "a piece went through"
        );
        // Nothing to hide: pieces go through at once.
        let mut open = Screen::new(Secrets::new());
        assert_eq!(open.push(b"abc".to_vec(), false), vec![b"abc".to_vec()]);
        // A line with a secret is hidden whole, the next line is not.
        let mut screen = Screen::new(s);
        let first = screen.push(format!("a {S} b").into_bytes(), true);
        assert_eq!(first, vec![REDACTED.as_bytes().to_vec()]);
        assert_eq!(screen.push(b"fine".to_vec(), true), vec![b"fine".to_vec()]);
    }

    #[test]
    fn the_search_agrees_with_a_plain_one() {
        // Texts and forms over a small alphabet, so that near misses are common.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..2000 {
            let form: Vec<u8> = (0..1 + next(6)).map(|_| b"ab"[next(2) as usize]).collect();
            let text: Vec<u8> = (0..next(40)).map(|_| b"ab"[next(2) as usize]).collect();
            let plain = text.windows(form.len()).any(|w| w == form.as_slice());
            let mut set = Secrets::new();
            set.forms.push(Form::new(form.clone()));
            set.regroup();
            assert_eq!(set.found_in(&text), plain, "{form:?} in {text:?}");
        }
    }

    #[test]
    fn too_many_credentials_hide_everything() {
        let pairs: Vec<String> = (0..=MAX_PRESENTED)
            .map(|i| format!("token={i:0>20}"))
            .collect();
        let many = presented(&format!("/?{}", pairs.join("&")), &[]);
        assert!(many.holds(b"anything at all") && !many.is_empty());
        assert_eq!(target("/x?y=1", &many).as_deref(), Some(REDACTED));
        assert_eq!(header_value("User-Agent", b"test/1", &many), None);
        assert!(Secrets::new().with(&many).holds(b"x"));
        let few = presented(&format!("/?{}", pairs[..MAX_PRESENTED].join("&")), &[]);
        assert!(!few.holds(b"anything at all"));
    }
}
