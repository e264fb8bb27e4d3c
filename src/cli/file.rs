//! The config file (`--config FILE`, `$WSGATE_CONFIG_FILE`): the daemon's options,
//! one a line, read by the same table as the command line, so an option means the
//! same everywhere. A line is `--name VALUE`, `--name=VALUE` or a switch's `--name`;
//! a value may be wrapped in one pair of quotes. Blank lines and lines starting with
//! `#` are skipped. `-- COMMAND ARGS` may be the last line; its words are split like a
//! shell's (quotes and backslashes), without expansion of any kind.
//!
//! Refused in a file: `--auth-token` (config files get shared and copied; a token
//! comes from `--auth-token-file` or the environment), and `--config`, `--generate`,
//! `--help`, `--version`, which are things to do rather than settings. Errors name the
//! line and never repeat a value: a line may hold what should have been a secret.

use std::ffi::OsString;

use super::flags::{FLAGS, Flag, Place};

/// Largest config file read, so a path such as `/dev/zero` ends in an error.
pub const MAX_SIZE: u64 = 1 << 20;

/// Options refused in a config file, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "--auth-token",
        "a token does not belong in a config file (they get shared): use \
         --auth-token-file PATH or WSGATE_AUTH_TOKEN",
    ),
    ("--config", "config files do not include others"),
    ("--generate", "it is a command, not a setting"),
    ("--help", "it is a command, not a setting"),
    ("--version", "it is a command, not a setting"),
];

/// One option of the file.
pub struct Entry {
    /// Its line, from 1.
    pub line: usize,
    /// The option.
    pub flag: &'static Flag,
    /// Its value; `None` for a switch.
    pub value: Option<String>,
}

/// What a config file says.
#[derive(Default)]
pub struct File {
    /// The options, in order.
    pub entries: Vec<Entry>,
    /// The `-- COMMAND ARGS` line: its number and its words.
    pub command: Option<(usize, Vec<OsString>)>,
}

/// A line that cannot be read: its number and what is wrong (never its text).
#[derive(Debug, PartialEq, Eq)]
pub struct Bad {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads a config file's text.
pub fn parse(text: &str) -> Result<File, Bad> {
    let mut file = File::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let bad = |message: String| Bad {
            line: number,
            message,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((at, _)) = &file.command {
            return Err(bad(format!(
                "nothing may follow the '-- COMMAND' line (line {at})"
            )));
        }
        if let Some(rest) = command_line(line) {
            let words = split_words(rest).map_err(|e| bad(e.to_owned()))?;
            file.command = Some((number, words.into_iter().map(OsString::from).collect()));
            continue;
        }
        let Some(body) = line.strip_prefix("--") else {
            return Err(bad(match line.starts_with('-') {
                true => "write options by their long names (--name VALUE)".to_owned(),
                false => {
                    "expected an option (--name VALUE), a '#' comment or '-- COMMAND'".to_owned()
                }
            }));
        };
        let end = body
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(body.len());
        let name = &line[..end + 2];
        let value = match body[end..].chars().next() {
            Some('=') => Some(&body[end + 1..]),
            Some(_) => Some(body[end..].trim_start()),
            None => None,
        };
        let flag = FLAGS
            .iter()
            .filter(|f| matches!(f.place, Place::Serve(_)))
            .find(|f| f.named(name))
            .ok_or_else(|| bad(unknown(name)))?;
        if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| flag.long == *refused) {
            return Err(bad(format!("{} is refused here: {why}", flag.long)));
        }
        let value = match (flag.value, value) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad(format!("{} takes no value", flag.long))),
            (Some(what), None) => {
                return Err(bad(format!("{} needs a value ({what})", flag.long)));
            }
            (Some(what), Some(value)) => {
                let value = unquote(value.trim_end());
                if value.is_empty() {
                    return Err(bad(format!("{} needs a value ({what})", flag.long)));
                }
                Some(value.to_owned())
            }
        };
        file.entries.push(Entry {
            line: number,
            flag,
            value,
        });
    }
    Ok(file)
}

