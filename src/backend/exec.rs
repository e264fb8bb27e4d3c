//! A program per connection, websocketd's model: messages from the client go to the
//! program's stdin, its stdout comes back as messages, its stderr goes to the log.
//!
//! - Text mode: each client message is written followed by `\n`; each line of stdout
//!   (without `\n` or `\r\n`) is one text message, or a binary one when it is not
//!   UTF-8. A line longer than `--max-message-size` is sent in pieces of that size.
//! - `--binary`: bytes both ways, each stdout read one binary message.
//!
//! The two directions run concurrently and each waits for its writer, so a slow client
//! or a slow program makes the other side wait and nothing buffers without bound.
//! When the program exits its remaining output is delivered, then the socket closes
//! with 1000 (status 0) or 1011. When the client goes away the program's stdin is
//! closed; it gets SIGTERM [`TERM_AFTER`] later and SIGKILL [`KILL_AFTER`] after that,
//! and it is always reaped.

use std::ffi::{OsStr, OsString};
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use async_process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use async_std::net::TcpStream;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_lite::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use futures_lite::{AsyncRead, FutureExt as _, StreamExt as _};

use super::{
    Context, Ending, Outcome, Socket, Watch, close, code, error_code, peer_code, unless_ended,
};
use crate::bearer;
use crate::log::{Log, Value};
use crate::request::Upgrade;
use crate::token::{self, Secret, contains};

/// How long a program may run after its stdin is closed before SIGTERM.
pub const TERM_AFTER: Duration = Duration::from_secs(2);
/// How long after SIGTERM before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(1);
/// Longest stderr line logged; longer lines are logged in pieces.
const STDERR_LINE: usize = 4096;
/// Read buffer for a program's stdout.
const STDOUT_BUFFER: usize = 4096;

/// How a program's output is framed.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// Raw bytes (`--binary`) instead of lines.
    pub binary: bool,
    /// Largest message sent to the client.
    pub max_message: usize,
}

/// Starts the program with exactly `env` as its environment and pipes for stdio.
pub fn spawn(
    program: &OsStr,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> io::Result<Child> {
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

/// The daemon's environment as every program inherits it: without any `WSGATE_*`
/// variable (the token may be one) and without any variable whose value contains one
/// of the daemon's secrets.
pub fn base_environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
    secrets: &[Secret],
) -> Vec<(OsString, OsString)> {
    vars.filter(|(name, value)| {
        !name.as_encoded_bytes().starts_with(b"WSGATE_")
            && !holds_secret(value.as_encoded_bytes(), secrets)
    })
    .collect()
}

fn holds_secret(value: &[u8], secrets: &[Secret]) -> bool {
    secrets.iter().any(|s| contains(value, s.expose()))
}

/// What the program is told about its connection.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The accepted upgrade.
    pub upgrade: &'a Upgrade<'a>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The port the daemon listens on.
    pub server_port: u16,
    /// The connection id.
    pub conn: u64,
    /// Who the credential names, when it names someone (a JWT's `sub`).
    pub subject: Option<&'a str>,
}

/// Headers never passed on: credentials, the handshake key, and `Proxy` (which would
/// become `HTTP_PROXY`, "httpoxy").
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "sec-websocket-key",
    "proxy",
];

/// A program's environment: `base` plus CGI-style variables as websocketd gives them,
/// with the credential removed from the query and from `Sec-WebSocket-Protocol`, and
/// every header that could carry it left out; plus `WSGATE_CONN_ID` and
/// `WSGATE_SUBJECT`.
pub fn environment(
    base: &[(OsString, OsString)],
    req: &Request<'_>,
    secrets: &[Secret],
) -> Vec<(OsString, OsString)> {
    let target = req.upgrade.target();
    let path = token::path_of(target);
    let query = token::strip_credential(token::query_of(target));
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut env: Vec<(OsString, OsString)> = base.to_vec();
    let mut set = |name: &str, value: Vec<u8>| {
        env.retain(|(n, _)| n != name);
        env.push((name.into(), OsString::from_vec(value)));
    };
    set("GATEWAY_INTERFACE", b"websocketd-CGI/0.1".to_vec());
    set(
        "SERVER_SOFTWARE",
        format!("wsgate/{}", crate::VERSION).into_bytes(),
    );
    set("SERVER_PROTOCOL", b"HTTP/1.1".to_vec());
    set("SERVER_PORT", req.server_port.to_string().into_bytes());
    set("REMOTE_ADDR", req.peer.ip().to_string().into_bytes());
    set("REMOTE_PORT", req.peer.port().to_string().into_bytes());
    set("REQUEST_METHOD", b"GET".to_vec());
    set("PATH_INFO", path.as_bytes().to_vec());
    set("QUERY_STRING", query.into_bytes());
    set("REQUEST_URI", uri.into_bytes());
    set("WSGATE_CONN_ID", req.conn.to_string().into_bytes());
    // An environment variable cannot hold a NUL; such a subject is left out.
    if let Some(subject) = req.subject.filter(|s| !s.contains('\0')) {
        set("WSGATE_SUBJECT", subject.as_bytes().to_vec());
    }

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for h in req.upgrade.common.headers {
        let lower = h.name.to_ascii_lowercase();
        if HIDDEN_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        let value = match lower.as_str() {
            // A page URL may carry a token of its own.
            "referer" => match std::str::from_utf8(h.value) {
                Ok(v) => token::redact(v).into_bytes(),
                Err(_) => continue,
            },
            "sec-websocket-protocol" => bearer::without_credential(h.value),
            _ => h.value.to_vec(),
        };
        if value.is_empty() || holds_secret(&value, secrets) {
            continue;
        }
        let name: String = h
            .name
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(&value);
            }
            None => headers.push((name, value)),
        }
    }
    for (name, value) in headers {
        set(&format!("HTTP_{name}"), value);
    }
    env
}

