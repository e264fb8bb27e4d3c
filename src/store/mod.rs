//! The token store: named tokens with scopes and expiry, held only as SHA-256 digests,
//! in one line-oriented file under the user's configuration directory.
//!
//! ```text
//! # wsgate token store: managed by `wsgate token`. Only digests are kept here.
//! wsgate-tokens 1
//! # id sha256 scopes created expires revoked name
//! 3f9a2c1b 9f86d08…0a08 read,write,exec 2026-11-22T08:00:00Z 2027-02-20T08:00:00Z - laptop
//! ```
//!
//! One entry a line, fields separated by one space, the name last (it may hold
//! spaces). `expires` is a time or `never`, `revoked` a time or `-`. Lines starting
//! with `#` and empty lines are ignored; the format line must come before any entry.
//! Parsing is strict: a line that does not fit is an error naming its number, and a
//! store that does not parse is never written over.
//!
//! The pure part (parse, serialize, look up) is here; [`files`] has the file handling:
//! a private directory and file, an exclusive lock around every change, and writes
//! that replace the file atomically.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::date;
use crate::scope::Scopes;
use crate::secret::Digest;

mod files;

pub use files::{Files, Stamp, config_dir};

/// The line that says what the file is.
pub const FORMAT_LINE: &str = "wsgate-tokens 1";
/// Longest token name, in characters.
pub const MAX_NAME: usize = 80;

const HEADER: &str =
    "# wsgate token store: managed by `wsgate token`. Only digests are kept here.\n";
const COLUMNS: &str = "# id sha256 scopes created expires revoked name\n";

/// One managed token.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// Short public identifier: 8 lowercase hex digits.
    pub id: String,
    /// SHA-256 of the token.
    pub digest: Digest,
    /// What the token allows.
    pub scopes: Scopes,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Expiry, seconds since the epoch; `None` for never.
    pub expires: Option<u64>,
    /// Revocation time, when revoked.
    pub revoked: Option<u64>,
    /// A name for people.
    pub name: String,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .field("revoked", &self.revoked)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Whether a token may be used now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl Status {
    /// The word in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }
}

impl Entry {
    /// Whether the token has expired at `now`, revoked or not.
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// The token's status at `now`; revocation wins over expiry.
    pub fn status(&self, now: u64) -> Status {
        if self.revoked.is_some() {
            Status::Revoked
        } else if self.expired(now) {
            Status::Expired
        } else {
            Status::Active
        }
    }
}

/// A store that does not parse: the line (1-based; 0 for the whole file) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Whether a name is acceptable: 1 to `MAX_NAME` characters, no control characters
/// and no bidirectional formatting characters (which would make `token list` show
/// something other than what is stored), no whitespace at either end.
pub fn valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=MAX_NAME).contains(&count)
        && !name.chars().any(|c| c.is_control() || is_bidi_control(c))
        && name.trim() == name
}

/// The live token (neither revoked nor expired at `now`) named `name`, other than the
/// one with id `except`: names tell live tokens apart, so no two share one.
pub fn live_named<'a>(
    entries: &'a [Entry],
    name: &str,
    now: u64,
    except: Option<&str>,
) -> Option<&'a Entry> {
    entries.iter().find(|e| {
        e.name == name && e.status(now) == Status::Active && except != Some(e.id.as_str())
    })
}

/// `name` if no live token has it, else the first of `name (2)`, `name (3)`… that
/// none has, its base shortened if needed to stay within [`MAX_NAME`].
pub fn unused_name(entries: &[Entry], name: &str, now: u64) -> String {
    if live_named(entries, name, now, None).is_none() {
        return name.to_owned();
    }
    // One of the first `entries.len() + 1` numbers is free.
    for n in 2..entries.len() + 3 {
        let suffix = format!(" ({n})");
        let keep = MAX_NAME.saturating_sub(suffix.chars().count());
        let base: String = name.chars().take(keep).collect();
        let candidate = format!("{}{suffix}", base.trim_end());
        if live_named(entries, &candidate, now, None).is_none() {
            return candidate;
        }
    }
    name.to_owned()
}

