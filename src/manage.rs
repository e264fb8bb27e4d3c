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

fn list_table(
    entries: &[Entry],
    used: &std::collections::HashMap<String, u64>,
    now: u64,
) -> String {
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.name.clone(),
                e.scopes.to_string(),
                date::format(e.created),
                e.expires.map_or_else(|| "never".to_owned(), date::format),
                used.get(&e.id)
                    .map_or_else(|| "-".to_owned(), |&t| date::format(t)),
                e.status(now).as_str().to_owned(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "NAME",
        "SCOPES",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
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
        assert!(
            lines[0].starts_with("ID        NAME       SCOPES"),
            "{table}"
        );
        assert!(
            lines[1].contains("my laptop")
                && lines[1].contains("read,write")
                && lines[1].ends_with("active")
        );
        assert!(lines[1].contains("2026-11-21T22:28:20Z") && lines[1].contains("never"));
        let json: serde_json::Value = serde_json::from_str(&list_json(&entries, &used, 0)).unwrap();
        assert_eq!(json[0]["scopes"], json!(["read", "write"]));
        assert_eq!(json[0]["expires"], serde_json::Value::Null);
        assert_eq!(json[0]["status"], "active");
        let text = format!("{table}{json}");
        assert!(!text.contains("0101010101"), "no digest in listings");
    }
}
