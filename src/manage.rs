//! The commands that are not the daemon: `wsgate token …` (the token store) and
//! `wsgate pair` (the pairing code of a running instance). Output goes to the writers
//! given, so tests run them without a process.

use std::io::Write;

use serde_json::json;

use crate::date;
use crate::runtime;
use crate::scope::Scopes;
use crate::store::{self, Entry, Files};

/// `wsgate token …`: managing the token store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCommand {
    /// `create [--name NAME] [--scope SCOPES] [--expires DURATION]`.
    Create {
        /// The name; the id when not given.
        name: Option<String>,
        /// The scopes.
        scopes: Scopes,
        /// Seconds until expiry; `None` for never.
        expires: Option<u64>,
    },
    /// `list [--json]`.
    List {
        /// JSON instead of a table.
        json: bool,
    },
    /// `revoke ID|NAME`.
    Revoke(String),
    /// `rename ID|NAME NEW-NAME`.
    Rename {
        /// The token, by id or name.
        who: String,
        /// Its new name, already checked to be a valid one.
        name: String,
    },
    /// `prune [--revoked]`: removes expired entries, and revoked ones too with
    /// `--revoked`.
    Prune {
        /// Also remove revoked entries.
        revoked: bool,
    },
}

/// Runs `wsgate token …` against the store in the configuration directory. The new
/// token of `create` is the only thing written to `out`; what it is for goes to `note`.
pub fn token(
    command: TokenCommand,
    out: &mut dyn Write,
    note: &mut dyn Write,
) -> Result<(), String> {
    let files = Files::new(store::config_dir()?);
    let now = date::now();
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    match command {
        TokenCommand::Create {
            name,
            scopes,
            expires,
        } => {
            let (entry, token) = files.update(|entries| {
                if let Some(name) = &name {
                    refuse_taken(entries, name, now, None)?;
                }
                let (entry, token) = store::mint(entries, name.as_deref(), scopes, expires, now)?;
                entries.push(entry.clone());
                Ok((entry, token))
            })?;
            // Shown only now that the store holds it for good (renamed into place, the
            // directory flushed): a `create` killed at any moment has either printed
            // a token that is stored, or printed nothing.
            out.write_all(token.expose()).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            writeln!(
                note,
                "created token {} ({}), scopes {}, expires {}; it is shown only now",
                entry.id,
                entry.name,
                entry.scopes,
                entry
                    .expires
                    .map_or_else(|| "never".to_owned(), date::format)
            )
            .map_err(io)
        }
        TokenCommand::List { json } => {
            let entries = files.load()?;
            let used = files.last_used();
            let text = if json {
                list_json(&entries, &used, now)
            } else {
                list_table(&entries, &used, now)
            };
            out.write_all(text.as_bytes()).map_err(io)
        }
        TokenCommand::Revoke(who) => {
            let (entry, already) = files.update(|entries| {
                let i = find(entries, &who, now, "revoke")?;
                let already = entries[i].revoked.is_some();
                if !already {
                    entries[i].revoked = Some(now);
                }
                Ok((entries[i].clone(), already))
            })?;
            let what = if already {
                "was already revoked"
            } else {
                "revoked"
            };
            writeln!(note, "token {} ({}) {what}", entry.id, entry.name).map_err(io)
        }
        TokenCommand::Rename { who, name } => {
            let (entry, old) = files.update(|entries| {
                let i = find(entries, &who, now, "rename")?;
                refuse_taken(entries, &name, now, Some(&entries[i].id))?;
                let old = std::mem::replace(&mut entries[i].name, name.clone());
                Ok((entries[i].clone(), old))
            })?;
            writeln!(
                note,
                "token {} renamed from {old:?} to {:?}",
                entry.id, entry.name
            )
            .map_err(io)
        }
        TokenCommand::Prune { revoked } => {
            // An expired entry goes even when it was also revoked: it can never be
            // used again either way. A revoked one that has not expired stays unless
            // asked, so that it keeps being refused as revoked, not as unknown.
            let removed = files.update(|entries| {
                let before = entries.len();
                let goes = |e: &Entry| e.expired(now) || (revoked && e.revoked.is_some());
                entries.retain(|e| !goes(e));
                Ok(before - entries.len())
            })?;
            let what = if revoked {
                "expired or revoked"
            } else {
                "expired"
            };
            writeln!(note, "removed {removed} {what} token(s)").map_err(io)
        }
    }
}

