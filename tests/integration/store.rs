//! `--auth store`: managed tokens from the command line to the daemon, scopes,
//! revocation and expiry of live sessions, and pairing.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;

use crate::util::*;

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn url(d: &Daemon, token: &str) -> String {
    format!("ws://{}/?token={token}", d.addr)
}

fn reason(response: &str) -> String {
    response
        .split("\"reason\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_owned()
}

/// `wsgate token list --json`, parsed.
fn listed(config: &Path) -> Vec<serde_json::Value> {
    let (json, _) = text(&wsgate(config, &["token", "list", "--json"]));
    match serde_json::from_str(&json) {
        Ok(serde_json::Value::Array(items)) => items,
        other => panic!("not a JSON array: {other:?} from {json}"),
    }
}

/// The names in the store, sorted.
fn names(config: &Path) -> Vec<String> {
    let mut names: Vec<String> = listed(config)
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The close frame that ends a session, skipping whatever comes before it.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Message::Close(None)) | None => panic!("closed without a frame"),
            Some(_) => continue,
        }
    }
}

#[test]
fn create_list_revoke_prune() {
    let scratch = Scratch::new("store-cli");
    let config = scratch.path().join("config");
    let laptop = create_token(&config, &["--name", "laptop", "--scope", "read,write"]);
    assert_eq!(laptop.len(), 43, "32 bytes, base64url");
    let phone = create_token(&config, &["--name", "phone", "--expires", "12h"]);
    let old = create_token(&config, &["--name", "old", "--expires", "1s"]);
    assert_ne!(laptop, phone);

    // Modes, and only digests on disk.
    assert_eq!(mode_of(&config), 0o700);
    let store = config.join("tokens");
    assert_eq!(mode_of(&store), 0o600);
    let on_disk = std::fs::read_to_string(&store).unwrap();
    let hex = |token: &str| {
        use sha2::Digest as _;
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(token.as_bytes()))
    };
    for token in [&laptop, &phone, &old] {
        assert!(!on_disk.contains(token.as_str()), "a token is on disk");
        assert!(
            on_disk.contains(&hex(token)),
            "its digest is not: {on_disk}"
        );
    }

    let (list, _) = text(&wsgate(&config, &["token", "list"]));
    for needle in ["laptop", "phone", "old", "read,write ", "read,write,exec"] {
        assert!(list.contains(needle), "{needle}: {list}");
    }
    let (json, _) = text(&wsgate(&config, &["token", "list", "--json"]));
    let items = listed(&config);
    assert_eq!(items.len(), 3);
    for token in [&laptop, &phone, &old] {
        for shown in [&list, &json] {
            assert!(!shown.contains(token.as_str()) && !shown.contains(&hex(token)[..16]));
        }
    }
    let laptop_id = items.iter().find(|i| i["name"] == "laptop").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = wsgate(&config, &["token", "revoke", "laptop"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = wsgate(&config, &["token", "revoke", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("nobody"));
    std::thread::sleep(Duration::from_millis(1100));
    let items = listed(&config);
    let status = |name: &str| items.iter().find(|i| i["name"] == name).unwrap()["status"].clone();
    assert_eq!(status("laptop"), "revoked");
    assert_eq!(status("old"), "expired");
    assert_eq!(status("phone"), "active");

    // Expired entries go; a revoked one stays (refused as revoked) until asked.
    let out = wsgate(&config, &["token", "prune"]);
    assert!(out.status.success());
    assert!(
        text(&out).1.contains("removed 1 expired"),
        "{}",
        text(&out).1
    );
    assert_eq!(names(&config), ["laptop", "phone"]);
    let out = wsgate(&config, &["token", "prune", "--revoked"]);
    assert!(
        text(&out).1.contains("removed 1 expired or revoked"),
        "{}",
        text(&out).1
    );
    assert_eq!(names(&config), ["phone"]);
    let out = wsgate(&config, &["token", "revoke", &laptop_id]);
    assert_eq!(out.status.code(), Some(1), "pruned tokens are gone");
}

#[test]
fn revoke_by_shared_name_or_id_like_name() {
    let scratch = Scratch::new("store-names");
    let config = scratch.path().join("config");
    // A name comes free again when its token is revoked, so a revoked token and a
    // live one may share it: the name then means the live one.
    let _ = create_token(&config, &["--name", "twin"]);
    assert!(
        wsgate(&config, &["token", "revoke", "twin"])
            .status
            .success()
    );
    let _ = create_token(&config, &["--name", "twin"]);
    let out = wsgate(&config, &["token", "revoke", "twin"]);
    assert!(out.status.success(), "{}", text(&out).1);
    // Two revoked ones: which one is not guessed.
    let out = wsgate(&config, &["token", "revoke", "twin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("revoke one by id"),
        "{}",
        text(&out).1
    );
    // An id names one token, even when another token's name looks like it.
    let items = listed(&config);
    let first = items[0]["id"].as_str().unwrap().to_owned();
    let _ = create_token(&config, &["--name", &first]);
    let out = wsgate(&config, &["token", "revoke", &first]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        text(&out)
            .1
            .contains(&format!("{first} (twin) was already revoked")),
        "{}",
        text(&out).1
    );
}

#[test]
fn concurrent_creates_are_all_kept() {
    let scratch = Scratch::new("store-race");
    let config = scratch.path().join("config");
    let children: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(BIN)
                .args(["token", "create", "--name", &format!("t{i}")])
                .env("WSGATE_CONFIG_DIR", &config)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expected: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    assert_eq!(names(&config), expected);
}

#[test]
fn corrupt_or_shared_store_is_an_error_and_left_alone() {
    let scratch = Scratch::new("store-bad");
    let config = scratch.path().join("config");
    create_token(&config, &["--name", "good"]);
    let store = config.join("tokens");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes.extend_from_slice(b"this line is not an entry\n");
    std::fs::write(&store, &bytes).unwrap();
    let line = String::from_utf8_lossy(&bytes).lines().count();
    for args in [
        &["token", "create"][..],
        &["token", "list"],
        &["token", "prune"],
        &["token", "revoke", "good"],
    ] {
        let out = wsgate(&config, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out).1;
        assert!(
            err.contains(&format!("{}:{line}:", store.display())),
            "{args:?}: {err}"
        );
        assert_eq!(
            std::fs::read(&store).unwrap(),
            bytes,
            "{args:?} changed a corrupt store"
        );
    }
    // The daemon refuses to start on it too.
    let run = scratch.path().join("run");
    let out = run_wsgate(
        &["--auth", "store", "--echo", "--listen", "127.0.0.1:0"],
        &[
            ("WSGATE_CONFIG_DIR", config.as_os_str()),
            ("WSGATE_RUNTIME_DIR", run.as_os_str()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains(&format!("{}:{line}:", store.display()))
    );

    // A store others can read is refused, with how to fix it.
    let scratch = Scratch::new("store-mode");
    let config = scratch.path().join("config");
    create_token(&config, &[]);
    let store = config.join("tokens");
    set_mode(&store, 0o644);
    let out = wsgate(&config, &["token", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains(&format!("chmod 600 {}", store.display())),
        "{}",
        text(&out).1
    );
    set_mode(&store, 0o600);
    // A directory others can enter is refused by writers and readers alike.
    set_mode(&config, 0o755);
    for args in [&["token", "create"][..], &["token", "list"]] {
        let out = wsgate(&config, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out).1.contains("chmod 700"), "{}", text(&out).1);
    }
    set_mode(&config, 0o700);
    // A store that is a link or not a file at all is refused, and a FIFO does not
    // make anyone wait.
    let target = scratch.path().join("elsewhere");
    std::fs::rename(&store, &target).unwrap();
    std::os::unix::fs::symlink(&target, &store).unwrap();
    let out = wsgate(&config, &["token", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("is a symbolic link"),
        "{}",
        text(&out).1
    );
    std::fs::remove_file(&store).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&store)
        .status()
        .unwrap();
    assert!(made.success());
    set_mode(&store, 0o600);
    let started = std::time::Instant::now();
    let out = wsgate(&config, &["token", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("not a regular file"),
        "{}",
        text(&out).1
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A linked directory is fine when what it links to is private.
    let linked = scratch.path().join("linked");
    std::fs::remove_file(&store).unwrap();
    std::fs::rename(&target, &store).unwrap();
    std::os::unix::fs::symlink(&config, &linked).unwrap();
    let out = wsgate(&linked, &["token", "list"]);
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
fn daemon_checks_store_tokens() {
    let scratch = Scratch::new("store-daemon");
    let config = scratch.path().join("config");
    let good = create_token(&config, &["--name", "good one"]);
    let revoked = create_token(&config, &["--name", "revoked"]);
    let expired = create_token(&config, &["--name", "expired", "--expires", "1s"]);
    assert!(
        wsgate(&config, &["token", "revoke", "revoked"])
            .status
            .success()
    );
    std::thread::sleep(Duration::from_millis(1100));
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    let head = |target: &str, extra: &str| upgrade(d.addr, target, extra);
    assert_eq!(status(&head(&format!("/?token={good}"), "")), 101);
    assert_eq!(
        status(&head("/", &format!("Authorization: Bearer {good}\r\n"))),
        101
    );
    for (token, want) in [
        ("not-a-token-not-a-token", "invalid-token"),
        (&revoked, "revoked-token"),
        (&expired, "expired-token"),
    ] {
        let r = head(&format!("/?token={token}"), "");
        assert_eq!((status(&r), reason(&r).as_str()), (401, want), "{r}");
    }
    let both = head(
        &format!("/?token={good}"),
        &format!("Authorization: Bearer {good}\r\n"),
    );
    assert_eq!(status(&both), 400, "{both}");
    let health = raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(health.contains("\"auth\":\"store\""));
    // Logs name the token by id and name, never the token.
    d.expect_fields(
        "accept",
        json!({"token_name": "good one"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    for token in [&good, &revoked, &expired] {
        assert!(!log.contains(token.as_str()), "{log}");
    }
}

#[test]
fn scopes_are_connection_authority() {
    let scratch = Scratch::new("store-scopes");
    let config = scratch.path().join("config");
    let no_exec = create_token(&config, &["--scope", "read,write"]);
    let read_only = create_token(&config, &["--scope", "read"]);
    let write_only = create_token(&config, &["--scope", "write"]);
    let everything = create_token(&config, &["--name", "all of it"]);

    // A program needs exec.
    let d = Daemon::with(Options::store(&config, &["--", "env"]));
    let r = upgrade(d.addr, &format!("/?token={no_exec}"), "");
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(reason(&r), "insufficient-scope");
    assert!(r.contains("error=\"insufficient_scope\""), "{r}");
    let lines = block_on(async {
        let mut ws = connect(&url(&d, &everything)).await.unwrap();
        text_messages(&mut ws).await
    });
    assert!(
        lines.iter().any(|l| l == "WSGATE_TOKEN_NAME=all of it"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "WSGATE_SCOPES=read,write,exec"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("WSGATE_TOKEN_ID=")),
        "{lines:?}"
    );
    assert!(!lines.join("\n").contains(&everything));

    // Without write, sending closes the session; without read, nothing comes back.
    let e = Daemon::with(Options::store(&config, &["--echo"]));
    block_on(async {
        let mut ws = connect(&url(&e, &read_only)).await.unwrap();
        ws.send(Message::text("may I?")).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(1008));
        let mut ws = connect(&url(&e, &write_only)).await.unwrap();
        ws.send(Message::text("into the void")).await.unwrap();
        // The pong arrives; the echo, which would have come first, never does.
        let first = first_after_ping(&mut ws).await;
        assert!(matches!(first, Some(Ok(Message::Pong(_)))), "{first:?}");
    });
}

#[test]
fn revoked_and_expiring_sessions_are_closed() {
    let scratch = Scratch::new("store-live");
    let config = scratch.path().join("config");
    let revoke_me = create_token(&config, &["--name", "revoke me"]);
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    block_on(async {
        let mut ws = connect(&url(&d, &revoke_me)).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("hello")));
        assert!(
            wsgate(&config, &["token", "revoke", "revoke me"])
                .status
                .success()
        );
        let started = Instant::now();
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!((code, reason.as_str()), (1008, "token revoked"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
    let short = create_token(&config, &["--name", "short-lived", "--expires", "3s"]);
    // Created after the daemon started: it appears within a poll.
    assert!(eventually(Duration::from_secs(3), || {
        status(&raw(
            d.addr,
            b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )) == 200
            && status(&raw(
                d.addr,
                format!(
                    "GET /_wsgate/auth/check?token={short} HTTP/1.1\r\nHost: localhost\r\n\r\n"
                )
                .as_bytes(),
            )) == 200
    }));
    let expires = listed(&config)
        .iter()
        .find(|i| i["name"] == "short-lived")
        .and_then(|i| wsgate::internal::date::parse(i["expires"].as_str()?))
        .unwrap() as f64;
    block_on(async {
        let mut ws = connect(&url(&d, &short)).await.unwrap();
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!((code, reason.as_str()), (1008, "token expired"));
        let closed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            closed >= expires - 0.05 && closed < expires + 2.0,
            "closed at {closed}, expiry at {expires}"
        );
    });
}

#[test]
fn program_scopes_and_what_it_is_shown() {
    let scratch = Scratch::new("store-program");
    let config = scratch.path().join("config");
    let read_exec = create_token(&config, &["--scope", "read,exec"]);
    let write_exec = create_token(&config, &["--scope", "write,exec"]);
    let all = create_token(&config, &["--name", "all"]);
    let d = Daemon::with(Options::store(&config, &["--", "cat"]));
    block_on(async {
        // Without write, the first message sent closes the session.
        let mut ws = connect(&url(&d, &read_exec)).await.unwrap();
        ws.send(Message::text("may I?")).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(1008));
        // With both, it is an echo.
        let mut ws = connect(&url(&d, &all)).await.unwrap();
        ws.send(Message::text("echo me")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("echo me")));
    });
    // Without read, what the program says never arrives: `head -n1` answers one line
    // and exits, so the session ends after the answer would have been sent.
    let h = Daemon::with(Options::store(&config, &["--", "head", "-n1"]));
    let heard = |token: &str| {
        block_on(async {
            let mut ws = connect(&url(&h, token)).await.unwrap();
            ws.send(Message::text("echo me")).await.unwrap();
            text_messages(&mut ws).await
        })
    };
    assert_eq!(heard(&write_exec), Vec::<String>::new());
    assert_eq!(heard(&all), vec!["echo me".to_owned()]);

    // The presented token, wherever else it appears, reaches neither the log nor a
    // program (the daemon holds no secret of its own in store mode).
    let e = Daemon::with(Options::store(&config, &["--", "env"]));
    let lines = block_on(async {
        let bearer = format!("Bearer {all}");
        let target = format!("ws://{}/app?q={all}&x=1", e.addr);
        let mut ws = connect_with(&target, &[("Authorization", &bearer)]).await;
        text_messages(&mut ws).await
    });
    assert!(lines.iter().any(|l| l == "QUERY_STRING=x=1"), "{lines:?}");
    assert!(!lines.join("\n").contains(&all), "{lines:?}");
    e.expect_fields(
        "accept",
        json!({"target": "REDACTED"}),
        Duration::from_secs(5),
    );
    let log = e.stderr();
    assert!(!log.contains(&all), "{log}");
}

#[test]
fn unreadable_store_keeps_the_last_good_copy() {
    let scratch = Scratch::new("store-keep");
    let config = scratch.path().join("config");
    let token = create_token(&config, &[]);
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    let store = config.join("tokens");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes.extend_from_slice(b"garbage\n");
    std::fs::write(&store, bytes).unwrap();
    d.expect_fields("store-error", json!({}), Duration::from_secs(3));
    assert_eq!(
        status(&upgrade(d.addr, &format!("/?token={token}"), "")),
        101
    );
    assert_eq!(
        status(&upgrade(d.addr, "/?token=garbage-garbage-garbage", "")),
        401
    );
}

fn post_code(d: &Daemon, code: &str, extra: &str) -> String {
    let body = format!("{{\"code\":\"{code}\"}}");
    raw(
        d.addr,
        format!(
            "POST /_wsgate/pair HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: TestBrowser/2.0\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn current_code(d: &Daemon) -> String {
    let file = std::fs::read_to_string(d.runtime_file()).unwrap();
    file.lines()
        .find_map(|l| l.strip_prefix("pair_code="))
        .expect("a pairing code in the runtime file")
        .to_owned()
}

#[test]
fn pairing_exchanges_a_code_once() {
    let scratch = Scratch::new("pair");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--echo", "--pairing"]));
    let code = current_code(&d);
    assert_eq!(code.len(), 6);
    // `wsgate pair` shows it.
    let out = run_wsgate(
        &["pair"],
        &[("WSGATE_RUNTIME_DIR", d.runtime_dir().as_os_str())],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.starts_with(&code) && shown.contains(&format!("/_wsgate/pair#code={code}")),
        "{shown}"
    );

    let r = post_code(&d, &code, "");
    assert_eq!(status(&r), 200, "{r}");
    let body: serde_json::Value =
        serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["scopes"], serde_json::json!(["read", "write"]));
    assert!(body["expires"].as_str().unwrap().ends_with('Z'));
    // The token works at once, and is stored like any other.
    assert_eq!(
        status(&upgrade(d.addr, &format!("/?token={token}"), "")),
        101
    );
    // Stored with the configured scopes, not only answered with them.
    let items = listed(&config);
    let name = items[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("paired TestBrowser on unknown 20"),
        "{name}"
    );
    assert_eq!(items[0]["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(items[0]["id"], body["id"]);
    assert_eq!(items[0]["expires"], body["expires"]);
    // The code was single-use, and a new one replaced it.
    let again = post_code(&d, &code, "");
    assert_eq!(status(&again), 401);
    assert_eq!(
        again.split_once("\r\n\r\n").unwrap().1,
        "{\"error\":\"invalid_code\"}"
    );
    assert_ne!(current_code(&d), code);
    // Neither the code nor the token reaches the log.
    d.expect_fields("pair", json!({}), Duration::from_secs(5));
    let log = d.stderr();
    assert!(!log.contains(&code) && !log.contains(&token), "{log}");
}

#[test]
fn pairing_bodies() {
    let scratch = Scratch::new("pair-bodies");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(
        &config,
        &[
            "--echo",
            "--pairing",
            "--pair-scopes",
            "read",
            "--pair-expires",
            "1h",
        ],
    ));
    let post = |body: &[u8], length: usize| {
        let mut request = format!(
            "POST /_wsgate/pair HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n"
        )
        .into_bytes();
        request.extend_from_slice(body);
        raw(d.addr, &request)
    };
    // Bodies without a code are 400 and no guess: seven of them do not rotate the code.
    let code = current_code(&d);
    for body in [
        &b""[..],
        b"{}",
        b"{\"code\":null}",
        b"{\"code\":[1]}",
        b"not=it",
        b"\xff\xfe",
        b"{\"code\":\"1\"}x",
    ] {
        let r = post(body, body.len());
        assert_eq!(status(&r), 400, "{body:?}: {r}");
    }
    assert_eq!(current_code(&d), code);
    // Bytes after Content-Length are not part of the body.
    let mut body = format!("code={code}").into_bytes();
    let length = body.len();
    body.extend_from_slice(b"GARBAGE");
    let r = post(&body, length);
    assert_eq!(status(&r), 200, "{r}");
    let answer: serde_json::Value =
        serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(answer["scopes"], serde_json::json!(["read"]));
    let items = listed(&config);
    assert_eq!(items[0]["scopes"], serde_json::json!(["read"]));
    let name = items[0]["name"].as_str().unwrap();
    assert!(name.starts_with("paired browser on unknown 20"), "{name}");
    let expires = wsgate::internal::date::parse(items[0]["expires"].as_str().unwrap()).unwrap();
    let created = wsgate::internal::date::parse(items[0]["created"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, 3600);
    // Without Content-Length, or with too much.
    let r = raw(
        d.addr,
        b"POST /_wsgate/pair HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n{\"code\":\"123456\"}",
    );
    assert_eq!(status(&r), 411, "{r}");
    assert_eq!(status(&post(&[b'x'; 1025], 1025)), 413);
}

#[test]
fn five_wrong_codes_rotate_and_pause() {
    let scratch = Scratch::new("pair-wrong");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--echo", "--pairing"]));
    let code = current_code(&d);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(status(&post_code(&d, wrong, "")), 401);
    }
    let rotated = current_code(&d);
    assert_ne!(rotated, code, "five wrong codes replace it");
    let paused = post_code(&d, &rotated, "");
    assert_eq!(status(&paused), 429, "{paused}");
    assert!(paused.contains("\r\nRetry-After: "), "{paused}");
    assert!(status(&post_code(&d, &code, "")) != 200);
}

#[test]
fn expired_code_fails() {
    let scratch = Scratch::new("pair-expired");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(
        &config,
        &["--echo", "--pairing", "--pair-code-ttl", "1s"],
    ));
    let code = current_code(&d);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(status(&post_code(&d, &code, "")), 401);
    // A new one was issued when the old one expired.
    assert!(eventually(Duration::from_secs(3), || current_code(&d) != code));
}

#[test]
fn pairing_page_and_cors() {
    let scratch = Scratch::new("pair-page");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(
        &config,
        &[
            "--echo",
            "--pairing",
            "--allow-origin",
            "https://app.example",
        ],
    ));
    let page = raw(
        d.addr,
        b"GET /_wsgate/pair HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status(&page), 200);
    assert!(page.contains("Content-Type: text/html"), "{page}");
    assert!(
        page.contains("Content-Security-Policy: default-src 'none'"),
        "{page}"
    );
    let html = page.split_once("\r\n\r\n").unwrap().1;
    assert!(
        html.contains("localStorage")
            && html.contains("location.hash")
            && html.contains("replaceState")
    );
    for external in ["http://", "https://", "src=", "href="] {
        assert!(!html.contains(external), "{external}");
    }
    let pre = raw(
        d.addr,
        b"OPTIONS /_wsgate/pair HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(status(&pre), 204, "{pre}");
    assert!(
        pre.contains("Access-Control-Allow-Origin: https://app.example\r\n"),
        "{pre}"
    );
    let r = post_code(&d, &current_code(&d), "Origin: https://app.example\r\n");
    assert_eq!(status(&r), 200);
    assert!(
        r.contains("Access-Control-Allow-Origin: https://app.example\r\n"),
        "{r}"
    );
    let denied = post_code(&d, &current_code(&d), "Origin: https://evil.example\r\n");
    assert_eq!(status(&denied), 403);
    // Without --pairing the path does not exist.
    let plain = Daemon::with(Options::store(&config, &["--echo"]));
    assert_eq!(
        status(&raw(
            plain.addr,
            b"GET /_wsgate/pair HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )),
        404
    );
}

#[test]
fn store_mode_usage() {
    for (args, want) in [
        (vec!["--echo", "--pairing"], "--pairing needs --auth store"),
        (
            vec!["--echo", "--auth", "store", "--pair-scopes", "read"],
            "needs --pairing",
        ),
        (
            vec!["--echo", "--auth", "store", "--auth-token", TOKEN],
            "does not apply to --auth store",
        ),
        (vec!["token", "create", "--expires", "soon"], "--expires"),
        (vec!["token", "create", "--scope", "admin"], "--scope"),
        (vec!["token"], "needs create"),
    ] {
        let out = run_wsgate(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
