//! The command line from outside: exit codes and messages.

use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use crate::util::*;

/// `wsgate ARGS` with a runtime directory of its own.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let scratch = Scratch::new("cli");
    let runtime = scratch.path().join("run");
    let mut all = vec![("WSGATE_RUNTIME_DIR", runtime.as_os_str())];
    all.extend(env.iter().map(|&(k, v)| (k, std::ffi::OsStr::new(v))));
    run_wsgate(args, &all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_and_version() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--listen",
        "--auth-token-file",
        "--no-token-check",
        "--allow-origin",
        "--max-message-size",
        "--binary",
        "list",
    ] {
        assert!(help.contains(option), "help lacks {option}");
    }
    let out = run(&["-V"], &[]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("wsgate {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--echo", "--bogus"], &[], "--bogus"),
        (&[], &[], "nothing to gate"),
        (
            &["--echo", "--auth-token", "short"],
            &[],
            "shorter than 16 bytes",
        ),
        (
            &["--echo"],
            &[("WSGATE_AUTH_TOKEN", "has whitespace inside")],
            "whitespace",
        ),
        (
            &["--echo", "--auth-token-file", "/x"],
            &[("WSGATE_AUTH_TOKEN", TOKEN)],
            "more than one token source",
        ),
        (
            &["--echo", "--no-token-check", "--listen", "0.0.0.0:0"],
            &[],
            "non-loopback",
        ),
        (&["--echo", "--listen", "localhost:1"], &[], "--listen"),
    ];
    for (args, env, want) in cases {
        let out = run(args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn runtime_failures_exit_1_naming_the_cause() {
    let scratch = Scratch::new("tok");
    let short = scratch.path().join("short-token");
    std::fs::write(&short, "abc\n").unwrap();
    let out = run(
        &[
            "--echo",
            "--listen",
            "127.0.0.1:0",
            "--auth-token-file",
            short.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("short-token") && stderr(&out).contains("shorter than 16"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[
            "--echo",
            "--listen",
            "127.0.0.1:0",
            "--auth-token-file",
            "/nonexistent/token",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/token"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &["--listen", "127.0.0.1:0", "--", "wsgate-no-such-program"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("wsgate-no-such-program")
            && stderr(&out).contains("not found in PATH"),
        "{}",
        stderr(&out)
    );
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = run(&["--echo", "--listen", &addr], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn token_flag_warns_about_the_process_list() {
    let d = Daemon::with(Options {
        args: vec!["--echo", "--auth-token", TOKEN],
        env: vec![],
        token_file: false,
    });
    d.expect_event(Duration::from_secs(5), |e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("process list"))
    });
    let log = d.stderr();
    assert!(!log.contains(TOKEN));
}

#[test]
fn json_logs() {
    let d = Daemon::start(&["--echo", "--log-format", "json"]);
    let _ = upgrade(d.addr, "/?token=nope-nope-nope-nope", "");
    d.expect_fields(
        "reject",
        json!({"status": 401, "reason": "invalid-token"}),
        Duration::from_secs(5),
    );
    // About the format itself, so on the raw text: every line is one JSON object
    // that starts with its timestamp.
    for line in d.stderr().lines() {
        assert!(
            line.starts_with("{\"ts\":\"") && line.ends_with('}'),
            "{line}"
        );
    }
}

/// The default format, chosen explicitly here because the other tests log in JSON:
/// about the text format itself, so its checks are on the raw text.
#[test]
fn text_logs() {
    let d = Daemon::start(&["--echo", "--log-format", "text"]);
    let _ = upgrade(d.addr, "/?token=nope-nope-nope-nope", "");
    d.expect_log("event=reject", Duration::from_secs(5));
    assert!(d.events().is_empty(), "{}", d.stderr());
    let log = d.stderr();
    let reject = log.lines().find(|l| l.contains("event=reject")).unwrap();
    assert!(
        reject.contains(" status=401 ") && reject.contains(" reason=invalid-token"),
        "{reject}"
    );
    for line in log.lines() {
        assert!(
            line.starts_with("ts=") && line.contains(" event="),
            "{line}"
        );
    }
}