enum Ended {
    /// The client side finished first.
    Client(FromClient),
    /// The program's stdout ended (or the client could not be written to).
    Program(FromProgram),
}

enum FromClient {
    Gone,
    Ended(Ending),
    Error(WsError),
}

enum FromProgram {
    Eof,
    ClientGone,
}

/// Relays between the client and the program until either ends, then closes the
/// other and reaps the program.
pub async fn relay(ws: Socket, mut child: Child, framing: Framing, cx: Context<'_>) -> Outcome {
    let pid = child.id();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    if let Some(stderr) = child.stderr.take() {
        async_std::task::spawn(forward_stderr(stderr, cx.log.clone(), cx.conn));
    }
    let (mut tx, mut rx) = ws.split();
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut peer_close = None;
    let mut watch = cx.stop.watch(cx.expires);
    let ended = {
        let client = to_program(
            &mut rx,
            stdin,
            framing,
            &mut watch,
            &mut out.bytes_in,
            &mut peer_close,
        );
        let program = from_program(&mut tx, stdout, framing, &mut out.bytes_out);
        async { Ended::Client(client.await) }
            .or(async { Ended::Program(program.await) })
            .await
    };
    // Both directions are dropped here: the program's stdin and stdout are closed.
    let Ok(mut ws) = WebSocketStream::reunite(tx, rx) else {
        // Only halves of two different sockets fail to reunite.
        log_exit(cx, pid, reap(&mut child, pid).await);
        return out;
    };
    let status = match ended {
        Ended::Program(FromProgram::Eof) => {
            let status = reap(&mut child, pid).await;
            let (c, reason) = match status {
                Some(s) if s.success() => (code::NORMAL, "program exited"),
                _ => (code::INTERNAL, "program failed"),
            };
            out.code = c;
            close(&mut ws, c, reason).await;
            status
        }
        Ended::Program(FromProgram::ClientGone) | Ended::Client(FromClient::Gone) => {
            out.code = peer_close.unwrap_or(code::ABNORMAL);
            reap(&mut child, pid).await
        }
        Ended::Client(FromClient::Error(err)) => {
            let reaping = reap(&mut child, pid);
            match error_code(&err) {
                Some(c) => {
                    out.code = c;
                    futures_lite::future::zip(close(&mut ws, c, ""), reaping)
                        .await
                        .1
                }
                None => reaping.await,
            }
        }
        Ended::Client(FromClient::Ended(ending)) => {
            out.code = ending.code();
            let closing = close(&mut ws, ending.code(), ending.reason());
            futures_lite::future::zip(closing, reap(&mut child, pid))
                .await
                .1
        }
    };
    log_exit(cx, pid, status);
    out
}

fn log_exit(cx: Context<'_>, pid: u32, status: Option<ExitStatus>) {
    let (key, value) = match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ("status", c.to_string()),
            (None, Some(sig)) => ("signal", sig.to_string()),
            _ => ("status", "unknown".into()),
        },
        None => ("status", "unknown".into()),
    };
    cx.log.event(
        "child-exit",
        &[
            ("conn", cx.conn.into()),
            ("pid", u64::from(pid).into()),
            (key, Value::Str(&value)),
        ],
    );
}

