//! Clients and programs that misbehave: floods, silence, stray processes, shutdown in
//! the middle of a handshake.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;

use crate::util::*;

/// A masked client frame (RFC 6455 §5.2) with a payload under 126 bytes.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Opens an upgraded raw socket with a small receive window, and reads nothing the
/// daemon sends after the 101.
fn upgraded(d: &Daemon) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
    // The window is set before connecting, so the handshake already advertises it.
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    connect(&fd, &d.addr).unwrap();
    let mut s = TcpStream::from(fd);
    s.write_all(upgrade_head(&format!("/?token={TOKEN}"), "").as_bytes())
        .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    s
}

#[test]
fn ping_flood_from_a_client_that_never_reads_stays_bounded() {
    let d = Daemon::start(&["--echo", "--max-message-size", "65536"]);
    let before = rss_kib(d.pid());
    let mut s = upgraded(&d);
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let ping = frame(0x9, &[b'p'; 125]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    // 24 MB of pings whose pongs this client never reads: far more than the socket
    // buffers between us hold. The daemon may drop pongs or the connection, not grow.
    for _ in 0..190 {
        if s.write_all(&burst).is_err() {
            break;
        }
    }
    let grew = rss_kib(d.pid()).saturating_sub(before);
    assert!(grew < 8 * 1024, "daemon grew by {grew} KiB");
    drop(s);
    // And serves others still.
    let head = upgrade_head(&format!("/?token={TOKEN}"), "");
    assert_eq!(status(&raw(d.addr, head.as_bytes())), 101);
}

#[test]
fn a_program_that_reads_nothing_ends_when_its_client_vanishes() {
    let d = Daemon::start(&["--", "sleep", "1000"]);
    let mut s = upgraded(&d);
    assert!(eventually(Duration::from_secs(5), || children_of(d.pid())
        .len()
        == 1));
    // Far more than the pipe holds: the daemon's write to stdin blocks.
    let payload = [b'x'; 125];
    let text = frame(0x1, &payload);
    let mut sent = 0;
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    while sent < 2_000_000 && s.write_all(&text).is_ok() {
        sent += text.len();
    }
    drop(s);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(25), || children_of(d.pid()).is_empty()),
        "program still running: {}",
        d.stderr()
    );
    d.expect_fields("close", json!({}), Duration::from_secs(5));
    eprintln!("ended {:?} after the client left", started.elapsed());
}

#[test]
fn everything_a_program_started_ends_with_it() {
    let d = Daemon::start(&["--", "sh", "-c", "sleep 777 & echo started"]);
    let started = Instant::now();
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("started")));
        // `sleep` still holds stdout; the session ends anyway once `sh` has exited.
        assert_eq!(close_code(&mut ws).await, Some(1000));
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let exit = d.expect_fields("child-exit", json!({}), Duration::from_secs(5));
    let pid = exit["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("child-exit names the pid: {exit}"));
    let group = rustix::process::Pid::from_raw(pid).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            rustix::process::test_kill_process_group(group).is_err()
        }),
        "a process of the program's group is still running"
    );
}

#[test]
fn shutdown_does_not_wait_for_unfinished_heads() {
    let mut d = Daemon::start(&["--echo"]);
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let status = d.terminate(Duration::from_secs(6)).expect("exits");
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn abrupt_disconnect_is_logged_as_1006() {
    let d = Daemon::start(&["--echo"]);
    let s = upgraded(&d);
    drop(s);
    let close = d.expect_fields("close", json!({}), Duration::from_secs(5));
    assert_eq!(close["code"], 1006, "{close}");
    assert!(close["conn"].is_u64(), "{close} lacks conn");
    assert!(close["peer"].is_string(), "{close} lacks peer");
    assert_eq!(close["mode"], "query-token", "{close}");
    assert_eq!(close["reason"], "valid-token", "{close}");
}
