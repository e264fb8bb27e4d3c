//! A program per connection: stdin/stdout relay, exit codes, stderr, environment.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;

use crate::util::*;

/// Reads messages until the server closes; returns them and the close code.
async fn drain(ws: &mut Ws) -> (Vec<Message>, Option<u16>) {
    let mut got = Vec::new();
    loop {
        match next(ws).await {
            Some(Message::Close(frame)) => return (got, frame.map(|f| f.code.into())),
            Some(m) => got.push(m),
            None => return (got, None),
        }
    }
}

#[test]
fn cat_in_text_mode() {
    let d = Daemon::start(&["--", "cat"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.expect("connect");
        for text in ["one", "two words", "", "ünïcödé"] {
            ws.send(Message::text(text)).await.unwrap();
            assert_eq!(next(&mut ws).await, Some(Message::text(text)));
        }
        // Far beyond a pipe's buffer: both directions must move at once.
        let big = "y".repeat(600_000);
        ws.send(Message::text(big.clone())).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text(big)));
        ws.close(None).await.unwrap();
    });
    d.expect_fields("child-exit", json!({}), Duration::from_secs(10));
}

#[test]
fn cat_in_binary_mode() {
    let d = Daemon::start(&["--binary", "--", "cat"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::binary(vec![0u8, 10, 255, 13]))
            .await
            .unwrap();
        assert_eq!(
            next(&mut ws).await,
            Some(Message::binary(vec![0u8, 10, 255, 13]))
        );
    });
}

#[test]
fn output_then_exit_status() {
    let d = Daemon::start(&["--", "sh", "-c", "echo one; printf 'two\\r\\nthree'"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let (got, code) = drain(&mut ws).await;
        assert_eq!(
            got,
            vec![
                Message::text("one"),
                Message::text("two"),
                Message::text("three")
            ]
        );
        assert_eq!(code, Some(1000));
    });
    let d = Daemon::start(&["--", "sh", "-c", "echo bye; exit 3"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let (got, code) = drain(&mut ws).await;
        assert_eq!(got, vec![Message::text("bye")]);
        assert_eq!(code, Some(1011));
    });
    // The daemon logs an exit status as a string (it may be "unknown").
    d.expect_fields("child-exit", json!({"status": "3"}), Duration::from_secs(5));
}

#[test]
fn non_utf8_line_arrives_as_binary() {
    let d = Daemon::start(&["--", "sh", "-c", "printf 'ok\\n\\377\\376\\n'"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let (got, _) = drain(&mut ws).await;
        assert_eq!(
            got,
            vec![Message::text("ok"), Message::binary(vec![0xff, 0xfe])]
        );
    });
}

#[test]
fn stderr_goes_to_the_log_not_the_client() {
    let d = Daemon::start(&["--", "sh", "-c", "echo visible; echo 'oops, a problem' >&2"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let (got, _) = drain(&mut ws).await;
        assert_eq!(got, vec![Message::text("visible")]);
    });
    let line = d.expect_fields("child-stderr", json!({}), Duration::from_secs(5));
    assert_eq!(
        (&line["conn"], &line["line"]),
        (&json!(1), &json!("oops, a problem")),
        "{line}"
    );
}

