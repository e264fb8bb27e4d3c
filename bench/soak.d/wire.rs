//! The client's side of the wire: request heads (good and malformed), raw frames,
//! reading an answer, and the WebSocket steps every client of the mix is made of
//! (upgrade, echo, the close frames).

use std::net::SocketAddr;
use std::time::Duration;

use async_std::future::timeout;
use async_std::net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use futures_lite::StreamExt as _;
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub type Ws = WebSocketStream<TcpStream>;

/// How long an answer the client waits for may take.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The RFC 6455 §1.3 sample key and its accept value: the key every client here sends.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Query(&'a str),
    Bearer(&'a str),
    Nothing,
}

/// A valid upgrade request head.
pub fn head(addr: SocketAddr, credential: Credential<'_>) -> String {
    let (target, header) = match credential {
        Credential::Query(t) => (format!("/?token={t}"), String::new()),
        Credential::Bearer(t) => ("/".to_owned(), format!("Authorization: Bearer {t}\r\n")),
        Credential::Nothing => ("/".to_owned(), String::new()),
    };
    format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{header}\r\n"
    )
}

/// Heads the gate must refuse with 400, each for a reason of its own.
pub fn malformed(addr: SocketAddr, token: &str, which: u64) -> Vec<u8> {
    let good = head(addr, Credential::Query(token));
    match which % 6 {
        // A repeated Host.
        0 => good.replacen("\r\n\r\n", &format!("\r\nHost: {addr}\r\n\r\n"), 1),
        // Bare LF line endings.
        1 => good.replace("\r\n", "\n"),
        // A key that is not base64 of 16 bytes.
        2 => good.replace(KEY, "c2hvcnQ="),
        // A `%` without two hex digits in the query.
        3 => good.replacen("?token=", "?x=%zz&token=", 1),
        // A body.
        4 => good.replacen("\r\n\r\n", "\r\nContent-Length: 3\r\n\r\nabc", 1),
        // Absolute form.
        _ => good.replacen("GET /", &format!("GET http://{addr}/"), 1),
    }
    .into_bytes()
}

/// A client frame (masked, final) whose header declares `declared` payload bytes,
/// followed by `payload` (which may be shorter: a frame cut short).
pub fn client_frame(opcode: u8, declared: usize, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x3e];
    let mut frame = vec![0x80 | opcode];
    match declared {
        0..=125 => frame.push(0x80 | declared as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend((declared as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend((declared as u64).to_be_bytes());
        }
    }
    frame.extend(mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A response head, and the bytes read after it.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub rest: Vec<u8>,
}

pub async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

pub async fn read_reply(stream: &mut TcpStream) -> Result<Reply, String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| "a response without a status".to_owned())?;
                let rest = buf[end + 4..].to_vec();
                return Ok(Reply { status, head, rest });
            }
            if buf.len() > 16 * 1024 {
                return Err("a response head over 16 KiB".to_owned());
            }
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the response: {e}"))?;
            if n == 0 {
                return Err(if buf.is_empty() {
                    "closed without a response".to_owned()
                } else {
                    "response cut short".to_owned()
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(ANSWER_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err("no response within 10 s".to_owned()))
}

/// The client's side of the WebSocket after a 101: small buffers, since the idle test
/// holds thousands.
pub async fn websocket(stream: TcpStream, reply: Reply) -> Result<Ws, String> {
    if reply.status != 101 {
        return Err(format!("status {}, wanted 101", reply.status));
    }
    if !reply.head.contains(ACCEPT) {
        return Err("101 without the right Sec-WebSocket-Accept".to_owned());
    }
    let config = WebSocketConfig::default().read_buffer_size(4096);
    Ok(WebSocketStream::from_partially_read(stream, reply.rest, Role::Client, Some(config)).await)
}

/// Sends `head` and expects a 101.
pub async fn upgrade(addr: SocketAddr, head: &[u8]) -> Result<Ws, String> {
    let mut stream = connect(addr).await?;
    stream
        .write_all(head)
        .await
        .map_err(|e| format!("sending the head: {e}"))?;
    let reply = read_reply(&mut stream).await?;
    websocket(stream, reply).await
}

/// Sends `head` and expects `status` with `"reason":"<reason>"` in the body.
pub async fn refused(
    addr: SocketAddr,
    head: &[u8],
    status: u16,
    reason: Option<&str>,
) -> Result<(), String> {
    let mut stream = connect(addr).await?;
    stream
        .write_all(head)
        .await
        .map_err(|e| format!("sending the head: {e}"))?;
    let reply = read_reply(&mut stream).await?;
    if reply.status != status {
        return Err(format!("status {}, wanted {status}", reply.status));
    }
    let Some(reason) = reason else {
        return Ok(());
    };
    let mut body = reply.rest;
    let mut chunk = [0u8; 1024];
    let read = async {
        while body.len() < 4096 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = timeout(ANSWER_TIMEOUT, read).await;
    let want = format!("\"reason\":\"{reason}\"");
    if String::from_utf8_lossy(&body).contains(&want) {
        Ok(())
    } else {
        Err(format!("{status} without {want}"))
    }
}

/// The next data message, skipping pings and pongs.
pub async fn next_data(ws: &mut Ws) -> Result<Message, String> {
    loop {
        match timeout(ANSWER_TIMEOUT, ws.next()).await {
            Err(_) => return Err("no message within 10 s".to_owned()),
            Ok(None) => return Err("the connection ended".to_owned()),
            Ok(Some(Err(e))) => return Err(format!("reading: {e}")),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(format!("closed with {}", describe(frame.as_ref())));
            }
            Ok(Some(Ok(message))) => return Ok(message),
        }
    }
}

pub fn describe(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => u16::from(f.code).to_string(),
        Some(f) => format!("{} `{}`", u16::from(f.code), f.reason),
        None => "no code".to_owned(),
    }
}

pub async fn echo(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text.clone()))
        .await
        .map_err(|e| format!("sending: {e}"))?;
    match next_data(ws).await? {
        Message::Text(back) if back.as_str() == text => Ok(()),
        Message::Text(back) => Err(format!(
            "echo of {} bytes came back as {} other bytes",
            text.len(),
            back.len()
        )),
        other => Err(format!("echo came back as {other:?}")),
    }
}

/// Waits for the daemon's close frame; says its code and reason, or why none came.
pub async fn close_frame(ws: &mut Ws, within: Duration) -> Result<(u16, String), String> {
    let wait = async {
        loop {
            match ws.next().await {
                None => return Err("the connection ended without a close frame".to_owned()),
                Some(Err(e)) => return Err(format!("no close frame: {e}")),
                Some(Ok(Message::Close(Some(f)))) => {
                    return Ok((f.code.into(), f.reason.to_string()));
                }
                Some(Ok(Message::Close(None))) => return Ok((1005, String::new())),
                Some(Ok(_)) => continue,
            }
        }
    };
    timeout(within, wait)
        .await
        .unwrap_or_else(|_| Err(format!("no close frame within {} s", within.as_secs())))
}

/// Closes with 1000 and expects 1000 back.
pub async fn close_normally(mut ws: Ws) -> Result<(), String> {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    ws.close(Some(frame))
        .await
        .map_err(|e| format!("sending close: {e}"))?;
    match close_frame(&mut ws, ANSWER_TIMEOUT).await? {
        (1000, _) => Ok(()),
        (code, reason) => Err(format!("closed with {code} `{reason}`, wanted 1000")),
    }
}
