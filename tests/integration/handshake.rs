//! Every rejection status, from raw bytes, and that the daemon keeps serving.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;

fn good(target: &str) -> String {
    upgrade_head(target, "")
}

#[test]
fn statuses_from_raw_bytes() {
    let d = Daemon::start(&["--echo"]);
    let t = format!("/?token={TOKEN}");
    let cases: Vec<(String, u16, &str)> = vec![
        (good(&t), 101, "success"),
        (good("/"), 401, "missing-token"),
        (good("/?token="), 401, "missing-token"),
        (good("/?token=wrong-token-0123456789"), 401, "invalid-token"),
        (good(&format!("{t}&tok%65n=x")), 401, "duplicate-token"),
        (good("/?token=%zz"), 400, "malformed-request"),
        (good("/?token=%4"), 400, "malformed-request"),
        (good("/ws#frag"), 400, "malformed-request"),
        (
            "\x16\x03\x01\x00\x25\x01\x00\x00\x21\x03\x03\r\n\r\n".into(),
            400,
            "malformed-request",
        ),
        (upgrade_head(&t, "Host: evil.example\r\n"), 400, "two hosts"),
        (
            good(&t).replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            400,
            "short key",
        ),
        (
            good(&t).replace("Host: 127.0.0.1", "Host: evil.example"),
            403,
            "host-denied",
        ),
        (
            good(&t).replace("Host: 127.0.0.1", "Host: 0x7f.0.0.1"),
            403,
            "host-denied",
        ),
        (
            good(&t).replace("Host: 127.0.0.1", "Host: 127.1"),
            403,
            "host-denied",
        ),
        (
            upgrade_head(&t, "Origin: https://evil.example\r\n"),
            403,
            "origin-denied",
        ),
        (upgrade_head(&t, "Origin: null\r\n"), 403, "origin-denied"),
        (good(&t).replace("GET ", "POST "), 405, "method-not-allowed"),
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".into(),
            426,
            "plain GET",
        ),
        (
            good(&t).replace("Version: 13", "Version: 8"),
            426,
            "unsupported-version",
        ),
        (good("/_wsgate/nope"), 404, "reserved"),
        (
            "GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".into(),
            200,
            "health",
        ),
        (
            good(&t).replace(
                "\r\n\r\n",
                &format!("\r\nX-Pad: {}\r\n\r\n", "a".repeat(9000)),
            ),
            431,
            "head-too-large",
        ),
    ];
    for (request, want, what) in &cases {
        let response = raw(d.addr, request.as_bytes());
        assert_eq!(status(&response), *want, "{what}: {response}");
        if *want != 101 {
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("\r\nConnection: close"), "{what}: {head}");
            assert!(
                body.starts_with('{') && body.ends_with('}'),
                "{what}: {body}"
            );
            assert!(
                !body.contains("evil") && !body.contains("wrong"),
                "{what} echoes the request: {body}"
            );
        }
    }
    // The daemon still serves after all of that.
    let response = raw(d.addr, good(&t).as_bytes());
    assert_eq!(status(&response), 101);
    // Each rejection was logged with its reason.
    for reason in [
        "missing-token",
        "invalid-token",
        "duplicate-token",
        "host-denied",
        "origin-denied",
        "head-too-large",
    ] {
        d.expect_fields("reject", json!({"reason": reason}), Duration::from_secs(5));
    }
}