#[test]
fn start_failure_is_502() {
    use std::os::unix::fs::PermissionsExt as _;
    // There at startup (which checks), gone by the time a client connects.
    let scratch = Scratch::new("gone");
    let program = scratch.path().join("wsgate-test-program");
    std::fs::write(&program, "#!/bin/sh\ncat\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(&["--", program.to_str().unwrap()]);
    std::fs::remove_file(&program).unwrap();
    let r = upgrade(d.addr, &format!("/?token={TOKEN}"), "");
    assert_eq!(status(&r), 502, "{r}");
    d.expect_fields(
        "reject",
        json!({"reason": "backend-failed"}),
        Duration::from_secs(5),
    );
}

#[test]
fn rejected_requests_start_nothing() {
    let marker = Scratch::new("marker");
    let file = marker.path().join("started");
    let script = format!("touch {}", file.display());
    let d = Daemon::start(&["--", "sh", "-c", &script]);
    for target in ["/", "/?token=wrong-wrong-wrong-wrong"] {
        assert_eq!(status(&upgrade(d.addr, target, "")), 401);
    }
    assert_eq!(
        status(&raw(d.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")),
        426
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!file.exists(), "a rejected request started the program");
}

#[test]
fn environment_is_cgi_without_secrets() {
    let d = Daemon::with(Options {
        args: vec!["--", "env"],
        env: vec![("WSGATE_AUTH_TOKEN", TOKEN), ("WSGATE_EXTRA", "x")],
        token_file: false,
    });
    let url = format!(
        "ws://{}/app/path?a=1&token={TOKEN}&b=two&next=%2F%3Ftoken%3D{TOKEN}",
        d.addr
    );
    let lines = block_on(async {
        use async_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = url.as_str().into_client_request().unwrap();
        let encoded = TOKEN.replace('-', "%2D");
        let headers = request.headers_mut();
        headers.insert("X-Copy", encoded.parse().unwrap());
        headers.insert(
            "Referer",
            format!("http://localhost/p?token={TOKEN}").parse().unwrap(),
        );
        headers.insert("X-Plain", "kept".parse().unwrap());
        let tcp = async_std::net::TcpStream::connect(d.addr).await.unwrap();
        let (mut ws, _) = async_tungstenite::client_async(request, tcp).await.unwrap();
        let (got, code) = drain(&mut ws).await;
        assert_eq!(code, Some(1000));
        got.into_iter()
            .map(|m| m.into_text().unwrap().to_string())
            .collect::<Vec<_>>()
    });
    let env = lines.join("\n");
    assert!(!env.contains(TOKEN), "the program saw the token:\n{env}");
    assert!(
        !env.contains(&TOKEN.replace('-', "%2D")),
        "the program saw the token:\n{env}"
    );
    assert!(lines.iter().any(|l| l == "HTTP_X_PLAIN=kept"), "{env}");
    assert!(
        lines
            .iter()
            .any(|l| l == "HTTP_REFERER=http://localhost/p?token=REDACTED"),
        "{env}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("HTTP_X_COPY")), "{env}");
    let has = |line: &str| lines.iter().any(|l| l == line);
    assert!(has("QUERY_STRING=a=1&b=two"), "{env}");
    assert!(has("REQUEST_URI=/app/path?a=1&b=two"), "{env}");
    assert!(has("PATH_INFO=/app/path"), "{env}");
    assert!(has("REQUEST_METHOD=GET"), "{env}");
    assert!(has("REMOTE_ADDR=127.0.0.1"), "{env}");
    assert!(has(&format!("SERVER_PORT={}", d.addr.port())), "{env}");
    assert!(has("WSGATE_CONN_ID=1"), "{env}");
    assert!(has(&format!("HTTP_HOST={}", d.addr)), "{env}");
    assert!(lines.iter().any(|l| l.starts_with("REMOTE_PORT=")), "{env}");
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("WSGATE_AUTH_TOKEN") || l.starts_with("WSGATE_EXTRA")),
        "{env}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("HTTP_SEC_WEBSOCKET_KEY")),
        "{env}"
    );
}

#[test]
fn program_paths_are_checked_at_startup() {
    use std::os::unix::fs::PermissionsExt as _;
    let scratch = Scratch::new("paths");
    let script = scratch.path().join("tool.sh");
    std::fs::write(&script, "#!/bin/sh\ncat\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = scratch.path().join("nonexistent");
    let runtime = scratch.path().join("run");
    let env = [("WSGATE_RUNTIME_DIR", runtime.as_os_str())];
    for (program, why) in [
        (missing.to_str().unwrap(), "No such file"),
        (script.to_str().unwrap(), "not executable"),
        (scratch.path().to_str().unwrap(), "not a file"),
    ] {
        let out = run_wsgate(&["--listen", "127.0.0.1:0", "--", program], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program}: {err}");
        assert!(
            err.contains(program) && err.contains(why),
            "{program}: {err}"
        );
    }
    // Made executable, the same path starts and relays.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(&["--", script.to_str().unwrap()]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::text("through the script")).await.unwrap();
        assert_eq!(
            next(&mut ws).await,
            Some(Message::text("through the script"))
        );
    });
}

#[test]
fn a_line_end_the_client_sends_is_not_doubled() {
    // Each line the program reads comes back in brackets: an empty line would show.
    let d = Daemon::start(&[
        "--",
        "sh",
        "-c",
        "while IFS= read -r l; do printf '[%s]\\n' \"$l\"; done",
    ]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        for (sent, read) in [
            ("1+1\n", vec!["[1+1]"]),
            ("2+2\r\n", vec!["[2+2]"]),
            ("3+3", vec!["[3+3]"]),
            ("a\nb\n", vec!["[a]", "[b]"]),
            ("blank after\n\n", vec!["[blank after]", "[]"]),
        ] {
            ws.send(Message::text(sent)).await.unwrap();
            for line in read {
                assert_eq!(next(&mut ws).await, Some(Message::text(line)), "{sent:?}");
            }
        }
        // Nothing else came: the next answer is the next line's.
        ws.send(Message::text("last")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("[last]")));
    });
}
