//! Processes, descriptors, signals and the runtime file over a daemon's life.

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;

use crate::util::*;

#[cfg(target_os = "linux")]
#[test]
fn no_leftover_children_or_descriptors_after_100_cycles() {
    let d = Daemon::start(&["--", "cat"]);
    let url = d.url("/");
    // Warm up once so lazily created runtime descriptors are counted in the baseline.
    block_on(async {
        let mut ws = connect(&url).await.unwrap();
        ws.send(Message::text("warm")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("warm")));
        ws.close(None).await.unwrap();
    });
    assert!(eventually(Duration::from_secs(10), || children_of(d.pid()).is_empty()));
    let baseline = fd_count(d.pid());
    block_on(async {
        for i in 0..100 {
            let mut ws = connect(&url).await.unwrap();
            if i % 2 == 0 {
                ws.send(Message::text("x")).await.unwrap();
                assert_eq!(next(&mut ws).await, Some(Message::text("x")));
                ws.close(None).await.unwrap();
            }
            // Odd rounds just drop the connection without a close frame.
        }
    });
    assert!(
        eventually(Duration::from_secs(15), || children_of(d.pid()).is_empty()),
        "children left: {:?}",
        children_of(d.pid())
    );
    assert!(
        eventually(Duration::from_secs(10), || fd_count(d.pid()) <= baseline),
        "descriptors: {} now, {baseline} before",
        fd_count(d.pid())
    );
}

#[test]
fn client_gone_program_terminated_then_killed() {
    // Ignores stdin EOF and SIGTERM: only SIGKILL ends it.
    let d = Daemon::start(&[
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("ready")));
        assert_eq!(children_of(d.pid()).len(), 1);
    });
    let started = Instant::now();
    assert!(eventually(Duration::from_secs(8), || children_of(d.pid()).is_empty()));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "killed too early: {took:?}"
    );
    // The daemon logs the signal as a string, like an exit status.
    d.expect_fields("child-exit", json!({"signal": "9"}), Duration::from_secs(5));
}

#[test]
fn sigterm_closes_sessions_and_exits_zero() {
    let mut d = Daemon::start(&["--", "cat"]);
    let runtime_file = d.runtime_file();
    assert!(runtime_file.exists());
    let url = d.url("/");
    let (mut a, mut b) = block_on(async {
        let mut a = connect(&url).await.unwrap();
        a.send(Message::text("hi")).await.unwrap();
        assert_eq!(next(&mut a).await, Some(Message::text("hi")));
        let b = connect(&url).await.unwrap();
        (a, b)
    });
    let children = {
        assert!(eventually(Duration::from_secs(5), || children_of(d.pid())
            .len()
            == 2));
        children_of(d.pid())
    };
    let started = Instant::now();
    let status = d
        .terminate(Duration::from_secs(6))
        .expect("exits within 6 s");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    block_on(async {
        assert_eq!(close_code(&mut a).await, Some(1001));
        assert_eq!(close_code(&mut b).await, Some(1001));
    });
    assert!(!runtime_file.exists(), "runtime file left behind");
    for pid in children {
        assert!(!is_running(pid), "child {pid} left");
    }
}

#[test]
fn sigint_exits_zero() {
    let mut d = Daemon::start(&["--echo"]);
    d.signal(rustix::process::Signal::INT);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn runtime_file_and_list() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut d = Daemon::with(Options {
        args: vec!["--echo"],
        env: vec![],
        token_file: false,
    });
    let file = d.runtime_file();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(d.runtime_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let url = d.runtime_url();
    let token = d.token.clone().unwrap();
    assert_eq!(token.len(), 43, "generated token: 32 bytes base64url");
    assert_eq!(url, format!("ws://{}/?token={token}", d.addr));
    // The generated token works.
    block_on(async {
        let mut ws = connect(&url).await.unwrap();
        ws.send(Message::text("ok")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("ok")));
    });
    // A stale file of a process that is gone is listed by nobody and removed.
    let stale = d.runtime_dir().join("2147483000.instance");
    std::fs::write(
        &stale,
        "pid=2147483000\nurl=ws://127.0.0.1:9/?token=stale\n",
    )
    .unwrap();
    let out = run_wsgate(
        &["list"],
        &[("WSGATE_RUNTIME_DIR", d.runtime_dir().as_os_str())],
    );
    assert!(out.status.success());
    // Into a pipe, the URL alone (so `$(wsgate list)` is a URL), though the echo's
    // console is on: the console link follows it on a terminal only.
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{url}\n"));
    assert!(!stale.exists());
    // Not a terminal: the log shows the URL without the token, and where it is.
    let ready = d.expect_fields("ready", json!({}), Duration::from_secs(5));
    assert_eq!(
        ready["url"],
        format!("ws://{}/?token=<hidden>", d.addr),
        "{ready}"
    );
    assert_eq!(ready["runtime_file"], file.display().to_string(), "{ready}");
    let log = d.stderr();
    assert!(!log.contains(&token), "{log}");
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    assert!(!file.exists());
}

