//! `--help`, printed from the flag table.

use super::flags::{ENV, FLAGS, Flag, Kind, Place, Section, USAGES};

/// Width the help text is wrapped to.
const WIDTH: usize = 90;
/// Where a flag's description starts.
const DESCRIPTION: usize = 28;

/// The text `--help` prints.
pub fn help() -> String {
    let mut out =
        String::from("wsgate: a token gate in front of a local tool's WebSocket\n\nUsage:\n");
    for usage in USAGES {
        row(&mut out, usage.synopsis, usage.help, 2, 43);
    }
    for section in Section::ALL {
        let flags = FLAGS.iter().filter(|f| f.place == Place::Serve(section));
        block(&mut out, section.title(), flags);
    }
    for (place, title) in [
        (Place::TokenCreate, "wsgate token create"),
        (Place::TokenList, "wsgate token list"),
        (Place::TokenPrune, "wsgate token prune"),
    ] {
        block(&mut out, title, FLAGS.iter().filter(|f| f.place == place));
    }
    out.push_str("\nEnvironment:\n");
    for var in ENV {
        row(&mut out, var.name, var.help, 2, DESCRIPTION);
    }
    out
}

/// A heading and its flags.
fn block<'a>(out: &mut String, title: &str, flags: impl Iterator<Item = &'a Flag>) {
    out.push('\n');
    out.push_str(title);
    out.push_str(":\n");
    for flag in flags {
        let mut text = flag.help.to_owned();
        if flag.repeatable {
            text.push_str("; repeatable");
        }
        if let Some(default) = flag.default {
            text.push_str(&format!(" (default {default})"));
        }
        row(out, &synopsis(flag), &text, 2, DESCRIPTION);
        if let Kind::Choices(choices) = flag.kind {
            let width = choices
                .iter()
                .map(|(word, _)| word.len())
                .max()
                .unwrap_or(0);
            for (word, meaning) in choices {
                let left = format!("{word:width$}");
                row(
                    out,
                    &left,
                    meaning,
                    DESCRIPTION + 2,
                    DESCRIPTION + width + 4,
                );
            }
        }
    }
}

/// How a flag is written: `-h, --help`, `--listen ADDR`.
pub fn synopsis(flag: &Flag) -> String {
    let mut text = match flag.short {
        Some(short) => format!("-{short}, {}", flag.long),
        None => flag.long.to_owned(),
    };
    if let Some(value) = flag.value {
        text.push(' ');
        text.push_str(value);
    }
    text
}

/// `left` indented by `indent`, then `right` from column `at`, wrapped; on the next
/// line when `left` does not leave room.
fn row(out: &mut String, left: &str, right: &str, indent: usize, at: usize) {
    let mut line = format!("{:indent$}{left}", "");
    if line.len() + 2 > at {
        out.push_str(&line);
        out.push('\n');
        line.clear();
    }
    for word in right.split(' ') {
        let start = line.is_empty() || line.len() <= at;
        if !start && line.len() + 1 + word.len() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line.clear();
        }
        if line.len() < at {
            line.push_str(&" ".repeat(at - line.len()));
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_flag_is_in_the_help() {
        let text = help();
        for flag in FLAGS {
            assert!(text.contains(&synopsis(flag)), "{}", flag.long);
            if let Kind::Choices(choices) = flag.kind {
                for (word, _) in choices {
                    assert!(text.contains(word), "{} {word}", flag.long);
                }
            }
        }
        for var in ENV {
            assert!(text.contains(var.name), "{}", var.name);
        }
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
    }

    /// Every flag named in `text`: `--long` words, and `-x` short ones.
    fn flags_in(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            let long = word.starts_with("--") && word.len() > 2;
            let short = word.len() == 2 && word.starts_with('-') && word != "--";
            if long || short {
                found.insert(word.to_owned());
            }
        }
        found
    }

    #[test]
    fn the_readme_options_table_lists_every_flag() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Command line\n")
            .nth(1)
            .expect("a Command line section");
        let table: Vec<&str> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .collect();
        assert!(!table.is_empty(), "no options table");
        let in_readme: BTreeSet<String> = table
            .iter()
            .flat_map(|row| flags_in(row.split('|').nth(1).unwrap_or_default()))
            .collect();
        let in_table: BTreeSet<String> = FLAGS
            .iter()
            .flat_map(|f| {
                let short = f.short.map(|s| format!("-{s}"));
                let alias = f.alias.map(str::to_owned);
                std::iter::once(f.long.to_owned()).chain(short).chain(alias)
            })
            .collect();
        assert_eq!(
            in_readme, in_table,
            "README options table vs the flag table"
        );
        let env: BTreeSet<&str> = ENV.iter().map(|v| v.name).collect();
        for var in env {
            assert!(
                section.contains(var),
                "{var} is not in the README's Command line section"
            );
        }
    }
}