/// The token `who` names: the one with that id, else the one with that name. Of
/// several with the name, the one still live, if only one is (names of revoked and
/// expired tokens may be used again); else the choice is refused, naming their ids.
fn find(entries: &[Entry], who: &str, now: u64, verb: &str) -> Result<usize, String> {
    if let Some(i) = entries.iter().position(|e| e.id == who) {
        return Ok(i);
    }
    let named: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].name == who)
        .collect();
    let live: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&i| entries[i].status(now) == store::Status::Active)
        .collect();
    match (named.as_slice(), live.as_slice()) {
        ([], _) => Err(format!("no token has the id or name {who:?}")),
        ([i], _) | (_, [i]) => Ok(*i),
        (several, _) => {
            let ids: Vec<&str> = several.iter().map(|&i| entries[i].id.as_str()).collect();
            Err(format!(
                "{} tokens are named {who:?}: {verb} one by id ({})",
                several.len(),
                ids.join(", ")
            ))
        }
    }
}

/// Refuses `name` when a live token other than `except` (an id) has it: a name is
/// how people tell live tokens apart, and `revoke NAME` must mean one of them.
fn refuse_taken(
    entries: &[Entry],
    name: &str,
    now: u64,
    except: Option<&str>,
) -> Result<(), String> {
    match store::live_named(entries, name, now, except) {
        Some(taken) => Err(format!(
            "token {} already has the name {name:?}: choose another, or rename or revoke that one first",
            taken.id
        )),
        None => Ok(()),
    }
}

/// The widest `token list` table: a terminal of 100 columns shows it unwrapped.
pub const LIST_WIDTH: usize = 100;

/// `token list`'s table: id, name, scopes, when it expires and was last used (how long
/// from now: the exact times, and when it was created, are in `--json`), and status. Names are cut with `…` to
/// what keeps each line within [`LIST_WIDTH`] columns.
fn list_table(
    entries: &[Entry],
    used: &std::collections::HashMap<String, u64>,
    now: u64,
) -> String {
    const NAME: usize = 1;
    const GAP: &str = "  ";
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.name.clone(),
                e.scopes.to_string(),
                e.expires
                    .map_or_else(|| "never".to_owned(), |t| date::relative(t, now)),
                used.get(&e.id)
                    .map_or_else(|| "-".to_owned(), |&t| date::relative(t, now)),
                e.status(now).as_str().to_owned(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "SCOPES", "EXPIRES", "USED", "STATUS"].map(str::to_owned);
    let mut widths = header.clone().map(|h| columns(&h));
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(columns(cell));
        }
    }
    let others: usize = widths.iter().sum::<usize>() - widths[NAME] + GAP.len() * 5;
    widths[NAME] = widths[NAME].min(LIST_WIDTH.saturating_sub(others).max(header[NAME].len()));
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| {
                let cell = cut(cell, w);
                let pad = w.saturating_sub(columns(&cell));
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(cells.join(GAP).trim_end());
        out.push('\n');
    }
    out
}