/// Unicode's bidirectional formatting characters (UAX #9): marks, embeddings,
/// overrides and isolates.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Reads a store file's bytes. Each line must be UTF-8; an error names the first line
/// that does not fit.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut digests = std::collections::HashSet::new();
    let mut versioned = false;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = i + 1;
        let err = |message: &str| ParseError {
            line: at,
            message: message.to_owned(),
        };
        let line = std::str::from_utf8(line).map_err(|_| err("not UTF-8 text"))?;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.ends_with('\r') {
            return Err(err("carriage return at the end of the line"));
        }
        if !versioned {
            if line != FORMAT_LINE {
                return Err(err(&format!("expected the format line {FORMAT_LINE:?}")));
            }
            versioned = true;
            continue;
        }
        let entry = parse_entry(line).map_err(err)?;
        if !ids.insert(entry.id.clone()) {
            return Err(err("an id that an earlier line already has"));
        }
        if !digests.insert(Key(entry.digest)) {
            return Err(err("a digest that an earlier line already has"));
        }
        entries.push(entry);
    }
    if !versioned {
        return Err(ParseError {
            line: 0,
            message: format!("no format line {FORMAT_LINE:?}"),
        });
    }
    Ok(entries)
}

fn parse_entry(line: &str) -> Result<Entry, &'static str> {
    let mut fields = line.splitn(7, ' ');
    let mut next = || {
        fields
            .next()
            .ok_or("too few fields: id sha256 scopes created expires revoked name")
    };
    let id = next()?;
    let digest = next()?;
    let scopes = next()?;
    let created = next()?;
    let expires = next()?;
    let revoked = next()?;
    let name = next()?;
    if !valid_id(id) {
        return Err("the id is not 8 lowercase hex digits");
    }
    let digest = Digest::from_hex(digest, &data_encoding::HEXLOWER)
        .ok_or("the digest is not 64 lowercase hex digits")?;
    let scopes =
        Scopes::parse(scopes).ok_or("scopes must be read, write and exec, comma-separated")?;
    let created = date::parse(created).ok_or("created is not a time like 2026-11-22T08:00:00Z")?;
    let expires = match expires {
        "never" => None,
        t => Some(date::parse(t).ok_or("expires is not a time or never")?),
    };
    let revoked = match revoked {
        "-" => None,
        t => Some(date::parse(t).ok_or("revoked is not a time or -")?),
    };
    if !valid_name(name) {
        return Err("the name is empty, too long, has control characters or spaces at an end");
    }
    Ok(Entry {
        id: id.to_owned(),
        digest,
        scopes,
        created,
        expires,
        revoked,
        name: name.to_owned(),
    })
}

/// Whether `id` is 8 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 8
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes a store's text: what [`parse`] reads back to the same entries.
pub fn serialize(entries: &[Entry]) -> String {
    let mut out = String::with_capacity(128 + entries.len() * 160);
    out.push_str(HEADER);
    out.push_str(FORMAT_LINE);
    out.push('\n');
    out.push_str(COLUMNS);
    for e in entries {
        let expires = e.expires.map_or_else(|| "never".to_owned(), date::format);
        let revoked = e.revoked.map_or_else(|| "-".to_owned(), date::format);
        out.push_str(&format!(
            "{} {} {} {} {} {} {}\n",
            e.id,
            data_encoding::HEXLOWER.encode(e.digest.as_bytes()),
            e.scopes,
            date::format(e.created),
            expires,
            revoked,
            e.name
        ));
    }
    out
}

/// A digest as a map key, compared in constant time.
#[derive(Clone, Copy)]
struct Key(Digest);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0.matches(&other.0)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

/// The store in memory, for the daemon: a hash lookup by digest, so the time to find
/// a token does not grow with the number of tokens.
#[derive(Debug, Default)]
pub struct Store {
    entries: Vec<Entry>,
    by_digest: HashMap<Key, usize>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Store {
    /// Indexes entries.
    pub fn new(entries: Vec<Entry>) -> Store {
        let by_digest = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (Key(e.digest), i))
            .collect();
        Store { entries, by_digest }
    }