#[test]
fn required_headers_on_rejections() {
    let d = Daemon::start(&["--echo"]);
    let t = format!("/?token={TOKEN}");
    let r = raw(d.addr, good(&t).replace("GET ", "PUT ").as_bytes());
    assert!(r.contains("\r\nAllow: GET\r\n"), "{r}");
    let r = raw(
        d.addr,
        good(&t).replace("Version: 13", "Version: 7").as_bytes(),
    );
    assert!(r.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{r}");
    let r = raw(d.addr, good(&t).as_bytes());
    assert!(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{r}");
    assert!(
        r.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{r}"
    );
    assert!(
        !r.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{r}"
    );
}

#[test]
fn health_endpoint() {
    let d = Daemon::start(&["--echo"]);
    let r = raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let body = r.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        body,
        format!(
            "{{\"status\":\"ok\",\"auth\":\"query-token\",\"token_check\":true,\"backend\":\"echo\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(!r.contains(TOKEN));
}

#[test]
fn slow_head_gets_408() {
    let d = Daemon::start(&["--echo"]);
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let started = Instant::now();
    let response = read_all(&mut s);
    let waited = started.elapsed();
    assert_eq!(status(&response), 408, "{response}");
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
}

#[test]
fn head_split_across_writes() {
    let d = Daemon::start(&["--echo"]);
    let head = good(&format!("/?token={TOKEN}"));
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    for chunk in head.as_bytes().chunks(7) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut buf = [0u8; 12];
    std::io::Read::read_exact(&mut s, &mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 101");
}

#[test]
fn bytes_after_the_head_reach_the_websocket() {
    let d = Daemon::start(&["--echo"]);
    let mut bytes = good(&format!("/?token={TOKEN}")).into_bytes();
    // A masked text frame "hi" (RFC 6455 §5.7), sent in the same write as the head.
    let mask = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x82]);
    bytes.extend_from_slice(&mask);
    bytes.extend(b"hi".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"\x81\x02hi") {
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the echo: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn connection_limit_gives_503() {
    let d = Daemon::start(&["--echo", "--max-connections", "2"]);
    let url = d.url("/");
    block_on(async {
        let a = connect(&url).await.unwrap();
        let b = connect(&url).await.unwrap();
        let r = raw(d.addr, good(&format!("/?token={TOKEN}")).as_bytes());
        assert_eq!(status(&r), 503, "{r}");
        assert!(r.contains("\r\nRetry-After: "), "{r}");
        drop(a);
        drop(b);
    });
    // Slots free up once those sessions end.
    assert!(eventually(Duration::from_secs(10), || {
        status(&raw(d.addr, good(&format!("/?token={TOKEN}")).as_bytes())) == 101
    }));
}

#[test]
fn no_token_check_accepts_anything_and_says_so() {
    let d = Daemon::start(&["--echo", "--no-token-check"]);
    d.expect_event(Duration::from_secs(5), |e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("token check disabled"))
    });
    assert_eq!(status(&raw(d.addr, good("/").as_bytes())), 101);
    assert_eq!(status(&raw(d.addr, good("/?token=nope").as_bytes())), 101);
    assert_eq!(status(&raw(d.addr, good("/?token=%zz").as_bytes())), 400);
    d.expect_fields(
        "accept",
        json!({"reason": "token-check-disabled"}),
        Duration::from_secs(5),
    );
    let r = raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(r.contains("\"token_check\":false"), "{r}");
    // The token is still generated and written for the operator.
    assert!(d.runtime_url().contains("?token="));
}

#[test]
fn allowed_origin_and_host() {
    let d = Daemon::start(&[
        "--echo",
        "--allow-origin",
        "https://app.example",
        "--allow-host",
        "box.example",
    ]);
    let t = format!("/?token={TOKEN}");
    assert_eq!(
        status(&upgrade(d.addr, &t, "Origin: https://app.example\r\n")),
        101
    );
    assert_eq!(
        status(&upgrade(d.addr, &t, "Origin: https://other.example\r\n")),
        403
    );
    assert_eq!(
        status(&raw(
            d.addr,
            good(&t).replace("127.0.0.1", "box.example:8080").as_bytes()
        )),
        101
    );
}

/// The refused Origin or Host is logged, so the operator sees what `--allow-origin` or
/// `--allow-host` would take: cut to 200 bytes, escaped by the log, and `REDACTED`
/// when it holds the daemon's token or a credential the request presented.
#[test]
fn refused_origin_and_host_are_logged() {
    let d = Daemon::start(&["--echo"]);
    let t = format!("/?token={TOKEN}");
    let head_with_host = |host: &str, extra: &str| {
        upgrade_head(&t, extra).replacen("Host: 127.0.0.1\r\n", &format!("Host: {host}\r\n"), 1)
    };
    let long = format!("https://{}.example", "a".repeat(300));
    let presented = "presented-credential-4711";
    let cases: Vec<(String, &str, &str, String)> = vec![
        (
            upgrade_head(&t, "Origin: https://app.example\r\n"),
            "origin-denied",
            "origin",
            "https://app.example".into(),
        ),
        (
            head_with_host("evil.example:8080", ""),
            "host-denied",
            "host",
            "evil.example:8080".into(),
        ),
        (
            upgrade_head(&t, &format!("Origin: {long}\r\n")),
            "origin-denied",
            "origin",
            format!("{}…", &long[..200]),
        ),
        // A value that is not UTF-8 is shown with U+FFFD, and quotes are escaped.
        (
            upgrade_head(&t, "Origin: http://NOT-UTF-8\"x\r\n"),
            "origin-denied",
            "origin",
            "http://\u{fffd}\"x".into(),
        ),
        // The daemon's token, in any form, and the request's own credential.
        (
            upgrade_head(&t, &format!("Origin: http://{TOKEN}.example\r\n")),
            "origin-denied",
            "origin",
            "REDACTED".into(),
        ),
        (
            head_with_host(&format!("{}.example", TOKEN.replace('-', "%2D")), ""),
            "host-denied",
            "host",
            "REDACTED".into(),
        ),
        (
            upgrade_head(
                &format!("/?token={presented}"),
                &format!("Origin: https://{presented}.example\r\n"),
            ),
            "origin-denied",
            "origin",
            "REDACTED".into(),
        ),
    ];
    for (i, (head, reason, field, want)) in cases.iter().enumerate() {
        // A byte that is not UTF-8 where the head says NOT-UTF-8.
        let head = head.replace("NOT-UTF-8", "\u{1}").into_bytes();
        let head: Vec<u8> = head
            .iter()
            .map(|&b| if b == 1 { 0xff } else { b })
            .collect();
        let answer = raw(d.addr, &head);
        assert_eq!(status(&answer), 403, "{i}: {answer}");
        let mut rejects = Vec::new();
        eventually(Duration::from_secs(5), || {
            rejects = (d.events().into_iter())
                .filter(|e| e["event"] == "reject")
                .collect();
            rejects.len() > i
        });
        let event = rejects
            .get(i)
            .unwrap_or_else(|| panic!("{i}: no reject line: {}", d.stderr()));
        assert_eq!(event["reason"], *reason, "{i}: {event}");
        assert_eq!(event[*field], **want, "{i}: {event}");
        // The answer never names it.
        assert!(!answer.contains("example"), "{i}: {answer}");
    }
    let log = d.stderr();
    assert!(!log.contains(TOKEN) && !log.contains(presented), "{log}");
}