/// Waits for the program to exit: [`TERM_AFTER`], then SIGTERM, [`KILL_AFTER`], then
/// SIGKILL. Its stdin must already be closed.
async fn reap(child: &mut Child, pid: u32) -> Option<ExitStatus> {
    if let Ok(Ok(status)) = async_std::future::timeout(TERM_AFTER, child.status()).await {
        return Some(status);
    }
    // Only signal a process not yet reaped: its pid cannot have been reused.
    if let Ok(None) = child.try_status() {
        if let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if let Ok(Ok(status)) = async_std::future::timeout(KILL_AFTER, child.status()).await {
            return Some(status);
        }
        let _ = child.kill();
    }
    child.status().await.ok()
}

async fn to_program(
    rx: &mut WebSocketReceiver<TcpStream>,
    mut stdin: Option<ChildStdin>,
    framing: Framing,
    watch: &mut Watch<'_>,
    bytes_in: &mut u64,
    peer_close: &mut Option<u16>,
) -> FromClient {
    let mut data = Vec::new();
    loop {
        let next = match unless_ended(watch, rx.next()).await {
            Ok(next) => next,
            Err(ending) => return FromClient::Ended(ending),
        };
        let msg = match next {
            None => return FromClient::Gone,
            Some(Err(err)) => return FromClient::Error(err),
            Some(Ok(Message::Close(frame))) => {
                *peer_close = Some(peer_code(&frame));
                continue;
            }
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => msg,
            Some(Ok(_)) => continue,
        };
        *bytes_in += msg.len() as u64;
        let Some(pipe) = stdin.as_mut() else {
            // The program closed its stdin; its output may still be coming.
            continue;
        };
        data.clear();
        data.extend_from_slice(&msg.into_data());
        if !framing.binary {
            data.push(b'\n');
        }
        match unless_ended(watch, pipe.write_all(&data)).await {
            Err(ending) => return FromClient::Ended(ending),
            Ok(Ok(())) => {}
            Ok(Err(_)) => stdin = None,
        }
        if data.capacity() > STDOUT_BUFFER {
            data = Vec::new();
        }
    }
}

async fn from_program(
    tx: &mut WebSocketSender<TcpStream>,
    stdout: Option<ChildStdout>,
    framing: Framing,
    bytes_out: &mut u64,
) -> FromProgram {
    let Some(mut stdout) = stdout else {
        return FromProgram::Eof;
    };
    if framing.binary {
        let mut buf = vec![0u8; framing.max_message.min(STDOUT_BUFFER)];
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return FromProgram::Eof,
                Ok(n) => n,
            };
            *bytes_out += n as u64;
            if tx.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                return FromProgram::ClientGone;
            }
        }
    }
    let mut lines = Lines::new(stdout, STDOUT_BUFFER);
    while let Ok(Some(line)) = lines.next(framing.max_message).await {
        *bytes_out += line.len() as u64;
        let msg = match String::from_utf8(line) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        };
        if tx.send(msg).await.is_err() {
            return FromProgram::ClientGone;
        }
    }
    FromProgram::Eof
}

async fn forward_stderr(stderr: ChildStderr, log: Log, conn: u64) {
    let mut lines = Lines::new(stderr, 1024);
    while let Ok(Some(line)) = lines.next(STDERR_LINE).await {
        let line = String::from_utf8_lossy(&line);
        log.event(
            "child-stderr",
            &[("conn", conn.into()), ("line", Value::Str(&line))],
        );
    }
}

/// Lines of a byte stream, each at most `max` bytes: a longer line comes in pieces.
struct Lines<R> {
    reader: BufReader<R>,
    /// The last line was cut at `max`: a `\n` right after it ends it, not a new one.
    cut: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(inner: R, capacity: usize) -> Self {
        Lines {
            reader: BufReader::with_capacity(capacity, inner),
            cut: false,
        }
    }