    /// The entry whose token has this digest.
    pub fn lookup(&self, digest: &Digest) -> Option<&Entry> {
        self.by_digest.get(&Key(*digest)).map(|&i| &self.entries[i])
    }

    /// The entry with this id.
    pub fn by_id(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// The store as a running daemon sees it: the current snapshot, replaced whole when
/// the file changes, and a signal for sessions to look again.
#[derive(Debug)]
pub struct StoreView {
    current: std::sync::RwLock<std::sync::Arc<Store>>,
    changed: event_listener::Event,
    /// Counts replacements, so that a lookup can tell whether it saw the latest copy.
    generation: std::sync::atomic::AtomicU64,
}

impl StoreView {
    /// A view of `store`.
    pub fn new(store: Store) -> StoreView {
        StoreView {
            current: std::sync::RwLock::new(std::sync::Arc::new(store)),
            changed: event_listener::Event::new(),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Which copy is current: a number that grows with every replacement.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The current snapshot.
    pub fn current(&self) -> std::sync::Arc<Store> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot and wakes whoever listens.
    pub fn replace(&self, store: Store) {
        let store = std::sync::Arc::new(store);
        match self.current.write() {
            Ok(mut guard) => *guard = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify(usize::MAX);
    }

    /// Completes at the next replacement.
    pub fn listen(&self) -> event_listener::EventListener {
        self.changed.listen()
    }

    /// The status of token `id` now; a token no longer in the store counts as revoked.
    pub fn status(&self, id: &str, now: u64) -> Status {
        self.current()
            .by_id(id)
            .map_or(Status::Revoked, |e| e.status(now))
    }
}

/// Makes a new token and its entry (not yet stored): 32 random bytes, base64url; the
/// entry keeps only the digest. Without a name, the id is the name.
pub fn mint(
    entries: &[Entry],
    name: Option<&str>,
    scopes: Scopes,
    expires_in: Option<u64>,
    now: u64,
) -> Result<(Entry, crate::secret::Secret), String> {
    let token = crate::secret::generate().map_err(|e| format!("cannot generate a token: {e}"))?;
    let id = new_id(entries)?;
    let entry = Entry {
        name: name.map_or_else(|| id.clone(), str::to_owned),
        id,
        digest: token.digest(),
        scopes,
        created: now,
        expires: expires_in.map(|secs| now.saturating_add(secs)),
        revoked: None,
    };
    Ok((entry, token))
}

/// A fresh id not already in `entries`.
pub fn new_id(entries: &[Entry]) -> Result<String, String> {
    loop {
        let n = getrandom::u32().map_err(|e| format!("cannot draw a random id: {e}"))?;
        let id = format!("{n:08x}");
        if !entries.iter().any(|e| e.id == id) {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, byte: u8) -> Entry {
        Entry {
            id: id.into(),
            digest: Digest::from_bytes([byte; 32]),
            scopes: Scopes::ALL,
            created: 1_795_300_000,
            expires: Some(1_800_000_000),
            revoked: None,
            name: format!("name {id}"),
        }
    }

    #[test]
    fn round_trip() {
        let mut a = entry("0000000a", 1);
        a.scopes = Scopes::READ;
        a.expires = None;
        let mut b = entry("0000000b", 2);
        b.revoked = Some(1_795_300_100);
        b.name = "paired Mozilla/5.0 (X11; Linux)".into();
        let entries = vec![a, b];
        let text = serialize(&entries);
        assert_eq!(parse(text.as_bytes()), Ok(entries.clone()));
        assert!(text.starts_with("# wsgate token store"));
        assert!(text.contains("\n0000000a 0101010101010101010101010101010101010101010101010101010101010101 read 2026-11-21T22:26:40Z never - name 0000000a\n"));
        assert_eq!(parse(serialize(&[]).as_bytes()), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_line() {
        let good = serialize(&[entry("0000000a", 1)]);
        let line_of = |text: &str| parse(text.as_bytes()).unwrap_err().line;
        assert_eq!(line_of(""), 0);
        assert_eq!(line_of("# only a comment\n"), 0);
        assert_eq!(line_of("wsgate-tokens 2\n"), 1);
        let bad_entries = [
            "0000000A 0101 read 2026-11-21T22:26:40Z never - n",
            "0000000a zz read 2026-11-21T22:26:40Z never - n",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010101 admin 2026-11-21T22:26:40Z never - n",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read yesterday never - n",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read 2026-11-21T22:26:40Z soon - n",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read 2026-11-21T22:26:40Z never x n",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read 2026-11-21T22:26:40Z never -",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read 2026-11-21T22:26:40Z never - ",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010102 read,read 2026-11-21T22:26:40Z never - n",
            "0000000a 0101010101010101010101010101010101010101010101010101010101010102 read 2026-11-21T22:26:40Z never - dup id",
            "0000000b 0101010101010101010101010101010101010101010101010101010101010101 read 2026-11-21T22:26:40Z never - dup digest",
        ];
        let entry_line = good.lines().count() + 1;
        for bad in bad_entries {
            let text = format!("{good}{bad}\n");
            assert_eq!(line_of(&text), entry_line, "{bad}");
        }
        assert_eq!(line_of(&good.replace('\n', "\r\n")), 2);
        let mut latin1 = format!("{good}# caf").into_bytes();
        latin1.extend_from_slice(b"\xe9\n");
        let err = parse(&latin1).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (entry_line, "not UTF-8 text")
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("laptop"));
        assert!(valid_name("paired Mozilla/5.0 (X11; Linux x86_64)"));
        assert!(valid_name(&"é".repeat(MAX_NAME)));
        assert!(!valid_name(""));
        assert!(!valid_name(" lead"));
        assert!(!valid_name("trail "));
        assert!(!valid_name("tab\there"));
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
        assert!(!valid_name("a\u{202e}b"));
        assert!(!valid_name("a\u{2066}b"));
    }

    #[test]
    fn lookups() {
        let store = Store::new(vec![entry("0000000a", 1), entry("0000000b", 2)]);
        assert_eq!(
            store
                .lookup(&Digest::from_bytes([2; 32]))
                .map(|e| e.id.as_str()),
            Some("0000000b")
        );
        assert!(store.lookup(&Digest::from_bytes([3; 32])).is_none());
        assert_eq!(
            store.by_id("0000000a").map(|e| e.name.as_str()),
            Some("name 0000000a")
        );
    }

    #[test]
    fn live_names_are_unique() {
        let now = 1_795_300_500;
        let mut a = entry("0000000a", 1);
        a.name = "laptop".into();
        let mut b = entry("0000000b", 2);
        b.name = "laptop (2)".into();
        let mut revoked = entry("0000000c", 3);
        revoked.name = "phone".into();
        revoked.revoked = Some(now);
        let mut expired = entry("0000000d", 4);
        expired.name = "tablet".into();
        expired.expires = Some(now);
        let entries = vec![a, b, revoked, expired];
        assert_eq!(
            live_named(&entries, "laptop", now, None).map(|e| e.id.as_str()),
            Some("0000000a")
        );
        assert!(live_named(&entries, "laptop", now, Some("0000000a")).is_none());
        assert!(live_named(&entries, "phone", now, None).is_none());
        assert!(live_named(&entries, "tablet", now, None).is_none());
        assert_eq!(unused_name(&entries, "laptop", now), "laptop (3)");
        assert_eq!(unused_name(&entries, "phone", now), "phone");
        assert_eq!(unused_name(&entries, "desk", now), "desk");
        let mut long = entry("0000000e", 5);
        long.name = "x".repeat(MAX_NAME);
        let entries = vec![long];
        let next = unused_name(&entries, &"x".repeat(MAX_NAME), now);
        assert_eq!(next, format!("{} (2)", "x".repeat(MAX_NAME - 4)));
        assert!(valid_name(&next));
    }

    #[test]
    fn statuses() {
        let mut e = entry("0000000a", 1);
        assert_eq!(e.status(1_799_999_999), Status::Active);
        assert_eq!(e.status(1_800_000_000), Status::Expired);
        e.revoked = Some(1);
        assert_eq!(e.status(0), Status::Revoked);
        e.revoked = None;
        e.expires = None;
        assert_eq!(e.status(u64::MAX), Status::Active);
    }
}
