//! `--config FILE` and `$WSGATE_CONFIG_FILE` from outside: what a file sets, what the
//! command line overrides, and what a bad file says.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;

use crate::util::*;

/// A config file in a scratch directory.
fn config(scratch: &Scratch, text: &str) -> String {
    let path = scratch.path().join("config");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn origin_status(d: &Daemon, origin: &str) -> u16 {
    let target = format!("/?token={TOKEN}");
    status(&upgrade(d.addr, &target, &format!("Origin: {origin}\r\n")))
}

#[test]
fn the_file_sets_options_and_the_command_line_wins() {
    let scratch = Scratch::new("conf");
    let path = config(
        &scratch,
        "# a service's settings\n\n--echo\n--listen 127.0.0.1:1\n--log-format=text\n\
         --allow-origin 'https://one.example'\n",
    );
    // The command line's --listen (127.0.0.1:0) and --log-format json win; its
    // --allow-origin adds to the file's.
    let d = Daemon::start(&["--config", &path, "--allow-origin", "https://two.example"]);
    assert_ne!(d.addr.port(), 1);
    let listening = d.expect_event(Duration::from_secs(5), |e| e["event"] == "listening");
    assert_eq!(listening["backend"], "echo");
    assert_eq!(listening["config"], path.as_str());
    assert_eq!(origin_status(&d, "https://one.example"), 101);
    assert_eq!(origin_status(&d, "https://two.example"), 101);
    assert_eq!(origin_status(&d, "https://three.example"), 403);
}

#[test]
fn the_environment_names_a_file_whose_last_line_is_a_program() {
    let scratch = Scratch::new("conf");
    let path = config(&scratch, "--max-message-size 4096\n-- sh -c 'exec cat'\n");
    let env = [("WSGATE_CONFIG_FILE", path.as_str())];
    let d = Daemon::with(Options {
        env: env.to_vec(),
        ..Options::new(&[])
    });
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::text("through cat")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("through cat")));
    });
    // A backend on the command line replaces the file's.
    let d = Daemon::with(Options {
        env: env.to_vec(),
        ..Options::new(&["--echo"])
    });
    let listening = d.expect_event(Duration::from_secs(5), |e| e["event"] == "listening");
    assert_eq!(listening["backend"], "echo");
}

#[test]
fn a_bad_file_exits_2_naming_the_file_and_line_and_never_a_value() {
    let scratch = Scratch::new("conf");
    let secret = "do-not-print-me-0123456789";
    let cases = [
        (
            format!("--echo\n\n--auth-token {secret}\n"),
            "line 3",
            "--auth-token-file",
        ),
        (
            format!("--echo\n--bogus {secret}\n"),
            "line 2",
            "unknown option --bogus",
        ),
        (format!("{secret}\n"), "line 1", "expected an option"),
        (
            "--echo\n--listen nowhere\n".to_owned(),
            "line 2",
            "--listen",
        ),
        (
            "-- cat\n--echo\n".to_owned(),
            "line 2",
            "nothing may follow",
        ),
        (
            "--listen 127.0.0.1:0\n--listen 127.0.0.1:0\n".to_owned(),
            "line 2",
            "more than once",
        ),
    ];
    for (text, line, why) in cases {
        let path = config(&scratch, &text);
        let out = run_wsgate(&["--config", &path], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(&format!("{path} {line}")), "{text:?}: {err}");
        assert!(err.contains(why), "{text:?}: {err}");
        assert!(!err.contains(secret), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let missing = scratch.path().join("missing");
    let out = run_wsgate(&["--config", missing.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    // --help and --version do not read it.
    let env = [("WSGATE_CONFIG_FILE", missing.as_os_str())];
    assert!(run_wsgate(&["--help"], &env).status.success());
    assert!(run_wsgate(&["--version"], &env).status.success());
    let out = run_wsgate(&["--echo"], &env);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_service_with_a_generated_token_keeps_it_out_of_its_log() {
    let scratch = Scratch::new("conf");
    let path = config(&scratch, "--echo\n");
    let d = Daemon::with(Options {
        args: vec!["--config", &path],
        env: Vec::new(),
        token_file: false,
    });
    let token = d
        .token
        .clone()
        .expect("the runtime file's URL has the token");
    assert!(token.len() >= 40, "{token}");
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("hello")));
    });
    d.expect_event(Duration::from_secs(5), |e| e["event"] == "close");
    let log = d.stderr();
    assert!(log.contains(r#""event":"ready""#), "{log}");
    assert!(!log.contains(&token), "{log}");
}