/// The words after `--`, if `line` is a `-- COMMAND` line.
fn command_line(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("--")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// Why `name` is not an option. Only a name made of what option names are made of is
/// repeated, and not one that continues a real option's name: `--auth-tokenABC…` is
/// likely a token typed without its space.
fn unknown(name: &str) -> String {
    let serve = FLAGS.iter().filter(|f| matches!(f.place, Place::Serve(_)));
    if let Some(flag) = serve
        .filter(|f| name.starts_with(f.long))
        .max_by_key(|f| f.long.len())
    {
        return format!(
            "unknown option: {} followed by more text (a space or '=' goes between an \
             option and its value)",
            flag.long
        );
    }
    let plain = name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match plain {
        true => format!("unknown option {name}"),
        false => "unknown option".to_owned(),
    }
}

/// `value` without one pair of matching quotes around it.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Splits a command line into words as a shell would without expanding anything:
/// whitespace separates words; `'…'` keeps everything; `"…"` keeps everything but
/// `\"` and `\\`; elsewhere a backslash keeps the next character.
pub fn split_words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                words.extend(word.take());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a ' quote is not closed"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("a \" quote is not closed"),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a \" quote is not closed"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a backslash ends the line"),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(usize, &'static str, Option<String>)> {
        let Ok(file) = parse(text) else {
            panic!("{text:?}")
        };
        file.entries
            .into_iter()
            .map(|e| (e.line, e.flag.long, e.value))
            .collect()
    }

    fn bad(text: &str) -> Bad {
        match parse(text) {
            Ok(_) => panic!("{text:?} was read"),
            Err(bad) => bad,
        }
    }

    #[test]
    fn lines() {
        let text = "# a service\n\n--echo\n  --listen 127.0.0.1:7331  \n--log-format=json\n\
                    --allow-origin 'http://localhost:5173'\n--allow-origin \"null\"\n\
                    --upstream-origin=pass\n\t# indented comment\n--scopes read\n";
        assert_eq!(
            entries(&text.replace("--scopes read\n", "")),
            vec![
                (3, "--echo", None),
                (4, "--listen", Some("127.0.0.1:7331".into())),
                (5, "--log-format", Some("json".into())),
                (6, "--allow-origin", Some("http://localhost:5173".into())),
                (7, "--allow-origin", Some("null".into())),
                (8, "--upstream-origin", Some("pass".into())),
            ]
        );
        // `--scope` belongs to `token create`, not the daemon.
        assert_eq!(bad(text).line, 10);
    }

    #[test]
    fn command_last() {
        let text = "--listen 127.0.0.1:0\n-- python3 -u 'my tool.py' --flag\n# end\n";
        let Ok(File {
            command: Some((line, words)),
            ..
        }) = parse(text)
        else {
            panic!("no command")
        };
        assert_eq!(line, 2);
        assert_eq!(words, ["python3", "-u", "my tool.py", "--flag"]);
        let b = bad("-- cat\n--echo\n");
        assert_eq!(b.line, 2);
        assert!(b.message.contains("line 1"), "{}", b.message);
        assert!(matches!(parse("--\n"), Ok(File { command: Some((1, w)), .. }) if w.is_empty()));
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let secret = "s3cr3t-s3cr3t-s3cr3t-value";
        let cases = [
            (
                format!("--echo\n--auth-token {secret}\n"),
                2,
                "--auth-token-file",
            ),
            (format!("--auth-token={secret}"), 1, "refused"),
            (format!("--auth-token{secret}"), 1, "followed by more text"),
            (secret.to_owned(), 1, "expected an option"),
            (format!("--X{secret}"), 1, "unknown option"),
            (format!("-t {secret}"), 1, "long names"),
            (format!("--echo {secret}"), 1, "takes no value"),
            ("--listen\n".to_owned(), 1, "needs a value"),
            ("--listen ''\n".to_owned(), 1, "needs a value"),
            ("--config other\n".to_owned(), 1, "refused"),
            ("--help\n".to_owned(), 1, "refused"),
            ("--bogus 1\n".to_owned(), 1, "unknown option --bogus"),
            (format!("-- sh -c 'echo {secret}\n"), 1, "not closed"),
        ];
        for (text, line, want) in cases {
            let b = bad(&text);
            assert_eq!(b.line, line, "{text:?}");
            assert!(b.message.contains(want), "{text:?}: {}", b.message);
            assert!(!b.message.contains("s3cr3t"), "{}", b.message);
        }
    }

    #[test]
    fn words() {
        let split = |s: &str| split_words(s).unwrap();
        assert_eq!(split("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(
            split(r#"a\ b "c \"d\" \n" 'e\f'"#),
            ["a b", r#"c "d" \n"#, r"e\f"]
        );
        assert_eq!(split("''"), [""]);
        assert_eq!(split(""), Vec::<String>::new());
        assert!(split_words("a\\").is_err());
        assert!(split_words("\"a").is_err());
    }
}
