//! A reference for the benchmark, not a server to use: the least work a WebSocket to
//! `cat` relay can do. One thread per connection with blocking I/O, no epoll, no
//! authentication, no limits; each message goes to the program and its answer line
//! comes back before the next message is read (the benchmark's clients keep one
//! message in flight). `ideal_relay --port PORT` serves on 127.0.0.1 until killed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use async_tungstenite::tungstenite::{self, Message};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = match args.as_slice() {
        [flag, port] if flag == "--port" => port.parse().expect("a port number"),
        _ => panic!("usage: ideal_relay --port PORT"),
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            let Ok(mut child) = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
            else {
                return;
            };
            let mut stdin = child.stdin.take().expect("stdin");
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = Vec::new();
            while let Ok(msg) = ws.read() {
                let data = match msg {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let mut data = data;
                data.push(b'\n');
                if stdin.write_all(&data).is_err() {
                    break;
                }
                line.clear();
                if stdout.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    break;
                }
                line.pop();
                let text = String::from_utf8_lossy(&line).into_owned();
                if ws.send(Message::text(text)).is_err() {
                    break;
                }
            }
            // Ended as wsgate ends its programs: end of input, then wait for the exit.
            // (Killing it instead would skip the end of a `cat` still starting up.)
            drop(stdin);
            let _ = child.wait();
        });
    }
}