    /// The next line without its `\n` (or `\r\n`), a piece of `max` bytes of a longer
    /// one, or the unterminated rest at the end; `None` at the end.
    async fn next(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            let mut avail = self.reader.fill_buf().await?;
            if avail.is_empty() {
                return Ok((!line.is_empty()).then_some(line));
            }
            if std::mem::take(&mut self.cut) && avail[0] == b'\n' {
                self.reader.consume(1);
                avail = self.reader.fill_buf().await?;
                if avail.is_empty() {
                    return Ok(None);
                }
            }
            let room = max - line.len();
            let newline = avail
                .iter()
                .position(|&b| b == b'\n')
                .filter(|&i| i <= room);
            let take = newline.unwrap_or(avail.len().min(room));
            line.extend_from_slice(&avail[..take]);
            self.reader.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if line.len() == max {
                self.cut = true;
                return Ok(Some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Common, Header};

    fn lines(input: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(input, 3);
        let mut out = Vec::new();
        futures_lite::future::block_on(async {
            while let Some(line) = lines.next(max).await.unwrap() {
                out.push(line);
            }
        });
        out
    }

    #[test]
    fn line_splitting() {
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(lines(b"a\nbb\r\n\nccc", 100), v(&["a", "bb", "", "ccc"]));
        assert_eq!(lines(b"abcdefg\nh\n", 3), v(&["abc", "def", "g", "h"]));
        assert_eq!(lines(b"abc\ndef", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"abc\n\nd", 3), v(&["abc", "", "d"]));
        assert_eq!(lines(b"abcdef\n", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"", 3), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"\xff\xfe\n", 10), vec![vec![0xff, 0xfe]]);
    }

    #[test]
    fn environment_hides_credentials() {
        let secret = b"s3cret-s3cret-s3cret";
        let headers = [
            Header {
                name: "Host",
                value: b"localhost:7331",
            },
            Header {
                name: "Authorization",
                value: b"Bearer s3cret-s3cret-s3cret",
            },
            Header {
                name: "Cookie",
                value: b"a=b",
            },
            Header {
                name: "Sec-WebSocket-Key",
                value: b"dGhlIHNhbXBsZSBub25jZQ==",
            },
            Header {
                name: "Proxy",
                value: b"http://evil:1",
            },
            Header {
                name: "Referer",
                value: b"http://localhost/page?token=s3cret-s3cret-s3cret&x=1",
            },
            Header {
                name: "X-Copy",
                value: b"prefix s3cret-s3cret-s3cret",
            },
            Header {
                name: "X-Multi",
                value: b"1",
            },
            Header {
                name: "x-multi",
                value: b"2",
            },
            Header {
                name: "User-Agent",
                value: b"test/1",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"chat, wsgate.bearer.czNjcmV0, v2",
            },
        ];
        let upgrade = Upgrade {
            common: Common {
                target: "/app/ws?a=1&token=s3cret-s3cret-s3cret&b=%20",
                host: b"localhost:7331",
                origin: None,
                headers: &headers,
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
        };
        let secrets = [Secret::new(secret.to_vec())];
        let base = base_environment(
            [
                ("PATH".into(), "/bin".into()),
                ("WSGATE_AUTH_TOKEN".into(), "s3cret-s3cret-s3cret".into()),
                ("WSGATE_OTHER".into(), "x".into()),
                ("COPY".into(), "s3cret-s3cret-s3cret".into()),
                ("QUERY_STRING".into(), "stale".into()),
            ]
            .into_iter(),
            &secrets,
        );
        let env = environment(
            &base,
            &Request {
                upgrade: &upgrade,
                peer: "127.0.0.1:5555".parse().unwrap(),
                server_port: 7331,
                conn: 42,
                subject: Some("alice"),
            },
            &secrets,
        );
        let get = |k: &str| {
            let all: Vec<_> = env.iter().filter(|(n, _)| n == k).collect();
            assert!(all.len() <= 1, "{k} set twice");
            all.first().map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        for (name, value) in &env {
            let value = value.as_encoded_bytes();
            assert!(!contains(value, secret), "{name:?} carries the secret");
        }
        assert_eq!(get("PATH").as_deref(), Some("/bin"));
        assert_eq!(get("WSGATE_AUTH_TOKEN"), None);
        assert_eq!(get("WSGATE_OTHER"), None);
        assert_eq!(get("COPY"), None);
        assert_eq!(get("QUERY_STRING").as_deref(), Some("a=1&b=%20"));
        assert_eq!(get("REQUEST_URI").as_deref(), Some("/app/ws?a=1&b=%20"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/app/ws"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("REMOTE_PORT").as_deref(), Some("5555"));
        assert_eq!(get("SERVER_PORT").as_deref(), Some("7331"));
        assert_eq!(get("REQUEST_METHOD").as_deref(), Some("GET"));
        assert_eq!(get("WSGATE_CONN_ID").as_deref(), Some("42"));
        assert_eq!(get("WSGATE_SUBJECT").as_deref(), Some("alice"));
        assert_eq!(
            get("HTTP_SEC_WEBSOCKET_PROTOCOL").as_deref(),
            Some("chat, v2")
        );
        assert_eq!(get("HTTP_HOST").as_deref(), Some("localhost:7331"));
        assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("test/1"));
        assert_eq!(get("HTTP_X_MULTI").as_deref(), Some("1, 2"));
        assert_eq!(
            get("HTTP_REFERER").as_deref(),
            Some("http://localhost/page?token=REDACTED&x=1")
        );
        for hidden in [
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_SEC_WEBSOCKET_KEY",
            "HTTP_PROXY",
            "HTTP_X_COPY",
        ] {
            assert_eq!(get(hidden), None, "{hidden}");
        }
    }
}