#[test]
fn banner_shows_the_url_on_a_terminal() {
    let d = OnTerminal::start(&["--echo"], &[]);
    let banner = d.output_once(|seen| seen.contains("event=ready"));
    let url = d.runtime_field("url").expect("a url line");
    let console = d.runtime_field("console_url").expect("a console_url line");
    // The console link is on the line after the connect URL, with the same token.
    assert!(
        banner.contains(&format!("connect: {url}\r\n  console: {console}\r\n"))
            || banner.contains(&format!("connect: {url}\n  console: {console}\n")),
        "{banner}"
    );
    let token = url.split_once("?token=").unwrap().1;
    assert!(console.ends_with(&format!("/_wsgate/console#token={token}")));
    // The banner shows the token; the `ready` line after it, on the terminal too,
    // hides it like everywhere else in the log.
    let (shown, ready) = banner.split_once("event=ready").expect("a ready line");
    assert!(!shown.contains("<hidden>"), "{banner}");
    let ready = ready.lines().next().unwrap_or_default();
    assert!(ready.contains("?token=<hidden>"), "{ready}");
    assert!(!ready.contains(token), "{ready}");
}

/// A supplied token with `+`, `/` and `=` (as `openssl rand -base64 32` makes): the
/// runtime file's and `wsgate list`'s URL carries it percent-encoded and connects as it
/// is, the token put raw in `?token=` is refused, and the log says the token needs
/// encoding without ever holding it, raw or encoded.
#[test]
fn supplied_token_that_needs_percent_encoding() {
    let scratch = Scratch::new("enc");
    let raw = "k8+Yz/Qw1Lp0vR3tB6nM9sXaE2fH5jCgU7dK4oI+Ab=";
    let encoded = "k8%2BYz%2FQw1Lp0vR3tB6nM9sXaE2fH5jCgU7dK4oI%2BAb%3D";
    let file = scratch.path().join("token");
    std::fs::write(&file, format!("{raw}\n")).unwrap();
    set_mode(&file, 0o600);
    let d = Daemon::with(Options {
        args: vec!["--echo", "--auth-token-file", file.to_str().unwrap()],
        env: vec![],
        token_file: false,
    });
    let url = d.runtime_url();
    assert_eq!(url, format!("ws://{}/?token={encoded}", d.addr));
    let out = run_wsgate(
        &["list"],
        &[("WSGATE_RUNTIME_DIR", d.runtime_dir().as_os_str())],
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{url}\n"));
    // The URL as printed connects; the raw token does not (its `+` reads as a space).
    block_on(async {
        let mut ws = connect(&url).await.unwrap();
        ws.send(Message::text("ok")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("ok")));
    });
    let refused = upgrade(d.addr, &format!("/?token={raw}"), "");
    assert_eq!(status(&refused), 401, "{refused}");
    let warning = d.wait_for_event(Duration::from_secs(5), |e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("needs percent-encoding in a query"))
    });
    assert!(warning.is_some(), "{}", d.stderr());
    let log = d.stderr();
    assert!(!log.contains(raw) && !log.contains(encoded), "{log}");
    assert!(!log.contains("k8+Yz") && !log.contains("k8%2BYz"), "{log}");
}

/// A token made only of unreserved characters gets no such warning.
#[test]
fn plain_token_needs_no_encoding_warning() {
    let d = Daemon::start(&["--echo"]);
    d.expect_fields("ready", json!({}), Duration::from_secs(5));
    let warnings: Vec<_> = (d.events().into_iter())
        .filter(|e| e["event"] == "warning")
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// Live (not zombie) processes in process group `group`, from /proc.
#[cfg(target_os = "linux")]
fn live_in_group(group: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        // State, parent, group.
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        if fields.len() == 3 && fields[2] == group.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[test]
fn programs_do_not_outlive_a_daemon_killed_with_sigkill() {
    // Each program ignores SIGTERM and its stdin, and starts a child of its own.
    let mut d = Daemon::start(&[
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo ready; sleep 1000; echo never",
    ]);
    let sessions = block_on(async {
        let mut sessions = Vec::new();
        for _ in 0..5 {
            let mut ws = connect(&d.url("/")).await.unwrap();
            assert_eq!(next(&mut ws).await, Some(Message::text("ready")));
            sessions.push(ws);
        }
        sessions
    });
    let groups = children_of(d.pid());
    assert_eq!(groups.len(), 5, "{groups:?}");
    let before: Vec<u32> = groups.iter().flat_map(|g| live_in_group(*g)).collect();
    // The sh and sleep of each session.
    assert!(before.len() >= 10, "{before:?}");
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let gone = eventually(Duration::from_secs(2), || {
        groups.iter().all(|g| live_in_group(*g).is_empty())
    });
    let left: Vec<u32> = groups.iter().flat_map(|g| live_in_group(*g)).collect();
    assert!(gone, "alive 2 s after the daemon's SIGKILL: {left:?}");
    drop(sessions);
}