/// `text` if it fits in `width` columns, else as much of it as fits with `…`.
fn cut(text: &str, width: usize) -> String {
    if columns(text) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_columns(c);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The columns `text` takes on a terminal.
fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

/// The columns a character takes on a terminal, near enough for names without
/// tables of Unicode: combining marks and zero-width characters none, East Asian
/// wide characters and emoji two, the rest one.
fn char_columns(c: char) -> usize {
    match u32::from(c) {
        0x0300..=0x036F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x200B..=0x200D
        | 0x20D0..=0x20FF
        | 0xFE00..=0xFE0F
        | 0xFE20..=0xFE2F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn list_json(entries: &[Entry], used: &std::collections::HashMap<String, u64>, now: u64) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "name": e.name,
                "scopes": e.scopes.names(),
                "created": date::format(e.created),
                "expires": e.expires.map(date::format),
                "revoked": e.revoked.map(date::format),
                "last_used": used.get(&e.id).map(|&t| date::format(t)),
                "status": e.status(now).as_str(),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// Runs `wsgate pair`: the current pairing code and link of every running instance
/// that has pairing on.
pub fn pair(out: &mut dyn Write) -> Result<(), String> {
    let instances = runtime::list(&runtime::dir())?;
    let pairing: Vec<_> = instances.iter().filter(|i| i.pair_code.is_some()).collect();
    if pairing.is_empty() {
        return Err(
            "no running wsgate has pairing on (start one with --auth store --pairing)".into(),
        );
    }
    for instance in pairing {
        writeln!(
            out,
            "{}  {}",
            instance.pair_code.as_deref().unwrap_or_default(),
            instance.pair_url.as_deref().unwrap_or_default()
        )
        .map_err(|e| format!("cannot write output: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scopes;
    use crate::secret::Digest;

    #[test]
    fn listings() {
        let entries = vec![Entry {
            id: "0000000a".into(),
            digest: Digest::from_bytes([1; 32]),
            scopes: Scopes::READ_WRITE,
            created: 1_795_300_000,
            expires: None,
            revoked: None,
            name: "my laptop".into(),
        }];
        let used = [("0000000a".to_owned(), 1_795_300_100)]
            .into_iter()
            .collect();
        let table = list_table(&entries, &used, 1_795_300_200);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "ID        NAME       SCOPES      EXPIRES  USED    STATUS",
                "0000000a  my laptop  read,write  never    1m ago  active",
            ],
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&list_json(&entries, &used, 0)).unwrap();
        assert_eq!(json[0]["scopes"], json!(["read", "write"]));
        assert_eq!(json[0]["expires"], serde_json::Value::Null);
        assert_eq!(json[0]["status"], "active");
        assert_eq!(json[0]["created"], "2026-11-21T22:26:40Z");
        let text = format!("{table}{json}");
        assert!(!text.contains("0101010101"), "no digest in listings");
    }

    #[test]
    fn the_table_fits_100_columns() {
        let now = 1_795_300_000;
        let entry = |id: &str, name: String| Entry {
            id: id.into(),
            digest: Digest::from_bytes([id.as_bytes()[7]; 32]),
            scopes: Scopes::ALL,
            created: now,
            expires: Some(now + 99 * 86_400),
            revoked: None,
            name,
        };
        // The longest name of a common browser's pairing, expiring in 99 days and
        // used 59 minutes ago.
        let paired = "paired Firefox on Windows 2026-11-29 14:02 UTC";
        let entries = vec![
            entry("0000000a", "x".repeat(crate::store::MAX_NAME)),
            entry("0000000b", "漢".repeat(crate::store::MAX_NAME)),
            entry("0000000c", "e\u{301}".repeat(crate::store::MAX_NAME / 2)),
            entry("0000000d", paired.to_owned()),
            entry("0000000e", "short".into()),
        ];
        let used = [
            ("0000000a".to_owned(), 0),
            ("0000000d".to_owned(), now - 3599),
        ]
        .into_iter()
        .collect();
        let table = list_table(&entries, &used, now);
        for line in table.lines() {
            assert!(
                columns(line) <= LIST_WIDTH,
                "{} columns: {line}",
                columns(line)
            );
        }
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].contains("xxx…  read,write,exec  in 99d"),
            "{table}"
        );
        assert!(
            lines[2].contains("漢…") || lines[2].contains("漢 …"),
            "{table}"
        );
        assert!(lines[5].contains("short "), "{table}");
        // A paired name, the longest realistic one, is cut only when a longer name
        // squeezes it.
        let alone = list_table(&entries[3..], &used, now);
        assert!(alone.contains(paired), "{alone}");
        assert!(alone.lines().all(|l| columns(l) <= LIST_WIDTH), "{alone}");
    }

    #[test]
    fn cutting() {
        assert_eq!(cut("laptop", 6), "laptop");
        assert_eq!(cut("laptops", 6), "lapto…");
        assert_eq!(cut("漢字漢字", 6), "漢字…");
        assert_eq!(columns("e\u{301}"), 1);
        assert_eq!(columns(&cut("漢字漢字", 6)), 5);
    }
}
