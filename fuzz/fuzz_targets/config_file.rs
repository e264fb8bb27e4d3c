//! Any text as a config file (`--config FILE`), read alone and as the daemon reads it
//! before its command line.
//!
//! Properties: the same text gives the same answer; options come in line order, each
//! on a line the text has, and the command after them; a bad line is one the text has;
//! a usage error is one line.
#![no_main]

use std::ffi::OsString;

use libfuzzer_sys::fuzz_target;
use wsgate::internal::cli::{Command, Env, parse_config, parse_with};

fn daemon(text: &str, extra: &[&str]) -> Result<String, String> {
    let mut args: Vec<OsString> = vec!["--config".into(), "fuzz.conf".into()];
    args.extend(extra.iter().map(OsString::from));
    let read = |_: &std::path::Path| Ok(text.to_owned());
    match parse_with(args, Env::default(), read) {
        Ok(Command::Serve(config)) => Ok(format!("{config:?}")),
        Ok(other) => Err(format!("not the daemon: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match parse_config(text) {
        Ok(file) => {
            let mut last = 0;
            for entry in &file.entries {
                assert!(entry.line > last && entry.line <= lines);
                last = entry.line;
                assert!(!entry.value.as_deref().unwrap_or_default().contains('\n'));
            }
            if let Some((line, _)) = &file.command {
                assert!(*line > last && *line <= lines);
            }
        }
        Err(bad) => {
            assert!(bad.line >= 1 && bad.line <= lines);
            assert!(!bad.message.contains('\n'));
        }
    }
    let first = daemon(text, &["--listen", "127.0.0.1:0"]);
    assert_eq!(first, daemon(text, &["--listen", "127.0.0.1:0"]));
    if let Err(message) = &first {
        assert!(!message.contains('\n'), "{message}");
    }
});
