//! `wsgate --generate`: the man page renders without warnings and names every option
//! of `--help`; each completion script loads in its own shell and completes.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

/// `wsgate --generate WHAT`'s output.
fn generate(what: &str) -> String {
    let out = run_wsgate(&["--generate", what], &[]);
    assert!(out.status.success(), "--generate {what}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.len() > 500,
        "--generate {what} printed {} bytes",
        text.len()
    );
    text
}

/// Whether `tool` is there, by the one rule for tools the tests drive ([`needs`]).
fn have(tool: &str) -> bool {
    needs(in_path(tool), tool, ".ci/run installs it with apt-get")
}

/// Runs `program args` with `input` on stdin; its stdout and stderr.
fn shell(program: &str, args: &[&str], dir: &Path) -> (String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CACHE_HOME", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every option `--help` names: `--long` and `-x` words.
fn options_in_help() -> Vec<String> {
    let out = run_wsgate(&["--help"], &[]);
    let help = String::from_utf8(out.stdout).unwrap();
    let mut found: Vec<String> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            (w.starts_with("--") && w.len() > 2 && w.as_bytes()[2].is_ascii_lowercase())
                || (w.len() == 2 && w.starts_with('-') && w != &"--")
        })
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    assert!(found.len() > 30, "{found:?}");
    found
}

#[test]
fn man_page_renders_without_warnings_and_names_every_option() {
    if !have("groff") {
        return;
    }
    let scratch = Scratch::new("man");
    let page = scratch.path().join("wsgate.1");
    std::fs::write(&page, generate("man")).unwrap();
    let page = page.to_str().unwrap();
    // -ww: every warning; -z: no output, only the checks.
    let (_, warnings) = shell(
        "groff",
        &["-man", "-Tutf8", "-ww", "-z", page],
        scratch.path(),
    );
    assert_eq!(warnings, "", "groff warns");
    // Wide lines and no hyphenation, so an option is never broken across lines.
    let (text, warnings) = shell(
        "groff",
        &[
            "-man",
            "-Tutf8",
            "-rLL=400n",
            "-rHY=0",
            "-P-c",
            "-P-b",
            "-P-u",
            page,
        ],
        scratch.path(),
    );
    assert_eq!(warnings, "");
    // Rendered hyphens may be U+2010 or minus signs; backspace overstrikes are off.
    let text = text.replace(['\u{2010}', '\u{2212}'], "-");
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "SECURITY",
        "EXAMPLES",
    ] {
        assert!(
            text.contains(&format!("\n{section}\n")),
            "no {section} section"
        );
    }
    for option in options_in_help() {
        assert!(text.contains(&option), "the man page lacks {option}");
    }
    for default in ["127.0.0.1:7331", "1048576", "query-token"] {
        assert!(text.contains(default), "the man page lacks {default}");
    }
    // man-db's `man -l` (macOS's man has no -l).
    if cfg!(target_os = "linux") && have("man") {
        let (text, _) = shell("man", &["-l", page], scratch.path());
        assert!(text.contains("wsgate - a token gate"), "{text}");
    }
}

/// The four modes `--auth` takes.
const MODES: [&str; 4] = ["query-token", "bearer", "jwt", "store"];

/// Completions of each line: what the shell offers, one word a line, per line.
fn assert_completes(shell: &str, offered: impl Fn(&str) -> Vec<String>) {
    let listen = offered("wsgate --li");
    assert_eq!(listen, ["--listen"], "{shell}: wsgate --li");
    let mut modes = offered("wsgate --auth ");
    modes.sort();
    let mut want = MODES.map(str::to_owned).to_vec();
    want.sort();
    assert_eq!(modes, want, "{shell}: wsgate --auth ");
    let formats = offered("wsgate --log-format ");
    assert!(
        formats.contains(&"json".to_owned()) && formats.contains(&"text".to_owned()),
        "{shell}: {formats:?}"
    );
    let mut commands = offered("wsgate token ");
    commands.sort();
    assert_eq!(
        commands,
        ["create", "list", "prune", "rename", "revoke"],
        "{shell}: wsgate token "
    );
    let create = offered("wsgate token create --sc");
    assert!(
        create.contains(&"--scope".to_owned()),
        "{shell}: {create:?}"
    );
    assert!(
        offered("wsgate --config wsgate-conf").contains(&"wsgate-config-example".to_owned())
            || offered("wsgate --config wsgate-conf")
                .iter()
                .any(|w| w.ends_with("wsgate-config-example")),
        "{shell}: --config completes file names"
    );
}

