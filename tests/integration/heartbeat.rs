//! Every session's heartbeat: a silent client is pinged, one that answers nothing loses
//! its session (and its slot) within `--ping-interval` + `--ping-timeout`, one that
//! answers keeps it, and `--idle-timeout` ends sessions that move no data.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

use crate::util::*;

const FAST: [&str; 4] = ["--ping-interval", "300ms", "--ping-timeout", "300ms"];

/// A TCP echo service on loopback, for the byte-stream upstream; it runs until the
/// test process ends (each connection in a thread of its own).
fn tcp_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// The backends, each as the arguments that choose it; a WebSocket upstream is a
/// second wsgate (its echo, without a token check) kept alive by the returned daemon.
fn backends() -> Vec<(&'static str, Vec<String>, Option<Daemon>)> {
    let upstream = Daemon::with(Options {
        args: vec!["--echo", "--no-token-check"],
        env: Vec::new(),
        token_file: false,
    });
    let ws = format!("ws://{}", upstream.addr);
    let tcp = format!("tcp://127.0.0.1:{}", tcp_echo());
    vec![
        ("echo", vec!["--echo".into()], None),
        ("program", vec!["--".into(), "cat".into()], None),
        ("ws upstream", vec!["--upstream".into(), ws], Some(upstream)),
        (
            "tcp upstream",
            vec![
                "--upstream".into(),
                tcp,
                "--protocol".into(),
                "binary".into(),
            ],
            None,
        ),
    ]
}

/// A session with `d`'s backend `name`: a byte stream takes only binary messages, so
/// its client offers the `binary` subprotocol.
async fn session(name: &str, d: &Daemon) -> Ws {
    let protocol: &[(&'static str, &str)] = match name {
        "tcp upstream" => &[("Sec-WebSocket-Protocol", "binary")],
        _ => &[],
    };
    open(&d.url("/"), protocol).await.unwrap().0
}

/// Starts a daemon with `extra` before the backend's arguments (which may end in
/// `-- COMMAND`).
fn start(extra: &[&str], backend: &[String]) -> Daemon {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(backend.iter().map(String::as_str));
    Daemon::start(&args)
}

#[test]
fn a_client_that_answers_nothing_loses_its_session_and_its_slot() {
    for (name, backend, _upstream) in backends() {
        let mut extra = FAST.to_vec();
        extra.extend(["--max-connections", "1"]);
        let d = start(&extra, &backend);
        // A raw client: the handshake, then never a read again (no pong, no close).
        let mut silent = TcpStream::connect(d.addr).unwrap();
        let protocol = match name {
            "tcp upstream" => "Sec-WebSocket-Protocol: binary\r\n",
            _ => "",
        };
        silent
            .write_all(upgrade_head(&format!("/?token={TOKEN}"), protocol).as_bytes())
            .unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = read_all(&mut silent);
        assert!(head.starts_with("HTTP/1.1 101 "), "{name}: {head}");
        let upgraded = Instant::now();
        // The slot is taken meanwhile.
        let busy = upgrade(d.addr, &format!("/?token={TOKEN}"), protocol);
        assert_eq!(status(&busy), 503, "{name}: {busy}");
        let close = d.expect_fields(
            "close",
            json!({"ended": "ping-timeout", "code": 1001}),
            Duration::from_secs(10),
        );
        let took = upgraded.elapsed();
        // 600 ms of interval and timeout, then the close frame and (a WebSocket
        // upstream) the upstream's side closed: a few hundred ms more at most, on a
        // busy machine well under the 2 s a lingering drain would add.
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_millis(2500),
            "{name}: ended after {took:?}: {close}"
        );
        // The slot is free again.
        let again = upgrade(d.addr, &format!("/?token={TOKEN}"), protocol);
        assert_eq!(status(&again), 101, "{name}: {again}");
        drop(silent);
    }
}

#[test]
fn a_client_that_answers_pings_keeps_its_session() {
    for (name, backend, _upstream) in backends() {
        let d = start(
            &["--ping-interval", "200ms", "--ping-timeout", "200ms"],
            &backend,
        );
        block_on(async {
            let mut ws = session(name, &d).await;
            // Reading answers pings; nothing else arrives for 1.5 s (7 pings' worth).
            let mut pings = 0;
            let quiet = async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Ping(_))) => pings += 1,
                        other => return other,
                    }
                }
            };
            let got = async_std::future::timeout(Duration::from_millis(1500), quiet).await;
            assert!(got.is_err(), "{name}: {got:?}");
            assert!(pings >= 3, "{name}: {pings} pings");
            let msg = match name {
                "tcp upstream" => Message::binary(b"still here".to_vec()),
                _ => Message::text("still here"),
            };
            ws.send(msg.clone()).await.unwrap();
            assert_eq!(next(&mut ws).await, Some(msg), "{name}");
        });
        assert!(
            !d.stderr().contains("ping-timeout"),
            "{name}: {}",
            d.stderr()
        );
    }
}

#[test]
fn idle_timeout_ends_a_session_that_moves_no_data() {
    for (name, backend, _upstream) in backends() {
        let d = start(
            &["--idle-timeout", "700ms", "--ping-interval", "200ms"],
            &backend,
        );
        block_on(async {
            let mut ws = session(name, &d).await;
            let started = Instant::now();
            // Pongs are not data: the session still ends.
            let close = loop {
                match async_std::future::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(Message::Ping(_)))) => continue,
                    Ok(Some(Ok(Message::Close(frame)))) => break frame,
                    other => panic!("{name}: {other:?}"),
                }
            };
            let took = started.elapsed();
            let frame = close.expect("a close frame with a code");
            assert_eq!(u16::from(frame.code), 1001, "{name}");
            assert_eq!(frame.reason.as_str(), "idle timeout", "{name}");
            assert!(
                took >= Duration::from_millis(650) && took < Duration::from_secs(3),
                "{name}: {took:?}"
            );
        });
        d.expect_fields(
            "close",
            json!({"ended": "idle-timeout"}),
            Duration::from_secs(5),
        );
    }
}

#[test]
fn a_backend_that_does_not_read_is_not_the_clients_silence() {
    // The program never reads its stdin: once the pipe is full, wsgate stops reading
    // the client (backpressure), pongs included. That is not the client's fault.
    let d = start(
        &["--ping-interval", "200ms", "--ping-timeout", "200ms"],
        &["--".into(), "sleep".into(), "30".into()],
    );
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let chunk = "z".repeat(64 * 1024);
        for _ in 0..8 {
            ws.send(Message::text(chunk.clone())).await.unwrap();
        }
        // Reading answers pings; nothing else arrives.
        let quiet = async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Ping(_))) => continue,
                    other => return other,
                }
            }
        };
        let got = async_std::future::timeout(Duration::from_millis(1500), quiet).await;
        assert!(got.is_err(), "{got:?}");
    });
    assert!(!d.stderr().contains("ping-timeout"), "{}", d.stderr());
}