#[test]
fn bash_completes() {
    if !have("bash") {
        return;
    }
    let scratch = Scratch::new("bash");
    let script = scratch.path().join("wsgate.bash");
    std::fs::write(&script, generate("complete-bash")).unwrap();
    std::fs::write(scratch.path().join("wsgate-config-example"), "--echo\n").unwrap();
    let offered = |line: &str| {
        // The words as bash splits them (at spaces and at `=`), and the cursor's word.
        let driver = format!(
            "source {script:?} || exit 9\n\
             read -ra COMP_WORDS <<< {line:?}\n\
             [[ {line:?} == *' ' ]] && COMP_WORDS+=('')\n\
             COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
             _wsgate wsgate\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        );
        let (out, err) = shell(
            "bash",
            &["--norc", "--noprofile", "-c", &driver],
            scratch.path(),
        );
        assert_eq!(err, "", "bash: {line}");
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_completes("bash", offered);
}

#[test]
fn fish_completes() {
    if !have("fish") {
        return;
    }
    let scratch = Scratch::new("fish");
    let script = scratch.path().join("wsgate.fish");
    std::fs::write(&script, generate("complete-fish")).unwrap();
    std::fs::write(scratch.path().join("wsgate-config-example"), "--echo\n").unwrap();
    let offered = |line: &str| {
        // `complete -C` prints what fish would offer for the line, with descriptions
        // after a tab.
        let driver = format!(
            "source {} ; or exit 9; complete -C{}",
            script.display(),
            fish_quote(line)
        );
        let (out, err) = shell("fish", &["--no-config", "-c", &driver], scratch.path());
        assert_eq!(err, "", "fish: {line}");
        out.lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_completes("fish", offered);
}

fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[test]
fn zsh_completes() {
    if !have("zsh") {
        return;
    }
    let scratch = Scratch::new("zsh");
    let functions = scratch.path().join("functions");
    std::fs::create_dir(&functions).unwrap();
    std::fs::write(functions.join("_wsgate"), generate("complete-zsh")).unwrap();
    std::fs::write(scratch.path().join("wsgate-config-example"), "--echo\n").unwrap();
    let driver = scratch.path().join("complete.zsh");
    std::fs::write(&driver, include_str!("generate/complete.zsh")).unwrap();
    let lines = [
        "wsgate --li",
        "wsgate --auth ",
        "wsgate --log-format ",
        "wsgate token ",
        "wsgate token create --sc",
        "wsgate --config wsgate-conf",
    ];
    // One interactive zsh (in a pseudo-terminal, through zsh/zpty) completes every line.
    let out = scratch.path().join("offered");
    let mut args = vec![
        "-f".to_owned(),
        driver.display().to_string(),
        functions.display().to_string(),
        out.display().to_string(),
    ];
    args.extend(lines.iter().map(|l| (*l).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The driver bounds its own waits (10 s a line).
    let (_, err) = shell("zsh", &args, scratch.path());
    assert_eq!(err, "", "zsh");
    let text = std::fs::read_to_string(&out).unwrap();
    let offered = |line: &str| {
        let start = format!("<line> {line}\n");
        let Some((_, rest)) = text.split_once(&start) else {
            panic!("zsh did not complete {line:?}: {text}")
        };
        let Some((matches, _)) = rest.split_once("<done>\n") else {
            panic!("zsh did not finish completing {line:?}: {text}")
        };
        let mut words: Vec<String> = matches.lines().map(str::to_owned).collect();
        words.dedup();
        words
    };
    assert_completes("zsh", offered);
}
